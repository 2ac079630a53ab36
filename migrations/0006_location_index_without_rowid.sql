-- Rows written are what D1 bills. A table with its own primary key besides the rowid writes each
-- row twice (the row and its key's index entry); WITHOUT ROWID makes the key the row. The
-- registration index is rewritten on every binding change (a reconnect, a new device, a closed
-- flow): a new AOR's binding is now 3 rows written instead of 5 (version 1, row 1, flow entry 1).
-- The tables are rebuilt with the same columns and rows.
CREATE TABLE location_index_version_new (
    aor VARCHAR(255) PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO location_index_version_new (aor, version, changed_at) SELECT aor, version, changed_at FROM location_index_version;
DROP TABLE location_index_version;
ALTER TABLE location_index_version_new RENAME TO location_index_version;

CREATE TABLE location_index_new (
    aor VARCHAR(255) NOT NULL,
    binding_key VARCHAR(512) NOT NULL,
    contact VARCHAR(512) NOT NULL,
    expires INTEGER NOT NULL,
    q REAL DEFAULT 1 NOT NULL,
    user_agent VARCHAR(255) DEFAULT '' NOT NULL,
    received VARCHAR(128) DEFAULT '' NOT NULL,
    flow_token VARCHAR(128) DEFAULT '' NOT NULL,
    flow_shard VARCHAR(16) DEFAULT '' NOT NULL,
    instance VARCHAR(255) DEFAULT '' NOT NULL,
    reg_id INTEGER DEFAULT 0 NOT NULL,
    last_modified INTEGER NOT NULL,
    version INTEGER NOT NULL,
    indexed_at INTEGER NOT NULL,
    PRIMARY KEY (aor, binding_key)
) WITHOUT ROWID;
INSERT INTO location_index_new (aor, binding_key, contact, expires, q, user_agent, received, flow_token, flow_shard, instance, reg_id, last_modified, version, indexed_at)
    SELECT aor, binding_key, contact, expires, q, user_agent, received, flow_token, flow_shard, instance, reg_id, last_modified, version, indexed_at FROM location_index;
DROP TABLE location_index;
ALTER TABLE location_index_new RENAME TO location_index;
CREATE INDEX location_index_flow_idx ON location_index (flow_token);

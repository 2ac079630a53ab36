-- Operations (issue 13): the registration index and the call records.

-- sipedge: an index of every binding, so `sipedge ul dump` and the dashboard can list AORs
-- (Durable Objects cannot be enumerated). Rewritten per AOR when its binding set changes (a binding
-- added, re-pointed, removed, expired), never on a plain refresh, in batches from the shards
-- (durable-objects/location-index.ts): `expires` is the expiry as of that change and lags behind
-- refreshes. The Location object stays the truth (`sipedge ul show`).
CREATE TABLE location_index_version (
    aor VARCHAR(255) PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    changed_at INTEGER NOT NULL
);
CREATE TABLE location_index (
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
);
CREATE INDEX location_index_flow_idx ON location_index (flow_token);

-- Kamailio's `acc` table (acc module, db_flag): one row per accounted transaction, with the
-- usual acc_extra columns. sipedge writes one row per call attempt (an INVITE that passed
-- authentication or came from a trusted gateway; its failover branches in `branches`) and one
-- per BYE that ended a call; calls are assembled from the two by Call-ID (GET /admin/acc).
CREATE TABLE acc (
    id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,
    method VARCHAR(16) DEFAULT '' NOT NULL,
    from_tag VARCHAR(128) DEFAULT '' NOT NULL,
    to_tag VARCHAR(128) DEFAULT '' NOT NULL,
    callid VARCHAR(255) DEFAULT '' NOT NULL,
    sip_code VARCHAR(3) DEFAULT '' NOT NULL,
    sip_reason VARCHAR(128) DEFAULT '' NOT NULL,
    time DATETIME NOT NULL,
    -- sipedge: the request's arrival and its final reply, ms since the epoch.
    time_ms INTEGER NOT NULL,
    end_ms INTEGER NOT NULL,
    src_user VARCHAR(64) DEFAULT '' NOT NULL,
    src_domain VARCHAR(128) DEFAULT '' NOT NULL,
    src_ip VARCHAR(64) DEFAULT '' NOT NULL,
    dst_ouser VARCHAR(64) DEFAULT '' NOT NULL,
    dst_user VARCHAR(64) DEFAULT '' NOT NULL,
    dst_domain VARCHAR(128) DEFAULT '' NOT NULL,
    -- sipedge: the branch that decided (a gateway's host:port, or ws:<flow>), and every branch
    -- tried as JSON [{"uri","dst","status","timedOut"}].
    dst VARCHAR(255) DEFAULT '' NOT NULL,
    branches TEXT DEFAULT '[]' NOT NULL,
    shard VARCHAR(16) DEFAULT '' NOT NULL
);
CREATE INDEX acc_time_idx ON acc (time_ms);
CREATE INDEX acc_callid_idx ON acc (callid);

INSERT INTO version (table_name, table_version) VALUES ('acc', 5);

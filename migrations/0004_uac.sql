-- Carrier trunks (src/modules/uac): Kamailio's uacreg (uac module), dbaliases (alias_db, used
-- for DIDs) and grp (group module, used for the toll-fraud classes) tables with Kamailio's
-- columns, and the subscriber's caller ID (`rpid`, an E.164 number, as older Kamailio auth_db
-- schemas had it).

-- uac_reg registrations and uac_auth() credentials. expires 0 (sipedge): credentials only, no
-- registration. flags bit 1: disabled.
CREATE TABLE uacreg (
    id INTEGER PRIMARY KEY NOT NULL,
    l_uuid VARCHAR(64) DEFAULT '' NOT NULL,
    l_username VARCHAR(64) DEFAULT '' NOT NULL,
    l_domain VARCHAR(64) DEFAULT '' NOT NULL,
    r_username VARCHAR(64) DEFAULT '' NOT NULL,
    r_domain VARCHAR(64) DEFAULT '' NOT NULL,
    realm VARCHAR(64) DEFAULT '' NOT NULL,
    auth_username VARCHAR(64) DEFAULT '' NOT NULL,
    auth_password VARCHAR(64) DEFAULT '' NOT NULL,
    auth_ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    auth_proxy VARCHAR(255) DEFAULT '' NOT NULL,
    expires INTEGER DEFAULT 0 NOT NULL,
    flags INTEGER DEFAULT 0 NOT NULL,
    reg_delay INTEGER DEFAULT 0 NOT NULL,
    contact_addr VARCHAR(255) DEFAULT '' NOT NULL,
    socket VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT uacreg_l_uuid_idx UNIQUE (l_uuid)
);

INSERT INTO version (table_name, table_version) VALUES ('uacreg', 5);

-- alias_db_lookup("dbaliases"): a DID (alias_username, E.164 with "+") belongs to a user.
-- Matched on alias_username alone (alias_db use_domain 0): a carrier's numbers have no domain.
CREATE TABLE dbaliases (
    id INTEGER PRIMARY KEY NOT NULL,
    alias_username VARCHAR(64) DEFAULT '' NOT NULL,
    alias_domain VARCHAR(64) DEFAULT '' NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL
);

CREATE UNIQUE INDEX dbaliases_alias_idx ON dbaliases (alias_username, alias_domain);
CREATE INDEX dbaliases_alias_user_idx ON dbaliases (alias_username);
CREATE INDEX dbaliases_target_idx ON dbaliases (username, domain);

INSERT INTO version (table_name, table_version) VALUES ('dbaliases', 1);

-- is_user_in(): `international` and `premium` open those classes of numbers to a user; a value
-- starting with "+" opens that E.164 prefix.
CREATE TABLE grp (
    id INTEGER PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    grp VARCHAR(64) DEFAULT '' NOT NULL,
    last_modified TIMESTAMP WITHOUT TIME ZONE DEFAULT '2000-01-01 00:00:01' NOT NULL,
    CONSTRAINT grp_account_group_idx UNIQUE (username, domain, grp)
);

INSERT INTO version (table_name, table_version) VALUES ('grp', 2);

-- The number a subscriber presents to carriers (P-Asserted-Identity, From), E.164.
ALTER TABLE subscriber ADD COLUMN rpid VARCHAR(128) DEFAULT '' NOT NULL;

-- permissions allow_routing / allow_register / allow_uri: the hosts.allow-style `.allow` and
-- `.deny` files (Kamailio's permissions.allow, register.deny, ...), one row per file, stored as
-- imported (`sipedge import rules.allow`, POST /admin/import?file=rules.allow) and compiled with
-- the address and trusted tables by the permissions loader. `name` is the file's base name,
-- which the script names: allow_routing("rules") reads rules.allow and rules.deny.
CREATE TABLE permissions_rules (
    name VARCHAR(128) PRIMARY KEY NOT NULL,
    text TEXT NOT NULL,
    rules INTEGER DEFAULT 0 NOT NULL,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
);

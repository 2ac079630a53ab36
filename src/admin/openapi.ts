/**
 * The OpenAPI 3.1 document of the admin API (`GET /admin/openapi.json`). A test compares its
 * paths with the routes the admin app registers (test/workers/openapi.test.ts), so a route cannot
 * be added without being described here.
 */

type Param = { name: string; in: "path" | "query"; required?: boolean; description: string; schema?: object };

interface Op {
  summary: string;
  kamailio?: string;
  params?: Param[];
  body?: { type: "json" | "text"; description: string; example?: unknown };
  responses?: Record<string, string>;
  csv?: boolean;
}

const str = { type: "string" };
const path = (name: string, description: string): Param => ({ name, in: "path", required: true, description, schema: str });
const query = (name: string, description: string): Param => ({ name, in: "query", description, schema: str });

const ERRORS = {
  "401": "no or wrong bearer token (WWW-Authenticate says which)",
  "503": "the admin API is closed: no ADMIN_TOKEN configured",
};

function operation(op: Op): object {
  const responses: Record<string, object> = {};
  for (const [code, description] of Object.entries({ "200": "OK", ...op.responses, ...ERRORS })) {
    responses[code] = code === "200" && op.csv
      ? { description, content: { "application/json": { schema: { type: "object" } }, "text/csv": { schema: str } } }
      : { description, content: { "application/json": { schema: { type: "object" } } } };
  }
  return {
    summary: op.summary,
    ...(op.kamailio ? { description: `Kamailio: ${op.kamailio}` } : {}),
    ...(op.params ? { parameters: op.params } : {}),
    ...(op.body
      ? {
          requestBody: {
            required: true,
            description: op.body.description,
            content: op.body.type === "json" ? { "application/json": { schema: { type: "object" }, ...(op.body.example ? { example: op.body.example } : {}) } } : { "text/plain": { schema: str } },
          },
        }
      : {}),
    responses,
  };
}

const PATHS: Record<string, Record<string, Op>> = {
  "/admin/import": {
    post: {
      summary: "Load a db_text table, dispatcher.list or permissions rule file",
      kamailio: "kamctl / db_text files",
      params: [query("table", "subscriber, aliases, version, dispatcher, dispatcher.list, permissions, address, trusted, location (header only), uacreg, dbaliases, grp"), query("file", "file name (names the table when ?table is absent)")],
      body: { type: "text", description: "the file" },
      responses: { "400": "refused: {error: {file, line, field, reason}}" },
    },
  },
  "/admin/location": {
    get: {
      summary: "Every binding from the registration index, by AOR",
      kamailio: "kamcmd ul.dump",
      params: [query("limit", "AORs per page (1-1000, default 100)"), query("after", "the last AOR of the previous page"), query("prefix", "only AORs starting so")],
      responses: { "400": "bad limit" },
    },
  },
  "/admin/location/{aor}": {
    get: { summary: "An AOR's live bindings, from its Location object", kamailio: "kamcmd ul.show", params: [path("aor", "user@domain")] },
    delete: { summary: "Remove an AOR's bindings", kamailio: "kamcmd ul.rm", params: [path("aor", "user@domain")] },
  },
  "/admin/subscribers": {
    get: { summary: "Subscribers by id, without secrets", params: [query("limit", "default 100, at most 1000"), query("after", "id"), query("domain", "only this domain")] },
    post: {
      summary: "Add (or replace) a subscriber",
      kamailio: "kamctl add",
      params: [query("create", "1: refuse (409) when it exists")],
      body: { type: "json", description: "{username, domain?, password?, ha1?, ha1b?, ha1_sha256?}", example: { username: "alice", password: "secret" } },
      responses: { "201": "created or replaced: {username, domain, caches: {shards, confirmed}} (shards whose HA1 cache forgot the account)", "400": "{error: {field, reason}}", "409": "exists (create=1)" },
    },
  },
  "/admin/subscribers/{username}": {
    delete: { summary: "Remove a subscriber", kamailio: "kamctl rm", params: [path("username", "user"), query("domain", "default: SIP_DOMAIN")], responses: { "200": "{username, domain, removed, caches: {shards, confirmed}}", "404": "no such subscriber" } },
  },
  "/admin/subscribers/{username}/password": {
    put: {
      summary: "Change a subscriber's password (HA1s recomputed)",
      kamailio: "kamctl passwd",
      params: [path("username", "user"), query("domain", "default: SIP_DOMAIN")],
      body: { type: "json", description: "{password}", example: { password: "new-secret" } },
      responses: { "200": "{username, domain, password: \"changed\", caches: {shards, confirmed}}", "400": "no password", "404": "no such subscriber" },
    },
  },
  "/admin/dispatcher": { get: { summary: "Destination sets with state letters and latency", kamailio: "kamcmd dispatcher.list" } },
  "/admin/dispatcher/reload": { post: { summary: "Read the dispatcher table again", kamailio: "kamcmd dispatcher.reload", responses: { "400": "the table is refused" } } },
  "/admin/dispatcher/state": {
    post: {
      summary: "Set a destination's state",
      kamailio: "kamcmd dispatcher.set_state",
      body: { type: "json", description: "{setid, uri, state}: state letters a, i, t, d, with p for probing", example: { setid: 1, uri: "sip:192.0.2.10:5060", state: "i" } },
      responses: { "400": "bad body", "404": "no such destination, or a bad state" },
    },
  },
  "/admin/guard/{ip}": { get: { summary: "An address's ban, connections, pike counters and auth failures", kamailio: "pike.top, htable.dump", params: [path("ip", "IPv4 or IPv6 address")], responses: { "400": "not an IP address" } } },
  "/admin/ipban/{ip}": { delete: { summary: "Lift a ban (and forget the pike counters)", kamailio: "htable.delete ipban", params: [path("ip", "IPv4 or IPv6 address")], responses: { "400": "not an IP address" } } },
  "/admin/auth-block/{user}/{ip}": {
    delete: { summary: "Forget a user's auth failures and block from one address", kamailio: "htable.delete auth_block_list", params: [path("user", "user"), path("ip", "IPv4 or IPv6 address")], responses: { "400": "not an IP address" } },
  },
  "/admin/permissions/reload": { post: { summary: "Recompile address, trusted and rule files in every shard", kamailio: "permissions.addressReload, trustedReload", responses: { "400": "{error: {file, line, field, reason}}" } } },
  "/admin/permissions/rules": { get: { summary: "Stored .allow / .deny files" } },
  "/admin/permissions/address": { get: { summary: "Compiled address table", kamailio: "permissions.addressDump", responses: { "400": "the table is refused" } } },
  "/admin/permissions/trusted": { get: { summary: "Compiled trusted table", kamailio: "permissions.trustedDump", responses: { "400": "the table is refused" } } },
  "/admin/bans": { get: { summary: "Addresses banned now, and the auth-failure entries of watched addresses" } },
  "/admin/htable/{table}": { get: { summary: "Entries of ipban or auth_block_list", kamailio: "kamcmd htable.dump", params: [path("table", "ipban or auth_block_list")], responses: { "404": "no such table" } } },
  "/admin/stats": { get: { summary: "Counters summed over the shards, gauges and destinations", kamailio: "kamcmd stats.get_statistics all" } },
  "/admin/acc": {
    get: {
      summary: "Call attempts and calls (start, answer, end, duration, caller, callee, gateway, status, hang-up side)",
      kamailio: "acc table and its CDRs",
      params: [query("since", "ms or s since the epoch, or ISO time (default: 24 h ago)"), query("until", "same forms (default: now)"), query("limit", "attempts, at most 10000 (default 1000)"), query("format", "json (default) or csv (calls)")],
      responses: { "400": "{error: {field, reason}}" },
      csv: true,
    },
  },
  "/admin/uac/registrations": { get: { summary: "Every uacreg row (passwords shown as [set]) with its registration state", kamailio: "kamcmd uac.reg_dump" } },
  "/admin/uac/registrations/{l_uuid}": {
    get: { summary: "One uacreg row and its registration", kamailio: "kamcmd uac.reg_info l_uuid", params: [path("l_uuid", "the row's l_uuid")], responses: { "404": "no uacreg row with that l_uuid" } },
    delete: { summary: "Unregister (Expires 0) and delete the row", kamailio: "kamcmd uac.reg_remove", params: [path("l_uuid", "the row's l_uuid")], responses: { "404": "no uacreg row with that l_uuid" } },
  },
  "/admin/uac/reload": { post: { summary: "Read the uacreg table again and register every row at once", kamailio: "kamcmd uac.reg_reload" } },
  "/admin/uac/refresh/{l_uuid}": { post: { summary: "Register one row again at once", kamailio: "kamcmd uac.reg_refresh", params: [path("l_uuid", "the row's l_uuid")], responses: { "404": "no uacreg row with that l_uuid" } } },
  "/admin/uac/unregister/{l_uuid}": { post: { summary: "REGISTER with Expires 0, then stay idle until a reload", kamailio: "kamcmd uac.reg_unregister", params: [path("l_uuid", "the row's l_uuid")], responses: { "404": "no uacreg row with that l_uuid" } } },
  "/admin/uac/stats": { get: { summary: "Counters regtotal, regactive, regdisabled", kamailio: "kamcmd stats.get_statistics uac:" } },
  "/admin/openapi.json": { get: { summary: "This document" } },
};

export const openapi = {
  openapi: "3.1.0",
  info: {
    title: "sipedge admin API",
    version: "1",
    description: "Operations on a running sipedge edge, as kamcmd/kamctl do for Kamailio. Authenticate with `Authorization: Bearer <ADMIN_TOKEN>`.",
  },
  components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
  security: [{ bearer: [] }],
  paths: Object.fromEntries(Object.entries(PATHS).map(([p, ops]) => [p, Object.fromEntries(Object.entries(ops).map(([method, op]) => [method, operation(op)]))])),
};

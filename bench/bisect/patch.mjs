// Applies named bench-only edits to a copy of the tree (never to a checkout you work in), so that
// variant bundles of the REGISTER path can be measured against each other by subtraction
// (bench/bisect/variant.sh builds them, bench/bisect/ab.sh alternates them; bench/README.md,
// "REGISTER, round 7"). Each edit asserts that its anchor text is still there.
//
//   node bench/bisect/patch.mjs DIR NAME [NAME ...]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const CANNED = `const res = req.headers.get("Authorization") !== undefined ? createResponse(req, 200, "OK") : createResponse(req, 401, "Unauthorized", { headers: [["WWW-Authenticate", 'Digest realm="localhost", nonce="abcdefabcdefabcdefabcdef", qop="auth", algorithm=MD5']] });`;
const SHARD = "durable-objects/sip-connection.ts";
const CLIENTS = "durable-objects/client-messages.ts";
const HANDLE = `    await this.clients.handle(ws, conn, typeof data === "string" ? data : new Uint8Array(data));`;
const PROCESS = `  private process(ws: WebSocket, conn: Connection, message: string | Uint8Array, parsed: ReturnType<typeof parseInbound>): Promise<void> {
    const d = this.d;`;
const cannedIn = (condition) => [CLIENTS, PROCESS, `${PROCESS}
    if (parsed.ok && parsed.message.kind === "request" && (${condition})) {
      const req = parsed.message;
      ${CANNED}
      conn.transport.send(res);
      return Promise.resolve();
    }`, `import { createResponse } from "../src/sip/response.ts";\n`];

/** name: [file, anchor, replacement, prefix?][] */
const EDITS = {
  // The shard parses each client message and answers a canned 401 / 200 in webSocketMessage: no route, no gate.
  canned: [[SHARD, HANDLE, `    const parsedC = parseMessage(typeof data === "string" ? data : new Uint8Array(data));
    if (parsedC.ok && parsedC.message.kind === "request") {
      const req = parsedC.message;
      ${CANNED}
      conn.transport.send(res);
      return;
    }
${HANDLE}`]],
  // webSocketMessage returns nothing: the message's work runs on without the runtime awaiting it.
  sync: [
    [SHARD, "  override async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {", "  override webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): void {"],
    [SHARD, "      await this.bridgeMessages.handle(ws, conn.bridge, data);", "      void this.bridgeMessages.handle(ws, conn.bridge, data);"],
    [SHARD, `${HANDLE}
    if (this.services.tm.size > 0) this.transactions.watch();`, `    void this.clients.handle(ws, conn, typeof data === "string" ? data : new Uint8Array(data)).then(() => {
      if (this.services.tm.size > 0) this.transactions.watch();
    });`],
  ],
  // Through ClientMessages (parse, KeyedSerial, RegisterGate), then a canned answer instead of the route.
  gate: [cannedIn("true")],
  // The real route for the first REGISTER (its 401), a canned 200 for the one with credentials.
  r401: [cannedIn(`parsed.message.headers.get("Authorization") !== undefined`)],
  // The real route up to and through the digest check, then a plain 200 (sl) instead of registrar.save.
  rauth: [["src/routes/default.ts", '  await ctx.registrar.save("location");\n};', '  ctx.sl.sendReply(200, "OK");\n};']],
  // rauth without the REGISTER's auth check: a REGISTER with an Authorization header is taken as
  // authenticated (no credentials parse, subscriber lookup, digest, nonce, identity, consume).
  rnoauth: [
    ["src/routes/default.ts", '  await ctx.registrar.save("location");\n};', '  ctx.sl.sendReply(200, "OK");\n};'],
    ["src/routes/default.ts", "  if (!(await authenticated(ctx))) return;\n  if (!ctx.isMyself(to.host)) {", '  if (ctx.msg.headers.get("Authorization") === undefined) { ctx.auth.wwwChallenge(); return; }\n  if (!ctx.isMyself(to.host)) {'],
  ],
  // rauth without the MD5s of the digest (the response is taken as the expected one).
  rnomd5: [
    ["src/routes/default.ts", '  await ctx.registrar.save("location");\n};', '  ctx.sl.sendReply(200, "OK");\n};'],
    ["src/modules/auth/authorize.ts", "  const expected = computeResponse({", "  const expected = creds.response;\n  void ({"],
  ],
  // rauth without the nonce's HMAC verification and nonce-count check (taken as fresh and first).
  rnononce: [
    ["src/routes/default.ts", '  await ctx.registrar.save("location");\n};', '  ctx.sl.sendReply(200, "OK");\n};'],
    ["src/modules/auth/authorize.ts", "  const nonce = v.signer.verify(creds.nonce, input.now, { realm: input.realm, bind: input.bind });", "  const nonce = { ok: true, expired: false, expiresAt: input.now + 1000 };"],
    ["src/modules/auth/authorize.ts", '  const verdict = v.tracker?.check(checked.nc, nonce, input.now) ?? "ok";', '  const verdict = "ok" as string;'],
  ],
  // As shipped, but registrar.save's 200 carries no Contact, Require or Flow-Timer (a plain sl 200).
  rsave: [["src/modules/registrar/script.ts", '    this.ctx.sl.sendReply(200, "OK", { headers: [...headers, ...reply.headers] });', '    void headers;\n    this.ctx.sl.sendReply(200, "OK");']],
  // Every client-bound frame sent twice (the client ignores the copy): the in-situ price of a send.
  dsend: [["src/transport/websocket.ts", "      this.ws.send(frame);\n", "      this.ws.send(frame);\n      this.ws.send(frame);\n"]],
  // No nodejs_compat: the flag only changes the runtime (the bundle has no node: imports).
  nocompat: [["wrangler.toml", 'compatibility_flags = ["nodejs_compat"]', "compatibility_flags = []"]],
  // The runtime floor's handler is async and awaits once before its send.
  fasync: [["bench/floor/worker.js", "  webSocketMessage(ws, message) {\n", "  async webSocketMessage(ws, message) {\n    await Promise.resolve();\n"]],
};

const [dir, ...names] = process.argv.slice(2);
if (!dir || names.length === 0) throw new Error(`usage: patch.mjs DIR NAME...; names: ${Object.keys(EDITS).join(" ")}`);
for (const name of names) {
  const edits = EDITS[name];
  if (!edits) throw new Error(`unknown edit ${name}; known: ${Object.keys(EDITS).join(" ")}`);
  for (const [file, anchor, replacement, prefix = ""] of edits) {
    const path = join(dir, file);
    const text = readFileSync(path, "utf8");
    if (!text.includes(anchor)) throw new Error(`${name}: anchor not found in ${file} (the code moved: update bench/bisect/patch.mjs)`);
    writeFileSync(path, prefix + text.replace(anchor, replacement));
  }
}

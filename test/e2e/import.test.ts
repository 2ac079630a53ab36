import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, readMigrations, startStack, type Stack } from "../../scripts/stack.mjs";

const TOKEN = "e2e-admin-token";
let stack: Stack;
let stateDir: string;
let workDir: string;

beforeAll(async () => {
  stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-import-state-"));
  workDir = await mkdtemp(path.join(tmpdir(), "sipedge-import-files-"));
  stack = await startStack({ port: 0, stateDir, build: false, vars: { ADMIN_TOKEN: TOKEN } });
});

afterAll(async () => {
  await stack?.stop();
  await rm(stateDir, { recursive: true, force: true });
  await rm(workDir, { recursive: true, force: true });
});

/** `npx sipedge ...` as a child process (never blocking the event loop the worker runs on). */
function cli(args: string[], token: string | null = TOKEN): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, SIPEDGE_ADMIN_TOKEN: token ?? "" };
  if (token === null) delete env["SIPEDGE_ADMIN_TOKEN"];
  const child = spawn(process.execPath, [path.join(ROOT, "bin/sipedge.mjs"), ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

async function count(sql: string): Promise<number> {
  const db = await stack.mf.getD1Database("DB");
  return (await db.prepare(sql).first<{ n: number }>())?.n ?? -1;
}

describe("the local stack's provisioning", () => {
  it("applies the migrations and seeds the demo subscribers on a fresh state directory", async () => {
    expect(stack.database).toEqual({ applied: (await readMigrations()).map((m) => m.name), seeded: 1003, dispatcher: 5 });
    expect(stack.database.applied.slice(0, 4)).toEqual(["0001_init.sql", "0002_permissions_rules.sql", "0003_location_index_acc.sql", "0004_uac.sql"]);
    expect(await count("SELECT count(*) AS n FROM subscriber WHERE username IN ('alice', 'bob', 'carol', 'user0999') AND domain = 'localhost'")).toBe(4);
  });

  it("imports 10,000 generated subscribers through `npx sipedge import` in seconds", async () => {
    const lines = ["id(int,auto) username(string) domain(string) password(string) ha1(string) ha1b(string)"];
    for (let i = 0; i < 10_000; i++) lines.push(`${i + 1}:load${String(i).padStart(5, "0")}:bench.test:pw-${i}::`);
    const file = path.join(workDir, "subscriber");
    await writeFile(file, lines.join("\n") + "\n");
    const started = performance.now();
    const r = await cli(["import", file, "--url", stack.url]);
    const seconds = (performance.now() - started) / 1000;
    console.log(`imported 10,000 subscribers through the CLI in ${seconds.toFixed(2)} s`);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/subscriber: 10000 rows into subscriber in \d+ ms/);
    expect(seconds).toBeLessThan(10);
    expect(await count("SELECT count(*) AS n FROM subscriber WHERE domain = 'bench.test' AND length(ha1) = 32 AND length(ha1_sha256) = 64")).toBe(10_000);
  });

  it("reports a refused file with file:line: field and exit status 1", async () => {
    const file = path.join(workDir, "version");
    await writeFile(file, "table_name(str) table_version(int)\nsubscriber:seven\n");
    const r = await cli(["import", file, "--url", stack.url]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("version:2: table_version: not an integer");
  });

  it("exits 4 with a clear message when the token is wrong", async () => {
    const file = path.join(workDir, "aliases");
    await writeFile(file, "username(str) contact(str)\nsupport:sip\\:alice@localhost\n");
    const r = await cli(["import", file, "--url", stack.url], "not-the-token");
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/refused the token/);
  });

  it("exits 2 when SIPEDGE_ADMIN_TOKEN is not set", async () => {
    const file = path.join(workDir, "aliases");
    await writeFile(file, "username(str) contact(str)\nsales:sip\\:bob@localhost\n");
    const r = await cli(["import", file, "--url", stack.url], null);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/SIPEDGE_ADMIN_TOKEN is not set/);
  });

  it("keeps subscribers and registrations across a restart, applying and seeding nothing twice", async () => {
    const ns = await stack.mf.getDurableObjectNamespace("LOCATION");
    const aor = "alice@localhost";
    const stub = ns.get(ns.idFromName(aor)) as unknown as { save(input: unknown): Promise<{ ok: boolean }> };
    expect(await stub.save({ aor, callId: "c", cseq: 1, contacts: [{ uri: "sip:alice@127.0.0.2;transport=ws", expires: 600 }], flowToken: "f" })).toMatchObject({ ok: true });
    const subscribers = await count("SELECT count(*) AS n FROM subscriber");
    expect(subscribers).toBeGreaterThanOrEqual(1003);
    await stack.stop();
    stack = await startStack({ port: 0, stateDir, build: false, vars: { ADMIN_TOKEN: TOKEN } });
    expect(stack.database).toEqual({ applied: [], seeded: 0, dispatcher: 0 });
    expect(await count("SELECT count(*) AS n FROM subscriber")).toBe(subscribers);
    const res = await fetch(`${stack.url}/admin/location/${aor}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect(await res.json()).toMatchObject({ aor, bindings: [{ contact: "sip:alice@127.0.0.2;transport=ws", flowToken: "f" }] });
  });
});

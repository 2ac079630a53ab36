// `npm run deploy -- --check` against real Wrangler configurations and the on-disk database that
// `npm start` keeps: it refuses the demo as shipped, and passes a production-shaped configuration
// whose database holds no demo accounts. (The deploy itself needs a Cloudflare account.)
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ROOT, startStack } from "../../scripts/stack.mjs";

let dir: string;

function deployCheck(args: string[]): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, "scripts/deploy.mjs"), "--check", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, out })));
}

/** A copy of wrangler.toml with a production domain, no aliases and a real-looking D1 id. */
async function productionToml(): Promise<string> {
  const text = (await readFile(path.join(ROOT, "wrangler.toml"), "utf8"))
    .replace(/^main = "src\/index.ts"$/m, `main = "${path.join(ROOT, "src/index.ts")}"`)
    .replace(/^migrations_dir = "migrations"$/m, `migrations_dir = "${path.join(ROOT, "migrations")}"`)
    .replace(/^SIP_DOMAIN = .*$/m, 'SIP_DOMAIN = "sip.example.com"')
    .replace(/^SIP_ALIASES = .*$/m, 'SIP_ALIASES = ""')
    .replace(/^database_id = .*$/m, 'database_id = "4b1e2c9a-1d2e-4f5a-9b8c-7d6e5f4a3b2c"');
  const file = path.join(dir, "wrangler.toml");
  await writeFile(file, text);
  return file;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "sipedge-deploy-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it("refuses the shipped configuration and a database seeded with the demo subscribers", async () => {
  const state = path.join(dir, "demo-state");
  const stack = await startStack({ port: 0, stateDir: state, build: false, seed: true });
  await stack.stop();
  const r = await deployCheck(["--local-db", state]);
  expect(r.code, r.out).toBe(1);
  expect(r.out).toContain("database_id is the placeholder");
  expect(r.out).toContain('SIP_DOMAIN is "localhost"');
  expect(r.out).toMatch(/demo subscribers with their demo passwords \(alice@localhost, bob@localhost, carol@localhost, user0000@localhost, user0001@localhost and 998 more\)/);
}, 60_000);

it("passes a production configuration whose database holds real accounts only, and names a demo secret value", async () => {
  const state = path.join(dir, "real-state");
  const stack = await startStack({ port: 0, stateDir: state, build: false, seed: false, vars: { ADMIN_TOKEN: "deploy-test-token-0123456789abcdef", SIP_DOMAIN: "sip.example.com", SIP_ALIASES: "" } });
  const res = await fetch(`${stack.url}/admin/subscribers`, { method: "POST", headers: { Authorization: "Bearer deploy-test-token-0123456789abcdef" }, body: JSON.stringify({ username: "alice", password: "a-real-and-long-password" }) });
  expect(res.status).toBe(201);
  await stack.stop();
  const toml = await productionToml();
  const passed = await deployCheck(["--config", toml, "--local-db", state]);
  expect(passed.code, passed.out).toBe(0);
  expect(passed.out).toContain("checks passed");
  const child = spawn(process.execPath, [path.join(ROOT, "scripts/deploy.mjs"), "--check", "--config", toml, "--local-db", state], { cwd: ROOT, env: { ...process.env, SIPEDGE_DEPLOY_ADMIN_TOKEN: "changeme" }, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stderr.on("data", (d) => (out += d));
  const code = await new Promise((resolve) => child.on("close", resolve));
  expect(code).toBe(1);
  expect(out).toContain("ADMIN_TOKEN: a demo value");
}, 60_000);

// Issue 5: permissions rule files (`.allow` / `.deny`, hosts.allow syntax) loaded into a running
// edge with `npx sipedge import` (POST /admin/import?file=NAME.allow), stored in D1, compiled with
// the address and trusted tables, reloaded in every shard; a malformed line names file, line
// and field.
import { spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, startStack, type Stack } from "../../scripts/stack.mjs";

const TOKEN = "permissions-e2e-token";
let stack: Stack;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "sipedge-rules-"));
  stack = await startStack({ port: 0, build: false, vars: { ADMIN_TOKEN: TOKEN, LOG_LEVEL: "error", CONNECTION_SHARDS: "4" } });
});

afterAll(async () => {
  await stack?.stop();
  await rm(dir, { recursive: true, force: true });
});

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [path.join(ROOT, "bin/sipedge.mjs"), ...args, "--url", stack.url], {
    env: { ...process.env, SIPEDGE_ADMIN_TOKEN: TOKEN },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

async function admin(method: string, route: string, body?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${stack.url}/admin${route}`, { method, headers: { authorization: `Bearer ${TOKEN}` }, ...(body === undefined ? {} : { body }) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

describe("permissions rule files at the edge", () => {
  it("`sipedge import rules.allow rules.deny` stores both and every shard reloads them", async () => {
    await writeFile(path.join(dir, "rules.allow"), '# callers from here may reach premium numbers\n"^sip:.*@localhost$" : "^sip:1900"\n');
    await writeFile(path.join(dir, "rules.deny"), 'ALL : "^sip:1900"\n');
    const r = await cli(["import", path.join(dir, "rules.allow"), path.join(dir, "rules.deny")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/rules\.allow: 1 rules into permissions_rules/);
    expect(r.stdout).toMatch(/rules\.deny: 1 rules into permissions_rules/);
    const listed = await admin("GET", "/permissions/rules");
    expect((listed.json.rules as { name: string; rules: number }[]).map((f) => [f.name, f.rules])).toEqual([
      ["rules.allow", 1],
      ["rules.deny", 1],
    ]);
    const reload = await admin("POST", "/permissions/reload");
    expect(reload.status).toBe(200);
    expect(reload.json).toMatchObject({ shards: 4, rules: ["rules.allow", "rules.deny"] });
  });

  it("a malformed line is refused with 400 naming file, line and field, and the stored file stays", async () => {
    const bad = await admin("POST", "/import?file=rules.allow", 'ALL : "^sip:1900"\nALL EXCEPT : "^sip:911"\n');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toEqual({ file: "rules.allow", line: 2, field: "left", reason: "empty expression" });
    await writeFile(path.join(dir, "register.deny"), 'ALL : "^sip:.*@(10\\."\n');
    const r = await cli(["import", path.join(dir, "register.deny")]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^sipedge: register\.deny:1: right: /m);
    const listed = await admin("GET", "/permissions/rules");
    expect((listed.json.rules as { name: string; rules: number }[]).map((f) => [f.name, f.rules])).toEqual([
      ["rules.allow", 1],
      ["rules.deny", 1],
    ]);
  });
});

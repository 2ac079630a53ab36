// The bridge's deploy kit: the Dockerfile (lint everywhere, an image build where a Docker engine
// runs) and the systemd unit.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { validate } from "dockerfile-utils";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../../..");
const DOCKERFILE = path.join(ROOT, "deploy/bridge/Dockerfile");
const UNIT = path.join(ROOT, "deploy/bridge/sipedge-bridge.service");
const run = promisify(execFile);

async function dockerEngine(): Promise<string | undefined> {
  try {
    await run("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 10_000 });
    return undefined;
  } catch (error) {
    return (error as { code?: string }).code === "ENOENT" ? "no docker command" : "no Docker engine answers (docker info failed)";
  }
}
const noEngine = await dockerEngine();

/** Files the bridge loads at run time: the import graph from bridge/main.mjs, relative imports only. */
async function runtimeFiles(): Promise<string[]> {
  const seen = new Set<string>();
  const queue = [path.join(ROOT, "bridge/main.mjs")];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = await readFile(file, "utf8");
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+"(\.[^"]+)"|import\("(\.[^"]+)"\)/g)) {
      queue.push(path.resolve(path.dirname(file), (m[1] ?? m[2]) as string));
    }
  }
  return [...seen].map((f) => path.relative(ROOT, f)).sort();
}

describe("bridge container image", () => {
  it("passes the Dockerfile linter (dockerfile-utils) with no diagnostics", async () => {
    expect(validate(await readFile(DOCKERFILE, "utf8"))).toEqual([]);
  });

  it("runs as a non-root user, with a health check, copying every file the bridge imports", async () => {
    const text = await readFile(DOCKERFILE, "utf8");
    const instructions = text.split("\n").filter((l) => /^[A-Z]+\s/.test(l));
    const user = instructions.filter((l) => l.startsWith("USER ")).at(-1);
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^USER\s+(root|0)(\s|:|$)/);
    expect(text).toMatch(/^HEALTHCHECK .*\n?.*CMD .*\/health/m);
    const copied = instructions.filter((l) => l.startsWith("COPY ")).map((l) => l.split(/\s+/)[1] as string);
    for (const src of copied) expect(existsSync(path.join(ROOT, src)), `COPY ${src}`).toBe(true);
    const files = await runtimeFiles();
    expect(files).toContain("bridge/cli.ts");
    expect(files).toContain("src/metrics/exposition.ts");
    for (const f of files) expect(copied.some((src) => (src.endsWith("/") ? f.startsWith(src) : f === src)), `${f} is not copied into the image`).toBe(true);
  });

  it.skipIf(noEngine !== undefined)(`builds with docker build (skipped here: ${noEngine ?? "engine present"})`, async () => {
    const { stdout } = await run("docker", ["build", "-q", "-f", DOCKERFILE, "-t", "sipedge-bridge:test", ROOT], { timeout: 600_000 });
    expect(stdout.trim()).toMatch(/^sha256:/);
    const { stdout: user } = await run("docker", ["run", "--rm", "--entrypoint", "id", "sipedge-bridge:test", "-u"]);
    expect(user.trim()).not.toBe("0");
  }, 660_000);
});

const systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].find((p) => existsSync(p));

describe("bridge systemd unit", () => {
  it("runs the bridge as its own user, from an environment file, restarting on failure", async () => {
    const text = await readFile(UNIT, "utf8");
    expect(text).toMatch(/^User=sipedge$/m);
    expect(text).toMatch(/^EnvironmentFile=\/etc\/sipedge\/bridge\.env$/m);
    expect(text).toMatch(/^ExecStart=\/usr\/bin\/node \/opt\/sipedge\/bridge\/main\.mjs$/m);
    expect(text).toMatch(/^Restart=on-failure$/m);
    expect(text).toMatch(/^NoNewPrivileges=yes$/m);
  });

  it.skipIf(systemdAnalyze === undefined)("passes systemd-analyze verify", async () => {
    const { stdout, stderr } = await run(systemdAnalyze as string, ["verify", UNIT]);
    expect(stdout + stderr).toBe("");
  });
});

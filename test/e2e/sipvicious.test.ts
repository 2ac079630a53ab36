// Issue 5: Debian's sipvicious against the bridge's UDP port. `svwar` must not tell existing
// extensions from missing ones; `svmap` must learn nothing but the configured Server string.
// The scanner filter and pike are relaxed here so the tools get answers to judge: with the
// shipped settings they get none (friendly-scanner is dropped; a fast scan is banned).
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../scripts/stack.mjs";

const run = promisify(execFile);
const SERVER = "ExampleEdge/1.0";

describe("sipvicious against the bridge", () => {
  let stack: Stack;
  let dir: string;
  let port: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sipedge-svwar-"));
    stack = await startStack({
      port: 0,
      build: false,
      vars: { LOG_LEVEL: "error", PIKE_DENSITY: "0", SCANNER_USER_AGENTS: "^scanner-filter-off$", SERVER_HEADER: SERVER, CONNECTION_SHARDS: "2" },
      bridge: { listen: "127.0.0.1:0" },
    });
    port = String(stack.bridge?.address).split(":").at(-1) as string;
  });
  afterAll(async () => {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("svwar cannot tell existing extensions (alice, bob, user0001) from missing ones", async () => {
    const dictionary = path.join(dir, "users.txt");
    await writeFile(dictionary, ["alice", "bob", "user0001", "nosuchuser", "ghost", "zz999"].join("\n") + "\n");
    // svwar's own sanity check notices that a made-up extension is challenged too and stops.
    const plain = await run("svwar", ["-b", "127.0.0.30", "-d", dictionary, "-m", "REGISTER", "-p", port, "127.0.0.1"], { timeout: 60_000 });
    expect(plain.stdout + plain.stderr).toMatch(/authentication request for an unknown extension|found nothing/);
    // Forced, it classifies every name the same way, existing or not.
    const forced = await run("svwar", ["--force", "-b", "127.0.0.30", "-d", dictionary, "-m", "REGISTER", "-p", port, "127.0.0.1"], { timeout: 60_000 });
    const output = forced.stdout + forced.stderr;
    console.log(output.trim());
    const verdict = (user: string) => new RegExp(`\\|\\s*${user}\\s*\\|\\s*(\\w+)`).exec(output)?.[1] ?? "absent";
    const verdicts = ["alice", "bob", "user0001", "nosuchuser", "ghost", "zz999"].map(verdict);
    expect(new Set(verdicts).size).toBe(1); // "absent" for all: svwar found nothing
  }, 90_000);

  it("svmap learns only the configured Server string", async () => {
    const { stdout, stderr } = await run("svmap", ["-b", "127.0.0.31", "-p", port, "127.0.0.1"], { timeout: 60_000 });
    const output = stdout + stderr;
    console.log(output.trim());
    expect(output).toContain(SERVER);
    expect(output).not.toMatch(/sipedge|workerd|miniflare|node/i);
  }, 90_000);
});

// Issues 5 and 8: Debian's sipvicious against the bridge's UDP port, on a deployment's topology
// (sip.example.test, no aliases, the bridge on 127.0.0.9, each tool on an address of its own).
// With the shipped settings the tools are dropped by their User-Agent (the edge logs each drop);
// with the scanner filter relaxed, so the tools get answers to judge, `svwar` cannot tell
// existing extensions from missing ones and `svmap` learns nothing but the configured Server
// string. Pike stays on throughout, as deployed.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { startStack, type Stack } from "../../scripts/stack.mjs";
import { UdpUa, bridgeTarget } from "../helpers/udp-ua.ts";

const run = promisify(execFile);
const SERVER = "ExampleEdge/1.0";
const DOMAIN = "sip.example.test";
const DEPLOYED = { SIP_DOMAIN: DOMAIN, SIP_ALIASES: "", SERVER_HEADER: SERVER, CONNECTION_SHARDS: "2" };
const NAMES = ["alice", "bob", "user0001", "nosuchuser", "ghost", "zz999"];

/**
 * svwar 0.3.3 (Debian) parses `-b` but never hands it to its scanner, which then binds every
 * interface and sends from 127.0.0.1. This runs the same tool with the address it was given, so
 * the scanner has an address of its own.
 */
const SVWAR_BOUND = `
import sys
sys.path.insert(0, "/usr/share/sipvicious")
from sipvicious import svwar
bind = sys.argv[sys.argv.index("-b") + 1]
original = svwar.TakeASip.__init__
def init(self, *args, **kwargs):
    kwargs.setdefault("bindingip", bind)
    original(self, *args, **kwargs)
svwar.TakeASip.__init__ = init
sys.argv[0] = "svwar"
sys.exit(svwar.main())
`;

function svwar(args: string[]) {
  return run("/usr/bin/python3", ["-c", SVWAR_BOUND, ...args], { timeout: 60_000 }).then(
    (r) => r.stdout + r.stderr,
    (e: { stdout?: string; stderr?: string }) => (e.stdout ?? "") + (e.stderr ?? ""),
  );
}

async function dictionary(dir: string): Promise<string> {
  const file = path.join(dir, "users.txt");
  await writeFile(file, NAMES.join("\n") + "\n");
  return file;
}

describe("sipvicious with the shipped settings: dropped by its User-Agent", () => {
  let stack: Stack;
  let dir: string;
  let port: string;
  const lines: string[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sipedge-svwar-"));
    // The edge's log lines reach the test through Miniflare's console output.
    vi.spyOn(console, "log").mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    stack = await startStack({ port: 0, build: false, vars: { ...DEPLOYED, LOG_LEVEL: "info" }, bridge: { listen: "127.0.0.9:0" } });
    port = String(bridgeTarget(stack.bridge?.address).port);
  });
  afterAll(async () => {
    await stack?.stop();
    vi.restoreAllMocks();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    lines.length = 0;
  });

  const drops = (ip: string) => lines.filter((l) => l.includes('"msg":"scanner dropped"') && l.includes(`"ip":"${ip}"`));

  it("svmap gets no answer, and the edge logs the drop of its friendly-scanner probe", async () => {
    const output = (await run("svmap", ["-b", "127.0.0.31", "-p", port, "127.0.0.9"], { timeout: 60_000 })).stdout;
    expect(output).not.toContain(SERVER);
    await vi.waitFor(() => expect(drops("127.0.0.31").length).toBeGreaterThan(0));
    expect(drops("127.0.0.31")[0]).toContain("friendly-scanner");
    // The port answers anyone else: a REGISTER from another address with an ordinary User-Agent gets 403.
    const ua = await UdpUa.bind("127.0.0.32", bridgeTarget(stack.bridge?.address));
    expect((await ua.register("alice", DOMAIN, 1))?.status).toBe(403);
    ua.close();
  }, 90_000);

  it("svwar finds nothing: its probe goes unanswered, dropped by the edge", async () => {
    const output = await svwar(["--force", "-vv", "-b", "127.0.0.30", "-d", await dictionary(dir), "-m", "REGISTER", "-p", port, "127.0.0.9"]);
    expect(output).toMatch(/timed out/);
    expect(output).toMatch(/found nothing/);
    expect(output).not.toMatch(/SIP\/2\.0 \d{3}/);
    await vi.waitFor(() => expect(drops("127.0.0.30").length).toBeGreaterThan(0));
    expect(drops("127.0.0.30").every((l) => l.includes("friendly-scanner"))).toBe(true);
  }, 90_000);
});

describe("sipvicious with the scanner filter relaxed (pike on): nothing to learn", () => {
  let stack: Stack;
  let dir: string;
  let port: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "sipedge-svwar-"));
    stack = await startStack({ port: 0, build: false, vars: { ...DEPLOYED, LOG_LEVEL: "error", SCANNER_USER_AGENTS: "^scanner-filter-off$" }, bridge: { listen: "127.0.0.9:0" } });
    port = String(bridgeTarget(stack.bridge?.address).port);
  });
  afterAll(async () => {
    await stack?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it("svwar gets the same answer for a made-up extension and for existing ones, and finds nothing", async () => {
    const dict = await dictionary(dir);
    // Unforced, svwar's own sanity check sees a made-up extension refused like any other and stops.
    const plain = await svwar(["-b", "127.0.0.33", "-d", dict, "-m", "REGISTER", "-p", port, "127.0.0.9"]);
    expect(plain).toMatch(/found nothing/);
    // Forced, it probes the names: every answer it prints is the made-up extension's 403.
    const forced = await svwar(["--force", "-vv", "-b", "127.0.0.34", "-d", dict, "-m", "REGISTER", "-p", port, "127.0.0.9"]);
    console.log(forced.trim());
    expect(forced).toMatch(/Bad user = SIP\/2\.0 403 Forbidden/);
    const answers = [...forced.matchAll(/1st line: '([^']*)'/g)].map((m) => m[1]);
    expect(answers.length).toBeGreaterThan(0);
    expect(new Set(answers)).toEqual(new Set(["SIP/2.0 403 Forbidden"]));
    expect(forced).toMatch(/found nothing/);
    expect(forced).not.toMatch(/\|\s*(alice|bob|user0001)\s*\|/);
  }, 90_000);

  it("svmap learns only the configured Server string", async () => {
    const { stdout, stderr } = await run("svmap", ["-b", "127.0.0.35", "-p", port, "127.0.0.9"], { timeout: 60_000 });
    const output = stdout + stderr;
    console.log(output.trim());
    expect(output).toContain(SERVER);
    expect(output).not.toMatch(/sipedge|workerd|miniflare|node/i);
  }, 90_000);
});

// The bridge as a process (`node bridge/main.mjs`) between a fake edge (the link protocol over
// `ws`) and a real sipp UAS over UDP, with the gateway named by an SRV record that a loopback DNS
// responder serves.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import dgram from "node:dgram";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/stack.mjs";
import { startDnsResponder, type DnsResponder } from "../unit/bridge/dns-responder.ts";
import { startFakeEdge, splitFrame, type FakeEdge, type Frame } from "../unit/bridge/fake-edge.ts";

const SECRET = "e2e-secret";
// Outside CI a machine without sipp skips this case; in CI (which installs sipp) it must run.
const HAVE_SIPP = spawnSync("sipp", ["-v"]).error === undefined;

// A gateway that answers 100, 180 and 200 (retransmitted until the ACK), then 200 to the BYE.
const UAS_SCENARIO = `<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="bridge e2e gateway">
  <recv request="INVITE"/>
  <send><![CDATA[
SIP/2.0 100 Trying
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_Record-Route:]
[last_From:]
[last_To:];tag=gw[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:gw@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_Record-Route:]
[last_From:]
[last_To:];tag=gw[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:gw@[local_ip]:[local_port]>
Content-Length: 0

]]></send>
  <recv request="ACK"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
</scenario>
`;

let dir: string;
let dns: DnsResponder;
let edge: FakeEdge;
let bridge: ChildProcess;
let bridgeOutput = "";
let sippPort: number;

async function freeUdpPort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

const hello = (shard: number) => (f: Frame) => f.shard === shard && f.data.startsWith('{"type":"hello"');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "sipedge-bridge-e2e-"));
  sippPort = await freeUdpPort();
  dns = await startDnsResponder({
    srv: { "_sip._udp.gateway.sipedge.test": [{ priority: 10, weight: 1, port: sippPort, target: "gw1.sipedge.test" }] },
    a: { "gw1.sipedge.test": ["127.0.0.1"] },
  });
  edge = await startFakeEdge({ secret: SECRET, shards: 2 });
  bridge = spawn(
    process.execPath,
    [path.join(ROOT, "bridge/main.mjs"), "--edge", edge.url, "--listen", "127.0.0.1:0", "--id", "e2e-bridge", "--dns", `127.0.0.1:${dns.port}`],
    { cwd: ROOT, env: { ...process.env, SIPEDGE_BRIDGE_SECRET: SECRET }, stdio: ["ignore", "pipe", "pipe"] },
  );
  bridge.stdout?.on("data", (d) => (bridgeOutput += d));
  bridge.stderr?.on("data", (d) => (bridgeOutput += d));
});

afterAll(async () => {
  bridge?.kill("SIGKILL");
  await edge?.close();
  await dns?.close();
  await rm(dir, { recursive: true, force: true });
});

describe("bridge process between a fake edge and sipp", () => {
  it.skipIf(!HAVE_SIPP && process.env.CI !== "true")("an INVITE from the edge reaches sipp by SRV name; 100/180/200 come back with their source", async () => {
    const [h0, h1] = await Promise.all([edge.next(hello(0), 15_000), edge.next(hello(1), 15_000)]);
    expect(JSON.parse(h0.data)).toMatchObject({ bridge: "e2e-bridge", shards: 2 });
    const advertise = (JSON.parse(h1.data) as { advertise: string }).advertise;
    const scenario = path.join(dir, "uas.xml");
    await writeFile(scenario, UAS_SCENARIO);
    const sipp = spawn("sipp", ["-sf", scenario, "-i", "127.0.0.1", "-p", String(sippPort), "-m", "1", "-nostdin", "-timeout", "20s", "-timeout_error"], {
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let sippOutput = "";
    sipp.stdout?.on("data", (d) => (sippOutput += d));
    sipp.stderr?.on("data", (d) => (sippOutput += d));
    const sippExit = new Promise<number | null>((resolve) => sipp.on("exit", (code) => resolve(code)));
    try {
      await new Promise((resolve) => setTimeout(resolve, 300)); // sipp binds its port
      const callId = `e2e-${Date.now()}@edge`;
      const head = (method: string, branch: string, cseq: number, to: string) =>
        [
          `Via: SIP/2.0/UDP ${advertise};branch=${branch};rport`,
          "Max-Forwards: 69",
          "From: <sip:alice@localhost>;tag=alice1",
          `To: ${to}`,
          `Call-ID: ${callId}`,
          `CSeq: ${cseq} ${method}`,
        ].join("\r\n");
      edge.send(1, ["gateway.sipedge.test",
        "INVITE sip:+15551234@gateway.sipedge.test SIP/2.0",
        `Record-Route: <sip:${advertise};lr;shard=1>`,
        head("INVITE", "z9hG4bKe2einv", 1, "<sip:+15551234@gateway.sipedge.test>"),
        `Contact: <sip:alice@${advertise};shard=1>`,
        "Content-Length: 0", "", ""].join("\r\n"));

      const responses = await Promise.all(
        ["SIP/2.0 100 ", "SIP/2.0 180 ", "SIP/2.0 200 "].map((start) => edge.next((f) => f.data.includes("\r\n" + start), 10_000)),
      );
      for (const r of responses) {
        expect(r.shard).toBe(1); // the shard whose link sent the INVITE
        expect(splitFrame(r).from).toBe(`127.0.0.1:${sippPort}`);
        expect(splitFrame(r).message).toContain(`Call-ID: ${callId}`);
      }
      const ok = splitFrame(responses[2] as Frame).message;
      const to = /\r\nTo: ([^\r\n]+)/.exec(ok)?.[1] ?? "";
      expect(to).toContain(";tag=gw");
      const gw = `127.0.0.1:${sippPort}`;
      edge.send(1, [gw, `ACK sip:gw@${gw} SIP/2.0`, head("ACK", "z9hG4bKe2eack", 1, to), "Content-Length: 0", "", ""].join("\r\n"));
      edge.send(1, [gw, `BYE sip:gw@${gw} SIP/2.0`, head("BYE", "z9hG4bKe2ebye", 2, to), "Content-Length: 0", "", ""].join("\r\n"));
      const byeOk = await edge.next((f) => f.data.includes("\r\nSIP/2.0 200 ") && f.data.includes(" BYE\r\n"), 10_000);
      expect(byeOk.shard).toBe(1);
      expect(await sippExit, sippOutput).toBe(0); // sipp counts the call as successful
      expect(dns.questions).toContain("SRV _sip._udp.gateway.sipedge.test");
    } finally {
      sipp.kill("SIGKILL");
    }
  }, 40_000);

  it("when the edge restarts, the bridge reconnects by itself and says hello again", async () => {
    await Promise.all([edge.next(hello(0), 15_000), edge.next(hello(1), 15_000)]);
    const port = edge.port;
    await edge.close();
    edge = await startFakeEdge({ secret: SECRET, shards: 2, port });
    const [h0, h1] = await Promise.all([edge.next(hello(0), 15_000), edge.next(hello(1), 15_000)]);
    expect([h0.bridge, h1.bridge]).toEqual(["e2e-bridge", "e2e-bridge"]);
    expect(bridgeOutput).toContain('"msg":"edge link down"');
  }, 30_000);

  it("SIGTERM stops the bridge gracefully", async () => {
    const exited = new Promise<number | null>((resolve) => bridge.on("exit", (code) => resolve(code)));
    bridge.kill("SIGTERM");
    expect(await exited).toBe(0);
    expect(bridgeOutput).toContain('"msg":"stopped"');
  });
});

import { spawn } from "node:child_process";
import dgram from "node:dgram";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect, it } from "vitest";
import { ROOT } from "../../scripts/stack.mjs";
import { answersPing, findRtpengine } from "../../scripts/rtpengine.mjs";
import { readResponse, sipRequest } from "../helpers/sip-text.ts";
import { WsSipClient } from "../helpers/ws-client.ts";

it("npm start serves SIP over WebSocket and stops everything on SIGTERM", async () => {
  // An rtpengine already on 127.0.0.1:2223 (a system service) is used, not started nor stopped.
  const preexisting = await answersPing("127.0.0.1:2223");
  const stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-start-"));
  const port = 18000 + Math.floor(Math.random() * 1000);
  const child = spawn(process.execPath, [path.join(ROOT, "scripts/start.mjs")], {
    cwd: ROOT,
    env: { ...process.env, SIPEDGE_PORT: String(port), SIPEDGE_STATE_DIR: stateDir, SIPEDGE_BRIDGE_LISTEN: `127.0.0.1:${port + 1000}` },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<string>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? `exit ${code}`)));
  try {
    await expect.poll(() => output, { timeout: 30_000, interval: 100 }).toContain(`ws://127.0.0.1:${port}/`);
    // Media: rtpengine beside the bridge when installed (CI installs it), else how to install it.
    await expect.poll(() => output, { timeout: 10_000, interval: 100 }).toContain(`browser phone: http://127.0.0.1:${port}/phone`);
    const rtpengine = findRtpengine() !== undefined && !preexisting;
    if (preexisting) expect(output).toContain("media: the rtpengine already running on 127.0.0.1:2223");
    else expect(output).toMatch(rtpengine ? /media: rtpengine \S+, media on 127\.0\.0\.1/ : /media: rtpengine is not installed.*\n.*apt-get install rtpengine-daemon/);
    if (rtpengine) expect(await answersPing("127.0.0.1:2223")).toBe(true);
    const client = await WsSipClient.open(`ws://127.0.0.1:${port}/`);
    client.send(sipRequest({ ruri: "sip:127.0.0.1" }));
    expect(readResponse(await client.next()).status).toBe(200);
    await client.close();
    child.kill("SIGTERM");
    // Ended by the signal (exit 0 from our handler, or 143/SIGTERM when Miniflare's own exit
    // hook wins the race); either way the edge must be gone.
    expect(["exit 0", "exit 143", "SIGTERM"]).toContain(await exited);
    await expect(WsSipClient.open(`ws://127.0.0.1:${port}/`)).rejects.toThrow();
    if (rtpengine) await expect.poll(() => answersPing("127.0.0.1:2223"), { timeout: 5000 }).toBe(false);
  } finally {
    child.kill("SIGKILL");
    await rm(stateDir, { recursive: true, force: true });
  }
}, 60_000);

it("npm start prints a short banner (no per-link lines before it) and reports SIGINT as it stops", async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-start-"));
  const port = 19000 + Math.floor(Math.random() * 1000);
  const child = spawn(process.execPath, [path.join(ROOT, "scripts/start.mjs")], {
    cwd: ROOT,
    env: { ...process.env, SIPEDGE_PORT: String(port), SIPEDGE_STATE_DIR: stateDir, SIPEDGE_BRIDGE_LISTEN: `127.0.0.1:${port + 1000}`, SIPEDGE_ADMIN_TOKEN: "start-test-token-0123456789" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout.on("data", (d) => (output += d));
  child.stderr.on("data", (d) => (output += d));
  const exited = new Promise<string>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? `exit ${code}`)));
  try {
    await expect.poll(() => output, { timeout: 30_000, interval: 100 }).toMatch(/Ctrl-C stops everything\n/);
    const banner = output.slice(0, output.indexOf("Ctrl-C stops everything"));
    expect(banner.split("\n").filter((l) => l.startsWith("{")), banner).toEqual([]);
    expect(banner).toMatch(/bridge: UDP 127\.0\.0\.1:\d+ ⇄ .*, 16\/16 shard links up/);
    expect(banner).toContain(`dashboard: http://127.0.0.1:${port}/dashboard`);
    child.kill("SIGINT");
    await exited;
    expect(output).toContain("SIGINT: stopping\n");
    await expect(WsSipClient.open(`ws://127.0.0.1:${port}/`)).rejects.toThrow();
    // The bridge went too: its UDP port can be bound again (it may take a moment to exit).
    await expect.poll(() => udpFree(port + 1000), { timeout: 5000 }).toBe(true);
  } finally {
    child.kill("SIGKILL");
    await rm(stateDir, { recursive: true, force: true });
  }
}, 60_000);

function udpFree(port: number): Promise<boolean> {
  const socket = dgram.createSocket("udp4");
  return new Promise((resolve) => {
    socket.once("error", () => resolve(false));
    socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
  });
}

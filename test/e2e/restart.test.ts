// Issue 3: "Nothing registered is lost when the local stack restarts". The stack runs as `npm
// start` does (a child `node scripts/start.mjs` keeping its state on disk) and is killed the hard
// way: SIGKILL to its whole process group (Node and workerd), so no close handler runs and no flow
// is cleaned up. After a start on the same state the bindings are still there; their flows are
// dead (430 Flow Failed) until the client re-registers, and its reg-id then replaces the stale flow.
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, it } from "vitest";
import { ROOT } from "../../scripts/stack.mjs";
import { adminBindings, contactsOf, SipUa } from "../helpers/sip-ua.ts";
import { freePort } from "../helpers/ports.ts";

const TOKEN = "restart-e2e-token";
const PASSWORD = "pw"; // the seeded benchmark users user0000… (src/provisioning/seed.ts)

const running: ChildProcess[] = [];
const cleanup: (() => Promise<void>)[] = [];

interface Running {
  child: ChildProcess;
  output: () => string;
  exited: Promise<string>;
}

/** `npm start` in its own process group, so the test can kill Node and workerd together. */
async function start(port: number, stateDir: string): Promise<Running> {
  const child = spawn(process.execPath, [path.join(ROOT, "scripts/start.mjs")], {
    cwd: ROOT,
    env: {
      ...process.env,
      SIPEDGE_PORT: String(port),
      SIPEDGE_BRIDGE_LISTEN: `127.0.0.1:${port + 1000}`,
      SIPEDGE_STATE_DIR: stateDir,
      SIPEDGE_ADMIN_TOKEN: TOKEN,
      SIPEDGE_LOG_LEVEL: "error",
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  running.push(child);
  let output = "";
  child.stdout?.on("data", (d) => (output += d));
  child.stderr?.on("data", (d) => (output += d));
  const exited = new Promise<string>((resolve) => child.on("exit", (code, signal) => resolve(signal ?? `exit ${code}`)));
  await expect.poll(() => output, { timeout: 45_000, interval: 100 }).toContain(`ws://127.0.0.1:${port}/`);
  return { child, output: () => output, exited };
}

/** SIGKILL to the process group: a crash or power cut, with no exit hook and no socket close. */
function killHard(child: ChildProcess): void {
  if (child.pid !== undefined) {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
}

afterAll(async () => {
  for (const child of running) killHard(child);
  for (const fn of cleanup) await fn();
});

it("bindings survive a SIGKILL of npm start; the dead flow answers 430 until the client re-registers and its reg-id replaces it", async () => {
  const stateDir = await mkdtemp(path.join(tmpdir(), "sipedge-restart-"));
  cleanup.push(() => rm(stateDir, { recursive: true, force: true }));
  const port = await freePort();
  const wsUrl = `ws://127.0.0.1:${port}/`;
  const httpUrl = `http://127.0.0.1:${port}`;
  const user = "user0990";
  const instance = `<urn:uuid:${randomUUID()}>`;

  const first = await start(port, stateDir);
  const phone = await SipUa.connect(wsUrl, { user, password: PASSWORD, instance, regId: 1 });
  expect((await phone.register()).response.status).toBe(200);
  const before = await adminBindings(httpUrl, TOKEN, phone.aor);
  expect(before.map((b) => b.contact)).toEqual([phone.contactUri]);

  killHard(first.child);
  expect(await first.exited).toBe("SIGKILL");
  // The client's socket died with the edge (no close handshake), and the port is free again.
  expect((await phone.closed).code).toBe(1006);
  await expect(SipUa.connect(wsUrl, { user, password: PASSWORD })).rejects.toThrow();

  const second = await start(port, stateDir);
  // D1 kept its subscribers (nothing seeded again) and the Location object its binding, flow and all.
  expect(second.output()).not.toMatch(/seeded \d+ demo subscribers/);
  expect(await adminBindings(httpUrl, TOKEN, phone.aor)).toEqual(before);

  // A call to the binding reaches a flow no socket holds any more: RFC 5626 §5.3 430 Flow Failed.
  const caller = await SipUa.connect(wsUrl, { user: "user0991", password: PASSWORD, localAddress: "127.0.0.2" });
  expect((await caller.register()).response.status).toBe(200);
  const call = await caller.invite(`sip:${phone.aor}`);
  expect([call.response.status, call.response.reason]).toEqual([430, "Flow Failed"]);

  // The phone reconnects (new WebSocket, new flow, new Contact URI) with the same instance and reg-id.
  const again = await SipUa.connect(wsUrl, { user, password: PASSWORD, instance, regId: 1, localAddress: "127.0.0.3" });
  const reregister = await again.register();
  expect(reregister.response.status).toBe(200);
  expect(contactsOf(reregister.response).map((c) => c.uri)).toEqual([again.contactUri]);
  const after = await adminBindings(httpUrl, TOKEN, phone.aor);
  expect(after.map((b) => b.contact)).toEqual([again.contactUri]);
  expect(after[0]?.flowToken).not.toBe(before[0]?.flowToken);

  await Promise.all([caller.close(), again.close()]);
  killHard(second.child);
  await second.exited;
}, 120_000);

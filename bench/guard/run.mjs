// The price of the security layer on a deployment's topology (README "Security: what the bans
// cost"): a deploy's reconnect storm, and what an attacker's address costs the edge.
//
//   node bench/guard/run.mjs [--clients 1000] [--attackers 200] [--rounds 3]
//
// storm:    N clients on N addresses register, are dropped at once (a deploy), reconnect and
//           register again, 100 at a time; wall time and workerd CPU of the second wave.
// failures: M addresses each send one REGISTER with a wrong password over WebSocket (their first
//           auth failure: the Guard records it and every shard must come to check the address);
//           workerd CPU per attacker address, and the wall time until the last one is answered.
//
// It starts the stack of the tree it lives in (scripts/stack.mjs: the deploy bundle in workerd
// through Miniflare), so copied into another checkout it measures that checkout's code.
import { readFileSync, readdirSync } from "node:fs";
import { startStack } from "../../scripts/stack.mjs";
import { SipUa } from "../../test/helpers/sip-ua.ts";

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (i % 2 === 0 ? [...acc, [a.replace(/^--/, ""), all[i + 1]]] : acc), []));
const CLIENTS = Number(args.clients ?? 1000);
const ATTACKERS = Number(args.attackers ?? 200);
const ROUNDS = Number(args.rounds ?? 3);
const DOMAIN = "sip.example.test";
const HZ = 100;

function ticks(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
  return Number(f[11]) + Number(f[12]);
}
function workerdPids() {
  const parent = new Map();
  for (const p of readdirSync("/proc")) {
    if (p.charCodeAt(0) > 57) continue;
    try {
      const s = readFileSync(`/proc/${p}/stat`, "utf8");
      parent.set(Number(p), Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[1]));
    } catch {
      // gone
    }
  }
  const mine = (pid) => (pid === process.pid ? true : pid > 1 && parent.has(pid) ? mine(parent.get(pid)) : false);
  return [...parent.keys()].filter((p) => p !== process.pid && mine(p) && readFileSync(`/proc/${p}/comm`, "utf8").trim() === "workerd");
}
const cpuMs = (pids) => (pids.reduce((n, p) => n + ticks(p), 0) * 1000) / HZ;

/** Waits until workerd has been idle for half a second (the previous phase's closes handled). */
async function settled(pids) {
  for (let i = 0; i < 120; i++) {
    const c0 = cpuMs(pids);
    await new Promise((r) => setTimeout(r, 500));
    if (cpuMs(pids) - c0 < 25) return;
  }
}

async function measure(label, pids, fn) {
  await settled(pids);
  const c0 = cpuMs(pids);
  const t0 = Date.now();
  const detail = await fn();
  return { label, ms: Date.now() - t0, cpuMs: cpuMs(pids) - c0, ...detail };
}

const addressOf = (i) => `127.0.${10 + Math.floor(i / 250)}.${1 + (i % 250)}`;
const attackerOf = (i) => `127.1.${Math.floor(i / 250)}.${1 + (i % 250)}`;

async function wave(stack, n) {
  const clients = [];
  const failures = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 100 }, async () => {
      while (next < n) {
        const i = next++;
        const user = `user${String(i).padStart(4, "0")}`;
        try {
          const ua = await SipUa.connect(stack.wsUrl, { user, password: "pw", domain: DOMAIN, localAddress: addressOf(i) });
          clients.push(ua);
          const { response } = await ua.register();
          if (response.status !== 200) failures.push(`${user}: ${response.status}`);
        } catch (err) {
          failures.push(`${user}: ${err.message}`);
        }
      }
    }),
  );
  return { clients, failures };
}

async function failures(stack, m) {
  let next = 0;
  const answers = new Map();
  const clients = [];
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < m) {
        const i = next++;
        const ua = await SipUa.connect(stack.wsUrl, { user: "user0001", password: "wrong", domain: DOMAIN, localAddress: attackerOf(i) });
        clients.push(ua);
        const { response } = await ua.register();
        answers.set(response.status, (answers.get(response.status) ?? 0) + 1);
      }
    }),
  );
  await Promise.all(clients.map((c) => c.terminate()));
  return { answers: Object.fromEntries(answers) };
}

const results = [];
for (let round = 0; round < ROUNDS; round++) {
  const stack = await startStack({ port: 0, build: round === 0, vars: { LOG_LEVEL: "error", SIP_DOMAIN: DOMAIN, SIP_ALIASES: "" } });
  try {
    const pids = workerdPids();
    const first = await wave(stack, CLIENTS);
    if (first.failures.length > 0) throw new Error(`first wave: ${first.failures.slice(0, 5).join(", ")}`);
    await Promise.all(first.clients.map((c) => c.terminate()));
    // A deploy restarts every object: wait until the idle ones are evicted (workerd: ~10 s), so
    // the storm meets cold Location objects every round, as after a deploy.
    await settled(pids);
    await new Promise((r) => setTimeout(r, 15_000));
    const storm = await measure("storm", pids, async () => {
      const again = await wave(stack, CLIENTS);
      await Promise.all(again.clients.map((c) => c.terminate()));
      return { failures: again.failures.length };
    });
    const attack = await measure("first auth failures", pids, () => failures(stack, ATTACKERS));
    results.push({ round, storm, attack });
    console.log(JSON.stringify({ round, storm, attack }));
  } finally {
    await stack.stop();
  }
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `storm (${CLIENTS} reconnect + register): median ${median(results.map((r) => r.storm.ms))} ms, workerd CPU ${median(results.map((r) => r.storm.cpuMs))} ms; ` +
    `first auth failure from ${ATTACKERS} addresses: median ${median(results.map((r) => r.attack.ms))} ms, workerd CPU ${(median(results.map((r) => r.attack.cpuMs)) / ATTACKERS).toFixed(2)} ms per address`,
);

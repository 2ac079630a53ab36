// Starts an rtpengine daemon (Debian `rtpengine-daemon`, userspace forwarding) for `npm start` and
// the media tests: media on `iface` (loopback locally, so media never leaves the machine), the ng
// control protocol on 127.0.0.1 only, never exposed. Resolves once it answers an ng ping.
import { spawn, spawnSync } from "node:child_process";
import dgram from "node:dgram";

export const RTPENGINE_INSTALL = "sudo apt-get install rtpengine-daemon   (Debian/Ubuntu; then npm start runs it)";

/** The rtpengine binary on the PATH (or /usr/bin, /usr/sbin), or undefined when not installed. */
export function findRtpengine() {
  for (const candidate of ["rtpengine", "/usr/bin/rtpengine", "/usr/sbin/rtpengine"]) {
    const probe = spawnSync(candidate, ["--version"], { encoding: "utf8" });
    if (probe.status === 0) return { path: candidate, version: /Version:\s*(\S+)/.exec(probe.stdout + probe.stderr)?.[1] ?? "unknown" };
  }
  return undefined;
}

/**
 * Options: ng (the control address, default 127.0.0.1:2223), iface (media address, default
 * 127.0.0.1), portMin/portMax (media ports, default 30000-30999), logLevel (syslog 0-7, default 5),
 * extraArgs. Returns { process, ng, log(), stop() }.
 */
export async function startRtpengine(options = {}) {
  const found = findRtpengine();
  if (found === undefined) throw new Error(`rtpengine is not installed: ${RTPENGINE_INSTALL}`);
  const { ng = "127.0.0.1:2223", iface = "127.0.0.1", portMin = 30000, portMax = 30999, logLevel = 5, extraArgs = [] } = options;
  const args = [
    // Not /etc/rtpengine/rtpengine.conf: Debian's opens HTTP and CLI listeners and a recording
    // directory this one does not want. Everything it uses is on this command line.
    "--config-file=none",
    `--interface=${iface}`,
    `--listen-ng=${ng}`,
    "--foreground",
    "--log-stderr",
    "--no-log-timestamps",
    `--log-level=${logLevel}`,
    // Userspace forwarding: no kernel module (table -1), nothing to install beyond the daemon.
    "--table=-1",
    `--port-min=${portMin}`,
    `--port-max=${portMax}`,
    // Sessions whose media stopped, or that were offered and never answered, are not kept for
    // long if a delete is lost (the proxy deletes them itself on BYE, CANCEL and failures).
    "--timeout=60",
    "--silent-timeout=3600",
    "--offer-timeout=300",
    ...extraArgs,
  ];
  const child = spawn(found.path, args, { stdio: ["ignore", "pipe", "pipe"] });
  // However this process ends (a signal handler that exits first included), rtpengine goes too.
  const onExit = () => child.kill("SIGKILL");
  process.on("exit", onExit);
  // Only the latest output is kept (a long `npm start` must not grow without bound).
  let output = "";
  const keep = (d) => {
    output = (output + d).slice(-65_536);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((resolve) => child.on("exit", (code, signal) => resolve(signal ?? code)));
  let gone = false;
  void exited.then(() => (gone = true));
  // Ready when it answers an ng ping (what the bridge will send first).
  const deadline = Date.now() + 10_000;
  while (!(await pong(ng))) {
    if (gone) throw new Error(`rtpengine exited before it started:\n${output}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`rtpengine did not answer an ng ping on ${ng} within 10 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    process: child,
    ng,
    version: found.version,
    log: () => output,
    async stop() {
      process.off("exit", onExit);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

/** One ng ping (`<cookie> d7:command4:pinge`); true when rtpengine answers pong within 200 ms. */
function pong(ng) {
  const [host, port] = ng.split(/:(?=\d+$)/);
  return new Promise((resolve) => {
    const socket = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
    const done = (answer) => {
      clearTimeout(timer);
      socket.close();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), 200);
    socket.on("message", (data) => done(data.toString("latin1").includes("4:pong")));
    socket.on("error", () => done(false));
    socket.send("ready d7:command4:pinge", Number(port), host.replace(/^\[|\]$/g, ""));
  });
}

/** Whether an rtpengine answers ng pings at `ng` (`ip:port`). */
export { pong as answersPing };

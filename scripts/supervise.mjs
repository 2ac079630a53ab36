// A small supervisor for the bridge under `npm start` and the fault tests: when the bridge process
// dies of anything but our own stop() (a crash, SIGKILL, the OOM killer), it is started again
// with the same options after a short backoff, as systemd's Restart=always or a container's
// restart policy does in production (deploy/bridge). The edge side needs nothing: a new process
// dials every shard again and a link of the same bridge id replaces the dead one.
import { setTimeout as sleep } from "node:timers/promises";

/** First restart after this long; doubled per crash in a row, up to MAX_BACKOFF_MS. */
export const RESTART_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5000;
/** A process that stayed up this long resets the backoff (it was not a crash loop). */
const STABLE_MS = 30_000;

/**
 * Runs `start()` (resolving to { process, stop(), ... } once ready, as startBridge does) and
 * restarts it whenever its process exits unasked. `onRestart(info)` hears of each restart.
 * Returns an object shaped like one started process whose `process` is always the current one.
 */
export async function supervise(start, { onRestart = () => {}, onExit = () => {} } = {}) {
  let current = await start();
  let stopping = false;
  let backoff = RESTART_BACKOFF_MS;
  let restarts = 0;
  let startedAt = Date.now();
  const watch = (child) =>
    child.once("exit", (code, signal) => {
      if (stopping) return;
      onExit({ code, signal });
      void restart();
    });
  async function restart() {
    if (Date.now() - startedAt > STABLE_MS) backoff = RESTART_BACKOFF_MS;
    for (;;) {
      await sleep(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      if (stopping) return;
      try {
        current = await start();
        break;
      } catch (error) {
        onExit({ code: null, signal: null, error: String(error) });
      }
    }
    if (stopping) return void current.stop();
    restarts++;
    startedAt = Date.now();
    watch(current.process);
    onRestart({ restarts, pid: current.process.pid });
  }
  watch(current.process);
  return {
    get address() {
      return current.address;
    },
    get process() {
      return current.process;
    },
    get restarts() {
      return restarts;
    },
    async stop() {
      stopping = true;
      await current.stop();
    },
  };
}

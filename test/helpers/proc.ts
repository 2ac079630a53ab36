// What a process costs, from /proc (Linux): CPU time, resident memory now and at its peak. The
// storm and the soak report these for workerd and the bridge.
import { readFileSync, readdirSync } from "node:fs";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function statFields(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name may contain spaces and parentheses: fields start after the last ")".
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** User + system CPU the process has used, in ms. */
export function cpuMs(pid: number): number {
  const f = statFields(pid);
  return ((Number(f[11]) + Number(f[12])) * 1000) / TICKS_PER_SECOND;
}

/** Resident set now (VmRSS) and its peak since the process started (VmHWM), in MB. */
export function memoryMb(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return { rss: Math.round(kb("VmRSS") / 1024), peak: Math.round(kb("VmHWM") / 1024) };
}

/** Descendants of `root` (default: this process) whose command name is `name` (e.g. "workerd"). */
export function descendantsNamed(name: string, root = process.pid): number[] {
  const parent = new Map<number, number>();
  const comm = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const pid = Number(entry);
      const f = statFields(pid);
      parent.set(pid, Number(f[1]));
      comm.set(pid, readFileSync(`/proc/${pid}/comm`, "utf8").trim());
    } catch {
      // gone meanwhile
    }
  }
  const under = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 1; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return [...comm].filter(([pid, c]) => c === name && under(pid)).map(([pid]) => pid);
}

/** The one workerd this process started (Miniflare's child). */
export function workerdPid(): number {
  const pids = descendantsNamed("workerd");
  if (pids.length !== 1) throw new Error(`expected one workerd under pid ${process.pid}, found ${pids.length}`);
  return pids[0]!;
}

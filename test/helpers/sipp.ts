import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { ROOT } from "../../scripts/stack.mjs";

/** A real sipp process (Debian `sip-tester`) acting as a UDP gateway or caller. */
export class Sipp {
  private output = "";
  readonly exited: Promise<number | null>;

  private constructor(readonly process: ChildProcess) {
    process.stdout?.on("data", (d) => (this.output += d));
    process.stderr?.on("data", (d) => (this.output += d));
    this.exited = new Promise((resolve) => process.on("exit", (code) => resolve(code)));
  }

  /** A UAS on 127.0.0.1:`port` running test/sipp/`scenario` (OPTIONS keepalives auto-answered). */
  static uas(port: number, scenario = "uas.xml", extra: string[] = []): Sipp {
    const args = ["-sf", path.join(ROOT, "test/sipp", scenario), "-i", "127.0.0.1", "-p", String(port), "-aa", "-nostdin", "-buff_size", "4194304", ...extra];
    return new Sipp(spawn("sipp", args, { stdio: ["ignore", "pipe", "pipe"] }));
  }

  /** A UAC: `sipp -sf scenario target -s service -m calls ...`. */
  static uac(target: string, scenario: string, extra: string[] = []): Sipp {
    const args = ["-sf", path.join(ROOT, "test/sipp", scenario), "-i", "127.0.0.1", "-nostdin", "-buff_size", "4194304", ...extra, target];
    return new Sipp(spawn("sipp", args, { stdio: ["ignore", "pipe", "pipe"] }));
  }

  get log(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill("SIGKILL");
    await this.exited;
  }
}

import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { ROOT } from "../../scripts/stack.mjs";
import { header, type SipMessage, type SipUa } from "./sip-ua.ts";

/** One message as sipp's `-trace_msg` log records it. */
export interface SippLogEntry {
  dir: "received" | "sent";
  /** The request's method, or "" for a response. */
  method: string;
  /** A response's status, 0 for a request. */
  status: number;
  callId: string;
  text: string;
}

/** A real sipp process (Debian `sip-tester`) acting as a UDP gateway or caller. */
export class Sipp {
  private output = "";
  readonly exited: Promise<number | null>;

  private constructor(
    readonly process: ChildProcess,
    /** sipp's `-message_file`: every message it sent and received, written as it goes. */
    readonly messageFile: string,
  ) {
    process.stdout?.on("data", (d) => (this.output += d));
    process.stderr?.on("data", (d) => (this.output += d));
    this.exited = new Promise((resolve) => process.on("exit", (code) => resolve(code)));
  }

  private static spawn(args: string[]): Sipp {
    const messageFile = path.join(tmpdir(), `sipedge-sipp-${randomBytes(6).toString("hex")}.log`);
    return new Sipp(spawn("sipp", ["-trace_msg", "-message_file", messageFile, ...args], { stdio: ["ignore", "pipe", "pipe"] }), messageFile);
  }

  /**
   * A UAS on `address`:`port` (default 127.0.0.1) running test/sipp/`scenario` (OPTIONS
   * keepalives auto-answered).
   */
  static uas(port: number, scenario = "uas.xml", extra: string[] = [], address = "127.0.0.1"): Sipp {
    return Sipp.spawn(["-sf", path.join(ROOT, "test/sipp", scenario), "-i", address, "-p", String(port), "-aa", "-nostdin", "-buff_size", "4194304", ...extra]);
  }

  /** A UAS on its own address `ip`:`port` (a deployment-shaped gateway), OPTIONS auto-answered. */
  static gateway(ip: string, port: number, scenario: string, extra: string[] = []): Sipp {
    return Sipp.uas(port, scenario, extra, ip);
  }

  /** A UAC: `sipp -sf scenario target -s service -m calls ...`, from `address` (default 127.0.0.1). */
  static uac(target: string, scenario: string, extra: string[] = [], address = "127.0.0.1"): Sipp {
    return Sipp.spawn(["-sf", path.join(ROOT, "test/sipp", scenario), "-i", address, "-nostdin", "-buff_size", "4194304", ...extra, target]);
  }

  get log(): string {
    return this.output;
  }

  /** The process id: sipp's `[pid]` keyword, which the test scenarios put into their To-tags. */
  get pid(): number | undefined {
    return this.process.pid;
  }

  /** What sipp logged so far (`-trace_msg`), in order. */
  async messages(): Promise<SippLogEntry[]> {
    const text = await readFile(this.messageFile, "utf8").catch(() => "");
    const out: SippLogEntry[] = [];
    for (const block of text.split(/^-{20,} .*$/m)) {
      const m = /^\s*\w+ message (received|sent)[^\n]*\n\s*\n?([\s\S]*)$/.exec(block);
      if (!m) continue;
      const message = (m[2] ?? "").replace(/\r?\n/g, "\r\n").trim();
      const start = message.slice(0, message.indexOf("\r\n"));
      const status = /^SIP\/2\.0 (\d{3})/.exec(start);
      const callId = /^(?:Call-ID|i)\s*:\s*(\S+)/im.exec(message)?.[1] ?? "";
      out.push({
        dir: m[1] as "received" | "sent",
        method: status ? "" : start.slice(0, start.indexOf(" ")),
        status: status ? Number(status[1]) : 0,
        callId,
        text: message,
      });
    }
    return out;
  }

  /** Call-IDs of the requests of `method` sipp received, first arrival only (not retransmissions). */
  async received(method: string): Promise<string[]> {
    const ids = (await this.messages()).filter((m) => m.dir === "received" && m.method === method).map((m) => m.callId);
    return [...new Set(ids)];
  }

  async stop(): Promise<void> {
    if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill("SIGKILL");
    await this.exited;
    await rm(this.messageFile, { force: true });
  }
}

/** The UDP port of the gateway that answered: the test scenarios put `[local_port]` in Contact. */
export function gatewayPort(response: SipMessage): number | undefined {
  const m = /<sip:[^>]*:(\d+)[;>]/.exec(header(response, "contact") ?? "");
  return m ? Number(m[1]) : undefined;
}

/** The in-dialog route of a 200 (RFC 3261 §12.2.1.1: the Record-Route list reversed, the remote target the Contact). */
function dialogOf(ok: SipMessage) {
  const routes = (ok.headers.get("record-route") ?? []).flatMap((r) => r.split(/,(?=\s*<)/)).reverse().map((r) => `Route: ${r.trim()}`);
  const target = /<([^>]+)>/.exec(header(ok, "contact") ?? "")?.[1] ?? "";
  const fromTag = /;tag=([^;>\s]+)/.exec(header(ok, "from") ?? "")?.[1];
  return { routes, target, to: header(ok, "to") ?? "", callId: header(ok, "call-id") ?? "", fromTag };
}

/** ACK for a 2xx along the route set of the 200. */
export function ackOk(ua: SipUa, ok: SipMessage, cseq: number): void {
  const d = dialogOf(ok);
  ua.send(
    [
      `ACK ${d.target} SIP/2.0`,
      `Via: SIP/2.0/WS ua.invalid;branch=z9hG4bK${randomBytes(8).toString("hex")}`,
      "Max-Forwards: 70",
      ...d.routes,
      `From: ${header(ok, "from")}`,
      `To: ${d.to}`,
      `Call-ID: ${d.callId}`,
      `CSeq: ${cseq} ACK`,
      "Content-Length: 0",
      "",
      "",
    ].join("\r\n"),
  );
}

/** BYE of an answered call (already ACKed); resolves with its final answer. */
export async function byeOk(ua: SipUa, ok: SipMessage, cseq: number): Promise<SipMessage> {
  const d = dialogOf(ok);
  const bye = await ua.request({ method: "BYE", ruri: d.target, to: d.to, callId: d.callId, cseq: cseq + 1, fromTag: d.fromTag, extraHeaders: d.routes });
  return bye.response;
}

/** ACK for a 2xx, then BYE, along the route set of the 200. Resolves with the final answer to the BYE. */
export async function hangUp(ua: SipUa, ok: SipMessage, cseq: number): Promise<SipMessage> {
  ackOk(ua, ok, cseq);
  return byeOk(ua, ok, cseq);
}

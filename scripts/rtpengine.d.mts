import type { ChildProcess } from "node:child_process";

export declare const RTPENGINE_INSTALL: string;

/** The rtpengine binary and its version, or undefined when it is not installed. */
export declare function findRtpengine(): { path: string; version: string } | undefined;

export interface RtpengineOptions {
  /** ng control address (default 127.0.0.1:2223). */
  ng?: string;
  /** Media interface address (default 127.0.0.1). */
  iface?: string;
  portMin?: number;
  portMax?: number;
  /** syslog level 0-7 (default 5). */
  logLevel?: number;
  extraArgs?: string[];
}

export interface RtpengineProcess {
  process: ChildProcess;
  ng: string;
  version: string;
  /** The latest output (64 KiB at most). */
  log(): string;
  stop(): Promise<void>;
}

export declare function startRtpengine(options?: RtpengineOptions): Promise<RtpengineProcess>;

/** Whether an rtpengine answers an ng ping at `ng` (`ip:port`) within 200 ms. */
export declare function answersPing(ng: string): Promise<boolean>;

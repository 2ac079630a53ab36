import type { ChildProcess } from "node:child_process";

export declare const RESTART_BACKOFF_MS: number;
export declare function supervise<T extends { process: ChildProcess; stop(): Promise<void>; address?: string }>(
  start: () => Promise<T>,
  hooks?: {
    onRestart?: (info: { restarts: number; pid: number | undefined }) => void;
    onExit?: (info: { code: number | null; signal: string | null; error?: string }) => void;
  },
): Promise<{ readonly address: string | undefined; readonly process: ChildProcess; readonly restarts: number; stop(): Promise<void> }>;

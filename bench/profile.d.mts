// Types of bench/profile.mjs for the TypeScript tests that profile the edge (the storm).
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}
export interface Profiler {
  start(): Promise<unknown>;
  stop(file: string): Promise<CpuProfile>;
  /** The isolate's heap after a full collection, bytes. */
  heapAfterGc(): Promise<{ usedSize: number; totalSize: number }>;
  /** Writes a heap snapshot of the isolate to `file`. */
  heapSnapshot(file: string): Promise<void>;
  close(): void;
}
export function profiler(port: number, want: RegExp, options?: { intervalUs?: number }): Promise<Profiler>;
export function selfTimes(profile: CpuProfile): { name: string; where: string; selfMs: number; share: number }[];
export function topTable(title: string, profile: CpuProfile, ops: number, n?: number): string;

// How many D1 statements and round trips a storm makes, counted in the local D1 database's own
// isolate (Miniflare's D1DatabaseObject) through workerd's DevTools inspector: V8's precise
// coverage with call counts of the function that runs one statement (`#query`) and of the one
// that answers one request from a Worker (`queryExecute`, one per `first()`/`all()`/`batch()`).
import WebSocket from "ws";

interface Coverage {
  result: { url: string; functions: { functionName: string; ranges: { count: number }[] }[] }[];
}

/** Miniflare's D1 object: the functions counted and what each call is. */
const COUNTED = { "#query": "statements", queryExecute: "requests" } as const;

export interface D1Counter {
  /** Statements and requests since `start`. */
  take(): Promise<{ statements: number; requests: number }>;
  close(): void;
}

/** Starts counting in the inspector target named `d1:db` of the workerd whose inspector listens on `port`. */
export async function countD1(port: number): Promise<D1Counter> {
  const list = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()) as { id: string; title?: string; webSocketDebuggerUrl: string }[];
  const target = list.find((t) => /^d1:db$/.test(t.id) || /^d1:db$/.test(t.title ?? ""));
  if (target === undefined) throw new Error(`no d1:db inspector target on port ${port}`);
  const ws = new WebSocket(target.webSocketDebuggerUrl, { perMessageDeflate: false, maxPayload: 1 << 30 });
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let next = 0;
  const pending = new Map<number, (result: unknown) => void>();
  ws.on("message", (data) => {
    const m = JSON.parse(String(data)) as { id?: number; result?: unknown; error?: { message: string } };
    if (m.id === undefined) return;
    pending.get(m.id)?.(m.error ? new Error(m.error.message) : m.result);
    pending.delete(m.id);
  });
  const send = async (method: string, params: object = {}): Promise<unknown> => {
    const id = ++next;
    const answer = new Promise<unknown>((resolve) => pending.set(id, resolve));
    ws.send(JSON.stringify({ id, method, params }));
    const result = await answer;
    if (result instanceof Error) throw new Error(`${method}: ${result.message}`);
    return result;
  };
  await send("Profiler.enable");
  await send("Profiler.startPreciseCoverage", { callCount: true, detailed: false });
  return {
    async take() {
      const coverage = (await send("Profiler.takePreciseCoverage")) as Coverage;
      const counts = { statements: 0, requests: 0 };
      for (const script of coverage.result) {
        for (const f of script.functions) {
          const what = COUNTED[f.functionName as keyof typeof COUNTED];
          if (what !== undefined) counts[what] += f.ranges[0]?.count ?? 0;
        }
      }
      return counts;
    },
    close: () => ws.close(),
  };
}

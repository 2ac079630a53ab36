// How many D1 statements and round trips a storm makes, counted in the local D1 database's own
// isolate (Miniflare's D1 object, inspector target `d1:db`) through workerd's DevTools
// inspector. workerd's inspector implements the Profiler domain itself (no V8 coverage counts),
// so the counter is a wrapper evaluated in that isolate around `Request.prototype.json`, which
// the D1 object calls once per request from a Worker (`first()`, `all()`, `run()` or `batch()`)
// to read its statements (one, or an array for a batch). Measurement only: the test's local D1.
// Statements are also counted by their SQL's first 60 characters (`bySql`), so a test can tell
// the subscriber reads from the registration index's writes.
import WebSocket from "ws";

const INSTALL = `(() => {
  const json = Request.prototype.json;
  const counts = (globalThis.__stormD1 = { requests: 0, statements: 0, bySql: {} });
  Request.prototype.json = async function () {
    const body = await json.call(this);
    counts.requests++;
    for (const s of Array.isArray(body) ? body : [body]) {
      counts.statements++;
      const key = String(s?.sql ?? "").slice(0, 60);
      counts.bySql[key] = (counts.bySql[key] ?? 0) + 1;
    }
    return body;
  };
  return true;
})()`;

export interface D1Counts {
  statements: number;
  requests: number;
  bySql: Record<string, number>;
}

export interface D1Counter {
  /** Statements and requests since the counter was installed (and statements by their SQL's first 60 characters). */
  take(): Promise<D1Counts>;
  close(): void;
}

interface Message {
  id?: number;
  method?: string;
  params?: { context?: { id: number } };
  result?: { result?: { value?: unknown } };
  error?: { message: string };
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
  let context: number | undefined;
  const pending = new Map<number, (m: Message) => void>();
  ws.on("message", (data) => {
    const m = JSON.parse(String(data)) as Message;
    if (m.method === "Runtime.executionContextCreated") context ??= m.params?.context?.id;
    if (m.id === undefined) return;
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  const send = async (method: string, params: object = {}): Promise<Message> => {
    const id = ++next;
    const answer = new Promise<Message>((resolve) => pending.set(id, resolve));
    ws.send(JSON.stringify({ id, method, params }));
    const m = await answer;
    if (m.error) throw new Error(`${method}: ${m.error.message}`);
    return m;
  };
  /** The value of `expression` in the D1 isolate (its one execution context, announced by Runtime.enable). */
  const evaluate = async (expression: string): Promise<unknown> => {
    const m = await send("Runtime.evaluate", { contextId: context, expression, returnByValue: true });
    return m.result?.result?.value;
  };
  await send("Runtime.enable");
  if ((await evaluate(INSTALL)) !== true) throw new Error("the D1 counter did not install");
  return {
    async take() {
      return JSON.parse(String(await evaluate("JSON.stringify(globalThis.__stormD1)"))) as D1Counts;
    },
    close: () => ws.close(),
  };
}

// Tiny, independent SIP text helpers for tests: they build requests by hand and read responses
// with plain string handling, so tests do not depend on the parser they are checking.

let counter = 0;

export interface RequestOptions {
  method?: string;
  ruri?: string;
  from?: string;
  to?: string;
  callId?: string;
  cseq?: number;
  branch?: string;
  maxForwards?: number | null;
  extraHeaders?: string[];
  body?: string;
  via?: string;
}

export function sipRequest(options: RequestOptions = {}): string {
  counter++;
  const method = options.method ?? "OPTIONS";
  const ruri = options.ruri ?? "sip:127.0.0.1";
  const branch = options.branch ?? `z9hG4bK${Date.now().toString(36)}${counter}`;
  const body = options.body ?? "";
  const lines = [
    `${method} ${ruri} SIP/2.0`,
    options.via ?? `Via: SIP/2.0/WS df7jal23ls0d.invalid;branch=${branch}`,
    ...(options.maxForwards === null ? [] : [`Max-Forwards: ${options.maxForwards ?? 70}`]),
    `From: ${options.from ?? "<sip:alice@localhost>;tag=a" + counter}`,
    `To: ${options.to ?? "<" + ruri + ">"}`,
    `Call-ID: ${options.callId ?? `test-${counter}-${Math.random().toString(36).slice(2)}`}`,
    `CSeq: ${options.cseq ?? 1} ${method}`,
    ...(options.extraHeaders ?? []),
    `Content-Length: ${new TextEncoder().encode(body).length}`,
    "",
    body,
  ];
  return lines.join("\r\n");
}

export interface ReadResponse {
  status: number;
  reason: string;
  headers: Map<string, string[]>;
  raw: string;
}

/** Reads a response's status line and headers (lower-cased names, one entry per line). */
export function readResponse(text: string): ReadResponse {
  const [head = ""] = text.split("\r\n\r\n");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const m = /^SIP\/2\.0 (\d{3}) (.*)$/.exec(statusLine);
  if (!m) throw new Error(`not a SIP response: ${JSON.stringify(statusLine)}`);
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const i = line.indexOf(":");
    const name = line.slice(0, i).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(i + 1).trim()]);
  }
  return { status: Number(m[1]), reason: m[2] ?? "", headers, raw: text };
}

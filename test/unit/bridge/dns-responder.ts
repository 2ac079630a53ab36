// A tiny authoritative DNS responder on loopback UDP for the bridge's tests: it answers A and SRV
// questions from a fixed zone (RFC 1035 §4.1 message layout, RFC 2782 SRV RDATA) and NXDOMAIN
// for anything else, and records every question so tests can see which lookups happened.
import dgram from "node:dgram";

export interface Zone {
  a?: Record<string, string[]>;
  srv?: Record<string, { priority: number; weight: number; port: number; target: string }[]>;
}

export interface DnsResponder {
  port: number;
  questions: string[];
  close(): Promise<void>;
}

const TYPE_A = 1;
const TYPE_SRV = 33;

export async function startDnsResponder(zone: Zone, ttl = 300): Promise<DnsResponder> {
  const socket = dgram.createSocket("udp4");
  const questions: string[] = [];
  socket.on("message", (query, rinfo) => {
    const question = readQuestion(query);
    if (question === undefined) return;
    const typeName = question.type === TYPE_A ? "A" : question.type === TYPE_SRV ? "SRV" : String(question.type);
    questions.push(`${typeName} ${question.name}`);
    const answers: Buffer[] = [];
    if (question.type === TYPE_A) {
      for (const ip of zone.a?.[question.name] ?? []) answers.push(record(TYPE_A, ttl, Buffer.from(ip.split(".").map(Number))));
    } else if (question.type === TYPE_SRV) {
      for (const s of zone.srv?.[question.name] ?? []) {
        const head = Buffer.alloc(6);
        head.writeUInt16BE(s.priority, 0);
        head.writeUInt16BE(s.weight, 2);
        head.writeUInt16BE(s.port, 4);
        answers.push(record(TYPE_SRV, ttl, Buffer.concat([head, encodeName(s.target)])));
      }
    }
    const known = zone.a?.[question.name] !== undefined || zone.srv?.[question.name] !== undefined;
    const header = Buffer.alloc(12);
    header.writeUInt16BE(query.readUInt16BE(0), 0); // id
    header.writeUInt16BE(0x8400 | (known ? 0 : 3), 2); // QR, AA; rcode NXDOMAIN when unknown
    header.writeUInt16BE(1, 4); // QDCOUNT
    header.writeUInt16BE(answers.length, 6); // ANCOUNT
    socket.send(Buffer.concat([header, query.subarray(12, question.end), ...answers]), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  return {
    port: socket.address().port,
    questions,
    close: () => new Promise((resolve) => socket.close(() => resolve())),
  };
}

function readQuestion(query: Buffer): { name: string; type: number; end: number } | undefined {
  if (query.length < 17) return undefined;
  const labels: string[] = [];
  let i = 12;
  while (i < query.length && query[i] !== 0) {
    const len = query[i] as number;
    labels.push(query.toString("latin1", i + 1, i + 1 + len).toLowerCase());
    i += 1 + len;
  }
  if (i + 5 > query.length) return undefined;
  return { name: labels.join("."), type: query.readUInt16BE(i + 1), end: i + 5 };
}

/** An answer whose owner name points at the question's name (compression pointer to offset 12). */
function record(type: number, ttl: number, rdata: Buffer): Buffer {
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0);
  head.writeUInt16BE(type, 2);
  head.writeUInt16BE(1, 4); // class IN
  head.writeUInt32BE(ttl, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

function encodeName(name: string): Buffer {
  const parts = name.split(".").filter((p) => p.length > 0);
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([p.length]), Buffer.from(p, "latin1")])), Buffer.from([0])]);
}

// The call floor's bridge (bench only): the least a bridge between the floor's object
// (call-worker.js) and UDP gateways can do. One WebSocket link per floor object (`--shards`), one
// UDP socket. A link frame `<port>\n<datagram>` is sent as is to gateway-host:port; every datagram
// received goes back over a link, the datagrams of one event-loop turn for one link in one message
// joined by "\0" (as sipedge's bridge flushes once per turn and link). No SIP is parsed (with more
// than one link, the Call-ID of each datagram, to find its link), no transaction kept, no
// retransmission made.
//
//   node bench/floor/call-bridge.mjs --edge ws://127.0.0.1:PORT/bridge --listen 127.0.0.1:PORT [--gateway-host 127.0.0.1] [--shards N]
// Prints "ready" once the link is open and the socket bound, and for each line on stdin its link
// counts so far: {"frames": datagrams both ways, "messages": WebSocket messages both ways}.
import dgram from "node:dgram";
import { parseArgs } from "node:util";
import WebSocket from "ws";

const { values: args } = parseArgs({
  options: { edge: { type: "string" }, listen: { type: "string" }, "gateway-host": { type: "string", default: "127.0.0.1" }, shards: { type: "string", default: "1" } },
});
const shards = Number(args.shards);
if (!Number.isInteger(shards) || shards < 1) {
  console.error(`call floor bridge: --shards wants a whole number, 1 or more (got ${args.shards})`);
  process.exit(2);
}
const [listenHost, listenPort] = args.listen.split(":");
const gatewayHost = args["gateway-host"];

const socket = dgram.createSocket({ type: "udp4", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
const counts = { frames: 0, messages: 0 };
/** Call-ID -> the link its INVITE came over (only with more than one link). */
const linkOf = new Map();

function callId(text) {
  const at = text.search(/\r\n(call-id|i)\s*:/i);
  if (at < 0) return "";
  const start = text.indexOf(":", at) + 1;
  return text.slice(start, text.indexOf("\r\n", start)).trim();
}

const links = Array.from({ length: shards }, (_, shard) => {
  const ws = new WebSocket(shards === 1 ? args.edge : `${args.edge}?shard=${shard}`, "sip", { perMessageDeflate: false });
  const link = { ws, queue: [] };
  link.flush = () => {
    counts.frames += link.queue.length;
    counts.messages++;
    ws.send(link.queue.length === 1 ? link.queue[0] : link.queue.join("\0"));
    link.queue = [];
  };
  ws.on("message", (data) => {
    counts.frames++;
    counts.messages++;
    const text = data.toString("latin1");
    const nl = text.indexOf("\n");
    if (shards > 1 && text.startsWith("INVITE ", nl + 1)) linkOf.set(callId(text), link);
    socket.send(Buffer.from(text.slice(nl + 1), "latin1"), Number(text.slice(0, nl)), gatewayHost);
  });
  ws.on("close", () => process.exit(0));
  ws.on("error", (e) => { console.error(`call floor bridge: ${e.message}`); process.exit(1); });
  return link;
});

socket.on("message", (data) => {
  const text = data.toString("latin1");
  let link = links[0];
  if (shards > 1) {
    const id = callId(text);
    link = linkOf.get(id);
    if (link === undefined) return;
    if (/\r\nCSeq:\s*\d+\s+BYE\r\n/i.test(text)) linkOf.delete(id);
  }
  link.queue.push(text);
  if (link.queue.length === 1) setImmediate(link.flush);
});
socket.on("error", (e) => console.error(`call floor bridge: udp ${e.message}`));

await Promise.all([
  new Promise((resolve) => socket.bind(Number(listenPort), listenHost, resolve)),
  ...links.map(({ ws }) => new Promise((resolve) => ws.once("open", resolve))),
]);
process.stdin.on("data", () => console.log(JSON.stringify(counts)));
console.log("ready");

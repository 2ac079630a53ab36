// The call floor's bridge (bench only): the least a bridge between the floor's object
// (call-worker.js) and UDP gateways can do. One WebSocket link, one UDP socket. A link frame
// `<port>\n<datagram>` is sent as is to gateway-host:port; every datagram received goes back over
// the link, the datagrams of one event-loop turn in one message joined by "\0" (as sipedge's
// bridge flushes once per turn). No SIP is parsed, no transaction kept, no retransmission made.
//
//   node bench/floor/call-bridge.mjs --edge ws://127.0.0.1:PORT/bridge --listen 127.0.0.1:PORT [--gateway-host 127.0.0.1]
// Prints "ready" once the link is open and the socket bound, and for each line on stdin its link
// counts so far: {"frames": datagrams both ways, "messages": WebSocket messages both ways}.
import dgram from "node:dgram";
import { parseArgs } from "node:util";
import WebSocket from "ws";

const { values: args } = parseArgs({
  options: { edge: { type: "string" }, listen: { type: "string" }, "gateway-host": { type: "string", default: "127.0.0.1" } },
});
const [listenHost, listenPort] = args.listen.split(":");
const gatewayHost = args["gateway-host"];

const socket = dgram.createSocket({ type: "udp4", recvBufferSize: 4 << 20, sendBufferSize: 4 << 20 });
const link = new WebSocket(args.edge, "sip", { perMessageDeflate: false });
let queue = [];
const counts = { frames: 0, messages: 0 };

const flush = () => {
  counts.frames += queue.length;
  counts.messages++;
  link.send(queue.length === 1 ? queue[0] : queue.join("\0"));
  queue = [];
};

socket.on("message", (data) => {
  queue.push(data.toString("latin1"));
  if (queue.length === 1) setImmediate(flush);
});

link.on("message", (data) => {
  counts.frames++;
  counts.messages++;
  const text = data.toString("latin1");
  const nl = text.indexOf("\n");
  socket.send(Buffer.from(text.slice(nl + 1), "latin1"), Number(text.slice(0, nl)), gatewayHost);
});
socket.on("error", (e) => console.error(`call floor bridge: udp ${e.message}`));
link.on("close", () => process.exit(0));
link.on("error", (e) => { console.error(`call floor bridge: ${e.message}`); process.exit(1); });

await Promise.all([
  new Promise((resolve) => socket.bind(Number(listenPort), listenHost, resolve)),
  new Promise((resolve) => link.once("open", resolve)),
]);
process.stdin.on("data", () => console.log(JSON.stringify(counts)));
console.log("ready");

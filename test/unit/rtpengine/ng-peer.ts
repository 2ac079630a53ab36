// A UDP peer that speaks the ng framing (`<cookie> <bencoded dictionary>`) for the bridge's
// client tests: it records what it receives and answers as told. The real rtpengine daemon is
// exercised by the media suite (test/media); this peer provokes what rtpengine rarely does
// (silence, a lost reply, garbage).
import dgram from "node:dgram";
import { decode, encode, type BValue } from "../../../bridge/rtpengine/bencode.ts";
import type { NgDict } from "../../../bridge/rtpengine/ng.ts";

export interface Received {
  cookie: string;
  ng: NgDict;
}

export class NgPeer {
  readonly received: Received[] = [];
  /** What to answer a request with; undefined: stay silent. */
  answer: (req: Received, copy: number) => NgDict | undefined = (req) => (req.ng.command === "ping" ? { result: "pong" } : { result: "ok" });
  private readonly socket = dgram.createSocket("udp4");

  static async start(): Promise<NgPeer> {
    const peer = new NgPeer();
    await new Promise<void>((resolve) => peer.socket.bind(0, "127.0.0.1", resolve));
    peer.socket.on("message", (data, rinfo) => peer.onMessage(data, rinfo));
    return peer;
  }

  get address(): { address: string; port: number } {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  get url(): string {
    return `udp:127.0.0.1:${this.address.port}`;
  }

  /** Sends raw bytes to `to` (a reply the client did not ask for, garbage). */
  sendRaw(data: Uint8Array | string, to: { address: string; port: number }): void {
    this.socket.send(data, to.port, to.address);
  }

  close(): void {
    this.socket.close();
  }

  private onMessage(data: Buffer, rinfo: dgram.RemoteInfo): void {
    const space = data.indexOf(0x20);
    const cookie = data.toString("latin1", 0, space);
    const parsed = decode(data.subarray(space + 1));
    if (!parsed.ok) return;
    const req = { cookie, ng: parsed.value as NgDict };
    this.received.push(req);
    const copy = this.received.filter((r) => r.cookie === cookie).length;
    const reply = this.answer(req, copy);
    if (reply === undefined) return;
    const body = encode(reply as BValue);
    this.socket.send(Buffer.concat([Buffer.from(cookie + " "), body]), rinfo.port, rinfo.address);
  }
}

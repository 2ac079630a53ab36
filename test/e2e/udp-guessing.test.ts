// Issue 5: password guessing over UDP through the bridge, with our own correct digest client.
// Registrations belong to WebSocket clients; over UDP only gateways (dispatcher destinations) and
// trusted peers reach the edge, and a UDP source can be spoofed. So a REGISTER from any other UDP
// source is refused with 403 before any digest: the guesser never gets a nonce to compute with,
// a correct digest over a made-up nonce changes nothing, and a spoofed source cannot feed the
// excessive-REGISTER block of a user at somebody else's address.
import { createSocket, type Socket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, type Stack } from "../../scripts/stack.mjs";
import { SipUa, digestResponse, header, parseChallenge, parseMessage, type SipMessage } from "../helpers/sip-ua.ts";

const PASSWORD = "pw"; // seeded users user0000..user0999 (src/provisioning/seed.ts)

/** A UDP user agent bound to its own loopback address: one request at a time. */
class UdpUa {
  private constructor(
    private readonly socket: Socket,
    private readonly target: { host: string; port: number },
  ) {}

  static async bind(address: string, target: { host: string; port: number }): Promise<UdpUa> {
    const socket = createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return new UdpUa(socket, target);
  }

  get local(): string {
    const a = this.socket.address();
    return `${a.address}:${a.port}`;
  }

  /** A REGISTER for `user`, with digest credentials when `auth` is given. */
  register(user: string, cseq: number, auth?: { password: string; nonce: string; realm: string }): Promise<SipMessage> {
    const uri = "sip:localhost";
    const lines = [
      `REGISTER ${uri} SIP/2.0`,
      `Via: SIP/2.0/UDP ${this.local};rport;branch=z9hG4bK${randomBytes(8).toString("hex")}`,
      "Max-Forwards: 70",
      `From: <sip:${user}@localhost>;tag=${randomBytes(4).toString("hex")}`,
      `To: <sip:${user}@localhost>`,
      `Call-ID: udp-guess-${user}@${this.local}`,
      `CSeq: ${cseq} REGISTER`,
      `Contact: <sip:${user}@${this.local}>`,
      "User-Agent: guesser/1.0",
    ];
    if (auth !== undefined) {
      const cnonce = randomBytes(8).toString("hex");
      const response = digestResponse({ username: user, realm: auth.realm, password: auth.password, method: "REGISTER", uri, nonce: auth.nonce, nc: "00000001", cnonce });
      lines.push(`Authorization: Digest username="${user}", realm="${auth.realm}", nonce="${auth.nonce}", uri="${uri}", response="${response}", algorithm=MD5, qop=auth, nc=00000001, cnonce="${cnonce}"`);
    }
    lines.push("Content-Length: 0", "", "");
    return this.exchange(lines.join("\r\n"));
  }

  private exchange(text: string): Promise<SipMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.socket.off("message", onMessage);
        reject(new Error("no answer within 3 s"));
      }, 3000);
      const onMessage = (data: Buffer) => {
        clearTimeout(timer);
        this.socket.off("message", onMessage);
        resolve(parseMessage(data.toString("utf8")));
      };
      this.socket.on("message", onMessage);
      this.socket.send(text, this.target.port, this.target.host);
    });
  }

  close(): void {
    this.socket.close();
  }
}

describe("password guessing over UDP through the bridge", () => {
  let stack: Stack;
  let target: { host: string; port: number };
  beforeAll(async () => {
    // A low threshold, so that a block fed by these guesses would show; pike off, so that the
    // guesser keeps getting answers (with it on, 16 requests in 2 s ban the source address).
    stack = await startStack({
      port: 0,
      build: false,
      vars: { LOG_LEVEL: "error", AUTH_BLOCK_THRESHOLD: "5", PIKE_DENSITY: "0", CONNECTION_SHARDS: "2" },
      bridge: { listen: "127.0.0.1:0" },
    });
    const port = Number(String(stack.bridge?.address).split(":").at(-1));
    target = { host: "127.0.0.1", port };
  });
  afterAll(async () => {
    await stack?.stop();
  });

  it("a REGISTER from a UDP source that is no gateway is refused with 403 before any challenge", async () => {
    const ua = await UdpUa.bind("127.0.0.40", target);
    try {
      const first = await ua.register("user0700", 1);
      expect([first.status, first.reason]).toEqual([403, "Forbidden"]);
      expect(header(first, "www-authenticate")).toBeUndefined();
      // Forty guesses with correctly computed digests over a nonce the guesser made up (it was
      // never given one): every one is refused the same way, and so is the right password.
      const answers = new Set<string>();
      for (let i = 0; i < 40; i++) {
        const r = await ua.register("user0700", i + 2, { password: `guess${i}`, nonce: randomBytes(16).toString("hex"), realm: "localhost" });
        answers.add(`${r.status} ${r.reason} ${header(r, "www-authenticate") ?? ""}`);
      }
      const right = await ua.register("user0700", 50, { password: PASSWORD, nonce: randomBytes(16).toString("hex"), realm: "localhost" });
      answers.add(`${right.status} ${right.reason} ${header(right, "www-authenticate") ?? ""}`);
      expect([...answers]).toEqual(["403 Forbidden "]);
      // Existing and unknown users look the same.
      const unknown = await ua.register("nobody-here", 60);
      expect([unknown.status, unknown.reason]).toEqual([403, "Forbidden"]);
    } finally {
      ua.close();
    }
  });

  it("guesses over UDP from an address do not block the user there (a UDP source can be spoofed)", async () => {
    const ua = await UdpUa.bind("127.0.0.41", target);
    try {
      // As a real guesser would: take the nonce of a challenge when one comes, else make one up.
      for (let i = 0; i < 20; i++) {
        const asked = await ua.register("user0701", 2 * i + 1);
        const challenge = parseChallenge(header(asked, "www-authenticate") ?? "");
        const nonce = challenge.get("nonce") ?? randomBytes(16).toString("hex");
        await ua.register("user0701", 2 * i + 2, { password: `guess${i}`, nonce, realm: challenge.get("realm") ?? "localhost" });
      }
    } finally {
      ua.close();
    }
    // The real user at that address, over WebSocket, registers as usual.
    const real = await SipUa.connect(stack.wsUrl, { user: "user0701", password: PASSWORD, localAddress: "127.0.0.41" });
    expect((await real.register()).response.status).toBe(200);
    await real.close();
  });
});

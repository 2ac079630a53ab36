// Headless Chromium (Debian `chromium`, driven by playwright-core) running the edge's own /phone
// page: real JsSIP, real WebRTC (ICE, DTLS-SRTP, Opus/G.711) with a fake microphone. Media stays
// on loopback: Chromium ignores loopback candidates unless launched with
// --allow-loopback-in-peer-connection, and refuses a WebSocket to 127.0.0.1 from a page served
// as http://localhost, so pages are opened on 127.0.0.1.
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import type { MediaStats as PhoneStats } from "../../phone/stats.ts";

/** What /phone's `window.phone.stats()` returns. */
export type { PhoneStats };

export const CHROMIUM = "/usr/bin/chromium";

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--use-fake-device-for-media-stream",
      "--use-fake-ui-for-media-stream",
      "--allow-loopback-in-peer-connection",
      "--autoplay-policy=no-user-gesture-required",
      "--no-sandbox",
    ],
  });
}


/** One /phone page in its own browser context (its own localStorage and microphone). */
export class PhonePage {
  readonly console: string[] = [];
  readonly context: BrowserContext;
  readonly page: Page;

  private constructor(context: BrowserContext, page: Page) {
    this.context = context;
    this.page = page;
    page.on("console", (m) => this.console.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => this.console.push(`pageerror: ${e.message}`));
  }

  /**
   * `holdBack` puts the page's WebSocket through Playwright's router: each frame from the server
   * reaches JsSIP `holdBack(frame)` ms late, and the frames after it wait behind it (a slow
   * network, in order).
   */
  static async open(browser: Browser, url: string, options: { holdBack?: (frame: string) => number } = {}): Promise<PhonePage> {
    const context = await browser.newContext({ permissions: ["microphone"] });
    const page = await context.newPage();
    const phone = new PhonePage(context, page);
    const holdBack = options.holdBack;
    if (holdBack !== undefined) {
      await page.routeWebSocket(/.*/, (ws) => {
        const server = ws.connectToServer();
        ws.onMessage((frame) => server.send(frame));
        let queue = Promise.resolve();
        server.onMessage((frame) => {
          const ms = typeof frame === "string" ? holdBack(frame) : 0;
          queue = queue.then(() => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : undefined)).then(() => ws.send(frame));
        });
      });
    }
    await page.goto(url);
    await page.waitForFunction(() => (globalThis as { phone?: unknown }).phone !== undefined);
    return phone;
  }

  async register(user: string, password: string, domain: string): Promise<void> {
    await this.page.fill("#user", user);
    await this.page.fill("#password", password);
    await this.page.fill("#domain", domain);
    await this.page.click("#register");
    await this.waitText("#status", "registered", 10_000);
  }

  async call(target: string): Promise<void> {
    await this.page.fill("#target", target);
    await this.page.click("#call");
  }

  async answer(): Promise<void> {
    await this.page.waitForSelector("#answer:not([hidden])", { timeout: 15_000 });
    await this.page.click("#answer");
  }

  async hangup(): Promise<void> {
    await this.page.click("#hangup");
  }

  async dtmf(tones: string): Promise<void> {
    for (const tone of tones) await this.page.click(`#keypad button:text-is("${tone}")`);
  }

  /** Waits until the element's text contains `text`. */
  async waitText(selector: string, text: string, timeoutMs = 15_000): Promise<void> {
    try {
      await this.page.waitForFunction(([s, t]) => document.querySelector(s as string)?.textContent?.includes(t as string) === true, [selector, text], { timeout: timeoutMs });
    } catch (e) {
      const now = await this.page.textContent(selector);
      throw new Error(`${selector} never showed ${JSON.stringify(text)} (shows ${JSON.stringify(now)}); console:\n${this.console.slice(-30).join("\n")}`, { cause: e });
    }
  }

  /** The call's media statistics now: the page's own getStats summary (phone/stats.ts). */
  async stats(): Promise<PhoneStats | undefined> {
    return this.page.evaluate(() => (globalThis as unknown as { phone: { stats(): Promise<PhoneStats | undefined> } }).phone.stats());
  }

  /** Polls the stats until `ok` holds (or fails with the last stats seen). */
  async waitStats(ok: (s: PhoneStats) => boolean, what: string, timeoutMs = 15_000): Promise<PhoneStats> {
    const deadline = Date.now() + timeoutMs;
    let last: PhoneStats | undefined;
    while (Date.now() < deadline) {
      last = await this.stats();
      if (last !== undefined && ok(last)) return last;
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`${what}: never happened; last stats ${JSON.stringify(last)}; console:\n${this.console.slice(-30).join("\n")}`);
  }

  /** The SDP the page's peer connection sent and received. */
  async sdp(): Promise<{ local: string | undefined; remote: string | undefined }> {
    return this.page.evaluate(() => {
      const pc = (globalThis as unknown as { phone: { session?: { connection?: RTCPeerConnection } } }).phone.session?.connection;
      return { local: pc?.localDescription?.sdp, remote: pc?.remoteDescription?.sdp };
    });
  }

  async close(): Promise<void> {
    await this.context.close();
  }
}

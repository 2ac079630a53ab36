// The dashboard in Debian's Chromium (playwright-core), against a deployment-shaped stack
// (test/helpers/topology.ts): a registration made by a JsSIP client shows up, a gateway whose sipp
// is killed turns inactive, and a ban is lifted with the page's button. Screenshots are kept in
// .ci/artifacts/ (CI keeps them).
import { randomBytes } from "node:crypto";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT } from "../../scripts/stack.mjs";
import { SipUa } from "../helpers/sip-ua.ts";
import { JssipPhone } from "../helpers/softphone.ts";
import { DOMAIN, GATEWAYS, startTopology, type Topology } from "../helpers/topology.ts";

const TOKEN = randomBytes(18).toString("hex");
const ARTIFACTS = path.join(ROOT, ".ci", "artifacts");
/** ds_ping_interval, probing threshold and probe timeout (s), and the page's refresh (ms). */
const PING = 1;
const THRESHOLD = 1;
const PROBE_TIMEOUT = 1;
const REFRESH_MS = 2000;

let topo: Topology;
let browser: Browser;
let page: Page;
const foreign: string[] = [];

beforeAll(async () => {
  await mkdir(ARTIFACTS, { recursive: true });
  topo = await startTopology({
    token: TOKEN,
    users: ["alice", "dave"],
    vars: { DS_PING_INTERVAL: String(PING), DS_PROBING_THRESHOLD: String(THRESHOLD), DS_PROBE_TIMEOUT: String(PROBE_TIMEOUT) },
  });
  browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  // Everything the page loads must come from the edge itself (no CDN).
  page.on("request", (r) => {
    if (!r.url().startsWith(topo.stack.url)) foreign.push(r.url());
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await topo?.stop();
});

const shot = (name: string) => page.screenshot({ path: path.join(ARTIFACTS, `dashboard-${name}.png`), fullPage: true });

describe("dashboard", () => {
  it("asks for the admin token in a form, refuses a wrong one, and keeps the token out of the URL", async () => {
    const res = await page.goto(`${topo.stack.url}/dashboard`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()["content-security-policy"]).toContain("default-src 'none'");
    await page.fill("#token", "not-the-token");
    await page.click("button[type=submit]");
    await expect.poll(() => page.textContent(".error")).toContain("not valid");
    await page.fill("#token", TOKEN);
    await page.click("button[type=submit]");
    await page.waitForSelector("#destinations tbody tr", { timeout: 10_000 });
    expect(page.url()).toBe(`${topo.stack.url}/dashboard`);
    expect(page.url()).not.toContain(TOKEN);
    const cookie = (await page.context().cookies()).find((c) => c.name === "sipedge_session");
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict" });
    expect(cookie?.value).not.toContain(TOKEN);
  });

  it("shows a registration made by a JsSIP client, with its user agent", async () => {
    const phone = await JssipPhone.start({ wsUrl: topo.stack.wsUrl, username: "alice", password: "alice-pw", domain: DOMAIN });
    try {
      await phone.register();
      const row = page.locator(`#registrations tr[data-aor="alice@${DOMAIN}"]`);
      await row.waitFor({ timeout: 3 * REFRESH_MS + 2000 });
      expect(await row.textContent()).toContain("JsSIP");
      await expect.poll(() => page.textContent('[data-counter="registrations"] b')).toBe("1");
      await shot("registration");
    } finally {
      await phone.stop();
    }
  });

  it("shows a gateway turning inactive after its sipp is killed, and draws its keepalive latency", async () => {
    const victim = GATEWAYS[1];
    const row = (ip: string) => page.locator(`#destinations tr[data-uri="sip:${ip}:5060"]`);
    for (const ip of GATEWAYS) await row(ip).and(page.locator('[data-state="active"]')).waitFor({ timeout: 15_000 });
    // A latency chart: a line with points once keepalives were answered.
    await expect.poll(async () => (await row(GATEWAYS[0]).locator("svg.spark polyline").getAttribute("points"))?.split(" ").length ?? 0, { timeout: 10_000 }).toBeGreaterThan(1);
    await shot("gateways-active");
    await topo.kill(victim);
    const killedAt = Date.now();
    // Marked down within interval × threshold + probe timeout; shown within one refresh more.
    const allowed = (PING * THRESHOLD + PROBE_TIMEOUT) * 1000 + 2 * REFRESH_MS + 2000;
    await row(victim).and(page.locator('[data-up="0"]')).waitFor({ timeout: allowed });
    console.log(`gateway ${victim} shown inactive ${Date.now() - killedAt} ms after its sipp was killed`);
    // Down and probed to come back (Kamailio flags IP; OpenSIPS' "probing").
    expect(await row(victim).locator(".badge").textContent()).toMatch(/^inactive/);
    expect(await row(victim).getAttribute("data-state")).toMatch(/^(inactive|probing)$/);
    expect(await row(GATEWAYS[0]).locator(".badge").textContent()).toBe("active");
    await shot("gateway-inactive");
  });

  it("lifts a ban with the page's button, after which the address may connect again", async () => {
    const address = "127.0.0.40";
    const flooder = await SipUa.connect(topo.stack.wsUrl, { user: "dave", password: "dave-pw", domain: DOMAIN, localAddress: address });
    for (let i = 0; i < 60; i++) {
      flooder.send(`OPTIONS sip:${DOMAIN} SIP/2.0\r\nVia: SIP/2.0/WS f.invalid;branch=z9hG4bKb${i}${randomBytes(4).toString("hex")}\r\nMax-Forwards: 70\r\nFrom: <sip:dave@${DOMAIN}>;tag=b${i}\r\nTo: <sip:${DOMAIN}>\r\nCall-ID: bflood-${i}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n`);
    }
    await flooder.closed;
    await expect(SipUa.connect(topo.stack.wsUrl, { user: "dave", password: "dave-pw", domain: DOMAIN, localAddress: address })).rejects.toThrow(/403/);
    const row = page.locator(`#bans tr[data-address="${address}"]`);
    await row.waitFor({ timeout: 3 * REFRESH_MS + 2000 });
    await shot("ban");
    await row.locator("button.lift").click();
    await expect.poll(() => page.textContent("#toast")).toContain(`ban of ${address} lifted`);
    await row.waitFor({ state: "detached", timeout: 3 * REFRESH_MS + 2000 });
    const status = await fetch(`${topo.stack.url}/admin/guard/${address}`, { headers: { Authorization: `Bearer ${TOKEN}` } });
    expect((await status.json()) as { bannedUntil?: number }).not.toHaveProperty("bannedUntil");
    const back = await SipUa.connect(topo.stack.wsUrl, { user: "dave", password: "dave-pw", domain: DOMAIN, localAddress: address });
    expect((await back.register()).response.status).toBe(200);
    await back.close();
    await shot("ban-lifted");
    expect(foreign, "requests the page sent elsewhere").toEqual([]);
  });

  it("logs out: the session cookie is cleared and the event stream refuses", async () => {
    await page.click("header form button");
    await page.waitForSelector("#token");
    const events = await page.evaluate(async () => (await fetch("/dashboard/events")).status);
    expect(events).toBe(401);
  });
});

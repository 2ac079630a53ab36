/**
 * The dashboard's page, script and style: plain HTML, CSS and browser JavaScript, no framework
 * and no CDN (the Content-Security-Policy allows nothing from elsewhere). The script renders each
 * server-sent snapshot (snapshot.ts) into the tables; elements carry data- attributes that name
 * what they show (`data-aor`, `data-uri`, `data-address`), which the browser tests read too.
 */

const escape = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const HEAD = `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>sipedge</title><link rel="stylesheet" href="/dashboard/app.css"></head>`;

export function loginPage(error?: string): string {
  return `${HEAD}<body class="login"><main><h1>sipedge</h1>
<form method="post" action="/dashboard/login" autocomplete="off">
<label for="token">Admin token</label>
<input id="token" name="token" type="password" required autofocus>
<button type="submit">Log in</button>
${error ? `<p class="error" role="alert">${escape(error)}</p>` : ""}
</form><p class="hint">The token is the edge's ADMIN_TOKEN secret (npm start: SIPEDGE_ADMIN_TOKEN). It is sent once; the browser keeps a session cookie.</p></main></body></html>`;
}

export function mainPage(): string {
  return `${HEAD}<body><header><h1>sipedge</h1><span id="updated" class="muted">connecting…</span>
<form method="post" action="/dashboard/logout"><button type="submit">Log out</button></form></header>
<main>
<section><h2>Traffic</h2><div id="counters" class="cards"></div></section>
<section><h2>Dispatcher</h2><table id="destinations"><thead><tr><th>set</th><th>destination</th><th>state</th><th>latency (EWMA / last)</th><th>recent keepalives</th></tr></thead><tbody></tbody></table></section>
<section><h2>Registrations <span id="regcount" class="muted"></span></h2><table id="registrations"><thead><tr><th>AOR</th><th>contact</th><th>user agent</th><th>expires</th><th>received</th></tr></thead><tbody></tbody></table>
<p class="muted">From the registration index: expiry as of the last change of the AOR's bindings (refreshes are not written).</p></section>
<section><h2>Bans</h2><table id="bans"><thead><tr><th>address</th><th>until</th><th></th></tr></thead><tbody></tbody></table></section>
<section><h2>Auth failures and blocks</h2><table id="authblocks"><thead><tr><th>address</th><th>user</th><th>failures</th><th>blocked</th><th>expires</th><th></th></tr></thead><tbody></tbody></table></section>
<div id="toast" role="status"></div>
</main><script src="/dashboard/app.js"></script></body></html>`;
}

export const APP_CSS = `
:root{--bg:#0f1419;--fg:#e6e6e6;--muted:#8a949e;--card:#1a2129;--ok:#2ea043;--bad:#d73a49;--warn:#d29922;--line:#2a333d}
*{box-sizing:border-box}body{margin:0;font:14px/1.4 system-ui,sans-serif;background:var(--bg);color:var(--fg)}
header{display:flex;gap:1rem;align-items:center;padding:.6rem 1rem;border-bottom:1px solid var(--line)}header h1{font-size:1.1rem;margin:0}
header form{margin-left:auto}main{padding:1rem;max-width:1200px}h2{font-size:1rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:middle}
th{color:var(--muted);font-weight:500}.muted{color:var(--muted)}
.cards{display:flex;flex-wrap:wrap;gap:.5rem}.card{background:var(--card);padding:.5rem .8rem;border-radius:6px;min-width:8rem}
.card b{display:block;font-size:1.3rem}.badge{padding:.1rem .5rem;border-radius:10px;font-size:.8rem;color:#fff}
.badge.active{background:var(--ok)}.badge.inactive,.badge.probing,.badge.disabled{background:var(--bad)}.badge.trying{background:var(--warn)}
button{background:var(--card);color:var(--fg);border:1px solid var(--line);border-radius:4px;padding:.25rem .7rem;cursor:pointer}
button:hover{border-color:var(--muted)}svg.spark{width:180px;height:28px}svg.spark polyline{fill:none;stroke:#58a6ff;stroke-width:1.5}
svg.spark circle{fill:var(--bad)}#toast{position:fixed;bottom:1rem;right:1rem;background:var(--card);padding:.5rem 1rem;border-radius:6px;display:none}
body.login main{max-width:24rem;margin:10vh auto}body.login form{display:flex;flex-direction:column;gap:.5rem}
input{padding:.4rem;background:var(--card);color:var(--fg);border:1px solid var(--line);border-radius:4px}.error{color:var(--bad)}.hint{color:var(--muted);font-size:.85rem}
`;

export const APP_JS = `"use strict";
const $ = (s) => document.querySelector(s);
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(c === undefined || c === null ? "" : String(c)));
  return e;
}
function fill(id, rows) { const body = document.querySelector(id + " tbody"); body.replaceChildren(...rows); }
function ago(iso) { const s = Math.round((Date.parse(iso) - Date.now()) / 1000); return s >= 0 ? "in " + s + " s" : (-s) + " s ago"; }
function ms(v) { return v === null || v === undefined ? "–" : v.toFixed(1) + " ms"; }
function toast(text) { const t = $("#toast"); t.textContent = text; t.style.display = "block"; clearTimeout(toast.timer); toast.timer = setTimeout(() => (t.style.display = "none"), 3000); }

function spark(history) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("class", "spark"); svg.setAttribute("viewBox", "0 0 180 28"); svg.setAttribute("preserveAspectRatio", "none");
  const values = history.filter((v) => v !== null);
  const max = Math.max(1, ...values);
  const step = history.length > 1 ? 180 / (history.length - 1) : 0;
  const points = [];
  history.forEach((v, i) => {
    const x = (i * step).toFixed(1);
    if (v === null) { const c = document.createElementNS(ns, "circle"); c.setAttribute("cx", x); c.setAttribute("cy", "24"); c.setAttribute("r", "2"); svg.append(c); }
    else points.push(x + "," + (26 - (v / max) * 24).toFixed(1));
  });
  const line = document.createElementNS(ns, "polyline"); line.setAttribute("points", points.join(" ")); svg.prepend(line);
  const title = document.createElementNS(ns, "title"); title.textContent = "max " + max.toFixed(1) + " ms; dots: no reply"; svg.append(title);
  return svg;
}

async function lift(url, what) {
  const res = await fetch(url, { method: "DELETE", headers: { "X-Sipedge-Dashboard": "1" }, credentials: "same-origin" });
  if (res.status === 401) { location.reload(); return; }
  toast(res.ok ? what + " lifted" : what + ": " + res.status);
}

function render(s) {
  if (s.error) { $("#updated").textContent = "edge error: " + s.error; return; }
  const st = s.stats;
  $("#updated").textContent = "updated " + new Date(st.time).toLocaleTimeString();
  const sum = (o) => Object.values(o || {}).reduce((a, b) => a + b, 0);
  const c = st.counters;
  const cards = [
    ["connections", st.connections], ["registrations", st.registrations ?? "–"], ["transactions", st.transactions],
    ["requests", sum(c.sipedge_requests_received_total)], ["INVITE", (c.sipedge_requests_received_total || {}).INVITE || 0],
    ["REGISTER", (c.sipedge_requests_received_total || {}).REGISTER || 0],
    ["replies 2xx", (c.sipedge_replies_sent_total || {})["2xx"] || 0], ["replies 4xx", (c.sipedge_replies_sent_total || {})["4xx"] || 0],
    ["replies 5xx", (c.sipedge_replies_sent_total || {})["5xx"] || 0], ["tm timeouts", c.sipedge_transaction_timeouts_total || 0],
    ["bans", st.ipbans], ["pike drops", c.sipedge_pike_drops_total || 0], ["auth blocked", c.sipedge_auth_blocked_total || 0],
    ["bridge links", Object.entries(st.bridgeLinks).map(([b, n]) => b + " " + n + "/" + st.shards).join(", ") || "none"],
  ];
  $("#counters").replaceChildren(...cards.map(([k, v]) => el("div", { class: "card", "data-counter": k }, el("b", {}, v), k)));
  // "probing" is down and pinged to come back (Kamailio's IP flags): shown as inactive.
  const badge = (state) => (state === "probing" ? "inactive · probing" : state);
  fill("#destinations", s.destinations.map((d) => el("tr", { "data-uri": d.uri, "data-state": d.state, "data-up": d.state === "active" ? 1 : 0 },
    el("td", {}, d.setid), el("td", { title: d.description }, d.uri),
    el("td", {}, el("span", { class: "badge " + d.state }, badge(d.state)), " ", el("span", { class: "muted" }, d.flags)),
    el("td", {}, ms(d.latency.count ? d.latency.ewmaMs : null) + " / " + ms(d.latency.lastMs)),
    el("td", {}, spark(d.history)))));
  const regs = [];
  for (const a of s.registrations) for (const b of a.bindings) regs.push(el("tr", { "data-aor": a.aor },
    el("td", {}, a.aor), el("td", {}, b.contact), el("td", {}, b.userAgent), el("td", { title: b.expires }, ago(b.expires)), el("td", {}, b.received)));
  fill("#registrations", regs);
  $("#regcount").textContent = "(" + (st.registrations ?? 0) + " bindings" + (s.moreRegistrations ? ", first 200 AORs shown" : "") + ")";
  fill("#bans", s.bans.map((b) => {
    const ip = b.address.replace(/\\/64$/, "");
    const button = el("button", { class: "lift", type: "button" }, "Lift");
    button.addEventListener("click", () => lift("/admin/ipban/" + encodeURIComponent(ip), "ban of " + b.address));
    return el("tr", { "data-address": b.address }, el("td", {}, b.address), el("td", {}, ago(b.until)), el("td", {}, button));
  }));
  fill("#authblocks", s.authBlocks.map((a) => {
    const ip = a.address.replace(/\\/64$/, "");
    const button = el("button", { class: "lift", type: "button" }, "Lift");
    button.addEventListener("click", () => lift("/admin/auth-block/" + encodeURIComponent(a.user) + "/" + encodeURIComponent(ip), "block of " + a.user));
    return el("tr", { "data-address": a.address, "data-user": a.user }, el("td", {}, a.address), el("td", {}, a.user), el("td", {}, a.failures),
      el("td", {}, a.blocked ? "yes" : "no"), el("td", {}, a.expires ? ago(a.expires) : ""), el("td", {}, button));
  }));
}

const events = new EventSource("/dashboard/events");
events.onmessage = (e) => render(JSON.parse(e.data));
events.onerror = async () => {
  $("#updated").textContent = "reconnecting…";
  const probe = await fetch("/admin/openapi.json", { credentials: "same-origin" }).catch(() => undefined);
  if (probe && probe.status === 401) location.reload();
};
`;

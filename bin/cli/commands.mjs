// The kamcmd-like verbs. Each takes (client, args, options) and prints a table, or JSON with --json.
import { readFile } from "node:fs/promises";
import path from "node:path";
import { CliError, EXIT } from "./client.mjs";
import { printJson, printTable, relative } from "./table.mjs";

const enc = encodeURIComponent;

function need(args, count, usage) {
  if (args.length < count) throw new CliError(`usage: sipedge ${usage}`, EXIT.usage);
  if (args.length > count) throw new CliError(`unexpected argument ${JSON.stringify(args[count])}\nusage: sipedge ${usage}`, EXIT.usage);
  return args;
}

function show(options, value, human) {
  if (options.json) printJson(value);
  else human(value);
}

// ---- ds (dispatcher) ----------------------------------------------------------------------

const DS_STATES = new Set(["a", "i", "t", "d", "ap", "ip", "tp", "dp", "active", "inactive", "probing", "disabled", "trying"]);
const STATE_LETTERS = { active: "a", inactive: "i", probing: "ip", disabled: "d", trying: "t" };

async function dsList(client, args, options) {
  need(args, 0, "ds list");
  const r = await client.request("GET", "/admin/dispatcher");
  show(options, r, () =>
    printTable(
      ["SET", "DESTINATION", "FLAGS", "STATE", "PRIO", "LATENCY AVG/EST/MAX", "TIMEOUTS", "DESCRIPTION"],
      r.sets.flatMap((s) =>
        s.destinations.map((d) => [
          s.setid, d.uri, d.flags, d.state, d.priority,
          d.latency ? `${d.latency.avg.toFixed(1)}/${d.latency.est.toFixed(1)}/${d.latency.max.toFixed(1)} ms` : "-",
          d.latency?.timeouts ?? 0, d.description,
        ]),
      ),
    ),
  );
}

async function dsSetState(client, args, options) {
  const [state, setText, uri] = need(args, 3, "ds set-state STATE SETID URI   (STATE: a, i, t, d, ip, ... or active, inactive, probing, disabled)");
  const lower = state.toLowerCase();
  if (!DS_STATES.has(lower)) throw new CliError(`ds set-state: unknown state ${JSON.stringify(state)}: one of a, i, t, d (add p for probing), active, inactive, probing, disabled, trying`, EXIT.usage);
  if (!/^\d+$/.test(setText)) throw new CliError(`ds set-state: SETID must be a number, got ${JSON.stringify(setText)}`, EXIT.usage);
  const body = JSON.stringify({ setid: Number(setText), uri, state: STATE_LETTERS[lower] ?? lower });
  const r = await client.request("POST", "/admin/dispatcher/state", { body, contentType: "application/json" });
  show(options, r, () => console.log(`set ${r.setid} ${r.uri}: ${state}`));
}

async function dsReload(client, args, options) {
  need(args, 0, "ds reload");
  const r = await client.request("POST", "/admin/dispatcher/reload");
  show(options, r, () => console.log(`dispatcher reloaded: ${r.sets} sets, ${r.destinations} destinations`));
}

// ---- ul (usrloc) --------------------------------------------------------------------------

function bindingRows(aor, bindings) {
  return bindings.map((b) => [aor, b.contact, relative(b.expires), b.q, b.userAgent, b.received]);
}

async function ulDump(client, args, options) {
  need(args, 0, "ul dump [--prefix P]");
  const all = [];
  let after = "";
  for (;;) {
    const q = new URLSearchParams({ limit: "1000", after, prefix: options.prefix ?? "" });
    const page = await client.request("GET", `/admin/location?${q}`);
    all.push(...page.aors);
    if (!page.next) break;
    after = page.next;
  }
  show(options, { aors: all }, () => {
    printTable(["AOR", "CONTACT", "EXPIRES", "Q", "USER AGENT", "RECEIVED"], all.flatMap((a) => bindingRows(a.aor, a.bindings)));
    console.log(`${all.length} AORs, ${all.reduce((n, a) => n + a.bindings.length, 0)} bindings (registration index; \`ul show AOR\` for the live view)`);
  });
}

function aorArg(text) {
  const aor = text.replace(/^sips?:/i, "");
  if (!/^[^@\s]+@[^@\s]+$/.test(aor)) throw new CliError(`not an AOR: ${JSON.stringify(text)} (expected user@domain)`, EXIT.usage);
  return aor;
}

async function ulShow(client, args, options) {
  const aor = aorArg(need(args, 1, "ul show AOR")[0]);
  const r = await client.request("GET", `/admin/location/${enc(aor)}`);
  show(options, r, () => {
    const rows = r.bindings.map((b) => ({ ...b, expires: new Date(b.expires).toISOString() }));
    if (rows.length === 0) console.log(`${aor}: no bindings`);
    else printTable(["AOR", "CONTACT", "EXPIRES", "Q", "USER AGENT", "RECEIVED"], bindingRows(aor, rows));
  });
}

async function ulRm(client, args, options) {
  const aor = aorArg(need(args, 1, "ul rm AOR")[0]);
  const r = await client.request("DELETE", `/admin/location/${enc(aor)}`);
  show(options, r, () => console.log(`${aor}: ${r.removed} bindings removed`));
}

// ---- ban, htable --------------------------------------------------------------------------

const IP = /^(\d{1,3}(\.\d{1,3}){3}|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)(\/64)?$/;

async function banList(client, args, options) {
  need(args, 0, "ban list");
  const r = await client.request("GET", "/admin/bans");
  show(options, r, () => {
    printTable(["BANNED ADDRESS", "UNTIL"], r.ipban.map((b) => [b.address, relative(b.until)]));
    if (r.authBlocks.length > 0) {
      console.log("");
      printTable(["ADDRESS", "USER", "FAILURES", "BLOCKED", "EXPIRES"], r.authBlocks.map((a) => [a.address, a.user, a.failures, a.blocked ? "yes" : "no", relative(a.expires)]));
    }
  });
}

async function banRm(client, args, options) {
  const [ip] = need(args, 1, "ban rm IP   |   ban rm --user USER IP");
  if (!IP.test(ip)) throw new CliError(`ban rm: not an IP address: ${JSON.stringify(ip)}`, EXIT.usage);
  const addr = ip.replace(/\/64$/, "");
  if (options.user !== undefined) {
    const r = await client.request("DELETE", `/admin/auth-block/${enc(options.user)}/${enc(addr)}`);
    return show(options, r, () => console.log(`auth block of ${r.user} from ${r.key} lifted`));
  }
  const r = await client.request("DELETE", `/admin/ipban/${enc(addr)}`);
  show(options, r, () => console.log(`ban of ${r.key} lifted`));
}

async function htableDump(client, args, options) {
  const tables = args.length === 0 ? ["ipban", "auth_block_list"] : need(args, 1, "htable dump [ipban|auth_block_list]");
  const out = {};
  for (const t of tables) out[t] = (await client.request("GET", `/admin/htable/${enc(t)}`)).entries;
  show(options, out, () => {
    for (const [t, entries] of Object.entries(out)) {
      console.log(`${t}: ${entries.length} entries`);
      if (t === "ipban") printTable(["KEY", "VALUE", "EXPIRES"], entries.map((e) => [e.key, e.value, relative(e.expires)]));
      else printTable(["ADDRESS", "USER", "FAILURES", "BLOCKED", "EXPIRES"], entries.map((e) => [e.address, e.user, e.failures, e.blocked ? "yes" : "no", relative(e.expires)]));
    }
  });
}

// ---- stats --------------------------------------------------------------------------------

async function stats(client, args, options) {
  need(args, 0, "stats");
  const r = await client.request("GET", "/admin/stats");
  show(options, r, () => {
    const rows = [
      ["shards", `${r.shards}${r.unreachableShards.length ? ` (${r.unreachableShards.length} unreachable)` : ""}`],
      ["connections", r.connections],
      ["registrations", r.registrations],
      ["registered AORs", r.registeredAors],
      ["transactions", r.transactions],
      ["bridge links", Object.entries(r.bridgeLinks).map(([b, n]) => `${b} ${n}/${r.shards}`).join(", ") || "none"],
      ["ipbans", r.ipbans],
      ["auth-watched addresses", r.authWatched],
    ];
    for (const [name, value] of Object.entries(r.counters)) {
      if (typeof value === "number") rows.push([name, value]);
      else for (const [label, n] of Object.entries(value)) rows.push([`${name}{${label}}`, n]);
    }
    printTable(["STATISTIC", "VALUE"], rows);
  });
}

// ---- subscriber ---------------------------------------------------------------------------

async function subscriberAdd(client, args, options) {
  const [username, password] = need(args, 2, "subscriber add USER PASSWORD [--domain D]");
  const body = JSON.stringify({ username, password, ...(options.domain ? { domain: options.domain } : {}) });
  const r = await client.request("POST", "/admin/subscribers?create=1", { body, contentType: "application/json" });
  show(options, r, () => console.log(`added ${r.username}@${r.domain}${cachesNote(r)}`));
}

/** A change some shards did not confirm still applies there, after SUBSCRIBER_CACHE_TTL. */
function cachesNote(r) {
  const c = r.caches;
  if (!c || c.confirmed === c.shards) return "";
  return ` (${c.shards - c.confirmed} of ${c.shards} shards did not confirm: they use the old HA1 until SUBSCRIBER_CACHE_TTL)`;
}

async function subscriberRm(client, args, options) {
  const [username] = need(args, 1, "subscriber rm USER [--domain D]");
  const q = options.domain ? `?domain=${enc(options.domain)}` : "";
  const r = await client.request("DELETE", `/admin/subscribers/${enc(username)}${q}`);
  show(options, r, () => console.log(`removed ${r.username}@${r.domain}${cachesNote(r)}`));
}

async function subscriberPasswd(client, args, options) {
  const [username, password] = need(args, 2, "subscriber passwd USER PASSWORD [--domain D]");
  const q = options.domain ? `?domain=${enc(options.domain)}` : "";
  const r = await client.request("PUT", `/admin/subscribers/${enc(username)}/password${q}`, { body: JSON.stringify({ password }), contentType: "application/json" });
  show(options, r, () => console.log(`password of ${r.username}@${r.domain} changed${cachesNote(r)}`));
}

// ---- acc ----------------------------------------------------------------------------------

async function accExport(client, args, options) {
  need(args, 0, "acc export [--since TIME] [--until TIME] [--csv]");
  const q = new URLSearchParams();
  if (options.since) q.set("since", options.since);
  if (options.until) q.set("until", options.until);
  if (options.csv) {
    q.set("format", "csv");
    process.stdout.write(await client.request("GET", `/admin/acc?${q}`, { accept: "text/csv" }));
    return;
  }
  const r = await client.request("GET", `/admin/acc?${q}`);
  show(options, r, () => {
    printTable(["START", "CALLER", "CALLEE", "STATUS", "GATEWAY", "SETUP", "BRANCHES"], r.attempts.map((a) => [a.start, a.caller, a.callee, `${a.status} ${a.reason}`, a.gateway, `${a.setupMs} ms`, a.branches.map((b) => `${b.dst}:${b.status}${b.timedOut ? "(timeout)" : ""}`).join(" ")]));
    console.log("");
    printTable(["ANSWER", "CALLER", "CALLEE", "DURATION", "HANGUP", "GATEWAY", "CALL-ID"], r.calls.map((c) => [c.answer, c.caller, c.callee, c.duration === undefined ? "up" : `${c.duration.toFixed(1)} s`, c.hangup, c.gateway, c.callId]));
  });
}

// ---- import -------------------------------------------------------------------------------

async function importFiles(client, files, options) {
  if (files.length === 0) throw new CliError("usage: sipedge import FILE... [--table TABLE]", EXIT.usage);
  for (const file of files) {
    let body;
    try {
      body = await readFile(file, "utf8");
    } catch (error) {
      throw new CliError(`${file}: cannot read: ${error.code ?? error.message}`, EXIT.usage);
    }
    const q = new URLSearchParams({ file: path.basename(file) });
    if (options.table) q.set("table", options.table);
    const started = performance.now();
    let r;
    try {
      r = await client.request("POST", `/admin/import?${q}`, { body, contentType: "text/plain; charset=utf-8" });
    } catch (error) {
      // A refused file: "file:line: field: reason", as the edge reports it.
      if (error.code === EXIT.refused) throw new CliError(error.message.replace(/^POST \S+: 400: /, ""), EXIT.refused);
      throw error;
    }
    const ms = Math.round(performance.now() - started);
    const ignored = r.ignoredColumns?.length ? ` (columns ignored: ${r.ignoredColumns.join(", ")})` : "";
    const what = r.table === "permissions_rules" ? `${r.rows} rules` : `${r.rows} rows`;
    if (options.json) printJson(r);
    else console.log(`${file}: ${what} into ${r.table} in ${ms} ms${ignored}`);
  }
}

/** command → subcommand → handler ("" for commands without subcommands). */
export const COMMANDS = {
  import: { "": importFiles },
  ds: { list: dsList, "set-state": dsSetState, reload: dsReload },
  ul: { dump: ulDump, show: ulShow, rm: ulRm },
  ban: { list: banList, rm: banRm },
  htable: { dump: htableDump },
  stats: { "": stats },
  subscriber: { add: subscriberAdd, rm: subscriberRm, passwd: subscriberPasswd },
  acc: { export: accExport },
};

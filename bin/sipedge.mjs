#!/usr/bin/env node
// sipedge command line: talks to a running edge's admin API (DESIGN.md §4). Plain JavaScript
// for Node >= 20 (global fetch), no dependencies, so `npx sipedge` works anywhere.
import { readFile } from "node:fs/promises";
import path from "node:path";

const USAGE = `Usage: sipedge import FILE... [--url URL] [--table TABLE]

Loads db_text table files (subscriber, aliases, version, dispatcher, address, trusted, uacreg,
dbaliases, grp; the table is named by the
file name, the columns by its header line), dispatcher.list files, and permissions rule files
(NAME.allow / NAME.deny in the hosts.allow syntax, for allow_routing("NAME"), allow_register,
allow_uri; stored under their base name and reloaded at once) into a running sipedge.

  --url URL      the edge (default $SIPEDGE_URL or http://127.0.0.1:8787)
  --table TABLE  load every FILE into TABLE instead of the one its name gives
                 (subscriber, aliases, version, dispatcher, dispatcher.list, permissions, address, trusted,
                 uacreg, dbaliases, grp)

The admin token comes from the environment variable SIPEDGE_ADMIN_TOKEN.
Exit status: 0 loaded, 1 a file was refused (its error names file, line and field),
2 wrong usage or unreadable file, 3 the edge could not be reached or refused the token.`;

const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 };

class CliError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

function parseArgs(argv) {
  const args = { command: undefined, files: [], url: process.env.SIPEDGE_URL || "http://127.0.0.1:8787", table: undefined, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--help" || a === "-h") args.help = true;
    else if (a === "--url" || a === "--table") {
      const value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new CliError(`${a} needs a value`, EXIT.usage);
      args[a.slice(2)] = value;
    } else if (a.startsWith("--url=")) args.url = a.slice(6);
    else if (a.startsWith("--table=")) args.table = a.slice(8);
    else if (a.startsWith("-")) throw new CliError(`unknown option ${a}`, EXIT.usage);
    else if (args.command === undefined) args.command = a;
    else args.files.push(a);
  }
  return args;
}

async function importFile(file, { url, table, token }) {
  let body;
  try {
    body = await readFile(file, "utf8");
  } catch (error) {
    throw new CliError(`${file}: cannot read: ${error.code ?? error.message}`, EXIT.usage);
  }
  const query = new URLSearchParams({ file: path.basename(file) });
  if (table) query.set("table", table);
  const endpoint = `${url.replace(/\/+$/, "")}/admin/import?${query}`;
  let res;
  try {
    res = await fetch(endpoint, {
      method: "POST",
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "text/plain; charset=utf-8" },
      body,
    });
  } catch (error) {
    const cause = error.cause?.code ?? error.cause?.message ?? error.message;
    throw new CliError(`cannot reach ${url} (${cause}): is the edge running (npm start)?`, EXIT.unreachable);
  }
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (res.ok && json) return json;
  const reason = json?.error;
  if (res.status === 400 && reason && typeof reason === "object") {
    const where = reason.line > 0 ? `${reason.file}:${reason.line}` : reason.file || path.basename(file);
    throw new CliError(`${where}: ${reason.field}: ${reason.reason}`, EXIT.refused);
  }
  if (res.status === 401) throw new CliError(`${url} refused the token in SIPEDGE_ADMIN_TOKEN (401)`, EXIT.unreachable);
  if (res.status === 503) throw new CliError(`${url}: the admin API is closed (${typeof reason === "string" ? reason : "no ADMIN_TOKEN configured"})`, EXIT.unreachable);
  throw new CliError(`${url} answered ${res.status}: ${typeof reason === "string" ? reason : text.slice(0, 200)}`, EXIT.unreachable);
}

async function main(argv) {
  const args = parseArgs(argv);
  if (args.help || args.command === undefined) {
    console.log(USAGE);
    return args.help ? EXIT.ok : EXIT.usage;
  }
  if (args.command !== "import") throw new CliError(`unknown command ${args.command}\n\n${USAGE}`, EXIT.usage);
  if (args.files.length === 0) throw new CliError(`import: no FILE given\n\n${USAGE}`, EXIT.usage);
  const token = process.env.SIPEDGE_ADMIN_TOKEN;
  if (!token) throw new CliError("SIPEDGE_ADMIN_TOKEN is not set: export the admin token the edge was started with", EXIT.usage);
  for (const file of args.files) {
    const started = performance.now();
    const r = await importFile(file, { url: args.url, table: args.table, token });
    const ms = Math.round(performance.now() - started);
    const ignored = r.ignoredColumns?.length ? ` (columns ignored: ${r.ignoredColumns.join(", ")})` : "";
    const what = r.table === "permissions_rules" ? `${r.rows} rules` : `${r.rows} rows`;
    console.log(`${file}: ${what} into ${r.table} in ${ms} ms${ignored}`);
  }
  return EXIT.ok;
}

// exitCode rather than exit(): output written to a pipe is flushed before the process ends.
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    console.error(`sipedge: ${error.message}`);
    process.exitCode = error instanceof CliError ? error.code : EXIT.unreachable;
  },
);

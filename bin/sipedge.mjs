#!/usr/bin/env node
// sipedge command line: kamcmd-like verbs over a running edge's admin API (README: Operations).
// Plain JavaScript for Node >= 20 (global fetch), no dependencies, so `npx sipedge` works anywhere.
import { AdminClient, CliError, EXIT } from "./cli/client.mjs";
import { COMMANDS } from "./cli/commands.mjs";

const USAGE = `Usage: sipedge COMMAND [ARGS] [--url URL] [--json]

  import FILE... [--table T]       load db_text tables (subscriber, aliases, dispatcher, address, trusted,
                                   uacreg, dbaliases, grp; named by the file name; a location file's
                                   definition and version rows
                                   are checked, not stored), dispatcher.list files and permissions
                                   NAME.allow / NAME.deny rule files
  ds list                          destination sets, states and latency        (kamcmd dispatcher.list)
  ds set-state STATE SETID URI     a, i, t, d (p: probing) or active, inactive  (kamcmd dispatcher.set_state)
  ds reload                        read the dispatcher table again              (kamcmd dispatcher.reload)
  ul dump [--prefix P]             every AOR from the registration index        (kamcmd ul.dump)
  ul show AOR                      an AOR's live bindings                       (kamcmd ul.show)
  ul rm AOR                        remove an AOR's bindings                     (kamcmd ul.rm)
  ban list                         banned addresses, auth failures and blocks
  ban rm IP [--user USER]          lift a ban (with --user: a user's auth block from IP)
  htable dump [ipban|auth_block_list]                                           (kamcmd htable.dump)
  stats                            counters and gauges                          (kamcmd stats.get_statistics)
  subscriber add USER PASSWORD [--domain D]                                     (kamctl add)
  subscriber rm USER [--domain D]                                               (kamctl rm)
  subscriber passwd USER PASSWORD [--domain D]                                  (kamctl passwd)
  acc export [--since T] [--until T] [--csv]   call attempts and calls (T: ISO time or epoch s/ms)

  --url URL    the edge (default $SIPEDGE_URL or http://127.0.0.1:8787)
  --json       machine-readable output

The admin token comes from the environment variable SIPEDGE_ADMIN_TOKEN.
Exit status: 0 done; 1 the edge refused the request or a file (its message says why); 2 wrong usage
or unreadable file; 3 the edge could not be reached; 4 the edge refused the token or its admin API is closed.`;

const VALUE_OPTIONS = new Set(["url", "table", "prefix", "user", "domain", "since", "until"]);
const FLAG_OPTIONS = new Set(["json", "csv", "help"]);

function parseArgs(argv) {
  const options = { url: process.env.SIPEDGE_URL || "http://127.0.0.1:8787" };
  const words = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "-h") options.help = true;
    else if (a.startsWith("--")) {
      const eq = a.indexOf("=");
      const name = a.slice(2, eq < 0 ? undefined : eq);
      if (FLAG_OPTIONS.has(name) && eq < 0) options[name] = true;
      else if (VALUE_OPTIONS.has(name)) {
        const value = eq < 0 ? argv[++i] : a.slice(eq + 1);
        if (value === undefined || (eq < 0 && value.startsWith("--"))) throw new CliError(`--${name} needs a value`, EXIT.usage);
        options[name] = value;
      } else throw new CliError(`unknown option ${a} (see --help)`, EXIT.usage);
    } else words.push(a);
  }
  return { words, options };
}

async function main(argv) {
  const { words, options } = parseArgs(argv);
  if (options.help || words.length === 0) {
    console.log(USAGE);
    return options.help ? EXIT.ok : EXIT.usage;
  }
  const [command, ...rest] = words;
  const verbs = COMMANDS[command];
  if (verbs === undefined) throw new CliError(`unknown command ${JSON.stringify(command)} (see --help)`, EXIT.usage);
  let handler = verbs[""];
  let args = rest;
  if (handler === undefined) {
    handler = verbs[rest[0]];
    if (handler === undefined) {
      const given = rest[0] === undefined ? "no subcommand" : `unknown subcommand ${JSON.stringify(rest[0])}`;
      throw new CliError(`${command}: ${given}; one of ${Object.keys(verbs).join(", ")}`, EXIT.usage);
    }
    args = rest.slice(1);
  }
  try {
    new URL(options.url);
  } catch {
    throw new CliError(`--url: not a URL: ${JSON.stringify(options.url)}`, EXIT.usage);
  }
  const token = process.env.SIPEDGE_ADMIN_TOKEN;
  if (!token) throw new CliError("SIPEDGE_ADMIN_TOKEN is not set: export the admin token the edge was started with", EXIT.usage);
  await handler(new AdminClient({ url: options.url, token }), args, options);
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

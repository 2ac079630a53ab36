// What `npm run deploy` refuses before anything is uploaded: a configuration still pointing at the
// local demo (placeholder D1 id, localhost domain, loopback aliases), secrets written into [vars],
// demo or weak secret values, and the demo subscribers (alice/alice123 …, user0000/pw …) in the
// database about to serve production. Pure functions over what deploy.mjs reads, so tests can
// feed them directly.
import { computeHa1 } from "../src/modules/auth/digest.ts";
import { BENCH_PASSWORD, DEMO_USERS } from "../src/provisioning/seed.ts";

export const PLACEHOLDER_DATABASE_ID = "00000000-0000-0000-0000-000000000000";
export const REQUIRED_SECRETS = ["ADMIN_TOKEN", "BRIDGE_SECRET", "NONCE_SECRET", "ROUTE_SECRET"];
const SECRET_NAMES = [...REQUIRED_SECRETS, "NONCE_SECRET_PREVIOUS", "ROUTE_SECRET_PREVIOUS", "METRICS_TOKEN"];

/** Values that appear in the README, the tests and common examples: never a production secret. */
export const DEMO_SECRETS = new Set(["changeme", "change-me", "secret", "password", "admin", "token", "test", "tok123", "s3cret-token_A", "s3cret-token_B", "replace-with-openssl-rand-hex-32", "replace-with-openssl-rand-hex-24"]);
/** Shortest secret accepted (`openssl rand -hex 24` gives 48 characters). */
export const MIN_SECRET_LENGTH = 24;

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1|\[::1\])$/i;

/** Problems in the Wrangler configuration (`unstable_readConfig` output). */
export function checkConfig(config) {
  const problems = [];
  const vars = config.vars ?? {};
  const db = (config.d1_databases ?? []).find((d) => d.binding === "DB");
  if (db === undefined) problems.push("wrangler.toml: no D1 database bound as DB");
  else if (!db.database_id || db.database_id === PLACEHOLDER_DATABASE_ID) {
    problems.push("wrangler.toml: [[d1_databases]] database_id is the placeholder: run `wrangler d1 create sipedge` and put its id there");
  }
  const domain = String(vars.SIP_DOMAIN ?? "localhost");
  if (LOOPBACK.test(domain)) problems.push(`wrangler.toml [vars]: SIP_DOMAIN is ${JSON.stringify(domain)}: set the domain your users register to`);
  for (const alias of String(vars.SIP_ALIASES ?? "").split(",").map((a) => a.trim()).filter(Boolean)) {
    if (LOOPBACK.test(alias)) problems.push(`wrangler.toml [vars]: SIP_ALIASES contains the loopback ${JSON.stringify(alias)}: remove it (the demo's alias)`);
  }
  for (const name of SECRET_NAMES) {
    if (name in vars) problems.push(`wrangler.toml [vars]: ${name} is a secret and must not be a var (vars are visible in the dashboard and the bundle): \`wrangler secret put ${name}\``);
  }
  return problems;
}

/** Problems with secret values about to be uploaded (name → value). */
export function checkSecretValues(values) {
  const problems = [];
  for (const [name, value] of Object.entries(values)) {
    for (const token of String(value).split(",").map((t) => t.trim()).filter(Boolean)) {
      if (DEMO_SECRETS.has(token) || DEMO_SECRETS.has(token.toLowerCase())) problems.push(`${name}: a demo value (${JSON.stringify(token)}); generate one with \`openssl rand -hex 24\``);
      else if (token.length < MIN_SECRET_LENGTH) problems.push(`${name}: ${token.length} characters; at least ${MIN_SECRET_LENGTH} (\`openssl rand -hex 24\`)`);
      else if (new Set(token).size < 8) problems.push(`${name}: too few distinct characters to be random`);
    }
  }
  return problems;
}

/** Problems with the secrets set in the account (`wrangler secret list` names). */
export function checkSecretNames(names) {
  return REQUIRED_SECRETS.filter((n) => !names.includes(n)).map((n) => `secret ${n} is not set: \`wrangler secret put ${n}\``);
}

/** The demo accounts among `rows` ({username, domain, password, ha1}): those with a demo password. */
export function demoAccounts(rows) {
  const demo = new Map(DEMO_USERS.map((u) => [u.username, u.password]));
  const found = [];
  for (const r of rows) {
    const password = demo.get(r.username) ?? (/^user\d{4}$/.test(r.username) ? BENCH_PASSWORD : undefined);
    if (password === undefined) continue;
    const matches = r.password === password || r.ha1 === computeHa1("MD5", r.username, r.domain, password);
    if (matches) found.push(`${r.username}@${r.domain}`);
  }
  return found;
}

/** The SQL that reads candidate demo accounts (few rows: the demo names only). */
export const DEMO_ACCOUNTS_SQL = `SELECT username, domain, password, ha1 FROM subscriber WHERE username IN (${DEMO_USERS.map((u) => `'${u.username}'`).join(", ")}) OR username GLOB 'user[0-9][0-9][0-9][0-9]'`;

export function checkSubscribers(rows) {
  const found = demoAccounts(rows);
  if (found.length === 0) return [];
  const shown = found.slice(0, 5).join(", ") + (found.length > 5 ? ` and ${found.length - 5} more` : "");
  return [`the database holds demo subscribers with their demo passwords (${shown}): remove them (\`sipedge subscriber rm\`) or change their passwords`];
}

// Builds the browser phone into one HTML page, src/phone/generated/phone.html: phone/phone.html
// with phone/app.ts and JsSIP bundled (esbuild) into its <script>, no CDN. The worker imports the
// page as a text module and serves it at /phone (src/phone/index.ts). wrangler runs this before
// every bundle (wrangler.toml [build]), so `npm run build`, `npm start` and deploys build it.
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const bundle = await build({
  entryPoints: [path.join(root, "phone/app.ts")],
  bundle: true,
  write: false,
  format: "iife",
  platform: "browser",
  target: "chrome110",
  minify: true,
  legalComments: "eof",
  logLevel: "warning",
  // JsSIP's debug module reads process.env.DEBUG; in the browser there is none.
  define: { "process.env.DEBUG": "undefined" },
});
const script = bundle.outputFiles[0].text;
// esbuild escapes "</script" inside strings for inline use; make sure nothing ends the tag early.
if (/<\/script/i.test(script)) throw new Error("the phone bundle contains </script: it cannot be inlined");
const template = await readFile(path.join(root, "phone/phone.html"), "utf8");
const marker = '<script src="/phone.js"></script>';
if (!template.includes(marker)) throw new Error(`phone/phone.html lacks ${marker}`);
// The page allows only its own script (by hash), its own origin and WebSocket servers.
const hash = createHash("sha256").update(script).digest("base64");
const csp = `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; connect-src 'self' ws: wss:; media-src 'self' blob: mediastream:; img-src data:`;
const page = template
  .replace("<head>", `<head>\n<meta http-equiv="Content-Security-Policy" content="${csp}">`)
  .replace(marker, () => `<script>${script}</script>`);
const out = path.join(root, "src/phone/generated/phone.html");
await mkdir(path.dirname(out), { recursive: true });
await writeFile(out, page);

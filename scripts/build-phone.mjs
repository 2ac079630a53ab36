// Bundles the browser phone (phone/app.ts with JsSIP) into public/phone.js, which the worker
// serves at /phone.js beside public/phone.html (Workers static assets): no CDN, one file.
// wrangler runs this before every bundle (wrangler.toml [build]); `npm run build` and `npm start` too.
import { build } from "esbuild";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

await build({
  entryPoints: [path.join(root, "phone/app.ts")],
  outfile: path.join(root, "public/phone.js"),
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "chrome110",
  minify: true,
  sourcemap: false,
  legalComments: "eof",
  logLevel: "warning",
  // JsSIP's debug module reads process.env.DEBUG; in the browser there is none.
  define: { "process.env.DEBUG": "undefined" },
});

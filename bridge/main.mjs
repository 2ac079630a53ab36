#!/usr/bin/env node
// sipedge-bridge: `node bridge/main.mjs --edge URL --secret S [--listen IP:PORT] ...` (--help).
// The bridge is TypeScript run by Node's type stripping (Node >= 22.18 strips types by default;
// inside the repository `npx node` is the pinned Node 22). No build step.
const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 18)) {
  process.stderr.write(
    `sipedge-bridge: Node ${process.versions.node} cannot run TypeScript; use Node >= 22.18 ` +
      "(in the repository: npx node bridge/main.mjs)\n",
  );
  process.exit(2);
}
const { main } = await import("./cli.ts");
await main(process.argv.slice(2), process.env);

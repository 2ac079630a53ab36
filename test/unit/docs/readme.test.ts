import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const readme = readFileSync(path.join(root, "README.md"), "utf8");

/** The paths the README's annotated source tree names (first column of each line). */
function treePaths(): string[] {
  const block = /## Source layout\n\n```\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of block.split("\n")) {
    const m = /^( *)(\S+)/.exec(line);
    if (!m) continue;
    // Tree entries sit at 0 or 2 spaces; deeper lines continue a description.
    if (m[1]!.length > 2) continue;
    const depth = m[1]!.length / 2;
    const names = m[2]!.includes("/") || /\.\w+$/.test(m[2]!) ? [m[2]!] : [];
    if (names.length === 0) continue;
    stack.length = depth;
    const name = names[0]!;
    out.push([...stack, name].join(""));
    if (name.endsWith("/")) stack[depth] = name;
  }
  return out;
}

describe("README", () => {
  it("names only paths that exist in its annotated source tree", () => {
    const paths = treePaths();
    expect(paths.length).toBeGreaterThan(20);
    expect(paths.filter((p) => !existsSync(path.join(root, p)))).toEqual([]);
  });
});

import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log.ts";

describe("logger children", () => {
  it("write their own fields after the parent's, secrets redacted, and leave the parent's lines alone", () => {
    const lines: Record<string, unknown>[] = [];
    const root = createLogger("info", (line) => lines.push(JSON.parse(line) as Record<string, unknown>), { shard: "3" });
    const child = root.child({ callId: "c1", Authorization: "Digest secret" });
    const grandchild = child.child({ method: "REGISTER" });
    grandchild.info("one", { status: 200 });
    child.warn("two");
    root.info("three");
    child.debug("below the level");
    expect(lines.map(({ ts: _ts, ...rest }) => rest)).toEqual([
      { level: "info", msg: "one", shard: "3", callId: "c1", Authorization: "[redacted]", method: "REGISTER", status: 200 },
      { level: "warn", msg: "two", shard: "3", callId: "c1", Authorization: "[redacted]" },
      { level: "info", msg: "three", shard: "3" },
    ]);
  });
});

import { describe, expect, it } from "vitest";
import { Signer } from "../../../src/util/signer.ts";
import { KeyedSerial } from "../../../src/util/serial.ts";
import { flowShard, flowTransport, isShard, newFlowToken } from "../../../src/transport/flow.ts";

describe("Signer (routing state, RFC 5626 §5.2)", () => {
  const signer = new Signer({ current: "new secret", previous: "old secret" }, "sipedge rr");

  it("signs with 16 token characters that verify for the same text only", () => {
    const sig = signer.sign("call-1\nflow=3.sA");
    expect(sig).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(signer.verify("call-1\nflow=3.sA", sig)).toBe(true);
    expect(signer.verify("call-2\nflow=3.sA", sig)).toBe(false);
    expect(signer.verify("call-1\nflow=3.sA", sig.slice(0, 15))).toBe(false);
  });

  it("accepts signatures of the previous secret during a rotation, never those of another label", () => {
    const before = new Signer({ current: "old secret" }, "sipedge rr").sign("x");
    expect(signer.verify("x", before)).toBe(true);
    const branchSig = new Signer({ current: "new secret" }, "sipedge branch").sign("x");
    expect(signer.verify("x", branchSig)).toBe(false);
  });

  it("refuses an empty secret at construction", () => {
    expect(() => new Signer({ current: "" }, "l")).toThrow(/must not be empty/);
  });
});

describe("flow tokens", () => {
  it("name their shard and how the client connected", () => {
    const wss = newFlowToken("12", "wss");
    expect(flowShard(wss)).toBe("12");
    expect(flowTransport(wss)).toBe("wss");
    expect(flowTransport(newFlowToken("0", "ws"))).toBe("ws");
  });

  it("text that is no flow token names no shard, and only numbers below the shard count are shards", () => {
    for (const text of ["", ".x", "a.b", "1234567.x", "-1.x"]) expect(flowShard(text)).toBeUndefined();
    expect(isShard("15", 16)).toBe(true);
    for (const text of ["16", "01", "", "1e1", undefined]) expect(isShard(text, 16)).toBe(false);
  });
});

describe("KeyedSerial (messages of one flow in arrival order)", () => {
  it("a task waits for the earlier one of its key, not for other keys", async () => {
    const serial = new KeyedSerial();
    const order: string[] = [];
    let release: () => void = () => undefined;
    const slow = serial.run("flow-a", () => new Promise<void>((r) => (release = () => (order.push("invite"), r()))));
    const cancel = serial.run("flow-a", async () => void order.push("cancel"));
    await serial.run("flow-b", async () => void order.push("other flow"));
    expect(order).toEqual(["other flow"]);
    release();
    await Promise.all([slow, cancel]);
    expect(order).toEqual(["other flow", "invite", "cancel"]);
  });

  it("a failing task does not stop the next, and the key is forgotten once idle", async () => {
    const serial = new KeyedSerial();
    await expect(serial.run("k", async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    let ran = false;
    await serial.run("k", async () => void (ran = true));
    expect(ran).toBe(true);
    await new Promise((r) => setTimeout(r, 0));
    expect(serial.size).toBe(0);
  });
});

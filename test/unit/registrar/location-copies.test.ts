// Which shards a Location object tells when an AOR's binding set changes
// (durable-objects/location-copies.ts): those it handed a copy to, plus, until its first
// announcement, every shard holding one of the AOR's flows (copies from before a restart).
import { describe, expect, it } from "vitest";
import { ShardCopies } from "../../../durable-objects/location-copies.ts";
import type { Binding } from "../../../src/modules/registrar/index.ts";

const binding = (flowToken: string | undefined): Binding => ({
  aor: "alice@sip.example.test",
  contact: `sip:alice@127.0.0.2;ob;f=${flowToken ?? "none"}`,
  expires: Date.now() + 600_000,
  q: 1,
  callId: "c",
  cseq: 1,
  lastModified: 0,
  ...(flowToken === undefined ? {} : { flowToken }),
});

const sorted = (xs: string[]) => [...xs].sort();

describe("ShardCopies: the shards told of a changed binding set", () => {
  it("the first change after a start tells every shard of an old or new flow, except the changer", () => {
    const copies = new ShardCopies();
    const before = [binding("3.sold"), binding("5.sother")];
    const after = [binding("7.snew"), binding("5.sother")];
    expect(sorted(copies.toForget(before, after, "7"))).toEqual(["3", "5"]);
  });

  it("after that, only the shards that were handed the list since, not the changer", () => {
    const copies = new ShardCopies();
    copies.toForget([binding("3.sa")], [binding("4.sb")], "4");
    copies.handedTo("4.sb");
    copies.handedTo("9.sc"); // a refresh answered through shard 9 gave it a copy
    const flows = [binding("1.sx"), binding("2.sy"), binding("4.sb"), binding("9.sc")];
    expect(sorted(copies.toForget(flows, flows, "2"))).toEqual(["4", "9"]);
    // Those told dropped their copies: the next change through 9 tells nobody but a new holder.
    copies.handedTo("2.sy");
    expect(copies.toForget(flows, flows, "9")).toEqual(["2"]);
  });

  it("a change that no shard made (expiry, ul rm) tells every holder, the last changer included", () => {
    const copies = new ShardCopies();
    copies.toForget([], [binding("4.sb")], "4");
    copies.handedTo("4.sb");
    expect(copies.toForget([binding("4.sb")], [], undefined)).toEqual(["4"]);
  });

  it("a reply to a requester no flow token names keeps telling every shard of a flow", () => {
    const copies = new ShardCopies();
    copies.toForget([], [binding("4.sb")], "4");
    copies.handedTo(undefined);
    expect(sorted(copies.toForget([binding("4.sb")], [binding("4.sb"), binding("6.sd")], "8"))).toEqual(["4", "6"]);
  });
});

import { describe, expect, it } from "vitest";
import { RegistrarScript, type RegistrarRequest, type LocationService } from "../../../src/modules/registrar/script.ts";
import type { RegisterInput } from "../../../src/modules/registrar/index.ts";
import { request } from "../transactions/helpers.ts";
import { sipRequest } from "../../helpers/sip-text.ts";

// A REGISTER whose client closed its socket while the REGISTER waited (it gave up and registers
// again over a new connection): save("location") neither writes a binding for the dead flow nor
// answers it.
function register(open: () => boolean) {
  const saved: RegisterInput[] = [];
  const replies: number[] = [];
  const location: LocationService = {
    save: async (input) => {
      saved.push(input);
      return { ok: true, status: 200, reason: "OK", contacts: [], headers: [], version: 1 };
    },
    lookup: async () => ({ found: false }) as never,
  };
  const msg = request(
    sipRequest({
      method: "REGISTER",
      ruri: "sip:alpha.org",
      from: "<sip:alice@alpha.org>;tag=1",
      to: "<sip:alice@alpha.org>",
      extraHeaders: ['Contact: <sip:alice@df7jal23ls0d.invalid;transport=ws>;+sip.instance="<urn:uuid:00000000-0000-4000-8000-000000000001>";reg-id=1'],
    }),
  );
  const ctx: RegistrarRequest = {
    msg,
    source: { ip: "127.1.0.1", transport: "wss", flow: "3.sX" },
    config: { domain: "alpha.org" },
    sl: { sendReply: (status) => void replies.push(status) },
    isMyself: (host) => host.toLowerCase() === "alpha.org",
  };
  return { saved, replies, registrar: new RegistrarScript(ctx, { location, flowOpen: open }) };
}

describe("registrar save(\"location\") over a flow that closed", () => {
  it("saves and answers 200 while the flow is open", async () => {
    const { saved, replies, registrar } = register(() => true);
    expect(await registrar.save()).toEqual({ ok: true, contacts: 0 });
    expect(saved).toHaveLength(1);
    expect(saved[0]!.flowToken).toBe("3.sX");
    expect(replies).toEqual([200]);
  });

  it("neither saves nor answers once the flow closed: 430 Flow Failed as the outcome", async () => {
    const { saved, replies, registrar } = register(() => false);
    expect(await registrar.save()).toEqual({ ok: false, status: 430, reason: "Flow Failed" });
    expect(saved).toEqual([]);
    expect(replies).toEqual([]);
  });
});

import { DEFAULT_REGISTRAR_CONFIG, type Binding, type RegisterInput, type RegistrarConfig } from "./binding.ts";
import { expireBindings, lookup, nextExpiry, removeFlow, replyContacts, type LookupResult, type Removal } from "./contacts.ts";
import { applyRegister, type SaveResult } from "./save.ts";

export { aorOf, DEFAULT_REGISTRAR_CONFIG, instanceKey, normalizeInstance, Q_UNSPECIFIED, sameRoute } from "./binding.ts";
export type { Binding, ContactInput, RegisterInput, RegistrarConfig } from "./binding.ts";
export { expireBindings, formatQ, lookup, nextExpiry, removeFlow, replyContacts } from "./contacts.ts";
export type { LookupContact, LookupResult, Removal } from "./contacts.ts";
export type { SaveError, SaveFailure } from "./errors.ts";
export { applyRegister, contactExpires } from "./save.ts";
export type { SaveResult } from "./save.ts";

/** The 200 OK to a REGISTER: Contact values and the other headers it carries. */
export interface SaveReply {
  status: 200;
  reason: "OK";
  contacts: string[];
  headers: [name: string, value: string][];
}

/** The `registrar` namespace of the route script, over one AOR's binding list. */
export interface Registrar {
  readonly config: Readonly<RegistrarConfig>;
  /** Kamailio `save("location")`: the new binding list, or the error answer. */
  save(bindings: readonly Binding[], input: RegisterInput, now: number): SaveResult;
  /** The 200 for a successful `save` (RFC 3261 §10.3 step 8, RFC 5626 §6, RFC 3327 §5.3). */
  saveReply(bindings: readonly Binding[], input: RegisterInput, now: number): SaveReply;
  /** Kamailio `lookup("location")`: q-ordered targets with their flow tokens. */
  lookup(bindings: readonly Binding[], now: number): LookupResult;
  /** Kamailio `handle_lost_tcp`: drop the bindings of a closed flow. */
  removeFlow(bindings: readonly Binding[], flowToken: string): Removal;
  /** usrloc timer: drop expired bindings. */
  expire(bindings: readonly Binding[], now: number): Removal;
  /** When the next binding expires (ms), for the object's alarm. */
  nextExpiry(bindings: readonly Binding[]): number | undefined;
}

export function createRegistrar(options: Partial<RegistrarConfig> = {}): Registrar {
  const config: Readonly<RegistrarConfig> = Object.freeze({ ...DEFAULT_REGISTRAR_CONFIG, ...options });
  if (config.minExpires > 0 && config.maxExpires > 0 && config.minExpires > config.maxExpires) {
    throw new Error("registrar: min_expires is greater than max_expires");
  }
  return {
    config,
    save: (bindings, input, now) => applyRegister(bindings, input, config, now),
    saveReply(bindings, input, now) {
      const headers: [string, string][] = [];
      // RFC 5626 §6: a registrar that applied outbound to the binding says so with
      // "Require: outbound" in the 2xx; Flow-Timer tells the UA how often to keep the flow alive.
      const usedOutbound = input.outbound === true && input.contacts.some((c) => c.regId !== undefined && c.instance !== undefined);
      if (usedOutbound) {
        headers.push(["Require", "outbound"]);
        if (config.flowTimer > 0) headers.push(["Flow-Timer", String(config.flowTimer)]);
      }
      if (input.pathSupported && input.path) for (const p of input.path) headers.push(["Path", p]);
      return { status: 200, reason: "OK", contacts: replyContacts(bindings, now), headers };
    },
    lookup: (bindings, now) => lookup(bindings, now),
    removeFlow: (bindings, flowToken) => removeFlow(bindings, flowToken),
    expire: (bindings, now) => expireBindings(bindings, now),
    nextExpiry: (bindings) => nextExpiry(bindings),
  };
}

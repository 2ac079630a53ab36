/**
 * Kamailio's rtpengine flag strings (`"ICE=remove DTLS=off RTP/AVP replace-origin"`) compiled
 * once into the ng dictionary entries they stand for. Known words become their own keys, as
 * Kamailio's module sends them (rtpengine 10.x reads `ICE`, `DTLS`, `transport-protocol`,
 * `replace`, `rtcp-mux`, `SDES` and `codec` as keys, not as flags); any other bare word goes into
 * the `flags` list, and any other `key=value` becomes a string entry, so a newer rtpengine option
 * works without a change here.
 */
import { fail, ok, type Parsed } from "../../sip/result.ts";

export type NgValue = string | number | NgValue[] | { [key: string]: NgValue };
export type NgDict = { [key: string]: NgValue };

/** `via-branch=`: which Via's branch parameter names the call's branch for rtpengine. */
export type ViaBranch = "1" | "2" | "auto" | "extra" | "next";

export interface CompiledFlags {
  /** The dictionary entries the words stand for (the SDP, Call-ID and tags come from the message). */
  readonly ng: Readonly<NgDict>;
  readonly viaBranch: ViaBranch | undefined;
  /** The flag string as written, for logs. */
  readonly text: string;
}

const TRANSPORTS = new Set(["RTP/AVP", "RTP/AVPF", "RTP/SAVP", "RTP/SAVPF", "UDP/TLS/RTP/SAVP", "UDP/TLS/RTP/SAVPF"]);
const ICE = new Set(["remove", "force", "default", "force-relay", "optional"]);
const DTLS = new Set(["off", "no", "disable", "passive", "active"]);
/** Word prefixes whose rest is a list item of a dictionary key (`rtcp-mux-demux` → rtcp-mux: [demux]). */
const LISTS: [prefix: string, key: string][] = [
  ["replace-", "replace"],
  ["rtcp-mux-", "rtcp-mux"],
  ["SDES-", "SDES"],
  ["direction=", "direction"],
];
/** Codec words (`codec-strip-all`, `transcode-PCMU`) → entries of the `codec` dictionary. */
const CODECS: [prefix: string, key: string][] = [
  ["codec-strip-", "strip"],
  ["codec-mask-", "mask"],
  ["codec-except-", "except"],
  ["codec-offer-", "offer"],
  ["codec-transcode-", "transcode"],
  ["transcode-", "transcode"],
  ["codec-accept-", "accept"],
  ["codec-consume-", "consume"],
  ["codec-set-", "set"],
];
/** `key=value` words whose value is a whole number, and the ng key each one is sent as. */
const NUMBERS = new Map([
  ["delete-delay", "delete delay"],
  ["ptime", "ptime"],
  ["ptime-reverse", "ptime-reverse"],
]);

const cache = new Map<string, Parsed<CompiledFlags>>();

/** Compiles a flag string; the result is cached (scripts use a handful of constant strings). */
export function compileFlags(text: string): Parsed<CompiledFlags> {
  let compiled = cache.get(text);
  if (compiled === undefined) {
    compiled = compile(text);
    if (cache.size < 256) cache.set(text, compiled);
  }
  return compiled;
}

function compile(text: string): Parsed<CompiledFlags> {
  const ng: NgDict = {};
  const flags: string[] = [];
  const codec: { [key: string]: string[] } = {};
  let viaBranch: ViaBranch | undefined;
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    const eq = word.indexOf("=");
    const key = eq > 0 ? word.slice(0, eq) : word;
    const value = eq > 0 ? word.slice(eq + 1) : "";
    if (TRANSPORTS.has(word)) {
      if (ng["transport-protocol"] !== undefined) return fail(`${word}: a transport protocol is already given`);
      ng["transport-protocol"] = word;
    } else if (key === "ICE") {
      if (!ICE.has(value)) return fail(`ICE=${value}: expected one of ${[...ICE].join(", ")}`);
      ng.ICE = value;
    } else if (key === "DTLS" || key === "DTLS-reverse") {
      if (!DTLS.has(value)) return fail(`${key}=${value}: expected one of ${[...DTLS].join(", ")}`);
      ng[key] = value;
    } else if (key === "via-branch") {
      if (!["1", "2", "auto", "extra", "next"].includes(value)) return fail(`via-branch=${value}: expected 1, 2, auto, extra or next`);
      viaBranch = value as ViaBranch;
    } else if (codecWord(word, codec)) {
      continue;
    } else if (listWord(word, ng)) {
      continue;
    } else if (eq > 0) {
      if (value === "") return fail(`${word}: empty value`);
      const numeric = NUMBERS.get(key);
      if (numeric !== undefined) {
        if (!/^\d{1,9}$/.test(value)) return fail(`${word}: expected a whole number`);
        ng[numeric] = Number(value);
      } else {
        ng[key] = value;
      }
    } else {
      flags.push(word);
    }
  }
  if (flags.length > 0) ng.flags = flags;
  if (Object.keys(codec).length > 0) ng.codec = codec;
  return ok({ ng, viaBranch, text });
}

function codecWord(word: string, codec: { [key: string]: string[] }): boolean {
  for (const [prefix, key] of CODECS) {
    if (!word.startsWith(prefix) || word.length === prefix.length) continue;
    (codec[key] ??= []).push(word.slice(prefix.length));
    return true;
  }
  return false;
}

function listWord(word: string, ng: NgDict): boolean {
  for (const [prefix, key] of LISTS) {
    if (!word.startsWith(prefix) || word.length === prefix.length) continue;
    const list = (ng[key] ??= []) as string[];
    list.push(word.slice(prefix.length));
    return true;
  }
  return false;
}

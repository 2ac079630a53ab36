/**
 * The digest code of the two WebRTC libraries sipedge serves, driven directly: they parse our
 * challenge with their own grammar and compute their own credentials, so the tests check
 * interoperability against real peers, not against our own idea of the RFC.
 */
import { createRequire } from "node:module";
import { DigestAuthentication as SipJsDigest } from "sip.js/lib/core/messages/digest-authentication.js";
import type { OutgoingRequestMessage } from "sip.js/lib/core/messages/outgoing-request-message.js";
import { LoggerFactory } from "sip.js/lib/core/log/logger-factory.js";
import { Grammar as SipJsGrammar } from "sip.js/lib/grammar/grammar.js";
import type { DigestCredentials } from "../../../src/modules/auth/digest.ts";

interface JsSipDigest {
  authenticate(request: { method: string; ruri: string; body?: string | null }, challenge: unknown, cnonce?: string | null): boolean;
  toString(): string;
}

const require = createRequire(import.meta.url);
const JsSipGrammar = require("jssip/lib/Grammar.js") as { parse(input: string, rule: string): unknown };
const JsSipDigestAuthentication = require("jssip/lib/DigestAuthentication.js") as new (credentials: {
  username: string;
  password?: string;
  ha1?: string;
  realm?: string;
}) => JsSipDigest;

export interface Account {
  username: string;
  password: string;
}

export interface ClientRequest {
  method: string;
  ruri: string;
}

/**
 * What JsSIP's RequestSender does with a 401/407: parse the *last* challenge header (each one overwrites the one before) and
 * answer it, or give up (undefined).
 */
export function jssipAnswer(challenges: readonly string[], account: Account, request: ClientRequest, header = "WWW_Authenticate"): string | undefined {
  const last = challenges[challenges.length - 1];
  if (last === undefined) return undefined;
  const challenge = JsSipGrammar.parse(last, header);
  if (challenge === -1) return undefined;
  const auth = new JsSipDigestAuthentication(account);
  return auth.authenticate({ method: request.method, ruri: request.ruri, body: null }, challenge) ? auth.toString() : undefined;
}

/** A JsSIP DigestAuthentication kept across requests, the way a UA reuses one per transaction. */
export function jssipSession(challenges: readonly string[], account: Account): (request: ClientRequest) => string | undefined {
  const challenge = JsSipGrammar.parse(challenges[challenges.length - 1] ?? "", "WWW_Authenticate");
  const auth = new JsSipDigestAuthentication(account);
  return (request) => (auth.authenticate({ method: request.method, ruri: request.ruri, body: null }, challenge) ? auth.toString() : undefined);
}

/** SIP.js's UserAgentClient: the last challenge header (its parser keeps only that one), SIP.js's grammar and digest code. */
export function sipjsAnswer(challenges: readonly string[], account: Account, request: ClientRequest): string | undefined {
  const last = challenges[challenges.length - 1];
  if (last === undefined) return undefined;
  const challenge: unknown = SipJsGrammar.parse(last, "WWW_Authenticate");
  if (challenge === -1) return undefined;
  const factory = new LoggerFactory();
  factory.builtinEnabled = false;
  const auth = new SipJsDigest(factory, undefined, account.username, account.password);
  const message = { method: request.method, ruri: request.ruri } as unknown as OutgoingRequestMessage;
  return auth.authenticate(message, challenge) ? auth.toString() : undefined;
}

/**
 * Enough of an Authorization parser for tests (the real one lives in src/sip/digest.ts):
 * `Digest k=v, k="v", ...` into the fields the auth module reads.
 */
export function parseCredentials(header: string): DigestCredentials {
  const params: Record<string, string> = {};
  const re = /([A-Za-z-]+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))/g;
  for (const m of header.replace(/^Digest\s+/i, "").matchAll(re)) params[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? "";
  return {
    scheme: "Digest",
    username: params.username ?? "",
    realm: params.realm ?? "",
    nonce: params.nonce ?? "",
    uri: params.uri ?? "",
    response: params.response ?? "",
    algorithm: params.algorithm,
    cnonce: params.cnonce,
    qop: params.qop,
    nc: params.nc,
    opaque: params.opaque,
  };
}

/** The nonce of a challenge value. */
export function nonceOf(challenge: string): string {
  const m = /nonce="([^"]*)"/.exec(challenge);
  if (!m) throw new Error(`no nonce in ${challenge}`);
  return m[1]!;
}

/**
 * The SIP protocol layer: pure code (no Workers or Node APIs) shared by the edge, the bridge and
 * the tests. grammar.ts stays internal: it is the character-class toolkit the parsers share.
 */
export * from "./result.ts";
export * from "./uri.ts";
export * from "./params.ts";
export * from "./name-addr.ts";
export * from "./via.ts";
export * from "./cseq.ts";
export * from "./digest.ts";
export * from "./headers.ts";
export * from "./message.ts";
export * from "./parser.ts";
export * from "./serializer.ts";
export * from "./response.ts";

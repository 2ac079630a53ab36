/**
 * RFC 3261 §17 transactions: four state machines, the table that matches messages to them, and
 * the ACK/CANCEL a client builds. Timers and transport are injected (see ../timers.ts).
 */
export * from "./base.ts";
export * from "./client.ts";
export * from "./server.ts";
export * from "./table.ts";
export * from "./requests.ts";

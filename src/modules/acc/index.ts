/**
 * acc: call records (Kamailio acc + the CDRs assembled from it). See README.md.
 */
export { Acc, type AccOptions, type AccSink } from "./acc.ts";
export { AccScript, type AccContext } from "./script.ts";
export { AccWriter, type AccWriterOptions } from "./writer.ts";
export { buildRecord, type AccBranch, type AccRecord, type AccRequestInfo } from "./record.ts";
export { accByesSql, ACC_INVITES_SQL, assembleCalls, attemptOf, callsCsv, type AccRow, type CallAttempt, type CompletedCall } from "./cdr.ts";

/**
 * Provisioning data in D1 with Kamailio's tables and columns: subscriber lookups for auth_db,
 * imports of the seed's text formats, migrations and the demo data of `npm start`.
 */
export type { SqlDatabase, SqlStatement } from "./db.ts";
export { ROWS_PER_STATEMENT } from "./db.ts";
export { parseDbText, splitRow } from "./dbtext.ts";
export type { DbTextColumn, DbTextError, DbTextResult, DbTextTable, DbTextType, DbTextValue } from "./dbtext.ts";
export { applyMigrations, splitStatements, type Migration } from "./migrate.ts";
export { countSubscribers, listSubscribers, subscriberRow, upsertSubscribers } from "./subscriber.ts";
export type { RowCheck, SubscriberInput, SubscriberRow, SubscriberSummary } from "./subscriber.ts";
export { SubscriberCache, subscriberCacheFor, type SubscriberCacheOptions } from "./subscriber-lookup.ts";
export { aliasRow, dispatcherRows, replaceDispatcherSets, upsertAliases, versionRow } from "./tables.ts";
export { checkTableVersion, MAPPED_VERSIONS } from "./versions.ts";
export { AliasCache, aliasCacheFor, type AliasCacheOptions } from "./alias-lookup.ts";
export type { AliasRow, DispatcherTableRow, VersionRow } from "./tables.ts";
export { formatOfFile, IMPORT_FORMATS, importText } from "./import.ts";
export type { ImportFormat, ImportOptions, ImportResult, ImportSummary } from "./import.ts";
export { BENCH_PASSWORD, BENCH_USERS, benchUsername, DEMO_USERS, demoSubscribers, seedDemoSubscribers } from "./seed.ts";

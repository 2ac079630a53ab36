/**
 * The db_text `version` table an import may bring along (the seed's "Definition of 'version'
 * table and sample records"). Its rows say which layout the other files of the database have;
 * sipedge reads a table file by the column names of its header, so a version is accepted when
 * sipedge knows that layout's columns, and refused otherwise, before anything is written. The
 * D1 `version` rows stay the schema's own (migrations write them): the imported numbers describe
 * the files, not the tables they land in.
 */

/** Table → the versions whose layout the importer maps, and where each comes from. */
export const MAPPED_VERSIONS: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  version: { 1: "Kamailio, OpenSIPS" },
  subscriber: { 3: "the seed (OpenSIPS db_text)", 6: "Kamailio 4.x", 7: "Kamailio 5.x-6.x", 8: "OpenSIPS 3.x" },
  location: { 6: "the seed (OpenSIPS db_text)", 9: "Kamailio 5.x-6.x", 1013: "OpenSIPS 3.x" },
  aliases: { 6: "the seed (OpenSIPS db_text)", 8: "Kamailio 5.x-6.x" },
  dispatcher: { 2: "Kamailio 1.x-3.x", 3: "Kamailio 3.x", 4: "Kamailio 4.x-6.x", 9: "OpenSIPS 3.x (state, weight, socket: the seed's dbtext example)" },
  address: { 6: "Kamailio 4.x-6.x" },
  trusted: { 6: "Kamailio 4.x-6.x" },
  uacreg: { 4: "Kamailio 5.0-5.4", 5: "Kamailio 5.5-6.x (contact_addr: reported, not used)" },
  dbaliases: { 1: "Kamailio alias_db" },
  grp: { 2: "Kamailio group" },
};

export type VersionCheck = { ok: true } | { ok: false; field: "table_name" | "table_version"; reason: string };

/** Whether sipedge can read files of `table` at `version`; the reason names what it can read. */
export function checkTableVersion(table: string, version: number): VersionCheck {
  const versions = Object.hasOwn(MAPPED_VERSIONS, table) ? MAPPED_VERSIONS[table] : undefined;
  if (versions === undefined) {
    return { ok: false, field: "table_name", reason: `sipedge has no column mapping for table ${JSON.stringify(table)} (it imports ${Object.keys(MAPPED_VERSIONS).join(", ")})` };
  }
  if (!Object.hasOwn(versions, version)) {
    const known = Object.entries(versions).map(([v, from]) => `${v} (${from})`).join(", ");
    return { ok: false, field: "table_version", reason: `sipedge has no column mapping for ${table} version ${version}; it reads ${known}` };
  }
  return { ok: true };
}

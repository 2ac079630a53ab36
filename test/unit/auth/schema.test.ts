import { readFileSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { describe, expect, it } from "vitest";

const migration = readFileSync(new URL("../../../migrations/0001_init.sql", import.meta.url), "utf8");

function migrated(): DatabaseSync {
  const db = new DatabaseSync(":memory:");
  db.exec(migration);
  return db;
}

function columns(db: DatabaseSync, table: string): string[] {
  return db.prepare(`PRAGMA table_info(${table})`).all().map((row) => String(row.name));
}

describe("migrations/0001_init.sql (D1 = SQLite)", () => {
  it("records Kamailio's table versions", () => {
    const rows = migrated().prepare("SELECT table_name, table_version FROM version ORDER BY table_name").all();
    expect(Object.fromEntries(rows.map((r) => [r.table_name, r.table_version]))).toEqual({
      address: 6,
      aliases: 8,
      dispatcher: 4,
      subscriber: 7,
      trusted: 6,
      version: 1,
    });
  });

  it("has Kamailio's columns, plus ha1_sha256 on subscriber", () => {
    const db = migrated();
    expect(columns(db, "subscriber")).toEqual(["id", "username", "domain", "password", "ha1", "ha1b", "ha1_sha256"]);
    expect(columns(db, "dispatcher")).toEqual(["id", "setid", "destination", "flags", "priority", "attrs", "description"]);
    expect(columns(db, "address")).toEqual(["id", "grp", "ip_addr", "mask", "port", "tag"]);
    expect(columns(db, "trusted")).toEqual(["id", "src_ip", "proto", "from_pattern", "ruri_pattern", "tag", "priority"]);
    expect(columns(db, "aliases")).toEqual([
      "id", "ruid", "username", "domain", "contact", "received", "path", "expires", "q", "callid", "cseq", "last_modified",
      "flags", "cflags", "user_agent", "socket", "methods", "instance", "reg_id", "server_id", "connection_id", "keepalive", "partition",
    ]);
  });

  it("keeps one subscriber per (username, domain) and finds it by that index", () => {
    const db = migrated();
    const insert = db.prepare("INSERT INTO subscriber (username, domain, password) VALUES (?, ?, ?)");
    insert.run("alice", "localhost", "a");
    insert.run("alice", "example.com", "b");
    expect(() => insert.run("alice", "localhost", "c")).toThrow(/UNIQUE/);
    const plan = db.prepare("EXPLAIN QUERY PLAN SELECT ha1 FROM subscriber WHERE username = ? AND domain = ?").all("alice", "localhost");
    expect(plan.map((p) => String(p.detail)).join(" ")).toMatch(/subscriber_account_idx/);
  });

  it("fills Kamailio's defaults for omitted columns, as db_text imports rely on", () => {
    const db = migrated();
    db.prepare("INSERT INTO dispatcher (setid, destination) VALUES (1, 'sip:127.0.0.1:7070')").run();
    expect(db.prepare("SELECT flags, priority, attrs, description FROM dispatcher").get()).toEqual({ flags: 0, priority: 0, attrs: "", description: "" });
    db.prepare("INSERT INTO address (ip_addr) VALUES ('127.0.0.1')").run();
    expect(db.prepare("SELECT grp, mask, port FROM address").get()).toEqual({ grp: 1, mask: 32, port: 0 });
  });
});

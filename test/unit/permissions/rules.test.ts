import { describe, expect, it } from "vitest";
import { Permissions, parseRuleFile, plainUri, searchRule } from "../../../src/modules/permissions/index.ts";
import type { RuleFile } from "../../../src/modules/permissions/index.ts";

function rules(text: string, file = "test.allow"): RuleFile {
  const r = parseRuleFile(file, text);
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  return r.value;
}

function permissions(ruleFiles: Record<string, string>): Permissions {
  const p = Permissions.compile({ ruleFiles });
  if (!p.ok) throw new Error(JSON.stringify(p.error));
  return p.value;
}

describe("permission file syntax", () => {
  it("reads ALL, quoted case-insensitive expressions, lists and comments", () => {
    const f = rules(`
# from : request-uri
ALL : "^sip:361[0-9]*@abc\\.com$"        # any caller to the 361 block
"^sip:3677[0-9]*@abc\\.com$", "^sip:boss@abc\\.com$" : ALL
`);
    expect(f.rules.map((r) => r.line)).toEqual([3, 4]);
    expect(searchRule(f, "sip:anyone@x", "sip:3612@ABC.com")?.line).toBe(3);
    expect(searchRule(f, "sip:anyone@x", "sip:3712@abc.com")).toBeUndefined();
    expect(searchRule(f, "sip:BOSS@abc.com", "sip:whatever@y")?.line).toBe(4);
  });

  it("excludes what follows EXCEPT, on either side", () => {
    const f = rules(`ALL EXCEPT "^sip:intern" : "^sip:361[0-9]*@abc\\.com$" EXCEPT "^sip:361[0-9]*3@abc\\.com$", "^sip:361[0-9]*4@abc\\.com$"`);
    expect(searchRule(f, "sip:a@x", "sip:3611@abc.com")).toBeDefined();
    expect(searchRule(f, "sip:a@x", "sip:3613@abc.com")).toBeUndefined();
    expect(searchRule(f, "sip:a@x", "sip:3614@abc.com")).toBeUndefined();
    expect(searchRule(f, "sip:intern1@x", "sip:3611@abc.com")).toBeUndefined();
  });

  it("keeps commas, colons and # inside quotes literal", () => {
    const f = rules(`"^sip:a[,:#]b@x$" : ALL`);
    expect(searchRule(f, "sip:a:b@x", "sip:y")).toBeDefined();
    expect(searchRule(f, "sip:a#b@x", "sip:y")).toBeDefined();
  });

  it("accepts unquoted expressions and POSIX bracket classes", () => {
    const f = rules(`ALL : "^sip:[[:digit:]]+@gw$"\n@trusted\\.example$ : ALL`);
    expect(searchRule(f, "sip:a@x", "sip:4930@gw")?.line).toBe(1);
    expect(searchRule(f, "sip:a@x", "sip:alice@gw")).toBeUndefined();
    expect(searchRule(f, "sip:a@TRUSTED.example", "sip:alice@gw")?.line).toBe(2);
  });

  it.each([
    ['ALL "^sip:x"', "separator", "missing ':'"],
    ["^sip:a : ^sip:b", "separator", "more than one ':'"],
    ['ALL : "^sip:(unclosed"', "right", "invalid regular expression"],
    ['"[" : ALL', "left", "invalid regular expression"],
    ['ALL, "^sip:x" : ALL', "left", "ALL must stand alone"],
    ['ALL : "a", , "b"', "right", "empty expression"],
    [' : ALL', "left", "no expression"],
    ['ALL : ALL EXCEPT ALL', "right", "ALL cannot be an exception"],
    ['ALL : "a" EXCEPT "b" EXCEPT "c"', "right", "more than one EXCEPT"],
    ['ALL : "unterminated', "line", "unterminated quote"],
  ])("refuses %j, naming field %s", (line, field, reason) => {
    const r = parseRuleFile("rules.deny", `# comment\n\nALL : ALL\n${line}\n`);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error).toMatchObject({ file: "rules.deny", line: 4, field });
    expect(r.error.reason).toContain(reason);
  });
});

describe("Kamailio's decision order", () => {
  const p = permissions({
    "rules.allow": `"^sip:boss@" : ALL`,
    "rules.deny": `ALL : "^sip:00"\n"^sip:guest@" : ALL`,
  });
  const files = { allow: "rules.allow", deny: "rules.deny" };

  it("allows what the allow file matches, even when the deny file matches too", () => {
    expect(p.allowRouting(files, "sip:boss@example.com", ["sip:0049301234@example.com"])).toBe(true);
  });

  it("denies what only the deny file matches", () => {
    expect(p.allowRouting(files, "sip:alice@example.com", ["sip:0049301234@example.com"])).toBe(false);
    expect(p.allowRouting(files, "sip:guest@example.com", ["sip:bob@example.com"])).toBe(false);
  });

  it("allows what neither file matches", () => {
    expect(p.allowRouting(files, "sip:alice@example.com", ["sip:bob@example.com"])).toBe(true);
  });

  it("allows everything without files (a missing file is an empty one)", () => {
    expect(p.allowRouting("nonexistent", "sip:guest@example.com", ["sip:00@x"])).toBe(true);
    expect(p.allowRouting(undefined, "sip:guest@example.com", ["sip:00@x"])).toBe(true);
  });

  it("denies routing when any branch is denied", () => {
    expect(p.allowRouting(files, "sip:alice@example.com", ["sip:bob@example.com", "sip:0099@gw.example.com"])).toBe(false);
  });

  it("matches branches in plain form: parameters, port and password dropped", () => {
    expect(p.allowRouting(files, "sip:alice@example.com", ["sips:00123:secret@gw.example.com:5061;transport=tls"])).toBe(false);
  });
});

describe("allow_register, allow_uri and the default files", () => {
  const p = permissions({
    "register.deny": `ALL : "^sip:.*@127\\.0\\.0\\.1$"`,
    "register.allow": `"^sip:gateway@" : ALL`,
    "refer.deny": `ALL : "^sip:900"`,
    "permissions.deny": `ALL : ALL`,
  });

  it("refuses a REGISTER that would bind a contact to the gateway's address", () => {
    expect(p.allowRegister("register", "sip:alice@localhost", ["sip:alice@127.0.0.1:5060;transport=udp"])).toBe(false);
    expect(p.allowRegister("register", "sip:alice@localhost", ["sip:alice@127.0.0.2:5060"])).toBe(true);
  });

  it("checks every contact, and lets the allow file exempt a To URI", () => {
    expect(p.allowRegister("register", "sip:alice@localhost", ["sip:a@127.0.0.2", "sip:b@127.0.0.1"])).toBe(false);
    expect(p.allowRegister("register", "sip:gateway@localhost", ["sip:gw@127.0.0.1"])).toBe(true);
  });

  it("allows a REGISTER without contacts or with Contact: *", () => {
    expect(p.allowRegister("register", "sip:alice@localhost", [])).toBe(true);
    expect(p.allowRegister("register", "sip:alice@localhost", "*")).toBe(true);
  });

  it("checks a URI such as Refer-To against the From URI", () => {
    expect(p.allowUri("refer", "sip:alice@localhost", "sip:9001@localhost")).toBe(false);
    expect(p.allowUri("refer", "sip:alice@localhost", "sip:bob@localhost")).toBe(true);
  });

  it("uses permissions.allow / permissions.deny when no files are named", () => {
    expect(p.allowRouting(undefined, "sip:alice@localhost", ["sip:bob@localhost"])).toBe(false);
  });

  it("refuses to compile with a malformed file, naming it", () => {
    const bad = Permissions.compile({ ruleFiles: { "register.allow": "ALL : ALL", "register.deny": "ALL ALL" } });
    expect(bad).toEqual({
      ok: false,
      error: { file: "register.deny", line: 1, field: "separator", reason: "missing ':' between the two expression lists" },
    });
  });
});

describe("plainUri", () => {
  it.each([
    ["sip:alice@example.com", "sip:alice@example.com"],
    ["sip:alice:pw@example.com:5060;transport=tcp?subject=x", "sip:alice@example.com"],
    ["SIPS:alice@[2001:db8::1]:5061", "sip:alice@[2001:db8::1]"],
    ["sip:example.com;lr", "sip:example.com"],
    ["sip:+4930123;npdi@gw", "sip:+4930123;npdi@gw"],
    ["tel:+4930123;phone-context=x", "tel:+4930123"],
  ])("%s → %s", (uri, plain) => {
    expect(plainUri(uri)).toBe(plain);
  });
});

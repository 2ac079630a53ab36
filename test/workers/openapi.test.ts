import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { admin } from "../../src/admin/index.ts";
import { openapi } from "../../src/admin/openapi.ts";
import app from "../../src/index.ts";
import type { Env } from "../../src/env.ts";

const TOKEN = "openapi-test-token";

/** `method /admin/path/{param}` for every route the admin app registers (middleware excluded). */
function registeredRoutes(): string[] {
  const routes = admin.routes
    .filter((r) => r.method !== "ALL")
    .map((r) => `${r.method.toLowerCase()} /admin${r.path === "/" ? "" : r.path.replace(/\/$/, "")}`.replace(/:(\w+)/g, "{$1}"));
  return [...new Set(routes)].sort();
}

function documentedRoutes(): string[] {
  return Object.entries(openapi.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((method) => `${method} ${path}`))
    .sort();
}

describe("GET /admin/openapi.json", () => {
  it("describes exactly the routes the admin API registers: none missing, none invented", () => {
    const registered = registeredRoutes();
    expect(registered.length).toBeGreaterThan(20);
    expect(documentedRoutes()).toEqual(registered);
  });

  it("is served behind the admin token as an OpenAPI 3.1 document", async () => {
    const bindings: Env = { ...env, ADMIN_TOKEN: TOKEN };
    const refused = await app.request("http://edge.test/admin/openapi.json", {}, bindings);
    expect(refused.status).toBe(401);
    const res = await app.request("http://edge.test/admin/openapi.json", { headers: { Authorization: `Bearer ${TOKEN}` } }, bindings);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as typeof openapi;
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/admin/acc");
    // Every path parameter written in a path is declared on each of its operations.
    for (const [path, ops] of Object.entries(doc.paths)) {
      const names = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const op of Object.values(ops) as { parameters?: { name: string; in: string }[] }[]) {
        const declared = (op.parameters ?? []).filter((p) => p.in === "path").map((p) => p.name);
        expect(declared, path).toEqual(names);
      }
    }
  });
});

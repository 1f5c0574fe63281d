/**
 * The admin API's general machinery, on every route: what a request may carry besides its path
 * (query parameters, a body), which methods a route answers (HEAD with GET; 405 naming the others),
 * and cursor pagination over ids of any Unicode characters.
 */
import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, type Json } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { ROUTES } from "./index.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(() => t.gateway.close());

const admin = (method: string, path: string, body?: unknown) => call(t, ADMIN_TOKEN, method, path, body);

/** A request with any method and body (fetch sends no body with GET or HEAD). */
function raw(
  method: string,
  path: string,
  body?: string,
  chunked = false,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const url = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        method,
        path,
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          ...(body === undefined
            ? {}
            : {
                "content-type": "application/json",
                ...(chunked
                  ? { "transfer-encoding": "chunked" }
                  : { "content-length": Buffer.byteLength(body) }),
              }),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (text += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Every GET route, its path parameters filled in. */
const getPaths = ROUTES.filter((r) => r.method === "GET").map((r) => r.path.replace(/\{\w+\}/g, "x"));

describe("query parameters", () => {
  it("an unknown parameter is refused naming it, on every route (a misspelt filter listed everything)", async () => {
    // Before the fix: 200 with every key, revoked ones included, as if no filter had been asked for.
    const r = await admin("GET", "/admin/v1/keys?stauts=active");
    expect(r.status).toBe(400);
    expect(r.body.error.problems).toEqual([expect.objectContaining({ code: "unknown_key", path: "stauts" })]);
    expect(r.body.error.problems[0].message).toContain("status");
    for (const path of getPaths) {
      const got = await admin("GET", `${path}?bogus=1`);
      expect({ path, status: got.status, problems: got.body?.error?.problems }).toEqual({
        path,
        status: 400,
        problems: [expect.objectContaining({ code: "unknown_key", path: "bogus" })],
      });
    }
  });

  it("a parameter given twice is refused naming it (the last one silently won)", async () => {
    // Before the fix: status=revoked was dropped and the active keys listed.
    const r = await admin("GET", "/admin/v1/keys?status=revoked&status=active");
    expect(r.status).toBe(400);
    expect(r.body.error.problems).toEqual([
      expect.objectContaining({ code: "repeated_parameter", path: "status" }),
    ]);
    const limit = await admin("GET", "/admin/v1/principals?limit=1&limit=500");
    expect(limit.status).toBe(400);
    expect(limit.body.error.problems[0].path).toBe("limit");
  });

  it("the parameters a route takes still work, alone or together", async () => {
    const r = await admin("GET", "/admin/v1/keys?status=active&principal=alice&limit=5");
    expect(r.status).toBe(200);
    expect(r.body.data.map((k: Json) => k.principalId)).toEqual(["alice"]);
  });
});

describe("a body on a route that takes none", () => {
  it("is refused, not ignored: a revocation's reason sent in the body was dropped", async () => {
    const created = await admin("POST", "/admin/v1/keys", { principal: "chloe", label: "body-test" });
    expect(created.status).toBe(201);
    // Before the fix: 200, revoked, and the reason silently dropped.
    const r = await admin("POST", `/admin/v1/keys/${created.body.id}/revoke`, { reason: "leaked" });
    expect(r.status).toBe(400);
    expect(r.body.error.problems).toEqual([expect.objectContaining({ code: "unknown_key", path: "reason" })]);
    const keys = await admin("GET", "/admin/v1/keys?principal=chloe&status=revoked");
    expect(keys.body.data.map((k: Json) => k.id)).not.toContain(created.body.id);
    // No body, or an empty object, is what such a route takes.
    expect((await admin("POST", `/admin/v1/keys/${created.body.id}/revoke`, {})).status).toBe(200);
  });

  it("a GET with a body is refused naming what it held, not answered as if it had none", async () => {
    const r = await raw("GET", "/admin/v1/principals", JSON.stringify({ organization: "frontier-lab" }));
    expect(r.status).toBe(400);
    expect(JSON.parse(r.text).error.problems).toEqual([
      expect.objectContaining({ code: "unknown_key", path: "organization" }),
    ]);
    for (const body of ["[]", '"x"', "null", "1"]) {
      const got = await raw("DELETE", "/admin/v1/principals/nobody", body);
      expect({ body, status: got.status }).toEqual({ body, status: 400 });
    }
    expect((await raw("GET", "/admin/v1/principals", "{}")).status).toBe(200);
    // Chunked: an empty body is none; one holding something is refused as with a length.
    expect((await raw("GET", "/admin/v1/principals", "", true)).status).toBe(200);
    expect((await raw("GET", "/admin/v1/principals", '{"organization":"x"}', true)).status).toBe(400);
  });
});

describe("methods", () => {
  it("a 405 names the methods the path takes in Allow (RFC 9110 15.5.6)", async () => {
    // Before the fix: no Allow header.
    const r = await raw("PUT", "/admin/v1/licenses");
    expect(r.status).toBe(405);
    expect(r.headers.allow).toBe("GET, HEAD, POST");
    const revoke = await raw("GET", "/admin/v1/keys/x/revoke");
    expect(revoke.status).toBe(405);
    expect(revoke.headers.allow).toBe("POST");
  });

  it("HEAD is answered on every GET route as GET is, without the body", async () => {
    for (const path of ["/admin/v1/principals", "/admin/v1/licenses/BIS-2026-0001", "/admin/v1/me"]) {
      const get = await raw("GET", path);
      // Before the fix: 405.
      const head = await raw("HEAD", path);
      expect({ path, status: head.status, text: head.text }).toEqual({ path, status: 200, text: "" });
      expect(head.headers["content-length"]).toBe(get.headers["content-length"]);
      expect(head.headers["content-type"]).toBe(get.headers["content-type"]);
    }
    // A refusal is the same as GET's.
    expect((await raw("HEAD", "/admin/v1/licenses/nope")).status).toBe(404);
    expect((await raw("HEAD", "/admin/v1/keys/x/revoke")).status).toBe(405);
  });
});

describe("cursor pagination", () => {
  it("walks ids outside the Basic Multilingual Plane once each, in the store's order", async () => {
    // The store orders ids by code point (SQLite's BINARY, PostgreSQL's "C"); the cursor compared
    // UTF-16 code units, which put U+10000 and above before U+E000–U+FFFF.
    const ids = ["zz\uE000", "zz\uFF01", "zz\u{10000}", "zz\u{1F600}", "zz\u{1F601}"];
    for (const id of ids) {
      const r = await admin("POST", "/admin/v1/principals", { id, residence: "US" });
      expect(r.status).toBe(201);
    }
    const all = (await admin("GET", "/admin/v1/principals?limit=500")).body.data.map((p: Json) => p.id);
    for (const limit of [1, 2, 3]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      for (let i = 0; i < 50; i++) {
        const q: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
        const page = await admin("GET", `/admin/v1/principals?limit=${limit}${q}`);
        seen.push(...page.body.data.map((p: Json) => p.id));
        cursor = page.body.next_cursor;
        if (cursor === null) break;
      }
      // Before the fix: limit 1 skipped the last two; limit 2 repeated one page for ever.
      expect({ limit, seen }).toEqual({ limit, seen: all });
    }
    expect(all).toEqual(expect.arrayContaining(ids));
    expect(new Set(all).size).toBe(all.length);
  });
});

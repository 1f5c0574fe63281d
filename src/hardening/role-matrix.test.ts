/**
 * The admin surface: the role matrix in the README is the route table's, and the server answers
 * every route × role as it says; failed authentications are limited per source; every answer
 * carries the security headers; admin tokens expire and can be revoked.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FailedAuthGuard } from "../admin/guard.js";
import { ROLES, type Identity } from "../control/types.js";
import { tokenHash } from "../control/state.js";
import { SECURITY_HEADERS } from "../http/security-headers.js";
import { call, createIdentity } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { rawExchange } from "./raw.js";
import { BEGIN, END, roleMatrix, roleMatrixMarkdown } from "./role-matrix.js";

let t: TestGateway;
const tokens = new Map<string, string>();
beforeAll(async () => {
  t = await startTestGateway();
  for (const role of ROLES) {
    tokens.set(
      role,
      await createIdentity(t, `matrix-${role}`, [role], role === "applicant" ? "bw-cyber" : undefined),
    );
  }
});
afterAll(() => t?.gateway.close());

/** The table's rows as cells, whatever the column padding. */
const cells = (markdown: string) =>
  markdown
    .split("\n")
    .filter((l) => l.startsWith("| `"))
    .map((l) =>
      l
        .split("|")
        .slice(1, -1)
        .map((c) => c.trim()),
    );

describe("the admin surface", () => {
  it("README's role matrix is the one generated from the route table", () => {
    const readme = readFileSync("README.md", "utf8");
    const start = readme.indexOf(BEGIN);
    const end = readme.indexOf(END);
    expect(start, "README.md has no role matrix; run npm run report:roles").toBeGreaterThan(0);
    expect(
      cells(readme.slice(start, end)),
      "README.md's role matrix is stale; run npm run report:roles",
    ).toEqual(cells(roleMatrixMarkdown()));
  });

  it(
    "answers every route × role as the matrix says, with the security headers",
    { timeout: 120_000 },
    async () => {
      const wrong: string[] = [];
      for (const row of roleMatrix()) {
        const path = row.path.replace(/\{\w+\}/g, "matrix-none");
        for (const [who, expected] of Object.entries(row.expected)) {
          const token = who === "no token" ? null : (tokens.get(who) as string);
          const r = await call(t, token, row.method, path, row.method === "GET" ? undefined : {});
          // Allowed: past authorization (the empty body or unknown id may still be refused, never 401/403).
          const ok =
            expected === 403 || expected === 401
              ? r.status === expected
              : ![401, 403, 429].includes(r.status);
          if (!ok) wrong.push(`${row.method} ${row.path} as ${who}: ${r.status}, expected ${expected}`);
          for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
            if (r.headers.get(name) !== value)
              wrong.push(`${row.method} ${row.path}: ${name} is ${r.headers.get(name)}`);
          }
        }
      }
      expect(wrong).toEqual([]);
    },
  );

  it("admin tokens expire, and a revoked one is refused", async () => {
    const created = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/identities", {
      id: "short-lived",
      name: "short-lived",
      roles: ["viewer"],
      expires_in_days: 2,
    });
    expect(created.status).toBe(201);
    const left = Date.parse(created.body.expires_at) - Date.now();
    expect(left).toBeGreaterThan(1.9 * 86_400_000);
    expect(left).toBeLessThanOrEqual(2 * 86_400_000);
    // The default lifetime: admin_security.token_ttl_days (90).
    const defaulted = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/identities", {
      id: "default-life",
      name: "d",
      roles: ["viewer"],
    });
    expect(Date.parse(defaulted.body.expires_at) - Date.now()).toBeGreaterThan(89 * 86_400_000);

    // An identity whose token expired a minute ago, written as the store would hold it.
    const token = "clra_expired-token-for-the-test";
    const doc: Identity = {
      id: "expired",
      name: "expired",
      roles: ["viewer"],
      organization: null,
      token_hash: tokenHash(token),
      created_at: new Date(Date.now() - 86_400_000).toISOString(),
      revoked_at: null,
      expires_at: new Date(Date.now() - 60_000).toISOString(),
    };
    await t.gateway.store.records.put("identity", doc.id, doc, 0, {
      actor: "test",
      action: "identity.create",
    });
    await t.gateway.snapshot.refresh();
    const expired = await call(t, token, "GET", "/admin/v1/partners");
    expect(expired.status).toBe(401);
    expect(expired.body.error.code).toBe("admin_token_expired");

    expect((await call(t, created.body.token, "GET", "/admin/v1/partners")).status).toBe(200);
    expect((await call(t, ADMIN_TOKEN, "POST", "/admin/v1/identities/short-lived/revoke", {})).status).toBe(
      200,
    );
    expect((await call(t, created.body.token, "GET", "/admin/v1/partners")).status).toBe(401);
  });

  it("limits failed authentications per source: 429 with Retry-After, even for a good token, other sources unaffected", async () => {
    const g = await startTestGateway({ extra: "admin_security: { failed_auth_per_minute: 3 }" });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 3; i++)
        statuses.push((await call(g, `clra_guess-${i}`, "GET", "/admin/v1/partners")).status);
      expect(statuses).toEqual([401, 401, 401]);
      const limited = await call(g, "clra_guess-4", "GET", "/admin/v1/partners");
      expect(limited.status).toBe(429);
      expect(limited.body.error.code).toBe("too_many_failed_authentications");
      expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
      // The right token from the same source is not even looked at until the minute has passed.
      expect((await call(g, ADMIN_TOKEN, "GET", "/admin/v1/partners")).status).toBe(429);
      expect((await call(g, ADMIN_TOKEN, "POST", "/v1/decisions", {})).status).toBe(429);
      // Another source (127.0.0.2) still gets in.
      const url = new URL(g.url);
      const other = await rawExchange({
        host: url.hostname,
        port: Number(url.port),
        from: "127.0.0.2",
        pieces: [
          {
            bytes: Buffer.from(
              `GET /admin/v1/partners HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${ADMIN_TOKEN}\r\nconnection: close\r\n\r\n`,
            ),
          },
        ],
      });
      expect(other.answers[0]?.status).toBe(200);
    } finally {
      await g.gateway.close();
    }
  });

  it("behind trusted proxies counts failures per client (IPv6 per /64), not per proxy", async () => {
    // The test gateway trusts loopback as its proxy: X-Forwarded-For names the client.
    const g = await startTestGateway({ extra: "admin_security: { failed_auth_per_minute: 3 }" });
    const from = (client: string, token: string, path = "/admin/v1/partners", body?: unknown) =>
      fetch(`${g.url}${path}`, {
        method: body === undefined ? "GET" : "POST",
        headers: {
          authorization: `Bearer ${token}`,
          "x-forwarded-for": client,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      }).then((r) => r.status);
    try {
      for (let i = 0; i < 3; i++) expect(await from("203.0.113.9", `clra_guess-${i}`)).toBe(401);
      expect(await from("203.0.113.9", ADMIN_TOKEN)).toBe(429);
      // Another client behind the same proxy: its own count, untouched by the guesser's.
      expect(await from("198.51.100.7", ADMIN_TOKEN)).toBe(200);
      expect(await from("198.51.100.7", ADMIN_TOKEN, "/v1/decisions", {})).toBe(400);
      // IPv6: one /64 is one source (a host has as many addresses in it as it likes).
      for (let i = 0; i < 3; i++) expect(await from(`2001:db8:1:2::${i + 1}`, `clra_guess-${i}`)).toBe(401);
      expect(await from("2001:db8:1:2:ffff::9", ADMIN_TOKEN)).toBe(429);
      expect(await from("2001:db8:1:3::1", ADMIN_TOKEN)).toBe(200);
    } finally {
      await g.gateway.close();
    }
  });

  it("behind trusted proxies tells internal callers (every hop trusted) apart by their first hop", async () => {
    // Every hop trusted names no client (the location is unknown), but the proxy must not become
    // one source for every internal caller: one job's bad token would lock the others out.
    const g = await startTestGateway({
      extra: "admin_security: { failed_auth_per_minute: 3 }",
      location: "{ header: x-test-country, trusted_proxies: [127.0.0.0/8] }",
    });
    const from = (client: string, token: string) =>
      fetch(`${g.url}/admin/v1/partners`, {
        headers: { authorization: `Bearer ${token}`, "x-forwarded-for": client },
      }).then((r) => r.status);
    try {
      for (let i = 0; i < 3; i++) expect(await from("127.0.0.5", `clra_guess-${i}`)).toBe(401);
      expect(await from("127.0.0.5", ADMIN_TOKEN)).toBe(429);
      expect(await from("127.0.0.6", ADMIN_TOKEN)).toBe(200);
    } finally {
      await g.gateway.close();
    }
  });

  it("forgets failures after a minute and bounds what it remembers", () => {
    const guard = new FailedAuthGuard(2);
    guard.failed("a", 0);
    guard.failed("a", 1_000);
    expect(guard.waitFor("a", 2_000)).toBe(58);
    expect(guard.waitFor("b", 2_000)).toBe(0);
    expect(guard.waitFor("a", 60_001)).toBe(0);
    for (let i = 0; i < 20_000; i++) guard.failed(`s${i}`, 70_000);
    expect((guard as unknown as { failures: Map<string, number[]> }).failures.size).toBeLessThanOrEqual(
      10_000,
    );
  });
});

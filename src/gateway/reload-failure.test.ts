/**
 * A policy reload that fails: /readyz says why (the error's code and first line, a URL's password
 * masked) to a caller who reads every partner and license, and to anyone else only that it failed
 * and whether the policy in force is still within freshness_ms — a warning while it is (the node
 * stays in rotation), a reason once it is not (freshness.test.ts). A reload that succeeds clears it.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parsePrincipal } from "../policy/index.js";
import type { Store } from "../store/index.js";
import { createIdentity } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let raw: Store;
/** The store's version check fails, as a PostgreSQL that refuses connections would. */
let storeDown = false;
/** The store answers, but its records hold no active scheme version (a hand-edited database). */
let noActiveVersion = false;

const SECRET = "s3cret-pass";
/** The store's error's message, when a test sets its own. */
let failMessage: string | undefined;
function refused(): Error {
  const err = new Error(
    failMessage ??
      `connect ECONNREFUSED 10.0.0.5:5432 (postgres://clearance:${SECRET}@10.0.0.5/clearance)\n    at TCPConnectWrap.afterConnect`,
  );
  return Object.assign(err, { code: "ECONNREFUSED" });
}

beforeAll(async () => {
  t = await startTestGateway({
    // Long enough that a failed reload stays within it for the whole test, whatever the machine's load.
    extra: "freshness_ms: 600000",
    wrapStore: (s) => {
      raw = s;
      return new Proxy(s, {
        get(obj, prop) {
          if (prop === "version" && storeDown) return () => Promise.reject(refused());
          if (prop === "snapshot" && noActiveVersion)
            return async () => {
              const snap = await obj.snapshot();
              const records = snap.records.filter(
                (r) => !(r.collection === "setting" && r.id === "active-scheme"),
              );
              return { ...snap, records };
            };
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      });
    },
  });
});
afterAll(async () => {
  await t.gateway.close();
});

interface Ready {
  readonly status: string;
  readonly warnings?: string[];
  readonly reload?: {
    failed: boolean;
    within_freshness: boolean;
    code?: string;
    message?: string;
    since?: string;
  };
}

const readyz = async (token?: string) => {
  const res = await fetch(`${t.url}/readyz`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await res.text();
  return { status: res.status, text, body: JSON.parse(text) as Ready };
};

describe("/readyz after a failed policy reload", () => {
  it("says why to a reader, only that it failed to anyone else, and stays ready within freshness_ms", async () => {
    const applicant = await createIdentity(t, "rf-applicant", ["applicant"], "bw-cyber");
    const healthy = await readyz(ADMIN_TOKEN);
    expect(healthy.status).toBe(200);
    expect(healthy.body).not.toHaveProperty("reload");
    expect(healthy.body).not.toHaveProperty("warnings");

    storeDown = true;
    try {
      await t.gateway.snapshot.refresh(); // a reload, failing as the poll's do meanwhile
      const reader = await readyz(ADMIN_TOKEN);
      expect(reader.status).toBe(200);
      expect(reader.body.status).toBe("ok");
      expect(reader.body.reload).toEqual({
        failed: true,
        within_freshness: true,
        code: "ECONNREFUSED",
        // One line, the URL's password masked.
        message: "connect ECONNREFUSED 10.0.0.5:5432 (postgres://clearance:***@10.0.0.5/clearance)",
        since: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      });
      expect(reader.text).not.toContain(SECRET);
      expect(reader.body.warnings).toEqual([
        expect.stringMatching(
          /^the last policy reload from the store failed; the policy in force was confirmed \d+ ms ago, within freshness_ms \(600000 ms\), and decides until then$/,
        ),
      ]);
      // A probe, a caller who cannot read every partner and license, and a token that is not an
      // admin's: that it failed and the policy is still fresh, not the error.
      for (const token of [undefined, applicant, "not-a-token"]) {
        const other = await readyz(token);
        expect(other.status).toBe(200);
        expect(other.body.reload).toEqual({ failed: true, within_freshness: true });
        expect(other.body.warnings).toEqual(reader.body.warnings?.map(() => expect.any(String)));
        expect(other.text).not.toContain("ECONNREFUSED");
        expect(other.text).not.toContain("10.0.0.5");
      }
      // Failing on: since when stays the first failure's.
      await t.gateway.snapshot.refresh();
      expect((await readyz(ADMIN_TOKEN)).body.reload?.since).toBe(reader.body.reload?.since);
    } finally {
      storeDown = false;
    }
    await t.gateway.snapshot.refresh();
    const recovered = await readyz(ADMIN_TOKEN);
    expect(recovered.status).toBe(200);
    expect(recovered.body).not.toHaveProperty("reload");
    expect(recovered.body).not.toHaveProperty("warnings");
  });

  it("masks a URL's password whole, even one holding a raw @ or /, and nothing past its URL", async () => {
    const shown: [string, string][] = [
      [
        "connect failed (postgres://app:s3cr@t@db:5432/clearance)",
        "connect failed (postgres://app:***@db:5432/clearance)",
      ],
      ["postgres://app:ab/cd@db/clearance refused", "postgres://app:***@db/clearance refused"],
      ["postgres://app:a@b/c@d@db refused", "postgres://app:***@db refused"],
      // No password: as it was.
      ["fetch http://db.internal:8080/health failed", "fetch http://db.internal:8080/health failed"],
      ["postgres://app@db/clearance refused", "postgres://app@db/clearance refused"],
      // Two URLs, and an address after one: each password masked, nothing else.
      [
        "primary postgres://a:one@h1/db and replica postgres://b:t@o@h2/db are down",
        "primary postgres://a:***@h1/db and replica postgres://b:***@h2/db are down",
      ],
      [
        "redis://:pa@ss@cache:6379 down; tell ops@example.com",
        "redis://:***@cache:6379 down; tell ops@example.com",
      ],
    ];
    storeDown = true;
    try {
      for (const [message, masked] of shown) {
        failMessage = message;
        await t.gateway.snapshot.refresh();
        expect((await readyz(ADMIN_TOKEN)).body.reload?.message).toBe(masked);
      }
    } finally {
      storeDown = false;
      failMessage = undefined;
    }
    await t.gateway.snapshot.refresh();
    expect((await readyz(ADMIN_TOKEN)).body).not.toHaveProperty("reload");
  });

  it("a store whose policy cannot be built: policy_not_loaded, the policy before in force", async () => {
    noActiveVersion = true;
    try {
      // A change elsewhere (the CLI, another node): the reload reads records with no active version.
      await raw.principals.put(parsePrincipal({ id: "rf-someone", citizenships: [{ country: "US" }] }));
      await t.gateway.snapshot.refresh();
      expect(t.gateway.snapshot.current.principals.has("rf-someone")).toBe(true); // the rest took effect
      const reader = await readyz(ADMIN_TOKEN);
      expect(reader.status).toBe(200);
      expect(reader.body.reload).toEqual({
        failed: true,
        within_freshness: true,
        code: "policy_not_loaded",
        message: "no active scheme version in the store",
        since: expect.any(String),
      });
      expect((await readyz()).body.reload).toEqual({ failed: true, within_freshness: true });
    } finally {
      noActiveVersion = false;
    }
    await t.gateway.snapshot.refresh();
    expect((await readyz(ADMIN_TOKEN)).body).not.toHaveProperty("reload");
  });
});

/** The license workflow's edges: who counts as an approver, what an application may name, errors. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Identity } from "../control/types.js";
import type { Store } from "../store/index.js";
import { application, asAdmin, call, createIdentity } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

/** Runs once, just before the gateway's next license write reaches the store (after its checks). */
let beforeLicenseWrite: (() => Promise<void>) | null = null;
/** Runs once, just before the gateway's next read of an identity from the store (after sign-in). */
let beforeIdentityRead: (() => Promise<void>) | null = null;
let raw: Store;
function hooked(s: Store): Store {
  raw = s;
  const records: Store["records"] = {
    get: async (collection, id) => {
      const hook = beforeIdentityRead;
      if (hook !== null && collection === "identity") {
        beforeIdentityRead = null;
        await hook();
      }
      return s.records.get(collection, id);
    },
    list: (collection) => s.records.list(collection),
    put: async (collection, id, document, expected, change, guards) => {
      const hook = beforeLicenseWrite;
      if (hook !== null && collection === "license") {
        beforeLicenseWrite = null;
        await hook();
      }
      return s.records.put(collection, id, document, expected, change, guards);
    },
    putAll: (writes, guards) => s.records.putAll(writes, guards),
  };
  return new Proxy(s, {
    get(obj, prop) {
      if (prop === "records") return records;
      const value = Reflect.get(obj, prop, obj) as unknown;
      return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
    },
  });
}

/** Revokes an identity as another node would: straight in the store, unseen by this node's snapshot. */
async function revokeElsewhere(id: string): Promise<void> {
  const r = await raw.records.get<Identity>("identity", id);
  if (r === undefined) throw new Error(`no identity ${id}`);
  await raw.records.put("identity", id, { ...r.document, revoked_at: new Date().toISOString() }, r.revision, {
    actor: "admin@elsewhere",
    action: "identity.revoke",
  });
}

let t: TestGateway;
const tok: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestGateway({ wrapStore: hooked });
  for (const a of ["a1", "a2", "a3"]) tok[a] = await createIdentity(t, `${a}@edges`, ["approver"]);
});
afterAll(() => t.gateway.close());

describe("approvals", () => {
  it("one by an identity revoked before the application is decided does not count", async () => {
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "L-REVOKED", destinations: ["FR"] }));
    expect((await call(t, tok.a1!, "POST", "/admin/v1/licenses/L-REVOKED/approve", {})).status).toBe(200);
    expect(await asAdmin(t, "POST", "/admin/v1/identities/a1@edges/revoke", {})).toMatchObject({
      revoked: true,
    });
    const second = await call(t, tok.a2!, "POST", "/admin/v1/licenses/L-REVOKED/approve", {});
    expect(second.status).toBe(200);
    expect(second.body.status).toBe("pending");
    const third = await call(t, tok.a3!, "POST", "/admin/v1/licenses/L-REVOKED/approve", {});
    expect(third.body.status).toBe("approved");
    expect(third.body.approvals.map((a: { identity: string }) => a.identity)).toEqual([
      "a1@edges",
      "a2@edges",
      "a3@edges",
    ]);
  });

  it("a revocation committed between the check of the earlier approvers and the write makes it refuse", async () => {
    for (const a of ["r1", "r2", "r3"]) tok[a] = await createIdentity(t, `${a}@edges`, ["approver"]);
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "L-RACE", destinations: ["FR"] }));
    expect((await call(t, tok.r1!, "POST", "/admin/v1/licenses/L-RACE/approve", {})).status).toBe(200);
    // r2's approval has read r1 as live; r1 is revoked on another node before r2's write.
    beforeLicenseWrite = () => revokeElsewhere("r1@edges");
    const raced = await call(t, tok.r2!, "POST", "/admin/v1/licenses/L-RACE/approve", {});
    expect(beforeLicenseWrite).toBeNull();
    expect(raced.status).toBe(409);
    expect(raced.body.error.code).toBe("conflict");
    const stored = await raw.records.get<{ status: string; approvals: unknown[] }>("license", "L-RACE");
    expect(stored?.document.status).toBe("pending");
    expect(stored?.document.approvals).toHaveLength(1);
    // Asked again, r2's approval is decided without r1: one more approver is needed.
    const again = await call(t, tok.r2!, "POST", "/admin/v1/licenses/L-RACE/approve", {});
    expect(again.status).toBe(200);
    expect(again.body.status).toBe("pending");
    const third = await call(t, tok.r3!, "POST", "/admin/v1/licenses/L-RACE/approve", {});
    expect(third.body.status).toBe("approved");
  });

  it("the approver's own revocation in that window refuses the approval too", async () => {
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "L-RACE-SELF", destinations: ["FR"] }));
    tok.s1 = await createIdentity(t, "s1@edges", ["approver"]);
    expect((await call(t, tok.a3!, "POST", "/admin/v1/licenses/L-RACE-SELF/approve", {})).status).toBe(200);
    beforeLicenseWrite = () => revokeElsewhere("s1@edges");
    const raced = await call(t, tok.s1!, "POST", "/admin/v1/licenses/L-RACE-SELF/approve", {});
    expect(raced.status).toBe(409);
    const stored = await raw.records.get<{ status: string }>("license", "L-RACE-SELF");
    expect(stored?.document.status).toBe("pending");
  });
});

describe("denials", () => {
  it("a denier revoked on another node between the route's check and the write is refused", async () => {
    tok.d1 = await createIdentity(t, "d1@edges", ["approver"]);
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "L-DENY-RACE", destinations: ["FR"] }));
    beforeLicenseWrite = () => revokeElsewhere("d1@edges");
    const raced = await call(t, tok.d1!, "POST", "/admin/v1/licenses/L-DENY-RACE/deny", { reason: "no" });
    expect(beforeLicenseWrite).toBeNull();
    expect(raced.status).toBe(409);
    expect(raced.body.error.code).toBe("conflict");
    const stored = await raw.records.get<{ status: string }>("license", "L-DENY-RACE");
    expect(stored?.document.status).toBe("pending");
    // Another approver's denial goes through.
    const denied = await call(t, tok.a2!, "POST", "/admin/v1/licenses/L-DENY-RACE/deny", { reason: "no" });
    expect(denied.status).toBe(200);
    expect(denied.body.status).toBe("denied");
  });

  it("a denier revoked on another node, signed in before this node has seen it, is refused", async () => {
    tok.d2 = await createIdentity(t, "d2@edges", ["approver"]);
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "L-DENY-LATE", destinations: ["FR"] }));
    beforeIdentityRead = () => revokeElsewhere("d2@edges");
    const late = await call(t, tok.d2!, "POST", "/admin/v1/licenses/L-DENY-LATE/deny", { reason: "no" });
    expect(beforeIdentityRead).toBeNull();
    expect(late.status).toBe(403);
    expect(late.body.error.code).toBe("revoked-decider");
    const stored = await raw.records.get<{ status: string }>("license", "L-DENY-LATE");
    expect(stored?.document.status).toBe("pending");
  });
});

describe("reinstatements", () => {
  /** A license approved by two fresh approvers and suspended by the admin; returns a reinstater's token. */
  async function suspendedWith(id: string, reinstater: string): Promise<string> {
    await asAdmin(t, "POST", "/admin/v1/licenses", application({ id, destinations: ["FR"] }));
    for (const a of [`${id.toLowerCase()}-1@edges`, `${id.toLowerCase()}-2@edges`]) {
      const token = await createIdentity(t, a, ["approver"]);
      expect((await call(t, token, "POST", `/admin/v1/licenses/${id}/approve`, {})).status).toBe(200);
    }
    await asAdmin(t, "POST", `/admin/v1/licenses/${id}/suspend`, { reason: "end-use check" });
    return createIdentity(t, reinstater, ["compliance-officer"]);
  }

  it("a reinstater revoked on another node between the route's check and the write is refused", async () => {
    const token = await suspendedWith("L-REIN-RACE", "ri1@edges");
    beforeLicenseWrite = () => revokeElsewhere("ri1@edges");
    const path = "/admin/v1/licenses/L-REIN-RACE/reinstate";
    const raced = await call(t, token, "POST", path, { reason: "check passed" });
    expect(beforeLicenseWrite).toBeNull();
    // Before the fix: 200 — the write was not guarded on the reinstater's identity.
    expect(raced.status).toBe(409);
    expect(raced.body.error.code).toBe("conflict");
    const stored = await raw.records.get<{ status: string }>("license", "L-REIN-RACE");
    expect(stored?.document.status).toBe("suspended");
  });

  it("a reinstater revoked on another node, signed in before this node has seen it, is refused", async () => {
    const token = await suspendedWith("L-REIN-LATE", "ri2@edges");
    beforeIdentityRead = () => revokeElsewhere("ri2@edges");
    const path = "/admin/v1/licenses/L-REIN-LATE/reinstate";
    const late = await call(t, token, "POST", path, { reason: "check passed" });
    // Before the fix: 200 — the reinstater's identity was not read from the store.
    expect(beforeIdentityRead).toBeNull();
    expect(late.status).toBe(403);
    expect(late.body.error.code).toBe("revoked-decider");
    const stored = await raw.records.get<{ status: string }>("license", "L-REIN-LATE");
    expect(stored?.document.status).toBe("suspended");
    // The bootstrap admin (no identity record) still reinstates.
    const back = await asAdmin(t, "POST", path, { reason: "check passed" });
    expect(back.status).toBe("approved");
  });
});

describe("applications", () => {
  it("name their licensee by id: an organization id or a principal id, not free text", async () => {
    for (const licensee of [
      { organization: "bw cyber\u0000\n<b>" },
      { organization: "bw-cyber " },
      { principal: "erik\n" },
      { principal: "" },
    ]) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/licenses", application({ licensee }));
      expect(r.status, JSON.stringify(licensee)).toBe(400);
      expect(r.body.error.problems[0].path).toMatch(/^licensee/);
    }
    for (const licensee of [{ organization: "bw-cyber" }, { principal: "fed:de-gov:abc_DEF-1" }]) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/licenses", application({ licensee }));
      expect(r.status, JSON.stringify(licensee)).toBe(201);
    }
  });

  it("a licensee of another shape is refused saying which shapes it may have", async () => {
    for (const licensee of ["bw-cyber", {}, { organization: "bw-cyber", principal: "erik" }, { org: "x" }]) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/licenses", application({ licensee }));
      expect(r.status, JSON.stringify(licensee)).toBe(400);
      // Was "licensee: Invalid input".
      expect(r.body.error.problems, JSON.stringify(licensee)).toEqual([
        {
          code: "invalid_union",
          path: "licensee",
          message: "expected {organization: ID} or {principal: ID}",
        },
      ]);
    }
  });

  it("name themselves with an id of at most 256 characters, as a scheme file's licenses do", async () => {
    // 70,000 characters made a change the audit log cannot hold (64 KiB an entry): it was stored,
    // answered 413, and stayed first in the outbox, so every admin change after it answered 413 too.
    for (const id of [`L-${"x".repeat(255)}`, `L-${"x".repeat(70_000)}`]) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/licenses", application({ id }));
      expect(r.status, `${id.length} characters`).toBe(400);
      expect(r.body.error.problems).toEqual([
        { code: "too_big", path: "id", message: "expected a license id of at most 256 characters" },
      ]);
      expect(await raw.records.get("license", id)).toBeUndefined();
    }
    const longest = `L-${"x".repeat(254)}`;
    expect(
      (await call(t, ADMIN_TOKEN, "POST", "/admin/v1/licenses", application({ id: longest }))).status,
    ).toBe(201);
    expect(
      (await call(t, ADMIN_TOKEN, "POST", "/admin/v1/licenses", application({ id: "L-AFTER" }))).status,
    ).toBe(201);
  });
});

describe("workflow errors", () => {
  it("have the one error shape: problems naming the field at fault", async () => {
    await asAdmin(
      t,
      "POST",
      "/admin/v1/licenses",
      application({ id: "L-ERR", destinations: ["FR", "BE"], quota_tokens: 10 }),
    );
    const cases: [string, string, unknown, string, string][] = [
      [
        "approve",
        "L-ERR",
        { conditions: { quota_tokens: 20 } },
        "invalid-conditions",
        "conditions.quota_tokens",
      ],
      [
        "approve",
        "L-ERR",
        { conditions: { destinations: ["FR", "JP"] } },
        "invalid-conditions",
        "conditions.destinations[1]",
      ],
      [
        "approve",
        "L-ERR",
        { conditions: { valid_until: "2001-01-01" } },
        "invalid-conditions",
        "conditions.valid_until",
      ],
      ["deny", "L-ERR", { reason: "   " }, "reason-required", "reason"],
    ];
    for (const [action, id, body, code, path] of cases) {
      const r = await call(t, tok.a3!, "POST", `/admin/v1/licenses/${id}/${action}`, body);
      expect(r.status, path).toBe(400);
      expect(r.body.error).toMatchObject({
        code,
        problems: [{ code, path, message: expect.any(String) }],
      });
      expect(r.body.error.message).toContain(path);
    }
  });
});

describe("identities", () => {
  it("are named with an id of at most 256 characters: a longer one is refused before it is stored", async () => {
    for (const id of [`a${"x".repeat(256)}@edges`, `a${"x".repeat(70_000)}@edges`]) {
      const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/identities", {
        id,
        name: "long",
        roles: ["approver"],
      });
      expect(r.status, `${id.length} characters`).toBe(400);
      expect(r.body.error.problems).toEqual([
        { code: "too_big", path: "id", message: "at most 256 characters" },
      ]);
      expect(await raw.records.get("identity", id)).toBeUndefined();
    }
    expect(await createIdentity(t, "after-long@edges", ["viewer"])).toEqual(expect.any(String));
  });

  it("revoked twice keep the first revocation: its time stands and nothing more is recorded", async () => {
    await createIdentity(t, "twice@edges", ["viewer"]);
    expect(await asAdmin(t, "POST", "/admin/v1/identities/twice@edges/revoke", {})).toMatchObject({
      revoked: true,
    });
    const revokedAt = async () =>
      (await t.gateway.store.records.get<{ revoked_at: string }>("identity", "twice@edges"))?.document
        .revoked_at;
    const first = await revokedAt();
    const version = await t.gateway.store.version();
    expect(await asAdmin(t, "POST", "/admin/v1/identities/twice@edges/revoke", {})).toMatchObject({
      revoked: true,
    });
    expect(await revokedAt()).toBe(first);
    expect(await t.gateway.store.version()).toBe(version);
  });
});

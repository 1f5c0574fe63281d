/**
 * A suspension or revocation stored while this node's reload right after it fails: the change stands
 * (durable, audited, in force at the next successful reload here and at the next poll elsewhere), so
 * the answer stays 200, but it says the change is not yet in force on this node, and the CLI prints
 * that. Before, the answer was a plain 200, read as "in force now".
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { application, asAdmin, call, chat, createIdentity, eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { remoteCli } from "../testing/remote-cli.js";
import { setBlock } from "../identity/registry.js";

let t: TestGateway;
/** The store's version check fails, as a PostgreSQL that refuses connections would; writes go through. */
let storeDown = false;
/** The store answers, but its records hold no active scheme version: no policy can be built. */
let noActiveVersion = false;
/** The store's version check answers, but reading its snapshot fails (the connection reset midway). */
let snapshotDown = false;

beforeAll(async () => {
  t = await startTestGateway({
    extra: "freshness_ms: 600000",
    wrapStore: (s) =>
      new Proxy(s, {
        get(obj, prop) {
          if (prop === "version" && storeDown)
            return () =>
              Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
          if (prop === "snapshot" && snapshotDown)
            return () => Promise.reject(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
          if (prop === "snapshot" && noActiveVersion)
            return async () => {
              const snap = await obj.snapshot();
              return {
                ...snap,
                records: snap.records.filter(
                  (r) => !(r.collection === "setting" && r.id === "active-scheme"),
                ),
              };
            };
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      }),
  });
});
afterAll(async () => {
  await t.gateway.close();
});

const cli = (args: string[]) => remoteCli(t.url, args);

const license = async () =>
  (await asAdmin(t, "GET", "/admin/v1/licenses/BIS-2026-0001")) as { status: string };

describe("a change stored while this node cannot reload", () => {
  it("a license suspension answers 200 saying it is not yet in force here; in force once the store answers", async () => {
    storeDown = true;
    let body;
    try {
      body = await asAdmin(t, "POST", "/admin/v1/licenses/BIS-2026-0001/suspend", {
        reason: "end-use check",
      });
    } finally {
      storeDown = false;
    }
    expect(body.status).toBe("suspended");
    // Named by the node that answered (no audit.node here: the host name), as its /readyz is.
    expect(body.not_yet_in_force).toMatchObject({ code: "reload_failed", node: hostname() });
    expect(body.not_yet_in_force.message).toMatch(
      NOT_IN_FORCE(
        "license BIS-2026-0001",
        "it could not reload from the store \\(ECONNREFUSED: connect ECONNREFUSED\\)",
      ),
    );
    // This node still has it approved until its next successful poll, which puts the change in force.
    await eventually(license, (l) => l.status === "suspended");

    // A change this node reloads at once says nothing more.
    const reinstated = await asAdmin(t, "POST", "/admin/v1/licenses/BIS-2026-0001/reinstate", {
      reason: "cleared",
    });
    expect(reinstated.status).toBe("approved");
    expect(reinstated).not.toHaveProperty("not_yet_in_force");
  });

  it("the CLI prints the warning (exit 0: the change is stored), in --json mode too", async () => {
    storeDown = true;
    let revoked;
    try {
      revoked = await cli(["licenses", "suspend", "BIS-2026-0001", "--reason", "again"]);
    } finally {
      storeDown = false;
    }
    expect(revoked.code).toBe(0);
    expect(revoked.out).toBe("license BIS-2026-0001 is now suspended\n");
    expect(revoked.err).toMatch(
      new RegExp(
        `^warning: license BIS-2026-0001 was changed in the store, but is not yet in force on node ${hostname()}:`,
      ),
    );
    await eventually(license, (l) => l.status === "suspended");

    storeDown = true;
    let json;
    try {
      json = await cli(["licenses", "revoke", "BIS-2026-0001", "--reason", "ended", "--json"]);
    } finally {
      storeDown = false;
    }
    expect(json.code).toBe(0);
    expect(JSON.parse(json.out)).toMatchObject({
      status: "revoked",
      not_yet_in_force: { code: "reload_failed" },
    });
    expect(json.err).toMatch(/^warning: license BIS-2026-0001 was changed in the store/);
  });

  it("a partner suspension while no policy can be loaded: policy_not_loaded", async () => {
    noActiveVersion = true;
    let body;
    try {
      body = await asAdmin(t, "POST", "/admin/v1/partners/uk-aisi/status", {
        status: "suspended",
        reason: "review",
      });
    } finally {
      noActiveVersion = false;
    }
    expect(body.partner.status).toBe("suspended");
    expect(body.not_yet_in_force).toMatchObject({ code: "policy_not_loaded" });
    expect(body.not_yet_in_force.message).toMatch(
      NOT_IN_FORCE("partner uk-aisi", "the policy could not be loaded from the store"),
    );
    const after = await eventually(
      async () => (await asAdmin(t, "GET", "/admin/v1/partners/uk-aisi")) as { partner: { status: string } },
      (p) => p.partner.status === "suspended",
    );
    expect(after.partner.status).toBe("suspended");
    const back = await asAdmin(t, "POST", "/admin/v1/partners/uk-aisi/status", {
      status: "active",
      reason: "done",
    });
    expect(back).not.toHaveProperty("not_yet_in_force");
  });
});

/** Runs `fn` while `set` holds the store's failure on, and turns it off again whatever happens. */
async function whileFailing<T>(set: (on: boolean) => void, fn: () => Promise<T>): Promise<T> {
  set(true);
  try {
    return await fn();
  } finally {
    set(false);
  }
}
const versionCheckFails = (on: boolean) => void (storeDown = on);
const snapshotFails = (on: boolean) => void (snapshotDown = on);
const noPolicy = (on: boolean) => void (noActiveVersion = on);

const NOT_IN_FORCE = (subject: string, why: string) =>
  new RegExp(
    `^${subject.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")} was changed in the store, but is not yet in force on node ${hostname()}: ${why}`,
  );

/** A principal (chloe's facts under another id) and an API key for it. */
async function principalWithKey(id: string): Promise<{ key: string; keyId: string }> {
  await asAdmin(t, "POST", "/admin/v1/principals", {
    id,
    citizenships: [{ country: "GB", since: "1993-01-20" }],
    residence: "GB",
    organization: "uk-aisi",
    assurance: "verified",
  });
  const created = await asAdmin(t, "POST", "/admin/v1/keys", { principal: id });
  expect(created).not.toHaveProperty("not_yet_in_force");
  return { key: created.key as string, keyId: created.id as string };
}

/** Whether this node still takes the API key (any answer but 401). */
const keyTaken = async (key: string) => {
  const r = await chat(t.url, key, "GB", "mythos-4");
  await r.text();
  return r.status !== 401;
};

describe("changes that take access away, stored while this node cannot reload", () => {
  it("an API key's revocation says it is not yet in force, while this node still takes the key", async () => {
    const { key, keyId } = await principalWithKey("nyif-key");
    expect(await keyTaken(key)).toBe(true);
    const { body, stillTaken } = await whileFailing(versionCheckFails, async () => ({
      body: await asAdmin(t, "POST", `/admin/v1/keys/${keyId}/revoke`),
      stillTaken: await keyTaken(key),
    }));
    expect(body).toMatchObject({ id: keyId, revoked: true, not_yet_in_force: { code: "reload_failed" } });
    expect(body.not_yet_in_force.message).toMatch(
      NOT_IN_FORCE(
        `API key ${keyId}`,
        "it could not reload from the store \\(ECONNREFUSED: connect ECONNREFUSED\\)",
      ),
    );
    // What the warning is about: this node let the revoked key through until it could reload.
    expect(stillTaken).toBe(true);
    await eventually(
      () => keyTaken(key),
      (taken) => !taken,
    );
  });

  it("a key revoked while no policy can be built is in force at once: nothing is said", async () => {
    const { key, keyId } = await principalWithKey("nyif-key-2");
    const { body, stillTaken } = await whileFailing(noPolicy, async () => ({
      body: await asAdmin(t, "POST", `/admin/v1/keys/${keyId}/revoke`),
      stillTaken: await keyTaken(key),
    }));
    // Keys, principals and identities are taken even when the policy is held back.
    expect(body).toEqual({ id: keyId, revoked: true });
    expect(stillTaken).toBe(false);
  });

  it("revoking a key already revoked, whose revocation this node has taken, says nothing while it cannot reload", async () => {
    const { key, keyId } = await principalWithKey("nyif-key-again");
    expect(await asAdmin(t, "POST", `/admin/v1/keys/${keyId}/revoke`)).toEqual({ id: keyId, revoked: true });
    expect(await keyTaken(key)).toBe(false);
    // Nothing changes in the store (the first revokedAt stands), and nothing is pending on this node.
    const { body, stillTaken } = await whileFailing(versionCheckFails, async () => ({
      body: await asAdmin(t, "POST", `/admin/v1/keys/${keyId}/revoke`),
      stillTaken: await keyTaken(key),
    }));
    // Said, so that an officer does not take this call for the revocation (was: the same answer).
    expect(body).toEqual({ id: keyId, revoked: true, already_revoked: true });
    expect(stillTaken).toBe(false);
  });

  it("revoking a key revoked elsewhere, which this node still takes, says it is not yet in force here", async () => {
    const { key, keyId } = await principalWithKey("nyif-key-elsewhere");
    const { body, stillTaken } = await whileFailing(versionCheckFails, async () => {
      // Another node (or the CLI) revokes it first; this node cannot reload to hear of it.
      await t.gateway.store.keys.revoke(keyId, "officer@elsewhere");
      return {
        body: await asAdmin(t, "POST", `/admin/v1/keys/${keyId}/revoke`),
        stillTaken: await keyTaken(key),
      };
    });
    expect(body).toMatchObject({
      id: keyId,
      revoked: true,
      already_revoked: true,
      not_yet_in_force: { code: "reload_failed" },
    });
    expect(stillTaken).toBe(true);
    await eventually(
      () => keyTaken(key),
      (taken) => !taken,
    );
  });

  it("a principal's removal, and a change to it, say so while this node's snapshot cannot be read", async () => {
    const { key } = await principalWithKey("nyif-gone");
    const changed = await whileFailing(snapshotFails, () =>
      asAdmin(
        t,
        "POST",
        "/admin/v1/principals",
        { id: "nyif-gone", citizenships: [{ country: "IR" }], residence: "IR", assurance: "verified" },
        201,
      ),
    );
    expect(changed.not_yet_in_force).toMatchObject({ code: "reload_failed" });
    expect(changed.not_yet_in_force.message).toMatch(
      NOT_IN_FORCE(
        "principal nyif-gone",
        "it could not reload from the store \\(ECONNRESET: read ECONNRESET\\)",
      ),
    );
    const { body, stillTaken } = await whileFailing(snapshotFails, async () => ({
      body: await asAdmin(t, "DELETE", "/admin/v1/principals/nyif-gone"),
      stillTaken: await keyTaken(key),
    }));
    expect(body).toMatchObject({
      id: "nyif-gone",
      removed: true,
      not_yet_in_force: { code: "reload_failed" },
    });
    expect(body.not_yet_in_force.message).toMatch(NOT_IN_FORCE("principal nyif-gone", "it could not"));
    expect(stillTaken).toBe(true);
    await eventually(
      () => keyTaken(key),
      (taken) => !taken,
    );
  });

  it("an identity's revocation says so, while this node still takes its token", async () => {
    const token = await createIdentity(t, "nyif-officer", ["viewer"]);
    const me = async () => (await call(t, token, "GET", "/admin/v1/me")).status;
    expect(await me()).toBe(200);
    const { body, status } = await whileFailing(versionCheckFails, async () => ({
      body: await asAdmin(t, "POST", "/admin/v1/identities/nyif-officer/revoke"),
      status: await me(),
    }));
    expect(body).toMatchObject({
      id: "nyif-officer",
      revoked: true,
      not_yet_in_force: { code: "reload_failed" },
    });
    expect(body.not_yet_in_force.message).toMatch(NOT_IN_FORCE("identity nyif-officer", "it could not"));
    expect(status).toBe(200);
    await eventually(me, (s) => s === 401);
  });

  it("an identity provider's removal and a federated principal's block say so", async () => {
    await asAdmin(
      t,
      "POST",
      "/admin/v1/partners/uk-aisi/identity-providers",
      { id: "nyif-idp", issuer: "https://nyif-idp.example", audiences: ["clearance"] },
      201,
    );
    const removed = await whileFailing(versionCheckFails, () =>
      asAdmin(t, "DELETE", "/admin/v1/partners/uk-aisi/identity-providers/nyif-idp?reason=offboarded"),
    );
    expect(removed).toMatchObject({
      id: "nyif-idp",
      removed: true,
      not_yet_in_force: { code: "reload_failed" },
    });
    expect(removed.not_yet_in_force.message).toMatch(
      NOT_IN_FORCE("identity provider nyif-idp", "it could not"),
    );

    const blocked = await whileFailing(versionCheckFails, () =>
      asAdmin(t, "POST", "/admin/v1/federated-principals/fed:nyif-idp:ada/block", { reason: "left the lab" }),
    );
    expect(blocked).toMatchObject({
      id: "fed:nyif-idp:ada",
      blocked: true,
      not_yet_in_force: { code: "reload_failed" },
    });
    expect(blocked.not_yet_in_force.message).toMatch(
      NOT_IN_FORCE("federated principal fed:nyif-idp:ada", "it could not"),
    );
    // Once this node reloads, a change says nothing more.
    const unblocked = await asAdmin(t, "POST", "/admin/v1/federated-principals/fed:nyif-idp:ada/unblock", {
      reason: "back",
    });
    expect(unblocked).toEqual({ id: "fed:nyif-idp:ada", blocked: false, reason: "back" });
  });

  it("a screening match confirmed says so, while this node still lets its subject through", async () => {
    const fixture = (name: string) => ({
      name,
      content_base64: readFileSync(join(import.meta.dirname, "../screening/fixtures/ofac", name)).toString(
        "base64",
      ),
    });
    await asAdmin(
      t,
      "POST",
      "/admin/v1/screening/lists",
      { files: [fixture("sdn.csv"), fixture("alt.csv"), fixture("add.csv")] },
      201,
    );
    await asAdmin(t, "POST", "/admin/v1/principals", {
      id: "nyif-ivan",
      name: "Ivan Petrov",
      birth_date: "1965-01-12",
      citizenships: [{ country: "DE" }],
      residence: "DE",
      assurance: "verified",
    });
    const key = (await asAdmin(t, "POST", "/admin/v1/keys", { principal: "nyif-ivan" })).key as string;
    const queue = await asAdmin(t, "GET", "/admin/v1/screening/matches?status=potential&subject=nyif-ivan");
    expect(queue.data).toHaveLength(1);
    const id = queue.data[0].id as string;
    const reason = async () => {
      const r = await chat(t.url, key, "DE", "mythos-4");
      await r.text();
      return r.headers.get("x-clearance-reason");
    };
    expect(await reason()).not.toBe("denied-party");
    const { body, before } = await whileFailing(versionCheckFails, async () => ({
      body: await asAdmin(t, "POST", `/admin/v1/screening/matches/${encodeURIComponent(id)}/confirm`, {
        reason: "same passport number",
      }),
      before: await reason(),
    }));
    expect(body).toMatchObject({ id, status: "confirmed", not_yet_in_force: { code: "reload_failed" } });
    expect(body.not_yet_in_force.message).toMatch(NOT_IN_FORCE(`screening match ${id}`, "it could not"));
    expect(before).not.toBe("denied-party");
    await eventually(reason, (r) => r === "denied-party");

    // Confirmed again (a second reviewer's reason) while this node cannot reload: it already denies
    // the subject, so nothing is pending here.
    const again = await whileFailing(versionCheckFails, () =>
      asAdmin(t, "POST", `/admin/v1/screening/matches/${encodeURIComponent(id)}/confirm`, {
        reason: "and the same birth date",
      }),
    );
    expect(again).toMatchObject({ id, status: "confirmed", reason: "and the same birth date" });
    expect(again).not.toHaveProperty("not_yet_in_force");
  });

  it("blocking a blocked principal (unblocking an unblocked one) this node holds so says nothing while it cannot reload", async () => {
    const id = "fed:nyif-idp:grace";
    const path = (verb: string) => `/admin/v1/federated-principals/${id}/${verb}`;
    expect(await asAdmin(t, "POST", path("block"), { reason: "left the lab" })).toEqual({
      id,
      blocked: true,
      reason: "left the lab",
    });
    const again = await whileFailing(versionCheckFails, () =>
      asAdmin(t, "POST", path("block"), { reason: "badge returned" }),
    );
    expect(again).toEqual({ id, blocked: true, reason: "badge returned" });
    expect(await asAdmin(t, "POST", path("unblock"), { reason: "rejoined" })).toEqual({
      id,
      blocked: false,
      reason: "rejoined",
    });
    const unblocked = await whileFailing(versionCheckFails, () =>
      asAdmin(t, "POST", path("unblock"), { reason: "rejoined, confirmed" }),
    );
    expect(unblocked).toEqual({ id, blocked: false, reason: "rejoined, confirmed" });
    // Blocked through another node (or the CLI) first, not yet held here: blocking again says so.
    const elsewhere = await whileFailing(versionCheckFails, async () => {
      await setBlock(t.gateway.store, id, true, "left again", "officer@elsewhere", new Date().toISOString());
      return asAdmin(t, "POST", path("block"), { reason: "left again" });
    });
    expect(elsewhere).toMatchObject({ id, blocked: true, not_yet_in_force: { code: "reload_failed" } });
  });

  it("a scheme version activated while this node cannot read the store says the one before is in force here", async () => {
    const example = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    const embargoBrazil = example.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, BR]");
    const uploaded = await asAdmin(t, "POST", "/admin/v1/schemes", { yaml: embargoBrazil });
    const version = uploaded.version as number;
    const body = await whileFailing(snapshotFails, () =>
      asAdmin(t, "POST", `/admin/v1/schemes/${version}/activate`, { reason: "Brazil embargoed" }),
    );
    expect(body).toMatchObject({ version, active: false, not_yet_in_force: { code: "reload_failed" } });
    expect(body.not_yet_in_force.message).toMatch(
      NOT_IN_FORCE(
        `the active scheme version (now ${version})`,
        "it could not reload from the store \\(ECONNRESET",
      ),
    );
    await eventually(
      async () => (await asAdmin(t, "GET", `/admin/v1/schemes/${version}`)) as { active: boolean },
      (v) => v.active,
    );
    const back = await asAdmin(t, "POST", "/admin/v1/schemes/1/activate", { reason: "rolled back" });
    expect(back).not.toHaveProperty("not_yet_in_force");
  });

  it("the CLI prints the warning for a key revoked (exit 0)", async () => {
    const { keyId } = await principalWithKey("nyif-cli");
    const revoked = await whileFailing(versionCheckFails, () => cli(["remote", "keys", "revoke", keyId]));
    expect(revoked.code).toBe(0);
    expect(revoked.out).toBe(`revoked key ${keyId}\n`);
    expect(revoked.err).toMatch(
      new RegExp(
        `^warning: API key ${keyId} was changed in the store, but is not yet in force on node ${hostname()}`,
      ),
    );
  });
});

describe("grants stored while no policy can be built on this node", () => {
  // Before, each answered 503 policy_not_loaded though stored: a retry was refused (a partner or
  // application that exists) or done twice (an activation recorded again).
  const POLICY_NOT_LOADED = (subject: string) =>
    NOT_IN_FORCE(subject, "the policy could not be loaded from the store \\(");

  it("a license application answers 201 with not_yet_in_force: policy_not_loaded, and is in force once loaded", async () => {
    const body = await whileFailing(noPolicy, () =>
      asAdmin(t, "POST", "/admin/v1/licenses", application({ id: "NYIF-APP-1" }), 201),
    );
    expect(body).toMatchObject({ id: "NYIF-APP-1", status: "pending" });
    expect(body.not_yet_in_force).toMatchObject({ code: "policy_not_loaded" });
    expect(body.not_yet_in_force.message).toMatch(POLICY_NOT_LOADED("license NYIF-APP-1"));
    // Stored: this node has it once it can load the policy again (asked again, it would exist).
    const stored = await eventually(
      () => call(t, ADMIN_TOKEN, "GET", "/admin/v1/licenses/NYIF-APP-1"),
      (r) => r.status === 200,
    );
    expect(stored.body).toMatchObject({ id: "NYIF-APP-1", status: "pending" });
  });

  it("a partner's registration answers 201 with not_yet_in_force: policy_not_loaded", async () => {
    const body = await whileFailing(noPolicy, () =>
      asAdmin(t, "POST", "/admin/v1/partners", {
        kind: "organization",
        partner: {
          id: "nyif-lab",
          name: "NYIF Lab",
          country: "IN",
          assurance: "verified",
          locations: ["IN"],
          grants: [{ models: ["mythos-5"], actions: ["infer"] }],
        },
        reason: "evaluation partnership",
      }),
    );
    expect(body).toMatchObject({ id: "nyif-lab", partner: { status: "applied" } });
    expect(body.not_yet_in_force).toMatchObject({ code: "policy_not_loaded" });
    expect(body.not_yet_in_force.message).toMatch(POLICY_NOT_LOADED("partner nyif-lab"));
    // Stored: this node has it once it can load the policy again (asked again, it would exist).
    const stored = await eventually(
      () => call(t, ADMIN_TOKEN, "GET", "/admin/v1/partners/nyif-lab"),
      (r) => r.status === 200,
    );
    expect(stored.body).toMatchObject({ partner: { status: "applied" } });
    const activated = await asAdmin(t, "POST", "/admin/v1/partners/nyif-lab/status", {
      status: "active",
      reason: "vetted",
    });
    expect(activated).toMatchObject({ partner: { status: "active" } });
    expect(activated).not.toHaveProperty("not_yet_in_force");
  });

  it("an activation answers 200 with not_yet_in_force: policy_not_loaded, the version before in force here", async () => {
    const example = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    const renamed = example.replace(/^name: .*$/m, "name: nyif-policy-not-loaded");
    const version = (await asAdmin(t, "POST", "/admin/v1/schemes", { yaml: renamed })).version as number;
    const body = await whileFailing(noPolicy, () =>
      asAdmin(t, "POST", `/admin/v1/schemes/${version}/activate`, { reason: "renamed" }),
    );
    expect(body).toMatchObject({ version, active: false, not_yet_in_force: { code: "policy_not_loaded" } });
    expect(body.not_yet_in_force.message).toMatch(
      POLICY_NOT_LOADED(`the active scheme version (now ${version})`),
    );
    await eventually(
      async () => (await asAdmin(t, "GET", `/admin/v1/schemes/${version}`)) as { active: boolean },
      (v) => v.active,
    );
    const back = await asAdmin(t, "POST", "/admin/v1/schemes/1/activate", { reason: "rolled back" });
    expect(back).not.toHaveProperty("not_yet_in_force");
  });
});

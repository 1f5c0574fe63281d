/**
 * A change checked against a node's snapshot while the store has moved on (an activation on another
 * node, or still in flight): the check is made against the store and tied to the write by a
 * compare-and-swap, and a store holding something that does not compile with the active version
 * (however it got there) still applies every later change — revocations above all — leaving only
 * that entry out of the policy (failing closed), and saying so. The interleavings are injected.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { activateVersion } from "../control/seed.js";
import { apply } from "../licensing/workflow.js";
import type { Store } from "../store/index.js";
import { application, ask, asAdmin, call, createIdentity, daysFromNow, type Json } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

const base = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const withX = base.replace(
  "  fable-4: { control: open }",
  "  fable-4: { control: open }\n  x-1: { control: controlled, fallback: mythos-4 }",
);

/** Hooks run once, the next time the gateway's store lists a collection or reads its version. */
const hooks = { onList: new Map<string, () => Promise<void>>(), frozenVersion: null as number | null };
let raw: Store;
function hooked(s: Store): Store {
  raw = s;
  const records = new Proxy(s.records, {
    get(obj, prop) {
      if (prop !== "list") return Reflect.get(obj, prop, obj) as unknown;
      return async (collection: string) => {
        const listed = await obj.list(collection as never);
        const hook = hooks.onList.get(collection);
        if (hook !== undefined) {
          hooks.onList.delete(collection);
          await hook();
        }
        return listed;
      };
    },
  });
  return new Proxy(s, {
    get(obj, prop) {
      if (prop === "records") return records;
      // A node that has not heard of the store's latest changes yet (its snapshot is behind).
      if (prop === "version" && hooks.frozenVersion !== null) return async () => hooks.frozenVersion;
      const value = Reflect.get(obj, prop, obj) as unknown;
      return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
    },
  });
}

let t: TestGateway;
const tok: Record<string, string> = {};
const logs: string[] = [];
beforeAll(async () => {
  t = await startTestGateway({ wrapStore: hooked, log: (l) => logs.push(l) });
  tok.applicant = await createIdentity(t, "app@race", ["applicant"], "bw-cyber");
  tok.officer = await createIdentity(t, "off@race", ["compliance-officer"]);
  for (const a of ["a1", "a2"]) tok[a] = await createIdentity(t, `${a}@race`, ["approver"]);
});
afterAll(() => t.gateway.close());

const activate = (v: number | string, reason = "r") =>
  call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${v}/activate`, { reason });

describe("changes racing an activation", () => {
  let v2 = 0;
  beforeAll(async () => {
    v2 = ((await asAdmin(t, "POST", "/admin/v1/schemes", { yaml: withX })) as Json).version as number;
  });

  it("a license checked against a snapshot that is behind the store is refused, not stored", async () => {
    expect((await activate(v2)).status).toBe(200);
    // Another node rolls back to version 1; this node has not heard of it yet.
    hooks.frozenVersion = await raw.version();
    await activateVersion(raw, 1, "admin@elsewhere", new Date().toISOString(), { reason: "rollback" });
    const applied = await call(
      t,
      tok.applicant!,
      "POST",
      "/admin/v1/licenses",
      application({ id: "LIC-STALE", models: ["x-1"] }),
    );
    hooks.frozenVersion = null;
    expect(applied.status).toBe(400);
    expect(JSON.stringify(applied.body)).toContain("x-1");
    expect(await raw.records.get("license", "LIC-STALE")).toBeUndefined();
  });

  it("an activation landing between a license's check and its write makes the write refuse", async () => {
    expect((await activate(v2)).status).toBe(200);
    // The check has read the active version and the licenses; the rollback commits just then.
    hooks.onList.set("license", async () => {
      await activateVersion(raw, 1, "admin@elsewhere", new Date().toISOString(), { reason: "rollback" });
    });
    const applied = await call(
      t,
      tok.applicant!,
      "POST",
      "/admin/v1/licenses",
      application({ id: "LIC-RACE", models: ["x-1"] }),
    );
    expect(applied.status).toBe(409);
    expect(await raw.records.get("license", "LIC-RACE")).toBeUndefined();
  });

  it("a license written between an activation's check and its write makes the activation refuse", async () => {
    expect((await activate(v2)).status).toBe(200);
    let injected = false;
    // activateVersion's own check lists the licenses; one for x-1 is filed just after.
    hooks.onList.set("license", async () => {
      hooks.onList.set("license", async () => {
        const record = apply(
          {
            id: "LIC-MID",
            licensee: { organization: "bw-cyber" },
            terms: { ...terms(), models: ["x-1"] },
            justification: "filed on another node",
          },
          "app@elsewhere",
          new Date().toISOString(),
        );
        await raw.records.put("license", "LIC-MID", record, 0, {
          actor: "app@elsewhere",
          action: "license.apply",
        });
        injected = true;
      });
    });
    const rolled = await activate(1, "rollback");
    expect(injected).toBe(true);
    expect(rolled.status).toBe(409);
    const versions = (await asAdmin(t, "GET", "/admin/v1/schemes")) as Json;
    expect(versions.data.find((v: Json) => v.active).version).toBe(v2);
  });
});

describe("a store holding what does not compile with the active version", () => {
  it("still applies revocations; the misfit is left out (fail closed) and reported", async () => {
    await call(
      t,
      tok.applicant!,
      "POST",
      "/admin/v1/licenses",
      application({ id: "LIC-FR", destinations: ["FR"] }),
    );
    for (const a of ["a1", "a2"]) await call(t, tok[a]!, "POST", "/admin/v1/licenses/LIC-FR/approve", {});
    expect(await ask(t, "erik", "FR")).toMatchObject({ status: 200, reason: "license" });
    // Version 1 is made active, which has no x-1, while licenses for x-1 are in the store (as a race
    // with an older build, or a hand-edited database, could leave them): LIC-MID, pending, and an
    // approved one at IT.
    const pointer = (await raw.records.get("setting", "active-scheme"))!;
    await raw.records.put(
      "setting",
      "active-scheme",
      { version: 1, activated_by: "x", activated_at: new Date().toISOString() },
      pointer.revision,
      { actor: "x", action: "scheme.activate" },
    );
    const x = apply(
      {
        id: "LIC-XIT",
        licensee: { organization: "bw-cyber" },
        terms: { ...terms(), models: ["x-1", "mythos-5"], destinations: ["IT"] },
        justification: "j",
      },
      "app@elsewhere",
      new Date().toISOString(),
    );
    await raw.records.put("license", "LIC-XIT", { ...x, status: "approved" }, 0, {
      actor: "x",
      action: "license.seed",
    });

    const revoked = await call(t, tok.officer!, "POST", "/admin/v1/licenses/LIC-FR/revoke", {
      reason: "stop",
    });
    expect(revoked.status).toBe(200);
    // In force at once: the reload did not fail on LIC-XIT.
    expect(await ask(t, "erik", "FR")).toMatchObject({ reason: "no-authorization" });
    // LIC-XIT grants nothing (mythos-5 at IT would be allowed by it) ...
    expect((await ask(t, "erik", "IT")).reason).not.toBe("license");
    // ... and it is reported: in the admin API and in the gateway's log.
    const versions = (await asAdmin(t, "GET", "/admin/v1/schemes")) as Json;
    const active = versions.data.find((v: Json) => v.active);
    expect(active.version).toBe(1);
    expect(active.left_out).toEqual([
      expect.objectContaining({ kind: "license", id: "LIC-MID" }),
      expect.objectContaining({
        kind: "license",
        id: "LIC-XIT",
        problems: [expect.objectContaining({ path: ["models", 0] })],
      }),
    ]);
    // Approving what does not compile is refused, naming why.
    const approved = await call(t, tok.a1!, "POST", "/admin/v1/licenses/LIC-MID/approve", {});
    expect(approved.status).toBe(400);
    expect(JSON.stringify(approved.body)).toContain("x-1");
    expect(logs.some((l) => l.includes("LIC-XIT") && l.includes("x-1"))).toBe(true);
    // Key revocations apply too.
    const key = t.keys.get("erik")!;
    const id = key.split("_")[1]!;
    expect(await asAdmin(t, "POST", `/admin/v1/keys/${id}/revoke`, {})).toMatchObject({ revoked: true });
    expect((await ask(t, "erik", "FR")).status).toBe(401);
  });
});

function terms() {
  const a = application();
  return {
    models: a.models as string[],
    actions: ["infer" as const],
    destinations: a.destinations as string[],
    valid_from: daysFromNow(-1),
    valid_until: daysFromNow(365),
    quota_period: "total" as const,
  };
}

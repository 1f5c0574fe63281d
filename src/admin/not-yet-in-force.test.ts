/**
 * A suspension or revocation stored while this node's reload right after it fails: the change stands
 * (durable, audited, in force at the next successful reload here and at the next poll elsewhere), so
 * the answer stays 200, but it says the change is not yet in force on this node, and the CLI prints
 * that. Before, the answer was a plain 200, read as "in force now".
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { run } from "../cli/program.js";
import type { Io } from "../cli/io.js";
import { asAdmin, eventually } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
/** The store's version check fails, as a PostgreSQL that refuses connections would; writes go through. */
let storeDown = false;
/** The store answers, but its records hold no active scheme version: no policy can be built. */
let noActiveVersion = false;

beforeAll(async () => {
  t = await startTestGateway({
    extra: "freshness_ms: 600000",
    wrapStore: (s) =>
      new Proxy(s, {
        get(obj, prop) {
          if (prop === "version" && storeDown)
            return () =>
              Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
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

/** Runs the CLI in-process against the gateway as the bootstrap admin. */
async function cli(args: string[]) {
  const saved = process.env.CLEARANCE_TOKEN;
  process.env.CLEARANCE_TOKEN = ADMIN_TOKEN;
  let out = "";
  let err = "";
  const io: Io = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: () => "" };
  try {
    const code = await run([...args, "--url", t.url], io);
    return { code, out, err };
  } finally {
    if (saved === undefined) delete process.env.CLEARANCE_TOKEN;
    else process.env.CLEARANCE_TOKEN = saved;
  }
}

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
    expect(body.not_yet_in_force).toMatchObject({ code: "reload_failed" });
    expect(body.not_yet_in_force.message).toMatch(
      /^license BIS-2026-0001 was changed in the store, but is not yet in force on this node: this node could not reload from the store \(ECONNREFUSED: connect ECONNREFUSED\)/,
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
      /^warning: license BIS-2026-0001 was changed in the store, but is not yet in force on this node/,
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
      /^partner uk-aisi was changed in the store, but is not yet in force on this node: the policy could not be loaded from the store/,
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

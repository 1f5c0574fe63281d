/**
 * Errors reach the caller through one table from error kind to status: a concurrent change is 409,
 * an unknown object 404, bad input 400, on every route — not 500 where a route forgot to translate.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Store } from "../store/index.js";
import { asAdmin, call, type Reply } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
/** While armed, partner writes wait until two have arrived: both computed from the same revision. */
let gate: { arrived: number; open: () => void; opened: Promise<void> } | null = null;

function gated(store: Store): Store {
  const put = store.records.put.bind(store.records);
  const records = {
    ...store.records,
    put: (async (collection, id, document, expected, change) => {
      if (gate !== null && collection === "partner") {
        if (++gate.arrived === 2) gate.open();
        await gate.opened;
      }
      return put(collection, id, document, expected, change);
    }) as Store["records"]["put"],
  };
  return new Proxy(store, {
    get: (s, p) => {
      if (p === "records") return records;
      const value = Reflect.get(s, p, s) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(s) : value;
    },
  });
}

beforeAll(async () => {
  t = await startTestGateway({ wrapStore: gated });
  await asAdmin(t, "POST", "/admin/v1/partners", {
    kind: "organization",
    partner: {
      id: "race-lab",
      name: "Race Lab",
      country: "IN",
      assurance: "verified",
      locations: ["IN"],
      grants: [{ models: ["mythos-5"], actions: ["infer"] }],
    },
    reason: "evaluation partnership",
  });
});
afterAll(() => t.gateway.close());

const status = (to: string): Promise<Reply> =>
  call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/race-lab/status", { status: to, reason: `to ${to}` });

describe("one table from error kind to status", () => {
  it("two status changes of one partner at once: one succeeds, the other is 409 conflict (was 500)", async () => {
    let open = () => undefined as void;
    const opened = new Promise<void>((resolve) => (open = resolve));
    gate = { arrived: 0, open, opened };
    const both = await Promise.all([status("active"), status("active")]);
    gate = null;
    expect(both.map((r) => r.status).sort()).toEqual([200, 409]);
    const lost = both.find((r) => r.status === 409) as Reply;
    expect(lost.body.error.code).toBe("conflict");
    expect(lost.body.error.message).toMatch(/changed meanwhile/);
    // The winner's change stands, once.
    const read = await asAdmin(t, "GET", "/admin/v1/partners/race-lab");
    expect(read.partner.status).toBe("active");
    expect(read.history.map((h: { to: string }) => h.to)).toEqual(["applied", "active"]);
  });

  it("unknown objects are 404 and bad input 400 on every kind of route", async () => {
    const key = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/keys", { principal: "nobody" });
    expect(key.status).toBe(404);
    const partner = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/partners/nobody");
    expect(partner.status).toBe(404);
    const bad = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/partners/race-lab/status", { status: "gone" });
    expect({ status: bad.status, code: bad.body.error.code }).toEqual({
      status: 400,
      code: "invalid_request",
    });
    // A malformed percent-escape in a path is the caller's error, not a 500.
    const escape = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/partners/%E0%A4%A");
    expect(escape.status).toBe(400);
    expect(escape.body.error.code).toBe("invalid_path");
  });
});

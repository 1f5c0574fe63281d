/**
 * Behind a load balancer, /readyz and an admin change's answer may come from different nodes: each
 * names the node that answered (`audit.node`, the name its audit entries carry), so the console
 * clears a "not yet in force" warning only on that same node's word. Before, neither named its node.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin, eventually } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
/** The store's version check fails, as a PostgreSQL refusing connections would; writes go through. */
let storeDown = false;

beforeAll(async () => {
  t = await startTestGateway({
    // Short, so the node goes not ready (503) while the store is down.
    extra: "freshness_ms: 400\naudit:\n  node: gw-7",
    wrapStore: (s) =>
      new Proxy(s, {
        get(obj, prop) {
          if (prop === "version" && storeDown)
            return () =>
              Promise.reject(Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }));
          const value = Reflect.get(obj, prop, obj) as unknown;
          return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
        },
      }),
  });
});
afterAll(async () => {
  await t.gateway.close();
});

const readyz = async () => {
  const r = await fetch(`${t.url}/readyz`);
  return { status: r.status, body: (await r.json()) as { node?: unknown; reload?: unknown } };
};

describe("the node that answered, named", () => {
  it("/readyz names its node (audit.node), ready or not", async () => {
    const ok = await readyz();
    expect(ok.status).toBe(200);
    expect(ok.body.node).toBe("gw-7");
    expect(ok.body.reload).toBeUndefined();
    storeDown = true;
    try {
      const down = await eventually(readyz, (r) => r.status === 503);
      expect(down.status).toBe(503);
      expect(down.body.node).toBe("gw-7");
      expect(down.body.reload).toMatchObject({ failed: true });
    } finally {
      storeDown = false;
    }
    expect((await eventually(readyz, (r) => r.status === 200)).body.node).toBe("gw-7");
  });

  it("a change not yet in force names the node it is not in force on", async () => {
    storeDown = true;
    let body;
    try {
      body = await asAdmin(t, "POST", "/admin/v1/licenses/BIS-2026-0001/suspend", { reason: "check" });
    } finally {
      storeDown = false;
    }
    expect(body.status).toBe("suspended");
    expect(body.not_yet_in_force).toMatchObject({ code: "reload_failed", node: "gw-7" });
    // Its words name the node too: "this node" said nothing to a reader behind a load balancer.
    expect(body.not_yet_in_force.message).toBe(
      "license BIS-2026-0001 was changed in the store, but is not yet in force on node gw-7: it could not " +
        "reload from the store (ECONNREFUSED: connect ECONNREFUSED); it takes effect on gw-7 at its next " +
        "successful reload, and on other nodes at their next poll (see gw-7's /readyz)",
    );
  });
});

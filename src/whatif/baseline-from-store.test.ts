/**
 * A what-if asked of a node that has not yet loaded a partner change made through another node a
 * moment before: its baseline is the store's, as the policy an activation would replace is. Before,
 * the baseline took the store's active version but this node's snapshot's partners and licenses: a
 * partner suspended elsewhere still granted access in it, so the what-if said the candidate took
 * away access the suspension had already taken.
 *
 * Two nodes over one PostgreSQL. Node B cannot load the store's snapshot meanwhile (its reads fail,
 * as in admin/lists-from-store.test.ts): it stays at what it had, as a node does between a change
 * and the notification or poll that brings it. Its baseline, compiled when the what-if is asked, is
 * not compiled again at the job's turn. Skipped without PostgreSQL.
 */
import { afterAll, describe, expect, it, vi } from "vitest";
import type { RunningGateway } from "../gateway/server.js";
import { NODE_ADMIN_TOKEN as TOKEN, nodeGroup, type NodeGroup } from "../testing/nodes.js";
import { dropSchemas, freshSchema, skipReason } from "../testing/postgres.js";
import { readFileSync } from "node:fs";
import type { Json } from "../testing/admin.js";
import type * as Effective from "../control/effective.js";

/** Policies compiled from a version and the store's partners and licenses (the baseline's cost). */
const compiled = vi.hoisted(() => ({ count: 0 }));
vi.mock("../control/effective.js", async (original) => {
  const actual = await original<typeof Effective>();
  return {
    ...actual,
    compileFitting: (...args: Parameters<typeof actual.compileFitting>) => {
      compiled.count++;
      return actual.compileFitting(...args);
    },
  };
});

if (skipReason !== undefined) console.warn(`src/whatif/baseline-from-store.test.ts: SKIPPED, ${skipReason}`);

const G7 = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
// The UK embargoed: what chloe (uk-aisi's evaluator) is served from GB is taken away.
const EMBARGO_UK = G7.replace("name: g7-trusted-partners", "name: g7-embargo-uk").replace(
  "embargoed: [EAR_E1, EAR_E2]",
  "embargoed: [EAR_E1, EAR_E2, GB]",
);

async function admin(g: RunningGateway, method: string, path: string, body?: unknown): Promise<Json> {
  const res = await fetch(`${g.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  expect(res.status, text).toBeLessThan(300);
  return JSON.parse(text) as Json;
}

describe.skipIf(skipReason !== undefined)(
  skipReason === undefined
    ? "a what-if on a node that has not loaded a partner change made on another node"
    : `a what-if's baseline over two nodes: SKIPPED, ${skipReason}`,
  () => {
    let group: NodeGroup | undefined;
    afterAll(async () => {
      await group?.close();
      await dropSchemas();
    });
    /** Node B's snapshot reads fail: it cannot load what changed in the store. */
    let behind = false;

    it(
      "measures from the partners the store holds, as once the node has loaded them",
      { timeout: 60_000 },
      async () => {
        const { url } = await freshSchema();
        group = nodeGroup(url);
        const a = await group.start("node-a");
        const b = await group.start("node-b", "", url, {
          wrapStore: (s) =>
            new Proxy(s, {
              get(obj, prop) {
                if (prop === "snapshot" && behind)
                  return () =>
                    Promise.reject(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
                const value = Reflect.get(obj, prop, obj) as unknown;
                return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
              },
            }),
        });
        // chloe, seen in GB (the population is where principals were seen), served on uk-aisi's grant.
        await admin(
          b,
          "POST",
          "/admin/v1/principals",
          JSON.parse(readFileSync("examples/principals/uk-aisi-evaluator.json", "utf8")) as unknown,
        );
        const { key } = (await admin(b, "POST", "/admin/v1/keys", { principal: "chloe" })) as { key: string };
        const asked = await fetch(`${b.url}/v1/chat/completions`, {
          method: "POST",
          headers: {
            authorization: `Bearer ${key}`,
            "content-type": "application/json",
            "x-test-country": "GB",
          },
          body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
        });
        expect([asked.status, asked.headers.get("x-clearance-reason")]).toEqual([
          200,
          "partner-organization",
        ]);
        await b.audit.log.publish();
        const { version } = (await admin(b, "POST", "/admin/v1/schemes", { yaml: EMBARGO_UK })) as {
          version: number;
        };
        const whatIf = async () =>
          (await admin(b, "POST", `/admin/v1/schemes/${version}/what-if`, {})) as Json;

        behind = true;
        try {
          await admin(a, "POST", "/admin/v1/partners/uk-aisi/status", {
            status: "suspended",
            reason: "review of the institute's access",
          });
          // What the test is about: node B still holds the partner active.
          await b.snapshot.refresh();
          const held = b.snapshot.current.control.partners.find((p) => p.id === "uk-aisi");
          expect(held?.document.partner.status).toBe("active");
          compiled.count = 0;
          const measured = await whatIf();
          // The store's baseline compiled once: when asked, and kept at its turn (nothing changed).
          expect(compiled.count).toBe(1);
          // Nothing measured from the suspended partner's grant (what the candidate would take away).
          expect(
            (measured.population.groups as Json[]).filter((g) => g.from.reason === "partner-organization"),
          ).toEqual([]);
          behind = false;
          await b.snapshot.refresh();
          expect(
            b.snapshot.current.control.partners.find((p) => p.id === "uk-aisi")?.document.partner.status,
          ).toBe("suspended");
          const loaded = await whatIf();
          // The same what-if either way: the suspension's, not the partner's access, is the baseline.
          const { summary, groups } = loaded.population as Json;
          expect({ summary: measured.population.summary, groups: measured.population.groups }).toEqual({
            summary,
            groups,
          });
          expect(measured.digest).toBe(loaded.digest);
        } finally {
          behind = false;
        }
      },
    );
  },
);

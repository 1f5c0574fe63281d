/**
 * The principals list's prefix filter: the console's API key form finds any principal by the start
 * of its id or name, however many there are, rather than choosing among the first 500.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, type Json } from "../../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
  for (let i = 0; i < 3; i++) await t.gateway.store.principals.put({ id: `bulk-${i}`, residence: "US" });
  await t.gateway.store.principals.put({ id: "p-7731", name: "Zoë Quist", residence: "FR" });
  await t.gateway.store.principals.put({ id: "Quentin", residence: "FR" });
  await t.gateway.store.principals.put({ id: "org-1", organization: "acme" });
  await t.gateway.store.principals.put({ id: "org-2", organization: { id: "acme", country: "DE" } });
});
afterAll(() => t.gateway.close());

const ids = async (query: string) => {
  const r = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/principals?${query}`);
  expect(r.status).toBe(200);
  return { ids: r.body.data.map((p: Json) => p.id), next: r.body.next_cursor };
};

describe("GET /admin/v1/principals?prefix=", () => {
  it("lists the principals whose id or name starts with it, letter case aside, paged", async () => {
    // Before: the prefix was not a parameter; the list answered every principal.
    expect(await ids("prefix=bulk-")).toEqual({ ids: ["bulk-0", "bulk-1", "bulk-2"], next: null });
    expect(await ids("prefix=zo%C3%AB")).toEqual({ ids: ["p-7731"], next: null });
    expect(await ids("prefix=P-77")).toEqual({ ids: ["p-7731"], next: null });
    expect(await ids("prefix=qu")).toEqual({ ids: ["Quentin"], next: null });
    expect(await ids("prefix=bulk-&limit=2")).toEqual({ ids: ["bulk-0", "bulk-1"], next: "bulk-1" });
    expect(await ids("prefix=bulk-&limit=2&cursor=bulk-1")).toEqual({ ids: ["bulk-2"], next: null });
    expect(await ids("prefix=nobody")).toEqual({ ids: [], next: null });
  });

  it("lists an organization's principals, with a prefix too, paged", async () => {
    expect(await ids("organization=acme")).toEqual({ ids: ["org-1", "org-2"], next: null });
    expect(await ids("organization=acme&limit=1")).toEqual({ ids: ["org-1"], next: "org-1" });
    expect(await ids("organization=acme&limit=1&cursor=org-1")).toEqual({ ids: ["org-2"], next: null });
    expect(await ids("organization=acme&prefix=ORG-2")).toEqual({ ids: ["org-2"], next: null });
    expect(await ids("organization=acme&prefix=bulk")).toEqual({ ids: [], next: null });
  });

  it("an empty prefix is refused, naming the parameter", async () => {
    const r = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/principals?prefix=");
    expect(r.status).toBe(400);
    expect(r.body.error.problems[0]).toMatchObject({ path: "prefix" });
  });
});

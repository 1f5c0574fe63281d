/**
 * The partners list's prefix filter: the console's identity provider form finds any partner by the
 * start of its id or name, rather than reading every partner for its choice.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { asAdmin, call, type Json } from "../../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../../testing/gateway.js";

let t: TestGateway;
const partner = (id: string, name?: string) => ({
  kind: "organization",
  partner: {
    id,
    ...(name === undefined ? {} : { name }),
    country: "IN",
    assurance: "verified",
    locations: ["IN"],
    grants: [{ models: ["mythos-5"], actions: ["infer"] }],
  },
  reason: "evaluation partnership",
});
beforeAll(async () => {
  t = await startTestGateway();
  for (let i = 0; i < 3; i++) await asAdmin(t, "POST", "/admin/v1/partners", partner(`lab-${i}`));
  await asAdmin(t, "POST", "/admin/v1/partners", partner("in-7731", "Ödön Labs"));
});
afterAll(() => t.gateway.close());

const ids = async (query: string) => {
  const r = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/partners?${query}`);
  expect(r.status).toBe(200);
  return { ids: r.body.data.map((p: Json) => p.id), next: r.body.next_cursor };
};

describe("GET /admin/v1/partners?prefix=", () => {
  it("lists the partners whose id or name starts with it, letter case aside, paged", async () => {
    // Before: the prefix was not a parameter; the list answered every partner.
    expect(await ids("prefix=LAB-")).toEqual({ ids: ["lab-0", "lab-1", "lab-2"], next: null });
    expect(await ids("prefix=%C3%B6d%C3%B6n")).toEqual({ ids: ["in-7731"], next: null });
    expect(await ids("prefix=lab-&limit=2")).toEqual({ ids: ["lab-0", "lab-1"], next: "lab-1" });
    expect(await ids("prefix=lab-&limit=2&cursor=lab-1")).toEqual({ ids: ["lab-2"], next: null });
    expect(await ids("prefix=lab-&status=active")).toEqual({ ids: [], next: null });
    expect(await ids("prefix=nobody")).toEqual({ ids: [], next: null });
  });

  it("an empty prefix is refused, naming the parameter", async () => {
    const r = await call(t, ADMIN_TOKEN, "GET", "/admin/v1/partners?prefix=");
    expect(r.status).toBe(400);
    expect(r.body.error.problems[0]).toMatchObject({ path: "prefix" });
  });
});

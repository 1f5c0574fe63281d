/**
 * `GET /admin/v1/principals?prefix=`, letter case aside beyond ASCII: before, both sides were
 * lowercased, so "ΑΣ" (lowercased "ας", its sigma taken as word-final) missed "Αστέριος", and
 * "STRASS" missed "Straße AG" (ß is "SS" in capitals, never lowercased from them).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { call, type Json } from "../../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
  await t.gateway.store.principals.put({ id: "p-1", name: "Αστέριος Παπαδόπουλος", residence: "GR" });
  await t.gateway.store.principals.put({ id: "p-2", name: "Straße AG", residence: "DE" });
});
afterAll(() => t.gateway.close());

const ids = async (prefix: string) => {
  const r = await call(t, ADMIN_TOKEN, "GET", `/admin/v1/principals?prefix=${encodeURIComponent(prefix)}`);
  expect(r.status).toBe(200);
  return r.body.data.map((p: Json) => p.id);
};

describe("GET /admin/v1/principals?prefix=, letter case aside", () => {
  it("finds a Greek name by its start in capitals, a sigma last included", async () => {
    for (const p of ["Α", "ΑΣ", "Ασ", "ΑΣΤ", "αστέριος"]) expect(await ids(p), p).toEqual(["p-1"]);
  });

  it("finds ß by SS and ss", async () => {
    for (const p of ["STRASS", "strass", "Straß", "STRASSE AG"]) expect(await ids(p), p).toEqual(["p-2"]);
    expect(await ids("strat")).toEqual([]);
  });
});

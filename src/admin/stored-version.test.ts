/**
 * A stored scheme version an older release accepted, holding what newer checks refuse, read over the
 * admin API as it loads: its diff and its what-if answer, saying what of it is left out; activating
 * it is still refused naming the field (upload a corrected copy), as a new upload of it is.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedFromFile } from "../control/seed.js";
import { call, type Json } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { EXAMPLE, OLDER_VERSION, storeAsOlderRelease } from "../testing/older-release.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    seed: async (store) => {
      await seedFromFile(store, EXAMPLE, "2026-11-21T00:00:00Z");
      await storeAsOlderRelease(store, "2026-11-22T00:00:00Z");
    },
  });
}, 60_000);
afterAll(() => t?.gateway.close());

const get = (path: string) => call(t, ADMIN_TOKEN, "GET", path);
const post = (path: string, body: unknown) => call(t, ADMIN_TOKEN, "POST", path, body);
const ids = (leftOut: Json[]) => leftOut.map((l: Json) => [l.kind, l.id]);
const OLDER_LEFT_OUT = [
  ["license", "BIS-2026-0002"],
  ["partner", "uk-aisi"],
  ["partner", "UK-AISI"],
];

describe("a stored version an older release accepted, over the admin API", () => {
  it("while active: reads as it loads, saying what of it is left out", async () => {
    const r = await get("/admin/v1/schemes/2");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({
      version: 2,
      active: true,
      yaml: OLDER_VERSION,
      diff: { identical: true },
    });
    expect(ids(r.body.left_out_as_stored)).toEqual(OLDER_LEFT_OUT);
    expect(r.body.left_out_as_stored[0].problems[0]).toMatchObject({ code: "empty", path: ["purposes"] });
  });

  it("another version's what-if answers: what the policy in force leaves out is not its doing", async () => {
    // Activation of version 1 is not refused for what stays left out, so its impact can be reviewed.
    const whatIf = await post("/admin/v1/schemes/1/what-if", {});
    expect(whatIf.status, JSON.stringify(whatIf.body)).toBe(200);
    expect(whatIf.body.report).toBe("what-if");
  });

  it("activating another version is answered as done, listing what stays left out", async () => {
    const r = await post("/admin/v1/schemes/1/activate", { reason: "back to the example" });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ version: 1, active: true });
    expect(r.body.left_out.map((l: Json) => l.id)).toEqual(["BIS-2026-0002", "UK-AISI", "uk-aisi"]);
  });

  it("once another is active: its diff and what-if answer as it loads; activating it is refused", async () => {
    const r = await get("/admin/v1/schemes/2");
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ version: 2, active: false, diff: { identical: false } });
    expect(ids(r.body.left_out_as_stored)).toEqual(OLDER_LEFT_OUT);
    expect(r.body.diff.text).toMatch(/uk-aisi/);

    const whatIf = await post("/admin/v1/schemes/2/what-if", {});
    expect(whatIf.status, JSON.stringify(whatIf.body)).toBe(200);
    expect(whatIf.body.population.notes.join("\n")).toMatch(
      /version 2 as stored leaves out license BIS-2026-0002 .*purposes/,
    );

    const refused = await post("/admin/v1/schemes/2/activate", { reason: "roll back" });
    expect(refused.status).toBe(400);
    expect(refused.body.error.problems.map((p: Json) => p.path)).toEqual([
      "partners.organizations[1].id",
      "licenses[1].purposes",
    ]);
    expect((await get("/admin/v1/schemes")).body.data.find((v: Json) => v.version === 1).active).toBe(true);
  });

  it("an upload of the same text stays refused, naming the fields", async () => {
    const r = await post("/admin/v1/schemes", { yaml: OLDER_VERSION });
    expect(r.status).toBe(400);
    expect(r.body.error.problems.map((p: Json) => p.path)).toEqual([
      "partners.organizations[1].id",
      "licenses[1].purposes",
    ]);
  });
});

/**
 * A scheme version stored before YAML tags were refused (the tags read as if absent, as then) is
 * rolled back to like any other: activation reads it as stored, as start-up, its diff and its
 * what-if do. Only its upload again, as new input, is refused at the tag's line.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseStoredVersion } from "../control/effective.js";
import { seedFromFile } from "../control/seed.js";
import type { SchemeVersion } from "../control/types.js";
import { call } from "../testing/admin.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { EXAMPLE } from "../testing/older-release.js";

/** RU embargoed through a tag an upload is now refused for. */
const TAGGED = EXAMPLE.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: !list [EAR_E1, EAR_E2, !c RU]");

let t: TestGateway;
beforeAll(async () => {
  expect(TAGGED).not.toBe(EXAMPLE);
  t = await startTestGateway({
    seed: async (store) => {
      await seedFromFile(store, EXAMPLE, "2026-11-21T00:00:00Z");
      // Version 2, as a release that did not check tags stored it.
      const stored: SchemeVersion = {
        version: 2,
        name: "g7-trusted-partners",
        digest: "",
        text: TAGGED,
        uploaded_by: "admin",
        uploaded_at: "2026-11-22T00:00:00Z",
      };
      const version = { ...stored, digest: parseStoredVersion(stored).digest };
      await store.records.put("scheme", "2", version, 0, { actor: "admin", action: "older.release" });
    },
  });
}, 60_000);
afterAll(() => t?.gateway.close());

const activate = (version: number) =>
  call(t, ADMIN_TOKEN, "POST", `/admin/v1/schemes/${version}/activate`, { reason: "roll" });

describe("a version stored with YAML tags before they were refused", () => {
  it("is activated as it reads when stored, and rolled back to again", async () => {
    const to2 = await activate(2);
    expect(to2.status, JSON.stringify(to2.body)).toBe(200);
    expect(t.gateway.snapshot.current.control.active.document.version).toBe(2);
    expect(t.gateway.snapshot.current.control.scheme.embargoed.has("RU")).toBe(true);
    expect((await activate(1)).status).toBe(200);
    expect(t.gateway.snapshot.current.control.scheme.embargoed.has("RU")).toBe(false);
    expect((await activate(2)).status).toBe(200);
    expect(t.gateway.snapshot.current.control.scheme.embargoed.has("RU")).toBe(true);
  });

  it("is still refused as an upload, at the tag's line", async () => {
    const r = await call(t, ADMIN_TOKEN, "POST", "/admin/v1/schemes", { yaml: TAGGED });
    expect(r.status).toBe(400);
    expect(JSON.stringify(r.body)).toContain("yaml_tag");
  });
});

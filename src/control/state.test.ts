import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../store/index.js";
import { requireInForce } from "./in-force.js";
import { activateVersion, addVersion, seedFromFile } from "./seed.js";
import { buildState, updateState } from "./state.js";

describe("the control state", () => {
  it("is recompiled only when a policy record changes, not for identities, keys or principals", async () => {
    const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-state-")) });
    await seedFromFile(
      store,
      readFileSync("examples/g7-trusted-partners.yaml", "utf8"),
      "2026-11-21T00:00:00Z",
    );
    const first = buildState((await store.snapshot()).records);
    expect(first.scheme.licenses.has("BIS-2026-0001")).toBe(true);

    await store.principals.put({ id: "someone" });
    await store.records.put(
      "identity",
      "ivy",
      {
        id: "ivy",
        name: "Ivy",
        roles: ["viewer"],
        organization: null,
        token_hash: "ab",
        created_at: "x",
        revoked_at: null,
      },
      0,
      { actor: "t", action: "identity.create" },
    );
    const second = updateState(first, (await store.snapshot()).records);
    expect(second.scheme).toBe(first.scheme);
    expect(second.identities.has("ab")).toBe(true);

    const license = await store.records.get<{ status: string }>("license", "BIS-2026-0001");
    await store.records.put(
      "license",
      "BIS-2026-0001",
      { ...(license!.document as object), status: "revoked" },
      license!.revision,
      { actor: "t", action: "license.revoke" },
    );
    const third = updateState(second, (await store.snapshot()).records);
    expect(third.scheme).not.toBe(first.scheme);
    expect(third.scheme.licenses.get("BIS-2026-0001")?.status).toBe("revoked");
    await store.close();
  });

  it("leaves out (fail closed) and reports what does not compile, instead of failing to build", async () => {
    const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-state-")) });
    await seedFromFile(
      store,
      readFileSync("examples/g7-trusted-partners.yaml", "utf8"),
      "2026-11-21T00:00:00Z",
    );
    const partner = (await store.records.get<{ partner: { grants: { models: string[] }[] } }>(
      "partner",
      "eu-members",
    ))!;
    const broken = structuredClone(partner.document);
    broken.partner.grants[0]!.models = ["no-such-model"];
    await store.records.put("partner", "eu-members", broken, partner.revision, { actor: "t", action: "x" });
    const state = buildState((await store.snapshot()).records);
    expect(state.leftOut).toEqual([
      {
        kind: "partner",
        id: "eu-members",
        problems: [expect.objectContaining({ path: ["grants", 0, "models", 0] })],
      },
    ]);
    expect(state.scheme.countryPartners.some((p) => p.id === "eu-members")).toBe(false);
    expect(state.scheme.licenses.has("BIS-2026-0001")).toBe(true);
    expect(() => requireInForce(state, "partner", "eu-members")).toThrow(/left out.*no-such-model/);
    expect(() => requireInForce(state, "license", "BIS-2026-0001")).not.toThrow();
    await store.close();
  });

  it("reuses the active version as parsed while it stays active; parses the one activated", async () => {
    // Parsing a large version's YAML takes seconds per MB, on the event loop of every node, and any
    // partner or license change reloads the policy: the version itself, unchanged, is not parsed again.
    const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-state-")) });
    const example = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    await seedFromFile(store, example, "2026-11-21T00:00:00Z");
    const first = buildState((await store.snapshot()).records);
    const license = await store.records.get<{ status: string }>("license", "BIS-2026-0001");
    await store.records.put(
      "license",
      "BIS-2026-0001",
      { ...(license!.document as object), status: "revoked" },
      license!.revision,
      { actor: "t", action: "license.revoke" },
    );
    const second = updateState(first, (await store.snapshot()).records);
    expect(second.scheme).not.toBe(first.scheme);
    expect(second.base).toBe(first.base);

    const { version } = await addVersion(
      store,
      example.replace("[EAR_E1, EAR_E2]", "[EAR_E1, EAR_E2, BR]"),
      "t",
      "x",
    );
    const third = updateState(second, (await store.snapshot()).records);
    expect(third.base).toBe(first.base);
    await activateVersion(store, version, "t", "2026-11-21T00:00:00Z", { reason: "r" });
    const fourth = updateState(third, (await store.snapshot()).records);
    expect(fourth.base).not.toBe(first.base);
    expect(fourth.base.embargoed.has("BR")).toBe(true);
    await store.close();
  });
});

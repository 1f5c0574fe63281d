import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openStore } from "../store/index.js";
import { seedFromFile } from "./seed.js";
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
});

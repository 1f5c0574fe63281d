import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { seedFromFile } from "../control/seed.js";
import { parsePrincipal } from "../policy/index.js";
import { openStore, type Store } from "../store/index.js";
import { SnapshotHolder } from "./snapshot.js";

describe("the policy snapshot", () => {
  it("keeps confirming the store while the audit log is still writing the last change", async () => {
    const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-snapshot-")) });
    const scheme = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    await seedFromFile(store, scheme, new Date().toISOString());
    // Every version check the holder makes, as it happens.
    let checked: () => void = () => undefined;
    const watched: Store = new Proxy(store, {
      get(obj, prop) {
        if (prop === "version")
          return () => {
            checked();
            return obj.version();
          };
        const value = Reflect.get(obj, prop, obj) as unknown;
        return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
      },
    });
    const nextCheck = () => new Promise<void>((r) => (checked = r));
    // The audit log's drain of the change: held, as on a disk that takes seconds per write.
    let release: () => void = () => undefined;
    const drained = new Promise<void>((r) => (release = r));
    const holder = await SnapshotHolder.open(
      watched,
      (err) => {
        throw err;
      },
      () => drained,
    );
    await store.principals.put(parsePrincipal({ id: "p1", citizenships: [{ country: "US" }] }));
    const first = holder.refresh(); // loads the change; its drain is held
    await nextCheck();
    const confirmed = holder.confirmedAt;
    // The next version check happens although the drain has not finished (before, it waited).
    const checking = nextCheck();
    void holder.refresh();
    await checking;
    expect(holder.current.principals.has("p1")).toBe(true);
    expect(holder.confirmedAt).toBeGreaterThanOrEqual(confirmed);
    // The caller of the first refresh still waits for the drain.
    let firstDone = false;
    void first.then(() => (firstDone = true));
    await holder.refresh();
    expect(firstDone).toBe(false);
    release();
    await first;
    await store.close();
  });
});

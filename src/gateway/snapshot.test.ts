import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { activateVersion, addVersion, seedFromFile } from "../control/seed.js";
import type { ControlState } from "../control/state.js";
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

  it("a refused policy is not built again until its records change; the refusal stays, the rest takes effect", async () => {
    // Each poll (every 100 ms) while the store held a policy this node refuses rebuilt the whole
    // policy and asked `admit` again, for nothing: the same records make the same policy.
    const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-snapshot-")) });
    const scheme = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    const now = new Date().toISOString();
    await seedFromFile(store, scheme, now);
    // This node serves no version with a model "refused-x" (as refuseUnservable refuses one).
    const admitted: number[] = [];
    const admit = (control: ControlState) => {
      admitted.push(control.active.document.version);
      if (control.scheme.models.has("refused-x")) throw new Error("refused-x cannot be served here");
    };
    const errors: unknown[] = [];
    const holder = await SnapshotHolder.open(
      store,
      (err) => void errors.push(err),
      undefined,
      undefined,
      admit,
    );
    expect(admitted).toEqual([1]);

    // Another node activates a version this one refuses.
    const refused = scheme.replace(
      "  fable-4: { control: open }\n",
      "  fable-4: { control: open }\n  refused-x: { control: controlled }\n",
    );
    expect(refused).not.toBe(scheme);
    const { version } = await addVersion(store, refused, "elsewhere", now);
    await activateVersion(store, version, "elsewhere", now);
    await holder.refresh();
    expect(admitted).toEqual([1, 2]);
    expect(holder.current.control.reloadFailure).toBe("refused-x cannot be served here");
    expect(holder.lastFailure?.code).toBe("policy_not_loaded");
    const since = holder.lastFailure?.since;

    // Polls with nothing changed: not built again, still refused, said once.
    await holder.refresh();
    await holder.refresh();
    expect(admitted).toEqual([1, 2]);
    expect(holder.current.control.scheme.models.has("refused-x")).toBe(false);
    expect(holder.current.control.reloadFailure).toBe("refused-x cannot be served here");
    expect(holder.lastFailure).toMatchObject({ code: "policy_not_loaded", since });
    expect(errors.map((e) => (e as Error).message)).toEqual([
      "the store's policy could not be loaded (refused-x cannot be served here); the one before stays in force",
    ]);

    // A principal changes: it takes effect; the policy records have not changed, so still not built.
    await store.principals.put(parsePrincipal({ id: "p2", citizenships: [{ country: "US" }] }));
    await holder.refresh();
    expect(holder.current.principals.has("p2")).toBe(true);
    expect(admitted).toEqual([1, 2]);
    expect(holder.current.control.reloadFailure).toBe("refused-x cannot be served here");

    // The policy's records change (version 1 back in force): built, admitted, the refusal gone.
    await activateVersion(store, 1, "elsewhere", new Date().toISOString());
    await holder.refresh();
    expect(admitted).toEqual([1, 2, 1]);
    expect(holder.current.control.reloadFailure).toBeUndefined();
    expect(holder.current.control.refusedFingerprint).toBeUndefined();
    expect(holder.lastFailure).toBeNull();
    await store.close();
  });
  it("a version check counts as confirmed when it was sent, not when its slow answer arrived", async () => {
    // The store answers for some moment between the check's sending and its answer: counting the
    // answer's arrival added a slow answer's (or a blocked event loop's) delay to freshness_ms.
    const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-snapshot-")) });
    await seedFromFile(
      store,
      readFileSync("examples/g7-trusted-partners.yaml", "utf8"),
      new Date().toISOString(),
    );
    let sentAt = Number.NaN;
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let sent: () => void = () => undefined;
    const sending = new Promise<void>((r) => (sent = r));
    const slow: Store = new Proxy(store, {
      get(obj, prop) {
        if (prop === "version")
          return async () => {
            sentAt = performance.now();
            sent();
            const answer = await obj.version();
            await held; // the answer is held on its way back
            return answer;
          };
        const value = Reflect.get(obj, prop, obj) as unknown;
        return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
      },
    });
    const holder = await SnapshotHolder.open(slow, (err) => {
      throw err;
    });
    const refreshed = holder.refresh();
    await sending;
    // Held until the clock has moved on past the sending: the answer arrives later than it was asked.
    while (performance.now() <= sentAt) await new Promise((r) => setTimeout(r, 5));
    release();
    await refreshed;
    expect(holder.lastFailure).toBeNull();
    expect(holder.confirmedAt).toBeLessThanOrEqual(sentAt);
    await store.close();
  });
  it("the first snapshot counts as confirmed when the store was asked, not when its slow load ended", async () => {
    const store = await openStore({ dataDir: mkdtempSync(join(tmpdir(), "clearance-snapshot-")) });
    await seedFromFile(
      store,
      readFileSync("examples/g7-trusted-partners.yaml", "utf8"),
      new Date().toISOString(),
    );
    let askedAt = Number.NaN;
    const slow: Store = new Proxy(store, {
      get(obj, prop) {
        if (prop === "snapshot")
          return async () => {
            askedAt = performance.now();
            const answer = await obj.snapshot();
            // The answer held on its way back until the clock has moved on past the asking.
            while (performance.now() <= askedAt + 20) await new Promise((r) => setTimeout(r, 5));
            return answer;
          };
        const value = Reflect.get(obj, prop, obj) as unknown;
        return typeof value === "function" ? (value as () => unknown).bind(obj) : value;
      },
    });
    const holder = await SnapshotHolder.open(slow, (err) => {
      throw err;
    });
    // Before: confirmed when the load ended, so a slow first load counted as fresh.
    expect(holder.confirmedAt).toBeLessThanOrEqual(askedAt);
    await store.close();
  });
});

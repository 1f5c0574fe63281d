/**
 * The screening tables' contract, run by every driver (see screening.test.ts). Test-only.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidInputError } from "../errors/index.js";
import { StoreError, type Store } from "./index.js";
import type { EntryRow, FoundMatch, ImportInput } from "./screening.js";
import type { StoredPrincipal } from "./screening-current.js";

const entry = (id: string, digest = `d-${id}`): EntryRow => ({
  id,
  digest,
  document: JSON.stringify({ id, digest }),
});
const input = (entries: EntryRow[], digest = entries.map((e) => e.digest).join()): ImportInput => ({
  list: "test-list",
  format: "ofac-csv",
  published: "2026-01-01",
  digest,
  files: ["sdn.csv"],
  counts: { entries: entries.length },
  entries,
});
const found = (entryId: string, entryDigest = `d-${entryId}`): FoundMatch => ({
  list: "test-list",
  entryId,
  entryDigest,
  score: 0.93,
  explanation: { name: "x" },
});
const alice = { kind: "principal" as const, id: "alice" };

/**
 * A second session holding row locks until released: a driver with concurrent writers (PostgreSQL)
 * passes one so a race's interleaving is forced rather than left to timing. `statement` is
 * unqualified (the hold runs in the store's schema). Drivers whose writes are serialised pass none.
 */
export type Hold = (statement: string, params: readonly unknown[]) => Promise<Held>;

/** Row locks held by a second session (see Hold). */
export interface Held {
  /**
   * Resolves once `count` sessions wait behind the held locks (on them, or on a session that waits
   * on them): the store's statements started have queued, rather than assumed to after a pause.
   */
  queued(count: number): Promise<void>;
  /** Lets the locks go (the session's transaction ends). */
  release(): Promise<void>;
}

/**
 * A write on the open store's database past the store (`?` placeholders, unqualified names), as a
 * release whose store took any text but NUL wrote it: rows written before a check hold what they hold.
 */
export type WriteAsBefore = (statement: string, params: readonly unknown[]) => Promise<void>;

export function screeningSuite(
  name: string,
  open: () => Promise<Store>,
  writeAsBefore: WriteAsBefore,
  hold?: Hold,
): void {
  describe(`screening store contract: ${name}`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await open();
    });
    afterEach(async () => {
      await store.close();
    });

    it("an import's rescreen is held by its importer until recorded finished (audited)", async () => {
      const { version } = await store.screening.importList(input([entry("a")]), "tester");
      expect(version).toMatchObject({ version: 1, rescreened: false });
      // Held by the importer: another process takes it over only once the hold has run out.
      expect(await store.screening.holdRescreen("test-list", 1, false)).toBe(false);
      expect(await store.screening.holdRescreen("test-list", 1, true)).toBe(true);
      await store.screening.rescreened("test-list", 1, "tester", { subjects: 3 });
      expect((await store.screening.versions())[0]).toMatchObject({ version: 1, rescreened: true });
      expect(await store.screening.holdRescreen("test-list", 1, true)).toBe(false);
      const audit = (await store.outbox.list(0, 100)).filter((r) => r.action === "screening.rescreened");
      expect(audit).toMatchObject([{ details: { list: "test-list", version: 1, subjects: 3 } }]);
      // Recorded once: a second finish writes nothing.
      await store.screening.rescreened("test-list", 1, "tester", {});
      expect(
        (await store.outbox.list(0, 100)).filter((r) => r.action === "screening.rescreened"),
      ).toHaveLength(1);
      // A new digest with the same entries changes nothing: no rescreen to wait for.
      const same = await store.screening.importList(input([entry("a")], "other digest"), "tester");
      expect(same.version).toMatchObject({ version: 2, rescreened: true });
    });

    it("lists only the active versions, or only those whose rescreen has not finished", async () => {
      const other = (entries: EntryRow[]) => ({ ...input(entries), list: "other-list" });
      await store.screening.importList(input([entry("a")]), "tester");
      await store.screening.rescreened("test-list", 1, "tester", {});
      await store.screening.importList(input([entry("a"), entry("b")]), "tester");
      await store.screening.importList(input([entry("b")]), "tester");
      await store.screening.rescreened("test-list", 3, "tester", {});
      await store.screening.importList(other([entry("x")]), "tester");
      const of = (vs: { list: string; version: number }[]) => vs.map((v) => `${v.list}@${v.version}`);
      // Newest first, as every listing of versions.
      expect(of(await store.screening.versions())).toEqual([
        "other-list@1",
        "test-list@3",
        "test-list@2",
        "test-list@1",
      ]);
      expect(of(await store.screening.versions(undefined, "active"))).toEqual([
        "other-list@1",
        "test-list@3",
      ]);
      // Version 2 was superseded before its rescreen finished: still unfinished, though not active.
      const unfinished = await store.screening.versions(undefined, "unfinished");
      expect(of(unfinished)).toEqual(["other-list@1", "test-list@2"]);
      expect(unfinished[1]).toMatchObject({ rescreened: false, diff: { added: ["b"] } });
      expect(of(await store.screening.versions("test-list", "unfinished"))).toEqual(["test-list@2"]);
      expect(of(await store.screening.versions("test-list", "active"))).toEqual(["test-list@3"]);
      await store.screening.rescreened("test-list", 2, "tester", {});
      expect(of(await store.screening.versions("test-list", "unfinished"))).toEqual([]);
    });

    it("imports versions with their diff; an identical file is not imported twice", async () => {
      const v1 = await store.screening.importList(input([entry("a"), entry("b"), entry("c")]), "tester");
      expect(v1.unchanged).toBe(false);
      expect(v1.version).toMatchObject({
        version: 1,
        active: true,
        diff: { added: ["a", "b", "c"], removed: [], changed: [] },
      });
      const again = await store.screening.importList(input([entry("a"), entry("b"), entry("c")]), "tester");
      expect(again).toMatchObject({ unchanged: true, version: { version: 1 } });
      const v2 = await store.screening.importList(
        input([entry("a"), entry("b", "d-b2"), entry("d")]),
        "tester",
      );
      expect(v2.version).toMatchObject({
        version: 2,
        diff: { added: ["d"], removed: ["c"], changed: ["b"] },
      });
      const versions = await store.screening.versions("test-list");
      expect(versions.map((v) => [v.version, v.active])).toEqual([
        [2, true],
        [1, false],
      ]);
      expect((await store.screening.entries("test-list", 1)).map((e) => e.id)).toEqual(["a", "b", "c"]);
      expect((await store.screening.entries("test-list", 2)).map((e) => e.digest)).toEqual([
        "d-a",
        "d-b2",
        "d-d",
      ]);
      const audit = (await store.outbox.list(0, 100)).filter((r) => r.action === "screening.import");
      expect(audit.map((r) => r.object.id)).toEqual(["test-list@1", "test-list@2"]);
      expect(audit[1]!.details).toMatchObject({ added: 1, removed: 1, changed: 1 });
    });

    it("an import that fails leaves the previous version active and nothing of it stored", async () => {
      await store.screening.importList(input([entry("a")]), "tester");
      const bad = input([entry("x"), entry("x")]); // a duplicate id violates the primary key
      await expect(store.screening.importList(bad, "tester")).rejects.toThrow();
      const versions = await store.screening.versions("test-list");
      expect(versions.map((v) => [v.version, v.active])).toEqual([[1, true]]);
      expect(await store.screening.entries("test-list", 2)).toEqual([]);
    });

    it("takes a list name or subject id holding a NUL for unknown, as no stored one holds one (PostgreSQL's text cannot)", async () => {
      await store.screening.importList(input([entry("a")]), "tester");
      expect(await store.screening.versions("test-list\u0000")).toEqual([]);
      expect(await store.screening.entries("test-list\u0000", 1)).toEqual([]);
      expect(await store.screening.matches({ subjectId: "a\u0000b" })).toEqual([]);
      await expect(store.screening.review("m\u0000", "cleared", "officer", "x")).rejects.toMatchObject({
        code: "unknown-match",
      });
    });

    it("potential matches set the status; review confirms or clears, with reviewer and reason", async () => {
      const v0 = await store.version();
      await store.screening.record(
        [{ subject: alice, found: [found("a"), found("b")], scope: "all" }],
        "screener",
      );
      expect(await store.version()).toBeGreaterThan(v0);
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "alice", status: "potential" },
      ]);
      const queue = await store.screening.matches({ status: "potential" });
      expect(queue.map((m) => m.entry_id)).toEqual(["a", "b"]);
      const [a, b] = queue;
      await store.screening.review(a!.id, "cleared", "rita", "different birth date");
      expect((await store.screening.statuses())[0]?.status).toBe("potential");
      const confirmed = await store.screening.review(b!.id, "confirmed", "rita", "same passport");
      expect(confirmed).toMatchObject({ status: "confirmed", reviewer: "rita", reason: "same passport" });
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "alice", status: "confirmed" },
      ]);
      const audit = (await store.outbox.list(0, 100)).filter((r) => r.action.startsWith("screening."));
      expect(audit.map((r) => r.action)).toEqual([
        "screening.match",
        "screening.match",
        "screening.status",
        "screening.clear",
        "screening.confirm",
        "screening.status",
      ]);
      expect(audit[3]).toMatchObject({
        actor: "rita",
        details: { reason: "different birth date", to: "cleared" },
      });
      await expect(store.screening.review("nope", "cleared", "rita", "x")).rejects.toSatisfy(
        (e) => e instanceof StoreError && e.code === "unknown-match",
      );
    });

    it("refuses a reviewer or reason holding a control character or a bidirectional control, naming the field, with nothing written", async () => {
      await store.screening.record([{ subject: alice, found: [found("a")], scope: "all" }], "screener");
      const [m] = await store.screening.matches();
      const v = await store.version();
      const cases: [string, string, string, string][] = [
        ["rita\u009b2J", "not her", "control_character", "reviewer"],
        ["rita\u001b[2J", "not her", "control_character", "reviewer"],
        ["rita\u202e", "not her", "bidi_control", "reviewer"],
        ["rita", "not her\u007f", "control_character", "reason"],
        ["rita", "not her\u2066", "bidi_control", "reason"],
      ];
      for (const [reviewer, reason, code, field] of cases) {
        const err = await store.screening.review(m!.id, "cleared", reviewer, reason).catch((e: unknown) => e);
        expect(err, JSON.stringify([reviewer, reason])).toBeInstanceOf(InvalidInputError);
        expect((err as InvalidInputError).problems).toEqual([
          expect.objectContaining({ code, path: [field] }),
        ]);
      }
      expect(await store.version()).toBe(v);
      expect((await store.screening.matches())[0]).toMatchObject({ status: "potential", reviewer: null });
      // Tab and line breaks pass, as in the admin API and the CLI; right-to-left letters too.
      const row = await store.screening.review(m!.id, "cleared", "rita", "not her:\n\tborn 1990, עברית");
      expect(row).toMatchObject({ status: "cleared", reason: "not her:\n\tborn 1990, עברית" });
    });

    it("a clearance holds until the entry changes; a rescreen resolves what no longer matches", async () => {
      await store.screening.record([{ subject: alice, found: [found("a")], scope: "all" }], "screener");
      const [m] = await store.screening.matches();
      await store.screening.review(m!.id, "cleared", "rita", "not her");
      await store.screening.record([{ subject: alice, found: [found("a")], scope: "all" }], "screener");
      expect((await store.screening.matches())[0]?.status).toBe("cleared");
      expect(await store.screening.statuses()).toEqual([]);
      await store.screening.record(
        [{ subject: alice, found: [found("a", "d-a2")], scope: "all" }],
        "screener",
      );
      expect((await store.screening.matches())[0]).toMatchObject({
        status: "potential",
        entry_digest: "d-a2",
      });
      // An incremental screening of other entries leaves this match alone; a full one resolves it.
      await store.screening.record(
        [{ subject: alice, found: [], scope: { list: "test-list", entryIds: new Set(["z"]) } }],
        "screener",
      );
      expect((await store.screening.matches())[0]?.status).toBe("potential");
      expect(await store.screening.record([{ subject: alice, found: [], scope: "all" }], "screener")).toEqual(
        {
          changed: 1,
          resolved: 1,
          stale: [],
        },
      );
      expect((await store.screening.matches())[0]?.status).toBe("resolved");
      expect(await store.screening.statuses()).toEqual([]);
    });

    it("a clearance holds for the subject's facts it was given for; when they change it reopens", async () => {
      const screen = (facts: string) =>
        store.screening.record([{ subject: alice, found: [found("a")], facts, scope: "all" }], "screener");
      await screen("facts-1");
      const [m] = await store.screening.matches();
      expect(m).toMatchObject({ status: "potential", subject_digest: "facts-1" });
      await store.screening.review(m!.id, "cleared", "rita", "not her: French, born 1990");
      await screen("facts-1");
      expect((await store.screening.matches())[0]?.status).toBe("cleared");
      // Her birth date and citizenship are set (the facts the matcher reads): the clearance was
      // given for other facts, so it goes back to the queue, saying why.
      await screen("facts-2");
      expect((await store.screening.matches())[0]).toMatchObject({
        status: "potential",
        subject_digest: "facts-2",
        reviewer: null,
        reason: "the subject's facts changed since it was cleared",
      });
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "alice", status: "potential" },
      ]);
      const audit = (await store.outbox.list(0, 100)).filter((r) => r.action === "screening.match");
      expect(audit.at(-1)!.details).toMatchObject({
        from: "cleared",
        to: "potential",
        reason: "the subject's facts changed since it was cleared",
      });
      // Still open at the next screening, with the reason; cleared again, it holds for the new facts.
      await screen("facts-2");
      expect((await store.screening.matches())[0]?.reason).toBe(
        "the subject's facts changed since it was cleared",
      );
      await store.screening.review(m!.id, "cleared", "rita", "born 1990 still; the passport differs");
      await screen("facts-2");
      expect((await store.screening.matches())[0]).toMatchObject({ status: "cleared", reviewer: "rita" });
      expect(await store.screening.statuses()).toEqual([]);
    });

    it("a clearance given before the facts were kept takes the facts of the next screening", async () => {
      // A row from before store schema 8 (or a screening that did not say) has no facts digest.
      await store.screening.record([{ subject: alice, found: [found("a")], scope: "all" }], "screener");
      const [m] = await store.screening.matches();
      expect(m?.subject_digest).toBeNull();
      await store.screening.review(m!.id, "cleared", "rita", "not her");
      const screen = (facts: string) =>
        store.screening.record([{ subject: alice, found: [found("a")], facts, scope: "all" }], "screener");
      await screen("facts-1");
      expect((await store.screening.matches())[0]).toMatchObject({
        status: "cleared",
        subject_digest: "facts-1",
      });
      await screen("facts-2");
      expect((await store.screening.matches())[0]?.status).toBe("potential");
    });

    it("a reviewer's confirmation survives a concurrent full rescreen that no longer finds the entry", async () => {
      await store.screening.record([{ subject: alice, found: [found("a")], scope: "all" }], "screener");
      const mid = "principal:alice|test-list|a";
      // The review reads the match and queues behind the held row; the rescreen starts meanwhile, so
      // both saw "potential" before either wrote (what READ COMMITTED without locks let through).
      const held = await hold?.("SELECT 1 FROM screening_matches WHERE id = ? FOR UPDATE", [mid]);
      const review = store.screening.review(mid, "confirmed", "rita", "same person");
      await held?.queued(1);
      const rescreen = store.screening.record([{ subject: alice, found: [], scope: "all" }], "screener");
      await held?.queued(2);
      await held?.release();
      await expect(review).resolves.toMatchObject({ status: "confirmed" });
      await rescreen;
      expect((await store.screening.matches())[0]).toMatchObject({ status: "confirmed", reviewer: "rita" });
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "alice", status: "confirmed" },
      ]);
    });

    it("a rescreen that resolved a match first makes a concurrent review refuse, not undo it", async () => {
      await store.screening.record([{ subject: alice, found: [found("a")], scope: "all" }], "screener");
      const mid = "principal:alice|test-list|a";
      const held = await hold?.("SELECT 1 FROM screening_matches WHERE id = ? FOR UPDATE", [mid]);
      const rescreen = store.screening.record([{ subject: alice, found: [], scope: "all" }], "screener");
      await held?.queued(1);
      const review = store.screening.review(mid, "confirmed", "rita", "same person");
      // Its handler is attached now: the refusal can come while the rescreen is still awaited.
      const refused = expect(review).rejects.toSatisfy(
        (e) => e instanceof StoreError && e.code === "conflict",
      );
      await held?.queued(2);
      await held?.release();
      await rescreen;
      await refused;
      expect((await store.screening.matches())[0]).toMatchObject({ status: "resolved" });
      expect(await store.screening.statuses()).toEqual([]);
    });

    it("concurrent imports of one list take consecutive versions", async () => {
      await store.screening.importList(input([entry("a")]), "tester");
      // Both imports read the active version and max(version) while the held row stalls their UPDATE.
      const held = await hold?.("SELECT 1 FROM screening_lists WHERE list = ? AND active = 1 FOR UPDATE", [
        "test-list",
      ]);
      const first = store.screening.importList(input([entry("a"), entry("b")]), "ops-a");
      await held?.queued(1);
      const second = store.screening.importList(input([entry("a"), entry("c")]), "ops-b");
      await held?.queued(2);
      await held?.release();
      const done = await Promise.all([first, second]);
      expect(done.map((d) => d.version.version).sort()).toEqual([2, 3]);
      const versions = await store.screening.versions("test-list");
      expect(versions.map((v) => [v.version, v.active])).toEqual([
        [3, true],
        [2, false],
        [1, false],
      ]);
      // The later import's diff is against the earlier one, not against version 1.
      expect(versions[0]!.diff.removed).toHaveLength(1);
    });

    it("matches whose entry was removed are resolved", async () => {
      await store.screening.record(
        [{ subject: { kind: "organization", id: "acme" }, found: [found("a")], scope: "all" }],
        "screener",
      );
      const [m] = await store.screening.matches();
      await store.screening.review(m!.id, "confirmed", "rita", "same company");
      expect(await store.screening.resolveRemoved("test-list", ["a"], "importer")).toBe(1);
      expect((await store.screening.matches())[0]).toMatchObject({ status: "resolved" });
      expect(await store.screening.statuses()).toEqual([]);
      await expect(store.screening.review(m!.id, "confirmed", "rita", "x")).rejects.toSatisfy(
        (e) => e instanceof StoreError && e.code === "conflict",
      );
    });

    it("a hold for review is not raised anew on a subject a reviewer already reviewed with the same facts", async () => {
      const bob = { kind: "principal" as const, id: "bob" };
      const carol = { kind: "principal" as const, id: "carol" };
      const hold: FoundMatch = {
        list: "screening",
        entryId: "indistinct-name",
        entryDigest: "indistinct-name",
        score: 0.86,
        explanation: {},
        reason: "nothing distinctive to screen",
        hold: true,
      };
      // Matches reviewed before holds existed: cleared (alice), confirmed (bob), cleared for other facts (carol).
      await store.screening.record(
        [alice, bob, carol].map((subject) => ({
          subject,
          found: [found("a")],
          facts: "f1",
          scope: "all" as const,
        })),
        "screener",
      );
      await store.screening.review("principal:alice|test-list|a", "cleared", "rita", "Anna Schmidt");
      await store.screening.review("principal:bob|test-list|a", "confirmed", "rita", "same passport");
      await store.screening.review("principal:carol|test-list|a", "cleared", "rita", "Carol Jones");
      const screen = (subject: typeof alice, facts: string) =>
        store.screening.record([{ subject, found: [hold], facts, scope: "all" }], "screener");
      await screen(alice, "f1");
      await screen(bob, "f1");
      await screen(carol, "f2");
      const holds = new Map(
        (await store.screening.matches()).filter((m) => m.list === "screening").map((m) => [m.subject_id, m]),
      );
      expect(holds.get("alice")).toMatchObject({
        status: "cleared",
        reviewer: "rita",
        reason:
          'not held: "rita" already reviewed this subject with these facts (cleared on "test-list" entry "a": "Anna Schmidt")',
      });
      expect(holds.get("bob")).toMatchObject({ status: "cleared", reviewer: "rita" });
      expect(holds.get("carol")).toMatchObject({ status: "potential", reviewer: null });
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id: "bob", status: "confirmed" },
        { kind: "principal", id: "carol", status: "potential" },
      ]);
      const audit = (await store.outbox.list(0, 1000)).filter(
        (r) => r.object.id === "principal:alice|screening|indistinct-name",
      );
      expect(audit.map((r) => [r.action, r.actor])).toEqual([["screening.clear", "screener"]]);
      // Once recorded, the hold is reviewed on its own: a reopened hold is not cleared again by it.
      await screen(alice, "f3");
      expect(
        (await store.screening.matches({ subjectId: "alice" })).find((m) => m.list === "screening"),
      ).toMatchObject({
        status: "potential",
        reason: "the subject's facts changed since it was cleared",
      });
    });

    it("a hold not raised for an earlier review quotes its reviewer and reason: no C1 control or bidi override raw", async () => {
      // The store refuses such text in a review now, but rows written before that check hold what
      // they hold (an older release took any text but NUL): the hold's reason says them escaped.
      await store.screening.record(
        [{ subject: alice, found: [found("a")], facts: "f1", scope: "all" }],
        "screener",
      );
      await store.screening.review("principal:alice|test-list|a", "cleared", "rita", "Anna Schmidt");
      await writeAsBefore("UPDATE screening_matches SET reviewer = ?, reason = ? WHERE id = ?", [
        "ri\u009bta",
        "Anna\u202e Schmidt\u007f",
        "principal:alice|test-list|a",
      ]);
      const hold: FoundMatch = { ...found("indistinct-name"), list: "screening", hold: true };
      await store.screening.record(
        [{ subject: alice, found: [hold], facts: "f1", scope: "all" }],
        "screener",
      );
      const held = (await store.screening.matches({ subjectId: "alice" })).find(
        (m) => m.list === "screening",
      );
      expect(held).toMatchObject({ status: "cleared", reviewer: "ri\u009bta" });
      expect(held?.reason).toBe(
        'not held: "ri\\u009bta" already reviewed this subject with these facts (cleared on "test-list" entry "a": "Anna\\u202e Schmidt\\u007f")',
      );
    });

    it("a removed entry listed again: its confirmation is restored, its clearance stayed (or lapses if it changed)", async () => {
      const acme = { kind: "organization" as const, id: "acme" };
      const bolt = { kind: "organization" as const, id: "bolt" };
      const again = (entryDigest = "d-a") =>
        store.screening.record(
          [acme, bolt].map((subject) => ({
            subject,
            found: [found("a", entryDigest)],
            scope: { list: "test-list", entryIds: new Set(["a"]) },
          })),
          "screener",
        );
      await again();
      await store.screening.review("organization:acme|test-list|a", "confirmed", "rita", "same company");
      await store.screening.review("organization:bolt|test-list|a", "cleared", "rita", "another company");
      expect(await store.screening.resolveRemoved("test-list", ["a"], "importer")).toBe(1);
      expect(await store.screening.statuses()).toEqual([]);
      // The reviewer's reason is kept aside; the text still reads as release 4faae71 wrote it, for a
      // node of that release sharing the database (see prefixRowListedAgain).
      expect((await store.screening.matches({ subjectId: "acme" }))[0]).toMatchObject({
        status: "resolved",
        reason: 'the entry was removed from the list while confirmed: "same company"',
      });
      await again();
      const rows = new Map((await store.screening.matches()).map((m) => [m.subject_id, m]));
      expect(rows.get("acme")).toMatchObject({
        status: "confirmed",
        reviewer: "rita",
        reason: '"same company" (confirmed before the entry was removed from the list; it is listed again)',
      });
      expect(rows.get("bolt")).toMatchObject({ status: "cleared", reason: "another company" });
      expect(await store.screening.statuses()).toEqual([
        { kind: "organization", id: "acme", status: "confirmed" },
      ]);
      expect(await store.screening.resolveRemoved("test-list", ["a"], "importer")).toBe(1);
      await again("d-a-changed");
      expect((await store.screening.matches({ subjectId: "bolt" }))[0]).toMatchObject({
        status: "potential",
        reason: "the entry changed since it was cleared",
      });
    });

    it("a confirmation on a removed entry carries over to the entries replacing it; the status stays", async () => {
      const acme = { kind: "organization" as const, id: "acme" };
      await store.screening.record([{ subject: acme, found: [found("a"), found("b")], scope: "all" }], "x");
      await store.screening.review("organization:acme|test-list|a", "confirmed", "rita", "same company");
      // The replacing entry a2 already has an open match (a rescreen found it first): it is confirmed.
      await store.screening.record(
        [{ subject: acme, found: [found("a2")], scope: { list: "test-list", entryIds: new Set(["a2"]) } }],
        "x",
      );
      const heirs = new Map([
        ["a", [{ id: "a2", digest: "d-a2" }]],
        ["b", [{ id: "b2", digest: "d-b2" }]],
      ]);
      expect(await store.screening.resolveRemoved("test-list", ["a", "b"], "importer", heirs)).toBe(2);
      const rows = new Map((await store.screening.matches()).map((m) => [m.entry_id, m]));
      expect(rows.get("a")).toMatchObject({ status: "resolved" });
      expect(rows.get("a2")).toMatchObject({ status: "confirmed", reviewer: "rita", entry_digest: "d-a2" });
      expect(rows.get("a2")?.reason).toBe(
        '"same company" (confirmed on entry "a", which the list replaced with this one: same name and address)',
      );
      // Only a confirmation carries over: b was potential, so b2 gets nothing until a screening finds it.
      expect(rows.get("b")).toMatchObject({ status: "resolved" });
      expect(rows.has("b2")).toBe(false);
      expect(await store.screening.statuses()).toEqual([
        { kind: "organization", id: "acme", status: "confirmed" },
      ]);
    });

    it("a review of a resolved match is refused naming the match quoted, as the other messages name it", async () => {
      const odd = { kind: "principal" as const, id: 'al"ice\u202e' };
      await store.screening.record([{ subject: odd, found: [found("a")], scope: "all" }], "screener");
      await store.screening.record([{ subject: odd, found: [], scope: "all" }], "screener");
      const err = await store.screening
        .review('principal:al"ice\u202e|test-list|a', "confirmed", "rita", "same person")
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreError);
      expect(err).toMatchObject({
        code: "conflict",
        message:
          'screening match "principal:al\\"ice\\u202e|test-list|a" is resolved (its entry is gone or no longer matches)',
      });
    });

    it("a confirmation restored or carried over quotes the reviewer's text once, however often its entry leaves and returns", async () => {
      const acme = { kind: "organization" as const, id: "acme" };
      const again = (entryId: string) =>
        store.screening.record(
          [
            {
              subject: acme,
              found: [found(entryId)],
              scope: { list: "test-list", entryIds: new Set([entryId]) },
            },
          ],
          "screener",
        );
      await again("a");
      await store.screening.review("organization:acme|test-list|a", "confirmed", "rita", "same company");
      // A reason an older release took (any text but NUL): shown escaped wherever it is copied.
      await writeAsBefore("UPDATE screening_matches SET reason = ? WHERE id = ?", [
        "same\u202e company\u009b",
        "organization:acme|test-list|a",
      ]);
      const reason = async (entryId: string) =>
        (await store.screening.matches({ subjectId: "acme" })).find((m) => m.entry_id === entryId)?.reason;
      const RESTORED =
        '"same\\u202e company\\u009b" (confirmed before the entry was removed from the list; it is listed again)';
      for (let round = 0; round < 3; round++) {
        expect(await store.screening.resolveRemoved("test-list", ["a"], "importer")).toBe(1);
        expect(await reason("a")).toBe(
          `the entry was removed from the list while confirmed: ${round === 0 ? '"same\\u202e company\\u009b"' : RESTORED}`,
        );
        await again("a");
        // Not "\"same…\" (…)" (…) at each re-listing: the reviewer's text is quoted once, our note said once.
        expect(await reason("a")).toBe(RESTORED);
      }
      // Carried over to the entries replacing it (ids from the list, quoted): the same text, a note more.
      const heirs = new Map([["a", [{ id: 'b"2', digest: "d-b2" }]]]);
      expect(await store.screening.resolveRemoved("test-list", ["a"], "importer", heirs)).toBe(1);
      expect(await reason("a")).toBe(
        'the entry was removed from the list; its confirmation carries over to "b\\"2" (same name and address)',
      );
      const CARRIED = `${RESTORED} (confirmed on entry "a", which the list replaced with this one: same name and address)`;
      expect(await reason('b"2')).toBe(CARRIED);
      await store.screening.resolveRemoved(
        "test-list",
        ['b"2'],
        "importer",
        new Map([['b"2', [{ id: "c", digest: "d-c" }]]]),
      );
      expect(await reason("c")).toBe(
        `${CARRIED} (confirmed on entry "b\\"2", which the list replaced with this one: same name and address)`,
      );
      expect(await store.screening.statuses()).toEqual([{ ...acme, status: "confirmed" }]);
    });

    it("records a principal's screening only while the store holds the facts screened (else stale)", async () => {
      // The facts digest stands in for the screening's (src/screening/subjects.ts): here the name.
      const current = (s: StoredPrincipal) =>
        [s.principal?.name, s.federated?.display_name].filter((n): n is string => typeof n === "string");
      await store.principals.put({ id: "alice", name: "Alice Now", residence: "NL" }, "cli");
      const fid = "fed:uk-gov:1";
      await store.federated.record([
        {
          id: fid,
          provider: "uk-gov-idp",
          partner: "uk-gov",
          issuer: "https://id.example.gov.uk",
          subject: "1",
          display_name: "Fed Now",
          principal: { id: fid, citizenships: [{ country: "GB" }] },
          first_seen: "2030-01-01T00:00:00.000Z",
          last_seen: "2030-01-01T00:00:00.000Z",
          issued_at: 1000,
        },
      ]);
      const screening = (id: string, facts: string, kind: "principal" | "organization" = "principal") => ({
        subject: { kind, id },
        found: [found("a")],
        facts,
        scope: "all" as const,
      });
      const r = await store.screening.record(
        [
          screening("alice", "Alice Before"), // renamed since: stale
          screening("gone", "Gone Before"), // deleted (or never stored): stale
          screening(fid, "Fed Before"), // a federated principal's newer token renamed it: stale
          screening(fid, "Fed Now"),
          screening("acme", "Acme", "organization"), // organizations are not checked
        ],
        "screener",
        current,
      );
      expect(r.stale).toEqual([
        { kind: "principal", id: "alice" },
        { kind: "principal", id: "gone" },
        { kind: "principal", id: fid },
      ]);
      expect((await store.screening.matches()).map((m) => [m.subject_id, m.subject_digest])).toEqual([
        ["acme", "Acme"],
        [fid, "Fed Now"],
      ]);
      // The facts the store holds are recorded; without `current`, nothing is checked.
      expect((await store.screening.record([screening("alice", "Alice Now")], "s", current)).stale).toEqual(
        [],
      );
      expect((await store.screening.record([screening("gone", "Gone")], "s")).stale).toEqual([]);
      expect((await store.screening.statuses()).map((s) => s.id)).toEqual(["acme", "alice", fid, "gone"]);
    });

    it("statuses carry federated principals' clearances (for their in-memory screening), no one else's", async () => {
      const id = "fed:uk-gov:1";
      await store.federated.record([
        {
          id,
          provider: "uk-gov-idp",
          partner: "uk-gov",
          issuer: "https://id.example.gov.uk",
          subject: "1",
          display_name: "Abdulhai Salek",
          principal: { id, citizenships: [{ country: "GB" }] },
          first_seen: "2030-01-01T00:00:00.000Z",
          last_seen: "2030-01-01T00:00:00.000Z",
          issued_at: 1000,
        },
      ]);
      const fed = { kind: "principal" as const, id };
      await store.screening.record(
        [
          { subject: fed, found: [found("a"), found("b")], facts: "f-1", scope: "all" },
          { subject: alice, found: [found("a")], facts: "f-a", scope: "all" },
        ],
        "screener",
      );
      await store.screening.review(`principal:${id}|test-list|a`, "cleared", "rita", "not him");
      await store.screening.review("principal:alice|test-list|a", "cleared", "rita", "not her");
      const cleared = [{ list: "test-list", entry_id: "a", entry_digest: "d-a", subject_digest: "f-1" }];
      expect(await store.screening.statuses()).toEqual([
        { kind: "principal", id, status: "potential", cleared },
      ]);
      await store.screening.review(`principal:${id}|test-list|b`, "cleared", "rita", "not him either");
      expect(await store.screening.statuses()).toEqual([
        {
          kind: "principal",
          id,
          status: "clear",
          cleared: [...cleared, { ...cleared[0], entry_id: "b", entry_digest: "d-b" }],
        },
      ]);
    });
  });
}

/**
 * Matches resolved with their entry's removal as stored before migration 10 (in migration 8's
 * columns: id, subject_kind, subject_id, list, entry_id, entry_digest, subject_digest, score,
 * status, explanation, reviewer, reason, created_at, updated_at): acme's confirmation as release
 * 4faae71 kept it (behind a prefix of the reason), bolt's review as releases before it left it
 * (confirmed or cleared: the row does not say).
 */
export const OLD_RESOLVED_ROWS = [
  ["acme", "the entry was removed from the list while confirmed: same company"],
  ["bolt", "the entry was removed from the list"],
].map(([id, reason]) => [
  `organization:${id}|test-list|a`,
  "organization",
  id,
  "test-list",
  "a",
  "d-a",
  "f1",
  0.93,
  "resolved",
  JSON.stringify({ name: "x" }),
  "rita",
  reason,
  "2030-01-01T00:00:00.000Z",
  "2030-01-02T00:00:00.000Z",
]);

/** A store migrated with OLD_RESOLVED_ROWS (both drivers' upgrade tests): the entry listed again. */
export async function oldResolvedRowsListedAgain(store: Store): Promise<void> {
  expect((await store.screening.matches({ subjectId: "acme" }))[0]).toEqual(
    expect.objectContaining({
      status: "resolved",
      reason: "the entry was removed from the list while confirmed (same company)",
    }),
  );
  expect(Object.keys((await store.screening.matches())[0]!)).not.toContain("resolved_confirmation");
  await store.screening.record(
    ["acme", "bolt"].map((id) => ({
      subject: { kind: "organization" as const, id },
      found: [found("a")],
      facts: "f1",
      scope: { list: "test-list", entryIds: new Set(["a"]) },
    })),
    "screener",
  );
  const rows = new Map((await store.screening.matches()).map((m) => [m.subject_id, m]));
  expect(rows.get("acme")).toMatchObject({
    status: "confirmed",
    reviewer: "rita",
    reason: '"same company" (confirmed before the entry was removed from the list; it is listed again)',
  });
  // Not guessed either way: open again, naming who reviewed it.
  expect(rows.get("bolt")).toMatchObject({
    status: "potential",
    reviewer: null,
    reason:
      'listed again: "rita" reviewed it before the entry was removed from the list (whether confirmed or cleared is in the audit log); review it again',
  });
  expect(await store.screening.statuses()).toEqual([
    { kind: "organization", id: "acme", status: "confirmed" },
    { kind: "organization", id: "bolt", status: "potential" },
  ]);
}

/**
 * A store at migration 10 holding OLD_RESOLVED_ROWS[0] as a node of release 4faae71 still running
 * beside newer ones writes it (the prefix in the reason, the new column left null), the entry then
 * listed again on a newer node (both drivers' upgrade tests).
 */
export async function prefixRowListedAgain(store: Store): Promise<void> {
  const acme = { kind: "organization" as const, id: "acme" };
  const again = () =>
    store.screening.record(
      [
        {
          subject: acme,
          found: [found("a")],
          facts: "f1",
          scope: { list: "test-list", entryIds: new Set(["a"]) },
        },
      ],
      "screener",
    );
  await again();
  // Confirmed, as the node that resolved it would restore it: not merely potential (open models served).
  expect((await store.screening.matches({ subjectId: "acme" }))[0]).toMatchObject({
    status: "confirmed",
    reviewer: "rita",
    reason: '"same company" (confirmed before the entry was removed from the list; it is listed again)',
  });
  expect(await store.screening.statuses()).toEqual([{ ...acme, status: "confirmed" }]);
  // The other way round: resolved here in the text that build reads, so it restores it too.
  expect(await store.screening.resolveRemoved("test-list", ["a"], "importer")).toBe(1);
  expect((await store.screening.matches({ subjectId: "acme" }))[0]).toMatchObject({
    status: "resolved",
    reason:
      'the entry was removed from the list while confirmed: "same company" (confirmed before the entry was removed from the list; it is listed again)',
  });
}

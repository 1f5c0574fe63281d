import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Principal } from "../policy/types.js";
import { openStore, type FederatedPrincipalRecord, type Store } from "../store/index.js";
import { ScreeningEngine } from "./engine.js";
import { screenFederated } from "./federated.js";
import { importInput } from "./lists.js";
import { rescreenAll } from "./rescreen.js";
import { statusMaps } from "./status.js";
import { factsDigest, principalSubject } from "./subjects.js";
import type { ListEntry } from "./types.js";

const listed = (id: string, name: string): ListEntry => ({
  id,
  type: "person",
  names: [{ name, strength: "strong", kind: "primary" }],
  birth_dates: [],
  nationalities: [],
  countries: [],
  addresses: [],
  identifiers: [],
  programs: ["SDGT"],
});
const salek = listed("sdn-1", "SALEK, Abdulhai");
const lists = (entries: readonly ListEntry[]) =>
  importInput({
    list: "sdn",
    format: "ofac-csv",
    published: null,
    digest: "v1",
    files: ["sdn.csv"],
    entries,
  });
const engine = ScreeningEngine.fromLists([{ list: "sdn", entries: [{ entry: salek, digest: "d1" }] }]);

const fed = (id: string, citizenship = "GB"): Principal => ({
  id,
  citizenships: [{ country: citizenship }],
  permanent_residencies: [],
  residence: "GB",
  organization: null,
  assurance: "verified",
  screening: "clear",
});
const none = statusMaps([]);

describe("screening partners' federated principals", () => {
  it("sends a listed name to review on its first request, before any background pass", () => {
    const p = screenFederated(fed("fed:uk-gov:1"), "Abdulhai Salek", none, engine);
    expect(p.screening).toBe("potential");
  });

  it("leaves a name on no list clear, and a principal without a name as it came", () => {
    expect(screenFederated(fed("fed:uk-gov:2"), "Jane Smith", none, engine).screening).toBe("clear");
    expect(screenFederated(fed("fed:uk-gov:3"), null, none, engine).screening).toBe("clear");
  });

  it("without lists loaded, keeps what the record says (as for every principal)", () => {
    expect(screenFederated(fed("fed:uk-gov:1"), "Abdulhai Salek", none, null).screening).toBe("clear");
  });
});

describe("what review recorded reaches a federated principal's next token (a real store)", () => {
  const root = mkdtempSync(join(tmpdir(), "clearance-federated-screening-"));
  let dirs = 0;
  let store: Store;
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  beforeEach(async () => {
    store = await openStore({ dataDir: join(root, `d${++dirs}`) });
  });
  afterEach(async () => {
    await store.close();
  });

  const federated = (displayName: string): FederatedPrincipalRecord => ({
    id: "fed:uk-gov:1",
    provider: "uk-gov-idp",
    partner: "uk-gov",
    issuer: "https://id.example.gov.uk",
    subject: "1",
    display_name: displayName,
    principal: fed("fed:uk-gov:1"),
    first_seen: "2030-01-01T00:00:00.000Z",
    last_seen: "2030-01-01T00:00:00.000Z",
    issued_at: 1000,
  });

  /** As the gateway has it: the principal written down from its token, then the background pass. */
  async function recorded(entries: readonly ListEntry[], displayName = "Abdulhai Salek") {
    await store.screening.importList(lists(entries), "officer");
    await store.federated.record([federated(displayName)]);
    const engine = await ScreeningEngine.load(store);
    await rescreenAll(store, { actor: "screening", engine });
    return engine;
  }
  const nextToken = async (
    engine: ScreeningEngine,
    principal = fed("fed:uk-gov:1"),
    displayName = "Abdulhai Salek",
  ) =>
    screenFederated(principal, displayName, statusMaps(await store.screening.statuses()), engine).screening;

  it("a clearance holds (clear), for that entry version and those facts only", async () => {
    const engine = await recorded([salek]);
    expect(await nextToken(engine)).toBe("potential");
    const [m] = await store.screening.matches({ status: "potential" });
    await store.screening.review(m!.id, "cleared", "rita", "a different person: born 1990");
    expect(await nextToken(engine)).toBe("clear");
    // Other facts in a later token (a Russian citizenship) are not what was cleared.
    expect(await nextToken(engine, fed("fed:uk-gov:1", "RU"))).toBe("potential");
    // Nor is another version of the entry (what the lists say now, after an import).
    const changed = ScreeningEngine.fromLists([{ list: "sdn", entries: [{ entry: salek, digest: "d2" }] }]);
    expect(await nextToken(changed)).toBe("potential");
  });

  it("a clearance of one entry leaves another entry's match counting", async () => {
    const engine = await recorded([salek, listed("sdn-2", "SALEK, Abdul Hai")]);
    const [first, second] = await store.screening.matches({ status: "potential" });
    expect(second).toBeDefined();
    await store.screening.review(first!.id, "cleared", "rita", "not him");
    expect(await nextToken(engine)).toBe("potential");
    await store.screening.review(second!.id, "cleared", "rita", "not him either");
    expect(await nextToken(engine)).toBe("clear");
  });

  it("a confirmation denies", async () => {
    const engine = await recorded([salek]);
    const [m] = await store.screening.matches({ status: "potential" });
    await store.screening.review(m!.id, "confirmed", "rita", "same passport");
    expect(await nextToken(engine)).toBe("confirmed");
  });

  it("a name with nothing distinctive is held for review; the reviewer's clearance holds for its tokens", async () => {
    // Initials alone: the old screening found nothing, and every token passed as clear.
    const engine = await recorded([salek], "A. S.");
    expect(await nextToken(engine, fed("fed:uk-gov:1"), "A. S.")).toBe("potential");
    const [m] = await store.screening.matches({ status: "potential" });
    expect(m).toMatchObject({ entry_id: "indistinct-name", list: "screening" });
    await store.screening.review(m!.id, "cleared", "rita", "Anna Schmidt, per the partner's HR record");
    expect(await nextToken(engine, fed("fed:uk-gov:1"), "A. S.")).toBe("clear");
  });

  it("a principal a reviewer already reviewed with these facts is not held anew for its indistinct name", async () => {
    // As after an upgrade: a clearance from before holds existed, for the name the principal still
    // has; the hold never recorded for it.
    await store.screening.importList(lists([salek]), "officer");
    await store.federated.record([federated("A. S.")]);
    const facts = factsDigest(principalSubject({ ...fed("fed:uk-gov:1"), name: "A. S." })!.facts);
    const { digest } = (await store.screening.entries("sdn", 1))[0]!;
    const earlier = { list: "sdn", entryId: "sdn-1", entryDigest: digest, score: 0.9, explanation: {} };
    const principal = { kind: "principal" as const, id: "fed:uk-gov:1" };
    await store.screening.record(
      [{ subject: principal, found: [earlier], facts, scope: "all" }],
      "screening",
    );
    const [m] = await store.screening.matches();
    await store.screening.review(m!.id, "cleared", "rita", "not him: Anna Schmidt");
    const engine = await ScreeningEngine.load(store);
    // Its next token, before the background pass has recorded anything; and after.
    expect(await nextToken(engine, fed("fed:uk-gov:1"), "A. S.")).toBe("clear");
    await rescreenAll(store, { actor: "screening", engine });
    expect(await store.screening.matches({ status: "potential" })).toEqual([]);
    expect(await nextToken(engine, fed("fed:uk-gov:1"), "A. S.")).toBe("clear");
    // Other facts (a new citizenship) are not what rita reviewed: held.
    expect(await nextToken(engine, fed("fed:uk-gov:1", "RU"), "A. S.")).toBe("potential");
  });
});

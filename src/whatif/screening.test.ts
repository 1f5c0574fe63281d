/**
 * The what-if decides people as the gateway does: with what screening and review found for them
 * (the status the data plane lays over the store's record), not with the record's own status. A
 * denied party the gateway refuses everything is denied under both schemes, so no candidate gains
 * or loses it anything (a real gateway, the embedded store, a real audit log).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directorySource } from "../audit/source.js";
import { footprintReport } from "../report/footprint.js";
import { parsePeriod } from "../report/period.js";
import { matchId } from "../store/screening.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { candidateScheme, whatIfReport, type WhatIfReport } from "./report.js";

const G7 = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
// India embargoed: everyone in India loses every model, unless already denied everything.
const CANDIDATE = G7.replace("name: g7-trusted-partners", "name: g7-embargo-in").replace(
  "embargoed: [EAR_E1, EAR_E2]",
  "embargoed: [EAR_E1, EAR_E2, IN]",
);

let t: TestGateway;

async function ask(who: string, country: string): Promise<string> {
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${t.keys.get(who)}`,
      "content-type": "application/json",
      "x-test-country": country,
    },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hello" }] }),
  });
  await res.arrayBuffer();
  return `${res.headers.get("x-clearance-decision")} ${res.headers.get("x-clearance-reason")}`;
}

beforeAll(async () => {
  t = await startTestGateway({ extra: "audit: { checkpoint_ms: 50 }" });
  expect(await ask("devi", "IN")).toBe("fallback no-authorization");
  // Screening finds devi on a list and a reviewer confirms it: a denied party, in the store's
  // screening records (her principal record still says nothing).
  const store = t.gateway.store;
  await store.screening.record(
    [
      {
        subject: { kind: "principal", id: "devi" },
        found: [
          {
            list: "test-list",
            entryId: "SDN-1",
            entryDigest: "d-SDN-1",
            score: 0.97,
            explanation: { name: "Devi" },
          },
        ],
        scope: "all",
      },
    ],
    "screening",
  );
  await store.screening.review(
    matchId("principal", "devi", "test-list", "SDN-1"),
    "confirmed",
    "reviewer-1",
    "same person",
  );
  await t.gateway.snapshot.refresh();
  expect((await store.principals.list()).find((p) => p.id === "devi")?.screening).not.toBe("confirmed");
  expect(await ask("devi", "IN")).toBe("deny denied-party");
  expect(await ask("devi", "IN")).toBe("deny denied-party");
  await t.gateway.audit.log.publish();
}, 60_000);
afterAll(() => t.gateway.close());

describe("a denied party in the what-if", () => {
  let report: WhatIfReport;
  beforeAll(async () => {
    const state = t.gateway.snapshot.current.control;
    report = await whatIfReport({
      store: t.gateway.store,
      source: directorySource(join(t.dataDir, "audit")),
      active: state.scheme,
      candidate: candidateScheme(CANDIDATE, "candidate.yaml", state),
      pseudonymKey: null,
      now: new Date(Date.now() + 1000),
      days: 1,
      examples: 50,
    });
  }, 60_000);

  const named = (part: WhatIfReport["population"] | null, who: string) =>
    (part?.groups ?? []).filter((g) => g.examples.some((e) => e === `${who}@IN` || e.endsWith(` ${who}`)));

  it("loses nothing in the population: the gateway denies her everything under either scheme", () => {
    expect(named(report.population, "devi")).toEqual([]);
  });

  it("history re-decides her logged denials as the gateway made them", () => {
    // Re-decided with her facts now (a denied party), her first request (before the review) is
    // denied under both schemes, as are her two denials: it alone differs from the record.
    expect(named(report.history, "devi")).toEqual([]);
    expect(report.history?.notes.join("\n")).toMatch(
      /1 of the re-decided decisions come out differently from the record/,
    );
  });

  it("the footprint still counts her denials", async () => {
    const now = new Date(Date.now() + 1000);
    const f = await footprintReport({
      store: t.gateway.store,
      source: directorySource(join(t.dataDir, "audit")),
      scheme: t.gateway.snapshot.current.control.scheme,
      period: parsePeriod(undefined, undefined, now),
      pseudonymKey: null,
      now,
    });
    expect(f.served.rows).toContainEqual(
      expect.objectContaining({ location: "IN", nationality: "IN", reason: "denied-party", requests: 2 }),
    );
  });
});

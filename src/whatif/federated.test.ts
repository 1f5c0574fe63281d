/**
 * People a partner's identity provider vouches for are principals like the store's own: the what-if
 * (population and history) and the footprint count them, from the store's federated principals
 * (a real gateway, a real OpenID provider, the embedded store, a pseudonymised log). A federated
 * principal an administrator blocked is left out of the population (its tokens are refused before
 * any decision) but its logged decisions are still read.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { directorySource } from "../audit/source.js";
import { setBlock } from "../identity/registry.js";
import { footprintReport } from "../report/footprint.js";
import { parsePeriod } from "../report/period.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";
import { candidateScheme, whatIfReport, type WhatIfReport } from "./report.js";

const G7 = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const EMBARGO_DE = G7.replace("name: g7-trusted-partners", "name: g7-embargo-de").replace(
  "embargoed: [EAR_E1, EAR_E2]",
  "embargoed: [EAR_E1, EAR_E2, DE]",
);
const KEY = "federated-test-pseudonym-key";
const ANNA = "fed:de-gov:de-anna";
const BERND = "fed:de-gov:de-bernd";

let idp: TestIdp;
let t: TestGateway;

async function ask(person: string): Promise<string> {
  const res = await fetch(`${t.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${await idp.token(person)}`,
      "content-type": "application/json",
      "x-test-country": "DE",
    },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  await res.arrayBuffer();
  return `${res.headers.get("x-clearance-decision")} ${res.headers.get("x-clearance-reason")}`;
}

beforeAll(async () => {
  const person = { nationality: ["DE"], acr: "urn:eidas:loa:high" };
  idp = await startTestIdp({ people: { "de-anna": person, "de-bernd": person } });
  t = await startTestGateway({
    extra: `audit: { checkpoint_ms: 50, pseudonym_key_env: AUDIT_PSEUDONYM_KEY }
identity:
  providers:
    - partner: g7-fvey
      id: de-gov
      issuer: ${idp.issuer}
      audiences: [${AUDIENCE}]
      claims: { citizenships: nationality }
      assurance: { acr: { "urn:eidas:loa:high": attested } }
      max_assurance: attested
`,
    env: { AUDIT_PSEUDONYM_KEY: KEY },
  });
  for (let i = 0; i < 3; i++) expect(await ask("de-anna")).toBe("allow partner-country");
  expect(await ask("de-bernd")).toBe("allow partner-country");
  await t.gateway.identity.flush();
  await setBlock(t.gateway.store, BERND, true, "left the agency", "officer", new Date().toISOString());
  await t.gateway.audit.log.publish();
}, 60_000);
afterAll(async () => {
  await t?.gateway.close();
  await idp?.close();
});

describe("federated principals in the what-if and the footprint", () => {
  let report: WhatIfReport;
  beforeAll(async () => {
    expect((await t.gateway.store.principals.list()).map((p) => p.id)).not.toContain(ANNA);
    const state = t.gateway.snapshot.current.control;
    report = await whatIfReport({
      store: t.gateway.store,
      source: directorySource(join(t.dataDir, "audit")),
      active: state.scheme,
      candidate: candidateScheme(EMBARGO_DE, "candidate.yaml", state),
      pseudonymKey: KEY,
      now: new Date(Date.now() + 1000),
      days: 1,
      examples: 50,
    });
  }, 60_000);

  const examples = (part: WhatIfReport["population"] | null, model: string) =>
    (part?.groups ?? [])
      .filter((g) => g.direction === "loss" && g.model === model && g.action === "infer")
      .flatMap((g) => g.examples.map((e) => `${g.nationality} ${e}`));

  it("the population holds the federated principal, where the log saw it", () => {
    expect(examples(report.population, "mythos-5")).toContain(`DE ${ANNA}@DE`);
    // Blocked: refused before any decision, under either scheme.
    expect(examples(report.population, "mythos-5").join(" ")).not.toContain(BERND);
    expect(report.population.notes.join("\n")).toMatch(
      /1 of them vouched for by partners' identity providers.*; 1 blocked by an administrator are left out/,
    );
  });

  it("history re-decides the federated principal's logged decisions, found through its pseudonym", () => {
    const lost = examples(report.history, "mythos-5");
    expect(lost.filter((e) => e.endsWith(` ${ANNA}`))).toHaveLength(3);
    expect(lost.filter((e) => e.endsWith(` ${BERND}`))).toHaveLength(1);
    expect(lost.every((e) => e.startsWith("DE "))).toBe(true);
    expect(report.history?.notes.join("\n")).not.toMatch(/the store does not hold/);
  });

  it("the footprint gives the federated principal's nationality, not unknown", async () => {
    const now = new Date(Date.now() + 1000);
    const f = await footprintReport({
      store: t.gateway.store,
      source: directorySource(join(t.dataDir, "audit")),
      scheme: t.gateway.snapshot.current.control.scheme,
      period: parsePeriod(undefined, undefined, now),
      pseudonymKey: KEY,
      now,
    });
    expect(f.served.unknown_principals).toBe(0);
    expect(f.served.rows.filter((r) => r.model === "mythos-5")).toEqual([
      expect.objectContaining({ location: "DE", nationality: "DE", reason: "partner-country", requests: 4 }),
    ]);
  });
});

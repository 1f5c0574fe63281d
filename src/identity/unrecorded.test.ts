/**
 * A partner token's decision the audit log could not record (503 `audit_unavailable`): the answer
 * claims no decision, and so says nothing of the claims that decision set aside either — the
 * caller is told only what the record holds.
 */
import { afterAll, beforeAll, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";

let idp: TestIdp;
let gw: TestGateway;

beforeAll(async () => {
  // BR is not a G7 / Five Eyes country: the German IdP cannot vouch for that citizenship.
  idp = await startTestIdp({ people: { "br-carla": { nationality: ["BR"], acr: "urn:eidas:loa:high" } } });
  gw = await startTestGateway({
    extra: `identity:
  providers:
    - partner: g7-fvey
      id: de-gov
      name: German federal eID
      issuer: ${idp.issuer}
      audiences: [${AUDIENCE}]
      claims: { citizenships: nationality }
      assurance: { acr: { "urn:eidas:loa:high": attested } }
      max_assurance: attested
`,
  });
}, 30_000);

afterAll(async () => {
  await gw?.gateway.close();
  await idp?.close();
});

async function chat(token: string, country: string) {
  const res = await fetch(`${gw.url}/v1/chat/completions`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      "x-test-country": country,
    },
    body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
  });
  return {
    status: res.status,
    code: ((await res.json()) as { error?: { code: string } }).error?.code,
    decision: res.headers.get("x-clearance-decision"),
    reason: res.headers.get("x-clearance-reason"),
    setAside: res.headers.get("x-clearance-claims-set-aside"),
  };
}

it("an unrecorded decision's answer does not say which claims it set aside", async () => {
  const token = await idp.token("br-carla");
  // Recorded: the fallback says what it set aside.
  const recorded = await chat(token, "DE");
  expect([recorded.status, recorded.decision, recorded.setAside]).toEqual([200, "fallback", "citizenships"]);

  await gw.gateway.audit.log.close();
  // A fallback (to be served) and a denial (an embargoed location), neither recorded.
  for (const country of ["DE", "IR"]) {
    expect(await chat(token, country)).toEqual({
      status: 503,
      code: "audit_unavailable",
      decision: "none",
      reason: "audit_unavailable",
      setAside: null,
    });
  }
});

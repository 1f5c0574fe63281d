/**
 * The edges of a provider's reach, through the gateway with a real OpenID provider: a partner's
 * provider never makes a home person (a home citizenship or permanent residency is set aside: it
 * would lift the person above every grant its partner has, at any assurance), and an organization
 * partner's provider vouches for membership only when its token names no organization or names the
 * partner — an organization claim it cannot read is not membership.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { auditEntries, chat } from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";

let country: TestIdp;
let org: TestIdp;
let gw: TestGateway;

beforeAll(async () => {
  country = await startTestIdp({
    people: {
      "de-anna": { nationality: ["DE"] },
      "us-claimed": { nationality: ["US"] },
      "us-resident": { nationality: ["DE"], pr: [{ country: "USA", since: "2020-01-01" }] },
    },
  });
  org = await startTestIdp({
    people: {
      "gb-member": { nationality: ["GB"], org: "uk-aisi" },
      "gb-unnamed": { nationality: ["GB"] },
      "gb-other": { nationality: ["GB"], org: "acme" },
      "gb-two": { nationality: ["GB"], org: ["acme", "globex"] },
      "gb-number": { nationality: ["GB"], org: 42 },
    },
  });
  gw = await startTestGateway({
    extra: `identity:
  providers:
    - partner: g7-fvey
      id: de-gov
      issuer: ${country.issuer}
      audiences: [${AUDIENCE}]
      claims: { citizenships: nationality, permanent_residencies: pr }
      assurance: { level: attested }
      max_assurance: attested
    - partner: uk-aisi
      id: aisi-idp
      issuer: ${org.issuer}
      audiences: [${AUDIENCE}]
      claims: { citizenships: nationality, organization: org }
      assurance: { level: verified }
`,
  });
}, 30_000);

afterAll(async () => {
  await gw?.gateway.close();
  await country?.close();
  await org?.close();
});

/** A chat completion with a partner's token (the shared chat), as the gateway decided it. */
async function decided(token: string, model: string, location: string) {
  const res = await chat(gw.url, token, location, model);
  await res.arrayBuffer();
  return {
    status: res.status,
    decision: res.headers.get("x-clearance-decision"),
    reason: res.headers.get("x-clearance-reason"),
    setAside: res.headers.get("x-clearance-claims-set-aside"),
  };
}

const lastEntry = async (principal: string) =>
  (await auditEntries(gw)).filter((e) => e.principal === principal).at(-1)!;

describe("a partner's provider never makes a home person", () => {
  it("a country partner's token claiming the home country's citizenship is not a home person", async () => {
    // The baseline: the partner's own nationals are served on its grant.
    expect(await decided(await country.token("de-anna"), "mythos-5", "DE")).toMatchObject({
      status: 200,
      reason: "partner-country",
    });
    // US is in g7-fvey's countries (G7, Five Eyes), but a partner cannot vouch for a US person:
    // home persons get home-only weights and every action, whatever the partner's grants.
    const weights = await decided(await country.token("us-claimed"), "mythos-5-weights", "US");
    expect(weights.status).toBe(403);
    expect(weights.reason).not.toBe("home-person");
    expect(weights.setAside).toBe("citizenships");
    const entry = await lastEntry("fed:de-gov:us-claimed");
    expect(entry.identity.set_aside).toEqual(["citizenships nationality"]);
  });

  it("nor is its token claiming a home permanent residency (alpha-3 too)", async () => {
    const r = await decided(await country.token("us-resident"), "mythos-5-weights", "US");
    expect(r.status).toBe(403);
    expect(r.reason).not.toBe("home-person");
    expect(r.setAside).toBe("permanent residencies");
    // The rest of the token still counts: a German national, on the partner's grant.
    expect(await decided(await country.token("us-resident"), "mythos-5", "DE")).toMatchObject({
      status: 200,
      reason: "partner-country",
    });
  });
});

describe("an organization partner's provider: membership only when its token says so", () => {
  it("a token naming the partner, or no organization, is a member", async () => {
    for (const person of ["gb-member", "gb-unnamed"]) {
      const r = await decided(await org.token(person), "mythos-5", "GB");
      expect(r, person).toMatchObject({ status: 200, reason: "partner-organization" });
    }
  });

  it("a token naming another organization, or one it cannot read, is not a member", async () => {
    for (const person of ["gb-other", "gb-two", "gb-number"]) {
      const r = await decided(await org.token(person), "mythos-5", "GB");
      expect(r.reason, person).not.toBe("partner-organization");
      expect(r.decision, person).toBe("fallback");
      expect(r.setAside, person).toBe("organization");
      const entry = await lastEntry(`fed:aisi-idp:${person}`);
      expect(entry.organization, person).toBeNull();
    }
  });
});

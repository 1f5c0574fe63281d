/** Claim mapping, the scope of vouching and strict token parts: pure functions, tested directly. */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { explain } from "../policy/index.js";
import { mapClaims as mapClaimsAt, readClaim } from "./claims.js";
import { federatedPrincipalId } from "./federation.js";
import { decodePart, hasDuplicateMember } from "./json.js";
import { providerInputSchema, type ProviderInput } from "./schema.js";
import { vouch, type Reach } from "./scope.js";

const provider = (over: Record<string, unknown> = {}) =>
  providerInputSchema.parse({
    id: "de-gov",
    issuer: "https://id.example.de",
    audiences: ["clearance"],
    claims: { citizenships: "person.nationalities", residence: "address.country", organization: "org" },
    assurance: {
      level: "self",
      acr: { high: "attested", substantial: "verified" },
      amr: { hwk: "verified" },
    },
    max_assurance: "verified",
    ...over,
  });

/** The decision's time for claims with no `iat`: 7 December 2026, 10:00 UTC. */
const NOW = Date.parse("2026-12-07T10:00:00Z");
const mapClaims = (p: ProviderInput, claims: Record<string, unknown>) => mapClaimsAt(p, claims, NOW);

const G7: Reach = {
  kind: "country",
  partner: "g7",
  countries: new Set(["DE", "FR", "GB", "US", "CA", "IT", "JP"]),
  adverse: new Set(["IR", "KP", "CN", "RU"]),
  home: new Set(["US"]),
};
/** An organization partner's reach: its countries, none adverse, the gateway's home the US. */
const organizationReach = (partner: string, countries: string[]): Reach => ({
  kind: "organization",
  partner,
  countries: new Set(countries),
  adverse: new Set(),
  home: new Set(["US"]),
});
const token = {
  principalId: "fed:de-gov:anna",
  issuer: "https://id.example.de",
  provider: "de-gov",
  keyId: "k1",
  subject: "anna",
};

describe("claim paths", () => {
  it("reads nested members, array items, and whole names with dots (URL claims)", () => {
    const claims = { a: { b: [{ c: "x" }] }, "https://example.com/nat": "DE", "a.b": "whole" };
    expect(readClaim(claims, "a.b[0].c")).toBe("x");
    expect(readClaim(claims, "https://example.com/nat")).toBe("DE");
    expect(readClaim(claims, ["a", "b", 0, "c"])).toBe("x");
    expect(readClaim(claims, "a.b")).toBe("whole");
    expect(readClaim(claims, "a.__proto__")).toBeUndefined();
    expect(readClaim(claims, "a.b[5]")).toBeUndefined();
  });
});

describe("claim mapping", () => {
  it("maps lists of alpha-2 and alpha-3 codes and objects with dates; an undated one is kept undated", () => {
    const facts = mapClaims(provider(), {
      person: {
        nationalities: [
          { country: "de", since: "2001-02-03" },
          "FR",
          "irn",
          { country: "IT", since: "soon" },
          { country: "JP", since: "2020-02-30" },
        ],
      },
      address: { country: "DEU" },
      org: 42,
    });
    expect(facts.citizenships.map((c) => c.value)).toEqual([
      { country: "DE", since: "2001-02-03" },
      { country: "FR", since: null },
      { country: "IR", since: null },
      { country: "IT", since: null },
      { country: "JP", since: null },
    ]);
    expect(facts.citizenships[3]?.note).toBe("since soon is not a date, taken as unknown");
    expect(facts.residence?.value).toBe("DE");
    expect(facts.refused).toEqual([]);
    // An unreadable organization narrows access only: set aside, not refused.
    expect(facts.unreadable.map((u) => [u.fact, u.why])).toEqual([["organization", "not a name"]]);
  });

  it("reads a date in seconds; one past the year 9999 (milliseconds sent for seconds) is no date", () => {
    const facts = mapClaims(provider(), {
      person: {
        nationalities: [
          { country: "DE", since: 978_307_200 }, // 2001-01-01 in seconds
          { country: "IR", since: 1_262_304_000_000 }, // 2010-01-01 in milliseconds
          { country: "FR", since: 253_402_300_800 }, // 10000-01-01
        ],
      },
    });
    // Before the fix: IR "since +041969-09", FR "since +010000-01": not dates, yet read as instants
    // millennia ahead, so the nationality was not held at the request's time (an embargo set aside).
    expect(facts.citizenships.map((c) => c.value)).toEqual([
      { country: "DE", since: "2001-01-01" },
      { country: "IR", since: null },
      { country: "FR", since: null },
    ]);
    expect(facts.citizenships[1]?.note).toBe("since 1262304000000 is not a date, taken as unknown");
  });

  it("keeps a date-time's instant, never its day alone; one with no zone is no date", () => {
    const facts = mapClaims(provider(), {
      person: {
        nationalities: [
          { country: "DE", since: "2010-03-06T01:00:00Z" },
          { country: "IR", since: "2010-03-05T23:30:00-05:00" }, // 2010-03-06T04:30Z
          { country: "FR", since: 1_267_846_200 }, // 2010-03-06T03:30Z, in seconds
          { country: "IT", since: "2010-03-06T00:00:00+00:00" }, // midnight: the day itself
          { country: "JP", since: "2010-03-06T12:00:00" }, // no zone: whose noon?
          { country: "GB", since: "9999-12-31T23:00:00-05:00" }, // in the year 10000
        ],
      },
    });
    // Before the fix: DE and FR "2010-03-06", IR "2010-03-05" (a day and a half early, so DE and FR
    // were the most recent, and an embargoed IR acquired after them counted for nothing under
    // most-recent), JP "2010-03-06" read as 00:00 UTC, GB "9999-12-31".
    expect(facts.citizenships.map((c) => c.value)).toEqual([
      { country: "DE", since: "2010-03-06T01:00:00.000Z" },
      { country: "IR", since: "2010-03-06T04:30:00.000Z" },
      { country: "FR", since: "2010-03-06T03:30:00.000Z" },
      { country: "IT", since: "2010-03-06" },
      { country: "JP", since: null },
      { country: "GB", since: null },
    ]);
    expect(facts.citizenships[4]?.note).toBe("since 2010-03-06T12:00:00 is not a date, taken as unknown");
    // The principal the decision reads carries the instant, as the token stated it.
    const v = vouch(G7, facts, token);
    expect(v.principal.citizenships?.find((c) => c.country === "IR")?.since).toBe("2010-03-06T04:30:00.000Z");
  });

  it("refuses a nationality dated after the token was issued (beyond the clock skew), for every country", () => {
    const iat = NOW / 1000;
    const at = (since: unknown, over: Record<string, unknown> = {}) =>
      mapClaimsAt(
        provider(over),
        {
          iat,
          person: { nationalities: [{ country: "DE", since: "2001-01-01" }, "FR", { country: "IR", since }] },
        },
        NOW,
      );
    // Before the fix: IR "since 2027-03-01" was kept, not yet held at the decision's time, so the
    // person was decided on DE and FR alone, as if holding no embargoed nationality.
    const next = at("2027-03-01");
    expect(next.refused).toEqual([
      {
        fact: "citizenships",
        claim: "person.nationalities[2].since",
        value: "2027-03-01",
        why: "is later than the token was issued (2026-12-07T10:00:00.000Z): a nationality is held from a date already past",
        message:
          "person.nationalities[2].since 2027-03-01 is later than the token was issued (2026-12-07T10:00:00.000Z): a nationality is held from a date already past",
      },
    ]);
    expect(next.citizenships.map((c) => c.value.country)).toEqual(["DE", "FR"]);
    // Any country, as seconds too; the provider's clock skew is allowed, and not a second more.
    expect(at(iat + 86_400).refused.map((r) => r.value)).toEqual(["2026-12-08T10:00:00.000Z"]);
    expect(at(iat + 60).refused).toEqual([]);
    expect(at(iat + 61).refused.map((r) => r.claim)).toEqual(["person.nationalities[2].since"]);
    expect(at(iat + 300, { clock_skew_s: 300 }).refused).toEqual([]);
    expect(at("2026-12-07").refused).toEqual([]);
    // One object rather than a list, a renamed date member, a permanent residency.
    const one = mapClaimsAt(
      provider({ claims: { citizenships: "nat", permanent_residencies: "pr", since_member: "acquired" } }),
      {
        iat,
        nat: { country: "FR", acquired: "2030-01-01" },
        pr: [{ country: "DE", acquired: "2030-01-01" }],
      },
      NOW,
    );
    expect(one.refused.map((r) => r.message)).toEqual([
      "nat.acquired 2030-01-01 is later than the token was issued (2026-12-07T10:00:00.000Z): a nationality is held from a date already past",
      "pr[0].acquired 2030-01-01 is later than the token was issued (2026-12-07T10:00:00.000Z): a permanent residency is held from a date already past",
    ]);
  });

  it("judges a nationality's date against the decision's time when the token has no iat", () => {
    const at = (since: string) =>
      mapClaims(provider(), { person: { nationalities: [{ country: "IR", since }] } }).refused.map(
        (r) => r.message,
      );
    expect(at("2026-12-07T10:00:00Z")).toEqual([]);
    expect(at("2026-12-07T10:00:01Z")).toEqual([
      "person.nationalities[0].since 2026-12-07T10:00:01.000Z is later than the decision time (2026-12-07T10:00:00.000Z): a nationality is held from a date already past",
    ]);
  });

  it("refuses, never drops, a citizenship or residence it cannot read", () => {
    const refused = (claims: Record<string, unknown>) =>
      mapClaims(provider(), claims).refused.map((u) => [u.fact, u.claim, u.value]);
    expect(refused({ person: { nationalities: ["DE", "Iran"] } })).toEqual([
      ["citizenships", "person.nationalities", "Iran"],
    ]);
    expect(refused({ person: { nationalities: ["DE", { country: 7 }] } })).toEqual([
      ["citizenships", "person.nationalities", '{"country":7}'],
    ]);
    expect(refused({ person: { nationalities: ["DE", ...Array<string>(16).fill("IR")] } })).toEqual([
      ["citizenships", "person.nationalities", "17 values"],
    ]);
    expect(refused({ address: { country: ["DE", "IR"] } })).toEqual([
      ["residence", "address.country", '["DE","IR"]'],
    ]);
    expect(refused({ address: { country: "Iran" } })).toEqual([["residence", "address.country", "Iran"]]);
  });

  it("reads a code's ASCII letters in any case, never a letter of another script folded into one", () => {
    const facts = (claims: Record<string, unknown>) => mapClaims(provider(), claims);
    // Before the fix: toUpperCase() read dotless ı as I, ß as SS (South Sudan), the ligature ﬁ as FI.
    for (const code of ["ır", "ıRN", "ß", "ﬁ", "Dſ"]) {
      expect(
        facts({ person: { nationalities: ["DE", code] } }).refused.map((u) => [u.fact, u.claim, u.value]),
        code,
      ).toEqual([["citizenships", "person.nationalities", code]]);
      expect(
        facts({ address: { country: code } }).refused.map((u) => [u.fact, u.value]),
        code,
      ).toEqual([["residence", code]]);
    }
    // ASCII in any case, as before.
    const read = facts({ person: { nationalities: ["de", "Ir", "fRa"] }, address: { country: "gbr" } });
    expect(read.refused).toEqual([]);
    expect(read.citizenships.map((c) => c.value.country)).toEqual(["DE", "IR", "FR"]);
    expect(read.residence?.value).toBe("GB");
  });

  it("a lone surrogate: an organization or display name set aside, a nationality refused, shown as ?", () => {
    // Not Unicode, and RFC 8785 (the audit log's entries) refuses it; a well-formed pair is text.
    const p = provider({ claims: { citizenships: "nat", organization: "org", display_name: "name" } });
    const facts = mapClaims(p, {
      org: "uk-aisi\ud800",
      name: "Anna \udc00",
      nat: [{ country: "DE", since: "2001-02-03\ud800" }],
    });
    expect(facts.organization).toBeNull();
    expect(facts.display_name).toBeNull();
    expect(facts.unreadable.map((u) => [u.fact, u.claim, u.value])).toEqual([
      ["display name", "name", "Anna ?"],
      ["organization", "org", "uk-aisi?"],
    ]);
    // A date that is not one is taken as unknown, as any unreadable date is; its note shows it safely.
    expect(facts.citizenships).toEqual([
      {
        value: { country: "DE", since: null },
        claim: "nat",
        note: "since 2001-02-03? is not a date, taken as unknown",
      },
    ]);
    expect(facts.refused).toEqual([]);
    expect(mapClaims(p, { nat: ["DE", "D\ud800"] }).refused.map((u) => [u.fact, u.value])).toEqual([
      ["citizenships", "D?"],
    ]);
    const pair = mapClaims(p, { org: "uk-aisi \u{1F600}", name: "Anna \u{1F600}" });
    expect([pair.organization?.value, pair.display_name, pair.unreadable]).toEqual([
      "uk-aisi \u{1F600}",
      "Anna \u{1F600}",
      [],
    ]);
    // Shortened between the halves of a pair: the half left is shown as ?, not written as it is.
    const long = `${"x".repeat(56)}\u{1F600}${"y".repeat(10)}`;
    const cut = mapClaims(p, { nat: [long] }).refused[0]!.value;
    expect(cut).toBe(`${"x".repeat(56)}?...`);
  });

  // Before: an organization or display name holding a bidirectional override, embedding or isolate
  // was taken, then stored, shown (reversed) and screened as it read.
  it("sets aside an organization or display name holding a bidirectional control, shown without it", () => {
    const p = provider({ claims: { citizenships: "nat", organization: "org", display_name: "name" } });
    const facts = mapClaims(p, { org: "Acme \u202esbal detsurt", name: "Anna \u2066x\u2069", nat: ["DE"] });
    expect(facts.organization).toBeNull();
    expect(facts.display_name).toBeNull();
    expect(facts.unreadable).toEqual([
      { fact: "display name", claim: "name", value: "Anna ?x?", why: "not a name" },
      { fact: "organization", claim: "org", value: "Acme ?sbal detsurt", why: "not a name" },
    ]);
    expect(facts.citizenships).toEqual([{ value: { country: "DE", since: null }, claim: "nat" }]);
    // Right-to-left letters and the directional marks are text.
    const rtl = mapClaims(p, { org: "\u200fשלום\u200e", name: "شركة\u061c" });
    expect([rtl.organization?.value, rtl.display_name, rtl.unreadable]).toEqual([
      "\u200fשלום\u200e",
      "شركة\u061c",
      [],
    ]);
  });

  it("takes the highest acr/amr level, capped at the provider's maximum", () => {
    expect(mapClaims(provider(), { acr: "substantial" }).assurance.level).toBe("verified");
    const capped = mapClaims(provider(), { acr: "high" }).assurance;
    expect(capped.level).toBe("verified");
    expect(capped.why).toMatch(/capped at verified/);
    expect(mapClaims(provider(), { amr: ["pwd", "hwk"] }).assurance.level).toBe("verified");
    expect(mapClaims(provider(), {}).assurance.level).toBe("self");
  });
});

describe("scope of vouching", () => {
  it("a country partner's provider: its countries' nationalities; never organization; the rest set aside", () => {
    const facts = mapClaims(provider(), {
      person: { nationalities: ["DE", "BR"] },
      address: { country: "BR" },
      org: "uk-aisi",
    });
    const v = vouch(G7, facts, token);
    expect(v.principal.citizenships).toEqual([{ country: "DE", since: null }]);
    expect(v.principal.residence).toBeNull();
    expect(v.principal.organization).toBeNull();
    expect(v.basis.set_aside.map((c) => [c.fact, c.value])).toEqual([
      ["citizenships", "BR"],
      ["residence", "BR"],
      ["organization", "uk-aisi"],
    ]);
  });

  it("believes an embargoed or restricted nationality from any source", () => {
    const v = vouch(G7, mapClaims(provider(), { person: { nationalities: ["DE", "RU"] } }), token);
    expect(v.principal.citizenships?.map((c) => c.country)).toEqual(["DE", "RU"]);
    expect(v.basis.used[1]).toMatch(/believed from any source/);
  });

  it("believes an embargoed residence from any source; sets aside any other outside the reach", () => {
    const ir = vouch(G7, mapClaims(provider(), { address: { country: "IR" } }), token);
    expect(ir.principal.residence).toBe("IR");
    expect(ir.basis.used[0]).toMatch(/residence IR .*believed from any source/);
    expect(ir.basis.set_aside).toEqual([]);
    const br = vouch(G7, mapClaims(provider(), { address: { country: "BR" } }), token);
    expect(br.principal.residence).toBeNull();
    expect(br.basis.set_aside.map((c) => c.fact)).toEqual(["residence"]);
  });

  it("an organization partner's provider: membership of that organization only", () => {
    const org = organizationReach("uk-aisi", ["GB"]);
    expect(vouch(org, mapClaims(provider(), {}), token).principal.organization).toBe("uk-aisi");
    const other = vouch(
      org,
      mapClaims(provider(), { org: "acme", person: { nationalities: ["GB", "FR"] } }),
      token,
    );
    expect(other.principal.organization).toBeNull();
    expect(other.principal.citizenships).toEqual([{ country: "GB", since: null }]);
    expect(other.basis.set_aside.map((c) => c.fact)).toEqual(["citizenships", "organization"]);
  });

  it("an organization claim it cannot read is set aside and is no membership", () => {
    const org = organizationReach("uk-aisi", ["GB"]);
    for (const value of [["acme", "uk-aisi"], 42, "", { id: "uk-aisi" }]) {
      const v = vouch(org, mapClaims(provider(), { org: value }), token);
      expect(v.principal.organization, JSON.stringify(value)).toBeNull();
      expect(v.basis.set_aside.map((c) => c.fact)).toEqual(["organization"]);
    }
    // A one-item list is read as its item.
    expect(vouch(org, mapClaims(provider(), { org: ["uk-aisi"] }), token).principal.organization).toBe(
      "uk-aisi",
    );
  });

  it("never believes a home citizenship or permanent residency, even within the partner's countries", () => {
    const facts = mapClaims(provider({ claims: { citizenships: "nat", permanent_residencies: "pr" } }), {
      nat: ["US", "DE"],
      pr: [{ country: "usa", since: "2019-01-01" }],
    });
    const v = vouch(G7, facts, token);
    expect(v.principal.citizenships).toEqual([{ country: "DE", since: null }]);
    expect(v.principal.permanent_residencies).toEqual([]);
    expect(v.basis.set_aside.map((c) => [c.fact, c.value])).toEqual([
      ["citizenships", "US"],
      ["permanent residencies", "US"],
    ]);
    expect(v.basis.set_aside[0]!.why).toMatch(/home country.*does not vouch for a home person/);
    // An organization partner in a home country: its members' home citizenship is not believed either.
    const usOrg = organizationReach("us-lab", ["US"]);
    expect(vouch(usOrg, facts, token).principal.citizenships).toEqual([]);
  });

  it("the decision's explanation names each claim set aside and why", () => {
    const v = vouch(G7, mapClaims(provider(), { person: { nationalities: ["BR"] } }), token);
    const text = explain({
      decision: "deny",
      reason: "no-authorization",
      model: "m",
      served_model: null,
      grant: null,
      checks: [],
      scheme: { name: "s", digest: "d" },
      identity: v.basis,
    });
    expect(text).toContain(
      "set aside: citizenships BR (claim person.nationalities): BR is outside country partner g7's countries",
    );
  });
});

describe("federated principal ids", () => {
  const hashed = (s: string) => `~${createHash("sha256").update(s).digest("hex").slice(0, 32)}`;

  it("a subject written as another's hashed form is not that person", () => {
    const victim = "José García"; // not printable ASCII: hashed
    expect(federatedPrincipalId("de-gov", victim)).toBe(`fed:de-gov:${hashed(victim)}`);
    expect(federatedPrincipalId("de-gov", hashed(victim))).not.toBe(federatedPrincipalId("de-gov", victim));
    expect(federatedPrincipalId("de-gov", "anna")).toBe("fed:de-gov:anna");
  });

  it("distinct subjects never share an id (property)", () => {
    const subject = fc.oneof(
      fc.string({ maxLength: 140 }),
      fc.string({ unit: "grapheme", maxLength: 10 }),
      fc.string({ maxLength: 10 }).map(hashed),
      fc.string({ maxLength: 10 }).map((s) => `~${s}`),
      fc.constantFrom("a".repeat(128), "a".repeat(129)),
    );
    fc.assert(
      fc.property(
        fc.tuple(subject, subject).filter(([a, b]) => a !== b),
        ([a, b]) => {
          expect(federatedPrincipalId("p", a)).not.toBe(federatedPrincipalId("p", b));
        },
      ),
    );
    // Each hashed form against the subject it hashes, the collision a partner could aim for.
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 200 }), (victim) => {
        const forged = federatedPrincipalId("p", hashed(victim));
        expect(forged).not.toBe(federatedPrincipalId("p", victim));
      }),
    );
  });
});

describe("provider configuration", () => {
  it("refuses HS* and none, and private or symmetric inline keys", () => {
    for (const alg of ["HS256", "none"]) {
      const r = providerInputSchema.safeParse({ ...provider(), algorithms: [alg] });
      expect(r.success).toBe(false);
      expect(r.error?.issues[0]?.message).toMatch(/cannot be configured/);
    }
    const sym = providerInputSchema.safeParse({
      ...provider(),
      jwks: { keys: [{ kty: "oct", k: "c2VjcmV0" }] },
    });
    expect(sym.success).toBe(false);
  });
});

describe("token parts", () => {
  const b64 = (s: string) => Buffer.from(s).toString("base64url");
  it("refuses duplicate members, bad base64url, non-objects and bad UTF-8", () => {
    expect(decodePart(b64('{"alg":"RS256","alg":"none"}'))).toBe("duplicate");
    expect(decodePart(b64('{"a":{"x":1,"x":2}}'))).toBe("duplicate");
    expect(decodePart(b64('{"a":[{"x":1},{"x":2}],"b":"x"}'))).toEqual({ a: [{ x: 1 }, { x: 2 }], b: "x" });
    expect(decodePart(b64('{"\\u0061":1,"a":2}'))).toBe("duplicate");
    expect(decodePart("eyJ+")).toBe("base64");
    expect(decodePart(b64("[1]"))).toBe("not-object");
    expect(decodePart(b64("{"))).toBe("json");
    expect(decodePart(Buffer.from([0x7b, 0xff, 0x7d]).toString("base64url"))).toBe("utf8");
  });

  it("finds a duplicate exactly when a parsed object would lose a member (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.constantFrom("a", "b", "c", 'q"', "\\"), fc.jsonValue()), { maxLength: 5 }),
        (members) => {
          const text = `{${members.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(",")}}`;
          const names = members.map(([k]) => k);
          const top = new Set(names).size !== names.length;
          const nested = members.some(([, v]) => hasDuplicateMember(JSON.stringify(v)));
          expect(hasDuplicateMember(text)).toBe(top || nested);
        },
      ),
    );
  });
});

/**
 * Partner tokens through the gateway, from a real OpenID provider (oidc-provider on loopback):
 * a partner government's IdP registered from the config file, tokens accepted as Bearer and as
 * x-api-key, facts believed only within the partner's reach, the identity basis in the decision's
 * audit entry, key rotation, and federated principals stored just in time.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeBundle } from "../audit/tiles.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";

let idp: TestIdp;
let gw: TestGateway;

const PEOPLE = {
  "de-anna": { nationality: ["DE"], acr: "urn:eidas:loa:high", name: "Anna" },
  "de-ru-boris": {
    nationality: [
      { country: "DE", since: "2001-01-01" },
      { country: "RU", since: "2010-05-01" },
    ],
    acr: "urn:eidas:loa:high",
  },
  "br-carla": { nationality: ["BR"], acr: "urn:eidas:loa:high" },
  "de-low": { nationality: ["DE"], acr: "urn:eidas:loa:low" },
  "de-org": { nationality: ["DE"], acr: "urn:eidas:loa:high", org: "uk-aisi" },
  // Adverse facts, in every form a partner's IdP might write them.
  "de-in-ir": { nationality: ["DE"], residence: "IR", acr: "urn:eidas:loa:high" },
  "de-in-de-ir": { nationality: ["DE"], residence: ["DE", "IR"], acr: "urn:eidas:loa:high" },
  "de-irn": { nationality: ["DE", "IRN"], acr: "urn:eidas:loa:high" },
  "de-iran": { nationality: ["DE", "Iran"], acr: "urn:eidas:loa:high" },
  "de-ir-undated": {
    nationality: [
      { country: "DE", since: "2000-01-01" },
      { country: "IR", since: "2020-13-45" },
    ],
    acr: "urn:eidas:loa:high",
  },
  // A partner's IdP writing the date in milliseconds where seconds are meant (year 41969).
  "de-ir-ms": {
    nationality: [
      { country: "DE", since: "2001-01-01" },
      { country: "IR", since: 1_262_304_000_000 },
    ],
    acr: "urn:eidas:loa:high",
  },
  // A partner's IdP writing local date-times: IR acquired 3.5 hours after DE, on the day before in
  // its own zone.
  "de-ir-zoned": {
    nationality: [
      { country: "DE", since: "2010-03-06T01:00:00Z" },
      { country: "IR", since: "2010-03-05T23:30:00-05:00" },
    ],
    acr: "urn:eidas:loa:high",
  },
  // A partner's IdP vouching for a nationality acquired next year (a date the token cannot know).
  "de-ir-next-year": {
    nationality: [
      { country: "DE", since: "2001-01-01" },
      { country: "IR", since: `${new Date().getUTCFullYear() + 1}-03-01` },
    ],
    acr: "urn:eidas:loa:high",
  },
  "de-17": { nationality: ["DE", ...Array<string>(15).fill("FR"), "IR"], acr: "urn:eidas:loa:high" },
};

beforeAll(async () => {
  idp = await startTestIdp({ people: PEOPLE });
  gw = await startTestGateway({
    extra: `identity:
  key_fetch_cooldown_ms: 200
  providers:
    - partner: g7-fvey
      id: de-gov
      name: German federal eID
      issuer: ${idp.issuer}
      audiences: [${AUDIENCE}]
      claims: { citizenships: nationality, residence: residence, organization: org, display_name: name }
      assurance: { acr: { "urn:eidas:loa:high": attested, "urn:eidas:loa:low": self } }
      max_assurance: attested
`,
  });
}, 30_000);

afterAll(async () => {
  await gw?.gateway.close();
  await idp?.close();
});

async function chat(token: string, country = "DE", header: "bearer" | "x-api-key" = "bearer") {
  const auth: Record<string, string> =
    header === "bearer" ? { authorization: `Bearer ${token}` } : { "x-api-key": token };
  const path = header === "bearer" ? "/v1/chat/completions" : "/v1/messages";
  const body =
    header === "bearer"
      ? { model: "mythos-5", messages: [{ role: "user", content: "hi" }] }
      : { model: "mythos-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] };
  const res = await fetch(`${gw.url}${path}`, {
    method: "POST",
    headers: {
      ...auth,
      "content-type": "application/json",
      "x-test-country": country,
      "anthropic-version": "2023-06-01",
    },
    body: JSON.stringify(body),
  });
  return {
    status: res.status,
    decision: res.headers.get("x-clearance-decision"),
    reason: res.headers.get("x-clearance-reason"),
    served: res.headers.get("x-clearance-served-model"),
    setAside: res.headers.get("x-clearance-claims-set-aside"),
    body: (await res.json()) as Record<string, unknown>,
  };
}

describe("partner tokens at the gateway", () => {
  it("serves a partner government's citizen on its token (Bearer), at the partner's attested level", async () => {
    const r = await chat(await idp.token("de-anna"));
    expect(r.status).toBe(200);
    expect(r.decision).toBe("allow");
    expect(r.reason).toBe("partner-country");
  });

  it("accepts the token as Anthropic's x-api-key too", async () => {
    const r = await chat(await idp.token("de-anna"), "DE", "x-api-key");
    expect(r.status).toBe(200);
    expect(r.reason).toBe("partner-country");
  });

  it("lists the models a token's principal may use (GET /v1/models)", async () => {
    const res = await fetch(`${gw.url}/v1/models`, {
      headers: { authorization: `Bearer ${await idp.token("de-anna")}`, "x-test-country": "DE" },
    });
    expect(res.status).toBe(200);
    const ids = ((await res.json()) as { data: { id: string }[] }).data.map((m) => m.id);
    expect(ids).toContain("mythos-5");
  });

  it("keeps Clearance keys working next to tokens", async () => {
    const r = await chat(gw.keys.get("alice")!, "FR");
    expect([200, 403]).toContain(r.status);
    expect(r.reason).not.toMatch(/token|issuer/);
  });

  it("sets aside a citizenship outside the partner's countries, and says so", async () => {
    // BR is not a G7 / Five Eyes country: the German IdP cannot vouch for it.
    const r = await chat(await idp.token("br-carla"));
    expect(r.decision).toBe("fallback");
    expect(r.setAside).toBe("citizenships");
    expect(r.served).toBe("mythos-4");
    const entries = (await auditEntries()).filter((e) => e.principal === "fed:de-gov:br-carla");
    const last = entries.at(-1)!;
    expect(last.identity.set_aside).toEqual(["citizenships nationality"]);
    expect(last.identity.issuer).toBe(idp.issuer);
  });

  it("believes a restricted nationality from any source (setting it aside would widen access)", async () => {
    const r = await chat(await idp.token("de-ru-boris"));
    // RU acquired last, and RU is restricted: not a partner-country allow.
    expect(r.decision).toBe("fallback");
    expect(r.reason).not.toBe("partner-country");
  });

  it("believes an embargoed residence from any source, as it does an embargoed nationality", async () => {
    const r = await chat(await idp.token("de-in-ir"));
    expect(r.status).toBe(403);
    expect(r.reason).toBe("embargoed-residence");
  });

  it("reads an alpha-3 nationality; an adverse one denies", async () => {
    const r = await chat(await idp.token("de-irn"));
    expect(r.status).toBe(403);
    expect(r.reason).toBe("embargoed-nationality");
  });

  it("keeps a nationality whose date is unreadable, undated: the dates-missing rule applies", async () => {
    // DE dated, IR not: which is most recent is unknown, so both count, and IR is embargoed.
    const r = await chat(await idp.token("de-ir-undated"));
    expect(r.status).toBe(403);
    expect(r.reason).toBe("embargoed-nationality");
  });

  it("takes a date in milliseconds for unknown, not millennia ahead: an embargoed nationality still denies", async () => {
    // Before the fix: IR "since +041969-09", not held at the request's time, so DE alone counted:
    // 200, allow partner-country.
    const r = await chat(await idp.token("de-ir-ms"));
    expect(r.status).toBe(403);
    expect(r.reason).toBe("embargoed-nationality");
  });

  it("orders nationalities by the instants a token states, not their days: the later, embargoed, one denies", async () => {
    // Before the fix: IR cut to 2010-03-05 and DE to 2010-03-06, so DE was the most recent and IR
    // (acquired after it) did not count: 200, allow partner-country.
    const r = await chat(await idp.token("de-ir-zoned"));
    expect(r.status).toBe(403);
    expect(r.reason).toBe("embargoed-nationality");
  });

  it("refuses a token whose citizenship or residence it cannot read, naming the claim", async () => {
    for (const [person, claim] of [
      ["de-iran", "nationality"],
      ["de-in-de-ir", "residence"],
      ["de-17", "nationality"],
    ]) {
      const r = await chat(await idp.token(person!));
      expect(r.status, person).toBe(401);
      expect(r.decision).toBe("none");
      expect(r.body.error).toMatchObject({ code: "token-claims", type: "authentication_error" });
      expect((r.body.error as { message: string }).message).toContain(`claim ${claim}`);
    }
  });

  it("refuses a token stating a nationality held from a date after it was issued, naming the claim and the date", async () => {
    // Before the fix: IR was "not yet held" at the decision's time, so DE alone counted: 200, allow
    // partner-country, for a person the partner says will be an Iranian national.
    const r = await chat(await idp.token("de-ir-next-year"));
    expect(r.status).toBe(401);
    expect(r.decision).toBe("none");
    expect(r.body.error).toMatchObject({ code: "token-claims", type: "authentication_error" });
    expect((r.body.error as { message: string }).message).toMatch(
      new RegExp(
        `^nationality\\[1\\]\\.since ${new Date().getUTCFullYear() + 1}-03-01 is later than the token was issued \\(\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z\\): a nationality is held from a date already past$`,
      ),
    );
  });

  it("caps the assurance at what the acr maps to: a low-assurance login is not attested", async () => {
    const r = await chat(await idp.token("de-low"));
    expect(r.decision).toBe("fallback");
  });

  it("a country partner's IdP does not vouch for organization membership", async () => {
    const r = await chat(await idp.token("de-org"), "DE");
    expect(r.reason).toBe("partner-country");
    const last = (await auditEntries()).filter((e) => e.principal === "fed:de-gov:de-org").at(-1)!;
    expect(last.organization).toBeNull();
    expect(last.identity.set_aside).toEqual(["organization org"]);
  });

  it("records the identity basis in the decision's audit entry", async () => {
    await chat(await idp.token("de-anna"));
    const last = (await auditEntries()).filter((e) => e.principal === "fed:de-gov:de-anna").at(-1)!;
    expect(last.identity).toMatchObject({
      issuer: idp.issuer,
      provider: "de-gov",
      key_id: "key-1",
      assurance: "attested",
      subject: "de-anna",
      set_aside: [],
    });
  });

  it("stores federated principals just in time, with their source", async () => {
    await chat(await idp.token("de-anna"));
    await gw.gateway.identity.flush();
    const p = await gw.gateway.store.federated.get("fed:de-gov:de-anna");
    expect(p).toMatchObject({
      provider: "de-gov",
      partner: "g7-fvey",
      issuer: idp.issuer,
      subject: "de-anna",
      display_name: "Anna",
      principal: { citizenships: [{ country: "DE", since: null }], assurance: "attested" },
    });
  });

  it("follows a key rotation: a token signed by a new key is verified after one key-set fetch", async () => {
    // Kept: past the test's 200 ms cooldown, which the key set times on the monotonic clock; a wait
    // of 250 ms always passes it (a loaded machine only makes it longer), and no event marks it.
    await new Promise((r) => setTimeout(r, 250));
    const kid = await idp.rotate();
    const before = idp.jwksRequests;
    const r = await chat(await idp.token("de-anna"));
    expect(r.status).toBe(200);
    expect(idp.jwksRequests).toBe(before + 1);
    const last = (await auditEntries()).filter((e) => e.principal === "fed:de-gov:de-anna").at(-1)!;
    expect(last.identity.key_id).toBe(kid);
  });

  it("refuses a token of an unregistered issuer with unknown-issuer, in the caller's format", async () => {
    const other = await startTestIdp({ people: { x: { nationality: ["DE"] } } });
    try {
      const token = await other.token("x");
      const openai = await chat(token);
      expect(openai.status).toBe(401);
      expect(openai.body.error).toMatchObject({ code: "unknown-issuer", type: "authentication_error" });
      const anthropic = await chat(token, "DE", "x-api-key");
      expect(anthropic.status).toBe(401);
      expect(anthropic.body).toMatchObject({
        type: "error",
        error: { type: "authentication_error", code: "unknown-issuer" },
      });
    } finally {
      await other.close();
    }
  });
});

interface Entry {
  readonly principal?: string;
  readonly organization?: string | null;
  readonly identity: { readonly set_aside: string[]; readonly issuer: string; readonly key_id: string };
}

/** The log's entries, read as anyone would: through the published tiles. */
async function auditEntries(): Promise<Entry[]> {
  await gw.gateway.audit.log.publish();
  const size = gw.gateway.audit.log.published!.size;
  const out: Entry[] = [];
  for (let i = 0n; i * 256n < size; i++) {
    const width = size - i * 256n >= 256n ? 256 : Number(size % 256n);
    const path = `tile/entries/${String(i).padStart(3, "0")}${width === 256 ? "" : `.p/${width}`}`;
    const res = await fetch(`${gw.url}/audit/${path}`);
    out.push(
      ...decodeBundle(Buffer.from(await res.arrayBuffer()), width).map(
        (e) => JSON.parse(e.toString()) as Entry,
      ),
    );
  }
  return out;
}

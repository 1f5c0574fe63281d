/**
 * Unmodified OpenAI and Anthropic SDKs with a partner's token as their apiKey, issued by a real
 * OpenID provider: allowed, denied, fallback; a bad token is the SDK's AuthenticationError.
 */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";
import { AUDIENCE, startTestIdp, type TestIdp } from "../testing/oidc.js";

let idp: TestIdp;
let gw: TestGateway;

beforeAll(async () => {
  idp = await startTestIdp({
    alg: "ES256",
    people: {
      "de-anna": { nationality: ["DE"] },
      "br-bruno": { nationality: ["BR"] },
      "ir-dara": { nationality: ["DE", { country: "IR", since: "2020-01-01" }] },
    },
  });
  gw = await startTestGateway({
    extra: `identity:
  providers:
    - { partner: g7-fvey, id: de-gov, issuer: "${idp.issuer}", audiences: [${AUDIENCE}], claims: { citizenships: nationality }, assurance: { level: attested }, max_assurance: attested }
`,
  });
}, 30_000);
afterAll(async () => {
  await gw?.gateway.close();
  await idp?.close();
});

const messages = [{ role: "user" as const, content: "What may I use?" }];
const openai = (token: string) =>
  new OpenAI({
    apiKey: token,
    baseURL: `${gw.url}/v1`,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": "DE" },
  });
const anthropic = (token: string) =>
  new Anthropic({
    apiKey: token,
    baseURL: gw.url,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": "DE" },
  });

describe("OpenAI SDK with a partner token", () => {
  it("allowed", async () => {
    const { data, response } = await openai(await idp.token("de-anna"))
      .chat.completions.create({ model: "mythos-5", messages })
      .withResponse();
    expect(data.choices[0]?.message.content).toContain("mythos-5");
    expect(response.headers.get("x-clearance-reason")).toBe("partner-country");
  });

  it("fallback: a citizenship outside the partner's reach is set aside", async () => {
    const { data, response } = await openai(await idp.token("br-bruno"))
      .chat.completions.create({ model: "mythos-5", messages })
      .withResponse();
    expect(response.headers.get("x-clearance-decision")).toBe("fallback");
    expect(data.model).toBe("mythos-4");
  });

  it("denied: an embargoed nationality is believed from any source", async () => {
    const err = await openai(await idp.token("ir-dara"))
      .chat.completions.create({ model: "mythos-5", messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect((err as InstanceType<typeof OpenAI.PermissionDeniedError>).code).toBe("embargoed-nationality");
  });

  it("a bad token is an AuthenticationError with the precise code", async () => {
    const token = await idp.token("de-anna");
    const err = await openai(`${token.slice(0, -4)}AAAA`)
      .chat.completions.create({ model: "mythos-5", messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect((err as InstanceType<typeof OpenAI.AuthenticationError>).code).toBe("token-signature");
  });
});

describe("Anthropic SDK with a partner token (x-api-key)", () => {
  it("allowed", async () => {
    const { data, response } = await anthropic(await idp.token("de-anna"))
      .messages.create({ model: "mythos-5", max_tokens: 32, messages })
      .withResponse();
    expect(data.content[0]?.type).toBe("text");
    expect(response.headers.get("x-clearance-reason")).toBe("partner-country");
  });

  it("fallback", async () => {
    const { data, response } = await anthropic(await idp.token("br-bruno"))
      .messages.create({ model: "mythos-5", max_tokens: 32, messages })
      .withResponse();
    expect(response.headers.get("x-clearance-decision")).toBe("fallback");
    expect(data.model).toBe("mythos-4");
  });

  it("denied", async () => {
    const err = await anthropic(await idp.token("ir-dara"))
      .messages.create({ model: "mythos-5", max_tokens: 32, messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
  });

  it("a token of an unregistered issuer is an AuthenticationError", async () => {
    const other = await startTestIdp({ people: { x: {} } });
    try {
      const err = await anthropic(await other.token("x"))
        .messages.create({ model: "mythos-5", max_tokens: 32, messages })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Anthropic.AuthenticationError);
      expect(String((err as Error).message)).toMatch(/unknown-issuer|no identity provider/);
    } finally {
      await other.close();
    }
  });
});

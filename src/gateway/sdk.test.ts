/** End to end with the real openai and @anthropic-ai/sdk clients pointed at the gateway. */
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(() => t.gateway.close());

const openai = (principal: string, country: string) =>
  new OpenAI({
    apiKey: t.keys.get(principal),
    baseURL: `${t.url}/v1`,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": country },
  });
const anthropic = (principal: string, country: string) =>
  new Anthropic({
    apiKey: t.keys.get(principal),
    baseURL: t.url,
    maxRetries: 0,
    defaultHeaders: { "x-test-country": country },
  });
const messages = [{ role: "user" as const, content: "What may I use?" }];

describe("OpenAI SDK through the gateway", () => {
  it("an allowed completion", async () => {
    const { data, response } = await openai("benoit", "FR")
      .chat.completions.create({ model: "mythos-5", messages })
      .withResponse();
    expect(data.model).toBe("mythos-5");
    expect(data.choices[0]?.message.content).toContain("mythos-5");
    expect(response.headers.get("x-clearance-decision")).toBe("allow");
    expect(response.headers.get("x-clearance-reason")).toBe("partner-country");
    expect(response.headers.get("x-clearance-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("a streamed completion arrives chunk by chunk, without the usage chunk it did not ask for", async () => {
    const stream = await openai("alice", "US").chat.completions.create({
      model: "mythos-5",
      messages,
      stream: true,
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.length).toBeGreaterThan(3);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? "").join("");
    expect(text).toContain("mythos-5");
    expect(chunks.some((c) => c.usage)).toBe(false);
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
  });

  it("a stream that asks for usage gets it", async () => {
    const stream = await openai("alice", "US").chat.completions.create({
      model: "mythos-5",
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage;
    for await (const chunk of stream) usage = chunk.usage ?? usage;
    expect(usage?.total_tokens).toBeGreaterThan(0);
  });

  it("a denial is the SDK's PermissionDeniedError carrying the reason code", async () => {
    const err = await openai("feng", "IR")
      .chat.completions.create({ model: "mythos-5", messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.PermissionDeniedError);
    const e = err as InstanceType<typeof OpenAI.PermissionDeniedError>;
    expect(e.status).toBe(403);
    expect(e.code).toBe("embargoed-location");
    expect(e.message).toContain("request location IR is embargoed");
    expect(e.headers?.get("x-clearance-reason")).toBe("embargoed-location");
  });

  it("a fallback is visible in the response", async () => {
    const { data, response } = await openai("devi", "IN")
      .chat.completions.create({ model: "mythos-5", messages })
      .withResponse();
    expect(data.model).toBe("mythos-4");
    expect(response.headers.get("x-clearance-decision")).toBe("fallback");
    expect(response.headers.get("x-clearance-served-model")).toBe("mythos-4");
    expect(response.headers.get("x-clearance-reason")).toBe("no-authorization");
  });

  it("completions, embeddings and responses are decided and forwarded too", async () => {
    const client = openai("alice", "US");
    const c = await client.completions.create({ model: "mythos-5", prompt: "Say hello" });
    expect(c.choices[0]?.text).toContain("mythos-5");
    const e = await client.embeddings.create({ model: "mythos-4", input: ["a", "b"] });
    expect(e.data).toHaveLength(2);
    const r = await client.responses.create({ model: "mythos-5", input: "Say hello" });
    expect(r.output_text).toContain("mythos-5");
    const denied = await openai("feng", "IR")
      .embeddings.create({ model: "mythos-4", input: "x" })
      .catch((err: unknown) => err);
    expect(denied).toBeInstanceOf(OpenAI.PermissionDeniedError);
  });

  it("models lists only what this caller may use, marking fallbacks", async () => {
    const list = await openai("devi", "IN").models.list();
    const byId = new Map(
      list.data.map((m) => [
        m.id,
        (m as unknown as { clearance: { decision: string; served_model: string } }).clearance,
      ]),
    );
    expect(byId.get("mythos-4")?.decision).toBe("allow");
    expect(byId.get("mythos-5")).toEqual(
      expect.objectContaining({ decision: "fallback", served_model: "mythos-4" }),
    );
    expect(byId.has("mythos-5-weights")).toBe(false);
    const one = await openai("alice", "US").models.retrieve("mythos-5-weights");
    expect(one.id).toBe("mythos-5-weights");
    await expect(openai("devi", "IN").models.retrieve("mythos-5-weights")).rejects.toBeInstanceOf(
      OpenAI.PermissionDeniedError,
    );
  });

  it("routing members some upstreams honour (models, fallbacks, route) are refused, nothing recorded", async () => {
    const size = t.gateway.audit.log.size;
    for (const extra of [{ models: ["mythos-5"] }, { fallbacks: ["mythos-5"] }, { route: "fallback" }]) {
      const name = Object.keys(extra)[0];
      // devi is denied mythos-5; an upstream reading these could serve it all the same.
      const err = await openai("devi", "IN")
        .chat.completions.create({ model: "mythos-4", messages, ...extra })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      const e = err as InstanceType<typeof OpenAI.BadRequestError>;
      expect(e.status).toBe(400);
      expect(e.code).toBe("unsupported_member");
      expect(e.param).toBe(name);
      expect(e.message).toContain(`"${name}"`);
      expect(e.headers?.get("x-clearance-decision")).toBe("none");
    }
    expect(t.gateway.audit.log.size).toBe(size);
  });

  it("an unknown key is the SDK's AuthenticationError", async () => {
    const client = new OpenAI({ apiKey: "clr_aaaaaaaaaaaa_bogus", baseURL: `${t.url}/v1`, maxRetries: 0 });
    await expect(client.chat.completions.create({ model: "mythos-5", messages })).rejects.toBeInstanceOf(
      OpenAI.AuthenticationError,
    );
  });
});

describe("Anthropic SDK through the gateway", () => {
  it("an allowed message", async () => {
    const { data, response } = await anthropic("chloe", "GB")
      .messages.create({ model: "mythos-5", max_tokens: 100, messages })
      .withResponse();
    expect(data.content[0]?.type === "text" && data.content[0].text).toContain("mythos-5");
    expect(response.headers.get("x-clearance-reason")).toBe("partner-organization");
  });

  it("a streamed message, by async iteration", async () => {
    const stream = await anthropic("alice", "US").messages.create({
      model: "mythos-5",
      max_tokens: 100,
      messages,
      stream: true,
    });
    let text = "";
    const types = new Set<string>();
    for await (const event of stream) {
      types.add(event.type);
      if (event.type === "content_block_delta" && event.delta.type === "text_delta") text += event.delta.text;
    }
    expect(text).toContain("mythos-5");
    expect(types).toEqual(
      new Set([
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
      ]),
    );
  });

  it("a denial is the SDK's PermissionDeniedError with the reason", async () => {
    const err = await anthropic("feng", "IR")
      .messages.create({ model: "mythos-5", max_tokens: 10, messages })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Anthropic.PermissionDeniedError);
    expect((err as Error).message).toContain("embargoed-location");
  });

  it("a fallback names the served model", async () => {
    const m = await anthropic("devi", "IN").messages.create({ model: "fable-5", max_tokens: 50, messages });
    expect(m.model).toBe("fable-4");
  });

  it("count_tokens passes through", async () => {
    const r = await anthropic("alice", "US").messages.countTokens({ model: "mythos-5", messages });
    expect(r.input_tokens).toBeGreaterThan(0);
  });
});

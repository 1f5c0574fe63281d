/**
 * Upgrading over a store whose active version an older release took (through the admin API, not
 * the config's scheme file) with what releases since refuse: the gateway starts, what the stricter
 * checks refuse is left out (fail closed) and /readyz says what and why.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedFromFile } from "../control/seed.js";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../testing/gateway.js";
import { EXAMPLE, storeAsOlderRelease } from "../testing/older-release.js";

let t: TestGateway;
beforeAll(async () => {
  t = await startTestGateway({
    seed: async (store) => {
      await seedFromFile(store, EXAMPLE, "2026-11-21T00:00:00Z");
      await storeAsOlderRelease(store, "2026-11-22T00:00:00Z");
    },
  });
});
afterAll(() => t?.gateway.close());

describe("a stored version an older release accepted", () => {
  it("does not stop start-up; neither spelling of the partner serves, and /readyz says why", async () => {
    const res = await fetch(`${t.url}/readyz`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { left_out: { items: { kind: string; id: string; why: string }[] } };
    expect(body.left_out.items.map((i) => [i.kind, i.id])).toEqual([
      ["license", "BIS-2026-0002"],
      ["partner", "UK-AISI"],
      ["partner", "uk-aisi"],
    ]);
    expect(body.left_out.items[2]?.why).toMatch(/"UK-AISI" and "uk-aisi" name one partner/);

    // Chloe works for the institute: listed active as uk-aisi and suspended as UK-AISI, she is not
    // served mythos-5 through either.
    const chat = await fetch(`${t.url}/v1/chat/completions`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${t.keys.get("chloe")}`,
        "content-type": "application/json",
        "x-test-country": "GB",
      },
      body: JSON.stringify({ model: "mythos-5", messages: [{ role: "user", content: "hi" }] }),
    });
    await chat.text();
    expect([chat.headers.get("x-clearance-decision"), chat.headers.get("x-clearance-reason")]).toEqual([
      "fallback",
      "no-authorization",
    ]);
  });
});

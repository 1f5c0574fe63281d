import { describe, expect, it } from "vitest";
import { canonicalJson } from "../canonical/index.js";
import { decide } from "../policy/decide.js";
import { NOW, testScheme } from "../testing/schemes.js";
import { adminEntry, decisionEntry, pseudonymizer } from "./entry.js";

describe("audit entries", () => {
  const scheme = testScheme();
  const principal = {
    id: "p-fr",
    citizenships: [{ country: "FR" }],
    organization: { id: "org-é", country: "FR" },
    assurance: "attested" as const,
  };

  it("a decision entry is RFC 8785 canonical JSON, byte for byte", () => {
    for (const [model, location] of [
      ["m5", "FR"],
      ["m5", "IN"],
      ["nope", null],
      ["m5", "IR"],
    ] as const) {
      const d = decide(scheme, principal, { model, action: "infer", location, time: NOW });
      const ctx = {
        time: new Date(NOW),
        requestId: "r-1",
        node: 'n"1',
        principal,
        location,
        action: "infer",
      };
      for (const p of [undefined, pseudonymizer("k")]) {
        const bytes = decisionEntry(d, ctx, p);
        expect(bytes.toString()).toBe(canonicalJson(JSON.parse(bytes.toString())));
      }
    }
  });

  it("carries the declared purpose a license's allow may rest on; without one, the bytes are as before", () => {
    const erik = {
      id: "erik",
      citizenships: [{ country: "DE" }],
      organization: { id: "bw-cyber", country: "DE" },
      assurance: "verified" as const,
    };
    const ctx = { time: new Date(NOW), requestId: "r-3", node: "n", principal: erik, location: "DE" };
    const d = decide(scheme, erik, { model: "m5", action: "infer", location: "DE", time: NOW });
    const without = decisionEntry(d, { ...ctx, action: "infer" }).toString();
    // No purpose declared (absent or null): no member, the bytes of an entry written before it existed.
    expect(decisionEntry(d, { ...ctx, action: "infer", purpose: null }).toString()).toBe(without);
    expect(without).not.toContain("purpose");
    const bytes = decisionEntry(d, { ...ctx, action: "infer", purpose: "cyber-defense" }).toString();
    // As JSON…
    expect(JSON.parse(bytes)).toMatchObject({ principal: "erik", purpose: "cyber-defense" });
    // …and as text: canonical, in its place among the members.
    expect(bytes).toBe(canonicalJson(JSON.parse(bytes)));
    expect(bytes).toContain(`"principal":"erik","purpose":"cyber-defense","reason":`);
    expect(bytes).toBe(
      without.replace(`"principal":"erik",`, `"principal":"erik","purpose":"cyber-defense",`),
    );
  });

  it("marks a model lookup's entry lookup:true; an inference's has no such member, its bytes as before", () => {
    const ctx = { time: new Date(NOW), requestId: "r-4", node: "n", principal, location: "FR" };
    const d = decide(scheme, principal, { model: "m5", action: "infer", location: "FR", time: NOW });
    const inference = decisionEntry(d, { ...ctx, action: "infer" }).toString();
    expect(decisionEntry(d, { ...ctx, action: "infer", lookup: false }).toString()).toBe(inference);
    expect(inference).not.toContain("lookup");
    // The bytes an inference's entry had before lookups were marked.
    expect(inference).toBe(
      `{"action":"infer","decision":"allow","grant":"partner-country:g7#0","location":"FR","model":"m5",` +
        `"node":"n","organization":"org-é","principal":"p-fr","reason":"partner-country","request_id":"r-4",` +
        `"scheme":"${d.scheme.digest}","served_model":"m5","time":"${new Date(NOW).toISOString()}",` +
        `"type":"decision","v":1}`,
    );
    const lookup = decisionEntry(d, { ...ctx, action: "infer", lookup: true }).toString();
    expect(JSON.parse(lookup)).toMatchObject({ action: "infer", lookup: true, model: "m5" });
    expect(lookup).toBe(canonicalJson(JSON.parse(lookup)));
    expect(lookup).toBe(inference.replace(`"location":"FR",`, `"location":"FR","lookup":true,`));
  });

  it("pseudonymises principals with a keyed hash, and names no prompt or key", () => {
    const d = decide(scheme, principal, { model: "m5", action: "infer", location: "FR", time: NOW });
    const ctx = {
      time: new Date(NOW),
      requestId: "r-2",
      node: "n",
      principal,
      location: "FR",
      action: "infer",
    };
    const e = JSON.parse(decisionEntry(d, ctx, pseudonymizer("secret")).toString()) as Record<
      string,
      unknown
    >;
    expect(e.principal).toMatch(/^hmac-sha256:[A-Za-z0-9_-]{43}$/);
    expect(JSON.stringify(e)).not.toContain("p-fr");
    expect(
      adminEntry({
        time: new Date(NOW),
        node: "n",
        actor: "a",
        action: "key.revoke",
        object: { kind: "key", id: "k" },
      }).toString(),
    ).toBe(
      canonicalJson({
        v: 1,
        type: "admin",
        time: new Date(NOW).toISOString(),
        node: "n",
        change: null,
        actor: "a",
        action: "key.revoke",
        object: { kind: "key", id: "k" },
        details: {},
      }),
    );
  });
});

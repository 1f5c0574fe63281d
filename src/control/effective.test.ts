/**
 * What the policy in force leaves out takes its grants with it but not its organization's rate
 * limit (licenses held by the organization need no partner): compileFitting, pure.
 */
import { describe, expect, it } from "vitest";
import { parseScheme } from "../scheme/load.js";
import { EXAMPLE } from "../testing/older-release.js";
import { compileFitting } from "./effective.js";
import type { PartnerDocument } from "./types.js";

const scheme = parseScheme(EXAMPLE, "example").source;
const base = scheme.partners.organizations.find((p) => p.id === "uk-aisi")!;
const organization = (partner: Partial<typeof base>): PartnerDocument => ({
  kind: "organization",
  partner: { ...base, ...partner },
  history: [],
});

describe("an organization partner left out of the policy in force", () => {
  it("keeps its rate limit, counted under its own id", () => {
    // A grant of a model the version does not define: the partner does not fit and is left out.
    const unfit = organization({
      grants: [{ models: ["gone-5"], actions: ["infer"] }],
      rate_limit: { requests_per_minute: 30, tokens_per_minute: 5000 },
    });
    const fitted = compileFitting(scheme, [unfit], []);
    expect(fitted.leftOut.map((l) => l.id)).toEqual(["uk-aisi"]);
    expect(fitted.scheme.organizationPartners.has("uk-aisi")).toBe(false);
    expect(fitted.scheme.organizationRateLimits.get("uk-aisi")).toEqual({
      requestsPerMinute: 30,
      tokensPerMinute: 5000,
      counter: "uk-aisi",
    });
  });

  it("under two spellings: the stricter figure of each, in one window for both spellings", () => {
    const fitted = compileFitting(
      scheme,
      [
        organization({ rate_limit: { requests_per_minute: 100 } }),
        organization({ id: "UK-AISI", rate_limit: { requests_per_minute: 300, tokens_per_minute: 2000 } }),
      ],
      [],
    );
    expect(fitted.leftOut.map((l) => l.id).sort()).toEqual(["UK-AISI", "uk-aisi"]);
    const kept = { requestsPerMinute: 100, tokensPerMinute: 2000, counter: "uk-aisi" };
    expect(fitted.scheme.organizationRateLimits.get("uk-aisi")).toEqual(kept);
    expect(fitted.scheme.organizationRateLimits.get("UK-AISI")).toEqual(kept);
  });

  it("with no rate limit, leaves none", () => {
    const fitted = compileFitting(scheme, [organization({}), organization({ id: "UK-AISI" })], []);
    expect(fitted.leftOut).toHaveLength(2);
    expect(fitted.scheme.organizationRateLimits.size).toBe(0);
  });
});

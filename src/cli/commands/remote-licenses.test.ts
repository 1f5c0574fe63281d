/**
 * The CLI's count of a pending license's approvals: only those that count. An application stored
 * before countries were fixed at filing, approved once then, has its countries fixed by the next
 * approval, and the approval before it no longer counts (the two-person rule binds the countries).
 */
import { describe, expect, it } from "vitest";
import type { LicenseRecord } from "../../licensing/types.js";
import { apply, approve } from "../../licensing/workflow.js";
import { approvals } from "./remote-licenses.js";

const NOW = "2026-07-01T00:00:00Z";
const legacy: LicenseRecord = {
  ...apply(
    {
      id: "LIC-OLD",
      licensee: { organization: "bw-cyber" },
      terms: {
        models: ["mythos-5"],
        actions: ["infer"],
        destinations: ["trusted"],
        valid_from: "2026-07-01",
        valid_until: "2027-07-01",
        quota_period: "total",
      },
      justification: "test",
    },
    "officer",
    NOW,
  ),
  approvals: [{ identity: "first", at: NOW }],
};

describe("a pending license's approvals in the CLI", () => {
  it("counts those after its countries were fixed: 1/2 where two were given", () => {
    const fixed = approve(
      legacy,
      { id: "second", organization: null },
      NOW,
      undefined,
      () => new Set(["GB"]),
      [],
    );
    expect(fixed.status).toBe("pending");
    expect(fixed.approvals).toHaveLength(2);
    expect(approvals(fixed)).toBe("1/2");
    expect(approvals(legacy)).toBe("1/2");
  });
});

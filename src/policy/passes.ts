/**
 * The check results that depend on the model alone, built once per model when a scheme version is
 * compiled: on the common path decide() lists these shared objects instead of building new ones.
 */
import type { CheckName, CheckResult, Control, Finding } from "./types.js";

export interface ModelPasses {
  readonly screening: CheckResult;
  /** A potential screening match, and the model is not controlled. */
  readonly screeningUncontrolled: CheckResult;
  readonly embargoKnown: CheckResult;
  readonly embargoUnknown: CheckResult;
  readonly model: CheckResult;
  readonly openModel: CheckResult;
  /** The organization-partner check for a principal with no organization. */
  readonly noOrganization: CheckResult;
  /** The license check for a principal holding no license. */
  readonly noLicense: CheckResult;
  /** The open-model check's allow (only for an open model). */
  readonly open: CheckResult;
}

const pass = (check: CheckName, model: string, finding: Finding): CheckResult => ({
  check,
  model,
  outcome: "pass",
  reason: undefined,
  finding,
});

const NO_MATCH: Finding = { code: "no-screening-match" };
const UNCONTROLLED: Finding = { code: "screening-review-uncontrolled" };
const EMBARGO_KNOWN: Finding = { code: "nothing-embargoed", locationKnown: true };
const NO_ORGANIZATION: Finding = { code: "no-organization" };
const NO_LICENSE: Finding = { code: "no-license" };
const EMBARGO_UNKNOWN: Finding = { code: "nothing-embargoed", locationKnown: false };

/** `control` undefined: a model the scheme does not define (only the first two checks can pass). */
export function modelPasses(model: string, control: Control | undefined): ModelPasses {
  const controlFinding: Finding = { code: "model-control", model, control: control ?? "controlled" };
  return {
    screening: pass("screening", model, NO_MATCH),
    screeningUncontrolled: pass("screening", model, UNCONTROLLED),
    embargoKnown: pass("embargo", model, EMBARGO_KNOWN),
    embargoUnknown: pass("embargo", model, EMBARGO_UNKNOWN),
    model: pass("model", model, controlFinding),
    openModel: pass("open-model", model, controlFinding),
    noOrganization: pass("partner-organization", model, NO_ORGANIZATION),
    noLicense: pass("license", model, NO_LICENSE),
    open: {
      check: "open-model",
      model,
      outcome: "allow",
      reason: "open-model",
      finding: { code: "open-model", model },
    },
  };
}

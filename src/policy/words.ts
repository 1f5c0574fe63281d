/**
 * Findings into words, for the places a person reads a decision: `clearance check --explain`, the
 * decision API's JSON (`detail` beside each finding), a 403's message. decide() only records what
 * each check found (codes and parameters); the sentences are built here, only when asked for.
 */
import type {
  CheckResult,
  Decision,
  FallbackAttempt,
  Failed,
  Failure,
  Finding,
  NationalityBasis,
} from "./types.js";

const NOTE: Readonly<Record<NationalityBasis, string>> = {
  "most-recent": "",
  all: " (rule: all nationalities)",
  "dates-missing": " (acquisition dates missing, so every nationality counts)",
};

export function describeFailure(f: Failure): string {
  switch (f.code) {
    case "partner-status":
      return `partner is ${f.status}`;
    case "license-status":
      return `license is ${f.status}`;
    case "no-nationality":
      return "no nationality on record";
    case "nationality-outside-partner":
      return `nationality ${f.country} is not in the partner's countries`;
    case "location-unknown":
      return "request location unknown";
    case "location-outside-partner-and-home":
      return `location ${f.location} is outside the partner's and the home countries`;
    case "assurance-below":
      return `identity assurance ${f.assurance} is below the required ${f.required}`;
    case "partner-not-granted":
      return `partner is not granted ${f.model} for ${f.action}`;
    case "location-not-allowed":
      return `location ${f.location} is not one the partner allows`;
    case "nationality-restricted":
      return `nationality ${f.country} is restricted and needs its own license`;
    case "not-yet-valid":
      return "not yet valid";
    case "expired":
      return "expired";
    case "model-not-covered":
      return `does not cover ${f.model}`;
    case "action-not-covered":
      return `does not cover ${f.action}`;
    case "destination-not-licensed":
      return `location ${f.location} is not a licensed destination`;
    case "purpose-not-licensed":
      return `purpose ${f.purpose ?? "(none given)"} is not licensed`;
    case "nationality-not-licensed":
      return `nationality ${f.country} is not licensed`;
    case "quota-used-up":
      return "token quota used up";
  }
}

const failed = (list: readonly Failed[]) =>
  list.map((x) => `${x.id}: ${describeFailure(x.failure)}`).join("; ");

export function describeFinding(f: Finding): string {
  switch (f.code) {
    case "principal-screening-match":
      return `principal ${f.principal} is a confirmed screening match`;
    case "organization-screening-match":
      return `organization ${f.organization} is a confirmed screening match`;
    case "screening-review":
      return "a potential screening match awaits review; controlled models are withheld until it is cleared";
    case "screening-review-uncontrolled":
      return "potential screening match under review; model is not controlled";
    case "no-screening-match":
      return "no screening match";
    case "location-embargoed":
      return `request location ${f.country} is embargoed`;
    case "residence-embargoed":
      return `residence ${f.country} is embargoed`;
    case "organization-country-embargoed":
      return `organization country ${f.country} is embargoed`;
    case "nationality-embargoed":
      return `nationality ${f.country} is embargoed${NOTE[f.basis]}`;
    case "nothing-embargoed":
      return f.locationKnown ? "nothing embargoed" : "nothing embargoed (location unknown)";
    case "unknown-model":
      return `model ${f.model} is not in scheme ${f.scheme}`;
    case "not-offered-here":
      return f.location === null
        ? `model ${f.model} is offered only in some countries and the request location is unknown`
        : `model ${f.model} is not offered in ${f.location}`;
    case "model-control":
      return `model ${f.model} is ${f.control}`;
    case "open-model":
      return `model ${f.model} is open`;
    case "home-only-outside-home":
      return `home person (${f.via} of ${f.country}), but home-only model ${f.model} is served only inside the home countries; location ${f.location ?? "unknown"}`;
    case "home-person":
      return `home person (${f.via} of ${f.country})`;
    case "foreign-person":
      return `foreign person${NOTE[f.basis]}`;
    case "foreign-person-nationalities": {
      const list = f.nationalities.length === 0 ? "none on record" : f.nationalities.join(", ");
      return `foreign person; relevant nationalities: ${list}${NOTE[f.basis]}`;
    }
    case "country-partner":
      return `country partner ${f.partner}: nationality ${f.nationalities.join(", ")}, location ${f.location}, assurance ${f.assurance}`;
    case "no-country-partner-grant":
      return `no country partner is granted ${f.model} for ${f.action}`;
    case "country-partners-failed":
      return failed(f.partners);
    case "organization-partner":
      return `organization partner ${f.partner} (${f.name}), location ${f.location}`;
    case "no-organization":
      return "principal has no organization";
    case "organization-not-partner":
      return `organization ${f.organization} is not a partner`;
    case "organization-partner-failed":
      return failed([f.partner]);
    case "license-covers":
      return `license ${f.license} covers this request${f.quota === null ? "" : ` (${f.left} of ${f.quota} tokens left)`}`;
    case "license-quota-exhausted":
      return `license ${f.license} would cover this request but its token quota is used up`;
    case "no-license":
      return "no license held";
    case "licenses-failed":
      return failed(f.licenses);
    case "home-only-foreign":
      return `home-only model ${f.model} is served to home persons only`;
    case "no-authorization":
      return `no partner grant or license authorizes ${f.model} for ${f.action}`;
  }
}

/** A check as the decision API and `clearance check` show it: the finding, and in words. */
export interface CheckView {
  readonly check: CheckResult["check"];
  readonly model: string;
  readonly outcome: CheckResult["outcome"];
  readonly reason?: CheckResult["reason"];
  readonly detail: string;
  readonly finding: Finding;
}

export interface DecisionView extends Omit<Decision, "checks" | "fallbacks"> {
  readonly checks: readonly CheckView[];
  readonly fallbacks?: readonly (Omit<FallbackAttempt, "checks"> & {
    readonly checks: readonly CheckView[];
  })[];
}

function checkView(c: CheckResult): CheckView {
  const detail = describeFinding(c.finding);
  return c.reason === undefined
    ? { check: c.check, model: c.model, outcome: c.outcome, detail, finding: c.finding }
    : { check: c.check, model: c.model, outcome: c.outcome, reason: c.reason, detail, finding: c.finding };
}

/** The decision with each check's detail in words (the JSON the decision API and the CLI print). */
export function decisionView(d: Decision): DecisionView {
  const view = Object.assign({}, d, { checks: d.checks.map(checkView) });
  if (d.fallbacks === undefined) return view as DecisionView;
  return Object.assign(view, {
    fallbacks: d.fallbacks.map((f) => Object.assign({}, f, { checks: f.checks.map(checkView) })),
  }) as DecisionView;
}

/** The deciding check's finding in words: what a refused caller is told. */
export function decidingDetail(d: Decision): string {
  const last = d.checks.at(-1);
  return last === undefined ? "" : describeFinding(last.finding);
}

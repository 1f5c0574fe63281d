/**
 * The outcome of a decision alone — allow, fallback or deny, the deciding reason and the model
 * served — for bulk use: a what-if over a population compares tens of millions of decisions and
 * needs only these three. The same checks in the same order as decide(), without the findings that
 * explain them (no check list, no objects per check). decide() stays the reference: a property test
 * (outcome.test.ts) holds the two equal over generated schemes, principals and requests.
 */
import type { CompiledLicense, CompiledModel, CompiledScheme } from "../scheme/compile.js";
import { ACTION_INDEX } from "../scheme/compile.js";
import { timeOf } from "./decide.js";
import { factsOf, type PrincipalFacts } from "./facts.js";
import type { Decision, DecisionRequest, Principal, Reason } from "./types.js";

export interface Outcome {
  readonly decision: Decision["decision"];
  readonly reason: Reason;
  readonly served_model: string | null;
}

/** What a request adds to the principal's facts, with the action as its index in ACTIONS. */
export interface OutcomeRequest {
  readonly model: string;
  readonly actionIndex: number;
  readonly location: string | null;
  readonly time: number;
  readonly purpose?: string | null;
  readonly usage?: Readonly<Record<string, { readonly tokens: number }>> | undefined;
}

/** `sideOf(decide(scheme, principal, request))`, without the explanation. */
export function decideOutcome(
  scheme: CompiledScheme,
  principal: Principal,
  request: DecisionRequest,
): Outcome {
  const time = timeOf(request.time);
  return outcomeOf(scheme, factsOf(scheme, principal, time), {
    model: request.model,
    actionIndex: ACTION_INDEX[request.action] ?? -1,
    location: request.location || null,
    time,
    purpose: request.purpose,
    usage: request.usage,
  });
}

/** The outcome from facts worked out beforehand (principalFacts), for callers deciding in bulk. */
export function outcomeOf(scheme: CompiledScheme, facts: PrincipalFacts, r: OutcomeRequest): Outcome {
  const reason = reasonOf(scheme, facts, r.model, r);
  if (ALLOWS[reason] === true) return { decision: "allow", reason, served_model: r.model };
  // As decide(): down the fallback chain, except after a universal denial.
  let next = UNIVERSAL[reason] === true ? null : (scheme.models.get(r.model)?.fallback ?? null);
  while (next !== null) {
    const attempt = reasonOf(scheme, facts, next, r);
    if (ALLOWS[attempt] === true) return { decision: "fallback", reason, served_model: next };
    next = UNIVERSAL[attempt] === true ? null : (scheme.models.get(next)?.fallback ?? null);
  }
  return { decision: "deny", reason, served_model: null };
}

const ALLOWS: Readonly<Partial<Record<Reason, true>>> = {
  "open-model": true,
  "home-person": true,
  "partner-country": true,
  "partner-organization": true,
  license: true,
};

const UNIVERSAL: Readonly<Partial<Record<Reason, true>>> = {
  "denied-party": true,
  "embargoed-location": true,
  "embargoed-residence": true,
  "embargoed-organization": true,
  "embargoed-nationality": true,
};

/** decide.ts `evaluate()`: the deciding check's reason for one model. */
function reasonOf(scheme: CompiledScheme, facts: PrincipalFacts, modelId: string, r: OutcomeRequest): Reason {
  const { location } = r;
  const model = scheme.models.get(modelId);
  if (facts.deniedParty !== null) return facts.deniedParty.reason;
  if (facts.potentialMatch && model !== undefined && model.control !== "open") return "screening-review";
  if (location !== null && scheme.embargoed.has(location)) return "embargoed-location";
  if (facts.embargo !== null) return facts.embargo.reason;
  if (model === undefined) return "unknown-model";
  if (model.availableIn !== null && (location === null || !model.availableIn.has(location)))
    return "not-available-here";
  if (model.control === "open") return "open-model";
  if (facts.home !== null) {
    return model.control === "home-only" && (location === null || !scheme.home.has(location))
      ? "home-only-outside-home"
      : "home-person";
  }
  if (model.control === "home-only") return "no-authorization";
  if (countryPartnerAllows(scheme, facts, model, r)) return "partner-country";
  if (organizationPartnerAllows(facts, model, r)) return "partner-organization";
  return licenseReason(facts, model, r) ?? "no-authorization";
}

function countryPartnerAllows(
  scheme: CompiledScheme,
  facts: PrincipalFacts,
  model: CompiledModel,
  { actionIndex, location }: OutcomeRequest,
): boolean {
  const granted = model.countryGrants[actionIndex];
  if (granted === undefined || location === null || facts.relevant.length === 0) return false;
  for (let i = 0; i < granted.length; i++) {
    const g = granted[i];
    if (g === undefined) continue;
    const p = g.partner;
    if (
      p.status === "active" &&
      (facts.outsidePartner[g.at] ?? null) === null &&
      (p.countries.has(location) || scheme.home.has(location)) &&
      facts.assurance >= p.assurance
    )
      return true;
  }
  return false;
}

function organizationPartnerAllows(
  facts: PrincipalFacts,
  model: CompiledModel,
  { actionIndex, location }: OutcomeRequest,
): boolean {
  const p = facts.organizationPartner;
  if (facts.organizationId === null || p === undefined) return false;
  return (
    p.status === "active" &&
    (p.grants.get(model.id)?.[actionIndex] ?? -1) >= 0 &&
    facts.assurance >= p.assurance &&
    location !== null &&
    p.locations.has(location) &&
    facts.relevant.length > 0 &&
    facts.restricted === null
  );
}

/** Step 8: "license" when a license held covers the request, "license-quota-exhausted" when only quota is missing. */
function licenseReason(facts: PrincipalFacts, model: CompiledModel, r: OutcomeRequest): Reason | null {
  const held = facts.licenses;
  let exhausted = false;
  for (let i = 0; i < held.length; i++) {
    const l = held[i] as CompiledLicense;
    const covers = licenseCovers(facts, l, model, r);
    if (covers === COVERS) return "license";
    if (covers === QUOTA_USED_UP) exhausted = true;
  }
  return exhausted ? "license-quota-exhausted" : null;
}

const COVERS = 0;
const FAILS = 1;
const QUOTA_USED_UP = 2;

/** decide.ts `licenseFailure()`, in the same order; quota is the last condition checked. */
function licenseCovers(
  facts: PrincipalFacts,
  l: CompiledLicense,
  model: CompiledModel,
  r: OutcomeRequest,
): number {
  const { location, time, purpose } = r;
  if (l.status !== "approved") return FAILS;
  if (!(time >= l.validFrom) || !(time < l.validUntil)) return FAILS;
  if (!l.models.has(model.id) || (l.actions & (1 << r.actionIndex)) === 0) return FAILS;
  if (location === null || !l.destinations.has(location)) return FAILS;
  if (l.purposes !== null && (purpose == null || !l.purposes.has(purpose))) return FAILS;
  if (l.nationalities !== null) {
    const relevant = facts.relevant;
    if (relevant.length === 0) return FAILS;
    for (let i = 0; i < relevant.length; i++) if (!l.nationalities.has(relevant[i] as string)) return FAILS;
  }
  if (l.quotaTokens !== null && (r.usage?.[l.id]?.tokens ?? 0) >= l.quotaTokens) return QUOTA_USED_UP;
  return COVERS;
}

/**
 * The decision (DESIGN.md "Decision semantics"). Pure: no I/O, no clock (time is an input), no
 * globals. The checks run in order and the first that decides, decides; every check run is listed
 * with its outcome, so the last one listed is the deciding one. A denied model that names a
 * fallback is retried down the chain, except after universal denials (denied party, embargo).
 *
 * Each check records what it found as data (a finding: a code and its parameters), never as a
 * sentence; words.ts renders findings for people. The hot path is look-ups in structures built
 * once per scheme version (models' shared pass results, license indexes) or once per principal
 * (facts.ts), and a handful of small objects per decision.
 */
import type {
  CompiledLicense,
  CompiledModel,
  CompiledScheme,
  CountryGrant,
  Countries,
} from "../scheme/compile.js";
import { ACTION_INDEX } from "../scheme/compile.js";
import { instantOf } from "./dates.js";
import { factsOf, type PrincipalFacts } from "./facts.js";
import { modelPasses } from "./passes.js";
import type {
  CheckName,
  CheckResult,
  Decision,
  DecisionRequest,
  Failed,
  Failure,
  FallbackAttempt,
  Finding,
  GrantRef,
  LicenseStatus,
  PartnerStatus,
  Principal,
  Reason,
} from "./types.js";
import { ASSURANCE_LEVELS, LICENSE_STATUSES, PARTNER_STATUSES } from "./types.js";

/** Everything one decision reads, and the grant the last evaluated model's allow rests on. */
class Context {
  grant: GrantRef | null = null;
  constructor(
    readonly scheme: CompiledScheme,
    readonly principal: Principal,
    readonly request: DecisionRequest,
    readonly facts: PrincipalFacts,
    readonly location: string | null,
    readonly time: number,
    readonly actionIndex: number,
  ) {}
}

const UNIVERSAL: Readonly<Partial<Record<Reason, true>>> = {
  "denied-party": true,
  "embargoed-location": true,
  "embargoed-residence": true,
  "embargoed-organization": true,
  "embargoed-nationality": true,
};

export function decide(scheme: CompiledScheme, principal: Principal, request: DecisionRequest): Decision {
  const time = timeOf(request.time);
  const ctx = new Context(
    scheme,
    principal,
    request,
    factsOf(scheme, principal, time),
    request.location || null,
    time,
    ACTION_INDEX[request.action] ?? -1,
  );
  const checks = evaluate(ctx, request.model);
  const decided = checks[checks.length - 1] as CheckResult;
  const reason = decided.reason as Reason;
  if (decided.outcome === "allow") {
    return decision("allow", reason, request.model, request.model, ctx.grant, checks, undefined, scheme.ref);
  }

  let fallbacks: FallbackAttempt[] | undefined;
  let next = UNIVERSAL[reason] ? null : (scheme.models.get(request.model)?.fallback ?? null);
  while (next !== null) {
    ctx.grant = null;
    const attempt = evaluate(ctx, next);
    const last = attempt[attempt.length - 1] as CheckResult;
    const outcome = last.outcome === "allow" ? "allow" : "deny";
    const attemptReason = last.reason as Reason;
    (fallbacks ??= []).push({
      model: next,
      outcome,
      reason: attemptReason,
      grant: ctx.grant,
      checks: attempt,
    });
    if (outcome === "allow") {
      return decision("fallback", reason, request.model, next, ctx.grant, checks, fallbacks, scheme.ref);
    }
    // Cycles are rejected when the scheme is compiled, so the chain ends.
    next = UNIVERSAL[attemptReason] ? null : (scheme.models.get(next)?.fallback ?? null);
  }
  return decision("deny", reason, request.model, null, null, checks, fallbacks, scheme.ref);
}

function decision(
  outcome: Decision["decision"],
  reason: Reason,
  model: string,
  served: string | null,
  grant: GrantRef | null,
  checks: CheckResult[],
  fallbacks: FallbackAttempt[] | undefined,
  scheme: Decision["scheme"],
): Decision {
  // One object shape for every decision (fallbacks undefined when none was tried, and left out of
  // JSON): building then copying gave V8 two shapes and cost a third of the throughput.
  return { decision: outcome, reason, model, served_model: served, grant, checks, fallbacks, scheme };
}

/** Lists the deciding check and returns the list. */
function decides(
  checks: CheckResult[],
  check: CheckName,
  model: string,
  outcome: "allow" | "deny",
  reason: Reason,
  finding: Finding,
): CheckResult[] {
  checks.push({ check, model, outcome, reason, finding });
  return checks;
}

function passes(check: CheckName, model: string, finding: Finding): CheckResult {
  return { check, model, outcome: "pass", reason: undefined, finding };
}

/** The check list applied to one model; the last check listed decided. Sets ctx.grant on an allow. */
function evaluate(ctx: Context, modelId: string): CheckResult[] {
  const checks: CheckResult[] = [];
  const { scheme, facts, location } = ctx;
  const model = scheme.models.get(modelId);
  const shared = model === undefined ? modelPasses(modelId, undefined) : model.passes;
  const controlled = model !== undefined && model.control !== "open";

  // 1. Denied parties.
  if (facts.deniedParty !== null) {
    return decides(checks, "screening", modelId, "deny", facts.deniedParty.reason, facts.deniedParty.finding);
  }
  if (facts.potentialMatch && controlled) {
    return decides(checks, "screening", modelId, "deny", "screening-review", SCREENING_REVIEW);
  }
  checks.push(facts.potentialMatch ? shared.screeningUncontrolled : shared.screening);

  // 2. Embargo. An unknown location cannot trigger it.
  if (location !== null && scheme.embargoed.has(location)) {
    return decides(checks, "embargo", modelId, "deny", "embargoed-location", {
      code: "location-embargoed",
      country: location,
    });
  }
  if (facts.embargo !== null) {
    return decides(checks, "embargo", modelId, "deny", facts.embargo.reason, facts.embargo.finding);
  }
  checks.push(location === null ? shared.embargoUnknown : shared.embargoKnown);

  // 3. The model, and where it is offered.
  if (model === undefined) {
    return decides(checks, "model", modelId, "deny", "unknown-model", {
      code: "unknown-model",
      model: modelId,
      scheme: scheme.name,
    });
  }
  if (model.availableIn !== null && (location === null || !model.availableIn.has(location))) {
    return decides(checks, "model", modelId, "deny", "not-available-here", {
      code: "not-offered-here",
      model: modelId,
      location,
    });
  }
  checks.push(shared.model);

  // 4. Open models.
  if (model.control === "open") {
    checks.push(shared.open);
    return checks;
  }
  checks.push(shared.openModel);

  // 5. Home persons.
  if (facts.home !== null) {
    if (model.control === "home-only" && (location === null || !scheme.home.has(location))) {
      return decides(checks, "home-person", modelId, "deny", "home-only-outside-home", {
        code: "home-only-outside-home",
        country: facts.homeCountry as string,
        via: facts.homeVia as "citizenship",
        model: modelId,
        location,
      });
    }
    return decides(checks, "home-person", modelId, "allow", "home-person", facts.home);
  }
  if (model.control === "home-only") {
    checks.push(passes("home-person", modelId, facts.foreignHomeOnly));
    return decides(checks, "default", modelId, "deny", "no-authorization", {
      code: "home-only-foreign",
      model: modelId,
    });
  }
  checks.push(passes("home-person", modelId, facts.foreign));

  // 6. Country partners; 7. the organization partner; 8. licenses.
  if (countryPartner(ctx, model, checks)) return checks;
  if (organizationPartner(ctx, model, checks)) return checks;
  if (license(ctx, model, checks)) return checks;

  // 9. Nothing authorizes it.
  return decides(checks, "default", modelId, "deny", "no-authorization", {
    code: "no-authorization",
    model: modelId,
    action: ctx.request.action,
  });
}

const SCREENING_REVIEW: Finding = { code: "screening-review" };
const NO_NATIONALITY: Failure = { code: "no-nationality" };
const LOCATION_UNKNOWN: Failure = { code: "location-unknown" };
const NOT_YET_VALID: Failure = { code: "not-yet-valid" };
const EXPIRED: Failure = { code: "expired" };
const QUOTA_USED_UP: Failure = { code: "quota-used-up" };
const PARTNER_STATUS = Object.fromEntries(
  PARTNER_STATUSES.map((status) => [status, { code: "partner-status", status }]),
) as Record<PartnerStatus, Failure>;
const LICENSE_STATUS = Object.fromEntries(
  LICENSE_STATUSES.map((status) => [status, { code: "license-status", status }]),
) as Record<LicenseStatus, Failure>;

function assuranceBelow(ctx: Context, required: number): Failure {
  return {
    code: "assurance-below",
    assurance: ctx.facts.assuranceLevel,
    required: ASSURANCE_LEVELS[required] ?? "none",
  };
}

/** Step 6. True when a country partner allowed (the allow is listed, ctx.grant set). */
function countryPartner(ctx: Context, model: CompiledModel, checks: CheckResult[]): boolean {
  const { scheme, facts, location } = ctx;
  const granted = model.countryGrants[ctx.actionIndex];
  if (granted === undefined || granted.length === 0) {
    checks.push(
      passes("partner-country", model.id, {
        code: "no-country-partner-grant",
        model: model.id,
        action: ctx.request.action,
      }),
    );
    return false;
  }
  let failed: Failed[] | null = null;
  for (let i = 0; i < granted.length; i++) {
    const { at, partner: p, index } = granted[i] as CountryGrant;
    let failure: Failure | null = null;
    const outside = facts.outsidePartner[at] ?? null;
    if (p.status !== "active") failure = PARTNER_STATUS[p.status];
    else if (facts.relevant.length === 0) failure = NO_NATIONALITY;
    else if (outside !== null) failure = { code: "nationality-outside-partner", country: outside };
    else if (location === null) failure = LOCATION_UNKNOWN;
    else if (!p.countries.has(location) && !scheme.home.has(location)) {
      failure = { code: "location-outside-partner-and-home", location };
    } else if (facts.assurance < p.assurance) failure = assuranceBelow(ctx, p.assurance);
    if (failure === null) {
      ctx.grant = { kind: "partner-country", partner: p.id, index };
      decides(checks, "partner-country", model.id, "allow", "partner-country", {
        code: "country-partner",
        partner: p.id,
        nationalities: facts.relevant,
        location: location as string,
        assurance: facts.assuranceLevel,
      });
      return true;
    }
    (failed ??= []).push({ id: p.id, failure });
  }
  checks.push(
    passes("partner-country", model.id, { code: "country-partners-failed", partners: failed ?? [] }),
  );
  return false;
}

/** Step 7. True when the principal's organization partner allowed. */
function organizationPartner(ctx: Context, model: CompiledModel, checks: CheckResult[]): boolean {
  const { facts, location } = ctx;
  const p = facts.organizationPartner;
  if (facts.organizationId === null) {
    checks.push(model.passes.noOrganization);
    return false;
  }
  if (p === undefined) {
    checks.push(
      passes("partner-organization", model.id, {
        code: "organization-not-partner",
        organization: facts.organizationId,
      }),
    );
    return false;
  }
  const grantIndex = p.grants.get(model.id)?.[ctx.actionIndex] ?? -1;
  let failure: Failure | null = null;
  if (p.status !== "active") failure = PARTNER_STATUS[p.status];
  else if (grantIndex < 0) {
    failure = { code: "partner-not-granted", model: model.id, action: ctx.request.action };
  } else if (facts.assurance < p.assurance) failure = assuranceBelow(ctx, p.assurance);
  else if (location === null) failure = LOCATION_UNKNOWN;
  else if (!p.locations.has(location)) failure = { code: "location-not-allowed", location };
  else if (facts.relevant.length === 0) failure = NO_NATIONALITY;
  else if (facts.restricted !== null) failure = { code: "nationality-restricted", country: facts.restricted };
  if (failure !== null) {
    checks.push(
      passes("partner-organization", model.id, {
        code: "organization-partner-failed",
        partner: { id: p.id, failure },
      }),
    );
    return false;
  }
  ctx.grant = { kind: "partner-organization", partner: p.id, index: grantIndex };
  decides(checks, "partner-organization", model.id, "allow", "partner-organization", {
    code: "organization-partner",
    partner: p.id,
    name: p.name,
    location: location as string,
  });
  return true;
}

/**
 * Step 8: the principal's own licenses, then its organization's. True when one covers the request,
 * or when the only thing missing is quota (a denial that says so).
 */
function license(ctx: Context, model: CompiledModel, checks: CheckResult[]): boolean {
  const held = ctx.facts.licenses;
  let exhausted: CompiledLicense | null = null;
  let failed: Failed[] | null = null;
  for (let i = 0; i < held.length; i++) {
    const l = held[i] as CompiledLicense;
    const failure = licenseFailure(ctx, l, model);
    if (failure === null) {
      ctx.grant = l.grant;
      const quota = l.quotaTokens;
      decides(checks, "license", model.id, "allow", "license", {
        code: "license-covers",
        license: l.id,
        left: quota === null ? null : quota - (ctx.request.usage?.[l.id]?.tokens ?? 0),
        quota,
      });
      return true;
    }
    if (failure === QUOTA_USED_UP) exhausted ??= l;
    (failed ??= []).push({ id: l.id, failure });
  }
  if (exhausted !== null) {
    decides(checks, "license", model.id, "deny", "license-quota-exhausted", {
      code: "license-quota-exhausted",
      license: exhausted.id,
    });
    return true;
  }
  checks.push(
    failed === null
      ? model.passes.noLicense
      : passes("license", model.id, { code: "licenses-failed", licenses: failed }),
  );
  return false;
}

function licenseFailure(ctx: Context, l: CompiledLicense, model: CompiledModel): Failure | null {
  const { facts, location, request, time } = ctx;
  if (l.status !== "approved") return LICENSE_STATUS[l.status];
  if (!(time >= l.validFrom)) return NOT_YET_VALID;
  if (!(time < l.validUntil)) return EXPIRED;
  if (!l.models.has(model.id)) return { code: "model-not-covered", model: model.id };
  if ((l.actions & (1 << ctx.actionIndex)) === 0)
    return { code: "action-not-covered", action: request.action };
  if (location === null) return LOCATION_UNKNOWN;
  if (!l.destinations.has(location)) return { code: "destination-not-licensed", location };
  if (l.purposes !== null && (request.purpose == null || !l.purposes.has(request.purpose))) {
    return { code: "purpose-not-licensed", purpose: request.purpose ?? null };
  }
  if (l.nationalities !== null) {
    if (facts.relevant.length === 0) return NO_NATIONALITY;
    const outside = notIn(facts.relevant, l.nationalities);
    if (outside !== null) return { code: "nationality-not-licensed", country: outside };
  }
  if (l.quotaTokens !== null) {
    const used = request.usage?.[l.id]?.tokens ?? 0;
    if (used >= l.quotaTokens) return QUOTA_USED_UP;
  }
  return null;
}

/** The first country not in the set, or null when all are. */
function notIn(countries: readonly string[], set: Countries): string | null {
  for (let i = 0; i < countries.length; i++)
    if (!set.has(countries[i] as string)) return countries[i] as string;
  return null;
}

/**
 * Milliseconds since the epoch. The wire's usual form, `YYYY-MM-DDTHH:MM:SS.sssZ`, is read digit
 * by digit (Date.parse costs more than the rest of a decision); anything else goes to instantOf.
 */
export function timeOf(time: string | number): number {
  if (typeof time === "number") return time;
  if (
    time.length !== 24 ||
    time.charCodeAt(4) !== 45 ||
    time.charCodeAt(7) !== 45 ||
    time.charCodeAt(10) !== 84 ||
    time.charCodeAt(13) !== 58 ||
    time.charCodeAt(16) !== 58 ||
    time.charCodeAt(19) !== 46 ||
    time.charCodeAt(23) !== 90
  ) {
    return instantOf(time);
  }
  const year = digits(time, 0, 4);
  const month = digits(time, 5, 2);
  const day = digits(time, 8, 2);
  const hour = digits(time, 11, 2);
  const minute = digits(time, 14, 2);
  const second = digits(time, 17, 2);
  const ms = digits(time, 20, 3);
  // Date.parse's own rules at the edges (hour 24, far years): left to it.
  if (
    year < 1000 ||
    month < 1 ||
    month > 12 ||
    day < 1 ||
    day > 31 ||
    hour < 0 ||
    minute < 0 ||
    second < 0 ||
    hour > 23 ||
    minute > 59 ||
    second > 59 ||
    ms < 0
  ) {
    return instantOf(time);
  }
  return (
    daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + ms
  );
}

/** Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil); day may overflow the month. */
function daysFromCivil(year: number, month: number, day: number): number {
  const y = month <= 2 ? year - 1 : year;
  const era = Math.floor(y / 400);
  const yearOfEra = y - era * 400;
  const dayOfYear = Math.floor((153 * (month > 2 ? month - 3 : month + 9) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** The decimal number in s[at, at+n), or -1 if any of it is not a digit. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

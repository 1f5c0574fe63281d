/**
 * For tests only: decide() as it was before findings (issue 14), building each check's detail as a
 * sentence. words.test.ts holds today's findings, put into words, to these sentences.
 *
 * The decision (DESIGN.md "Decision semantics"). Pure: no I/O, no clock (time is an input), no
 * globals. The checks run in order and the first that decides, decides; every check run is listed
 * with its outcome, so the last one listed is the deciding one. A denied model that names a
 * fallback is retried down the chain, except after universal denials (denied party, embargo).
 */
import type { CompiledLicense, CompiledModel, CompiledScheme, Countries } from "../scheme/compile.js";
import { ACTION_INDEX } from "../scheme/compile.js";
import { timeOf } from "../policy/decide.js";
import { heldAt, principalFacts, type PrincipalFacts } from "../policy/facts.js";
import type { CheckName, DecisionRequest, GrantRef, Principal, Reason } from "../policy/types.js";
import { ASSURANCE_LEVELS } from "../policy/types.js";

export interface CheckResult {
  readonly check: CheckName;
  readonly model: string;
  readonly outcome: "pass" | "allow" | "deny";
  readonly reason?: Reason;
  readonly detail: string;
}

export interface FallbackAttempt {
  readonly model: string;
  readonly outcome: "allow" | "deny";
  readonly reason: Reason;
  readonly grant: GrantRef | null;
  readonly checks: readonly CheckResult[];
}

export interface Decision {
  readonly decision: "allow" | "deny" | "fallback";
  readonly reason: Reason;
  readonly model: string;
  readonly served_model: string | null;
  readonly grant: GrantRef | null;
  readonly checks: readonly CheckResult[];
  readonly fallbacks?: readonly FallbackAttempt[];
  readonly scheme: { readonly name: string; readonly digest: string };
}

interface Context {
  readonly scheme: CompiledScheme;
  readonly principal: Principal;
  readonly request: DecisionRequest;
  readonly facts: PrincipalFacts;
  readonly location: string | null;
  readonly time: number;
  readonly actionIndex: number;
}

interface Outcome {
  readonly outcome: "allow" | "deny";
  readonly reason: Reason;
  readonly grant: GrantRef | null;
  readonly checks: CheckResult[];
}

const UNIVERSAL: ReadonlySet<Reason> = new Set([
  "denied-party",
  "embargoed-location",
  "embargoed-residence",
  "embargoed-organization",
  "embargoed-nationality",
]);

export function decideInWords(
  scheme: CompiledScheme,
  principal: Principal,
  request: DecisionRequest,
): Decision {
  const time = timeOf(request.time);
  const ctx: Context = {
    scheme,
    principal,
    request,
    // The nationalities held at the request's time (a later rule than these sentences; the words
    // are what this oracle holds decide() to).
    facts: principalFacts(scheme, heldAt(principal, time)),
    location: request.location || null,
    time,
    actionIndex: ACTION_INDEX[request.action] ?? -1,
  };
  const first = evaluate(ctx, request.model);
  const schemeRef = scheme.ref;
  if (first.outcome === "allow") {
    return decision(
      "allow",
      first.reason,
      request.model,
      request.model,
      first.grant,
      first.checks,
      undefined,
      schemeRef,
    );
  }

  let fallbacks: FallbackAttempt[] | undefined;
  let next = UNIVERSAL.has(first.reason) ? null : (scheme.models.get(request.model)?.fallback ?? null);
  while (next !== null) {
    const attempt = evaluate(ctx, next);
    (fallbacks ??= []).push({
      model: next,
      outcome: attempt.outcome,
      reason: attempt.reason,
      grant: attempt.grant,
      checks: attempt.checks,
    });
    if (attempt.outcome === "allow") {
      return decision(
        "fallback",
        first.reason,
        request.model,
        next,
        attempt.grant,
        first.checks,
        fallbacks,
        schemeRef,
      );
    }
    // Cycles are rejected when the scheme is compiled, so the chain ends.
    next = UNIVERSAL.has(attempt.reason) ? null : (scheme.models.get(next)?.fallback ?? null);
  }
  return decision("deny", first.reason, request.model, null, null, first.checks, fallbacks, schemeRef);
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

/** The check list applied to one model. */
function evaluate(ctx: Context, modelId: string): Outcome {
  const checks: CheckResult[] = [];
  const pass = (check: CheckName, detail: string) => {
    checks.push({ check, model: modelId, outcome: "pass", detail });
  };
  const done = (
    check: CheckName,
    outcome: "allow" | "deny",
    reason: Reason,
    detail: string,
    grant: GrantRef | null = null,
  ): Outcome => {
    checks.push({ check, model: modelId, outcome, reason, detail });
    return { outcome, reason, grant, checks };
  };
  const { scheme, principal, facts, location } = ctx;
  const model = scheme.models.get(modelId);
  const controlled = model !== undefined && model.control !== "open";

  // 1. Denied parties.
  if (principal.screening === "confirmed") {
    return done(
      "screening",
      "deny",
      "denied-party",
      `principal ${principal.id} is a confirmed screening match`,
    );
  }
  if (facts.organizationScreening === "confirmed") {
    return done(
      "screening",
      "deny",
      "denied-party",
      `organization ${facts.organizationId} is a confirmed screening match`,
    );
  }
  const potential = principal.screening === "potential" || facts.organizationScreening === "potential";
  if (potential && controlled) {
    return done(
      "screening",
      "deny",
      "screening-review",
      "a potential screening match awaits review; controlled models are withheld until it is cleared",
    );
  }
  pass(
    "screening",
    potential ? "potential screening match under review; model is not controlled" : "no screening match",
  );

  // 2. Embargo. An unknown location cannot trigger it.
  const embargoed = scheme.embargoed;
  if (location !== null && embargoed.has(location)) {
    return done("embargo", "deny", "embargoed-location", `request location ${location} is embargoed`);
  }
  const residence = principal.residence ?? null;
  if (residence !== null && embargoed.has(residence)) {
    return done("embargo", "deny", "embargoed-residence", `residence ${residence} is embargoed`);
  }
  const orgCountry = facts.organizationCountry;
  if (orgCountry !== null && embargoed.has(orgCountry)) {
    return done(
      "embargo",
      "deny",
      "embargoed-organization",
      `organization country ${orgCountry} is embargoed`,
    );
  }
  const embargoedNationality = firstIn(facts.relevant, embargoed);
  if (embargoedNationality !== null) {
    return done(
      "embargo",
      "deny",
      "embargoed-nationality",
      `nationality ${embargoedNationality} is embargoed${nationalityNote(ctx)}`,
    );
  }
  pass("embargo", location === null ? "nothing embargoed (location unknown)" : "nothing embargoed");

  // 3. The model, and where it is offered.
  if (model === undefined) {
    return done("model", "deny", "unknown-model", `model ${modelId} is not in scheme ${scheme.name}`);
  }
  if (model.availableIn !== null && (location === null || !model.availableIn.has(location))) {
    return done(
      "model",
      "deny",
      "not-available-here",
      location === null
        ? `model ${modelId} is offered only in some countries and the request location is unknown`
        : `model ${modelId} is not offered in ${location}`,
    );
  }
  pass("model", `model ${modelId} is ${model.control}`);

  // 4. Open models.
  if (model.control === "open") return done("open-model", "allow", "open-model", `model ${modelId} is open`);
  pass("open-model", `model ${modelId} is ${model.control}`);

  // 5. Home persons.
  if (facts.homeCountry !== null) {
    const via = `${facts.homeVia} of ${facts.homeCountry}`;
    if (model.control === "home-only" && (location === null || !scheme.home.has(location))) {
      return done(
        "home-person",
        "deny",
        "home-only-outside-home",
        `home person (${via}), but home-only model ${modelId} is served only inside the home countries; location ${location ?? "unknown"}`,
      );
    }
    return done("home-person", "allow", "home-person", `home person (${via})`);
  }
  if (model.control === "home-only") {
    pass("home-person", `foreign person${nationalityNote(ctx)}`);
    return done(
      "default",
      "deny",
      "no-authorization",
      `home-only model ${modelId} is served to home persons only`,
    );
  }
  pass(
    "home-person",
    `foreign person; relevant nationalities: ${listOr(facts.relevant)}${nationalityNote(ctx)}`,
  );

  // 6. Country partners.
  const countryResult = countryPartner(ctx, model);
  if (typeof countryResult !== "string") {
    return done("partner-country", "allow", "partner-country", countryResult.detail, countryResult.grant);
  }
  pass("partner-country", countryResult);

  // 7. Organization partner.
  const orgResult = organizationPartner(ctx, model);
  if (typeof orgResult !== "string") {
    return done("partner-organization", "allow", "partner-organization", orgResult.detail, orgResult.grant);
  }
  pass("partner-organization", orgResult);

  // 8. Licenses.
  const lic = license(ctx, model);
  if (lic.covering !== null) {
    return done(
      "license",
      "allow",
      "license",
      `license ${lic.covering.id} covers this request${quotaLeft(ctx, lic.covering)}`,
      {
        kind: "license",
        license: lic.covering.id,
      },
    );
  }
  if (lic.exhausted !== null) {
    return done(
      "license",
      "deny",
      "license-quota-exhausted",
      `license ${lic.exhausted.id} would cover this request but its token quota is used up`,
    );
  }
  pass("license", lic.detail);

  // 9. Nothing authorizes it.
  return done(
    "default",
    "deny",
    "no-authorization",
    `no partner grant or license authorizes ${modelId} for ${ctx.request.action}`,
  );
}

type Found = { readonly detail: string; readonly grant: GrantRef };

function countryPartner(ctx: Context, model: CompiledModel): Found | string {
  const { scheme, facts, location } = ctx;
  let why = "";
  for (const p of scheme.countryPartners) {
    const grantIndex = p.grants.get(model.id)?.[ctx.actionIndex] ?? -1;
    if (grantIndex < 0) continue;
    const failure =
      p.status !== "active"
        ? `partner is ${p.status}`
        : facts.relevant.length === 0
          ? "no nationality on record"
          : !allIn(facts.relevant, p.countries)
            ? `nationality ${notIn(facts.relevant, p.countries)} is not in the partner's countries`
            : location === null
              ? "request location unknown"
              : !p.countries.has(location) && !scheme.home.has(location)
                ? `location ${location} is outside the partner's and the home countries`
                : facts.assurance < p.assurance
                  ? `identity assurance ${ASSURANCE_LEVELS[facts.assurance]} is below the required ${ASSURANCE_LEVELS[p.assurance]}`
                  : null;
    if (failure === null) {
      return {
        detail: `country partner ${p.id}: nationality ${facts.relevant.join(", ")}, location ${location}, assurance ${ASSURANCE_LEVELS[facts.assurance]}`,
        grant: { kind: "partner-country", partner: p.id, index: grantIndex },
      };
    }
    why += `${why === "" ? "" : "; "}${p.id}: ${failure}`;
  }
  return why === "" ? `no country partner is granted ${model.id} for ${ctx.request.action}` : why;
}

function organizationPartner(ctx: Context, model: CompiledModel): Found | string {
  const { scheme, facts, location } = ctx;
  const p = facts.organizationPartner;
  if (facts.organizationId === null) return "principal has no organization";
  if (p === undefined) return `organization ${facts.organizationId} is not a partner`;
  const grantIndex = p.grants.get(model.id)?.[ctx.actionIndex] ?? -1;
  const restricted = firstIn(facts.relevant, scheme.restricted);
  const failure =
    p.status !== "active"
      ? `partner is ${p.status}`
      : grantIndex < 0
        ? `partner is not granted ${model.id} for ${ctx.request.action}`
        : facts.assurance < p.assurance
          ? `identity assurance ${ASSURANCE_LEVELS[facts.assurance]} is below the required ${ASSURANCE_LEVELS[p.assurance]}`
          : location === null
            ? "request location unknown"
            : !p.locations.has(location)
              ? `location ${location} is not one the partner allows`
              : facts.relevant.length === 0
                ? "no nationality on record"
                : restricted !== null
                  ? `nationality ${restricted} is restricted and needs its own license`
                  : null;
  if (failure !== null) return `${p.id}: ${failure}`;
  return {
    detail: `organization partner ${p.id} (${p.name}), location ${location}`,
    grant: { kind: "partner-organization", partner: p.id, index: grantIndex },
  };
}

interface LicenseResult {
  readonly covering: CompiledLicense | null;
  /** A license that fails only on quota. */
  readonly exhausted: CompiledLicense | null;
  readonly detail: string;
}

function license(ctx: Context, model: CompiledModel): LicenseResult {
  const { scheme, principal, facts } = ctx;
  const own = scheme.licensesByPrincipal.get(principal.id);
  const org =
    facts.organizationId === null ? undefined : scheme.licensesByOrganization.get(facts.organizationId);
  let exhausted: CompiledLicense | null = null;
  let why = "";
  for (const list of [own, org]) {
    if (list === undefined) continue;
    for (const l of list) {
      const failure = licenseFailure(ctx, l, model);
      if (failure === null) return { covering: l, exhausted: null, detail: "" };
      if (failure === QUOTA) exhausted ??= l;
      why += `${why === "" ? "" : "; "}${l.id}: ${failure}`;
    }
  }
  return { covering: null, exhausted, detail: why === "" ? "no license held" : why };
}

const QUOTA = "token quota used up";

function licenseFailure(ctx: Context, l: CompiledLicense, model: CompiledModel): string | null {
  const { facts, location, request, time } = ctx;
  if (l.status !== "approved") return `license is ${l.status}`;
  if (!(time >= l.validFrom)) return "not yet valid";
  if (!(time < l.validUntil)) return "expired";
  if (!l.models.has(model.id)) return `does not cover ${model.id}`;
  if ((l.actions & (1 << ctx.actionIndex)) === 0) return `does not cover ${request.action}`;
  if (location === null) return "request location unknown";
  if (!l.destinations.has(location)) return `location ${location} is not a licensed destination`;
  if (l.purposes !== null && (request.purpose == null || !l.purposes.has(request.purpose))) {
    return `purpose ${request.purpose ?? "(none given)"} is not licensed`;
  }
  if (l.nationalities !== null) {
    if (facts.relevant.length === 0) return "no nationality on record";
    if (!allIn(facts.relevant, l.nationalities)) {
      return `nationality ${notIn(facts.relevant, l.nationalities)} is not licensed`;
    }
  }
  if (l.quotaTokens !== null) {
    const used = request.usage?.[l.id]?.tokens ?? 0;
    if (used >= l.quotaTokens) return QUOTA;
  }
  return null;
}

function quotaLeft(ctx: Context, l: CompiledLicense): string {
  if (l.quotaTokens === null) return "";
  const used = ctx.request.usage?.[l.id]?.tokens ?? 0;
  return ` (${l.quotaTokens - used} of ${l.quotaTokens} tokens left)`;
}

function firstIn(countries: readonly string[], set: Countries): string | null {
  for (const c of countries) if (set.has(c)) return c;
  return null;
}

function allIn(countries: readonly string[], set: Countries): boolean {
  for (const c of countries) if (!set.has(c)) return false;
  return true;
}

function notIn(countries: readonly string[], set: Countries): string {
  for (const c of countries) if (!set.has(c)) return c;
  return "";
}

function listOr(countries: readonly string[]): string {
  return countries.length === 0 ? "none on record" : countries.join(", ");
}

function nationalityNote(ctx: Context): string {
  if (ctx.facts.ambiguous) return " (acquisition dates missing, so every nationality counts)";
  return ctx.scheme.nationalityRule === "all" ? " (rule: all nationalities)" : "";
}

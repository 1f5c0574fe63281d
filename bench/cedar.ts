/**
 * The anchor: the same scheme encoded for Cedar (@cedar-policy/cedar-wasm, policy set parsed once
 * with `preparsePolicySet`, decided with `statefulIsAuthorized`), so the benchmark can say how
 * Clearance compares with a general-purpose policy engine on the same decisions.
 *
 * Encoding (Cedar has no check order, so "first check that decides" becomes forbid-overrides-permit):
 * - Denied party, screening review, embargo (location, residence, organization country, relevant
 *   nationality), unknown model, not-available-here, home-only outside home / to foreign persons:
 *   `forbid` policies on entity attributes and context.
 * - Open models, home persons: `permit`.
 * - Country partners: one `permit` per active partner and granted model, scope `action in [...]`,
 *   nationalities checked with `containsAll` on the partner's country set. Suspended partners emit
 *   nothing (they can never permit).
 * - Organization partners: one generic `permit` reading the Organization entity (active, assurance,
 *   locations, grants as a set of {model, action} records), plus the restricted-nationality test.
 * - Licenses: Cedar has no "exists a license such that ...", so each approved license is its own
 *   `permit` (principal == Principal or principal in Organization), with period against
 *   `context.time`, destinations, purposes, nationalities and quota (`context.usage`) inline. This is
 *   how per-grant permissions are written in Cedar.
 * - Policy slicing: Cedar evaluates every policy of the set on every request (about 3 µs per policy
 *   in cedar-wasm), so one set with all ~7,500 license permits costs milliseconds per decision. As a
 *   Cedar deployment would, each request gets a slice: the base policies plus the licenses of its
 *   principal and organization, each slice preparsed once, before timing. The whole, unsliced set is
 *   measured too, on a small sample, to show why.
 *
 * Not encoded in Cedar, done by the caller when it builds the entity slice (as a Cedar deployment's
 * entity loader would): who is a home person and which nationalities are relevant (the
 * `most-recent` rule over acquisition dates needs ordering Cedar lacks), assurance as a rank, the
 * organization's country from the partner registry, the time as epoch milliseconds. This work is
 * done before timing, so it flatters Cedar. Reasons, fallbacks and the check list are not produced:
 * Cedar answers allow/deny for the requested model only (a Clearance fallback counts as deny).
 */
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { setFlagsFromString } from "node:v8";
import { principalFacts } from "../src/policy/facts.js";
import type { DecisionRequest, Principal } from "../src/policy/types.js";
import { ACTIONS } from "../src/policy/types.js";
import type { CompiledOrganizationPartner, CompiledScheme, GrantTable } from "../src/scheme/compile.js";

// Node 20's V8 aborts ("unreachable code" in Deoptimizer::DoComputeBuiltinContinuation) when
// optimized JS that inlined a JS→Wasm call returning externref deoptimizes during the call, which
// the Cedar calls hit after a few seconds of looping. Not inlining those calls avoids it; it only
// concerns calls into Wasm, so Clearance's decide() is compiled as before.
setFlagsFromString("--no-turbo-inline-js-wasm-calls");

const BASE = "base";
const WHOLE = "whole";

const str = (s: string) => JSON.stringify(s);
const set = (items: Iterable<string>) => `[${[...items].sort().map(str).join(", ")}]`;
const uid = (type: string, id: string) => `${type}::${str(id)}`;
const ent = (type: string, id: string) => ({ __entity: { type, id } });

/** Model ids with, per model, the actions granted (grant tables store a grant index per action). */
function granted(grants: GrantTable): [string, string[]][] {
  return [...grants].map(([model, row]) => [model, ACTIONS.filter((_, i) => (row[i] ?? -1) >= 0)]);
}

export interface Encoding {
  /** Everything but licenses: screening, embargo, models, home persons, partners. */
  readonly base: readonly string[];
  /** License permits by holder: `principal:<id>` or `organization:<id>`. */
  readonly licenses: ReadonlyMap<string, string[]>;
}

/** The scheme as Cedar policy text, one policy per entry. */
export function encodePolicies(scheme: CompiledScheme): Encoding {
  const HOME = set(scheme.home);
  const EMB = set(scheme.embargoed);
  const out: string[] = [
    `forbid (principal, action, resource) when { principal.screening == "confirmed" ||
       (principal has organization && principal.organization.screening == "confirmed") };`,
    `forbid (principal, action, resource) when { (principal.screening == "potential" ||
       (principal has organization && principal.organization.screening == "potential")) &&
       resource has control && resource.control != "open" };`,
    `forbid (principal, action, resource) when { (context has location && ${EMB}.contains(context.location)) ||
       (principal has residence && ${EMB}.contains(principal.residence)) ||
       (principal has organization && principal.organization has country && ${EMB}.contains(principal.organization.country)) ||
       ${EMB}.containsAny(principal.relevant) };`,
    `forbid (principal, action, resource) unless { resource has control };`,
    `forbid (principal, action, resource) when { resource has availableIn &&
       !(context has location && resource.availableIn.contains(context.location)) };`,
    `forbid (principal, action, resource) when { resource has control && resource.control == "home-only" &&
       !(principal.isHome && context has location && ${HOME}.contains(context.location)) };`,
    `permit (principal, action, resource) when { resource has control && resource.control == "open" };`,
    `permit (principal, action, resource) when { principal.isHome && resource has control };`,
    `permit (principal, action, resource) when { principal has organization && principal.organization has grants &&
       principal.organization.active && principal.organization.grants.contains({ model: resource, action: action }) &&
       principal.assurance >= principal.organization.assurance &&
       context has location && principal.organization.locations.contains(context.location) &&
       !principal.relevant.isEmpty() && !${set(scheme.restricted)}.containsAny(principal.relevant) };`,
  ];
  for (const p of scheme.countryPartners) {
    if (p.status !== "active") continue;
    const countries = set(p.countries);
    for (const [model, actions] of granted(p.grants)) {
      out.push(`permit (principal, action in [${actions.map((a) => uid("Action", a)).join(", ")}],
        resource == ${uid("Model", model)}) when { !principal.relevant.isEmpty() &&
        ${countries}.containsAll(principal.relevant) && context has location &&
        (${countries}.contains(context.location) || ${HOME}.contains(context.location)) &&
        principal.assurance >= ${p.assurance} };`);
    }
  }
  const licenses = new Map<string, string[]>();
  for (const l of scheme.licenses.values()) {
    if (l.status !== "approved") continue;
    const holder = `${l.licensee.kind}:${l.licensee.id}`;
    const who =
      l.licensee.kind === "principal"
        ? `principal == ${uid("Principal", l.licensee.id)}`
        : `principal in ${uid("Organization", l.licensee.id)}`;
    const actions = ACTIONS.filter((_, i) => (l.actions & (1 << i)) !== 0).map((a) => uid("Action", a));
    const models = `[${[...l.models].map((m) => uid("Model", m)).join(", ")}]`;
    const conditions = [
      `${models}.contains(resource)`,
      `context.time >= ${l.validFrom} && context.time < ${l.validUntil}`,
      `context has location && ${set(l.destinations)}.contains(context.location)`,
    ];
    if (l.purposes !== null)
      conditions.push(`context has purpose && ${set(l.purposes)}.contains(context.purpose)`);
    if (l.nationalities !== null) {
      conditions.push(
        `!principal.relevant.isEmpty() && ${set(l.nationalities)}.containsAll(principal.relevant)`,
      );
    }
    if (l.quotaTokens !== null) {
      conditions.push(
        `(!(context.usage has ${str(l.id)}) || context.usage[${str(l.id)}] < ${l.quotaTokens})`,
      );
    }
    const list = licenses.get(holder) ?? [];
    list.push(
      `permit (${who}, action in [${actions.join(", ")}], resource) when { ${conditions.join(" && ")} };`,
    );
    licenses.set(holder, list);
  }
  return { base: out, licenses };
}

type Entity = cedar.EntityJson;

/**
 * Builds Cedar requests (entity slice, context, policy slice) and decides them. Model and partner
 * entities are built once and shared; each policy slice is preparsed once, on first use.
 */
export class CedarAnchor {
  readonly version = cedar.getCedarVersion();
  /** Policies in the whole encoding (base + every approved license). */
  readonly policies: number;
  private readonly encoding: Encoding;
  private readonly preparsed = new Set<string>();
  private readonly models = new Map<string, Entity>();
  private readonly partners = new Map<string, Record<string, cedar.CedarValueJson>>();

  constructor(private readonly scheme: CompiledScheme) {
    this.encoding = encodePolicies(scheme);
    let licenses = 0;
    for (const list of this.encoding.licenses.values()) licenses += list.length;
    this.policies = this.encoding.base.length + licenses;
    this.preparse(BASE, this.encoding.base);
    for (const m of scheme.models.values()) {
      const attrs: Record<string, cedar.CedarValueJson> = { control: m.control };
      if (m.availableIn !== null) attrs["availableIn"] = [...m.availableIn];
      this.models.set(m.id, { uid: { type: "Model", id: m.id }, attrs, parents: [] });
    }
    for (const p of scheme.organizationPartners.values()) this.partners.set(p.id, partnerAttrs(p));
  }

  /** Policy slices preparsed so far (the base and the whole set included). */
  get slices(): number {
    return this.preparsed.size;
  }

  private preparse(id: string, policies: readonly string[]): void {
    if (this.preparsed.has(id)) return;
    const parsed = cedar.preparsePolicySet(id, { staticPolicies: policies.join("\n") });
    if (parsed.type !== "success") {
      throw new Error(`cedar: policy set does not parse: ${parsed.errors.map((e) => e.message).join("; ")}`);
    }
    this.preparsed.add(id);
  }

  /**
   * The policy set for a request: the base plus the licenses of the principal and its organization
   * (`whole`: every license, which is what Cedar would evaluate without slicing).
   */
  private policySet(principalId: string, organizationId: string | null, whole: boolean): string {
    const { base, licenses } = this.encoding;
    if (whole) {
      this.preparse(WHOLE, [...base, ...[...licenses.values()].flat()]);
      return WHOLE;
    }
    const own = licenses.get(`principal:${principalId}`) ?? [];
    const org = organizationId === null ? [] : (licenses.get(`organization:${organizationId}`) ?? []);
    if (own.length + org.length === 0) return BASE;
    // Keyed by the holders whose licenses it carries, so an organization's members share a slice.
    const id = `slice:${own.length > 0 ? principalId : ""}|${org.length > 0 ? organizationId : ""}`;
    this.preparse(id, [...base, ...own, ...org]);
    return id;
  }

  /** The Cedar request for one Clearance input; built before timing. */
  call(principal: Principal, request: DecisionRequest, whole = false): cedar.StatefulAuthorizationCall {
    const facts = principalFacts(this.scheme, principal);
    const entities: Entity[] = [];
    const attrs: Record<string, cedar.CedarValueJson> = {
      screening: principal.screening ?? "clear",
      isHome: facts.homeCountry !== null,
      relevant: [...facts.relevant],
      assurance: facts.assurance,
    };
    if (principal.residence) attrs["residence"] = principal.residence;
    const parents: cedar.EntityUidJson[] = [];
    if (facts.organizationId !== null) {
      const org = { type: "Organization", id: facts.organizationId };
      attrs["organization"] = { __entity: org };
      parents.push(org);
      const orgAttrs: Record<string, cedar.CedarValueJson> = {
        screening: facts.organizationScreening,
        ...this.partners.get(facts.organizationId),
      };
      if (facts.organizationCountry !== null) orgAttrs["country"] = facts.organizationCountry;
      entities.push({ uid: org, attrs: orgAttrs, parents: [] });
    }
    entities.push({ uid: { type: "Principal", id: principal.id }, attrs, parents });
    const model = this.models.get(request.model);
    if (model !== undefined) entities.push(model);

    const context: Record<string, cedar.CedarValueJson> = {
      time: typeof request.time === "number" ? request.time : Date.parse(request.time),
      usage: Object.fromEntries(Object.entries(request.usage ?? {}).map(([id, u]) => [id, u.tokens])),
    };
    if (request.location) context["location"] = request.location;
    if (request.purpose != null) context["purpose"] = request.purpose;
    return {
      principal: { type: "Principal", id: principal.id },
      action: { type: "Action", id: request.action },
      resource: { type: "Model", id: request.model },
      context,
      preparsedPolicySetId: this.policySet(principal.id, facts.organizationId, whole),
      entities,
    };
  }

  /** True for allow. Evaluation errors (a policy that failed on a missing attribute) are counted. */
  decide(call: cedar.StatefulAuthorizationCall): { allow: boolean; errors: number } {
    const answer = cedar.statefulIsAuthorized(call);
    if (answer.type !== "success") {
      throw new Error(`cedar: ${answer.errors.map((e) => e.message).join("; ")}`);
    }
    return { allow: answer.response.decision === "allow", errors: answer.response.diagnostics.errors.length };
  }
}

function partnerAttrs(p: CompiledOrganizationPartner): Record<string, cedar.CedarValueJson> {
  const grants: cedar.CedarValueJson[] = [];
  for (const [model, actions] of granted(p.grants)) {
    for (const a of actions) grants.push({ model: ent("Model", model), action: ent("Action", a) });
  }
  return { active: p.status === "active", assurance: p.assurance, locations: [...p.locations], grants };
}

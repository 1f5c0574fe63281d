/**
 * Licenses: application by an applicant (for its own organization), two approvals by two distinct
 * approvers (never the applicant), or a denial with a reason; then suspension, reinstatement and
 * revocation, effective at once. Every step is a store change, hence an audit-log entry.
 */
import { randomBytes } from "node:crypto";
import { z } from "zod";
import { compileFitting } from "../../control/effective.js";
import { currentRecords, requireInForce, storePolicy } from "../../control/in-force.js";
import { ClearanceError, InvalidInputError, type Problem } from "../../errors/index.js";
import { approvalBody, licenseApplication, reasonBody } from "../../licensing/schema.js";
import type { LicenseRecord } from "../../licensing/types.js";
import {
  apply,
  approve,
  deny,
  reinstate,
  resolveTerms,
  transition,
  type Beneficiaries,
  type Resolve,
} from "../../licensing/workflow.js";
import { isFederatedPrincipal } from "../../identity/federation.js";
import { PROVIDERS } from "../../identity/registry.js";
import type { ProviderRecord } from "../../identity/schema.js";
import type { Identity, Role } from "../../control/types.js";
import { SetResolver } from "../../scheme/sets.js";
import type { PutGuard, PutGuards, StoredRecord } from "../../store/index.js";
import type { AdminDeps, Caller } from "../deps.js";
import { answer, reloadAfter } from "../in-force.js";
import { pageQuery, paginate, route } from "../router.js";
import { LICENSE_READERS, ownOnly } from "./roles.js";
import { organizationIdOf } from "../../policy/index.js";
import { periodUsage } from "./usage.js";

const APPLY_ROLES: readonly Role[] = ["applicant", "compliance-officer", "admin"];
const READ_ROLES = LICENSE_READERS;
const DECIDE_ROLES: readonly Role[] = ["approver"];
const STATUS_ROLES: readonly Role[] = ["approver", "compliance-officer", "admin"];

/**
 * Applicants and partners see their own organization's licenses only; to others they do not exist.
 * `allowed`: the roles of the route asking; only those decide the caller's scope (roles.ts).
 */
function visible(caller: Caller, allowed: readonly Role[], r: LicenseRecord): boolean {
  if (!ownOnly(caller, allowed)) return true;
  return "organization" in r.licensee && r.licensee.organization === caller.organization;
}

/**
 * A license as the store holds it now, not as this node's snapshot has it: one applied for or
 * stepped through another node (or the CLI) is there before this node reloads, and a step is checked
 * against the status it is written over (and its revision).
 */
async function find(
  deps: AdminDeps,
  caller: Caller,
  allowed: readonly Role[],
  id: string,
): Promise<StoredRecord<LicenseRecord>> {
  const r = await deps.store.records.get<LicenseRecord>("license", id);
  if (r === undefined || !visible(caller, allowed, r.document))
    throw new ClearanceError("not-found", "not_found", `no license ${id}`);
  return r;
}

/**
 * The result must compile with the policy in force as the store holds it now (not as this node's
 * snapshot has it: an activation may have changed the version meanwhile): models exist, countries
 * and sets resolve. `build` makes the record with set names resolved against that version (an
 * unknown set is refused). Returns the record and the guard its write must carry: that version is
 * still the active one. Other entries that do not compile are no concern of this one (they are
 * left out of the policy).
 */
async function checkCompiles(
  deps: AdminDeps,
  build: (resolve: Resolve) => LicenseRecord,
): Promise<{ record: LicenseRecord; guard: PutGuard }> {
  const policy = await storePolicy(deps.store, deps.state());
  const problems: Problem[] = [];
  const sets = new SetResolver(policy.scheme.sets, problems);
  const record = build((expr, path = []) => sets.resolve(expr, path));
  if (problems.length > 0) throw new InvalidInputError(problems);
  const others = policy.licenses.filter((l) => l.id !== record.id).map((l) => l.document);
  const { leftOut } = compileFitting(
    policy.scheme,
    policy.partners.map((p) => p.document),
    [...others, record],
  );
  const mine = leftOut.find((l) => l.kind === "license" && l.id === record.id);
  if (mine !== undefined) throw new InvalidInputError(mine.problems);
  return { record, guard: policy.guard };
}

/**
 * Writes the license, and answers once this node has it in force; or, when this node's reload
 * right after the write failed, with `not_yet_in_force` saying so (the change stands).
 * @param grants whether the write grants anything (an application, an approval, a reinstatement;
 *   not a denial, a suspension or a revocation): then a license left out of the policy because it
 *   does not compile with the active version is refused to the caller (not_in_force), not answered
 *   200. Said by each caller, never inferred from `guards` (a denial is guarded too).
 */
async function save(
  deps: AdminDeps,
  caller: Caller,
  before: StoredRecord<LicenseRecord> | null,
  next: LicenseRecord,
  action: string,
  grants: boolean,
  details: Record<string, unknown> = {},
  guards?: PutGuards,
) {
  // A concurrent change (two approvers at once) is a StoreError "conflict": 409, from the one table.
  await deps.store.records.put(
    "license",
    next.id,
    next,
    before?.revision ?? 0,
    { actor: caller.id, action: `license.${action}`, details: { status: next.status, ...details } },
    guards,
  );
  const written = await reloadAfter(deps, `license ${next.id}`, "policy");
  if (grants) requireInForce(deps.state(), "license", next.id);
  // Stored, but this node's reload failed (a suspension answered 200 read as in force): said.
  return answer(deps, written, next);
}

/**
 * The organizations a license would benefit: its licensee organization; for a licensee principal,
 * its organization in the store, and for a federated principal (`fed:<provider>:<subject>`) the
 * organization its provider last vouched for, the partner that provider belongs to, and the partner
 * of the provider its id names (a person who has not signed in yet is known by its provider alone).
 * Null when nothing at all is known of the licensee principal: approval then fails closed.
 * Not guarded at the write: principals and federated principals have no revisions, and a move
 * after the decision is not checked either, so a guard alone would close only the narrower window.
 */
async function beneficiaries(deps: AdminDeps, r: LicenseRecord): Promise<Beneficiaries> {
  if ("organization" in r.licensee) return [r.licensee.organization];
  const id = r.licensee.principal;
  const orgs: (string | null | undefined)[] = [];
  let known = false;
  const principal = await deps.store.principals.get(id);
  if (principal !== undefined) {
    known = true;
    orgs.push(organizationIdOf(principal.organization));
  }
  if (isFederatedPrincipal(id)) {
    const federated = await deps.store.federated.get(id);
    if (federated !== undefined) {
      known = true;
      orgs.push(federated.partner, organizationIdOf(federated.principal.organization));
    }
    const provider = await deps.store.records.get<ProviderRecord>(PROVIDERS, id.split(":")[1] ?? "");
    if (provider !== undefined) {
      known = true;
      orgs.push(provider.document.partner);
    }
  }
  if (!known) return null;
  return [...new Set(orgs.filter((o): o is string => typeof o === "string" && o !== ""))];
}

const approver = (caller: Caller) => ({ id: caller.id, organization: caller.organization });

/**
 * Reinstating grants again, by one person: so it is checked as an approval is. Conflicts of
 * interest; the reinstater's identity read from the store (a revocation on another node counts
 * before this node's snapshot has it) and the write guarded on it at that revision, as well as on
 * the version the license compiles with.
 */
async function reinstated(
  deps: AdminDeps,
  caller: Caller,
  r: StoredRecord<LicenseRecord>,
  reason: string,
): Promise<{ next: LicenseRecord; guards: PutGuard[] }> {
  const identity = await deps.store.records.get<Identity>("identity", caller.id);
  const revoked = identity !== undefined && identity.document.revoked_at !== null;
  const decided = await beneficiaries(deps, r.document);
  const next = reinstate(r.document, approver(caller), deps.now(), reason, decided, revoked);
  const { guard } = await checkCompiles(deps, () => next);
  const self: PutGuard = {
    record: { collection: "identity", id: caller.id, revision: identity?.revision ?? 0 },
  };
  return { next, guards: [guard, self] };
}

export const licenseRoutes = [
  route({
    method: "GET",
    path: "/admin/v1/licenses",
    tag: "licenses",
    summary: "List licenses and applications",
    roles: READ_ROLES,
    query: z.object({
      ...pageQuery,
      status: z.enum(["pending", "approved", "denied", "suspended", "revoked"]).optional(),
      organization: z.string().optional(),
    }),
    async handle({ deps, caller, query }) {
      // As the store holds them, as a license's own read is: one applied for, approved or suspended
      // through another node (or the CLI) is listed as it is before this node reloads.
      const held = deps.state().licenses;
      const all = (await currentRecords(deps.store, "license", held, deps.heldVersion?.()))
        .map((r) => r.document)
        .filter((l) => visible(caller, READ_ROLES, l))
        .filter((l) => query.status === undefined || l.status === query.status)
        .filter(
          (l) =>
            query.organization === undefined ||
            ("organization" in l.licensee && l.licensee.organization === query.organization),
        );
      return paginate(all, query.limit, query.cursor);
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/licenses/{id}",
    tag: "licenses",
    summary: "Read a license with its history",
    roles: READ_ROLES,
    async handle({ deps, caller, params }) {
      return (await find(deps, caller, READ_ROLES, params.id as string)).document;
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/licenses/{id}/usage",
    tag: "licenses",
    summary: "A license's quota and what is left of it",
    roles: READ_ROLES,
    async handle({ deps, caller, params }) {
      const r = (await find(deps, caller, READ_ROLES, params.id as string)).document;
      return periodUsage(deps, r);
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/licenses",
    tag: "licenses",
    summary: "Apply for a license",
    roles: APPLY_ROLES,
    body: licenseApplication,
    status: 201,
    async handle({ deps, caller, body }) {
      // The right to apply comes from the applicant role alone unless the caller is an officer or admin.
      const restricted = ownOnly(caller, APPLY_ROLES);
      if (
        restricted &&
        !("organization" in body.licensee && body.licensee.organization === caller.organization)
      ) {
        throw new ClearanceError(
          "forbidden",
          "forbidden",
          `an applicant applies for its own organization (${caller.organization}) only`,
        );
      }
      const id = body.id ?? `LIC-${deps.now().slice(0, 4)}-${randomBytes(4).toString("hex")}`;
      // The store's, not this node's: one applied for through another node may not be loaded here yet.
      if ((await deps.store.records.get("license", id)) !== undefined)
        throw new ClearanceError("conflict", "conflict", `license ${id} exists`);
      const { justification, licensee, id: _id, ...requested } = body;
      // Set names become countries now: what the approvers see and approve, and what is granted.
      const { record, guard } = await checkCompiles(deps, (resolve) =>
        apply(
          { id, licensee, terms: resolveTerms(requested, resolve), justification },
          caller.id,
          deps.now(),
        ),
      );
      return save(deps, caller, null, record, "apply", true, { justification }, guard);
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/licenses/{id}/approve",
    tag: "licenses",
    summary: "Approve an application (two distinct approvers needed)",
    roles: DECIDE_ROLES,
    body: approvalBody,
    async handle({ deps, caller, params, body }) {
      const r = await find(deps, caller, DECIDE_ROLES, params.id as string);
      const decided = await beneficiaries(deps, r.document);
      // Read from the store, not the snapshot: a revocation answered a moment ago counts. Only the
      // identities that count here are read: the earlier approvers' and the caller's. The write is
      // guarded on each at the revision read: one revoked (on any node) before it commits refuses it.
      const approvers = new Set(r.document.approvals.map((a) => a.identity)).add(caller.id);
      const revoked = new Set<string>();
      const read = await Promise.all(
        [...approvers].map(async (id): Promise<PutGuard> => {
          const identity = await deps.store.records.get<Identity>("identity", id);
          if (identity !== undefined && identity.document.revoked_at !== null) revoked.add(id);
          return { record: { collection: "identity", id, revision: identity?.revision ?? 0 } };
        }),
      );
      const { record: next, guard } = await checkCompiles(deps, (resolve) =>
        approve(r.document, approver(caller), deps.now(), body.conditions, resolve, decided, (id) =>
          revoked.has(id),
        ),
      );
      const details = body.conditions ? { conditions: body.conditions } : {};
      return save(deps, caller, r, next, "approve", true, details, [guard, ...read]);
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/licenses/{id}/deny",
    tag: "licenses",
    summary: "Deny an application, with a reason",
    roles: DECIDE_ROLES,
    body: reasonBody,
    async handle({ deps, caller, params, body }) {
      const r = await find(deps, caller, DECIDE_ROLES, params.id as string);
      // As an approval: the denier's identity read from the store (a revocation on another node
      // counts before this node's snapshot has it), and the write guarded on it at that revision.
      const identity = await deps.store.records.get<Identity>("identity", caller.id);
      const revoked = identity !== undefined && identity.document.revoked_at !== null;
      const decided = await beneficiaries(deps, r.document);
      const next = deny(r.document, approver(caller), deps.now(), body.reason, decided, revoked);
      const guard: PutGuard = {
        record: { collection: "identity", id: caller.id, revision: identity?.revision ?? 0 },
      };
      return save(deps, caller, r, next, "deny", false, { reason: body.reason }, guard);
    },
  }),
  ...(["suspend", "reinstate", "revoke"] as const).map((action) =>
    route({
      method: "POST",
      path: `/admin/v1/licenses/{id}/${action}`,
      tag: "licenses",
      summary: `${action[0]!.toUpperCase()}${action.slice(1)} a license, with a reason`,
      roles: STATUS_ROLES,
      body: reasonBody,
      async handle({ deps, caller, params, body }) {
        const r = await find(deps, caller, STATUS_ROLES, params.id as string);
        if (action === "reinstate") {
          const { next, guards } = await reinstated(deps, caller, r, body.reason);
          return save(deps, caller, r, next, action, true, { reason: body.reason }, guards);
        }
        const next = transition(r.document, action, caller.id, deps.now(), body.reason);
        // Suspending and revoking only narrow: they are written whatever else does not compile.
        return save(deps, caller, r, next, action, false, { reason: body.reason });
      },
    }),
  ),
];

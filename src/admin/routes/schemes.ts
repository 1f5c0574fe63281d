/**
 * Scheme versions: upload (validated, with line and column for every problem) → the diff against
 * the active version, in words → activate (admin). Earlier versions are kept; activating one of
 * them is the rollback. A version that would not compile with the partners and licenses in force,
 * that names a model no upstream serves, that falls back to a model whose upstream shares no wire
 * format with its model's, or that would bring a license the store lacks other than as a pending
 * application (approved licenses take the two-person workflow), cannot be activated.
 */
import { z } from "zod";
import { servingProblems } from "../../config/index.js";
import { compileFitting, leftOutKey } from "../../control/effective.js";
import {
  activePointer,
  requireAllInForce,
  schemeVersion,
  currentRecords,
  storePolicy,
} from "../../control/in-force.js";
import { readStoredVersionOffLoop, readVersionToActivate } from "../../control/read-version.js";
import { schemeActivation, schemeUpload } from "../../control/schemas.js";
import {
  activateVersion,
  addVersion,
  refuseLicensesOutsideWorkflow,
  refuseMisfits,
  versionMisfits,
} from "../../control/seed.js";
import type { SchemeVersion } from "../../control/types.js";
import { readUploadOffLoop } from "../../control/upload.js";
import { ClearanceError, InvalidInputError } from "../../errors/index.js";
import type { CompiledScheme } from "../../scheme/index.js";
import { diffSchemes, formatDiff } from "../../scheme/diff.js";
import type { WhatIfReport } from "../../whatif/index.js";
import type { AdminDeps } from "../deps.js";
import { answer, inStepWithStore, reloadAfter } from "../in-force.js";
import { pageQuery, paginate, route } from "../router.js";
import { ADMINS, OFFICERS, READERS } from "./roles.js";
import { versionWhatIf } from "./reports.js";

/**
 * A version as listed, `active` if it is `activeVersion` (the store's, read by the caller; this
 * node's by default). The active one also says what is left out of the policy in force because it
 * does not compile with it (normally nothing; what is left out grants nothing: fail closed): this
 * node's compile, so only when it is this node's active version too.
 */
function summary(deps: AdminDeps, v: SchemeVersion, activeVersion?: number) {
  const state = deps.state();
  const here = v.version === state.active.document.version;
  const active = v.version === (activeVersion ?? state.active.document.version);
  return {
    version: v.version,
    name: v.name,
    digest: v.digest,
    uploaded_by: v.uploaded_by,
    uploaded_at: v.uploaded_at,
    active,
    ...(active && here && state.leftOut.length > 0 ? { left_out: state.leftOut } : {}),
  };
}

function diffAgainstActive(deps: AdminDeps, scheme: CompiledScheme, active = deps.state().base) {
  const diff = diffSchemes(active, scheme);
  return { identical: diff.identical, changes: diff.changes, text: formatDiff(diff) };
}

/**
 * The store's active version, for a stored version's diff: this node's when it is the same, else
 * read from the store (this node behind, its reload failed).
 */
async function storeBase(deps: AdminDeps, active?: number): Promise<CompiledScheme> {
  const state = deps.state();
  const version = active ?? (await activePointer(deps.store)).document.version;
  if (version === state.active.document.version) return state.base;
  // Off the event loop when large, or as read already (control/read-version.ts).
  const stored = await schemeVersion(deps.store, state, String(version));
  return (await readStoredVersionOffLoop(stored.document)).scheme;
}

/**
 * The store's active version, for an upload's diff: its record, and this node's compiled form when
 * it is this node's active version too (else it is compiled from the store's record, as `storeBase`).
 * An active version that does not load still lets the upload be stored (it may be the fix: its
 * diff's error comes after); a store that cannot give the active record refuses it before.
 */
async function uploadBase(deps: AdminDeps): Promise<[SchemeVersion, CompiledScheme | undefined]> {
  const state = deps.state();
  const version = (await activePointer(deps.store)).document.version;
  if (version === state.active.document.version) return [state.active.document, state.base];
  return [(await schemeVersion(deps.store, state, String(version))).document, undefined];
}

/**
 * Any stored version reads as it loads: what newer checks refuse in one an older release stored is
 * left out, and said (`left_out_as_stored`). Activating it is still refused, naming the field. Read
 * off the event loop when large, or as read already (control/read-version.ts).
 */
async function readVersion(deps: AdminDeps, v: SchemeVersion, active: CompiledScheme, activeVersion: number) {
  const { scheme, leftOut } = await readStoredVersionOffLoop(v);
  return {
    ...summary(deps, v, activeVersion),
    yaml: v.text,
    diff: diffAgainstActive(deps, scheme, active),
    ...(leftOut.length > 0 ? { left_out_as_stored: leftOut } : {}),
  };
}

/** What an activation records of the impact it was shown: the digest and the summary's counts. */
function impactRecord(r: WhatIfReport) {
  const s = r.population.summary;
  return {
    digest: r.digest,
    compared: s.compared,
    gained: s.gained,
    lost: s.lost,
    changed: s.changed,
    allow_to_fallback: s.allow_to_fallback,
    allow_to_deny: s.allow_to_deny,
    fallback_to_deny: s.fallback_to_deny,
  };
}

/**
 * With `whatif.require_for_activation` (or when the caller names a digest), the activation's impact
 * is computed afresh and must be the one the caller reviewed: its digest. Without a digest, or with
 * one of an impact that has changed since, the activation is refused with the impact's summary.
 */
async function reviewedImpact(deps: AdminDeps, version: string, digest: string | undefined) {
  if (digest === undefined && deps.whatIf?.requireForActivation !== true) return null;
  // Not behind the readers' report jobs: an activation (a rollback, say) is never held off by them.
  const impact = await versionWhatIf(deps, version, {}, undefined, undefined, "first");
  if (digest === impact.digest) return impact;
  const s = impact.population.summary;
  const counts =
    `${s.gained} gain access, ${s.lost} lose it, ${s.changed} change basis ` +
    `(allow → fallback ${s.allow_to_fallback}, allow → deny ${s.allow_to_deny}, fallback → deny ${s.fallback_to_deny})`;
  const review = `review it (POST /admin/v1/schemes/${version}/what-if; clearance schemes what-if ${version}), then activate with what_if: "${impact.digest}"`;
  throw new ClearanceError(
    "conflict",
    digest === undefined ? "what_if_required" : "what_if_changed",
    digest === undefined
      ? `activating version ${version} requires reviewing its impact first: ${counts}; ${review}`
      : `the impact of version ${version} has changed since ${digest} was reviewed: now ${counts}; ${review}`,
  );
}

export const schemeRoutes = [
  route({
    method: "GET",
    path: "/admin/v1/schemes",
    tag: "schemes",
    summary: "List scheme versions",
    roles: READERS,
    query: z.object(pageQuery),
    async handle({ deps, query }) {
      // The store's versions, marked by its active version, as a version read is: another node may
      // have uploaded or activated one this node has not loaded yet.
      const { version: active } = (await activePointer(deps.store)).document;
      const state = deps.state();
      const versions = await currentRecords(deps.store, "scheme", state.versions, deps.heldVersion?.());
      const all = versions.map((v) => ({ id: v.id, ...summary(deps, v.document, active) }));
      return paginate(all, query.limit, query.cursor);
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/schemes",
    tag: "schemes",
    summary: "Upload a scheme version",
    roles: OFFICERS,
    status: 201,
    body: schemeUpload,
    async handle({ deps, caller, body }) {
      // Read (in a worker thread when large: control/upload.ts) before anything is stored.
      const read = await readUploadOffLoop(body.yaml, ...(await uploadBase(deps)));
      const { version, created } = await addVersion(deps.store, body.yaml, caller.id, deps.now(), read);
      if (created) await deps.changed();
      const { diff } = read;
      if ("baseInvalid" in diff)
        throw new InvalidInputError(diff.baseInvalid.problems, diff.baseInvalid.message);
      return { version, created, diff };
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/schemes/{version}",
    tag: "schemes",
    summary: "Read a scheme version and its diff against the active one",
    roles: READERS,
    async handle({ deps, params }) {
      // Its diff is against the store's active version: this node reloads first if behind, and
      // if it cannot, that version is read from the store (a reader's page is never refused for it).
      const state = await inStepWithStore(deps).catch((err: unknown) => {
        if (err instanceof ClearanceError && err.code === "snapshot_behind") return deps.state();
        throw err;
      });
      const v = await schemeVersion(deps.store, state, params.version as string);
      const { version: active } = (await activePointer(deps.store)).document;
      return await readVersion(deps, v.document, await storeBase(deps, active), active);
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/schemes/{version}/activate",
    tag: "schemes",
    summary: "Activate a scheme version (or roll back to an earlier one)",
    roles: ADMINS,
    body: schemeActivation,
    async handle({ deps, caller, params, body }) {
      // An impact is measured against the version it replaces: this node reloads first if behind
      // (409 snapshot_behind if it cannot). Without one, nothing is measured here, and a rollback
      // goes through on a node that cannot reload (activateVersion guards its write on the store).
      const measured = body.what_if !== undefined || deps.whatIf?.requireForActivation === true;
      const state = measured ? await inStepWithStore(deps) : deps.state();
      const v = await schemeVersion(deps.store, state, params.version as string);
      // Read once (off the event loop when large): activateVersion and the reload after find it read.
      const scheme = await readVersionToActivate(v.document.text, `version ${v.id}`);
      // Against the store, not this node's snapshot (a moment behind, maybe); activateVersion
      // checks again right before its write, which is refused if anything changed in between.
      const policy = await storePolicy(deps.store, state);
      const partners = policy.partners.map((p) => p.document);
      const licenses = policy.licenses.map((l) => l.document);
      refuseMisfits(versionMisfits(scheme, partners, licenses, deps.now(), policy.scheme), v.id);
      // What the policy in force leaves out already stays out (activation is not refused for it),
      // so it is no reason to answer a done activation as failed; only what it newly leaves out is.
      const already = new Set(compileFitting(policy.scheme, partners, licenses).leftOut.map(leftOutKey));
      // Before the what-if: a version that would bypass the license workflow is refused outright.
      refuseLicensesOutsideWorkflow(scheme, new Set(licenses.map((l) => l.id)), v.id);
      // The config's upstreams meet this scheme here: a model none serves, a fallback they could
      // never serve, models of different control answered by one upstream model (the laxer's allow
      // would serve the other) are refused, the first kind found with all of its kind.
      const serving = servingProblems(scheme, deps);
      const first = serving[0];
      if (first !== undefined) {
        const same = serving.filter((p) => p.code === first.code).map((p) => p.message);
        throw new ClearanceError(
          "conflict",
          first.code,
          `version ${v.id} cannot be activated: ${same.join("; ")}`,
        );
      }
      const impact = await reviewedImpact(deps, v.id, body.what_if);
      const reason =
        impact === null
          ? body.reason
          : `${body.reason} [what-if ${impact.digest}: ${impact.population.summary.gained} gain access, ` +
            `${impact.population.summary.lost} lose it, ${impact.population.summary.changed} change basis]`;
      await activateVersion(deps.store, v.document.version, caller.id, deps.now(), {
        reason,
        // The impact describes replacing this version: refused if another was activated meanwhile.
        ...(impact === null
          ? {}
          : { impact: impactRecord(impact), replacing: state.active.document.version }),
      });
      const written = await reloadAfter(deps, `the active scheme version (now ${v.id})`, "policy");
      const after = deps.state();
      requireAllInForce({ ...after, leftOut: after.leftOut.filter((l) => !already.has(leftOutKey(l))) });
      // Stored, but this node's reload failed: the version before is still in force here.
      return answer(deps, written, {
        ...summary(deps, v.document),
        ...(impact === null ? {} : { impact: impactRecord(impact) }),
      });
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/models",
    tag: "models",
    summary: "The models of the policy in force",
    roles: READERS,
    query: z.object({}),
    async handle({ deps }) {
      const scheme = deps.state().scheme;
      const data = [...scheme.models.values()].map((m) => ({
        id: m.id,
        control: m.control,
        fallback: m.fallback,
        available_in: m.availableIn === null ? null : [...m.availableIn].sort(),
        upstream: deps.route(m.id) ?? null,
      }));
      return { data, next_cursor: null };
    },
  }),
];

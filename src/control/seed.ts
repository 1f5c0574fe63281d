/**
 * Bringing a scheme file into the store: as a new version (when its content is new), activated,
 * with the partners and licenses it names that the store does not have yet. Existing partners and
 * licenses are never overwritten by a file: once running, the store is the source of truth.
 *
 * Whose authority a version carries decides what its licenses may be. The operator's own scheme
 * file, seeded at start-up, is the operator's authority: its licenses are taken as they stand
 * (approved ones included). A version activated through the admin API is not: an approved license
 * takes two approvers (the license workflow), and activating a scheme takes only an admin, so such
 * a version may bring new licenses only as pending applications, filed under the identity that
 * activated it; one that would bring any other new license is refused, naming them.
 */
import { ClearanceError, InvalidInputError, SetupError } from "../errors/index.js";
import type { LicenseRecord, LicenseTerms } from "../licensing/types.js";
import { apply, resolveTerms, seed } from "../licensing/workflow.js";
import { parseScheme, type CompiledScheme } from "../scheme/index.js";
import type { SchemeFile, SchemeLicense } from "../scheme/schema.js";
import { SetResolver } from "../scheme/sets.js";
import { StoreError, revisionConflict, type RecordWrite, type Store } from "../store/index.js";
import { compileFitting, describeLeftOut, type LeftOut } from "./effective.js";
import { leftOutProblems } from "./in-force.js";
import {
  readStoredVersionKept,
  readStoredVersionOffLoop,
  readVersionToActivate,
  readVersionToActivateKept,
} from "./read-version.js";
import type { ActiveScheme, PartnerDocument, SchemeVersion } from "./types.js";

/** The actor of what the operator's scheme file seeds at start-up. */
export const SCHEME_FILE_ACTOR = "scheme-file";

/**
 * Stores the text as a new version unless one with the same digest exists; returns its number.
 * `read`: its name and digest, read from it already (off the event loop: control/upload.ts).
 */
export async function addVersion(
  store: Store,
  text: string,
  actor: string,
  now: string,
  read?: { readonly name: string; readonly digest: string },
): Promise<{ version: number; created: boolean }> {
  const scheme = read ?? parseScheme(text, "uploaded scheme");
  const versions = await store.records.list<SchemeVersion>("scheme");
  const same = versions.find((v) => v.document.digest === scheme.digest);
  if (same !== undefined) return { version: same.document.version, created: false };
  const version = Math.max(0, ...versions.map((v) => v.document.version)) + 1;
  const doc: SchemeVersion = {
    version,
    name: scheme.name,
    digest: scheme.digest,
    text,
    uploaded_by: actor,
    uploaded_at: now,
  };
  await store.records.put("scheme", String(version), doc, 0, {
    actor,
    action: "scheme.upload",
    details: { version, name: scheme.name, digest: scheme.digest },
  });
  return { version, created: true };
}

export interface ActivateOptions {
  readonly reason?: string;
  /** The impact the activation was shown (its what-if digest and counts), for the record. */
  readonly impact?: Readonly<Record<string, unknown>>;
  /** The active version `impact` was measured against: refused if it is no longer the active one. */
  readonly replacing?: number;
  /**
   * The operator's own scheme file at start-up (seedFromFile): its licenses are taken with their
   * status. Otherwise (the admin API) only pending applications may be brought, under `actor`.
   */
  readonly operatorFile?: boolean;
  /**
   * The active pointer's revision the caller decided to activate from (0: none was active): the
   * activation is refused as a conflict if the pointer has moved since. Without it, a start that
   * read "nothing active" while another node activated the same file activated it again.
   */
  readonly pointerRevision?: number;
}

/**
 * The new licenses of a version that the license workflow must produce instead: those the store
 * does not have whose status in the file is anything but pending. `have`: the store's license ids.
 */
export function licensesNeedingWorkflow(
  scheme: CompiledScheme,
  have: ReadonlySet<string>,
): { readonly index: number; readonly license: SchemeLicense }[] {
  return scheme.source.licenses.flatMap((license, index) =>
    have.has(license.id) || license.status === "pending" ? [] : [{ index, license }],
  );
}

/**
 * Refuses (409 `licenses_need_workflow`, one problem per license, at its `status`) a version that
 * the admin API would activate with new licenses that are not pending applications.
 */
export function refuseLicensesOutsideWorkflow(
  scheme: CompiledScheme,
  have: ReadonlySet<string>,
  version: number | string,
): void {
  const outside = licensesNeedingWorkflow(scheme, have);
  if (outside.length === 0) return;
  const named = outside.map(({ license }) => `${license.id} (${license.status})`).join(", ");
  throw new ClearanceError(
    "conflict",
    "licenses_need_workflow",
    `version ${version} cannot be activated: it would create license${outside.length === 1 ? "" : "s"} ${named} ` +
      "that the store does not have, with a status no one approved. Licenses go through the license " +
      "workflow: apply for them (POST /admin/v1/licenses) and have two approvers approve them, or list " +
      "them in the version as status: pending (they then arrive as applications filed by the identity " +
      "that activates the version)",
    {
      problems: outside.map(({ index, license }) => ({
        code: "license_needs_workflow",
        path: ["licenses", index, "status"],
        message: `license ${license.id} is ${license.status} in the file but not in the store: only a pending application may be brought by an activation`,
      })),
    },
  );
}

/**
 * What a version would leave out of the policy in force, were it active with the store's partners
 * and licenses and those it would bring (the ones the store lacks): empty when everything fits.
 * `active`: the version in force (null: none), whose own left-outs are not the new version's doing.
 */
export function versionMisfits(
  scheme: CompiledScheme,
  partners: readonly PartnerDocument[],
  licenses: readonly LicenseRecord[],
  now: string,
  active: SchemeFile | null,
): readonly LeftOut[] {
  const havePartners = new Set(partners.map((p) => p.partner.id));
  const haveLicenses = new Set(licenses.map((l) => l.id));
  const { countries, organizations } = scheme.source.partners;
  const brought: PartnerDocument[] = [
    ...countries.map((partner) => ({ kind: "country" as const, partner, history: [] })),
    ...organizations.map((partner) => ({ kind: "organization" as const, partner, history: [] })),
  ].filter((d) => !havePartners.has(d.partner.id));
  const broughtLicenses = scheme.source.licenses
    .filter((l) => !haveLicenses.has(l.id))
    .map((l) => seed(l.id, l.licensee, termsOf(l, scheme), l.status, now));
  const misfits = compileFitting(
    scheme.source,
    [...partners, ...brought],
    [...licenses, ...broughtLicenses],
  ).leftOut;
  if (active === null || misfits.length === 0) return misfits;
  // What the policy in force leaves out already (a record an older release took that checks since
  // refuse) loses nothing by staying out: counted, it would refuse every version, and none could mend it.
  const key = (l: LeftOut) => `${l.kind}\u0000${l.id}`;
  const already = new Set(compileFitting(active, partners, licenses).leftOut.map(key));
  return misfits.filter((l) => !already.has(key(l)));
}

/** The source of the version the active-scheme setting names (null: none, or not stored). */
async function activeSource(
  store: Store,
  active: ActiveScheme | undefined,
  here: boolean,
): Promise<SchemeFile | null> {
  if (active === undefined) return null;
  const record = await store.records.get<SchemeVersion>("scheme", String(active.version));
  return record === undefined ? null : await loadableSource(record.document, here);
}

/**
 * The source of a stored version, to judge what it already leaves out; null when it does not load
 * at all (an unknown model, say): a new version is then judged on its own, so that a corrected
 * file or an activation can still replace a version that keeps the gateway from starting.
 */
async function loadableSource(version: SchemeVersion, here = false): Promise<SchemeFile | null> {
  try {
    // Normally read already (the reload that put it in force); else off the event loop when large,
    // but `here` at start-up (nothing is served yet, and a version in force is read without limits).
    const read = here ? readStoredVersionKept(version) : await readStoredVersionOffLoop(version);
    return read.scheme.source;
  } catch (err) {
    if (err instanceof InvalidInputError) return null;
    throw err;
  }
}

/** Refuses (400, one problem per misfit, naming it by id) a version the store's entries do not fit. */
export function refuseMisfits(leftOut: readonly LeftOut[], version: number | string): void {
  if (leftOut.length === 0) return;
  throw new InvalidInputError(
    leftOutProblems(leftOut),
    `version ${version} cannot be activated: the partners and licenses in force do not fit it: ${describeLeftOut(leftOut)}`,
  );
}

/**
 * Makes a version active and seeds what it brings, in one transaction. Unless `operatorFile`, a
 * version bringing new licenses that are not pending is refused first, and nothing is changed. So
 * is one that the store's partners and licenses do not compile with — checked against the store
 * right before the write, which is refused (a conflict) should anything in the store change
 * between the two.
 */
export async function activateVersion(
  store: Store,
  version: number,
  actor: string,
  now: string,
  options: ActivateOptions = {},
): Promise<void> {
  const { reason, impact, replacing, operatorFile = false, pointerRevision } = options;
  const record = await store.records.get<SchemeVersion>("scheme", String(version));
  if (record === undefined) throw new Error(`no scheme version ${version}`);
  // As read already when the route just read it to check it; else off the event loop when large,
  // but for the operator's file at start-up (nothing is served yet, and it is read without limits).
  const file = `scheme version ${version}`;
  const scheme = operatorFile
    ? readVersionToActivateKept(record.document.text, file)
    : await readVersionToActivate(record.document.text, file);
  // Everything below is read after this: a change committed since makes the guarded write refuse.
  const seen = await store.version();
  const [partners, licenses, current] = await Promise.all([
    store.records.list<PartnerDocument>("partner"),
    store.records.list<LicenseRecord>("license"),
    store.records.get<ActiveScheme>("setting", "active-scheme"),
  ]);
  // Decided from a pointer that has moved: refused before any check against the new one, whose
  // misfits would name a scheme the caller never weighed (the start decides again).
  if (pointerRevision !== undefined && (current?.revision ?? 0) !== pointerRevision)
    throw revisionConflict({ collection: "setting", id: "active-scheme", expectedRevision: pointerRevision });
  if (replacing !== undefined && current?.document.version !== replacing)
    throw new ClearanceError(
      "conflict",
      "what_if_changed",
      `scheme version ${current?.document.version ?? "none"} was activated while the impact of version ` +
        `${version} was measured against version ${replacing}: review its impact again, then activate`,
    );
  if (!operatorFile) refuseLicensesOutsideWorkflow(scheme, new Set(licenses.map((r) => r.id)), version);
  refuseMisfits(
    versionMisfits(
      scheme,
      partners.map((p) => p.document),
      licenses.map((l) => l.document),
      now,
      await activeSource(store, current?.document, operatorFile),
    ),
    version,
  );
  const fileDigest = operatorFile ? record.document.digest : current?.document.file_digest;
  const doc: ActiveScheme = {
    version,
    activated_by: actor,
    activated_at: now,
    ...(fileDigest === undefined ? {} : { file_digest: fileDigest }),
  };
  const pointer: RecordWrite = {
    collection: "setting",
    id: "active-scheme",
    document: doc,
    expectedRevision: pointerRevision ?? current?.revision ?? 0,
    change: {
      actor,
      action: "scheme.activate",
      details: {
        version,
        previous: current?.document.version ?? null,
        digest: record.document.digest,
        ...(reason ? { reason } : {}),
        ...(impact ? { what_if: impact } : {}),
      },
    },
  };
  // One transaction: the pointer and everything the version brings, or nothing. Written one by one,
  // another node could load (and confirm) the version without its new partners, and a crash between
  // left them missing for good (no later activation of the same version brought them).
  const brought = broughtWrites(
    scheme,
    version,
    now,
    operatorFile ? SCHEME_FILE_ACTOR : actor,
    operatorFile,
    {
      partners: new Set(partners.map((p) => p.id)),
      licenses: new Set(licenses.map((l) => l.id)),
    },
  );
  await store.records.putAll([pointer, ...brought], { version: seen });
}

/**
 * The writes of what a version brings that the store lacks (`have`: the ids it holds). `actor` is
 * who brought it: the scheme file at start-up, or the identity that activated the version (every
 * audit entry and history names it).
 */
function broughtWrites(
  scheme: CompiledScheme,
  version: number,
  now: string,
  actor: string,
  operatorFile: boolean,
  have: { readonly partners: ReadonlySet<string>; readonly licenses: ReadonlySet<string> },
): RecordWrite[] {
  const change = (kind: string, id: string, action = "seed") => ({
    actor,
    action: `${kind}.${action}`,
    details: { from_scheme: scheme.digest, version, id },
  });
  const { countries, organizations } = scheme.source.partners;
  const docs: PartnerDocument[] = [
    ...countries.map((partner) => ({
      kind: "country" as const,
      partner,
      history: seededAt(now, partner.status, actor, version, operatorFile),
    })),
    ...organizations.map((partner) => ({
      kind: "organization" as const,
      partner,
      history: seededAt(now, partner.status, actor, version, operatorFile),
    })),
  ];
  const writes: RecordWrite[] = docs
    .filter((doc) => !have.partners.has(doc.partner.id))
    .map((doc) => ({
      collection: "partner",
      id: doc.partner.id,
      document: doc,
      expectedRevision: 0,
      change: change("partner", doc.partner.id),
    }));
  for (const l of scheme.source.licenses) {
    if (have.licenses.has(l.id)) continue;
    if (operatorFile) {
      const record: LicenseRecord = seed(l.id, l.licensee, termsOf(l, scheme), l.status, now);
      writes.push({
        collection: "license",
        id: l.id,
        document: record,
        expectedRevision: 0,
        change: change("license", l.id),
      });
      continue;
    }
    // Checked before activating (refuseLicensesOutsideWorkflow); never anything but an application.
    if (l.status !== "pending") throw new Error(`license ${l.id} is ${l.status}, not pending`);
    const record = apply(
      {
        id: l.id,
        licensee: l.licensee,
        terms: termsOf(l, scheme),
        justification: `brought by scheme version ${version} (${scheme.digest}), activated by ${actor}`,
      },
      actor,
      now,
    );
    writes.push({
      collection: "license",
      id: l.id,
      document: record,
      expectedRevision: 0,
      change: {
        ...change("license", l.id, "apply"),
        details: { status: record.status, from_scheme: scheme.digest, version, id: l.id },
      },
    });
  }
  return writes;
}

/**
 * Seeds what the active version brings that the store lacks, in one transaction guarded on the
 * store's version: should another writer change the store meanwhile (another node seeding the
 * same version), nothing is written and the caller decides again (a conflict).
 */
async function seedMissing(
  store: Store,
  scheme: CompiledScheme,
  version: number,
  now: string,
): Promise<void> {
  const seen = await store.version();
  const [partners, licenses] = await Promise.all([
    store.records.list("partner"),
    store.records.list("license"),
  ]);
  const writes = broughtWrites(scheme, version, now, SCHEME_FILE_ACTOR, true, {
    partners: new Set(partners.map((r) => r.id)),
    licenses: new Set(licenses.map((r) => r.id)),
  });
  if (writes.length > 0) await store.records.putAll(writes, { version: seen });
}

function seededAt(
  now: string,
  status: PartnerDocument["partner"]["status"],
  actor: string,
  version: number,
  operatorFile: boolean,
): PartnerDocument["history"] {
  const reason = operatorFile ? "seeded from the scheme file" : `brought by scheme version ${version}`;
  return [{ at: now, actor, from: null, to: status, reason }];
}

/** A version's license as terms, its set names resolved against the version's own sets. */
function termsOf(l: SchemeLicense, scheme: CompiledScheme): LicenseTerms {
  const sets = new SetResolver(scheme.source.sets, []);
  return resolveTerms(plainTerms(l), (expr, path = []) => sets.resolve(expr, path));
}

function plainTerms(l: SchemeLicense): LicenseTerms {
  return {
    models: l.models,
    actions: l.actions,
    destinations: l.destinations,
    ...(l.purposes === undefined ? {} : { purposes: l.purposes }),
    ...(l.nationalities === undefined ? {} : { nationalities: l.nationalities }),
    valid_from: l.valid_from,
    valid_until: l.valid_until,
    ...(l.quota_tokens === undefined ? {} : { quota_tokens: l.quota_tokens }),
    quota_period: l.quota_period,
  };
}

/**
 * At start-up: the config's scheme file becomes the active version whenever its content differs
 * from the file seeded last (`file_digest` of the active-scheme setting) — also when that content was
 * uploaded before as a version that is not active. A file unchanged since it was last seeded
 * leaves the active version alone (an activation through the admin API stands). A store without
 * that digest (last seeded by an older build) activates the file when its content is new, as before.
 *
 * Before anything is written, the file is checked against the store's partners and licenses: a
 * file they do not compile with (a model or set they name is gone) refuses start-up with an error
 * naming each, and changes nothing — so putting the previous file back starts as before.
 *
 * Nodes starting together on one store (PostgreSQL) each decide from what they read, and the writes
 * are compare-and-swaps: a node whose write is refused because another got in first decides again,
 * and finds the file active (and what it brings seeded, or seeds what is still missing).
 */
export async function seedFromFile(store: Store, text: string, now: string): Promise<void> {
  const scheme = parseScheme(text, "the scheme file");
  for (let attempt = 1; ; attempt++) {
    try {
      return await seedFileOnce(store, scheme, text, now);
    } catch (err) {
      // Another node starting with the same file (or any change made meanwhile) got in between this
      // start's reads and its write: decide again from what the store holds now.
      if (!(err instanceof StoreError && err.code === "conflict") || attempt >= SEED_ATTEMPTS) throw err;
    }
  }
}

/** How many times a start decides again after a write refused as a conflict (see seedFromFile). */
const SEED_ATTEMPTS = 5;

async function seedFileOnce(store: Store, scheme: CompiledScheme, text: string, now: string): Promise<void> {
  const [active, versions] = await Promise.all([
    store.records.get<ActiveScheme>("setting", "active-scheme"),
    store.records.list<SchemeVersion>("scheme"),
  ]);
  const seeded = active?.document.file_digest;
  const activate =
    active === undefined ||
    (seeded === undefined
      ? !versions.some((v) => v.document.digest === scheme.digest)
      : seeded !== scheme.digest);
  if (!activate) {
    // The file's content is active: what it brings that the store lacks is seeded now. Normally
    // nothing (the activation seeded it, in its transaction); but an older release's start cut short
    // after activating (a crash, the store lost) left the rest unseeded, and no later start would
    // activate this content again.
    const version = versions.find((v) => v.document.version === active.document.version);
    if (version?.document.digest === scheme.digest)
      await seedMissing(store, scheme, version.document.version, now);
    return;
  }
  const [partners, licenses] = await Promise.all([
    store.records.list<PartnerDocument>("partner"),
    store.records.list<LicenseRecord>("license"),
  ]);
  const inForce = versions.find((v) => v.document.version === active?.document.version);
  const misfits = versionMisfits(
    scheme,
    partners.map((p) => p.document),
    licenses.map((l) => l.document),
    now,
    inForce === undefined ? null : await loadableSource(inForce.document, true),
  );
  if (misfits.length > 0) {
    throw new SetupError(
      `the scheme file does not fit what the store holds, so the gateway does not start and nothing was changed: ` +
        `${describeLeftOut(misfits)}. Put back what the file no longer defines, or first revoke or change ` +
        "these through the admin API (or put the previous file back)",
    );
  }
  const { version } = await addVersion(store, text, SCHEME_FILE_ACTOR, now);
  await activateVersion(store, version, SCHEME_FILE_ACTOR, now, {
    reason: "the gateway's scheme file changed",
    operatorFile: true,
    pointerRevision: active?.revision ?? 0,
  });
}

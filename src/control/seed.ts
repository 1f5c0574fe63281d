/**
 * Bringing a scheme file into the store: as a new version (when its content is new), activated,
 * with the partners and licenses it names that the store does not have yet. Existing partners and
 * licenses are never overwritten by a file: once running, the store is the source of truth.
 */
import type { LicenseRecord, LicenseTerms } from "../licensing/types.js";
import { seed } from "../licensing/workflow.js";
import { parseScheme, type CompiledScheme } from "../scheme/index.js";
import type { SchemeLicense } from "../scheme/schema.js";
import type { Store } from "../store/index.js";
import type { ActiveScheme, PartnerDocument, SchemeVersion } from "./types.js";

/** Stores the text as a new version unless one with the same digest exists; returns its number. */
export async function addVersion(
  store: Store,
  text: string,
  actor: string,
  now: string,
): Promise<{ version: number; created: boolean; scheme: CompiledScheme }> {
  const scheme = parseScheme(text, "uploaded scheme");
  const versions = await store.records.list<SchemeVersion>("scheme");
  const same = versions.find((v) => v.document.digest === scheme.digest);
  if (same !== undefined) return { version: same.document.version, created: false, scheme };
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
  return { version, created: true, scheme };
}

/** Makes a version active and seeds what it brings. The caller has checked that the result compiles. */
export async function activateVersion(
  store: Store,
  version: number,
  actor: string,
  now: string,
  reason?: string,
  /** The impact the activation was shown (its what-if digest and counts), for the record. */
  impact?: Readonly<Record<string, unknown>>,
): Promise<void> {
  const record = await store.records.get<SchemeVersion>("scheme", String(version));
  if (record === undefined) throw new Error(`no scheme version ${version}`);
  const current = await store.records.get<ActiveScheme>("setting", "active-scheme");
  const doc: ActiveScheme = { version, activated_by: actor, activated_at: now };
  await store.records.put("setting", "active-scheme", doc, current?.revision ?? 0, {
    actor,
    action: "scheme.activate",
    details: {
      version,
      previous: current?.document.version ?? null,
      digest: record.document.digest,
      ...(reason ? { reason } : {}),
      ...(impact ? { what_if: impact } : {}),
    },
  });
  await seedFrom(store, parseScheme(record.document.text, `scheme version ${version}`), now);
}

async function seedFrom(store: Store, scheme: CompiledScheme, now: string): Promise<void> {
  const change = (kind: string, id: string) => ({
    actor: "scheme-file",
    action: `${kind}.seed`,
    details: { from_scheme: scheme.digest, id },
  });
  const partners = new Set((await store.records.list("partner")).map((r) => r.id));
  const { countries, organizations } = scheme.source.partners;
  const docs: PartnerDocument[] = [
    ...countries.map((partner) => ({
      kind: "country" as const,
      partner,
      history: seededAt(now, partner.status),
    })),
    ...organizations.map((partner) => ({
      kind: "organization" as const,
      partner,
      history: seededAt(now, partner.status),
    })),
  ];
  for (const doc of docs) {
    if (partners.has(doc.partner.id)) continue;
    await store.records.put("partner", doc.partner.id, doc, 0, change("partner", doc.partner.id));
  }
  const licenses = new Set((await store.records.list("license")).map((r) => r.id));
  for (const l of scheme.source.licenses) {
    if (licenses.has(l.id)) continue;
    const record: LicenseRecord = seed(
      l.id,
      l.licensee,
      termsOf(l),
      l.status === "pending" ? "pending" : l.status,
      now,
    );
    await store.records.put("license", l.id, record, 0, change("license", l.id));
  }
}

function seededAt(now: string, status: PartnerDocument["partner"]["status"]): PartnerDocument["history"] {
  return [{ at: now, actor: "scheme-file", from: null, to: status, reason: "seeded from the scheme file" }];
}

function termsOf(l: SchemeLicense): LicenseTerms {
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

/** At start-up: the config's scheme file becomes (or stays) the active version if it is new. */
export async function seedFromFile(store: Store, text: string, now: string): Promise<void> {
  const { version, created } = await addVersion(store, text, "scheme-file", now);
  const active = await store.records.get<ActiveScheme>("setting", "active-scheme");
  if (created || active === undefined)
    await activateVersion(store, version, "scheme-file", now, "the gateway's scheme file changed");
}

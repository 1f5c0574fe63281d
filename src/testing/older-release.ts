/**
 * Test support: a store as an older release left it, one that took a license's empty purposes and a
 * partner listed under two spellings of its id (uk-aisi, UK-AISI) without a word. Releases since
 * refuse both in a new version, but a version already stored must still load.
 */
import { readFileSync } from "node:fs";
import type { LicenseRecord } from "../licensing/types.js";
import { seed } from "../licensing/workflow.js";
import { schemeDigest } from "../scheme/compile.js";
import { schemeFileSchema } from "../scheme/schema.js";
import type { Store } from "../store/index.js";
import { readYaml, validate } from "../yaml/index.js";
import type { ActiveScheme, PartnerDocument, SchemeVersion } from "../control/types.js";

export const EXAMPLE = readFileSync("examples/g7-trusted-partners.yaml", "utf8");

const SUSPENDED_SPELLING = `    - id: UK-AISI
      name: UK AI Security Institute (listed again)
      country: GB
      status: suspended
      assurance: verified
      grants:
        - { models: [mythos-5, fable-5], actions: [infer, evaluate, fine_tune] }
`;

/** The example with the partner listed again (suspended) and a license naming no purpose. */
export const OLDER_VERSION = `${EXAMPLE.replace("\nlicenses:\n", `${SUSPENDED_SPELLING}\nlicenses:\n`)}
  - id: BIS-2026-0002
    licensee: { organization: bw-cyber }
    models: [mythos-5]
    actions: [infer]
    destinations: [DE]
    purposes: []
    valid_from: 2026-07-01
    valid_until: 2027-07-01
    status: approved
`;

const change = { actor: "admin", action: "older.release" };

/**
 * After the example was seeded: version 2 uploaded and activated through the admin API by an older
 * release, which seeded what it brought into the store as it stood.
 */
export async function storeAsOlderRelease(store: Store, now: string): Promise<void> {
  const yaml = readYaml(OLDER_VERSION, "older version");
  const { value } = validate(yaml, schemeFileSchema);
  if (value === undefined) throw new Error("the older version's shape is invalid");
  const version: SchemeVersion = {
    version: 2,
    name: value.name,
    digest: schemeDigest(value),
    text: OLDER_VERSION,
    uploaded_by: "admin",
    uploaded_at: now,
  };
  await store.records.put("scheme", "2", version, 0, change);
  const partner = value.partners.organizations.find((p) => p.id === "UK-AISI")!;
  const doc: PartnerDocument = { kind: "organization", partner, history: [] };
  await store.records.put("partner", partner.id, doc, 0, change);
  const l = value.licenses.find((x) => x.id === "BIS-2026-0002")!;
  const license: LicenseRecord = seed(
    l.id,
    l.licensee,
    {
      models: l.models,
      actions: l.actions,
      destinations: l.destinations,
      purposes: l.purposes ?? [],
      valid_from: l.valid_from,
      valid_until: l.valid_until,
      quota_period: l.quota_period,
      resolved: { destinations: ["DE"] },
    },
    l.status,
    now,
  );
  await store.records.put("license", l.id, license, 0, change);
  const active = (await store.records.get<ActiveScheme>("setting", "active-scheme"))!;
  await store.records.put(
    "setting",
    "active-scheme",
    { ...active.document, version: 2, activated_by: "admin", activated_at: now },
    active.revision,
    change,
  );
}

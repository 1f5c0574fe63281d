/**
 * What the policy in force leaves out: partners and licenses stored but not compiling with the
 * active scheme version (GET /admin/v1/schemes: the active version's `left_out`). What they would
 * grant is denied (fail closed) — a compliance officer must see it where the license or partner is
 * shown, not only in the gateway's log. Only the readers of the whole control plane can list scheme
 * versions: for anyone else this is empty.
 */
import { listAll } from "../api.js";
import { pathText } from "../components/form.js";
import { Shown } from "../components/ui.js";
import { can, type Me } from "../roles.js";

/** src/control/effective.ts's LeftOut, as the admin API sends it. */
export interface LeftOut {
  readonly kind: "partner" | "license";
  readonly id: string;
  readonly problems: readonly {
    readonly code: string;
    readonly path: readonly (string | number)[];
    readonly message: string;
  }[];
}

export interface ActiveVersion {
  readonly version: number;
  readonly active: boolean;
  readonly left_out?: readonly LeftOut[];
}

/** The active version and what it leaves out; null for a caller who may not list versions. */
export async function activeLeftOut(me: Me): Promise<{ version: number; left: readonly LeftOut[] } | null> {
  if (!can.read(me)) return null;
  const active = (await listAll<ActiveVersion>("/schemes")).find((v) => v.active);
  return active === undefined ? null : { version: active.version, left: active.left_out ?? [] };
}

/** Why an entry is left out, in one line: "models[0]: unknown model x-1; …". */
export const leftOutWhy = (l: LeftOut): string =>
  l.problems.map((p) => (p.path.length > 0 ? `${pathText(p.path)}: ${p.message}` : p.message)).join("; ") ||
  "it does not compile with the version";

/** The notice on a left-out license's or partner's page. */
export function LeftOutNotice({ entry, version }: { entry: LeftOut; version: number }) {
  return (
    <div className="form-error left-out">
      <h2>Not in the policy in force: requests it would allow are denied</h2>
      <p>
        This {entry.kind} is stored, but the gateway left it out of the policy in force because it does not
        compile with scheme version {version}. Until that is fixed, nothing it would grant is granted.
      </p>
      <p>
        Why: <Shown text={leftOutWhy(entry)} />.
      </p>
    </div>
  );
}

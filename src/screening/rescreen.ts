/** Rescreening after a list import: only what changed. */
import type { ListVersionRow, Store } from "../store/index.js";

export interface RescreenSummary {
  readonly subjects: number;
  readonly entries: number;
  readonly potential: number;
  readonly resolved: number;
}

export async function rescreenAfterImport(
  store: Store,
  version: ListVersionRow,
  actor: string,
): Promise<RescreenSummary> {
  const resolved = await store.screening.resolveRemoved(version.list, version.diff.removed, actor);
  return {
    subjects: 0,
    entries: version.diff.added.length + version.diff.changed.length,
    potential: 0,
    resolved,
  };
}

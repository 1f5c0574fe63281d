/** What both drivers' migration runners share: the list's shape and order, and the refusal of a newer schema. */
import { StoreError } from "./index.js";

export interface Migration {
  readonly version: number;
  readonly sql: string;
}

/** The latest version; throws unless versions are positive integers in strictly increasing order. */
export function checkOrder(migrations: readonly Migration[]): number {
  let previous = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.version) || m.version <= previous)
      throw new Error(`migrations out of order: version ${m.version} after ${previous}`);
    previous = m.version;
  }
  return previous;
}

/** An older binary never misreads a newer schema: it refuses it. `where`: "database X" or "schema Y". */
export function refuseNewer(where: string, current: number, latest: number): void {
  if (current <= latest) return;
  throw new StoreError(
    "schema-too-new",
    `${where} has schema version ${current}, but this build of clearance knows versions up ` +
      `to ${latest}: it was written by a newer clearance. Upgrade clearance; do not downgrade the database.`,
  );
}

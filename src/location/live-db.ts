/**
 * The country database in use, kept current while the gateway runs. Country databases are rebuilt
 * weekly and addresses move between countries, so the file at `location.mmdb` may be replaced
 * (renamed over, or copied onto) without a restart: a timer stats it, and when it is another file
 * (device, inode, size, modification or change time: a copy can keep the first four, never the
 * last) it is opened in the background and checked as at start-up (openCountryDb), then, unless its
 * bytes are those in use, the look-up is swapped in one assignment — a request is located
 * wholly with the database before or wholly with the new one, never on the request path's time.
 *
 * A replacement that fails the checks (or a file that is gone) keeps the database before; it is
 * logged once and reported (status(), read by /readyz and the metrics) while that file is there, and
 * not opened again until the file changes again. No fs.watch: it loses track of a file renamed over.
 */
import { stat } from "node:fs/promises";
import {
  CountryDbError,
  identityOf,
  openCountryDb,
  sameFile,
  type CountryDb,
  type CountryLookup,
  type FileIdentity,
} from "./country-db.js";

export interface DatabaseStatus {
  /** When the database in use was built (build_epoch, seconds since the epoch); null: it states none. */
  readonly buildEpoch: number | null;
  /** How old it may be before /readyz warns (location.mmdb_max_age_days). */
  readonly maxAgeDays: number;
  /** The file now at the path, refused (the database before stays in use): why, and since when (ms). */
  readonly refused: { readonly reason: string; readonly since: number } | null;
}

const DAY_MS = 86_400_000;

/** How a database's age reads in the log and in /readyz. */
export function describeAge(buildEpoch: number, now: number): string {
  const days = Math.floor((now - buildEpoch * 1000) / DAY_MS);
  const ago = days < 0 ? "in the future" : `${days} ${days === 1 ? "day" : "days"} ago`;
  return `built ${new Date(buildEpoch * 1000).toISOString()} (${ago})`;
}

/** Older than its allowed age (build time unknown: never said to be). */
export const tooOld = (s: DatabaseStatus, now: number): boolean =>
  s.buildEpoch !== null && now - s.buildEpoch * 1000 > s.maxAgeDays * DAY_MS;

export class LiveCountryDb {
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | null = null;
  private stopped = false;
  private refused: {
    readonly file: FileIdentity | null;
    readonly reason: string;
    readonly since: number;
  } | null = null;

  private constructor(
    private readonly path: string,
    private current: CountryDb,
    private readonly maxAgeDays: number,
    private readonly log: (line: string) => void,
  ) {
    this.sayIfOld();
  }

  /** Opens the database at `path`; throws, as openCountryDb, when it cannot be used. */
  static async open(path: string, maxAgeDays: number, log: (line: string) => void): Promise<LiveCountryDb> {
    return new LiveCountryDb(path, await openCountryDb(path), maxAgeDays, log);
  }

  /** The database in use's look-up: read once per call, so one call never mixes two databases. */
  readonly lookup: CountryLookup = (address) => this.current.lookup(address);

  status(): DatabaseStatus {
    const r = this.refused;
    return {
      buildEpoch: this.current.metadata.buildEpoch,
      maxAgeDays: this.maxAgeDays,
      refused: r === null ? null : { reason: r.reason, since: r.since },
    };
  }

  /** Stats the file every `ms` (one system call; the file is read only when it changed). */
  start(ms: number): void {
    this.timer = setInterval(() => void this.check(), ms);
    this.timer.unref();
  }

  /**
   * Stops polling, at once: a poll under way is not waited for (one blocked in a file system call
   * held the gateway's close() for ever); whatever it finds is dropped, neither taken nor logged.
   */
  stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    return Promise.resolve();
  }

  /** One poll (what the timer runs): a call while one is under way shares it. Never throws. */
  check(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.polling ??= this.poll().finally(() => (this.polling = null));
    return this.polling;
  }

  private async poll(): Promise<void> {
    const seen = await stat(this.path).then(identityOf, () => null);
    if (this.stopped) return;
    if (sameFile(seen, this.current.file)) {
      this.refused = null; // the file in use is back (a refused one renamed away)
      return;
    }
    if (this.refused !== null && sameFile(seen, this.refused.file)) return; // not again until it changes
    const before = this.current;
    let next: CountryDb;
    try {
      next = await openCountryDb(this.path);
    } catch (error) {
      if (this.stopped) return;
      const reason = error instanceof CountryDbError ? error.reason : String(error);
      this.refused = { file: seen, reason, since: Date.now() };
      this.log(
        `clearance: ${error instanceof Error ? error.message : String(error)}; the database ${this.built(before)} stays in use until the file changes again`,
      );
      return;
    }
    if (this.stopped) return;
    this.refused = null;
    if (sameFile(next.file, before.file)) return; // replaced and put back while looked at
    if (next.digest === before.digest) {
      // The same bytes (a hard link, a chmod, the file put back): nothing to say, the identity kept.
      this.current = {
        lookup: before.lookup,
        metadata: before.metadata,
        file: next.file,
        digest: before.digest,
      };
      return;
    }
    this.current = next;
    this.log(
      `clearance: location: now using ${this.path}, ${this.built(next)}; it replaces the database ${this.built(before)}`,
    );
    this.sayIfOld();
  }

  private built(db: CountryDb): string {
    const epoch = db.metadata.buildEpoch;
    return epoch === null ? "with no build time" : describeAge(epoch, Date.now());
  }

  private sayIfOld(): void {
    const s = this.status();
    if (s.buildEpoch === null) {
      this.log(
        `clearance: warning: location: ${this.path} states no build time (build_epoch): its age cannot be checked against location.mmdb_max_age_days`,
      );
    } else if (tooOld(s, Date.now())) {
      this.log(
        `clearance: warning: location: ${this.path} was ${describeAge(s.buildEpoch, Date.now())}, more than location.mmdb_max_age_days (${s.maxAgeDays}) ago: replace it (it is read again when it changes)`,
      );
    }
  }
}

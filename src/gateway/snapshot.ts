/**
 * The data plane's in-memory view of principals and API keys. Requests read only this; it is
 * rebuilt off the hot path when the store's change counter moves (changes from the CLI, the admin
 * API or, later, other nodes), so a request never waits on the store.
 */
import { describeLeftOut } from "../control/effective.js";
import {
  ControlStateError,
  identitiesOf,
  policyFingerprint,
  readActiveAhead,
  updateState,
  type ControlState,
} from "../control/state.js";
import { federationRecords, type FederationRecords } from "../identity/records.js";
import type { Principal } from "../policy/index.js";
import { screened, statusMaps, type StatusMaps } from "../screening/status.js";
import type { Store } from "../store/index.js";

export interface KeyEntry {
  readonly principalId: string;
  /** Hex SHA-256 of the secret, checked with verifySecret (constant time). */
  readonly hash: string;
  readonly revoked: boolean;
}

export interface Snapshot {
  readonly version: number;
  readonly keys: ReadonlyMap<string, KeyEntry>;
  readonly principals: ReadonlyMap<string, Principal>;
  /** The policy in force and the admin identities (see control/state.ts). */
  readonly control: ControlState;
  /** Partners' identity providers and blocked federated principals. */
  readonly federation: FederationRecords;
  /** What screening and review found, by subject (federated principals read it per token). */
  readonly screening: StatusMaps;
}

/**
 * `previous`: the snapshot being replaced, whose compiled policy is reused if it still holds.
 * `check`: what the store must pass, once read, to be served from (not behind the audit log).
 * `admit`: throws for a policy this node must not serve (one its upstreams could not serve as
 * decided): refused like a policy that cannot be built — at start-up the error, later the one before.
 */
export async function loadSnapshot(
  store: Store,
  previous: Snapshot | null = null,
  check?: () => Promise<void>,
  admit?: (control: ControlState) => void,
): Promise<Snapshot> {
  const s = await store.snapshot();
  await check?.();
  // Read after the snapshot: a status that changes in between also bumped the version, so the next
  // poll reloads (never older than the snapshot's version).
  const statuses = await store.screening.statuses();
  const screening = statusMaps(statuses);
  const principals = new Map(s.principals.map((p) => [p.id, screened(p, screening)]));
  const keys = new Map<string, KeyEntry>();
  for (const k of s.keys) {
    keys.set(k.id, { principalId: k.principalId, hash: k.hash, revoked: k.revokedAt !== null });
  }
  let control: ControlState;
  let version = s.version;
  const refused = previous?.control.refusedFingerprint;
  if (previous !== null && refused !== undefined && refused === policyFingerprint(s.records)) {
    // The policy records refused before, unchanged: refused again as they were, not built again (each
    // poll did, while they stayed). The rest takes effect, and the refusal stays, as below.
    control = { ...previous.control, ...identitiesOf(s.records) };
    version = previous.version;
  } else {
    try {
      // A newly active version, read off the event loop when large (control/read-version.ts).
      await readActiveAhead(s.records, previous?.control ?? null);
      control = updateState(previous?.control ?? null, s.records);
      admit?.(control);
    } catch (err) {
      if (previous === null) throw err;
      // No policy can be built from the store (no active version), or none this node may serve
      // (`admit`): keys, principals, screening and identities still take effect — revocations are
      // never held back — on the policy before. The previous version number stays, so the next poll
      // reads the store again and the snapshot stays unconfirmed (it ages into policy_unconfirmed,
      // failing closed); the policy is built again only once its records change.
      control = {
        ...previous.control,
        ...identitiesOf(s.records),
        reloadFailure: err instanceof Error ? err.message : String(err),
        refusedFingerprint: policyFingerprint(s.records),
      };
      version = previous.version;
    }
  }
  return {
    version,
    keys,
    principals,
    control,
    federation: federationRecords(s.records),
    screening,
  };
}

/** What a state leaves out of the policy or failed to load, as one line (null: nothing). */
function policyTrouble(control: ControlState): string | null {
  if (control.reloadFailure !== undefined)
    return `the store's policy could not be loaded (${control.reloadFailure}); the one before stays in force`;
  if (control.leftOut.length === 0) return null;
  return (
    `left out of the policy in force, as they do not compile with scheme version ` +
    `${control.active.document.version} (what they would grant is denied): ${describeLeftOut(control.leftOut)}`
  );
}

/**
 * Why the last reload failed: the version check or the load threw, or the store's policy could not
 * be built (`policy_not_loaded`). Said by /readyz (to readers); the whole error is in the log.
 */
export interface ReloadFailure {
  /** The error's own code (ECONNREFUSED, SQLITE_BUSY, 57P01…), else its name. */
  readonly code: string;
  /** Its first line, at most 200 characters, any URL's password replaced by `***`. */
  readonly message: string;
  /** When the reloads began failing (ms since the epoch): the first failure since the last success. */
  readonly since: number;
}

const MESSAGE_SHOWN = 200;

/** What /readyz may say of a failed reload's error (the log holds the whole of it). */
function reloadFailure(err: unknown, since: number): ReloadFailure {
  const own = (err as { code?: unknown } | null | undefined)?.code;
  const code =
    typeof own === "string" && /^[\w.-]{1,64}$/.test(own) ? own : err instanceof Error ? err.name : "Error";
  const text = err instanceof Error ? err.message : String(err);
  return { code, message: shortMessage(text), since };
}

/**
 * First line, control characters out, URL credentials masked, at most MESSAGE_SHOWN characters. A
 * password is masked up to the last `@` of its token (no white space), so one holding a raw `@` or `/`
 * is masked whole: at worst more than the password is hidden, never part of it shown.
 */
function shortMessage(text: string): string {
  const line = (text.split(/\r?\n/, 1)[0] ?? "")
    .replace(/\p{Cc}/gu, " ")
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^\s/:@]*:)\S*@/gi, "$1***@");
  return line.length <= MESSAGE_SHOWN ? line : `${line.slice(0, MESSAGE_SHOWN - 1)}…`;
}

export class SnapshotHolder {
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;

  private constructor(
    private readonly store: Store,
    public current: Snapshot,
    private readonly onError: (err: unknown) => void,
    private readonly onChange: () => Promise<void>,
    private readonly check?: () => Promise<void>,
    private readonly admit?: (control: ControlState) => void,
  ) {
    this.report(current.control);
  }

  /** The last policy trouble reported, so that it is logged once, not on every poll. */
  private reported: string | null = null;

  private report(control: ControlState): void {
    const trouble = policyTrouble(control);
    if (trouble !== null && trouble !== this.reported) this.onError(new ControlStateError(trouble));
    this.reported = trouble;
  }

  /**
   * `onChange` runs after each reload (the audit log drains the store's new admin changes). `check`
   * refuses a store not to be served from, on every poll: it fails and the snapshot before stays,
   * unconfirmed. `admit` refuses a policy not to be served (see loadSnapshot): at start-up it
   * throws; on a reload the policy before stays, unconfirmed.
   */
  static async open(
    store: Store,
    onError: (err: unknown) => void,
    onChange: () => Promise<void> = async () => {},
    check?: () => Promise<void>,
    admit?: (control: ControlState) => void,
  ): Promise<SnapshotHolder> {
    // Confirmed as of when the store was asked, not when the load ended (as a poll's check is).
    const asked = performance.now();
    const first = await loadSnapshot(store, null, check, admit);
    const holder = new SnapshotHolder(store, first, onError, onChange, check, admit);
    holder.confirmedAt = asked;
    return holder;
  }

  /** Polls the store's change counter (one single-row read), and runs `check` (one more), every `ms`. */
  start(ms: number): void {
    this.timer = setInterval(() => void this.refresh(), ms);
    this.timer.unref();
  }

  /**
   * Reloads if the store changed. A call made while a reload runs gets a new one after it (the
   * running one may have read the store before the caller's write); calls made while one is
   * waiting to start share it. A failed reload keeps the last snapshot.
   */
  refresh(): Promise<void> {
    if (this.queued !== undefined) return this.queued;
    const loaded = this.chain.then(() => {
      this.queued = undefined;
      return this.reload();
    });
    // The next version check waits for this reload, not for its `onChange` (the audit log's write,
    // seconds on a starved machine): the snapshot must not count as unconfirmed while it is current.
    // The caller's promise covers both.
    this.chain = loaded.then(() => undefined);
    const next = loaded.then((r) => r.changed);
    this.queued = next;
    return next;
  }

  /**
   * When the store last answered a version check that this snapshot matches, or that a successful
   * reload then caught up with: how fresh the snapshot is known to be. On the monotonic clock
   * (`performance.now()`), not the wall clock: a wall clock stepped back (NTP, `date -s`) kept a
   * snapshot the store no longer answered for "confirmed" for as long as it stepped.
   */
  confirmedAt = performance.now();

  /** How long (ms) the snapshot has gone unconfirmed: what freshness_ms bounds. */
  unconfirmedMs(): number {
    return performance.now() - this.confirmedAt;
  }

  /** The store answered for this snapshot as of `asked`; never moves confirmation back. */
  private confirmed(asked: number): void {
    this.confirmedAt = Math.max(this.confirmedAt, asked);
    this.lastFailure = null;
  }

  /** Why the last reload failed; null once one succeeds (the snapshot confirmed again). */
  lastFailure: ReloadFailure | null = null;

  /** Reloads begun so far: one numbered after a write's mark read the store as the write left it. */
  private begun = 0;
  /** The last reload (by number) that read the store: keys, principals, identities, providers, blocks and screening. */
  private recordsThrough = 0;
  /** The last reload that also built the policy (the active version, partners and licenses). */
  private policyThrough = 0;

  /**
   * A write's mark, taken once the store has committed it: a reload that begins from then on reads
   * it. With `holds`, whether this node has taken in a change — by when it read the store, not by
   * the record's revision, which principals, keys and screening statuses do not have.
   */
  mark(): number {
    return this.begun + 1;
  }

  /** Whether a reload begun at or after `mark` took in the store's records, or (`policy`) built the policy too. */
  holds(mark: number, scope: "records" | "policy"): boolean {
    return (scope === "policy" ? this.policyThrough : this.recordsThrough) >= mark;
  }

  /** A reload numbered `n` read the store (keys, principals… taken); `policy`: it built the policy too. */
  private took(n: number, policy: boolean): void {
    this.recordsThrough = Math.max(this.recordsThrough, n);
    if (policy) this.policyThrough = Math.max(this.policyThrough, n);
  }

  private failed(err: unknown): void {
    this.lastFailure = reloadFailure(err, this.lastFailure?.since ?? Date.now());
  }

  private async reload(): Promise<{ readonly changed: Promise<void> }> {
    const n = ++this.begun;
    try {
      // As of when the check is sent, not when its answer arrives: the store answered for some moment
      // in between, so a slow answer (or an event loop blocked before it is read) counts no fresher
      // than the sending. Timed at the answer, each such delay was added to freshness_ms.
      const asked = performance.now();
      const version = await this.store.version();
      // On every poll, not only on a new version: a store restored under the running node numbers
      // its new changes on from its backup, and its version can come level with the snapshot's.
      await this.check?.();
      if (version !== this.current.version) {
        this.current = await loadSnapshot(this.store, this.current, this.check, this.admit);
        this.report(this.current.control);
        // Confirmed only once what the store holds is loaded: a change that cannot be loaded (a
        // revocation, say) leaves the snapshot unconfirmed, to age into policy_unconfirmed.
        const failure = this.current.control.reloadFailure;
        // Keys, principals, identities and screening are taken even when no policy can be built.
        this.took(n, failure === undefined);
        if (failure === undefined) {
          this.confirmed(asked);
          this.lastFailure = null;
        } else {
          this.failed(Object.assign(new ControlStateError(failure), { code: "policy_not_loaded" }));
        }
        return { changed: this.onChange().catch((err: unknown) => this.onError(err)) };
      }
      // The store holds nothing newer than the snapshot: it has every change made before this reload.
      this.took(n, this.current.control.reloadFailure === undefined);
      this.confirmed(asked);
    } catch (err) {
      this.failed(err);
      this.onError(err);
    }
    return { changed: Promise.resolve() };
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

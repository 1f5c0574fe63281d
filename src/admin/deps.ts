/** What admin routes work with: the store, the control state in force, and who is calling. */
import type { LogSource } from "../audit/source.js";
import type { Route } from "../config/index.js";
import type { Reloads } from "../control/in-force.js";
import type { ControlState } from "../control/state.js";
import type { Role } from "../control/types.js";
import type { QuotaPeriod } from "../metering/index.js";
import type { ScreeningService } from "../screening/service.js";
import type { Screening } from "../policy/index.js";
import type { Store, SubjectKind } from "../store/index.js";
import type { Wire } from "../upstream/types.js";
import type { FailedAuthGuard } from "./guard.js";

export interface Caller {
  readonly id: string;
  readonly roles: ReadonlySet<Role>;
  /** For applicants: the organization they act for; for a partner's person: the partner. */
  readonly organization: string | null;
  /** The name a partner's identity provider gave (federated sign-in); else the identity's record has it. */
  readonly name?: string;
}

/** A provider whose partner's people may sign in to the console. */
export interface SignInProvider {
  readonly id: string;
  readonly name: string;
  readonly partner: string;
  readonly issuer: string;
  readonly client_id: string;
}

export interface AdminDeps {
  readonly store: Store;
  /** The current control state (from the data plane's snapshot). */
  readonly state: () => ControlState;
  /** The hex SHA-256 of the bootstrap admin token from the environment, or null. */
  readonly bootstrapTokenHash: string | null;
  /** Brings the snapshot up to date and drains the change into the audit log. */
  readonly changed: () => Promise<void>;
  readonly now: () => string;
  /**
   * The store version this node's snapshot was loaded at: lists answer from the snapshot while it is
   * the store's (control/in-force.ts, currentRecords). Absent: lists read the store.
   */
  readonly heldVersion?: () => number;
  /** Whether this node has taken in a change (see admin/in-force.ts); absent: never said. */
  readonly reloads?: Reloads;
  /**
   * Whether this node still lets the API key through (its snapshot knows it, unrevoked); absent:
   * never said. A revocation this node has already taken is in force here whatever its reload does.
   */
  readonly takesKey?: (id: string) => boolean;
  /**
   * Whether this node refuses a federated principal's tokens (its snapshot holds a block); absent:
   * never said. A block (or an unblocking) this node already holds is in force here, reload or not.
   */
  readonly blocksPrincipal?: (id: string) => boolean;
  /** A screening subject's status as this node holds it (what it denies); absent: never said. */
  readonly screeningStatus?: (kind: SubjectKind, id: string) => Screening;
  /** The server's own log, for failures that cannot go to the caller as a status (a long job's, midway). */
  readonly onError?: (err: unknown) => void;
  readonly route: (model: string) => Route | undefined;
  /** The wire formats a configured upstream provider answers in (absent: not checked on activation). */
  readonly wires?: (provider: string) => readonly Wire[] | undefined;
  /** Where a configured provider's requests go (absent: each provider name its own upstream). */
  readonly upstream?: (provider: string) => string;
  /** A license's tokens in a period, as the quota counters have them (every node's, with Redis). */
  readonly licenseUsage: (license: string, period: QuotaPeriod) => Promise<number>;
  /** Denied-party screening (absent where no gateway runs it). */
  readonly screening?: ScreeningService;
  /** The audit log reports read, and the key that resolves its pseudonyms (absent: no reports). */
  readonly audit?: { readonly source: LogSource; readonly pseudonymKey: string | null };
  /** The config's `whatif` section. */
  readonly whatIf?: {
    readonly requireForActivation: boolean;
    readonly seenDays: number;
    readonly examples: number;
  };
  /** An identity provider's key set as this node holds it (absent where no gateway runs). */
  readonly keyStatus?: (provider: string) => KeyStatus | undefined;
  /** identity.allow_http_loopback: providers' keys may be fetched over plain http from loopback. */
  readonly allowHttpLoopback?: boolean;
  /** Partners' people signing in with their identity provider's ID token (absent: tokens only). */
  readonly consoleSignIn?: {
    readonly verify: (
      token: string,
    ) => Promise<{ principal: string; partner: string; provider: string; name: string | null }>;
    readonly providers: () => readonly SignInProvider[];
  };
  /** Failed authentications per source (none: unlimited). */
  readonly authFailures?: FailedAuthGuard;
  /**
   * The client's address as the locator's trust rules tell it (behind trusted proxies, from
   * X-Forwarded-For): failures are counted per client, not per proxy. Absent: the socket peer.
   */
  readonly clientAddress?: (peer: string | undefined, forwardedFor: string | undefined) => string | null;
  /** Days an identity's new token is valid unless the request says otherwise (none: no expiry). */
  readonly tokenTtlDays?: number;
}

export interface KeyStatus {
  readonly kids: readonly string[];
  readonly fetched_at: string | null;
  readonly last_error: string | null;
  readonly usable: boolean;
}

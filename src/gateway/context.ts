/** Everything a gateway request reads, held in memory: no store access on the request path. */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { DecisionCounter } from "../api/index.js";
import type { AuditTrail, Pseudonymizer } from "../audit/index.js";
import type { Route } from "../config/index.js";
import type { UsageLimits } from "../counters/limits.js";
import type { Federation } from "../identity/federation.js";
import type { Locator } from "../location/index.js";
import type { Meter } from "../metering/index.js";
import type { CompiledScheme } from "../scheme/index.js";
import type { Provider } from "../upstream/types.js";
import type { ScreeningBacklog } from "../screening/service.js";
import type { RequestObserver } from "./observer.js";
import type { SnapshotHolder } from "./snapshot.js";

export interface GatewayContext {
  /** The scheme in force, read per request (a new version applies to the next request). */
  readonly scheme: () => CompiledScheme;
  /** The upstream for a model: the config's route, or the default provider. */
  readonly route: (model: string) => Route | undefined;
  readonly providers: ReadonlyMap<string, Provider>;
  readonly snapshot: SnapshotHolder;
  readonly meter: Meter;
  readonly locator: Locator;
  readonly bodyLimit: number;
  /** Deepest nesting of arrays and objects a request body may have. */
  readonly jsonDepth: number;
  /** Server-side log (never the client's answer): upstream error texts, for instance. */
  readonly log: (line: string) => void;
  /**
   * How long the snapshot may go unconfirmed by the store: beyond it, controlled models are refused
   * (a revocation elsewhere might not have arrived) and /readyz fails.
   */
  readonly freshnessMs: number;
  /** Partners' identity providers: their tokens accepted wherever a key is. */
  readonly identity?: Federation;
  /** Quota and rate-limit counters (shared through Redis when configured). */
  readonly limits: UsageLimits;
  readonly audit: {
    readonly log: AuditTrail;
    readonly dir: string;
    readonly node: string;
    readonly pseudonymize?: Pseudonymizer;
  };
  /** Told of every request once it has ended (metrics, access log, traces, anomaly detectors). */
  readonly observer?: RequestObserver;
  /**
   * Counts each decision of the decision API (POST /v1/decisions) under its action; the data
   * plane's are counted from the observer.
   */
  readonly decisions?: DecisionCounter;
  /** New or changed subjects the background screening has failed to screen so far (/readyz says so). */
  readonly screening?: () => ScreeningBacklog | null;
  /**
   * GET /metrics, when served on this listener: answered (or refused, by throwing) like any route,
   * so a scrape is observed — logged and counted — as every request is.
   */
  readonly metrics?: (req: IncomingMessage, res: ServerResponse) => Promise<void>;
}

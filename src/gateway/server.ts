/**
 * Assembling and starting a gateway: store → audit log, counters and snapshot (loaded before the first request),
 * locator, providers, the HTTP server; and stopping it in order (stop accepting, finish metering).
 */
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tokenHash, type ControlState } from "../control/state.js";
import { OutboxDrainer, checkDataDirMode, openAudit, pseudonymizer, type OpenAudit } from "../audit/index.js";
import { directorySource } from "../audit/source.js";
import { servingProblems, type GatewayConfig } from "../config/index.js";
import { openUsageLimits, type UsageLimits } from "../counters/limits.js";
import { checkCaughtUp } from "../control/restored.js";
import { seedFromFile } from "../control/seed.js";
import { SetupError } from "../errors/index.js";
import { Federation } from "../identity/federation.js";
import { blockOnAlert, bootstrapProviders } from "../identity/registry.js";
import { defaultConsoleDir } from "../console/static.js";
import { createLocator, type LiveCountryDb } from "../location/index.js";
import {
  journalDir,
  KEPT_USAGE_FILE,
  Meter,
  otherJournals,
  pruneJournal,
  replayJournal,
  UsageJournal,
  writeKeptUsage,
} from "../metering/index.js";
import { Monitoring } from "../monitoring/index.js";
import { AlertService, type SuspendPrincipal } from "../alerts/index.js";
import { authenticateReader, type AdminDeps } from "../admin/index.js";
import type { DestinationStream } from "../monitoring/access-log.js";
import { openStore, type Store } from "../store/index.js";
import { ScreeningService } from "../screening/service.js";
import { createProviders } from "../upstream/index.js";
import { guardConnections, serverOptions, type ConnectionLimits } from "../http/connections.js";
import { createGatewayHandler, renderClientError } from "./index.js";
import { SnapshotHolder } from "./snapshot.js";
import { lockDataDir, lockJournal, type DataDirLock } from "./data-dir-lock.js";
import { FailedAuthGuard } from "../admin/guard.js";

export interface StartOptions {
  readonly dataDir?: string;
  readonly host?: string;
  readonly port?: number;
  readonly log?: (line: string) => void;
  /** A store opened by the caller (tests count its calls); default: the embedded store in the data dir. */
  readonly store?: Store;
  /** Where access log lines go instead of the configured destination (tests, benchmarks). */
  readonly accessLog?: DestinationStream;
  /** The admin console's build directory (default: the package's dist/console, when built). */
  readonly consoleDir?: string | null;
  /** Suspends a federated principal when a detector's response says so (identity provides it). */
  readonly suspendPrincipal?: SuspendPrincipal;
  /**
   * The data directory's lock, taken by the caller (lockDataDir) before it made anything there (the
   * demo's admin token); the gateway's from here on, let go at its stop or a failed start.
   */
  readonly lock?: DataDirLock;
}

export interface RunningGateway {
  readonly server: Server;
  readonly url: string;
  readonly store: Store;
  readonly snapshot: SnapshotHolder;
  /** Partners' identity providers: key sets and federated principals. */
  readonly identity: Federation;
  readonly meter: Meter;
  /** Quota and rate-limit counters (`limits.shared`: what every node counts against). */
  readonly limits: UsageLimits;
  readonly audit: OpenAudit;
  /** Denied-party screening of new and changed principals and organizations. */
  readonly screening: ScreeningService;
  /** Metrics, access log, traces: the request observer. */
  readonly monitoring: Monitoring;
  /** Anomaly detectors and their alerts (null when monitoring.alerts.enabled is false). */
  readonly alerts: AlertService | null;
  /** The country database in use (null without location.mmdb), re-read when its file is replaced. */
  readonly countryDb: LiveCountryDb | null;
  close(): Promise<void>;
}

export async function startGateway(
  config: GatewayConfig,
  options: StartOptions = {},
): Promise<RunningGateway> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const onError = (err: unknown) => log(`clearance: ${(err as Error).stack ?? String(err)}`);
  // Accepted, but said once at start (plain http carrying an API key beyond loopback).
  for (const warning of config.warnings) log(`clearance: warning: ${warning}`);
  const dataDir = options.dataDir ?? config.file.data_dir;
  const given = options.lock;
  // What is open so far, closed in reverse if the start fails (a half-started gateway would hold
  // connections and timers, and keep the process alive).
  // A lock the caller took (the demo's) is discarded as one taken here would be: its lock file, made
  // by that caller, is not left behind by a start that fails.
  const opened: (() => Promise<unknown>)[] = given === undefined ? [] : [async () => given.discard()];
  try {
    // Its mode before anything is made or opened in it (the store, the lock): a directory others may
    // write to is refused with nothing in it changed. Its warnings are the audit log's to say, once.
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    checkDataDirMode(dataDir);
    // A start that fails lets them go and removes what taking them made (a lock file, the journal's
    // directory): a refused start leaves nothing it made.
    const hold = (take: () => DataDirLock): DataDirLock => {
      const taken = take();
      opened.push(async () => taken.discard());
      return taken;
    };
    // The data directory is one gateway's, whatever the store; so is the node's usage journal
    // directory in it. Both are taken before anything is opened, so that a gateway refused changes
    // nothing. The data directory's first (as the demo takes it): a second node on it is refused
    // for it (`data_dir_in_use`), the broader refusal, whatever its audit.node, and makes nothing.
    const shared =
      options.store === undefined
        ? config.file.store.driver !== "sqlite"
        : options.store.sharedAudit !== undefined;
    const lock = given ?? hold(() => lockDataDir(dataDir, { shared }));
    const journalLock = hold(() => lockJournal(dataDir, config.file.audit.node ?? ""));
    const store =
      options.store ??
      (await openStore({
        driver: config.file.store.driver,
        dataDir,
        ...(config.storeUrl === null ? {} : { url: config.storeUrl }),
        queryTimeoutMs: config.file.store.query_timeout_ms,
        lockTimeoutMs: config.file.store.lock_timeout_ms,
      }));
    if (options.store === undefined) opened.push(() => store.close());
    return await assemble(config, options, store, log, onError, opened, [journalLock, lock]);
  } catch (err) {
    for (const close of opened.reverse()) await close().catch(() => undefined);
    throw err;
  }
}

async function assemble(
  config: GatewayConfig,
  options: StartOptions,
  store: Store,
  log: (line: string) => void,
  onError: (err: unknown) => void,
  opened: (() => Promise<unknown>)[],
  [journalLock, lock]: [DataDirLock, DataDirLock],
): Promise<RunningGateway> {
  const dataDir = options.dataDir ?? config.file.data_dir;
  // Background errors are counted by source once monitoring is open (it reads what is opened here).
  const late: { monitoring?: Monitoring } = {};
  const failed = (source: "store" | "counters" | "audit") => (err: unknown) => {
    late.monitoring?.metrics?.error(source);
    onError(err);
  };
  // One pseudonymizer for decision entries and the admin changes drained from the outbox.
  const pseudonymize = config.pseudonymKey === null ? undefined : pseudonymizer(config.pseudonymKey);
  const audit = await openAudit({
    dataDir,
    origin: config.file.audit.origin,
    ...(config.file.audit.key_file === undefined ? {} : { keyFile: config.file.audit.key_file }),
    ...(config.auditKey === null ? {} : { privateKey: config.auditKey }),
    checkpointMs: config.file.audit.checkpoint_ms,
    ...(config.file.audit.node === undefined ? {} : { node: config.file.audit.node }),
    store,
    onError: failed("audit"),
    log,
    ...(pseudonymize === undefined ? {} : { pseudonymize }),
  });
  opened.push(() => audit.log.close());
  // A store restored from a backup the node's own log has moved past is not served from, before
  // anything writes to it; so on every poll. (A shared log lives in the store's own database.)
  const ownLog = audit.drainer instanceof OutboxDrainer ? audit.drainer : null;
  const notBehindLog = async (adopt = false) => {
    if (ownLog !== null) await checkCaughtUp(store, ownLog, adopt, log);
  };
  await notBehindLog(true);
  // The config's scheme file seeds the store (a new version when its content is new).
  await seedFromFile(store, readFileSync(config.schemePath, "utf8"), new Date().toISOString());
  // Changes made while no gateway ran (the CLI works on the store directly) are logged first.
  await audit.drainer.drain();
  // Usage the store had not taken when the gateway last stopped (or crashed), before the counters
  // are seeded: an earlier release's file, then this node's journal.
  const kept = await writeKeptUsage(store, join(dataDir, KEPT_USAGE_FILE));
  if (kept > 0) log(`clearance: usage kept at the last stop (${kept} rows) was written to the store`);
  // Keyed by audit.node when it is set, not by the host name, which a container recreated on the
  // same volume changes.
  const journal = new UsageJournal(journalDir(dataDir, config.file.audit.node ?? ""), failed("store"), {
    notice: (line) => log(`clearance: ${line}`),
  });
  for (const other of otherJournals(journal.dir))
    log(
      `clearance: the usage journal ${other} is another node's (audit.node): not written to the store by this one; start that node, or move its files into ${journal.dir}`,
    );
  const replayed = await replayJournal(store, journal.dir, log, failed("store"));
  if (replayed > 0)
    log(
      `clearance: usage journaled before the last stop (${replayed} row${replayed === 1 ? "" : "s"}) was written to the store`,
    );
  // Then the journal's records nobody can ask about any more (markers a crash left; with the embedded
  // store, which is this data directory's alone, records orphaned before item 686 too): see pruneJournal.
  const pruned = await pruneJournal(
    store,
    journal,
    { everyNode: options.store === undefined && config.file.store.driver === "sqlite" },
    failed("store"),
  );
  if (pruned > 0)
    log(
      `clearance: ${pruned} usage journal record${pruned === 1 ? "" : "s"} that no journal file or running batch could ask about ${pruned === 1 ? "was" : "were"} dropped from the store`,
    );
  // Usage kept at the stop is a notice (the store's refusal before it is the error, counted once).
  const meter = new Meter(store, failed("store"), journal, (line) => log(`clearance: ${line}`));
  // Registered here, not at meter.start(): a failed start closes it after the server stopped
  // accepting (registered later, closed first), so that usage a request counted in the moment the
  // server listened is flushed. Closing a meter never started writes nothing; it closes its journal.
  opened.push(() => meter.close());
  // Seeded from the store's usage (Redis: raised to it, again after every reconnection).
  const limits = await openUsageLimits({
    driver: config.file.counters.driver,
    ...(config.countersUrl === null ? {} : { url: config.countersUrl }),
    prefix: config.file.counters.prefix,
    timeoutMs: config.file.counters.timeout_ms,
    onUnavailable: config.file.counters.on_unavailable,
    store,
    flush: () => meter.flush(),
    onError: failed("counters"),
    log, // Redis's eviction policy, when it may evict a counter (or cannot be read)
  });
  opened.push(() => limits.close());
  const screening = new ScreeningService({
    store,
    threshold: config.file.screening.threshold,
    maxListEntries: config.file.screening.max_list_entries,
    background: config.file.screening.background,
    onError,
  });
  opened.push(() => screening.close());
  // The review queue's length, for the metrics (off the request path, like a reload): at start-up
  // and after every reload (a node started on a queue already waiting says so from its first scrape).
  const countReviewQueue = async () => {
    const metrics = late.monitoring?.metrics;
    if (metrics !== undefined && metrics !== null)
      await store.screening
        .matches({ status: "potential" })
        .then((m) => metrics.screeningQueue.set(m.length), onError);
  };
  const snapshot: SnapshotHolder = await SnapshotHolder.open(
    store,
    failed("store"),
    async () => {
      late.monitoring?.metrics?.reloaded();
      try {
        await audit.drainer.drain();
      } finally {
        // Whether or not the drain failed (reported after this; the next one retries it): only a
        // reload brings a principal written past the admin API to screening, and none other may come.
        screening.onSnapshot(snapshot.current.principals.values(), snapshot.current.control.partners);
        // Partners' federated principals too: their matches go to the review queue like anyone's.
        await store.federated.list().then((fs) => screening.onFederated(fs), onError);
        await countReviewQueue();
      }
    },
    () => notBehindLog(),
    // The version in force may not be the file the config was checked against (one activated
    // through the admin API, on another node, or before the config changed): these upstreams must
    // be able to serve it as decided, or it is not served — at start-up refused, on a reload the
    // policy before stays (unconfirmed, so controlled models are refused once past freshness_ms).
    (control) => refuseUnservable(config, control),
  );
  // The lists in memory before the first request: a partner's federated principal is screened with
  // them on its first token (one failing here is retried by the first background pass).
  await screening.load().catch(onError);
  const bootstrapped = await bootstrapProviders(
    store,
    snapshot.current.control,
    config.file.identity.providers,
    new Date().toISOString(),
    config.file.identity.allow_http_loopback,
  );
  if (bootstrapped.length > 0) {
    for (const line of bootstrapped) log(line);
    await snapshot.refresh();
  }
  const identityConfig = config.file.identity;
  const identity = new Federation({
    source: () => ({ federation: snapshot.current.federation, scheme: snapshot.current.control.scheme }),
    store,
    maxTokenBytes: identityConfig.max_token_bytes,
    cooldownMs: identityConfig.key_fetch_cooldown_ms,
    fetchTimeoutMs: identityConfig.key_fetch_timeout_ms,
    allowHttpLoopback: identityConfig.allow_http_loopback,
    tokenCache: identityConfig.token_cache,
    maintainMs: identityConfig.maintain_ms,
    log,
    onError,
    // Every flush the store refused, said or not (the run is said at most once a minute).
    onStoreError: () => late.monitoring?.metrics?.error("store"),
    onSetAside: () => late.monitoring?.metrics?.federatedSetAside(),
    maxPending: identityConfig.max_pending_principals,
    onDropped: (records) => late.monitoring?.metrics?.federatedDropped(records),
  });
  screening.onSnapshot(snapshot.current.principals.values(), snapshot.current.control.partners);
  // Config loading has checked what it can; an mmdb whose tree is corrupt still fails here, as a
  // message (exit 2), not a stack.
  const locator = await createLocator(
    {
      ...(config.file.location.mmdb === undefined ? {} : { mmdb: config.file.location.mmdb }),
      mmdbMaxAgeDays: config.file.location.mmdb_max_age_days,
      ...(config.file.location.header === undefined ? {} : { header: config.file.location.header }),
      trustedProxies: config.file.location.trusted_proxies,
    },
    log,
  ).catch((err: unknown) => {
    throw new SetupError(err instanceof Error ? err.message : String(err));
  });
  const countryDb = locator.database;
  const providers = createProviders(config);
  opened.push(() => Promise.all([...providers.values()].map((p) => p.close())));

  // What this node's snapshot refuses: the admin API and the alerts' suspensions say from these
  // whether a key revoked or a principal blocked already is in force here.
  const takesKey = (id: string): boolean => snapshot.current.keys.get(id)?.revoked === false;
  const blocksPrincipal = (id: string): boolean => snapshot.current.federation.blocked.has(id);
  const adminDeps: AdminDeps = {
    store,
    state: () => snapshot.current.control,
    bootstrapTokenHash: config.adminToken === null ? null : tokenHash(config.adminToken),
    // The change is in the snapshot and durable in the audit log before the admin API answers
    // (a reload drains the change's outbox record; draining again waits for one in progress).
    changed: async () => {
      await snapshot.refresh();
      await audit.drainer.drain();
    },
    now: () => new Date().toISOString(),
    heldVersion: () => snapshot.current.version,
    reloads: {
      mark: () => snapshot.mark(),
      holds: (mark, scope) => snapshot.holds(mark, scope),
      failure: () => snapshot.lastFailure,
      node: audit.node,
    },
    takesKey,
    blocksPrincipal,
    screeningStatus: (kind, id) =>
      (kind === "organization"
        ? snapshot.current.screening.organization
        : snapshot.current.screening.person
      ).get(id) ?? "clear",
    onError,
    route: config.route,
    wires: config.wires,
    upstream: config.upstream,
    licenseUsage: (license, period) => limits.licenseUsage(license, period, Date.now()),
    // Named without its path: the admin API's callers need not learn the server's file system.
    audit: { source: directorySource(audit.dir, "this gateway"), pseudonymKey: config.pseudonymKey },
    whatIf: {
      requireForActivation: config.file.whatif.require_for_activation,
      seenDays: config.file.whatif.seen_days,
      examples: config.file.whatif.examples,
    },
    authFailures: new FailedAuthGuard(config.file.admin_security.failed_auth_per_minute),
    clientAddress: (peer, forwardedFor) => locator.client(peer, forwardedFor),
    tokenTtlDays: config.file.admin_security.token_ttl_days,
    screening,
    consoleSignIn: {
      verify: (token) => identity.signIn(token),
      // Only those whose partner is active: any other's sign-in would fail after the provider's login.
      providers: () =>
        identity.signInProviders().flatMap((r) =>
          r.document.console === undefined
            ? []
            : [
                {
                  id: r.id,
                  name: r.document.name ?? r.id,
                  partner: r.document.partner,
                  issuer: r.document.issuer,
                  client_id: r.document.console.client_id,
                },
              ],
        ),
    },
    allowHttpLoopback: identityConfig.allow_http_loopback,
    keyStatus: (provider) => {
      const keys = identity.keySet(provider);
      if (keys === undefined) return undefined;
      return {
        kids: keys.kids,
        fetched_at: keys.fetchedOn,
        last_error: keys.lastError,
        usable: keys.usable(),
      };
    },
  };
  // The gateway's listener's guards, and the separate metrics listener's too.
  const listen = config.file.listen;
  const connections: ConnectionLimits = {
    headersTimeoutMs: listen.headers_timeout_ms,
    requestTimeoutMs: listen.request_timeout_ms,
    keepAliveTimeoutMs: listen.keep_alive_timeout_ms,
    idleTimeoutMs: listen.idle_timeout_ms,
    maxConnections: listen.max_connections,
    maxHeaderBytes: listen.max_header_bytes,
  };
  const observer = await Monitoring.open({
    config: config.file.monitoring,
    sources: {
      scheme: () => snapshot.current.control.scheme,
      licenseUsage: (license, period) => limits.licenseUsage(license, period, Date.now()),
      audit: () => ({ size: audit.log.size, published: audit.log.published?.size ?? null }),
      snapshot: () => ({ unconfirmedMs: snapshot.unconfirmedMs(), version: snapshot.current.version }),
      countersUnavailable: () => limits.unavailable,
      countersEvictionRisk: () => limits.evictionRisk,
      leftOut: () => snapshot.current.control.leftOut,
      screeningUnscreened: () => screening.backlog?.subjects ?? 0,
      ...(countryDb === null ? {} : { locationDatabase: () => countryDb.status() }),
      usageJournal: () => journal,
      federatedPending: () => identity.pending,
    },
    authenticate: (req, res) => void authenticateReader(req, adminDeps, res),
    ...(options.accessLog === undefined ? {} : { accessLogStream: options.accessLog }),
    connections,
    onError,
  });
  late.monitoring = observer;
  opened.push(() => observer.close());
  await countReviewQueue();
  const alertsConfig = config.file.monitoring.alerts;
  const alerts = alertsConfig.enabled
    ? await AlertService.open({
        config: alertsConfig,
        store,
        scheme: () => snapshot.current.control.scheme,
        licenseUsage: (license, period) => limits.licenseUsage(license, period, Date.now()),
        changed: adminDeps.changed,
        ...(adminDeps.reloads === undefined ? {} : { reloads: adminDeps.reloads }),
        metrics: observer.metrics,
        redis:
          config.countersUrl === null
            ? null
            : { url: config.countersUrl, prefix: config.file.counters.prefix },
        webhookSecret: config.webhookSecret,
        suspendPrincipal: options.suspendPrincipal ?? blockOnAlert(store),
        blocksPrincipal,
        takesKey,
        onError,
        // Read back to warm the detectors, in the background once started (src/alerts/warmup.ts).
        audit: {
          source: directorySource(audit.dir),
          ...(pseudonymize === undefined ? {} : { pseudonymize }),
        },
      })
    : null;
  if (alerts !== null) {
    observer.add((o) => alerts.observe(o));
    opened.push(() => alerts.close());
  }
  const handler = createGatewayHandler({
    context: {
      scheme: () => snapshot.current.control.scheme,
      route: config.route,
      providers,
      snapshot,
      identity,
      meter,
      locator,
      bodyLimit: config.file.limits.body_bytes,
      jsonDepth: config.file.limits.json_depth,
      log,
      freshnessMs: config.file.freshness_ms,
      limits,
      audit: {
        log: audit.log,
        dir: audit.dir,
        node: audit.node,
        ...(pseudonymize === undefined ? {} : { pseudonymize }),
      },
      observer,
      ...(observer.metrics === null ? {} : { decisions: observer.metrics }),
      screening: () => screening.backlog,
      ...(observer.route === null ? {} : { metrics: observer.route }),
    },
    admin: adminDeps,
    consoleDir: options.consoleDir === undefined ? defaultConsoleDir() : options.consoleDir,
    onError: (err, requestId) =>
      log(`clearance: request ${requestId}: ${(err as Error).stack ?? String(err)}`),
  });
  const server = createServer(serverOptions(connections), handler);
  const guarded = guardConnections(server, connections, renderClientError);
  const host = options.host ?? config.file.listen.host;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? config.file.listen.port, host, resolve);
  });
  // From here each thing started is registered at once: a step below that fails (the store's
  // listener refused) must not leave the server answering, and the process alive, while the failed
  // start discards both locks and a second gateway starts on the data directory. A failed start ends
  // every connection (a request in flight is not waited for: nothing was said to be serving).
  opened.push(
    () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
        server.closeAllConnections();
      }),
  );
  snapshot.start(config.file.refresh_ms);
  opened.push(async () => snapshot.stop());
  // The mmdb replaced under the running node is read in the background and swapped in.
  countryDb?.start(config.file.location.mmdb_check_ms);
  if (countryDb !== null) opened.push(() => countryDb.stop());
  // Other nodes' changes are heard as they commit; the poll above is the safety net for missed ones.
  const watch = await store.watch?.(() => void snapshot.refresh(), onError);
  if (watch !== undefined) opened.push(() => watch.close());
  meter.start(config.file.metering.flush_ms); // its close is registered above
  identity.start();
  opened.push(() => identity.close());
  audit.log.start();
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;

  return {
    server,
    url,
    store,
    snapshot,
    identity,
    meter,
    limits,
    audit,
    screening,
    monitoring: observer,
    alerts,
    countryDb,
    async close() {
      // Every step runs even if one before it failed (a drain the log refuses, the store's listener
      // that will not close, must not leave the log and the store open, nor the locks held until
      // the process ends); the first failure is thrown at the end. The access log, metering and the
      // audit log's pending records before the alerts: nothing an alert is waiting on (a webhook
      // receiver, a suspension) holds them back.
      await inTurn([
        () => snapshot.stop(),
        () => countryDb?.stop(),
        () => screening.close(),
        () => watch?.close(),
        () =>
          new Promise<void>((resolve) => {
            server.close(() => resolve());
            server.closeIdleConnections();
            guarded.closeSilentConnections();
          }),
        () => observer.close(),
        () => meter.close(),
        () => audit.drainer.drain(),
        () => alerts?.close(), // bounded: deliveries in flight are aborted
        () => identity.close(),
        () => limits.close(),
        () => audit.drainer.drain(), // the alerts' last records too
        () => audit.log.close(),
        () => Promise.all([...providers.values()].map((p) => p.close())),
        () => store.close(),
        () => journalLock.release(), // after the meter's last append and keep
        () => lock.release(), // last: a gateway started next finds the log and the store let go
      ]);
    },
  };
}

/**
 * Throws (SetupError, naming the models) when this config's upstreams would serve one model's allow
 * with another model of a different control level. Unrouted models and fallbacks in no common wire
 * format fail closed per request (refused, as before), so a node in a rolling change keeps serving
 * the rest rather than stopping.
 */
function refuseUnservable(config: GatewayConfig, control: ControlState): void {
  const problems = servingProblems(control.scheme, config).filter((p) => p.code === "shared_upstream_model");
  if (problems.length === 0) return;
  throw new SetupError(
    `scheme version ${control.active.document.version}, in force in the store, cannot be served with this config's upstreams: ` +
      `${problems.map((p) => `${p.message} (${p.code})`).join("; ")}. Change the config's models or ` +
      "default_provider so that they can serve it, or put in force a version they can serve (a changed " +
      "scheme file is activated at start-up; a version can also be activated through the admin API)",
  );
}

/** Runs each step in turn whatever the ones before did, then throws the first failure. */
async function inTurn(steps: readonly (() => unknown)[]): Promise<void> {
  let failed: { readonly error: unknown } | undefined;
  for (const step of steps) {
    try {
      await step();
    } catch (error) {
      failed ??= { error };
    }
  }
  if (failed !== undefined) throw failed.error;
}

/**
 * `clearance serve`: the gateway (with --config, the default), or with only --scheme the decision
 * API alone, a policy decision point for the provider's other services.
 */
import { Option, type Command } from "commander";
import type { AddressInfo } from "node:net";
import { createDecisionServer } from "../../api/index.js";
import { InvalidInputError, SetupError, formatProblems } from "../../errors/index.js";
import { startGateway } from "../../gateway/server.js";
import { parseAddress } from "../../location/index.js";
import { GatewayMetrics } from "../../monitoring/metrics.js";
import type { CompiledScheme } from "../../scheme/index.js";
import { configFlag, schemeFlag } from "../flag-files.js";
import type { Io } from "../io.js";
import { parseHost, parsePort } from "./options.js";

interface ServeOptions {
  config?: string;
  scheme?: string;
  dataDir?: string;
  port?: number;
  host?: string;
  allowUnauthenticated?: boolean;
}

export function registerServe(program: Command, io: Io): void {
  program
    .command("serve")
    .description("run the gateway (--config, default clearance.yaml), or only the decision API (--scheme)")
    .option("--config <file>", "gateway config file (default: clearance.yaml)")
    .addOption(
      new Option(
        "--scheme <file>",
        "instead of --config: serve only the decision API for this scheme",
      ).conflicts("config"),
    )
    .option("--data-dir <dir>", "data directory (overrides the config's data_dir)")
    .addOption(new Option("--port <port>", "port (overrides the config)").argParser(parsePort))
    .addOption(
      new Option(
        "--host <host>",
        "address to bind (overrides the config's listen.host; default 127.0.0.1)",
      ).argParser(parseHost),
    )
    .option(
      "--allow-unauthenticated",
      "with --scheme: let a --host other than loopback serve the decision API, which has no authentication",
    )
    .action((opts: ServeOptions) =>
      opts.scheme !== undefined && opts.config === undefined
        ? servePdp(io, opts.scheme, opts)
        : serveGateway(io, opts),
    );
}

async function serveGateway(io: Io, opts: ServeOptions): Promise<void> {
  // SIGHUP's default is to terminate: a habitual `kill -HUP` (or a log rotator) must not take the
  // gateway down. It reopens the access log's file (a rotator renames it, then signals), as other
  // daemons do. Its scheme is the store's, changed through the admin API, so there is no file to
  // reload (the standalone decision API, below, reloads its file). Set before anything says the
  // gateway is up: a signal sent on reading that line came before the handler (a CI run).
  const running: { gateway?: Awaited<ReturnType<typeof startGateway>> } = {};
  const notReloaded =
    "the gateway's scheme changes through the admin API (POST /admin/v1/schemes, then POST /admin/v1/schemes/{version}/activate); other config changes need a restart";
  process.on("SIGHUP", () => {
    // Before the gateway is up its access log was opened a moment ago: nothing to reopen.
    const reopened = running.gateway?.monitoring.reopenAccessLog() ?? Promise.resolve(null);
    void reopened.then(
      (file) =>
        io.stderr(
          file === null
            ? `clearance: SIGHUP ignored: ${notReloaded}\n`
            : `clearance: SIGHUP: access log ${file} reopened; ${notReloaded}\n`,
        ),
      (err: unknown) =>
        io.stderr(
          `clearance: SIGHUP: the access log could not be reopened: ${err instanceof Error ? err.message : String(err)}\n`,
        ),
    );
  });
  const config = configFlag(opts.config ?? "clearance.yaml");
  const gateway = await startGateway(config, {
    ...(opts.dataDir === undefined ? {} : { dataDir: opts.dataDir }),
    ...(opts.port === undefined ? {} : { port: opts.port }),
    ...(opts.host === undefined ? {} : { host: opts.host }),
    log: (line) => io.stderr(`${line}\n`),
  });
  running.gateway = gateway;
  // Before the line saying it is up: a SIGTERM sent on reading it found no handler and killed the
  // gateway uncleanly (a CI run, the one-gateway test).
  stopOnSignal(() => gateway.close());
  io.stdout(
    `clearance: gateway on ${gateway.url} — scheme ${config.scheme.name} (${config.scheme.digest})\n`,
  );
}

async function servePdp(io: Io, schemePath: string, opts: ServeOptions): Promise<void> {
  const host = opts.host ?? "127.0.0.1";
  // Without a token, anyone who reaches the port reads the scheme's licensees and grants through
  // its decisions: beyond loopback only when asked for by name (behind a network policy, say).
  if (!isLoopback(host)) {
    if (opts.allowUnauthenticated !== true) {
      throw new SetupError(
        `the decision API alone (--scheme) has no authentication; --host ${host} would answer anyone who reaches it. Serve it on loopback, use the gateway (--config, behind the admin token), or pass --allow-unauthenticated if the network in front of it restricts callers`,
      );
    }
    io.stderr(`clearance: warning: the decision API on ${host} answers without authentication\n`);
  }
  let scheme: CompiledScheme = schemeFlag("--scheme", schemePath);
  const server = createDecisionServer({
    scheme: () => scheme,
    metrics: new GatewayMetrics({ scheme: () => scheme }),
    onError: (err) => io.stderr(`internal error: ${(err as Error).stack ?? String(err)}\n`),
  });
  // A bad edit on disk never takes the running scheme down: the old one stays in force.
  // Set before the line saying it is up (a signal sent on reading it must find the handler).
  process.on("SIGHUP", () => {
    try {
      scheme = schemeFlag("--scheme", schemePath);
      io.stdout(`clearance: reloaded scheme ${scheme.name} (${scheme.digest})\n`);
    } catch (err) {
      const text = err instanceof InvalidInputError ? formatProblems(err.problems) : String(err);
      io.stderr(`clearance: scheme reload failed, keeping ${scheme.digest}:\n${text}\n`);
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 8080, host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
  // Before the line saying it is up, as for the gateway.
  stopOnSignal(async () => {
    server.close();
    server.closeAllConnections();
  });
  io.stdout(`clearance: decision API on ${base} — scheme ${scheme.name} (${scheme.digest})\n`);
  io.stdout(`  POST ${base}/v1/decisions   GET ${base}/healthz   GET ${base}/metrics\n`);
}

/** Loopback only: localhost, 127.0.0.0/8, ::1 (also IPv4-mapped). A name other than localhost is not. */
function isLoopback(host: string): boolean {
  if (host === "localhost") return true;
  const address = parseAddress(host);
  return address !== null && address.range() === "loopback";
}

export function stopOnSignal(stop: () => Promise<void>): void {
  const handler = () => {
    process.off("SIGINT", handler);
    process.off("SIGTERM", handler);
    // A shutdown that could not finish every step (a drain the log refused) says why and exits 1.
    void stop().then(
      () => process.exit(0),
      (err: unknown) => {
        process.stderr.write(
          `clearance: shutdown incomplete: ${err instanceof Error ? err.message : String(err)}\n`,
        );
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", handler);
  process.on("SIGTERM", handler);
}

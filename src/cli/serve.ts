/** `clearance serve`: the decision API on a socket, with the scheme reloaded on SIGHUP. */
import type { AddressInfo } from "node:net";
import { createDecisionServer } from "../api/index.js";
import { InvalidInputError, formatProblems } from "../errors/index.js";
import { loadSchemeFile, type CompiledScheme } from "../scheme/index.js";
import type { Io } from "./io.js";

export async function serveDecisions(
  io: Io,
  opts: { scheme: string; port: number; host: string },
): Promise<void> {
  let scheme: CompiledScheme = loadSchemeFile(opts.scheme);
  const server = createDecisionServer({
    scheme: () => scheme,
    onError: (err) => io.stderr(`internal error: ${(err as Error).stack ?? String(err)}\n`),
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  io.stdout(`clearance: decision API on http://${host}:${port} — scheme ${scheme.name} (${scheme.digest})\n`);
  io.stdout(`  POST http://${host}:${port}/v1/decisions   GET http://${host}:${port}/healthz\n`);

  // A bad edit on disk never takes the running scheme down: the old one stays in force.
  process.on("SIGHUP", () => {
    try {
      scheme = loadSchemeFile(opts.scheme);
      io.stdout(`clearance: reloaded scheme ${scheme.name} (${scheme.digest})\n`);
    } catch (err) {
      const text = err instanceof InvalidInputError ? formatProblems(err.problems) : String(err);
      io.stderr(`clearance: scheme reload failed, keeping ${scheme.digest}:\n${text}\n`);
    }
  });
  const stop = () => {
    server.close();
    server.closeAllConnections();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
}

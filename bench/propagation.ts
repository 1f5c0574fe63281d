/**
 * `npm run bench:propagation`: how long a change committed through one gateway node takes to be
 * in force on another. Two `clearance serve` processes (node A and node B, built from dist/, each
 * with its own data dir in a temporary directory, the demo provider, the admin token from
 * CLEARANCE_ADMIN_TOKEN) over one PostgreSQL (DATABASE_URL, default
 * postgres://postgres@127.0.0.1:5432/test) in a fresh schema, dropped at the end.
 *
 * Both nodes sign with one audit key (audit.key_file in the temporary directory, created by A), as
 * nodes sharing one store must.
 *
 * Per sample, one change made through A's admin API while B is polled without pause by a few
 * concurrent requests on keep-alive connections (by default GET /v1/models/mythos-5 with the
 * credential: a decision, no upstream call, no audit entry):
 * - key revocation: a new principal (a US national) and a key for it are created through A, the
 *   key is seen to work on B, then revoked through A; measured until B answers 401;
 * - license suspension: a license (applied for and approved twice through A's admin API, for an
 *   Indian organization's principal) is suspended; measured until B no longer allows mythos-5
 *   (the scheme's fallback, mythos-4, is served instead); then reinstated, and measured back;
 * - partner suspension: the country partner g7-fvey is suspended, measured until B no longer
 *   allows a French national mythos-5; then made active again, and measured back.
 * Before each change the bench waits a random 0–pause ms, so that changes fall at every phase of
 * a polling node's timer.
 *
 * For each change: `from_answer` = B's first refusal received − A's admin API answer received (the
 * commit has happened by then: the headline figure, can be slightly negative when B is faster than
 * A's own post-commit work); `from_sent` = the same − the change request sent (an upper bound
 * including the admin request itself). The refusal happened on B between the last poll sent that
 * was still allowed and the first refusal received: that window is reported as `uncertainty`.
 *
 * Prints one JSON line and writes bench/results/propagation.json (with every sample).
 *
 * Options: --samples N key revocations (default 100); --other-samples M license and partner
 * suspensions each (default 25; 0: keys only); --pollers P concurrent polls of B (default 4);
 * --poll models|chat (chat: POST /v1/chat/completions, the full request path); --pause-ms MS
 * (default 250); --timeout-ms MS per wait (default 10000); --refresh-ms MS (the nodes' refresh_ms;
 * default: the nodes' own default).
 *
 * This file runs the bench; the parts: propagation-options.ts (the options), propagation-nodes.ts
 * (starting the two nodes), propagation-poll.ts (HTTP, and the poller of B), propagation-changes.ts
 * (the change kinds, and one sample's figures), propagation-report.ts (statistics and the result).
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Pool } from "undici";
import { killAllNow, onCleanup, runCleanups, stop, stopAll } from "./gateway-procs.js";
import { describeDatabase, freshSchema, listeningConnections } from "./postgres.js";
import { writeResult } from "./results.js";
import {
  keySample,
  licenseToggle,
  partnerToggle,
  toggleSample,
  type Context,
  type Kind,
  type Sample,
  type Toggle,
} from "./propagation-changes.js";
import { CLI, startNode } from "./propagation-nodes.js";
import { parseOptions } from "./propagation-options.js";
import { Admin, sleep } from "./propagation-poll.js";
import { report, stats } from "./propagation-report.js";

function log(message: string): void {
  process.stderr.write(`[bench:propagation] ${message}\n`);
}

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}

// ---------------------------------------------------------------------------------------------
// The run

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
  const db = await freshSchema("clearance_bench");
  const dir = mkdtempSync(join(tmpdir(), "clearance-propagation-"));
  let dropped = false;
  const cleanup = async () => {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
    await db.drop();
    dropped = true;
  };
  const forget = onCleanup(cleanup);
  log(`PostgreSQL ${db.server} at ${describeDatabase(db.url)}, schema ${db.schema}`);

  const token = randomBytes(24).toString("base64url");
  const listenersBefore = await listeningConnections();
  const samples: Sample[] = [];
  const skipped: Record<string, string> = {};
  let ctx: Context | undefined;
  let listenersAdded: number | null = null;
  try {
    // One after the other: A migrates the schema and seeds the scheme, B finds them done.
    const a = await startNode("node-a", dir, db, token, opts.refreshMs);
    const b = await startNode("node-b", dir, db, token, opts.refreshMs);
    log(`node A ${a.url}, node B ${b.url}`);
    await sleep(500); // a LISTEN connection, if the nodes open one, is up by now
    const listenersAfter = await listeningConnections();
    listenersAdded =
      listenersBefore === null || listenersAfter === null ? null : listenersAfter - listenersBefore;

    const aPool = new Pool(a.url, { connections: 4 });
    const bPool = new Pool(b.url, { connections: opts.pollers, pipelining: 1 });
    ctx = {
      opts,
      admin: new Admin(aPool, token),
      a: aPool,
      b: bPool,
      roundTrips: [],
      unexpected: [],
      regressions: 0,
      unexpectedCount: 0,
    };
    const toggles = new Map<Kind, Toggle>();
    if (opts.otherSamples > 0) {
      for (const [kind, make] of [
        ["license_suspend", licenseToggle],
        ["partner_suspend", partnerToggle],
      ] as const) {
        try {
          toggles.set(kind, await make(ctx));
        } catch (err) {
          skipped[kind] = (err as Error).message.slice(0, 500);
          log(`${kind}: skipped: ${skipped[kind]}`);
        }
      }
    }
    const plan = shuffle([
      ...Array.from({ length: opts.samples }, () => "key_revoke" as Kind),
      ...[...toggles.keys()].flatMap((k) => Array.from({ length: opts.otherSamples }, () => k)),
    ]);
    log(
      `${plan.length} changes (${opts.samples} key revocations` +
        `${[...toggles.keys()].map((k) => `, ${opts.otherSamples} ${k}`).join("")}), ${opts.pollers} pollers on B`,
    );
    for (const [i, kind] of plan.entries()) {
      const s = kind === "key_revoke" ? await keySample(ctx, i) : await toggleSample(ctx, toggles.get(kind)!);
      samples.push(s);
      if ((i + 1) % 25 === 0 || i + 1 === plan.length) {
        const so = stats(samples.map((x) => x.from_answer_ms)) as { p50_ms: number; max_ms: number };
        log(`${i + 1}/${plan.length}: p50 ${so.p50_ms} ms, max ${so.max_ms} ms`);
      }
    }
    await aPool.close();
    await bPool.close();
    await Promise.all([a, b].map((n) => stop(n.proc)));
  } finally {
    forget();
    await cleanup().catch((err: unknown) => log(`cleanup: ${String(err)}`));
  }

  const out = report({ opts, samples, skipped, ctx, db, dropped, listenersAdded });
  const path = writeResult("propagation", { ...out, samples });
  log(`wrote ${path}`);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  return 0;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    killAllNow();
    void runCleanups().finally(() => process.exit(130));
  });
}
main()
  .then((code) => process.exit(code))
  .catch(async (err: unknown) => {
    log(`failed: ${(err as Error).stack ?? String(err)}`);
    await runCleanups();
    process.exit(1);
  });

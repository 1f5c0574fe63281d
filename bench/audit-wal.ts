/**
 * The durable half of `npm run bench:audit`: group commit through the real `AuditLog.append` (WAL,
 * with the checkpoint timer integrating the tree and signing as the gateway runs it), and the
 * durability wait a request sees at a moderate fixed rate (open loop) and at concurrency 1. The
 * WAL's batches are observed with DurableProbe (audit-disk.ts).
 */
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { AuditLog } from "../src/audit/log.js";
import { DurableProbe } from "./audit-disk.js";
import { ORIGIN, nowMs, removeDir, summaryMs, tempDir, type Keys } from "./audit-entries.js";
import { cpuSeconds } from "./gateway-procs.js";
import { log, round } from "./results.js";

/** What the gateway runs with (config default audit.checkpoint_ms). */
const CHECKPOINT_MS = 1_000;

async function openLog(dir: string, keys: Keys, errors: unknown[]): Promise<AuditLog> {
  const auditLog = await AuditLog.open({
    dir: join(dir, "audit"),
    walPath: join(dir, "audit.wal"),
    origin: ORIGIN,
    signer: keys.signer,
    verifier: keys.verifier,
    checkpointMs: CHECKPOINT_MS,
    onError: (err) => errors.push(err),
  });
  auditLog.start();
  return auditLog;
}

/** Closes the log and checks that the final checkpoint covers every acknowledged append. */
async function closeLog(auditLog: AuditLog, errors: unknown[]): Promise<void> {
  await auditLog.close();
  if (errors.length > 0)
    throw new Error(`audit log reported ${errors.length} error(s): ${String(errors[0])}`);
  if (auditLog.published?.size !== auditLog.size)
    throw new Error(`final checkpoint covers ${auditLog.published?.size} of ${auditLog.size} entries`);
}

/** Closed loop: `concurrency` callers, each appending again as soon as its last append is durable. */
async function closedLoop(
  auditLog: AuditLog,
  entries: readonly Buffer[],
  concurrency: number,
  seconds: number,
) {
  const times: number[] = [];
  let k = 0;
  const t0 = nowMs();
  const end = t0 + seconds * 1000;
  const caller = async () => {
    while (nowMs() < end) {
      const entry = entries[k++ % entries.length] as Buffer;
      const s = nowMs();
      await auditLog.append(entry);
      times.push(nowMs() - s);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return { times, elapsed: (nowMs() - t0) / 1000 };
}

/** Group commit at each concurrency, each on a fresh log: appends/s, append latency, group sizes, CPU. */
export async function groupCommit(
  entries: readonly Buffer[],
  keys: Keys,
  levels: readonly number[],
  seconds: number,
) {
  const runs = [];
  for (const concurrency of levels) {
    log(`group commit: ${concurrency} concurrent appenders for ${seconds} s`);
    const dir = await tempDir(`group${concurrency}`);
    const probe = await DurableProbe.install(dir);
    const errors: unknown[] = [];
    try {
      const auditLog = await openLog(dir, keys, errors);
      await closedLoop(auditLog, entries, concurrency, 0.5); // warm-up: JIT, first tiles, first checkpoint
      probe.reset();
      const cpu0 = process.cpuUsage();
      const { times, elapsed } = await closedLoop(auditLog, entries, concurrency, seconds);
      const cpu = process.cpuUsage(cpu0);
      const batches = probe.summary(times.length);
      await closeLog(auditLog, errors);
      runs.push({
        concurrency,
        appends: times.length,
        seconds: round(elapsed, 2),
        appends_per_sec: Math.round(times.length / elapsed),
        latency: summaryMs(times),
        ...batches,
        // 1.0 = one core busy for the whole run: the event loop (not the disk) is the limit.
        cpu_cores_used: round((cpu.user + cpu.system) / 1e6 / elapsed, 2),
      });
    } finally {
      probe.remove();
      await removeDir(dir);
    }
  }
  return runs;
}

/** What fixedRate appends to: the log, or (to time the load generator alone) nothing at all. */
type Appender = Pick<AuditLog, "append">;
const NO_LOG: Appender = { append: () => Promise.resolve(0n) };

/** CPU seconds used so far by this process (all threads) and by its main thread. */
function cpuNow(): { all: number; main: number | null } {
  const { user, system } = process.cpuUsage();
  return { all: (user + system) / 1e6, main: cpuSeconds(process.pid, process.pid) };
}

/** CPU µs per append between two readings; the main thread's null where /proc cannot tell. */
function cpuPerAppend(from: ReturnType<typeof cpuNow>, appends: number) {
  const to = cpuNow();
  const main = from.main === null || to.main === null ? null : ((to.main - from.main) * 1e6) / appends;
  return {
    all_threads_us: round(((to.all - from.all) * 1e6) / appends, 1),
    main_thread_us: main === null ? null : round(main, 1),
  };
}

/** Open loop at a fixed offered rate: what the durability wait adds to each request at that load. */
async function fixedRate(auditLog: Appender, entries: readonly Buffer[], rate: number, seconds: number) {
  const total = Math.round(rate * seconds);
  const times: number[] = [];
  const acks: Promise<void>[] = [];
  const t0 = nowMs();
  let issued = 0;
  await new Promise<void>((resolve) => {
    // Issues every append that is due, then sleeps ~1 ms: requests arrive on schedule (a few per
    // tick), whether or not earlier ones are durable yet.
    const tick = () => {
      const due = Math.min(total, Math.floor(((nowMs() - t0) * rate) / 1000) + 1);
      for (; issued < due; issued++) {
        const s = nowMs();
        acks.push(
          auditLog
            .append(entries[issued % entries.length] as Buffer)
            .then(() => void times.push(nowMs() - s)),
        );
      }
      if (issued < total) setTimeout(tick, 1);
      else resolve();
    };
    tick();
  });
  await Promise.all(acks);
  const elapsed = (nowMs() - t0) / 1000;
  return { times, achieved: Math.round(total / elapsed) };
}

/** The durability wait: at `rate` appends/s offered (open loop), and at concurrency 1. */
export async function durabilityWait(
  entries: readonly Buffer[],
  keys: Keys,
  rate: number,
  seconds: number,
  c1Seconds: number,
) {
  const dir = await tempDir("wait");
  const probe = await DurableProbe.install(dir);
  const errors: unknown[] = [];
  try {
    const auditLog = await openLog(dir, keys, errors);
    await closedLoop(auditLog, entries, 16, 0.5); // warm-up
    log(`durability wait: ${rate} appends/s offered for ${seconds} s`);
    probe.reset();
    // How long the event loop was held up (tree integration, tile writes, signing, GC, no free core):
    // an append's promise cannot resolve while it is.
    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    const cpu0 = cpuNow();
    const loaded = await fixedRate(auditLog, entries, rate, seconds);
    const cpu = cpuPerAppend(cpu0, loaded.times.length);
    delay.disable();
    const loadedBatches = probe.summary(loaded.times.length);
    // The same schedule with no log behind it: the timers and promises of the load itself.
    const idle0 = cpuNow();
    const alone = await fixedRate(NO_LOG, entries, rate, seconds);
    const generator = cpuPerAppend(idle0, alone.times.length);
    log(`durability wait: concurrency 1 for ${c1Seconds} s`);
    probe.reset();
    const single = await closedLoop(auditLog, entries, 1, c1Seconds);
    const singleBatches = probe.summary(single.times.length);
    await closeLog(auditLog, errors);
    return {
      fixed_rate: {
        offered_per_sec: rate,
        achieved_per_sec: loaded.achieved,
        latency: summaryMs(loaded.times),
        ...loadedBatches,
        event_loop_delay_p99_ms: round(delay.percentile(99) / 1e6, 2),
        event_loop_delay_max_ms: round(delay.max / 1e6, 2),
        // The log's CPU per durable entry: WAL, thread pool, disk (kernel), tree, tiles, checkpoints.
        cpu_per_append: {
          ...cpu,
          generator_alone: generator,
          net_all_threads_us: round(cpu.all_threads_us - generator.all_threads_us, 1),
          net_main_thread_us:
            cpu.main_thread_us === null || generator.main_thread_us === null
              ? null
              : round(cpu.main_thread_us - generator.main_thread_us, 1),
        },
      },
      concurrency_1: {
        appends_per_sec: Math.round(single.times.length / single.elapsed),
        latency: summaryMs(single.times),
        ...singleBatches,
      },
    };
  } finally {
    probe.remove();
    await removeDir(dir);
  }
}

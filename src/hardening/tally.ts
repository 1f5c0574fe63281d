/**
 * Counting what a suite threw and what came back, printed as one line per suite (the figures
 * HARDENING.md quotes) and appended to bench/results/hardening.jsonl with the date and load.
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { cpus, hostname, loadavg } from "node:os";

export class Tally {
  readonly byStatus = new Map<string, number>();
  readonly byLabel = new Map<string, number>();
  readonly problems: string[] = [];
  cases = 0;
  sent = 0;
  dropped = 0;
  wrongAllows = 0;
  upstreamHits = 0;
  private readonly started = Date.now();

  constructor(readonly suite: string) {}

  status(s: number | string): void {
    const k = String(s);
    this.byStatus.set(k, (this.byStatus.get(k) ?? 0) + 1);
  }

  label(l: string): void {
    this.byLabel.set(l, (this.byLabel.get(l) ?? 0) + 1);
  }

  problem(p: string): void {
    if (this.problems.length < 50) this.problems.push(p);
  }

  /** One line: suite, cases, requests, answers by status, wrong allows, problems, seconds. */
  line(extra: Record<string, unknown> = {}): string {
    const statuses = [...this.byStatus]
      .sort()
      .map(([k, v]) => `${k}:${v}`)
      .join(" ");
    const record = {
      suite: this.suite,
      cases: this.cases,
      requests: this.sent,
      answers: Object.fromEntries([...this.byStatus].sort()),
      dropped: this.dropped,
      upstream_hits: this.upstreamHits,
      wrong_allows: this.wrongAllows,
      problems: this.problems.length,
      seconds: Math.round((Date.now() - this.started) / 100) / 10,
      ...extra,
    };
    write(record);
    const rest = Object.entries(extra)
      .map(([k, v]) => `${k} ${typeof v === "object" ? JSON.stringify(v) : String(v)}`)
      .join(", ");
    return `${this.suite}: ${this.cases} cases, ${this.sent} requests, answers ${statuses || "none"}, dropped ${this.dropped}, upstream hits ${this.upstreamHits}, wrong allows ${this.wrongAllows}, problems ${this.problems.length}, ${record.seconds} s${rest ? `, ${rest}` : ""}`;
  }
}

/** Appends a suite's figures, with when and where they were measured. */
export function write(record: Record<string, unknown>): void {
  mkdirSync("bench/results", { recursive: true });
  appendFileSync(
    "bench/results/hardening.jsonl",
    `${JSON.stringify({
      ...record,
      date: new Date().toISOString(),
      machine: `${hostname()}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, node ${process.version}`,
      load: loadavg().map((l) => Math.round(l * 100) / 100),
    })}\n`,
  );
}

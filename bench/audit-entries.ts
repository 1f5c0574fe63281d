/**
 * Shared pieces of `npm run bench:audit`: realistic decision entries (made by the gateway's own
 * `decisionEntry`), temporary directories, signing keys and latency summaries in milliseconds.
 */
import { createHash, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decisionEntry } from "../src/audit/entry.js";
import {
  generateKey,
  parseSignerKey,
  parseVerifierKey,
  type NoteSigner,
  type NoteVerifier,
} from "../src/audit/note.js";
import type { Decision, Principal, Reason } from "../src/policy/types.js";
import { percentiles, round } from "./results.js";

export const ORIGIN = "bench.clearance.local/audit";

const MODELS = ["frontier-l", "frontier-m", "open-70b"];
const COUNTRIES = ["DE", "FR", "JP", "GB", "CA", "AU", "KR", "NL", "SE", "US"];
const ORGS = ["acme", "helix", "northwind", "contoso", "tailspin"];
const OUTCOMES: [Decision["decision"], Reason][] = [
  ["allow", "partner-country"],
  ["allow", "license"],
  ["allow", "partner-organization"],
  ["allow", "open-model"],
  ["deny", "no-authorization"],
  ["fallback", "license-quota-exhausted"],
];

/**
 * `count` distinct decision entries as the gateway writes them with the default config (principal
 * ids not pseudonymised; UUID request id, scheme digest): ~390 bytes of canonical JSON each. Made once, then cycled, so that
 * building entries is not on the clock of the log being measured.
 */
export function decisionPool(count: number): Buffer[] {
  const digest = `sha256:${createHash("sha256").update("bench scheme").digest("hex")}`;
  const out: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const [decision, reason] = OUTCOMES[i % OUTCOMES.length] as [Decision["decision"], Reason];
    const model = MODELS[i % MODELS.length] as string;
    const served = decision === "deny" ? null : decision === "fallback" ? "open-70b" : model;
    const org = ORGS[i % ORGS.length] as string;
    const d: Decision = {
      decision,
      reason,
      model,
      served_model: served,
      grant:
        reason === "license"
          ? { kind: "license", license: `lic-${i % 97}` }
          : reason === "partner-country" || reason === "partner-organization"
            ? { kind: reason, partner: org, index: i % 7 }
            : null,
      checks: [],
      scheme: { name: "bench", digest },
    };
    const principal: Principal = { id: `u-${String(i).padStart(6, "0")}`, organization: { id: org } };
    const time = new Date(Date.UTC(2026, 10, 21, 12, 0, 0, 0) + i * 37);
    const location = COUNTRIES[i % COUNTRIES.length] as string;
    const ctx = {
      time,
      requestId: randomUUID(),
      node: "gw-1",
      principal,
      location,
      action: "infer",
    };
    out.push(decisionEntry(d, ctx));
  }
  return out;
}

export function meanBytes(entries: readonly Uint8Array[]): number {
  return Math.round(entries.reduce((n, e) => n + e.length, 0) / Math.max(1, entries.length));
}

export interface Keys {
  readonly signer: NoteSigner;
  readonly verifier: NoteVerifier;
  readonly verifierKey: string;
}

export function benchKeys(): Keys {
  const { privateKey, verifierKey } = generateKey(ORIGIN);
  return { signer: parseSignerKey(privateKey), verifier: parseVerifierKey(verifierKey), verifierKey };
}

/** A fresh directory under os.tmpdir(); everything the benchmark writes lives in one of these. */
export function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `clearance-bench-audit-${label}-`));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

/** Latency samples in milliseconds, summarised in milliseconds. */
export interface LatencyMs {
  readonly samples: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  readonly p999_ms: number;
  readonly max_ms: number;
}

export function summaryMs(samplesMs: readonly number[]): LatencyMs {
  // results.percentiles works in µs; feeding it ms values keeps its quantile rule and just relabels.
  const p = percentiles(Float64Array.from(samplesMs));
  return {
    samples: samplesMs.length,
    p50_ms: p.p50_us,
    p99_ms: p.p99_us,
    p999_ms: p.p999_us,
    max_ms: p.max_us,
  };
}

export function summaryUs(samplesUs: readonly number[]): {
  samples: number;
  p50_us: number;
  p99_us: number;
  max_us: number;
} {
  const p = percentiles(Float64Array.from(samplesUs));
  return {
    samples: samplesUs.length,
    p50_us: round(p.p50_us, 1),
    p99_us: round(p.p99_us, 1),
    max_us: round(p.max_us, 1),
  };
}

export const nowMs = (): number => performance.now();

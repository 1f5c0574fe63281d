/**
 * Deciding classes: each class's representative at each of its locations, for every model × action
 * (a cell), under both schemes, with the outcome alone (policy/outcome.ts: no explanations). Only
 * the cells that differ are written, as numbers — cell, old outcome, new outcome — into one buffer,
 * which a worker thread hands back without copying.
 */
import { principalFacts } from "../policy/facts.js";
import { outcomeOf, type Outcome } from "../policy/outcome.js";
import { ACTIONS, REASONS, type Principal, type Reason } from "../policy/types.js";
import type { CompiledScheme } from "../scheme/compile.js";
import type { Side } from "./result.js";

const DECISIONS = ["allow", "fallback", "deny"] as const;
const DECISION_INDEX = { allow: 0, fallback: 1, deny: 2 } as const;
const REASON_INDEX = Object.fromEntries(REASONS.map((r, i) => [r, i])) as Record<Reason, number>;

/** Outcomes as numbers: decision, reason and served model (an index into `models`, or none). */
export class OutcomeCodes {
  private readonly index = new Map<string, number>();
  private readonly sides = new Map<number, Side>();

  constructor(readonly models: readonly string[]) {
    models.forEach((m, i) => this.index.set(m, i));
  }

  /** Distinct outcomes have distinct codes (below 2^31 for fewer than 40 million models). */
  get size(): number {
    return (this.models.length + 1) * REASONS.length * DECISIONS.length;
  }

  code(o: Outcome): number {
    const served = o.served_model === null ? 0 : (this.index.get(o.served_model) ?? -1) + 1;
    return (served * REASONS.length + REASON_INDEX[o.reason]) * DECISIONS.length + DECISION_INDEX[o.decision];
  }

  /** The outcome of a code, one object per code. */
  side(code: number): Side {
    let side = this.sides.get(code);
    if (side === undefined) {
      const decision = DECISIONS[code % DECISIONS.length] as Side["decision"];
      const rest = Math.floor(code / DECISIONS.length);
      const served = Math.floor(rest / REASONS.length);
      side = {
        decision,
        reason: REASONS[rest % REASONS.length] as Reason,
        served_model: served === 0 ? null : (this.models[served - 1] as string),
      };
      this.sides.set(code, side);
    }
    return side;
  }
}

/** A growing list of 32-bit integers. */
export class CodeBuffer {
  private data = new Int32Array(1 << 16);
  length = 0;

  push(v: number): void {
    if (this.length === this.data.length) {
      const bigger = new Int32Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = v;
  }

  set(at: number, v: number): void {
    this.data[at] = v;
  }

  /** The integers written, as one array (its buffer can be transferred). */
  done(): Int32Array {
    return this.data.slice(0, this.length);
  }
}

/** What deciding a share of the classes needs; plain data, so that it can be sent to a worker thread. */
export interface Share {
  /** One principal per class. */
  readonly reps: readonly Principal[];
  /** Per class, its locations in order. */
  readonly locations: readonly (readonly (string | null)[])[];
  readonly models: readonly string[];
  readonly time: number;
  /** Tokens used per license, counted over the active scheme's quota periods. */
  readonly usage: Readonly<Record<string, { readonly tokens: number }>> | undefined;
  /** … and over the candidate's (a license's quota_period may change: month, quarter, total). */
  readonly candidateUsage: Readonly<Record<string, { readonly tokens: number }>> | undefined;
}

/**
 * Writes, per class and location in order: the number of cells that differ, then for each of them
 * its cell (model index × 4 + action index), old and new outcome codes. Yields every 100 classes.
 */
export function* decideShare(
  active: CompiledScheme,
  candidate: CompiledScheme,
  share: Share,
  out: CodeBuffer,
): Generator<undefined, void, undefined> {
  const { reps, locations, models } = share;
  const codes = new OutcomeCodes(models);
  const request = {
    model: "",
    actionIndex: 0,
    location: null as string | null,
    time: share.time,
    usage: share.usage,
  };
  // The same request under the candidate, with usage counted as the candidate counts it.
  const candidateRequest = {
    model: "",
    actionIndex: 0,
    location: null as string | null,
    time: share.time,
    usage: share.candidateUsage,
  };
  for (let i = 0; i < reps.length; i++) {
    if (i % 100 === 99) yield;
    const rep = reps[i] as Principal;
    const fa = principalFacts(active, rep);
    const fb = principalFacts(candidate, rep);
    for (const location of locations[i] ?? []) {
      request.location = location;
      candidateRequest.location = location;
      const at = out.length;
      out.push(0);
      let changed = 0;
      for (let m = 0; m < models.length; m++) {
        request.model = models[m] as string;
        candidateRequest.model = request.model;
        for (let a = 0; a < ACTIONS.length; a++) {
          request.actionIndex = a;
          candidateRequest.actionIndex = a;
          const from = outcomeOf(active, fa, request);
          const to = outcomeOf(candidate, fb, candidateRequest);
          if (
            from.decision !== to.decision ||
            from.reason !== to.reason ||
            from.served_model !== to.served_model
          ) {
            out.push(m * ACTIONS.length + a);
            out.push(codes.code(from));
            out.push(codes.code(to));
            changed++;
          }
        }
      }
      out.set(at, changed);
    }
  }
}

/**
 * Realistic traffic for the fault, crash and soak suites: the example principals asking for what
 * each gets — a home person (allow), an embargoed location (deny), a foreign person without a
 * grant (fallback), an open model, a license with a token quota — streamed or not, some clients
 * hanging up early. Every request carries `x_case` (its kind) so the mock upstream can tell whose
 * request reached it.
 */
export const KINDS = {
  allow: { principal: "alice", country: "US", model: "mythos-5" },
  deny: { principal: "feng", country: "IR", model: "mythos-5" },
  fallback: { principal: "devi", country: "IN", model: "mythos-5" },
  open: { principal: "benoit", country: "FR", model: "mythos-4" },
  licensed: { principal: "erik", country: "DE", model: "fable-5", purpose: "cyber-defense" },
} as const;
export type Kind = keyof typeof KINDS;
export const KIND_NAMES = Object.keys(KINDS) as Kind[];

export interface Outcome {
  readonly kind: Kind;
  /** 0: no answer (connection refused or reset, or we hung up: `code` says which). */
  readonly status: number;
  readonly decision: string | null;
  readonly served: string | null;
  readonly id: string | null;
  readonly code: string | null;
  readonly ms: number;
  readonly at: number;
  readonly stream: boolean;
  /** The body arrived whole (a stream that ended in an error event counts as whole). */
  readonly complete: boolean;
}

export interface SendOptions {
  readonly stream?: boolean;
  /** Hang up after this long (a client that goes away mid-answer). */
  readonly hangUpMs?: number;
  readonly timeoutMs?: number;
}

export async function send(
  url: string,
  keys: ReadonlyMap<string, string>,
  kind: Kind,
  o: SendOptions = {},
): Promise<Outcome> {
  const k = KINDS[kind];
  const started = Date.now();
  const controller = new AbortController();
  const hangUp = o.hangUpMs === undefined ? undefined : setTimeout(() => controller.abort(), o.hangUpMs);
  const timeout = setTimeout(() => controller.abort(), o.timeoutMs ?? 30_000);
  const base = { kind, stream: o.stream === true, at: started };
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      signal: controller.signal,
      headers: {
        authorization: `Bearer ${keys.get(k.principal)}`,
        "content-type": "application/json",
        "x-test-country": k.country,
        ...("purpose" in k ? { "x-clearance-purpose": k.purpose } : {}),
      },
      body: JSON.stringify({
        model: k.model,
        messages: [{ role: "user", content: "hello" }],
        ...(o.stream ? { stream: true } : {}),
        x_case: kind,
      }),
    });
    const text = await res.text().catch(() => null);
    let code: string | null = null;
    if (res.status >= 400 && text !== null) {
      try {
        const body = JSON.parse(text) as { error?: { code?: string } };
        code = body.error?.code ?? null;
      } catch {
        code = "unparseable";
      }
    }
    return {
      ...base,
      status: res.status,
      decision: res.headers.get("x-clearance-decision"),
      served: res.headers.get("x-clearance-served-model"),
      id: res.headers.get("x-clearance-request-id"),
      code,
      ms: Date.now() - started,
      complete: text !== null,
    };
  } catch (err) {
    // Why there was no answer: our own timeout or hang-up, or the connection's error (ECONNRESET…).
    const cause = (err as { cause?: { code?: unknown } }).cause?.code;
    return {
      ...base,
      status: 0,
      decision: null,
      served: null,
      id: null,
      code: controller.signal.aborted ? "aborted" : typeof cause === "string" ? cause : null,
      ms: Date.now() - started,
      complete: false,
    };
  } finally {
    clearTimeout(hangUp);
    clearTimeout(timeout);
  }
}

/** Answers by status, as "200:12 403:4". */
export function byStatus(outcomes: readonly Outcome[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const o of outcomes) out[String(o.status)] = (out[String(o.status)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(out).sort());
}

/** A request whose answer acted on a recorded decision: served, or refused by the policy. */
export const acknowledged = (o: Outcome): boolean =>
  o.id !== null && (o.status === 200 || (o.status === 403 && o.decision === "deny"));

/** Percentile of a list of numbers (p in 0..100). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] as number;
}

/**
 * The access log: one JSON line per request (pino), with the request id, the decision, its reason
 * and the timings. What a line may hold is chosen here field by field — never the request's
 * headers or body — so API keys, admin tokens, bearer tokens and prompts cannot reach it: the key
 * is named by its public id only, the path is logged without its query string.
 */
import { pino, type DestinationStream, type Logger } from "pino";
import type { ObservedRequest } from "../gateway/observer.js";

export interface AccessLogOptions {
  /** "stdout", "stderr", or a file path (appended to). */
  readonly destination: string;
  /** Instead of the destination (tests): where lines are written. */
  readonly stream?: DestinationStream;
}

export interface AccessLog {
  write(o: ObservedRequest): void;
  flush(): Promise<void>;
}

const ms = (from: number | null, to: number | null): number | null =>
  from === null || to === null ? null : Math.round((to - from) * 1000) / 1000;

export function openAccessLog(options: AccessLogOptions): AccessLog {
  const dest =
    options.stream ??
    pino.destination({
      dest: options.destination === "stdout" ? 1 : options.destination === "stderr" ? 2 : options.destination,
      // Lines are gathered and written in chunks: a write per request would cost a syscall each.
      minLength: 4096,
      sync: false,
      mkdir: true,
    });
  const logger: Logger = pino(
    { base: null, messageKey: "msg", timestamp: pino.stdTimeFunctions.isoTime },
    dest,
  );
  return {
    write(o) {
      const d = o.decision;
      logger.info(
        {
          request_id: o.requestId,
          method: o.method,
          path: o.path,
          status: o.status,
          decision: d?.decision ?? "none",
          reason: o.reason,
          model: d?.model ?? null,
          served_model: d?.served_model ?? null,
          principal: o.principal?.id ?? null,
          key: o.credential,
          location: o.location,
          client: o.peer ?? null,
          audit_index: o.auditIndex === null ? null : Number(o.auditIndex),
          ms: {
            total: ms(o.start, o.end),
            overhead: ms(o.start, o.forwarded ?? o.end),
            audit_append: ms(o.decided, o.recorded),
            upstream: ms(o.forwarded, o.answered),
            first_chunk: ms(o.forwarded, o.firstChunk),
          },
          tokens: o.inputTokens === null ? null : { input: o.inputTokens, output: o.outputTokens },
        },
        "request",
      );
    },
    flush() {
      const flushable = dest as { flush?: (cb: (err?: Error) => void) => void; flushSync?: () => void };
      if (typeof flushable.flush !== "function") return Promise.resolve();
      return new Promise((resolve) => flushable.flush?.(() => resolve()));
    },
  };
}

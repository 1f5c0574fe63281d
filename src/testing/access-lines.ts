/**
 * A test gateway's access lines by request id: pass `sink` as `accessLog`, then await a request's
 * line with `lineOf` (resolved once the observer has written it, which may be after the answer).
 */
export function accessLines(): {
  readonly sink: (text: string) => void;
  readonly lineOf: (id: string) => Promise<Record<string, unknown>>;
} {
  const waiting = new Map<string, (line: Record<string, unknown>) => void>();
  const seen = new Map<string, Record<string, unknown>>();
  return {
    sink: (text) => {
      const line = JSON.parse(text) as Record<string, unknown>;
      const id = line.request_id as string;
      seen.set(id, line);
      waiting.get(id)?.(line);
    },
    lineOf: (id) =>
      new Promise((resolve) => {
        const line = seen.get(id);
        if (line !== undefined) resolve(line);
        else waiting.set(id, resolve);
      }),
  };
}

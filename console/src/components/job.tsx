/**
 * Long jobs (a rescreen, a list import, a what-if, a report): while one runs, a progress bar with
 * the stage the server names and how far it is (its progress lines, `apiWithProgress`), or, before
 * the first of them, a busy bar; the time spent (shown only: not announced); announced to screen
 * readers; then its result or its error.
 */
import { useEffect, useRef, useState } from "react";
import { apiError, parseBody, send, session, type JobProgress } from "../api.js";

export interface Job<T> {
  readonly running: boolean;
  readonly started: number | null;
  /** The server's last progress line for the running job, if it sent any. */
  readonly progress: JobProgress | null;
  readonly result: T | null;
  readonly error: Error | null;
  run(work: (report: (p: JobProgress) => void) => Promise<T>): Promise<T | null>;
  reset(): void;
}

export function useJob<T>(): Job<T> {
  const [state, setState] = useState<{
    running: boolean;
    started: number | null;
    result: T | null;
    error: Error | null;
  }>({ running: false, started: null, result: null, error: null });
  const [progress, setProgress] = useState<JobProgress | null>(null);
  // Whether the component is still mounted (set in the effect: React may mount it twice).
  const live = useRef(false);
  useEffect(() => {
    live.current = true;
    return () => {
      live.current = false;
    };
  }, []);
  return {
    ...state,
    progress,
    async run(work) {
      setState({ running: true, started: Date.now(), result: null, error: null });
      setProgress(null);
      try {
        const result = await work((p) => live.current && setProgress(p));
        if (live.current) setState({ running: false, started: null, result, error: null });
        return result;
      } catch (error) {
        if (live.current) setState({ running: false, started: null, result: null, error: error as Error });
        return null;
      }
    },
    reset: () => setState({ running: false, started: null, result: null, error: null }),
  };
}

/**
 * "Running the what-if… 12 s" with a busy bar, or, once the server says how far it is, its stage and
 * a bar filled that far ("grouping and deciding the population: 40%").
 */
export function Working({
  label,
  started,
  progress = null,
}: {
  label: string;
  started: number | null;
  progress?: JobProgress | null;
}) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  const seconds = started === null ? 0 : Math.max(0, Math.round((now - started) / 1000));
  return (
    <div className="progress" role="status">
      <label>
        {label}
        {progress !== null && progress.total > 0 ? (
          <progress value={progress.done} max={progress.total} />
        ) : (
          <progress aria-busy="true" />
        )}
      </label>
      {progress !== null ? (
        <span className="progress-stage">
          {progress.stage}
          {progress.total > 0 ? `: ${Math.floor((100 * progress.done) / progress.total)}%` : ""}
        </span>
      ) : null}
      {/* Seen, not announced: in the live region, a counter changing every second was read out every second. */}
      <span aria-hidden="true">{seconds} s</span>
    </div>
  );
}

/** A report the API renders as CSV, HTML or text (not JSON), fetched with the caller's token. */
export async function apiText(method: "GET" | "POST", path: string, body?: unknown): Promise<string> {
  const token = session.token;
  const res = await send(method, path, body, null, token);
  const text = await res.text();
  if (!res.ok) throw apiError(res.status, parseBody(text), token, res.statusText);
  return text;
}

/** Saves `text` as a file the browser downloads (the token never appears in a URL). */
export function saveFile(name: string, type: string, text: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

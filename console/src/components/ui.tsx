/** Small shared pieces: loading and error states, status badges, progress, a page heading. */
import { useCallback, useEffect, useMemo, useRef, useState, type ReactNode } from "react";
import type { Bounded } from "../api.js";
import { instantText } from "./dates.js";
import { visible } from "./text.js";

export function useLoad<T>(load: () => Promise<T>, deps: readonly unknown[]) {
  // `of`: the read (its deps) the state is of. What was read for other deps (another license's id,
  // another version) is never this read's: it is not shown while this one loads, nor kept when it
  // fails — only a reload of the same deps keeps what it read before.
  const [state, setState] = useState<{
    data: T | null;
    error: Error | null;
    loading: boolean;
    of: unknown;
  }>({ data: null, error: null, loading: true, of: null });
  // The latest read: an older one answering late (two changes made in a row, each reloading; the
  // deps changed during a reload) is dropped, not shown over what the newer one read.
  const newest = useRef(0);
  const of = useMemo(() => ({}), deps);
  const run = useCallback(() => {
    const read = ++newest.current;
    const live = () => read === newest.current;
    setState((s) => (s.of === of ? { ...s, loading: true } : { data: null, error: null, loading: true, of }));
    load().then(
      (data) => live() && setState({ data, error: null, loading: false, of }),
      // A reload that fails keeps what was read before (and the forms under it: a key shown once,
      // what was typed), with the failure said above it, rather than the page replaced by the error.
      (error: Error) =>
        live() && setState((s) => ({ data: s.of === of ? s.data : null, error, loading: false, of })),
    );
    return () => {
      if (live()) newest.current++;
    };
  }, [of]);
  useEffect(run, [run]);
  const { of: read, ...shown } = state;
  return { ...(read === of ? shown : { data: null, error: null, loading: true }), reload: run };
}

export function Loading<T>({
  state,
  children,
}: {
  state: { data: T | null; error: Error | null; loading: boolean };
  children: (data: T) => ReactNode;
}) {
  if (state.error && state.data === null)
    return (
      <div className="form-error" role="alert">
        {visible(state.error.message)}
      </div>
    );
  if (state.data === null) return <p aria-live="polite">Loading…</p>;
  return (
    <>
      {state.error ? (
        <div className="form-error" role="alert">
          The server could not be read ({visible(state.error.message)}): what is shown is as read before.
        </div>
      ) : null}
      {children(state.data)}
    </>
  );
}

/**
 * Stored text (a name, a label, a reason, a note): control characters and bidirectional overrides
 * written as their code point, isolated from the text around it (text.ts).
 */
export function Shown({ text }: { text: string | null | undefined }) {
  return <bdi>{visible(text)}</bdi>;
}

/**
 * A stored instant as the console writes one (instantText): in UTC, saying so, cut to the second (or
 * the minute), whatever offset or format it was stored with ("2030-12-31T23:00:00-05:00" is
 * 2031-01-01 04:00 UTC, an RFC 1123 date read whole). A text that is not an instant (an older
 * release or another writer may have left one holding a control) is shown whole, written out
 * (Shown), and not said to be UTC. Null or absent: "—".
 */
export function ShownTime({
  at,
  to = "second",
}: {
  at: string | null | undefined;
  to?: "second" | "minute";
}) {
  return <Shown text={at === null || at === undefined ? at : instantText(String(at), to)} />;
}

/**
 * Stored values one after another (a principal's citizenships, a list entry's programs), each
 * isolated on its own: a right-to-left override in one must not reorder the next.
 */
export function ShownAll({
  items,
  separator = ", ",
}: {
  items: readonly (string | null | undefined)[] | null | undefined;
  separator?: string;
}) {
  if (items === undefined || items === null || items.length === 0) return <>—</>;
  return (
    <>
      {items.map((t, i) => (
        <span key={i}>
          {i === 0 ? null : separator}
          <Shown text={t} />
        </span>
      ))}
    </>
  );
}

/** A status as stored (a principal's screening status is the store's text): written out too. */
export function Status({ value }: { value: string }) {
  return (
    <span className={`status status-${value}`}>
      <Shown text={value} />
    </span>
  );
}

export function Progress({ label, done, total }: { label: string; done: number; total: number }) {
  const pct = total === 0 ? 100 : Math.round((done / total) * 100);
  return (
    <div className="progress">
      <label>
        {label} ({done.toLocaleString()} of {total.toLocaleString()})
        <progress max={total || 1} value={done} />
      </label>
      <span aria-hidden="true">{pct}%</span>
    </div>
  );
}

export function PageHeading({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="page-heading">
      <h1>{title}</h1>
      {children ? <div className="page-actions">{children}</div> : null}
    </header>
  );
}

/** "3 keys", or "the first 500 of more than 500 keys" for a list cut at its bound (listFirst). */
export function counted(list: Bounded<unknown>, one: string, many: string): string {
  const n = list.rows.length;
  const shown = n.toLocaleString("en");
  return list.more ? `the first ${shown} of more than ${shown} ${many}` : `${shown} ${n === 1 ? one : many}`;
}

/**
 * Said beside a list cut at its bound (listFirst): what is shown is not all of it, and where the
 * rest is — a compliance officer must not take the first 500 keys or matches for every one.
 */
export function MoreNotShown({ list, what, path }: { list: Bounded<unknown>; what: string; path: string }) {
  if (!list.more) return null;
  return (
    <p className="partial" role="note">
      Showing the first {list.rows.length.toLocaleString("en")} {what} (by id) only: there are more, not shown
      here. The admin API lists them all (GET /admin/v1{path}, page by page with its next_cursor).
    </p>
  );
}

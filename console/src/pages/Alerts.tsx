/**
 * Alerts: what the anomaly detectors raised, newest first or most severe first, a page at a time,
 * filtered by the API by state, detector and severity (by the page, saying so, from a node of a
 * release before the severity filter; listed newest first, saying so, by a node of a release before
 * most severe first: alerts-data.ts); each with its subject, its evidence (the audit log entries, each a link
 * to it on the Audit page), what was done automatically (and whether it was not yet in force where
 * it was taken), its steps, and where its delivery stands (held behind an earlier alert of its
 * subject, failed with its tries and last error, delivered). An officer acknowledges or resolves it
 * with a note. The filters and the order are kept in the page's address (`?state=open&order=severity`:
 * a link, a reload), a value it does not offer left aside and said (alerts-data.ts).
 */
import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import {
  ALERT_DETECTORS,
  ALERT_SEVERITIES,
  ALERT_STATES,
  alertNoteSchema,
} from "../../../src/alerts/schema.js";
import type { AlertRecord, AlertView } from "../../../src/store/alerts.js";
import { api } from "../api.js";
import { Select, TextField, submissionErrors, useBusy, zodErrors } from "../components/form.js";
import { Loading, PageHeading, Shown, ShownTime, Status, useLoad } from "../components/ui.js";
import { can, type Me } from "../roles.js";
import { Link, navigate, useLocation } from "../router.js";
import {
  ALERT_ORDERS,
  alertsPage,
  ANY,
  filtersFromQuery,
  ignoredFilterNote,
  loadOpen,
  newestInsteadNote,
  OPEN_MOST_SEVERE,
  queryOfFilters,
  severityHereNote,
  type AlertFilters,
  type ChosenFilters,
  type AlertOrder,
  type AlertsRead,
} from "./alerts-data.js";

const ask = <T,>(path: string) => api<T>("GET", path);

/** The alerts page's list: the first page for the filters, then older pages on request. */
function useAlerts({ state, detector, severity, order }: AlertFilters) {
  const [read, setRead] = useState<AlertsRead | null>(null);
  const [error, setError] = useState<Error | null>(null);
  const [loading, setLoading] = useState(false);
  // The latest request: an older one answering late (the filters changed since) is dropped.
  const newest = useRef(0);
  const load = useCallback(
    async (from: AlertsRead | null) => {
      const request = ++newest.current;
      setLoading(true);
      try {
        const next = await alertsPage(ask, { state, detector, severity, order }, from);
        if (request !== newest.current) return;
        setRead(next);
        setError(null);
      } catch (err) {
        if (request === newest.current) setError(err as Error);
      } finally {
        if (request === newest.current) setLoading(false);
      }
    },
    [state, detector, severity, order],
  );
  useEffect(() => {
    setRead(null);
    void load(null);
  }, [load]);
  return { read, error, loading, reload: () => void load(null), more: () => void load(read) };
}

/**
 * A node of an earlier release (a rolling upgrade) did not list most severe first: listed newest
 * first (newestInsteadNote); or it did not filter by severity: the page did, among the alerts read,
 * so further ones of that severity may not be shown yet (severityHereNote).
 */
function EarlierRelease({ read, order }: { read: AlertsRead; order: AlertOrder }) {
  const notes = [newestInsteadNote(read), severityHereNote(read, order)].filter((n) => n !== null);
  return notes.map((note) => (
    <p key={note} className="hint" role="note">
      {note}
    </p>
  ));
}

export function AlertsPage({ me }: { me: Me }) {
  // The filters are the page's address (a link, a reload keeps them): read from it, each choice
  // written back into it (replacing it: Back leaves the page rather than undoing a choice). A value
  // the page does not offer is left aside, the default shown, and said (ignored).
  const { path, query } = useLocation();
  const { filters, ignored } = filtersFromQuery(query);
  const { state, detector, severity, order } = filters;
  const choose = (change: Partial<ChosenFilters>) =>
    navigate(`${path}${queryOfFilters({ ...filters, ...change })}`, { replace: true });
  // Every filter applied by the API (the severity was filtered here, over the pages read: a page of
  // 100 showed none of a severity while older alerts had it), and the order too (most severe first
  // ordered here would have been the pages read so far, not every alert).
  const alerts = useAlerts({ state, detector, severity, order });
  // As listed: most severe first unless the node listed newest first (an earlier release).
  const severest = order === "severity" && alerts.read?.newestInstead !== true;
  const shown = alerts.read?.alerts ?? null;
  const none = {};
  // The rows shown: a held alert links to the one it waits behind when that one is among them.
  const listed = new Set(shown?.map((a) => a.id));
  return (
    <section>
      <PageHeading title="Alerts" />
      <form className="row" aria-label="Filter alerts" onSubmit={(e) => e.preventDefault()}>
        <Select
          label="State"
          name="state"
          value={state}
          options={[ANY, ...ALERT_STATES]}
          onChange={(v) => choose({ state: v })}
          errors={none}
        />
        <Select
          label="Detector"
          name="detector"
          value={detector}
          options={[ANY, ...ALERT_DETECTORS]}
          onChange={(v) => choose({ detector: v })}
          errors={none}
        />
        <Select
          label="Severity"
          name="severity"
          value={severity}
          options={[ANY, ...ALERT_SEVERITIES]}
          onChange={(v) => choose({ severity: v })}
          errors={none}
        />
        <Select
          label="Order"
          name="order"
          value={order}
          options={ALERT_ORDERS}
          onChange={(v) => choose({ order: v === "severity" ? "severity" : "newest" })}
          errors={none}
        />
      </form>
      {ignored.map((i) => (
        <p key={i.parameter} className="hint" role="note">
          {ignoredFilterNote(i)}
        </p>
      ))}
      {alerts.read === null ? null : <EarlierRelease read={alerts.read} order={order} />}
      <Loading state={{ data: shown, error: alerts.error, loading: alerts.loading }}>
        {(list) =>
          list.length === 0 ? (
            <p>
              No alert matches these filters
              {alerts.read?.severityHere != null && alerts.read.next !== null
                ? ` among the ${severest ? "" : "newest "}${alerts.read.severityHere} read`
                : ""}
              .
            </p>
          ) : (
            <div className="table-wrap">
              <table>
                <caption className="hint">
                  {list.length} alert{list.length === 1 ? "" : "s"},{" "}
                  {severest ? "most severe first (the newest first within a severity)" : "newest first"}
                  {alerts.read?.next != null ? ", more on request" : ""}
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Raised</th>
                    <th scope="col">Severity</th>
                    <th scope="col">Detector</th>
                    <th scope="col">Subject</th>
                    <th scope="col">What was seen</th>
                    <th scope="col">Evidence</th>
                    <th scope="col">State</th>
                    {can.manage(me) ? <th scope="col">Act</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {list.map((a) => (
                    <tr key={a.id} id={rowId(a.id)}>
                      <td>
                        <ShownTime at={a.raised_at} />
                      </td>
                      <td>
                        <Status value={a.severity} />
                      </td>
                      <td>
                        <Shown text={a.detector} />
                      </td>
                      <td>
                        <Shown text={a.subject.kind} />{" "}
                        <span className="mono">
                          <Shown text={a.subject.id} />
                        </span>
                      </td>
                      <td>
                        <Shown text={a.summary} />
                        {a.response ? <Response response={a.response} /> : null}
                      </td>
                      <td>
                        <Evidence alert={a} />
                      </td>
                      <td>
                        <Status value={a.state} />
                        <Delivery alert={a} listed={listed} />
                        {a.history
                          .filter((s) => s.state !== "open")
                          .map((s) => (
                            <div key={`${s.state}${s.at}`} className="hint">
                              <Shown text={s.state} /> by <Shown text={s.actor} />, <ShownTime at={s.at} />
                              {s.note ? (
                                <>
                                  : <Shown text={s.note} />
                                </>
                              ) : null}
                            </div>
                          ))}
                      </td>
                      {can.manage(me) ? (
                        <td>
                          <StepForm alert={a} onDone={alerts.reload} />
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )
        }
      </Loading>
      {alerts.read?.next != null ? (
        <button type="button" className="secondary" disabled={alerts.loading} onClick={alerts.more}>
          {severest ? "Show more alerts" : "Show older alerts"}
        </button>
      ) : null}
      {alerts.loading && alerts.read !== null ? <p aria-live="polite">Loading…</p> : null}
    </section>
  );
}

const rowId = (id: string) => `alert-${id}`;

/**
 * What was done automatically, and, when the node that took it could not reload right after, that
 * it was not yet in force there when recorded (the subject still let through until that node's next
 * successful reload): the alert read as done while it was not.
 */
function Response({ response }: { response: NonNullable<AlertRecord["response"]> }) {
  const pending = response.not_yet_in_force;
  return (
    <>
      <div className="hint">
        Done automatically: <Shown text={response.action} /> (<Shown text={response.result} />)
      </div>
      {pending ? (
        <div className="field-error">
          {/* The node named (stored text), so an officer knows which one still let the subject
              through; a response stored before nodes were named keeps the general wording. */}
          {pending.node === undefined ? (
            <>Not yet in force on the node that took it, when recorded: </>
          ) : (
            <>
              Not yet in force on node <Shown text={pending.node} /> when recorded:{" "}
            </>
          )}
          <Shown text={pending.message} />
        </div>
      ) : null}
    </>
  );
}

/**
 * Where the alert's webhook delivery stands (nothing when no webhook was configured): delivered, and
 * when; held until an earlier alert of its subject is delivered (a receiver refusing that one holds
 * back the rest), which one, linked to its row when it is among those shown; failed, how many tries
 * and the receiver's last error (stored text), tried again; in flight; or not yet tried. Before,
 * only a held one said anything: a failing head read as on its way.
 */
function Delivery({ alert, listed }: { alert: AlertView; listed: ReadonlySet<string> }) {
  const d = alert.delivery;
  if (d.state === "delivered")
    return (
      <div className="hint">
        Delivered {d.delivered_at === null ? "" : <ShownTime at={d.delivered_at} />}
        {d.attempts > 1 ? ` after ${d.attempts} tries` : ""}
      </div>
    );
  if (d.state !== "pending") return null;
  if (d.held) {
    const behind = d.held_behind;
    return (
      <div className="hint">
        Delivery waiting behind{" "}
        {behind === null ? (
          "an earlier alert of its subject"
        ) : listed.has(behind) ? (
          <a href={`#${rowId(behind)}`} className="mono">
            {behind}
          </a>
        ) : (
          <span className="mono">{behind}</span>
        )}
      </div>
    );
  }
  // A claim counts a try and leaves the last error: with one, the head failed before (and may be
  // in flight again); without, its first try is in flight.
  if (d.last_error !== null)
    return (
      <div className="field-error">
        Delivery failed ({d.attempts} {d.attempts === 1 ? "try" : "tries"} so far
        {d.next_at === null ? (
          ""
        ) : (
          <>
            , next from <ShownTime at={d.next_at} />
          </>
        )}
        ): <Shown text={d.last_error} />
      </div>
    );
  return <div className="hint">{d.attempts > 0 ? "Delivering" : "Delivery pending"}</div>;
}

function Evidence({ alert }: { alert: AlertRecord }) {
  const indexes = alert.evidence.audit_indexes;
  if (indexes.length === 0) return <>—</>;
  const shown = indexes.slice(0, 5);
  return (
    <>
      <span className="hint">Audit entries </span>
      {shown.map((i, k) => (
        <span key={i}>
          {k > 0 ? ", " : ""}
          <Link to={`/audit?entry=${i}`}>{i}</Link>
        </span>
      ))}
      {indexes.length > shown.length ? <span> and {indexes.length - shown.length} more</span> : null}
    </>
  );
}

function StepForm({ alert, onDone }: { alert: AlertRecord; onDone: () => void }) {
  const [note, setNote] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const sending = useBusy();
  if (alert.state === "resolved") return <>—</>;
  const step = (verb: "acknowledge" | "resolve") =>
    sending.run(async () => {
      const body = note.trim() === "" ? {} : { note: note.trim() };
      const checked = alertNoteSchema.safeParse(body);
      if (!checked.success) return setErrors(zodErrors(checked.error));
      try {
        await api("POST", `/alerts/${encodeURIComponent(alert.id)}/${verb}`, body);
        setErrors({});
        setNote("");
        onDone();
      } catch (err) {
        const r = submissionErrors(err, ["note"]);
        setErrors({ ...r.fields, ...(Object.keys(r.fields).length === 0 && r.form ? { note: r.form } : {}) });
      }
    });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void step(alert.state === "open" ? "acknowledge" : "resolve");
  };
  return (
    <form onSubmit={submit} noValidate className="compact" aria-label={`Act on alert ${alert.id}`}>
      <TextField label="Note" name="note" value={note} onChange={setNote} errors={errors} />
      <div className="row">
        {alert.state === "open" ? (
          <button type="button" disabled={sending.busy} onClick={() => void step("acknowledge")}>
            Acknowledge
          </button>
        ) : null}
        <button
          type="button"
          className="secondary"
          disabled={sending.busy}
          onClick={() => void step("resolve")}
        >
          Resolve
        </button>
      </div>
    </form>
  );
}

/**
 * The Overview's panel: the open alerts, most severe first, with a link to the page listing them
 * so (before, to the page's defaults, newest first: the alerts shown here were not the first there).
 */
export function OpenAlerts() {
  const state = useLoad(() => loadOpen(ask), []);
  return (
    <div className="panel">
      <h2>Open alerts</h2>
      <Loading state={state}>
        {({ count, severest, amongNewest }) =>
          count === 0 && severest.length === 0 ? (
            <p>No open alert.</p>
          ) : (
            <>
              <p>
                {count} open alert{count === 1 ? "" : "s"}.
                {count > severest.length
                  ? amongNewest === null || amongNewest >= count
                    ? ` The ${severest.length} most severe:`
                    : ` The ${severest.length} most severe of the newest ${amongNewest}:`
                  : ""}
              </p>
              {amongNewest !== null && amongNewest < count ? (
                <p className="hint" role="note">
                  The node that answered (an earlier release) does not list alerts most severe first: an older
                  alert may be more severe.
                </p>
              ) : null}
              <ul className="plain">
                {severest.map((a) => (
                  <li key={a.id}>
                    <Status value={a.severity} /> <Shown text={a.detector} />: <Shown text={a.summary} />
                  </li>
                ))}
              </ul>
            </>
          )
        }
      </Loading>
      <p>
        {/* The Alerts page as the panel lists them: open, most severe first. */}
        <Link to={OPEN_MOST_SEVERE}>All open alerts, most severe first</Link>
      </p>
    </div>
  );
}

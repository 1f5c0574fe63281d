/**
 * Alerts: what the anomaly detectors raised, filtered by state, detector and severity; each with
 * its subject, its evidence (the audit log entries, each a link to it on the Audit page), what was
 * done automatically, and its steps. An officer acknowledges or resolves it with a note.
 */
import { useState, type FormEvent } from "react";
import {
  ALERT_DETECTORS,
  ALERT_SEVERITIES,
  ALERT_STATES,
  alertNoteSchema,
} from "../../../src/alerts/schema.js";
import type { AlertRecord } from "../../../src/store/alerts.js";
import { api, listAll } from "../api.js";
import { Select, TextField, submissionErrors, zodErrors } from "../components/form.js";
import { Loading, PageHeading, Status, useLoad } from "../components/ui.js";
import { can, type Me } from "../roles.js";
import { Link, useLocation } from "../router.js";

const ANY = "any";
const when = (iso: string) => iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC");

/** The alerts, newest first, as the API filters them (state, detector) and severity here. */
export async function loadAlerts(filter: {
  state?: string;
  detector?: string;
  severity?: string;
}): Promise<AlertRecord[]> {
  const q = new URLSearchParams();
  if (filter.state && filter.state !== ANY) q.set("state", filter.state);
  if (filter.detector && filter.detector !== ANY) q.set("detector", filter.detector);
  const all = await listAll<AlertRecord>(`/alerts${q.size > 0 ? `?${q}` : ""}`);
  return all
    .filter((a) => !filter.severity || filter.severity === ANY || a.severity === filter.severity)
    .reverse();
}

export function AlertsPage({ me }: { me: Me }) {
  const { query } = useLocation();
  const [state, setState] = useState(query.get("state") ?? "open");
  const [detector, setDetector] = useState(ANY);
  const [severity, setSeverity] = useState(ANY);
  const alerts = useLoad(() => loadAlerts({ state, detector, severity }), [state, detector, severity]);
  const none = {};
  return (
    <section>
      <PageHeading title="Alerts" />
      <form className="row" aria-label="Filter alerts" onSubmit={(e) => e.preventDefault()}>
        <Select
          label="State"
          name="state"
          value={state}
          options={[ANY, ...ALERT_STATES]}
          onChange={setState}
          errors={none}
        />
        <Select
          label="Detector"
          name="detector"
          value={detector}
          options={[ANY, ...ALERT_DETECTORS]}
          onChange={setDetector}
          errors={none}
        />
        <Select
          label="Severity"
          name="severity"
          value={severity}
          options={[ANY, ...ALERT_SEVERITIES]}
          onChange={setSeverity}
          errors={none}
        />
      </form>
      <Loading state={alerts}>
        {(list) =>
          list.length === 0 ? (
            <p>No alert matches these filters.</p>
          ) : (
            <div className="table-wrap">
              <table>
                <caption className="hint">
                  {list.length} alert{list.length === 1 ? "" : "s"}, newest first
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
                    <tr key={a.id}>
                      <td>{when(a.raised_at)}</td>
                      <td>
                        <Status value={a.severity} />
                      </td>
                      <td>{a.detector}</td>
                      <td>
                        {a.subject.kind} <span className="mono">{a.subject.id}</span>
                      </td>
                      <td>
                        {a.summary}
                        {a.response ? (
                          <div className="hint">
                            Done automatically: {a.response.action} ({a.response.result})
                          </div>
                        ) : null}
                      </td>
                      <td>
                        <Evidence alert={a} />
                      </td>
                      <td>
                        <Status value={a.state} />
                        {a.history
                          .filter((s) => s.state !== "open")
                          .map((s) => (
                            <div key={`${s.state}${s.at}`} className="hint">
                              {s.state} by {s.actor}, {when(s.at)}
                              {s.note ? `: ${s.note}` : ""}
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
    </section>
  );
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
  if (alert.state === "resolved") return <>—</>;
  const step = async (verb: "acknowledge" | "resolve") => {
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
  };
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void step(alert.state === "open" ? "acknowledge" : "resolve");
  };
  return (
    <form onSubmit={submit} noValidate className="compact" aria-label={`Act on alert ${alert.id}`}>
      <TextField label="Note" name="note" value={note} onChange={setNote} errors={errors} />
      <div className="row">
        {alert.state === "open" ? (
          <button type="button" onClick={() => void step("acknowledge")}>
            Acknowledge
          </button>
        ) : null}
        <button type="button" className="secondary" onClick={() => void step("resolve")}>
          Resolve
        </button>
      </div>
    </form>
  );
}

/** The Overview's panel: the open alerts, most severe first, with a link to the page. */
export function OpenAlerts() {
  const state = useLoad(() => loadAlerts({ state: "open" }), []);
  const rank = (s: string) => ALERT_SEVERITIES.indexOf(s as (typeof ALERT_SEVERITIES)[number]);
  return (
    <div className="panel">
      <h2>Open alerts</h2>
      <Loading state={state}>
        {(open) =>
          open.length === 0 ? (
            <p>No open alert.</p>
          ) : (
            <>
              <p>
                {open.length} open alert{open.length === 1 ? "" : "s"}.
              </p>
              <ul className="plain">
                {[...open]
                  .sort((a, b) => rank(b.severity) - rank(a.severity))
                  .slice(0, 5)
                  .map((a) => (
                    <li key={a.id}>
                      <Status value={a.severity} /> {a.detector}: {a.summary}
                    </li>
                  ))}
              </ul>
            </>
          )
        }
      </Loading>
      <p>
        <Link to="/alerts">All alerts</Link>
      </p>
    </div>
  );
}

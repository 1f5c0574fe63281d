/**
 * Overview: a world map of what the gateway decided, by request location, for a period (requests,
 * denials or fallbacks), read from the audit log itself; a country's footprint on click (which
 * models were served there and on what basis); the open alerts; the log's size and last checkpoint;
 * token usage. Model lookups are decisions but not requests: counted apart (overview-data.ts).
 */
import { useEffect, useMemo, useState } from "react";
import { api } from "../api.js";
import {
  bundlesNewestFirst,
  latestCheckpoint,
  parseEntry,
  readBundle,
  type Checkpoint,
} from "../audit/log.js";
import { aggregate, OVERVIEW_LIMIT, type Aggregate, type CountryStats } from "./overview-data.js";
import { visible } from "../components/text.js";
import { Loading, PageHeading, Progress, Shown, useLoad } from "../components/ui.js";
import { can, type Me } from "../roles.js";
import { Link } from "../router.js";
import { OpenAlerts } from "./Alerts.js";
import { WorldMap, countryName, scaleFor } from "./WorldMap.js";

type Metric = "requests" | "denials" | "fallbacks";
const METRICS: readonly Metric[] = ["requests", "denials", "fallbacks"];
const PALETTES: Readonly<Record<Metric, readonly string[]>> = {
  requests: ["#c6dbef", "#9ecae1", "#6baed6", "#3182bd", "#08519c"],
  denials: ["#fcbba1", "#fc9272", "#fb6a4a", "#de2d26", "#a50f15"],
  fallbacks: ["#fee6ce", "#fdd0a2", "#fdae6b", "#e6550d", "#a63603"],
};
const PERIODS = [
  { value: "1", label: "the last 24 hours" },
  { value: "7", label: "the last 7 days" },
  { value: "30", label: "the last 30 days" },
  { value: "all", label: "all time" },
];

/** The gateway's published log, read over HTTP like any verifier. */
const PUBLISHED_LOG = {
  latest: latestCheckpoint,
  bundles: bundlesNewestFirst,
  read: readBundle,
  parse: parseEntry,
};

export function OverviewPage({ me }: { me: Me }) {
  const [period, setPeriod] = useState("30");
  const [metric, setMetric] = useState<Metric>("requests");
  const [selected, setSelected] = useState<string | null>(null);
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [data, setData] = useState<Aggregate | null>(null);
  const [error, setError] = useState<string | null>(null);
  const checkpoint = useLoad(async () => (await latestCheckpoint())?.checkpoint ?? null, []);

  useEffect(() => {
    // Aborted when the page is left or another period chosen: the scan stops reading, rather than
    // going on downloading the log beside the next one.
    const scan = new AbortController();
    const live = () => !scan.signal.aborted;
    const since = period === "all" ? null : Date.now() - Number(period) * 86_400_000;
    setProgress({ done: 0, total: 0 });
    aggregate(
      PUBLISHED_LOG,
      since,
      (done, total) => live() && setProgress({ done, total }),
      OVERVIEW_LIMIT,
      scan.signal,
    ).then(
      (a) => live() && (setData(a), setProgress(null)),
      (err: Error) => live() && (setError(err.message), setProgress(null)),
    );
    return () => scan.abort();
  }, [period]);

  const values = useMemo(
    () => new Map([...(data?.byCountry ?? new Map<string, CountryStats>())].map(([c, s]) => [c, s[metric]])),
    [data, metric],
  );
  const max = Math.max(0, ...values.values());
  const periodLabel = PERIODS.find((p) => p.value === period)?.label ?? "";
  const ranked = [...(data?.byCountry ?? new Map<string, CountryStats>())].sort(
    (a, b) => b[1][metric] - a[1][metric],
  );
  const chosen = selected === null ? undefined : data?.byCountry.get(selected);

  return (
    <section>
      <PageHeading title="Overview" />
      <div className="panel">
        <h2>Decisions by request location</h2>
        <div className="row">
          <div className="field">
            <label htmlFor="period">Period</label>
            <select id="period" value={period} onChange={(e) => setPeriod(e.target.value)}>
              {PERIODS.map((p) => (
                <option key={p.value} value={p.value}>
                  {p.label}
                </option>
              ))}
            </select>
          </div>
          <fieldset className="field checkboxes">
            <legend>Show</legend>
            {METRICS.map((m) => (
              <label key={m} className="check">
                <input
                  type="radio"
                  name="metric"
                  value={m}
                  checked={metric === m}
                  onChange={() => setMetric(m)}
                />
                {m}
              </label>
            ))}
          </fieldset>
        </div>
        {error ? (
          <div className="form-error" role="alert">
            {visible(error)}
          </div>
        ) : null}
        <div aria-live="polite">
          {progress !== null ? (
            <Progress label="Reading the audit log" done={progress.done} total={progress.total} />
          ) : null}
          {data !== null && progress === null ? (
            <p>
              {data.decisions.toLocaleString("en")} decisions in {periodLabel}
              {data.partial !== null ? ` read back to ${visible(data.partial.since)}` : ""}:{" "}
              {(data.decisions - data.lookups).toLocaleString("en")} requests
              {data.unknown > 0
                ? ` (${data.unknown.toLocaleString("en")} from an unknown location)`
                : ""} and {data.lookups.toLocaleString("en")} model{" "}
              {data.lookups === 1 ? "lookup" : "lookups"}.
              {data.lookups > 0
                ? " A lookup (GET /v1/models/{id}) says which model a caller would be served; it serves nothing and is not counted as a request."
                : ""}
              {data.partial !== null
                ? ` Only the latest ${OVERVIEW_LIMIT.toLocaleString("en")} entries are read in the browser; the footprint report (What-if page) covers the whole period.`
                : ""}
            </p>
          ) : null}
        </div>
        <div className="grid2 map-grid">
          <WorldMap
            values={values}
            label={`${metric} by request location, ${periodLabel}`}
            scale={scaleFor(max, PALETTES[metric])}
            selected={selected}
            onSelect={setSelected}
          />
          <div>
            {selected !== null ? (
              <div className="panel" aria-live="polite">
                <h3>
                  <Shown text={countryName(selected)} /> (<Shown text={selected} />)
                </h3>
                {chosen === undefined ? (
                  <p>No decision for a request from here in {periodLabel}.</p>
                ) : (
                  <>
                    <p>
                      {chosen.requests} requests: {chosen.denials} denied, {chosen.fallbacks} served by a
                      fallback.
                      {chosen.lookups > 0
                        ? ` Also ${chosen.lookups} model ${chosen.lookups === 1 ? "lookup" : "lookups"}, not counted as requests.`
                        : ""}
                    </p>
                    <table>
                      <caption className="hint">Footprint: model asked → model served · basis</caption>
                      <thead>
                        <tr>
                          <th scope="col">Served, and on what basis</th>
                          <th scope="col">Requests</th>
                        </tr>
                      </thead>
                      <tbody>
                        {[...chosen.served]
                          .sort((a, b) => b[1] - a[1])
                          .map(([k, n]) => (
                            <tr key={k}>
                              <td>
                                <Shown text={k} />
                              </td>
                              <td>{n}</td>
                            </tr>
                          ))}
                      </tbody>
                    </table>
                  </>
                )}
              </div>
            ) : (
              <p className="hint">Choose a country on the map or in the table for its footprint.</p>
            )}
            <table>
              <caption className="hint">Countries by {metric}</caption>
              <thead>
                <tr>
                  <th scope="col">Country</th>
                  <th scope="col">Requests</th>
                  <th scope="col">Denials</th>
                  <th scope="col">Fallbacks</th>
                  <th scope="col">Lookups</th>
                </tr>
              </thead>
              <tbody>
                {ranked.map(([c, s]) => (
                  <tr key={c}>
                    <td>
                      <button type="button" className="secondary" onClick={() => setSelected(c)}>
                        <Shown text={countryName(c)} />
                      </button>
                    </td>
                    <td>{s.requests}</td>
                    <td>{s.denials}</td>
                    <td>{s.fallbacks}</td>
                    <td>{s.lookups}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      </div>
      <div className="grid2">
        <div className="panel">
          <h2>Audit log</h2>
          <Loading state={checkpoint}>
            {(c: Checkpoint | null) =>
              c === null ? (
                <p>No checkpoint published yet.</p>
              ) : (
                <dl className="terms">
                  <dt>Entries</dt>
                  <dd>{c.size.toLocaleString("en")}</dd>
                  <dt>Last checkpoint</dt>
                  <dd className="mono">
                    <Shown text={c.origin} />, size {c.size.toString()}
                  </dd>
                  <dt>Root</dt>
                  <dd className="mono">{btoa(String.fromCharCode(...c.root))}</dd>
                </dl>
              )
            }
          </Loading>
          <p>
            <Link to="/audit">Verify it in this browser</Link>
          </p>
        </div>
        {can.read(me) ? <OpenAlerts /> : null}
        <Usage me={me} />
      </div>
    </section>
  );
}

function Usage({ me }: { me: Me }) {
  const state = useLoad(
    () => api<{ byOrganization: Record<string, number>; byLicense: Record<string, number> }>("GET", "/usage"),
    [me.id],
  );
  return (
    <div className="panel">
      <h2>Token usage by organization</h2>
      <Loading state={state}>
        {(u) => {
          const rows = Object.entries(u.byOrganization).sort((a, b) => b[1] - a[1]);
          return rows.length === 0 ? (
            <p>No usage recorded yet.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th scope="col">Organization</th>
                  <th scope="col">Tokens</th>
                </tr>
              </thead>
              <tbody>
                {rows.map(([org, n]) => (
                  <tr key={org}>
                    <td>
                      <Shown text={org} />
                    </td>
                    <td>{n.toLocaleString("en")}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          );
        }}
      </Loading>
    </div>
  );
}

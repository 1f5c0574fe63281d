/**
 * The jurisdiction footprint report (GET /admin/v1/reports/footprint) from the console: a period,
 * then the server's report read from the whole audit log — a short account here, and the report
 * itself as JSON, one CSV table, or the self-contained HTML page with its maps.
 */
import { useState } from "react";
import { apiWithProgress } from "../api.js";
import { instantText } from "../components/dates.js";
import { FormError, Select, TextField, submissionErrors } from "../components/form.js";
import { apiText, saveFile, useJob, Working } from "../components/job.js";
import { Shown, ShownAll } from "../components/ui.js";
import { ACCESS_TEXT, fallbackText, policyGroups, type GroupedRow } from "../../../src/report/words.js";

/** src/report/format.ts's FOOTPRINT_TABLES (that module renders on the server: not bundled here). */
const FOOTPRINT_TABLES = ["served", "locations", "grants", "policy"] as const;

interface PolicyRow extends GroupedRow {
  readonly fallback_model: string | null;
}

interface GrantUse {
  readonly grant: string;
  readonly requests: number;
  readonly tokens: number | null;
  readonly quota_tokens: number | null;
  readonly quota_period: string | null;
  readonly quota_used: number | null;
  readonly quota_remaining: number | null;
}

interface FootprintSummary {
  readonly generated_at: string;
  readonly scheme: { readonly name: string };
  readonly served: {
    readonly period: { readonly from: string; readonly to: string };
    /** Log entries read: the decisions counted, and those not (with why), add up to it. */
    readonly entries_read: number;
    readonly decisions: number;
    /** Absent from a node of a release before it (a rolling upgrade). */
    readonly not_counted?: {
      readonly before_period: number;
      readonly after_period: number;
      readonly not_decisions: number;
    };
    /** Of the decisions, model lookups: not requests served (absent from reports before they were). */
    readonly lookups?: number;
    readonly unknown_principals: number;
    readonly locations: readonly { location: string; requests: number }[];
    readonly rows: readonly unknown[];
    readonly grants: readonly GrantUse[];
    /** The UTC days the grants' tokens count, both included (usage is metered per UTC day). */
    readonly tokens_days: { readonly from: string; readonly to: string };
  };
  readonly policy: { readonly rows: readonly PolicyRow[] };
}

/** What the others get, down the fallback chain: the first model that serves them. */
const fallbacksText = (row: PolicyRow): string =>
  row.fallbacks.length === 0
    ? "nothing"
    : row.fallbacks.map(fallbackText).join("; ") + (row.fallback_model === null ? "; else nothing" : "");

/**
 * Countries with the same answer for a model and action, grouped (as the HTML report's policy
 * table): controlled and home-only models only, embargoed places left out (they serve nobody).
 */

const count = (n: number | null) => (n === null ? "—" : n.toLocaleString("en"));

/** The entries read and left out, and why, as the HTML report says it (src/report/html.ts). */
const notCountedText = (
  { entries_read }: FootprintSummary["served"],
  n: NonNullable<FootprintSummary["served"]["not_counted"]>,
) =>
  `${count(entries_read)} log entries read; not counted: ${count(n.before_period)} decisions before the ` +
  `period, ${count(n.after_period)} at or after its end, ${count(n.not_decisions)} entries that are not ` +
  "decisions (administrative changes).";

export function Footprint() {
  const [from, setFrom] = useState("");
  const [to, setTo] = useState("");
  const [table, setTable] = useState<string>("served");
  const job = useJob<FootprintSummary | null>();
  const query = (format: string) =>
    new URLSearchParams({
      format,
      ...(from.trim() === "" ? {} : { from: from.trim() }),
      ...(to.trim() === "" ? {} : { to: to.trim() }),
      ...(format === "csv" ? { table } : {}),
    }).toString();
  const period =
    from.trim() === "" && to.trim() === "" ? "" : `-${from.trim() || "start"}-${to.trim() || "now"}`;
  const run = (format: "show" | "json" | "csv" | "html") =>
    job.run(async (report) => {
      if (format === "show" || format === "json") {
        const r = await apiWithProgress<FootprintSummary>(
          "GET",
          `/reports/footprint?${query("json")}`,
          undefined,
          report,
        );
        if (format === "json")
          saveFile(`footprint${period}.json`, "application/json", JSON.stringify(r, null, 2));
        return r;
      }
      const text = await apiText("GET", `/reports/footprint?${query(format)}`);
      saveFile(
        `footprint${period}${format === "csv" ? `-${table}` : ""}.${format}`,
        format === "csv" ? "text/csv" : "text/html",
        text,
      );
      return job.result;
    });
  const r = job.result;
  // The server names the bound it refuses (`from` or `to`): its message goes under that field.
  const refused =
    job.error === null ? { fields: {}, form: null } : submissionErrors(job.error, ["from", "to"]);
  return (
    <div className="panel">
      <h2>Jurisdiction footprint report</h2>
      <p className="hint">
        Which jurisdictions the deployment touches and which models serve which regions: what was served in a
        period (from the audit log) and who may be served where under the policy in force. Read from the whole
        log by the server.
      </p>
      <div className="row compact">
        <TextField
          label="From"
          name="from"
          value={from}
          onChange={setFrom}
          errors={refused.fields}
          hint="YYYY-MM-DD, or a date-time with its zone (default: the log's beginning)"
        />
        <TextField
          label="To"
          name="to"
          value={to}
          onChange={setTo}
          errors={refused.fields}
          hint="YYYY-MM-DD, included; or a date-time with its zone, excluded (default: now)"
        />
        <Select
          label="CSV table"
          name="table"
          value={table}
          options={FOOTPRINT_TABLES}
          onChange={setTable}
          errors={{}}
        />
      </div>
      <div className="row">
        <button type="button" disabled={job.running} onClick={() => void run("show")}>
          Show footprint here
        </button>
        <button type="button" className="secondary" disabled={job.running} onClick={() => void run("html")}>
          Download footprint HTML (with maps)
        </button>
        <button type="button" className="secondary" disabled={job.running} onClick={() => void run("csv")}>
          Download footprint CSV
        </button>
        <button type="button" className="secondary" disabled={job.running} onClick={() => void run("json")}>
          Download footprint JSON
        </button>
      </div>
      {job.running ? (
        <Working
          label="Reading the audit log for the footprint…"
          started={job.started}
          progress={job.progress}
        />
      ) : null}
      <FormError message={refused.form} />
      {r ? <FootprintView r={r} /> : null}
    </div>
  );
}

/**
 * The report's account on the page: what was served (requests apart from model lookups), the use of
 * each license and partner grant with the UTC days its tokens count, and who may be served where
 * under the policy in force with what everyone else falls back to.
 */
function FootprintView({ r }: { r: FootprintSummary }) {
  const s = r.served;
  const lookups = s.lookups ?? 0;
  const days = s.tokens_days;
  const groups = policyGroups(r.policy.rows).filter((g) => g.row.access !== "embargoed");
  return (
    <section className="footprint" aria-label="Footprint">
      <p role="status">
        <Shown text={r.scheme.name} />, {instantText(s.period.from)} to {instantText(s.period.to)} (end
        excluded): {s.decisions.toLocaleString("en")} decisions in {s.locations.length} locations:{" "}
        {(s.decisions - lookups).toLocaleString("en")} requests and {lookups.toLocaleString("en")} model{" "}
        {lookups === 1 ? "lookup" : "lookups"} (a lookup says which model a caller would get and serves
        nothing); {s.rows.length.toLocaleString("en")} served rows,{" "}
        {r.policy.rows.length.toLocaleString("en")} policy rows; {s.unknown_principals} unknown principals.
      </p>
      {s.not_counted === undefined ? null : <p>{notCountedText(s, s.not_counted)}</p>}
      <h3 id="footprint-grants">Licenses and partner grants</h3>
      <p className="hint">
        Tokens are metered per UTC day: the tokens column counts the whole UTC days {days.from} to {days.to}{" "}
        (both included), which may reach outside the period. Requests count the period only; a model lookup is
        not a use of a grant.
      </p>
      <div className="table-wrap">
        <table aria-labelledby="footprint-grants">
          <thead>
            <tr>
              <th scope="col">Grant</th>
              <th scope="col">Requests</th>
              <th scope="col">
                Tokens (UTC days {days.from} to {days.to})
              </th>
              <th scope="col">Quota</th>
              <th scope="col">Used in its quota period</th>
              <th scope="col">Remaining</th>
            </tr>
          </thead>
          <tbody>
            {s.grants.map((g) => (
              <tr key={g.grant}>
                <td>
                  <Shown text={g.grant} />
                </td>
                <td>{count(g.requests)}</td>
                <td>{count(g.tokens)}</td>
                <td>
                  {g.quota_tokens === null ? (
                    "—"
                  ) : (
                    <>
                      {count(g.quota_tokens)} (<Shown text={g.quota_period} />)
                    </>
                  )}
                </td>
                <td>{count(g.quota_used)}</td>
                <td>{count(g.quota_remaining)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <h3 id="footprint-policy">Who is served where, and what the others fall back to</h3>
      <p className="hint">
        Under the policy in force, for each controlled model and action: who is served it, and what anyone
        else asking for it there is served instead — down the fallback chain, the first model that serves
        them. Embargoed places serve nobody and are not listed.
      </p>
      <div className="table-wrap">
        <table aria-labelledby="footprint-policy">
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Action</th>
              <th scope="col">Served to</th>
              <th scope="col">Licensees</th>
              <th scope="col">The others fall back to</th>
              <th scope="col">Countries</th>
            </tr>
          </thead>
          <tbody>
            {groups.map(({ row, countries }) => (
              <tr key={`${row.model}|${row.action}|${countries[0] ?? ""}`}>
                <td>
                  <Shown text={row.model} />
                </td>
                <td>
                  <Shown text={row.action} />
                </td>
                <td>{ACCESS_TEXT[row.access]}</td>
                <td>
                  <ShownAll items={row.licensees} />
                </td>
                <td>
                  <Shown text={fallbacksText(row)} />
                </td>
                <td>
                  {countries.length > 12 ? `${countries.length} countries: ` : null}
                  <ShownAll items={countries} separator=" " />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

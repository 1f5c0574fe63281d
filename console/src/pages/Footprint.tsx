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

/** src/report/format.ts's FOOTPRINT_TABLES (that module renders on the server: not bundled here). */
const FOOTPRINT_TABLES = ["served", "locations", "grants", "policy"] as const;

interface FootprintSummary {
  readonly generated_at: string;
  readonly scheme: { readonly name: string };
  readonly served: {
    readonly period: { readonly from: string; readonly to: string };
    readonly decisions: number;
    readonly unknown_principals: number;
    readonly locations: readonly { location: string; requests: number }[];
    readonly rows: readonly unknown[];
  };
  readonly policy: { readonly rows: readonly unknown[] };
}

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
  const run = (format: "json" | "csv" | "html") =>
    job.run(async (report) => {
      if (format === "json") {
        const r = await apiWithProgress<FootprintSummary>(
          "GET",
          `/reports/footprint?${query("json")}`,
          undefined,
          report,
        );
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
        <button type="button" disabled={job.running} onClick={() => void run("html")}>
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
      {r ? (
        <p role="status">
          {r.scheme.name}, {instantText(r.served.period.from)} to {instantText(r.served.period.to)} (end
          excluded): {r.served.decisions.toLocaleString("en")} decisions in {r.served.locations.length}{" "}
          locations ({r.served.rows.length.toLocaleString("en")} served rows,{" "}
          {r.policy.rows.length.toLocaleString("en")} policy rows); {r.served.unknown_principals} unknown
          principals.
        </p>
      ) : null}
    </div>
  );
}

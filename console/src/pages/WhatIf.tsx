/**
 * What-if: the impact of a candidate scheme version before it is activated — who gains and who loses
 * access, by country, nationality, organization, model and old reason → new, with counts and named
 * examples — and the downloads (JSON, CSV, HTML with a map). The same panel sits on a version's page,
 * where activation sends the impact digest that was reviewed. Below, the jurisdiction footprint report.
 */
import { useState, type FormEvent } from "react";
import type { ChangeGroup, Tally, WhatIfPart } from "../../../src/whatif/result.js";
import { whatIfRequest } from "../../../src/whatif/schemas.js";
import { apiWithProgress, listAll } from "../api.js";
import { FormError, Select, TextField, submissionErrors, zodErrors } from "../components/form.js";
import { apiText, saveFile, useJob, Working } from "../components/job.js";
import { isolated } from "../components/text.js";
import { Loading, PageHeading, Shown, ShownAll, ShownTime, useLoad } from "../components/ui.js";
import { useLocation } from "../router.js";
import { Footprint } from "./Footprint.js";
import { countryName } from "./WorldMap.js";
import "./review.css";

export interface WhatIfReport {
  readonly report: "what-if";
  readonly generated_at: string;
  readonly active: { readonly name: string; readonly digest: string };
  readonly candidate: { readonly name: string; readonly digest: string };
  readonly population: WhatIfPart;
  readonly history: WhatIfPart | null;
  readonly digest: string;
}

interface VersionSummary {
  readonly version: number;
  readonly name: string;
  readonly active: boolean;
}

const GROUPS_SHOWN = 50;
const ROLLUP_SHOWN = 8;

export function WhatIfPage() {
  const { query } = useLocation();
  const versions = useLoad(() => listAll<VersionSummary>("/schemes"), []);
  return (
    <section>
      <PageHeading title="What-if" />
      <p className="hint">
        A candidate scheme version against the policy in force, decided with the same rules the gateway uses:
        every principal at their residence and where the log saw them, and, if asked, the logged decisions of
        the last days re-decided.
      </p>
      <Loading state={versions}>
        {(vs) =>
          vs.length < 2 && vs.every((v) => v.active) ? (
            <p>Only the version in force exists: upload a candidate on the Scheme versions page first.</p>
          ) : (
            <WhatIfRunner
              versions={vs}
              initial={query.get("version") ?? String(vs.filter((v) => !v.active).at(-1)?.version ?? "")}
            />
          )
        }
      </Loading>
      <Footprint />
    </section>
  );
}

function WhatIfRunner({ versions, initial }: { versions: readonly VersionSummary[]; initial: string }) {
  const [version, setVersion] = useState(initial);
  return (
    <div className="panel">
      <h2>Run a what-if</h2>
      <Select
        label="Candidate version"
        name="version"
        value={version}
        options={[...versions].reverse().map((v) => ({
          value: String(v.version),
          label: `Version ${v.version}: ${isolated(v.name)}${v.active ? " (in force)" : ""}`,
        }))}
        onChange={setVersion}
        errors={{}}
      />
      <WhatIfPanel key={version} version={Number(version)} />
    </div>
  );
}

/** The what-if of one version: options, a run with progress, then the impact and its downloads. */
export function WhatIfPanel({
  version,
  onReport,
}: {
  version: number;
  onReport?: (r: WhatIfReport) => void;
}) {
  const [days, setDays] = useState("");
  const [examples, setExamples] = useState("5");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const job = useJob<WhatIfReport>();
  const [options, setOptions] = useState<{ days?: number; examples?: number }>({});
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const checked = whatIfRequest.safeParse({
      ...(days.trim() === "" ? {} : { days: Number(days) }),
      ...(examples.trim() === "" ? {} : { examples: Number(examples) }),
    });
    if (!checked.success) return setErrors(zodErrors(checked.error));
    setErrors({});
    const body = {
      ...(checked.data.days === undefined ? {} : { days: checked.data.days }),
      ...(checked.data.examples === undefined ? {} : { examples: checked.data.examples }),
    };
    setOptions(body);
    const r = await job.run((report) =>
      // A POST that changes nothing: no answer is no question of whether it was applied.
      apiWithProgress<WhatIfReport>("POST", `/schemes/${version}/what-if`, body, report, { changes: false }),
    );
    if (r !== null) onReport?.(r);
  };
  // The server's refusal of an option goes under that option's field, said once.
  const refused = job.error === null ? null : submissionErrors(job.error, ["days", "examples"]);
  const shown = { ...errors, ...refused?.fields };
  return (
    <div>
      <form onSubmit={(e) => void submit(e)} noValidate aria-label={`What-if of version ${version}`}>
        <div className="row compact">
          <TextField
            label="History: last days"
            name="days"
            value={days}
            onChange={setDays}
            errors={shown}
            hint="Optional: re-decide the logged requests of these days too"
          />
          <TextField
            label="Named examples per group"
            name="examples"
            value={examples}
            onChange={setExamples}
            errors={shown}
          />
          <button type="submit" disabled={job.running}>
            Run what-if of version {version}
          </button>
        </div>
      </form>
      <FormError message={refused?.form ?? null} />
      {job.running ? (
        <Working
          label={`Running the what-if of version ${version}…`}
          started={job.started}
          progress={job.progress}
        />
      ) : null}
      {job.result ? <WhatIfResult report={job.result} version={version} options={options} /> : null}
    </div>
  );
}

function WhatIfResult({
  report: r,
  version,
  options,
}: {
  report: WhatIfReport;
  version: number;
  options: { days?: number; examples?: number };
}) {
  const downloads = useJob<void>();
  const name = `what-if-version-${version}`;
  const download = (format: "csv" | "html" | "json") =>
    downloads.run(async () => {
      if (format === "json") return saveFile(`${name}.json`, "application/json", JSON.stringify(r, null, 2));
      // The server renders CSV and HTML (the HTML with its map) from a new run with the same options.
      const text = await apiText("POST", `/schemes/${version}/what-if`, { ...options, format });
      saveFile(`${name}.${format}`, format === "csv" ? "text/csv" : "text/html", text);
    });
  return (
    <section className="whatif-result" aria-label={`Impact of version ${version}`}>
      <h3>
        Impact of <Shown text={r.candidate.name} /> against <Shown text={r.active.name} />
      </h3>
      <p>
        Impact digest <span className="mono">{r.digest}</span> (what activation checks), computed{" "}
        <ShownTime at={r.generated_at} />.
      </p>
      <div className="row">
        <button type="button" className="secondary" onClick={() => void download("json")}>
          Download JSON
        </button>
        <button
          type="button"
          className="secondary"
          disabled={downloads.running}
          onClick={() => void download("csv")}
        >
          Download CSV
        </button>
        <button
          type="button"
          className="secondary"
          disabled={downloads.running}
          onClick={() => void download("html")}
        >
          Download HTML (with map)
        </button>
      </div>
      {downloads.running ? <Working label="Preparing the download…" started={downloads.started} /> : null}
      <FormError message={downloads.error?.message ?? null} />
      <PartView part={r.population} title="People (every principal, where they live and were seen)" />
      {r.history === null ? null : (
        <PartView part={r.history} title="History (logged decisions re-decided)" />
      )}
    </section>
  );
}

const place = (key: string) =>
  key
    .split("+")
    .map((c) => (/^[A-Z]{2}$/.test(c) && countryName(c) !== c ? `${c} (${countryName(c)})` : c))
    .join(" + ");

const side = (s: ChangeGroup["from"]) =>
  `${s.decision} ${s.reason}${s.served_model && s.decision === "fallback" ? ` (${s.served_model})` : ""}`;

function PartView({ part, title }: { part: WhatIfPart; title: string }) {
  const s = part.summary;
  const groups = [...part.groups].sort((a, b) => b.count - a.count);
  return (
    <div className="panel">
      <h4>{title}</h4>
      <ul className="counts" aria-label={`${part.kind} summary`}>
        <li>
          <strong>{s.compared.toLocaleString("en")}</strong> decisions compared
        </li>
        <li className="gain">
          <strong>{s.gained.toLocaleString("en")}</strong> gain access
        </li>
        <li className="loss">
          <strong>{s.lost.toLocaleString("en")}</strong> lose access
        </li>
        <li className="change">
          <strong>{s.changed.toLocaleString("en")}</strong> change basis
        </li>
        <li>
          <strong>{s.allow_to_fallback.toLocaleString("en")}</strong> allow → fallback
        </li>
        <li>
          <strong>{s.allow_to_deny.toLocaleString("en")}</strong> allow → deny
        </li>
        <li>
          <strong>{s.fallback_to_deny.toLocaleString("en")}</strong> fallback → deny
        </li>
      </ul>
      {part.notes.length > 0 ? (
        <ul className="hint">
          {part.notes.map((n, i) => (
            <li key={i}>
              <Shown text={n} />
            </li>
          ))}
        </ul>
      ) : null}
      {groups.length === 0 ? (
        <p>No decision changes.</p>
      ) : (
        <>
          <div className="rollups">
            <Rollup title="By country" rows={s.by_location} label={place} />
            <Rollup title="By nationality" rows={s.by_nationality} label={place} />
            <Rollup title="By organization" rows={s.by_organization} />
            <Rollup title="By model and action" rows={s.by_model} />
          </div>
          <Rollup title="Old reason → new reason" rows={s.by_transition} />
          <div className="table-wrap">
            <table>
              <caption>
                Changed decisions
                {groups.length > GROUPS_SHOWN
                  ? ` (the ${GROUPS_SHOWN} largest of ${groups.length} groups; every group is in the downloads)`
                  : ""}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Change</th>
                  <th scope="col">Country</th>
                  <th scope="col">Nationality</th>
                  <th scope="col">Organization</th>
                  <th scope="col">Model</th>
                  <th scope="col">Action</th>
                  <th scope="col">Before → after</th>
                  <th scope="col">Count</th>
                  <th scope="col">Examples</th>
                </tr>
              </thead>
              <tbody>
                {groups.slice(0, GROUPS_SHOWN).map((g, i) => (
                  <tr key={i}>
                    <td className={g.direction}>{g.direction}</td>
                    <td>
                      <Shown text={g.location} />
                    </td>
                    <td>
                      <Shown text={g.nationality} />
                    </td>
                    <td>
                      <Shown text={g.organization} />
                    </td>
                    <td>
                      <Shown text={g.model} />
                    </td>
                    <td>
                      <Shown text={g.action} />
                    </td>
                    <td>
                      <Shown text={side(g.from)} /> → <Shown text={side(g.to)} />
                    </td>
                    <td>{g.count.toLocaleString("en")}</td>
                    <td>
                      <ShownAll items={g.examples} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      )}
    </div>
  );
}

function Rollup({
  title,
  rows,
  label = (k: string) => k,
}: {
  title: string;
  rows: readonly Tally[];
  label?: (key: string) => string;
}) {
  const top = [...rows]
    .sort((a, b) => b.gained + b.lost + b.changed - (a.gained + a.lost + a.changed))
    .slice(0, ROLLUP_SHOWN);
  return (
    <table>
      <caption>
        {title}
        {rows.length > ROLLUP_SHOWN ? ` (top ${ROLLUP_SHOWN} of ${rows.length})` : ""}
      </caption>
      <thead>
        <tr>
          <th scope="col">{title.replace(/^By /, "").replace(/^\w/, (c) => c.toUpperCase())}</th>
          <th scope="col">Gain</th>
          <th scope="col">Lose</th>
          <th scope="col">Change</th>
        </tr>
      </thead>
      <tbody>
        {top.map((t) => (
          <tr key={t.key}>
            <td>
              <Shown text={label(t.key)} />
            </td>
            <td>{t.gained.toLocaleString("en")}</td>
            <td>{t.lost.toLocaleString("en")}</td>
            <td>{t.changed.toLocaleString("en")}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

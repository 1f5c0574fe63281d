/**
 * Scheme versions: the list (the active one marked), upload (every problem with its line and column,
 * each a link into the text), the diff against the active version in words, its what-if impact,
 * activation (with the reviewed impact's digest) and rollback.
 */
import { useEffect, useRef, useState, type ChangeEvent, type FormEvent } from "react";
import { schemeActivation, schemeUpload } from "../../../src/control/schemas.js";
import type { SchemeChange } from "../../../src/scheme/diff.js";
import { api, ApiError, listAll, type Problem } from "../api.js";
import { FormError, TextArea, submissionErrors, useBusy, zodErrors } from "../components/form.js";
import { visible } from "../components/text.js";
import { Loading, PageHeading, Shown, ShownTime, useLoad } from "../components/ui.js";
import { can, type Me } from "../roles.js";
import { Link, useLocation } from "../router.js";
import { leftOutWhy, type LeftOut } from "./left-out.js";
import { WhatIfPanel, type WhatIfReport } from "./WhatIf.js";

interface VersionSummary {
  readonly id: string;
  readonly version: number;
  readonly name: string;
  readonly digest: string;
  readonly uploaded_by: string;
  readonly uploaded_at: string;
  readonly active: boolean;
  /** The active version only: what the policy in force leaves out (absent: nothing). */
  readonly left_out?: readonly LeftOut[];
}
interface Diff {
  readonly identical: boolean;
  readonly changes: SchemeChange[];
  readonly text: string;
}

export function SchemesPage({ me }: { me: Me }) {
  const { path } = useLocation();
  const rest = path.slice("/schemes".length);
  if (rest.startsWith("/")) {
    // One version's page per version: another's reviewed impact (sent with the activation) and its
    // activation notice are not kept when the path names another.
    const version = decodeURIComponent(rest.slice(1));
    return <VersionDetail key={version} me={me} version={version} />;
  }
  return <VersionList me={me} />;
}

function VersionList({ me }: { me: Me }) {
  const state = useLoad(() => listAll<VersionSummary>("/schemes"), []);
  return (
    <section>
      <PageHeading title="Scheme versions" />
      <Loading state={state}>
        {(versions) => (
          <>
            <LeftOutList version={versions.find((v) => v.active)} />
            <div className="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Version</th>
                    <th scope="col">Name</th>
                    <th scope="col">Digest</th>
                    <th scope="col">Uploaded by</th>
                    <th scope="col">Uploaded</th>
                    <th scope="col">In force</th>
                  </tr>
                </thead>
                <tbody>
                  {[...versions].reverse().map((v) => (
                    <tr key={v.id}>
                      <td>
                        <Link to={`/schemes/${v.version}`}>Version {v.version}</Link>
                      </td>
                      <td>
                        <Shown text={v.name} />
                      </td>
                      <td className="mono">
                        {v.digest === null || v.digest === undefined ? (
                          <Shown text={v.digest} />
                        ) : (
                          <>
                            <Shown text={String(v.digest).slice(0, 19)} />…
                          </>
                        )}
                      </td>
                      <td>
                        <Shown text={v.uploaded_by} />
                      </td>
                      <td>
                        <ShownTime at={v.uploaded_at} />
                      </td>
                      <td>{v.active ? <strong>active</strong> : ""}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </>
        )}
      </Loading>
      {can.manage(me) ? <Upload onDone={state.reload} /> : null}
    </section>
  );
}

/**
 * The partners and licenses the policy in force leaves out (stored, but not compiling with the
 * active version): nothing they would grant is granted. Nothing shown when nothing is left out.
 */
function LeftOutList({ version }: { version: VersionSummary | undefined }) {
  const left = version?.left_out ?? [];
  if (version === undefined || left.length === 0) return null;
  return (
    <div className="form-error left-out">
      <h2>Left out of the policy in force</h2>
      <p>
        Stored, but not compiling with version {version.version}, so the gateway leaves them out: requests
        they would allow are denied until they are fixed.
      </p>
      <ul>
        {left.map((l) => (
          <li key={`${l.kind}:${l.id}`}>
            {l.kind === "license" ? (
              <Link to={`/licenses/${encodeURIComponent(l.id)}`}>
                license <Shown text={l.id} />
              </Link>
            ) : (
              <>
                partner <Shown text={l.id} />
              </>
            )}
            : <Shown text={leftOutWhy(l)} />
          </li>
        ))}
      </ul>
    </div>
  );
}

export function DiffView({ diff }: { diff: Diff }) {
  if (diff.identical) return <p>Identical to the active version.</p>;
  return (
    <ul className="diff">
      {diff.changes.map((c, i) => (
        <li key={i} className={c.kind === "added" ? "adds" : c.kind === "removed" ? "removes" : ""}>
          <Shown text={c.summary} />
        </li>
      ))}
    </ul>
  );
}

/** The textarea's offset of line `line`, column `column` (both 1-based). */
function offsetOf(text: string, line: number, column: number): number {
  let offset = 0;
  for (let l = 1; l < line; l++) {
    const nl = text.indexOf("\n", offset);
    if (nl < 0) return text.length;
    offset = nl + 1;
  }
  return Math.min(text.length, offset + column - 1);
}

function Upload({ onDone }: { onDone: () => void }) {
  const [yaml, setYaml] = useState("");
  const [problems, setProblems] = useState<readonly Problem[]>([]);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [result, setResult] = useState<{ version: number; created: boolean; diff: Diff } | null>(null);
  const sending = useBusy();
  const form = useRef<HTMLFormElement>(null);

  const jump = (p: Problem) => {
    const area = form.current?.querySelector("textarea");
    if (!area || p.line === undefined) return;
    const at = offsetOf(yaml, p.line, p.column ?? 1);
    area.focus();
    area.setSelectionRange(at, at + 1);
    // Chromium does not scroll a textarea to its selection: bring the line into view.
    const lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 20;
    area.scrollTop = Math.max(0, (p.line - 4) * lineHeight);
  };
  const load = async (e: ChangeEvent<HTMLInputElement>) => {
    const file = e.target.files?.[0];
    if (file) setYaml(await file.text());
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setResult(null);
    const checked = schemeUpload.safeParse({ yaml });
    if (!checked.success) return setErrors(zodErrors(checked.error));
    await sending.run(async () => {
      try {
        const r = await api<{ version: number; created: boolean; diff: Diff }>("POST", "/schemes", { yaml });
        setResult(r);
        setProblems([]);
        setErrors({});
        setFormError(null);
        onDone();
      } catch (err) {
        const located = err instanceof ApiError ? err.problems.filter((p) => p.line !== undefined) : [];
        setProblems(located);
        if (located.length > 0) {
          setErrors({
            yaml: `${located.length} ${located.length === 1 ? "problem" : "problems"} in the file; see the list.`,
          });
          setFormError(null);
        } else {
          const s = submissionErrors(err, ["yaml"]);
          setErrors(s.fields);
          setFormError(s.form);
        }
      }
    });
  };
  return (
    <form
      ref={form}
      className="panel yaml-editor"
      onSubmit={submit}
      noValidate
      aria-labelledby="upload-scheme"
    >
      <h2 id="upload-scheme">Upload a scheme version</h2>
      <p className="hint">
        Validated by the server; an upload never takes effect until an administrator activates it.
      </p>
      <FormError message={formError} />
      <div className="field">
        <label htmlFor="scheme-file">Load from a file</label>
        <input id="scheme-file" type="file" accept=".yaml,.yml,text/yaml" onChange={(e) => void load(e)} />
      </div>
      {problems.length > 0 ? (
        <div role="alert">
          <h3>Problems</h3>
          <ol className="problems">
            {problems.map((p, i) => (
              <li key={i}>
                <button type="button" onClick={() => jump(p)}>
                  line {p.line}, column {p.column ?? 1}
                </button>
                :{" "}
                {p.path ? (
                  <>
                    <Shown text={p.path} />:{" "}
                  </>
                ) : (
                  ""
                )}
                <Shown text={p.message} />
              </li>
            ))}
          </ol>
        </div>
      ) : null}
      <TextArea
        label="Scheme file (YAML)"
        name="yaml"
        value={yaml}
        onChange={setYaml}
        errors={errors}
        rows={18}
      />
      <button type="submit" disabled={sending.busy}>
        Upload
      </button>
      {result ? (
        <div role="status" className="panel">
          <p className="notice">
            {result.created
              ? `Uploaded as version ${result.version}.`
              : `Identical to version ${result.version}, which already exists.`}{" "}
            <Link to={`/schemes/${result.version}`}>Review and activate version {result.version}</Link>
          </p>
          <h3>Changes against the active version</h3>
          <DiffView diff={result.diff} />
        </div>
      ) : null}
    </form>
  );
}

function VersionDetail({ me, version }: { me: Me; version: string }) {
  const [impact, setImpact] = useState<WhatIfReport | null>(null);
  const [recorded, setRecorded] = useState<ActivationImpact | null>(null);
  const state = useLoad(
    () =>
      api<VersionSummary & { yaml: string; diff: Diff }>("GET", `/schemes/${encodeURIComponent(version)}`),
    [version],
  );
  return (
    <section>
      <p>
        <Link to="/schemes">← All versions</Link>
      </p>
      <Loading state={state}>
        {(v) => (
          <>
            <PageHeading title={`Scheme version ${v.version}`}>
              {v.active ? <strong>active</strong> : null}
            </PageHeading>
            {recorded ? (
              <p className="notice" role="status">
                Activated with its impact recorded in the audit log: {recorded.gained} gain access,{" "}
                {recorded.lost} lose it, {recorded.changed} change basis (
                <span className="mono">{recorded.digest}</span>).
              </p>
            ) : null}
            <p>
              <Shown text={v.name} />, uploaded by <Shown text={v.uploaded_by} /> on{" "}
              <ShownTime at={v.uploaded_at} />;{" "}
              <span className="mono">
                <Shown text={v.digest} />
              </span>
            </p>
            {v.active ? <LeftOutList version={v} /> : null}
            <div className="panel">
              <h2>Changes against the active version</h2>
              <DiffView diff={v.diff} />
            </div>
            {v.active ? null : (
              <div className="panel">
                <h2>What-if impact</h2>
                <p className="hint">
                  Who gains and who loses access if this version is activated, before it is. Activation sends
                  the digest of the impact reviewed here, and is refused if the impact has changed since.
                </p>
                <WhatIfPanel version={v.version} onReport={setImpact} />
              </div>
            )}
            {can.activate(me) && !v.active ? (
              <Activate
                version={v.version}
                impact={impact}
                onDone={(r) => {
                  setRecorded(r);
                  state.reload();
                }}
              />
            ) : null}
            <details className="panel">
              <summary>The scheme file</summary>
              {/* Left to right whatever it holds, its controls written out: in a <bdi> (Shown), a file
                  whose first strong character is right to left (a comment in Hebrew on its first line)
                  was laid out right to left, "embargo:" read ":embargo". */}
              <pre className="mono" dir="ltr">
                {visible(v.yaml)}
              </pre>
            </details>
          </>
        )}
      </Loading>
    </section>
  );
}

function Activate({
  version,
  impact,
  onDone,
}: {
  version: number;
  impact: WhatIfReport | null;
  onDone: (recorded: ActivationImpact | null) => void;
}) {
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const sending = useBusy();
  const active = useLoad(() => listAll<VersionSummary>("/schemes"), []);
  const current = active.data?.find((v) => v.active)?.version;
  const rollback = current !== undefined && version < current;
  const label = rollback ? `Roll back to version ${version}` : `Activate version ${version}`;
  // A new review answers a refusal about the old one.
  useEffect(() => setFormError(null), [impact?.digest]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    // The reviewed impact's digest goes with the activation: the server recomputes the impact and
    // refuses if it is not the one reviewed (and, where a what-if is required, refuses without one).
    const body = { reason, ...(impact === null ? {} : { what_if: impact.digest }) };
    const checked = schemeActivation.safeParse(body);
    if (!checked.success) return setErrors(zodErrors(checked.error));
    await sending.run(async () => {
      try {
        const r = await api<{ impact?: ActivationImpact }>("POST", `/schemes/${version}/activate`, body);
        setErrors({});
        setFormError(null);
        onDone(r.impact ?? null);
      } catch (err) {
        const s = submissionErrors(err, ["reason"]);
        setErrors(s.fields);
        setFormError(
          err instanceof ApiError && (err.code === "what_if_required" || err.code === "what_if_changed")
            ? `${err.message}. Run the what-if above, review it, then activate again.`
            : s.form,
        );
      }
    });
  };
  return (
    <form className="panel" onSubmit={submit} noValidate aria-labelledby="activate-heading">
      <h2 id="activate-heading">{label}</h2>
      <p className="hint">
        Takes effect on the next request, on every node; recorded in the audit log with the reason.
      </p>
      {impact === null ? (
        <p className="hint">No what-if reviewed yet: where activation requires one, run it above first.</p>
      ) : (
        <p className="notice">
          Impact reviewed: {impact.population.summary.gained.toLocaleString("en")} gain access,{" "}
          {impact.population.summary.lost.toLocaleString("en")} lose it,{" "}
          {impact.population.summary.changed.toLocaleString("en")} change basis (
          <span className="mono">{impact.digest.slice(0, 19)}…</span>); sent with the activation.
        </p>
      )}
      <FormError message={formError} />
      <TextArea label="Reason" name="reason" value={reason} onChange={setReason} errors={errors} />
      <button type="submit" disabled={sending.busy}>
        {label}
      </button>
    </form>
  );
}

interface ActivationImpact {
  readonly digest: string;
  readonly gained: number;
  readonly lost: number;
  readonly changed: number;
}

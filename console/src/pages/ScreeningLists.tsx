/**
 * The screening lists in force, a list import (the official files, base64 as the API takes them)
 * and a full rescreen, each a long job with its progress shown while the server works.
 */
import { useEffect, useState, type FormEvent } from "react";
import { LIST_FORMATS } from "../../../src/screening/types.js";
import { api, apiWithProgress, ApiError } from "../api.js";
import { FormError, Select, TextField } from "../components/form.js";
import { useJob, Working } from "../components/job.js";
import { visible } from "../components/text.js";
import { Shown, ShownTime } from "../components/ui.js";
import { can, type Me } from "../roles.js";

interface ListVersion {
  readonly list: string;
  readonly version: number;
  readonly format: string;
  readonly published: string | null;
  readonly files: readonly string[];
  readonly counts: Readonly<Record<string, number>>;
  readonly diff: { readonly added: number; readonly removed: number; readonly changed: number };
  readonly imported_at: string;
  readonly imported_by: string;
  /** Whether the rescreen after its import finished (false: cut short, its new entries not yet matched). */
  readonly rescreened: boolean;
}

interface RescreenSummary {
  readonly subjects: number;
  readonly entries: number;
  readonly potential: number;
  readonly resolved: number;
  readonly changed: number;
}

interface Imported {
  readonly version: ListVersion & { diff: { added: string[]; removed: string[]; changed: string[] } };
  readonly unchanged: boolean;
  readonly rescreen: RescreenSummary | null;
}

const rescreenText = (r: RescreenSummary) =>
  `${r.subjects.toLocaleString("en")} subjects screened against ${r.entries.toLocaleString("en")} entries: ` +
  `${r.potential.toLocaleString("en")} potential matches, ${r.resolved.toLocaleString("en")} resolved, ` +
  `${r.changed.toLocaleString("en")} match records written.`;

/** A file's bytes as base64, in chunks (String.fromCharCode takes a bounded argument list). */
async function base64(file: File): Promise<string> {
  const bytes = new Uint8Array(await file.arrayBuffer());
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000)
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

export function ScreeningLists({
  me,
  generation,
  onChanged,
}: {
  me: Me;
  generation: number;
  onChanged: (message: string) => void;
}) {
  const [versions, setVersions] = useState<ListVersion[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    api<{ data: ListVersion[] }>("GET", "/screening/lists").then(
      (r) => setVersions(r.data),
      (e: Error) => setError(e.message),
    );
  }, [generation]);
  return (
    <div>
      <h2>Lists in force</h2>
      {error ? (
        <div className="form-error" role="alert">
          {error}
        </div>
      ) : versions === null ? (
        <p aria-live="polite">Loading…</p>
      ) : versions.length === 0 ? (
        <p>No list has been imported: nobody is screened until one is.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">List</th>
                <th scope="col">Version</th>
                <th scope="col">Published</th>
                <th scope="col">Entries</th>
                <th scope="col">Change from the version before</th>
                <th scope="col">Imported</th>
                <th scope="col">Rescreen after import</th>
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr key={`${v.list}@${v.version}`}>
                  <td>
                    <Shown text={v.list} />
                  </td>
                  <td>{v.version}</td>
                  <td>{v.published === null ? "—" : <Shown text={v.published} />}</td>
                  <td>{(v.counts.entries ?? 0).toLocaleString("en")}</td>
                  <td>
                    +{v.diff.added} −{v.diff.removed} ~{v.diff.changed}
                  </td>
                  <td>
                    <ShownTime at={v.imported_at} /> by <Shown text={v.imported_by} />
                  </td>
                  <td>
                    {v.rescreened === false ? (
                      <span className="status status-pending">not rescreened</span>
                    ) : (
                      "done"
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {versions?.some((v) => v.rescreened === false) ? (
        <p className="hint" role="note">
          A version not rescreened is in force, but its rescreen was cut short (the importing process stopped,
          or failed part way): its new and changed entries have not been matched against everyone yet. The
          next import of the list (the same file too), a full rescreen, or a gateway screening in the
          background once the importer&apos;s hold on it has run out finishes it.
        </p>
      ) : null}
      {can.keepLists(me) ? (
        <div className="grid2">
          <ImportList onChanged={onChanged} />
          <Rescreen onChanged={onChanged} />
        </div>
      ) : null}
    </div>
  );
}

function ImportList({ onChanged }: { onChanged: (message: string) => void }) {
  const [files, setFiles] = useState<File[]>([]);
  const [format, setFormat] = useState("");
  const [published, setPublished] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const job = useJob<Imported>();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (files.length === 0)
      return setErrors({ files: "choose the list's file (and, for OFAC CSV, its companions)" });
    if (published !== "" && !/^\d{4}-\d{2}-\d{2}$/.test(published))
      return setErrors({ published: "expected YYYY-MM-DD" });
    setErrors({});
    const r = await job.run(async (report) =>
      apiWithProgress<Imported>(
        "POST",
        "/screening/lists",
        {
          files: await Promise.all(
            files.map(async (f) => ({ name: f.name, content_base64: await base64(f) })),
          ),
          ...(format === "" ? {} : { format }),
          ...(published === "" ? {} : { published }),
        },
        report,
      ),
    );
    if (r === null) return;
    const v = r.version;
    onChanged(
      r.unchanged
        ? `${visible(v.list)} version ${v.version} is already this file: nothing imported.`
        : `Imported ${visible(v.list)} version ${v.version} (${v.counts.entries ?? 0} entries: ${v.diff.added.length} added, ` +
            `${v.diff.removed.length} removed, ${v.diff.changed.length} changed).` +
            (r.rescreen === null ? "" : ` Rescreened: ${rescreenText(r.rescreen)}`),
    );
  };
  // The files' size is the files field's problem: say so there, and what to do about it.
  const size =
    job.error instanceof ApiError && ["body_too_large", "list_too_large"].includes(job.error.code)
      ? job.error.code === "body_too_large"
        ? `${job.error.message}: the files travel base64-encoded, a third larger than they are; import files this large with \`clearance screening import <file>\``
        : job.error.message
      : null;
  const fileError = errors.files ?? size ?? undefined;
  return (
    <form className="panel" onSubmit={(e) => void submit(e)} noValidate aria-labelledby="import-list">
      <h3 id="import-list">Import a list</h3>
      <p className="hint">
        The official file as published (OFAC CSV with add.csv, alt.csv and sdn_comments.csv beside it; the
        trade.gov CSL; the UN XML; the BIS DPL; OpenSanctions FtM). Everyone is rescreened against what
        changed.
      </p>
      <FormError message={size === null ? (job.error?.message ?? null) : null} />
      <div className={fileError ? "field field-invalid" : "field"}>
        <label htmlFor="list-files">List files</label>
        <input
          id="list-files"
          type="file"
          multiple
          aria-invalid={fileError !== undefined}
          aria-describedby={fileError ? "list-files-error" : undefined}
          onChange={(e) => setFiles([...(e.target.files ?? [])])}
        />
        {fileError ? (
          <p className="field-error" id="list-files-error">
            {fileError}
          </p>
        ) : null}
      </div>
      <Select
        label="Format"
        name="format"
        value={format}
        options={[{ value: "", label: "recognise from the file" }, ...LIST_FORMATS]}
        onChange={setFormat}
        errors={errors}
      />
      <TextField
        label="Publication date"
        name="published"
        value={published}
        onChange={setPublished}
        errors={errors}
        hint="YYYY-MM-DD, when the file does not say"
      />
      <button type="submit" disabled={job.running}>
        Import
      </button>
      {job.running ? (
        <Working label="Importing and rescreening…" started={job.started} progress={job.progress} />
      ) : null}
    </form>
  );
}

function Rescreen({ onChanged }: { onChanged: (message: string) => void }) {
  const job = useJob<RescreenSummary>();
  const start = async () => {
    const r = await job.run((report) =>
      apiWithProgress<RescreenSummary>("POST", "/screening/rescreen", undefined, report),
    );
    if (r !== null) onChanged(`Rescreen done: ${rescreenText(r)}`);
  };
  return (
    <div className="panel">
      <h3>Rescreen everyone</h3>
      <p className="hint">
        Every principal and organization against every list in force (an import already rescreens what
        changed). On a large store this takes a while; requests keep being served meanwhile.
      </p>
      <FormError message={job.error?.message ?? null} />
      <button type="button" onClick={() => void start()} disabled={job.running}>
        Start a full rescreen
      </button>
      {job.running ? (
        <Working
          label="Rescreening every principal and organization…"
          started={job.started}
          progress={job.progress}
        />
      ) : null}
    </div>
  );
}

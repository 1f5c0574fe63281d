/**
 * Screening review: the queue of potential denied-party matches, each beside the list entry it
 * matched and the facts the subject was screened with; a reviewer confirms or clears one, always
 * with a reason. Below, the decided history, and the lists in force with import and rescreen.
 */
import { useCallback, useEffect, useId, useState, type FormEvent } from "react";
import type { MatchExplanation } from "../../../src/screening/matcher.js";
import { screeningReview } from "../../../src/screening/schemas.js";
import type { ListEntry } from "../../../src/screening/types.js";
import { api, LIST_BOUND, listFirst, type Page } from "../api.js";
import { FormError, TextArea, submissionErrors, useBusy, zodErrors } from "../components/form.js";
import { visible } from "../components/text.js";
import { PageHeading, Shown, ShownAll, ShownTime, Status } from "../components/ui.js";
import { can, type Me } from "../roles.js";
import { ScreeningLists } from "./ScreeningLists.js";
import "./review.css";

interface SubjectFacts {
  readonly name: string;
  readonly type?: string;
  readonly birth_date?: string | null;
  readonly nationalities?: readonly string[];
}

export interface Match {
  readonly id: string;
  readonly subject_kind: "principal" | "organization";
  readonly subject_id: string;
  readonly list: string;
  readonly entry_id: string;
  readonly entry_digest: string;
  readonly score: number;
  readonly status: "potential" | "confirmed" | "cleared" | "resolved";
  readonly explanation: MatchExplanation;
  readonly reviewer: string | null;
  readonly reason: string | null;
  readonly created_at: string;
  readonly updated_at: string;
  readonly subject_status?: "clear" | "potential" | "confirmed";
  readonly subject_facts?: SubjectFacts | null;
  readonly entry?: (ListEntry & { list_version: number | null; digest: string; changed: boolean }) | null;
}

const QUEUE_PAGE = 20;
/** When a match was found or decided, in UTC to the second (ShownTime). */
const when = (iso: string) => <ShownTime at={iso} />;
const subjectName = (m: Match) => m.subject_facts?.name ?? m.subject_id;
const none = (xs: readonly unknown[] | undefined) => xs === undefined || xs.length === 0;

export function ScreeningPage({ me }: { me: Me }) {
  // Bumped after every decision, import or rescreen: the queue and the history read again.
  const [generation, setGeneration] = useState(0);
  const [notice, setNotice] = useState<string | null>(null);
  const changed = useCallback((message: string) => {
    setNotice(message);
    setGeneration((g) => g + 1);
  }, []);
  return (
    <section>
      <PageHeading title="Screening review" />
      <p className="hint">
        Principals and organizations screened against the denied-party lists. A potential match withholds
        controlled models until a reviewer confirms it (every model denied) or clears it.
      </p>
      {notice ? (
        <p className="notice" role="status">
          {notice}
        </p>
      ) : null}
      <Queue me={me} generation={generation} onDecided={changed} />
      <History generation={generation} />
      <ScreeningLists me={me} generation={generation} onChanged={changed} />
    </section>
  );
}

function Queue({
  me,
  generation,
  onDecided,
}: {
  me: Me;
  generation: number;
  onDecided: (message: string) => void;
}) {
  const [items, setItems] = useState<Match[] | null>(null);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const load = useCallback(async (cursor: string | null) => {
    const page = await api<Page<Match>>(
      "GET",
      `/screening/matches?status=potential&detail=true&limit=${QUEUE_PAGE}${cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`}`,
    );
    setItems((old) => (cursor === null ? page.data : [...(old ?? []), ...page.data]));
    setNext(page.next_cursor);
  }, []);
  useEffect(() => {
    load(null).catch((e: Error) => setError(e.message));
  }, [load, generation]);
  return (
    <div>
      <h2>Review queue</h2>
      {error ? (
        <div className="form-error" role="alert">
          {error}
        </div>
      ) : items === null ? (
        <p aria-live="polite">Loading…</p>
      ) : items.length === 0 ? (
        <p>No potential match is waiting for review.</p>
      ) : (
        <>
          <p>
            {items.length}
            {next === null ? "" : "+"} potential {items.length === 1 ? "match" : "matches"} to review.
          </p>
          {items.map((m) => (
            <MatchCard key={m.id} match={m} canReview={can.review(me)} onDecided={onDecided} />
          ))}
          {next !== null ? (
            <button type="button" className="secondary" onClick={() => void load(next)}>
              Show the next {QUEUE_PAGE}
            </button>
          ) : null}
        </>
      )}
    </div>
  );
}

function MatchCard({
  match: m,
  canReview,
  onDecided,
}: {
  match: Match;
  canReview: boolean;
  onDecided: (message: string) => void;
}) {
  const id = useId();
  const x = m.explanation;
  return (
    <article className="panel match" aria-labelledby={`${id}-title`}>
      <h3 id={`${id}-title`}>
        <Shown text={subjectName(m)} /> — <Shown text={x.primary_name} />
      </h3>
      <p>
        Score <strong>{m.score.toFixed(3)}</strong> on <Shown text={m.list} />, entry{" "}
        <Shown text={m.entry_id} />: the <Shown text={m.subject_kind} />{" "}
        <span className="mono">
          <Shown text={m.subject_id} />
        </span>{" "}
        matched the <Shown text={x.strength} /> <Shown text={x.name_kind} /> name “
        <Shown text={x.matched_name} />
        ”. Found {when(m.created_at)}.
      </p>
      <div className="side-by-side">
        <SubjectFactsView match={m} />
        <EntryView match={m} />
      </div>
      <Why explanation={x} />
      {canReview ? <Decide match={m} onDecided={onDecided} /> : null}
    </article>
  );
}

function SubjectFactsView({ match: m }: { match: Match }) {
  const f = m.subject_facts;
  return (
    <section
      className="side subject"
      aria-label={`Screened ${visible(m.subject_kind)} ${visible(m.subject_id)}`}
    >
      <h4>
        Screened <Shown text={m.subject_kind} />:{" "}
        <span className="mono">
          <Shown text={m.subject_id} />
        </span>
      </h4>
      <dl className="terms">
        <dt>Name</dt>
        <dd>{f?.name === undefined ? "—" : <Shown text={f.name} />}</dd>
        <dt>Type</dt>
        <dd>
          <Shown text={f?.type === undefined ? m.subject_kind : f.type} />
        </dd>
        <dt>{m.subject_kind === "organization" ? "Country" : "Born"}</dt>
        <dd>
          {m.subject_kind === "organization" ? (
            <ShownAll items={f?.nationalities} />
          ) : f?.birth_date === undefined || f.birth_date === null ? (
            "—"
          ) : (
            <Shown text={f.birth_date} />
          )}
        </dd>
        {m.subject_kind === "principal" ? (
          <>
            <dt>Citizenships</dt>
            <dd>
              <ShownAll items={f?.nationalities} />
            </dd>
          </>
        ) : null}
        <dt>Screening status</dt>
        <dd>
          <Status value={m.subject_status ?? "clear"} />
        </dd>
      </dl>
    </section>
  );
}

function EntryView({ match: m }: { match: Match }) {
  const e = m.entry;
  const x = m.explanation;
  if (e === undefined || e === null)
    return (
      <section className="side listed" aria-label={`Listed entry ${visible(m.list)} ${visible(m.entry_id)}`}>
        <h4>
          Listed: <Shown text={m.list} />, entry <Shown text={m.entry_id} />
        </h4>
        <p>This entry is no longer on the active list.</p>
      </section>
    );
  return (
    <section className="side listed" aria-label={`Listed entry ${visible(m.list)} ${visible(m.entry_id)}`}>
      <h4>
        Listed: <Shown text={m.list} />
        {e.list_version === null ? "" : ` (version ${e.list_version})`}, entry <Shown text={e.id} />
      </h4>
      {e.changed ? (
        <p className="warn-text">The entry has changed on the list since this match was found.</p>
      ) : null}
      <dl className="terms">
        <dt>Type</dt>
        <dd>
          <Shown text={e.type} />
        </dd>
        <dt>Names</dt>
        <dd>
          <ul className="names">
            {e.names.map((n, i) => (
              <li key={i}>
                {n.name === x.matched_name ? (
                  <mark>
                    <Shown text={n.name} />
                  </mark>
                ) : (
                  <Shown text={n.name} />
                )}{" "}
                <span className="hint">
                  <Shown text={n.kind} />
                  {n.strength === "weak" ? ", weak" : ""}
                  {n.name === x.matched_name ? ", matched" : ""}
                </span>
              </li>
            ))}
          </ul>
        </dd>
        <dt>Born</dt>
        <dd>
          <ShownAll items={e.birth_dates} />
        </dd>
        <dt>Nationalities</dt>
        <dd>
          <ShownAll items={e.nationalities} />
        </dd>
        <dt>Addresses</dt>
        <dd>
          {none(e.addresses) && none(e.countries) ? (
            "—"
          ) : (
            <ul className="names">
              {e.addresses.map((a, i) => (
                <li key={i}>
                  <Shown text={a} />
                </li>
              ))}
              {none(e.addresses) ? (
                <li>
                  <ShownAll items={e.countries} />
                </li>
              ) : null}
            </ul>
          )}
        </dd>
        <dt>Programs</dt>
        <dd>
          <ShownAll items={e.programs} />
        </dd>
        {none(e.identifiers) ? null : (
          <>
            <dt>Identifiers</dt>
            <dd>
              {e.identifiers.map((i, n) => (
                <span key={n}>
                  {n === 0 ? null : "; "}
                  <Shown text={i.type} /> <Shown text={i.value} />
                  {i.country ? (
                    <>
                      {" "}
                      (<Shown text={i.country} />)
                    </>
                  ) : null}
                </span>
              ))}
            </dd>
          </>
        )}
        {e.source ? (
          <>
            <dt>Source list</dt>
            <dd>
              <Shown text={e.source} />
            </dd>
          </>
        ) : null}
        {e.remarks ? (
          <>
            <dt>Remarks</dt>
            <dd>
              <Shown text={e.remarks} />
            </dd>
          </>
        ) : null}
      </dl>
    </section>
  );
}

function Why({ explanation: x }: { explanation: MatchExplanation }) {
  return (
    <details>
      <summary>Why it matched</summary>
      <p>
        Name score {x.name_score.toFixed(3)} (
        {x.method === "joined" ? "compared as one joined word" : "token by token"}), then:{" "}
        {x.factors.length === 0
          ? "no other fact changed it."
          : x.factors.map((f, i) => (
              <span key={i}>
                {i === 0 ? null : "; "}
                {`${f.effect > 0 ? "+" : ""}${f.effect.toFixed(2)} `}
                <Shown text={f.detail} />
              </span>
            ))}
        .
      </p>
      <table>
        <caption className="hint">Name tokens aligned</caption>
        <thead>
          <tr>
            <th scope="col">Screened</th>
            <th scope="col">Listed</th>
            <th scope="col">Similarity</th>
          </tr>
        </thead>
        <tbody>
          {x.tokens.map((t, i) => (
            <tr key={i}>
              <td>
                <Shown text={t.query} />
              </td>
              <td>
                <Shown text={t.listed} />
              </td>
              <td>{t.similarity.toFixed(3)}</td>
            </tr>
          ))}
          {x.unmatched_query.map((t) => (
            <tr key={`q-${t}`}>
              <td>
                <Shown text={t} />
              </td>
              <td>—</td>
              <td>unmatched</td>
            </tr>
          ))}
          {x.unmatched_listed.map((t) => (
            <tr key={`l-${t}`}>
              <td>—</td>
              <td>
                <Shown text={t} />
              </td>
              <td>unmatched</td>
            </tr>
          ))}
        </tbody>
      </table>
    </details>
  );
}

function Decide({ match: m, onDecided }: { match: Match; onDecided: (message: string) => void }) {
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const sending = useBusy();
  // Decided: its buttons stay disabled until the queue, read again, no longer shows it.
  const [decided, setDecided] = useState(false);
  const decide = async (verb: "confirm" | "clear") => {
    const checked = screeningReview.safeParse({ reason });
    if (!checked.success) return setErrors(zodErrors(checked.error));
    await sending.run(async () => {
      try {
        const path = `/screening/matches/${encodeURIComponent(m.id)}`;
        await api("POST", `${path}/${verb}`, checked.data);
        const after = await api<Match>("GET", path);
        onDecided(
          `${verb === "confirm" ? "Confirmed" : "Cleared"} the match of ${visible(subjectName(m))} with ${visible(m.list)} entry ` +
            `${visible(m.entry_id)}. The screening status of ${visible(m.subject_kind)} ${visible(m.subject_id)} is now ${visible(after.subject_status ?? "clear")}.`,
        );
        setDecided(true);
      } catch (err) {
        const s = submissionErrors(err, ["reason"]);
        setErrors(s.fields);
        setFormError(s.form);
      }
    });
  };
  const busy = sending.busy || decided;
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void decide("clear");
  };
  return (
    <form
      className="decide"
      onSubmit={submit}
      noValidate
      aria-label={`Decide the match of ${visible(m.subject_id)}`}
    >
      <FormError message={formError} />
      <TextArea
        label="Reason"
        name="reason"
        value={reason}
        onChange={setReason}
        errors={errors}
        hint="Required. Recorded in the audit log with your name."
        rows={2}
      />
      <div className="row">
        <button type="button" className="danger" disabled={busy} onClick={() => void decide("confirm")}>
          Confirm match (denied party)
        </button>
        <button type="submit" disabled={busy}>
          Clear match
        </button>
      </div>
    </form>
  );
}

function History({ generation }: { generation: number }) {
  const [rows, setRows] = useState<Match[] | null>(null);
  // The statuses whose matches were cut at their bound: the history shown is not all of them.
  const [cut, setCut] = useState<readonly string[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    // The latest LIST_BOUND of each, newest first (every page of each, read to find the latest among
    // matches ordered by id, froze the tab on a long history); older ones are said to be left.
    const statuses = ["confirmed", "cleared", "resolved"] as const;
    Promise.all(statuses.map((s) => listFirst<Match>(`/screening/matches?status=${s}&order=newest`))).then(
      (lists) => {
        setCut(statuses.filter((_, i) => lists[i]?.more));
        setRows(lists.flatMap((l) => l.rows).sort((a, b) => b.updated_at.localeCompare(a.updated_at)));
      },
      (e: Error) => setError(e.message),
    );
  }, [generation]);
  return (
    <div>
      <h2>Decided</h2>
      {error ? (
        <div className="form-error" role="alert">
          {error}
        </div>
      ) : rows === null ? (
        <p aria-live="polite">Loading…</p>
      ) : rows.length === 0 ? (
        <p>No match has been decided yet.</p>
      ) : (
        <>
          {cut.length > 0 ? (
            <p className="partial" role="note">
              Showing the latest {LIST_BOUND.toLocaleString("en")} {cut.join(", ")} matches only: older ones
              are not shown here. The admin API lists them all (GET /admin/v1/screening/matches?status=…, page
              by page with its next_cursor).
            </p>
          ) : null}
          <div className="table-wrap">
            <table>
              <caption className="hint">
                Confirmed and cleared by a reviewer, or resolved when the entry left its list (newest first)
              </caption>
              <thead>
                <tr>
                  <th scope="col">Subject</th>
                  <th scope="col">Listed entry</th>
                  <th scope="col">Score</th>
                  <th scope="col">Decision</th>
                  <th scope="col">Reviewer</th>
                  <th scope="col">Reason</th>
                  <th scope="col">Decided</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((m) => (
                  <tr key={m.id}>
                    <td>
                      <Shown text={m.subject_kind} />{" "}
                      <span className="mono">
                        <Shown text={m.subject_id} />
                      </span>
                    </td>
                    <td>
                      <Shown text={m.explanation.primary_name} /> (<Shown text={m.list} />{" "}
                      <Shown text={m.entry_id} />)
                    </td>
                    <td>{m.score.toFixed(3)}</td>
                    <td>
                      <Status value={m.status} />
                    </td>
                    <td>{m.reviewer === null ? "—" : <Shown text={m.reviewer} />}</td>
                    <td>{m.reason === null ? "—" : <Shown text={m.reason} />}</td>
                    <td>{when(m.updated_at)}</td>
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

/**
 * Licenses: the list (an applicant sees its own organization's), the application form, and one
 * license with its two approvals (the second approver sees what the first approved and the terms
 * that would take effect), denial with a reason, suspension, reinstatement, revocation, and the
 * quota used of its limit.
 */
import { useEffect, useState, type FormEvent, type ReactNode } from "react";
import { licenseApplication } from "../../../src/licensing/schema.js";
import type { LicenseRecord, LicenseTerms } from "../../../src/licensing/types.js";
import { countingApprovals } from "../../../src/licensing/workflow.js";
import { ACTIONS } from "../../../src/policy/types.js";
import type { SetExpression } from "../../../src/scheme/schema.js";
import { api, limiter, listFirst } from "../api.js";
import {
  Checkboxes,
  FormError,
  Select,
  TextArea,
  TextField,
  list,
  placeErrors,
  submissionErrors,
  useBusy,
  zodErrors,
} from "../components/form.js";
import { END_HINT, endText, instantText } from "../components/dates.js";
import {
  counted,
  Loading,
  MoreNotShown,
  PageHeading,
  Shown,
  ShownAll,
  ShownTime,
  Status,
  useLoad,
} from "../components/ui.js";
import { can, type Me } from "../roles.js";
import { Link, navigate, useLocation } from "../router.js";
import { LicenseActions } from "./LicenseActions.js";
import { activeLeftOut, LeftOutNotice } from "./left-out.js";

export interface Usage {
  readonly license: string;
  readonly quota_period: string;
  readonly period: string;
  readonly used_tokens: number;
  readonly quota_tokens: number | null;
  readonly remaining_tokens: number | null;
}

export const setText = (s: SetExpression | undefined): string =>
  s === undefined
    ? "any"
    : Array.isArray(s)
      ? s.join(", ")
      : `${s.include.join(", ")}${s.exclude.length ? ` except ${s.exclude.join(", ")}` : ""}`;

const licenseeText = (l: LicenseRecord["licensee"]) =>
  "organization" in l ? `organization ${l.organization}` : `principal ${l.principal}`;

export function LicensesPage({ me }: { me: Me }) {
  const { path } = useLocation();
  const rest = path.slice("/licenses".length);
  if (rest === "/apply") return <ApplyForm me={me} />;
  if (rest.startsWith("/")) {
    // One license's page per license: what another's showed (its forms, what was typed in them) is
    // not kept when the path names another (a link, the history's back and forward).
    const id = decodeURIComponent(rest.slice(1));
    return <LicenseDetail key={id} me={me} id={id} />;
  }
  return <LicenseList me={me} />;
}

/** Usage requests in flight at once, for the whole page: one per license, all at once, was thousands. */
const usageRequest = limiter(6);

/**
 * The quota used of each license with a quota, read a few at a time after the list is shown (it
 * waited for every one before); shown as they arrive, in batches, so a long table is not redrawn
 * once per license. A license whose usage could not be read is marked so, not the whole list.
 */
function useUsage(licenses: readonly LicenseRecord[] | null): ReadonlyMap<string, Usage | Error> {
  const [usage, setUsage] = useState<ReadonlyMap<string, Usage | Error>>(new Map());
  useEffect(() => {
    if (licenses === null) return;
    let live = true;
    const read = new Map<string, Usage | Error>();
    let unshown = 0;
    const show = () => live && setUsage(new Map(read));
    const wanted = licenses.filter(
      (l) => l.terms.quota_tokens !== undefined && l.status !== "pending" && l.status !== "denied",
    );
    void Promise.all(
      wanted.map((l) =>
        usageRequest(async () => {
          if (!live) return; // a list since replaced: its requests still waiting are not sent
          const path = `/licenses/${encodeURIComponent(l.id)}/usage`;
          read.set(l.id, await api<Usage>("GET", path).catch((err: Error) => err));
          if (++unshown >= 25) {
            unshown = 0;
            show();
          }
        }),
      ),
    ).then(show);
    return () => {
      live = false;
    };
  }, [licenses]);
  return usage;
}

function LicenseList({ me }: { me: Me }) {
  const state = useLoad(
    async () => ({ licenses: await listFirst<LicenseRecord>("/licenses"), inForce: await activeLeftOut(me) }),
    [],
  );
  const usage = useUsage(state.data?.licenses.rows ?? null);
  const own = can.onlyApplicant(me);
  return (
    <section>
      <PageHeading title="Licenses">
        {can.apply(me) ? (
          <Link to="/licenses/apply" className="button">
            Apply for a license
          </Link>
        ) : null}
      </PageHeading>
      {own ? (
        <p>
          The applications and licenses of your organization, <Shown text={me.organization} />.
        </p>
      ) : null}
      <Loading state={state}>
        {({ licenses, inForce }) => (
          <>
            {inForce !== null && inForce.left.some((x) => x.kind === "license") ? (
              <p className="form-error">
                Not in the policy in force, as they do not compile with scheme version {inForce.version}
                (requests they would allow are denied):{" "}
                <ShownAll items={inForce.left.filter((x) => x.kind === "license").map((x) => x.id)} />. Open
                one to see why.
              </p>
            ) : null}
            <div className="table-wrap">
              <table>
                <caption className="hint">
                  {counted(licenses, "license", "licenses")} and applications
                </caption>
                <thead>
                  <tr>
                    <th scope="col">License</th>
                    <th scope="col">Licensee</th>
                    <th scope="col">Models and actions</th>
                    <th scope="col">Destinations</th>
                    <th scope="col">Ends</th>
                    <th scope="col">Status</th>
                    <th scope="col">Approvals</th>
                    <th scope="col">Quota used</th>
                  </tr>
                </thead>
                <tbody>
                  {licenses.rows.map((l) => (
                    <tr key={l.id}>
                      <td>
                        <Link to={`/licenses/${encodeURIComponent(l.id)}`}>
                          <Shown text={l.id} />
                        </Link>
                      </td>
                      <td>
                        <Shown text={licenseeText(l.licensee)} />
                      </td>
                      <td>
                        <ShownAll items={l.terms.models} /> — <ShownAll items={l.terms.actions} />
                      </td>
                      <td>
                        <Shown text={setText(l.terms.destinations)} />
                      </td>
                      <td>
                        <Shown text={endText(l.terms.valid_until)} />
                      </td>
                      <td>
                        <Status value={l.status} />
                        {inForce?.left.some((x) => x.kind === "license" && x.id === l.id) ? (
                          <>
                            {" "}
                            <span className="status status-left-out">left out: denied</span>
                          </>
                        ) : null}
                      </td>
                      <td>
                        {l.status === "pending"
                          ? `${countingApprovals(l.approvals).length} of 2`
                          : l.approvals.length}
                      </td>
                      <td>
                        <QuotaText usage={usage.get(l.id)} quota={l.terms.quota_tokens} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <MoreNotShown list={licenses} what="licenses and applications" path="/licenses" />
          </>
        )}
      </Loading>
    </section>
  );
}

function QuotaText({ usage, quota }: { usage: Usage | Error | undefined; quota: number | undefined }) {
  if (quota === undefined) return <>no quota</>;
  if (usage === undefined) return <>limit {quota.toLocaleString("en")}</>;
  if (usage instanceof Error)
    return (
      <>
        limit {quota.toLocaleString("en")} <span className="hint">(usage not read: {usage.message})</span>
      </>
    );
  return (
    <>
      {usage.used_tokens.toLocaleString("en")} of {quota.toLocaleString("en")} tokens
    </>
  );
}

interface ApplyState {
  id: string;
  licenseeKind: "organization" | "principal";
  licensee: string;
  models: string;
  actions: string[];
  destinations: string;
  purposes: string;
  nationalities: string;
  valid_from: string;
  valid_until: string;
  quota_tokens: string;
  quota_period: string;
  justification: string;
}

const today = () => new Date().toISOString().slice(0, 10);

/** The application form's fields, by the API's names (the licensee too, where the form shows it). */
const APPLY_FIELDS = [
  "id",
  "models",
  "actions",
  "destinations",
  "nationalities",
  "purposes",
  "valid_from",
  "valid_until",
  "quota_tokens",
  "quota_period",
  "justification",
] as const;

function ApplyForm({ me }: { me: Me }) {
  const own = can.onlyApplicant(me);
  const [f, setF] = useState<ApplyState>({
    id: "",
    licenseeKind: "organization",
    licensee: me.organization ?? "",
    models: "",
    actions: ["infer"],
    destinations: "",
    purposes: "",
    nationalities: "",
    valid_from: today(),
    valid_until: "",
    quota_tokens: "",
    quota_period: "total",
    justification: "",
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const sending = useBusy();
  const set =
    <K extends keyof ApplyState>(k: K) =>
    (v: ApplyState[K]) =>
      setF((s) => ({ ...s, [k]: v }));

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = {
      ...(f.id.trim() === "" ? {} : { id: f.id.trim() }),
      licensee:
        f.licenseeKind === "organization"
          ? { organization: f.licensee.trim() }
          : { principal: f.licensee.trim() },
      models: list(f.models),
      actions: f.actions,
      destinations: list(f.destinations, true),
      ...(f.purposes.trim() === "" ? {} : { purposes: list(f.purposes) }),
      ...(f.nationalities.trim() === "" ? {} : { nationalities: list(f.nationalities, true) }),
      valid_from: f.valid_from,
      valid_until: f.valid_until,
      ...(f.quota_tokens.trim() === "" ? {} : { quota_tokens: Number(f.quota_tokens) }),
      quota_period: f.quota_period,
      justification: f.justification,
    };
    // The admin API's own schema: a field refused here would be refused there, for the same reason.
    const checked = licenseApplication.safeParse(body);
    // Each message once, at its field; the form's own message says where to look.
    const names = [...(own ? [] : ["licensee"]), ...APPLY_FIELDS];
    if (!checked.success) {
      const placed = placeErrors(zodErrors(checked.error), names);
      setErrors(placed.fields);
      setFormError(placed.form);
      return;
    }
    await sending.run(async () => {
      try {
        const created = await api<LicenseRecord>("POST", "/licenses", body);
        navigate(`/licenses/${encodeURIComponent(created.id)}`);
      } catch (err) {
        const { fields, form } = submissionErrors(err, names);
        setErrors(fields);
        setFormError(form);
      }
    });
  };

  return (
    <section>
      <PageHeading title="Apply for a license" />
      <form onSubmit={submit} noValidate className="panel">
        <FormError message={formError} />
        <div className="grid2">
          <div>
            {own ? (
              <p>
                Licensee: organization{" "}
                <strong>
                  <Shown text={me.organization} />
                </strong>{" "}
                (yours)
              </p>
            ) : (
              <>
                <Select
                  label="Licensee kind"
                  name="licensee-kind"
                  value={f.licenseeKind}
                  options={["organization", "principal"]}
                  onChange={(v) => set("licenseeKind")(v as "organization" | "principal")}
                  errors={{}}
                />
                <TextField
                  label="Licensee"
                  name="licensee"
                  value={f.licensee}
                  onChange={set("licensee")}
                  errors={errors}
                />
              </>
            )}
            <TextField
              label="License number (optional)"
              name="id"
              value={f.id}
              onChange={set("id")}
              errors={errors}
              hint="Left empty, the server assigns one."
            />
            <TextField
              label="Models"
              name="models"
              value={f.models}
              onChange={set("models")}
              errors={errors}
              hint="Model ids, separated by commas (e.g. mythos-5)."
            />
            <Checkboxes
              legend="Actions"
              name="actions"
              options={ACTIONS}
              value={f.actions}
              onChange={set("actions")}
              errors={errors}
            />
            <TextField
              label="Destinations"
              name="destinations"
              value={f.destinations}
              onChange={set("destinations")}
              errors={errors}
              hint="Country codes or set names where it may be used (e.g. ES, PT or EU)."
            />
            <TextField
              label="Nationalities (optional)"
              name="nationalities"
              value={f.nationalities}
              onChange={set("nationalities")}
              errors={errors}
              hint="Only people of these nationalities are covered."
            />
            <TextField
              label="Purposes (optional)"
              name="purposes"
              value={f.purposes}
              onChange={set("purposes")}
              errors={errors}
              hint="e.g. cyber-defense"
            />
          </div>
          <div>
            <TextField
              label="Valid from"
              name="valid_from"
              type="date"
              value={f.valid_from}
              onChange={set("valid_from")}
              errors={errors}
            />
            <TextField
              label="Valid until"
              name="valid_until"
              type="date"
              value={f.valid_until}
              onChange={set("valid_until")}
              errors={errors}
              hint={END_HINT}
            />
            <TextField
              label="Token quota (optional)"
              name="quota_tokens"
              value={f.quota_tokens}
              onChange={set("quota_tokens")}
              errors={errors}
              hint="Whole tokens; empty for no quota."
            />
            <Select
              label="Quota period"
              name="quota_period"
              value={f.quota_period}
              options={["total", "month", "quarter"]}
              onChange={set("quota_period")}
              errors={errors}
            />
            <TextArea
              label="Justification"
              name="justification"
              value={f.justification}
              onChange={set("justification")}
              errors={errors}
              rows={5}
              hint="Who will use it, for what, and why this scope."
            />
          </div>
        </div>
        <button type="submit" disabled={sending.busy}>
          Submit application
        </button>
      </form>
    </section>
  );
}

function Terms({ terms, label }: { terms: LicenseTerms; label: string }) {
  return (
    <div>
      <h3>{label}</h3>
      <dl className="terms">
        <dt>Models</dt>
        <dd>
          <ShownAll items={terms.models} />
        </dd>
        <dt>Actions</dt>
        <dd>
          <ShownAll items={terms.actions} />
        </dd>
        <dt>Destinations</dt>
        <dd>
          <Shown text={setText(terms.destinations)} />
        </dd>
        <Countries named={terms.destinations} resolved={terms.resolved?.destinations} what="Destination" />
        <dt>Nationalities</dt>
        <dd>
          <Shown text={setText(terms.nationalities)} />
        </dd>
        {terms.nationalities === undefined ? null : (
          <Countries
            named={terms.nationalities}
            resolved={terms.resolved?.nationalities}
            what="Nationality"
          />
        )}
        <dt>Purposes</dt>
        <dd>{terms.purposes === undefined ? "any" : <ShownAll items={terms.purposes} />}</dd>
        <dt>Valid</dt>
        <dd>
          <Shown text={instantText(terms.valid_from)} /> to <Shown text={endText(terms.valid_until)} />
        </dd>
        <dt>Quota</dt>
        <dd>
          {terms.quota_tokens === undefined ? (
            "none"
          ) : (
            <>
              {terms.quota_tokens.toLocaleString("en")} tokens (<Shown text={terms.quota_period} />)
            </>
          )}
        </dd>
      </dl>
    </div>
  );
}

/**
 * The countries a destination or nationality expression was resolved to for this license
 * (`terms.resolved`): fixed once, when it was applied for (set names against the scheme version
 * active then), and what the policy in force uses — a later version redefining a set does not
 * change them. A license stored before they were recorded resolves its set names against the
 * active version: said so.
 */
function Countries({
  named,
  resolved,
  what,
}: {
  named: SetExpression;
  resolved: readonly string[] | undefined;
  what: string;
}) {
  if (resolved === undefined) {
    return (
      <>
        <dt>{what} countries</dt>
        <dd>not fixed for this license: its set names are resolved against the active scheme version</dd>
      </>
    );
  }
  const asWritten = Array.isArray(named) && [...named].sort().join(", ") === resolved.join(", ");
  return (
    <>
      <dt>{what} countries</dt>
      <dd>
        {resolved.length === 0 ? "none" : <ShownAll items={resolved} />}
        {asWritten ? null : (
          <span className="hint">
            {" "}
            (the names above as countries, fixed when it was applied for: what the gateway enforces, whatever
            a later scheme version makes of a set)
          </span>
        )}
      </dd>
    </>
  );
}

/**
 * An approval's conditions in words; what of them is stored text (the destinations as listed, the
 * end as written, the approver's note) shown as stored (Shown), each destination on its own.
 */
function conditionsText(c: NonNullable<LicenseRecord["approvals"][number]["conditions"]>): ReactNode {
  const parts = [
    c.destinations ? (
      <>
        destinations narrowed to <ShownAll items={c.destinations} />
      </>
    ) : null,
    c.quota_tokens !== undefined ? `quota lowered to ${c.quota_tokens.toLocaleString("en")} tokens` : null,
    c.valid_until ? (
      <>
        ends earlier, on <Shown text={endText(c.valid_until)} />
      </>
    ) : null,
    c.note ? (
      <>
        note: “<Shown text={c.note} />”
      </>
    ) : null,
  ].filter((p) => p !== null);
  if (parts.length === 0) return "without conditions";
  return (
    <>
      with conditions:{" "}
      {parts.map((p, i) => (
        <span key={i}>
          {i === 0 ? null : "; "}
          {p}
        </span>
      ))}
    </>
  );
}

function LicenseDetail({ me, id }: { me: Me; id: string }) {
  const state = useLoad(async () => {
    const license = await api<LicenseRecord>("GET", `/licenses/${encodeURIComponent(id)}`);
    const usage =
      license.status === "pending" || license.status === "denied"
        ? null
        : await api<Usage>("GET", `/licenses/${encodeURIComponent(id)}/usage`);
    return { license, usage, inForce: await activeLeftOut(me) };
  }, [id]);
  return (
    <section>
      <p>
        <Link to="/licenses">← All licenses</Link>
      </p>
      <Loading state={state}>
        {({ license: l, usage, inForce }) => {
          const left = inForce?.left.find((x) => x.kind === "license" && x.id === l.id);
          return (
            <>
              <PageHeading title={`License ${l.id}`}>
                <Status value={l.status} />
              </PageHeading>
              {left !== undefined && inForce !== null ? (
                <LeftOutNotice entry={left} version={inForce.version} />
              ) : null}
              <p>
                For <Shown text={licenseeText(l.licensee)} />; applied for by <Shown text={l.applicant} />.
              </p>
              <div className="panel">
                <h2>Justification</h2>
                <p>
                  <Shown text={l.justification} />
                </p>
              </div>
              {usage !== null && usage.quota_tokens !== null ? (
                <div className="panel">
                  <h2>Quota</h2>
                  <label>
                    {usage.used_tokens.toLocaleString("en")} of {usage.quota_tokens.toLocaleString("en")}{" "}
                    tokens used
                    {usage.quota_period === "total" ? "" : ` in ${usage.period}`} (
                    {usage.remaining_tokens?.toLocaleString("en")} left)
                    <meter
                      className="meter"
                      min={0}
                      max={usage.quota_tokens}
                      value={usage.used_tokens}
                      high={usage.quota_tokens * 0.9}
                    />
                  </label>
                </div>
              ) : null}
              <div className="panel grid2">
                <Terms terms={l.requested} label="As applied for" />
                <Terms
                  terms={l.terms}
                  label={l.status === "pending" ? "As the approvals so far would grant it" : "In force"}
                />
              </div>
              <div className="panel">
                <h2>Approvals ({countingApprovals(l.approvals).length} of 2)</h2>
                {l.approvals.length === 0 ? <p>No approval yet.</p> : null}
                <ul>
                  {l.approvals.map((a) => (
                    <li key={a.identity}>
                      <strong>
                        <Shown text={a.identity} />
                      </strong>{" "}
                      approved on <ShownTime at={a.at} to="minute" />{" "}
                      {a.conditions ? conditionsText(a.conditions) : "without conditions"}
                      {countingApprovals(l.approvals).includes(a) ? null : (
                        <em> — given before the countries were fixed: does not count</em>
                      )}
                    </li>
                  ))}
                </ul>
                {l.status === "pending" && countingApprovals(l.approvals).length === 1 && can.approve(me) ? (
                  <p className="notice">
                    A second approval makes this license approved with the terms under “As the approvals so
                    far would grant it”; your conditions may narrow them further.
                  </p>
                ) : null}
              </div>
              <LicenseActions me={me} license={l} onDone={state.reload} />
              <div className="panel">
                <h2>History</h2>
                <div className="table-wrap">
                  <table>
                    <thead>
                      <tr>
                        <th scope="col">When</th>
                        <th scope="col">Who</th>
                        <th scope="col">What</th>
                        <th scope="col">Reason or conditions</th>
                      </tr>
                    </thead>
                    <tbody>
                      {l.history.map((h, i) => (
                        <tr key={i}>
                          <td>
                            <ShownTime at={h.at} />
                          </td>
                          <td>
                            <Shown text={h.actor} />
                          </td>
                          <td>
                            <Shown text={h.action} />
                          </td>
                          <td>
                            {h.reason !== undefined ? (
                              <Shown text={h.reason} />
                            ) : h.conditions ? (
                              conditionsText(h.conditions)
                            ) : (
                              ""
                            )}
                          </td>
                        </tr>
                      ))}
                    </tbody>
                  </table>
                </div>
              </div>
            </>
          );
        }}
      </Loading>
    </section>
  );
}

/**
 * Partners: country partners and organization partners, their status and grants, registration
 * (as `applied`) and the lifecycle applied → active ↔ suspended → revoked, each step with a reason.
 */
import { useState, type FormEvent } from "react";
import { partnerRegistration, partnerStatusChange } from "../../../src/control/schemas.js";
import type { PartnerDocument, PartnerStatus } from "../../../src/control/types.js";
import { ACTIONS, ASSURANCE_LEVELS } from "../../../src/policy/types.js";
import { api, listFirst } from "../api.js";
import {
  Checkboxes,
  countryCode,
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
import { visible } from "../components/text.js";
import {
  counted,
  Loading,
  MoreNotShown,
  PageHeading,
  Shown,
  ShownAll,
  Status,
  useLoad,
} from "../components/ui.js";
import { can, type Me } from "../roles.js";
import { setText } from "./Licenses.js";

type PartnerView = PartnerDocument & { id: string };

const NEXT: Readonly<Record<PartnerStatus, readonly ("active" | "suspended" | "revoked")[]>> = {
  applied: ["active", "revoked"],
  active: ["suspended", "revoked"],
  suspended: ["active", "revoked"],
  revoked: [],
};

export function PartnersPage({ me }: { me: Me }) {
  const state = useLoad(() => listFirst<PartnerView>("/partners"), []);
  return (
    <section>
      <PageHeading title="Partners" />
      <Loading state={state}>
        {(partners) => (
          <>
            <div className="table-wrap">
              <table>
                <caption className="hint">{counted(partners, "partner", "partners")}</caption>
                <thead>
                  <tr>
                    <th scope="col">Partner</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Countries</th>
                    <th scope="col">Assurance</th>
                    <th scope="col">Grants</th>
                    <th scope="col">Status</th>
                    {can.manage(me) ? <th scope="col">Change status</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {partners.rows.map((p) => (
                    <tr key={p.id}>
                      <td>
                        <Shown text={p.partner.name ?? p.id} />
                        {p.partner.name ? (
                          <span className="hint">
                            {" "}
                            (<Shown text={p.id} />)
                          </span>
                        ) : null}
                      </td>
                      <td>
                        <Shown text={p.kind} />
                      </td>
                      <td>
                        <Shown
                          text={p.kind === "country" ? setText(p.partner.countries) : p.partner.country}
                        />
                      </td>
                      <td>
                        <Shown text={p.partner.assurance} />
                      </td>
                      <td>
                        {p.partner.grants.map((g, i) => (
                          <div key={i}>
                            <ShownAll items={g.models} />: <ShownAll items={g.actions} />
                          </div>
                        ))}
                      </td>
                      <td>
                        <Status value={p.partner.status} />
                      </td>
                      {can.manage(me) ? (
                        <td>
                          <StatusForm partner={p} onDone={state.reload} />
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <MoreNotShown list={partners} what="partners" path="/partners" />
          </>
        )}
      </Loading>
      {can.manage(me) ? <RegisterPartner onDone={state.reload} /> : null}
    </section>
  );
}

function StatusForm({ partner, onDone }: { partner: PartnerView; onDone: () => void }) {
  const options = NEXT[partner.partner.status];
  const [picked, setStatus] = useState<string>(options[0] ?? "");
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const sending = useBusy();
  if (options.length === 0) return <>—</>;
  // The form outlives a change of status (the row stays): a choice the new status no longer offers
  // is not kept, or the select would show the first option while the form sent the old choice.
  const status = (options as readonly string[]).includes(picked) ? picked : options[0]!;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = { status, reason };
    const checked = partnerStatusChange.safeParse(body);
    if (!checked.success) return setErrors(zodErrors(checked.error));
    await sending.run(async () => {
      try {
        await api("POST", `/partners/${encodeURIComponent(partner.id)}/status`, body);
        setErrors({});
        setReason("");
        onDone();
      } catch (err) {
        // In this one-line form, a refusal naming no field is said at the reason.
        const r = submissionErrors(err, ["status", "reason"]);
        setErrors({
          ...r.fields,
          ...(r.form && Object.keys(r.fields).length === 0 ? { reason: r.form } : {}),
        });
      }
    });
  };
  return (
    <form
      onSubmit={submit}
      noValidate
      className="row compact"
      aria-label={`Change the status of ${visible(partner.id)}`}
    >
      <Select
        label="New status"
        name="status"
        value={status}
        options={options}
        onChange={setStatus}
        errors={errors}
      />
      <TextField label="Reason" name="reason" value={reason} onChange={setReason} errors={errors} />
      <button type="submit" disabled={sending.busy}>
        Apply
      </button>
    </form>
  );
}

function RegisterPartner({ onDone }: { onDone: () => void }) {
  const empty = {
    kind: "organization" as "organization" | "country",
    id: "",
    name: "",
    country: "",
    countries: "",
    locations: "",
    assurance: "verified",
    models: "",
    actions: ["infer"] as string[],
    reason: "",
  };
  const [f, setF] = useState(empty);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const sending = useBusy();
  const set =
    <K extends keyof typeof empty>(k: K) =>
    (v: (typeof empty)[K]) =>
      setF((s) => ({ ...s, [k]: v }));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const grants = [{ models: list(f.models), actions: f.actions }];
    const common = {
      id: f.id.trim(),
      ...(f.name.trim() ? { name: f.name.trim() } : {}),
      assurance: f.assurance,
      grants,
    };
    const body =
      f.kind === "country"
        ? { kind: f.kind, partner: { ...common, countries: list(f.countries, true) }, reason: f.reason }
        : {
            kind: f.kind,
            partner: {
              ...common,
              country: countryCode(f.country),
              ...(f.locations.trim() ? { locations: list(f.locations, true) } : {}),
            },
            reason: f.reason,
          };
    const checked = partnerRegistration.safeParse(body);
    // Field names below are the API's paths without the "partner." prefix (grants[0].models → models).
    const name = (path: string) => path.replace(/^partner\./, "").replace(/^grants\[0\]\./, "");
    const rename = (errs: Record<string, string>) =>
      Object.fromEntries(Object.entries(errs).map(([k, v]) => [name(k), v]));
    const names = [
      "kind",
      "id",
      "name",
      ...(f.kind === "country" ? ["countries"] : ["country", "locations"]),
      "assurance",
      "models",
      "actions",
      "reason",
    ];
    if (!checked.success) {
      const placed = placeErrors(rename(zodErrors(checked.error)), names);
      setErrors(placed.fields);
      setFormError(placed.form);
      return;
    }
    await sending.run(async () => {
      try {
        await api("POST", "/partners", body);
        setF(empty);
        setErrors({});
        setFormError(null);
        onDone();
      } catch (err) {
        const r = submissionErrors(err, names, name);
        setErrors(r.fields);
        setFormError(r.form);
      }
    });
  };
  return (
    <form className="panel" onSubmit={submit} noValidate aria-labelledby="register-partner">
      <h2 id="register-partner">Register a partner</h2>
      <p className="hint">A new partner starts as applied; activate it when it is vetted.</p>
      <FormError message={formError} />
      <div className="grid2">
        <div>
          <Select
            label="Kind"
            name="kind"
            value={f.kind}
            options={["organization", "country"]}
            onChange={(v) => set("kind")(v as "organization" | "country")}
            errors={errors}
          />
          <TextField label="Partner id" name="id" value={f.id} onChange={set("id")} errors={errors} />
          <TextField label="Name" name="name" value={f.name} onChange={set("name")} errors={errors} />
          {f.kind === "country" ? (
            <TextField
              label="Countries"
              name="countries"
              value={f.countries}
              onChange={set("countries")}
              errors={errors}
              hint="Country codes or set names, e.g. G7, FIVE_EYES"
            />
          ) : (
            <>
              <TextField
                label="Home country"
                name="country"
                value={f.country}
                onChange={set("country")}
                errors={errors}
              />
              <TextField
                label="Locations (optional)"
                name="locations"
                value={f.locations}
                onChange={set("locations")}
                errors={errors}
                hint="Where its people may be served; default: its home country."
              />
            </>
          )}
        </div>
        <div>
          <Select
            label="Required identity assurance"
            name="assurance"
            value={f.assurance}
            options={ASSURANCE_LEVELS}
            onChange={set("assurance")}
            errors={errors}
          />
          <TextField
            label="Granted models"
            name="models"
            value={f.models}
            onChange={set("models")}
            errors={errors}
            hint="e.g. mythos-5"
          />
          <Checkboxes
            legend="Granted actions"
            name="actions"
            options={ACTIONS}
            value={f.actions}
            onChange={set("actions")}
            errors={errors}
          />
          <TextArea label="Reason" name="reason" value={f.reason} onChange={set("reason")} errors={errors} />
        </div>
      </div>
      <button type="submit" disabled={sending.busy}>
        Register partner
      </button>
    </form>
  );
}

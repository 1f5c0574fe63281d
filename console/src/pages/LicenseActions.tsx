/** What the caller may do to a license now: approve (with narrowing conditions) or deny; suspend, reinstate, revoke. */
import { useState, type FormEvent } from "react";
import { approvalBody, reasonBody } from "../../../src/licensing/schema.js";
import type { LicenseRecord } from "../../../src/licensing/types.js";
import { api, ApiError } from "../api.js";
import { END_HINT } from "../components/dates.js";
import {
  FormError,
  TextArea,
  TextField,
  list,
  placeErrors,
  submissionErrors,
  useBusy,
  zodErrors,
} from "../components/form.js";
import { can, type Me } from "../roles.js";

export function LicenseActions({
  me,
  license: l,
  onDone,
}: {
  me: Me;
  license: LicenseRecord;
  onDone: () => void;
}) {
  const path = `/licenses/${encodeURIComponent(l.id)}`;
  const status: ("suspend" | "reinstate" | "revoke")[] =
    l.status === "approved" ? ["suspend", "revoke"] : l.status === "suspended" ? ["reinstate", "revoke"] : [];
  const approving = l.status === "pending" && can.approve(me);
  const changing = status.length > 0 && can.changeLicense(me);
  if (!approving && !changing) return null;
  return (
    <div className="panel">
      <h2>Decide</h2>
      <div className="grid2">
        {approving ? <ApproveForm path={path} onDone={onDone} /> : null}
        {approving ? (
          <ReasonForm path={path} action="deny" label="Deny the application" onDone={onDone} />
        ) : null}
        {changing
          ? status.map((a) => (
              <ReasonForm
                key={a}
                path={path}
                action={a}
                label={`${a[0]!.toUpperCase()}${a.slice(1)} the license`}
                onDone={onDone}
              />
            ))
          : null}
      </div>
    </div>
  );
}

/** The approval form's fields: the conditions, without their `conditions.` prefix. */
const CONDITIONS = ["destinations", "quota_tokens", "valid_until", "note"];

function ApproveForm({ path, onDone }: { path: string; onDone: () => void }) {
  const [f, setF] = useState({ destinations: "", quota_tokens: "", valid_until: "", note: "" });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const sending = useBusy();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const conditions = {
      ...(f.destinations.trim() ? { destinations: list(f.destinations, true) } : {}),
      ...(f.quota_tokens.trim() ? { quota_tokens: Number(f.quota_tokens) } : {}),
      ...(f.valid_until ? { valid_until: f.valid_until } : {}),
      ...(f.note.trim() ? { note: f.note } : {}),
    };
    const body = Object.keys(conditions).length > 0 ? { conditions } : {};
    const checked = approvalBody.safeParse(body);
    // Errors at the fields of `conditions`, named as the form names them; each message once.
    const rename = (k: string) => k.replace(/^conditions\./, "");
    if (!checked.success) {
      const errs = zodErrors(checked.error);
      const placed = placeErrors(
        Object.fromEntries(Object.entries(errs).map(([k, v]) => [rename(k), v])),
        CONDITIONS,
      );
      setErrors(placed.fields);
      setFormError(placed.form);
      return;
    }
    await sending.run(async () => {
      try {
        await api("POST", `${path}/approve`, body);
        setErrors({});
        setFormError(null);
        onDone();
      } catch (err) {
        const { fields, form } = submissionErrors(err, CONDITIONS, rename);
        setErrors(fields);
        setFormError(form);
      }
    });
  };
  const set = (k: keyof typeof f) => (v: string) => setF((s) => ({ ...s, [k]: v }));
  return (
    <form onSubmit={submit} noValidate aria-labelledby="approve-heading">
      <h3 id="approve-heading">Approve</h3>
      <p className="hint">Conditions may only narrow the terms. Leave them empty to approve as shown.</p>
      <FormError message={formError} />
      <TextField
        label="Narrow destinations to"
        name="destinations"
        value={f.destinations}
        onChange={set("destinations")}
        errors={errors}
      />
      <TextField
        label="Lower the quota to"
        name="quota_tokens"
        value={f.quota_tokens}
        onChange={set("quota_tokens")}
        errors={errors}
      />
      <TextField
        label="End earlier, on"
        name="valid_until"
        type="date"
        value={f.valid_until}
        onChange={set("valid_until")}
        errors={errors}
        hint={END_HINT}
      />
      <TextArea label="Note" name="note" value={f.note} onChange={set("note")} errors={errors} />
      <button type="submit" disabled={sending.busy}>
        Approve
      </button>
    </form>
  );
}

function ReasonForm({
  path,
  action,
  label,
  onDone,
}: {
  path: string;
  action: "deny" | "suspend" | "reinstate" | "revoke";
  label: string;
  onDone: () => void;
}) {
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const sending = useBusy();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const checked = reasonBody.safeParse({ reason });
    if (!checked.success) return setErrors(zodErrors(checked.error));
    await sending.run(async () => {
      try {
        await api("POST", `${path}/${action}`, { reason });
        setReason("");
        setErrors({});
        setFormError(null);
        onDone();
      } catch (err) {
        // The workflow names a missing reason by code; it belongs at the reason field.
        if (err instanceof ApiError && err.code === "reason-required") {
          setErrors({ reason: err.message });
          return;
        }
        const { fields, form } = submissionErrors(err, ["reason"]);
        setErrors(fields);
        setFormError(form);
      }
    });
  };
  return (
    <form onSubmit={submit} noValidate aria-labelledby={`${action}-heading`}>
      <h3 id={`${action}-heading`}>{label}</h3>
      <FormError message={formError} />
      <TextArea
        label={`Reason to ${action}`}
        name="reason"
        value={reason}
        onChange={setReason}
        errors={errors}
      />
      <button type="submit" className={action === "reinstate" ? "" : "danger"} disabled={sending.busy}>
        {action[0]!.toUpperCase() + action.slice(1)}
      </button>
    </form>
  );
}

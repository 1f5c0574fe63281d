/**
 * Registering or changing a partner's identity provider. The body is checked with the API's own
 * schemas (providerInputSchema, and providerUpdateSchema for a change) before it is sent; errors land
 * at the field the schema's path names; nothing typed is cleared by an error.
 */
import { useState, type FormEvent } from "react";
import {
  ALGORITHMS,
  DEFAULT_ALGORITHMS,
  providerInputSchema,
  providerUpdateSchema,
} from "../../../src/identity/schema.js";
import { ASSURANCE_LEVELS } from "../../../src/policy/types.js";
import { api } from "../api.js";
import { foundText, usePrefixSearch } from "../components/search.js";
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
import type { ProviderView } from "./IdentityProviders.js";

const CLAIMS = ["subject", "citizenships", "residence", "organization", "display_name"] as const;
const CLAIM_LABELS: Readonly<Record<(typeof CLAIMS)[number], string>> = {
  subject: "Subject claim",
  citizenships: "Citizenships claim",
  residence: "Residence claim",
  organization: "Organization claim",
  display_name: "Display name claim",
};
type KeySource = "discovery" | "jwks_uri" | "jwks";

/** A claim path as typed: a dotted path, or a JSON list of segments for names with dots. */
function claimPath(text: string): unknown {
  const t = text.trim();
  if (!t.startsWith("[")) return t;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return t;
  }
}

function initial(p: ProviderView | null) {
  const claim = (k: (typeof CLAIMS)[number]) => {
    const v = p?.claims[k];
    return v === undefined
      ? k === "subject"
        ? "sub"
        : ""
      : Array.isArray(v)
        ? JSON.stringify(v)
        : String(v);
  };
  return {
    partner: p?.partner ?? "",
    id: p?.id ?? "",
    name: p?.name ?? "",
    issuer: p?.issuer ?? "",
    source: (p?.jwks !== undefined
      ? "jwks"
      : p?.jwks_uri !== undefined
        ? "jwks_uri"
        : "discovery") as KeySource,
    jwks_uri: p?.jwks_uri ?? "",
    jwks: p?.jwks !== undefined ? JSON.stringify(p.jwks, null, 2) : "",
    audiences: p?.audiences.join(", ") ?? "",
    algorithms: [...(p?.algorithms ?? DEFAULT_ALGORITHMS)],
    claims: Object.fromEntries(CLAIMS.map((k) => [k, claim(k)])) as Record<(typeof CLAIMS)[number], string>,
    level: (p?.assurance.level ?? "none") as string,
    max_assurance: (p?.max_assurance ?? "verified") as string,
    reason: "",
  };
}

export function ProviderForm({
  editing,
  onDone,
  onCancel,
}: {
  editing: ProviderView | null;
  onDone: (id: string) => void;
  onCancel: () => void;
}) {
  const [f, setF] = useState(() => ({ ...initial(editing), partner: editing?.partner ?? "" }));
  // The partner is found by the start of its id or name (every partner was read for the choice);
  // a change keeps its provider's partner.
  const [search, setSearch] = useState("");
  const found = usePrefixSearch("/partners", search, editing === null);
  const options = found?.ids ?? [];
  // A search answers: the select shows the first option when the choice is no longer in it, and
  // the form sends what it shows.
  const partner = editing?.partner ?? (options.includes(f.partner) ? f.partner : (options[0] ?? ""));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const sending = useBusy();
  const set =
    <K extends keyof typeof f>(k: K) =>
    (v: (typeof f)[K]) =>
      setF((s) => ({ ...s, [k]: v }));
  const setClaim = (k: (typeof CLAIMS)[number]) => (v: string) =>
    setF((s) => ({ ...s, claims: { ...s.claims, [k]: v } }));

  const body = () => {
    // What the form does not show (permanent residencies, the member names, acr / amr levels) is kept.
    const kept = Object.fromEntries(
      Object.entries(editing?.claims ?? {}).filter(([k]) => !(CLAIMS as readonly string[]).includes(k)),
    );
    const claims = {
      ...kept,
      ...Object.fromEntries(
        CLAIMS.filter((k) => f.claims[k].trim() !== "").map((k) => [k, claimPath(f.claims[k])]),
      ),
    };
    let jwks: unknown = undefined;
    if (f.source === "jwks") {
      try {
        jwks = JSON.parse(f.jwks) as unknown;
      } catch {
        jwks = f.jwks; // the schema says what is wrong with it, at the field
      }
    }
    return {
      ...(editing ? {} : { id: f.id.trim() }),
      ...(f.name.trim() ? { name: f.name.trim() } : {}),
      issuer: f.issuer.trim(),
      ...(f.source === "discovery" ? { discovery: true } : {}),
      ...(f.source === "jwks_uri" ? { jwks_uri: f.jwks_uri.trim() } : {}),
      ...(f.source === "jwks" ? { jwks } : {}),
      audiences: list(f.audiences),
      algorithms: f.algorithms,
      claims,
      assurance: { ...editing?.assurance, level: f.level },
      max_assurance: f.max_assurance,
    };
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const b = body();
    const sent = editing ? { ...b, ...(f.reason.trim() ? { reason: f.reason.trim() } : {}) } : b;
    // A change is checked as the API checks it: as an update, and merged, as a whole provider.
    const checked = editing
      ? providerUpdateSchema.safeParse(sent).success
        ? providerInputSchema.safeParse({ id: editing.id, ...b })
        : providerUpdateSchema.safeParse(sent)
      : providerInputSchema.safeParse(b);
    // The fields this form shows now: each message once, at its field; the rest for the form.
    const names = [
      ...(editing ? [] : ["partner", "id"]),
      "name",
      "issuer",
      "audiences",
      ...(f.source === "jwks_uri" ? ["jwks_uri"] : f.source === "jwks" ? ["jwks"] : []),
      "algorithms",
      ...CLAIMS.map((k) => `claims.${k}`),
      "assurance.level",
      "max_assurance",
      ...(editing ? ["reason"] : []),
    ];
    if (!checked.success) {
      const placed = placeErrors(zodErrors(checked.error), names);
      setErrors(placed.fields);
      setFormError(placed.form);
      return;
    }
    if (partner === "") {
      setErrors({ partner: "choose the partner whose provider this is" });
      return;
    }
    const base = `/partners/${encodeURIComponent(partner)}/identity-providers`;
    await sending.run(async () => {
      try {
        await api("POST", editing ? `${base}/${encodeURIComponent(editing.id)}` : base, sent);
        setErrors({});
        setFormError(null);
        onDone(editing?.id ?? f.id.trim());
      } catch (err) {
        const r = submissionErrors(err, names);
        setErrors(r.fields);
        setFormError(r.form);
      }
    });
  };

  const heading = editing ? `Change ${editing.id}` : "Register an identity provider";
  return (
    <form className="panel" onSubmit={submit} noValidate aria-labelledby="provider-form">
      <h2 id="provider-form">{heading}</h2>
      <FormError message={formError} />
      <div className="grid2">
        <div>
          {editing ? (
            <p>
              Partner <strong>{editing.partner}</strong>, provider <strong>{editing.id}</strong>
            </p>
          ) : (
            <>
              <TextField
                label="Find by id or name"
                name="find"
                value={search}
                onChange={setSearch}
                errors={{}}
                hint="the start of a partner's id or name"
              />
              <Select
                label="Partner"
                name="partner"
                value={partner}
                options={options}
                onChange={set("partner")}
                errors={errors}
              />
              <p className="hint" role="status">
                {found === null
                  ? ""
                  : search.trim() === "" && found.error === null
                    ? found.more
                      ? `The first ${found.ids.length} partners are offered: find any other by its id or name.`
                      : ""
                    : foundText(found)}
              </p>
              <TextField label="Provider id" name="id" value={f.id} onChange={set("id")} errors={errors} />
            </>
          )}
          <TextField label="Name" name="name" value={f.name} onChange={set("name")} errors={errors} />
          <TextField
            label="Issuer"
            name="issuer"
            value={f.issuer}
            onChange={set("issuer")}
            errors={errors}
            hint="Exactly as the tokens' iss claim says it."
          />
          <TextField
            label="Audiences"
            name="audiences"
            value={f.audiences}
            onChange={set("audiences")}
            errors={errors}
            hint="The tokens' aud values this gateway accepts, separated by commas."
          />
          <Select
            label="Keys from"
            name="source"
            value={f.source}
            options={[
              { value: "discovery", label: "the issuer's discovery document" },
              { value: "jwks_uri", label: "a JWKS URL" },
              { value: "jwks", label: "an inline key set (air-gapped)" },
            ]}
            onChange={(v) => set("source")(v as KeySource)}
            errors={errors}
          />
          {f.source === "jwks_uri" ? (
            <TextField
              label="JWKS URL"
              name="jwks_uri"
              value={f.jwks_uri}
              onChange={set("jwks_uri")}
              errors={errors}
            />
          ) : null}
          {f.source === "jwks" ? (
            <TextArea
              label="Key set (JSON)"
              name="jwks"
              value={f.jwks}
              onChange={set("jwks")}
              errors={errors}
              rows={6}
            />
          ) : null}
          <Checkboxes
            legend="Algorithms"
            name="algorithms"
            options={ALGORITHMS}
            value={f.algorithms}
            onChange={set("algorithms")}
            errors={errors}
          />
        </div>
        <div>
          <fieldset className="field">
            <legend>Claim mapping</legend>
            <p className="hint">
              A dotted path (address.country, nat[0]), or a JSON list of segments for a claim name with dots.
            </p>
            {CLAIMS.map((k) => (
              <TextField
                key={k}
                label={CLAIM_LABELS[k]}
                name={`claims.${k}`}
                value={f.claims[k]}
                onChange={setClaim(k)}
                errors={errors}
              />
            ))}
          </fieldset>
          <Select
            label="Assurance when the token says nothing"
            name="assurance.level"
            value={f.level}
            options={ASSURANCE_LEVELS}
            onChange={set("level")}
            errors={errors}
          />
          <Select
            label="Most assurance it may vouch for"
            name="max_assurance"
            value={f.max_assurance}
            options={ASSURANCE_LEVELS}
            onChange={set("max_assurance")}
            errors={errors}
          />
          {editing ? (
            <TextField
              label="Reason for the change"
              name="reason"
              value={f.reason}
              onChange={set("reason")}
              errors={errors}
            />
          ) : null}
        </div>
      </div>
      <div className="row">
        <button type="submit" disabled={sending.busy}>
          {editing ? "Save changes" : "Register provider"}
        </button>
        {editing ? (
          <button type="button" className="secondary" onClick={onCancel}>
            Cancel
          </button>
        ) : null}
      </div>
    </form>
  );
}

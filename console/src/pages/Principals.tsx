/**
 * Principals (the facts decisions read about a person) and their API keys: add a principal, create
 * a key (shown once, never again), revoke one.
 */
import { useState, type FormEvent } from "react";
import { keyCreation } from "../../../src/control/schemas.js";
import type { Principal } from "../../../src/policy/types.js";
import type { ApiKeyRecord } from "../../../src/store/index.js";
import { principalSchema } from "../../../src/policy/input.js";
import { ASSURANCE_LEVELS } from "../../../src/policy/types.js";
import { api, listFirst, type Bounded } from "../api.js";
import {
  countryCode,
  FormError,
  Select,
  TextField,
  list,
  placeErrors,
  submissionErrors,
  useBusy,
  zodErrors,
} from "../components/form.js";
import { instantText } from "../components/dates.js";
import { foundText, usePrefixSearch } from "../components/search.js";
import { isolated, visible } from "../components/text.js";
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

/** A key as the API lists it: never its hash. */
type KeyView = Omit<ApiKeyRecord, "hash">;

const orgText = (o: Principal["organization"]) => (o == null ? null : typeof o === "string" ? o : o.id);
/** Each citizenship as stored, its own isolated text (ShownAll). */
const nationalities = (n: Principal["citizenships"] = []) =>
  n.map((c) => (c.since ? `${c.country} (since ${instantText(c.since)})` : c.country));

export function PrincipalsPage({ me }: { me: Me }) {
  const state = useLoad(
    async () => ({
      principals: await listFirst<Principal>("/principals"),
      keys: await listFirst<KeyView>("/keys"),
    }),
    [],
  );
  // A revocation refused or failed (the key removed with its principal meanwhile, the store down):
  // said, and the list read again, rather than the key left shown as active without a word.
  const [revokeError, setRevokeError] = useState<string | null>(null);
  return (
    <section>
      <PageHeading title="Principals and keys" />
      <Loading state={state}>
        {({ principals, keys }) => (
          <>
            <div className="table-wrap">
              <table>
                <caption className="hint">{counted(principals, "principal", "principals")}</caption>
                <thead>
                  <tr>
                    <th scope="col">Principal</th>
                    <th scope="col">Citizenships</th>
                    <th scope="col">Residence</th>
                    <th scope="col">Organization</th>
                    <th scope="col">Assurance</th>
                    <th scope="col">Screening</th>
                  </tr>
                </thead>
                <tbody>
                  {principals.rows.map((p) => (
                    <tr key={p.id}>
                      <td>
                        <Shown text={p.id} />
                      </td>
                      <td>
                        <ShownAll items={nationalities(p.citizenships)} />
                      </td>
                      <td>
                        <Shown text={p.residence} />
                      </td>
                      <td>
                        <Shown text={orgText(p.organization)} />
                      </td>
                      <td>
                        <Shown text={p.assurance ?? "none"} />
                      </td>
                      <td>
                        <Status value={p.screening ?? "clear"} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <MoreNotShown list={principals} what="principals" path="/principals" />
            {can.manage(me) ? <AddPrincipal onDone={state.reload} /> : null}
            <h2>API keys</h2>
            <FormError message={revokeError} />
            {can.manage(me) ? <CreateKey principals={principals} onDone={state.reload} /> : null}
            <div className="table-wrap">
              <table>
                <caption className="hint">{counted(keys, "API key", "API keys")}</caption>
                <thead>
                  <tr>
                    <th scope="col">Key</th>
                    <th scope="col">Principal</th>
                    <th scope="col">Label</th>
                    <th scope="col">Created</th>
                    <th scope="col">Status</th>
                    {can.manage(me) ? <th scope="col">Action</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {keys.rows.map((k) => (
                    <tr key={k.id}>
                      <td className="mono">
                        <Shown text={k.id} />
                      </td>
                      <td>
                        <Shown text={k.principalId} />
                      </td>
                      <td>
                        <Shown text={k.label} />
                      </td>
                      <td>
                        <ShownTime at={k.createdAt} />
                      </td>
                      <td>
                        <Status value={k.revokedAt === null ? "active" : "revoked"} />
                      </td>
                      {can.manage(me) ? (
                        <td>
                          {k.revokedAt === null ? (
                            <Revoke k={k} onError={setRevokeError} onDone={state.reload} />
                          ) : null}
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <MoreNotShown list={keys} what="API keys" path="/keys" />
          </>
        )}
      </Loading>
    </section>
  );
}

function Revoke({
  k,
  onError,
  onDone,
}: {
  k: KeyView;
  onError: (message: string | null) => void;
  onDone: () => void;
}) {
  const sending = useBusy();
  const revoke = () =>
    sending.run(() =>
      api("POST", `/keys/${encodeURIComponent(k.id)}/revoke`)
        .then(
          () => onError(null),
          (err: Error) =>
            onError(`Key ${visible(k.id)} of ${visible(k.principalId)} was not revoked: ${err.message}`),
        )
        .then(onDone),
    );
  return (
    <button
      type="button"
      className="danger"
      disabled={sending.busy}
      aria-label={`Revoke key ${visible(k.id)} of ${visible(k.principalId)}`}
      onClick={() => {
        if (
          window.confirm(
            `Revoke key ${isolated(k.id)} of ${isolated(k.principalId)}? Requests with it fail at once.`,
          )
        )
          void revoke();
      }}
    >
      Revoke
    </button>
  );
}

/**
 * "FR, CA:2019-05-01" → [{country: "FR"}, {country: "CA", since: "2019-05-01"}]; split at the first
 * colon only, so a date-time keeps its own ("CA:2019-05-01T00:00:00Z").
 */
export const parseNationalities = (s: string) =>
  list(s).map((x) => {
    const at = x.indexOf(":");
    const country = countryCode(at < 0 ? x : x.slice(0, at));
    const since = at < 0 ? "" : x.slice(at + 1).trim();
    return since ? { country, since } : { country };
  });

const PRINCIPAL_FIELDS = ["id", "citizenships", "residence", "organization", "assurance"];

function AddPrincipal({ onDone }: { onDone: () => void }) {
  const [f, setF] = useState({
    id: "",
    citizenships: "",
    residence: "",
    organization: "",
    assurance: "none",
  });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [added, setAdded] = useState<string | null>(null);
  const sending = useBusy();
  const set = (k: keyof typeof f) => (v: string) => setF((s) => ({ ...s, [k]: v }));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = {
      id: f.id.trim(),
      citizenships: parseNationalities(f.citizenships),
      ...(f.residence.trim() ? { residence: countryCode(f.residence) } : {}),
      ...(f.organization.trim() ? { organization: f.organization.trim() } : {}),
      assurance: f.assurance,
    };
    const checked = principalSchema.safeParse(body);
    if (!checked.success) {
      const placed = placeErrors(zodErrors(checked.error), PRINCIPAL_FIELDS);
      setErrors(placed.fields);
      setFormError(placed.form);
      return;
    }
    await sending.run(async () => {
      try {
        await api("POST", "/principals", body);
        setAdded(body.id);
        setErrors({});
        setFormError(null);
        setF({ id: "", citizenships: "", residence: "", organization: "", assurance: "none" });
        onDone();
      } catch (err) {
        const r = submissionErrors(err, PRINCIPAL_FIELDS);
        setErrors(r.fields);
        setFormError(r.form);
      }
    });
  };
  return (
    <form className="panel" onSubmit={submit} noValidate aria-labelledby="add-principal">
      <h2 id="add-principal">Add a principal</h2>
      <FormError message={formError} />
      {added ? <p className="notice">Principal {added} added.</p> : null}
      <div className="grid2">
        <TextField label="Principal id" name="id" value={f.id} onChange={set("id")} errors={errors} />
        <TextField
          label="Citizenships"
          name="citizenships"
          value={f.citizenships}
          onChange={set("citizenships")}
          errors={errors}
          hint="Country codes, each optionally with the date acquired: FR, CA:2019-05-01"
        />
        <TextField
          label="Residence"
          name="residence"
          value={f.residence}
          onChange={set("residence")}
          errors={errors}
        />
        <TextField
          label="Organization"
          name="organization"
          value={f.organization}
          onChange={set("organization")}
          errors={errors}
        />
        <Select
          label="Identity assurance"
          name="assurance"
          value={f.assurance}
          options={ASSURANCE_LEVELS}
          onChange={set("assurance")}
          errors={errors}
        />
      </div>
      <button type="submit" disabled={sending.busy}>
        Add principal
      </button>
    </form>
  );
}

function CreateKey({ principals, onDone }: { principals: Bounded<Principal>; onDone: () => void }) {
  const [search, setSearch] = useState("");
  const found = usePrefixSearch("/principals", search);
  const options = found === null ? principals.rows.map((p) => p.id) : found.ids;
  const [picked, setPrincipal] = useState(options[0] ?? "");
  // The list is reloaded under the form (a principal added, one removed elsewhere), or a search
  // answers: the select shows the first option when the choice is no longer in it, and the form
  // sends what it shows.
  const principal = options.includes(picked) ? picked : (options[0] ?? "");
  const [label, setLabel] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [created, setCreated] = useState<(KeyView & { key: string }) | null>(null);
  // One key per click: a second submission while the first ran (a double click, Enter pressed
  // again on a slow server) created a second live key, and only the last was shown — the other, a
  // working credential, never seen by anyone.
  const sending = useBusy();
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const body = { principal, ...(label.trim() ? { label: label.trim() } : {}) };
    const checked = keyCreation.safeParse(body);
    if (!checked.success) return setErrors(zodErrors(checked.error));
    await sending.run(async () => {
      try {
        const r = await api<KeyView & { key: string }>("POST", "/keys", body);
        setCreated(r);
        setLabel("");
        setErrors({});
        setFormError(null);
        onDone();
      } catch (err) {
        const r = submissionErrors(err, ["principal", "label"]);
        setErrors(r.fields);
        setFormError(r.form);
      }
    });
  };
  return (
    <form className="panel" onSubmit={submit} noValidate aria-labelledby="create-key">
      <h3 id="create-key">Create an API key</h3>
      <FormError message={formError} />
      {created ? (
        <div role="status">
          <p>
            <strong>
              New key for <Shown text={created.principalId} /> (<Shown text={created.id} />
              ). It is shown once: copy it now; it cannot be shown again.
            </strong>
          </p>
          <p className="secret" aria-label="New API key">
            {created.key}
          </p>
          <div className="row">
            <button
              type="button"
              className="secondary"
              onClick={() => void navigator.clipboard?.writeText(created.key)}
            >
              Copy
            </button>
            <button type="button" className="secondary" onClick={() => setCreated(null)}>
              I have stored it
            </button>
          </div>
        </div>
      ) : null}
      <div className="row">
        <TextField
          label="Find by id or name"
          name="find"
          value={search}
          onChange={setSearch}
          errors={{}}
          hint="the start of a principal's id or name"
        />
        <Select
          label="Principal"
          name="principal"
          value={principal}
          options={options}
          onChange={setPrincipal}
          errors={errors}
        />
        <TextField
          label="Label"
          name="label"
          value={label}
          onChange={setLabel}
          errors={errors}
          hint="e.g. laptop"
        />
        <button type="submit" disabled={sending.busy}>
          Create key
        </button>
      </div>
      <p className="hint" role="status">
        {found === null
          ? principals.more
            ? `The first ${principals.rows.length} principals are offered: find any other by its id or name.`
            : ""
          : foundText(found)}
      </p>
    </form>
  );
}

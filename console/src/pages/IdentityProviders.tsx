/**
 * Identity providers: each partner's registered OIDC / JWKS issuers (issuer, audiences, where the
 * keys come from and their state on this node, how claims map to a principal's facts, the most
 * assurance it may vouch for); register, change and remove them; and the federated principals their
 * tokens created, with their screening status, to block or unblock one by one.
 */
import { useState } from "react";
import type { ProviderRecord } from "../../../src/identity/schema.js";
import { api, listAll } from "../api.js";
import { TextField, submissionErrors, useBusy } from "../components/form.js";
import { isolated, visible } from "../components/text.js";
import { Loading, PageHeading, Shown, ShownAll, Status, useLoad } from "../components/ui.js";
import { can, type Me } from "../roles.js";
import { FederatedPrincipals } from "./FederatedPrincipals.js";
import { ProviderForm } from "./ProviderForm.js";

export type ProviderView = ProviderRecord & {
  revision: number;
  keys?: { kids: string[]; fetched_at: string | null; last_error: string | null; usable: boolean } | null;
};

const claimText = (c: unknown) => (Array.isArray(c) ? JSON.stringify(c) : String(c));

async function loadProviders(): Promise<{ providers: ProviderView[] }> {
  // Every partner's providers in one list (it was one request a partner); a partner's person gets
  // its own partner's only, from the API. The form finds its partner itself (ProviderForm).
  return { providers: await listAll<ProviderView>("/identity-providers") };
}

export function IdentityProvidersPage({ me }: { me: Me }) {
  const state = useLoad(loadProviders, [me.id]);
  const [editing, setEditing] = useState<ProviderView | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const done = (message: string) => {
    setNotice(message);
    setEditing(null);
    state.reload();
  };
  return (
    <section>
      <PageHeading title="Identity providers" />
      {notice ? (
        <p role="status" className="verify-ok">
          {visible(notice)}
        </p>
      ) : null}
      <Loading state={state}>
        {({ providers }) => (
          <>
            {providers.length === 0 ? (
              <p>No partner has an identity provider registered.</p>
            ) : (
              <div className="table-wrap">
                <table>
                  <caption className="hint">{providers.length} identity providers</caption>
                  <thead>
                    <tr>
                      <th scope="col">Provider</th>
                      <th scope="col">Partner</th>
                      <th scope="col">Issuer and audiences</th>
                      <th scope="col">Keys</th>
                      <th scope="col">Claim mapping</th>
                      <th scope="col">Vouches for</th>
                      {can.manage(me) ? <th scope="col">Change</th> : null}
                    </tr>
                  </thead>
                  <tbody>
                    {providers.map((p) => (
                      <tr key={p.id}>
                        <td>
                          <Shown text={p.name ?? p.id} />
                          {p.name ? (
                            <span className="hint">
                              {" "}
                              (<Shown text={p.id} />)
                            </span>
                          ) : null}
                        </td>
                        <td>
                          <Shown text={p.partner} />
                        </td>
                        <td>
                          <span className="mono">
                            <Shown text={p.issuer} />
                          </span>
                          <div className="hint">
                            aud: <ShownAll items={p.audiences} />
                          </div>
                        </td>
                        <td>
                          <KeysCell p={p} />
                        </td>
                        <td>
                          {Object.entries(p.claims)
                            .filter(([k]) => !k.endsWith("_member"))
                            .map(([k, v]) => (
                              <div key={k}>
                                <Shown text={k} /> ←{" "}
                                <span className="mono">
                                  <Shown text={claimText(v)} />
                                </span>
                              </div>
                            ))}
                        </td>
                        <td>
                          at most <Shown text={p.max_assurance} />
                          <div className="hint">
                            default level <Shown text={p.assurance.level} />
                          </div>
                        </td>
                        {can.manage(me) ? (
                          <td>
                            <button
                              type="button"
                              className="secondary"
                              onClick={() => setEditing(p)}
                              aria-label={`Edit ${visible(p.id)}`}
                            >
                              Edit
                            </button>
                            <RemoveForm p={p} onDone={() => done(`Identity provider ${p.id} removed.`)} />
                          </td>
                        ) : null}
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            )}
            {can.manage(me) ? (
              <ProviderForm
                key={editing?.id ?? "new"}
                editing={editing}
                onCancel={() => setEditing(null)}
                onDone={(id) =>
                  done(editing ? `Identity provider ${id} changed.` : `Identity provider ${id} registered.`)
                }
              />
            ) : null}
          </>
        )}
      </Loading>
      <FederatedPrincipals me={me} />
    </section>
  );
}

function KeysCell({ p }: { p: ProviderView }) {
  const source = p.jwks !== undefined ? "inline key set" : (p.jwks_uri ?? "discovery");
  return (
    <>
      <span className="mono">
        <Shown text={source} />
      </span>
      {p.keys ? (
        <div>
          <Status value={p.keys.usable ? "usable" : "unusable"} />{" "}
          <span className="hint">
            {p.keys.kids.length} key{p.keys.kids.length === 1 ? "" : "s"}
            {p.keys.last_error ? (
              <>
                ; last error: <Shown text={p.keys.last_error} />
              </>
            ) : null}
          </span>
        </div>
      ) : null}
    </>
  );
}

function RemoveForm({ p, onDone }: { p: ProviderView; onDone: () => void }) {
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const sending = useBusy();
  const remove = async () => {
    if (!window.confirm(`Remove ${isolated(p.id)}? Its tokens are refused from then on.`)) return;
    const q = reason.trim() === "" ? "" : `?reason=${encodeURIComponent(reason.trim())}`;
    await sending.run(async () => {
      try {
        await api(
          "DELETE",
          `/partners/${encodeURIComponent(p.partner)}/identity-providers/${encodeURIComponent(p.id)}${q}`,
        );
        onDone();
      } catch (err) {
        const r = submissionErrors(err, ["reason"]);
        setErrors({ reason: Object.values(r.fields)[0] ?? r.form ?? "failed" });
      }
    });
  };
  return (
    <div className="compact" role="group" aria-label={`Remove ${visible(p.id)}`}>
      <TextField label="Reason" name="reason" value={reason} onChange={setReason} errors={errors} />
      <button type="button" className="secondary" disabled={sending.busy} onClick={() => void remove()}>
        Remove
      </button>
    </div>
  );
}

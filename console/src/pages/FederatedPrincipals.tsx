/**
 * The principals partners' identity providers vouched for (created on their first token): the facts
 * believed, when they were seen, their screening status, and a block (with a reason) that refuses
 * their provider's tokens for them while the provider keeps working for everyone else.
 */
import { useState, type FormEvent } from "react";
import { principalBlockBody, type PrincipalBlock } from "../../../src/identity/schema.js";
import type { FederatedPrincipalRecord } from "../../../src/store/index.js";
import type { MatchRow } from "../../../src/store/screening.js";
import { api, listFirst, type Bounded } from "../api.js";
import { TextField, submissionErrors, useBusy, zodErrors } from "../components/form.js";
import { visible } from "../components/text.js";
import {
  counted,
  Loading,
  MoreNotShown,
  Shown,
  ShownAll,
  ShownTime,
  Status,
  useLoad,
} from "../components/ui.js";
import { can, type Me } from "../roles.js";

type Federated = FederatedPrincipalRecord & { blocked: PrincipalBlock | null };

/** The worst screening status per principal: confirmed > potential > cleared > clear. */
function screeningOf(matches: readonly MatchRow[]): Map<string, string> {
  const rank = ["clear", "cleared", "resolved", "potential", "confirmed"];
  const out = new Map<string, string>();
  for (const m of matches) {
    const was = out.get(m.subject_id) ?? "clear";
    if (rank.indexOf(m.status) > rank.indexOf(was)) out.set(m.subject_id, m.status);
  }
  return out;
}

/**
 * A principal's screening status as read: from every match when all were read; from the first ones
 * only when the matches were cut at their bound, only "confirmed" is sure (no unread match is worse),
 * and anything else is "not read" — never "clear" for a principal whose potential match was not read.
 */
export function screeningStatus(matches: Bounded<MatchRow>): (id: string) => string {
  const worst = screeningOf(matches.rows);
  return (id) => {
    const status = worst.get(id) ?? "clear";
    return matches.more && status !== "confirmed" ? "not read" : status;
  };
}

/**
 * The facts believed, as the partner's identity provider sent them: each claimed value isolated and
 * its controls written out (a token from before the claim check may have carried a right-to-left
 * override in its organization or country claim).
 */
function Facts({ p }: { p: Federated }) {
  const q = p.principal;
  const org =
    q.organization == null ? null : typeof q.organization === "string" ? q.organization : q.organization.id;
  const parts = [
    q.citizenships?.length ? (
      <>
        citizen of <ShownAll items={q.citizenships.map((c) => c.country)} />
      </>
    ) : null,
    q.residence ? (
      <>
        resident in <Shown text={q.residence} />
      </>
    ) : null,
    org ? (
      <>
        of <Shown text={org} />
      </>
    ) : null,
    <>
      assurance <Shown text={q.assurance ?? "none"} />
    </>,
  ].filter((x) => x !== null);
  return (
    <>
      {parts.map((x, i) => (
        <span key={i}>
          {i === 0 ? null : "; "}
          {x}
        </span>
      ))}
    </>
  );
}

export function FederatedPrincipals({ me }: { me: Me }) {
  const state = useLoad(
    async () => ({
      principals: await listFirst<Federated>("/federated-principals"),
      // A partner's person does not read the screening queue: its column is left out.
      screening: can.read(me)
        ? screeningStatus(await listFirst<MatchRow>("/screening/matches?subject_kind=principal"))
        : null,
    }),
    [me.id],
  );
  return (
    <div className="panel">
      <h2>Federated principals</h2>
      <p className="hint">
        People a partner&apos;s identity provider vouched for, created on their first token.
      </p>
      <Loading state={state}>
        {({ principals, screening }) =>
          principals.rows.length === 0 ? (
            <p>No federated principal yet.</p>
          ) : (
            <div className="table-wrap">
              <table>
                <caption className="hint">
                  {counted(principals, "federated principal", "federated principals")}
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Principal</th>
                    <th scope="col">Vouched by</th>
                    <th scope="col">Facts believed</th>
                    <th scope="col">Last seen</th>
                    {screening ? <th scope="col">Screening</th> : null}
                    <th scope="col">Access</th>
                    {can.manage(me) ? <th scope="col">Block or unblock</th> : null}
                  </tr>
                </thead>
                <tbody>
                  {principals.rows.map((p) => (
                    <tr key={p.id}>
                      <td>
                        <Shown text={p.display_name ?? p.subject} />
                        <div className="hint mono">
                          <Shown text={p.id} />
                        </div>
                      </td>
                      <td>
                        <Shown text={p.provider} />{" "}
                        <span className="hint">
                          (<Shown text={p.partner} />)
                        </span>
                      </td>
                      <td>
                        <Facts p={p} />
                      </td>
                      <td>
                        <ShownTime at={p.last_seen} to="minute" />
                      </td>
                      {screening ? (
                        <td>
                          <Status value={screening(p.id)} />
                        </td>
                      ) : null}
                      <td>
                        <Status value={p.blocked ? "blocked" : "allowed"} />
                        {p.blocked ? (
                          <div className="hint">
                            by <Shown text={p.blocked.by} />: <Shown text={p.blocked.reason} />
                          </div>
                        ) : null}
                      </td>
                      {can.manage(me) ? (
                        <td>
                          <BlockForm p={p} onDone={state.reload} />
                        </td>
                      ) : null}
                    </tr>
                  ))}
                </tbody>
              </table>
              <MoreNotShown list={principals} what="federated principals" path="/federated-principals" />
            </div>
          )
        }
      </Loading>
    </div>
  );
}

function BlockForm({ p, onDone }: { p: Federated; onDone: () => void }) {
  const [reason, setReason] = useState("");
  const [errors, setErrors] = useState<Record<string, string>>({});
  const verb = p.blocked ? "unblock" : "block";
  const sending = useBusy();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void sending.run(async () => {
      const checked = principalBlockBody.safeParse({ reason });
      if (!checked.success) return setErrors(zodErrors(checked.error));
      try {
        await api("POST", `/federated-principals/${encodeURIComponent(p.id)}/${verb}`, checked.data);
        setErrors({});
        setReason("");
        onDone();
      } catch (err) {
        const r = submissionErrors(err, ["reason"]);
        setErrors(Object.keys(r.fields).length > 0 ? r.fields : { reason: r.form ?? "failed" });
      }
    });
  };
  return (
    <form onSubmit={submit} noValidate className="row compact" aria-label={`${verb} ${visible(p.id)}`}>
      <TextField label="Reason" name="reason" value={reason} onChange={setReason} errors={errors} />
      <button type="submit" disabled={sending.busy}>
        {p.blocked ? "Unblock" : "Block"}
      </button>
    </form>
  );
}

/**
 * `clearance licenses …`: the license workflow against a running server — apply, two approvals by
 * two distinct approvers (or a denial), then suspend, reinstate, revoke; each step with a reason.
 */
import type { LicenseRecord, LicenseTerms } from "../../licensing/types.js";
import { APPROVALS_REQUIRED, countingApprovals } from "../../licensing/workflow.js";
import { LICENSE_STATUSES } from "../../policy/types.js";
import type { Page } from "./remote-client.js";
import { readJsonObject, remote, seg, type RemoteGroup } from "./remote-define.js";
import { fields, joined, listTable, setText, table, time, tokens } from "./remote-format.js";

interface LicenseUsage {
  readonly license: string;
  readonly status: string;
  readonly quota_period: string;
  readonly period: string;
  readonly used_tokens: number;
  readonly quota_tokens: number | null;
  readonly remaining_tokens: number | null;
}

const REASON = { flags: "--reason <text>", description: "why (kept in the record)", required: true } as const;

const licensee = (l: LicenseRecord): string =>
  "organization" in l.licensee ? l.licensee.organization : `principal ${l.licensee.principal}`;

const quota = (t: LicenseTerms): string =>
  t.quota_tokens === undefined
    ? "unlimited"
    : `${tokens(t.quota_tokens)} ${t.quota_period === "total" ? "in total" : `per ${t.quota_period}`}`;

/** Pending: the approvals that count (those before the countries were fixed do not). */
export const approvals = (l: LicenseRecord): string =>
  l.status === "pending"
    ? `${countingApprovals(l.approvals).length}/${APPROVALS_REQUIRED}`
    : String(l.approvals.length);

function details(l: LicenseRecord): string {
  const t = l.terms;
  return (
    fields([
      ["id", l.id],
      ["licensee", licensee(l)],
      ["status", l.status],
      ["models", joined(t.models)],
      ["actions", joined(t.actions)],
      ["destinations", setText(t.destinations)],
      ["purposes", t.purposes === undefined ? undefined : joined(t.purposes)],
      ["nationalities", t.nationalities === undefined ? undefined : setText(t.nationalities)],
      ["valid", `${t.valid_from} to ${t.valid_until}`],
      ["quota", quota(t)],
      ["applicant", l.applicant],
      ["justification", l.justification],
      ["approvals", approvals(l)],
    ]) +
    "\n" +
    table(
      ["AT", "ACTOR", "ACTION", "REASON / CONDITIONS"],
      l.history.map((h) => [
        time(h.at),
        h.actor,
        h.action,
        h.reason ?? (h.conditions === undefined ? "" : JSON.stringify(h.conditions)),
      ]),
    )
  );
}

/** After a status change: `license LIC-1 is now suspended`. */
const changed = (l: LicenseRecord) => `license ${l.id} is now ${l.status}\n`;

const withReason = (name: string, description: string) =>
  remote<LicenseRecord, { reason: string }>({
    name,
    description,
    args: [["<id>", "license id"]],
    options: [REASON],
    request: ({ args, opts }) => ({
      method: "POST",
      path: `/admin/v1/licenses/${seg(args[0]!)}/${name}`,
      body: { reason: opts.reason },
    }),
    render: changed,
  });

export const licenses: RemoteGroup = {
  name: "licenses",
  description: "licenses and applications: apply, approve (two approvers), deny, suspend, revoke (server)",
  commands: [
    remote<Page<LicenseRecord>, { status?: string; organization?: string }>({
      name: "list",
      description: "list licenses and applications",
      list: true,
      options: [
        { flags: "--status <status>", description: "only this status", choices: LICENSE_STATUSES },
        { flags: "--organization <id>", description: "only this organization's" },
      ],
      request: ({ opts }) => ({
        method: "GET",
        path: "/admin/v1/licenses",
        query: { status: opts.status, organization: opts.organization },
      }),
      render: ({ data }) =>
        listTable(
          "licenses",
          ["ID", "LICENSEE", "STATUS", "APPROVALS", "MODELS", "ACTIONS", "DESTINATIONS", "UNTIL", "QUOTA"],
          data.map((l) => [
            l.id,
            licensee(l),
            l.status,
            approvals(l),
            joined(l.terms.models),
            joined(l.terms.actions),
            setText(l.terms.destinations),
            l.terms.valid_until,
            quota(l.terms),
          ]),
        ),
    }),
    remote<LicenseRecord>({
      name: "show",
      description: "a license: its terms, approvals and history",
      args: [["<id>", "license id"]],
      request: ({ args }) => ({ method: "GET", path: `/admin/v1/licenses/${seg(args[0]!)}` }),
      render: details,
    }),
    remote<LicenseRecord, { file: string }>({
      name: "apply",
      description: "apply for a license from a JSON application file (- for stdin)",
      options: [
        {
          flags: "--file <file>",
          description:
            "the application: licensee, models, actions, destinations, valid_from, valid_until, justification, …",
          required: true,
        },
      ],
      request: ({ opts, io }) => ({
        method: "POST",
        path: "/admin/v1/licenses",
        body: readJsonObject(io, opts.file, "application"),
        file: opts.file,
      }),
      render: (l) =>
        `applied for license ${l.id} for ${licensee(l)}: ${l.status}, ` +
        `needs ${APPROVALS_REQUIRED} approvals by two approvers other than ${l.applicant}\n`,
    }),
    remote<LicenseRecord, { conditions?: string }>({
      name: "approve",
      description: `approve an application (it is approved after ${APPROVALS_REQUIRED} distinct approvers)`,
      args: [["<id>", "license id"]],
      options: [
        {
          flags: "--conditions <file>",
          description: "JSON narrowing the terms: destinations, quota_tokens, valid_until, note",
        },
      ],
      request: ({ args, opts, io }) => {
        const body: Record<string, unknown> = {};
        if (opts.conditions !== undefined) {
          const c = readJsonObject(io, opts.conditions, "conditions");
          // Either the conditions themselves or {"conditions": {...}}.
          const keys = Object.keys(c);
          body.conditions = keys.length === 1 && keys[0] === "conditions" ? c.conditions : c;
        }
        return { method: "POST", path: `/admin/v1/licenses/${seg(args[0]!)}/approve`, body };
      },
      render: (l) =>
        l.status === "pending"
          ? `approved license ${l.id}: ${countingApprovals(l.approvals).length} of ${APPROVALS_REQUIRED} approvals, still pending\n`
          : `approved license ${l.id}: it is now ${l.status}\n`,
    }),
    withReason("deny", "deny an application"),
    withReason("suspend", "suspend an approved license (effective at once)"),
    withReason("reinstate", "reinstate a suspended license"),
    withReason("revoke", "revoke a license for good"),
    remote<LicenseUsage>({
      name: "usage",
      description: "a license's quota and what is left of it in the current period",
      args: [["<id>", "license id"]],
      request: ({ args }) => ({ method: "GET", path: `/admin/v1/licenses/${seg(args[0]!)}/usage` }),
      render: (u) =>
        fields([
          ["license", u.license],
          ["status", u.status],
          [
            "period",
            u.quota_period === "total"
              ? "total (the license's whole term)"
              : `${u.period} (${u.quota_period})`,
          ],
          ["used", `${tokens(u.used_tokens)} tokens`],
          ["quota", u.quota_tokens === null ? "unlimited" : `${tokens(u.quota_tokens)} tokens`],
          ["remaining", u.remaining_tokens === null ? "unlimited" : `${tokens(u.remaining_tokens)} tokens`],
        ]),
    }),
  ],
};

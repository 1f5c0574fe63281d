/**
 * The admin API as commands, against a running server (`--url`, token from CLEARANCE_TOKEN):
 *
 *   clearance identities list|create|revoke
 *   clearance partners   list|show|register|activate|suspend|revoke
 *   clearance licenses   list|show|apply|approve|deny|suspend|reinstate|revoke|usage
 *   clearance schemes    list|upload|show|diff|activate|what-if
 *   clearance models list
 *   clearance reports    footprint
 *   clearance usage
 *   clearance remote principals list|show|add|remove
 *   clearance remote keys list|create|revoke
 *   clearance remote screening lists|diff|import|search|rescreen|review
 *   clearance remote partners idp add|list|show|update|remove
 *   clearance remote federated list|show|block|unblock
 *   clearance remote alerts list|show|ack|resolve
 *
 * (`clearance principals …` and `clearance keys …` work on the data directory directly, with no
 * server; their server counterparts are under `clearance remote`.) Readable tables by default,
 * `--json` for the API's answer as is. Exit codes: 0 done; 1 refused by the server or the server
 * cannot be reached; 2 invalid usage or input (a local file's, or the server's 400 invalid_request).
 */
import type { Command } from "commander";
import type { ApiKeyRecord } from "../../store/index.js";
import { ROLES, type Identity } from "../../control/types.js";
import type { Principal } from "../../policy/types.js";
import { readJsonWith, type Io } from "../io.js";
import { parsePrincipal } from "../../policy/index.js";
import type { Outcome } from "../outcome.js";
import type { Page } from "./remote-client.js";
import { principalSaved } from "../render.js";
import {
  registerRemoteCommand,
  registerRemoteGroup,
  remote,
  seg,
  type RemoteGroup,
} from "./remote-define.js";
import { dash, fields, joined, listTable, table, time, tokens } from "./remote-format.js";
import { federated, idp } from "./remote-idp.js";
import { alerts } from "./remote-alerts.js";
import { licenses } from "./remote-licenses.js";
import { partners } from "./remote-partners.js";
import { models, reports, schemes } from "./remote-schemes.js";
import { registerRemoteScreening } from "./remote-screening.js";

type IdentityView = Omit<Identity, "token_hash">;
type PublicKey = Omit<ApiKeyRecord, "hash">;

const identities: RemoteGroup = {
  name: "identities",
  description: "admin API identities: a token bound to roles (server)",
  commands: [
    remote<Page<IdentityView>>({
      name: "list",
      description: "list identities (never their tokens)",
      list: true,
      request: () => ({ method: "GET", path: "/admin/v1/identities" }),
      render: ({ data }) =>
        listTable(
          "identities",
          ["ID", "ROLES", "ORGANIZATION", "CREATED", "REVOKED", "NAME"],
          data.map((i) => [
            i.id,
            joined(i.roles),
            dash(i.organization),
            time(i.created_at),
            i.revoked_at === null ? "-" : time(i.revoked_at),
            i.name,
          ]),
        ),
    }),
    remote<
      IdentityView & { readonly token: string },
      { id: string; name: string; role: string[]; organization?: string }
    >({
      name: "create",
      description: "create an identity; its token is printed once, on stdout",
      options: [
        { flags: "--id <id>", description: "lower-case letters, digits and . _ @ -", required: true },
        { flags: "--name <name>", description: "who it is", required: true },
        {
          flags: "--role <role>",
          description: "a role (repeat for more)",
          required: true,
          repeatable: true,
          choices: ROLES,
        },
        { flags: "--organization <id>", description: "the organization an applicant acts for" },
      ],
      request: ({ opts }) => ({
        method: "POST",
        path: "/admin/v1/identities",
        body: {
          id: opts.id,
          name: opts.name,
          roles: opts.role,
          ...(opts.organization === undefined ? {} : { organization: opts.organization }),
        },
      }),
      render: (i) => ({
        stdout: `${i.token}\n`,
        stderr: `identity ${i.id} (${i.roles.join(", ")}): the token is shown once; store it now\n`,
      }),
    }),
    remote<{ readonly id: string }>({
      name: "revoke",
      description: "revoke an identity's token",
      args: [["<id>", "identity id"]],
      request: ({ args }) => ({ method: "POST", path: `/admin/v1/identities/${seg(args[0]!)}/revoke` }),
      render: (r) => `revoked identity ${r.id}\n`,
    }),
  ],
};

interface UsageTotals {
  readonly byOrganization: Readonly<Record<string, number>>;
  readonly byPrincipal?: Readonly<Record<string, number>>;
  readonly byLicense: Readonly<Record<string, number>>;
}

const totalsTable = (what: string, totals: Readonly<Record<string, number>>): string =>
  table(
    [what, "TOKENS"],
    Object.entries(totals)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => [k, tokens(v)]),
  );

const usage = remote<UsageTotals>({
  name: "usage",
  description: "token usage totals by organization, principal and license (server)",
  request: () => ({ method: "GET", path: "/admin/v1/usage" }),
  render: (u) => {
    const sections: [string, Readonly<Record<string, number>> | undefined][] = [
      ["ORGANIZATION", u.byOrganization],
      ["PRINCIPAL", u.byPrincipal],
      ["LICENSE", u.byLicense],
    ];
    const shown = sections.filter(
      (s): s is [string, Readonly<Record<string, number>>] =>
        s[1] !== undefined && Object.keys(s[1]).length > 0,
    );
    return shown.length === 0 ? "no usage recorded\n" : shown.map(([w, t]) => totalsTable(w, t)).join("\n");
  },
});

const organizationOf = (p: Principal): string =>
  typeof p.organization === "string" ? p.organization : dash(p.organization?.id);

const nationalities = (list: Principal["citizenships"]): string =>
  joined((list ?? []).map((n) => (n.since ? `${n.country} (since ${n.since})` : n.country)));

/** The principals and keys endpoints; `clearance principals|keys` are the local, data-dir commands. */
const remotePrincipals: RemoteGroup = {
  name: "principals",
  description: "principals on the server (clearance principals: the local data dir)",
  commands: [
    remote<Page<Principal>, { organization?: string }>({
      name: "list",
      description: "list principals",
      list: true,
      options: [{ flags: "--organization <id>", description: "only this organization's" }],
      request: ({ opts }) => ({
        method: "GET",
        path: "/admin/v1/principals",
        query: { organization: opts.organization },
      }),
      render: ({ data }) =>
        listTable(
          "principals",
          ["ID", "CITIZENSHIPS", "ORGANIZATION", "ASSURANCE", "SCREENING"],
          data.map((p) => [
            p.id,
            joined((p.citizenships ?? []).map((c) => c.country)),
            organizationOf(p),
            p.assurance ?? "none",
            p.screening ?? "clear",
          ]),
        ),
    }),
    remote<Principal>({
      name: "show",
      description: "a principal",
      args: [["<id>", "principal id"]],
      request: ({ args }) => ({ method: "GET", path: `/admin/v1/principals/${seg(args[0]!)}` }),
      render: (p) =>
        fields([
          ["id", p.id],
          ["citizenships", nationalities(p.citizenships)],
          ["permanent residencies", nationalities(p.permanent_residencies)],
          ["residence", dash(p.residence)],
          ["organization", organizationOf(p)],
          ["assurance", p.assurance ?? "none"],
          ["screening", p.screening ?? "clear"],
        ]),
    }),
    remote<Principal, { file: string }>({
      name: "add",
      description: "add or replace a principal from a JSON file (- for stdin)",
      options: [{ flags: "--file <file>", description: "principal JSON", required: true }],
      // Checked here first, as `clearance principals add` checks it: the same problems, naming the
      // file, and nothing sent. The file's own object is sent, for the server to check again.
      request: ({ opts, io }) => {
        const body = readJsonWith(io, opts.file, "principal", (v) => (parsePrincipal(v), v));
        return { method: "POST", path: "/admin/v1/principals", body, file: opts.file };
      },
      render: (p) => principalSaved(p.id),
    }),
    remote<{ readonly id: string }>({
      name: "remove",
      description: "remove a principal and its keys",
      args: [["<id>", "principal id"]],
      request: ({ args }) => ({ method: "DELETE", path: `/admin/v1/principals/${seg(args[0]!)}` }),
      render: (r) => `removed principal ${r.id} and its keys\n`,
    }),
  ],
};

const remoteKeys: RemoteGroup = {
  name: "keys",
  description: "API keys on the server (clearance keys: the local data dir)",
  commands: [
    remote<Page<PublicKey>, { principal?: string; status?: string }>({
      name: "list",
      description: "list API keys (never the secrets)",
      list: true,
      options: [
        { flags: "--principal <id>", description: "only this principal's keys" },
        {
          flags: "--status <status>",
          description: "only active or revoked keys",
          choices: ["active", "revoked"],
        },
      ],
      request: ({ opts }) => ({
        method: "GET",
        path: "/admin/v1/keys",
        query: { principal: opts.principal, status: opts.status },
      }),
      render: ({ data }) =>
        listTable(
          "keys",
          ["ID", "PRINCIPAL", "LABEL", "CREATED", "REVOKED"],
          data.map((k) => [
            k.id,
            k.principalId,
            dash(k.label),
            time(k.createdAt),
            k.revokedAt === null ? "active" : time(k.revokedAt),
          ]),
        ),
    }),
    remote<PublicKey & { readonly key: string }, { principal: string; label?: string }>({
      name: "create",
      description: "create an API key; it is printed once, on stdout",
      options: [
        { flags: "--principal <id>", description: "the principal the key acts for", required: true },
        { flags: "--label <label>", description: "a note to recognise the key by" },
      ],
      request: ({ opts }) => ({
        method: "POST",
        path: "/admin/v1/keys",
        body: { principal: opts.principal, ...(opts.label === undefined ? {} : { label: opts.label }) },
      }),
      render: (k) => ({
        stdout: `${k.key}\n`,
        stderr: `key ${k.id} for ${k.principalId}: shown once, store it now\n`,
      }),
    }),
    remote<{ readonly id: string }>({
      name: "revoke",
      description: "revoke an API key",
      args: [["<id>", "key id (the part after clr_, before the second _)"]],
      request: ({ args }) => ({ method: "POST", path: `/admin/v1/keys/${seg(args[0]!)}/revoke` }),
      render: (r) => `revoked key ${r.id}\n`,
    }),
  ],
};

export const REMOTE_GROUPS: readonly RemoteGroup[] = [
  identities,
  partners,
  licenses,
  schemes,
  models,
  reports,
];

export function registerRemote(
  program: Command,
  io: Io,
  outcome: Outcome,
  env: NodeJS.ProcessEnv = process.env,
): void {
  for (const group of REMOTE_GROUPS) registerRemoteGroup(program, group, io, outcome, env);
  registerRemoteCommand(program, usage, io, outcome, env);
  const more = program
    .command("remote")
    .description(
      "principals and API keys on a running server (clearance principals|keys: the local data dir)",
    );
  registerRemoteGroup(more, remotePrincipals, io, outcome, env);
  registerRemoteGroup(more, remoteKeys, io, outcome, env);
  registerRemoteScreening(more, io, outcome, env);
  const remotePartners = more
    .command("partners")
    .description("partners' identity providers on a running server (clearance partners: the partners)");
  registerRemoteGroup(remotePartners, idp, io, outcome, env);
  registerRemoteGroup(more, federated, io, outcome, env);
  registerRemoteGroup(more, alerts, io, outcome, env);
}

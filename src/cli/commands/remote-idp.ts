/**
 * `clearance remote partners idp add|list|show|update|remove`: a partner's identity providers, and
 * `clearance remote federated list|show|block|unblock`: the principals their tokens created.
 * A provider comes from a JSON file (as the admin API takes it), flags overriding its members.
 */
import type { PrincipalBlock, ProviderRecord } from "../../identity/schema.js";
import type { FederatedPrincipalRecord } from "../../store/index.js";
import type { Io } from "../io.js";
import type { Page } from "./remote-client.js";
import { readJsonObject, remote, seg, type RemoteGroup } from "./remote-define.js";
import { dash, fields, joined, listTable, time } from "./remote-format.js";

type Provider = ProviderRecord & {
  readonly revision?: number;
  readonly keys?: {
    kids: string[];
    fetched_at: string | null;
    last_error: string | null;
    usable: boolean;
  } | null;
};
type Federated = FederatedPrincipalRecord & { readonly blocked: PrincipalBlock | null };

interface ProviderOpts {
  file?: string;
  id?: string;
  name?: string;
  issuer?: string;
  audience?: string[];
  jwksUri?: string;
  algorithm?: string[];
  maxAssurance?: string;
  reason?: string;
}

const PROVIDER_OPTIONS = [
  { flags: "--file <file>", description: "the provider as JSON (- for stdin); flags override its members" },
  { flags: "--id <id>", description: "the provider's id (lower case, digits, -)" },
  { flags: "--name <name>", description: "a readable name" },
  { flags: "--issuer <url>", description: "the issuer, exactly as its tokens' iss" },
  { flags: "--audience <aud>", description: "an accepted aud (repeatable)", repeatable: true },
  { flags: "--jwks-uri <url>", description: "the key set's URL (default: OIDC discovery from the issuer)" },
  {
    flags: "--algorithm <alg>",
    description: "an allowed alg (repeatable; HS* and none are refused)",
    repeatable: true,
  },
  {
    flags: "--max-assurance <level>",
    description: "the most it may vouch for",
    choices: ["none", "self", "verified", "attested"],
  },
] as const;

function providerBody(io: Io, o: ProviderOpts): Record<string, unknown> {
  const base = o.file === undefined ? {} : readJsonObject(io, o.file, "identity provider");
  const set = (key: string, value: unknown) => (value === undefined ? {} : { [key]: value });
  return {
    ...base,
    ...set("id", o.id),
    ...set("name", o.name),
    ...set("issuer", o.issuer),
    ...set("audiences", o.audience),
    ...set("jwks_uri", o.jwksUri),
    ...set("algorithms", o.algorithm),
    ...set("max_assurance", o.maxAssurance),
  };
}

const base = (partner: string) => `/admin/v1/partners/${seg(partner)}/identity-providers`;

const keysSource = (p: Provider): string =>
  p.jwks !== undefined ? `inline (${p.jwks.keys.length} keys)` : (p.jwks_uri ?? "OIDC discovery");

export const idp: RemoteGroup = {
  name: "idp",
  description: "a partner's identity providers (OIDC / JWKS): add, list, show, update, remove",
  commands: [
    remote<Page<Provider>>({
      name: "list",
      description: "list a partner's identity providers",
      args: [["<partner>", "partner id"]],
      list: true,
      request: ({ args }) => ({ method: "GET", path: base(args[0]!) }),
      render: ({ data }) =>
        listTable(
          "identity providers",
          ["ID", "ISSUER", "AUDIENCES", "KEYS", "MAX ASSURANCE"],
          data.map((p) => [p.id, p.issuer, joined(p.audiences), keysSource(p), p.max_assurance]),
        ),
    }),
    remote<Provider>({
      name: "show",
      description: "an identity provider, with its key set as the server holds it",
      args: [
        ["<partner>", "partner id"],
        ["<id>", "provider id"],
      ],
      request: ({ args }) => ({ method: "GET", path: `${base(args[0]!)}/${seg(args[1]!)}` }),
      render: (p) =>
        fields([
          ["id", p.id],
          ["name", p.name],
          ["partner", p.partner],
          ["issuer", p.issuer],
          ["audiences", joined(p.audiences)],
          ["algorithms", joined(p.algorithms)],
          ["keys from", keysSource(p)],
          ["keys held", p.keys ? joined(p.keys.kids) : undefined],
          ["keys fetched", p.keys ? time(p.keys.fetched_at) : undefined],
          ["keys error", p.keys?.last_error ?? undefined],
          ["clock skew", `${p.clock_skew_s} s`],
          ["max token age", `${p.max_token_age_s} s`],
          ["claims", JSON.stringify(p.claims)],
          ["assurance", JSON.stringify(p.assurance)],
          ["max assurance", p.max_assurance],
          ["created", `${time(p.created_at)} by ${p.created_by}`],
        ]),
    }),
    remote<Provider, ProviderOpts>({
      name: "add",
      description: "register an identity provider for a partner",
      args: [["<partner>", "partner id"]],
      options: PROVIDER_OPTIONS,
      request: ({ args, opts, io }) => ({
        method: "POST",
        path: base(args[0]!),
        body: providerBody(io, opts),
      }),
      render: (p) =>
        `registered identity provider ${p.id} for partner ${p.partner} (issuer ${p.issuer}); its tokens are accepted from now on\n`,
    }),
    remote<Provider, ProviderOpts>({
      name: "update",
      description: "change an identity provider (members given replace the registered ones)",
      args: [
        ["<partner>", "partner id"],
        ["<id>", "provider id"],
      ],
      options: [
        ...PROVIDER_OPTIONS.filter((o) => o.flags !== "--id <id>"),
        { flags: "--reason <text>", description: "why (kept in the audit log)" },
      ],
      request: ({ args, opts, io }) => ({
        method: "POST",
        path: `${base(args[0]!)}/${seg(args[1]!)}`,
        body: { ...providerBody(io, opts), ...(opts.reason === undefined ? {} : { reason: opts.reason }) },
      }),
      render: (p) => `updated identity provider ${p.id} of partner ${p.partner}\n`,
    }),
    remote<{ id: string }, { reason: string }>({
      name: "remove",
      description: "remove an identity provider: its tokens are refused from then on",
      args: [
        ["<partner>", "partner id"],
        ["<id>", "provider id"],
      ],
      options: [{ flags: "--reason <text>", description: "why (kept in the audit log)", required: true }],
      request: ({ args, opts }) => ({
        method: "DELETE",
        path: `${base(args[0]!)}/${seg(args[1]!)}`,
        query: { reason: opts.reason },
      }),
      render: (r) => `removed identity provider ${r.id}; its tokens are refused\n`,
    }),
  ],
};

const blockCommand = (verb: "block" | "unblock") =>
  remote<{ id: string; blocked: boolean }, { reason: string }>({
    name: verb,
    description:
      verb === "block"
        ? "block one federated principal (its provider's tokens for it are refused)"
        : "unblock a federated principal",
    args: [["<id>", "federated principal id (fed:<provider>:<subject>)"]],
    options: [{ flags: "--reason <text>", description: "why (kept in the audit log)", required: true }],
    request: ({ args, opts }) => ({
      method: "POST",
      path: `/admin/v1/federated-principals/${seg(args[0]!)}/${verb}`,
      body: { reason: opts.reason },
    }),
    render: (r) => `${r.id}: ${r.blocked ? "blocked" : "unblocked"}\n`,
  });

export const federated: RemoteGroup = {
  name: "federated",
  description: "principals created from partners' tokens: list, show, block, unblock",
  commands: [
    remote<Page<Federated>, { provider?: string; partner?: string }>({
      name: "list",
      description: "list federated principals",
      list: true,
      options: [
        { flags: "--provider <id>", description: "only this identity provider's" },
        { flags: "--partner <id>", description: "only this partner's" },
      ],
      request: ({ opts }) => ({
        method: "GET",
        path: "/admin/v1/federated-principals",
        query: { provider: opts.provider, partner: opts.partner },
      }),
      render: ({ data }) =>
        listTable(
          "federated principals",
          ["ID", "PARTNER", "CITIZENSHIPS", "ORGANIZATION", "ASSURANCE", "LAST SEEN", "BLOCKED"],
          data.map((p) => [
            p.id,
            p.partner,
            joined((p.principal.citizenships ?? []).map((c) => c.country)),
            dash(
              typeof p.principal.organization === "string"
                ? p.principal.organization
                : p.principal.organization?.id,
            ),
            dash(p.principal.assurance),
            time(p.last_seen),
            p.blocked === null ? "-" : "blocked",
          ]),
        ),
    }),
    remote<Federated>({
      name: "show",
      description: "a federated principal: its source and the facts last vouched for",
      args: [["<id>", "federated principal id"]],
      request: ({ args }) => ({ method: "GET", path: `/admin/v1/federated-principals/${seg(args[0]!)}` }),
      render: (p) =>
        fields([
          ["id", p.id],
          ["source", `identity provider ${p.provider} (partner ${p.partner}, issuer ${p.issuer})`],
          ["subject", p.subject],
          ["name", p.display_name ?? undefined],
          ["principal", JSON.stringify(p.principal)],
          ["first seen", time(p.first_seen)],
          ["last seen", time(p.last_seen)],
          [
            "blocked",
            p.blocked === null ? "no" : `since ${time(p.blocked.at)} by ${p.blocked.by}: ${p.blocked.reason}`,
          ],
        ]),
    }),
    blockCommand("block"),
    blockCommand("unblock"),
  ],
};

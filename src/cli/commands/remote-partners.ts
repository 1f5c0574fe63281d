/** `clearance partners …`: country and organization partners, and their lifecycle (each step with a reason). */
import type { PartnerDocument, PartnerEvent } from "../../control/types.js";
import { InvalidInputError } from "../../errors/index.js";
import { PARTNER_STATUSES } from "../../policy/types.js";
import { readJsonObject, remote, seg, type RemoteGroup } from "./remote-define.js";
import type { Page } from "./remote-client.js";
import { dash, fields, listTable, setText, table, time } from "./remote-format.js";

type Partner = PartnerDocument & { readonly id: string; readonly revision?: number };

const KINDS = ["country", "organization"] as const;
const REASON = { flags: "--reason <text>", description: "why (kept in the record)", required: true } as const;

const grantsText = (p: Partner): string =>
  p.partner.grants.map((g) => `${g.models.join(",")}: ${g.actions.join(",")}`).join("; ");

const where = (p: Partner): string =>
  p.kind === "country" ? setText(p.partner.countries) : dash(p.partner.country);

const historyTable = (history: readonly PartnerEvent[]): string =>
  table(
    ["AT", "ACTOR", "FROM", "TO", "REASON"],
    history.map((h) => [time(h.at), h.actor, dash(h.from), h.to, h.reason]),
  );

/** A partner file: `{kind, partner}`, or a bare partner entry as in a scheme file (kind inferred). */
function partnerBody(entry: Record<string, unknown>, kindOption: string | undefined, file: string) {
  if ("partner" in entry && typeof entry.partner === "object" && entry.partner !== null) {
    const kind = kindOption ?? entry.kind;
    return { kind, partner: entry.partner };
  }
  const kind =
    kindOption ?? ("countries" in entry ? "country" : "country" in entry ? "organization" : undefined);
  if (kind === undefined) {
    throw new InvalidInputError([
      {
        code: "usage",
        path: [],
        file,
        message:
          'cannot tell the partner\'s kind: give --kind country|organization, or a file {"kind", "partner"}',
      },
    ]);
  }
  return { kind, partner: entry };
}

const changeStatus = (name: string, status: string, description: string) =>
  remote<Partner, { reason: string }>({
    name,
    description,
    args: [["<id>", "partner id"]],
    options: [REASON],
    request: ({ args, opts }) => ({
      method: "POST",
      path: `/admin/v1/partners/${seg(args[0]!)}/status`,
      body: { status, reason: opts.reason },
    }),
    render: (p) => {
      const last = p.history.at(-1);
      return `partner ${p.id}: ${dash(last?.from)} → ${p.partner.status}\n`;
    },
  });

export const partners: RemoteGroup = {
  name: "partners",
  description: "country and organization partners: register, activate, suspend, revoke (server)",
  commands: [
    remote<Page<Partner>, { kind?: string; status?: string }>({
      name: "list",
      description: "list partners",
      list: true,
      options: [
        { flags: "--kind <kind>", description: "only this kind", choices: KINDS },
        { flags: "--status <status>", description: "only this status", choices: PARTNER_STATUSES },
      ],
      request: ({ opts }) => ({
        method: "GET",
        path: "/admin/v1/partners",
        query: { kind: opts.kind, status: opts.status },
      }),
      render: ({ data }) =>
        listTable(
          "partners",
          ["ID", "KIND", "STATUS", "ASSURANCE", "WHERE", "GRANTS", "NAME"],
          data.map((p) => [
            p.id,
            p.kind,
            p.partner.status,
            p.partner.assurance,
            where(p),
            grantsText(p),
            dash(p.partner.name),
          ]),
        ),
    }),
    remote<Partner>({
      name: "show",
      description: "a partner and its history",
      args: [["<id>", "partner id"]],
      request: ({ args }) => ({ method: "GET", path: `/admin/v1/partners/${seg(args[0]!)}` }),
      render: (p) =>
        fields([
          ["id", p.id],
          ["kind", p.kind],
          ["name", p.partner.name],
          ["status", p.partner.status],
          ["assurance", p.partner.assurance],
          p.kind === "country" ? ["countries", where(p)] : ["country", where(p)],
          [
            "locations",
            p.kind !== "organization"
              ? undefined
              : p.partner.locations === undefined
                ? "its own country"
                : setText(p.partner.locations),
          ],
          ["grants", grantsText(p)],
        ]) +
        "\n" +
        historyTable(p.history),
    }),
    remote<Partner, { file: string; reason: string; kind?: string }>({
      name: "register",
      description: "register a partner (status applied) from a JSON file (- for stdin)",
      options: [
        {
          flags: "--file <file>",
          description: 'the partner entry as in a scheme file, or {"kind", "partner"}',
          required: true,
        },
        REASON,
        {
          flags: "--kind <kind>",
          description: "country or organization (default: from the file)",
          choices: KINDS,
        },
      ],
      request: ({ opts, io }) => {
        const entry = readJsonObject(io, opts.file, "partner");
        return {
          method: "POST",
          path: "/admin/v1/partners",
          body: { ...partnerBody(entry, opts.kind, opts.file), reason: opts.reason },
        };
      },
      render: (p) =>
        `registered ${p.kind} partner ${p.id}: status ${p.partner.status}; ` +
        `activate it with: clearance partners activate ${p.id} --reason …\n`,
    }),
    changeStatus("activate", "active", "make a partner active (from applied or suspended)"),
    changeStatus("suspend", "suspended", "suspend an active partner"),
    changeStatus("revoke", "revoked", "revoke a partner for good"),
  ],
};

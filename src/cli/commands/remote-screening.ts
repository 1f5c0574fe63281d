/**
 * `clearance remote screening …`: the local screening verbs against a running server, through the
 * admin API (lists, diff, import, search, rescreen, review list|show|confirm|clear).
 */
import type { Command } from "commander";
import type { MatchExplanation } from "../../screening/matcher.js";
import type { RescreenSummary } from "../../screening/rescreen.js";
import type { ScreeningResult } from "../../screening/engine.js";
import { LIST_FORMATS } from "../../screening/types.js";
import type { ListVersionRow, MatchRow } from "../../store/index.js";
import type { Io } from "../io.js";
import type { Outcome } from "../outcome.js";
import type { Page } from "./remote-client.js";
import { registerRemoteGroup, remote, seg, type RemoteGroup } from "./remote-define.js";
import { listTable, table } from "./remote-format.js";
import {
  MATCH_HEADER,
  matchLines,
  matchRow,
  readListFiles,
  renderDiff,
  VERSION_HEADER,
} from "./screening.js";

type VersionSummary = Omit<ListVersionRow, "diff"> & {
  diff: { added: number; removed: number; changed: number };
};

const screening: RemoteGroup = {
  name: "screening",
  description: "denied-party screening on the server (clearance screening: the local store)",
  commands: [
    remote<{ data: VersionSummary[] }, { all?: boolean }>({
      name: "lists",
      description: "the lists and their versions",
      options: [{ flags: "--all", description: "every version, not only the active ones" }],
      request: ({ opts }) => ({
        method: "GET",
        path: "/admin/v1/screening/lists",
        ...(opts.all ? { query: { all: "true" } } : {}),
      }),
      render: ({ data }) =>
        data.length === 0
          ? "no lists imported yet\n"
          : table(
              VERSION_HEADER,
              data.map((v) => [
                v.list,
                String(v.version),
                `${v.active ? "active" : "-"}${v.rescreened === false ? ", not rescreened" : ""}`,
                v.format,
                v.published ?? "-",
                String(v.counts.entries ?? 0),
                `+${v.diff.added} -${v.diff.removed} ~${v.diff.changed}`,
                v.imported_at,
                v.digest.slice(0, 12),
              ]),
            ),
    }),
    remote<ListVersionRow>({
      name: "diff",
      description: "what a list version added, removed and changed against the version before",
      args: [
        ["<list>", "the list's name"],
        ["[version]", "the version (default: the active one)"],
      ],
      request: ({ args }) => ({
        method: "GET",
        path: `/admin/v1/screening/lists/${seg(args[0]!)}/versions/${seg(args[1] ?? "active")}`,
      }),
      render: (v) => renderDiff(v, 50),
    }),
    remote<
      {
        version: ListVersionRow;
        unchanged: boolean;
        rescreen: RescreenSummary | null;
        finished?: readonly { version: ListVersionRow; summary: RescreenSummary }[];
      },
      { format?: string; list?: string; published?: string }
    >({
      name: "import",
      description:
        "import a list file (OFAC CSV with its companions, CSL CSV, UN XML, BIS DPL, FtM JSON lines)",
      long: true,
      args: [["<file...>", "the list file; OFAC companions beside sdn.csv are sent too"]],
      options: [
        {
          flags: "--format <format>",
          description: "the file's format (default: recognised)",
          choices: LIST_FORMATS,
        },
        { flags: "--list <name>", description: "the list's name (default: from the file)" },
        {
          flags: "--published <date>",
          description: "publication date (YYYY-MM-DD) when the file does not say",
        },
      ],
      request: ({ args, opts }) => {
        const files = readListFiles(
          [args[0]!, ...((args[1] as unknown as string[] | undefined) ?? [])].flat(),
        );
        // Sent by their base names; the server's problems are shown at the paths given here.
        const named = files.map((f) => ({ ...f, sent: f.name.split(/[\\/]/).pop()! }));
        return {
          method: "POST",
          path: "/admin/v1/screening/lists",
          body: {
            ...(opts.format === undefined ? {} : { format: opts.format }),
            ...(opts.list === undefined ? {} : { list: opts.list }),
            ...(opts.published === undefined ? {} : { published: opts.published }),
            files: named.map((f) => ({
              name: f.sent,
              content_base64: Buffer.from(f.bytes).toString("base64"),
            })),
          },
          files: Object.fromEntries(named.map((f) => [f.sent, f.name])),
        };
      },
      render: ({ version: v, unchanged, rescreen, finished = [] }) =>
        (unchanged ? `${v.list}: identical to active version ${v.version}; nothing imported\n` : "") +
        finished
          .map(
            ({ version: f, summary: r }) =>
              `finished the unfinished rescreen of ${f.list} version ${f.version}: ${r.subjects} principals and organizations against ${r.entries} added or changed entries, ${r.potential} potential matches, ${r.resolved} resolved\n`,
          )
          .join("") +
        (unchanged
          ? ""
          : `imported ${v.list} version ${v.version}: ${v.counts.entries} entries (+${v.diff.added.length} -${v.diff.removed.length} ~${v.diff.changed.length})\n` +
            (rescreen === null
              ? ""
              : `rescreened ${rescreen.subjects} principals and organizations against ${rescreen.entries} added or changed entries: ${rescreen.potential} potential matches, ${rescreen.resolved} resolved\n`)),
    }),
    remote<ScreeningResult & { match: boolean }, { type?: string; birthDate?: string; country?: string }>({
      name: "search",
      description: "screen a name against the server's active lists",
      args: [["<name>", "the name to screen"]],
      options: [
        {
          flags: "--type <type>",
          description: "person, organization or unknown",
          choices: ["person", "organization", "unknown"],
        },
        { flags: "--birth-date <date>", description: "YYYY, YYYY-MM or YYYY-MM-DD" },
        {
          flags: "--country <code>",
          description: "nationality or country: ISO alpha-2 codes or English names, comma-separated",
        },
      ],
      request: ({ args, opts }) => ({
        method: "POST",
        path: "/admin/v1/screening/search",
        body: {
          name: args[0],
          ...(opts.type === undefined ? {} : { type: opts.type }),
          ...(opts.birthDate === undefined ? {} : { birth_date: opts.birthDate }),
          ...(opts.country === undefined
            ? {}
            : { nationality: opts.country.split(",").map((c) => c.trim()) }),
        },
      }),
      render: (r) => matchLines(r.matches),
    }),
    remote<RescreenSummary>({
      name: "rescreen",
      description: "rescreen every principal and organization against every active list",
      long: true,
      request: () => ({ method: "POST", path: "/admin/v1/screening/rescreen" }),
      render: (s) =>
        `rescreened ${s.subjects} principals and organizations against ${s.entries} entries: ` +
        `${s.potential} matches at or above the threshold, ${s.changed} changes recorded, ${s.resolved} resolved\n`,
    }),
  ],
};

const review: RemoteGroup = {
  name: "review",
  description: "the review queue: potential screening matches",
  commands: [
    remote<Page<MatchRow>, { status?: string; subject?: string }>({
      name: "list",
      description: "screening matches (default: the open ones, status potential)",
      list: true,
      options: [
        {
          flags: "--status <status>",
          description: "default potential",
          choices: ["potential", "confirmed", "cleared", "resolved"],
        },
        { flags: "--subject <id>", description: "only this principal's or organization's" },
      ],
      request: ({ opts }) => ({
        method: "GET",
        path: "/admin/v1/screening/matches",
        query: { status: opts.status ?? "potential", subject: opts.subject },
      }),
      render: ({ data }) => listTable("screening matches", MATCH_HEADER, data.map(matchRow)),
    }),
    remote<MatchRow>({
      name: "show",
      description: "a match with its explanation",
      args: [["<id>", "the match id"]],
      request: ({ args }) => ({ method: "GET", path: `/admin/v1/screening/matches/${seg(args[0]!)}` }),
      render: (m) =>
        `${m.id}: ${m.status}${m.reviewer === null ? "" : ` by ${m.reviewer} (${m.reason})`}\n` +
        matchLines([m.explanation as MatchExplanation]),
    }),
    ...(["confirm", "clear"] as const).map((verb) =>
      remote<MatchRow, { reason: string }>({
        name: verb,
        description:
          verb === "confirm"
            ? "confirm a potential match: a denied party"
            : "clear a potential match, with a reason",
        args: [["<id>", "the match id"]],
        options: [{ flags: "--reason <text>", description: "why (kept in the audit log)", required: true }],
        request: ({ args, opts }) => ({
          method: "POST",
          path: `/admin/v1/screening/matches/${seg(args[0]!)}/${verb}`,
          body: { reason: opts.reason },
        }),
        render: (m) => `${m.id}: ${m.status}\n`,
      }),
    ),
  ],
};

export function registerRemoteScreening(
  parent: Command,
  io: Io,
  outcome: Outcome,
  env: NodeJS.ProcessEnv,
): void {
  const cmd = registerRemoteGroup(parent, screening, io, outcome, env);
  registerRemoteGroup(cmd, review, io, outcome, env);
}

/**
 * `clearance schemes …` and `clearance models list`: scheme versions on a running server — upload
 * (validated there, every problem with its line and column), the diff against the active version in
 * words, activation (or rollback) with a reason; and the models of the policy in force.
 */
import { InvalidInputError } from "../../errors/index.js";
import { renderFootprint, type FootprintReport } from "../../report/index.js";
import { renderWhatIf, type WhatIfReport } from "../../whatif/index.js";
import { reportText } from "../io.js";
import type { Page } from "./remote-client.js";
import { readText, remote, seg, type RemoteGroup } from "./remote-define.js";
import { dash, fields, joined, listTable, time } from "./remote-format.js";
import { quoted } from "../../policy/text.js";

interface VersionSummary {
  readonly version: number;
  readonly name: string;
  readonly digest: string;
  readonly uploaded_by: string;
  readonly uploaded_at: string;
  readonly active: boolean;
}

interface Diff {
  readonly identical: boolean;
  readonly text: string;
}

interface Uploaded {
  readonly version: number;
  readonly created: boolean;
  readonly diff: Diff;
}

interface Model {
  readonly id: string;
  readonly control: string;
  readonly fallback: string | null;
  readonly available_in: readonly string[] | null;
  readonly upstream: { readonly provider: string; readonly upstreamModel: string } | null;
}

/** sha256:0123456789ab… — enough to tell versions apart in a table. */
const shortDigest = (d: string) => (d.length > 19 ? `${d.slice(0, 19)}…` : d);

interface Impact {
  readonly digest: string;
  readonly compared: number;
  readonly gained: number;
  readonly lost: number;
  readonly changed: number;
}

interface WhatIfOpts {
  days?: string;
  fromIndex?: string;
  toIndex?: string;
  examples?: string;
  format?: "text" | "json" | "csv" | "html";
}

function whole(flag: string, text: string): number {
  if (!/^[1-9]\d{0,5}$/.test(text)) {
    throw new InvalidInputError([
      { code: "usage", path: [], message: `${flag}: expected a whole number, got ${quoted(text)}` },
    ]);
  }
  return Number(text);
}

const versionArg = [["<version>", "scheme version number"]] as const;

export const schemes: RemoteGroup = {
  name: "schemes",
  description: "scheme versions on the server: upload, diff, activate or roll back",
  commands: [
    remote<Page<VersionSummary>>({
      name: "list",
      description: "list scheme versions (the active one is marked)",
      list: true,
      request: () => ({ method: "GET", path: "/admin/v1/schemes" }),
      render: ({ data }) =>
        listTable(
          "scheme versions",
          ["VERSION", "ACTIVE", "NAME", "UPLOADED", "BY", "DIGEST"],
          data.map((v) => [
            String(v.version),
            v.active ? "yes" : "no",
            v.name,
            time(v.uploaded_at),
            v.uploaded_by,
            shortDigest(v.digest),
          ]),
        ),
    }),
    remote<Uploaded>({
      name: "upload",
      description: "upload a scheme file (- for stdin); prints the diff against the active version",
      args: [["<file>", "scheme file (YAML)"]],
      request: ({ args, io }) => ({
        method: "POST",
        path: "/admin/v1/schemes",
        body: { yaml: readText(io, args[0]!, "scheme file") },
        file: args[0]!,
      }),
      render: (u) => ({
        stdout: u.diff.text,
        stderr: u.created
          ? `uploaded scheme version ${u.version}; review the diff, then: ` +
            `clearance schemes activate ${u.version} --reason …\n`
          : `scheme version ${u.version} has this content already; nothing new was stored\n`,
      }),
    }),
    remote<VersionSummary & { readonly yaml: string }>({
      name: "show",
      description: "a scheme version: who uploaded it, whether it is active, its YAML",
      args: versionArg,
      request: ({ args }) => ({ method: "GET", path: `/admin/v1/schemes/${seg(args[0]!)}` }),
      render: (v) =>
        fields([
          ["version", String(v.version)],
          ["name", v.name],
          ["active", v.active ? "yes" : "no"],
          ["digest", v.digest],
          ["uploaded", `${time(v.uploaded_at)} by ${v.uploaded_by}`],
        ]) +
        "\n" +
        (v.yaml.endsWith("\n") ? v.yaml : `${v.yaml}\n`),
    }),
    remote<{ readonly diff: Diff }>({
      name: "diff",
      description: "what activating a version would change, against the active version, in words",
      args: versionArg,
      request: ({ args }) => ({ method: "GET", path: `/admin/v1/schemes/${seg(args[0]!)}` }),
      render: (v) => v.diff.text,
    }),
    remote<VersionSummary & { readonly impact?: Impact }, { reason: string; whatIf?: string }>({
      name: "activate",
      description: "activate a scheme version, or roll back to an earlier one (admin)",
      args: versionArg,
      options: [
        { flags: "--reason <text>", description: "why (kept in the record)", required: true },
        {
          flags: "--what-if <digest>",
          description:
            "the impact digest of the version's what-if you reviewed (required where the server says so)",
        },
      ],
      request: ({ args, opts }) => ({
        method: "POST",
        path: `/admin/v1/schemes/${seg(args[0]!)}/activate`,
        body: { reason: opts.reason, ...(opts.whatIf === undefined ? {} : { what_if: opts.whatIf }) },
      }),
      render: (v) =>
        `activated scheme version ${v.version} (${v.name}, ${shortDigest(v.digest)})\n` +
        (v.impact === undefined
          ? ""
          : `impact ${v.impact.digest}: ${v.impact.gained} gain access, ${v.impact.lost} lose it, ` +
            `${v.impact.changed} change basis (of ${v.impact.compared} decisions)\n`),
    }),
    remote<WhatIfReport, WhatIfOpts>({
      name: "what-if",
      description:
        "who gains and who loses access if this version is activated (population; with --days, history)",
      long: true,
      args: versionArg,
      options: [
        { flags: "--days <n>", description: "also re-decide the logged decisions of the last n days" },
        { flags: "--from-index <i>", description: "also re-decide logged decisions from this log index" },
        { flags: "--to-index <i>", description: "… up to (not including) this one" },
        { flags: "--examples <n>", description: "named examples per group" },
        {
          flags: "--format <format>",
          description: "output format",
          choices: ["text", "json", "csv", "html"],
        },
      ],
      request: ({ args, opts }) => ({
        method: "POST",
        path: `/admin/v1/schemes/${seg(args[0]!)}/what-if`,
        body: {
          ...(opts.days === undefined ? {} : { days: whole("--days", opts.days) }),
          ...(opts.fromIndex === undefined ? {} : { from_index: opts.fromIndex }),
          ...(opts.toIndex === undefined ? {} : { to_index: opts.toIndex }),
          ...(opts.examples === undefined ? {} : { examples: whole("--examples", opts.examples) }),
        },
        // The server's problems at these fields are said at the flags given, as the local verb says them.
        flags: { days: "--days", from_index: "--from-index", to_index: "--to-index", examples: "--examples" },
      }),
      render: (r, { opts }) => reportText(r, opts.format ?? "text", undefined, renderWhatIf),
    }),
  ],
};

export const models: RemoteGroup = {
  name: "models",
  description: "the models of the policy in force on the server",
  commands: [
    remote<Page<Model>>({
      name: "list",
      description: "list the models of the policy in force, with their control level and upstream",
      request: () => ({ method: "GET", path: "/admin/v1/models" }),
      render: ({ data }) =>
        listTable(
          "models",
          ["ID", "CONTROL", "FALLBACK", "AVAILABLE IN", "UPSTREAM"],
          data.map((m) => [
            m.id,
            m.control,
            dash(m.fallback),
            m.available_in === null ? "anywhere" : joined(m.available_in, 6),
            m.upstream === null ? "(none)" : `${m.upstream.provider}/${m.upstream.upstreamModel}`,
          ]),
        ),
    }),
  ],
};

interface FootprintOpts {
  from?: string;
  to?: string;
  format?: "json" | "csv" | "html";
  table?: "served" | "locations" | "grants" | "policy";
}

/** The footprint is fetched as JSON and rendered here, in the format asked for. */
export const reports: RemoteGroup = {
  name: "reports",
  description: "reports from a running server: the jurisdiction footprint",
  commands: [
    remote<FootprintReport, FootprintOpts>({
      name: "footprint",
      description:
        "decisions by location, nationality, organization, model and outcome; who each model is served to",
      long: true,
      options: [
        { flags: "--from <date>", description: "start of the period (YYYY-MM-DD or ISO date-time)" },
        { flags: "--to <date>", description: "end of the period (a date includes that day; default: now)" },
        {
          flags: "--format <format>",
          description: "output format (default json)",
          choices: ["json", "csv", "html"],
        },
        {
          flags: "--table <table>",
          description: "with --format csv: the table (default served)",
          choices: ["served", "locations", "grants", "policy"],
        },
      ],
      request: ({ opts }) => ({
        method: "GET",
        path: "/admin/v1/reports/footprint",
        query: { from: opts.from, to: opts.to },
        flags: { from: "--from", to: "--to" },
      }),
      // As the local verbs write to stdout: JSON escaped (not stripped: the same JSON), and stored
      // values as cells show them in the other formats (printable would drop an override unseen).
      render: (r, { opts }) =>
        reportText(r, opts.format ?? "json", undefined, renderFootprint, opts.table ?? "served"),
    }),
  ],
};

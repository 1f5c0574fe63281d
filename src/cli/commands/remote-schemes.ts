/**
 * `clearance schemes …` and `clearance models list`: scheme versions on a running server — upload
 * (validated there, every problem with its line and column), the diff against the active version in
 * words, activation (or rollback) with a reason; and the models of the policy in force.
 */
import type { Page } from "./remote-client.js";
import { readText, remote, seg, type RemoteGroup } from "./remote-define.js";
import { dash, fields, joined, listTable, time } from "./remote-format.js";

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
    remote<VersionSummary, { reason: string }>({
      name: "activate",
      description: "activate a scheme version, or roll back to an earlier one (admin)",
      args: versionArg,
      options: [{ flags: "--reason <text>", description: "why (kept in the record)", required: true }],
      request: ({ args, opts }) => ({
        method: "POST",
        path: `/admin/v1/schemes/${seg(args[0]!)}/activate`,
        body: { reason: opts.reason },
      }),
      render: (v) => `activated scheme version ${v.version} (${v.name}, ${shortDigest(v.digest)})\n`,
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

/** `clearance remote alerts …`: anomaly alerts, and acknowledging and resolving them (each step audited). */
import { ALERT_DETECTORS, ALERT_SEVERITIES, ALERT_STATES } from "../../alerts/schema.js";
import type { AlertView } from "../../store/alerts.js";
import { remote, seg, type RemoteGroup } from "./remote-define.js";
import type { Page } from "./remote-client.js";
import { cellText } from "../io.js";
import { dash, fields, joined, listTable, table, time } from "./remote-format.js";

/**
 * `alerts list --order`, the server's orders: oldest first (the default, the server's own: what
 * `alerts list` always listed), newest first, or most severe first (the newest first within a
 * severity, as the console's Overview lists open alerts).
 */
const ORDERS = ["oldest", "newest", "severity"] as const;

const NOTE = { flags: "--note <text>", description: "why (kept in the alert's history)" } as const;

/**
 * Where its delivery stands: held behind an earlier alert of its subject (named), else its state.
 * (A server before held_behind was shown leaves it out: the state alone.)
 */
const delivery = (d: AlertView["delivery"]): string =>
  d.held === true ? `held behind ${d.held_behind ?? "(its subject's next, within a minute)"}` : d.state;

type NotInForce = NonNullable<NonNullable<AlertView["response"]>["not_yet_in_force"]>;

const notInForce = (n: NotInForce | undefined): string | undefined =>
  n === undefined ? undefined : `${n.code}: ${n.message}`;

/**
 * The node that took the suspension, named in the label (stored text, escaped as values are): with
 * several nodes behind a load balancer, which one still let the subject through. A response stored
 * before nodes were named (or a server that names none) keeps the bare label.
 */
const notInForceLabel = (n: NotInForce | undefined): string =>
  n?.node === undefined ? "not yet in force" : `not yet in force on ${cellText(n.node)}`;

const show = (a: AlertView): string =>
  fields([
    ["id", a.id],
    ["detector", a.detector],
    ["severity", a.severity],
    ["subject", `${a.subject.kind} ${a.subject.id}`],
    ["state", a.state],
    ["raised", time(a.raised_at)],
    ["summary", a.summary],
    ["audit entries", joined(a.evidence.audit_indexes)],
    ["response", a.response === null ? "-" : `${a.response.action}: ${a.response.result}`],
    // The suspension stands but the node that took it could not reload right after: it still let
    // the subject through there until its next successful reload.
    [notInForceLabel(a.response?.not_yet_in_force), notInForce(a.response?.not_yet_in_force)],
    ["delivery", `${delivery(a.delivery)} (${a.delivery.attempts} attempts)`],
  ]) +
  "\n" +
  table(
    ["AT", "ACTOR", "STATE", "NOTE"],
    a.history.map((h) => [time(h.at), h.actor, h.state, dash(h.note)]),
  );

const step = (name: "ack" | "resolve", verb: "acknowledge" | "resolve", description: string) =>
  remote<AlertView, { note?: string }>({
    name,
    description,
    args: [["<id>", "alert id (alr_…)"]],
    options: [NOTE],
    request: ({ args, opts }) => ({
      method: "POST",
      path: `/admin/v1/alerts/${seg(args[0]!)}/${verb}`,
      body: opts.note === undefined ? {} : { note: opts.note },
    }),
    render: (a) => `alert ${a.id} is ${a.state}\n`,
  });

export const alerts: RemoteGroup = {
  name: "alerts",
  description: "anomaly alerts: list, show, acknowledge, resolve (server)",
  commands: [
    remote<
      Page<AlertView>,
      { state?: string; detector?: string; subject?: string; severity?: string[]; order?: string }
    >({
      name: "list",
      description: "list alerts",
      list: true,
      options: [
        {
          flags: "--state <state>",
          description: "only alerts in this state",
          choices: ALERT_STATES,
        },
        // Checked here as --state is: a misspelt name (key_sharing) would match nothing, and the
        // empty list read as "no alerts".
        { flags: "--detector <name>", description: "only this detector's alerts", choices: ALERT_DETECTORS },
        { flags: "--subject <id>", description: "only about this principal, key, organization, license…" },
        // Filtered by the server (a server of a release before it says it does not know `severity`).
        {
          flags: "--severity <severity>",
          description: "only alerts of this severity (repeat for several)",
          repeatable: true,
          choices: ALERT_SEVERITIES,
        },
        // Checked here as --state is; ordered by the server (a server of a release before it says
        // it does not know `order=severity`: the error names --order).
        {
          flags: "--order <order>",
          description:
            "oldest first (the default), newest first, or most severe first (severity: the newest first within a severity)",
          choices: ORDERS,
        },
      ],
      request: ({ opts }) => ({
        method: "GET",
        path: "/admin/v1/alerts",
        query: {
          state: opts.state,
          detector: opts.detector,
          subject: opts.subject,
          severity: opts.severity?.join(","),
          // Not sent for the default (oldest first, the server's own): the request is as before.
          order: opts.order === "oldest" ? undefined : opts.order,
        },
        flags: { severity: "--severity", order: "--order" },
      }),
      render: ({ data }) =>
        listTable(
          "alerts",
          ["ID", "RAISED", "SEVERITY", "DETECTOR", "SUBJECT", "STATE", "DELIVERY", "SUMMARY"],
          data.map((a) => [
            a.id,
            time(a.raised_at),
            a.severity,
            a.detector,
            `${a.subject.kind} ${a.subject.id}`,
            a.state,
            delivery(a.delivery),
            a.summary,
          ]),
        ),
    }),
    remote<AlertView>({
      name: "show",
      description: "an alert: its evidence (audit entries), response and history",
      args: [["<id>", "alert id (alr_…)"]],
      request: ({ args }) => ({ method: "GET", path: `/admin/v1/alerts/${seg(args[0]!)}` }),
      render: show,
    }),
    step("ack", "acknowledge", "acknowledge an alert (someone is on it)"),
    step("resolve", "resolve", "resolve an alert"),
  ],
};

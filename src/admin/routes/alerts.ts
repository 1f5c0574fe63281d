/**
 * Alerts raised by the anomaly detectors: list, read, acknowledge, resolve. Each step is recorded
 * in the audit log with who took it and the note they gave.
 */
import { z } from "zod";
import {
  ALERT_DETECTORS as DETECTORS,
  ALERT_SEVERITIES as SEVERITIES,
  ALERT_STATES as STATES,
  ALERT_SUBJECTS as SUBJECTS,
  alertNoteSchema as note,
} from "../../alerts/schema.js";
import { ClearanceError } from "../../errors/index.js";
import {
  alertView,
  type AlertFilter,
  type AlertRecord,
  type AlertSeverity,
  type AlertView,
} from "../../store/alerts.js";
import type { AdminDeps } from "../deps.js";
import { pageQuery, route } from "../router.js";
import { OFFICERS, READERS } from "./roles.js";

const notFound = (id: string) => new ClearanceError("not-found", "not_found", `no alert ${id}`);

/**
 * Alerts as shown: each with whether its delivery waits behind an earlier alert of its subject,
 * and which (`delivery.held`, `delivery.held_behind`): a receiver refusing one alert holds back its
 * subject's later ones, and the reader sees which one. One query for the page.
 */
async function shown(deps: AdminDeps, alerts: readonly AlertRecord[]): Promise<AlertView[]> {
  const pending = alerts.filter((a) => a.delivery.state === "pending").map((a) => a.id);
  const held =
    pending.length === 0 ? new Map<string, string | null>() : await deps.store.alerts.heldBehind(pending);
  return alerts.map((a) => alertView(a, held));
}

const step = (verb: "acknowledge" | "resolve", to: "acknowledged" | "resolved") =>
  route<z.infer<typeof note>>({
    method: "POST",
    path: `/admin/v1/alerts/{id}/${verb}`,
    tag: "alerts",
    summary: `${verb === "acknowledge" ? "Acknowledge" : "Resolve"} an alert`,
    roles: OFFICERS,
    body: note,
    async handle({ deps, params, body, caller }) {
      // An alert already past this step is a conflict (409), from the one error table.
      const a = await deps.store.alerts.transition(params.id as string, to, caller.id, body.note ?? null);
      if (a === undefined) throw notFound(params.id as string);
      await deps.changed(); // the step's audit record reaches the log before the answer
      return (await shown(deps, [a]))[0];
    },
  });

/** One severity, or several separated by commas (`high,critical`): each a known one. */
const SEVERITY_LIST = new RegExp(`^(${SEVERITIES.join("|")})(,(${SEVERITIES.join("|")}))*$`);

/** The filters a list and a count take. */
const filters = {
  state: z.enum(STATES).optional(),
  // The known names: a misspelt one is a 400 naming the field, not an empty list.
  detector: z.enum(DETECTORS).optional(),
  subject_kind: z.enum(SUBJECTS).optional(),
  subject: z.string().optional(),
  // Filtered in the database (the console filtered a page read newest first: a page of 100 could
  // show none while older alerts matched).
  severity: z
    .string()
    .regex(SEVERITY_LIST, `expected one or several of ${SEVERITIES.join(", ")}, separated by commas`)
    .optional(),
};
type Filters = {
  state?: (typeof STATES)[number];
  detector?: (typeof DETECTORS)[number];
  subject_kind?: (typeof SUBJECTS)[number];
  subject?: string;
  severity?: string;
};

const storeFilter = (q: Filters): AlertFilter => ({
  ...(q.state === undefined ? {} : { state: q.state }),
  ...(q.detector === undefined ? {} : { detector: q.detector }),
  ...(q.subject_kind === undefined ? {} : { subjectKind: q.subject_kind }),
  ...(q.subject === undefined ? {} : { subjectId: q.subject }),
  ...(q.severity === undefined ? {} : { severities: q.severity.split(",") as AlertSeverity[] }),
});

export const alertRoutes = [
  route<undefined, Filters & { limit: number; cursor?: string; order: "oldest" | "newest" | "severity" }>({
    method: "GET",
    path: "/admin/v1/alerts",
    tag: "alerts",
    summary: "List alerts",
    roles: READERS,
    query: z.object({
      ...pageQuery,
      ...filters,
      // newest: the console's list, newest first, reads its first page without the older ones.
      // severity: most severe first, the newest first within a severity (the Overview's open
      // alerts: a critical one is listed however many less severe ones are newer).
      order: z.enum(["oldest", "newest", "severity"]).default("oldest"),
    }),
    async handle({ deps, query }) {
      // One page read from the store (keyset on the id, as paginate's cursor), and one more row to
      // tell whether another page follows: not the whole table per page.
      const rows = await deps.store.alerts.list(storeFilter(query), {
        ...(query.cursor === undefined ? {} : { after: query.cursor }),
        limit: query.limit + 1,
        newest: query.order === "newest",
        mostSevere: query.order === "severity",
      });
      const data = rows.slice(0, query.limit);
      return {
        data: await shown(deps, data),
        next_cursor: rows.length > query.limit ? (data.at(-1)?.id ?? null) : null,
      };
    },
  }),
  route<undefined, Filters>({
    method: "GET",
    path: "/admin/v1/alerts/count",
    tag: "alerts",
    summary: "Count alerts",
    roles: READERS,
    // The list's filters: the console's open-alerts summary read every page of them to count them.
    query: z.object(filters),
    async handle({ deps, query }) {
      return { count: await deps.store.alerts.count(storeFilter(query)) };
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/alerts/{id}",
    tag: "alerts",
    summary: "Read an alert",
    roles: READERS,
    async handle({ deps, params }) {
      const a = await deps.store.alerts.get(params.id as string);
      if (a === undefined) throw notFound(params.id as string);
      return (await shown(deps, [a]))[0];
    },
  }),
  step("acknowledge", "acknowledged"),
  step("resolve", "resolved"),
];

/**
 * Denied-party screening: list versions and their diffs, list imports, ad hoc searches, the review
 * queue of potential matches (a reviewer confirms or clears, with a reason), and a full rescreen.
 */
import { z } from "zod";
import { ClearanceError, InvalidInputError, type Problem } from "../../errors/index.js";
import { isCalendarDate, isPartialDate } from "../../policy/dates.js";
import { quoted } from "../../policy/text.js";
import { DEFAULT_MAX_LIST_ENTRIES, importList } from "../../screening/lists.js";
import { finishRescreens, rescreenAll, type FinishedRescreen } from "../../screening/rescreen.js";
import { ScreeningEngine, DEFAULT_THRESHOLD, screenPrincipal } from "../../screening/engine.js";
import { screeningReview } from "../../screening/schemas.js";
import { LIST_FORMATS } from "../../screening/types.js";
import { MATCH_STATUSES, type MatchRow } from "../../store/screening.js";
import { loadSubjects, principalSubject, type Subject } from "../../screening/subjects.js";
import type { AdminDeps } from "../deps.js";
import { answer, reloadAfter } from "../in-force.js";
import { byCodePoint, pageQuery, paginate, route } from "../router.js";
import { READERS } from "./roles.js";
import type { Role } from "../../control/types.js";

// eslint-disable-next-line no-control-regex -- control characters are what is refused
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/** Who may read screening: everyone who reads the control plane, and reviewers. */
const SCREENING_READERS: readonly Role[] = [...READERS, "reviewer"];
/**
 * A search's problem at the field as sent: the country and a single nationality are screened as
 * items of one list of nationalities, whose index would name neither (`nationality[1]` for a bad
 * `country`).
 */
const asSent =
  (body: { nationality?: string | string[] | undefined; country?: string | undefined }) =>
  (p: Problem): Problem => {
    if (p.path[0] !== "nationality" || typeof p.path[1] !== "number") return p;
    const listed = body.nationality === undefined ? 0 : [body.nationality].flat().length;
    if (p.path[1] === listed && body.country !== undefined) return { ...p, path: ["country"] };
    if (typeof body.nationality === "string" && p.path[1] === 0) return { ...p, path: ["nationality"] };
    return p;
  };

/** Who imports lists and starts a rescreen. */
const LIST_KEEPERS: readonly Role[] = ["compliance-officer", "admin"];
/** Who decides a potential match. */
const REVIEWERS: readonly Role[] = ["reviewer", "admin"];

const subjectFacts = z.strictObject({
  name: z.string().min(1).max(1024),
  type: z.enum(["person", "organization", "unknown"]).optional(),
  birth_date: z
    .string()
    .refine(isPartialDate, "expected YYYY, YYYY-MM or YYYY-MM-DD (a real date)")
    .optional(),
  /** ISO 3166-1 alpha-2 codes (either case) or English country names. */
  nationality: z.union([z.string(), z.array(z.string())]).optional(),
  country: z.string().optional(),
  threshold: z.number().min(0).max(1).optional(),
  limit: z.number().int().min(1).max(100).optional(),
});

async function engine(deps: AdminDeps): Promise<ScreeningEngine> {
  return deps.screening !== undefined
    ? deps.screening.load()
    : ScreeningEngine.load(deps.store, DEFAULT_THRESHOLD);
}

/**
 * What a reviewer needs beside a match (`detail=true`): the listed entry as the active list has it
 * now (`changed` when it is no longer the version matched), the subject's facts as screened, and the
 * subject's screening status (the worst of its matches).
 */
async function withDetail(deps: AdminDeps, rows: readonly MatchRow[]) {
  if (rows.length === 0) return [];
  const e = await engine(deps);
  const versions = new Map(e.index.lists.map((l) => [l.list, l.version ?? null]));
  const statuses = new Map(
    (await deps.store.screening.statuses()).map((s) => [`${s.kind}:${s.id}`, s.status]),
  );
  let all: Map<string, Subject> | null = null;
  const subjectOf = async (m: MatchRow): Promise<Subject | null> => {
    if (m.subject_kind === "principal") {
      const p = await deps.store.principals.get(m.subject_id);
      if (p !== undefined) return principalSubject(p);
    }
    // Organizations and federated principals: as the screening saw them (every subject, once).
    all ??= new Map((await loadSubjects(deps.store)).map((s) => [`${s.kind}:${s.id}`, s]));
    return all.get(`${m.subject_kind}:${m.subject_id}`) ?? null;
  };
  return Promise.all(
    rows.map(async (m) => {
      const listed = e.index.entry(m.list, m.entry_id);
      return {
        ...m,
        subject_status: statuses.get(`${m.subject_kind}:${m.subject_id}`) ?? "clear",
        subject_facts: (await subjectOf(m))?.facts ?? null,
        entry:
          listed === undefined
            ? null
            : {
                ...listed.entry,
                list_version: versions.get(m.list) ?? null,
                digest: listed.digest,
                changed: listed.digest !== m.entry_digest,
              },
      };
    }),
  );
}

export const screeningRoutes = [
  route({
    method: "GET",
    path: "/admin/v1/screening/lists",
    tag: "screening",
    summary: "List screening list versions",
    roles: SCREENING_READERS,
    query: z.object({ all: z.enum(["true", "false"]).optional() }),
    async handle({ deps, query }) {
      const versions = (await deps.store.screening.versions()).filter(
        (v) => query.all === "true" || v.active,
      );
      return {
        data: versions.map(({ diff, ...v }) => ({
          ...v,
          diff: { added: diff.added.length, removed: diff.removed.length, changed: diff.changed.length },
        })),
      };
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/screening/lists/{list}/versions/{version}",
    tag: "screening",
    summary: "Read a list version with its diff from the version before",
    roles: SCREENING_READERS,
    async handle({ deps, params }) {
      const versions = await deps.store.screening.versions(params.list as string);
      const v =
        params.version === "active"
          ? versions.find((x) => x.active)
          : versions.find((x) => String(x.version) === params.version);
      if (v === undefined)
        throw new ClearanceError(
          "not-found",
          "not_found",
          `no version ${params.version} of list ${params.list}`,
        );
      return v;
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/screening/lists",
    tag: "screening",
    summary: "Import a list file",
    roles: LIST_KEEPERS,
    status: 201,
    body: z.strictObject({
      format: z.enum(LIST_FORMATS).optional(),
      list: z
        .string()
        .min(1)
        .max(100)
        // Shown in tables and terminals, and PostgreSQL's text cannot hold a NUL.
        .refine((s) => !CONTROL.test(s), "expected a list name without control characters")
        .optional(),
      published: z
        .string()
        .refine(
          (s) => /^\d{4}-\d{2}-\d{2}$/.test(s) && isCalendarDate(s),
          "expected a real date (YYYY-MM-DD)",
        )
        .optional(),
      /** The file and, for OFAC CSV, its companions (add.csv, alt.csv, sdn_comments.csv) by name. */
      files: z
        .array(
          z.strictObject({
            name: z.string().min(1).max(255),
            /** The file's bytes, base64-encoded. */
            content_base64: z.string(),
          }),
        )
        .min(1),
    }),
    // Progress from the rescreen on: a malformed file is still refused with its own 400.
    progress: true,
    async handle({ deps, body, caller, progress }) {
      const files = body.files.map((f) => ({ name: f.name, bytes: Buffer.from(f.content_base64, "base64") }));
      const { version, unchanged } = await importList(
        deps.store,
        files,
        {
          ...(body.format === undefined ? {} : { format: body.format }),
          ...(body.list === undefined ? {} : { list: body.list }),
          ...(body.published === undefined ? {} : { published: body.published }),
          maxEntries: deps.screening?.options.maxListEntries ?? DEFAULT_MAX_LIST_ENTRIES,
          // Orders lapsed by the admin API's clock are left out: the clock its other answers use.
          asOf: deps.now(),
        },
        caller.id,
      );
      // This import's rescreen, and any an earlier import left unfinished (its process killed:
      // importing the same file again finishes it).
      const finished = await finishRescreens(deps.store, caller.id, {
        force: true,
        threshold: deps.screening?.options.threshold ?? DEFAULT_THRESHOLD,
        onProgress: (done, total) => progress("rescreening against the changed entries", done, total),
      });
      const own = (f: FinishedRescreen) =>
        f.version.list === version.list && f.version.version === version.version;
      const written = await reloadAfter(deps, `screening list ${version.list} version ${version.version}`);
      return answer(deps, written, {
        version: { ...version, rescreened: true },
        unchanged,
        rescreen: unchanged ? null : (finished.find(own)?.summary ?? null),
        finished: finished.filter((f) => unchanged || !own(f)),
      });
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/screening/search",
    tag: "screening",
    summary: "Screen a name against every active list",
    roles: SCREENING_READERS,
    body: subjectFacts,
    bodyIsQuery: true,
    async handle({ deps, body }) {
      const e = await engine(deps);
      const nationalities = [
        ...(body.nationality === undefined ? [] : [body.nationality].flat()),
        ...(body.country === undefined ? [] : [body.country]),
      ];
      const facts = {
        name: body.name,
        ...(body.type === undefined ? {} : { type: body.type }),
        ...(body.birth_date === undefined ? {} : { birth_date: body.birth_date }),
        nationalities,
      };
      let result;
      try {
        result =
          body.threshold === undefined && body.limit === undefined
            ? screenPrincipal(facts, e)
            : e.screen(facts, {
                ...(body.threshold === undefined ? {} : { threshold: body.threshold }),
                ...(body.limit === undefined ? {} : { limit: body.limit }),
              });
      } catch (err) {
        if (err instanceof InvalidInputError) throw new InvalidInputError(err.problems.map(asSent(body)));
        throw err;
      }
      return { match: result.status === "potential", ...result };
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/screening/matches",
    tag: "screening",
    summary: "List screening matches (the review queue: status potential)",
    roles: SCREENING_READERS,
    query: z.object({
      ...pageQuery,
      status: z.enum(MATCH_STATUSES).optional(),
      subject_kind: z.enum(["principal", "organization"]).optional(),
      subject: z.string().optional(),
      /** With each match its listed entry, the subject's facts and screening status (for review). */
      detail: z.enum(["true", "false"]).optional(),
      // newest: the last changed first (the console's decided history reads its first page only).
      order: z.enum(["id", "newest"]).default("id"),
    }),
    async handle({ deps, query }) {
      const matches = await deps.store.screening.matches({
        ...(query.status === undefined ? {} : { status: query.status }),
        ...(query.subject_kind === undefined ? {} : { subjectKind: query.subject_kind }),
        ...(query.subject === undefined ? {} : { subjectId: query.subject }),
      });
      const page =
        query.order === "newest"
          ? newestFirst(matches, query.limit, query.cursor)
          : paginate(matches, query.limit, query.cursor);
      return query.detail === "true" ? { ...page, data: await withDetail(deps, page.data) } : page;
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/screening/matches/{id}",
    tag: "screening",
    summary: "Read a screening match with its explanation, listed entry and subject",
    roles: SCREENING_READERS,
    async handle({ deps, params }) {
      const m = (await deps.store.screening.matches()).find((x) => x.id === params.id);
      if (m === undefined)
        throw new ClearanceError("not-found", "not_found", `no screening match ${quoted(params.id)}`);
      return (await withDetail(deps, [m]))[0];
    },
  }),
  ...(["confirm", "clear"] as const).map((verb) =>
    route({
      method: "POST",
      path: `/admin/v1/screening/matches/{id}/${verb}`,
      tag: "screening",
      summary:
        verb === "confirm"
          ? "Confirm a potential match (a denied party)"
          : "Clear a potential match, with a reason",
      roles: REVIEWERS,
      body: screeningReview,
      async handle({ deps, params, body, caller }) {
        const row = await deps.store.screening.review(
          params.id as string,
          verb === "confirm" ? "confirmed" : "cleared",
          caller.id,
          body.reason,
        );
        const written = await reloadAfter(deps, `screening match ${row.id}`);
        // A subject this node already denies (confirmed before, here or by another match): in force.
        if (verb === "confirm" && deps.screeningStatus?.(row.subject_kind, row.subject_id) === "confirmed")
          return row;
        // A confirmed match denies its subject, but not on this node until it reloads: said.
        return answer(deps, written, row);
      },
    }),
  ),
  route({
    method: "POST",
    path: "/admin/v1/screening/rescreen",
    tag: "screening",
    summary: "Rescreen every principal and organization against every active list",
    roles: LIST_KEEPERS,
    progress: true,
    async handle({ deps, caller, progress }) {
      const summary = await rescreenAll(deps.store, {
        actor: caller.id,
        engine: await engine(deps),
        onProgress: (done, total) => progress("screening principals and organizations", done, total),
      });
      return answer(deps, await reloadAfter(deps, "the rescreen's outcome"), summary);
    },
  }),
];

/**
 * Matches the last changed first (updated_at, then id), a page at a time: the cursor is the last
 * row's `<updated_at> <id>`, and a page starts after it in that order (a row changed since moves to
 * the front, read again only from the first page).
 */
export function newestFirst(matches: readonly MatchRow[], limit: number, cursor?: string) {
  const after = (m: MatchRow, at: string, id: string): boolean =>
    m.updated_at < at || (m.updated_at === at && byCodePoint(m.id, id) > 0);
  let rest = [...matches].sort((a, b) => b.updated_at.localeCompare(a.updated_at) || byCodePoint(a.id, b.id));
  if (cursor !== undefined) {
    const space = cursor.indexOf(" ");
    if (space < 0)
      throw new ClearanceError(
        "invalid",
        "invalid_cursor",
        "cursor: not a cursor of the newest-first order",
        {
          problems: [
            { code: "invalid_cursor", path: ["cursor"], message: "not a cursor of the newest-first order" },
          ],
        },
      );
    const [at, id] = [cursor.slice(0, space), cursor.slice(space + 1)];
    rest = rest.filter((m) => after(m, at, id));
  }
  const data = rest.slice(0, limit);
  const last = data.at(-1);
  return { data, next_cursor: rest.length > limit && last ? `${last.updated_at} ${last.id}` : null };
}

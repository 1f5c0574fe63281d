/**
 * Partners: country partners (named country sets) and organization partners, each with a
 * lifecycle applied → active → suspended → revoked (suspended ↔ active), every step with a reason.
 */
import { z } from "zod";
import { compileFitting } from "../../control/effective.js";
import { currentRecords, requireInForce, storePolicy } from "../../control/in-force.js";
import type { PutGuard, StoredRecord } from "../../store/index.js";
import type { PartnerDocument, PartnerStatus } from "../../control/types.js";
import { ClearanceError, InvalidInputError } from "../../errors/index.js";
import { partnerRegistration, partnerStatusChange } from "../../control/schemas.js";
import { pageQuery, paginate, route } from "../router.js";
import type { AdminDeps } from "../deps.js";
import { answer, reloadAfter } from "../in-force.js";
import { OFFICERS, READERS } from "./roles.js";

const LIFECYCLE: Readonly<Record<PartnerStatus, readonly PartnerStatus[]>> = {
  applied: ["active", "revoked"],
  active: ["suspended", "revoked"],
  suspended: ["active", "revoked"],
  revoked: [],
};

/**
 * A partner that grants (registered, or made active) must compile with the policy in force as the
 * store holds it now (known models and sets, valid countries), not as this node's snapshot has it.
 * Returns the guard the write must carry: that version is still the active one.
 */
async function checkCompiles(
  deps: AdminDeps,
  doc: PartnerDocument,
  prefix: (string | number)[],
): Promise<PutGuard> {
  const policy = await storePolicy(deps.store, deps.state());
  const others = policy.partners.filter((p) => p.id !== doc.partner.id).map((p) => p.document);
  const { leftOut } = compileFitting(
    policy.scheme,
    [...others, doc],
    policy.licenses.map((l) => l.document),
  );
  const mine = leftOut.find((l) => l.kind === "partner" && l.id === doc.partner.id);
  if (mine !== undefined)
    throw new InvalidInputError(mine.problems.map((p) => ({ ...p, path: [...prefix, ...p.path] })));
  return policy.guard;
}

/**
 * A partner as the store holds it now, not as this node's snapshot has it: one registered or moved
 * through another node (or the CLI) is there before this node reloads, and a step is checked against
 * the status it is written over (and its revision).
 */
async function stored(deps: AdminDeps, id: string): Promise<StoredRecord<PartnerDocument>> {
  const r = await deps.store.records.get<PartnerDocument>("partner", id);
  if (r === undefined) throw new ClearanceError("not-found", "not_found", `no partner ${id}`);
  return r;
}

export const partnerRoutes = [
  route({
    method: "GET",
    path: "/admin/v1/partners",
    tag: "partners",
    summary: "List partners",
    roles: READERS,
    query: z.object({
      ...pageQuery,
      kind: z.enum(["country", "organization"]).optional(),
      status: z.enum(["applied", "active", "suspended", "revoked"]).optional(),
      // The console's identity provider form finds a partner by it, among however many there are.
      prefix: z
        .string()
        .min(1, "the prefix is empty: leave it out to list every partner")
        .max(1024, "the prefix is longer than 1024 characters")
        .optional()
        .describe("partners whose id, or name, starts with it (letter case aside)"),
    }),
    async handle({ deps, query }) {
      // As the store holds them, as a partner's own read is: one registered or moved through another
      // node (or the CLI) is listed before this node reloads. Filtered in memory.
      const prefix = query.prefix?.toLowerCase();
      const held = deps.state().partners;
      const all = (await currentRecords(deps.store, "partner", held, deps.heldVersion?.()))
        .map((r) => ({ id: r.id, revision: r.revision, ...r.document }))
        .filter(
          (p) =>
            (query.kind === undefined || p.kind === query.kind) &&
            (query.status === undefined || p.partner.status === query.status) &&
            (prefix === undefined ||
              p.id.toLowerCase().startsWith(prefix) ||
              (p.partner.name ?? "").toLowerCase().startsWith(prefix)),
        );
      return paginate(all, query.limit, query.cursor);
    },
  }),
  route({
    method: "GET",
    path: "/admin/v1/partners/{id}",
    tag: "partners",
    summary: "Read a partner and its history",
    roles: READERS,
    async handle({ deps, params }) {
      const r = await stored(deps, params.id as string);
      return { id: r.id, revision: r.revision, ...r.document };
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/partners",
    tag: "partners",
    summary: "Register a partner (status applied)",
    roles: OFFICERS,
    status: 201,
    body: partnerRegistration,
    async handle({ deps, body, caller }) {
      // The store's, not this node's: one registered through another node may not be loaded here yet.
      if ((await deps.store.records.get("partner", body.partner.id)) !== undefined)
        throw new ClearanceError("conflict", "conflict", `partner ${body.partner.id} exists`);
      const now = deps.now();
      const partner = { ...body.partner, status: "applied" as const };
      const doc = {
        kind: body.kind,
        partner,
        history: [{ at: now, actor: caller.id, from: null, to: "applied", reason: body.reason }],
      } as PartnerDocument;
      const guard = await checkCompiles(deps, doc, ["partner"]);
      await deps.store.records.put(
        "partner",
        partner.id,
        doc,
        0,
        { actor: caller.id, action: "partner.register", details: { kind: body.kind, reason: body.reason } },
        guard,
      );
      const written = await reloadAfter(deps, `partner ${partner.id}`, "policy");
      requireInForce(deps.state(), "partner", partner.id);
      return answer(deps, written, { id: partner.id, ...doc });
    },
  }),
  route({
    method: "POST",
    path: "/admin/v1/partners/{id}/status",
    tag: "partners",
    summary: "Move a partner through its lifecycle",
    roles: OFFICERS,
    body: partnerStatusChange,
    async handle({ deps, params, body, caller }) {
      const r = await stored(deps, params.id as string);
      const from = r.document.partner.status;
      if (!LIFECYCLE[from].includes(body.status)) {
        throw new ClearanceError(
          "conflict",
          "invalid_transition",
          `partner ${r.id} is ${from}; it can become ${LIFECYCLE[from].join(" or ") || "nothing else"}`,
        );
      }
      const now = deps.now();
      const doc = {
        ...r.document,
        partner: { ...r.document.partner, status: body.status },
        history: [
          ...r.document.history,
          { at: now, actor: caller.id, from, to: body.status, reason: body.reason },
        ],
      } as PartnerDocument;
      // Suspending and revoking only narrow: they are written whatever else does not compile.
      const guard = body.status === "active" ? await checkCompiles(deps, doc, []) : undefined;
      await deps.store.records.put(
        "partner",
        r.id,
        doc,
        r.revision,
        {
          actor: caller.id,
          action: `partner.${body.status === "active" ? "activate" : body.status === "suspended" ? "suspend" : "revoke"}`,
          details: { from, to: body.status, reason: body.reason },
        },
        guard,
      );
      // Stored, but this node's reload failed (a suspension answered 200 read as in force): said.
      const written = await reloadAfter(deps, `partner ${r.id}`, "policy");
      if (guard !== undefined) requireInForce(deps.state(), "partner", r.id);
      return answer(deps, written, { id: r.id, ...doc });
    },
  }),
];

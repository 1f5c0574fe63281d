/**
 * A license's destinations and nationalities are resolved to countries when it is applied for: two
 * approvers approve those countries, and a scheme version redefining a set the license names
 * (one admin's act) neither widens nor narrows it. Licenses stored before countries were recorded
 * keep resolving their set names against the active version.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { apply } from "../licensing/workflow.js";
import type { Store } from "../store/index.js";
import {
  application,
  ask,
  asAdmin,
  call,
  createIdentity,
  daysFromNow,
  eventually,
  type Json,
} from "../testing/admin.js";
import { startTestGateway, type TestGateway } from "../testing/gateway.js";

let t: TestGateway;
let raw: Store;
const tok: Record<string, string> = {};
beforeAll(async () => {
  t = await startTestGateway({ wrapStore: (s) => (raw = s) });
  tok.applicant = await createIdentity(t, "app@sets", ["applicant"], "bw-cyber");
  tok.a1 = await createIdentity(t, "a1@sets", ["approver"]);
  tok.a2 = await createIdentity(t, "a2@sets", ["approver"]);
});
afterAll(() => t.gateway.close());

const base = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
const withSet = (members: string) =>
  base.replace("  trusted: [G7, FIVE_EYES]", `  trusted: [G7, FIVE_EYES]\n  liaison: ${members}`);
const activate = async (yaml: string) => {
  const up = (await asAdmin(t, "POST", "/admin/v1/schemes", { yaml })) as Json;
  const r = (await asAdmin(t, "POST", `/admin/v1/schemes/${up.version}/activate`, {
    reason: "sets",
  })) as Json;
  expect(r.version).toBe(up.version);
};
const approveBoth = async (id: string) => {
  for (const a of ["a1", "a2"])
    expect((await call(t, tok[a]!, "POST", `/admin/v1/licenses/${id}/approve`, {})).status).toBe(200);
};

it("an approved license naming a set keeps the countries approved when one admin redefines the set", async () => {
  await activate(withSet("[FR]"));
  const applied = await call(
    t,
    tok.applicant!,
    "POST",
    "/admin/v1/licenses",
    application({ id: "LIC-SET", destinations: ["liaison"] }),
  );
  expect(applied.status).toBe(201);
  // What the approvers see: the expression, and the countries it names now.
  expect(applied.body.terms).toMatchObject({
    destinations: ["liaison"],
    resolved: { destinations: ["FR"], nationalities: ["DE"] },
  });
  // Redefined while pending: the approvers approve the countries of the application.
  await activate(withSet("[FR, IT]"));
  await approveBoth("LIC-SET");
  expect(await ask(t, "erik", "FR")).toMatchObject({ status: 200, reason: "license" });
  expect((await ask(t, "erik", "IT")).reason).not.toBe("license");
  await activate(withSet("[FR, IN, BR]"));
  expect((await ask(t, "erik", "IN")).reason).not.toBe("license");
  expect(await ask(t, "erik", "FR")).toMatchObject({ status: 200, reason: "license" });
  const record = (await asAdmin(t, "GET", "/admin/v1/licenses/LIC-SET")) as Json;
  expect(record.terms.resolved.destinations).toEqual(["FR"]);
});

it("an approver's narrowing conditions are among the countries applied for", async () => {
  await activate(withSet("[BE, NL]"));
  await call(
    t,
    tok.applicant!,
    "POST",
    "/admin/v1/licenses",
    application({ id: "LIC-NL", destinations: ["liaison"] }),
  );
  const wide = await call(t, tok.a1!, "POST", "/admin/v1/licenses/LIC-NL/approve", {
    conditions: { destinations: ["DK"] },
  });
  expect(wide.status).toBe(400);
  const narrowed = await call(t, tok.a1!, "POST", "/admin/v1/licenses/LIC-NL/approve", {
    conditions: { destinations: ["NL"] },
  });
  expect(narrowed.body.terms.resolved.destinations).toEqual(["NL"]);
});

it("a license stored before countries were recorded still resolves its set names against the active version", async () => {
  await activate(withSet("[PT]"));
  const legacy = apply(
    {
      id: "LIC-OLD",
      licensee: { organization: "bw-cyber" },
      terms: {
        models: ["mythos-5"],
        actions: ["infer"],
        destinations: ["liaison"],
        nationalities: ["DE"],
        valid_from: daysFromNow(-1),
        valid_until: daysFromNow(365),
        quota_period: "total",
      },
      justification: "stored by an older build",
    },
    "app@sets",
    new Date().toISOString(),
  );
  await raw.records.put("license", "LIC-OLD", { ...legacy, status: "approved" }, 0, {
    actor: "t",
    action: "x",
  });
  expect(
    await eventually(
      () => ask(t, "erik", "PT"),
      (a) => a.reason === "license",
    ),
  ).toMatchObject({
    reason: "license",
  });
  await activate(withSet("[PT, GR]"));
  expect(await ask(t, "erik", "GR")).toMatchObject({ reason: "license" });
});

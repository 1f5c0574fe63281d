import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, startTestGateway, type TestGateway } from "../../testing/gateway.js";
import type { Io } from "../io.js";
import { run } from "../program.js";
import { cleartextWarning, createClient } from "./remote-client.js";

let t: TestGateway;
const dir = mkdtempSync(join(tmpdir(), "clearance-remote-cli-"));

beforeAll(async () => {
  t = await startTestGateway();
});
afterAll(async () => {
  await t.gateway.close();
});

const file = (name: string, content: unknown): string => {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return path;
};

interface CliOptions {
  /** The CLEARANCE_TOKEN for this run; null: unset. Default: the bootstrap admin token. */
  readonly token?: string | null;
  /** --url; null: none given. Default: the test gateway. */
  readonly url?: string | null;
  readonly env?: Readonly<Record<string, string>>;
}

/** Runs the CLI in-process with CLEARANCE_TOKEN (and other variables) set for this run only. */
async function cli(args: string[], options: CliOptions = {}) {
  const vars: Record<string, string | null> = {
    CLEARANCE_TOKEN: options.token === undefined ? ADMIN_TOKEN : options.token,
    CLEARANCE_URL: null,
    ...options.env,
  };
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === null) delete process.env[k];
    else process.env[k] = v;
  }
  let out = "";
  let err = "";
  const io: Io = { stdout: (s) => void (out += s), stderr: (s) => void (err += s), stdin: () => "" };
  const url = options.url === undefined ? t.url : options.url;
  try {
    const code = await run([...args, ...(url === null ? [] : ["--url", url])], io);
    return { code, out, err };
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** A table's rows as arrays of cells (columns are two or more spaces apart). */
const rows = (out: string) =>
  out
    .trimEnd()
    .split("\n")
    .map((l) => l.split(/ {2,}/));

async function createIdentity(id: string, roles: string[], extra: string[] = []): Promise<string> {
  const r = await cli([
    "identities",
    "create",
    "--id",
    id,
    "--name",
    `Test ${id}`,
    ...roles.flatMap((role) => ["--role", role]),
    ...extra,
    "--json",
  ]);
  expect(r.code, r.err).toBe(0);
  return (JSON.parse(r.out) as { token: string }).token;
}

describe("clearance identities", () => {
  it("creates an identity (its token printed once), lists it without the token, revokes it", async () => {
    const created = await cli([
      "identities",
      "create",
      "--id",
      "olga",
      "--name",
      "Olga Officer",
      "--role",
      "compliance-officer",
      "--role",
      "viewer",
    ]);
    expect(created.code, created.err).toBe(0);
    expect(created.out).toMatch(/^clra_[A-Za-z0-9_-]+\n$/);
    const token = created.out.trim();
    expect(created.err).toContain("olga (compliance-officer, viewer): the token is shown once");
    expect(created.err).not.toContain(token);

    // The token works: olga reads partners with it.
    expect((await cli(["partners", "list"], { token })).code).toBe(0);

    const list = await cli(["identities", "list"]);
    expect(list.code).toBe(0);
    expect(rows(list.out)[0]).toEqual(["ID", "ROLES", "ORGANIZATION", "CREATED", "REVOKED", "NAME"]);
    expect(rows(list.out)).toContainEqual([
      "olga",
      "compliance-officer,viewer",
      "-",
      expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      "-",
      "Olga Officer",
    ]);
    expect(list.out).not.toContain(token);

    const json = JSON.parse((await cli(["identities", "list", "--json"])).out) as {
      data: { id: string; roles: string[] }[];
      next_cursor: string | null;
    };
    expect(json.next_cursor).toBeNull();
    expect(json.data).toContainEqual(
      expect.objectContaining({ id: "olga", roles: ["compliance-officer", "viewer"] }),
    );
    expect(JSON.stringify(json)).not.toContain("token");

    expect(await cli(["identities", "revoke", "olga"])).toMatchObject({
      code: 0,
      out: "revoked identity olga\n",
    });
    const refused = await cli(["partners", "list"], { token });
    expect(refused.code).toBe(1);
    expect(refused.err).toBe(
      "clearance: invalid or revoked admin token; the token is read from CLEARANCE_TOKEN (invalid_admin_token)\n",
    );
  });

  it("refuses what the server refuses as invalid input (exit 2, as bad usage locally is)", async () => {
    const applicant = await cli([
      "identities",
      "create",
      "--id",
      "anna",
      "--name",
      "Anna",
      "--role",
      "applicant",
    ]);
    // The server's 400: its problem once (not the message and then the same problem again), exit 2.
    expect(applicant.code).toBe(2);
    expect(applicant.err).toBe("organization: an applicant acts for an organization: set organization\n");
    const badRole = await cli(["identities", "create", "--id", "x", "--name", "X", "--role", "boss"]);
    expect(badRole.code).toBe(2);
    expect(badRole.err).toContain("Allowed choices are viewer, applicant");
    expect((await cli(["identities", "create", "--id", "x", "--name", "X"])).code).toBe(2);
  });
});

describe("clearance partners", () => {
  it("registers, activates and suspends a partner with reasons; the table shows it", async () => {
    const partner = file("acme.json", {
      id: "acme",
      name: "Acme Research",
      country: "GB",
      assurance: "verified",
      grants: [{ models: ["mythos-5"], actions: ["infer"] }],
    });
    const registered = await cli([
      "partners",
      "register",
      "--file",
      partner,
      "--reason",
      "MoU signed 2026-05",
    ]);
    expect(registered.code, registered.err).toBe(0);
    expect(registered.out).toBe(
      "registered organization partner acme: status applied; " +
        "activate it with: clearance partners activate acme --reason …\n",
    );
    expect(await cli(["partners", "activate", "acme", "--reason", "vetting complete"])).toMatchObject({
      code: 0,
      out: "partner acme: applied → active\n",
    });
    expect(await cli(["partners", "suspend", "acme", "--reason", "audit finding"])).toMatchObject({
      code: 0,
      out: "partner acme: active → suspended\n",
    });

    const list = await cli(["partners", "list"]);
    expect(rows(list.out)[0]).toEqual(["ID", "KIND", "STATUS", "ASSURANCE", "WHERE", "GRANTS", "NAME"]);
    expect(rows(list.out)).toContainEqual([
      "acme",
      "organization",
      "suspended",
      "verified",
      "GB",
      "mythos-5: infer",
      "Acme Research",
    ]);
    expect(rows(list.out)).toContainEqual(expect.arrayContaining(["g7-fvey", "country", "active"]));

    const suspended = await cli(["partners", "list", "--status", "suspended", "--kind", "organization"]);
    expect(rows(suspended.out).map((r) => r[0])).toEqual(["ID", "acme"]);

    const shown = await cli(["partners", "show", "acme"]);
    expect(shown.out).toMatch(/^status +suspended$/m);
    expect(shown.out).toMatch(/admin +applied +active +vetting complete/);
    expect(shown.out).toMatch(/admin +active +suspended +audit finding/);

    const json = JSON.parse((await cli(["partners", "show", "acme", "--json"])).out) as {
      partner: { status: string };
      history: { reason: string }[];
    };
    expect(json.partner.status).toBe("suspended");
    expect(json.history.map((h) => h.reason)).toEqual([
      "MoU signed 2026-05",
      "vetting complete",
      "audit finding",
    ]);

    // The lifecycle is the server's: a suspended partner cannot be suspended again.
    const again = await cli(["partners", "suspend", "acme", "--reason", "twice"]);
    expect(again.code).toBe(1);
    expect(again.err).toBe(
      "clearance: partner acme is suspended; it can become active or revoked (invalid_transition)\n",
    );
    // A reason is required, locally.
    expect((await cli(["partners", "revoke", "acme"])).code).toBe(2);
  });

  it("takes {kind, partner} files too, and a country partner's kind from its shape", async () => {
    const wrapped = file("nordics.json", {
      kind: "country",
      partner: {
        id: "nordics",
        countries: ["NO", "IS"],
        assurance: "attested",
        grants: [{ models: ["mythos-5"], actions: ["infer"] }],
      },
    });
    expect((await cli(["partners", "register", "--file", wrapped, "--reason", "treaty"])).out).toContain(
      "registered country partner nordics",
    );
    const bare = file("baltics.json", {
      id: "baltics",
      countries: ["EE", "LV", "LT"],
      assurance: "attested",
      grants: [{ models: ["mythos-5"], actions: ["infer"] }],
    });
    expect((await cli(["partners", "register", "--file", bare, "--reason", "treaty"])).out).toContain(
      "registered country partner baltics",
    );
    const unknown = file("unknown.json", { id: "what" });
    expect(await cli(["partners", "register", "--file", unknown, "--reason", "r"])).toMatchObject({
      code: 2,
    });
  });
});

describe("clearance licenses", () => {
  it("apply → two approvals by two approvers → approved in the list → usage → revoke", async () => {
    const first = await createIdentity("approver-1", ["approver"]);
    const second = await createIdentity("approver-2", ["approver"]);
    const application = file("application.json", {
      licensee: { organization: "bw-cyber" },
      models: ["fable-5"],
      actions: ["infer"],
      destinations: ["DE"],
      purposes: ["cyber-defense"],
      valid_from: "2026-01-01",
      valid_until: "2027-12-31",
      quota_tokens: 2000000,
      quota_period: "month",
      justification: "red-team exercise",
    });
    const applied = await cli(["licenses", "apply", "--file", application, "--json"]);
    expect(applied.code, applied.err).toBe(0);
    const license = JSON.parse(applied.out) as { id: string; status: string };
    expect(license.status).toBe("pending");
    const id = license.id;

    const pending = await cli(["licenses", "list", "--status", "pending"]);
    expect(rows(pending.out)).toContainEqual(expect.arrayContaining([id, "bw-cyber", "pending", "0/2"]));

    expect(await cli(["licenses", "approve", id], { token: first })).toMatchObject({
      code: 0,
      out: `approved license ${id}: 1 of 2 approvals, still pending\n`,
    });
    const twice = await cli(["licenses", "approve", id], { token: first });
    expect(twice.code).toBe(1);
    expect(twice.err).toMatch(/^clearance: approver-1 has already approved .*\(duplicate-approval\)\n$/);
    // The bootstrap admin is no approver.
    expect((await cli(["licenses", "approve", id])).err).toMatch(
      /^clearance: admin may not approve.*\(forbidden\)\n$/,
    );

    const conditions = file("conditions.json", { quota_tokens: 1000000, note: "half the quota at first" });
    expect(
      await cli(["licenses", "approve", id, "--conditions", conditions], { token: second }),
    ).toMatchObject({
      code: 0,
      out: `approved license ${id}: it is now approved\n`,
    });

    const approved = await cli(["licenses", "list", "--status", "approved"]);
    expect(rows(approved.out)[0]).toEqual([
      "ID",
      "LICENSEE",
      "STATUS",
      "APPROVALS",
      "MODELS",
      "ACTIONS",
      "DESTINATIONS",
      "UNTIL",
      "QUOTA",
    ]);
    expect(rows(approved.out)).toContainEqual([
      id,
      "bw-cyber",
      "approved",
      "2",
      "fable-5",
      "infer",
      "DE",
      "2027-12-31",
      "1,000,000 per month",
    ]);

    const usage = await cli(["licenses", "usage", id]);
    expect(usage.code).toBe(0);
    expect(usage.out).toMatch(/^used +0 tokens$/m);
    expect(usage.out).toMatch(/^quota +1,000,000 tokens$/m);
    expect(usage.out).toMatch(/^remaining +1,000,000 tokens$/m);
    expect(JSON.parse((await cli(["licenses", "usage", id, "--json"])).out)).toMatchObject({
      license: id,
      used_tokens: 0,
      quota_tokens: 1000000,
      remaining_tokens: 1000000,
      quota_period: "month",
    });

    expect(await cli(["licenses", "revoke", id, "--reason", "exercise over"])).toMatchObject({
      code: 0,
      out: `license ${id} is now revoked\n`,
    });
    const shown = await cli(["licenses", "show", id]);
    expect(shown.out).toMatch(/^status +revoked$/m);
    expect(shown.out).toMatch(/approver-2 +approve +\{"quota_tokens":1000000/);
    expect(shown.out).toMatch(/admin +revoke +exercise over/);
    expect((await cli(["licenses", "reinstate", id, "--reason", "oops"])).code).toBe(1);
  });

  it("bad local files are exit 2, before anything is sent", async () => {
    const missing = await cli(["licenses", "apply", "--file", join(dir, "nope.json")], { token: null });
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/nope\.json: cannot read application: ENOENT/);
    const notJson = file("broken.json", "{ licensee: ");
    const broken = await cli(["licenses", "apply", "--file", notJson]);
    expect(broken.code).toBe(2);
    expect(broken.err).toContain("application is not valid JSON");
    const list = file("list.json", []);
    expect((await cli(["partners", "register", "--file", list, "--reason", "r"])).err).toContain(
      "partner must be a JSON object",
    );
    expect((await cli(["licenses", "approve", "X", "--conditions", notJson])).code).toBe(2);
    expect((await cli(["schemes", "upload", file("empty.yaml", "\n")])).code).toBe(2);
  });
});

describe("clearance schemes", () => {
  it("upload: problems at file:line:column (exit 2); a good file prints its diff; activate", async () => {
    const bad = file(
      "bad.yaml",
      "version: 1\nname: broken\nhome: [US]\nmodels:\n  m: { control: sometimes }\n",
    );
    const refused = await cli(["schemes", "upload", bad]);
    // As `clearance scheme validate` names them: the local file, its line and column.
    expect(refused.code).toBe(2);
    expect(refused.out).toBe("");
    expect(refused.err).toMatch(new RegExp(`^${bad}:5:17: models\\.m\\.control: Invalid option`, "m"));
    expect(refused.err).not.toContain("invalid_request");

    const example = readFileSync("examples/g7-trusted-partners.yaml", "utf8");
    const changed = example.replace("embargoed: [EAR_E1, EAR_E2]", "embargoed: [EAR_E1, EAR_E2, BY]");
    expect(changed).not.toBe(example);
    const good = file("next.yaml", changed);
    const uploaded = await cli(["schemes", "upload", good]);
    expect(uploaded.code, uploaded.err).toBe(0);
    expect(uploaded.out).toMatch(/^Scheme diff: g7-trusted-partners → g7-trusted-partners\n/);
    expect(uploaded.out).toContain("BY (Belarus)");
    expect(uploaded.err).toBe(
      "uploaded scheme version 2; review the diff, then: clearance schemes activate 2 --reason …\n",
    );
    const again = await cli(["schemes", "upload", good, "--json"]);
    expect(JSON.parse(again.out)).toMatchObject({ version: 2, created: false, diff: { identical: false } });

    expect((await cli(["schemes", "diff", "2"])).out).toBe(uploaded.out);
    expect((await cli(["schemes", "show", "2"])).out).toContain("embargoed: [EAR_E1, EAR_E2, BY]");

    const noReason = await cli(["schemes", "activate", "2"]);
    expect(noReason.code).toBe(2);
    expect(await cli(["schemes", "activate", "2", "--reason", "Belarus embargo"])).toMatchObject({
      code: 0,
      out: expect.stringMatching(
        /^activated scheme version 2 \(g7-trusted-partners, sha256:[0-9a-f]{12}…\)\n$/,
      ),
    });
    const list = await cli(["schemes", "list"]);
    expect(rows(list.out).map((r) => r.slice(0, 3))).toEqual([
      ["VERSION", "ACTIVE", "NAME"],
      ["1", "no", "g7-trusted-partners"],
      ["2", "yes", "g7-trusted-partners"],
    ]);
    // Against the active version 2, version 1 would lift the embargo on Belarus.
    expect((await cli(["schemes", "diff", "1"])).out).toContain("BY (Belarus)");
    expect((await cli(["schemes", "show", "9"])).err).toBe("clearance: no scheme version 9 (not_found)\n");
  });

  it("models list and usage", async () => {
    const models = await cli(["models", "list"]);
    expect(rows(models.out)[0]).toEqual(["ID", "CONTROL", "FALLBACK", "AVAILABLE IN", "UPSTREAM"]);
    expect(rows(models.out)).toContainEqual([
      "mythos-5",
      "controlled",
      "mythos-4",
      "anywhere",
      "demo/mythos-5",
    ]);
    const json = JSON.parse((await cli(["models", "list", "--json"])).out) as { data: { id: string }[] };
    expect(json.data.map((m) => m.id)).toContain("fable-5");
    const usage = await cli(["usage"]);
    expect(usage.code).toBe(0);
    expect(JSON.parse((await cli(["usage", "--json"])).out)).toHaveProperty("byLicense");
  });
});

describe("clearance remote principals|keys", () => {
  it("adds a principal, creates a key shown once, lists and revokes it, removes the principal", async () => {
    const p = file("zoe.json", { id: "zoe", citizenships: [{ country: "NZ" }], assurance: "attested" });
    expect(await cli(["remote", "principals", "add", "--file", p])).toMatchObject({
      code: 0,
      out: "saved principal zoe\n",
    });
    expect(rows((await cli(["remote", "principals", "show", "zoe"])).out)).toContainEqual([
      "citizenships",
      "NZ",
    ]);
    const created = await cli(["remote", "keys", "create", "--principal", "zoe", "--label", "laptop"]);
    expect(created.out).toMatch(/^clr_[a-z0-9]{12}_[A-Za-z0-9_-]+\n$/);
    const keyId = created.out.split("_")[1]!;
    const keys = await cli(["remote", "keys", "list", "--principal", "zoe"]);
    expect(rows(keys.out)).toEqual([
      ["ID", "PRINCIPAL", "LABEL", "CREATED", "REVOKED"],
      [keyId, "zoe", "laptop", expect.any(String), "active"],
    ]);
    expect(keys.out).not.toContain(created.out.trim());
    expect((await cli(["remote", "keys", "revoke", keyId])).out).toBe(`revoked key ${keyId}\n`);
    expect(
      rows((await cli(["remote", "keys", "list", "--status", "active", "--principal", "zoe"])).out),
    ).toEqual([["no keys"]]);
    expect((await cli(["remote", "principals", "remove", "zoe"])).out).toBe(
      "removed principal zoe and its keys\n",
    );
  });

  it("a principal or key that does not exist is a refusal, exit 1, with the same code locally as remotely", async () => {
    const cases = [
      { verb: ["keys", "revoke", "nosuch"], code: "not_found" },
      { verb: ["principals", "remove", "nosuch"], code: "not_found" },
      { verb: ["keys", "create", "--principal", "nosuch"], code: "unknown-principal" },
    ];
    for (const { verb, code } of cases) {
      const remote = await cli(["remote", ...verb]);
      expect(remote.code, `remote ${verb.join(" ")}`).toBe(1);
      expect(remote.err).toContain(code);
      const local = await cli([...verb, "--data-dir", t.dataDir], { url: null });
      expect(local.code, `local ${verb.join(" ")}`).toBe(1);
      expect(local.err).toMatch(new RegExp(`^clearance: no (principal|key) .*nosuch.* \\(${code}\\)\n$`));
    }
  });
});

describe("the same input, locally (--data-dir) and remotely: the same words and exit code", () => {
  const CSL_HEADER =
    "source,entity_number,type,programs,name,title,addresses,federal_register_notice,start_date," +
    "end_date,standard_order,license_requirement,license_policy,call_sign,vessel_type,gross_tonnage," +
    "gross_registered_tonnage,vessel_flag,vessel_owner,remarks,source_list_url,alt_names,citizenships," +
    "dates_of_birth,nationalities,places_of_birth,source_information_url,ids";
  const both = async (verb: string[]) => ({
    local: await cli([...verb, "--data-dir", t.dataDir], { url: null }),
    remote: await cli(["remote", ...verb]),
  });

  it("a principal with a bad field: exit 2, the file and field named once, checked before sending", async () => {
    const bad = file("bad-country.json", { id: "x2", citizenships: [{ country: "USA" }] });
    const { local, remote } = await both(["principals", "add", "--file", bad]);
    const expected = {
      code: 2,
      out: "",
      err: `${bad}: citizenships[0].country: expected an ISO 3166-1 alpha-2 country code (upper case, e.g. DE)\n`,
    };
    expect(local).toEqual(expected);
    expect(remote).toEqual(expected);
    // Checked before anything is sent: no token, no server needed.
    expect(await cli(["remote", "principals", "add", "--file", bad], { token: null, url: null })).toEqual(
      expected,
    );
  });

  it("a JSON syntax error: exit 2 at file:line:column, not a character position", async () => {
    const broken = file(
      "broken-principal.json",
      '{\n  "id": "x3",\n  "citizenships": [{"country": "US"},]\n}\n',
    );
    const { local, remote } = await both(["principals", "add", "--file", broken]);
    const expected = {
      code: 2,
      out: "",
      err:
        `${broken}:3:38: principal is not valid JSON: expected a value, found ']' ` +
        "(JSON allows no comma before it)\n",
    };
    expect(local).toEqual(expected);
    expect(remote).toEqual(expected);
  });

  it("a malformed list file, given by a path: exit 2, the server's problem at that path, once", async () => {
    const csv = file(
      "bad-csl.csv",
      `${CSL_HEADER}\nEntity List (EL) - Bureau,,,,Zenith,,"Beijing, CN",,2020-05-01,,,,,,,,,,,,,,,,,,,\n` +
        'Entity List (EL) - Bureau,,,,"Unterminated quote,,,\n',
    );
    const { local, remote } = await both(["screening", "import", csv]);
    const expected = {
      code: 2,
      out: "",
      err: `${csv}:3:1: (csv): a quoted field starting in this record is never closed\n`,
    };
    expect(local).toEqual(expected);
    expect(remote).toEqual(expected);
  });

  it("a principal saved, and nothing by that id: one wording", async () => {
    const good = file("yara.json", { id: "yara", citizenships: [{ country: "NZ" }] });
    const { local, remote } = await both(["principals", "add", "--file", good]);
    // The store says whether the principal was new; the admin API does not.
    expect(local).toEqual({ code: 0, out: "saved principal yara (new)\n", err: "" });
    expect(remote).toEqual({ code: 0, out: "saved principal yara\n", err: "" });
    for (const verb of [
      ["keys", "revoke", "nosuch"],
      ["principals", "remove", "nosuch"],
    ]) {
      const twins = await both(verb);
      expect(twins.local, verb.join(" ")).toEqual(twins.remote);
      expect(twins.local.code).toBe(1);
      expect(twins.local.err).toMatch(/^clearance: no (key|principal) nosuch \(not_found\)\n$/);
    }
  });

  it("alerts list --detector: a name no detector has is usage (exit 2), as a bad --state is", async () => {
    const typo = await cli(["remote", "alerts", "list", "--detector", "key_sharing"]);
    expect(typo.code).toBe(2);
    expect(typo.out).toBe("");
    expect(typo.err).toContain(
      "'key_sharing' is invalid. Allowed choices are impossible-travel, key-sharing,",
    );
    expect(await cli(["remote", "alerts", "list", "--detector", "key-sharing"])).toEqual({
      code: 0,
      out: "no alerts\n",
      err: "",
    });
  });

  it("alerts list --severity: filtered by the server, one or several; a severity name it does not know is usage (exit 2)", async () => {
    for (const [i, severity] of (["critical", "low", "high"] as const).entries())
      await t.gateway.store.alerts.raise(
        {
          dedupeKey: `cli-severity-${i}`,
          detector: "volume-spike",
          severity,
          subject: { kind: "principal", id: "cli-severity" },
          summary: `volume ${severity}`,
          evidence: { audit_indexes: [], details: {} },
          raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
          deliver: false,
        },
        "detector:volume-spike",
      );
    const listed = async (...severities: string[]) => {
      const r = await cli([
        "remote",
        "alerts",
        "list",
        "--subject",
        "cli-severity",
        ...severities.flatMap((s) => ["--severity", s]),
      ]);
      expect(r.code, r.err).toBe(0);
      return r.out.split("\n").flatMap((l) => /volume (\w+)$/.exec(l)?.[1] ?? []);
    };
    expect(await listed("critical")).toEqual(["critical"]);
    expect(await listed("high", "critical")).toEqual(["critical", "high"]);
    expect(await listed()).toEqual(["critical", "low", "high"]);
    const typo = await cli(["remote", "alerts", "list", "--severity", "severe"]);
    expect([typo.code, typo.out]).toEqual([2, ""]);
    expect(typo.err).toContain("'severe' is invalid. Allowed choices are low, medium, high, critical.");
  });

  it("alerts list --order: oldest first by default, newest first, or most severe first a page at a time; a server of an earlier release refusing it names --order", async () => {
    const severities = ["low", "critical", "high", "critical"] as const;
    const ids: string[] = [];
    for (const [i, severity] of severities.entries()) {
      const { alert } = await t.gateway.store.alerts.raise(
        {
          dedupeKey: `cli-order-${i}`,
          detector: "volume-spike",
          severity,
          subject: { kind: "principal", id: "cli-order" },
          summary: `order ${i}`,
          evidence: { audit_indexes: [], details: {} },
          raisedAt: new Date(Date.parse("2030-02-03T04:05:06.000Z") + i * 1000).toISOString(),
          deliver: false,
        },
        "detector:volume-spike",
      );
      ids.push(alert.id);
    }
    const listed = async (...extra: string[]) => {
      const r = await cli(["remote", "alerts", "list", "--subject", "cli-order", ...extra]);
      expect(r.code, r.err).toBe(0);
      return r.out.split("\n").flatMap((l) => /order (\d)$/.exec(l)?.[1] ?? []);
    };
    expect(await listed()).toEqual(["0", "1", "2", "3"]);
    expect(await listed("--order", "oldest")).toEqual(["0", "1", "2", "3"]);
    expect(await listed("--order", "newest")).toEqual(["3", "2", "1", "0"]);
    // Most severe first, the newest first within a severity.
    expect(await listed("--order", "severity")).toEqual(["3", "1", "2", "0"]);
    expect(await listed("--order", "severity", "--severity", "high", "--severity", "low")).toEqual([
      "2",
      "0",
    ]);
    // A page at a time: the next page follows on from the cursor in the same order.
    const page = async (...extra: string[]) => {
      const r = await cli([
        "remote",
        "alerts",
        "list",
        "--subject",
        "cli-order",
        "--order",
        "severity",
        "--limit",
        "2",
        "--json",
        ...extra,
      ]);
      expect(r.code, r.err).toBe(0);
      return JSON.parse(r.out) as { data: { id: string }[]; next_cursor: string | null };
    };
    const first = await page();
    expect(first.data.map((a) => a.id)).toEqual([ids[3], ids[1]]);
    const second = await page("--cursor", first.next_cursor!);
    expect([second.data.map((a) => a.id), second.next_cursor]).toEqual([[ids[2], ids[0]], null]);

    const typo = await cli(["remote", "alerts", "list", "--order", "severe"]);
    expect([typo.code, typo.out]).toEqual([2, ""]);
    expect(typo.err).toContain("'severe' is invalid. Allowed choices are oldest, newest, severity.");

    // A server of an earlier release (its orders oldest and newest) refuses order=severity with
    // the 400 this server gives an order it does not have: the problem is at --order, exit 2.
    const refusal = await fetch(`${t.url}/admin/v1/alerts?order=most-severe`, {
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
    });
    expect(refusal.status).toBe(400);
    // Its words for its own orders (this server's answer lists severity too).
    const refused = (await refusal.text()).replaceAll('|\\"severity\\"', "");
    expect(refused).toContain('\\"oldest\\"|\\"newest\\"');
    expect(refused).not.toContain("severity");
    const asked: string[] = [];
    const earlier: Server = createServer((req, res) => {
      asked.push(req.url ?? "");
      const order = new URL(req.url ?? "/", "http://x").searchParams.get("order");
      if (order !== null && order !== "oldest" && order !== "newest") {
        res.writeHead(400, { "content-type": "application/json" });
        return void res.end(refused);
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ data: [], next_cursor: null }));
    });
    await new Promise<void>((resolve) => earlier.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(earlier.address() as AddressInfo).port}`;
    try {
      const old = await cli(["remote", "alerts", "list", "--order", "severity"], { url });
      expect([old.code, old.out]).toEqual([2, ""]);
      expect(old.err).toBe('--order: Invalid option: expected one of "oldest"|"newest"\n');
      // Without --order the request is as it always was: the earlier server lists.
      expect(await cli(["remote", "alerts", "list"], { url })).toEqual({
        code: 0,
        out: "no alerts\n",
        err: "",
      });
      expect(asked.map((u) => new URL(u, "http://x").searchParams.get("order"))).toEqual(["severity", null]);
    } finally {
      await new Promise<void>((resolve) => earlier.close(() => resolve()));
    }
  });

  it("alerts list and show: a held alert's delivery names the alert it waits behind", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      const { alert } = await t.gateway.store.alerts.raise(
        {
          dedupeKey: `cli-held-${i}`,
          detector: "denial-spike",
          severity: "medium",
          subject: { kind: "organization", id: "org-held" },
          summary: `spike ${i}`,
          evidence: { audit_indexes: [], details: {} },
          raisedAt: new Date(Date.parse("2030-01-02T03:04:05.000Z") + i * 1000).toISOString(),
          deliver: true,
        },
        "detector:denial-spike",
      );
      ids.push(alert.id);
    }
    const list = await cli(["remote", "alerts", "list", "--subject", "org-held"]);
    expect(list.code).toBe(0);
    const rows = list.out.split("\n").filter((l) => l.startsWith("alr_"));
    expect(rows[0]).toMatch(/ open +pending +spike 0/);
    expect(rows[1]).toMatch(new RegExp(` open +held behind ${ids[0]} +spike 1$`));
    const show = await cli(["remote", "alerts", "show", ids[1]!]);
    expect(show.out).toContain(`held behind ${ids[0]} (0 attempts)`);
  });

  it("alerts show: a suspension not yet in force on the node that took it says so, escaped", async () => {
    const { alert } = await t.gateway.store.alerts.raise(
      {
        dedupeKey: "cli-nyif",
        detector: "key-sharing",
        severity: "high",
        subject: { kind: "key", id: "k-nyif" },
        summary: "shared",
        evidence: { audit_indexes: [], details: {} },
        raisedAt: "2030-01-02T03:04:05.000Z",
        deliver: false,
      },
      "detector:key-sharing",
    );
    // The reload failure's text comes from the store's driver: whatever it holds is printed escaped.
    const message = "alert's suspension is not yet in force on this node: (ECONNREFUSED: \u001b[31mdown)";
    await t.gateway.store.alerts.respond(
      alert.id,
      {
        action: "suspend",
        result: "key k-nyif revoked",
        not_yet_in_force: { code: "reload_failed", message, node: "gw-1" },
      },
      "detector:key-sharing",
    );
    const show = await cli(["remote", "alerts", "show", alert.id]);
    expect(show.code).toBe(0);
    // Which node still let the key through: the one that took the suspension, named.
    expect(show.out).toContain("response                  suspend: key k-nyif revoked\n");
    expect(show.out).toContain(
      "not yet in force on gw-1  reload_failed: alert's suspension is not yet in force on this node: (ECONNREFUSED: \\u001b[31mdown)\n",
    );
    expect(show.out).not.toContain("\u001b");
  });
});

describe("pagination, URL, token and connection errors", () => {
  it("warns before sending the token over plain http to another machine, not to this one", async () => {
    // 0.0.0.0 is not loopback by name (connecting to it is refused here, at once).
    const remote = await cli(["identities", "list"], { url: "http://0.0.0.0:1" });
    expect(remote.code).not.toBe(0);
    expect(remote.err).toContain("warning: http://0.0.0.0:1 is plain http to another machine");
    expect(cleartextWarning("https://gw.example:8443")).toBeNull();
    for (const local of [
      "http://127.0.0.1:8080",
      "http://localhost:8080",
      "http://[::1]:8080",
      "http://127.3.4.5",
    ])
      expect(cleartextWarning(local), local).toBeNull();
    expect(cleartextWarning("http://10.0.0.7:8080")).toMatch(
      /admin token \(CLEARANCE_TOKEN\) is sent unencrypted/,
    );
    const local = await cli(["identities", "list", "--json"]);
    expect(local.err).toBe("");
  });
  it("lists follow next_cursor unless --limit is given", async () => {
    const one = JSON.parse((await cli(["remote", "keys", "list", "--limit", "2", "--json"])).out) as {
      data: { id: string }[];
      next_cursor: string | null;
    };
    expect(one.data).toHaveLength(2);
    expect(one.next_cursor).toBe(one.data[1]!.id);
    const next = JSON.parse(
      (await cli(["remote", "keys", "list", "--limit", "2", "--cursor", one.next_cursor!, "--json"])).out,
    ) as { data: { id: string }[] };
    expect(next.data[0]!.id > one.next_cursor!).toBe(true);
    const all = JSON.parse((await cli(["remote", "keys", "list", "--json"])).out) as {
      data: { id: string }[];
      next_cursor: null;
    };
    expect(all.next_cursor).toBeNull();
    expect(all.data.length).toBeGreaterThan(2);

    // Following small pages gives the same as one big one.
    const client = createClient({ url: t.url, token: ADMIN_TOKEN, pageSize: 2 });
    const paged = await client.list<{ id: string }>("/admin/v1/keys");
    expect(paged.data.map((k) => k.id)).toEqual(all.data.map((k) => k.id));

    expect((await cli(["remote", "keys", "list", "--limit", "501"])).code).toBe(2);
    expect((await cli(["remote", "keys", "list", "--cursor", "x"])).code).toBe(2);
  });

  it("a long job's progress lines: each told, the wait limited by the server's silence, not the job's length", async () => {
    // A job of ten lines 150 ms apart (1.5 s) under a 600 ms limit; then one that fails midway.
    const accepts: string[] = [];
    const server: Server = createServer((req, res) => {
      accepts.push(req.headers.accept ?? "");
      res.writeHead(200, { "content-type": "application/x-ndjson; charset=utf-8" });
      let i = 0;
      const fails = req.url?.includes("fail") === true;
      const timer = setInterval(() => {
        if (i < 10)
          return void res.write(`${JSON.stringify({ progress: { stage: "s", done: i++, total: 10 } })}\n`);
        clearInterval(timer);
        res.end(
          fails
            ? `${JSON.stringify({ status: 503, error: { code: "audit_unavailable", message: "no log" } })}\n`
            : `${JSON.stringify({ result: { ok: true } })}\n`,
        );
      }, 150);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const client = createClient({ url, token: ADMIN_TOKEN, timeoutMs: 600 });
      const seen: number[] = [];
      const result = await client.request("POST", "/job", { progress: (p) => seen.push(p.done) });
      expect(result).toEqual({ ok: true });
      expect(seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await expect(client.request("POST", "/fail", { progress: () => undefined })).rejects.toMatchObject({
        code: "audit_unavailable",
        status: 503,
      });
      // Without progress, the same limit is for the whole exchange.
      await expect(client.request("POST", "/job")).rejects.toMatchObject({ code: "unreachable" });
      expect(accepts.map((a) => a.includes("application/x-ndjson"))).toEqual([true, true, false]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("without a token: exit 1 and what to set", async () => {
    const r = await cli(["partners", "list"], { token: null });
    expect(r).toEqual({
      code: 1,
      out: "",
      err:
        "clearance: no admin token: set the environment variable CLEARANCE_TOKEN " +
        "to an admin API token; it is never taken from the command line (missing_token)\n",
    });
  });

  it("an unreachable server: exit 1 with a clear message", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const url = `http://127.0.0.1:${port}`;
    const r = await cli(["models", "list"], { url });
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      new RegExp(
        `^clearance: cannot reach the Clearance server at ${url} \\(.*ECONNREFUSED.*\\); is it running\\? Set --url or CLEARANCE_URL to its address \\(unreachable\\)\\n$`,
      ),
    );
  });

  it("something that is not a Clearance server: exit 1", async () => {
    const server: Server = createServer((_, res) => {
      res.writeHead(404, { "content-type": "text/html" });
      res.end("<h1>Not Found</h1>");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const r = await cli(["models", "list"], { url });
      expect(r.code).toBe(1);
      expect(r.err).toBe(`clearance: GET ${url}/admin/v1/models answered HTTP 404: Not Found (http_404)\n`);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("a proxy's page for an error: its title, on one line, without the markup", async () => {
    let page = "";
    let type = "text/html";
    const server: Server = createServer((_, res) => {
      res.writeHead(502, { "content-type": type });
      res.end(page);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      page =
        "<html>\r\n<head><title>502 Bad Gateway</title><style>body{font:12px}</style></head>\r\n" +
        `<body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center>${"<!-- padding -->".repeat(40)}</body></html>`;
      expect(await cli(["models", "list"], { url })).toEqual({
        code: 1,
        out: "",
        err: `clearance: GET ${url}/admin/v1/models answered HTTP 502: 502 Bad Gateway (http_502)\n`,
      });
      // Plain text: one line of it, at most 200 characters.
      type = "text/plain";
      page = `upstream\nconnect error ${"x".repeat(400)}`;
      const long = await cli(["models", "list"], { url });
      expect(long.err).toBe(
        `clearance: GET ${url}/admin/v1/models answered HTTP 502: ${`upstream connect error ${"x".repeat(400)}`.slice(0, 200)}… (http_502)\n`,
      );
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("what a server says reaches the terminal without escape sequences or control characters", async () => {
    // A server (or a value another user stored) could clear the screen, rewrite the line said,
    // retitle the window or hide a link in the text: shown, never acted on.
    let status = 409;
    let answer: unknown;
    const server: Server = createServer((_, res) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(answer));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      answer = {
        error: {
          code: "conflict\u001b[2J",
          message: "refused\u001b]0;owned\u0007 as \r\u001b[1A\u001b[2Kallowed \u009b31mtoday\u202e",
          problems: [
            {
              path: "reason\u001b[8m",
              message: "hidden\u0000 \u001b]8;;http://evil.example\u001b\\link\u001b]8;;\u001b\\",
            },
          ],
        },
      };
      expect(await cli(["models", "list"], { url })).toEqual({
        code: 1,
        out: "",
        err: "clearance: refused as allowed today (conflict)\n  reason: hidden link\n",
      });
      status = 200;
      const model = "mythos\u001b[31m-5\u009b2J\u0007";
      answer = {
        data: [{ id: model, control: "controlled", fallback: null, available_in: null, upstream: null }],
        next_cursor: null,
      };
      const listed = await cli(["models", "list"], { url });
      expect(listed.code).toBe(0);
      // A stored value in a table is shown escaped, not stripped: stripped, this id would read as
      // mythos-5, which it is not.
      expect(listed.out.split("\n")[1]).toMatch(/^mythos\\u001b\[31m-5\\u009b2J\\u0007 +controlled/);
      // --json: the same JSON, its terminal controls escaped (JSON.stringify leaves C1 raw).
      const json = await cli(["models", "list", "--json"], { url });
      // eslint-disable-next-line no-control-regex -- control characters are what is looked for
      expect(json.out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
      expect((JSON.parse(json.out) as { data: { id: string }[] }).data[0]?.id).toBe(model);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("the URL comes from --url, else CLEARANCE_URL; a bad one is usage (exit 2)", async () => {
    expect((await cli(["models", "list"], { url: null, env: { CLEARANCE_URL: t.url } })).code).toBe(0);
    const bad = await cli(["models", "list"], { url: "localhost:8080" });
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--url: expected an http:// or https:// URL");
    const badEnv = await cli(["models", "list"], { url: null, env: { CLEARANCE_URL: "not a url" } });
    expect(badEnv).toMatchObject({ code: 2, err: expect.stringContaining("CLEARANCE_URL: not a URL") });
  });
});

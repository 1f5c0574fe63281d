import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Io } from "./io.js";
import { run } from "./program.js";

async function cli(args: string[]) {
  let out = "";
  let err = "";
  const io: Io = { stdout: (t) => void (out += t), stderr: (t) => void (err += t), stdin: () => "" };
  const code = await run(args, io);
  return { code, out, err };
}

describe("clearance principals and keys", () => {
  const dir = mkdtempSync(join(tmpdir(), "clearance-store-cli-"));
  const dataDir = ["--data-dir", join(dir, "data")];

  it("adds, lists and removes principals; keys are shown once, listed without secrets, revoked", async () => {
    const file = join(dir, "p.json");
    writeFileSync(
      file,
      JSON.stringify({ id: "zoe", citizenships: [{ country: "NZ" }], assurance: "attested" }),
    );
    expect(await cli(["principals", "add", "--file", file, ...dataDir])).toMatchObject({
      code: 0,
      out: "added principal zoe\n",
    });
    expect((await cli(["principals", "add", "--file", file, ...dataDir])).out).toBe(
      "replaced principal zoe\n",
    );
    const list = await cli(["principals", "list", ...dataDir]);
    expect(list.out).toMatch(
      /^ID +CITIZENSHIPS +ORGANIZATION +ASSURANCE +SCREENING\nzoe +NZ +- +attested +clear\n$/,
    );

    const created = await cli(["keys", "create", "--principal", "zoe", "--label", "laptop", ...dataDir]);
    expect(created.code).toBe(0);
    const key = created.out.trim();
    expect(key).toMatch(/^clr_[a-z0-9]{12}_[A-Za-z0-9_-]+$/);
    expect(created.err).toContain("shown once");
    const id = key.split("_")[1]!;
    const keys = JSON.parse((await cli(["keys", "list", "--json", ...dataDir])).out) as Record<
      string,
      unknown
    >[];
    expect(keys).toEqual([
      expect.objectContaining({ id, principalId: "zoe", label: "laptop", revokedAt: null }),
    ]);
    expect(JSON.stringify(keys)).not.toContain(key.split("_")[2]!);
    expect(JSON.stringify(keys)).not.toContain("hash");

    expect((await cli(["keys", "revoke", id, ...dataDir])).code).toBe(0);
    expect((await cli(["keys", "list", ...dataDir])).out).not.toContain("active");
    expect(await cli(["principals", "remove", "zoe", ...dataDir])).toMatchObject({ code: 0 });
    expect((await cli(["principals", "list", "--json", ...dataDir])).out.trim()).toBe("[]");
  });

  it("bad input is exit 2 with the reason", async () => {
    const bad = join(dir, "bad.json");
    writeFileSync(bad, JSON.stringify({ id: "x", assurance: "high" }));
    const r = await cli(["principals", "add", "--file", bad, ...dataDir]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("assurance");
    expect(await cli(["keys", "create", "--principal", "nobody", ...dataDir])).toMatchObject({
      code: 2,
      err: "no principal nobody\n",
    });
    expect((await cli(["keys", "revoke", "nokey", ...dataDir])).code).toBe(2);
  });
});

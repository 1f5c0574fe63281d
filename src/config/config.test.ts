/** clearance.yaml: cross-checks and secrets, each problem with its path and line. */
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { InvalidInputError } from "../errors/index.js";
import { parseConfig } from "./index.js";
import { refusedWith } from "../testing/config.js";

const BASE = `scheme: g7-trusted-partners.yaml
providers: { demo: { type: demo } }
default_provider: demo
`;
const parse = (extra: string, env: NodeJS.ProcessEnv = {}) =>
  parseConfig(BASE + extra, join("examples", "test.yaml"), env);

const problems = (extra: string, env: NodeJS.ProcessEnv = {}) => refusedWith(() => parse(extra, env));

describe("clearance.yaml", () => {
  it("takes the defaults for what is left out", () => {
    const c = parse("");
    expect(c.file).toMatchObject({ refresh_ms: 100, freshness_ms: 2000, store: { driver: "sqlite" } });
    expect(c.storeUrl).toBeNull();
  });

  it("refuses a custom tag, which was read as the plain value, at its line", () => {
    expect(problems("data_dir: !foo /var/lib/clearance\n")).toEqual([
      expect.objectContaining({
        code: "yaml_tag",
        line: 4,
        column: 11,
        message: expect.stringMatching(
          /^Unresolved tag: !foo: only YAML 1\.2's core tags are read/,
        ) as unknown,
      }),
    ]);
  });

  it("refuses a freshness bound no poll can meet", () => {
    expect(problems("refresh_ms: 500\nfreshness_ms: 500\n")).toEqual([
      expect.objectContaining({
        path: ["freshness_ms"],
        line: 5,
        message: expect.stringMatching(/must be larger than refresh_ms \(500\)/) as unknown,
      }),
    ]);
  });

  it("names the environment variable the PostgreSQL store needs", () => {
    expect(problems("store: { driver: postgres, url_env: PG_URL }\n")).toEqual([
      expect.objectContaining({
        path: ["store", "url_env"],
        message: "environment variable PG_URL is not set",
      }),
    ]);
    expect(
      parse("store: { driver: postgres, url_env: PG_URL }\n", { PG_URL: "postgres://x/y" }).storeUrl,
    ).toBe("postgres://x/y");
  });

  it("refuses per-node alerts over a shared store and Redis: each node's detectors would see only its share", () => {
    const env = { DATABASE_URL: "postgres://x/y", REDIS_URL: "redis://r" };
    const shared = "store: { driver: postgres }\ncounters: { driver: redis }\n";
    expect(problems(shared, env)).toEqual([
      expect.objectContaining({
        path: ["monitoring", "alerts", "shared"],
        message: expect.stringMatching(/set monitoring\.alerts\.shared: redis/) as unknown,
      }),
    ]);
    expect(
      parse(`${shared}monitoring: { alerts: { shared: redis } }\n`, env).file.monitoring.alerts.shared,
    ).toBe("redis");
    expect(parse(`${shared}monitoring: { alerts: { enabled: false } }\n`, env).file.store.driver).toBe(
      "postgres",
    );
  });

  it("refuses location mistakes while loading, each at its line, before anything starts", () => {
    const at = (extra: string) =>
      problems(extra).map((p) => ({ path: p.path, line: p.line, message: p.message }));
    expect(at('location: { header: "cf ipcountry", trusted_proxies: [10.0.0.1/32] }\n')).toEqual([
      {
        path: ["location", "header"],
        line: 4,
        message: expect.stringMatching(/not a valid HTTP header name/),
      },
    ]);
    expect(at("location:\n  header: cf-ipcountry\n")).toEqual([
      {
        path: ["location", "header"],
        line: 5,
        message: expect.stringMatching(/needs location.trusted_proxies/),
      },
    ]);
    expect(at("location:\n  trusted_proxies: [10.0.0.0/8, 10.0.0.1/8, nonsense]\n")).toEqual([
      {
        path: ["location", "trusted_proxies", 1],
        line: 5,
        message: expect.stringMatching(/host bits are set/),
      },
      {
        path: ["location", "trusted_proxies", 2],
        line: 5,
        message: expect.stringMatching(/not an IP address/),
      },
    ]);
    const missing = join(tmpdir(), "clearance-no-such.mmdb");
    expect(at(`location:\n  mmdb: ${missing}\n`)).toEqual([
      { path: ["location", "mmdb"], line: 5, message: expect.stringMatching(/no such file/) },
    ]);
    expect(at(`location:\n  mmdb: examples\n`)).toEqual([
      { path: ["location", "mmdb"], line: 5, message: expect.stringMatching(/directory/) },
    ]);
    expect(at(`location:\n  mmdb: examples/g7-trusted-partners.yaml\n`)).toEqual([
      { path: ["location", "mmdb"], line: 5, message: expect.stringMatching(/cannot use mmdb file/) },
    ]);
  });

  it("takes location.mmdb_max_age_days (45 by default), refusing what is no whole number of days at its line", () => {
    expect(parse("").file.location).toMatchObject({ mmdb_max_age_days: 45, mmdb_check_ms: 30_000 });
    expect(parse("location: { mmdb_max_age_days: 10 }\n").file.location.mmdb_max_age_days).toBe(10);
    const at = (extra: string) =>
      problems(extra).map((p) => ({ path: p.path, line: p.line, message: p.message }));
    const field = ["location", "mmdb_max_age_days"];
    expect(at("location:\n  mmdb_max_age_days: 0\n")).toEqual([
      { path: field, line: 5, message: "at least 1 day" },
    ]);
    expect(at("location:\n  mmdb_max_age_days: 7.5\n")).toEqual([
      { path: field, line: 5, message: "a whole number of days" },
    ]);
    expect(at('location:\n  mmdb_max_age_days: "45"\n')).toEqual([
      { path: field, line: 5, message: "a number of days" },
    ]);
    expect(at("location:\n  mmdb_max_age_days: 100000\n")).toEqual([
      { path: field, line: 5, message: "at most 3650 days" },
    ]);
    expect(at("location:\n  mmdb_check_ms: 0\n")).toEqual([
      { path: ["location", "mmdb_check_ms"], line: 5, message: expect.any(String) as unknown },
    ]);
  });

  it("refuses a trusted proxy range of /0: every client could then say where it is and who it is", () => {
    expect(problems('location: { trusted_proxies: [10.0.0.0/8, 0.0.0.0/0, "::/0"] }\n')).toEqual([
      expect.objectContaining({
        path: ["location", "trusted_proxies", 1],
        message: expect.stringMatching(/\/0/),
      }),
      expect.objectContaining({
        path: ["location", "trusted_proxies", 2],
        message: expect.stringMatching(/\/0/),
      }),
    ]);
  });

  it("refuses an IPv6 range wider than /96 over ::ffff:0:0/96: mapped peers are matched as IPv4, never by it", () => {
    const found = problems('location: { trusted_proxies: ["::/80", "::ffff:0:0/95", "::1/128", "::/96"] }\n');
    expect(found).toEqual(
      [0, 1].map((i) =>
        expect.objectContaining({
          code: "invalid_cidr",
          path: ["location", "trusted_proxies", i],
          line: 4,
          message: expect.stringMatching(/holds ::ffff:0:0\/96, every IPv4-mapped address/) as unknown,
        }),
      ),
    );
  });

  it("refuses an empty or blank listen host: Node binds an empty one on every interface", () => {
    for (const host of ['""', '" "']) {
      expect(
        problems(
          `listen: { host: ${host} }\nmonitoring: { metrics: { listen: { host: ${host}, port: 0 } } }\n`,
        ),
        host,
      ).toEqual([
        expect.objectContaining({
          path: ["listen", "host"],
          line: 4,
          message: expect.stringMatching(/an empty host would bind every interface/) as unknown,
        }),
        expect.objectContaining({
          path: ["monitoring", "metrics", "listen", "host"],
          line: 5,
          message: expect.stringMatching(/an empty host would bind every interface/) as unknown,
        }),
      ]);
    }
    expect(parse("listen: { host: 0.0.0.0 }\n").file.listen.host).toBe("0.0.0.0");
  });

  it("refuses an admin token shorter than 32 characters, naming the variable", () => {
    const short = () => parse("", { CLEARANCE_ADMIN_TOKEN: "x".repeat(31) });
    expect(short).toThrow(InvalidInputError);
    expect(short).toThrow(/CLEARANCE_ADMIN_TOKEN.*31 characters.*at least 32/);
    expect(parse("", { CLEARANCE_ADMIN_TOKEN: "x".repeat(32) }).adminToken).toBe("x".repeat(32));
    expect(parse("", {}).adminToken).toBeNull();
  });
});

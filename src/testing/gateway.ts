/** A gateway on a random loopback port with the example scheme, demo principals and their keys. */
import { mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseConfig } from "../config/index.js";
import { startGateway, type RunningGateway } from "../gateway/server.js";
import { parsePrincipal } from "../policy/index.js";
import { openStore, type Store } from "../store/index.js";
import { eventually } from "./admin.js";

export const ADMIN_TOKEN = "test-admin-token-0123456789abcdefghij";

export interface TestGateway {
  readonly gateway: RunningGateway;
  readonly url: string;
  /** API key per example principal id (alice, benoit, chloe, devi, erik, feng). */
  readonly keys: ReadonlyMap<string, string>;
  readonly dataDir: string;
}

export interface TestGatewayOptions {
  /** YAML lines added under `providers:` (the demo provider is always there). */
  readonly providers?: string;
  /** YAML lines under `models:`. */
  readonly models?: string;
  /** Other top-level YAML. */
  readonly extra?: string;
  /** YAML for `location:` (default: trust x-test-country from loopback). */
  readonly location?: string;
  /** Runs on the store before the gateway starts. */
  readonly seed?: (s: Store) => Promise<void>;
  readonly wrapStore?: (s: Store) => Store;
  /** Environment variables the config may name (besides the admin token). */
  readonly env?: Readonly<Record<string, string>>;
  /** YAML for `listen:` (default: 127.0.0.1, a free port). */
  readonly listen?: string;
  /** The gateway's log lines (default: dropped). */
  readonly log?: (line: string) => void;
  /** The data directory (default: a new temporary one). */
  readonly dataDir?: string;
  /**
   * YAML for `monitoring:` (default: alerts off, so that no detector writes to the store or the
   * audit log behind another test's back).
   */
  readonly monitoring?: string;
  /** Access log lines, one JSON text per request (default: dropped). */
  readonly accessLog?: (line: string) => void;
  /** The admin console's build (default: the package's dist/console, when built). */
  readonly consoleDir?: string | null;
}

/** An access log destination that drops what it is given, or hands each line to `line`. */
export function discard(line?: (text: string) => void): { write(chunk: string): boolean } {
  return {
    write(chunk: string) {
      if (line !== undefined) for (const l of chunk.split("\n")) if (l !== "") line(l);
      return true;
    },
  };
}

/**
 * A test config with identity.allow_http_loopback on (tests' identity providers listen on loopback
 * over plain http), added to its `identity:` mapping (block or flow) or as one; a config that sets
 * the key keeps its value.
 */
export function withLoopbackIdps(text: string): string {
  if (text.includes("allow_http_loopback")) return text;
  if (/^identity:\s*\{/m.test(text))
    return text.replace(/^identity:\s*\{/m, "identity: { allow_http_loopback: true,");
  if (/^identity:[ \t]*$/m.test(text))
    return text.replace(/^identity:[ \t]*$/m, "identity:\n  allow_http_loopback: true");
  return `${text}\nidentity: { allow_http_loopback: true }\n`;
}

/** A config whose scheme is examples/g7-trusted-partners.yaml, served by the demo provider by default. */
export async function startTestGateway(options: TestGatewayOptions = {}): Promise<TestGateway> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), "clearance-gw-"));
  const text = `scheme: g7-trusted-partners.yaml
listen: ${options.listen ?? "{ host: 127.0.0.1, port: 0 }"}
providers:
  demo: { type: demo }
${options.providers ?? ""}
default_provider: demo
models:
${options.models ?? "  mythos-5: { provider: demo }"}
location: ${options.location ?? '{ header: x-test-country, trusted_proxies: [127.0.0.1/32, "::1/128"] }'}
refresh_ms: 50
monitoring: ${options.monitoring ?? "{ alerts: { enabled: false } }"}
${options.extra?.includes("admin_security:") ? "" : "admin_security: { failed_auth_per_minute: 100000 } # tests fail authentication on purpose, often"}
${options.extra ?? ""}`;
  const config = parseConfig(withLoopbackIdps(text), join("examples", "test-clearance.yaml"), {
    ...options.env,
    CLEARANCE_ADMIN_TOKEN: ADMIN_TOKEN,
  });
  const raw = await openStore({ dataDir });
  for (const file of readdirSync("examples/principals").filter((f) => f.endsWith(".json"))) {
    await raw.principals.put(
      parsePrincipal(JSON.parse(readFileSync(join("examples/principals", file), "utf8"))),
    );
  }
  const keys = new Map<string, string>();
  for (const p of await raw.principals.list()) keys.set(p.id, (await raw.keys.create(p.id, "test")).key);
  await options.seed?.(raw);
  const store = options.wrapStore ? options.wrapStore(raw) : raw;
  const gateway = await startGateway(config, {
    dataDir,
    store,
    log: options.log ?? (() => {}),
    accessLog: discard(options.accessLog),
    ...(options.consoleDir === undefined ? {} : { consoleDir: options.consoleDir }),
  });
  return { gateway, url: gateway.url, keys, dataDir };
}

/** Wraps every store method to count calls, by "group.method". */
export function countingStore(store: Store, counts: Map<string, number>): Store {
  const wrap = <T extends object>(target: T, prefix: string): T =>
    new Proxy(target, {
      get(obj, prop, receiver) {
        const value = Reflect.get(obj, prop, receiver) as unknown;
        if (typeof value === "function") {
          return (...args: unknown[]) => {
            const name = `${prefix}${String(prop)}`;
            counts.set(name, (counts.get(name) ?? 0) + 1);
            return (value as (...a: unknown[]) => unknown).apply(obj, args);
          };
        }
        if (typeof value === "object" && value !== null && prop !== "driver")
          return wrap(value, `${String(prop)}.`);
        return value;
      },
    });
  return wrap(store, "");
}

/**
 * A license's total usage once it has moved past `from` (metering follows the answer's end, off the
 * request path, so nothing to await): asked with eventually(), for as long as the test's own time
 * limit allows, not a count of tries that would be a time limit too; it stops asking when the test
 * ends (a loop of its own asked on into later tests, against a closed gateway).
 */
export async function licenseUsageAfter(t: TestGateway, license: string, from: number): Promise<number> {
  return eventually(
    () => t.gateway.limits.licenseUsage(license, "total", Date.now()),
    (now) => now > from,
  );
}

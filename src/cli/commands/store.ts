/**
 * `clearance principals …` and `clearance keys …`: directly on the store — the embedded one in the
 * data dir, or with --config the one clearance.yaml names (PostgreSQL for several nodes).
 */
import type { Command } from "commander";
import { userInfo } from "node:os";
import type { GatewayConfig } from "../../config/index.js";
import { configFlag } from "../flag-files.js";
import { ClearanceError, formatPath, InvalidInputError, type Path } from "../../errors/index.js";
import { refuseBidiControls, refuseControlCharacters } from "../../http/index.js";
import { parsePrincipal } from "../../policy/index.js";
import { openStore, StoreError, type Store } from "../../store/index.js";
import { cellText, jsonText, readJsonWith, type Io } from "../io.js";
import { principalSaved } from "../render.js";

/** The audit log's "who": the operating-system user running the CLI. */
export const actor = () => `cli:${userInfo().username}`;

export const DATA_DIR = [
  "--data-dir <dir>",
  "the gateway's data directory, its embedded store made by serve or demo (default: .clearance)",
] as const;
export const CONFIG = ["--config <file>", "use the store clearance.yaml names (e.g. PostgreSQL)"] as const;

export interface Where {
  readonly dataDir?: string;
  readonly config?: string;
}

/**
 * The store of an existing deployment, as --data-dir or --config names it. Only the gateway (`serve`,
 * `demo`) creates a store: a command given a directory without one (mistyped, or run from the wrong
 * directory) is refused (exit 2, naming where the directory came from) and creates nothing, rather
 * than working on a new empty store no gateway reads.
 */
export async function openDeploymentStore(
  where: Where,
  config: GatewayConfig | undefined,
): Promise<{ store: Store; dataDir: string }> {
  const dataDir = where.dataDir ?? config?.file.data_dir ?? ".clearance";
  try {
    const store = await openStore({
      driver: config?.file.store.driver ?? "sqlite",
      dataDir,
      create: false,
      ...(config?.storeUrl == null ? {} : { url: config.storeUrl }),
      ...(config === undefined
        ? {}
        : {
            queryTimeoutMs: config.file.store.query_timeout_ms,
            lockTimeoutMs: config.file.store.lock_timeout_ms,
          }),
    });
    return { store, dataDir };
  } catch (err) {
    if (!(err instanceof StoreError && err.code === "no-store")) throw err;
    throw noStore(where, dataDir);
  }
}

function noStore(where: Where, dataDir: string): InvalidInputError {
  const first = "run `clearance serve` or `clearance demo`";
  const problem =
    where.dataDir !== undefined
      ? {
          path: ["--data-dir"],
          message: `no store at ${dataDir}: ${first} with this data directory first, or give the right one`,
        }
      : where.config !== undefined
        ? {
            file: where.config,
            path: ["data_dir"],
            message: `no store at ${dataDir}: ${first} with this config first, or correct data_dir`,
          }
        : {
            path: ["--data-dir"],
            message: `no store at ${dataDir} (the default): ${first} here first, or give --data-dir`,
          };
  return new InvalidInputError([{ code: "no_store", ...problem }]);
}

export async function withStore<T>(where: Where, work: (store: Store) => Promise<T>): Promise<T> {
  const config = where.config === undefined ? undefined : configFlag(where.config);
  const { store } = await openDeploymentStore(where, config);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

/**
 * Columns padded to the widest cell, two spaces apart. Cells are stored values (a key's label, a
 * list's name), written as cellText shows them: a label stored with an escape sequence (before the
 * store refused them) would otherwise act on the terminal, or a line break add a row.
 */
export function table(stored: readonly (readonly string[])[]): string {
  const rows = stored.map((r) => r.map(cellText));
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  return (
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i] ?? 0))
          .join("  ")
          .trimEnd(),
      )
      .join("\n") + "\n"
  );
}

export function registerStore(program: Command, io: Io): void {
  const principals = program.command("principals").description("people and services that hold API keys");
  principals
    .command("add")
    .description("add or replace a principal from a JSON file (- for stdin)")
    .requiredOption("--file <file>", "principal JSON")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .action((opts: { file: string; dataDir?: string; config?: string }) => {
      const principal = readPrincipal(io, opts.file);
      return withStore(opts, async (store) => {
        const { created } = await store.principals.put(principal, actor());
        io.stdout(principalSaved(principal.id, created));
      });
    });
  principals
    .command("list")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--json", "JSON output")
    .action((opts: { dataDir?: string; config?: string; json?: boolean }) =>
      withStore(opts, async (store) => {
        const list = await store.principals.list();
        if (opts.json) return io.stdout(jsonText(list));
        const rows = list.map((p) => [
          p.id,
          (p.citizenships ?? []).map((c) => c.country).join(",") || "-",
          typeof p.organization === "string" ? p.organization : (p.organization?.id ?? "-"),
          p.assurance ?? "none",
          p.screening ?? "clear",
        ]);
        io.stdout(table([["ID", "CITIZENSHIPS", "ORGANIZATION", "ASSURANCE", "SCREENING"], ...rows]));
      }),
    );
  principals
    .command("remove")
    .argument("<id>")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .action((id: string, opts: { dataDir?: string; config?: string }) =>
      withStore(opts, async (store) => {
        if (!(await store.principals.remove(id, actor()))) throw notFound(`no principal ${id}`);
        io.stdout(`removed principal ${id} and its keys\n`);
      }),
    );

  const keys = program.command("keys").description("API keys: shown once, stored hashed");
  keys
    .command("create")
    .requiredOption("--principal <id>", "the principal the key acts for")
    .option("--label <label>", "a note to recognise the key by")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--json", "JSON output")
    .action(
      (opts: { principal: string; label?: string; dataDir?: string; config?: string; json?: boolean }) => {
        refuseHiddenText(opts.label, ["--label"]);
        return withStore(opts, async (store) => {
          // An unknown principal is the store's StoreError "unknown-principal": a refusal (exit 1),
          // with the code the admin API answers it with.
          const { key, record } = await store.keys.create(opts.principal, opts.label ?? null, actor());
          if (opts.json) return io.stdout(jsonText({ key, id: record.id, principal: record.principalId }, 0));
          io.stdout(`${key}\n`);
          io.stderr(`key ${record.id} for ${cellText(record.principalId)}: shown once, store it now\n`);
        });
      },
    );
  keys
    .command("list")
    .option("--principal <id>", "only this principal's keys")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .option("--json", "JSON output")
    .action((opts: { principal?: string; dataDir?: string; config?: string; json?: boolean }) =>
      withStore(opts, async (store) => {
        const list = (await store.keys.list(opts.principal)).map(({ hash: _hash, ...k }) => k);
        if (opts.json) return io.stdout(jsonText(list));
        const rows = list.map((k) => [
          k.id,
          k.principalId,
          k.label ?? "-",
          k.createdAt,
          k.revokedAt ?? "active",
        ]);
        io.stdout(table([["ID", "PRINCIPAL", "LABEL", "CREATED", "REVOKED"], ...rows]));
      }),
    );
  keys
    .command("revoke")
    .argument("<id>", "key id (the part after clr_, before the second _)")
    .option(...DATA_DIR)
    .option(...CONFIG)
    .action((id: string, opts: { dataDir?: string; config?: string }) =>
      withStore(opts, async (store) => {
        const outcome = await store.keys.revoke(id, actor());
        if (outcome === "unknown") throw notFound(`no key ${id}`);
        // Revoked before (another officer, an alert's suspension): its first revocation stands.
        if (outcome === "already-revoked") io.stdout(`key ${id} was already revoked\n`);
        else io.stdout(`revoked key ${id}; a running gateway refuses it within its refresh interval\n`);
      }),
    );
}

/** A principal file, checked as the admin API checks it; its problems name the file. */
const readPrincipal = (io: Io, file: string) =>
  readJsonWith(io, file, "principal", (v) => {
    refuseHiddenText(v);
    return parsePrincipal(v);
  });

/**
 * Text the CLI writes to the store (a flag's value, or a file's JSON), refused for a control
 * character but TAB, LF and CR (`control_character`) or a bidirectional embedding, override or
 * isolate (`bidi_control`) as the admin API refuses them in every body it stores
 * (refuseControlCharacters, refuseBidiControls): an escape sequence garbles whoever lists it, and
 * an invisible control makes a name, label or reason shown to others read otherwise than it is.
 * Invalid input (exit 2), naming the field: `flag` for a flag's value, else its JSON path.
 */
export function refuseHiddenText(value: unknown, flag: Path = []): void {
  if (value === undefined) return;
  const text = typeof value === "string" ? value : JSON.stringify(value);
  try {
    refuseControlCharacters(value, text);
    refuseBidiControls(value, text);
  } catch (err) {
    if (!(err instanceof ClearanceError) || !REFUSED_TEXT.has(err.code)) throw err;
    // The problem is shown after its path: the message without it.
    const path = err.problems[0]?.path ?? [];
    const named = `${formatPath(path)} `;
    const message = err.message.startsWith(named) ? err.message.slice(named.length) : err.message;
    throw new InvalidInputError([{ code: err.code, path: [...flag, ...path], message }]);
  }
}

const REFUSED_TEXT: ReadonlySet<string> = new Set(["control_character", "bidi_control"]);

/** Nothing by that id: a refusal (exit 1), as the admin API's 404 not_found is for `clearance remote …`. */
function notFound(message: string): ClearanceError {
  return new ClearanceError("not-found", "not_found", message);
}

/** The gateway's config file (`clearance.yaml`). Secrets are never in it: only the names of env vars. */
import { z } from "zod";
import { linkLocalRefusal, literalAddress } from "../identity/outbound.js";
import { CONTROL } from "../policy/text.js";

const ms = (fallback: number) => z.number().int().positive().default(fallback);

/**
 * The longest a Node timer waits (2^31 - 1 ms, 24.8 days). Longer is no error to Node: the timer
 * fires after 1 ms (TimeoutOverflowWarning), so a poll ran every millisecond and a timeout expired
 * at once. Settings that become timers are held to it; `factor`: the setting is waited on that many
 * times over (the longest timer it sets is factor × it).
 */
export const TIMER_MAX_MS = 2_147_483_647;
const timerMs = (factor = 1) => {
  const max = Math.floor(TIMER_MAX_MS / factor);
  const why =
    factor === 1
      ? "Node's timers cannot wait longer, and would fire after 1 ms instead"
      : `it is waited on up to ${factor} × over, and Node's timers cannot wait longer than ${TIMER_MAX_MS} ms (they would fire after 1 ms instead)`;
  return z
    .number()
    .int()
    .max(max, `at most ${max} ms (about ${Math.floor(max / 86_400_000)} days): ${why}`);
};
/** How much longer than keepAliveTimeout Node's HTTP server times a kept-alive socket out. */
const KEEP_ALIVE_BUFFER_MS = 1_000;
/** identity.max_pending_principals: how many records, so a whole number, and at least one. */
const PENDING_PRINCIPALS =
  "expected a whole number of federated principals' records, 1 or more (how many may wait on a node while the store takes none)";
/**
 * identity.max_pending_principals, at most: each record waits in the node's memory (a few hundred
 * bytes to a few kilobytes), and a bound far beyond any partner's people would bound nothing.
 */
const MAX_PENDING_PRINCIPALS = 1_000_000;

/** A duration a timer waits, with its default. */
const timer = (fallback: number, factor = 1) => timerMs(factor).positive().default(fallback);

const timeouts = z
  .strictObject({
    /** TCP + TLS connect (timed by undici's own coarse timers, which any length fits). */
    connect_ms: ms(5_000),
    /** From sending the request to the response headers (a model may think before answering). */
    first_byte_ms: timer(120_000),
    /** Longest silence between two body chunks of a response. */
    idle_ms: timer(120_000),
  })
  .default({ connect_ms: 5_000, first_byte_ms: 120_000, idle_ms: 120_000 });

/** The message for a listen host that is not one: shared with the CLI's --host. */
export const HOST_PROBLEM =
  "expected an address (127.0.0.1, ::1; 0.0.0.0 or :: for every interface) or a host name: an empty host would bind every interface";

/** An address to bind. Node binds "" on every interface (::), the opposite of the default. */
const host = z.string().regex(/^\S+$/, HOST_PROBLEM).default("127.0.0.1");

/** A string that must say something: empty or only white space, refused with `message`. */
const said = (message: string) => z.string().regex(/\S/, message);

/**
 * A name without control characters (C0, DEL, C1): `what` says where it goes. A NUL from a
 * double-quoted YAML "\0" loaded, and failed raw where the name was written (PostgreSQL refuses a
 * NUL in text; a checkpoint's origin line may hold no control character). (Lone surrogates are
 * refused by the YAML reader.)
 */
const printable = (schema: z.ZodString, what: string) =>
  schema.superRefine(
    (s, ctx) => {
      const c = CONTROL.exec(s)?.[0];
      if (c !== undefined)
        ctx.addIssue({
          code: "custom",
          message: `holds a control character (U+${c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}): ${what} must be printable`,
        });
    },
    // One problem a field: a blank name, or one with a space, is said so already.
    { when: (p) => p.issues.length === 0 },
  );

/**
 * Characters shown as nothing that are not spaces: the default-ignorable code points (U+200B zero
 * width space, U+FEFF, U+2060 word joiner, U+00AD soft hyphen, the directional marks, variation
 * selectors, tags) and the interlinear annotation controls. C2SP forbids none of them in an origin,
 * but a name holding one reads as another that does not. (The bidirectional embeddings, overrides
 * and isolates are refused in every config value, by the YAML reader.)
 */
const INVISIBLE = /[\p{Default_Ignorable_Code_Point}\ufff9-\ufffb]/u;

const INVISIBLE_NAMES: Readonly<Record<number, string>> = {
  0x00ad: "soft hyphen",
  0x034f: "combining grapheme joiner",
  0x061c: "Arabic letter mark",
  0x180e: "Mongolian vowel separator",
  0x200b: "zero width space",
  0x200c: "zero width non-joiner",
  0x200d: "zero width joiner",
  0x200e: "left-to-right mark",
  0x200f: "right-to-left mark",
  0x2060: "word joiner",
  0x2061: "function application",
  0x2062: "invisible times",
  0x2063: "invisible separator",
  0x2064: "invisible plus",
  0x3164: "Hangul filler",
  0xfeff: "zero width no-break space, or byte order mark",
};

/** The first invisible character in `s` named for a message (`U+200B (zero width space)`), or null. */
function invisibleIn(s: string): string | null {
  const c = INVISIBLE.exec(s)?.[0];
  if (c === undefined) return null;
  const code = c.codePointAt(0) as number;
  const hex = `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
  const name =
    INVISIBLE_NAMES[code] ??
    (code >= 0xfe00 && code <= 0xfe0f
      ? "a variation selector"
      : code >= 0xe0000
        ? "a tag or variation selector"
        : "a character shown as nothing");
  return `${hex} (${name})`;
}

/** Refuses a name holding an invisible character (see INVISIBLE): `why` says who reads it. */
const refuseInvisible = (why: string) => (s: string, ctx: z.RefinementCtx) => {
  const c = invisibleIn(s);
  if (c !== null)
    ctx.addIssue({
      code: "custom",
      message: `holds ${c}, an invisible character: ${why}, and it would read as a name without it; remove it`,
    });
};

const envName = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*$/, "expected an environment variable name (e.g. OPENAI_API_KEY)");

/**
 * Where alerts are POSTed: http or https only (any URL loaded before, and an ftp:, file: or mailto:
 * one then failed every delivery for ever), and no user name or password in it: the receiver
 * authenticates the sender by the signature, and a password in the URL would sit in the config.
 */
const webhookUrl = z
  .url({
    protocol: /^https?$/,
    error: "expected an http:// or https:// URL, such as https://hooks.example.com/clearance",
  })
  .refine((u) => {
    // Refinements run after a failed format check too: an unparsable URL is reported once, above.
    const url = URL.canParse(u) ? new URL(u) : null;
    return url === null || (url.username === "" && url.password === "");
  }, "the URL must not carry a user name or password: receivers check the x-clearance-signature header");

/**
 * What a base URL may not carry, or null. Requests go to its origin with its path and an endpoint's
 * path after it: a query, fragment or user:password in it would be dropped without a word (Azure's
 * api-version, a proxy's credentials), and another scheme failed only at start-up.
 */
export function baseUrlProblem(u: string): string | null {
  const url = URL.canParse(u) ? new URL(u) : null;
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
    return "expected an http:// or https:// URL, such as https://api.openai.com/v1 or https://api.anthropic.com";
  }
  if (url.username !== "" || url.password !== "") {
    return "the URL must not carry a user name or password (it would not be sent): put the upstream's key in the environment variable api_key_env names";
  }
  if (url.search !== "" || url.hash !== "") {
    return "the URL must not carry a query or a fragment: paths are appended to base_url and nothing after them would be sent (Azure OpenAI: its v1 API, https://<resource>.openai.azure.com/openai/v1, takes no api-version)";
  }
  return null;
}

const baseUrl = z.string().superRefine((u, ctx) => {
  const problem = baseUrlProblem(u);
  if (problem !== null) ctx.addIssue({ code: "custom", message: problem });
});

const provider = z.discriminatedUnion(
  "type",
  [
    z.strictObject({ type: z.literal("demo"), token_delay_ms: timerMs().nonnegative().default(0) }),
    z.strictObject({
      type: z.literal("openai"),
      base_url: baseUrl,
      api_key_env: envName.optional(),
      connections: z.number().int().positive().default(128),
      timeouts,
    }),
    z.strictObject({
      type: z.literal("anthropic"),
      base_url: baseUrl,
      api_key_env: envName.optional(),
      connections: z.number().int().positive().default(128),
      timeouts,
    }),
  ],
  { error: "expected a provider with type: demo, openai or anthropic" },
);

const route = z.strictObject({
  provider: z.string(),
  /** The model's name at the provider; default: the scheme's model id. */
  upstream_model: said(
    "expected the model's name at the provider (leave upstream_model out for the scheme's model id)",
  ).optional(),
});

const response = z.enum(["notify", "suspend"]).default("notify");
const on = z.boolean().default(true);

/** Anomaly detectors, the alerts they raise, the webhook that delivers them (src/alerts). */
const alerts = z
  .strictObject({
    enabled: on,
    /** node: each node watches its own traffic; redis: every node sees the fleet's (through the counters' Redis). */
    shared: z.enum(["node", "redis"]).default("node"),
    /** After an alert, the same detector stays quiet about the same subject this long. */
    cooldown_ms: ms(3_600_000),
    impossible_travel: z
      .strictObject({
        enabled: on,
        max_speed_kmh: z.number().positive().default(1_000),
        tolerance_km: z.number().nonnegative().default(500),
        response,
      })
      .default({ enabled: true, max_speed_kmh: 1_000, tolerance_km: 500, response: "notify" }),
    key_sharing: z
      .strictObject({
        enabled: on,
        window_ms: ms(3_600_000),
        max_countries: z.number().int().positive().default(2),
        max_networks: z.number().int().positive().default(8),
        response,
      })
      .default({
        enabled: true,
        window_ms: 3_600_000,
        max_countries: 2,
        max_networks: 8,
        response: "notify",
      }),
    embargoed_attempts: z
      .strictObject({
        enabled: on,
        window_ms: ms(86_400_000),
        // Each principal holds this many attempts (plus one): bounded so that memory is.
        repeated: z.number().int().min(2).max(1_000).default(3),
        response,
      })
      .default({ enabled: true, window_ms: 86_400_000, repeated: 3, response: "notify" }),
    denied_party: z.strictObject({ enabled: on, response }).default({ enabled: true, response: "notify" }),
    denial_spike: z
      .strictObject({
        enabled: on,
        window_ms: ms(300_000),
        min_denials: z.number().int().positive().default(20),
        factor: z.number().positive().default(5),
      })
      .default({ enabled: true, window_ms: 300_000, min_denials: 20, factor: 5 }),
    volume_spike: z
      .strictObject({
        enabled: on,
        window_ms: ms(300_000),
        min_requests: z.number().int().positive().default(500),
        factor: z.number().positive().default(10),
        response,
      })
      .default({ enabled: true, window_ms: 300_000, min_requests: 500, factor: 10, response: "notify" }),
    quota: z
      .strictObject({
        enabled: on,
        percent: z.number().positive().max(100).default(90),
        check_ms: timer(30_000),
      })
      .default({ enabled: true, percent: 90, check_ms: 30_000 }),
    webhook: z
      .strictObject({
        url: webhookUrl.optional(),
        /** The HMAC-SHA256 signing secret, from this environment variable. */
        secret_env: envName.default("CLEARANCE_WEBHOOK_SECRET"),
        timeout_ms: timer(5_000),
        /** First retry after this long, doubling up to max_retry_ms. */
        retry_ms: ms(1_000),
        max_retry_ms: ms(300_000),
        /**
         * Lets the URL reach a link-local or cloud metadata address (169.254.0.0/16, fe80::/10,
         * fd00:ec2::254, 100.100.100.200, or an IPv6 address carrying one): where clouds serve
         * instance metadata, and its credentials. Refused by default, checked on the URL here and on
         * every address its name resolves to at delivery.
         */
        allow_link_local: z.boolean().default(false),
      })
      .superRefine((w, ctx) => {
        const address = w.url === undefined || w.allow_link_local ? null : literalAddress(w.url);
        const why = address === null ? null : linkLocalRefusal(address);
        if (why !== null)
          ctx.addIssue({
            code: "custom",
            path: ["url"],
            message: `the URL names ${why}: refused unless monitoring.alerts.webhook.allow_link_local is true`,
          });
      })
      .default({
        secret_env: "CLEARANCE_WEBHOOK_SECRET",
        timeout_ms: 5_000,
        retry_ms: 1_000,
        max_retry_ms: 300_000,
        allow_link_local: false,
      }),
  })
  .prefault({});

/** Connections the metrics' own listener holds at once: a few Prometheus servers and a person. */
export const METRICS_MAX_CONNECTIONS = 16;

/** Metrics, access log and traces (src/monitoring), and anomaly alerts. */
const monitoring = z
  .strictObject({
    metrics: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** On the gateway's listener: any admin API token may scrape (admin), or anyone (none). */
        auth: z.enum(["admin", "none"]).default("admin"),
        /** A listener of its own instead (no token asked there: bind it where only Prometheus reaches). */
        listen: z
          .strictObject({
            host,
            port: z.number().int().min(0).max(65535),
            /**
             * Its own cap on connections (the gateway's `listen:` time limits apply): a scrape flood
             * takes none of the gateway's connections, and a busy gateway locks out no scraper.
             */
            max_connections: z.number().int().positive().default(METRICS_MAX_CONNECTIONS),
          })
          .optional(),
      })
      .default({ enabled: true, auth: "admin" }),
    access_log: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** stdout, stderr, or a file path (appended to). */
        destination: said("expected stdout, stderr or a file path").default("stdout"),
      })
      .default({ enabled: true, destination: "stdout" }),
    tracing: z
      .strictObject({
        /** Off by default: spans are exported only when enabled. */
        enabled: z.boolean().default(false),
        /** OTLP/HTTP traces endpoint: http or https (the exporter fails any other scheme's every export, unseen). */
        endpoint: z
          .url({
            protocol: /^https?$/,
            error:
              "expected an http:// or https:// URL (OTLP over HTTP), such as http://127.0.0.1:4318/v1/traces",
          })
          .default("http://127.0.0.1:4318/v1/traces"),
        service_name: said("expected a name for the spans' service.name").default("clearance"),
      })
      .default({ enabled: false, endpoint: "http://127.0.0.1:4318/v1/traces", service_name: "clearance" }),
    alerts,
  })
  .prefault({});

export const configSchema = z.strictObject({
  /** Scheme file, relative to this config file. */
  scheme: said("expected the scheme file's path, relative to this config file"),
  /** Embedded store, audit log and keys; relative to the working directory. */
  data_dir: said(
    "expected a directory path (leave data_dir out for .clearance): an empty one would put the store and the audit log in the working directory",
  ).default(".clearance"),
  /** Where principals, keys, partners, licenses and usage live: the embedded SQLite file, or PostgreSQL. */
  store: z
    .strictObject({
      driver: z.enum(["sqlite", "postgres"]).default("sqlite"),
      /** PostgreSQL connection string, from this environment variable. */
      url_env: envName.default("DATABASE_URL"),
      /** PostgreSQL: an audit append or version poll slower than this is refused (its connection destroyed). */
      query_timeout_ms: timer(5_000, 6),
      /** PostgreSQL: a change waiting longer than this for a lock fails with 503, changing nothing. */
      lock_timeout_ms: timer(30_000),
    })
    .default({ driver: "sqlite", url_env: "DATABASE_URL", query_timeout_ms: 5_000, lock_timeout_ms: 30_000 }),
  /** Quota and rate-limit counters: this node's memory, or Redis shared by every node. */
  counters: z
    .strictObject({
      driver: z.enum(["memory", "redis"]).default("memory"),
      /** Redis connection URL (redis:// or rediss://), from this environment variable. */
      url_env: envName.default("REDIS_URL"),
      /** Every key starts with this: several deployments can share one Redis. */
      prefix: z.string().min(1).default("clearance:"),
      /** When Redis cannot be reached: refuse controlled and home-only models, or serve on this node's counts. */
      on_unavailable: z.enum(["fail_closed", "fail_open"]).default("fail_closed"),
      /** A Redis command taking longer than this counts as Redis unreachable. */
      timeout_ms: timer(500, 4),
    })
    .default({
      driver: "memory",
      url_env: "REDIS_URL",
      prefix: "clearance:",
      on_unavailable: "fail_closed",
      timeout_ms: 500,
    }),
  listen: z
    .strictObject({
      host,
      port: z.number().int().min(0).max(65535).default(8080),
      /** Connections held at once; beyond it new ones are closed as they arrive (keep it below the fd limit). */
      max_connections: z.number().int().positive().default(4096),
      /** To receive a request's headers (a slowloris is cut off here). */
      headers_timeout_ms: ms(10_000),
      /** To receive a whole request, body included; responses (long streams) are not limited by it. */
      request_timeout_ms: ms(60_000),
      /** Between two requests on a kept-alive connection (Node's socket timer waits 1 s longer). */
      keep_alive_timeout_ms: z
        .number()
        .int()
        .positive()
        .max(
          TIMER_MAX_MS - KEEP_ALIVE_BUFFER_MS,
          `at most ${TIMER_MAX_MS - KEEP_ALIVE_BUFFER_MS} ms (about 24 days): Node holds a kept-alive connection ${KEEP_ALIVE_BUFFER_MS} ms longer than this, and its timers cannot wait longer than ${TIMER_MAX_MS} ms`,
        )
        .default(65_000),
      /** A connection with nothing sent either way for this long is closed. */
      idle_timeout_ms: timer(300_000),
      /** Largest request head (request line and headers): 431 beyond. */
      max_header_bytes: z
        .number()
        .int()
        .min(1024)
        .default(16 * 1024),
    })
    .default({
      host: "127.0.0.1",
      port: 8080,
      max_connections: 4096,
      headers_timeout_ms: 10_000,
      request_timeout_ms: 60_000,
      keep_alive_timeout_ms: 65_000,
      idle_timeout_ms: 300_000,
      max_header_bytes: 16 * 1024,
    }),
  providers: z.record(z.string(), provider),
  /** Provider for every scheme model not listed under `models`. */
  default_provider: z.string().optional(),
  models: z.record(z.string(), route).default({}),
  location: z
    .strictObject({
      mmdb: z.string().optional(),
      /** How old the mmdb may be (its build time) before /readyz warns; country databases are rebuilt weekly. */
      mmdb_max_age_days: z
        .number("a number of days")
        .int("a whole number of days")
        .min(1, "at least 1 day")
        .max(3650, "at most 3650 days")
        .default(45),
      /** How often the mmdb file is looked at (stat) for a replacement, which is then read in the background. */
      mmdb_check_ms: timer(30_000),
      header: z.string().toLowerCase().optional(),
      trusted_proxies: z.array(z.string()).default([]),
    })
    .default({ mmdb_max_age_days: 45, mmdb_check_ms: 30_000, trusted_proxies: [] }),
  limits: z
    .strictObject({
      body_bytes: z
        .number()
        .int()
        .positive()
        .default(10 * 1024 * 1024),
      /** Deepest nesting of arrays and objects in a request body. */
      json_depth: z.number().int().min(8).max(10_000).default(128),
    })
    .default({ body_bytes: 10 * 1024 * 1024, json_depth: 128 }),
  admin: z
    .strictObject({ token_env: envName.default("CLEARANCE_ADMIN_TOKEN") })
    .default({ token_env: "CLEARANCE_ADMIN_TOKEN" }),
  /** The admin API's defences: failed authentications per source, and how long a new admin token lives. */
  admin_security: z
    .strictObject({
      /** Failed authentications a source may make within a minute; then it is refused (429) until the minute passes. */
      failed_auth_per_minute: z.number().int().positive().default(10),
      /** Days a new identity's token is valid unless its creation says otherwise. */
      token_ttl_days: z.number().int().min(1).max(3650).default(90),
    })
    .default({ failed_auth_per_minute: 10, token_ttl_days: 90 }),
  metering: z.strictObject({ flush_ms: timer(1_000) }).default({ flush_ms: 1_000 }),
  audit: z
    .strictObject({
      /**
       * The log's name: first line of every checkpoint, and the signing key's name (C2SP signed-note:
       * non-empty, no Unicode space or '+'; a note holds no control character). NEL (U+0085) is a
       * Unicode space that JavaScript's \s leaves out: refused as a control character. Characters
       * shown as nothing (U+200B and the like) are refused too, though C2SP allows them: verifiers
       * and people compare origins by eye.
       */
      origin: printable(
        z
          .string()
          .min(1)
          .superRefine(refuseInvisible("the log's origin is compared by eye by verifiers and people"))
          // U+FEFF, a space to JavaScript's \s, is said above, as the invisible character it is.
          .regex(
            /^(?:[^\s+]|\ufeff)+$/,
            "expected a name without spaces or '+', e.g. clearance.example/audit",
          ),
        "the log's origin is the first line of every checkpoint",
      ).default("clearance.local/audit"),
      /** Ed25519 signing key (C2SP note format); default <data_dir>/audit.key, created if missing. */
      key_file: said("expected a file path (leave audit.key_file out for <data_dir>/audit.key)").optional(),
      /** The signing key itself, from this environment variable (wins over key_file). */
      key_env: envName.optional(),
      /** A checkpoint at least this often while entries arrive. */
      checkpoint_ms: timer(1_000),
      /**
       * This gateway's name in entries; default: the host name. Characters shown as nothing are
       * refused, as in the origin: two nodes' names that read the same would be told apart by no one.
       */
      node: printable(
        said("expected a name (leave audit.node out for the host name)").superRefine(
          refuseInvisible(
            "the node's name tells nodes apart in every audit entry and the shared log's claim, read by eye",
          ),
        ),
        "the node's name is in every audit entry and the shared log's claim",
      ).optional(),
      /** When set, entries name principals by a keyed hash (HMAC-SHA256) instead of their id. */
      pseudonym_key_env: envName.optional(),
    })
    .default({ origin: "clearance.local/audit", checkpoint_ms: 1_000 }),
  /** Denied-party screening (see src/screening). */
  screening: z
    .strictObject({
      /** A potential match from this score (0–1) up. */
      threshold: z.number().min(0.5).max(1).default(0.86),
      /** Screen new and changed principals and organizations in the background on this node. */
      background: z.boolean().default(true),
      /** A list file with more entries is refused (413): every active entry is in each gateway's memory. */
      max_list_entries: z.number().int().positive().default(100_000),
    })
    .default({ threshold: 0.86, background: true, max_list_entries: 100_000 }),
  /** Partners' identity providers (see README "Partner identity federation"). */
  identity: z
    .strictObject({
      /** A partner token longer than this is refused (token-too-large). */
      max_token_bytes: z.number().int().min(1024).max(65_536).default(8_192),
      /** At most one key-set fetch per provider in this time (an unknown kid cannot make more). */
      key_fetch_cooldown_ms: ms(30_000),
      /** How long one fetch of a discovery document or key set may take. */
      key_fetch_timeout_ms: timer(5_000),
      /**
       * Fetch key sets and discovery documents over plain http from a loopback address (an IdP on
       * this machine: the demo, tests). Off: https only. No other internal address is ever fetched.
       */
      allow_http_loopback: z.boolean().default(false),
      /** Verified tokens kept in memory, so a token's signature is checked once (0: every request). */
      token_cache: z.number().int().nonnegative().default(10_000),
      /** How often key sets are looked after and federated principals written to the store. */
      maintain_ms: timer(1_000),
      /**
       * Federated principals' records a node keeps waiting while the store takes none; beyond, the
       * least recently seen are dropped (counted), each written again from its person's next token.
       */
      max_pending_principals: z
        .number({ error: PENDING_PRINCIPALS })
        .int({ error: PENDING_PRINCIPALS })
        .positive({ error: PENDING_PRINCIPALS })
        .max(MAX_PENDING_PRINCIPALS, {
          error: `at most 1,000,000 federated principals' records: each waits in the node's memory while the store takes none, so a larger bound would hold more than a node can keep`,
        })
        .default(10_000),
      /**
       * Bootstrap: providers added at start when the store has none with their id (each a provider
       * as the admin API takes it, plus `partner`). Checked when the config is loaded.
       */
      providers: z.array(z.any()).default([]),
    })
    .default({
      max_token_bytes: 8_192,
      key_fetch_cooldown_ms: 30_000,
      key_fetch_timeout_ms: 5_000,
      allow_http_loopback: false,
      token_cache: 10_000,
      maintain_ms: 1_000,
      max_pending_principals: 10_000,
      providers: [],
    }),
  /** Footprint reports and what-ifs of scheme versions. */
  whatif: z
    .strictObject({
      /** Activating a scheme version takes the digest of its what-if (the impact the admin was shown). */
      require_for_activation: z.boolean().default(false),
      /** The population is judged at the locations the log saw each principal at over these days. */
      seen_days: z.number().int().positive().max(3650).default(30),
      /** Named examples per group of changed decisions. */
      examples: z.number().int().positive().max(1000).default(5),
    })
    .default({ require_for_activation: false, seen_days: 30, examples: 5 }),
  /** How often the gateway looks for changes made by other processes (CLI, other nodes). */
  refresh_ms: timer(100),
  /**
   * The longest the gateway decides on a snapshot the store has not confirmed as current; beyond it,
   * controlled and home-only models are refused (503) until the store answers again.
   */
  freshness_ms: z.number().int().positive().default(2_000),
  monitoring,
});

export type ConfigFile = z.output<typeof configSchema>;
export type ProviderConfig = ConfigFile["providers"][string];

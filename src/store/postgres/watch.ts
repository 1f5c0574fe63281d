/**
 * Hearing about other nodes' changes as they commit: one dedicated connection LISTENs on the
 * changes channel (a pooled connection cannot: the pool may close it or hand it to a query). A
 * notification is only a hint to check the version now rather than at the next poll; a dropped
 * connection loses notifications, so the caller keeps polling, and this reconnects with backoff and
 * announces a change on every (re)connect, since changes may have committed while it was away.
 */
import pg from "pg";
import { quoteIdent } from "./migrations.js";
import { CHANGES_CHANNEL, KEEPALIVE_MS } from "./queries.js";

export interface ChangeWatch {
  close(): Promise<void>;
}

export interface WatchOptions {
  readonly url: string;
  /** The store's schema when set explicitly (else the URL's search_path decides). */
  readonly schema?: string;
  readonly onChange: () => void;
  readonly onError: (err: unknown) => void;
}

const RETRY_MS = [100, 250, 500, 1_000, 2_000];

export async function watchChanges(o: WatchOptions): Promise<ChangeWatch> {
  let client: pg.Client | null = null;
  let closed = false;
  let failures = 0;
  let timer: NodeJS.Timeout | undefined;

  const connect = async (): Promise<void> => {
    const c = new pg.Client({
      connectionString: o.url,
      fallback_application_name: "clearance-watch",
      // A dead link must end the session (and so reconnect), not leave it listening to nothing.
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_MS,
    });
    // Errors after connecting arrive as events; "end" follows them, and schedules the reconnect.
    c.on("error", () => undefined);
    try {
      await c.connect();
      if (o.schema !== undefined) await c.query(`SET search_path TO ${quoteIdent(o.schema)}`);
      const schema = (await c.query<{ s: string }>("SELECT current_schema() AS s")).rows[0]?.s;
      c.on("notification", (n) => {
        if (n.channel === CHANGES_CHANNEL && n.payload === schema) o.onChange();
      });
      await c.query(`LISTEN ${CHANGES_CHANNEL}`);
    } catch (err) {
      await c.end().catch(() => undefined);
      throw err;
    }
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    failures = 0;
    c.once("end", () => {
      client = null;
      if (!closed) retry();
    });
    o.onChange();
  };

  const retry = (): void => {
    const delay = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)] as number;
    failures++;
    timer = setTimeout(() => {
      connect().catch((err: unknown) => {
        o.onError(err);
        if (!closed) retry();
      });
    }, delay);
    timer.unref();
  };

  try {
    await connect();
  } catch (err) {
    // Polling still keeps the node current; keep trying to listen in the background.
    o.onError(err);
    retry();
  }
  return {
    async close() {
      closed = true;
      clearTimeout(timer);
      await client?.end().catch(() => undefined);
    },
  };
}

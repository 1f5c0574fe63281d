/**
 * Alert delivery by webhook. Each alert is POSTed as JSON with
 *
 *   x-clearance-signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>
 *
 * (the timestamp is signed with the body, so a receiver refusing old timestamps is safe from
 * replays). Delivery is an outbox in the store: an alert stays pending until a receiver answers
 * 2xx, is retried with exponential backoff, survives restarts, and is claimed for a lease so that
 * two nodes do not post it at once. Receivers should treat the alert id as idempotency key.
 *
 * Order: one subject's alerts (a principal's, a key's…) are posted one at a time, in the order raised
 * (their ids'), each once the one before it was delivered; a later one waits while an earlier one is
 * retried. One stored late (a sighting from another node), dated before the one in flight, goes
 * right after it, never beside it. Alerts of different subjects are posted side by side, in no order.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import { Agent, request } from "undici";
import { guardedLookup, linkLocalRefusal, literalAddress, type Resolve } from "../identity/outbound.js";
import type { AlertRecord, AlertStore } from "../store/alerts.js";

export const SIGNATURE_HEADER = "x-clearance-signature";

export function sign(secret: string, body: string, unixSeconds: number): string {
  const mac = createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex");
  return `t=${unixSeconds},v1=${mac}`;
}

/**
 * A receiver's check: the signature is ours and no older than `toleranceSeconds`. Constant-time
 * comparison of the MAC.
 */
export function verifySignature(
  secret: string,
  body: string,
  header: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const parts = new Map(
    header.split(",").map((p) => {
      const i = p.indexOf("=");
      return [p.slice(0, i).trim(), p.slice(i + 1).trim()] as const;
    }),
  );
  const t = Number(parts.get("t"));
  const v1 = parts.get("v1") ?? "";
  if (!Number.isInteger(t) || Math.abs(nowSeconds - t) > toleranceSeconds || !/^[0-9a-f]{64}$/.test(v1))
    return false;
  const expected = createHmac("sha256", secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(v1, "hex"));
}

export interface WebhookOptions {
  readonly url: string;
  readonly secret: string;
  readonly timeoutMs: number;
  readonly retryMs: number;
  readonly maxRetryMs: number;
  readonly store: AlertStore;
  /** A failed delivery of `alert` (retried), or a failed round (no alert: the store). */
  readonly onFailure: (err: unknown, alert?: AlertRecord) => void;
  /** How often pending deliveries are looked for (besides right after an alert is raised). */
  readonly pollMs?: number;
  /** How often subjects left with no head are repaired (AlertStore.restoreHeads); 60 s. */
  readonly restoreMs?: number;
  /** monitoring.alerts.webhook.allow_link_local: the URL may reach a link-local address. */
  readonly allowLinkLocal?: boolean;
  /** The resolver the URL's name is looked up with (DNS; a test's stands in). */
  readonly resolve?: Resolve;
}

/** The body a receiver gets: the alert, and who sent it. */
export function webhookBody(a: AlertRecord): string {
  return JSON.stringify({ type: "clearance.alert", alert: a });
}

export class WebhookDeliverer {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;
  /** Deliveries in flight, aborted by close(). */
  private readonly inflight = new Set<AbortController>();
  /** Its own connections: a connect slower than the timeout fails (undici's default is 10 s). */
  private readonly agent: Agent;
  /** When restoreHeads last ran (the first round runs it). */
  private restoredAt = -Infinity;

  /** Why no delivery is tried: the URL names a link-local address not allowed (else null). */
  private readonly refused: string | null;

  constructor(private readonly o: WebhookOptions) {
    // Link-local addresses (cloud metadata) are refused unless allowed: the URL's own (refused at
    // load too), and each one its name resolves to, checked in the connection's lookup (the address
    // checked is the one connected to).
    const guard = (address: string): string | null => {
      const why = o.allowLinkLocal === true ? null : linkLocalRefusal(address);
      return why === null
        ? null
        : `${why}: refused unless monitoring.alerts.webhook.allow_link_local is true`;
    };
    const address = literalAddress(o.url);
    this.refused = address === null ? null : guard(address);
    const lookup =
      o.allowLinkLocal === true && o.resolve === undefined ? {} : { lookup: guardedLookup(guard, o.resolve) };
    this.agent = new Agent({ connect: { timeout: o.timeoutMs, ...lookup }, headersTimeout: o.timeoutMs });
  }

  start(): void {
    this.timer = setInterval(() => this.kick(), this.o.pollMs ?? 1_000);
    this.timer.unref();
    this.kick();
  }

  /** Delivers what is due now (a round at a time; a kick during a round runs another after it). */
  kick(): void {
    if (this.closed) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.running = this.round()
      // A delivery may have let its subject's next alert through (see AlertStore.due): at once.
      .then((delivered) => void (this.again ||= delivered))
      .catch((err: unknown) => this.o.onFailure(err))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  /**
   * Stops: deliveries in flight are aborted (their alerts are due again at once, for the next
   * start or another node), so closing takes no longer than the store's writes.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    for (const c of this.inflight) c.abort(new Error("interrupted: the gateway is stopping"));
    await this.running;
    await this.agent.destroy();
  }

  /**
   * Posts what is due, at most 50 alerts, at once: the store hands out one alert per subject at a
   * time, so a receiver gets one subject's alerts in the order raised. True when one was delivered.
   */
  private async round(): Promise<boolean> {
    const now = Date.now();
    // Each attempt ends by its deadline (timeout_ms), well within the lease.
    const lease = new Date(now + this.o.timeoutMs * 2).toISOString();
    // During a rolling upgrade to migration 13 a node of the release before it delivers a subject's
    // head and leaves its next alert held behind nothing: given its head here, at start and then
    // once a minute (one walk of the pending alerts: too much for every poll), or sooner by the
    // subject's next raise (which is held behind it, not sent ahead).
    if (now - this.restoredAt >= (this.o.restoreMs ?? 60_000)) {
      this.restoredAt = now;
      await this.o.store.restoreHeads();
    }
    const due = await this.o.store.due(new Date(now).toISOString(), lease, 50);
    return (await Promise.all(due.map((a) => this.deliver(a)))).some((ok) => ok);
  }

  /** True when the receiver took it. */
  private async deliver(a: AlertRecord): Promise<boolean> {
    const body = webhookBody(a);
    // One deadline for the whole exchange (connect, upload, any 1xx, headers): undici's
    // headersTimeout alone restarts on every 1xx, so "102 Processing" every few seconds held the
    // round, and close(), for ever.
    const abort = new AbortController();
    const deadline = setTimeout(
      () => abort.abort(new Error(`the receiver did not answer within ${this.o.timeoutMs} ms`)),
      this.o.timeoutMs,
    );
    this.inflight.add(abort);
    try {
      if (this.closed) throw new Error("interrupted: the gateway is stopping");
      if (this.refused !== null) throw new Error(`${this.o.url} names ${this.refused}`);
      const res = await request(this.o.url, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          [SIGNATURE_HEADER]: sign(this.o.secret, body, Math.floor(Date.now() / 1000)),
          "x-clearance-alert-id": a.id,
        },
        body,
        dispatcher: this.agent,
        signal: abort.signal,
      });
      // Only the status matters, and the answer's body is not read: a receiver trickling it (each
      // byte within a per-chunk timeout) would otherwise hold this round, and every alert after it.
      // (undici reports a body destroyed before its end as an error: nothing to report here.)
      res.body.on("error", () => undefined).destroy();
      if (res.statusCode < 200 || res.statusCode >= 300)
        throw new Error(`the receiver answered ${res.statusCode}`);
      await this.o.store.delivered(a.id, new Date().toISOString());
      return true;
    } catch (err) {
      const message = String((err as Error).message ?? err);
      if (this.closed) {
        // Not the receiver's failure: no backoff, and not counted.
        await this.o.store.retry(a.id, new Date().toISOString(), message);
        return false;
      }
      this.o.onFailure(err, a);
      // Backoff from the attempts so far (the claim counted this one): retry_ms, 2×, 4×, … capped.
      const delay = Math.min(this.o.maxRetryMs, this.o.retryMs * 2 ** Math.min(30, a.delivery.attempts - 1));
      await this.o.store.retry(a.id, new Date(Date.now() + delay).toISOString(), message);
      return false;
    } finally {
      clearTimeout(deadline);
      this.inflight.delete(abort);
    }
  }
}

/**
 * Usage metering: tokens per principal, organization and license. Totals are kept in memory, where
 * decisions read them at once (a license's quota applies to the very next request), and persisted
 * to the store in batches off the hot path.
 */
import type { Store, UsageDelta } from "../store/index.js";

export class Meter {
  /** Shaped as decide()'s `request.usage`, so it is passed as is, with no per-request copy. */
  readonly byLicense: Record<string, { tokens: number }> = Object.create(null) as Record<
    string,
    { tokens: number }
  >;
  private pending: UsageDelta[] = [];
  private timer: NodeJS.Timeout | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly onError: (err: unknown) => void,
  ) {}

  async load(): Promise<void> {
    const totals = await this.store.usage.totals();
    for (const [id, tokens] of Object.entries(totals.byLicense)) this.byLicense[id] = { tokens };
  }

  start(flushMs: number): void {
    this.timer = setInterval(() => void this.flush(), flushMs);
    this.timer.unref();
  }

  record(delta: UsageDelta): void {
    if (delta.licenseId !== null) {
      const entry = (this.byLicense[delta.licenseId] ??= { tokens: 0 });
      entry.tokens += delta.inputTokens + delta.outputTokens;
    }
    this.pending.push(delta);
  }

  /** Writes what is pending; a failed batch is kept and retried with the next one. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(async () => {
      if (this.pending.length === 0) return;
      const batch = this.pending;
      this.pending = [];
      try {
        await this.store.usage.add(batch);
      } catch (err) {
        this.pending = batch.concat(this.pending);
        this.onError(err);
      }
    });
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}

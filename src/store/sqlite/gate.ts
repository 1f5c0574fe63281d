/**
 * The embedded store has one connection, and better-sqlite3 runs statements at once. A screening
 * write is the one transaction held across awaits (its code is shared with PostgreSQL, so it is
 * async): while it is open, any other statement run on the connection — another store call whose
 * turn came between two of its awaits — would join it, see its uncommitted rows, and vanish with
 * it if it rolled back. The gate keeps everything else out while such a transaction is open; when
 * none is, a call runs at once, as it did without the gate.
 */
export class WriteGate {
  /** Settles when the last transaction queued so far has ended; null when none is open or queued. */
  #tail: Promise<void> | null = null;

  /** Runs `fn` now if no transaction is open or queued, else after those before it. */
  pass<T>(fn: () => T): T | Promise<Awaited<T>> {
    return this.#tail === null ? fn() : (this.#tail.then(fn) as Promise<Awaited<T>>);
  }

  /** Runs the async transaction `fn` with nothing else on the connection until it has ended. */
  hold<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.#tail === null ? fn() : this.#tail.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tail = tail;
    void tail.then(() => {
      if (this.#tail === tail) this.#tail = null;
    });
    return result;
  }

  /** Each function member of `o` takes its turn at the gate (`o` is changed and returned). */
  guard<T extends object>(o: T): T {
    for (const [name, member] of Object.entries(o))
      if (typeof member === "function")
        (o as Record<string, unknown>)[name] = (...args: unknown[]) =>
          this.pass(() => (member as (...a: unknown[]) => unknown)(...args));
    return o;
  }
}

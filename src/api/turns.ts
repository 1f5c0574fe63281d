/**
 * Long work in short turns of the event loop. A gateway serves every proxied request and stream from
 * one thread: 10,000 decisions worked out in one go (parsed, validated, decided, serialised) held all
 * of them for a quarter of a second. Here the work yields (setImmediate, so that I/O due runs first)
 * once a turn has run its budget, and gives up when the client it is for has left.
 */

/** How long one turn may run before yielding, in milliseconds. */
const TURN_MS = 2;

/** Thrown between turns when the client is gone: the rest of the work is for nobody. */
export class ClientGone extends Error {
  override name = "ClientGone";
}

export class Turns {
  private began = performance.now();

  /**
   * `gone`: whether the work's client has left (checked after each yield). `budgetMs` 0 yields
   * before every step (tests exercise every boundary with it).
   */
  constructor(
    private readonly gone: () => boolean,
    private readonly budgetMs: number = TURN_MS,
  ) {}

  /** Whether this turn has run its budget: then `await next()`. */
  due(): boolean {
    return performance.now() - this.began >= this.budgetMs;
  }

  /** Lets the event loop run what is waiting, then starts a new turn; ClientGone if the client left. */
  async next(): Promise<void> {
    await new Promise<void>((resolve) => setImmediate(resolve));
    this.began = performance.now();
    if (this.gone()) throw new ClientGone("the client left before its answer was ready");
  }

  /** step(0), step(1), ... step(n - 1), in order, yielding between them whenever a turn is due. */
  async each(n: number, step: (i: number) => void): Promise<void> {
    for (let i = 0; i < n; i++) {
      if (this.due()) await this.next();
      step(i);
    }
  }
}

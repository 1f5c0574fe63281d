/** The problems a config is refused with, as data (each problem a plain object for toEqual). */
import { InvalidInputError, type Problem } from "../errors/index.js";

export function refusedWith(load: () => unknown): Problem[] {
  try {
    load();
  } catch (err) {
    if (err instanceof InvalidInputError) return err.problems.map((p) => ({ ...p }));
    throw err;
  }
  throw new Error("expected the config to be refused");
}

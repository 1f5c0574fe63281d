/**
 * Where a connection string points, as a refusal to connect says it: user, host, port and database,
 * never the password — also when the password holds a character a URL reads as the end of the
 * host (an unencoded `/`, `?` or `#` after digits makes the URL parser take the password for a
 * port and the rest for the path).
 */
import { describe, expect, it } from "vitest";
import { whereTo } from "./index.js";

describe("whereTo", () => {
  it("names user, host, port and database", () => {
    expect(whereTo("postgres://clearance:s3cret@db.internal:5432/prod")).toBe(
      "clearance@db.internal:5432/prod",
    );
    expect(whereTo("postgresql://u:p@h/db?password=x&sslmode=require")).toBe("u@h/db");
  });

  it("never shows a password the URL parser misreads", () => {
    for (const url of [
      "postgres://clearance:2024/Zx9+q@db.internal:5432/prod",
      "postgres://u:1234#abc@h/db",
      "postgres://u:99?x@h/db",
    ]) {
      const shown = whereTo(url);
      expect(shown, url).not.toMatch(/Zx9|abc|\?x|2024|1234|99/);
      expect(shown, url).toMatch(/percent-encode/);
    }
  });

  it("shows nothing of a string that is no postgres:// URL", () => {
    expect(whereTo("host=h password=hunter2 dbname=x")).toBe(
      "its connection string is not a postgres:// URL",
    );
  });
});

import { createRequire } from "node:module";
import type * as CountriesLib from "i18n-iso-countries";
import { describe, expect, it } from "vitest";
import {
  allCountryCodes,
  alpha2OfAlpha3,
  alpha2OfNumeric,
  BUILTIN_SETS,
  builtinSet,
  countryName,
  isCountryCode,
} from "./index.js";
import { SET_DATA } from "./sets.js";

function members(name: string): readonly string[] {
  const set = builtinSet(name);
  if (set === undefined) throw new Error(`missing built-in set ${name}`);
  return set.members;
}

const EAR_SETS = [...BUILTIN_SETS.keys()].filter((n) => n.startsWith("EAR_"));

describe("country codes", () => {
  it("accepts upper-case ISO alpha-2 codes only", () => {
    expect(isCountryCode("DE")).toBe(true);
    expect(isCountryCode("de")).toBe(false);
    expect(isCountryCode("ZZ")).toBe(false);
    expect(isCountryCode("UK")).toBe(false);
    expect(isCountryCode("DEU")).toBe(false);
    expect(isCountryCode("")).toBe(false);
  });

  it("accepts XK (Kosovo), which the library knows", () => {
    expect(isCountryCode("XK")).toBe(true);
    expect(countryName("XK")).toBe("Kosovo");
  });

  it("names countries in English", () => {
    expect(countryName("DE")).toBe("Germany");
    expect(countryName("de")).toBeUndefined();
    expect(countryName("DEU")).toBeUndefined();
  });
});

describe("codes that are not ISO 3166-1 alpha-2", () => {
  it.each([
    ["UK", "United Kingdom: exceptionally reserved; GB is the code"],
    ["EL", "Greece in EU usage; GR is the code"],
    ["EU", "the European Union, exceptionally reserved"],
    ["UN", "the United Nations, exceptionally reserved"],
    ["AN", "Netherlands Antilles, deleted 2010"],
    ["CS", "Serbia and Montenegro, deleted 2006"],
    ["SU", "USSR, transitionally reserved"],
    ["YU", "Yugoslavia, deleted"],
    ["TP", "East Timor, now TL"],
    ["ZR", "Zaire, now CD"],
    ["BU", "Burma, now MM"],
    ["DD", "East Germany, deleted"],
    ["FX", "Metropolitan France, deleted"],
    ["AC", "Ascension Island, exceptionally reserved"],
    ["XX", "user-assigned, not Kosovo"],
    ["T1", "a CDN's Tor marker"],
  ])("refuses %s (%s)", (code) => {
    expect(isCountryCode(code)).toBe(false);
    expect(countryName(code)).toBeUndefined();
  });

  it("refuses Object member names", () => {
    for (const name of ["__proto__", "constructor", "toString", "hasOwnProperty"]) {
      expect(isCountryCode(name)).toBe(false);
      expect(alpha2OfAlpha3(name)).toBeUndefined();
      expect(alpha2OfNumeric(name)).toBeUndefined();
    }
  });
});

describe("alpha-3 and numeric codes", () => {
  it("maps every known alpha-2 code from its alpha-3 code, one to one", () => {
    const lib = createRequire(import.meta.url)("i18n-iso-countries/index.js") as typeof CountriesLib;
    const seen = new Set<string>();
    for (const code of allCountryCodes()) {
      const a3 = lib.alpha2ToAlpha3(code);
      expect(a3, code).toMatch(/^[A-Z]{3}$/);
      expect(seen.has(a3 as string), `${a3} twice`).toBe(false);
      seen.add(a3 as string);
      expect(alpha2OfAlpha3(a3 as string), code).toBe(code);
      expect(alpha2OfNumeric(lib.alpha2ToNumeric(code) as string), code).toBe(code);
    }
    expect(allCountryCodes()).toHaveLength(250);
  });

  it("maps the alpha-3 codes identity providers send, upper case only", () => {
    expect(alpha2OfAlpha3("GBR")).toBe("GB");
    expect(alpha2OfAlpha3("DEU")).toBe("DE");
    expect(alpha2OfAlpha3("deu")).toBeUndefined();
    expect(alpha2OfAlpha3("UKR")).toBe("UA"); // not the United Kingdom
    for (const gone of ["ANT", "SCG", "SUN", "YUG", "ZAR", "TMP", "ROM", "BUR"]) {
      expect(alpha2OfAlpha3(gone), gone).toBeUndefined();
    }
  });

  it("maps Kosovo's XKX (the EU's and the IMF's code) as well as the library's XKK", () => {
    expect(alpha2OfAlpha3("XKK")).toBe("XK");
    expect(alpha2OfAlpha3("XKX")).toBe("XK");
  });

  it("maps numeric codes of one to three digits, and nothing else", () => {
    expect(alpha2OfNumeric("250")).toBe("FR");
    expect(alpha2OfNumeric("004")).toBe("AF");
    expect(alpha2OfNumeric("4")).toBe("AF");
    // The library keeps the last three characters: each of these was France or Afghanistan.
    for (const bad of ["1250", "9250", " 250", "x250", "250 ", "-4", "+4", "0x4", "", "999", "-99"]) {
      expect(alpha2OfNumeric(bad), JSON.stringify(bad)).toBeUndefined();
    }
  });
});

describe("built-in sets", () => {
  it("includes every required set, each name once", () => {
    const required = [
      "G7",
      "FIVE_EYES",
      "NATO",
      "EU",
      "OECD",
      "EAR_A1",
      "EAR_A5",
      "EAR_A6",
      "EAR_B",
      "EAR_D1",
      "EAR_D4",
      "EAR_D5",
      "EAR_E1",
      "EAR_E2",
      "AI_DIFFUSION_TIER1",
    ];
    for (const name of required) expect(builtinSet(name), name).toBeDefined();
    expect(BUILTIN_SETS.size).toBe(SET_DATA.length);
  });

  it.each([...BUILTIN_SETS.values()])("$name has valid, sorted, unique members", (set) => {
    expect(set.members.length).toBeGreaterThan(0);
    for (const code of set.members) expect(isCountryCode(code), `${set.name}: ${code}`).toBe(true);
    expect([...set.members]).toEqual([...new Set(set.members)].sort());
  });

  it.each([...BUILTIN_SETS.values()])("$name cites a source and an ISO as-of date", (set) => {
    expect(set.source.trim()).not.toBe("");
    expect(set.description.trim()).not.toBe("");
    expect(set.asOf).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(new Date(`${set.asOf}T00:00:00Z`).toISOString().slice(0, 10)).toBe(set.asOf);
  });

  it("has the expected sizes", () => {
    expect(members("G7")).toHaveLength(7);
    expect(members("FIVE_EYES")).toHaveLength(5);
    expect(members("NATO")).toHaveLength(32);
    expect(members("EU")).toHaveLength(27);
    expect(members("OECD")).toHaveLength(38);
    expect(members("AI_DIFFUSION_TIER1")).toHaveLength(19);
  });

  it("has the expected small memberships", () => {
    expect(members("G7")).toEqual(["CA", "DE", "FR", "GB", "IT", "JP", "US"]);
    expect(members("FIVE_EYES")).toEqual(["AU", "CA", "GB", "NZ", "US"]);
    expect(members("EAR_E1")).toEqual(["IR", "KP", "SY"]);
    expect(members("EAR_E2")).toEqual(["CU"]);
  });

  it("has the EU without the United Kingdom, and with Croatia (2013)", () => {
    expect(members("EU")).not.toContain("GB");
    expect(members("EU")).toContain("HR");
    expect(members("EU")).toContain("GR"); // not EL
  });

  it("has the recent NATO accessions", () => {
    expect(members("NATO")).toContain("FI");
    expect(members("NATO")).toContain("SE");
  });
});

describe("EAR country groups", () => {
  it("reflects Cambodia's removal from D:5 (February 2026) while it stays in D:1", () => {
    expect(members("EAR_D5")).not.toContain("KH");
    expect(members("EAR_D1")).toContain("KH");
  });

  it("lists Macau in D:1 and D:4 but not D:5", () => {
    expect(members("EAR_D1")).toContain("MO");
    expect(members("EAR_D4")).toContain("MO");
    expect(members("EAR_D5")).not.toContain("MO");
  });

  it("puts China, Russia and Iran in D:5", () => {
    for (const code of ["CN", "RU", "IR"]) expect(members("EAR_D5")).toContain(code);
  });

  it.each(EAR_SETS)("%s treats Hong Kong as China", (name) => {
    expect(members(name).includes("HK")).toBe(members(name).includes("CN"));
  });

  it("puts Hong Kong in exactly the EAR groups China is in", () => {
    const withHK = EAR_SETS.filter((n) => members(n).includes("HK"));
    const withCN = EAR_SETS.filter((n) => members(n).includes("CN"));
    expect(withHK).toEqual(withCN);
    expect(withCN).toEqual(["EAR_D1", "EAR_D4", "EAR_D5"]);
  });

  it("keeps the United States only where the table lists it", () => {
    expect(members("EAR_A1")).toContain("US");
    for (const name of EAR_SETS.filter((n) => n !== "EAR_A1"))
      expect(members(name), name).not.toContain("US");
  });

  it("keeps Country Group B apart from D:1 and E (countries leave B when added to D:1)", () => {
    const restricted = new Set([...members("EAR_D1"), ...members("EAR_E1"), ...members("EAR_E2")]);
    expect(members("EAR_B").filter((c) => restricted.has(c))).toEqual([]);
  });

  it("has a Country Group B of the expected breadth", () => {
    expect(members("EAR_B").length).toBeGreaterThan(160);
    for (const code of ["DE", "IN", "TW", "UA", "XK", "CW", "SX"]) expect(members("EAR_B")).toContain(code);
    for (const code of ["MM", "VE", "YE", "NI", "CN", "RU"]) expect(members("EAR_B")).not.toContain(code);
  });

  it("has every A:5 destination in A:1 as well", () => {
    const a1 = new Set(members("EAR_A1"));
    expect(members("EAR_A5").filter((c) => !a1.has(c))).toEqual([]);
  });
});

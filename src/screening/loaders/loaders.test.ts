import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ClearanceError, InvalidInputError } from "../../errors/index.js";
import type { ListEntry } from "../types.js";
import { APPROXIMATE_YEARS, birthDates, remarkFacts } from "./common.js";
import { loadList, ofacCompanions, type InputFile } from "./index.js";

const FIXTURES = join(import.meta.dirname, "..", "fixtures");
const SHARED = join(import.meta.dirname, "..", "..", "..", "..", "shared", "data", "screening");
const file = (path: string): InputFile => ({ name: path, bytes: readFileSync(path) });
const fixture = (name: string) => file(join(FIXTURES, name));
const ofacSet = (main: string) => [main, ...ofacCompanions(main).filter(existsSync)].map(file);

function refusal(fn: () => unknown) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidInputError);
    return (err as InvalidInputError).problems[0];
  }
  throw new Error("expected a refusal");
}

describe("list loaders on small synthetic files", () => {
  it("OFAC legacy CSV: names, aliases from alt.csv and remarks, DOB, nationality, ids, addresses", () => {
    const l = loadList(ofacSet(join(FIXTURES, "ofac", "sdn.csv")));
    expect(l.list).toBe("ofac-sdn");
    expect(l.format).toBe("ofac-csv");
    expect(l.entries.map((e) => [e.id, e.type])).toEqual([
      ["101", "person"],
      ["102", "organization"],
      ["103", "vessel"],
    ]);
    const petrov = l.entries[0]!;
    expect(petrov.names.map((n) => n.name)).toEqual([
      "PETROV, Ivan Sergeyevich",
      "PETROV, Vanya",
      "PETROFF, John",
    ]);
    expect(petrov.birth_dates).toEqual(["1965-01-12"]);
    expect(petrov.nationalities).toEqual(["RU"]);
    expect(petrov.identifiers).toContainEqual({ type: "Passport", value: "7512345", country: "RU" });
    expect(petrov.programs).toEqual(["RUSSIA-EO14024"]);
    expect(l.entries[1]!.countries).toEqual(["IR"]);
    expect(l.entries[1]!.names[1]).toEqual({ name: "ACME TRADE COMPANY", strength: "strong", kind: "fka" });
  });

  it("UN XML: original script, Low-quality aliases weak, DOB, nationality, document", () => {
    const l = loadList([fixture("un.xml")]);
    expect(l).toMatchObject({ list: "un-sc", format: "un-xml", published: "2026-01-15" });
    const [salek, grf] = l.entries;
    expect(salek!.names).toEqual([
      { name: "ABDUL SALEK", strength: "strong", kind: "primary" },
      { name: "عبد سالك", strength: "strong", kind: "original-script" },
      { name: "Abdulhai Salek", strength: "strong", kind: "aka" },
      { name: "Abu Salek", strength: "weak", kind: "aka" },
    ]);
    expect(salek!.birth_dates).toEqual(["1970-03-01"]);
    expect(salek!.nationalities).toEqual(["AF"]);
    expect(grf!.type).toBe("organization");
    expect(grf!.countries).toEqual(["US"]);
  });

  it("BIS DPL: entries typed unknown (the list does not say), addresses", () => {
    const l = loadList([fixture("dpl.txt")]);
    expect(l).toMatchObject({ list: "bis-dpl", format: "bis-dpl", published: "2022-08-29" });
    // Guessing from the name took companies for people ("MAHAN AIRWAYS", "PJSC AEROFLOT").
    expect(l.entries.map((e) => e.type)).toEqual(["unknown", "unknown"]);
    expect(l.entries[0]!.addresses[0]).toContain("EL PASO");
  });

  it("BIS DPL ids: the party (name, address, country), not the order's dates nor the row's place", () => {
    const header = readFileSync(join(FIXTURES, "dpl.txt"), "utf8").split("\n")[0]!;
    const row = (name: string, street: string, effective: string, country = "IR") =>
      [name, street, "TEHRAN", "", country, "", effective, "01/01/2030", "Y", "2022-01-01", "ADDED", "x"]
        .map((c) => `"${c}"`)
        .join("\t");
    const dpl = (...rows: string[]) =>
      loadList([{ name: "dpl.txt", bytes: Buffer.from([header, ...rows, ""].join("\n")) }], {
        format: "bis-dpl",
      }).entries.map((e) => e.id);
    const [mahan] = dpl(row("MAHAN AIRWAYS", "MAHAN TOWER", "10/01/2008"));
    // Renewed (a new effective date), another row above it, spacing and case changed: the same id.
    expect(
      dpl(row("OTHER CO", "1 ST", "01/01/2020"), row("Mahan  Airways", "Mahan Tower", "09/19/2022"))[1],
    ).toBe(mahan);
    // Another address or country is another listing.
    expect(dpl(row("MAHAN AIRWAYS", "MAHAN TOWER", "10/01/2008", "TR"))[0]).not.toBe(mahan);
    expect(dpl(row("MAHAN AIRWAYS", "SIBIL APT", "10/01/2008"))[0]).not.toBe(mahan);
    // A row repeated whole keeps its own id, suffixed.
    const twice = dpl(
      row("MAHAN AIRWAYS", "MAHAN TOWER", "10/01/2008"),
      row("MAHAN AIRWAYS", "MAHAN TOWER", "10/01/2008"),
    );
    expect(twice).toEqual([mahan, `${mahan}-2`]);
  });

  it("BIS DPL: an order past its Expiration_Date is left out as of the import; a blank one never lapses", () => {
    const header = readFileSync(join(FIXTURES, "dpl.txt"), "utf8").split("\n")[0]!;
    const row = (name: string, expires: string) =>
      [name, "1 ST", "TEHRAN", "", "IR", "", "01/01/2020", expires, "Y", "2022-01-01", "ADDED", "x"]
        .map((c) => `"${c}"`)
        .join("\t");
    const bytes = Buffer.from([header, row("LAPSED CO", "01/14/2026"), row("OPEN CO", ""), ""].join("\n"));
    const dpl = (asOf?: string) =>
      loadList([{ name: "dpl.txt", bytes }], { format: "bis-dpl", ...(asOf === undefined ? {} : { asOf }) });
    const names = (asOf?: string) => dpl(asOf).entries.map((e) => e.names[0]!.name);
    // In force through the whole of 14 January wherever that day still is (UTC−12): lifted at 12:00
    // UTC on the 15th, not a second before.
    expect(names("2026-01-15T11:59:59.999Z")).toEqual(["LAPSED CO", "OPEN CO"]);
    expect(names("2026-01-15T12:00:00Z")).toEqual(["OPEN CO"]);
    expect(names("2090-01-01T00:00:00Z")).toEqual(["OPEN CO"]);
    // No time given, or one that cannot be read: nothing is taken for lapsed.
    expect(names()).toEqual(["LAPSED CO", "OPEN CO"]);
    expect(names("soon")).toEqual(["LAPSED CO", "OPEN CO"]);
    const lapsed = dpl("2026-02-01T00:00:00Z");
    expect(lapsed.expired).toEqual([dpl().entries[0]!.id]);
    // The same file once an order has lapsed is another version (so importing it again applies it);
    // at another time with the same orders lapsed, the same one.
    expect(lapsed.digest).not.toBe(dpl("2026-01-01T00:00:00Z").digest);
    expect(dpl("2026-01-01T00:00:00Z").digest).toBe(dpl().digest);
    expect(dpl("2027-06-01T00:00:00Z").digest).toBe(lapsed.digest);
    const p = refusal(() =>
      loadList(
        [{ name: "dpl.txt", bytes: Buffer.from([header, row("LAPSED CO", "01/14/2026"), ""].join("\n")) }],
        {
          asOf: "2026-02-01T00:00:00Z",
        },
      ),
    );
    expect(p).toMatchObject({ file: "dpl.txt", path: ["(file)"] });
    expect(p!.message).toBe("every order in the file has expired by 2026-02-01T00:00:00Z (an old file?)");
  });

  it("trade.gov CSL: a DPL row's end_date lapses its order; other sources' end dates are not orders", () => {
    const csl = [
      "source,name,type,programs,addresses,alt_names,start_date,end_date",
      '"Denied Persons List (DPL) - Bureau of Industry and Security",LAPSED CO,,,"1 ST, TEHRAN, IR",,2019-06-05,2019-12-03',
      '"Denied Persons List (DPL) - Bureau of Industry and Security",OPEN CO,,,"1 ST, TEHRAN, IR",,1981-09-10,',
      '"Entity List (EL) - Bureau of Industry and Security",ENTITY CO,,,"1 ST, TEHRAN, IR",,2019-06-05,2019-12-03',
      "",
    ].join("\n");
    const l = loadList([{ name: "csl.csv", bytes: Buffer.from(csl) }], { asOf: "2021-01-01T00:00:00Z" });
    expect(l.entries.map((e) => e.names[0]!.name)).toEqual(["OPEN CO", "ENTITY CO"]);
    expect(l.expired).toHaveLength(1);
  });

  it("trade.gov CSL: both column layouts give the same entry for the same row", () => {
    const old = loadList([fixture("csl-old.csv")]);
    const current = loadList([fixture("csl-new.csv")]);
    expect(old.format).toBe("csl-csv");
    expect(current.format).toBe("csl-csv");
    expect(old.entries[0]).toMatchObject({
      id: "SDN-101",
      type: "person",
      birth_dates: ["1965-01-12"],
      nationalities: ["RU"],
    });
    const a = old.entries[1]!;
    const b = current.entries[0]!;
    expect({ ...a, id: "" }).toEqual({ ...b, id: "" });
    expect(b.names.map((n) => n.name)).toEqual(["Zenith Microsystems", "Zenith Micro"]);
  });

  it("OpenSanctions FtM JSON lines: only the screened schemata, dataset as list name", () => {
    const l = loadList([fixture("ftm.jsonl")]);
    expect(l).toMatchObject({ list: "test-sanctions", format: "ftm", published: "2025-11-02" });
    expect(l.entries.map((e) => [e.id, e.type])).toEqual([
      ["os-1", "person"],
      ["os-2", "organization"],
    ]);
    expect(l.entries[0]!.nationalities).toEqual(["RU"]);
  });
});

describe("OFAC remarks", () => {
  it("an a.k.a. ends at a quote followed by ; . , a bracket or the end, not at a quote inside it", () => {
    const akas = (r: string) => remarkFacts(r).akas.map((a) => `${a.strength} ${a.name}`);
    expect(akas("a.k.a. 'ABU-'UMAR'.")).toEqual(["strong ABU-'UMAR"]);
    expect(
      akas("DOB 1960; weak a.k.a. 'SHA'BAN'; a.k.a. 'ABDEL' AZIZ BEN NARVAN', nationality Iraq"),
    ).toEqual(["weak SHA'BAN", "strong ABDEL' AZIZ BEN NARVAN"]);
    expect(akas("(a.k.a. 'AL-QA'IDA') a.k.a. 'X' (Arabic); f.k.a. 'O'BRIEN TRADING'")).toEqual([
      "strong AL-QA'IDA",
      "strong X",
      "strong O'BRIEN TRADING",
    ]);
    // A quote left open does not swallow the next alias or the next remark.
    expect(akas("a.k.a. 'ABU; a.k.a. 'UMAR'; DOB 1960")).toEqual(["strong UMAR"]);
  });
});

describe("listed birth dates", () => {
  it("a range is every year in it; an approximate date every year near it", () => {
    expect(birthDates("12 Jan 1965")).toEqual(["1965-01-12"]);
    expect(birthDates("Jan 1965")).toEqual(["1965-01"]);
    expect(birthDates("01 Jan 1977 to 31 Dec 1985")).toEqual([
      "1977",
      "1978",
      "1979",
      "1980",
      "1981",
      "1982",
      "1983",
      "1984",
      "1985",
    ]);
    expect(birthDates("01 Jan 1952 to 31 Dec 1952")).toEqual(["1952"]);
    expect(birthDates("Mar 1962 to Feb 1963")).toEqual(["1962", "1963"]);
    expect(birthDates("circa 1965")).toEqual(["1962", "1963", "1964", "1965", "1966", "1967", "1968"]);
    expect(birthDates("circa 1979-1982")).toEqual(birthDates("1976 to 1985"));
    expect(birthDates("APPROXIMATELY 1970")).toContain("1967");
    // A span no birth date has is two dates, not a century of years.
    expect(birthDates("1900 to 1990")).toEqual(["1900", "1990"]);
    expect(birthDates("1965 to ?")).toEqual(["1965"]);
    expect(remarkFacts("DOB 01 Jan 1961 to 31 Dec 1963; alt. DOB circa 1958.").birth).toEqual([
      "1961",
      "1962",
      "1963",
      "1955",
      "1956",
      "1957",
      "1958",
      "1959",
      "1960",
      "1961",
    ]);
  });
  it("every year of a range, and within APPROXIMATE_YEARS of a circa year, is a listed year", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1900, max: 2010 }), fc.integer({ min: 0, max: 20 }), (from, span) => {
        const to = from + span;
        const range = birthDates(`01 Jan ${from} to 31 Dec ${to}`);
        const circa = birthDates(`circa ${from}`);
        for (let y = from; y <= to; y++) expect(range).toContain(String(y));
        for (let y = from - APPROXIMATE_YEARS; y <= from + APPROXIMATE_YEARS; y++)
          expect(circa).toContain(String(y));
      }),
    );
  });
  it("UN dates of birth typed APPROXIMATELY are approximate", () => {
    const xml = readFileSync(join(FIXTURES, "un.xml"), "utf8").replace(
      /<INDIVIDUAL_DATE_OF_BIRTH>[\s\S]*?<\/INDIVIDUAL_DATE_OF_BIRTH>/,
      "<INDIVIDUAL_DATE_OF_BIRTH><TYPE_OF_DATE>APPROXIMATELY</TYPE_OF_DATE><YEAR>1970</YEAR></INDIVIDUAL_DATE_OF_BIRTH>",
    );
    const [salek] = loadList([{ name: "un.xml", bytes: Buffer.from(xml) }]).entries;
    expect(salek!.birth_dates).toEqual(["1967", "1968", "1969", "1970", "1971", "1972", "1973"]);
  });
});

describe("malformed lists are refused with file, line and field", () => {
  const text = (name: string, s: string): InputFile => ({ name, bytes: Buffer.from(s) });
  it("a truncated OFAC row", () => {
    const p = refusal(() =>
      loadList([
        text("sdn.csv", '1,"A B","individual","X",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n2,"C D"\n'),
      ]),
    );
    expect(p).toMatchObject({ file: "sdn.csv", line: 2 });
    expect(p!.message).toMatch(/expected 12 columns, found 2/);
  });
  const row = (id: number, remarks = "-0- ") =>
    `${id},"A B","individual","X",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,${remarks}\n`;
  it("an unterminated quote, on the line where it opened (not where parsing gave up)", () => {
    const open = row(1) + "\n" + row(2, "\"a.k.a. 'X'.");
    const p = refusal(() => loadList([text("sdn.csv", open + row(3) + row(4))]));
    expect(p).toMatchObject({ file: "sdn.csv", line: 3, path: ["(csv)"] });
    expect(p!.message).toBe(
      "a quoted field in this record is followed by other text on line 4 (a quote left open?)",
    );
    const last = refusal(() => loadList([text("sdn.csv", open + "5,no quotes here\n")]));
    expect(last).toMatchObject({ file: "sdn.csv", line: 3, path: ["(csv)"] });
    expect(last!.message).toBe("a quoted field starting in this record is never closed");
  });
  it("a record spanning lines is named by the line it starts on", () => {
    const file = row(1, '"line one\nline two"') + "\r\n" + row(2).replace(',"A B"', "");
    const p = refusal(() => loadList([text("sdn.csv", file)], { format: "ofac-csv" }));
    expect(p).toMatchObject({ file: "sdn.csv", line: 4, path: ["column 12"] });
  });
  it("a non-numeric OFAC id", () => {
    const p = refusal(() =>
      loadList([text("sdn.csv", 'x1,"A B","individual","X",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n')]),
    );
    expect(p).toMatchObject({ file: "sdn.csv", line: 1, path: ["ent_num"] });
  });
  it("a non-numeric OFAC or UN id holding control characters is quoted escaped, not raw", () => {
    // The id is the file's text: a C1 control (U+009B, a terminal's control sequence introducer), a
    // DEL or a bidirectional override in it is written as an escape in the refusal.
    const ofac = refusal(() =>
      loadList([
        text(
          "sdn.csv",
          '1\u009b2J\u202e\u007f,"A B","individual","X",-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- ,-0- \n',
        ),
      ]),
    );
    expect(ofac).toMatchObject({ file: "sdn.csv", line: 1, path: ["ent_num"] });
    expect(ofac!.message).toBe('expected a number, found "1\\u009b2J\\u202e\\u007f"');
    const xml = readFileSync(join(FIXTURES, "un.xml"), "utf8").replace(
      /<DATAID>\d+<\/DATAID>/,
      "<DATAID>1\u009b2J\u202e</DATAID>",
    );
    const un = refusal(() => loadList([text("un.xml", xml)]));
    expect(un).toMatchObject({ file: "un.xml", path: ["DATAID"] });
    expect(un!.message).toBe('expected a number, found "1\\u009b2J\\u202e"');
  });
  it("broken UTF-8, on its line", () => {
    const bytes = Buffer.concat([Buffer.from('"Name"\t"x"\n'), Buffer.from([0x22, 0xff, 0xfe, 0x22, 0x0a])]);
    const p = refusal(() => loadList([{ name: "dpl.txt", bytes }], { format: "bis-dpl" }));
    expect(p).toMatchObject({ file: "dpl.txt", line: 2, path: ["(encoding)"] });
  });
  it("a truncated UN XML file", () => {
    const xml = readFileSync(join(FIXTURES, "un.xml"), "utf8");
    const p = refusal(() => loadList([text("un.xml", xml.slice(0, xml.length / 2))]));
    expect(p).toMatchObject({ file: "un.xml", path: ["(xml)"] });
    expect(p!.line).toBeGreaterThan(1);
  });
  it("an XML syntax error, at its line and column", () => {
    const xml = '<CONSOLIDATED_LIST dateGenerated="2026-02-27">\n  <INDIVIDUALS x=1>';
    const p = refusal(() => loadList([text("un.xml", xml)]));
    expect(p).toMatchObject({ file: "un.xml", line: 2, column: 18, path: ["(xml)"] });
    expect(p!.message).toBe("unquoted attribute value.");
  });
  it("a DPL or CSL expiration date that is not a date, naming its line and field", () => {
    const header = readFileSync(join(FIXTURES, "dpl.txt"), "utf8").split("\n")[0]!;
    const row = (expires: string) =>
      ["A CO", "1 ST", "TEHRAN", "", "IR", "", "01/01/2020", expires, "Y", "2022-01-01", "ADDED", "x"]
        .map((c) => `"${c}"`)
        .join("\t");
    for (const [expires, line] of [
      ["2030-01-14", 3],
      ["02/30/2030", 3],
      ["13/01/2030", 3],
      ["UNTIL 2056", 3],
    ] as const) {
      const dpl = [header, row("01/01/2031"), row(expires), ""].join("\n");
      // With or without a time to apply it at: a date that cannot be read is never dropped or kept silently.
      for (const options of [{}, { asOf: "2026-01-01T00:00:00Z" }]) {
        const p = refusal(() => loadList([text("dpl.txt", dpl)], options));
        expect(p).toMatchObject({ file: "dpl.txt", line, path: ["Expiration_Date"] });
        expect(p!.message).toBe(
          `expected the order's expiration date as MM/DD/YYYY (or nothing, for an order without end), found ${JSON.stringify(expires)}`,
        );
      }
    }
    const csl = [
      "source,name,type,programs,addresses,alt_names,end_date",
      '"Denied Persons List (DPL) - Bureau of Industry and Security",A CO,,,,,2019-02-29',
      "",
    ].join("\n");
    const p = refusal(() => loadList([text("csl.csv", csl)]));
    expect(p).toMatchObject({ file: "csl.csv", line: 2, path: ["end_date"] });
    expect(p!.message).toContain('found "2019-02-29"');
  });
  it("a DPL with the wrong header", () => {
    const p = refusal(() => loadList([text("dpl.txt", '"Nom"\t"x"\n')], { format: "bis-dpl" }));
    expect(p).toMatchObject({ file: "dpl.txt", line: 1 });
  });
  it("a CSL without a name column", () => {
    const p = refusal(() => loadList([text("csl.csv", "source,type\nx,y\n")], { format: "csl-csv" }));
    expect(p).toMatchObject({ file: "csl.csv", line: 1, path: ["name"] });
  });
  it("an FtM line that is not JSON", () => {
    const p = refusal(() =>
      loadList([text("x.jsonl", '{"id":"a","schema":"Person","properties":{"name":["A"]}}\n{oops\n')]),
    );
    expect(p).toMatchObject({ file: "x.jsonl", line: 2, path: ["(json)"] });
  });
  it("an entry listed twice (UN, FtM), naming both lines", () => {
    const xml = readFileSync(join(FIXTURES, "un.xml"), "utf8");
    const individual = /<INDIVIDUAL>[\s\S]*?<\/INDIVIDUAL>/.exec(xml)![0];
    const twice = xml.replace(individual, `${individual}\n${individual}`);
    const un = refusal(() => loadList([text("un.xml", twice)]));
    expect(un).toMatchObject({ file: "un.xml", path: ["DATAID"] });
    expect(un!.message).toMatch(/is listed twice \(first on line \d+\)/);
    const person = '{"id":"a","schema":"Person","properties":{"name":["A"]}}';
    const ftm = refusal(() => loadList([text("x.jsonl", `${person}\n${person}\n`)]));
    expect(ftm).toMatchObject({ file: "x.jsonl", line: 2, path: ["id"] });
    expect(ftm!.message).toContain("entity a is listed twice (first on line 1)");
  });
  it("an entry id or list name with a control character (a NUL no store can hold), naming the line", () => {
    const entity = (over: string) => `{"id":"a","schema":"Person","properties":{"name":["A"]}${over}}`;
    const ftmId = refusal(() => loadList([text("x.jsonl", `${entity(',"id":"a\\u0000b"')}\n`)]));
    expect(ftmId).toMatchObject({ file: "x.jsonl", line: 1, path: ["id"] });
    expect(ftmId!.message).toBe('expected the entity\'s id without control characters, found "a\\u0000b"');
    // The refusal quotes the id as messages do: a C1 control or a bidirectional override escaped, not raw.
    const c1 = refusal(() => loadList([text("x.jsonl", `${entity(',"id":"a\\u009b\\u202eb"')}\n`)]));
    expect(c1!.message).toBe(
      'expected the entity\'s id without control characters, found "a\\u009b\\u202eb"',
    );
    const [dplHeader, ...dplRows] = readFileSync(join(FIXTURES, "dpl.txt"), "utf8").split("\n");
    const renamed = [dplHeader!.replace("Name", "Name\u202e\u009b"), ...dplRows].join("\n");
    const column = refusal(() => loadList([text("dpl.txt", renamed)], { format: "bis-dpl" }));
    expect(column!.message).toBe('expected the column Name, found "Name\\u202e\\u009b"');
    const row = "A CO|1 ST|TEHRAN||IR||01/01/2020|01/14/2026\u202e\u009b|Y|||".split("|");
    const dated = [dplHeader, row.map((c) => `"${c}"`).join("\t"), ""].join("\n");
    const date = refusal(() => loadList([text("dpl.txt", dated)], { format: "bis-dpl" }));
    expect(date!.message).toMatch(
      /^expected the order.s expiration date .*, found "01\/14\/2026\\u202e\\u009b"$/,
    );
    const dataset = refusal(() => loadList([text("x.jsonl", `${entity(',"datasets":["eu\\u0000"]')}\n`)]));
    expect(dataset).toMatchObject({ file: "x.jsonl", line: 1, path: ["datasets"] });
    const csl = [
      "_id,source,name,type,programs,addresses,alt_names",
      "a\u0000b,Entity List (EL) - Bureau of Industry and Security,A CO,,,,",
      "",
    ];
    const cslId = refusal(() => loadList([text("csl.csv", csl.join("\n"))], { format: "csl-csv" }));
    expect(cslId).toMatchObject({ file: "csl.csv", line: 2, path: ["_id"] });
    // Any format, and a name given with the file (the CLI's --list).
    const named = refusal(() => loadList([text("x.jsonl", `${entity("")}\n`)], { list: "eu\u0000" }));
    expect(named).toMatchObject({ code: "invalid_list", path: ["list"] });
  });
  it("an FtM schema named like an Object member is an unknown schema, skipped", () => {
    const lines = ["constructor", "hasOwnProperty", "__proto__", "Person"].map(
      (schema, i) => `{"id":"e${i}","schema":"${schema}","properties":{"name":["N${i}"]}}`,
    );
    const loaded = loadList([text("x.jsonl", `${lines.join("\n")}\n`)]);
    expect(loaded.entries.map((e) => [e.id, e.type])).toEqual([["e3", "person"]]);
  });
  it("a file in an unknown format", () => {
    const p = refusal(() => loadList([text("notes.txt", "hello world\n")]));
    expect(p).toMatchObject({ file: "notes.txt", path: ["format"] });
  });
  it("an empty file", () => {
    const p = refusal(() => loadList([text("sdn.csv", "")]));
    expect(p).toMatchObject({ file: "sdn.csv" });
  });
  it("more entries than a list may hold: too large (413), naming the file and the setting", () => {
    const dpl = fixture("dpl.txt");
    expect(loadList([dpl], { maxEntries: 2 }).entries).toHaveLength(2);
    let refused: unknown;
    try {
      loadList([dpl], { maxEntries: 1 });
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(ClearanceError);
    expect(refused).toMatchObject({ kind: "too-large", code: "list_too_large" });
    expect((refused as ClearanceError).problems[0]).toMatchObject({
      file: dpl.name,
      path: ["file"],
      message: "2 entries, more than the 1 a list may hold (screening.max_list_entries)",
    });
  });
});

describe.skipIf(!existsSync(SHARED))(
  "the real lists in ../shared/data/screening",
  { timeout: 60_000 },
  () => {
    it("OFAC SDN with add/alt/comments", () => {
      const l = loadList(ofacSet(join(SHARED, "ofac-sdn-csv", "watchman-bench-2021-07", "sdn.csv")));
      expect(l.entries.length).toBe(8976);
      const zawahiri = l.entries.find((e) => e.id === "2676")!;
      expect(zawahiri.names.length).toBeGreaterThan(2);
      expect(zawahiri.birth_dates).toContain("1951-06-19");
    });
    it("OFAC SDN 2024 full list, and the consolidated non-SDN list", () => {
      expect(
        loadList(ofacSet(join(SHARED, "ofac-sdn-csv", "jackdwyer-2024-05-03", "sdn.csv"))).entries.length,
      ).toBe(14965);
      const cons = loadList(ofacSet(join(SHARED, "ofac-consolidated-csv", "watchman", "cons_prim.csv")));
      expect(cons.list).toBe("ofac-consolidated");
      expect(cons.entries.length).toBeGreaterThan(400);
    });
    it("CSL in both layouts, UN XML, DPL", () => {
      expect(loadList([file(join(SHARED, "trade-gov-csl", "watchman-csl-2019.csv"))]).entries.length).toBe(
        115,
      );
      expect(
        loadList([file(join(SHARED, "trade-gov-csl", "watchman-consolidated-sample.csv"))]).entries.length,
      ).toBe(13);
      const un = loadList([file(join(SHARED, "un-sc", "UN_consolidated-2026-02-27.xml"))]);
      expect(un.entries.length).toBe(1003);
      expect(un.published).toBe("2026-02-27");
      expect(un.entries.some((e) => e.names.some((n) => n.kind === "original-script"))).toBe(true);
      expect(loadList([file(join(SHARED, "bis-dpl", "dpl-2022.txt"))]).entries.length).toBe(581);
    });
    it("DPL: orders past their Expiration_Date as of the import are left out, the rest kept", () => {
      const dpl = (f: string, asOf?: string) =>
        loadList([file(join(SHARED, "bis-dpl", f))], asOf === undefined ? {} : { asOf });
      const name = (l: { entries: readonly ListEntry[] }) => new Set(l.entries.map((e) => e.names[0]!.name));
      // As published, no order on either list had lapsed: BIS drops a row after its order lapses.
      expect(dpl("dpl-2019.txt", "2019-06-12T00:00:00Z").expired).toBeUndefined();
      expect(dpl("dpl-2022.txt", "2022-08-29T00:00:00Z").expired).toBeUndefined();
      // Kept half a year: 21 orders lapsed, the ten-year denial of AARON ROBERT HENDERSON (09/18/2019)
      // among them; I. ASH's fifty-year one (2056) and ADT's order without end stand.
      const late2019 = dpl("dpl-2019.txt", "2019-12-01T00:00:00Z");
      expect(late2019.expired).toHaveLength(21);
      expect(late2019.entries).toHaveLength(546 - 21);
      expect(name(late2019)).not.toContain("AARON ROBERT HENDERSON");
      expect(name(late2019)).toContain("I. ASH");
      // By December 2026, 340 of the 2022 list's 581 orders have lapsed (AARON ABRAHAM VILLA's on
      // 01/14/2026); 53 have no end.
      const now = dpl("dpl-2022.txt", "2026-12-01T00:00:00Z");
      expect(now.expired).toHaveLength(340);
      expect(name(now)).not.toContain("AARON ABRAHAM VILLA");
      expect(name(now)).toContain("I. ASH");
      expect(name(now)).toContain("ADT ANALOG AND DIGITAL TECHNIK");
      // DAQING ZHOU's order ran through 11/09/2026: in force until that day has ended everywhere.
      expect(name(dpl("dpl-2022.txt", "2026-11-10T11:59:59Z"))).toContain("DAQING ZHOU");
      expect(name(dpl("dpl-2022.txt", "2026-11-10T12:00:00Z"))).not.toContain("DAQING ZHOU");
      // Without a time, every row, as before.
      expect(dpl("dpl-2022.txt").entries).toHaveLength(581);
    });
    it("CSL 2019: its DPL rows' end dates lapse their orders too", () => {
      const csl = (asOf: string) =>
        loadList([file(join(SHARED, "trade-gov-csl", "watchman-csl-2019.csv"))], { asOf });
      // The DPL rows ending 2019-12-03 (AL NASER WINGS AIRLINES, twice) and 2020-10-13 (ADRIAN MANUEL
      // HERNANDEZ); ADRIAN JESUS REYNA's (2022-01-27) stands. No other source gives an end date.
      const l = csl("2021-01-01T00:00:00Z");
      expect(l.expired).toHaveLength(3);
      const names = l.entries.map((e) => e.names[0]!.name);
      expect(names).not.toContain("AL NASER WINGS AIRLINES");
      expect(names).not.toContain("ADRIAN MANUEL HERNANDEZ");
      expect(names).toContain("ADRIAN JESUS REYNA");
      expect(l.entries).toHaveLength(112);
      expect(csl("2019-01-01T00:00:00Z").expired).toBeUndefined();
    });
    it("DPL 2019 and 2022: a party listed in both at the same address keeps its id", () => {
      const dpl = (f: string) => loadList([file(join(SHARED, "bis-dpl", f))]).entries;
      const [a, b] = [dpl("dpl-2019.txt"), dpl("dpl-2022.txt")];
      const ids = new Set(b.map((e) => e.id));
      const key = (e: ListEntry) => `${e.names[0]!.name}\0${e.addresses[0] ?? ""}`;
      const later = new Set(b.map(key));
      const kept = a.filter((e) => later.has(key(e)));
      expect(kept.length).toBeGreaterThan(350);
      // Before: 26 of them (AL NASER AIRLINES, ALI ABDULLAH AHMED ALHAY, …) had a new id in 2022.
      expect(kept.filter((e) => !ids.has(e.id)).map((e) => e.names[0]!.name)).toEqual([]);
    });
  },
);
if (!existsSync(SHARED)) console.warn(`skipping the real-list loader tests: ${SHARED} is absent`);

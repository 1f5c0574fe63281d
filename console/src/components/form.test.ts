import { expect, it } from "vitest";
import { countryCode, list } from "./form.js";

it("country codes are raised in ASCII only: a letter of another script is sent as typed, and refused", () => {
  expect(list(" fr, de ,GB", true)).toEqual(["FR", "DE", "GB"]);
  // Before the fix: toUpperCase() folded dotless ı into I, ß into SS and the ligature ﬁ into FI, so
  // an officer typing "ır" or "ß" sent IR (Iran) or SS (South Sudan), and the form accepted it.
  expect(list("ır, ß, ﬁ", true)).toEqual(["ıR", "ß", "ﬁ"]);
  expect(countryCode(" de ")).toBe("DE");
  expect(countryCode("ır")).toBe("ıR");
  expect(countryCode("ß")).toBe("ß");
  // Lists of other things are left as typed.
  expect(list("gpt-x, ß")).toEqual(["gpt-x", "ß"]);
});

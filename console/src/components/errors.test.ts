import { describe, expect, it } from "vitest";
import { ApiError } from "../api.js";
import { checkFields, placeErrors, submissionErrors } from "./errors.js";

const refusal = (message: string, problems: { path: string; message: string }[]) =>
  new ApiError(
    400,
    "invalid_input",
    message,
    problems.map((p) => ({ code: "custom", ...p })),
  );

describe("a form's errors, each said once", () => {
  it("a problem at a field shown is at that field only; the form says where to look", () => {
    const err = refusal("conditions.destinations[0]: FR not among the destinations applied for", [
      { path: "conditions.destinations[0]", message: "FR not among the destinations applied for" },
    ]);
    const r = submissionErrors(err, ["destinations", "note"], (p) => p.replace(/^conditions\./, ""));
    expect(r.fields).toEqual({ "destinations[0]": "FR not among the destinations applied for" });
    expect(r.form).toBe("Check the highlighted field.");
    expect(r.form).not.toContain("FR not among");
  });

  it("counts the fields, not the problems; says in full only what no field shows", () => {
    const err = refusal("three problems", [
      { path: "models[0]", message: "unknown model x" },
      { path: "models[1]", message: "unknown model y" },
      { path: "quota_tokens", message: "expected a number" },
      { path: "licensee.organization", message: "unknown organization" },
    ]);
    const r = submissionErrors(err, ["models", "quota_tokens"]);
    expect(Object.keys(r.fields)).toEqual(["models[0]", "models[1]", "quota_tokens"]);
    expect(r.form).toBe(`${checkFields(2)} Also: licensee.organization: unknown organization`);
    expect(r.form).toBe("Check the 2 highlighted fields. Also: licensee.organization: unknown organization");
  });

  it("no problem at a field shown: the API's own sentence, which may say more than its problems", () => {
    const whole =
      "license L was stored but is left out of the policy in force, as it does not compile with scheme version 2";
    const r = submissionErrors(refusal(whole, [{ path: "licenses.L.models[0]", message: "unknown model" }]), [
      "models",
    ]);
    expect(r).toEqual({ fields: {}, form: whole });
    expect(submissionErrors(refusal("busy", []), ["reason"])).toEqual({ fields: {}, form: "busy" });
    expect(submissionErrors(new Error("network down"), ["reason"])).toEqual({
      fields: {},
      form: "network down",
    });
  });

  it("a problem at the body itself is the form's, beside a field's", () => {
    const r = submissionErrors(
      refusal("x", [
        { path: "", message: "the application is closed" },
        { path: "reason", message: "too long" },
      ]),
      ["reason"],
    );
    expect(r).toEqual({
      fields: { reason: "too long" },
      form: "Check the highlighted field. Also: the application is closed",
    });
  });

  it("the browser's own check (zod paths) is placed the same way", () => {
    expect(placeErrors({ justification: "a justification is required" }, ["justification"])).toEqual({
      fields: { justification: "a justification is required" },
      form: "Check the highlighted field.",
    });
    expect(placeErrors({ "partner.id": "required" }, ["id"])).toEqual({
      fields: {},
      form: "partner.id: required",
    });
  });
});

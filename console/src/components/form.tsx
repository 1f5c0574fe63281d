/**
 * Form fields with their label, hint and error at the field (aria-invalid, aria-describedby); the
 * mapping from a zod issue or an API problem to the field it concerns is errors.ts's. Forms keep
 * what was typed in their own state: an error never clears a field.
 */
import { useCallback, useEffect, useId, useRef, useState, type ReactNode } from "react";
import { asciiUpper } from "../../../src/countries/index.js";
import { errorAt, type FieldErrors } from "./errors.js";
import { visible } from "./text.js";

export {
  checkFields,
  errorAt,
  pathText,
  placeErrors,
  problemErrors,
  submissionErrors,
  zodErrors,
  type FieldErrors,
  type PlacedErrors,
} from "./errors.js";

interface FieldProps {
  readonly label: string;
  readonly name: string;
  readonly errors: FieldErrors;
  readonly hint?: string;
  readonly children: (props: {
    id: string;
    "aria-invalid": boolean;
    "aria-describedby"?: string;
    name: string;
  }) => ReactNode;
}

/**
 * An error that appears at a field is announced by taking the focus there: to the first field of its
 * form that has one (a screen reader reads its label and the message it is described by), unless the
 * focus is already on such a field. Without it a refusal was silent but for a sighted reader: the
 * forms of one line (a reason, a note) have no message above them, and a button disabled while its
 * request ran had let the focus fall to the page.
 */
function useFocusOnError(id: string, error: string | undefined): void {
  useEffect(() => {
    if (error === undefined) return;
    const form = document.getElementById(id)?.closest("form");
    if (!form) return;
    const active = document.activeElement;
    if (active instanceof HTMLElement && form.contains(active) && invalid(active)) return;
    form.querySelector<HTMLElement>(INVALID)?.focus();
  }, [id, error]);
}

const INVALID = '[aria-invalid="true"], fieldset.field-invalid input';
const invalid = (el: HTMLElement): boolean =>
  el.getAttribute("aria-invalid") === "true" || el.closest("fieldset.field-invalid") !== null;

export function Field({ label, name, errors, hint, children }: FieldProps) {
  const id = useId();
  const error = errorAt(errors, name);
  useFocusOnError(id, error);
  const described = [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(" ");
  return (
    <div className={error ? "field field-invalid" : "field"}>
      <label htmlFor={id}>{label}</label>
      {hint ? (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      ) : null}
      {children({
        id,
        name,
        "aria-invalid": error !== undefined,
        ...(described === "" ? {} : { "aria-describedby": described }),
      })}
      {error ? (
        <p className="field-error" id={`${id}-error`}>
          {visible(error)}
        </p>
      ) : null}
    </div>
  );
}

export function TextField(props: {
  label: string;
  name: string;
  value: string;
  onChange: (v: string) => void;
  errors: FieldErrors;
  hint?: string;
  type?: string;
  required?: boolean;
  autoComplete?: string;
}) {
  return (
    <Field
      label={props.label}
      name={props.name}
      errors={props.errors}
      {...(props.hint ? { hint: props.hint } : {})}
    >
      {(a) => (
        <input
          {...a}
          type={props.type ?? "text"}
          value={props.value}
          required={props.required}
          autoComplete={props.autoComplete ?? "off"}
          onChange={(e) => props.onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

export function TextArea(props: {
  label: string;
  name: string;
  value: string;
  onChange: (v: string) => void;
  errors: FieldErrors;
  hint?: string;
  rows?: number;
}) {
  return (
    <Field
      label={props.label}
      name={props.name}
      errors={props.errors}
      {...(props.hint ? { hint: props.hint } : {})}
    >
      {(a) => (
        <textarea
          {...a}
          rows={props.rows ?? 3}
          value={props.value}
          onChange={(e) => props.onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

/** A group of checkboxes (models, actions): a fieldset with a legend, its error under it. */
export function Checkboxes(props: {
  legend: string;
  name: string;
  options: readonly string[];
  value: readonly string[];
  onChange: (v: string[]) => void;
  errors: FieldErrors;
}) {
  const id = useId();
  const error = errorAt(props.errors, props.name);
  useFocusOnError(id, error);
  return (
    <fieldset
      id={id}
      className={error ? "field field-invalid checkboxes" : "field checkboxes"}
      aria-describedby={error ? `${id}-error` : undefined}
    >
      <legend>{props.legend}</legend>
      {props.options.map((o) => (
        <label key={o} className="check">
          <input
            type="checkbox"
            name={props.name}
            value={o}
            checked={props.value.includes(o)}
            onChange={(e) =>
              props.onChange(e.target.checked ? [...props.value, o] : props.value.filter((v) => v !== o))
            }
          />
          {o}
        </label>
      ))}
      {error ? (
        <p className="field-error" id={`${id}-error`}>
          {visible(error)}
        </p>
      ) : null}
    </fieldset>
  );
}

export function Select(props: {
  label: string;
  name: string;
  value: string;
  options: readonly (string | { value: string; label: string })[];
  onChange: (v: string) => void;
  errors: FieldErrors;
}) {
  return (
    <Field label={props.label} name={props.name} errors={props.errors}>
      {(a) => (
        <select {...a} value={props.value} onChange={(e) => props.onChange(e.target.value)}>
          {props.options.map((o) => {
            // A bare value is stored text (a principal's id) as often as a word of ours: written out.
            const { value, label } = typeof o === "string" ? { value: o, label: visible(o) } : o;
            return (
              <option key={value} value={value}>
                {label}
              </option>
            );
          })}
        </select>
      )}
    </Field>
  );
}

export function FormError({ message }: { message: string | null }) {
  return message === null ? null : (
    <div className="form-error" role="alert">
      {visible(message)}
    </div>
  );
}

/**
 * A country code as typed, trimmed and raised as the server reads codes (`asciiUpper`): a-z alone.
 * `toUpperCase()` sent "ır" as IR and "ß" as SS, codes the officer never typed; now they are refused.
 */
export const countryCode = (s: string): string => asciiUpper(s.trim());

/** "FR, de ,GB" → ["FR", "DE", "GB"] with `upper` (country codes, by `countryCode`); empty → []. */
export const list = (s: string, upper = false): string[] =>
  s
    .split(",")
    .map((x) => (upper ? countryCode(x) : x.trim()))
    .filter((x) => x !== "");

/**
 * One change per click, for every form that changes something: while `run`'s work (its request and
 * what follows) runs, `busy` is true (the form's buttons are disabled with it) and another `run`
 * returns at once, sending nothing. Without it a double click, or Enter pressed again on a slow
 * server, sent the change twice: a second key or principal, a second status change, a 409 said for
 * the change just made. The guard is a ref, not the state: a form of one field is submitted by Enter
 * with its buttons disabled, and two submissions in one task both see the state as it was.
 */
export function useBusy(): { readonly busy: boolean; run(work: () => Promise<unknown>): Promise<void> } {
  const running = useRef(false);
  const [busy, setBusy] = useState(false);
  const run = useCallback(async (work: () => Promise<unknown>) => {
    if (running.current) return;
    running.current = true;
    setBusy(true);
    try {
      await work();
    } finally {
      running.current = false;
      setBusy(false);
    }
  }, []);
  return { busy, run };
}

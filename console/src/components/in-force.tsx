/**
 * The one place the console says that a change it made is stored but not yet in force on this node
 * (the API's `not_yet_in_force`, dispatched by api.ts as NOT_YET_IN_FORCE), whichever page made it.
 * Each page still shows its own success (a key listed as revoked, a notice): this stays beside it,
 * at the top of the page as it scrolls, announced, until dismissed — a page change does not hide it,
 * as the access it concerns may still be let through.
 */
import { useEffect, useRef, useState } from "react";
import { NOT_YET_IN_FORCE, type NotYetInForce } from "../api.js";
import { Shown } from "./ui.js";

interface Warning extends NotYetInForce {
  readonly n: number;
}

export function InForceWarnings() {
  const [warnings, setWarnings] = useState<readonly Warning[]>([]);
  const next = useRef(0);
  useEffect(() => {
    const add = (e: Event) => {
      const { code, message } = (e as CustomEvent<NotYetInForce>).detail;
      const n = next.current++;
      setWarnings((ws) => [...ws, { code, message, n }]);
    };
    window.addEventListener(NOT_YET_IN_FORCE, add);
    return () => window.removeEventListener(NOT_YET_IN_FORCE, add);
  }, []);
  // An alert inserted is announced; none is there while nothing is to be said (an empty alert is
  // one more landmark of nothing for a screen reader, and for every test looking for an alert).
  if (warnings.length === 0) return null;
  return (
    <div className="in-force-warnings form-error in-force-warning" role="alert">
      <p>
        <strong>
          {warnings.length === 1
            ? "Stored, but not yet in force on this node:"
            : `${warnings.length} changes stored, but not yet in force on this node:`}
        </strong>
      </p>
      <ul>
        {warnings.map((w) => (
          <li key={w.n}>
            <Shown text={w.message} />
          </li>
        ))}
      </ul>
      <button type="button" className="secondary" onClick={() => setWarnings([])}>
        Dismiss
      </button>
    </div>
  );
}

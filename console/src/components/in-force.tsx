/**
 * The one place the console says that a change it made is stored but not yet in force on this node
 * (the API's `not_yet_in_force`, dispatched by api.ts as NOT_YET_IN_FORCE), whichever page made it.
 * Each page still shows its own success (a key listed as revoked, a notice): this stays beside it,
 * at the top of the page as it scrolls, announced, until dismissed — a page change does not hide it,
 * as the access it concerns may still be let through — or until /readyz reports no failed reload.
 * Behind a load balancer /readyz may come from another node than the one that failed (neither answer
 * names its node): the status once the warning goes says only what the answering node reported.
 */
import { useEffect, useRef, useState } from "react";
import { NOT_YET_IN_FORCE, type NotYetInForce } from "../api.js";
import { Shown } from "./ui.js";

interface Warning extends NotYetInForce {
  readonly n: number;
}

/** How often, while a warning shows, /readyz is asked whether this node has reloaded since. */
export const RECHECK_MS = 2000;

/**
 * Whether this node's last reload from the store succeeded, as /readyz says to anyone (`reload` is
 * there only while the last one failed, the policy's build included); null when it cannot be told.
 * A change is said not in force when the reload right after it failed: a later successful one has
 * read the store since, and so holds it.
 */
async function reloaded(): Promise<boolean | null> {
  try {
    const res = await fetch("/readyz", { headers: { accept: "application/json" } });
    const body = (await res.json()) as { reload?: unknown } | null;
    return body !== null && typeof body === "object" ? body.reload === undefined : null;
  } catch {
    return null;
  }
}

export function InForceWarnings() {
  const [warnings, setWarnings] = useState<readonly Warning[]>([]);
  const next = useRef(0);
  const [inForce, setInForce] = useState(false);
  const showing = warnings.length > 0;
  useEffect(() => {
    if (!showing) return;
    let asking = false;
    const timer = setInterval(() => {
      if (asking) return;
      asking = true;
      // Only the warnings said before the question: a newer one may be of a failure after it.
      const before = next.current;
      void reloaded().then((yes) => {
        asking = false;
        if (yes !== true) return;
        setWarnings((ws) => ws.filter((w) => w.n >= before));
        setInForce(true);
      });
    }, RECHECK_MS);
    return () => clearInterval(timer);
  }, [showing]);
  useEffect(() => {
    const add = (e: Event) => {
      const { code, message } = (e as CustomEvent<NotYetInForce>).detail;
      const n = next.current++;
      setWarnings((ws) => [...ws, { code, message, n }]);
      setInForce(false);
    };
    window.addEventListener(NOT_YET_IN_FORCE, add);
    return () => window.removeEventListener(NOT_YET_IN_FORCE, add);
  }, []);
  // An alert inserted is announced; none is there while nothing is to be said (an empty alert is
  // one more landmark of nothing for a screen reader, and for every test looking for an alert).
  if (warnings.length === 0)
    return inForce ? (
      <div className="in-force-warnings" role="status">
        <p>
          The node that answered now reports no failed reload, so it holds the changes said not yet in force;
          with several nodes, each takes changes in at its next successful reload.{" "}
          <button type="button" className="secondary" onClick={() => setInForce(false)}>
            Dismiss
          </button>
        </p>
      </div>
    ) : null;
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

/**
 * The one place the console says that a change it made is stored but not yet in force on the node
 * that answered (the API's `not_yet_in_force`, dispatched by api.ts as NOT_YET_IN_FORCE), whichever
 * page made it. Each page still shows its own success (a key listed as revoked, a notice): this
 * stays beside it, at the top of the page as it scrolls, announced, until dismissed — a page change
 * does not hide it, as the access it concerns may still be let through — or until /readyz from that
 * same node reports no failed reload. Behind a load balancer /readyz may come from another node:
 * both answers name their node, and another node's word clears nothing.
 */
import { useEffect, useRef, useState } from "react";
import { NOT_YET_IN_FORCE, type NotYetInForce } from "../api.js";
import { Shown } from "./ui.js";

interface Warning extends NotYetInForce {
  readonly n: number;
}

/** How often, while a warning shows, /readyz is asked whether the node has reloaded since. */
export const RECHECK_MS = 2000;

/**
 * The node that answered /readyz when its last reload from the store succeeded (`reload` is there
 * only while the last one failed, the policy's build included): `node` is its name, null when it
 * gives none. Null for the whole when it failed or cannot be told. A change is said not in force
 * when the reload right after it failed: a later successful one has read the store since.
 */
async function reloaded(): Promise<{ readonly node: string | null } | null> {
  try {
    const res = await fetch("/readyz", { headers: { accept: "application/json" } });
    const body = (await res.json()) as { reload?: unknown; node?: unknown } | null;
    if (body === null || typeof body !== "object" || body.reload !== undefined) return null;
    return { node: typeof body.node === "string" && body.node !== "" ? body.node : null };
  } catch {
    return null;
  }
}

/**
 * Whether a /readyz from `node` speaks for warning `w`: the same node. A server that names no node
 * (on either side) is taken at its word, as before nodes were named.
 */
const speaksFor = (w: Warning, node: string | null): boolean =>
  w.node === undefined || node === null || w.node === node;

/** "on node gw-2", or "on the node that answered" when the server did not name it. */
const onNode = (node: string | undefined): string =>
  node === undefined ? "on the node that answered" : `on node ${node}`;

export function InForceWarnings() {
  const [warnings, setWarnings] = useState<readonly Warning[]>([]);
  const next = useRef(0);
  /** The node whose /readyz last cleared warnings ("" when it named none), until dismissed. */
  const [cleared, setCleared] = useState<string | null>(null);
  const showing = warnings.length > 0;
  const shown = useRef(warnings);
  shown.current = warnings;
  useEffect(() => {
    if (!showing) return;
    let asking = false;
    const timer = setInterval(() => {
      if (asking) return;
      asking = true;
      // Only the warnings said before the question: a newer one may be of a failure after it.
      const before = next.current;
      void reloaded().then((ok) => {
        asking = false;
        if (ok === null) return;
        const goes = (w: Warning) => w.n < before && speaksFor(w, ok.node);
        // Those asked about were shown (rendered) long before the answer came.
        if (!shown.current.some(goes)) return;
        setWarnings((ws) => ws.filter((w) => !goes(w)));
        setCleared(ok.node ?? "");
      });
    }, RECHECK_MS);
    return () => clearInterval(timer);
  }, [showing]);
  useEffect(() => {
    const add = (e: Event) => {
      const { code, message, node } = (e as CustomEvent<NotYetInForce>).detail;
      const n = next.current++;
      setWarnings((ws) => [...ws, { code, message, n, ...(node === undefined ? {} : { node }) }]);
      setCleared(null);
    };
    window.addEventListener(NOT_YET_IN_FORCE, add);
    return () => window.removeEventListener(NOT_YET_IN_FORCE, add);
  }, []);
  // Warnings by node, in the order first said: each node's are cleared by its own /readyz only.
  const nodes = [...new Set(warnings.map((w) => w.node))];
  // An alert inserted is announced; none is there while nothing is to be said (an empty alert is
  // one more landmark of nothing for a screen reader, and for every test looking for an alert).
  const status =
    cleared === null ? null : (
      <div className="in-force-warnings" role="status">
        <p>
          {cleared === "" ? "The node that answered" : `Node ${cleared}`} now reports no failed reload, so the
          changes said not yet in force there are in force on it.{" "}
          <button type="button" className="secondary" onClick={() => setCleared(null)}>
            Dismiss
          </button>
        </p>
      </div>
    );
  if (warnings.length === 0) return status;
  return (
    <>
      {status}
      <div className="in-force-warnings form-error in-force-warning" role="alert">
        {nodes.map((node) => {
          const mine = warnings.filter((w) => w.node === node);
          return (
            <div key={node ?? ""}>
              <p>
                <strong>
                  {mine.length === 1
                    ? `Stored, but not yet in force ${onNode(node)}:`
                    : `${mine.length} changes stored, but not yet in force ${onNode(node)}:`}
                </strong>
              </p>
              <ul>
                {mine.map((w) => (
                  <li key={w.n}>
                    <Shown text={w.message} />
                  </li>
                ))}
              </ul>
            </div>
          );
        })}
        <button type="button" className="secondary" onClick={() => setWarnings([])}>
          Dismiss
        </button>
      </div>
    </>
  );
}

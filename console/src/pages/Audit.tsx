/**
 * The audit log: browse entries (decisions and admin changes), look one up by request id, and
 * verify the log in this browser — the signed checkpoint with WebCrypto Ed25519 against a verifier
 * key the user supplies, every entry rehashed into the signed root, and one entry's inclusion proof.
 */
import { useEffect, useRef, useState, type FormEvent } from "react";
import {
  bundlesNewestFirst,
  latestCheckpoint,
  isSigningKey,
  parseEntry,
  readBundle,
  verifyEntry,
  verifyLog,
  type AuditEntry,
  type LogVerification,
} from "../audit/log.js";
import { visible } from "../components/text.js";
import { PageHeading, Progress, Shown, ShownTime, Status } from "../components/ui.js";
import { useLocation } from "../router.js";

const VKEY = "clearance.verifier-key";

interface Indexed {
  readonly index: bigint;
  readonly entry: AuditEntry;
}

/** An entry looked up, with the bytes it was shown from: those are what "Verify its inclusion" hashes. */
interface Found extends Indexed {
  readonly bytes: Uint8Array;
}

const foundAt = (index: bigint, bytes: Uint8Array): Found => ({ index, bytes, entry: parseEntry(bytes) });

export function AuditPage() {
  const [vkey, setVkey] = useState(() => localStorage.getItem(VKEY) ?? "");
  const remember = (v: string) => {
    setVkey(v);
    // The verifier key is public and kept for the next visit; a signing key pasted by mistake is not.
    if (isSigningKey(v)) localStorage.removeItem(VKEY);
    else localStorage.setItem(VKEY, v);
  };
  return (
    <section>
      <PageHeading title="Audit log" />
      <VerifyLog vkey={vkey} setVkey={remember} />
      <Lookup vkey={vkey} />
      <Browse />
    </section>
  );
}

function VerifyLog({ vkey, setVkey }: { vkey: string; setVkey: (v: string) => void }) {
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [result, setResult] = useState<{ ok: LogVerification } | { failed: string } | null>(null);
  const run = async (e: FormEvent) => {
    e.preventDefault();
    setResult(null);
    setProgress({ done: 0, total: 0 });
    try {
      setResult({ ok: await verifyLog(vkey, (done, total) => setProgress({ done, total })) });
    } catch (err) {
      setResult({ failed: (err as Error).message });
    } finally {
      setProgress(null);
    }
  };
  return (
    <form className="panel" onSubmit={run} aria-labelledby="verify-heading">
      <h2 id="verify-heading">Verify the log in this browser</h2>
      <p className="hint">
        Paste the log&apos;s verifier key as you received it from the operator (never from this server). This
        browser fetches the checkpoint and every tile, checks the Ed25519 signature and rehashes every entry.
      </p>
      <div className="field">
        <label htmlFor="vkey">Verifier key</label>
        <input
          id="vkey"
          className="mono"
          value={vkey}
          onChange={(e) => setVkey(e.target.value)}
          autoComplete="off"
        />
      </div>
      <button type="submit" disabled={vkey.trim() === "" || progress !== null}>
        Verify in this browser
      </button>
      <div aria-live="polite">
        {progress !== null ? (
          <Progress label="Rehashing entries" done={progress.done} total={progress.total} />
        ) : null}
        {result !== null && "ok" in result ? (
          <div className="notice" role="status">
            <p className="verify-ok">Verified in this browser.</p>
            <p>
              The checkpoint of{" "}
              <strong>
                <Shown text={result.ok.checkpoint.origin} />
              </strong>{" "}
              carries a valid Ed25519 signature by your key; all {result.ok.entries.toLocaleString("en")}{" "}
              entries hash to its signed root <span className="mono">{result.ok.rootBase64}</span>, and every
              entry matches the published hash tiles.
            </p>
          </div>
        ) : null}
        {result !== null && "failed" in result ? (
          <div className="form-error" role="alert">
            <p className="verify-failed">Verification failed.</p>
            <p>{visible(result.failed)}</p>
          </div>
        ) : null}
      </div>
    </form>
  );
}

function Lookup({ vkey }: { vkey: string }) {
  const { query } = useLocation();
  const [requestId, setRequestId] = useState(query.get("request") ?? "");
  const [progress, setProgress] = useState<{ done: number; total: number } | null>(null);
  const [shown, setShown] = useState<Found | null | "none">(null);
  const [inclusion, setInclusion] = useState<string | null>(null);
  const [inclusionOk, setInclusionOk] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // `?entry=<index>` (an alert's evidence links here): that entry, read from its bundle.
  const entryParam = query.get("entry");
  useEffect(() => {
    if (entryParam === null || !/^\d+$/.test(entryParam)) return;
    const index = BigInt(entryParam);
    latestCheckpoint()
      .then(async (latest) => {
        const size = latest?.checkpoint.size ?? 0n;
        if (index >= size) {
          setError(`Entry ${index} is not published yet: the last checkpoint covers ${size} entries.`);
          return;
        }
        const b = bundlesNewestFirst(size).find((x) => x.index === index / 256n);
        const entries = await readBundle(index / 256n, b?.width ?? 256);
        setShown(foundAt(index, entries[Number(index % 256n)] as Uint8Array));
      })
      .catch((err: Error) => setError(err.message));
  }, [entryParam]);
  const search = (e: FormEvent) => {
    e.preventDefault();
    setShown(null);
    setInclusion(null);
    setError(null);
    find().catch((err: Error) => {
      setProgress(null);
      setError(err.message);
    });
  };
  const find = async () => {
    const latest = await latestCheckpoint();
    const size = latest?.checkpoint.size ?? 0n;
    const want = requestId.trim();
    let done = 0;
    setProgress({ done, total: Number(size) });
    // Newest first: the request looked up is usually recent.
    for (const b of bundlesNewestFirst(size)) {
      const entries = await readBundle(b.index, b.width);
      for (let k = entries.length - 1; k >= 0; k--) {
        const entry = foundAt(b.index * 256n + BigInt(k), entries[k] as Uint8Array);
        if (entry.entry.request_id === want) {
          setProgress(null);
          setShown(entry);
          return;
        }
      }
      done += entries.length;
      setProgress({ done, total: Number(size) });
    }
    setProgress(null);
    setShown("none");
  };
  const verify = async ({ index, bytes }: Found) => {
    try {
      const c = await verifyEntry(vkey, index, bytes);
      setInclusionOk(true);
      setInclusion(
        `Entry ${index} is in the signed tree of ${c.size} entries: its inclusion proof leads to the signed root (checked in this browser).`,
      );
    } catch (err) {
      setInclusionOk(false);
      setInclusion((err as Error).message);
    }
  };
  return (
    <div className="panel">
      <form onSubmit={search} aria-labelledby="lookup-heading">
        <h2 id="lookup-heading">Look up a request</h2>
        <div className="row">
          <div className="field">
            <label htmlFor="request-id">Request id</label>
            <input
              id="request-id"
              className="mono"
              size={40}
              value={requestId}
              onChange={(e) => setRequestId(e.target.value)}
              autoComplete="off"
            />
            <p className="hint">As the gateway returned it in x-clearance-request-id.</p>
          </div>
          <button type="submit" disabled={requestId.trim() === "" || progress !== null}>
            Find
          </button>
        </div>
      </form>
      <div aria-live="polite">
        {progress !== null ? (
          <Progress label="Searching the log" done={progress.done} total={progress.total} />
        ) : null}
        {error !== null ? (
          <div className="form-error" role="alert">
            {visible(error)}
          </div>
        ) : null}
        {shown === "none" ? <p>No entry has this request id.</p> : null}
        {shown !== null && shown !== "none" ? (
          <div>
            <h3>Entry {shown.index.toString()}</h3>
            <dl className="terms">
              {Object.entries(shown.entry).map(([k, v]) => (
                <div key={k} style={{ display: "contents" }}>
                  <dt>{k}</dt>
                  <dd className="mono">
                    <Shown text={typeof v === "string" ? v : JSON.stringify(v)} />
                  </dd>
                </div>
              ))}
            </dl>
            <p>
              <button type="button" disabled={vkey.trim() === ""} onClick={() => void verify(shown)}>
                Verify its inclusion
              </button>{" "}
              {vkey.trim() === "" ? <span className="hint">Enter the verifier key above first.</span> : null}
            </p>
            {inclusion !== null ? (
              <p className={inclusionOk ? "verify-ok" : "verify-failed"} role="status">
                {inclusion}
              </p>
            ) : null}
          </div>
        ) : null}
      </div>
    </div>
  );
}

const PAGE = 25;
/**
 * Bundles (256 entries each) one click reads at most: a filter that matches rarely (the admin changes
 * of a busy gateway, among millions of decisions) stops there, shows what it found and says how far
 * back it read, instead of reading the whole log before showing a row.
 */
const BUNDLES_PER_READ = 40;

function who(e: AuditEntry): string {
  return String(e.type === "decision" ? (e.principal ?? "") : (e.actor ?? ""));
}
function what(e: AuditEntry): string {
  if (e.type === "decision") {
    const served = e.served_model && e.served_model !== e.model ? ` → ${String(e.served_model)}` : "";
    return `${String(e.action)} ${String(e.model)}${served}${e.location ? ` from ${String(e.location)}` : ""}`;
  }
  const o = e.object as { kind?: string; id?: string } | undefined;
  return `${String(e.action)} ${o?.kind ?? ""} ${o?.id ?? ""}`;
}

function Browse() {
  const [kind, setKind] = useState<"all" | "decision" | "admin">("all");
  const [rows, setRows] = useState<Indexed[]>([]);
  // What is left to read, and the oldest entry read so far (`size` when none).
  const [cursor, setCursor] = useState<{
    bundles: { index: bigint; width: number }[];
    size: bigint;
    from: bigint;
  } | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // The latest load: one superseded (the filter changed while it read) stops and shows nothing, or
  // its rows, of the old filter, were shown under the new one, or appended to its rows.
  const newest = useRef(0);

  const more = async (reset: boolean) => {
    const load = ++newest.current;
    const current = () => load === newest.current;
    setLoading(true);
    setError(null);
    try {
      let c = reset ? null : cursor;
      if (c === null) {
        const latest = await latestCheckpoint();
        const size = latest?.checkpoint.size ?? 0n;
        c = { bundles: bundlesNewestFirst(size), size, from: size };
      }
      const out: Indexed[] = [];
      const queue = [...c.bundles];
      let from = c.from;
      for (
        let read = 0;
        out.length < PAGE && queue.length > 0 && read < BUNDLES_PER_READ && current();
        read++
      ) {
        const b = queue.shift()!;
        const entries = await readBundle(b.index, b.width);
        from = b.index * 256n;
        for (let k = entries.length - 1; k >= 0; k--) {
          const entry = parseEntry(entries[k] as Uint8Array);
          if (kind === "all" || entry.type === kind) out.push({ index: b.index * 256n + BigInt(k), entry });
        }
      }
      if (!current()) return;
      setCursor({ bundles: queue, size: c.size, from });
      setRows((r) => (reset ? out : [...r, ...out]));
    } catch (err) {
      if (current()) setError((err as Error).message);
    } finally {
      if (current()) setLoading(false);
    }
  };
  useEffect(() => {
    void more(true);
    // Reloaded when the filter changes.
  }, [kind]);
  return (
    <div className="panel">
      <h2>Entries, newest first</h2>
      <div className="field">
        <label htmlFor="kind">Show</label>
        <select id="kind" value={kind} onChange={(e) => setKind(e.target.value as typeof kind)}>
          <option value="all">decisions and admin changes</option>
          <option value="decision">decisions</option>
          <option value="admin">admin changes</option>
        </select>
      </div>
      {error ? (
        <div className="form-error" role="alert">
          {visible(error)}
        </div>
      ) : null}
      <div className="table-wrap">
        <table>
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Time</th>
              <th scope="col">Type</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
              <th scope="col">Outcome</th>
              <th scope="col">Request id</th>
            </tr>
          </thead>
          <tbody>
            {rows.map(({ index, entry: e }) => (
              <tr key={index.toString()}>
                <td>{index.toString()}</td>
                <td>
                  <ShownTime at={e.time} />
                </td>
                <td>
                  <Shown text={e.type} />
                </td>
                <td className="mono">
                  <Shown text={who(e)} />
                </td>
                <td>
                  <Shown text={what(e)} />
                </td>
                <td>
                  {e.type === "decision" ? (
                    <>
                      <Status value={String(e.decision)} /> <Shown text={String(e.reason)} />
                    </>
                  ) : (
                    ""
                  )}
                </td>
                <td className="mono">{e.type === "decision" ? <Shown text={String(e.request_id)} /> : ""}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {cursor !== null && cursor.bundles.length > 0 ? (
        <>
          <p className="hint">
            {`Read back to entry ${cursor.from} (of ${cursor.size} published)`}
            {rows.length === 0 ? `, none of them ${kind === "admin" ? "an admin change" : "a decision"}` : ""}
            : Older entries reads further back.
          </p>
          <button type="button" className="secondary" disabled={loading} onClick={() => void more(false)}>
            Older entries
          </button>
        </>
      ) : null}
      {loading ? <p aria-live="polite">Loading…</p> : null}
    </div>
  );
}

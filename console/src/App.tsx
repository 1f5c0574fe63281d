/**
 * The console's shell: sign-in with an admin identity token, then the pages the caller's roles
 * allow, in a navigation that says which page is current.
 */
import { useEffect, useRef, useState, type FormEvent, type ReactNode } from "react";
import { api, ApiError, session, SESSION_ENDED } from "./api.js";
import { finishSignIn, signInProviders, startSignIn, type SignInProvider } from "./oidc.js";
import { can, type Me } from "./roles.js";
import { Link, navigate, useLocation } from "./router.js";
import { Shown } from "./components/ui.js";
import { InForceWarnings } from "./components/in-force.js";
import { AlertsPage } from "./pages/Alerts.js";
import { AuditPage } from "./pages/Audit.js";
import { IdentityProvidersPage } from "./pages/IdentityProviders.js";
import { LicensesPage } from "./pages/Licenses.js";
import { OverviewPage } from "./pages/Overview.js";
import { PartnersPage } from "./pages/Partners.js";
import { PrincipalsPage } from "./pages/Principals.js";
import { SchemesPage } from "./pages/Schemes.js";
import { ScreeningPage } from "./pages/Screening.js";
import { WhatIfPage } from "./pages/WhatIf.js";

interface PageDef {
  readonly path: string;
  readonly title: string;
  readonly allowed: (me: Me) => boolean;
  readonly render: (me: Me) => ReactNode;
}

const anyone = () => true;

export const PAGES: readonly PageDef[] = [
  { path: "/", title: "Overview", allowed: anyone, render: (me) => <OverviewPage me={me} /> },
  { path: "/licenses", title: "Licenses", allowed: anyone, render: (me) => <LicensesPage me={me} /> },
  { path: "/partners", title: "Partners", allowed: can.read, render: (me) => <PartnersPage me={me} /> },
  {
    path: "/identity-providers",
    title: "Identity providers",
    allowed: (me) => can.read(me) || can.partner(me),
    render: (me) => <IdentityProvidersPage me={me} />,
  },
  {
    path: "/principals",
    title: "Principals and keys",
    allowed: can.read,
    render: (me) => <PrincipalsPage me={me} />,
  },
  {
    path: "/screening",
    title: "Screening review",
    allowed: can.readScreening,
    render: (me) => <ScreeningPage me={me} />,
  },
  {
    path: "/alerts",
    title: "Alerts",
    allowed: can.read,
    render: (me) => <AlertsPage me={me} />,
  },
  { path: "/schemes", title: "Scheme versions", allowed: can.read, render: (me) => <SchemesPage me={me} /> },
  {
    path: "/what-if",
    title: "What-if",
    allowed: can.read,
    render: () => <WhatIfPage />,
  },
  { path: "/audit", title: "Audit log", allowed: anyone, render: () => <AuditPage /> },
];

export function pageFor(path: string): PageDef | undefined {
  return [...PAGES]
    .reverse()
    .find((p) => (p.path === "/" ? path === "/" : path === p.path || path.startsWith(`${p.path}/`)));
}

export function App() {
  const [me, setMe] = useState<Me | null>(null);
  const q = new URLSearchParams(window.location.search);
  const returning = q.has("state") && (q.has("code") || q.has("error"));
  const [checking, setChecking] = useState(session.token !== null || returning);
  const [signInError, setSignInError] = useState<string | null>(null);
  // Why the console signed out by itself (the token is no longer accepted), said on the sign-in page.
  const [ended, setEnded] = useState<string | null>(null);

  useEffect(() => {
    const onEnded = (e: Event) => {
      setMe(null);
      setEnded((e as CustomEvent<string>).detail);
    };
    window.addEventListener(SESSION_ENDED, onEnded);
    return () => window.removeEventListener(SESSION_ENDED, onEnded);
  }, []);

  // Why the session's token could not be checked (no answer, a 503): the token is kept meanwhile.
  const [unreachable, setUnreachable] = useState<string | null>(null);

  /**
   * Who the session's token is. Only a 401 says the token is no longer accepted (apiError has then
   * dropped it and said why); a 503, a proxy's page or no network at all says nothing about it, and
   * dropping it on a reload signed the person out without a word: kept, with a way to try again.
   */
  const check = (fromProvider: boolean) =>
    api<Me>("GET", "/me").then(
      (signedIn) => (setUnreachable(null), setMe(signedIn)),
      (err: Error) => {
        if (!(err instanceof ApiError && err.status === 401)) setUnreachable(err.message);
        else if (fromProvider) setSignInError(err.message);
      },
    );

  useEffect(() => {
    // Back from a partner's identity provider: its ID token becomes this tab's token.
    finishSignIn()
      .then((idToken) => {
        if (idToken !== null) session.token = idToken;
        if (session.token === null) return;
        return check(idToken !== null);
      })
      .catch((err: Error) => setSignInError(err.message))
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <p aria-live="polite">Loading…</p>;
  if (me === null && unreachable !== null && session.token !== null) {
    return (
      <Unreachable
        message={unreachable}
        onRetry={() => (setChecking(true), void check(false).finally(() => setChecking(false)))}
        onSignOut={() => ((session.token = null), setUnreachable(null))}
      />
    );
  }
  if (me === null) {
    return (
      <SignIn
        onSignedIn={(signedIn) => (setEnded(null), setMe(signedIn))}
        partnerError={signInError}
        ended={signInError === null ? ended : null}
      />
    );
  }
  return <Shell me={me} onSignOut={() => ((session.token = null), setMe(null), navigate("/"))} />;
}

/** The session's token could not be checked: the server did not answer, or not as the API. */
function Unreachable({
  message,
  onRetry,
  onSignOut,
}: {
  message: string;
  onRetry: () => void;
  onSignOut: () => void;
}) {
  useEffect(() => {
    document.title = "Server not reached — Clearance";
  }, []);
  return (
    <main className="signin">
      <h1>Clearance console</h1>
      <div className="form-error" role="alert">
        The server could not be reached to check your session ({message}). You are still signed in in this
        tab: try again when the server is back.
      </div>
      <p className="row">
        <button type="button" onClick={onRetry}>
          Try again
        </button>
        <button type="button" className="secondary" onClick={onSignOut}>
          Sign out
        </button>
      </p>
    </main>
  );
}

function SignIn({
  onSignedIn,
  partnerError,
  ended,
}: {
  onSignedIn: (me: Me) => void;
  partnerError: string | null;
  ended: string | null;
}) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [providers, setProviders] = useState<SignInProvider[]>([]);
  const [oidcError, setOidcError] = useState<string | null>(partnerError);
  const field = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = "Sign in — Clearance";
    signInProviders().then(setProviders, () => setProviders([]));
  }, []);
  // A refused token is said by taking the focus to the field (its message describes it): the button,
  // disabled while the token was checked, had let the focus fall to the page, and nothing was heard.
  useEffect(() => {
    if (error !== null) field.current?.focus();
  }, [error]);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const me = await api<Me>("GET", "/me", undefined, token.trim());
      session.token = token.trim();
      onSignedIn(me);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? "This token is not valid, or it has been revoked."
          : (err as Error).message,
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="signin">
      <h1>Clearance console</h1>
      {ended !== null ? (
        <div className="form-error" role="alert">
          Your session has ended: the server no longer accepts its token ({ended}). Sign in again.
        </div>
      ) : null}
      <p>Sign in with your admin identity token (an administrator creates it; it starts with clra_).</p>
      <form onSubmit={submit} noValidate>
        <div className={error ? "field field-invalid" : "field"}>
          <label htmlFor="token">Identity token</label>
          <input
            ref={field}
            id="token"
            name="token"
            type="password"
            autoComplete="current-password"
            value={token}
            onChange={(e) => setToken(e.target.value)}
            aria-invalid={error !== null}
            aria-describedby={error ? "token-error" : undefined}
            required
          />
          {error ? (
            <p className="field-error" id="token-error">
              {error}
            </p>
          ) : null}
        </div>
        <button type="submit" disabled={busy || token.trim() === ""}>
          Sign in
        </button>
      </form>
      <p className="hint">The token is kept for this browser tab only and sent to this server alone.</p>
      {providers.length > 0 || oidcError !== null ? (
        <section aria-labelledby="partner-sign-in">
          <h2 id="partner-sign-in">Partners</h2>
          <p>
            People of a partner sign in with their organization&apos;s login, and see their partner&apos;s
            records.
          </p>
          {oidcError !== null ? (
            <div className="form-error" role="alert">
              {oidcError}
            </div>
          ) : null}
          <ul className="plain">
            {providers.map((p) => (
              <li key={p.id}>
                <button
                  type="button"
                  className="secondary"
                  onClick={() => startSignIn(p).catch((err: Error) => setOidcError(err.message))}
                >
                  Sign in with <Shown text={p.name} />
                </button>{" "}
                <span className="hint">
                  (<Shown text={p.partner} />)
                </span>
              </li>
            ))}
          </ul>
        </section>
      ) : null}
    </main>
  );
}

function Shell({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  const { path } = useLocation();
  const page = pageFor(path);
  const visible = PAGES.filter((p) => p.allowed(me));
  const allowed = page !== undefined && page.allowed(me);
  useEffect(() => {
    document.title = `${page?.title ?? "Not found"} — Clearance`;
  }, [page]);
  return (
    <div className="shell">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <span className="brand">Clearance</span>
        <span className="who">
          <Shown text={me.name} /> · {me.roles.join(", ")}
          {me.organization ? (
            <>
              {" "}
              · <Shown text={me.organization} />
            </>
          ) : null}
        </span>
        <button type="button" className="secondary" onClick={onSignOut}>
          Sign out
        </button>
      </header>
      <nav aria-label="Pages" className="sidebar">
        <ul>
          {visible.map((p) => (
            <li key={p.path}>
              <Link to={p.path} current={page?.path === p.path}>
                {p.title}
              </Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <InForceWarnings />
        {allowed ? (
          page.render(me)
        ) : (
          <section>
            <h1>{page === undefined ? "Not found" : "Not allowed"}</h1>
            <p>
              {page === undefined
                ? "There is no such page."
                : `Your roles (${me.roles.join(", ")}) do not allow this page.`}
            </p>
          </section>
        )}
      </main>
    </div>
  );
}

/** A small history router for the console's pages under /console/ (the server answers index.html). */
import { createContext, useContext, useEffect, useState, type MouseEvent, type ReactNode } from "react";

export const BASE = "/console";

interface Location {
  readonly path: string;
  readonly query: URLSearchParams;
}

const current = (): Location => {
  const path = window.location.pathname.startsWith(BASE)
    ? window.location.pathname.slice(BASE.length) || "/"
    : "/";
  return { path, query: new URLSearchParams(window.location.search) };
};

const RouterContext = createContext<Location>(current());

/** To `to` (a path under BASE, with its query); `replace`: in place of the current entry of the history. */
export function navigate(to: string, { replace = false }: { replace?: boolean } = {}): void {
  if (replace) window.history.replaceState(null, "", `${BASE}${to}`);
  else window.history.pushState(null, "", `${BASE}${to}`);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function Router({ children }: { children: ReactNode }) {
  const [location, setLocation] = useState(current);
  useEffect(() => {
    const update = () => setLocation(current());
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return <RouterContext.Provider value={location}>{children}</RouterContext.Provider>;
}

export const useLocation = (): Location => useContext(RouterContext);

export function Link({
  to,
  children,
  className,
  current: isCurrent,
}: {
  to: string;
  children: ReactNode;
  className?: string;
  current?: boolean;
}) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return (
    <a
      href={`${BASE}${to}`}
      onClick={onClick}
      className={className}
      aria-current={isCurrent ? "page" : undefined}
    >
      {children}
    </a>
  );
}

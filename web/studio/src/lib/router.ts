// A small router over the History API: the studio's pages live under
// /studio/ and the server answers every such path with index.html.
import { useEffect, useSyncExternalStore } from "react";

export const base = "/studio";

function subscribe(cb: () => void): () => void {
  window.addEventListener("popstate", cb);
  window.addEventListener("mlw:navigate", cb);
  return () => {
    window.removeEventListener("popstate", cb);
    window.removeEventListener("mlw:navigate", cb);
  };
}

function snapshot(): string {
  return location.pathname + location.search;
}

// useLocation returns the path within the studio ("/compute") and query.
export function useLocation(): { path: string; query: URLSearchParams } {
  const s = useSyncExternalStore(subscribe, snapshot, snapshot);
  const u = new URL(s, "http://x");
  let path = u.pathname.startsWith(base) ? u.pathname.slice(base.length) : u.pathname;
  if (path === "") path = "/";
  return { path: decodeURI(path), query: u.searchParams };
}

export function href(path: string): string {
  return base + (path.startsWith("/") ? path : "/" + path);
}

export function navigate(path: string, replace = false): void {
  const url = href(path);
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
  window.dispatchEvent(new Event("mlw:navigate"));
}

// match tests a pattern like "/ws/:sub/:rg/:ws/*" against a path.
export function match(pattern: string, path: string): Record<string, string> | null {
  const ps = pattern.split("/").filter(Boolean);
  const xs = path.split("/").filter(Boolean);
  const out: Record<string, string> = {};
  for (let i = 0; i < ps.length; i++) {
    if (ps[i] === "*") {
      out["*"] = xs.slice(i).join("/");
      return out;
    }
    if (i >= xs.length) return null;
    if (ps[i].startsWith(":")) out[ps[i].slice(1)] = xs[i];
    else if (ps[i].toLowerCase() !== xs[i].toLowerCase()) return null;
  }
  return xs.length === ps.length ? out : null;
}

export function useTitle(title: string): void {
  useEffect(() => {
    document.title = title ? `${title} · mlw studio` : "mlw studio";
  }, [title]);
}

// A tiny History-API router: hash-free routes under /ui/...; the server answers
// every non-API GET with index.html, so deep links and reloads work.
import type { AnchorHTMLAttributes, ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set<() => void>();
let navigated = false;

function notify() {
  navigated = true;
  listeners.forEach((f) => f());
}

export function navigate(to: string, replace = false) {
  if (to === location.pathname + location.search) return;
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  notify();
  if (!replace) window.scrollTo(0, 0);
}

/** Changes the query string without a new history entry or a re-route. */
export function replaceQuery(q: Record<string, string | undefined>) {
  const p = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(q)) v ? p.set(k, v) : p.delete(k);
  const s = p.toString();
  history.replaceState(null, '', location.pathname + (s ? `?${s}` : ''));
}

window.addEventListener('popstate', notify);

/** True once the user moved between pages (so a new page may take the focus). */
export const hasNavigated = () => navigated;

export function useLocation(): string {
  const [, force] = useState(0);
  useEffect(() => {
    const f = () => force((n) => n + 1);
    listeners.add(f);
    return () => {
      listeners.delete(f);
    };
  }, []);
  return location.pathname;
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren };

/** A real <a href> that navigates in-app on a plain left click. */
export function Link({ href, onClick, ...rest }: LinkProps) {
  return (
    <a
      href={href}
      onClick={(e) => {
        if (onClick) (onClick as (ev: MouseEvent) => void)(e);
        if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
        e.preventDefault();
        navigate(href);
      }}
      {...rest}
    />
  );
}

const enc = encodeURIComponent;
export const paths = {
  home: '/ui',
  login: '/ui/login',
  workers: '/ui/workers',
  designer: '/ui/designer',
  reports: '/ui/reports',
  admin: '/ui/admin',
  datasets: (p: string) => `/ui/projects/${enc(p)}/datasets`,
  newStudy: (p: string, from?: string) => `/ui/projects/${enc(p)}/new${from ? `?from=${enc(from)}` : ''}`,
  project: (p: string) => `/ui/projects/${enc(p)}`,
  study: (p: string, s: string) => `/ui/projects/${enc(p)}/studies/${enc(s)}`,
  explore: (p: string, s: string) => `/ui/projects/${enc(p)}/studies/${enc(s)}/explore`,
  run: (id: string) => `/ui/runs/${enc(id)}`,
};

export type Route =
  | { page: 'login' }
  | { page: 'projects' }
  | { page: 'workers' }
  | { page: 'designer' }
  | { page: 'reports' }
  | { page: 'admin' }
  | { page: 'datasets'; project: string }
  | { page: 'new'; project: string }
  | { page: 'project'; project: string }
  | { page: 'study'; project: string; study: string }
  | { page: 'explore'; project: string; study: string }
  | { page: 'run'; id: string }
  | { page: 'notfound' };

export function parseRoute(pathname: string): Route {
  const parts = pathname.replace(/\/+$/, '').split('/').slice(1);
  let dec: string[];
  try {
    dec = parts.map(decodeURIComponent);
  } catch {
    return { page: 'notfound' };
  }
  if (dec.length === 0 || (dec.length === 1 && (dec[0] === '' || dec[0] === 'ui'))) return { page: 'projects' };
  if (dec[0] !== 'ui') return { page: 'notfound' };
  const r = dec.slice(1);
  if (r.length === 1 && r[0] === 'login') return { page: 'login' };
  if (r.length === 1 && (r[0] === 'projects')) return { page: 'projects' };
  if (r.length === 1 && r[0] === 'workers') return { page: 'workers' };
  if (r.length === 1 && r[0] === 'designer') return { page: 'designer' };
  if (r.length === 1 && r[0] === 'reports') return { page: 'reports' };
  if (r.length === 1 && r[0] === 'admin') return { page: 'admin' };
  if (r.length === 3 && r[0] === 'projects' && r[2] === 'datasets') return { page: 'datasets', project: r[1] };
  if (r.length === 3 && r[0] === 'projects' && r[2] === 'new') return { page: 'new', project: r[1] };
  if (r.length === 2 && r[0] === 'projects') return { page: 'project', project: r[1] };
  if (r.length === 4 && r[0] === 'projects' && r[2] === 'studies') return { page: 'study', project: r[1], study: r[3] };
  if (r.length === 5 && r[0] === 'projects' && r[2] === 'studies' && r[4] === 'explore') return { page: 'explore', project: r[1], study: r[3] };
  if (r.length === 2 && r[0] === 'runs') return { page: 'run', id: r[1] };
  return { page: 'notfound' };
}

import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import { ApiError } from './api';
import { fmtAgo, pct } from './format';
import { hasNavigated, Link } from './router';
import { useNow, useTitle } from './hooks';

/** The page's <h1>; takes the focus after an in-app navigation so screen readers announce the page. */
export function PageTitle({ title, children }: { title: string; children?: ComponentChildren }) {
  useTitle(title);
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (hasNavigated()) ref.current?.focus();
  }, [title]);
  return (
    <h1 ref={ref} tabIndex={-1}>
      {children ?? title}
    </h1>
  );
}

export function Breadcrumbs({ items }: { items: { label: string; href?: string }[] }) {
  return (
    <nav aria-label="Breadcrumb" class="crumbs">
      <ol>
        {items.map((it, i) => (
          <li key={i}>{it.href ? <Link href={it.href}>{it.label}</Link> : <span aria-current="page">{it.label}</span>}</li>
        ))}
      </ol>
    </nav>
  );
}

export function ErrorBox({ error, title }: { error: ApiError; title?: string }) {
  return (
    <div class="error" role="alert" data-testid="error">
      <strong>{title ?? 'Error'}:</strong> {error.message}
      {error.hint && <p class="hint">{error.hint}</p>}
    </div>
  );
}

export function Loading({ what }: { what?: string }) {
  return (
    <p class="loading" role="status">
      Loading{what ? ` ${what}` : ''}…
    </p>
  );
}

/** "updated 3s ago", refreshed every second; flags a failing refresh. */
export function Updated({ at, error, live }: { at: number | undefined; error?: ApiError; live: boolean }) {
  const now = useNow(1000);
  return (
    <p class="updated" data-testid="updated">
      {at === undefined ? 'not loaded yet' : `updated ${fmtAgo(now - at)}`}
      {live ? ' · live' : ''}
      {error && at !== undefined && <span class="warn"> · refresh failed: {error.message}</span>}
    </p>
  );
}

export function StateBadge({ state }: { state: string }) {
  return <span class={`badge s-${state}`}>{state.replace('_', ' ')}</span>;
}

export interface Segment {
  value: number;
  cls: string;
  label: string;
}

/** A progress bar of stacked segments out of `total`, exposed as one progressbar. */
export function Progress({ total, segments, testid }: { total: number; segments: Segment[]; testid?: string }) {
  const done = segments.reduce((a, s) => a + s.value, 0);
  const p = pct(done, total);
  const text = `${done} of ${total} (${Math.floor(p)}%)`;
  return (
    <div class="progress" data-testid={testid}>
      <div class="bar" role="progressbar" aria-valuemin={0} aria-valuemax={total} aria-valuenow={done} aria-valuetext={text} title={segments.map((s) => `${s.label}: ${s.value}`).join(', ')}>
        {segments.map((s) => (s.value > 0 ? <span key={s.cls} class={s.cls} style={{ width: `${pct(s.value, total)}%` }} /> : null))}
      </div>
      <span class="pct">{Math.floor(p)}%</span>
    </div>
  );
}

export function Empty({ children, testid }: { children: ComponentChildren; testid?: string }) {
  return (
    <div class="empty" data-testid={testid ?? 'empty'}>
      {children}
    </div>
  );
}

/** Reports older than this (their oldest unreflected change, or never built) get a stale warning. */
export const STALE_AFTER_S = 15 * 60;

/** Milliseconds since an RFC 3339 / PostgreSQL timestamp, or undefined. */
function ageMs(t: string | null | undefined, now: number): number | undefined {
  if (!t) return undefined;
  const d = new Date(t.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00')).getTime();
  return Number.isNaN(d) ? undefined : Math.max(0, now - d);
}

/**
 * Freshness of a reporting table: "updated 3 min ago" from `last_updated`, and a
 * stale warning when the ETL never ran or the oldest change it has not taken in
 * yet (`lag_s`, measured by the server) is older than STALE_AFTER_S.
 */
export function Freshness({ lastUpdated, lagS, loadedAt, testid = 'freshness' }: { lastUpdated: string | null | undefined; lagS: number; loadedAt?: number; testid?: string }) {
  const now = useNow(5000);
  const age = ageMs(lastUpdated, now);
  // lag_s was measured when the answer came; it grows while the page stays open (unless it was 0).
  const lag = lagS > 0 && loadedAt ? lagS + (now - loadedAt) / 1000 : lagS;
  const never = !lastUpdated;
  const stale = never || lag > STALE_AFTER_S;
  return (
    <p class={`freshness${stale ? ' stale' : ''}`} data-testid={testid} data-stale={stale ? 'true' : 'false'} title={lastUpdated ?? undefined}>
      {never ? (
        <span class="warn">Not built yet — the ETL has not run.</span>
      ) : (
        <>
          Report data updated {age === undefined ? lastUpdated : fmtAgo(age)}
          {stale ? (
            <span class="warn"> · stale: changes from {fmtAgo(lag * 1000).replace(' ago', '')} ago are not in it yet</span>
          ) : lag > 0 ? (
            <span class="muted"> · newer changes pending ({fmtAgo(lag * 1000).replace(' ago', '')})</span>
          ) : null}
        </>
      )}
    </p>
  );
}

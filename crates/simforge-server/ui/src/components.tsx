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

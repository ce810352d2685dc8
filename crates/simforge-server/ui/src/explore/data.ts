// Results explorer: API calls, the `where` filter, and small numeric helpers.
// The filter itself and the runs/columns calls are in ../where.ts (shared with the study page).
import { API, get, type Run, withQuery } from '../api';
import { useEffect, useState } from 'preact/hooks';
import { exploreColumns, exploreRuns, type Objective, studyBase } from '../where';

export { type Fetched, useFetch } from '../hooks';
export { cell, type Column, type Columns, type Cond, condProblem, formatWhere, type Objective, type Op, opLabel, OPS, parseWhere, type RunsPage, short } from '../where';

export interface ConvergencePoint {
  index: number;
  run_id: string;
  value: number | null;
  feasible: boolean;
  best: number | null;
  /** The point's runs are not all final yet. */
  pending?: boolean;
  params: Record<string, unknown>;
}
export interface Convergence extends Objective {
  study: string;
  /** Design points in all; beyond 5,000 the server thins `points` (keeping every improvement). */
  total?: number;
  points: ConvergencePoint[];
  best: { index: number; run_id: string; value: number; params: Record<string, unknown> } | null;
}
export interface Sensitivity {
  study: string;
  metric: string;
  method: 'sobol' | 'morris' | 'rank';
  samples: number;
  dropped: number;
  note: string | null;
  measures: { key: string; label: string }[];
  inputs: { name: string; values: Record<string, { value: number | null; conf: number | null } | undefined> }[];
}
export interface Sample {
  study: string;
  matching: number;
  sampled: number;
  rows: Run[];
}
export interface Bin {
  lo: number;
  hi: number;
  count: number;
}
export interface Histogram {
  study: string;
  col: string;
  min: number | null;
  max: number | null;
  bins: Bin[];
  missing: number;
  matching: number;
}

const base = studyBase;

export const explore = {
  columns: exploreColumns,
  sample: (p: string, s: string, n: number, where: string, signal?: AbortSignal) =>
    get<Sample>(withQuery(`${base(p, s)}/explore/sample`, { n, where }), signal),
  histogram: (p: string, s: string, col: string, bins: number, where: string, signal?: AbortSignal) =>
    get<Histogram>(withQuery(`${base(p, s)}/explore/histogram`, { col, bins, where }), signal),
  runs: exploreRuns,
  convergence: (p: string, s: string, signal?: AbortSignal) => get<Convergence>(`${base(p, s)}/explore/convergence`, signal),
  sensitivity: (p: string, s: string, metric: string, surrogate: boolean, signal?: AbortSignal) =>
    get<Sensitivity>(withQuery(`${base(p, s)}/explore/sensitivity`, { metric, surrogate: surrogate ? 'true' : undefined }), signal),
  resultsUrl: (p: string, s: string, format: 'csv' | 'parquet', where: string) => API + withQuery(`${base(p, s)}/results`, { format, where }),
};

export const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : typeof v === 'boolean' ? Number(v) : null);

export function extent(vals: (number | null)[]): [number, number] | null {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of vals)
    if (v !== null) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  return lo <= hi ? [lo, hi] : null;
}

/** Round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(12)));
  return out;
}

/** A linear map from [d0, d1] to [r0, r1]; a degenerate domain maps to the middle. */
export function linear(d0: number, d1: number, r0: number, r1: number) {
  const f = (v: number) => (d1 === d0 ? (r0 + r1) / 2 : r0 + ((v - d0) / (d1 - d0)) * (r1 - r0));
  f.invert = (p: number) => (r1 === r0 ? d0 : d0 + ((p - r0) / (r1 - r0)) * (d1 - d0));
  return f;
}

/** Pads an extent a little so points do not sit on the frame. */
export function pad([lo, hi]: [number, number], f = 0.04): [number, number] {
  const d = hi - lo || Math.abs(lo) || 1;
  return [lo - d * f, hi + d * f];
}

// Viridis-like stops (readable on light and dark backgrounds).
const SEQ = ['#440154', '#3b528b', '#21918c', '#5ec962', '#fde725'];
export function seqColor(t: number): string {
  const x = Math.min(1, Math.max(0, t)) * (SEQ.length - 1);
  const i = Math.min(SEQ.length - 2, Math.floor(x));
  const f = x - i;
  const a = SEQ[i];
  const b = SEQ[i + 1];
  const ch = (k: number) => Math.round(parseInt(a.slice(k, k + 2), 16) * (1 - f) + parseInt(b.slice(k, k + 2), 16) * f);
  return `#${[1, 3, 5].map((k) => ch(k).toString(16).padStart(2, '0')).join('')}`;
}
export const SEQ_STOPS = SEQ;
/** Okabe–Ito / Tableau-like categorical palette; the 11th and later categories share "other". */
export const CATS = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
export const OTHER = '#9aa0a6';
export const DEFAULT_DOT = '#1f5fbf';

export const fmtInt = (n: number) => n.toLocaleString('en-US');

/** `value`, changed only after it stayed the same for `ms`. */
export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    if (v === value) return;
    const id = window.setTimeout(() => setV(value), ms);
    return () => window.clearTimeout(id);
  }, [value, ms]);
  return v;
}

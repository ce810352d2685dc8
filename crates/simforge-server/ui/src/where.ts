// The explorer's `where` filter and its column list, shared by the study page's
// runs table (main bundle) and the results explorer (its own chunk): kept small
// so the study page does not pull in the explorer's plotting helpers.
import { get, type Run, withQuery } from './api';

export interface Column {
  name: string; // `param.x1` | `metric.y`
  kind: 'param' | 'metric';
  type: 'number' | 'text';
  count: number;
  min: number | null;
  max: number | null;
  values: { first: string[]; more: boolean } | null;
}
export interface Objective {
  metric: string;
  maximize: boolean;
  constraints: string[];
}
export interface Columns {
  study: string;
  runs: { total: number; succeeded: number };
  columns: Column[];
  /** The study's objective (an `objective:` section), or null. */
  objective?: Objective | null;
  design?: string;
  /** The sensitivity method the study's design allows, or null (fewer than two sampled parameters, no succeeded runs). */
  sensitivity?: 'sobol' | 'morris' | 'rank' | null;
}
export interface RunsPage {
  study: string;
  total: number;
  offset: number;
  runs: Run[];
}
export type RunsQuery = {
  sort: string;
  order: 'asc' | 'desc';
  state: string;
  where: string;
  offset: number;
  limit: number;
};

const seg = encodeURIComponent;
export const studyBase = (p: string, s: string) => `/projects/${seg(p)}/studies/${seg(s)}`;

/** `explore/columns`: the study's parameters and metrics with their types. */
export const exploreColumns = (p: string, s: string, signal?: AbortSignal) => get<Columns>(`${studyBase(p, s)}/explore/columns`, signal);
/** `explore/runs`: one page of the runs matching `where` (and `state`), sorted on the server. */
export const exploreRuns = (p: string, s: string, q: RunsQuery, signal?: AbortSignal) => get<RunsPage>(withQuery(`${studyBase(p, s)}/explore/runs`, q), signal);

export const OPS = [
  { op: 'gte', label: '≥' },
  { op: 'gt', label: '>' },
  { op: 'lte', label: '≤' },
  { op: 'lt', label: '<' },
  { op: 'eq', label: '=' },
  { op: 'ne', label: '≠' },
] as const;
export type Op = (typeof OPS)[number]['op'];
export interface Cond {
  col: string;
  op: Op;
  value: string;
}
export const opLabel = (op: Op) => OPS.find((o) => o.op === op)?.label ?? op;

/** `param.x1:gte:2,metric.y:lt:10` (commas separate conditions, so values cannot hold one). */
export const formatWhere = (conds: Cond[]) => conds.map((c) => `${c.col}:${c.op}:${c.value}`).join(',');

export function parseWhere(text: string | null): Cond[] {
  if (!text) return [];
  const out: Cond[] = [];
  for (const clause of text.split(',')) {
    const m = clause.trim().match(/^((?:param|metric)\.[^:]+):(gte|gt|lte|lt|eq|ne):(.*)$/);
    if (m) out.push({ col: m[1], op: m[2] as Op, value: m[3] });
  }
  return out;
}

/** Why a condition cannot be sent, or null. */
export function condProblem(c: Cond, type: 'number' | 'text' | undefined): string | null {
  const v = c.value.trim();
  if (!v) return 'Enter a value.';
  if (v.includes(',')) return 'A value cannot contain a comma.';
  const num = Number.isFinite(Number(v));
  if (!num && !(c.op === 'eq' || c.op === 'ne')) return 'Orderings (<, ≤, >, ≥) compare numbers.';
  if (!num && type === 'number') return 'This column holds numbers.';
  return null;
}

/** `param.x1` -> `x1`. */
export const short = (col: string) => col.replace(/^(param|metric)\./, '');
/** A run's value in a column (`param.NAME`, `metric.NAME`, `duration`, `index`). */
export function cell(r: Run, col: string): unknown {
  if (col.startsWith('param.')) return r.params?.[col.slice(6)];
  if (col.startsWith('metric.')) return r.metrics?.[col.slice(7)];
  if (col === 'duration') return r.duration_s;
  if (col === 'index') return r.index;
  return undefined;
}

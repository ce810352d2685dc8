// Studies the designer writes for the server: a sweep of one component property
// (a grid over listed values) and a "find the cheapest design" optimisation
// (Bayesian optimisation run by the server, objective cost_per_hour under a p99
// constraint). Both run the builtin `sysdesign` simulator on the current topology,
// sent along as `system.yaml`. Parameter names are `components.NAME.PATH`.
import type { Design } from './model';
import { FIELDS, getPath } from './fields';

export interface NumProp {
  comp: string;
  /** Path inside the component: ['replicas'], ['arrivals', 'rate'], ['service_time', 'mean']. */
  path: string[];
  /** `components.<comp>.<path>`: the study parameter. */
  param: string;
  label: string;
  int: boolean;
  min?: number;
  max?: number;
  /** The value in the design now (undefined when unset). */
  value: number | undefined;
}

/** Every numeric property the side panel knows, per component (durations by their mean, or their value when fixed). */
export function numericProps(d: Design): NumProp[] {
  const out: NumProp[] = [];
  for (const c of d.components) {
    for (const f of FIELDS[c.type] ?? []) {
      if (f.kind === 'number') {
        const v = getPath(c.props, f.path);
        out.push({ comp: c.name, path: f.path, param: `components.${c.name}.${f.path.join('.')}`, label: f.label, int: !!f.int, min: f.min, max: f.max, value: typeof v === 'number' ? v : undefined });
      } else if (f.kind === 'dist') {
        const v = getPath(c.props, f.path);
        if (typeof v === 'number') out.push({ comp: c.name, path: f.path, param: `components.${c.name}.${f.path.join('.')}`, label: f.label, int: false, min: 0, value: v });
        else if (v && typeof v === 'object' && typeof (v as Record<string, unknown>).mean === 'number') {
          const path = [...f.path, 'mean'];
          out.push({ comp: c.name, path, param: `components.${c.name}.${path.join('.')}`, label: `${f.label.replace(/ \(ms\)$/, '')} mean (ms)`, int: false, min: 0, value: (v as Record<string, number>).mean });
        }
      }
    }
  }
  return out;
}

const round = (v: number) => Number(v.toPrecision(6));

/** `steps` values evenly spaced from `from` to `to` (rounded and deduplicated for integers). */
export function sweepValues(from: number, to: number, steps: number, int: boolean): number[] {
  const n = Math.max(1, Math.floor(steps));
  const raw = n === 1 ? [from] : Array.from({ length: n }, (_, i) => from + ((to - from) * i) / (n - 1));
  const vals = raw.map((v) => (int ? Math.round(v) : round(v)));
  return [...new Set(vals)];
}

/** What is wrong with a range, or null. */
export function rangeProblem(p: NumProp | undefined, lo: number, hi: number, steps?: number): string | null {
  if (!p) return 'Choose a property.';
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return 'Enter both ends of the range as numbers.';
  if (p.int && (!Number.isInteger(lo) || !Number.isInteger(hi))) return `${p.label} takes whole numbers.`;
  if (p.min !== undefined && Math.min(lo, hi) < p.min) return `${p.label} is at least ${p.min}.`;
  if (p.max !== undefined && Math.max(lo, hi) > p.max) return `${p.label} is at most ${p.max}.`;
  if (steps !== undefined && (!Number.isInteger(steps) || steps < 1 || steps > 200)) return 'Steps is a whole number from 1 to 200.';
  return null;
}

/** Local time as yyyymmdd-hhmmss. */
export function stamp(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** A study name: only [A-Za-z0-9._-] (others become '-'), at most 100 characters, the time stamp kept. */
export function studyName(prefix: string, ts = stamp()): string {
  const safe = `${prefix}`.replace(/[^A-Za-z0-9._-]/g, '-');
  return `${safe.slice(0, 100 - ts.length - 1)}-${ts}`;
}

/** A YAML key: plain when safe, else a double-quoted (JSON) string. */
const key = (k: string) => (/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(k) ? k : JSON.stringify(k));
const num = (v: number) => String(v);

const HEAD = (name: string) => [`name: ${name}`, 'simulator: {builtin: sysdesign, options: {topology: system.yaml}}'];
const TAIL = 'resources: {cpus: 1, time: 5m}';

export function sweepYaml(name: string, p: NumProp, values: number[]): string {
  return [
    ...HEAD(name),
    'parameters:',
    `  ${key(p.param)}: {values: [${values.map(num).join(', ')}]}`,
    'design: {sampler: grid}',
    'metrics: [latency_p99, cost_per_hour, throughput, bottleneck]',
    TAIL,
    '',
  ].join('\n');
}

export interface Dim {
  p: NumProp;
  lo: number;
  hi: number;
}

export function optimizeYaml(name: string, dims: Dim[], p99Limit: number, budget: number): string {
  return [
    ...HEAD(name),
    'parameters:',
    ...dims.map((d) => `  ${key(d.p.param)}: {range: [${num(Math.min(d.lo, d.hi))}, ${num(Math.max(d.lo, d.hi))}]${d.p.int ? ', type: integer' : ''}}`),
    `design: {sampler: lhs, samples: ${Math.max(4, 2 * dims.length)}, seed: 1}`,
    'metrics: [cost_per_hour, latency_p99, throughput, bottleneck]',
    'objective:',
    '  minimize: cost_per_hour',
    `  constraints: ["latency_p99 <= ${num(p99Limit)}"]`,
    `optimize: {budget: ${budget}, batch: 2, patience: 6}`,
    TAIL,
    '',
  ].join('\n');
}

/** A value's text for people: integers as they are, reals to 4 significant digits. */
export const show = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))) : v === null || v === undefined ? '—' : String(v));

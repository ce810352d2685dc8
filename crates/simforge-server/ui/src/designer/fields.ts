// The properties the side panel edits, per component type (docs/sysdesign.md).
// Others stay in the file untouched and are listed as "other properties".

export type Field =
  | { kind: 'number'; key: string; path: string[]; label: string; min?: number; max?: number; step?: number; int?: boolean; help?: string }
  | { kind: 'select'; key: string; path: string[]; label: string; options: string[]; def: string }
  | { kind: 'dist'; key: string; path: string[]; label: string }
  | { kind: 'text'; key: string; path: string[]; label: string };

const num = (key: string, label: string, o: Partial<Extract<Field, { kind: 'number' }>> = {}): Field => ({ kind: 'number', key, path: [key], label, ...o });
const dist = (key: string, label: string): Field => ({ kind: 'dist', key, path: [key], label });
const cost = num('cost_per_hour', 'Cost per hour', { min: 0, step: 0.01, help: 'per replica' });
const timeout = num('timeout', 'Timeout (ms)', { min: 0, help: 'empty: none' });
const qcap = num('queue_capacity', 'Queue capacity', { min: 0, int: true, help: 'per replica; empty: unbounded' });
const replicas = num('replicas', 'Replicas', { min: 1, int: true });
const desc: Field = { kind: 'text', key: 'description', path: ['description'], label: 'Description' };

export const FIELDS: Record<string, Field[]> = {
  source: [
    { kind: 'select', key: 'process', path: ['arrivals', 'process'], label: 'Arrivals', options: ['poisson', 'constant'], def: 'poisson' },
    { kind: 'number', key: 'rate', path: ['arrivals', 'rate'], label: 'Rate (requests/s)', min: 0, step: 1 },
    desc,
  ],
  load_balancer: [
    { kind: 'select', key: 'policy', path: ['policy'], label: 'Policy', options: ['round_robin', 'least_outstanding', 'random'], def: 'round_robin' },
    dist('time', 'Balancer time (ms)'),
    timeout,
    cost,
    desc,
  ],
  service: [replicas, num('concurrency', 'Concurrency (threads per replica)', { min: 1, int: true }), dist('service_time', 'Service time (ms)'), qcap, timeout, cost, desc],
  cache: [num('hit_ratio', 'Hit ratio', { min: 0, max: 1, step: 0.01 }), dist('hit_time', 'Hit time (ms)'), dist('miss_time', 'Miss time (ms)'), replicas, timeout, cost, desc],
  database: [replicas, num('pool', 'Pool (connections per replica)', { min: 1, int: true }), dist('query_time', 'Query time (ms)'), qcap, timeout, cost, desc],
  topic: [
    num('partitions', 'Partitions', { min: 1, int: true }),
    num('group_size', 'Consumers in the group', { min: 1, int: true }),
    num('retention', 'Retention (messages per partition)', { min: 1, int: true }),
    dist('publish_time', 'Publish time (ms)'),
    { ...cost, help: 'per partition' } as Field,
    desc,
  ],
  stream_processor: [dist('process_time', 'Process time (ms)'), { ...cost, help: 'per consumer' } as Field, desc],
  sink: [desc],
};

/** Keys the panel knows per type (edited as fields, or edges drawn on the canvas). */
export const EDGE_KEYS = ['to', 'mix', 'targets', 'calls', 'calls_by_class', 'next', 'miss', 'consumer'];

export function getPath(o: unknown, path: string[]): unknown {
  let v = o;
  for (const k of path) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** A copy of `o` with `path` set to `v` (undefined deletes it, and an emptied parent). */
export function setPath(o: Record<string, unknown>, path: string[], v: unknown): Record<string, unknown> {
  const [k, ...rest] = path;
  const out = { ...o };
  if (rest.length === 0) {
    if (v === undefined) delete out[k];
    else out[k] = v;
    return out;
  }
  const child = out[k];
  const next = setPath(typeof child === 'object' && child !== null && !Array.isArray(child) ? (child as Record<string, unknown>) : {}, rest, v);
  if (Object.keys(next).length === 0) delete out[k];
  else out[k] = next;
  return out;
}

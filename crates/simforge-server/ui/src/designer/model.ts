// The system designer's model: a topology file (docs/sysdesign.md) as plain
// data, the edges its properties imply, and edits that keep it valid YAML for
// the sysdesign parser. Unknown properties of a component are kept as they are.
import { Document, isMap, isSeq, isScalar, parse, visit } from 'yaml';

export const TYPES = ['source', 'load_balancer', 'service', 'cache', 'database', 'topic', 'stream_processor', 'sink'] as const;
export type CompType = (typeof TYPES)[number];

export const TYPE_LABEL: Record<CompType, string> = {
  source: 'Source',
  load_balancer: 'Load balancer',
  service: 'Service',
  cache: 'Cache',
  database: 'Database',
  topic: 'Topic',
  stream_processor: 'Stream processor',
  sink: 'Sink',
};

export type Props = Record<string, unknown>;

export interface Component {
  name: string;
  type: string;
  /** Every property but `type`, in file order (unknown ones included). */
  props: Props;
}

export interface Design {
  /** Top-level keys other than `components` (name, horizon, warmup, replications, network, …). */
  globals: Props;
  components: Component[];
}

export interface Edge {
  from: string;
  to: string;
  /** The property that names the edge: `to`, `mix`, `targets`, `calls`, `calls_by_class`, `next`, `miss`, `consumer`. */
  via: string;
}

/** Properties a new component starts with: the required ones, with plausible values. */
export function defaults(type: CompType): Props {
  switch (type) {
    case 'source':
      return { arrivals: { process: 'poisson', rate: 100 } };
    case 'load_balancer':
      return { policy: 'round_robin', targets: [] };
    case 'service':
      return { replicas: 2, concurrency: 4, service_time: { dist: 'exponential', mean: 10 }, cost_per_hour: 0.1 };
    case 'cache':
      return { hit_ratio: 0.8, hit_time: { dist: 'exponential', mean: 0.5 }, cost_per_hour: 0.1 };
    case 'database':
      return { pool: 10, query_time: { dist: 'exponential', mean: 5 }, cost_per_hour: 1 };
    case 'topic':
      return { partitions: 3, group_size: 1 };
    case 'stream_processor':
      return { process_time: { dist: 'exponential', mean: 5 }, cost_per_hour: 0.05 };
    case 'sink':
      return {};
  }
}

export const emptyDesign = (): Design => ({ globals: { name: 'my-system', horizon: 60000, warmup: 5000, replications: 5 }, components: [] });

const isObj = (v: unknown): v is Props => typeof v === 'object' && v !== null && !Array.isArray(v);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : typeof v === 'string' ? [v] : []);

/** The component names a list of call steps names (`a` or `{parallel: [a, b]}`). */
function stepNames(steps: unknown): string[] {
  if (!Array.isArray(steps)) return [];
  const out: string[] = [];
  for (const s of steps) {
    if (typeof s === 'string') out.push(s);
    else if (isObj(s)) out.push(...strs(s.parallel));
  }
  return out;
}

/** The edges a component's properties imply, each target once per property. */
export function edgesOf(c: Component): Edge[] {
  const p = c.props;
  const out: Edge[] = [];
  const add = (to: string, via: string) => {
    if (!out.some((e) => e.to === to && e.via === via)) out.push({ from: c.name, to, via });
  };
  if (typeof p.to === 'string') add(p.to, 'to');
  if (Array.isArray(p.mix)) for (const m of p.mix) if (isObj(m) && typeof m.to === 'string') add(m.to, 'mix');
  for (const t of strs(p.targets)) add(t, 'targets');
  for (const t of stepNames(p.calls)) add(t, 'calls');
  if (isObj(p.calls_by_class)) for (const v of Object.values(p.calls_by_class)) for (const t of stepNames(v)) add(t, 'calls_by_class');
  if (typeof p.next === 'string') add(p.next, 'next');
  else if (Array.isArray(p.next)) for (const n of p.next) if (isObj(n) && typeof n.to === 'string') add(n.to, 'next');
  if (typeof p.miss === 'string') add(p.miss, 'miss');
  if (typeof p.consumer === 'string') add(p.consumer, 'consumer');
  return out;
}

/** Every edge of the design, one per (from, to) pair. */
export function edges(d: Design): Edge[] {
  const seen = new Set<string>();
  const out: Edge[] = [];
  for (const c of d.components)
    for (const e of edgesOf(c)) {
      const k = `${e.from}\u0000${e.to}`;
      if (!seen.has(k)) {
        seen.add(k);
        out.push(e);
      }
    }
  return out;
}

const CALLEES = ['load_balancer', 'service', 'database', 'cache', 'topic', 'sink'];

/** Why `from` cannot be connected to `to`, or null when it can. */
export function cannotConnect(d: Design, from: string, to: string): string | null {
  const a = d.components.find((c) => c.name === from);
  const b = d.components.find((c) => c.name === to);
  if (!a || !b) return 'no such component';
  if (from === to) return 'a component cannot call itself';
  if (edges(d).some((e) => e.from === from && e.to === to)) return `${from} already sends to ${to}`;
  switch (a.type) {
    case 'sink':
      return 'a sink ends a path: it sends nothing on';
    case 'load_balancer':
      return ['service', 'database', 'cache'].includes(b.type) ? null : 'a load balancer spreads over services, databases or caches';
    case 'cache':
      return ['service', 'database', 'load_balancer'].includes(b.type) ? null : 'a cache sends its misses to a service, database or load balancer';
    case 'topic':
      return b.type === 'stream_processor' ? null : 'a topic is consumed by a stream processor';
    default:
      return CALLEES.includes(b.type) ? null : `a ${a.type.replace('_', ' ')} cannot send to a ${b.type.replace('_', ' ')}`;
  }
}

const clone = <T>(v: T): T => structuredClone(v);

function mapComp(d: Design, name: string, f: (c: Component) => Component): Design {
  return { ...d, components: d.components.map((c) => (c.name === name ? f(c) : c)) };
}

/** Adds the edge `from -> to` in the property its type uses for it. */
export function connect(d: Design, from: string, to: string): Design {
  const target = d.components.find((c) => c.name === to)!;
  return mapComp(d, from, (c) => {
    const p = clone(c.props);
    switch (c.type) {
      case 'source':
        if (Array.isArray(p.mix)) p.mix = [...p.mix, { class: to, weight: 1, to }];
        else if (typeof p.to === 'string') {
          // A second entry point: turn `to` into a mix of equal weights.
          p.mix = [
            { class: p.to, weight: 1, to: p.to },
            { class: to, weight: 1, to },
          ];
          delete p.to;
        } else p.to = to;
        break;
      case 'load_balancer':
        p.targets = [...strs(p.targets), to];
        break;
      case 'cache':
        p.miss = to;
        break;
      case 'topic':
        p.consumer = to;
        break;
      default:
        if (target.type === 'sink' || c.type === 'stream_processor' && target.type !== 'topic' && target.type !== 'database' && target.type !== 'cache') {
          // A hand-off: the request moves on once this component is done.
          if (p.next === undefined) p.next = to;
          else if (typeof p.next === 'string') p.next = [{ to: p.next, p: 0.5 }, { to, p: 0.5 }];
          else if (Array.isArray(p.next)) p.next = [...p.next, { to, p: 0 }];
        } else p.calls = [...(Array.isArray(p.calls) ? p.calls : []), to];
    }
    return { ...c, props: p };
  });
}

/** Removes `name` from one component's properties (every mention that makes an edge). */
function dropRefs(p: Props, name: string): Props {
  const q = clone(p);
  if (q.to === name) delete q.to;
  if (Array.isArray(q.mix)) {
    q.mix = q.mix.filter((m) => !(isObj(m) && m.to === name));
    if ((q.mix as unknown[]).length === 0) delete q.mix;
  }
  if (Array.isArray(q.targets)) q.targets = q.targets.filter((t) => t !== name);
  const steps = (s: unknown) =>
    Array.isArray(s)
      ? s
          .map((x) => (isObj(x) && Array.isArray(x.parallel) ? { ...x, parallel: x.parallel.filter((y) => y !== name) } : x))
          .filter((x) => x !== name && !(isObj(x) && Array.isArray(x.parallel) && x.parallel.length === 0))
      : s;
  if (Array.isArray(q.calls)) {
    q.calls = steps(q.calls);
    if ((q.calls as unknown[]).length === 0) delete q.calls;
  }
  if (isObj(q.calls_by_class)) {
    const m: Props = {};
    for (const [k, v] of Object.entries(q.calls_by_class)) m[k] = steps(v);
    q.calls_by_class = m;
  }
  if (q.next === name) delete q.next;
  else if (Array.isArray(q.next)) {
    q.next = q.next.filter((n) => !(isObj(n) && n.to === name));
    if ((q.next as unknown[]).length === 0) delete q.next;
  }
  if (q.miss === name) delete q.miss;
  if (q.consumer === name) delete q.consumer;
  return q;
}

export function disconnect(d: Design, from: string, to: string): Design {
  return mapComp(d, from, (c) => ({ ...c, props: dropRefs(c.props, to) }));
}

function dropNetworkEdges(g: Props, keep: (a: string, b: string) => string | null): Props {
  if (!isObj(g.network) || !isObj(g.network.edges)) return g;
  const es: Props = {};
  for (const [k, v] of Object.entries(g.network.edges)) {
    const [a, b] = k.split('->').map((s) => s.trim());
    const nk = keep(a, b);
    if (nk !== null) es[nk] = v;
  }
  return { ...g, network: { ...g.network, edges: es } };
}

export function remove(d: Design, name: string): Design {
  return {
    globals: dropNetworkEdges(d.globals, (a, b) => (a === name || b === name ? null : `${a}->${b}`)),
    components: d.components.filter((c) => c.name !== name).map((c) => ({ ...c, props: dropRefs(c.props, name) })),
  };
}

/** Renames a component and every mention of it (edges, network latencies). */
export function rename(d: Design, from: string, to: string): Design {
  const sub = (v: unknown, key?: string): unknown => {
    if (typeof v === 'string') return v === from && key !== 'class' && key !== 'description' ? to : v;
    if (Array.isArray(v)) return v.map((x) => sub(x, key));
    if (isObj(v)) {
      const o: Props = {};
      for (const [k, x] of Object.entries(v)) o[k] = ['arrivals', 'service_time', 'query_time', 'process_time', 'hit_time', 'miss_time', 'publish_time', 'time', 'retries', 'description', 'dist', 'policy', 'class'].includes(k) ? x : sub(x, k);
      return o;
    }
    return v;
  };
  const ren = (n: string) => (n === from ? to : n);
  return {
    globals: dropNetworkEdges(d.globals, (a, b) => `${ren(a)}->${ren(b)}`),
    components: d.components.map((c) => ({ name: ren(c.name), type: c.type, props: sub(c.props) as Props })),
  };
}

export function freeName(d: Design, base: string): string {
  const taken = new Set(d.components.map((c) => c.name));
  if (!taken.has(base)) return base;
  for (let i = 2; ; i++) if (!taken.has(`${base}${i}`)) return `${base}${i}`;
}

// --- YAML ----------------------------------------------------------------------

/** Reads a topology file; throws an Error naming what is wrong. */
export function fromYaml(text: string): Design {
  const v = parse(text);
  if (!isObj(v)) throw new Error('the topology file must be a mapping with `components`');
  const { components, ...globals } = v;
  if (components !== undefined && !isObj(components)) throw new Error('`components` must be a mapping of component name to component');
  const comps: Component[] = [];
  for (const [name, c] of Object.entries(components ?? {})) {
    if (!isObj(c)) throw new Error(`component \`${name}\` must be a mapping with a \`type\``);
    const { type, ...props } = c;
    comps.push({ name, type: typeof type === 'string' ? type : 'service', props });
  }
  return { globals, components: comps };
}

const ORDER = ['name', 'description', 'horizon', 'warmup', 'replications', 'network'];

/** Writes the topology file: nested small mappings and lists in flow style, as in the examples. */
export function toYaml(d: Design): string {
  const g: Props = {};
  for (const k of ORDER) if (d.globals[k] !== undefined) g[k] = d.globals[k];
  for (const [k, v] of Object.entries(d.globals)) if (!(k in g)) g[k] = v;
  const comps: Props = {};
  for (const c of d.components) comps[c.name] = { type: c.type, ...c.props };
  const doc = new Document({ ...g, components: comps });
  visit(doc, {
    Map(_, node, path) {
      // Depth below components.NAME: property values that hold only scalars go on one line.
      const depth = path.filter((p) => isMap(p) || isSeq(p)).length;
      if (depth >= 3 && node.items.every((it) => isScalar(it.value))) node.flow = true;
    },
    Seq(_, node) {
      if (node.items.every((it) => isScalar(it) || (isMap(it) && it.items.every((x) => isScalar(x.value))))) {
        if (node.items.every((it) => isScalar(it))) node.flow = true;
        else for (const it of node.items) if (isMap(it)) it.flow = true;
      }
    },
  });
  return doc.toString({ lineWidth: 0, flowCollectionPadding: false });
}

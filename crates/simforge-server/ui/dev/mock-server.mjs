#!/usr/bin/env node
// DEVELOPMENT AID ONLY: a fake simforge API with fixed, made-up data, to look at
// the dashboard without PostgreSQL or `simforge serve`. It is not the server,
// is not shipped, and its answers only imitate the shapes in ../../openapi.yaml.
//
//   npm run build && node dev/mock-server.mjs      # then open http://127.0.0.1:8787/
//   user `alice`, password `correct-horse` (any other pair gets a 401)
//
// Like the Rust server, it serves dist/index.html at / and any non-API GET path
// (SPA fallback) and dist/assets/* at /assets/*. Its only dependency is the UI's
// own `yaml` package (to read studies and topologies for the new POST endpoints).
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join, normalize, extname, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';

const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist');
const PORT = Number(process.env.PORT || 8787);
const START = Date.now();
const COOKIE = 'simforge_session';
const sessions = new Map(); // token -> user name
const LOCAL = process.env.MOCK_LOCAL === '1'; // imitate `simforge ui` on a local store: no sign-in

const TYPES = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8', '.svg': 'image/svg+xml' };

// --- made-up data -------------------------------------------------------------
const hex = (n, len = 16) => (n * 2654435761 + 0x9e3779b9).toString(16).padStart(len, '0').slice(-len);
const STUDIES = [
  { project: 'lab', name: 'cavity-sweep', owner: 'alice', queue: 'sysdesign', planned: 240, rate: 1.5, submitted: '2026-11-29 09:12:01.5+00' },
  { project: 'lab', name: 'mesh-convergence', owner: 'bob', queue: 'command:solver', planned: 36, rate: 0, fixedDone: 36, submitted: '2026-11-28 17:40:00+00' },
  { project: 'lab', name: 'long-job', owner: 'carol', queue: 'sysdesign', planned: 2, rate: 0, fixedDone: 0, submitted: '2026-11-29 07:00:00+00' },
  { project: 'lab', name: 'old-run', owner: 'alice', queue: 'sysdesign', planned: 20, rate: 0, fixedDone: 7, state: 'cancelled', submitted: '2026-11-20 08:00:00+00' },
];
const PROJECTS = [
  { name: 'lab', role: 'admin' },
  { name: 'empty-project', role: 'viewer' },
];

function runState(s, i) {
  const done = s.fixedDone ?? Math.min(s.planned, Math.floor(((Date.now() - START) / 1000) * s.rate) + 10);
  if (i < done) return i % 13 === 5 ? 'timed_out' : i % 7 === 3 ? 'failed' : 'succeeded';
  if (s.state === 'cancelled') return 'cancelled';
  if (i < done + 4) return 'running';
  return 'pending';
}
function runsOf(s) {
  if (s.sim) return s.sim.rows();
  const out = [];
  for (let idx = 0; idx < s.planned / 2; idx++)
    for (let rep = 0; rep < 2; rep++) {
      const i = idx * 2 + rep;
      const st = runState(s, i);
      const fin = ['succeeded', 'failed', 'timed_out', 'cancelled'].includes(st);
      out.push({
        id: hex(i + s.name.length * 1000, 16), study: `${s.project}/${s.name}`, index: idx, tag: null, replicate: rep, seed: 1000 + i,
        params: { length_m: 0.5 + idx * 0.01, mode: idx % 2 ? 'TE' : 'TM', mesh: 64 + idx },
        metrics: st === 'succeeded' ? { q_factor: 1234.5678 + idx * 3.3, f0_hz: 2.45e9 + idx * 1e6, ok: true } : {},
        state: st, attempts: st === 'failed' ? 2 : st === 'pending' ? 0 : 1,
        reason: st === 'failed' ? 'exit code 3: solver diverged' : st === 'timed_out' ? 'timed out after 600 s' : null,
        started_at: st === 'pending' ? null : '2026-11-29 09:15:00+00', finished_at: fin && st !== 'cancelled' ? '2026-11-29 09:16:12.25+00' : null,
        duration_s: fin && st !== 'cancelled' ? 72.25 + (i % 9) : null, host: st === 'pending' ? null : `node-${(i % 3) + 1}`, spec_hash: 'ab12cd34',
      });
    }
  return out;
}
function counts(s) {
  if (s.virtual) return { ...s.virtual.counts };
  const c = {};
  for (const r of runsOf(s)) c[r.state] = (c[r.state] || 0) + 1;
  return c;
}
function summary(s) {
  const c = counts(s);
  return { key: `${s.project}/${s.name}`, project: s.project, name: s.name, owner: s.owner, queue: s.queue, state: s.state || 'active', spec_hash: 'ab12cd34', submitted_at: s.submitted, planned: s.planned, succeeded: c.succeeded || 0, failed: (c.failed || 0) + (c.timed_out || 0) };
}
function findRun(id) {
  const v = findVirtual(id);
  if (v) return v;
  for (const s of STUDIES) for (const r of runsOf(s)) if (r.id.startsWith(id)) return r;
  return null;
}

// --- explorer data ------------------------------------------------------------
// Two studies are generated on the fly, never stored as rows: `branin-1m`, a
// million runs of the Branin function (params x1, x2, sampler; metrics y,
// t_eval; about 1% failed), and `xy-line`, six runs with x = 1..6 and y = x (the
// shape of the e2e study). Columns are cached as typed arrays, rows are built
// only for the answers (at most 20,000 for a sample, one page for the runs).
const STATES = ['pending', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled'];
function unit(i, salt) {
  let h = (Math.imul(i, 0x9e3779b1) ^ Math.imul(salt + 1, 0x85ebca77)) >>> 0;
  h ^= h >>> 16; h = Math.imul(h, 0x7feb352d) >>> 0; h ^= h >>> 15; h = Math.imul(h, 0x846ca68b) >>> 0; h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}
const branin = (x1, x2) => (x2 - (5.1 / (4 * Math.PI ** 2)) * x1 ** 2 + (5 / Math.PI) * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * Math.PI)) * Math.cos(x1) + 10;
function virtualStudy(k, project, name, n, gen) {
  const state = new Uint8Array(n);
  for (let i = 0; i < n; i++) state[i] = STATES.indexOf(gen.state(i));
  const c = {};
  for (let i = 0; i < n; i++) c[STATES[state[i]]] = (c[STATES[state[i]]] || 0) + 1;
  const ds = {
    n, static: true, state: (i) => STATES[state[i]], counts: c, value: gen.value, columns: gen.columns,
    id: (i) => `b1${k}${i.toString(16).padStart(13, '0')}`,
    row(i) {
      const st = STATES[state[i]];
      const params = {}, metrics = {};
      for (const [col] of gen.columns) {
        const v = gen.value(i, col);
        if (v === undefined) continue;
        if (col.startsWith('param.')) params[col.slice(6)] = v; else metrics[col.slice(7)] = v;
      }
      return { id: ds.id(i), study: `${project}/${name}`, index: i, tag: null, replicate: 0, seed: 7 + i, params, metrics, state: st,
        attempts: 1, reason: st === 'failed' ? 'exit code 1: did not converge' : null, started_at: '2026-11-29 09:15:00+00', finished_at: '2026-11-29 09:15:02+00',
        duration_s: gen.value(i, 'duration'), host: `node-${(i % 4) + 1}`, spec_hash: 'feedf00d' };
    },
  };
  return ds;
}
const VIRTUAL = [
  virtualStudy(1, 'lab', 'branin-1m', 1_000_000, {
    columns: [['param.x1', 'number'], ['param.x2', 'number'], ['param.sampler', 'text'], ['metric.y', 'number'], ['metric.t_eval', 'number']],
    state: (i) => (unit(i, 4) < 0.01 ? 'failed' : 'succeeded'),
    value(i, col) {
      const ok = unit(i, 4) >= 0.01;
      switch (col) {
        case 'param.x1': return -5 + 15 * unit(i, 1);
        case 'param.x2': return 15 * unit(i, 2);
        case 'param.sampler': return ['lhs', 'sobol', 'random'][i % 3];
        case 'metric.y': return ok ? branin(-5 + 15 * unit(i, 1), 15 * unit(i, 2)) : undefined;
        case 'metric.t_eval': return ok ? 0.2 + 1.8 * unit(i, 3) ** 2 : undefined;
        case 'duration': return 1 + 3 * unit(i, 5);
        case 'index': return i;
      }
    },
  }),
  virtualStudy(2, 'lab', 'xy-line', 6, {
    columns: [['param.x', 'number'], ['metric.y', 'number']],
    state: () => 'succeeded',
    value: (i, col) => (col === 'param.x' || col === 'metric.y' ? i + 1 : col === 'duration' ? 2 + i / 10 : col === 'index' ? i : undefined),
  }),
];
for (const [ds, submitted] of [[VIRTUAL[0], '2026-11-25 12:00:00+00'], [VIRTUAL[1], '2026-11-26 12:00:00+00']]) {
  const name = ds.row(0).study.split('/')[1];
  STUDIES.push({ project: 'lab', name, owner: 'alice', queue: 'analytic', planned: ds.n, rate: 0, fixedDone: ds.n, submitted, virtual: ds });
}
// --- sysdesign studies (sweeps, optimisations) and the adaptive loop -------------
// A study submitted with `simulator: {builtin: sysdesign}` and a `system.yaml`
// file is "run" here: each design point gets the crude flow estimate of
// fakeSimulate (below) with its parameters set in the topology, and finishes
// about a second after it starts. A study with `optimize:` imitates the
// server's adaptive loop: after its initial design, a batch of points every
// ~1.5 s (near the best so far) until the budget or the patience is spent.
// Made up from end to end: it only has the shapes of the real answers.
const runId = (key, i) => createHash('sha256').update(`${key}:${i}`).digest('hex').slice(0, 32);
function parseConstraint(c) {
  const m = String(c).match(/^\s*([A-Za-z_][\w.]*)\s*(<=|>=|<|>|==)\s*(-?[\d.eE+-]+)\s*$/);
  return m ? { metric: m[1], op: m[2], v: Number(m[3]) } : null;
}
function feasible(metrics, constraints) {
  return constraints.every((c) => {
    const k = parseConstraint(c);
    const x = k && metrics[k.metric];
    if (typeof x !== 'number') return false;
    return { '<=': x <= k.v, '>=': x >= k.v, '<': x < k.v, '>': x > k.v, '==': x === k.v }[k.op];
  });
}
function setIn(o, path, v) {
  let cur = o;
  for (const k of path.slice(0, -1)) cur = cur[k] && typeof cur[k] === 'object' ? cur[k] : (cur[k] = {});
  cur[path[path.length - 1]] = v;
}
function makeSimStudy(proj, spec, topo, at = Date.now()) {
  const key = `${proj}/${spec.name}`;
  const params = spec.parameters || {};
  const keys = Object.keys(params);
  const obj = spec.objective ? { metric: spec.objective.minimize ?? spec.objective.maximize, maximize: spec.objective.maximize !== undefined, constraints: spec.objective.constraints ?? [] } : null;
  const sampler = spec.design?.sampler ?? 'grid';
  const evaluate = (pt) => {
    const t = structuredClone(topo);
    for (const k of keys) setIn(t, k.split('.'), pt[k]);
    // Component names with dots would break this split: the mock does not care.
    const r = fakeSimulate(t);
    return { latency_p99: r.measures.latency_p99.mean, cost_per_hour: r.measures.cost_per_hour.mean, throughput: r.measures.throughput.mean, bottleneck: r.bottleneck };
  };
  const pointAt = (u) => Object.fromEntries(keys.map((k, j) => {
    const p = params[k];
    if (Array.isArray(p.values)) return [k, p.values[Math.min(p.values.length - 1, Math.floor(u[j] * p.values.length))]];
    const [lo, hi] = p.range;
    const v = lo + (hi - lo) * u[j];
    return [k, p.type === 'integer' ? Math.round(v) : Number(v.toPrecision(6))];
  }));
  let pts = [];
  if (sampler === 'grid' && keys.every((k) => Array.isArray(params[k].values))) {
    pts = [{}];
    for (const k of keys) pts = pts.flatMap((pt) => params[k].values.map((v) => ({ ...pt, [k]: v })));
  } else {
    const n = spec.design?.samples ?? 8;
    pts = Array.from({ length: n }, (_, i) => pointAt(keys.map((_, j) => (((i * (2 * j + 3) + j) % n) + unit(i, j + 9)) / n)));
  }
  const runs = [];
  const add = (pt, start) => {
    const i = runs.length;
    runs.push({ i, pt, start, end: start + 900 + unit(i, 77) * 600, metrics: evaluate(pt) });
  };
  pts.forEach((pt, i) => add(pt, at + 300 + i * 350));
  const opt = spec.optimize ? { budget: spec.optimize.budget ?? 20, batch: spec.optimize.batch ?? 2, patience: spec.optimize.patience ?? 6 } : null;
  const loop = opt && { state: 'running', stop_reason: null, iterations: [], last: 0, stale: 0 };
  const better = (a, b) => (obj.maximize ? a > b : a < b);
  function bestOf(upTo) {
    let best = null;
    for (const r of runs.slice(0, upTo)) {
      if (r.end > Date.now()) continue;
      const v = r.metrics[obj.metric];
      if (typeof v === 'number' && feasible(r.metrics, obj.constraints) && (!best || better(v, best.value))) best = { r, value: v };
    }
    return best;
  }
  function tick() {
    if (!loop || loop.state !== 'running') return;
    const now = Date.now();
    if (runs.some((r) => r.end > now)) return;
    if (now - Math.max(loop.last, ...runs.map((r) => r.end)) < 1200) return;
    const before = loop.iterations.length ? loop.iterations[loop.iterations.length - 1].best : null;
    const best = bestOf(runs.length);
    if (loop.iterations.length) {
      const improved = best && (before === null || better(best.value, before));
      loop.stale = improved ? 0 : loop.stale + 1;
    }
    if (runs.length >= opt.budget) return Object.assign(loop, { state: 'stopped', stop_reason: 'the run budget is spent' });
    if (loop.stale >= opt.patience) return Object.assign(loop, { state: 'stopped', stop_reason: `no improvement in ${opt.patience} iterations` });
    const k = Math.min(opt.batch, opt.budget - runs.length);
    const n = loop.iterations.length + 1;
    for (let j = 0; j < k; j++) {
      const u = keys.map((key, d) => {
        const p = params[key];
        const [lo, hi] = p.range ?? [0, 1];
        const b = best ? (best.r.pt[key] - lo) / (hi - lo || 1) : 0.5;
        return Math.min(1, Math.max(0, b + (unit(runs.length, d + 31) - 0.5) * (j === 0 ? 0.35 : 1)));
      });
      add(pointAt(u), now + j * 200);
    }
    const b2 = best ? best.value : null;
    loop.iterations.push({ number: n, proposed: k, runs: runs.length, best: b2, predicted: b2 === null ? null : [Number((b2 * 0.97).toPrecision(4)), Number((Math.abs(b2) * 0.08 / n + 0.01).toPrecision(3))], at: new Date(now).toISOString() });
    loop.last = now;
  }
  const stateOf = (r, now) => (now < r.start ? 'pending' : now < r.end ? 'running' : 'succeeded');
  const sim = {
    keys, objective: obj, sampler,
    rows() {
      tick();
      const now = Date.now();
      return runs.map((r) => {
        const st = stateOf(r, now);
        return { id: runId(key, r.i), study: key, index: r.i, tag: null, replicate: 0, seed: 1 + r.i, params: { ...r.pt }, metrics: st === 'succeeded' ? r.metrics : {}, state: st, attempts: st === 'pending' ? 0 : 1, reason: null,
          started_at: st === 'pending' ? null : iso(r.start), finished_at: st === 'succeeded' ? iso(r.end) : null, duration_s: st === 'succeeded' ? (r.end - r.start) / 1000 : null, host: st === 'pending' ? null : `node-${(r.i % 3) + 1}`, spec_hash: 'c0ffee00' };
      });
    },
    adaptive() {
      if (!loop) return null;
      tick();
      const best = bestOf(runs.length);
      return { goal: 'optimize', metric: obj.metric, maximize: obj.maximize, constraints: obj.constraints, budget: opt.budget, state: loop.state, stop_reason: loop.stop_reason, error: null,
        iterations: loop.iterations, best: best && loop.iterations.length ? { run_id: runId(key, best.r.i), value: best.value, params: { ...best.r.pt } } : null };
    },
    get running() { return !!loop && loop.state === 'running'; },
  };
  return { project: proj, name: spec.name, owner: 'alice', queue: 'sysdesign', rate: 0, submitted: new Date(at).toISOString(), sim, get planned() { return runs.length; } };
}
/** Spearman's rank correlation (Pearson on ranks). */
function spearman(xs, ys) {
  const rank = (a) => { const idx = a.map((v, i) => [v, i]).sort((p, q) => p[0] - q[0]); const r = new Array(a.length); idx.forEach(([, i], k) => (r[i] = k)); return r; };
  const rx = rank(xs), ry = rank(ys), n = xs.length;
  if (n < 3) return null;
  const mx = (n - 1) / 2;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) { sxy += (rx[i] - mx) * (ry[i] - mx); sxx += (rx[i] - mx) ** 2; syy += (ry[i] - mx) ** 2; }
  return sxx && syy ? sxy / Math.sqrt(sxx * syy) : null;
}
/** objective, design and sensitivity of any mock study (the explorer's columns). */
function analysisOf(s) {
  if (s.sim) {
    const sampled = s.sim.keys.length;
    const ok = s.sim.rows().some((r) => r.state === 'succeeded');
    return { objective: s.sim.objective, design: s.sim.sampler, sensitivity: sampled >= 2 && ok ? (s.sim.sampler === 'saltelli' ? 'sobol' : s.sim.sampler === 'morris' ? 'morris' : 'rank') : null };
  }
  if (s.name === 'branin-1m') return { objective: null, design: 'saltelli', sensitivity: 'sobol' };
  return { objective: null, design: 'grid', sensitivity: null };
}


function findVirtual(id) {
  const m = id.match(/^b1(\d)([0-9a-f]{13})$/);
  const ds = m && VIRTUAL[Number(m[1]) - 1];
  const i = m ? parseInt(m[2], 16) : -1;
  return ds && i < ds.n ? ds.row(i) : null;
}

/** The explorer's view of any mock study: generated (static) or the small made-up lists. */
function dataset(s) {
  if (s.virtual) return s.virtual;
  const runs = runsOf(s);
  const cols = new Map();
  for (const r of runs) for (const [kind, o] of [['param', r.params], ['metric', r.metrics]]) for (const [k, v] of Object.entries(o)) {
    const t = typeof v === 'number' || typeof v === 'boolean' ? 'number' : 'text';
    if (!cols.has(`${kind}.${k}`)) cols.set(`${kind}.${k}`, t);
  }
  const value = (i, col) => {
    const r = runs[i];
    if (col === 'duration') return r.duration_s ?? undefined;
    if (col === 'index') return r.index + r.replicate / 10;
    const v = col.startsWith('param.') ? r.params[col.slice(6)] : r.metrics[col.slice(7)];
    return typeof v === 'boolean' ? Number(v) : v;
  };
  return { n: runs.length, static: false, state: (i) => runs[i].state, value, columns: [...cols.entries()], row: (i) => runs[i] };
}
const numCache = new WeakMap();
/** A numeric column as a Float64Array (NaN where missing or text); cached for generated studies. */
function numCol(ds, col) {
  let m = numCache.get(ds);
  if (m?.has(col)) return m.get(col);
  const a = new Float64Array(ds.n);
  for (let i = 0; i < ds.n; i++) {
    const v = ds.value(i, col);
    a[i] = typeof v === 'number' ? v : NaN;
  }
  if (ds.static) {
    if (!m) numCache.set(ds, (m = new Map()));
    m.set(col, a);
  }
  return a;
}
class Bad extends Error {}
function parseWhere(text) {
  if (!text || !text.trim()) return [];
  return text.split(',').map((clause) => {
    const m = clause.trim().match(/^((param|metric)\.[^:]+):([a-z]+):(.*)$/);
    if (!m) throw new Bad(`\`${clause}\` in \`where\`: expected COLUMN:OP:VALUE`);
    const op = m[3];
    if (!['gt', 'gte', 'lt', 'lte', 'eq', 'ne'].includes(op)) throw new Bad(`\`${clause}\` in \`where\`: unknown comparison`);
    const n = Number(m[4]);
    const isNum = m[4].trim() !== '' && Number.isFinite(n);
    if (!isNum && !['eq', 'ne'].includes(op)) throw new Bad(`\`${clause}\` in \`where\`: orders compare numbers`);
    return { col: m[1], op, num: isNum ? n : null, text: m[4] };
  });
}
function predicate(ds, conds, state) {
  const tests = conds.map((c) => {
    if (c.num !== null) {
      const a = numCol(ds, c.col), v = c.num;
      const cmp = { gt: (x) => x > v, gte: (x) => x >= v, lt: (x) => x < v, lte: (x) => x <= v, eq: (x) => x === v, ne: (x) => x !== v }[c.op];
      return (i) => !Number.isNaN(a[i]) && cmp(a[i]);
    }
    return (i) => {
      const x = ds.value(i, c.col);
      return x !== undefined && (c.op === 'eq' ? String(x) === c.text : String(x) !== c.text);
    };
  });
  return (i) => (!state || ds.state(i) === state) && tests.every((t) => t(i));
}
const sortCache = new WeakMap();
/** Run indices in ascending order of `col`, missing values last. */
function sortedBy(ds, col) {
  let m = sortCache.get(ds);
  if (m?.has(col)) return m.get(col);
  const a = numCol(ds, col);
  const idx = new Int32Array(ds.n);
  for (let i = 0; i < ds.n; i++) idx[i] = i;
  idx.sort((x, y) => (Number.isNaN(a[x]) ? (Number.isNaN(a[y]) ? x - y : 1) : Number.isNaN(a[y]) ? -1 : a[x] - a[y] || x - y));
  const present = idx.findIndex((i) => Number.isNaN(a[i]));
  const out = { idx, present: present < 0 ? ds.n : present };
  if (ds.static) {
    if (!m) sortCache.set(ds, (m = new Map()));
    m.set(col, out);
  }
  return out;
}

function explore(res, s, what, q) {
  const ds = dataset(s);
  let conds;
  try {
    conds = parseWhere(q.get('where'));
    for (const c of conds) if (!ds.columns.some(([n]) => n === c.col)) throw new Bad(`no column \`${c.col}\` in this study`);
  } catch (e) {
    if (e instanceof Bad) return json(res, 400, { error: { code: 'invalid', message: e.message, field: 'where', hint: 'conditions are COLUMN:OP:VALUE separated by commas, e.g. `param.x1:gte:2,metric.y:lt:10`' } });
    throw e;
  }
  const study = `${s.project}/${s.name}`;
  if (what === 'convergence') return convergence(res, s, ds);
  if (what === 'sensitivity') return sensitivity(res, s, ds, q);
  if (what === 'columns') {
    const ok = predicate(ds, [], 'succeeded');
    let succeeded = 0;
    for (let i = 0; i < ds.n; i++) if (ok(i)) succeeded++;
    const columns = ds.columns.map(([name, type]) => {
      let count = 0, min = Infinity, max = -Infinity;
      const vals = new Set();
      if (type === 'number') {
        const a = numCol(ds, name);
        for (let i = 0; i < ds.n; i++) if (ok(i) && !Number.isNaN(a[i])) { count++; if (a[i] < min) min = a[i]; if (a[i] > max) max = a[i]; }
      } else for (let i = 0; i < ds.n; i++) if (ok(i)) { const v = ds.value(i, name); if (v !== undefined) { count++; if (vals.size <= 50) vals.add(String(v)); } }
      const first = [...vals].sort();
      return { name, kind: name.split('.')[0], type, count, min: type === 'number' && count ? min : null, max: type === 'number' && count ? max : null,
        values: type === 'text' ? { first: first.slice(0, 50), more: first.length > 50 } : null };
    });
    return json(res, 200, { study, runs: { total: ds.n, succeeded }, columns, ...analysisOf(s) });
  }
  if (what === 'sample') {
    const n = Math.max(1, Math.min(20000, Number(q.get('n') || 2000)));
    const ok = predicate(ds, conds, 'succeeded');
    let matching = 0;
    for (let i = 0; i < ds.n; i++) if (ok(i)) matching++;
    const k = Math.min(n, matching);
    const rows = [];
    for (let i = 0, j = 0; i < ds.n && rows.length < k; i++)
      if (ok(i)) {
        if (Math.floor(((j + 1) * k) / matching) > Math.floor((j * k) / matching)) rows.push(ds.row(i));
        j++;
      }
    return json(res, 200, { study, matching, sampled: rows.length, rows });
  }
  if (what === 'histogram') {
    const col = q.get('col') || '';
    if (!ds.columns.some(([n]) => n === col)) return err(res, 400, 'invalid', `no column \`${col}\` in this study`, 'a column is param.NAME or metric.NAME');
    const bins = Math.max(1, Math.min(200, Number(q.get('bins') || 30)));
    const ok = predicate(ds, conds, 'succeeded');
    const a = numCol(ds, col);
    let lo = Infinity, hi = -Infinity, missing = 0, matching = 0;
    for (let i = 0; i < ds.n; i++) if (ok(i)) { matching++; const v = a[i]; if (Number.isNaN(v)) missing++; else { if (v < lo) lo = v; if (v > hi) hi = v; } }
    if (lo > hi) return json(res, 200, { study, col, min: null, max: null, bins: [], missing, matching });
    const width = hi > lo ? (hi - lo) / bins : 1;
    const counts = new Array(bins).fill(0);
    for (let i = 0; i < ds.n; i++) if (ok(i) && !Number.isNaN(a[i])) counts[Math.min(bins - 1, Math.floor((a[i] - lo) / width))]++;
    return json(res, 200, { study, col, min: lo, max: hi, missing, matching,
      bins: counts.map((count, b) => ({ lo: lo + width * b, hi: b + 1 === bins ? Math.max(hi, lo + width * b) : lo + width * (b + 1), count })) });
  }
  if (what === 'runs') {
    const sort = q.get('sort') || 'index', order = q.get('order') || 'asc', state = q.get('state') || '';
    if (!['asc', 'desc'].includes(order)) return err(res, 400, 'invalid', `unknown order \`${order}\``, 'asc or desc');
    if (state && !STATES.includes(state)) return err(res, 400, 'invalid', `unknown run state \`${state}\``);
    if (!['index', 'duration'].includes(sort) && !ds.columns.some(([n]) => n === sort)) return err(res, 400, 'invalid', `cannot sort by \`${sort}\``, 'sort by index, duration, param.NAME or metric.NAME');
    const offset = Math.max(0, Number(q.get('offset') || 0)), limit = Math.max(1, Math.min(1000, Number(q.get('limit') || 50)));
    const ok = predicate(ds, conds, state);
    let total = 0;
    for (let i = 0; i < ds.n; i++) if (ok(i)) total++;
    const { idx, present } = sortedBy(ds, sort);
    const rows = [];
    let skipped = 0;
    const take = (i) => {
      if (!ok(i)) return false;
      if (skipped < offset) skipped++;
      else rows.push(ds.row(i));
      return rows.length >= limit;
    };
    if (order === 'asc') { for (let k = 0; k < ds.n; k++) if (take(idx[k])) break; }
    else {
      let done = false;
      for (let k = present - 1; k >= 0 && !done; k--) done = take(idx[k]);
      for (let k = present; k < ds.n && !done; k++) done = take(idx[k]);
    }
    return json(res, 200, { study, total, offset, runs: rows });
  }
  // results?format=csv|json-array|parquet&where=
  const format = q.get('format') || 'json';
  if (format === 'parquet') return err(res, 501, 'unsupported', 'the mock does not write Parquet', 'the real server does; try format=csv here');
  if (!['csv', 'json-array'].includes(format)) return err(res, 400, 'invalid', `unknown format \`${format}\``);
  const ok = predicate(ds, conds, '');
  const names = ds.columns.map(([n]) => n);
  res.writeHead(200, { 'Content-Type': format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json',
    'Content-Disposition': `attachment; filename="${s.name}.${format === 'csv' ? 'csv' : 'json'}"`, 'Cache-Control': 'no-store' });
  const esc = (v) => (v === undefined || v === null ? '' : /[",\n]/.test(String(v)) ? `"${String(v).replace(/"/g, '""')}"` : String(v));
  let buf = format === 'csv' ? `id,index,replicate,state,${names.join(',')},duration_s\n` : '[';
  let first = true;
  for (let i = 0; i < ds.n; i++) {
    if (!ok(i)) continue;
    if (format === 'csv') buf += `${ds.id ? ds.id(i) : ds.row(i).id},${Math.floor(ds.value(i, 'index'))},0,${ds.state(i)},${names.map((c) => esc(ds.value(i, c))).join(',')},${esc(ds.value(i, 'duration'))}\n`;
    else { buf += (first ? '' : ',') + JSON.stringify(ds.row(i)); first = false; }
    if (buf.length > 1 << 16) { res.write(buf); buf = ''; }
  }
  res.end(format === 'csv' ? buf : `${buf}]`);
}

function convergence(res, s, ds) {
  const a = analysisOf(s);
  if (!a.objective) return err(res, 409, 'conflict', `study \`${s.name}\` has no objective`, 'convergence needs an `objective:` section in the study');
  const { metric, maximize, constraints } = a.objective;
  const points = [];
  let best = null;
  for (let i = 0; i < ds.n; i++) {
    const r = ds.row(i);
    const v = r.state === 'succeeded' && typeof r.metrics[metric] === 'number' ? r.metrics[metric] : null;
    const f = v !== null && feasible(r.metrics, constraints);
    if (f && (!best || (maximize ? v > best.value : v < best.value))) best = { index: r.index, run_id: r.id, value: v, params: r.params };
    points.push({ index: r.index, run_id: r.id, value: v, feasible: f, best: best ? best.value : null, pending: r.state === 'pending' || r.state === 'running', params: r.params });
  }
  const bp = best && points.find((p) => p.index === best.index);
  return json(res, 200, { study: `${s.project}/${s.name}`, metric, maximize, constraints, total: points.length, points, best: bp ?? null });
}
function sensitivity(res, s, ds, q) {
  const a = analysisOf(s);
  const metrics = ds.columns.filter(([n, t]) => n.startsWith('metric.') && t === 'number').map(([n]) => n.slice(7));
  const metric = q.get('metric') || metrics[0];
  if (!metrics.includes(metric)) return json(res, 400, { error: { code: 'invalid', message: `no numeric metric \`${metric}\` in this study`, field: 'metric', hint: `known: ${metrics.join(', ')}` } });
  if (!a.sensitivity) return err(res, 409, 'conflict', 'sensitivity needs at least two sampled parameters and a succeeded run');
  const study = `${s.project}/${s.name}`;
  if (a.sensitivity === 'sobol') {
    const fixed = metric === 'y' ? { x1: [0.52, 0.04, 0.71, 0.05], x2: [0.22, 0.03, 0.41, null] } : { x1: [0.05, 0.02, 0.09, 0.02], x2: [0.01, 0.02, 0.03, null] };
    return json(res, 200, { study, metric, method: 'sobol', samples: 999_000, dropped: 10_000, note: metric === 'y' ? null : 'the indices are small and close to their confidence: this metric hardly depends on the inputs',
      measures: [{ key: 'S1', label: 'first-order Sobol\' index' }, { key: 'ST', label: 'total Sobol\' index' }],
      inputs: Object.entries(fixed).map(([name, [s1, c1, st, c2]]) => ({ name, values: { S1: { value: s1, conf: c1 }, ST: { value: st, conf: c2 } } })) });
  }
  const params = ds.columns.filter(([n, t]) => n.startsWith('param.') && t === 'number').map(([n]) => n);
  const ok = [];
  let dropped = 0;
  for (let i = 0; i < ds.n; i++) {
    const r = ds.row(i);
    if (r.state === 'succeeded' && typeof r.metrics[metric] === 'number') ok.push(r); else dropped++;
  }
  const ys = ok.map((r) => r.metrics[metric]);
  const inputs = params.map((c) => {
    const rho = spearman(ok.map((r) => r.params[c.slice(6)]), ys);
    const v = { SRRC: { value: rho === null ? null : Number(rho.toFixed(4)), conf: null }, PRCC: { value: rho === null ? null : Number(Math.max(-1, Math.min(1, rho * 1.08)).toFixed(4)), conf: null } };
    if (q.get('surrogate') === 'true') v.GP_ST = { value: rho === null ? null : Number((rho * rho * 1.1).toFixed(4)), conf: 0.04 };
    return { name: c.slice(6), values: v };
  });
  const r2 = inputs.reduce((t, i) => t + (i.values.SRRC.value ?? 0) ** 2, 0);
  return json(res, 200, { study, metric, method: 'rank', samples: ok.length, dropped, note: r2 < 0.7 ? `the rank regression explains only ${(Math.min(1, r2) * 100).toFixed(0)}% of the variance (R² ${r2.toFixed(2)}): the inputs interact or act non-monotonically, so read these as rough` : null,
    measures: [{ key: 'SRRC', label: 'standardised rank regression coefficient' }, { key: 'PRCC', label: 'partial rank correlation coefficient' }, ...(q.get('surrogate') === 'true' ? [{ key: 'GP_ST', label: "total Sobol' index on a Gaussian-process surrogate" }] : [])], inputs });
}

// --- study files ---------------------------------------------------------------
// `GET …/studies/{name}/source`: a submitted study's file and extra files as sent;
// the made-up studies get a made-up file of their shape.
async function specOf(s) {
  if (s.spec) return s.spec;
  const YAML = await import('yaml');
  const ds = dataset(s);
  const params = {}, metrics = [];
  for (const [col, type] of ds.columns) {
    if (col.startsWith('metric.')) { metrics.push(col.slice(7)); continue; }
    if (!col.startsWith('param.')) continue;
    const vals = [];
    for (let i = 0; i < Math.min(ds.n, 2000); i++) { const v = ds.value(i, col); if (v !== undefined && !vals.includes(v)) vals.push(v); }
    params[col.slice(6)] = type === 'number' && vals.length > 6 ? { range: [Math.min(...vals), Math.max(...vals)] } : { values: vals.slice(0, 12) };
  }
  const spec = s.name === 'shop-cheapest'
    ? { name: s.name, simulator: { builtin: 'sysdesign', options: { topology: 'system.yaml' } }, parameters: { 'components.api.replicas': { range: [1, 12], type: 'integer' }, 'components.db.pool': { range: [2, 32], type: 'integer' } },
        design: { sampler: 'lhs', samples: 4, seed: 1 }, metrics: ['latency_p99', 'cost_per_hour', 'throughput'], objective: { minimize: 'cost_per_hour', constraints: ['latency_p99 <= 200'] }, optimize: { budget: 30, batch: 2, patience: 6 } }
    : { name: s.name, simulator: s.virtual ? { builtin: 'analytic', options: { function: s.name === 'branin-1m' ? 'branin' : 'identity' } } : { command: ['./solve.sh', '{params}'] },
        parameters: params, design: { sampler: s.name === 'branin-1m' ? 'saltelli' : 'grid', ...(s.name === 'branin-1m' ? { samples: 1_000_000, seed: 7 } : { replicates: s.virtual ? 1 : 2 }) },
        metrics, resources: { cpus: 1, time: '10m' }, queue: s.queue };
  const source = `# ${s.name}: made up by the mock API (dev/mock-server.mjs)\n${YAML.stringify(spec)}`;
  const files = s.name === 'shop-cheapest' ? { 'system.yaml': YAML.stringify(DEMO_TOPOLOGY) } : s.virtual ? {} : { 'solve.sh': '#!/bin/sh\n# made-up solver wrapper\nexec solver --input "$1"\n' };
  return { source_name: 'study.yaml', source, files };
}

// --- HTTP -------------------------------------------------------------------
const err = (res, status, code, message, hint) => json(res, status, { error: { code, message, ...(hint ? { hint } : {}) } });
function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(JSON.stringify(body));
}
const readBody = (req) => new Promise((ok) => { let b = ''; req.on('data', (d) => (b += d)); req.on('end', () => ok(b)); });
const session = (req) => (req.headers.cookie || '').split(/;\s*/).map((c) => c.split('=')).find(([k]) => k === COOKIE)?.[1];

async function api(req, res, url) {
  const p = url.pathname.slice('/api/v1'.length);
  const q = url.searchParams;
  if (p === '/auth/login' && req.method === 'POST') {
    let b = {};
    try { b = JSON.parse(await readBody(req)); } catch { return err(res, 400, 'invalid', 'the body is not JSON'); }
    if (!['alice', 'root'].includes(b.name) || b.password !== 'correct-horse') return err(res, 401, 'unauthenticated', 'wrong user name or password', 'the mock accepts alice / correct-horse (a project member) or root / correct-horse (a server admin)');
    const tok = `sfs_${hex(sessions.size + 7, 24)}`;
    sessions.set(tok, b.name);
    return json(res, 200, { token: tok, expires_at: '2026-12-31T00:00:00Z' }, { 'Set-Cookie': `${COOKIE}=${tok}; Path=/; HttpOnly; SameSite=Strict` });
  }
  const blob = p.match(/^\/blobs\/([0-9a-f]{64})$/);
  if (blob && req.method === 'GET') return downloadBlob(res, blob[1], q);
  if (LOCAL && p === '/me') return json(res, 200, { name: 'local', is_admin: false, local: true });
  const tok = LOCAL ? 'local' : session(req);
  if (!LOCAL && (!tok || !sessions.has(tok))) return err(res, 401, 'unauthenticated', 'not logged in', 'log in with POST /api/v1/auth/login or send a bearer token');
  const user = LOCAL ? 'alice' : sessions.get(tok);
  if (await extra(req, res, p, q, user)) return;
  if (p === '/auth/logout' && req.method === 'POST') {
    sessions.delete(tok);
    res.writeHead(204, { 'Set-Cookie': `${COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0` });
    return res.end();
  }
  if (req.method === 'POST') return post(req, res, p, q);
  if (req.method !== 'GET') return err(res, 404, 'not_found', `no route ${req.method} ${p}`);
  if (p === '/me') return json(res, 200, { name: user, is_admin: user === 'root', scopes: user === 'root' ? ['read', 'submit', 'admin'] : ['read', 'submit'], projects: PROJECTS.map((x) => ({ project: x.name, role: x.role })) });
  if (p === '/projects') return json(res, 200, { projects: PROJECTS.map((x) => ({ ...x, studies: STUDIES.filter((s) => s.project === x.name).length })) });
  let m;
  if ((m = p.match(/^\/projects\/([^/]+)\/studies$/))) {
    const proj = decodeURIComponent(m[1]);
    if (!PROJECTS.some((x) => x.name === proj)) return err(res, 404, 'not_found', `no project \`${proj}\``);
    const limit = Number(q.get('limit') || 100), offset = Number(q.get('offset') || 0);
    return json(res, 200, { studies: STUDIES.filter((s) => s.project === proj).map(summary).slice(offset, offset + limit) });
  }
  if ((m = p.match(/^\/projects\/([^/]+)\/studies\/([^/]+)\/(explore\/(?:columns|sample|histogram|runs|convergence|sensitivity)|results)$/))) {
    const [proj, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
    const s = STUDIES.find((x) => x.project === proj && x.name === name);
    if (!s) return err(res, 404, 'not_found', `no study \`${name}\` in project \`${proj}\``);
    return explore(res, s, m[3].replace('explore/', ''), q);
  }
  if ((m = p.match(/^\/projects\/([^/]+)\/studies\/([^/]+)\/source$/))) {
    const [proj, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
    const s = STUDIES.find((x) => x.project === proj && x.name === name);
    if (!s) return err(res, 404, 'not_found', `no study \`${name}\` in project \`${proj}\``);
    return json(res, 200, { key: `${proj}/${name}`, ...(await specOf(s)) });
  }
  if ((m = p.match(/^\/projects\/([^/]+)\/studies\/([^/]+)(\/runs)?$/))) {
    const [proj, name] = [decodeURIComponent(m[1]), decodeURIComponent(m[2])];
    const s = STUDIES.find((x) => x.project === proj && x.name === name);
    if (!s) return err(res, 404, 'not_found', `no study \`${name}\` in project \`${proj}\``);
    if (!m[3]) {
      const c = counts(s);
      const done = ['succeeded', 'failed', 'timed_out', 'cancelled'].reduce((a, k) => a + (c[k] || 0), 0);
      return json(res, 200, { ...summary(s), simulator: s.sim ? 'sysdesign' : 'command', source_name: 'study.yaml', counts: c, done, finished: done === s.planned && !s.sim?.running,
        adaptive: s.sim ? s.sim.adaptive() : null,
        failure_reasons: [c.failed && { reason: 'exit code 3: solver diverged', runs: c.failed }, c.timed_out && { reason: 'timed out after 600 s', runs: c.timed_out }].filter(Boolean) });
    }
    const st = q.get('state');
    if (st && !['pending', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled'].includes(st)) return err(res, 400, 'invalid', `unknown run state \`${st}\``);
    const limit = Math.min(10000, Number(q.get('limit') || 100));
    const after = q.get('after');
    if (s.virtual) {
      const ds = s.virtual;
      const rows = [];
      for (let i = after ? Number(after.split(':')[0]) + 1 : 0; i < ds.n && rows.length < limit; i++) if (!st || ds.state(i) === st) rows.push(ds.row(i));
      const last = rows[rows.length - 1];
      return json(res, 200, { runs: rows, next: rows.length === limit && last ? `${last.index}:0` : null });
    }
    let rows = runsOf(s).filter((r) => !st || r.state === st);
    if (after) {
      const [ai, ar] = after.split(':').map(Number);
      rows = rows.filter((r) => r.index > ai || (r.index === ai && r.replicate > ar));
    }
    rows = rows.slice(0, limit);
    const last = rows[rows.length - 1];
    return json(res, 200, { runs: rows, next: rows.length === limit && last ? `${last.index}:${last.replicate}` : null });
  }
  if ((m = p.match(/^\/runs\/([0-9a-fA-F]{1,40})(\/logs|\/artifacts|\/artifacts\/download)?$/))) {
    const r = findRun(m[1].toLowerCase());
    if (!r) return err(res, 404, 'not_found', `no run \`${m[1]}\``);
    const n = Math.max(1, r.attempts);
    if (!m[2]) {
      const hist = r.state === 'pending' ? [] : Array.from({ length: n }, (_, k) => ({
        attempt: k + 1, state: k + 1 < n ? 'failed' : r.state, started_at: r.started_at, finished_at: r.finished_at, duration_s: r.duration_s,
        exit_code: k + 1 < n || r.state === 'failed' ? 3 : r.state === 'succeeded' ? 0 : null, signal: null,
        reason: k + 1 < n ? 'exit code 3: solver diverged' : r.reason, host: r.host, max_rss_kb: 183204 }));
      return json(res, 200, { ...r, attempt_history: hist });
    }
    if (m[2] === '/logs') {
      const secs = Math.floor((Date.now() - START) / 1000);
      const lines = (k) => Array.from({ length: r.state === 'running' ? 5 + secs : 40 }, (_, i) => `[attempt ${k}] step ${i}: residual=${(1 / (i + 1)).toExponential(3)}`).join('\n') + '\n';
      return json(res, 200, { run: r.id, attempts: r.state === 'pending' ? [] : Array.from({ length: n }, (_, k) => ({ attempt: k + 1, stdout: lines(k + 1), stderr: k + 1 < n || r.state === 'failed' ? 'error: solver diverged at step 39\n' : '' })) });
    }
    if (m[2] === '/artifacts')
      return json(res, 200, { run_id: r.id, artifacts: r.state === 'succeeded' ? [
        { attempt: 1, path: 'out/field.npy', sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', size_bytes: 5242880, created_at: '2026-11-29T09:16:12Z' },
        { attempt: 1, path: 'input.json', sha256: '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', size_bytes: 412, created_at: '2026-11-29T09:16:12Z' },
      ] : [] });
    const path = q.get('path');
    if (!path) return err(res, 400, 'invalid', 'missing `path`');
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': `attachment; filename="${path.split('/').pop()}"` });
    return res.end(`mock content of ${path}\n`);
  }
  if (p === '/workers') return json(res, 200, { workers: [
    { name: 'w-node-1', host: 'node-1', queues: ['sysdesign'], slots: 4, version: '0.9.0', health: 'live', holding: 3, runs_succeeded: 812, runs_failed: 9, runs_per_s: 0.42, last_seen: '2026-11-29 10:00:00+00', seconds_since_seen: 2.1 },
    { name: 'w-node-2', host: 'node-2', queues: ['sysdesign', 'command:solver'], slots: 8, version: '0.9.0', health: 'stale', holding: 1, runs_succeeded: 95, runs_failed: 0, runs_per_s: 0.05, last_seen: '2026-11-29 09:58:00+00', seconds_since_seen: 95 },
    { name: 'w-old', host: 'node-9', queues: ['analytic'], slots: 2, version: '0.8.1', health: 'left', holding: 0, runs_succeeded: 10, runs_failed: 1, runs_per_s: 0.01, last_seen: '2026-11-20 08:00:00+00', seconds_since_seen: 800000 },
  ] });
  if (p === '/queues') return json(res, 200, { queues: [
    { queue: 'command:solver', pending: 0, running: 0, live_workers: 1 },
    { queue: 'sysdesign', pending: 120, running: 4, live_workers: 1 },
    { queue: 'analytic', pending: 7, running: 0, live_workers: 0 },
  ] });
  return err(res, 404, 'not_found', `no route GET ${p}`);
}

// --- POST endpoints: check, submit, sysdesign --------------------------------
const STUDY_KEYS = ['name', 'description', 'simulator', 'parameters', 'design', 'metrics', 'objective', 'resources', 'optimize', 'constraints', 'queue', 'outputs'];
function closest(w, known) {
  const d = (a, b) => {
    const m = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
    for (let j = 1; j <= b.length; j++) m[0][j] = j;
    for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) m[i][j] = Math.min(m[i - 1][j] + 1, m[i][j - 1] + 1, m[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    return m[a.length][b.length];
  };
  const best = known.map((k) => [d(w, k), k]).sort((x, y) => x[0] - y[0])[0];
  return best && best[0] <= 2 ? best[1] : null;
}
async function checkStudy(source) {
  const YAML = await import('yaml');
  const diagnostics = [];
  let v;
  try {
    v = YAML.parse(source);
  } catch (e) {
    const pos = e.linePos?.[0];
    return { ok: false, diagnostics: [{ line: pos?.line ?? null, column: pos?.col ?? null, field: '', message: String(e.message).split('\n')[0], expected: null, hint: null }], summary: null };
  }
  if (!v || typeof v !== 'object') return { ok: false, diagnostics: [{ line: 1, column: 1, field: '', message: 'a study file is a mapping', expected: 'name, simulator, parameters, design', hint: null }], summary: null };
  const lines = source.split('\n');
  for (const k of Object.keys(v))
    if (!STUDY_KEYS.includes(k)) {
      const line = lines.findIndex((l) => l.startsWith(`${k}:`)) + 1;
      const c = closest(k, STUDY_KEYS);
      diagnostics.push({ line: line || null, column: line ? 1 : null, field: k, message: `unknown field \`${k}\``, expected: STUDY_KEYS.join(', '), hint: c ? `did you mean \`${c}\`?` : null });
    }
  for (const k of ['name', 'simulator', 'parameters'])
    if (v[k] === undefined) diagnostics.push({ line: null, column: null, field: k, message: `missing field \`${k}\``, expected: k === 'name' ? 'a study name' : null, hint: null });
  if (diagnostics.length) return { ok: false, diagnostics, summary: null };
  const params = Object.keys(v.parameters || {}).length;
  const sampler = v.design?.sampler ?? 'grid';
  const runs = (v.design?.samples ?? 9) * (v.design?.replicates ?? 1);
  const sim = v.simulator?.builtin ?? 'command';
  return { ok: true, diagnostics: [], summary: { name: String(v.name), parameters: params, sampled: params, sampler, runs, simulator: sim, queue: sim === 'command' ? 'command:default' : sim } };
}

const SYS_TYPES = ['source', 'load_balancer', 'service', 'cache', 'database', 'topic', 'stream_processor', 'sink'];
async function readTopology(text) {
  const YAML = await import('yaml');
  let v;
  try {
    v = YAML.parse(text);
  } catch (e) {
    throw { message: `topology: ${String(e.message).split('\n')[0]}`, field: null };
  }
  const comps = v?.components;
  if (!comps || typeof comps !== 'object' || !Object.keys(comps).length) throw { message: 'topology: `components`: the topology has no components', field: 'components', hint: 'add at least a source and a service' };
  for (const [n, c] of Object.entries(comps)) {
    if (!SYS_TYPES.includes(c?.type)) throw { message: `topology: \`components.${n}.type\`: unknown component type \`${c?.type}\``, field: `components.${n}.type`, hint: `known: ${SYS_TYPES.join(', ')}` };
    if (c.type === 'source' && !(c.arrivals?.rate > 0)) throw { message: `topology: \`components.${n}.arrivals.rate\`: missing field \`rate\``, field: `components.${n}.arrivals.rate` };
  }
  return v;
}
const mean = (d) => (typeof d === 'number' ? d : d && typeof d === 'object' ? Number(d.mean ?? d.value ?? 1) : 0);
function fakeSimulate(v) {
  const comps = v.components;
  const names = Object.keys(comps);
  const rate = Object.fromEntries(names.map((n) => [n, 0]));
  const out = (c) => {
    const t = [];
    if (typeof c.to === 'string') t.push([c.to, 1]);
    for (const m of c.mix ?? []) t.push([m.to, (m.weight ?? 1) / (c.mix.reduce((a, x) => a + (x.weight ?? 1), 0) || 1)]);
    for (const x of c.targets ?? []) t.push([x, 1 / c.targets.length]);
    for (const s of c.calls ?? []) for (const x of typeof s === 'string' ? [s] : s.parallel ?? []) t.push([x, 1]);
    for (const l of Object.values(c.calls_by_class ?? {})) for (const s of l) for (const x of typeof s === 'string' ? [s] : s.parallel ?? []) t.push([x, 0.5]);
    if (typeof c.next === 'string') t.push([c.next, 1]);
    else for (const x of c.next ?? []) t.push([x.to, x.p ?? 1]);
    if (typeof c.miss === 'string') t.push([c.miss, 1 - (c.hit_ratio ?? 0)]);
    if (typeof c.consumer === 'string') t.push([c.consumer, 1]);
    return t.filter(([x]) => x in comps);
  };
  const edges = [];
  const flow = (n, r, depth) => {
    if (depth > 20) return;
    rate[n] += r;
    for (const [x, f] of out(comps[n])) {
      const e = edges.find((e) => e.from === n && e.to === x) ?? (edges.push({ from: n, to: x, throughput: 0 }), edges[edges.length - 1]);
      e.throughput += r * f;
      flow(x, r * f, depth + 1);
    }
  };
  for (const n of names) if (comps[n].type === 'source') flow(n, comps[n].arrivals.rate, 0);
  const components = {};
  let worst = null;
  let cost = 0;
  let lat = 0;
  for (const n of names) {
    const c = comps[n];
    const slots = (c.replicas ?? 1) * (c.type === 'database' ? c.pool ?? 1 : c.type === 'topic' ? c.partitions ?? 1 : c.concurrency ?? 1);
    const time = mean(c.service_time ?? c.query_time ?? c.process_time ?? c.hit_time ?? 0);
    const u = ['source', 'sink'].includes(c.type) ? undefined : Math.min(1, (rate[n] * time) / 1000 / slots);
    cost += (c.cost_per_hour ?? 0) * (c.replicas ?? 1);
    lat += time * (1 + (u ?? 0) * 3);
    const m = { throughput: { mean: rate[n], half_width: rate[n] * 0.01 } };
    if (u !== undefined) Object.assign(m, { utilisation: { mean: u, half_width: 0.005 }, mean_wait: { mean: (time * u) / Math.max(0.05, 1 - u), half_width: null }, queue_length: { mean: u * u * 4, half_width: null } });
    components[n] = { type: c.type, measures: m };
    if (u !== undefined && (!worst || u > worst[1])) worst = [n, u];
  }
  const [bn, bu] = worst ?? [names[0], 0];
  const M = (x) => ({ mean: x, half_width: x * 0.02 });
  return {
    name: v.name ?? 'system', bottleneck: bn, reason: `${bn} is ${(bu * 100).toFixed(0)}% busy with its own work; calls wait ${components[bn]?.measures.mean_wait?.mean.toFixed(1) ?? 0} ms there on average`,
    events: 123456, saturated: bu >= 1 ? 0.2 : 0,
    measures: { latency_mean: M(lat), latency_p50: M(lat * 0.8), latency_p90: M(lat * 1.9), latency_p99: M(lat * 3.4), latency_p999: M(lat * 5.2), throughput: M(Object.values(comps).filter((c) => c.type === 'source').reduce((a, c) => a + c.arrivals.rate, 0) * (bu >= 1 ? 0.8 : 1)), success_ratio: M(bu >= 1 ? 0.8 : 1), error_ratio: M(0), cost_per_hour: { mean: cost, half_width: null } },
    components, edges,
  };
}

async function post(req, res, p, q) {
  let b;
  try { b = JSON.parse(await readBody(req)); } catch { return err(res, 400, 'invalid', 'the body is not JSON'); }
  let m;
  if (p === '/check') {
    if (typeof b.source !== 'string') return err(res, 400, 'invalid', '`source` must be a string');
    return json(res, 200, await checkStudy(b.source));
  }
  if ((m = p.match(/^\/projects\/([^/]+)\/studies$/))) {
    const proj = decodeURIComponent(m[1]);
    if (proj !== 'lab' && !(LOCAL && proj === 'local')) return err(res, 403, 'forbidden', `you cannot submit to \`${proj}\``, 'submitting needs the member role');
    const r = await checkStudy(String(b.source ?? ''));
    if (!r.ok) return err(res, 400, 'invalid', `${b.source_name ?? 'study.yaml'}: the study is not valid:\n${r.diagnostics.map((d) => `  line ${d.line ?? '?'}: ${d.message}`).join('\n')}`, 'fix it in the editor');
    let s = { project: proj, name: r.summary.name, owner: 'alice', queue: r.summary.queue, planned: r.summary.runs, rate: 2, submitted: new Date().toISOString() };
    const YAML = await import('yaml');
    const spec = YAML.parse(String(b.source));
    if (spec?.simulator?.builtin === 'sysdesign') {
      const file = spec.simulator.options?.topology ?? 'system.yaml';
      let topo;
      try { topo = await readTopology(String(b.files?.[file] ?? '')); } catch (e) { return json(res, 400, { error: { code: 'invalid', message: `${file}: ${e.message}`, field: 'simulator.options.topology', hint: e.hint ?? null } }); }
      if (process.env.MOCK_SUBMIT_DELAY) await new Promise((ok) => setTimeout(ok, Number(process.env.MOCK_SUBMIT_DELAY)));
      s = makeSimStudy(proj, spec, topo);
    }
    s.spec = { source_name: String(b.source_name || 'study.yaml'), source: String(b.source), files: b.files && typeof b.files === 'object' ? b.files : {} };
    const i = STUDIES.findIndex((x) => x.project === proj && x.name === s.name);
    const added = i < 0;
    if (added) STUDIES.unshift(s);
    const su = summary(added ? s : STUDIES[i]);
    return json(res, 201, { key: su.key, name: su.name, planned: su.planned, new: added ? su.planned : 0, queue: su.queue, state: su.state, spec_hash: su.spec_hash });
  }
  if (p === '/sysdesign/simulate' || p === '/sysdesign/export') {
    let v;
    try { v = await readTopology(String(b.topology ?? '')); } catch (e) { return json(res, 400, { error: { code: 'invalid', message: e.message, field: e.field ?? null, hint: e.hint ?? null } }); }
    if (p === '/sysdesign/simulate') {
      await new Promise((r) => setTimeout(r, 1200)); // "may take a few seconds"
      return json(res, 200, fakeSimulate(v));
    }
    const f = q.get('format');
    const names = Object.entries(v.components).filter(([, c]) => !['source', 'sink'].includes(c.type)).map(([n]) => n);
    const text = f === 'kubernetes'
      ? names.map((n) => `---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: ${n}}\nspec:\n  replicas: ${v.components[n].replicas ?? 1}\n`).join('')
      : f === 'compose' ? `# docker-compose skeleton (mock)\nservices:\n${names.map((n) => `  ${n}:\n    image: example/${n}:latest\n`).join('')}` : null;
    if (text === null) return err(res, 400, 'invalid', 'format must be compose or kubernetes');
    res.writeHead(200, { 'Content-Type': 'text/yaml; charset=utf-8', 'Cache-Control': 'no-store' });
    return res.end(text);
  }
  return err(res, 404, 'not_found', `no route POST ${p}`);
}

// --- reports, ETL, datasets, administration (made up) --------------------------
const day = (offset) => new Date(Date.now() - offset * 86400e3).toISOString().slice(0, 10);
const iso = (ms) => new Date(ms).toISOString();
const etl = { runs: [{ id: 1, trigger: 'schedule', started_at: iso(Date.now() - 180e3), finished_at: iso(Date.now() - 179e3), status: 'succeeded', tables: [{ table: 'report_simulator_day', changes: 120, groups: 30, read: 120, written: 30, deleted: 0, rejected: 1, new_rejects: 1 }], error: null }], last: Date.now() - 180e3 };
// MOCK_STALE=1: the reports are an hour behind; MOCK_NO_ETL=1: the ETL never ran.
if (process.env.MOCK_STALE === '1') etl.last = Date.now() - 3600e3;
if (process.env.MOCK_NO_ETL === '1') { etl.runs = []; etl.last = null; }
const fresh = () => ({ last_updated: etl.last ? iso(etl.last) : null, lag_s: etl.last ? (process.env.MOCK_STALE === '1' ? 3600 : 0) : 0 });
function inRange(q) {
  const to = q.get('to') || day(0);
  const from = q.get('from') || day(29);
  if (![from, to].every((d) => /^\d{4}-\d\d-\d\d$/.test(d))) return { bad: 'from and to are YYYY-MM-DD' };
  return { from, to };
}
function simulatorRows(from, to) {
  if (!etl.last) return [];
  const rows = [];
  for (let k = 20; k >= 0; k--) {
    const d = day(k);
    if (d < from || d > to) continue;
    ['command:sh', 'command:solver', 'sysdesign'].forEach((queue, j) => {
      if ((k + j) % 5 === 4) return; // some quiet days
      const runs = 20 + ((k * 7 + j * 13) % 40);
      const failed = (k + j) % 4;
      const p50 = 30 + j * 40 + (k % 6) * 3;
      rows.push({ queue, day: d, runs, succeeded: runs - failed, failed, cancelled: k % 7 === 0 ? 1 : 0, failure_rate: failed / runs, duration_p50: p50, duration_p90: p50 * 1.6, duration_p99: p50 * 2.2, busy_s: runs * p50 * 1.1, runs_per_hour: 3600 / (p50 * 1.1), last_updated: iso(etl.last) });
    });
  }
  return rows;
}
function hostRows(from, to) {
  if (!etl.last) return [];
  const rows = [];
  for (let k = 20; k >= 0; k--) {
    const d = day(k);
    if (d < from || d > to) continue;
    for (let h = 1; h <= 3; h++) {
      const runs = 15 + ((k * 5 + h * 11) % 30);
      rows.push({ host: `node-${h}`, day: d, runs, succeeded: runs - (h === 2 ? 2 : 0), failed: h === 2 ? 2 : 0, cancelled: 0, busy_s: runs * (40 + h * 10), mean_duration_s: 40 + h * 10, last_updated: iso(etl.last) });
    }
  }
  return rows;
}

const DATASETS = new Map(); // `${project}/${name}` -> versions (with metadata)
const BLOBS = new Map(); // sha -> Buffer
function describe(buf, fileName) {
  const text = buf.toString('utf8');
  if (/\.csv$/i.test(fileName) || /^[^\n]*,[^\n]*\n/.test(text)) {
    const lines = text.split(/\r?\n/).filter((l) => l.length);
    const head = (lines[0] || '').split(',');
    const data = lines.slice(1).map((l) => l.split(','));
    const columns = head.map((name, i) => ({ name: name.trim() || `column_${i + 1}`, type: data.every((r) => /^-?\d+$/.test(r[i] ?? '')) ? 'integer' : data.every((r) => !Number.isNaN(Number(r[i]))) ? 'float' : 'string', nulls: data.filter((r) => !r[i]).length }));
    return { format: 'csv', details: { delimiter: ',', has_header: true, rows: data.length, columns }, size_bytes: buf.length };
  }
  return { format: 'unknown', size_bytes: buf.length };
}
const readRaw = (req) => new Promise((ok) => { const parts = []; req.on('data', (d) => parts.push(d)); req.on('end', () => ok(Buffer.concat(parts))); });
function downloadBlob(res, sha, q) {
  if (!q.get('exp') || !q.get('name') || !q.get('sig')) return err(res, 400, 'invalid', 'missing exp, name or sig');
  if (q.get('sig') !== createHash('sha256').update(`${sha}:${q.get('exp')}:${q.get('name')}`).digest('hex').slice(0, 32) || Number(q.get('exp')) * 1000 < Date.now()) return err(res, 403, 'forbidden', 'bad or expired link');
  const b = BLOBS.get(sha);
  if (!b) return err(res, 404, 'not_found', 'no such content');
  res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': `attachment; filename="${q.get('name').replace(/"/g, '')}"`, ETag: `"${sha}"` });
  res.end(b);
}

const USERS = [{ name: 'alice', is_admin: false, disabled: false }, { name: 'bob', is_admin: false, disabled: false }, { name: 'root', is_admin: true, disabled: false }];
const TOKENS = [{ id: 1, user: 'alice', name: 'laptop', kind: 'api', prefix: 'sfa_1a2b', scopes: ['read', 'submit'], created_at: '2026-11-01T10:00:00Z', expires_at: null, last_used_at: '2026-11-29T08:00:00Z', revoked: false }];
const MEMBERS = { lab: [{ user: 'alice', role: 'admin' }, { user: 'bob', role: 'member' }], 'empty-project': [{ user: 'alice', role: 'viewer' }] };
const AUDIT = Array.from({ length: 75 }, (_, i) => ({ id: 75 - i, at: iso(Date.now() - i * 600e3), user: ['alice', 'bob', 'root'][i % 3], action: ['login', 'study_submit', 'dataset_upload', 'token_create'][i % 4], target: i % 4 === 1 ? 'lab/cavity-sweep' : 'alice', detail: i % 4 === 2 ? { sha256: hex(i, 16) } : {}, address: '127.0.0.1' }));
const forbidden = (res, what) => err(res, 403, 'forbidden', `${what} needs a server administrator`, 'sign in as root in the mock');

async function extra(req, res, p, q, user) {
  const admin = user === 'root';
  const M = req.method;
  let m;
  // reports
  if (M === 'GET' && (p === '/reports/simulators' || p === '/reports/hosts')) {
    const r = inRange(q);
    if (r.bad) return err(res, 400, 'invalid', r.bad), true;
    return json(res, 200, { from: r.from, to: r.to, rows: p === '/reports/hosts' ? hostRows(r.from, r.to) : simulatorRows(r.from, r.to), ...fresh() }), true;
  }
  if (M === 'GET' && (m = p.match(/^\/reports\/studies\/([^/]+)\/([^/]+)$/))) {
    const s = STUDIES.find((x) => x.project === decodeURIComponent(m[1]) && x.name === decodeURIComponent(m[2])) || (m[2] === 'xy-line' ? {} : null);
    if (!s) return err(res, 404, 'not_found', `no study \`${decodeURIComponent(m[2])}\``), true;
    const metrics = !etl.last ? [] : [['q_factor', 1300, 40], ['f0_hz', 2.46e9, 5e6]].map(([metric, mean, sd]) => ({ metric, n: 120, mean, stddev: sd, min: mean - 3 * sd, p5: mean - 1.6 * sd, p25: mean - 0.7 * sd, p50: mean, p75: mean + 0.7 * sd, p95: mean + 1.6 * sd, max: mean + 3 * sd, last_updated: iso(etl.last) }));
    return json(res, 200, { project: decodeURIComponent(m[1]), study: decodeURIComponent(m[2]), metrics, rejected_runs: metrics.length ? 2 : 0, ...fresh() }), true;
  }
  if (p === '/etl/runs' && M === 'GET') {
    if (!admin) return forbidden(res, 'the ETL log'), true;
    return json(res, 200, { tables: ['report_simulator_day', 'report_host_day', 'report_study_metric'].map((table) => ({ table, ...fresh(), pending_changes: 0 })), runs: etl.runs }), true;
  }
  if (p === '/etl/run' && M === 'POST') {
    if (!admin) return forbidden(res, 'running the ETL'), true;
    await new Promise((r) => setTimeout(r, 500));
    etl.last = Date.now();
    const run = { id: etl.runs.length + 1, trigger: 'api', started_at: iso(etl.last - 400), finished_at: iso(etl.last), status: 'succeeded', tables: [{ table: 'report_simulator_day', changes: 3, groups: 1, read: 3, written: 1, deleted: 0, rejected: 0, new_rejects: 0 }], error: null };
    etl.runs.unshift(run);
    return json(res, 200, run), true;
  }
  // datasets
  if ((m = p.match(/^\/projects\/([^/]+)\/datasets(?:\/([^/]+)(?:\/versions\/([^/]+)(\/link)?)?)?$/))) {
    const proj = decodeURIComponent(m[1]);
    if (!PROJECTS.some((x) => x.name === proj)) return err(res, 404, 'not_found', `no project \`${proj}\``), true;
    const name = m[2] && decodeURIComponent(m[2]);
    const key = `${proj}/${name}`;
    const strip = ({ metadata, ...v }) => v;
    if (!name && M === 'GET') {
      const list = [...DATASETS.entries()].filter(([k]) => k.startsWith(`${proj}/`)).map(([k, vs]) => ({ name: k.slice(proj.length + 1), versions: vs.length, latest: strip(vs[vs.length - 1]) }));
      return json(res, 200, { project: proj, datasets: list.sort((a, b) => a.name.localeCompare(b.name)) }), true;
    }
    if (name && !m[3] && M === 'POST') {
      if (proj !== 'lab') return err(res, 403, 'forbidden', `you cannot upload to \`${proj}\``, 'uploading needs the member role'), true;
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) return err(res, 400, 'invalid', `bad dataset name \`${name}\``), true;
      const buf = await readRaw(req);
      if (!buf.length) return err(res, 400, 'invalid', 'the body is empty', 'send the file as the raw body'), true;
      const sha = createHash('sha256').update(buf).digest('hex');
      const vs = DATASETS.get(key) ?? [];
      const last = vs[vs.length - 1];
      if (last && last.sha256 === sha) return json(res, 200, { ...last, deduplicated: true }), true;
      BLOBS.set(sha, buf);
      const fileName = q.get('file_name') || name;
      const metadata = describe(buf, fileName);
      const v = { project: proj, dataset: name, version: vs.length + 1, sha256: sha, size_bytes: buf.length, content_type: req.headers['content-type'] ?? null, file_name: fileName, format: metadata.format, description: q.get('description') || null, uploader: user, created_at: iso(Date.now()), metadata };
      vs.push(v);
      DATASETS.set(key, vs);
      return json(res, 201, { ...v, deduplicated: false }), true;
    }
    const vs = DATASETS.get(key);
    if (name && !vs) return err(res, 404, 'not_found', `no dataset \`${name}\` in project \`${proj}\``), true;
    if (name && !m[3] && M === 'GET') return json(res, 200, { project: proj, dataset: name, versions: vs.map(strip) }), true;
    if (m[3]) {
      const v = m[3] === 'latest' ? vs[vs.length - 1] : vs.find((x) => String(x.version) === m[3]);
      if (!v) return err(res, 404, 'not_found', `no version ${m[3]} of \`${name}\``), true;
      if (!m[4] && M === 'GET') return json(res, 200, v), true;
      if (m[4] && M === 'POST') {
        const exp = Math.floor(Date.now() / 1000) + 600;
        const sig = createHash('sha256').update(`${v.sha256}:${exp}:${v.file_name}`).digest('hex').slice(0, 32);
        const path = `/api/v1/blobs/${v.sha256}?exp=${exp}&name=${encodeURIComponent(v.file_name)}&sig=${sig}`;
        return json(res, 200, { project: proj, dataset: name, version: v.version, sha256: v.sha256, url: `http://${req.headers.host}${path}`, path, exp, expires_at: iso(exp * 1000) }), true;
      }
    }
    return false;
  }
  // administration
  if (p === '/tokens' && M === 'GET') return json(res, 200, { tokens: TOKENS.filter((t) => t.user === user).map(({ user: _, ...t }) => t) }), true;
  if (p === '/tokens' && M === 'POST') {
    const b = JSON.parse((await readRaw(req)).toString() || '{}');
    if (!b.name || !Array.isArray(b.scopes) || !b.scopes.length) return err(res, 400, 'invalid', 'name and scopes are required'), true;
    const id = Math.max(0, ...TOKENS.map((t) => t.id)) + 1;
    const secret = `sfa_${hex(id * 97, 40)}`;
    TOKENS.push({ id, user, name: b.name, kind: 'api', prefix: secret.slice(0, 8), scopes: b.scopes, created_at: iso(Date.now()), expires_at: b.expires_in_days ? iso(Date.now() + b.expires_in_days * 86400e3) : null, last_used_at: null, revoked: false });
    return json(res, 201, { id, token: secret, name: b.name, scopes: b.scopes }), true;
  }
  if ((m = p.match(/^\/tokens\/(\d+)$/)) && M === 'DELETE') {
    const t = TOKENS.find((x) => x.id === Number(m[1]) && x.user === user);
    if (!t) return err(res, 404, 'not_found', `no token ${m[1]}`), true;
    t.revoked = true;
    res.writeHead(204);
    return res.end(), true;
  }
  if (p === '/users' || p.startsWith('/users/') || p === '/audit') {
    if (!admin) return forbidden(res, 'this'), true;
    if (p === '/users' && M === 'GET') return json(res, 200, { users: USERS }), true;
    if (p === '/users' && M === 'POST') {
      const b = JSON.parse((await readRaw(req)).toString() || '{}');
      if (USERS.some((u) => u.name === b.name)) return err(res, 409, 'conflict', `user \`${b.name}\` exists`), true;
      if (b.password !== undefined && b.password.length < 10) return err(res, 400, 'invalid', 'the password needs at least 10 characters'), true;
      USERS.push({ name: b.name, is_admin: !!b.admin, disabled: false });
      USERS.sort((a, c) => a.name.localeCompare(c.name));
      return json(res, 201, { id: USERS.length, name: b.name, is_admin: !!b.admin }), true;
    }
    if ((m = p.match(/^\/users\/([^/]+)$/)) && M === 'PATCH') {
      const u = USERS.find((x) => x.name === decodeURIComponent(m[1]));
      if (!u) return err(res, 404, 'not_found', 'no such user'), true;
      const b = JSON.parse((await readRaw(req)).toString() || '{}');
      if (b.admin !== undefined) u.is_admin = b.admin;
      if (b.disabled !== undefined) u.disabled = b.disabled;
      res.writeHead(204);
      return res.end(), true;
    }
    if (p === '/audit' && M === 'GET') {
      const since = q.get('since') ? Date.parse(q.get('since')) : 0;
      const rows = AUDIT.filter((a) => (!q.get('user') || a.user === q.get('user')) && (!q.get('action') || a.action === q.get('action')) && Date.parse(a.at) >= since);
      const off = Number(q.get('offset') || 0);
      return json(res, 200, { entries: rows.slice(off, off + Number(q.get('limit') || 100)) }), true;
    }
    return false;
  }
  if ((m = p.match(/^\/projects\/([^/]+)\/members(?:\/([^/]+))?$/))) {
    const proj = decodeURIComponent(m[1]);
    const ms = MEMBERS[proj];
    if (!ms) return err(res, 404, 'not_found', `no project \`${proj}\``), true;
    if (!m[2] && M === 'GET') return json(res, 200, { members: ms }), true;
    if (!m[2]) return false;
    if (!admin && !(proj === 'lab' && user === 'alice')) return err(res, 403, 'forbidden', 'changing members needs the project admin role'), true;
    const who = decodeURIComponent(m[2]);
    if (M === 'PUT') {
      const b = JSON.parse((await readRaw(req)).toString() || '{}');
      if (!['viewer', 'member', 'admin'].includes(b.role)) return err(res, 400, 'invalid', 'role is viewer, member or admin'), true;
      if (!USERS.some((u) => u.name === who)) return err(res, 404, 'not_found', `no user \`${who}\``), true;
      const e = ms.find((x) => x.user === who);
      if (e) e.role = b.role; else ms.push({ user: who, role: b.role });
      ms.sort((a, c) => a.user.localeCompare(c.user));
    } else if (M === 'DELETE') {
      const i = ms.findIndex((x) => x.user === who);
      if (i < 0) return err(res, 404, 'not_found', `\`${who}\` is not a member`), true;
      ms.splice(i, 1);
    } else return false;
    res.writeHead(204);
    return res.end(), true;
  }
  return false;
}

async function file(res, rel, type) {
  try {
    const body = await readFile(join(DIST, rel));
    // The same Content-Security-Policy as the Rust server's pages (src/ui.rs).
    const csp = { 'Content-Security-Policy': "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'" };
    res.writeHead(200, { 'Content-Type': type, 'Cache-Control': rel.startsWith('assets/') ? 'public, max-age=31536000, immutable' : 'no-cache', ...(rel === 'index.html' ? csp : {}) });
    res.end(body);
  } catch {
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end(rel === 'index.html' ? 'dist/index.html is missing: run `npm run build` first\n' : 'not found\n');
  }
}

// A demo optimisation in `lab`, started with the mock (the study page's panel, the explorer's convergence).
const DEMO_TOPOLOGY = { name: 'shop', components: { clients: { type: 'source', arrivals: { process: 'poisson', rate: 400 }, to: 'api' }, api: { type: 'service', replicas: 4, concurrency: 4, service_time: { dist: 'exponential', mean: 12 }, cost_per_hour: 0.1, calls: ['db'] }, db: { type: 'database', pool: 8, query_time: { dist: 'exponential', mean: 6 }, cost_per_hour: 1.2 } } };
STUDIES.push(makeSimStudy('lab', { name: 'shop-cheapest', parameters: { 'components.api.replicas': { range: [1, 12], type: 'integer' }, 'components.db.pool': { range: [2, 32], type: 'integer' } },
  design: { sampler: 'lhs', samples: 4, seed: 1 }, objective: { minimize: 'cost_per_hour', constraints: ['latency_p99 <= 200'] }, optimize: { budget: 30, batch: 2, patience: 6 } }, DEMO_TOPOLOGY, START - 20_000));

createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  try {
    if (url.pathname.startsWith('/api/')) return await api(req, res, url);
    if (req.method !== 'GET' && req.method !== 'HEAD') return err(res, 405, 'invalid', 'method not allowed');
    if (url.pathname.startsWith('/assets/')) {
      const rel = normalize(url.pathname.slice(1));
      if (!rel.startsWith('assets/')) return file(res, '', 'text/plain');
      return file(res, rel, TYPES[extname(rel)] || 'application/octet-stream');
    }
    return file(res, 'index.html', TYPES['.html']); // SPA fallback
  } catch (e) {
    err(res, 500, 'internal', String(e));
  }
}).listen(PORT, '127.0.0.1', () => console.log(`mock simforge API + dashboard on http://127.0.0.1:${PORT}/ (alice / correct-horse)`));

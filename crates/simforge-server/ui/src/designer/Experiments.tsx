// The designer's experiments on the server: a sweep of one property (a grid
// study, followed until its runs are done, then p99 latency and cost per hour
// plotted against the swept value) and "find the cheapest design" (a study with
// an objective and an `optimize:` section: the server's Bayesian optimisation
// proposes runs until its budget or patience is spent; the best design can be
// applied to the canvas). The running experiment is remembered in localStorage,
// so leaving the page and coming back picks it up again.
import type { ComponentChildren } from 'preact';
import { useEffect, useMemo, useState } from 'preact/hooks';
import { api, ApiError, canSubmit, get, type Me, type Run, type Study, withQuery } from '../api';
import { ErrorBox, Progress, StateBadge } from '../components';
import { fmtTime } from '../format';
import { usePoll } from '../hooks';
import { Link, paths } from '../router';
import type { Design } from './model';
import { type Dim, numericProps, type NumProp, optimizeYaml, rangeProblem, show, studyName, sweepValues, sweepYaml } from './studies';

const POLL_MS = 1500;
const SWEEP_KEY = 'simforge.designer.sweep';
const OPT_KEY = 'simforge.designer.optimize';

export interface Change {
  comp: string;
  path: string[];
  value: number;
}

interface PropRef {
  comp: string;
  path: string[];
  param: string;
  label: string;
  int: boolean;
}
interface SweepJob {
  project: string;
  study: string;
  prop: PropRef;
  values: number[];
}
interface OptJob {
  project: string;
  study: string;
  dims: PropRef[];
  limit: number;
  budget: number;
}

function stored<T>(k: string): T | null {
  try {
    return JSON.parse(localStorage.getItem(k) ?? 'null');
  } catch {
    return null;
  }
}
function store(k: string, v: unknown) {
  try {
    if (v === null) localStorage.removeItem(k);
    else localStorage.setItem(k, JSON.stringify(v));
  } catch {
    // Storage off: the experiment is followed while the page stays open.
  }
}

const ref = (p: NumProp): PropRef => ({ comp: p.comp, path: p.path, param: p.param, label: p.label, int: p.int });
const propName = (p: PropRef) => p.path.join('.');
const toErr = (e: unknown) => (e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));
const seg = encodeURIComponent;
const sample = (project: string, study: string) => get<{ rows: Run[] }>(withQuery(`/projects/${seg(project)}/studies/${seg(study)}/explore/sample`, { n: 2000 }));
const active = (s: Study) => (s.counts.pending ?? 0) + (s.counts.running ?? 0) > 0;
const numOf = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** The experiments section: the project picker and the two panels. */
export function Experiments({ me, design, yaml, onApply }: { me: Me; design: Design; yaml: string; onApply: (c: Change[], what: string) => void }) {
  const [projects, setProjects] = useState<string[] | undefined>(me.local ? ['local'] : undefined);
  const [projError, setProjError] = useState<ApiError>();
  const [project, setProject] = useState(me.local ? 'local' : '');
  useEffect(() => {
    if (me.local) return;
    api
      .projects()
      .then((r) => {
        const ok = r.projects.map((p) => p.name).filter((p) => canSubmit(me, p));
        setProjects(ok);
        setProject((cur) => (cur && ok.includes(cur) ? cur : (ok[0] ?? '')));
      })
      .catch((e) => setProjError(toErr(e)));
  }, [me]);
  const props = useMemo(() => numericProps(design), [design]);

  return (
    <section class="experiments" aria-labelledby="exp-h" data-testid="experiments">
      <h2 id="exp-h">Experiments on the server</h2>
      <p class="muted small">
        Each runs the design as a study of the <code>sysdesign</code> simulator (this topology goes along as <code>system.yaml</code>): one run per design point, on the
        project's workers.
      </p>
      <div class="toolbar">
        <label for="experiment-project">Project</label>
        {me.local ? (
          <span data-testid="experiment-project">local</span>
        ) : (
          <select id="experiment-project" data-testid="experiment-project" value={project} onChange={(e) => setProject(e.currentTarget.value)} disabled={!projects?.length}>
            {!projects && <option value="">loading…</option>}
            {projects?.length === 0 && <option value="">no project you may submit to</option>}
            {projects?.map((p) => (
              <option key={p} value={p}>
                {p}
              </option>
            ))}
          </select>
        )}
      </div>
      {projError && <ErrorBox error={projError} title="Cannot list the projects" />}
      {projects?.length === 0 && <p class="warn">Running experiments needs the member role in some project.</p>}
      {props.length === 0 ? (
        <p class="muted" data-testid="experiments-empty">
          Add a component with a numeric property (a service's replicas, a source's rate…) to sweep or optimise it.
        </p>
      ) : (
        <div class="exp-grid">
          <SweepPanel project={project} props={props} yaml={yaml} />
          <OptimizePanel project={project} props={props} yaml={yaml} onApply={onApply} />
        </div>
      )}
    </section>
  );
}

// --- sweep -------------------------------------------------------------------------------

function defaults(p: NumProp | undefined): { from: string; to: string; steps: string } {
  if (!p) return { from: '', to: '', steps: '' };
  const v = p.value;
  if (p.int) {
    const lo = Math.max(p.min ?? 1, 1);
    const hi = Math.max(lo + 2, Math.min(lo + 9, (v ?? lo) * 2));
    return { from: String(lo), to: String(hi), steps: String(hi - lo + 1) };
  }
  const base = v && v > 0 ? v : 1;
  const hi = p.max !== undefined ? Math.min(p.max, base * 2) : base * 2;
  return { from: show(base / 2), to: show(hi), steps: '5' };
}

function SweepPanel({ project, props, yaml }: { project: string; props: NumProp[]; yaml: string }) {
  const comps = [...new Set(props.map((p) => p.comp))];
  const [comp, setComp] = useState(() => (comps.includes('api') ? 'api' : (props.find((p) => p.path[0] === 'replicas')?.comp ?? comps[0])));
  const mine = props.filter((p) => p.comp === comp);
  const [param, setParam] = useState(() => mine[0]?.param ?? '');
  const prop = props.find((p) => p.param === param) ?? mine[0];
  const [range, setRange] = useState(() => defaults(prop));
  const [job, setJob] = useState<SweepJob | null>(() => stored<SweepJob>(SWEEP_KEY));
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<ApiError>();
  const [limit, setLimit] = useState('');

  const pickComp = (c: string) => {
    setComp(c);
    const p = props.find((x) => x.comp === c);
    setParam(p?.param ?? '');
    setRange(defaults(p));
  };
  const pickProp = (k: string) => {
    setParam(k);
    setRange(defaults(props.find((x) => x.param === k)));
  };
  // A component renamed or deleted: fall back to one that exists.
  useEffect(() => {
    if (!comps.includes(comp)) pickComp(comps[0]);
  }, [comps.join('\u0000')]);

  const from = Number(range.from);
  const to = Number(range.to);
  const steps = Number(range.steps);
  const problem = range.from === '' || range.to === '' || range.steps === '' ? 'Enter from, to and steps.' : rangeProblem(prop, from, to, steps);
  const values = problem || !prop ? [] : sweepValues(from, to, steps, prop.int);

  const run = async () => {
    if (!prop || problem) return;
    setSubmitting(true);
    setError(undefined);
    const name = studyName(`sweep-${prop.comp}-${propName(prop)}`);
    try {
      await api.submit(project, { source: sweepYaml(name, prop, values), source_name: 'study.yaml', files: { 'system.yaml': yaml } });
      const j = { project, study: name, prop: ref(prop), values };
      setJob(j);
      store(SWEEP_KEY, j);
    } catch (e) {
      setError(toErr(e));
    } finally {
      setSubmitting(false);
    }
  };

  return (
    <section class="exp-panel" aria-labelledby="sweep-h" data-testid="sweep-panel">
      <h3 id="sweep-h">Sweep a property</h3>
      <p class="muted small">Runs the design once per value (a grid study), then plots p99 latency and cost per hour against it.</p>
      <div class="form-row">
        <label>
          Component
          <select data-testid="sweep-component" value={comp} onChange={(e) => pickComp(e.currentTarget.value)}>
            {comps.map((c) => (
              <option key={c} value={c}>
                {c}
              </option>
            ))}
          </select>
        </label>
        <label>
          Property
          <select data-testid="sweep-property" value={prop?.param ?? ''} onChange={(e) => pickProp(e.currentTarget.value)}>
            {mine.map((p) => (
              <option key={p.param} value={p.param}>
                {p.label}
                {p.value !== undefined ? ` (now ${show(p.value)})` : ''}
              </option>
            ))}
          </select>
        </label>
      </div>
      <div class="form-row">
        <label>
          From
          <input data-testid="sweep-from" type="number" inputMode="decimal" step={prop?.int ? 1 : 'any'} min={prop?.min} max={prop?.max} value={range.from} onInput={(e) => setRange({ ...range, from: e.currentTarget.value })} />
        </label>
        <label>
          To
          <input data-testid="sweep-to" type="number" inputMode="decimal" step={prop?.int ? 1 : 'any'} min={prop?.min} max={prop?.max} value={range.to} onInput={(e) => setRange({ ...range, to: e.currentTarget.value })} />
        </label>
        <label>
          Steps
          <input data-testid="sweep-steps" type="number" inputMode="numeric" step={1} min={1} max={200} value={range.steps} onInput={(e) => setRange({ ...range, steps: e.currentTarget.value })} />
        </label>
      </div>
      <p class="small" data-testid="sweep-values" aria-live="polite">
        {problem ? <span class="warn">{problem}</span> : `${values.length} run${values.length === 1 ? '' : 's'}: ${propName(prop!)} = ${values.map(show).join(', ')}`}
      </p>
      <button type="button" data-testid="sweep-run" onClick={run} disabled={!!problem || !project || submitting} aria-busy={submitting}>
        {submitting ? 'Submitting…' : 'Run sweep'}
      </button>
      {error && (
        <div data-testid="sweep-error">
          <ErrorBox error={error} title="The server refused the sweep" />
        </div>
      )}
      {job && <SweepFollow key={`${job.project}/${job.study}`} job={job} limit={limit} setLimit={setLimit} onClose={() => (setJob(null), store(SWEEP_KEY, null))} />}
    </section>
  );
}

interface SweepPoint {
  x: number;
  p99: number | null;
  cost: number | null;
}

function SweepFollow({ job, limit, setLimit, onClose }: { job: SweepJob; limit: string; setLimit: (s: string) => void; onClose: () => void }) {
  const [done, setDone] = useState(false);
  const st = usePoll(() => api.study(job.project, job.study), [job.project, job.study], done ? null : POLL_MS);
  const s = st.data;
  useEffect(() => {
    if (s && s.planned > 0 && !active(s)) setDone(true);
    if (st.error?.status === 404 && !s) setDone(true);
  }, [s, st.error]);
  const succeeded = s?.counts.succeeded ?? 0;
  // The sample again whenever a run succeeds: the charts fill in as the sweep runs.
  const [rows, setRows] = useState<Run[]>();
  const [rowsError, setRowsError] = useState<ApiError>();
  useEffect(() => {
    if (!s || succeeded === 0) return;
    let live = true;
    sample(job.project, job.study)
      .then((r) => live && (setRows(r.rows), setRowsError(undefined)))
      .catch((e) => live && setRowsError(toErr(e)));
    return () => {
      live = false;
    };
  }, [succeeded, done]);

  const points: SweepPoint[] = useMemo(() => {
    const by = new Map<number, { p99: number[]; cost: number[] }>();
    for (const r of rows ?? []) {
      const x = numOf(r.params?.[job.prop.param]);
      if (x === null) continue;
      let g = by.get(x);
      if (!g) by.set(x, (g = { p99: [], cost: [] }));
      const p = numOf(r.metrics?.latency_p99);
      const c = numOf(r.metrics?.cost_per_hour);
      if (p !== null) g.p99.push(p);
      if (c !== null) g.cost.push(c);
    }
    const avg = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : null);
    return [...by.entries()].map(([x, g]) => ({ x, p99: avg(g.p99), cost: avg(g.cost) })).sort((a, b) => a.x - b.x);
  }, [rows]);

  const lim = limit.trim() === '' ? null : Number(limit);
  const limOk = lim !== null && Number.isFinite(lim) && lim > 0;
  const meeting = limOk ? points.filter((p) => p.p99 !== null && p.p99 <= lim! && p.cost !== null) : [];
  const cheapest = meeting.sort((a, b) => a.cost! - b.cost! || a.x - b.x)[0];
  const name = propName(job.prop);
  const c = (k: string) => s?.counts[k] ?? 0;
  const failed = c('failed') + c('timed_out') + c('cancelled');

  return (
    <div class="exp-follow" data-testid="sweep-follow">
      <h4>
        Sweep <span class="name">{job.study}</span>
      </h4>
      <p class="small">
        <Link href={paths.study(job.project, job.study)} data-testid="sweep-study-link">
          Study page
        </Link>{' '}
        ·{' '}
        <Link href={paths.explore(job.project, job.study)} data-testid="sweep-explore-link">
          Explore results
        </Link>{' '}
        ·{' '}
        <button type="button" class="secondary tiny" onClick={onClose}>
          Dismiss
        </button>
      </p>
      {st.error && <ErrorBox error={st.error} title="Cannot follow the sweep" />}
      {s && (
        <div data-testid="sweep-progress" data-done={s.done} data-planned={s.planned} data-finished={done ? 'true' : 'false'}>
          <Progress
            total={s.planned}
            segments={[
              { value: c('succeeded'), cls: 'ok', label: 'succeeded' },
              { value: failed, cls: 'bad', label: 'failed' },
              { value: c('running'), cls: 'run', label: 'running' },
            ]}
          />
          <p class="small" role="status">
            {done ? `Done: ${c('succeeded')} of ${s.planned} runs succeeded${failed ? `, ${failed} failed` : ''}.` : `${s.done} of ${s.planned} runs done, ${c('running')} running…`}
          </p>
        </div>
      )}
      {rowsError && <ErrorBox error={rowsError} title="Cannot load the results" />}
      {points.length > 0 && (
        <>
          <div class="form-row">
            <label>
              p99 limit (ms)
              <input data-testid="sweep-limit" type="number" inputMode="decimal" min={0} step="any" placeholder="optional" value={limit} onInput={(e) => setLimit(e.currentTarget.value)} />
            </label>
          </div>
          <p data-testid="sweep-cheapest" role="status" data-value={cheapest ? cheapest.x : undefined}>
            {!limOk ? (
              <span class="muted">Enter a p99 limit to find the cheapest value meeting it.</span>
            ) : cheapest ? (
              <>
                Cheapest meeting p99 ≤ {show(lim)} ms:{' '}
                <strong>
                  {name} = {show(cheapest.x)}
                </strong>
                , {show(cheapest.cost)} $/h (p99 {show(cheapest.p99)} ms)
              </>
            ) : (
              <span class="warn">
                No swept value meets p99 ≤ {show(lim)} ms{done ? '' : ' yet'}.
              </span>
            )}
          </p>
          <div class="sweep-charts">
            <MiniChart testid="sweep-chart-p99" title="p99 latency (ms)" xLabel={name} pts={points.map((p) => ({ x: p.x, y: p.p99 }))} limit={limOk ? lim! : undefined} mark={cheapest?.x} />
            <MiniChart testid="sweep-chart-cost" title="cost per hour ($/h)" xLabel={name} pts={points.map((p) => ({ x: p.x, y: p.cost }))} mark={cheapest?.x} />
          </div>
          <details class="data-table">
            <summary>Values as a table</summary>
            <div class="table-wrap">
              <table data-testid="sweep-table">
                <caption class="sr-only">p99 latency and cost per hour per value of {name}</caption>
                <thead>
                  <tr>
                    <th scope="col" class="num">
                      {name}
                    </th>
                    <th scope="col" class="num">
                      p99 (ms)
                    </th>
                    <th scope="col" class="num">
                      cost ($/h)
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {points.map((p) => (
                    <tr key={p.x} data-testid={`sweep-row-${p.x}`}>
                      <td class="num" data-col="x" data-value={p.x}>
                        {show(p.x)}
                      </td>
                      <td class="num" data-col="p99" data-value={p.p99 ?? undefined}>
                        {show(p.p99)}
                      </td>
                      <td class="num" data-col="cost" data-value={p.cost ?? undefined}>
                        {show(p.cost)}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          </details>
        </>
      )}
      {done && s && points.length === 0 && !rowsError && <p class="warn">No run of the sweep succeeded: see the study page for the reasons.</p>}
    </div>
  );
}

/** A small line chart of y against x, with an optional horizontal limit line and a marked x. */
function MiniChart({ testid, title, xLabel, pts, limit, mark }: { testid: string; title: string; xLabel: string; pts: { x: number; y: number | null }[]; limit?: number; mark?: number }) {
  const W = 360;
  const H = 220;
  const m = { l: 56, r: 14, t: 24, b: 40 };
  const ok = pts.filter((p): p is { x: number; y: number } => p.y !== null);
  const xs = ok.map((p) => p.x);
  const top = Math.max(...ok.map((p) => p.y));
  // A limit far above the values would flatten them: it is named instead of drawn.
  const drawLimit = limit !== undefined && (ok.length === 0 || limit <= top * 1.5);
  const ys = ok.map((p) => p.y).concat(drawLimit ? [limit!] : []);
  let x0 = xs.length ? Math.min(...xs) : 0;
  let x1 = xs.length ? Math.max(...xs) : 1;
  // The values' own range (not from 0), so small differences show; padded a little.
  const lo = ys.length ? Math.min(...ys) : 0;
  const hi = ys.length ? Math.max(...ys) : 1;
  const span = hi - lo || Math.abs(hi) || 1;
  let y0 = lo >= 0 ? Math.max(0, lo - span * 0.15) : lo - span * 0.15;
  let y1 = hi + span * 0.12;
  if (!(x1 > x0)) [x0, x1] = [x0 - 1, x1 + 1];
  if (!(y1 > y0)) y1 = y0 + 1;
  const sx = (v: number) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (v: number) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
  const tick = (lo: number, hi: number, n: number) => {
    const raw = (hi - lo) / n;
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 2.5, 5, 10].map((k) => k * mag).find((s) => s >= raw) ?? raw;
    const out: number[] = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(Number(t.toPrecision(10)));
    return out;
  };
  const xt = xs.length <= 8 ? [...new Set(xs)] : tick(x0, x1, 5);
  const summary = ok.length
    ? `${title} against ${xLabel}: ${ok.map((p) => `${show(p.x)} → ${show(p.y)}`).join(', ')}${limit !== undefined ? `; limit ${show(limit)}` : ''}.`
    : `${title}: no values yet.`;
  return (
    <figure class="chart mini" aria-label={summary}>
      <svg data-testid={testid} data-points={ok.length} xmlns="http://www.w3.org/2000/svg" viewBox={`0 0 ${W} ${H}`} width={W} height={H} role="img" aria-label={summary} font-size="12" fill="currentColor">
        <title>{title}</title>
        <text x={m.l} y={14} font-weight="600" font-size="13">
          {title}
        </text>
        <line x1={m.l} x2={W - m.r} y1={H - m.b} y2={H - m.b} stroke="currentColor" stroke-opacity="0.5" />
        <line x1={m.l} x2={m.l} y1={m.t} y2={H - m.b} stroke="currentColor" stroke-opacity="0.5" />
        {tick(y0, y1, 4).map((t) => (
          <g key={`y${t}`}>
            <line x1={m.l} x2={W - m.r} y1={sy(t)} y2={sy(t)} stroke="currentColor" stroke-opacity="0.1" />
            <text x={m.l - 6} y={sy(t) + 4} text-anchor="end">
              {show(t)}
            </text>
          </g>
        ))}
        {xt.map((t) => (
          <text key={`x${t}`} x={sx(t)} y={H - m.b + 15} text-anchor="middle">
            {show(t)}
          </text>
        ))}
        <text x={(m.l + W - m.r) / 2} y={H - 6} text-anchor="middle" font-weight="600">
          {xLabel}
        </text>
        {limit !== undefined && !drawLimit && (
          <text x={W - m.r} y={14} text-anchor="end" fill="#b3261e">
            limit {show(limit)} (above)
          </text>
        )}
        {limit !== undefined && drawLimit && (
          <g class="limit">
            <line x1={m.l} x2={W - m.r} y1={sy(limit)} y2={sy(limit)} stroke="#b3261e" stroke-dasharray="5 4" stroke-width="1.5" />
            <text x={W - m.r} y={sy(limit) - 4} text-anchor="end" fill="#b3261e">
              limit {show(limit)}
            </text>
          </g>
        )}
        {ok.length > 1 && <path d={ok.map((p, i) => `${i ? 'L' : 'M'}${sx(p.x).toFixed(1)} ${sy(p.y).toFixed(1)}`).join('')} fill="none" stroke="#1f5fbf" stroke-width="1.8" />}
        {ok.map((p) => (
          <circle key={p.x} class="spt" data-x={p.x} data-y={p.y} cx={sx(p.x)} cy={sy(p.y)} r={p.x === mark ? 6 : 4} fill={p.x === mark ? '#1b9e77' : '#1f5fbf'} stroke={p.x === mark ? '#0b5d46' : 'none'} stroke-width="2">
            <title>{`${xLabel} = ${show(p.x)}: ${show(p.y)}`}</title>
          </circle>
        ))}
      </svg>
    </figure>
  );
}

// --- find the cheapest design ----------------------------------------------------------------

interface DimInput {
  on: boolean;
  lo: string;
  hi: string;
}

function dimDefaults(p: NumProp): DimInput {
  const d = defaults(p);
  if (p.int) {
    const v = p.value ?? Math.max(1, p.min ?? 1);
    return { on: false, lo: String(Math.max(p.min ?? 1, 1)), hi: String(Math.max(v * 2, Math.max(p.min ?? 1, 1) + 1)) };
  }
  return { on: false, lo: d.from, hi: d.to };
}

function OptimizePanel({ project, props, yaml, onApply }: { project: string; props: NumProp[]; yaml: string; onApply: (c: Change[], what: string) => void }) {
  const [dims, setDims] = useState<Record<string, DimInput>>({});
  const [limit, setLimit] = useState('200');
  const [budget, setBudget] = useState('20');
  const [job, setJob] = useState<OptJob | null>(() => stored<OptJob>(OPT_KEY));
  const [submitting, setSubmitting] = useState(false);
  const [error, setError] = useState<ApiError>();
  const dimOf = (p: NumProp) => dims[p.param] ?? dimDefaults(p);
  const setDim = (p: NumProp, d: Partial<DimInput>) => setDims((cur) => ({ ...cur, [p.param]: { ...(cur[p.param] ?? dimDefaults(p)), ...d } }));
  const chosen = props.filter((p) => dimOf(p).on);
  const lim = Number(limit);
  const bud = Number(budget);
  const problems: string[] = [];
  if (chosen.length === 0) problems.push('Tick at least one property to vary.');
  for (const p of chosen) {
    const d = dimOf(p);
    const why = d.lo === '' || d.hi === '' ? 'enter both ends' : rangeProblem(p, Number(d.lo), Number(d.hi));
    if (why) problems.push(`${p.comp} ${p.label}: ${why}`);
    else if (Number(d.lo) === Number(d.hi)) problems.push(`${p.comp} ${p.label}: the range is a single value.`);
  }
  if (!(limit.trim() !== '' && Number.isFinite(lim) && lim > 0)) problems.push('Enter the p99 limit in ms.');
  if (!(Number.isInteger(bud) && bud >= Math.max(4, 2 * chosen.length) && bud <= 1000)) problems.push(`The budget is a whole number of runs from ${Math.max(4, 2 * chosen.length)} (the initial design) to 1000.`);

  const run = async () => {
    if (problems.length) return;
    setSubmitting(true);
    setError(undefined);
    const ds: Dim[] = chosen.map((p) => ({ p, lo: Number(dimOf(p).lo), hi: Number(dimOf(p).hi) }));
    const name = studyName('optimize');
    try {
      await api.submit(project, { source: optimizeYaml(name, ds, lim, bud), source_name: 'study.yaml', files: { 'system.yaml': yaml } });
      const j: OptJob = { project, study: name, dims: chosen.map(ref), limit: lim, budget: bud };
      setJob(j);
      store(OPT_KEY, j);
    } catch (e) {
      setError(toErr(e));
    } finally {
      setSubmitting(false);
    }
  };

  const comps = [...new Set(props.map((p) => p.comp))];
  return (
    <section class="exp-panel" aria-labelledby="opt-h" data-testid="opt-panel">
      <h3 id="opt-h">Find the cheapest design</h3>
      <p class="muted small">
        Minimises cost per hour subject to p99 latency ≤ the limit, varying the ticked properties within their ranges (Bayesian optimisation on the server).
      </p>
      <div class="dims" role="group" aria-label="Properties to vary">
        {comps.map((c) => (
          <fieldset key={c} class="dim-comp">
            <legend>
              <span class="name">{c}</span>
            </legend>
            {props
              .filter((p) => p.comp === c)
              .map((p) => {
                const d = dimOf(p);
                const id = `opt-${p.param}`;
                return (
                  <div key={p.param} class={`dim${d.on ? ' on' : ''}`}>
                    <label class="check">
                      <input type="checkbox" data-testid={`opt-dim-${p.param}`} checked={d.on} onChange={(e) => setDim(p, { on: e.currentTarget.checked })} /> {p.label}
                      {p.value !== undefined && <span class="muted small"> (now {show(p.value)})</span>}
                    </label>
                    {d.on && (
                      <span class="range">
                        <label class="sr-only" for={`${id}-lo`}>
                          {c} {p.label}: low
                        </label>
                        <input id={`${id}-lo`} data-testid={`opt-low-${p.param}`} type="number" inputMode="decimal" step={p.int ? 1 : 'any'} value={d.lo} onInput={(e) => setDim(p, { lo: e.currentTarget.value })} />
                        <span aria-hidden="true">to</span>
                        <label class="sr-only" for={`${id}-hi`}>
                          {c} {p.label}: high
                        </label>
                        <input id={`${id}-hi`} data-testid={`opt-high-${p.param}`} type="number" inputMode="decimal" step={p.int ? 1 : 'any'} value={d.hi} onInput={(e) => setDim(p, { hi: e.currentTarget.value })} />
                      </span>
                    )}
                  </div>
                );
              })}
          </fieldset>
        ))}
      </div>
      <div class="form-row">
        <label>
          p99 limit (ms)
          <input data-testid="opt-limit" type="number" inputMode="decimal" min={0} step="any" value={limit} onInput={(e) => setLimit(e.currentTarget.value)} />
        </label>
        <label>
          Budget (runs)
          <input data-testid="opt-budget" type="number" inputMode="numeric" min={4} max={1000} step={1} value={budget} onInput={(e) => setBudget(e.currentTarget.value)} />
        </label>
      </div>
      {problems.length > 0 && (
        <ul class="small warn problems" data-testid="opt-problems">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      )}
      <button type="button" data-testid="opt-run" onClick={run} disabled={problems.length > 0 || !project || submitting} aria-busy={submitting}>
        {submitting ? 'Submitting…' : 'Optimise'}
      </button>
      {error && (
        <div data-testid="opt-error">
          <ErrorBox error={error} title="The server refused the optimisation" />
        </div>
      )}
      {job && <OptFollow key={`${job.project}/${job.study}`} job={job} onApply={onApply} onClose={() => (setJob(null), store(OPT_KEY, null))} />}
    </section>
  );
}

function OptFollow({ job, onApply, onClose }: { job: OptJob; onApply: (c: Change[], what: string) => void; onClose: () => void }) {
  const [done, setDone] = useState(false);
  const st = usePoll(() => api.study(job.project, job.study), [job.project, job.study], done ? null : POLL_MS);
  const s = st.data;
  const a = s?.adaptive;
  useEffect(() => {
    if (a && a.state !== 'running') setDone(true);
    if (s && s.adaptive === null && s.planned > 0 && !active(s)) setDone(true); // a server without the loop
    if (st.error?.status === 404 && !s) setDone(true);
  }, [s, st.error]);
  const best = a?.best;
  const [bestRun, setBestRun] = useState<Run>();
  useEffect(() => {
    if (!best) return;
    let live = true;
    api
      .run(best.run_id)
      .then((r) => live && setBestRun(r))
      .catch(() => {});
    return () => {
      live = false;
    };
  }, [best?.run_id]);
  const last = a?.iterations[a.iterations.length - 1];
  const used = Math.max(s?.planned ?? 0, last?.runs ?? 0);
  const changes: Change[] = best
    ? job.dims.flatMap((d) => {
        const v = numOf(best.params[d.param]);
        return v === null ? [] : [{ comp: d.comp, path: d.path, value: d.int ? Math.round(v) : v }];
      })
    : [];
  const p99 = numOf(bestRun?.metrics?.latency_p99);
  const cost = best?.value ?? numOf(bestRun?.metrics?.cost_per_hour);

  return (
    <div class="exp-follow" data-testid="opt-follow">
      <h4>
        Optimisation <span class="name">{job.study}</span>
      </h4>
      <p class="small">
        <Link href={paths.study(job.project, job.study)} data-testid="opt-study-link">
          Study page
        </Link>{' '}
        ·{' '}
        <Link href={paths.explore(job.project, job.study)} data-testid="opt-explore-link">
          Convergence in the explorer
        </Link>{' '}
        ·{' '}
        <button type="button" class="secondary tiny" onClick={onClose}>
          Dismiss
        </button>
      </p>
      {st.error && <ErrorBox error={st.error} title="Cannot follow the optimisation" />}
      {s && (
        <div role="status" class="small">
          <span data-testid="opt-state" data-state={a?.state ?? 'waiting'}>
            {a ? <StateBadge state={a.state} /> : <span class="muted">waiting for the server's optimiser…</span>}
          </span>{' '}
          <span data-testid="opt-progress">
            {used} of {job.budget} runs · {a?.iterations.length ?? 0} iteration{a?.iterations.length === 1 ? '' : 's'}
            {a && a.state === 'running' && best && ` · best so far ${show(best.value)} $/h`}
          </span>
          {a?.stop_reason && <span> · stopped: {a.stop_reason}</span>}
        </div>
      )}
      {s && <Progress total={job.budget} segments={[{ value: Math.min(used, job.budget), cls: done ? 'ok' : 'run', label: 'runs used' }]} />}
      {a?.error && (
        <div class="error" role="alert">
          <strong>The optimiser failed:</strong> <code class="wrap">{a.error}</code>
        </div>
      )}
      {a && a.iterations.length > 0 && (
        <details class="data-table">
          <summary>Iterations</summary>
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col" class="num">#</th>
                  <th scope="col" class="num">Runs</th>
                  <th scope="col" class="num">Best $/h</th>
                  <th scope="col" class="num">Predicted ± sd</th>
                  <th scope="col">At</th>
                </tr>
              </thead>
              <tbody>
                {a.iterations
                  .slice()
                  .reverse()
                  .map((it) => (
                    <tr key={it.number}>
                      <td class="num">{it.number}</td>
                      <td class="num">{it.runs}</td>
                      <td class="num">{show(it.best)}</td>
                      <td class="num">{it.predicted ? `${show(it.predicted[0])} ± ${show(it.predicted[1])}` : '—'}</td>
                      <td>{fmtTime(it.at)}</td>
                    </tr>
                  ))}
              </tbody>
            </table>
          </div>
        </details>
      )}
      {done && a && (best ? (
        <Best testid="opt-best">
          <p>
            Cheapest design meeting p99 ≤ {show(job.limit)} ms: <strong data-testid="opt-best-cost">{show(cost)} $/h</strong>
            {p99 !== null && <span> (p99 {show(p99)} ms)</span>} —{' '}
            <Link href={paths.run(best.run_id)}>its run</Link>
          </p>
          <table class="kv">
            <caption class="sr-only">The best design's values</caption>
            <tbody>
              {job.dims.map((d) => (
                <tr key={d.param} data-testid={`opt-best-${d.param}`}>
                  <th scope="row">
                    {d.comp} {d.label}
                  </th>
                  <td class="num" data-value={numOf(best.params[d.param]) ?? undefined}>
                    {show(best.params[d.param])}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <button type="button" data-testid="opt-apply" disabled={changes.length === 0} onClick={() => onApply(changes, `the best design of ${job.study}`)}>
            Apply to canvas
          </button>
        </Best>
      ) : (
        <p class="warn" data-testid="opt-none">
          No design met p99 ≤ {show(job.limit)} ms within {used} runs{a.state === 'failed' ? ' (the optimiser failed)' : ''}. Widen the ranges, raise the limit or the budget.
        </p>
      ))}
      {done && s && !a && <p class="warn">The server did not run an adaptive loop for this study (no <code>adaptive</code> block): see the study page.</p>}
    </div>
  );
}

const Best = ({ testid, children }: { testid: string; children: ComponentChildren }) => (
  <div class="best-point" data-testid={testid}>
    {children}
  </div>
);

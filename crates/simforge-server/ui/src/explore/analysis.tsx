// The explorer's analysis panels: the convergence of an optimisation (objective
// value per design point, best feasible so far) and sensitivity indices per input
// (grouped horizontal bars with confidence whiskers). Hand-drawn SVG like the
// other plots, exportable the same way (export.ts). Over all the study's runs:
// the explorer's filter does not apply to them.
import type { ComponentChildren } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { ApiError } from '../api';
import { ErrorBox, Loading } from '../components';
import { fmtNum } from '../format';
import { Link, paths, replaceQuery } from '../router';
import { CATS, type Columns, type Convergence, explore, extent, fmtInt, linear, pad, type Sensitivity, short, ticks, useFetch } from './data';
import { downloadPng, downloadSvg } from './export';
import { Empty, Frame, XAxis, YAxis } from './plots';

const FEASIBLE = '#1f5fbf';
const INFEASIBLE = '#d95f02';
const BEST = '#1b9e77';
const FONT_W = 7; // rough width of a 12px character, for label columns

function ExportButtons({ svgRef, name, prefix }: { svgRef: { current: SVGSVGElement | null }; name: string; prefix: string }) {
  const [error, setError] = useState<ApiError>();
  return (
    <>
      <div class="toolbar export">
        <span class="muted small">Export</span>
        <button type="button" class="secondary" data-testid={`${prefix}-export-svg`} onClick={() => svgRef.current && downloadSvg(svgRef.current, name)}>
          As SVG
        </button>
        <button
          type="button"
          class="secondary"
          data-testid={`${prefix}-export-png`}
          onClick={() => {
            setError(undefined);
            if (svgRef.current) downloadPng(svgRef.current, name).catch((e) => setError(new ApiError(0, 'client', String(e.message ?? e))));
          }}
        >
          As PNG
        </button>
      </div>
      {error && <ErrorBox error={error} title="Cannot export the plot" />}
    </>
  );
}

/** The analysis section, shown when the study has an objective or allows sensitivity indices. */
export function Analysis({ project, study, cols }: { project: string; study: string; cols: Columns }) {
  if (!cols.objective && !cols.sensitivity) return null;
  return (
    <section aria-labelledby="analysis-h" class="analysis" data-testid="analysis">
      <h2 id="analysis-h">The whole study</h2>
      <p class="muted small">Over every run of the study{cols.design ? ` (design: ${cols.design})` : ''}; the filter below does not apply here.</p>
      {cols.objective && <ConvergencePanel project={project} study={study} />}
      {cols.sensitivity && <SensitivityPanel project={project} study={study} cols={cols} />}
    </section>
  );
}

// --- convergence -------------------------------------------------------------------------

function ConvergencePanel({ project, study }: { project: string; study: string }) {
  const [tick, setTick] = useState(0);
  const q = useFetch(`conv|${tick}`, (sig) => explore.convergence(project, study, sig));
  const svgRef = useRef<SVGSVGElement | null>(null);
  const c = q.data;
  const best = c?.best;
  return (
    <div class="analysis-panel" data-testid="convergence">
      <div class="toolbar">
        <h3 id="conv-h">Convergence</h3>
        <button type="button" class="secondary tiny" data-testid="convergence-refresh" onClick={() => setTick((t) => t + 1)} disabled={q.loading}>
          Refresh
        </button>
        {q.loading && c && <span class="muted small">updating…</span>}
      </div>
      {q.error && <ErrorBox error={q.error} title="Cannot load the convergence" />}
      {q.loading && !c && !q.error && <Loading what="the convergence" />}
      {c && (
        <>
          <p class="small">
            {c.maximize ? 'Maximise' : 'Minimise'} <code>{c.metric}</code>
            {c.constraints.length > 0 && (
              <>
                {' '}
                subject to{' '}
                {c.constraints.map((k) => (
                  <code key={k} class="constraint">
                    {k}
                  </code>
                ))}
              </>
            )}
          </p>
          {c.total !== undefined && c.total > c.points.length && (
            <p class="muted small" data-testid="convergence-thinned">
              {fmtInt(c.points.length)} of {fmtInt(c.total)} design points drawn: every improvement and an even spread of the others.
            </p>
          )}
          <div class="plot-wrap">
            {c.points.length === 0 ? <p class="muted" data-testid="convergence-empty">No design points yet.</p> : <ConvergencePlot c={c} svgRef={svgRef} busy={q.loading} />}
          </div>
          <p data-testid="convergence-best" role="status">
            {best ? (
              <>
                Best{c.constraints.length ? ' feasible' : ''}: <code>{c.metric}</code> = <strong>{fmtNum(best.value)}</strong> at design point {best.index} (
                {Object.entries(best.params)
                  .map(([k, v]) => `${k} = ${fmtNum(v)}`)
                  .join(', ')}
                ) — <Link href={paths.run(best.run_id)}>its run</Link>
              </>
            ) : (
              <span class="warn">No {c.constraints.length ? 'feasible ' : ''}point yet.</span>
            )}
          </p>
          {c.points.length > 0 && <ExportButtons svgRef={svgRef} name={`${study}-convergence`} prefix="convergence" />}
        </>
      )}
    </div>
  );
}

function ConvergencePlot({ c, svgRef, busy }: { c: Convergence; svgRef: { current: SVGSVGElement | null }; busy?: boolean }) {
  const W = 760;
  const H = 380;
  const m = { l: 72, r: 20, t: 34, b: 52 };
  const pts = c.points.filter((p) => p.value !== null && Number.isFinite(p.value));
  const missing = c.points.length - pts.length;
  const pending = c.points.filter((p) => p.value === null && p.pending).length;
  const feasible = pts.filter((p) => p.feasible).length;
  const ex = extent(c.points.map((p) => p.index));
  const ey = extent([...pts.map((p) => p.value), ...c.points.map((p) => p.best)]);
  const summary = `Convergence of ${c.metric} over ${fmtInt(c.points.length)} design points: ${fmtInt(feasible)} feasible, ${fmtInt(pts.length - feasible)} infeasible${missing ? `, ${fmtInt(missing)} without a value (${pending ? `${fmtInt(pending)} unfinished, ${fmtInt(missing - pending)} failed` : 'failed or unfinished'}; not drawn)` : ''}${
    c.total && c.total > c.points.length ? ` (${fmtInt(c.points.length)} of ${fmtInt(c.total)} points shown: every improvement and an even spread of the rest)` : ''
  }${
    c.best ? `; best ${fmtNum(c.best.value)} at point ${c.best.index}` : '; no feasible point'
  }.`;
  let body: ComponentChildren = <Empty w={W} h={H} text="No point has a value yet" />;
  if (ex && ey) {
    const [x0, x1] = pad(ex, 0.02);
    const [y0, y1] = pad(ey);
    const sx = linear(x0, x1, m.l, W - m.r);
    const sy = linear(y0, y1, H - m.b, m.t);
    // Best so far: a step line through the points where it exists.
    let step = '';
    let prev: number | null = null;
    for (const p of c.points) {
      if (p.best === null) continue;
      const x = sx(p.index).toFixed(1);
      const y = sy(p.best).toFixed(1);
      step += prev === null ? `M${x} ${y}` : `H${x}V${y}`;
      prev = p.best;
    }
    if (step) step += `H${(W - m.r).toFixed(1)}`;
    const many = pts.length > 1500;
    const cross = (x: number, y: number) => `M${(x - 4).toFixed(1)} ${(y - 4).toFixed(1)}l8 8m0 -8l-8 8`;
    const bp = c.best ? { x: sx(c.best.index), y: sy(c.best.value) } : null;
    body = (
      <>
        <XAxis s={sx} lo={x0} hi={x1} y={H - m.b} label="design point (index)" x0={m.l} x1={W - m.r} int />
        <YAxis s={sy} lo={y0} hi={y1} x={m.l} label={c.metric} y0={m.t} y1={H - m.b} />
        {step && <path d={step} fill="none" stroke={BEST} stroke-width="2" class="best-line" />}
        {many ? (
          <>
            <path d={pts.filter((p) => p.feasible).map((p) => `M${sx(p.index).toFixed(1)} ${sy(p.value!).toFixed(1)}h0`).join('')} stroke={FEASIBLE} stroke-width="6" stroke-linecap="round" fill="none" />
            <path d={pts.filter((p) => !p.feasible).map((p) => cross(sx(p.index), sy(p.value!))).join('')} stroke={INFEASIBLE} stroke-width="1.6" fill="none" />
          </>
        ) : (
          pts.map((p) => {
            const x = sx(p.index);
            const y = sy(p.value!);
            const tip = `point ${p.index}: ${c.metric} = ${fmtNum(p.value)}${p.feasible ? '' : ' (infeasible)'}; ${Object.entries(p.params)
              .map(([k, v]) => `${k} = ${fmtNum(v)}`)
              .join(', ')}`;
            return p.feasible ? (
              <circle key={p.index} class="cdot" data-index={p.index} data-feasible="true" cx={x.toFixed(1)} cy={y.toFixed(1)} r="4" fill={FEASIBLE} fill-opacity="0.85">
                <title>{tip}</title>
              </circle>
            ) : (
              <path key={p.index} class="cdot" data-index={p.index} data-feasible="false" d={cross(x, y)} stroke={INFEASIBLE} stroke-width="1.8" fill="none">
                <title>{tip}</title>
              </path>
            );
          })
        )}
        {bp && (
          <g class="best-mark">
            <circle cx={bp.x.toFixed(1)} cy={bp.y.toFixed(1)} r="9" fill="none" stroke={BEST} stroke-width="2.5" />
            <text x={bp.x + (bp.x > W - 160 ? -14 : 14)} y={bp.y - 10} text-anchor={bp.x > W - 160 ? 'end' : 'start'} fill="currentColor" font-weight="600" paint-order="stroke" stroke="var(--surface, #fff)" stroke-width="3">
              best {fmtNum(c.best!.value)}
            </text>
          </g>
        )}
        <g transform={`translate(${m.l},14)`} font-size="11">
          <circle cx="5" cy="0" r="4" fill={FEASIBLE} />
          <text x="14" y="4">feasible</text>
          <path d="M76 -4l8 8m0 -8l-8 8" stroke={INFEASIBLE} stroke-width="1.8" />
          <text x="90" y="4">infeasible</text>
          <line x1="160" x2="180" y1="0" y2="0" stroke={BEST} stroke-width="2" />
          <text x="186" y="4">best feasible so far</text>
          <circle cx="312" cy="0" r="6" fill="none" stroke={BEST} stroke-width="2" />
          <text x="324" y="4">best point</text>
          {missing > 0 && (
            <text x="400" y="4" opacity="0.75">
              {pending ? `${fmtInt(pending)} unfinished, ${fmtInt(missing - pending)} failed (not drawn)` : `${fmtInt(missing)} without a value (not drawn)`}
            </text>
          )}
        </g>
      </>
    );
  }
  return (
    <Frame w={W} h={H} label={summary} title={`Convergence of ${c.metric}`} desc={summary} busy={busy} svgRef={svgRef} testid="convergence-svg" data={{ 'data-drawn': pts.length, 'data-points': c.points.length }}>
      {body}
    </Frame>
  );
}

// --- sensitivity -------------------------------------------------------------------------

const METHOD: Record<string, string> = {
  sobol: "Sobol' indices (variance-based, from the Saltelli design)",
  morris: 'Morris elementary effects',
  rank: 'Rank measures (SRRC and PRCC: they assume the metric moves one way with each input)',
};

function SensitivityPanel({ project, study, cols }: { project: string; study: string; cols: Columns }) {
  const metrics = cols.columns.filter((c) => c.kind === 'metric' && c.type === 'number').map((c) => short(c.name));
  const first = cols.objective && metrics.includes(cols.objective.metric) ? cols.objective.metric : (metrics[0] ?? '');
  const [metric, setMetric] = useState(() => {
    const m = new URLSearchParams(location.search).get('sm');
    return m && metrics.includes(m) ? m : first;
  });
  useEffect(() => {
    replaceQuery({ sm: metric && metric !== first ? metric : undefined });
  }, [metric]);
  const [surrogate, setSurrogate] = useState(false);
  const q = useFetch(metric ? `sens|${metric}|${surrogate}` : undefined, (sig) => explore.sensitivity(project, study, metric, surrogate, sig));
  const svgRef = useRef<SVGSVGElement | null>(null);
  const s = q.data;
  return (
    <div class="analysis-panel" data-testid="sensitivity">
      <div class="toolbar">
        <h3>Sensitivity</h3>
        <label for="sens-metric">Metric</label>
        <select id="sens-metric" data-testid="sens-metric" value={metric} onChange={(e) => setMetric(e.currentTarget.value)} disabled={metrics.length === 0}>
          {metrics.map((m) => (
            <option key={m} value={m}>
              {m}
            </option>
          ))}
        </select>
        {(cols.sensitivity === 'rank' || s?.method === 'rank') && (
          <label class="check small">
            <input type="checkbox" data-testid="sens-surrogate" checked={surrogate} onChange={(e) => setSurrogate(e.currentTarget.checked)} /> also Sobol' indices on a Gaussian-process
            surrogate (slower)
          </label>
        )}
        {q.loading && s && <span class="muted small">updating…</span>}
      </div>
      {metrics.length === 0 && <p class="muted">The study has no numeric metric to analyse.</p>}
      {q.error && <ErrorBox error={q.error} title="Cannot compute the sensitivity" />}
      {q.loading && !s && !q.error && metric && <Loading what="the sensitivity indices" />}
      {s && (
        <>
          <p class="small">
            {METHOD[s.method] ?? s.method} of <code>{s.metric}</code> over {fmtInt(s.samples)} runs
            {s.dropped > 0 && `, ${fmtInt(s.dropped)} left out (failed or without a value)`}.
          </p>
          {s.note && (
            <p class="notice small" role="note" data-testid="sens-note">
              {s.note}
            </p>
          )}
          <div class="plot-wrap">
            {s.inputs.length === 0 ? <p class="muted" data-testid="sens-empty">No inputs to rank.</p> : <SensitivityPlot s={s} svgRef={svgRef} busy={q.loading} />}
          </div>
          {s.inputs.length > 0 && (
            <>
              <SensTable s={s} />
              <ExportButtons svgRef={svgRef} name={`${study}-sensitivity-${s.metric}`} prefix="sensitivity" />
            </>
          )}
        </>
      )}
    </div>
  );
}

const val = (v: { value: number | null; conf: number | null } | undefined) => (v && v.value !== null && Number.isFinite(v.value) ? v.value : null);

function SensitivityPlot({ s, svgRef, busy }: { s: Sensitivity; svgRef: { current: SVGSVGElement | null }; busy?: boolean }) {
  const ms = s.measures;
  const key0 = ms[0]?.key;
  // Most influential first (by the first measure's magnitude).
  const inputs = [...s.inputs].sort((a, b) => Math.abs(val(b.values[key0]) ?? -1) - Math.abs(val(a.values[key0]) ?? -1) || (a.name < b.name ? -1 : 1));
  const BAR = 14;
  const GAP = 3;
  const GROUP = ms.length * (BAR + GAP) + 12;
  const labelW = Math.min(280, Math.max(60, ...inputs.map((i) => i.name.length * FONT_W + 12)));
  const W = 760;
  const m = { l: labelW + 8, r: 60, t: 20 + 16 * Math.ceil(ms.length / 3), b: 44 };
  const H = m.t + inputs.length * GROUP + m.b;
  const lows: number[] = [0];
  const highs: number[] = [0];
  for (const i of inputs)
    for (const k of ms) {
      const v = i.values[k.key];
      const x = val(v);
      if (x === null) continue;
      const c = v!.conf ?? 0;
      lows.push(x - c);
      highs.push(x + c);
    }
  let lo = Math.min(...lows);
  let hi = Math.max(...highs);
  if (hi - lo < 1e-12) hi = lo + 1;
  [lo, hi] = [lo < 0 ? pad([lo, hi], 0.03)[0] : 0, pad([lo, hi], 0.03)[1]];
  const sx = linear(lo, hi, m.l, W - m.r);
  const zero = sx(0);
  const summary = `${METHOD[s.method] ?? s.method} of ${s.metric} for ${inputs.length} inputs, most influential first: ${inputs
    .slice(0, 6)
    .map((i) => `${i.name} ${ms.map((k) => `${k.key} ${fmtNum(val(i.values[k.key]))}`).join(', ')}`)
    .join('; ')}${inputs.length > 6 ? '; …' : ''}.`;
  return (
    <Frame w={W} h={H} label={summary} title={`Sensitivity of ${s.metric}`} desc={summary} busy={busy} svgRef={svgRef} testid="sensitivity-svg" data={{ 'data-inputs': inputs.length, 'data-method': s.method }}>
      <g font-size="11">
        {ms.map((k, j) => (
          <g key={k.key} transform={`translate(${m.l + (j % 3) * 230},${12 + Math.floor(j / 3) * 16})`}>
            <rect y="-9" width="10" height="10" fill={CATS[j % CATS.length]} />
            <text x="14">
              {k.key}: {k.label.length > 30 ? `${k.label.slice(0, 29)}…` : k.label}
            </text>
          </g>
        ))}
      </g>
      {ticks(lo, hi, 6).map((t) => (
        <line key={t} x1={sx(t)} x2={sx(t)} y1={m.t - 4} y2={H - m.b} stroke="currentColor" stroke-opacity="0.12" />
      ))}
      <XAxis s={sx} lo={lo} hi={hi} y={H - m.b} label={ms.length === 1 ? ms[0].label : 'index'} x0={m.l} x1={W - m.r} />
      <line x1={zero} x2={zero} y1={m.t - 4} y2={H - m.b} stroke="currentColor" stroke-opacity="0.6" />
      {inputs.map((inp, i) => {
        const y0 = m.t + i * GROUP;
        return (
          <g key={inp.name} class="sgroup" data-input={inp.name}>
            <text x={m.l - 8} y={y0 + (ms.length * (BAR + GAP)) / 2 + 3} text-anchor="end" font-weight="600">
              {inp.name.length * FONT_W > 270 ? `…${inp.name.slice(-Math.floor(270 / FONT_W) + 1)}` : inp.name}
              <title>{inp.name}</title>
            </text>
            {ms.map((k, j) => {
              const v = inp.values[k.key];
              const x = val(v);
              const y = y0 + j * (BAR + GAP);
              const color = CATS[j % CATS.length];
              if (x === null)
                return (
                  <text key={k.key} x={zero + 4} y={y + BAR - 3} font-size="10" opacity="0.7" class="sbar-missing">
                    {k.key}: n/a
                  </text>
                );
              const a = sx(Math.min(0, x));
              const b = sx(Math.max(0, x));
              const conf = v!.conf;
              return (
                <g key={k.key}>
                  <rect class="sbar" data-measure={k.key} data-value={x} x={a} y={y} width={Math.max(1, b - a)} height={BAR} fill={color}>
                    <title>{`${inp.name} ${k.key} (${k.label}) = ${fmtNum(x)}${conf !== null && conf !== undefined ? ` ± ${fmtNum(conf)}` : ''}`}</title>
                  </rect>
                  {conf !== null && conf !== undefined && conf > 0 && (
                    <g stroke="currentColor" stroke-width="1.2" class="whisker">
                      <line x1={sx(x - conf)} x2={sx(x + conf)} y1={y + BAR / 2} y2={y + BAR / 2} />
                      <line x1={sx(x - conf)} x2={sx(x - conf)} y1={y + 3} y2={y + BAR - 3} />
                      <line x1={sx(x + conf)} x2={sx(x + conf)} y1={y + 3} y2={y + BAR - 3} />
                    </g>
                  )}
                  {x < 0 ? (
                    <text x={Math.min(a, conf ? sx(x - conf) : a) - 4} y={y + BAR - 3} font-size="10" text-anchor="end">
                      {fmtNum(x)}
                    </text>
                  ) : (
                    <text x={Math.max(b, conf ? sx(x + conf) : b) + 4} y={y + BAR - 3} font-size="10">
                      {fmtNum(x)}
                    </text>
                  )}
                </g>
              );
            })}
          </g>
        );
      })}
    </Frame>
  );
}

function SensTable({ s }: { s: Sensitivity }) {
  return (
    <details class="data-table">
      <summary>Indices as a table</summary>
      <div class="table-wrap">
        <table data-testid="sens-table">
          <caption class="sr-only">
            Sensitivity of {s.metric} per input ({s.method})
          </caption>
          <thead>
            <tr>
              <th scope="col">Input</th>
              {s.measures.map((k) => (
                <th key={k.key} scope="col" class="num" title={k.label}>
                  {k.key}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {s.inputs.map((i) => (
              <tr key={i.name}>
                <th scope="row">
                  <code>{i.name}</code>
                </th>
                {s.measures.map((k) => {
                  const v = i.values[k.key];
                  return (
                    <td key={k.key} class="num">
                      {val(v) === null ? '—' : fmtNum(v!.value)}
                      {v?.conf != null && <span class="muted small"> ± {fmtNum(v.conf)}</span>}
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

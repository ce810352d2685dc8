// Hand-drawn SVG plots for the results explorer. Points of one colour are one
// <path> of zero-length round-capped segments, so thousands of them stay cheap.
// Colours are literal (not CSS variables) and text uses currentColor, so a
// serialized <svg> looks the same outside the page (see export.ts).
import type { ComponentChildren } from 'preact';
import { useRef, useState } from 'preact/hooks';
import type { Run } from '../api';
import { fmtNum } from '../format';
import {
  CATS,
  cell,
  type Column,
  DEFAULT_DOT,
  extent,
  fmtInt,
  type Histogram,
  linear,
  num,
  OTHER,
  pad,
  seqColor,
  SEQ_STOPS,
  short,
  ticks,
} from './data';

const FONT = 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif';

export function Frame(props: { w: number; h: number; label: string; title: string; desc: string; children: ComponentChildren; busy?: boolean; svgRef?: { current: SVGSVGElement | null }; testid?: string; data?: Record<string, string | number> }) {
  return (
    <svg
      ref={props.svgRef}
      {...props.data}
      data-testid={props.testid ?? 'plot-svg'}
      xmlns="http://www.w3.org/2000/svg"
      class={`plot${props.busy ? ' busy-plot' : ''}`}
      viewBox={`0 0 ${props.w} ${props.h}`}
      width={props.w}
      height={props.h}
      role="img"
      aria-label={props.label}
      font-family={FONT}
      font-size="12"
      fill="currentColor"
    >
      <title>{props.title}</title>
      <desc>{props.desc}</desc>
      {props.children}
    </svg>
  );
}

// --- colour -----------------------------------------------------------------------
export interface Colorer {
  of: (r: Run) => string;
  legend: { kind: 'none' } | { kind: 'seq'; col: string; lo: number; hi: number } | { kind: 'cat'; col: string; items: { label: string; color: string }[] };
}

export function colorer(rows: Run[], col: string, meta: Column | undefined): Colorer {
  if (!col || !meta) return { of: () => DEFAULT_DOT, legend: { kind: 'none' } };
  if (meta.type === 'number') {
    const ex = extent(rows.map((r) => num(cell(r, col))));
    if (!ex) return { of: () => OTHER, legend: { kind: 'none' } };
    const [lo, hi] = ex;
    const steps = 12;
    const palette = Array.from({ length: steps }, (_, i) => seqColor(i / (steps - 1)));
    return {
      of: (r) => {
        const v = num(cell(r, col));
        if (v === null) return OTHER;
        return palette[hi === lo ? 0 : Math.round(((v - lo) / (hi - lo)) * (steps - 1))];
      },
      legend: { kind: 'seq', col, lo, hi },
    };
  }
  const freq = new Map<string, number>();
  for (const r of rows) {
    const v = cell(r, col);
    if (v !== undefined && v !== null) freq.set(String(v), (freq.get(String(v)) ?? 0) + 1);
  }
  const top = [...freq.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, CATS.length).map(([k]) => k);
  const map = new Map(top.map((k, i) => [k, CATS[i]]));
  const items = top.map((k) => ({ label: k, color: map.get(k)! }));
  if (freq.size > top.length) items.push({ label: 'other', color: OTHER });
  return { of: (r) => map.get(String(cell(r, col))) ?? OTHER, legend: { kind: 'cat', col, items } };
}

function Legend({ c, x, y }: { c: Colorer; x: number; y: number }) {
  const l = c.legend;
  if (l.kind === 'none') return null;
  if (l.kind === 'seq')
    return (
      <g transform={`translate(${x},${y})`}>
        <text y={0} font-weight="600">{short(l.col)}</text>
        <defs>
          <linearGradient id="seq-grad" x1="0" y1="1" x2="0" y2="0">
            {SEQ_STOPS.map((s, i) => (
              <stop key={s} offset={i / (SEQ_STOPS.length - 1)} stop-color={s} />
            ))}
          </linearGradient>
        </defs>
        <rect x={0} y={10} width={14} height={120} fill="url(#seq-grad)" />
        <text x={20} y={20}>{fmtNum(l.hi)}</text>
        <text x={20} y={130}>{fmtNum(l.lo)}</text>
      </g>
    );
  return (
    <g transform={`translate(${x},${y})`}>
      <text y={0} font-weight="600">{short(l.col)}</text>
      {l.items.map((it, i) => (
        <g key={it.label} transform={`translate(0,${14 + i * 16})`}>
          <rect width={10} height={10} fill={it.color} />
          <text x={16} y={9}>{it.label.length > 16 ? `${it.label.slice(0, 15)}…` : it.label}</text>
        </g>
      ))}
    </g>
  );
}

/** Groups dots by colour: one <path> per colour. */
function Dots({ pts, size }: { pts: { x: number; y: number; c: string }[]; size: number }) {
  const by = new Map<string, string[]>();
  for (const p of pts) {
    let a = by.get(p.c);
    if (!a) by.set(p.c, (a = []));
    a.push(`M${p.x.toFixed(1)} ${p.y.toFixed(1)}h0`);
  }
  return (
    <g fill="none" stroke-linecap="round" stroke-width={size} stroke-opacity="0.75">
      {[...by.entries()].map(([c, d]) => (
        <path key={c} stroke={c} d={d.join('')} />
      ))}
    </g>
  );
}

// --- axes ---------------------------------------------------------------------------
type Scale = ReturnType<typeof linear>;
export function XAxis({ s, lo, hi, y, label, x0, x1, int }: { s: Scale; lo: number; hi: number; y: number; label?: string; x0: number; x1: number; int?: boolean }) {
  return (
    <g>
      <line x1={x0} x2={x1} y1={y} y2={y} stroke="currentColor" stroke-opacity="0.5" />
      {ticks(lo, hi, 5).filter((t) => !int || Number.isInteger(t)).map((t) => (
        <g key={t} transform={`translate(${s(t)},${y})`}>
          <line y2={5} stroke="currentColor" stroke-opacity="0.5" />
          <text y={18} text-anchor="middle" fill="currentColor">
            {fmtNum(t)}
          </text>
        </g>
      ))}
      {label && (
        <text x={(x0 + x1) / 2} y={y + 36} text-anchor="middle" fill="currentColor" font-weight="600">
          {label}
        </text>
      )}
    </g>
  );
}
export function YAxis({ s, lo, hi, x, label, y0, y1 }: { s: Scale; lo: number; hi: number; x: number; label?: string; y0: number; y1: number }) {
  return (
    <g>
      <line x1={x} x2={x} y1={y0} y2={y1} stroke="currentColor" stroke-opacity="0.5" />
      {ticks(lo, hi, 5).map((t) => (
        <g key={t} transform={`translate(${x},${s(t)})`}>
          <line x2={-5} stroke="currentColor" stroke-opacity="0.5" />
          <text x={-8} y={4} text-anchor="end" fill="currentColor">
            {fmtNum(t)}
          </text>
        </g>
      ))}
      {label && (
        <text transform={`translate(${x - 52},${(y0 + y1) / 2}) rotate(-90)`} text-anchor="middle" fill="currentColor" font-weight="600">
          {label}
        </text>
      )}
    </g>
  );
}

export const Empty = ({ w, h, text }: { w: number; h: number; text: string }) => (
  <text x={w / 2} y={h / 2} text-anchor="middle" fill="currentColor" opacity="0.7">
    {text}
  </text>
);

function correlation(xs: number[], ys: number[]): number | null {
  const n = xs.length;
  if (n < 3) return null;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxy += (xs[i] - mx) * (ys[i] - my);
    sxx += (xs[i] - mx) ** 2;
    syy += (ys[i] - my) ** 2;
  }
  return sxx && syy ? sxy / Math.sqrt(sxx * syy) : null;
}

// --- scatter ------------------------------------------------------------------------
export interface PlotProps {
  rows: Run[];
  busy?: boolean;
  svgRef: { current: SVGSVGElement | null };
}

export function Scatter({ rows, x, y, color, busy, svgRef }: PlotProps & { x: string; y: string; color: Colorer }) {
  const W = 760;
  const H = 460;
  const m = { l: 72, r: color.legend.kind === 'none' ? 20 : 150, t: 16, b: 52 };
  const pts: { x: number; y: number; r: Run }[] = [];
  for (const r of rows) {
    const a = num(cell(r, x));
    const b = num(cell(r, y));
    if (a !== null && b !== null) pts.push({ x: a, y: b, r });
  }
  const ex = extent(pts.map((p) => p.x));
  const ey = extent(pts.map((p) => p.y));
  const corr = correlation(
    pts.map((p) => p.x),
    pts.map((p) => p.y),
  );
  const summary = ex && ey
    ? `Scatter plot of ${short(y)} against ${short(x)} for ${fmtInt(pts.length)} sampled runs: ${short(x)} from ${fmtNum(ex[0])} to ${fmtNum(ex[1])}, ${short(y)} from ${fmtNum(ey[0])} to ${fmtNum(ey[1])}${corr === null ? '' : `, correlation ${corr.toFixed(2)}`}.`
    : `Scatter plot of ${short(y)} against ${short(x)}: no runs with both values.`;
  let body: ComponentChildren = <Empty w={W} h={H} text="No runs with both values" />;
  if (ex && ey) {
    const [x0, x1] = pad(ex);
    const [y0, y1] = pad(ey);
    const sx = linear(x0, x1, m.l, W - m.r);
    const sy = linear(y0, y1, H - m.b, m.t);
    body = (
      <>
        <XAxis s={sx} lo={x0} hi={x1} y={H - m.b} label={x} x0={m.l} x1={W - m.r} />
        <YAxis s={sy} lo={y0} hi={y1} x={m.l} label={y} y0={m.t} y1={H - m.b} />
        <Dots pts={pts.map((p) => ({ x: sx(p.x), y: sy(p.y), c: color.of(p.r) }))} size={5} />
        <Legend c={color} x={W - m.r + 20} y={m.t + 10} />
      </>
    );
  }
  return (
    <Frame w={W} h={H} label={summary} title={`${short(y)} vs ${short(x)}`} desc={summary} busy={busy} svgRef={svgRef}>
      {body}
    </Frame>
  );
}

// --- histogram ------------------------------------------------------------------------
export function HistogramPlot({ hist, busy, svgRef }: { hist: Histogram; busy?: boolean; svgRef: { current: SVGSVGElement | null } }) {
  const W = 760;
  const H = 420;
  const m = { l: 72, r: 20, t: 16, b: 52 };
  const total = hist.bins.reduce((a, b) => a + b.count, 0);
  const peak = Math.max(1, ...hist.bins.map((b) => b.count));
  const summary =
    hist.bins.length && hist.min !== null && hist.max !== null
      ? `Histogram of ${short(hist.col)} over ${fmtInt(hist.matching)} matching runs: ${hist.bins.length} bins from ${fmtNum(hist.min)} to ${fmtNum(hist.max)}, tallest bin ${fmtInt(peak)} runs${hist.missing ? `, ${fmtInt(hist.missing)} without a value` : ''}.`
      : `Histogram of ${short(hist.col)}: no values among the ${fmtInt(hist.matching)} matching runs.`;
  let body: ComponentChildren = <Empty w={W} h={H} text="No values" />;
  if (hist.bins.length && hist.min !== null && hist.max !== null) {
    const lo = hist.bins[0].lo;
    const hi = Math.max(hist.bins[hist.bins.length - 1].hi, lo + 1e-12);
    const sx = linear(lo, hi, m.l, W - m.r);
    const sy = linear(0, peak, H - m.b, m.t);
    const one = hist.bins.length === 1 || hi === lo;
    body = (
      <>
        <XAxis s={sx} lo={lo} hi={hi} y={H - m.b} label={hist.col} x0={m.l} x1={W - m.r} />
        <YAxis s={sy} lo={0} hi={peak} x={m.l} label="runs" y0={m.t} y1={H - m.b} />
        <g fill={DEFAULT_DOT}>
          {hist.bins.map((b, i) => {
            const x0 = one ? m.l + 4 : sx(b.lo) + 0.5;
            const x1 = one ? W - m.r - 4 : sx(b.hi) - 0.5;
            return (
              <rect key={i} class="hbar" data-count={b.count} x={x0} width={Math.max(0.5, x1 - x0)} y={sy(b.count)} height={H - m.b - sy(b.count)}>
                <title>{`${fmtNum(b.lo)} – ${fmtNum(b.hi)}: ${fmtInt(b.count)} runs`}</title>
              </rect>
            );
          })}
        </g>
      </>
    );
  }
  return (
    <Frame w={W} h={H} label={summary} title={`Histogram of ${short(hist.col)}`} desc={`${summary} Bin counts sum to ${fmtInt(total)}.`} busy={busy} svgRef={svgRef}>
      {body}
    </Frame>
  );
}

// --- parallel coordinates ---------------------------------------------------------------
interface Axis {
  col: string;
  text: boolean;
  lo: number;
  hi: number;
  cats: string[];
  s: Scale;
  pos: (v: unknown) => number | null;
}

function axesFor(rows: Run[], cols: string[], meta: Map<string, Column>, top: number, bottom: number): Axis[] {
  return cols.map((col) => {
    if (meta.get(col)?.type === 'text') {
      const cats = [...new Set(rows.map((r) => cell(r, col)).filter((v) => v !== undefined && v !== null).map(String))].sort();
      const s = linear(0, Math.max(1, cats.length - 1), bottom, top);
      const idx = new Map(cats.map((c, i) => [c, i]));
      return { col, text: true, lo: 0, hi: cats.length - 1, cats, s, pos: (v) => (v === undefined || v === null ? null : s(idx.get(String(v)) ?? 0)) };
    }
    const ex = extent(rows.map((r) => num(cell(r, col)))) ?? [0, 1];
    const s = linear(ex[0], ex[1], bottom, top);
    return { col, text: false, lo: ex[0], hi: ex[1], cats: [], s, pos: (v) => (num(v) === null ? null : s(num(v)!)) };
  });
}

function svgY(svg: SVGSVGElement, e: PointerEvent): number {
  const m = svg.getScreenCTM();
  if (!m) return 0;
  return new DOMPoint(e.clientX, e.clientY).matrixTransform(m.inverse()).y;
}

export function Parallel({ rows, cols, meta, color, busy, svgRef, onBrush }: PlotProps & { cols: string[]; meta: Map<string, Column>; color: Colorer; onBrush: (col: string, lo: number, hi: number) => void }) {
  const gap = cols.length > 1 ? Math.max(110, Math.min(220, 640 / (cols.length - 1))) : 120;
  const m = { l: 60, r: color.legend.kind === 'none' ? 60 : 170, t: 30, b: 40 };
  const W = Math.max(500, m.l + m.r + gap * Math.max(1, cols.length - 1));
  const H = 440;
  const axes = axesFor(rows, cols, meta, m.t, H - m.b);
  const ax = (i: number) => m.l + i * gap;
  const [brush, setBrush] = useState<{ i: number; y0: number; y1: number } | null>(null);
  const drag = useRef<{ i: number; y0: number } | null>(null);

  const by = new Map<string, string[]>();
  if (axes.length >= 2)
    for (const r of rows) {
      let d = '';
      let pen = false;
      axes.forEach((a, i) => {
        const y = a.pos(cell(r, a.col));
        if (y === null) pen = false;
        else {
          d += `${pen ? 'L' : 'M'}${ax(i)} ${y.toFixed(1)}`;
          pen = true;
        }
      });
      const c = color.of(r);
      let arr = by.get(c);
      if (!arr) by.set(c, (arr = []));
      arr.push(d);
    }
  const summary = `Parallel coordinates of ${fmtInt(rows.length)} sampled runs over ${axes.length} columns: ${axes
    .map((a) => (a.text ? `${short(a.col)} (${a.cats.length} values)` : `${short(a.col)} ${fmtNum(a.lo)} to ${fmtNum(a.hi)}`))
    .join('; ')}. Drag along a numeric axis to filter on a range.`;

  const finish = (e: PointerEvent) => {
    const d = drag.current;
    drag.current = null;
    const svg = svgRef.current;
    if (!d || !svg) return;
    const y1 = svgY(svg, e);
    setBrush(null);
    const a = axes[d.i];
    if (Math.abs(y1 - d.y0) < 3 || a.text) return;
    const v0 = a.s.invert(Math.max(y1, d.y0));
    const v1 = a.s.invert(Math.min(y1, d.y0));
    onBrush(a.col, Math.max(a.lo, v0), Math.min(a.hi, v1));
  };

  return (
    <Frame w={W} h={H} label={summary} title="Parallel coordinates" desc={summary} busy={busy} svgRef={svgRef}>
      {axes.length < 2 ? (
        <Empty w={W} h={H} text="Choose at least two columns" />
      ) : (
        <>
          <g fill="none" stroke-width="1" stroke-opacity="0.35">
            {[...by.entries()].map(([c, d]) => (
              <path key={c} stroke={c} d={d.join('')} />
            ))}
          </g>
          {axes.map((a, i) => (
            <g key={a.col} transform={`translate(${ax(i)},0)`}>
              <line y1={m.t} y2={H - m.b} stroke="currentColor" stroke-width="1.5" />
              {(a.text ? a.cats.map((c, k) => ({ v: k, label: c })) : ticks(a.lo, a.hi, 4).map((t) => ({ v: t, label: fmtNum(t) }))).map((t) => (
                <g key={t.label} transform={`translate(0,${a.s(t.v)})`}>
                  <line x2={-4} stroke="currentColor" />
                  <text x={-6} y={4} text-anchor="end" fill="currentColor" font-size="10" paint-order="stroke" stroke="var(--surface, #fff)" stroke-width="3">
                    {t.label}
                  </text>
                </g>
              ))}
              <text y={m.t - 12} text-anchor="middle" fill="currentColor" font-weight="600">
                {short(a.col)}
              </text>
              {!a.text && (
                <rect
                  class="brush-target"
                  x={-12}
                  y={m.t}
                  width={24}
                  height={H - m.t - m.b}
                  fill="transparent"
                  onPointerDown={(e) => {
                    const svg = svgRef.current;
                    if (!svg) return;
                    (e.currentTarget as Element).setPointerCapture(e.pointerId);
                    const y0 = svgY(svg, e);
                    drag.current = { i, y0 };
                    setBrush({ i, y0, y1: y0 });
                  }}
                  onPointerMove={(e) => {
                    const d = drag.current;
                    const svg = svgRef.current;
                    if (d && svg) setBrush({ i: d.i, y0: d.y0, y1: svgY(svg, e) });
                  }}
                  onPointerUp={finish}
                  onPointerCancel={() => {
                    drag.current = null;
                    setBrush(null);
                  }}
                >
                  <title>{`Drag to filter ${short(a.col)}`}</title>
                </rect>
              )}
            </g>
          ))}
          {brush && (
            <rect x={ax(brush.i) - 10} width={20} y={Math.min(brush.y0, brush.y1)} height={Math.abs(brush.y1 - brush.y0)} fill="#b35c00" fill-opacity="0.25" stroke="#b35c00" pointer-events="none" />
          )}
          <Legend c={color} x={W - m.r + 40} y={m.t} />
        </>
      )}
    </Frame>
  );
}

// --- scatter matrix -----------------------------------------------------------------------
export function Matrix({ rows, cols, color, busy, svgRef }: PlotProps & { cols: string[]; color: Colorer }) {
  const k = cols.length;
  const S = k <= 2 ? 220 : k === 3 ? 190 : 160;
  const g = 10;
  const m = { l: 70, t: 10, b: 50, r: color.legend.kind === 'none' ? 20 : 150 };
  const W = m.l + k * S + (k - 1) * g + m.r;
  const H = m.t + k * S + (k - 1) * g + m.b;
  const vals = cols.map((c) => rows.map((r) => num(cell(r, c))));
  const exs = vals.map((v) => extent(v));
  const summary = `Scatter matrix of ${cols.map(short).join(', ')} for ${fmtInt(rows.length)} sampled runs; the diagonal shows each column's histogram over the sample.`;
  const cellAt = (i: number, j: number) => ({ x: m.l + j * (S + g), y: m.t + i * (S + g) });
  const out: ComponentChildren[] = [];
  for (let i = 0; i < k; i++)
    for (let j = 0; j < k; j++) {
      const { x, y } = cellAt(i, j);
      const exJ = exs[j];
      const exI = exs[i];
      out.push(<rect key={`f${i}-${j}`} x={x} y={y} width={S} height={S} fill="none" stroke="currentColor" stroke-opacity="0.35" />);
      if (!exJ || !exI) continue;
      const [x0, x1] = pad(exJ);
      const sx = linear(x0, x1, x + 2, x + S - 2);
      if (i === j) {
        const nb = 20;
        const counts = new Array(nb).fill(0);
        const [lo, hi] = exJ;
        for (const v of vals[j]) if (v !== null) counts[hi === lo ? 0 : Math.min(nb - 1, Math.floor(((v - lo) / (hi - lo)) * nb))]++;
        const peak = Math.max(1, ...counts);
        const w = (sx(hi) - sx(lo)) / nb;
        out.push(
          <g key={`h${i}`} fill={DEFAULT_DOT} fill-opacity="0.7">
            {counts.map((c, b) => (
              <rect key={b} x={sx(lo) + b * w + 0.5} width={Math.max(0.5, w - 1)} y={y + S - 2 - ((S - 10) * c) / peak} height={((S - 10) * c) / peak}>
                <title>{`${short(cols[j])} ${fmtNum(lo + ((hi - lo) * b) / nb)} – ${fmtNum(lo + ((hi - lo) * (b + 1)) / nb)}: ${c} sampled runs`}</title>
              </rect>
            ))}
          </g>,
        );
      } else {
        const [y0, y1] = pad(exI);
        const sy = linear(y0, y1, y + S - 2, y + 2);
        const pts: { x: number; y: number; c: string }[] = [];
        rows.forEach((r, n) => {
          const a = vals[j][n];
          const b = vals[i][n];
          if (a !== null && b !== null) pts.push({ x: sx(a), y: sy(b), c: color.of(r) });
        });
        out.push(<Dots key={`d${i}-${j}`} pts={pts} size={3} />);
      }
      if (i === k - 1)
        out.push(
          <g key={`xl${j}`}>
            <text x={x} y={y + S + 14} fill="currentColor" font-size="10">{fmtNum(exJ[0])}</text>
            <text x={x + S} y={y + S + 14} fill="currentColor" font-size="10" text-anchor="end">{fmtNum(exJ[1])}</text>
            <text x={x + S / 2} y={y + S + 32} fill="currentColor" text-anchor="middle" font-weight="600">{short(cols[j])}</text>
          </g>,
        );
      if (j === 0 && i !== 0)
        out.push(
          <g key={`yl${i}`}>
            <text x={x - 4} y={y + S} fill="currentColor" font-size="10" text-anchor="end">{fmtNum(exI[0])}</text>
            <text x={x - 4} y={y + 10} fill="currentColor" font-size="10" text-anchor="end">{fmtNum(exI[1])}</text>
          </g>,
        );
      if (j === 0) out.push(<text key={`yn${i}`} transform={`translate(${x - 40},${y + S / 2}) rotate(-90)`} fill="currentColor" text-anchor="middle" font-weight="600">{short(cols[i])}</text>);
    }
  return (
    <Frame w={W} h={H} label={summary} title="Scatter matrix" desc={summary} busy={busy} svgRef={svgRef}>
      {k < 2 ? <Empty w={W} h={H} text="Choose two to four columns" /> : out}
      <Legend c={color} x={W - m.r + 20} y={m.t + 10} />
    </Frame>
  );
}

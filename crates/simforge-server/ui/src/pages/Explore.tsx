// Results explorer: filter the succeeded runs of a study, plot a sample of them
// (scatter, histogram with exact counts, parallel coordinates, scatter matrix),
// export the plot or the filtered rows, and page through the sorted runs.
// Loaded as its own chunk (see main.tsx).
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { ApiError, RUN_STATES, type Run } from '../api';
import { Breadcrumbs, ErrorBox, Loading, PageTitle, StateBadge } from '../components';
import { fmtDuration, fmtNum } from '../format';
import { Link, paths, replaceQuery } from '../router';
import {
  cell,
  type Column,
  type Cond,
  explore,
  fmtInt,
  formatWhere,
  parseWhere,
  short,
  useDebounced,
  useFetch,
} from '../explore/data';
import { downloadPng, downloadSvg } from '../explore/export';
import { colorer, HistogramPlot, Matrix, Parallel, Scatter } from '../explore/plots';
import { Analysis } from '../explore/analysis';
import { FilterBuilder } from '../FilterBuilder';
import '../explore/explore.css';

const TABS = [
  { id: 'scatter', label: 'Scatter' },
  { id: 'histogram', label: 'Histogram' },
  { id: 'parallel', label: 'Parallel coordinates' },
  { id: 'matrix', label: 'Scatter matrix' },
] as const;
type Tab = (typeof TABS)[number]['id'];
const SAMPLE_SIZES = [500, 1000, 2000, 5000, 10000, 20000];
const PAGE = 50;

const qs = () => new URLSearchParams(location.search);
const list = (v: string | null) => (v ? v.split(',').filter(Boolean) : undefined);

export function Explore({ project, study }: { project: string; study: string }) {
  const init = useMemo(qs, []);
  const cols = useFetch('columns', (sig) => explore.columns(project, study, sig));
  const columns = cols.data?.columns ?? [];
  const meta = useMemo(() => new Map(columns.map((c) => [c.name, c])), [cols.data]);
  const numeric = columns.filter((c) => c.type === 'number').map((c) => c.name);

  const [conds, setConds] = useState<Cond[]>(() => parseWhere(init.get('where')));
  const [tab, setTab] = useState<Tab>(() => (TABS.some((t) => t.id === init.get('tab')) ? (init.get('tab') as Tab) : 'scatter'));
  const [n, setN] = useState(() => (SAMPLE_SIZES.includes(Number(init.get('n'))) ? Number(init.get('n')) : 2000));
  const [x, setX] = useState(init.get('x') ?? '');
  const [y, setY] = useState(init.get('y') ?? '');
  const [color, setColor] = useState(init.get('color') ?? '');
  const [histCol, setHistCol] = useState(init.get('hist') ?? '');
  const [bins, setBins] = useState(30);
  const [pcols, setPcols] = useState<string[] | undefined>(list(init.get('pc')));
  const [mcols, setMcols] = useState<string[] | undefined>(list(init.get('mc')));

  // Defaults once the columns are known.
  useEffect(() => {
    if (!cols.data) return;
    const params = columns.filter((c) => c.kind === 'param' && c.type === 'number').map((c) => c.name);
    const metrics = columns.filter((c) => c.kind === 'metric' && c.type === 'number').map((c) => c.name);
    const nx = meta.has(x) ? x : (params[0] ?? numeric[0] ?? '');
    const ny = meta.has(y) ? y : (params.length > 1 && metrics.length ? params[1] : (metrics[0] ?? numeric.find((c) => c !== nx) ?? nx));
    setX(nx);
    setY(ny);
    if (color && !meta.has(color)) setColor('');
    else if (!init.get('color') && params.length > 1 && metrics.length && ny === params[1]) setColor(metrics[0]);
    if (!meta.has(histCol)) setHistCol(metrics[0] ?? numeric[0] ?? '');
    const defaults = [...params, ...metrics].slice(0, 8);
    setPcols((p) => (p?.filter((c) => meta.has(c)).length ? p.filter((c) => meta.has(c)) : defaults));
    setMcols((p) => (p?.filter((c) => meta.has(c)).length ? p.filter((c) => meta.has(c)).slice(0, 4) : defaults.slice(0, 4)));
  }, [cols.data]);

  const where = formatWhere(conds);
  const dWhere = useDebounced(where, 300);
  useEffect(() => {
    replaceQuery({ where: where || undefined, tab: tab === 'scatter' ? undefined : tab, n: n === 2000 ? undefined : String(n), x, y, color, hist: histCol, pc: pcols?.join(','), mc: mcols?.join(',') });
  }, [where, tab, n, x, y, color, histCol, pcols, mcols]);

  const ready = !!cols.data;
  const sample = useFetch(ready ? `${n}|${dWhere}` : undefined, (sig) => explore.sample(project, study, n, dWhere, sig));
  const hist = useFetch(ready && tab === 'histogram' && histCol ? `${histCol}|${bins}|${dWhere}` : undefined, (sig) =>
    explore.histogram(project, study, histCol, bins, dWhere, sig),
  );
  const stale = where !== dWhere;
  const rows = sample.data?.rows ?? [];
  const colorBy = useMemo(() => colorer(rows, color, meta.get(color)), [sample.data, color, meta]);
  const svgRef = useRef<SVGSVGElement | null>(null);
  const [exportError, setExportError] = useState<ApiError>();

  const addCond = (c: Cond) => setConds((cs) => [...cs, c]);
  const brush = (col: string, lo: number, hi: number) => {
    const down = (v: number) => Number(v.toPrecision(6));
    setConds((cs) => [
      ...cs.filter((c) => !(c.col === col && ['gt', 'gte', 'lt', 'lte'].includes(c.op))),
      { col, op: 'gte', value: String(down(lo)) },
      { col, op: 'lte', value: String(down(hi)) },
    ]);
  };

  const total = cols.data?.runs.succeeded ?? 0;
  const matching = sample.data?.matching;
  const busy = stale || sample.loading || (tab === 'histogram' && hist.loading);
  const fileName = `${study}-${tab}`;

  return (
    <>
      <Breadcrumbs
        items={[
          { label: 'Projects', href: paths.home },
          { label: project, href: paths.project(project) },
          { label: study, href: paths.study(project, study) },
          { label: 'Explore' },
        ]}
      />
      <PageTitle title={`Explore ${study} (${project})`}>
        Explore <span class="name">{study}</span>
      </PageTitle>
      {cols.error && <ErrorBox error={cols.error} title="Cannot load the columns" />}
      {cols.loading && !cols.data && <Loading what="the columns" />}
      {cols.data && (
        <>
          <Analysis project={project} study={study} cols={cols.data} />
          <section aria-labelledby="filter-h" class="explore-filter">
            <h2 id="filter-h">Filter</h2>
            <FilterBuilder columns={columns} conds={conds} onAdd={addCond} onRemove={(i) => setConds((cs) => cs.filter((_, k) => k !== i))} onClear={() => setConds([])} />
            <p class="matching" role="status" aria-live="polite">
              <span data-testid="explore-matching" data-matching={stale || sample.loading ? undefined : matching} data-total={total}>
                {matching === undefined ? 'counting…' : `matching ${fmtInt(matching)} of ${fmtInt(total)} succeeded runs`}
              </span>
              {busy && <span class="muted small"> · updating…</span>}
              {sample.data && sample.data.sampled < sample.data.matching && (
                <span class="muted small" data-testid="explore-sampled">
                  {' '}
                  · plots show {fmtInt(sample.data.sampled)} of {fmtInt(sample.data.matching)} matching runs — a sample
                </span>
              )}
            </p>
            {sample.error && <ErrorBox error={sample.error} title="Cannot load the sample" />}
          </section>

          <section aria-labelledby="plot-h">
            <h2 id="plot-h">Plot</h2>
            <Tabs tab={tab} setTab={setTab} />
            <div role="tabpanel" id={`panel-${tab}`} aria-labelledby={`tab-${tab}`} class="plot-panel">
              <div class="toolbar plot-controls">
                {tab === 'scatter' && (
                  <>
                    <ColSelect id="plot-x" label="x" value={x} options={numeric} onChange={setX} />
                    <ColSelect id="plot-y" label="y" value={y} options={numeric} onChange={setY} />
                  </>
                )}
                {tab === 'histogram' && (
                  <>
                    <ColSelect id="hist-col" label="Column" value={histCol} options={numeric} onChange={setHistCol} />
                    <label for="hist-bins">Bins</label>
                    <select id="hist-bins" value={bins} onChange={(e) => setBins(Number(e.currentTarget.value))}>
                      {[10, 20, 30, 50, 100].map((b) => (
                        <option key={b} value={b}>
                          {b}
                        </option>
                      ))}
                    </select>
                  </>
                )}
                {tab !== 'histogram' && <ColSelect id="plot-color" label="Colour by" value={color} options={columns.map((c) => c.name)} onChange={setColor} none="none" />}
                {tab !== 'histogram' && (
                  <>
                    <label for="sample-n">Sample</label>
                    <select id="sample-n" data-testid="sample-n" value={n} onChange={(e) => setN(Number(e.currentTarget.value))}>
                      {SAMPLE_SIZES.map((s) => (
                        <option key={s} value={s}>
                          {fmtInt(s)} runs
                        </option>
                      ))}
                    </select>
                  </>
                )}
              </div>
              {tab === 'parallel' && <ColChecks legend="Axes (up to 8)" max={8} options={columns.map((c) => c.name)} chosen={pcols ?? []} onChange={setPcols} id="pc" />}
              {tab === 'matrix' && <ColChecks legend="Columns (up to 4)" max={4} options={numeric} chosen={mcols ?? []} onChange={setMcols} id="mc" />}
              <div class="plot-wrap">
                {tab === 'histogram' ? (
                  hist.error ? (
                    <ErrorBox error={hist.error} title="Cannot load the histogram" />
                  ) : hist.data ? (
                    <HistogramPlot hist={hist.data} busy={busy} svgRef={svgRef} />
                  ) : (
                    histCol ? <Loading what="the histogram" /> : <p class="muted">No numeric column to count.</p>
                  )
                ) : !sample.data ? (
                  sample.loading && <Loading what="the sample" />
                ) : tab === 'scatter' ? (
                  <Scatter rows={rows} x={x} y={y} color={colorBy} busy={busy} svgRef={svgRef} />
                ) : tab === 'parallel' ? (
                  <Parallel rows={rows} cols={pcols ?? []} meta={meta} color={colorBy} busy={busy} svgRef={svgRef} onBrush={brush} />
                ) : (
                  <Matrix rows={rows} cols={mcols ?? []} color={colorBy} busy={busy} svgRef={svgRef} />
                )}
              </div>
              {tab === 'histogram' && hist.data && <HistTable h={hist.data} />}
              <div class="toolbar export">
                <span class="muted small">Export</span>
                <button type="button" class="secondary" data-testid="export-svg" onClick={() => svgRef.current && downloadSvg(svgRef.current, fileName)}>
                  Plot as SVG
                </button>
                <button
                  type="button"
                  class="secondary"
                  data-testid="export-png"
                  onClick={() => {
                    setExportError(undefined);
                    if (svgRef.current) downloadPng(svgRef.current, fileName).catch((e) => setExportError(new ApiError(0, 'client', String(e.message ?? e))));
                  }}
                >
                  Plot as PNG
                </button>
                <a class="button secondary" data-testid="export-csv" href={explore.resultsUrl(project, study, 'csv', where)} download>
                  Filtered rows as CSV
                </a>
                <a class="button secondary" data-testid="export-parquet" href={explore.resultsUrl(project, study, 'parquet', where)} download>
                  Filtered rows as Parquet
                </a>
              </div>
              {exportError && <ErrorBox error={exportError} title="Cannot export the plot" />}
            </div>
          </section>

          <RunsTable project={project} study={study} where={dWhere} columns={columns} />
        </>
      )}
    </>
  );
}

function ColSelect({ id, label, value, options, onChange, none }: { id: string; label: string; value: string; options: string[]; onChange: (v: string) => void; none?: string }) {
  return (
    <>
      <label for={id}>{label}</label>
      <select id={id} data-testid={id} value={value} onChange={(e) => onChange(e.currentTarget.value)}>
        {none !== undefined && <option value="">{none}</option>}
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
    </>
  );
}

function ColChecks({ legend, max, options, chosen, onChange, id }: { legend: string; max: number; options: string[]; chosen: string[]; onChange: (v: string[]) => void; id: string }) {
  return (
    <fieldset class="col-checks">
      <legend>{legend}</legend>
      {options.map((o) => {
        const on = chosen.includes(o);
        return (
          <label key={o} class="check">
            <input
              type="checkbox"
              data-testid={`${id}-${o}`}
              checked={on}
              disabled={!on && chosen.length >= max}
              onChange={() => onChange(on ? chosen.filter((c) => c !== o) : options.filter((c) => c === o || chosen.includes(c)))}
            />{' '}
            {o}
          </label>
        );
      })}
    </fieldset>
  );
}

function Tabs({ tab, setTab }: { tab: Tab; setTab: (t: Tab) => void }) {
  const refs = useRef<(HTMLButtonElement | null)[]>([]);
  const move = (i: number) => {
    const k = (i + TABS.length) % TABS.length;
    setTab(TABS[k].id);
    refs.current[k]?.focus();
  };
  return (
    <div role="tablist" aria-label="Plot type" class="tabs">
      {TABS.map((t, i) => (
        <button
          key={t.id}
          ref={(e) => {
            refs.current[i] = e;
          }}
          type="button"
          role="tab"
          id={`tab-${t.id}`}
          aria-selected={tab === t.id}
          aria-controls={`panel-${t.id}`}
          tabIndex={tab === t.id ? 0 : -1}
          data-testid={`plot-tab-${t.id}`}
          class={tab === t.id ? 'tab on' : 'tab'}
          onClick={() => setTab(t.id)}
          onKeyDown={(e) => {
            if (e.key === 'ArrowRight') move(i + 1);
            else if (e.key === 'ArrowLeft') move(i - 1);
            else if (e.key === 'Home') move(0);
            else if (e.key === 'End') move(TABS.length - 1);
            else return;
            e.preventDefault();
          }}
        >
          {t.label}
        </button>
      ))}
    </div>
  );
}

function HistTable({ h }: { h: { bins: { lo: number; hi: number; count: number }[]; missing: number; col: string } }) {
  return (
    <details class="data-table">
      <summary>Bin counts as a table</summary>
      <div class="table-wrap">
        <table data-testid="hist-table">
          <caption class="sr-only">Runs per bin of {h.col}</caption>
          <thead>
            <tr>
              <th scope="col" class="num">From</th>
              <th scope="col" class="num">To</th>
              <th scope="col" class="num">Runs</th>
            </tr>
          </thead>
          <tbody>
            {h.bins.map((b, i) => (
              <tr key={i}>
                <td class="num">{fmtNum(b.lo)}</td>
                <td class="num">{fmtNum(b.hi)}</td>
                <td class="num">{fmtInt(b.count)}</td>
              </tr>
            ))}
            {h.missing > 0 && (
              <tr>
                <th scope="row" colSpan={2}>
                  no value
                </th>
                <td class="num">{fmtInt(h.missing)}</td>
              </tr>
            )}
          </tbody>
        </table>
      </div>
    </details>
  );
}

function RunsTable({ project, study, where, columns }: { project: string; study: string; where: string; columns: Column[] }) {
  const [sort, setSort] = useState('index');
  const [order, setOrder] = useState<'asc' | 'desc'>('asc');
  const [state, setState] = useState('');
  // The page offset belongs to one filter and sort; changing either starts at the first row.
  const fkey = `${where}|${state}|${sort}|${order}`;
  const [pg, setPg] = useState({ key: fkey, offset: 0 });
  const offset = pg.key === fkey ? pg.offset : 0;
  const setOffset = (o: number) => setPg({ key: fkey, offset: o });
  const q = useFetch(`${where}|${state}|${sort}|${order}|${offset}`, (sig) => explore.runs(project, study, { sort, order, state, where, offset, limit: PAGE }, sig));
  const runs = q.data?.runs ?? [];
  const totalRows = q.data?.total ?? 0;
  const cols = [{ id: 'index', label: 'index' }, ...columns.map((c) => ({ id: c.name, label: short(c.name), title: c.name })), { id: 'duration', label: 'duration' }];
  const head = (c: { id: string; label: string; title?: string }) => {
    const on = sort === c.id;
    return (
      <th key={c.id} scope="col" class={c.id === 'index' || c.id === 'duration' || columns.find((m) => m.name === c.id)?.type === 'number' ? 'num' : undefined} aria-sort={on ? (order === 'asc' ? 'ascending' : 'descending') : 'none'}>
        <button
          type="button"
          class="sort"
          data-testid={`sort-${c.id}`}
          title={c.title ? `Sort by ${c.title}` : undefined}
          onClick={() => {
            if (on) setOrder(order === 'asc' ? 'desc' : 'asc');
            else {
              setSort(c.id);
              setOrder('asc');
            }
          }}
        >
          {c.label}
          <span aria-hidden="true" class="arrow">
            {on ? (order === 'asc' ? ' ▲' : ' ▼') : ' ↕'}
          </span>
        </button>
      </th>
    );
  };
  const first = totalRows ? (q.data?.offset ?? offset) + 1 : 0;
  const last = (q.data?.offset ?? offset) + runs.length;
  return (
    <section aria-labelledby="xruns-h">
      <h2 id="xruns-h">Runs</h2>
      <div class="toolbar">
        <label for="x-state">State</label>
        <select id="x-state" data-testid="explore-state" value={state} onChange={(e) => setState(e.currentTarget.value)}>
          <option value="">all</option>
          {RUN_STATES.map((k) => (
            <option key={k} value={k}>
              {k.replace('_', ' ')}
            </option>
          ))}
        </select>
        <span class="muted small" role="status" data-testid="explore-range">
          {q.data ? `rows ${fmtInt(first)}–${fmtInt(last)} of ${fmtInt(totalRows)}` : ''}
          {q.loading ? ' · loading…' : ''}
        </span>
      </div>
      {q.error && <ErrorBox error={q.error} title="Cannot load the runs" />}
      {q.loading && !q.data && <Loading what="runs" />}
      {q.data && (
        <div class={`table-wrap${q.loading ? ' busy-table' : ''}`}>
          <table class="runs explore-runs" data-testid="explore-table">
            <caption class="sr-only">
              Runs of {study} matching the filter, sorted by {sort} {order === 'asc' ? 'ascending' : 'descending'}
            </caption>
            <thead>
              <tr>
                {cols.map(head)}
                <th scope="col">State</th>
                <th scope="col">Host</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => (
                <Row key={r.id} r={r} columns={columns} />
              ))}
              {runs.length === 0 && (
                <tr>
                  <td colSpan={cols.length + 2} class="muted">
                    No runs match.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
      )}
      <div class="pager">
        <button type="button" class="secondary" data-testid="explore-prev" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
          Previous page
        </button>
        <button type="button" class="secondary" data-testid="explore-next" disabled={!q.data || offset + PAGE >= totalRows} onClick={() => setOffset(offset + PAGE)}>
          Next page
        </button>
      </div>
    </section>
  );
}

function Row({ r, columns }: { r: Run; columns: Column[] }) {
  return (
    <tr data-testid={`explore-row-${r.id}`}>
      <td class="num" data-col="index">
        <Link href={paths.run(r.id)} aria-label={`Run ${r.index}, replicate ${r.replicate}`}>
          {r.index}
        </Link>
        {r.replicate ? <span class="muted small"> r{r.replicate}</span> : null}
      </td>
      {columns.map((c) => {
        const v = cell(r, c.name);
        return (
          <td key={c.name} data-col={c.name} data-value={v === undefined || v === null ? undefined : String(v)} class={c.type === 'number' ? 'num' : undefined}>
            {v === undefined ? '—' : fmtNum(v)}
          </td>
        );
      })}
      <td class="num" data-col="duration">
        {fmtDuration(r.duration_s)}
      </td>
      <td>
        <StateBadge state={r.state} />
      </td>
      <td>{r.host ?? '—'}</td>
    </tr>
  );
}

// The study page's runs table: filtered by state and by conditions on any
// parameter or metric, sorted by design order, run time or any parameter or
// metric, paged by offset; everything on the server and kept in the URL.
//
// The plain view (design order, ascending, no condition) pages with the cheap
// cursors of `/runs`, as before; any other view, or an offset whose cursor is
// not known (a shared link), asks `explore/runs`. The column list
// (`explore/columns`) is only asked for once the sort or filter controls are
// used (or the URL needs it), so opening the page of a million-run study costs
// what it did.
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, RUN_STATES, type Run } from '../api';
import { Empty, ErrorBox, Loading, StateBadge } from '../components';
import { FilterBuilder } from '../FilterBuilder';
import { compact, fmtDuration, fmtNum } from '../format';
import { useFetch, usePoll } from '../hooks';
import { Link, paths, replaceQuery } from '../router';
import { cell, type Column, type Cond, exploreColumns, exploreRuns, formatWhere, parseWhere, short } from '../where';

const PAGE = 50;
const POLL_MS = 2000;
/** A sorted or filtered page of a running study is asked for less often. */
const SORTED_POLL_MS = 5000;

type Order = 'asc' | 'desc';
interface View {
  state: string;
  sort: string;
  order: Order;
  conds: Cond[];
  offset: number;
}
interface Page {
  runs: Run[];
  offset: number;
  /** Matching runs (explore/runs); undefined on a cursor page. */
  total?: number;
  /** The cursor of the next page (cursor pages only). */
  next?: string | null;
}

function viewFromUrl(): View {
  const q = new URLSearchParams(location.search);
  const state = q.get('state') ?? '';
  const sort = q.get('sort') ?? '';
  const offset = Number(q.get('offset'));
  return {
    state: (RUN_STATES as readonly string[]).includes(state) ? state : '',
    sort: sort === 'duration' || /^(param|metric)\../.test(sort) ? sort : 'index',
    order: q.get('order') === 'desc' ? 'desc' : 'asc',
    conds: parseWhere(q.get('where')),
    offset: Number.isInteger(offset) && offset > 0 ? offset : 0,
  };
}

const fmtInt = (n: number) => n.toLocaleString('en-US');
const sortName = (s: string) => (s === 'index' ? 'design order' : s === 'duration' ? 'run time' : short(s));
const ariaSort = (on: boolean, order: Order) => (on ? (order === 'asc' ? 'ascending' : 'descending') : 'none');

export function StudyRuns({ project, study, live, counts }: { project: string; study: string; live: boolean; counts?: Partial<Record<string, number>> }) {
  const [v, setV] = useState<View>(viewFromUrl);
  const where = formatWhere(v.conds);
  /** Any change but paging goes back to the first row. */
  const change = (patch: Partial<View>) => setV((cur) => ({ ...cur, offset: 0, ...patch }));
  useEffect(() => {
    replaceQuery({ state: v.state || undefined, sort: v.sort === 'index' ? undefined : v.sort, order: v.order === 'desc' ? 'desc' : undefined, where: where || undefined, offset: v.offset ? String(v.offset) : undefined });
  }, [v.state, v.sort, v.order, where, v.offset]);

  // `${state}|${offset}` -> the `after` cursor of that page, learnt while paging forward.
  const cursors = useRef(new Map<string, string>());
  const plain = v.sort === 'index' && v.order === 'asc' && !where;
  const after = v.offset ? cursors.current.get(`${v.state}|${v.offset}`) : undefined;
  const byCursor = plain && (v.offset === 0 || after !== undefined);

  const q = usePoll<Page>(
    () =>
      byCursor
        ? api.runs(project, study, { state: v.state || undefined, limit: PAGE, after }).then((r) => ({ runs: r.runs, next: r.next, offset: v.offset }))
        : exploreRuns(project, study, { sort: v.sort, order: v.order, state: v.state, where, offset: v.offset, limit: PAGE }),
    [project, study, v.state, v.sort, v.order, where, v.offset, byCursor],
    live ? (byCursor ? POLL_MS : SORTED_POLL_MS) : null,
  );
  // While the next page loads, the last one stays (dimmed) instead of blanking.
  const last = useRef<{ key: string; page: Page } | undefined>(undefined);
  const key = `${project}/${study}`;
  if (q.data) last.current = { key, page: q.data };
  const shown = q.data ?? (q.loading && last.current?.key === key ? last.current.page : undefined);
  const busy = q.loading || !q.data;
  const runs = shown?.runs;

  // Columns: asked for on first use of the controls (or when the URL sorts or filters by one).
  const [wantCols, setWantCols] = useState(() => v.sort !== 'index' || v.conds.length > 0);
  const cols = useFetch(wantCols ? key : undefined, (sig) => exploreColumns(project, study, sig));
  const want = () => !wantCols && setWantCols(true);
  const columns = useMemo(() => {
    const out: Column[] = [...(cols.data?.columns ?? [])];
    const seen = new Set(out.map((c) => c.name));
    const add = (kind: 'param' | 'metric', k: string, val: unknown) => {
      const name = `${kind}.${k}`;
      if (seen.has(name)) return;
      seen.add(name);
      out.push({ name, kind, type: typeof val === 'number' || typeof val === 'boolean' ? 'number' : 'text', count: 0, min: null, max: null, values: null });
    };
    // Until explore/columns answers (or for what it does not list), the names on this page.
    for (const r of runs ?? []) {
      for (const [k, val] of Object.entries(r.params ?? {})) add('param', k, val);
      for (const [k, val] of Object.entries(r.metrics ?? {})) add('metric', k, val);
    }
    for (const c of [v.sort, ...v.conds.map((c) => c.col)]) if (/^(param|metric)\./.test(c) && !seen.has(c)) add(c.startsWith('param.') ? 'param' : 'metric', c.slice(c.indexOf('.') + 1), 0);
    return out;
  }, [cols.data, runs, v.sort, where]);
  const params = columns.filter((c) => c.kind === 'param');
  const metrics = columns.filter((c) => c.kind === 'metric');

  const sortBy = (s: string) => (s === v.sort ? change({ order: v.order === 'asc' ? 'desc' : 'asc' }) : change({ sort: s, order: 'asc' }));
  const keyCol = v.sort.startsWith('param.') || v.sort.startsWith('metric.') ? v.sort : undefined;

  // Rows X–Y of N: N from the server, or on a cursor page from the study's counts.
  const counted = counts ? (v.state ? (counts[v.state] ?? 0) : Object.values(counts).reduce<number>((a, n) => a + (n ?? 0), 0)) : undefined;
  const total = shown ? (shown.total ?? (counted === undefined ? undefined : Math.max(counted, shown.offset + shown.runs.length))) : undefined;
  const first = shown && shown.runs.length ? shown.offset + 1 : 0;
  const lastRow = shown ? shown.offset + shown.runs.length : 0;
  const hasNext = q.data ? (q.data.total === undefined ? !!q.data.next : q.data.offset + q.data.runs.length < q.data.total) : false;
  const what = `${v.state ? `${v.state.replace('_', ' ')} ` : ''}runs`;

  return (
    <section aria-labelledby="runs-h">
      <h2 id="runs-h">Runs</h2>
      <div class="toolbar run-controls">
        <label for="run-state">State</label>
        <select id="run-state" data-testid="run-state-filter" value={v.state} onChange={(e) => change({ state: e.currentTarget.value })}>
          <option value="">all</option>
          {RUN_STATES.map((k) => (
            <option key={k} value={k}>
              {k.replace('_', ' ')}
            </option>
          ))}
        </select>
        <label for="run-sort">Sort by</label>
        <select id="run-sort" data-testid="runs-sort" value={v.sort} onFocus={want} onPointerEnter={want} onChange={(e) => change({ sort: e.currentTarget.value })}>
          <option value="index">design order</option>
          <option value="duration">run time</option>
          {params.length > 0 && (
            <optgroup label="Parameters">
              {params.map((c) => (
                <option key={c.name} value={c.name}>
                  {short(c.name)}
                </option>
              ))}
            </optgroup>
          )}
          {metrics.length > 0 && (
            <optgroup label="Metrics">
              {metrics.map((c) => (
                <option key={c.name} value={c.name}>
                  {short(c.name)}
                </option>
              ))}
            </optgroup>
          )}
          {cols.loading && <option disabled>loading the columns…</option>}
        </select>
        <button
          type="button"
          class="secondary"
          data-testid="runs-order"
          data-order={v.order}
          title={`Switch to ${v.order === 'asc' ? 'descending' : 'ascending'} order`}
          onClick={() => change({ order: v.order === 'asc' ? 'desc' : 'asc' })}
        >
          <span class="sr-only">Order: </span>
          <span aria-hidden="true">{v.order === 'asc' ? '▲ ' : '▼ '}</span>
          {v.order === 'asc' ? 'ascending' : 'descending'}
        </button>
      </div>
      <div class="run-filter" onFocusIn={want} onPointerEnter={want}>
        <FilterBuilder
          columns={columns}
          conds={v.conds}
          onAdd={(c) => change({ conds: [...v.conds, c] })}
          onRemove={(i) => change({ conds: v.conds.filter((_, k) => k !== i) })}
          onClear={() => change({ conds: [] })}
          emptyText="No conditions on parameters or metrics."
        />
      </div>
      {cols.error && <ErrorBox error={cols.error} title="Cannot load the parameter and metric names" />}
      <p class="muted small" role="status" data-testid="runs-range" data-total={!busy && total !== undefined ? total : undefined}>
        {shown
          ? `${shown.runs.length ? `rows ${fmtInt(first)}–${fmtInt(lastRow)}${total !== undefined ? ` of ${fmtInt(total)}` : ''}` : total === 0 ? 'no matching runs' : 'no rows here'} · ${sortName(v.sort)}, ${v.order === 'asc' ? 'ascending' : 'descending'}`
          : ''}
        {busy && !q.error ? (shown ? ' · loading…' : 'loading…') : ''}
      </p>
      {q.error && <ErrorBox error={q.error} title="Cannot load the runs" />}
      {!shown && busy && !q.error && <Loading what="runs" />}
      {runs && runs.length === 0 && (
        <Empty testid="runs-empty">
          {v.conds.length ? `No ${what} match these conditions.` : v.state ? `No ${what}${v.offset ? ' on this page' : ''}.` : v.offset ? 'No runs on this page.' : 'No runs.'}
        </Empty>
      )}
      {runs && runs.length > 0 && (
        <div class={`table-wrap${busy ? ' busy-table' : ''}`}>
          <table class="runs" data-testid="runs-table">
            <caption class="sr-only">
              Runs of study {study}, {sortName(v.sort)} {v.order === 'asc' ? 'ascending' : 'descending'}
            </caption>
            <thead>
              <tr>
                <th scope="col" class="num" aria-sort={ariaSort(v.sort === 'index', v.order)}>
                  <SortButton label="Index" on={v.sort === 'index'} order={v.order} testid="runs-sort-index" onClick={() => sortBy('index')} />
                </th>
                <th scope="col" class="num">Replicate</th>
                <th scope="col">State</th>
                {keyCol && (
                  <th scope="col" class="num" aria-sort={ariaSort(true, v.order)}>
                    <SortButton label={short(keyCol)} title={keyCol} on order={v.order} testid="runs-sort-key" onClick={() => sortBy(keyCol)} />
                  </th>
                )}
                <th scope="col">Parameters</th>
                <th scope="col">Metrics</th>
                <th scope="col" class="num" aria-sort={ariaSort(v.sort === 'duration', v.order)}>
                  <SortButton label="Duration" on={v.sort === 'duration'} order={v.order} testid="runs-sort-duration" onClick={() => sortBy('duration')} />
                </th>
                <th scope="col">Host</th>
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => (
                <RunRow key={r.id} r={r} keyCol={keyCol} />
              ))}
            </tbody>
          </table>
        </div>
      )}
      <div class="pager">
        <button type="button" class="secondary" data-testid="runs-prev" disabled={v.offset === 0} onClick={() => setV((cur) => ({ ...cur, offset: Math.max(0, cur.offset - PAGE) }))}>
          Previous page
        </button>
        <button
          type="button"
          class="secondary"
          data-testid="runs-next"
          disabled={!hasNext}
          onClick={() => {
            const d = q.data;
            if (!d) return;
            const offset = d.offset + d.runs.length;
            if (d.next) cursors.current.set(`${v.state}|${offset}`, d.next);
            setV((cur) => ({ ...cur, offset }));
          }}
        >
          Next page
        </button>
      </div>
    </section>
  );
}

function SortButton({ label, title, on, order, testid, onClick }: { label: string; title?: string; on: boolean; order: Order; testid: string; onClick: () => void }) {
  return (
    <button type="button" class="sort" data-testid={testid} title={`Sort by ${title ?? label.toLowerCase()}`} onClick={onClick}>
      {label}
      <span aria-hidden="true" class="arrow">
        {on ? (order === 'asc' ? ' ▲' : ' ▼') : ' ↕'}
      </span>
    </button>
  );
}

function RunRow({ r, keyCol }: { r: Run; keyCol?: string }) {
  const params = compact(r.params);
  const metrics = compact(r.metrics);
  const kv = keyCol ? cell(r, keyCol) : undefined;
  return (
    <tr data-testid={`run-row-${r.id}`}>
      <td class="num">
        <Link href={paths.run(r.id)} aria-label={`Run ${r.index}, replicate ${r.replicate}`}>
          {r.index}
        </Link>
      </td>
      <td class="num">{r.replicate}</td>
      <td>
        <StateBadge state={r.state} />
        {r.attempts > 1 && <span class="muted small"> ×{r.attempts}</span>}
        {r.reason && r.state !== 'succeeded' && (
          <div class="muted small clip" title={r.reason}>
            {r.reason}
          </div>
        )}
      </td>
      {keyCol && (
        <td class="num" data-col={keyCol} data-value={kv === undefined || kv === null ? undefined : String(kv)}>
          {fmtNum(kv)}
        </td>
      )}
      <td>
        <code class="clip" title={JSON.stringify(r.params)}>
          {params || '—'}
        </code>
      </td>
      <td>
        <code class="clip" title={JSON.stringify(r.metrics)}>
          {metrics || '—'}
        </code>
      </td>
      <td class="num">{fmtDuration(r.duration_s)}</td>
      <td>{r.host ?? '—'}</td>
    </tr>
  );
}

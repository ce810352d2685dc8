// Reports over the ETL's tables: per simulator queue and per host, by day, with
// the data's freshness; server administrators also see the ETL log and run it.
import { useState } from 'preact/hooks';
import { api, ApiError, type HostDay, type Me, type SimulatorDay } from '../api';
import { Empty, ErrorBox, Freshness, Loading, PageTitle } from '../components';
import { fmtDuration, fmtNum, fmtTime } from '../format';
import { usePoll } from '../hooks';
import { replaceQuery } from '../router';

const DEFAULT_DAYS = 14;
const POLL_MS = 60_000;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

const isoDay = (d: Date) => d.toISOString().slice(0, 10);
const isDay = (s: string | null): s is string => !!s && /^\d{4}-\d\d-\d\d$/.test(s);

/** Every day from `from` to `to` inclusive (UTC), at most a few hundred. */
function daysBetween(from: string, to: string): string[] {
  const out: string[] = [];
  const d = new Date(`${from}T00:00:00Z`);
  const end = new Date(`${to}T00:00:00Z`).getTime();
  while (d.getTime() <= end && out.length < 400) {
    out.push(isoDay(d));
    d.setUTCDate(d.getUTCDate() + 1);
  }
  return out;
}

interface Series {
  name: string;
  values: (number | null)[];
}

/** A small line chart: one line per series over the days; gaps where a value is missing. */
function LineChart({ title, days, series, fmt = fmtNum }: { title: string; days: string[]; series: Series[]; fmt?: (v: number) => string }) {
  const W = 320;
  const H = 140;
  const L = 58;
  const B = 20;
  const T = 8;
  const R = 8;
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)));
  const max = all.length ? Math.max(...all) : 0;
  const top = max > 0 ? max * 1.05 : 1;
  const x = (i: number) => L + (days.length <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (days.length - 1));
  const y = (v: number) => T + (H - T - B) * (1 - v / top);
  const label = `${title}: ${series.map((s) => s.name).join(', ')} over ${days.length} days`;
  return (
    <figure class="chart">
      <h3>{title}</h3>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <line class="axis" x1={L} y1={H - B} x2={W - R} y2={H - B} />
        <line class="axis" x1={L} y1={T} x2={L} y2={H - B} />
        <text x={L - 4} y={T + 8} text-anchor="end">
          {fmt(top)}
        </text>
        <text x={L - 4} y={H - B} text-anchor="end">
          0
        </text>
        {days.length > 0 && (
          <>
            <text x={L} y={H - 5}>
              {days[0].slice(5)}
            </text>
            <text x={W - R} y={H - 5} text-anchor="end">
              {days[days.length - 1].slice(5)}
            </text>
          </>
        )}
        {series.map((s, k) => {
          let d = '';
          let pen = false;
          const dots: [number, number][] = [];
          s.values.forEach((v, i) => {
            if (v === null || !Number.isFinite(v)) {
              pen = false;
              return;
            }
            d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
            dots.push([x(i), y(v)]);
            pen = true;
          });
          const c = COLORS[k % COLORS.length];
          return (
            <g key={s.name}>
              <path d={d} fill="none" stroke={c} stroke-width="1.6" />
              {dots.map(([cx, cy], i) => (
                <circle key={i} cx={cx} cy={cy} r="2" fill={c} />
              ))}
            </g>
          );
        })}
      </svg>
      {series.length === 0 && <p class="muted small">No data in this range.</p>}
    </figure>
  );
}

function Legend({ names }: { names: string[] }) {
  return (
    <ul class="legend" aria-label="Legend">
      {names.map((n, k) => (
        <li key={n}>
          <i style={{ background: COLORS[k % COLORS.length] }} />
          {n}
        </li>
      ))}
    </ul>
  );
}

function seriesOf<R>(rows: R[], days: string[], key: (r: R) => string, val: (r: R) => number | null): Series[] {
  const by = new Map<string, Map<string, number | null>>();
  for (const r of rows) {
    const k = key(r);
    if (!by.has(k)) by.set(k, new Map());
    by.get(k)!.set((r as { day: string }).day, val(r));
  }
  return [...by.keys()].sort().map((name) => ({ name, values: days.map((d) => by.get(name)!.get(d) ?? null) }));
}

const fmtPct = (v: number | null) => (v === null ? '—' : `${(100 * v).toFixed(1)}%`);

function SimulatorSection({ rows, days }: { rows: SimulatorDay[]; days: string[] }) {
  const [view, setView] = useState<'charts' | 'table'>('charts');
  const q = (r: SimulatorDay) => r.queue;
  const names = [...new Set(rows.map(q))].sort();
  return (
    <>
      <div class="toolbar" role="group" aria-label="Simulator report view">
        <button type="button" class={view === 'charts' ? '' : 'secondary'} aria-pressed={view === 'charts'} onClick={() => setView('charts')}>
          Charts
        </button>
        <button type="button" class={view === 'table' ? '' : 'secondary'} aria-pressed={view === 'table'} onClick={() => setView('table')}>
          Table
        </button>
      </div>
      {view === 'charts' && (
        <>
          <Legend names={names} />
          <div class="charts">
            <LineChart title="Runs per day" days={days} series={seriesOf(rows, days, q, (r) => r.runs)} />
            <LineChart title="Failure rate" days={days} series={seriesOf(rows, days, q, (r) => r.failure_rate)} fmt={(v) => fmtPct(v)} />
            <LineChart title="Run time p50" days={days} series={seriesOf(rows, days, q, (r) => r.duration_p50)} fmt={fmtDuration} />
            <LineChart title="Run time p90" days={days} series={seriesOf(rows, days, q, (r) => r.duration_p90)} fmt={fmtDuration} />
            <LineChart title="Throughput (runs per hour)" days={days} series={seriesOf(rows, days, q, (r) => r.runs_per_hour)} />
          </div>
        </>
      )}
      {/* The table is always in the page (hidden behind the charts) so the numbers stay readable to tests and screen readers. */}
      <div class="table-wrap" hidden={view !== 'table'}>
        <table data-testid="report-simulators-table">
          <caption class="sr-only">Runs per simulator queue and day</caption>
          <thead>
            <tr>
              <th scope="col">Day</th>
              <th scope="col">Queue</th>
              <th scope="col" class="num">Runs</th>
              <th scope="col" class="num">Succeeded</th>
              <th scope="col" class="num">Failed</th>
              <th scope="col" class="num">Cancelled</th>
              <th scope="col" class="num">Failure rate</th>
              <th scope="col" class="num">p50</th>
              <th scope="col" class="num">p90</th>
              <th scope="col" class="num">p99</th>
              <th scope="col" class="num">Busy</th>
              <th scope="col" class="num">Runs/h</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.day}/${r.queue}`} data-testid={`sim-row-${r.queue}-${r.day}`}>
                <td>{r.day}</td>
                <th scope="row" data-col="queue">
                  {r.queue}
                </th>
                <td class="num">{r.runs}</td>
                <td class="num">{r.succeeded}</td>
                <td class="num">{r.failed}</td>
                <td class="num">{r.cancelled}</td>
                <td class="num">{fmtPct(r.failure_rate)}</td>
                <td class="num">{fmtDuration(r.duration_p50)}</td>
                <td class="num">{fmtDuration(r.duration_p90)}</td>
                <td class="num">{fmtDuration(r.duration_p99)}</td>
                <td class="num">{fmtDuration(r.busy_s)}</td>
                <td class="num">{fmtNum(r.runs_per_hour)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function HostSection({ rows, days }: { rows: HostDay[]; days: string[] }) {
  const h = (r: HostDay) => r.host;
  const names = [...new Set(rows.map(h))].sort();
  const totals = names.map((n) => {
    const rs = rows.filter((r) => r.host === n);
    const runs = rs.reduce((a, r) => a + r.runs, 0);
    const busy = rs.reduce((a, r) => a + r.busy_s, 0);
    return { host: n, runs, failed: rs.reduce((a, r) => a + r.failed, 0), busy, perHour: busy > 0 ? (3600 * runs) / busy : null, mean: runs > 0 ? rs.reduce((a, r) => a + r.mean_duration_s * r.runs, 0) / runs : null };
  });
  return (
    <>
      <Legend names={names} />
      <div class="charts">
        <LineChart title="Runs per day" days={days} series={seriesOf(rows, days, h, (r) => r.runs)} />
        <LineChart title="Busy time per day" days={days} series={seriesOf(rows, days, h, (r) => r.busy_s)} fmt={fmtDuration} />
        <LineChart title="Mean run time" days={days} series={seriesOf(rows, days, h, (r) => r.mean_duration_s)} fmt={fmtDuration} />
      </div>
      <div class="table-wrap">
        <table data-testid="report-hosts-table">
          <caption class="sr-only">Throughput per host over the range</caption>
          <thead>
            <tr>
              <th scope="col">Host</th>
              <th scope="col" class="num">Runs</th>
              <th scope="col" class="num">Failed</th>
              <th scope="col" class="num">Busy</th>
              <th scope="col" class="num">Runs per busy hour</th>
              <th scope="col" class="num">Mean run time</th>
            </tr>
          </thead>
          <tbody>
            {totals.map((t) => (
              <tr key={t.host} data-testid={`host-row-${t.host}`}>
                <th scope="row">{t.host}</th>
                <td class="num">{t.runs}</td>
                <td class="num">{t.failed}</td>
                <td class="num">{fmtDuration(t.busy)}</td>
                <td class="num">{t.perHour === null ? '—' : fmtNum(t.perHour)}</td>
                <td class="num">{fmtDuration(t.mean)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </>
  );
}

function EtlAdmin({ onRan }: { onRan: () => void }) {
  const log = usePoll(() => api.etlRuns(20), [], POLL_MS);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const [done, setDone] = useState<string>();
  const runNow = async () => {
    setBusy(true);
    setError(undefined);
    setDone(undefined);
    try {
      const r = await api.etlRun();
      setDone(`ETL run ${r.id} ${r.status}: ${r.tables.reduce((a, t) => a + t.written, 0)} rows written, ${r.tables.reduce((a, t) => a + t.rejected, 0)} rejected.`);
      await log.reload();
      onRan();
    } catch (e) {
      setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="etl-h">
      <h2 id="etl-h">ETL</h2>
      <p class="actions">
        <button type="button" data-testid="etl-run" disabled={busy} onClick={runNow}>
          {busy ? 'Running the ETL…' : 'Run ETL now'}
        </button>
      </p>
      {done && (
        <p class="ok-note" role="status" data-testid="etl-result">
          {done}
        </p>
      )}
      {error && <ErrorBox error={error} title="The ETL run failed" />}
      {log.error && !log.data && <ErrorBox error={log.error} title="Cannot load the ETL log" />}
      {log.loading && !log.data && <Loading what="the ETL log" />}
      {log.data && (
        <>
          <div class="table-wrap">
            <table data-testid="etl-tables">
              <caption>Reporting tables</caption>
              <thead>
                <tr>
                  <th scope="col">Table</th>
                  <th scope="col">Last updated</th>
                  <th scope="col" class="num">Lag</th>
                  <th scope="col" class="num">Pending changes</th>
                </tr>
              </thead>
              <tbody>
                {log.data.tables.map((t) => (
                  <tr key={t.table}>
                    <th scope="row">{t.table}</th>
                    <td>{t.last_updated ? fmtTime(t.last_updated) : 'never'}</td>
                    <td class="num">{fmtDuration(t.lag_s)}</td>
                    <td class="num">{t.pending_changes}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {log.data.runs.length === 0 ? (
            <Empty testid="etl-runs-empty">The ETL has not run yet.</Empty>
          ) : (
            <div class="table-wrap">
              <table data-testid="etl-runs">
                <caption>Recent runs, newest first</caption>
                <thead>
                  <tr>
                    <th scope="col" class="num">Run</th>
                    <th scope="col">Trigger</th>
                    <th scope="col">Started</th>
                    <th scope="col">Status</th>
                    <th scope="col" class="num">Written</th>
                    <th scope="col" class="num">Rejected</th>
                    <th scope="col">Error</th>
                  </tr>
                </thead>
                <tbody>
                  {log.data.runs.map((r) => (
                    <tr key={r.id} data-testid={`etl-run-row-${r.id}`}>
                      <td class="num">{r.id}</td>
                      <td>{r.trigger}</td>
                      <td>{fmtTime(r.started_at)}</td>
                      <td>
                        <span class={`badge s-${r.status === 'succeeded' ? 'succeeded' : r.status === 'failed' ? 'failed' : 'running'}`}>{r.status}</span>
                      </td>
                      <td class="num">{r.tables.reduce((a, t) => a + t.written, 0)}</td>
                      <td class="num">{r.tables.reduce((a, t) => a + t.rejected, 0)}</td>
                      <td>{r.error ? <code class="wrap">{r.error}</code> : ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </section>
  );
}

export function Reports({ me }: { me: Me }) {
  const params = new URLSearchParams(location.search);
  const today = isoDay(new Date());
  const start = new Date();
  start.setUTCDate(start.getUTCDate() - (DEFAULT_DAYS - 1));
  const [range, setRange] = useState(() => ({
    from: isDay(params.get('from')) ? params.get('from')! : isoDay(start),
    to: isDay(params.get('to')) ? params.get('to')! : today,
  }));
  const [draft, setDraft] = useState(range);
  const sims = usePoll(() => api.simulatorReport(range.from, range.to), [range.from, range.to], POLL_MS);
  const hosts = usePoll(() => api.hostReport(range.from, range.to), [range.from, range.to], POLL_MS);
  const days = daysBetween(range.from, range.to);
  const apply = (e: Event) => {
    e.preventDefault();
    if (!isDay(draft.from) || !isDay(draft.to)) return;
    setRange(draft);
    replaceQuery({ from: draft.from, to: draft.to });
  };
  const s = sims.data;
  const h = hosts.data;
  // The older of the two tables decides the indicator (never built beats everything).
  const older = (a: string | null, b: string | null) => (!a || !b ? null : a < b ? a : b);
  const fresh = s ? { last_updated: h ? older(s.last_updated, h.last_updated) : s.last_updated, lag_s: Math.max(s.lag_s, h?.lag_s ?? 0) } : undefined;

  return (
    <>
      <PageTitle title="Reports" />
      <form class="form-row" onSubmit={apply} aria-label="Date range">
        <label>
          From
          <input type="date" value={draft.from} max={draft.to} data-testid="report-from" onInput={(e) => setDraft({ ...draft, from: e.currentTarget.value })} />
        </label>
        <label>
          To
          <input type="date" value={draft.to} min={draft.from} data-testid="report-to" onInput={(e) => setDraft({ ...draft, to: e.currentTarget.value })} />
        </label>
        <button type="submit" data-testid="report-apply">
          Show
        </button>
      </form>
      {fresh && <Freshness lastUpdated={fresh.last_updated} lagS={fresh.lag_s} loadedAt={sims.updatedAt} />}

      <section aria-labelledby="sims-h" data-testid="report-simulators">
        <h2 id="sims-h">Simulators</h2>
        {sims.error && !s && <ErrorBox error={sims.error} title="Cannot load the simulator report" />}
        {sims.loading && !s && <Loading what="the simulator report" />}
        {s && s.rows.length === 0 && (
          <Empty testid="report-simulators-empty">
            {s.last_updated ? `No runs of a study you can see between ${s.from} and ${s.to}.` : 'No reports yet — the ETL has not run.'}
          </Empty>
        )}
        {s && s.rows.length > 0 && <SimulatorSection rows={s.rows} days={days} />}
      </section>

      <section aria-labelledby="hosts-h" data-testid="report-hosts">
        <h2 id="hosts-h">Hosts</h2>
        {hosts.error && !h && <ErrorBox error={hosts.error} title="Cannot load the host report" />}
        {hosts.loading && !h && <Loading what="the host report" />}
        {h && h.rows.length === 0 && (
          <Empty testid="report-hosts-empty">{h.last_updated ? `No attempts on any host between ${h.from} and ${h.to}.` : 'No reports yet — the ETL has not run.'}</Empty>
        )}
        {h && h.rows.length > 0 && <HostSection rows={h.rows} days={days} />}
      </section>

      {me.is_admin && (
        <EtlAdmin
          onRan={() => {
            sims.reload();
            hosts.reload();
          }}
        />
      )}
    </>
  );
}

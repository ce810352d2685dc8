import { useEffect, useRef, useState } from 'preact/hooks';
import { type Adaptive, api, ApiError, RUN_STATES } from '../api';
import { Breadcrumbs, Empty, ErrorBox, Freshness, Loading, PageTitle, Progress, StateBadge, Updated } from '../components';
import { fmtDuration, fmtNum, fmtTime } from '../format';
import { usePoll } from '../hooks';
import { eta, fmtRate, RateTracker } from '../rate';
import { Link, paths } from '../router';
import { StudyRuns } from './StudyRuns';

const POLL_MS = 2000;

export function StudyPage({ project, study, local = false, canEdit = false }: { project: string; study: string; local?: boolean; canEdit?: boolean }) {
  const s = usePoll(() => api.study(project, study), [project, study], POLL_MS);
  // An adaptive study keeps growing while its loop runs, even when every run so far is done.
  const finished = s.data ? (s.data.finished && s.data.adaptive?.state !== 'running') || s.data.state === 'cancelled' : false;
  const rates = useRef(new RateTracker());
  rates.current.record(s.updatedAt, s.data ? [['done', s.data.done]] : []);

  const d = s.data;
  const c = (k: string) => d?.counts[k] ?? 0;
  const rate = !finished ? rates.current.rate('done') : undefined;
  const left = d ? eta(d.planned - d.done, rate) : undefined;

  return (
    <>
      <Breadcrumbs items={[{ label: 'Projects', href: paths.home }, { label: project, href: paths.project(project) }, { label: study }]} />
      <PageTitle title={`${study} (${project})`}>
        Study <span class="name">{study}</span>
      </PageTitle>
      <Updated at={s.updatedAt} error={s.error} live={!finished} />
      <p class="actions">
        <Link href={paths.explore(project, study)} class="button" data-testid="explore-link">
          Explore results
        </Link>
      </p>
      {s.error && !d && <ErrorBox error={s.error} title="Cannot load the study" />}
      {s.loading && !d && <Loading what="the study" />}
      {d && (
        <>
          <dl class="meta">
            <div>
              <dt>State</dt>
              <dd>
                <StateBadge state={d.state} /> {d.finished && <span class="muted">finished</span>}
              </dd>
            </div>
            <div>
              <dt>Owner</dt>
              <dd>{d.owner}</dd>
            </div>
            <div>
              <dt>Queue</dt>
              <dd>{d.queue}</dd>
            </div>
            {d.simulator && (
              <div>
                <dt>Simulator</dt>
                <dd>{d.simulator}</dd>
              </div>
            )}
            {d.submitted_at && (
              <div>
                <dt>Submitted</dt>
                <dd title={d.submitted_at}>{fmtTime(d.submitted_at)}</dd>
              </div>
            )}
          </dl>

          <StudyFile project={project} study={study} canEdit={canEdit} />

          <section aria-labelledby="progress-h">
            <h2 id="progress-h">Progress</h2>
            <Progress
              total={d.planned}
              testid="study-progress"
              segments={[
                { value: c('succeeded'), cls: 'ok', label: 'succeeded' },
                { value: c('failed') + c('timed_out'), cls: 'bad', label: 'failed or timed out' },
                { value: c('cancelled'), cls: 'cancel', label: 'cancelled' },
                { value: c('running'), cls: 'run', label: 'running' },
              ]}
            />
            <ul class="counts" aria-live="polite" aria-atomic="false" data-testid="study-counts">
              <li>
                <span class="k">planned</span>
                <span class="v" data-testid="count-planned">{d.planned}</span>
              </li>
              <li>
                <span class="k">done</span>
                <span class="v" data-testid="count-done">{d.done}</span>
              </li>
              {RUN_STATES.map((k) => (
                <li key={k} class={`c-${k}`}>
                  <span class="k">{k.replace('_', ' ')}</span>
                  <span class="v" data-testid={`count-${k}`}>
                    {c(k)}
                  </span>
                </li>
              ))}
            </ul>
            {!finished && (
              <p class="muted">
                Rate <span data-testid="study-rate">{fmtRate(rate)}</span> · ETA{' '}
                <span data-testid="study-eta">{left === undefined ? '…' : fmtDuration(left)}</span>
              </p>
            )}
          </section>

          {d.adaptive && <AdaptivePanel a={d.adaptive} planned={d.planned} project={project} study={study} />}

          {d.failure_reasons.length > 0 && (
            <section aria-labelledby="reasons-h">
              <h2 id="reasons-h">Failure reasons</h2>
              <div class="table-wrap">
                <table data-testid="failure-reasons">
                  <thead>
                    <tr>
                      <th scope="col">Reason</th>
                      <th scope="col" class="num">Runs</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.failure_reasons.map((r) => (
                      <tr key={r.reason}>
                        <td>
                          <code class="wrap">{r.reason}</code>
                        </td>
                        <td class="num">{r.runs}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            </section>
          )}
        </>
      )}
      {d && !local && <SummaryStats project={project} study={study} />}
      {(d || s.error?.status !== 404) && <StudyRuns project={project} study={study} live={!finished} counts={d?.counts} />}
    </>
  );
}

type FileBody = typeof import('./StudyFile').StudyFileBody;

/** "Study file": collapsed; its content (a chunk of its own) loads on the first opening. */
function StudyFile({ project, study, canEdit }: { project: string; study: string; canEdit: boolean }) {
  const [open, setOpen] = useState(false);
  const [Body, setBody] = useState<FileBody>();
  const [error, setError] = useState<ApiError>();
  const [name, setName] = useState<string>();
  useEffect(() => {
    if (open && !Body)
      import('./StudyFile')
        .then((m) => setBody(() => m.StudyFileBody))
        .catch(() => setError(new ApiError(0, 'network', 'Cannot load this part of the page.', 'Reload the page; the server may have been updated.')));
  }, [open]);
  return (
    <details class="study-file" data-testid="study-file" onToggle={(e) => (e.currentTarget as HTMLDetailsElement).open && setOpen(true)}>
      <summary data-testid="study-file-toggle">
        <h2>Study file</h2>
        {name && <span class="muted small"> · {name}</span>}
      </summary>
      {error && <ErrorBox error={error} />}
      {open && !Body && !error && <Loading what="the study file" />}
      {Body && <Body project={project} study={study} canEdit={canEdit} onName={setName} />}
    </details>
  );
}

const SUMMARY_POLL_MS = 60_000;
const STAT_COLS = ['mean', 'stddev', 'min', 'p5', 'p25', 'p50', 'p75', 'p95', 'max'] as const;

/** Per-metric summary statistics from the reporting tables (built by the ETL, so possibly behind). */
function SummaryStats({ project, study }: { project: string; study: string }) {
  const r = usePoll(() => api.studyReport(project, study), [project, study], SUMMARY_POLL_MS);
  const d = r.data;
  return (
    <section aria-labelledby="summary-h" data-testid="study-summary">
      <h2 id="summary-h">Summary statistics</h2>
      {r.error && !d && <ErrorBox error={r.error} title="Cannot load the summary statistics" />}
      {r.loading && !d && <Loading what="summary statistics" />}
      {d && <Freshness lastUpdated={d.last_updated} lagS={d.lag_s} loadedAt={r.updatedAt} testid="study-summary-freshness" />}
      {d && d.metrics.length === 0 && (
        <Empty testid="study-summary-empty">
          {d.last_updated ? 'No metric summaries for this study yet: no succeeded run with numeric metrics has been through the ETL.' : 'No reports yet — the ETL has not run.'}
        </Empty>
      )}
      {d && d.metrics.length > 0 && (
        <div class="table-wrap">
          <table>
            <caption class="sr-only">Summary statistics per metric</caption>
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col" class="num">n</th>
                {STAT_COLS.map((c) => (
                  <th key={c} scope="col" class="num">
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {d.metrics.map((m) => (
                <tr key={m.metric} data-testid={`summary-row-${m.metric}`}>
                  <th scope="row">{m.metric}</th>
                  <td class="num">{m.n}</td>
                  {STAT_COLS.map((c) => (
                    <td key={c} class="num" data-col={c}>
                      {fmtNum(m[c])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {d && d.rejected_runs > 0 && <p class="muted small">{d.rejected_runs} runs were left out by the ETL (invalid records).</p>}
    </section>
  );
}

/** The server's adaptive loop (Bayesian optimisation or active learning): state, iterations, best point. */
function AdaptivePanel({ a, planned, project, study }: { a: Adaptive; planned: number; project: string; study: string }) {
  const title = a.goal === 'learn' ? 'Active learning' : 'Optimisation';
  const last = a.iterations[a.iterations.length - 1];
  const used = Math.max(planned, last?.runs ?? 0);
  return (
    <section aria-labelledby="adaptive-h" data-testid="adaptive-panel" class="adaptive">
      <h2 id="adaptive-h">{title}</h2>
      <p>
        <span data-testid="adaptive-state" data-state={a.state}>
          <StateBadge state={a.state} />
        </span>{' '}
        {a.state === 'running' && <span class="muted">proposing new runs as results come in</span>}
        {a.stop_reason && <span data-testid="adaptive-stop-reason">— {a.stop_reason}</span>}
      </p>
      {a.error && (
        <div class="error" role="alert" data-testid="adaptive-error">
          <strong>The adaptive loop failed:</strong> <code class="wrap">{a.error}</code>
        </div>
      )}
      <dl class="meta">
        <div>
          <dt>Objective</dt>
          <dd>
            {a.goal === 'learn' ? 'learn' : a.maximize ? 'maximise' : 'minimise'} <code>{a.metric}</code>
          </dd>
        </div>
        <div>
          <dt>Constraints</dt>
          <dd data-testid="adaptive-constraints">{a.constraints.length ? a.constraints.map((c) => <code key={c} class="constraint">{c}</code>) : 'none'}</dd>
        </div>
        <div>
          <dt>Runs used</dt>
          <dd data-testid="adaptive-used">
            {used} of {a.budget}
          </dd>
        </div>
      </dl>
      {a.best ? (
        <div class="best-point" data-testid="adaptive-best">
          <h3>Best {a.constraints.length ? 'feasible ' : ''}point so far</h3>
          <p>
            <code>{a.metric}</code> = <strong data-testid="adaptive-best-value">{fmtNum(a.best.value)}</strong> —{' '}
            <Link href={paths.run(a.best.run_id)} data-testid="adaptive-best-run">
              run {a.best.run_id.slice(0, 12)}
            </Link>
          </p>
          <div class="table-wrap">
            <table class="kv">
              <caption class="sr-only">Parameters of the best point</caption>
              <tbody>
                {Object.entries(a.best.params).map(([k, v]) => (
                  <tr key={k}>
                    <th scope="row">
                      <code>{k}</code>
                    </th>
                    <td class="num">{fmtNum(v)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </div>
      ) : (
        <p class="muted" data-testid="adaptive-no-best">
          {a.state === 'running' ? 'No feasible point yet.' : `No ${a.constraints.length ? 'feasible ' : ''}point was found.`}
        </p>
      )}
      <h3>Iterations</h3>
      {a.iterations.length === 0 ? (
        <p class="muted">None yet: the initial design is running.</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="adaptive-iterations">
            <caption class="sr-only">Iterations of the adaptive loop of {study}, newest first</caption>
            <thead>
              <tr>
                <th scope="col" class="num">Iteration</th>
                <th scope="col" class="num">Proposed</th>
                <th scope="col" class="num">Runs</th>
                <th scope="col" class="num">Best so far</th>
                <th scope="col" class="num">Predicted ± sd</th>
                <th scope="col">At</th>
              </tr>
            </thead>
            <tbody>
              {a.iterations
                .slice()
                .reverse()
                .map((it) => (
                  <tr key={it.number} data-testid={`adaptive-iteration-${it.number}`}>
                    <td class="num">{it.number}</td>
                    <td class="num">{it.proposed}</td>
                    <td class="num">{it.runs}</td>
                    <td class="num">{it.best === null ? '—' : fmtNum(it.best)}</td>
                    <td class="num">
                      {it.predicted ? `${fmtNum(it.predicted[0])} ± ${fmtNum(it.predicted[1])}` : it.random_because ? <span class="muted small">random: {it.random_because}</span> : '—'}
                    </td>
                    <td title={it.at}>{fmtTime(it.at)}</td>
                  </tr>
                ))}
            </tbody>
          </table>
        </div>
      )}
      <p class="muted small">
        The convergence plot is in the <Link href={paths.explore(project, study)}>results explorer</Link>.
      </p>
    </section>
  );
}

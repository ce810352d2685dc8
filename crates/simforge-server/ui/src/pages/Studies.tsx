import { useRef, useState } from 'preact/hooks';
import { api, canSubmit, type Me, type StudySummary } from '../api';
import { Breadcrumbs, Empty, ErrorBox, Loading, PageTitle, Progress, StateBadge, Updated } from '../components';
import { fmtDuration, fmtTime } from '../format';
import { usePoll } from '../hooks';
import { eta, fmtRate, RateTracker } from '../rate';
import { Link, paths } from '../router';

const PAGE = 50;
const POLL_MS = 2000;

const isUnfinished = (s: StudySummary) => s.state === 'active' && s.succeeded + s.failed < s.planned;

export function Studies({ project, me }: { project: string; me: Me }) {
  const [offset, setOffset] = useState(0);
  const q = usePoll(() => api.studies(project, PAGE, offset), [project, offset], POLL_MS);
  const rates = useRef(new RateTracker());
  const studies = q.data?.studies;
  rates.current.record(
    q.updatedAt,
    (studies ?? []).map((s) => [s.key, s.succeeded + s.failed]),
  );

  const active = (studies ?? []).filter(isUnfinished);
  const totals = active.reduce((a, s) => ({ done: a.done + s.succeeded + s.failed, planned: a.planned + s.planned }), { done: 0, planned: 0 });

  return (
    <>
      <Breadcrumbs items={[{ label: 'Projects', href: paths.home }, { label: project }]} />
      <PageTitle title={`Studies of ${project}`}>
        Studies of <span class="name">{project}</span>
      </PageTitle>
      {(canSubmit(me, project) || !me.local) && (
        <p class="actions">
          {canSubmit(me, project) && (
            <Link href={paths.newStudy(project)} class="button" data-testid="new-study">
              New study
            </Link>
          )}
          {!me.local && (
            <Link href={paths.datasets(project)} class="button secondary" data-testid="nav-datasets">
              Datasets
            </Link>
          )}
        </p>
      )}
      <Updated at={q.updatedAt} error={q.error} live />
      {q.error && !q.data && <ErrorBox error={q.error} title="Cannot load the studies" />}
      {q.loading && !q.data && <Loading what="studies" />}
      {studies && studies.length === 0 && offset === 0 && (
        <Empty testid="studies-empty">
          <p>No studies yet — submit one with</p>
          <pre>
            <code>simforge run study.yaml --server {location.origin} --project {project}</code>
          </pre>
        </Empty>
      )}
      {studies && (studies.length > 0 || offset > 0) && (
        <>
          <p class="summary" aria-live="polite" aria-atomic="true" data-testid="studies-summary">
            {active.length === 0
              ? `${studies.length} ${studies.length === 1 ? 'study' : 'studies'}, none running.`
              : `${active.length} running ${active.length === 1 ? 'study' : 'studies'}: ${totals.done} of ${totals.planned} runs finished.`}
          </p>
          <div class="table-wrap">
            <table class="studies" data-testid="studies-table">
              <caption class="sr-only">Studies of project {project}, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Owner</th>
                  <th scope="col">Queue</th>
                  <th scope="col">State</th>
                  <th scope="col" class="num">Planned</th>
                  <th scope="col" class="num">Succeeded</th>
                  <th scope="col" class="num">Failed</th>
                  <th scope="col" class="wide">Progress</th>
                  <th scope="col" class="num">Rate</th>
                  <th scope="col" class="num">ETA</th>
                </tr>
              </thead>
              <tbody>
                {studies.map((s) => {
                  const unfinished = isUnfinished(s);
                  const r = unfinished ? rates.current.rate(s.key) : undefined;
                  const left = eta(s.planned - s.succeeded - s.failed, r);
                  return (
                    <tr key={s.key} data-testid={`study-row-${s.name}`}>
                      <th scope="row">
                        <Link href={paths.study(project, s.name)}>{s.name}</Link>
                        <div class="muted small" title={s.submitted_at}>
                          {fmtTime(s.submitted_at)}
                        </div>
                      </th>
                      <td>{s.owner}</td>
                      <td>{s.queue}</td>
                      <td>
                        <StateBadge state={s.state} />
                      </td>
                      <td class="num" data-col="planned">{s.planned}</td>
                      <td class="num" data-col="succeeded">{s.succeeded}</td>
                      <td class="num" data-col="failed">{s.failed}</td>
                      <td class="wide">
                        <Progress
                          total={s.planned}
                          segments={[
                            { value: s.succeeded, cls: 'ok', label: 'succeeded' },
                            { value: s.failed, cls: 'bad', label: 'failed' },
                          ]}
                        />
                      </td>
                      <td class="num">{unfinished ? fmtRate(r) : '—'}</td>
                      <td class="num">{unfinished ? (left === undefined ? '…' : fmtDuration(left)) : s.state === 'active' ? 'done' : '—'}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
          <div class="pager">
            <button type="button" class="secondary" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - PAGE))}>
              Newer
            </button>
            <span class="muted">
              {studies.length === 0 ? 'no more studies' : `studies ${offset + 1}–${offset + studies.length}`}
            </span>
            <button type="button" class="secondary" disabled={studies.length < PAGE} onClick={() => setOffset(offset + PAGE)}>
              Older
            </button>
          </div>
          <p class="muted small">Rate: runs finished per second over the last polls. ETA assumes that rate holds.</p>
        </>
      )}
    </>
  );
}

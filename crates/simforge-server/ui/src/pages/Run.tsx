import { useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, type RunDetail } from '../api';
import { Breadcrumbs, Empty, ErrorBox, Loading, PageTitle, StateBadge, Updated } from '../components';
import { fmtBytes, fmtDuration, fmtNum, fmtTime } from '../format';
import { usePoll } from '../hooks';
import { paths } from '../router';

const POLL_MS = 2000;
const isLive = (r: RunDetail | undefined) => !r || r.state === 'running' || r.state === 'pending';

export function RunPage({ id }: { id: string }) {
  // Poll the run while it is not final; `live` is only known after the first load.
  const [live, setLive] = useState(true);
  const q = usePoll(() => api.run(id), [id], live ? POLL_MS : null);
  const r = q.data;
  const nowLive = isLive(r) && !(q.error && !r);
  if (nowLive !== live && (r || q.error)) setLive(nowLive);

  const slash = r ? r.study.indexOf('/') : -1;
  const project = r && slash > 0 ? r.study.slice(0, slash) : undefined;
  const study = r && slash > 0 ? r.study.slice(slash + 1) : r?.study;

  return (
    <>
      <Breadcrumbs
        items={[
          { label: 'Projects', href: paths.home },
          ...(project ? [{ label: project, href: paths.project(project) }] : []),
          ...(project && study ? [{ label: study, href: paths.study(project, study) }] : []),
          { label: `run ${id.slice(0, 12)}` },
        ]}
      />
      <PageTitle title={r ? `Run ${r.index}.${r.replicate} of ${study}` : `Run ${id}`}>
        Run {r ? <span class="name">{`${r.index}.${r.replicate}`}</span> : <span class="name">{id.slice(0, 12)}</span>}
      </PageTitle>
      <Updated at={q.updatedAt} error={q.error} live={live} />
      {q.error && !r && <ErrorBox error={q.error} title="Cannot load the run" />}
      {q.loading && !r && <Loading what="the run" />}
      {r && (
        <>
          <dl class="meta">
            <div>
              <dt>State</dt>
              <dd data-testid="run-state">
                <StateBadge state={r.state} />
              </dd>
            </div>
            <div>
              <dt>Id</dt>
              <dd>
                <code>{r.id}</code>
              </dd>
            </div>
            <div>
              <dt>Design position</dt>
              <dd>
                index {r.index}, replicate {r.replicate}
                {r.tag ? `, tag ${r.tag}` : ''}
              </dd>
            </div>
            <div>
              <dt>Seed</dt>
              <dd>{r.seed}</dd>
            </div>
            <div>
              <dt>Duration</dt>
              <dd>{fmtDuration(r.duration_s)}</dd>
            </div>
            <div>
              <dt>Host</dt>
              <dd>{r.host ?? '—'}</dd>
            </div>
            <div>
              <dt>Started</dt>
              <dd>{fmtTime(r.started_at)}</dd>
            </div>
            <div>
              <dt>Finished</dt>
              <dd>{fmtTime(r.finished_at)}</dd>
            </div>
            {r.reason && (
              <div class="full">
                <dt>Reason</dt>
                <dd>
                  <code class="wrap">{r.reason}</code>
                </dd>
              </div>
            )}
          </dl>
          <div class="two-col">
            <KeyValues title="Parameters" obj={r.params} testid="run-params" />
            <KeyValues title="Metrics" obj={r.metrics} testid="run-metrics" empty={r.state === 'succeeded' ? 'No metrics.' : 'No metrics (yet).'} />
          </div>
          <Attempts r={r} />
          <Logs id={id} live={live} attempts={r.attempt_history.map((a) => a.attempt)} />
          <Artifacts id={id} version={`${r.state}/${r.attempts}`} />
        </>
      )}
    </>
  );
}

function KeyValues({ title, obj, testid, empty }: { title: string; obj: Record<string, unknown>; testid: string; empty?: string }) {
  const entries = Object.entries(obj ?? {});
  return (
    <section aria-label={title}>
      <h2>{title}</h2>
      {entries.length === 0 ? (
        <p class="muted">{empty ?? 'None.'}</p>
      ) : (
        <table class="kv" data-testid={testid}>
          <tbody>
            {entries.map(([k, v]) => (
              <tr key={k}>
                <th scope="row">{k}</th>
                <td>
                  <code title={typeof v === 'number' ? String(v) : undefined}>{fmtNum(v)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

function Attempts({ r }: { r: RunDetail }) {
  return (
    <section aria-labelledby="attempts-h">
      <h2 id="attempts-h">Attempts</h2>
      {r.attempt_history.length === 0 ? (
        <p class="muted">No attempt yet.</p>
      ) : (
        <div class="table-wrap">
          <table data-testid="attempts-table">
            <thead>
              <tr>
                <th scope="col" class="num">#</th>
                <th scope="col">State</th>
                <th scope="col">Host</th>
                <th scope="col">Started</th>
                <th scope="col" class="num">Duration</th>
                <th scope="col" class="num">Exit</th>
                <th scope="col" class="num">Max RSS</th>
                <th scope="col">Reason</th>
              </tr>
            </thead>
            <tbody>
              {r.attempt_history.map((a) => (
                <tr key={a.attempt} data-testid={`attempt-row-${a.attempt}`}>
                  <td class="num">{a.attempt}</td>
                  <td>
                    <StateBadge state={a.state} />
                  </td>
                  <td>{a.host ?? '—'}</td>
                  <td>{fmtTime(a.started_at)}</td>
                  <td class="num">{fmtDuration(a.duration_s)}</td>
                  <td class="num">{a.exit_code ?? (a.signal !== null && a.signal !== undefined ? `signal ${a.signal}` : '—')}</td>
                  <td class="num">{a.max_rss_kb !== null && a.max_rss_kb !== undefined ? fmtBytes(a.max_rss_kb * 1024) : '—'}</td>
                  <td>{a.reason ? <code class="wrap">{a.reason}</code> : ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function Logs({ id, live, attempts }: { id: string; live: boolean; attempts: number[] }) {
  const q = usePoll(() => api.logs(id), [id], live ? POLL_MS : null);
  const [chosen, setChosen] = useState<number | undefined>(undefined);
  const list = q.data?.attempts ?? [];
  const numbers = Array.from(new Set([...attempts, ...list.map((a) => a.attempt)])).sort((a, b) => a - b);
  // Follow the latest attempt unless the reader picked one.
  const shown = chosen !== undefined && numbers.includes(chosen) ? chosen : numbers[numbers.length - 1];
  const log = list.find((a) => a.attempt === shown);

  return (
    <section aria-labelledby="logs-h">
      <h2 id="logs-h">Logs</h2>
      {numbers.length > 1 && (
        <div class="toolbar">
          <label for="log-attempt">Attempt</label>
          <select id="log-attempt" data-testid="log-attempt" value={String(shown)} onChange={(e) => setChosen(Number(e.currentTarget.value))}>
            {numbers.map((n) => (
              <option key={n} value={String(n)}>
                {n}
                {n === numbers[numbers.length - 1] ? ' (latest)' : ''}
              </option>
            ))}
          </select>
        </div>
      )}
      {q.error && <ErrorBox error={q.error} title="Cannot load the logs" />}
      {q.loading && !q.data && <Loading what="logs" />}
      {q.data && list.length === 0 && <p class="muted">No logs {live ? 'yet' : 'were kept for this run'}.</p>}
      {q.data && list.length > 0 && (
        <div class="logs">
          <LogBlock label="stdout" text={log?.stdout ?? ''} testid="log-stdout" attempt={shown} />
          <LogBlock label="stderr" text={log?.stderr ?? ''} testid="log-stderr" attempt={shown} />
        </div>
      )}
      <p class="muted small">The server keeps the tail of each stream.{live ? ' Refreshing every 2 s while the run is running.' : ''}</p>
    </section>
  );
}

/** A <pre> that keeps following the end of the text while scrolled to the bottom. */
function LogBlock({ label, text, testid, attempt }: { label: string; text: string; testid: string; attempt: number | undefined }) {
  const ref = useRef<HTMLPreElement>(null);
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [text, attempt]);
  return (
    <figure class="log">
      <figcaption>
        {label}
        {attempt !== undefined ? ` · attempt ${attempt}` : ''}
      </figcaption>
      <pre
        ref={ref}
        tabIndex={0}
        aria-label={`${label} of attempt ${attempt ?? ''}`}
        data-testid={testid}
        data-attempt={attempt}
        onScroll={(e) => {
          const el = e.currentTarget;
          atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
        }}
      >
        {text || <span class="muted">(empty)</span>}
      </pre>
    </figure>
  );
}

function Artifacts({ id, version }: { id: string; version: string }) {
  const q = usePoll(() => api.artifacts(id), [id, version]);
  const list = q.data?.artifacts;
  return (
    <section aria-labelledby="artifacts-h">
      <h2 id="artifacts-h">Artifacts</h2>
      {q.error && <ErrorBox error={q.error} title="Cannot load the artifacts" />}
      {q.loading && !list && <Loading what="artifacts" />}
      {list && list.length === 0 && <Empty testid="artifacts-empty">No artifacts. Remote workers upload the files an attempt leaves in its run directory when it finishes.</Empty>}
      {list && list.length > 0 && (
        <div class="table-wrap">
          <table data-testid="artifacts-table">
            <thead>
              <tr>
                <th scope="col" class="num">Attempt</th>
                <th scope="col">Path</th>
                <th scope="col" class="num">Size</th>
                <th scope="col">SHA-256</th>
              </tr>
            </thead>
            <tbody>
              {list.map((a) => (
                <tr key={`${a.attempt}/${a.path}`} data-testid="artifact-row">
                  <td class="num">{a.attempt}</td>
                  <td>
                    <a href={api.artifactUrl(id, a.path, a.attempt)} download={a.path.split('/').pop()}>
                      {a.path}
                    </a>
                  </td>
                  <td class="num">{fmtBytes(a.size_bytes)}</td>
                  <td>
                    <code title={a.sha256}>{a.sha256.slice(0, 12)}</code>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

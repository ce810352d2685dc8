import { api } from '../api';
import { Empty, ErrorBox, Loading, PageTitle, Updated } from '../components';
import { fmtAgo, fmtTime } from '../format';
import { usePoll } from '../hooks';

const POLL_MS = 2000;

export function Workers() {
  const w = usePoll(() => api.workers(), [], POLL_MS);
  const q = usePoll(() => api.queues(), [], POLL_MS);
  return (
    <>
      <PageTitle title="Workers & queues" />
      <Updated at={w.updatedAt} error={w.error ?? q.error} live />
      <section aria-labelledby="queues-h">
        <h2 id="queues-h">Queues</h2>
        {q.error && !q.data && <ErrorBox error={q.error} title="Cannot load the queues" />}
        {q.loading && !q.data && <Loading what="queues" />}
        {q.data && q.data.queues.length === 0 && <Empty testid="queues-empty">No active study has runs in any queue.</Empty>}
        {q.data && q.data.queues.length > 0 && (
          <div class="table-wrap">
            <table data-testid="queues-table">
              <thead>
                <tr>
                  <th scope="col">Queue</th>
                  <th scope="col" class="num">Pending (depth)</th>
                  <th scope="col" class="num">Running</th>
                  <th scope="col" class="num">Live workers</th>
                </tr>
              </thead>
              <tbody aria-live="polite">
                {q.data.queues.map((x) => (
                  <tr key={x.queue} data-testid={`queue-row-${x.queue}`}>
                    <th scope="row">{x.queue}</th>
                    <td class="num">{x.pending}</td>
                    <td class="num">{x.running}</td>
                    <td class="num">
                      {x.live_workers}
                      {x.live_workers === 0 && x.pending > 0 && <span class="warn"> · no worker serves it</span>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      <section aria-labelledby="workers-h">
        <h2 id="workers-h">Workers</h2>
        {w.error && !w.data && <ErrorBox error={w.error} title="Cannot load the workers" />}
        {w.loading && !w.data && <Loading what="workers" />}
        {w.data && w.data.workers.length === 0 && (
          <Empty testid="workers-empty">
            No worker has connected yet. Start one with <code>simforge worker --server URL --queue NAME</code>.
          </Empty>
        )}
        {w.data && w.data.workers.length > 0 && (
          <div class="table-wrap">
            <table data-testid="workers-table">
              <thead>
                <tr>
                  <th scope="col">Worker</th>
                  <th scope="col">Health</th>
                  <th scope="col">Host</th>
                  <th scope="col">Queues</th>
                  <th scope="col" class="num">Current runs</th>
                  <th scope="col" class="num">Succeeded</th>
                  <th scope="col" class="num">Failed</th>
                  <th scope="col" class="num">Runs/s</th>
                  <th scope="col">Last seen</th>
                </tr>
              </thead>
              <tbody>
                {w.data.workers.map((x) => (
                  <tr key={x.name} data-testid={`worker-row-${x.name}`}>
                    <th scope="row">{x.name}</th>
                    <td>
                      <span class={`badge h-${x.health}`}>{x.health}</span>
                    </td>
                    <td>{x.host}</td>
                    <td>{x.queues.join(', ')}</td>
                    <td class="num">
                      {x.holding} / {x.slots}
                    </td>
                    <td class="num">{x.runs_succeeded}</td>
                    <td class="num">{x.runs_failed}</td>
                    <td class="num">{x.runs_per_s.toFixed(2)}</td>
                    <td title={x.last_seen}>
                      {x.seconds_since_seen !== undefined ? fmtAgo(x.seconds_since_seen * 1000) : fmtTime(x.last_seen)}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </>
  );
}

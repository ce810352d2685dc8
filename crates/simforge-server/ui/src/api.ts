// Thin client for the simforge REST API (/api/v1). Authentication is the
// HttpOnly session cookie set by POST /auth/login: nothing to store in JS.

export const RUN_STATES = ['pending', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];

export interface Me {
  name: string;
  is_admin: boolean;
  scopes: string[];
  projects: { project: string; role: string }[];
}

export interface Project {
  name: string;
  role: string | null;
  studies?: number;
}

export interface StudySummary {
  key: string;
  project: string;
  name: string;
  owner: string;
  queue: string;
  state: string;
  spec_hash: string;
  submitted_at: string;
  planned: number;
  succeeded: number;
  failed: number;
}

export interface Study {
  key: string;
  project?: string;
  name?: string;
  state: string;
  owner: string;
  queue: string;
  submitted_at?: string;
  simulator?: string;
  spec_hash?: string;
  planned: number;
  counts: Partial<Record<string, number>>;
  done: number;
  finished: boolean;
  failure_reasons: { reason: string; runs: number }[];
}

export interface Run {
  id: string;
  study: string;
  index: number;
  tag: string | null;
  replicate: number;
  seed: number;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
  state: RunState;
  attempts: number;
  reason: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_s: number | null;
  host: string | null;
  spec_hash: string;
}

export interface Attempt {
  attempt: number;
  state: string;
  started_at: string | null;
  finished_at: string | null;
  duration_s: number | null;
  exit_code: number | null;
  signal: number | null;
  reason: string | null;
  host: string | null;
  max_rss_kb: number | null;
}

export interface RunDetail extends Run {
  attempt_history: Attempt[];
}

export interface RunLogs {
  run: string;
  attempts: { attempt: number; stdout?: string; stderr?: string }[];
}

export interface Artifact {
  attempt: number;
  path: string;
  sha256: string;
  size_bytes: number;
  created_at: string;
}

export interface Worker {
  name: string;
  host: string;
  queues: string[];
  slots: number;
  version?: string;
  health: 'live' | 'stale' | 'gone' | 'left';
  holding: number;
  runs_succeeded: number;
  runs_failed: number;
  runs_per_s: number;
  last_seen: string;
  seconds_since_seen?: number;
}

export interface Queue {
  queue: string;
  pending: number;
  running: number;
  live_workers: number;
}

/** An API failure: the server's `{error: {code, message, field, hint}}`, or a network problem. */
export class ApiError extends Error {
  constructor(
    public status: number,
    public code: string,
    message: string,
    public hint?: string,
    public field?: string,
  ) {
    super(message);
  }
}

let onUnauthorized: () => void = () => {};
/** Called on any 401 (except the login request itself): the app goes to sign-in. */
export function setUnauthorizedHandler(f: () => void) {
  onUnauthorized = f;
}

export const API = '/api/v1';

async function request<T>(method: string, path: string, body?: unknown, handle401 = true, asText = false, signal?: AbortSignal): Promise<T> {
  let res: Response;
  const accept = asText ? 'text/yaml, application/json' : 'application/json';
  try {
    res = await fetch(API + path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: accept } : { Accept: accept, 'Content-Type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch {
    if (signal?.aborted) throw new ApiError(0, 'aborted', 'The request was cancelled.');
    throw new ApiError(0, 'network', 'Cannot reach the simforge server.', 'Check that `simforge serve` is running and reachable.');
  }
  if (res.status === 204) return undefined as T;
  let data: any = null;
  const text = await res.text();
  if (res.ok && asText) return text as T;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const e = data && typeof data === 'object' && data.error;
    const err = e
      ? new ApiError(res.status, String(e.code ?? 'error'), String(e.message ?? res.statusText), e.hint ?? undefined, e.field ?? undefined)
      : new ApiError(res.status, 'http', `The server answered ${res.status} ${res.statusText}.`.replace(' .', '.'));
    if (res.status === 401 && handle401) onUnauthorized();
    throw err;
  }
  if (data === null) throw new ApiError(res.status, 'invalid_response', 'The server sent a response that is not JSON.');
  return data as T;
}

export interface Diagnostic {
  line: number | null;
  column: number | null;
  field: string;
  message: string;
  expected: string | null;
  hint: string | null;
}

export interface CheckResult {
  ok: boolean;
  diagnostics: Diagnostic[];
  summary: { name: string; parameters: number; sampled: number; sampler: string; runs: number; simulator: string; queue: string } | null;
}

export interface StudySource {
  source: string;
  source_name?: string;
  files?: Record<string, string>;
}

export interface Submitted {
  key: string;
  name: string;
  planned: number;
  new: number;
  queue: string;
  state: string;
  spec_hash: string;
}

export interface Measure {
  mean: number;
  half_width: number | null;
}

export interface SimulateResult {
  name: string;
  bottleneck: string;
  reason: string;
  events: number;
  saturated: number;
  measures: Record<string, Measure>;
  components: Record<string, { type: string; measures: Record<string, Measure> }>;
  edges: { from: string; to: string; throughput: number | null }[];
}

export const get = <T>(path: string, signal?: AbortSignal) => request<T>('GET', path, undefined, true, false, signal);

/** Builds `path?k=v&...`, leaving out empty values. */
export function withQuery(path: string, q: Record<string, string | number | undefined | null>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== null && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `${path}?${s}` : path;
}

const seg = encodeURIComponent;

export const api = {
  login: (name: string, password: string) => request<{ token: string; expires_at: string }>('POST', '/auth/login', { name, password }, false),
  logout: () => request<void>('POST', '/auth/logout', undefined, false),
  me: () => get<Me>('/me'),
  projects: () => get<{ projects: Project[] }>('/projects'),
  studies: (project: string, limit: number, offset: number) =>
    get<{ studies: StudySummary[] }>(withQuery(`/projects/${seg(project)}/studies`, { limit, offset })),
  study: (project: string, name: string) => get<Study>(`/projects/${seg(project)}/studies/${seg(name)}`),
  runs: (project: string, name: string, q: { state?: string; limit: number; after?: string }) =>
    get<{ runs: Run[]; next: string | null }>(withQuery(`/projects/${seg(project)}/studies/${seg(name)}/runs`, q)),
  run: (id: string) => get<RunDetail>(`/runs/${seg(id)}`),
  logs: (id: string) => get<RunLogs>(`/runs/${seg(id)}/logs`),
  artifacts: (id: string) => get<{ run_id: string; artifacts: Artifact[] }>(`/runs/${seg(id)}/artifacts`),
  artifactUrl: (id: string, path: string, attempt: number) =>
    API + withQuery(`/runs/${seg(id)}/artifacts/download`, { path, attempt }),
  workers: () => get<{ workers: Worker[] }>('/workers'),
  queues: () => get<{ queues: Queue[] }>('/queues'),
  check: (body: StudySource) => request<CheckResult>('POST', '/check', body),
  submit: (project: string, body: StudySource) => request<Submitted>('POST', `/projects/${seg(project)}/studies`, body),
  simulate: (topology: string, seed?: number) => request<SimulateResult>('POST', '/sysdesign/simulate', seed === undefined ? { topology } : { topology, seed }),
  exportTopology: (topology: string, format: 'compose' | 'kubernetes') =>
    request<string>('POST', withQuery('/sysdesign/export', { format }), { topology }, true, true),
};

/** Whether the signed-in user may submit studies to `project`. */
export function canSubmit(me: Me, project: string): boolean {
  if (!me.scopes.includes('submit')) return false;
  if (me.is_admin) return true;
  const r = me.projects.find((p) => p.project === project)?.role;
  return r === 'member' || r === 'admin';
}

/** Whether the user may submit anywhere (the designer's simulate needs that). */
export const canSubmitSomewhere = (me: Me) => me.is_admin || me.projects.some((p) => canSubmit(me, p.project));

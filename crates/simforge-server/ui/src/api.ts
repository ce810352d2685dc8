// Thin client for the simforge REST API (/api/v1). Authentication is the
// HttpOnly session cookie set by POST /auth/login: nothing to store in JS.

export const RUN_STATES = ['pending', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled'] as const;
export type RunState = (typeof RUN_STATES)[number];

export interface Me {
  name: string;
  is_admin: boolean;
  scopes: string[];
  projects: { project: string; role: string }[];
  /** `simforge ui` on a local store: no sign-in, one project `local`, no server-only pages. */
  local?: boolean;
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
  /** The server-run adaptive loop (studies with an `optimize:` section); null for plain studies. */
  adaptive?: Adaptive | null;
}

export interface AdaptiveIteration {
  number: number;
  /** Points proposed in this batch. */
  proposed: number;
  /** Runs of the study after this batch. */
  runs: number;
  /** Best feasible objective value so far (null until one exists). */
  best: number | null;
  /** The surrogate's prediction for the batch: [mean, standard deviation]. */
  predicted: [number, number] | null;
  /** Why this batch was drawn at random instead of from the surrogate (too few points, a failed fit…). */
  random_because?: string | null;
  at: string;
}

export interface Adaptive {
  goal: 'optimize' | 'learn';
  metric: string;
  maximize: boolean;
  constraints: string[];
  budget: number;
  state: 'running' | 'stopped' | 'failed';
  stop_reason: string | null;
  error: string | null;
  iterations: AdaptiveIteration[];
  best: { run_id: string; value: number; params: Record<string, unknown> } | null;
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
  // A Blob (a file to upload) goes as the raw body; anything else as JSON.
  const raw = body instanceof Blob;
  try {
    res = await fetch(API + path, {
      method,
      credentials: 'same-origin',
      headers: body === undefined ? { Accept: accept } : { Accept: accept, 'Content-Type': raw ? 'application/octet-stream' : 'application/json' },
      body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
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

/** A submitted study's file as it was sent, with its extra files (`GET …/studies/{name}/source`). */
export interface StudySpec {
  key: string;
  source_name: string;
  source: string;
  files: Record<string, string>;
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

/** A reporting table's freshness: `last_updated` (null before the first ETL run) and `lag_s`. */
export interface Freshness {
  last_updated: string | null;
  /** Age in seconds of the oldest raw change the table does not reflect yet (0: up to date). */
  lag_s: number;
}

export interface SimulatorDay {
  queue: string;
  day: string;
  runs: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  failure_rate: number | null;
  duration_p50: number | null;
  duration_p90: number | null;
  duration_p99: number | null;
  busy_s: number;
  runs_per_hour: number;
  last_updated: string;
}

export interface HostDay {
  host: string;
  day: string;
  runs: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  busy_s: number;
  mean_duration_s: number;
  last_updated: string;
}

export interface SimulatorReport extends Freshness {
  from: string;
  to: string;
  rows: SimulatorDay[];
}

export interface HostReport extends Freshness {
  from: string;
  to: string;
  rows: HostDay[];
}

export interface MetricSummary {
  metric: string;
  n: number;
  mean: number;
  stddev: number | null;
  min: number;
  p5: number;
  p25: number;
  p50: number;
  p75: number;
  p95: number;
  max: number;
  last_updated: string;
}

export interface StudyReport extends Freshness {
  project: string;
  study: string;
  metrics: MetricSummary[];
  rejected_runs: number;
}

export interface EtlTableReport {
  table: string;
  changes: number;
  groups: number;
  read: number;
  written: number;
  deleted: number;
  rejected: number;
  new_rejects: number;
}

export interface EtlRun {
  id: number;
  trigger: string;
  started_at: string | null;
  finished_at: string | null;
  status: string;
  tables: EtlTableReport[];
  error: string | null;
}

export interface EtlRuns {
  tables: { table: string; last_updated: string | null; lag_s: number; pending_changes: number }[];
  runs: EtlRun[];
}

export interface DatasetVersion {
  project: string;
  dataset: string;
  version: number;
  sha256: string;
  size_bytes: number;
  content_type: string | null;
  file_name: string;
  format: string;
  description: string | null;
  uploader: string;
  created_at: string;
}

/** What the server found in the file: `{format, details, size_bytes, notes}`. */
export interface DatasetMetadata {
  format?: string;
  details?: Record<string, unknown>;
  size_bytes?: number;
  notes?: string[];
  [k: string]: unknown;
}

export interface DatasetSummary {
  name: string;
  versions: number;
  latest: DatasetVersion;
}

export interface UploadedVersion extends DatasetVersion {
  metadata: DatasetMetadata;
  deduplicated: boolean;
}

export interface DatasetLink {
  project: string;
  dataset: string;
  version: number;
  sha256: string;
  url: string;
  path: string;
  exp: number;
  expires_at: string;
}

export interface User {
  name: string;
  is_admin: boolean;
  disabled: boolean;
}

export interface Token {
  id: number;
  name: string;
  kind: 'api' | 'session';
  prefix: string;
  scopes: string[];
  created_at: string;
  expires_at: string | null;
  last_used_at: string | null;
  revoked: boolean;
}

export interface CreatedToken {
  id: number;
  token: string;
  name: string;
  scopes: string[];
}

export interface AuditEntry {
  id: number;
  at: string;
  user: string | null;
  action: string;
  target: string;
  detail: Record<string, unknown> | null;
  address: string | null;
}

export interface Member {
  user: string;
  role: string;
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
  studySource: (project: string, name: string) => get<StudySpec>(`/projects/${seg(project)}/studies/${seg(name)}/source`),
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
  // Reports and the ETL
  simulatorReport: (from: string, to: string) => get<SimulatorReport>(withQuery('/reports/simulators', { from, to })),
  hostReport: (from: string, to: string) => get<HostReport>(withQuery('/reports/hosts', { from, to })),
  studyReport: (project: string, name: string) => get<StudyReport>(`/reports/studies/${seg(project)}/${seg(name)}`),
  etlRuns: (limit = 20) => get<EtlRuns>(withQuery('/etl/runs', { limit })),
  etlRun: () => request<EtlRun>('POST', '/etl/run'),
  // Datasets
  datasets: (project: string) => get<{ project: string; datasets: DatasetSummary[] }>(`/projects/${seg(project)}/datasets`),
  datasetVersions: (project: string, name: string) =>
    get<{ project: string; dataset: string; versions: DatasetVersion[] }>(`/projects/${seg(project)}/datasets/${seg(name)}`),
  datasetVersion: (project: string, name: string, version: number | 'latest') =>
    get<DatasetVersion & { metadata: DatasetMetadata }>(`/projects/${seg(project)}/datasets/${seg(name)}/versions/${version}`),
  uploadDataset: (project: string, name: string, file: Blob, fileName: string, description?: string) =>
    request<UploadedVersion>('POST', withQuery(`/projects/${seg(project)}/datasets/${seg(name)}`, { file_name: fileName, description }), file),
  datasetLink: (project: string, name: string, version: number) =>
    request<DatasetLink>('POST', `/projects/${seg(project)}/datasets/${seg(name)}/versions/${version}/link`),
  // Administration
  users: () => get<{ users: User[] }>('/users'),
  createUser: (body: { name: string; password?: string; admin: boolean }) => request<unknown>('POST', '/users', body),
  updateUser: (name: string, body: { password?: string; admin?: boolean; disabled?: boolean }) => request<void>('PATCH', `/users/${seg(name)}`, body),
  tokens: () => get<{ tokens: Token[] }>('/tokens'),
  createToken: (body: { name: string; scopes: string[]; expires_in_days?: number }) => request<CreatedToken>('POST', '/tokens', body),
  revokeToken: (id: number) => request<void>('DELETE', `/tokens/${id}`),
  audit: (q: { user?: string; action?: string; since?: string; limit: number; offset: number }) => get<{ entries: AuditEntry[] }>(withQuery('/audit', q)),
  members: (project: string) => get<{ members: Member[] }>(`/projects/${seg(project)}/members`),
  setMember: (project: string, user: string, role: string) => request<void>('PUT', `/projects/${seg(project)}/members/${seg(user)}`, { role }),
  removeMember: (project: string, user: string) => request<void>('DELETE', `/projects/${seg(project)}/members/${seg(user)}`),
  exportTopology: (topology: string, format: 'compose' | 'kubernetes') =>
    request<string>('POST', withQuery('/sysdesign/export', { format }), { topology }, true, true),
};

/** Whether the signed-in user may submit studies to `project`. */
export function canSubmit(me: Me, project: string): boolean {
  if (me.local) return true;
  if (!(me.scopes ?? []).includes('submit')) return false;
  if (me.is_admin) return true;
  const r = (me.projects ?? []).find((p) => p.project === project)?.role;
  return r === 'member' || r === 'admin';
}

/** Whether the user may submit anywhere (the designer's simulate needs that). */
export const canSubmitSomewhere = (me: Me) => !!me.local || me.is_admin || (me.projects ?? []).some((p) => canSubmit(me, p.project));

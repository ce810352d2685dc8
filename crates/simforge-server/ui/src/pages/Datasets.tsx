// A project's versioned datasets: list, versions with the metadata the server
// extracted, signed download links, and uploads for members.
import { useState } from 'preact/hooks';
import { api, ApiError, canSubmit, type DatasetMetadata, type Me, type UploadedVersion } from '../api';
import { Breadcrumbs, Empty, ErrorBox, Loading, PageTitle } from '../components';
import { fmtBytes, fmtNum, fmtTime } from '../format';
import { usePoll } from '../hooks';
import { paths, replaceQuery } from '../router';

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const toErr = (e: unknown) => (e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));

/** A dataset name from a file name: its stem, cleaned to the allowed characters. */
function nameFromFile(f: string): string {
  const stem = f.replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[^A-Za-z0-9]+/, '');
  return stem.slice(0, 64);
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const label = (k: string) => k.replace(/_/g, ' ');

function cell(v: unknown): string {
  if (Array.isArray(v) && v.every((x) => typeof x !== 'object' || x === null)) return `[${v.map(fmtNum).join(', ')}]`;
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  return fmtNum(v);
}

/**
 * Renders whatever `details` holds, readably: scalars as a key/value table, lists
 * of objects (CSV columns, NumPy arrays, NetCDF variables, VTK fields, HDF5
 * datasets...) as tables with one column per key, nested objects as sections.
 */
function MetaValue({ name, value, depth }: { name: string; value: unknown; depth: number }) {
  if (Array.isArray(value) && value.length > 0 && value.every(isObj)) {
    const rows = value as Record<string, unknown>[];
    const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
    const flat = cols.filter((c) => rows.every((r) => !isObj(r[c]) && !(Array.isArray(r[c]) && (r[c] as unknown[]).some(isObj))));
    const nested = cols.filter((c) => !flat.includes(c));
    return (
      <div class="meta-block">
        <h4>
          {label(name)} ({rows.length})
        </h4>
        <div class="table-wrap">
          <table data-meta={name}>
            <thead>
              <tr>
                {flat.map((c) => (
                  <th key={c} scope="col">
                    {label(c)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r, i) => (
                <tr key={i}>
                  {flat.map((c) => (
                    <td key={c} data-col={c}>
                      {cell(r[c])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        {depth < 4 &&
          rows.map((r, i) =>
            nested.map((c) =>
              r[c] !== undefined && (!Array.isArray(r[c]) || (r[c] as unknown[]).length > 0) ? (
                <MetaValue key={`${i}-${c}`} name={`${String(r.name ?? r.path ?? i)} · ${c}`} value={r[c]} depth={depth + 1} />
              ) : null,
            ),
          )}
      </div>
    );
  }
  if (isObj(value)) return <MetaObject name={name} obj={value} depth={depth + 1} />;
  return null;
}

function MetaObject({ name, obj, depth }: { name?: string; obj: Record<string, unknown>; depth: number }) {
  const entries = Object.entries(obj);
  const scalars = entries.filter(([, v]) => !isObj(v) && !(Array.isArray(v) && v.some(isObj)));
  const complex = entries.filter(([k]) => !scalars.some(([s]) => s === k));
  return (
    <div class="meta-block">
      {name && <h4>{label(name)}</h4>}
      {scalars.length > 0 && (
        <table class="kv">
          <tbody>
            {scalars.map(([k, v]) => (
              <tr key={k}>
                <th scope="row">{label(k)}</th>
                <td data-key={k}>{cell(v)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {depth < 5 && complex.map(([k, v]) => <MetaValue key={k} name={k} value={v} depth={depth} />)}
    </div>
  );
}

function Metadata({ meta }: { meta: DatasetMetadata }) {
  const { format, details, size_bytes, notes, ...rest } = meta;
  return (
    <div data-testid="dataset-metadata">
      <table class="kv">
        <tbody>
          <tr>
            <th scope="row">format</th>
            <td>{format ?? 'unknown'}</td>
          </tr>
          {size_bytes !== undefined && (
            <tr>
              <th scope="row">size</th>
              <td>{fmtBytes(size_bytes)}</td>
            </tr>
          )}
        </tbody>
      </table>
      {isObj(details) ? <MetaObject obj={details} depth={0} /> : <p class="muted">Nothing is known about this file beyond its size and hash.</p>}
      {Object.keys(rest).length > 0 && <MetaObject obj={rest} depth={0} />}
      {notes && notes.length > 0 && (
        <ul class="muted small">
          {notes.map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function VersionDetail({ project, name, version }: { project: string; name: string; version: number }) {
  const v = usePoll(() => api.datasetVersion(project, name, version), [project, name, version]);
  const [linkErr, setLinkErr] = useState<ApiError>();
  const [busy, setBusy] = useState(false);
  const download = async () => {
    setBusy(true);
    setLinkErr(undefined);
    try {
      const l = await api.datasetLink(project, name, version);
      // Same-origin path: the browser downloads it as an attachment (no token needed, the signature is the permission).
      const a = document.createElement('a');
      a.href = l.path || l.url;
      a.rel = 'noopener';
      document.body.appendChild(a);
      a.click();
      a.remove();
    } catch (e) {
      setLinkErr(toErr(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="version-h">
      <h3 id="version-h">
        {name} · version {version}
      </h3>
      {v.error && !v.data && <ErrorBox error={v.error} title="Cannot load the version" />}
      {v.loading && !v.data && <Loading what="the version" />}
      {v.data && (
        <>
          <p class="actions">
            <button type="button" data-testid="dataset-download" disabled={busy} onClick={download}>
              {busy ? 'Signing a link…' : `Download ${v.data.file_name}`}
            </button>
          </p>
          {linkErr && <ErrorBox error={linkErr} title="Cannot get a download link" />}
          <dl class="meta">
            <div>
              <dt>SHA-256</dt>
              <dd>
                <code class="wrap">{v.data.sha256}</code>
              </dd>
            </div>
            <div>
              <dt>Uploaded</dt>
              <dd>
                {fmtTime(v.data.created_at)} by {v.data.uploader}
              </dd>
            </div>
            {v.data.description && (
              <div>
                <dt>Description</dt>
                <dd>{v.data.description}</dd>
              </div>
            )}
          </dl>
          <Metadata meta={v.data.metadata ?? {}} />
        </>
      )}
    </section>
  );
}

function Versions({ project, name, selected, onSelect, reloadKey }: { project: string; name: string; selected?: number; onSelect: (v: number) => void; reloadKey: number }) {
  const vs = usePoll(() => api.datasetVersions(project, name), [project, name, reloadKey]);
  const list = vs.data?.versions;
  const current = selected ?? (list && list.length ? list[list.length - 1].version : undefined);
  return (
    <section aria-labelledby="versions-h">
      <h2 id="versions-h">
        Versions of <span class="name">{name}</span>
      </h2>
      {vs.error && !vs.data && <ErrorBox error={vs.error} title="Cannot load the versions" />}
      {vs.loading && !vs.data && <Loading what="versions" />}
      {list && list.length === 0 && <Empty>No versions.</Empty>}
      {list && list.length > 0 && (
        <div class="table-wrap">
          <table data-testid="dataset-versions">
            <thead>
              <tr>
                <th scope="col" class="num">Version</th>
                <th scope="col">File</th>
                <th scope="col">Format</th>
                <th scope="col" class="num">Size</th>
                <th scope="col">Uploaded</th>
                <th scope="col">By</th>
                <th scope="col">Description</th>
              </tr>
            </thead>
            <tbody>
              {[...list].reverse().map((v) => (
                <tr key={v.version} data-testid={`dataset-version-${v.version}`} class={v.version === current ? 'selected' : undefined}>
                  <td class="num">
                    <button type="button" class="tiny secondary" aria-pressed={v.version === current} onClick={() => onSelect(v.version)}>
                      v{v.version}
                    </button>
                  </td>
                  <td>{v.file_name}</td>
                  <td>{v.format}</td>
                  <td class="num">{fmtBytes(v.size_bytes)}</td>
                  <td>{fmtTime(v.created_at)}</td>
                  <td>{v.uploader}</td>
                  <td>{v.description ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {current !== undefined && <VersionDetail project={project} name={name} version={current} />}
    </section>
  );
}

function Upload({ project, initialName, onUploaded }: { project: string; initialName?: string; onUploaded: (u: UploadedVersion) => void }) {
  const [name, setName] = useState(initialName ?? '');
  const [file, setFile] = useState<File>();
  const [description, setDescription] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<ApiError>();
  const [result, setResult] = useState<UploadedVersion>();
  const valid = NAME_RE.test(name) && !!file;
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!file || !valid) return;
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      const u = await api.uploadDataset(project, name, file, file.name, description || undefined);
      setResult(u);
      onUploaded(u);
    } catch (err) {
      setError(toErr(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <section aria-labelledby="upload-h">
      <h2 id="upload-h">Upload</h2>
      <form class="form-row" onSubmit={submit}>
        <label>
          File
          <input
            type="file"
            data-testid="dataset-upload-file"
            onChange={(e) => {
              const f = e.currentTarget.files?.[0];
              setFile(f);
              if (f && !name) setName(nameFromFile(f.name));
            }}
          />
        </label>
        <label>
          Dataset name
          <input
            type="text"
            required
            pattern="[A-Za-z0-9][A-Za-z0-9._\-]{0,63}"
            value={name}
            data-testid="dataset-upload-name"
            aria-invalid={name !== '' && !NAME_RE.test(name)}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <label>
          Description (optional)
          <input type="text" maxLength={4096} value={description} data-testid="dataset-upload-description" onInput={(e) => setDescription(e.currentTarget.value)} />
        </label>
        <button type="submit" data-testid="dataset-upload-submit" disabled={!valid || busy}>
          {busy ? 'Uploading…' : 'Upload'}
        </button>
      </form>
      <p class="muted small">An upload identical to the dataset's latest version stores nothing new. Names: letters, digits, `.`, `_`, `-`.</p>
      {error && <ErrorBox error={error} title="The upload failed" />}
      {result && (
        <p class="ok-note" role="status" data-testid="dataset-upload-result" data-version={result.version} data-deduplicated={String(result.deduplicated)}>
          {result.deduplicated
            ? `Identical to version ${result.version} of ${result.dataset} — nothing new was stored.`
            : `Uploaded ${result.dataset} version ${result.version} (${result.format}, ${fmtBytes(result.size_bytes)}).`}
        </p>
      )}
    </section>
  );
}

export function Datasets({ project, me }: { project: string; me: Me }) {
  const q0 = new URLSearchParams(location.search);
  const [sel, setSel] = useState<{ name?: string; version?: number }>(() => ({
    name: q0.get('dataset') ?? undefined,
    version: Number(q0.get('version')) > 0 ? Number(q0.get('version')) : undefined,
  }));
  const [reloadKey, setReloadKey] = useState(0);
  const list = usePoll(() => api.datasets(project), [project, reloadKey]);
  const select = (name: string | undefined, version?: number) => {
    setSel({ name, version });
    replaceQuery({ dataset: name, version: version ? String(version) : undefined });
  };
  const ds = list.data?.datasets;
  return (
    <>
      <Breadcrumbs items={[{ label: 'Projects', href: paths.home }, { label: project, href: paths.project(project) }, { label: 'Datasets' }]} />
      <PageTitle title={`Datasets of ${project}`}>
        Datasets of <span class="name">{project}</span>
      </PageTitle>
      {list.error && !list.data && <ErrorBox error={list.error} title="Cannot load the datasets" />}
      {list.loading && !list.data && <Loading what="datasets" />}
      {ds && ds.length === 0 && (
        <Empty testid="datasets-empty">
          <p>No datasets yet.{canSubmit(me, project) ? ' Upload one below, or through the API:' : ' A project member can upload one, also through the API:'}</p>
          <pre>
            <code>
              curl -H "Authorization: Bearer $TOKEN" --data-binary @FILE "{location.origin}/api/v1/projects/{project}/datasets/NAME?file_name=FILE"
            </code>
          </pre>
        </Empty>
      )}
      {ds && ds.length > 0 && (
        <div class="table-wrap">
          <table data-testid="datasets-table">
            <caption class="sr-only">Datasets of project {project}</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col" class="num">Latest</th>
                <th scope="col">Format</th>
                <th scope="col" class="num">Size</th>
                <th scope="col">Updated</th>
                <th scope="col">By</th>
              </tr>
            </thead>
            <tbody>
              {ds.map((d) => (
                <tr key={d.name} data-testid={`dataset-row-${d.name}`} class={d.name === sel.name ? 'selected' : undefined}>
                  <th scope="row">
                    <a
                      href={`${paths.datasets(project)}?dataset=${encodeURIComponent(d.name)}`}
                      aria-current={d.name === sel.name ? 'true' : undefined}
                      onClick={(e) => {
                        e.preventDefault();
                        select(d.name);
                      }}
                    >
                      {d.name}
                    </a>
                  </th>
                  <td class="num">
                    v{d.latest.version} <span class="muted small">of {d.versions}</span>
                  </td>
                  <td>{d.latest.format}</td>
                  <td class="num">{fmtBytes(d.latest.size_bytes)}</td>
                  <td>{fmtTime(d.latest.created_at)}</td>
                  <td>{d.latest.uploader}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {sel.name && <Versions project={project} name={sel.name} selected={sel.version} onSelect={(v) => select(sel.name, v)} reloadKey={reloadKey} />}
      {canSubmit(me, project) && (
        <Upload
          project={project}
          initialName={sel.name}
          onUploaded={(u) => {
            select(u.dataset, u.version);
            setReloadKey((k) => k + 1);
          }}
        />
      )}
    </>
  );
}

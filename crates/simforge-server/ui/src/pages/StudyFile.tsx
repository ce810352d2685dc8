// The study page's "Study file" section: the YAML as it was submitted (read
// only, highlighted), its extra files, a download and "Edit a copy". Its own
// chunk: most visits never open it.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type StudySpec } from '../api';
import { ErrorBox, Loading } from '../components';
import { Link, paths } from '../router';
import { YamlView } from '../YamlEditor';

/** Saves `text` as a file called `name` (a blob: link, no request to the server). */
function download(text: string, name: string) {
  const url = URL.createObjectURL(new Blob([text], { type: /\.ya?ml$/i.test(name) ? 'text/yaml' : 'text/plain' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name.split('/').pop() || 'study.yaml';
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const isYaml = (name: string) => /\.ya?ml$/i.test(name);
const lineCount = (t: string) => (t ? t.replace(/\n$/, '').split('\n').length : 0);

/**
 * The section's content, in its own chunk: loaded (and the file asked for)
 * when the section is first opened. `onName` tells the summary the file name.
 */
export function StudyFileBody({ project, study, canEdit, onName }: { project: string; study: string; canEdit: boolean; onName: (name: string) => void }) {
  const [st, setSt] = useState<{ data?: StudySpec; error?: ApiError; loading: boolean }>({ loading: true });
  const load = () => {
    setSt({ loading: true });
    api
      .studySource(project, study)
      .then((data) => {
        setSt({ data, loading: false });
        onName(data.source_name || 'study.yaml');
      })
      .catch((e) => setSt({ error: e instanceof ApiError ? e : new ApiError(0, 'client', String(e)), loading: false }));
  };
  useEffect(load, [project, study]);
  const d = st.data;
  const files = d ? Object.entries(d.files ?? {}) : [];
  const name = d?.source_name || 'study.yaml';
  return (
    <>
      {st.loading && <Loading what="the study file" />}
      {st.error && (
        <>
          <ErrorBox error={st.error} title="Cannot load the study file" />
          <button type="button" class="secondary" onClick={load}>
            Try again
          </button>
        </>
      )}
      {d && (
        <>
          <div class="toolbar">
            <button type="button" class="secondary" data-testid="study-file-download" onClick={() => download(d.source, name)}>
              Download<span class="sr-only"> {name}</span>
            </button>
            {canEdit && (
              <Link href={paths.newStudy(project, study)} class="button secondary" data-testid="study-file-edit">
                Edit a copy
              </Link>
            )}
            <span class="muted small">as submitted{files.length ? `, with ${files.length} extra file${files.length === 1 ? '' : 's'}` : ''}</span>
          </div>
          <YamlView text={d.source} label={`${name}, read only`} testid="study-source" yaml={isYaml(name) || !/\.\w+$/.test(name)} />
          {files.length > 0 && (
            <>
              <h3>Extra files</h3>
              {files.map(([f, text], i) => (
                <details key={f} class="file-block" data-testid={`study-extra-${i}`} data-name={f}>
                  <summary>
                    <code>{f}</code> <span class="muted small">{lineCount(text)} lines</span>
                  </summary>
                  <div class="toolbar">
                    <button type="button" class="secondary tiny" onClick={() => download(text, f)}>
                      Download<span class="sr-only"> {f}</span>
                    </button>
                  </div>
                  <YamlView text={text} label={`${f}, read only`} yaml={isYaml(f)} />
                </details>
              ))}
            </>
          )}
        </>
      )}
    </>
  );
}

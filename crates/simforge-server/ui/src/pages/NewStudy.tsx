import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { api, ApiError, canSubmit, type CheckResult, type Diagnostic, type Me } from '../api';
import { Breadcrumbs, ErrorBox, Loading, PageTitle } from '../components';
import { Link, navigate, paths } from '../router';
import { moveCaret, YamlEditor } from '../YamlEditor';

const DEBOUNCE_MS = 400;

export const EXAMPLE_STUDY = `# A small study: the Branin function on the builtin analytic simulator.
name: branin-random
simulator:
  builtin: analytic
  options: {function: branin}
parameters:
  x1: {range: [-5, 10]}
  x2: {range: [0, 15]}
design: {sampler: random, samples: 16, seed: 1}
metrics: [y]
objective: {minimize: y}
resources: {cpus: 1, time: 1m}
`;

interface ExtraFile {
  id: number;
  name: string;
  content: string;
}

const where = (d: Diagnostic) => (d.line == null ? '' : d.column == null ? `${d.line}` : `${d.line}:${d.column}`);

export function summaryText(s: NonNullable<CheckResult['summary']>): string {
  const n = (k: number, w: string) => `${k} ${w}${k === 1 ? '' : 's'}`;
  return `study \`${s.name}\`: ${n(s.parameters, 'parameter')}${s.sampled !== s.parameters ? ` (${s.sampled} sampled)` : ''}, ${s.sampler} design, ${n(s.runs, 'run')}, simulator ${s.simulator}, queue ${s.queue}`;
}

export function NewStudy({ project, me }: { project: string; me: Me }) {
  // `?from=NAME`: start from a copy of that study's file and extra files (the study page's "Edit a copy").
  const from = useMemo(() => new URLSearchParams(location.search).get('from') || undefined, []);
  const [copy, setCopy] = useState<{ loading: boolean; error?: ApiError }>({ loading: !!from });
  const [source, setSource] = useState(from ? '' : EXAMPLE_STUDY);
  const [sourceName, setSourceName] = useState('study.yaml');
  const [files, setFiles] = useState<ExtraFile[]>([]);
  const [check, setCheck] = useState<CheckResult>();
  const [checking, setChecking] = useState(false);
  const [checkError, setCheckError] = useState<ApiError>();
  const [submitting, setSubmitting] = useState(false);
  const [submitError, setSubmitError] = useState<ApiError>();
  const ta = useRef<HTMLTextAreaElement>(null);
  const nextId = useRef(1);
  const gen = useRef(0);
  const allowed = canSubmit(me, project);

  const body = () => {
    const fs: Record<string, string> = {};
    for (const f of files) if (f.name.trim()) fs[f.name.trim()] = f.content;
    return { source, source_name: sourceName.trim() || 'study.yaml', ...(Object.keys(fs).length ? { files: fs } : {}) };
  };

  useEffect(() => {
    if (!from) return;
    let live = true;
    api
      .studySource(project, from)
      .then((d) => {
        if (!live) return;
        setSource(d.source);
        setSourceName(d.source_name || 'study.yaml');
        setFiles(Object.entries(d.files ?? {}).map(([name, content]) => ({ id: nextId.current++, name, content })));
        setCopy({ loading: false });
      })
      .catch((e) => {
        if (!live) return;
        setSource(EXAMPLE_STUDY);
        setCopy({ loading: false, error: e instanceof ApiError ? e : new ApiError(0, 'client', String(e)) });
      });
    return () => {
      live = false;
    };
  }, [project, from]);

  // Live validation: debounced; answers to an outdated text are dropped.
  useEffect(() => {
    if (copy.loading) return;
    const g = ++gen.current;
    setChecking(true);
    const id = window.setTimeout(() => {
      api
        .check(body())
        .then((r) => {
          if (g !== gen.current) return;
          setCheck(r);
          setCheckError(undefined);
        })
        .catch((e: ApiError) => {
          if (g === gen.current) setCheckError(e);
        })
        .finally(() => {
          if (g === gen.current) setChecking(false);
        });
    }, DEBOUNCE_MS);
    return () => window.clearTimeout(id);
  }, [source, sourceName, files, copy.loading]);

  const upToDate = !checking && check !== undefined;
  const ok = upToDate && check!.ok;
  const diags = check?.diagnostics ?? [];
  const marks = diags.filter((d) => d.line != null).map((d) => ({ line: d.line!, text: d.message }));

  const submit = async (e: Event) => {
    e.preventDefault();
    if (!ok || submitting) return;
    setSubmitting(true);
    setSubmitError(undefined);
    try {
      const r = await api.submit(project, body());
      navigate(paths.study(project, r.name));
    } catch (err) {
      setSubmitError(err instanceof ApiError ? err : new ApiError(0, 'client', String(err)));
      setSubmitting(false);
    }
  };

  const setFile = (id: number, patch: Partial<ExtraFile>) => setFiles((fs) => fs.map((f) => (f.id === id ? { ...f, ...patch } : f)));

  return (
    <>
      <Breadcrumbs items={[{ label: 'Projects', href: paths.home }, { label: project, href: paths.project(project) }, { label: 'New study' }]} />
      <PageTitle title={`New study in ${project}`}>
        New study in <span class="name">{project}</span>
      </PageTitle>
      {!allowed && (
        <p class="notice" role="note">
          You can check a study here, but submitting to <span class="name">{project}</span> needs the member role and the
          <code> submit</code> scope.
        </p>
      )}
      {from && copy.loading && <Loading what={`the study file of ${from}`} />}
      {from && copy.error && (
        <>
          <ErrorBox error={copy.error} title={`Cannot copy study ${from}`} />
          <p class="muted">The editor starts from an example instead.</p>
        </>
      )}
      {from && !copy.loading && !copy.error && (
        <p class="notice" role="note" data-testid="editor-copy-of">
          A copy of study <Link href={paths.study(project, from)}>{from}</Link>: change its <code>name</code> to submit it as a new study.
        </p>
      )}
      {!copy.loading && (
        <form class="study-editor" onSubmit={submit}>
          <div class="editor-main">
            <div class="field-row">
              <label for="source-name">File name</label>
              <input id="source-name" data-testid="editor-source-name" value={sourceName} onInput={(e) => setSourceName(e.currentTarget.value)} spellcheck={false} />
            </div>
            <label for="study-source">Study file (YAML)</label>
            <YamlEditor
              id="study-source"
              testid="editor-source"
              value={source}
              onInput={setSource}
              marks={marks}
              textareaRef={ta}
              describedBy="editor-status"
              invalid={upToDate && !check!.ok}
            />
            <fieldset class="extra-files">
              <legend>Extra files</legend>
              <p class="muted small">Files the study refers to by a path relative to it (a topology, a template…).</p>
              {files.map((f, i) => (
                <div class="extra-file" key={f.id} data-testid={`file-row-${i}`}>
                  <div class="field-row">
                    <label for={`file-name-${f.id}`}>Path</label>
                    <input id={`file-name-${f.id}`} data-testid={`file-name-${i}`} value={f.name} placeholder="system.yaml" spellcheck={false} onInput={(e) => setFile(f.id, { name: e.currentTarget.value })} />
                    <button type="button" class="secondary" data-testid={`file-remove-${i}`} onClick={() => setFiles((fs) => fs.filter((x) => x.id !== f.id))}>
                      Remove<span class="sr-only"> {f.name || `file ${i + 1}`}</span>
                    </button>
                  </div>
                  <label for={`file-content-${f.id}`} class="sr-only">
                    Content of {f.name || `file ${i + 1}`}
                  </label>
                  <YamlEditor id={`file-content-${f.id}`} testid={`file-content-${i}`} value={f.content} rows={8} onInput={(v) => setFile(f.id, { content: v })} />
                </div>
              ))}
              <button type="button" class="secondary" data-testid="file-add" onClick={() => setFiles((fs) => [...fs, { id: nextId.current++, name: '', content: '' }])}>
                Add a file
              </button>
            </fieldset>
          </div>
          <aside class="editor-side">
            <h2 id="editor-status-title">Check</h2>
            <div id="editor-status" aria-live="polite">
              {checking && <p class="muted small">checking…</p>}
              {checkError && <ErrorBox error={checkError} title="Cannot check the study" />}
              {check?.ok && check.summary && (
                <p class="ok-line" data-testid="editor-summary">
                  ✓ {summaryText(check.summary)}
                </p>
              )}
              {check && !check.ok && (
                <p class="bad-line">
                  {diags.length} {diags.length === 1 ? 'problem' : 'problems'}
                </p>
              )}
            </div>
            {check && diags.length > 0 && (
              <ol class="diagnostics" data-testid="editor-diagnostics">
                {diags.map((d, i) => (
                  <li key={i}>
                    <button
                      type="button"
                      class="diag"
                      data-testid={`diagnostic-${i}`}
                      disabled={d.line == null}
                      onClick={() => ta.current && d.line != null && moveCaret(ta.current, d.line, d.column ?? 1)}
                    >
                      {d.line != null && <span class="where">{where(d)}</span>}
                      {d.field && <code class="field">{d.field}</code>}
                      <span class="msg">{d.message}</span>
                      {d.expected && <span class="expected">expected: {d.expected}</span>}
                      {d.hint && <span class="hint">{d.hint}</span>}
                    </button>
                  </li>
                ))}
              </ol>
            )}
            <button type="submit" data-testid="editor-submit" disabled={!ok || submitting || !allowed}>
              {submitting ? 'Submitting…' : 'Submit study'}
            </button>
            {submitError && (
              <div class="error" role="alert" data-testid="editor-error">
                <strong>Not submitted:</strong>
                <pre class="msg-text">{submitError.message}</pre>
                {submitError.hint && <p class="hint">{submitError.hint}</p>}
              </div>
            )}
            <p class="muted small">
              <Link href={paths.project(project)}>Back to the studies</Link>
            </p>
          </aside>
        </form>
      )}
    </>
  );
}

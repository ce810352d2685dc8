// End-to-end check of the dashboard against a real `simforge serve`, in
// headless Chromium driven by playwright-core. Run by
// crates/simforge/tests/server.rs (which starts the server, a worker and a
// study); by hand:
//
//   BASE=http://127.0.0.1:8080 USER=alice PASSWORD=... PROJECT=lab STUDY=s RUNS=6 \
//   CHROMIUM=/usr/bin/chromium node e2e/dashboard.mjs
//
// SHOTS=dir also writes screenshots of the main pages there (docs/img).
// EDITOR=1 also checks the study editor (/ui/projects/$PROJECT/new: a typo gets
// a diagnostic with a line, the fix gets the summary, submitting lands on the
// new study); DESIGNER=1 also checks the system designer (/ui/designer: builds
// source -> service -> database with the keyboard controls, simulates, reads the
// bottleneck); EXPLORE=1 also checks the results explorer on $STUDY (its runs
// have param x = 1..$RUNS and metric y = x: matching counts, a filter,
// histogram counts, sorting the runs table, SVG and PNG export). ONLY_NEW=1 skips the study-following checks (then STUDY and RUNS
// are not needed), e.g. against dev/mock-server.mjs:
//
//   BASE=http://127.0.0.1:8787 USER=alice PASSWORD=correct-horse PROJECT=lab \
//   ONLY_NEW=1 EDITOR=1 DESIGNER=1 CHROMIUM=/usr/bin/chromium node e2e/dashboard.mjs
//
// The mock's `xy-line` study has the e2e study's shape, so EXPLORE runs there too:
//
//   ... ONLY_NEW=1 EXPLORE=1 STUDY=xy-line RUNS=6 node e2e/dashboard.mjs
//
// REPORTS=1 also checks /ui/reports as $USER (a project member, not a server
// admin) after the caller ran the ETL (`simforge etl run`): the freshness
// indicator shows and is not stale, and the simulator table lists the queue
// `command:sh` (or $REPORT_QUEUE). DATASETS=1 uploads a small CSV to $PROJECT
// through the datasets page, sees version 1 with its columns `a,b`, uploads the
// same file again and sees it deduplicated, then downloads it through the
// signed link and compares the bytes. Both also run against the mock.
//
// SWEEP=1 builds source -> service -> sink in the designer, sweeps the service's
// replicas 1..3 (a three-run grid study in $PROJECT), waits (SWEEP_TIMEOUT_MS,
// default 120 s) for both charts to show 3 points and checks the p99 values are
// numbers and a generous limit names the cheapest value. OPTIMIZE=1 runs "find
// the cheapest design" on the service replicas in [1, 4] with a budget of 6,
// waits (OPT_TIMEOUT_MS, default 120 s) for the adaptive loop to stop, applies
// the best design to the canvas (and undoes it) and opens the study's explorer:
// the convergence plot draws at least 4 points. ANALYSIS=1 opens the explorer of
// $ANALYSIS_STUDY in $PROJECT: one sensitivity bar group per input the server
// reports. PHONE=1: at 390x844 the studies page, the editor and the designer do
// not scroll sideways, the palette is reachable, the nav works from the keyboard.
// All of them run against the mock too (its `shop-cheapest` and `branin-1m`
// studies have objectives and sensitivity indices).
//
// Exits non-zero, naming the failed step, on any failure or page error.
import { chromium } from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`set ${k}`);
  return v;
};
const BASE = env('BASE');
const ONLY_NEW = process.env.ONLY_NEW === '1';
// LOCAL=1: `simforge ui` on a local store (no sign-in; project `local`).
const LOCAL = process.env.LOCAL === '1';
const PROJECT = env('PROJECT');
const [USER, PASSWORD] = LOCAL ? ['local', ''] : ['USER', 'PASSWORD'].map(env);
const EXPLORE = process.env.EXPLORE === '1';
const STUDY = ONLY_NEW && !EXPLORE ? undefined : env('STUDY');
const RUNS = ONLY_NEW && !EXPLORE ? 0 : Number(env('RUNS'));
const SHOTS = process.env.SHOTS;
const SWEEP = process.env.SWEEP === '1';
const OPTIMIZE = process.env.OPTIMIZE === '1';
const ANALYSIS = process.env.ANALYSIS === '1';
const ANALYSIS_STUDY = ANALYSIS ? env('ANALYSIS_STUDY') : undefined;
const PHONE = process.env.PHONE === '1';
/** The checks added with the designer's experiments and the explorer's analysis (each optional). */
async function newChecks(page, shot) {
  if (SWEEP) await checkSweep(page, BASE, PROJECT, shot);
  if (OPTIMIZE) await checkOptimize(page, BASE, PROJECT, shot);
  if (ANALYSIS) await checkAnalysis(page, BASE, PROJECT, ANALYSIS_STUDY, shot);
  if (PHONE) await checkPhone(page, BASE, PROJECT, shot);
}

let step = 'launching Chromium';

/** The study editor: a typo gets a located diagnostic, the fix the summary; submit lands on the study. */
export async function checkEditor(page, base, project, shot = async () => {}) {
  const t = (id) => page.getByTestId(id);
  const name = `e2e-editor-${Date.now().toString(36)}`;
  const good = [
    `name: ${name}`,
    'simulator:',
    '  builtin: analytic',
    '  options: {function: branin}',
    'parameters:',
    '  x1: {range: [-5, 10]}',
    '  x2: {range: [0, 15]}',
    'design: {sampler: random, samples: 4, seed: 3}',
    'metrics: [y]',
    'resources: {cpus: 1, time: 1m}',
    '',
  ].join('\n');
  step = 'editor: the studies page links to a new study';
  await page.goto(`${base}/ui/projects/${encodeURIComponent(project)}`);
  await t('new-study').click();
  await t('editor-source').waitFor();
  step = 'editor: the prefilled example checks ok';
  await t('editor-summary').waitFor({ timeout: 15_000 });
  step = 'editor: a misspelt key gets a diagnostic with a line number';
  await t('editor-source').fill(good.replace('metrics:', 'metrcs:'));
  await page.waitForFunction(() => /^\s*\d+/.test(document.querySelector('[data-testid="diagnostic-0"] .where')?.textContent ?? ''), null, { timeout: 15_000 });
  if (!(await t('editor-submit').isDisabled())) throw new Error('submit is enabled for an invalid study');
  const where = (await t('diagnostic-0').locator('.where').textContent()).trim();
  const line = Number(where.split(':')[0]);
  step = 'editor: clicking the diagnostic moves the caret to its line';
  await t('diagnostic-0').click();
  const caretLine = await t('editor-source').evaluate((e) => e.value.slice(0, e.selectionStart).split('\n').length);
  if (caretLine !== line) throw new Error(`caret on line ${caretLine}, diagnostic on line ${line}`);
  await shot('editor-diagnostic');
  step = 'editor: the fixed study gets the summary';
  await t('editor-source').fill(good);
  await page.waitForFunction((n) => document.querySelector('[data-testid="editor-summary"]')?.textContent?.includes(n), name, { timeout: 15_000 });
  await page.waitForFunction(() => !document.querySelector('[data-testid="editor-submit"]')?.disabled, null, { timeout: 5_000 });
  step = 'editor: submitting lands on the study page';
  await t('editor-submit').click();
  await page.waitForURL((u) => u.pathname.endsWith(`/studies/${name}`), { timeout: 15_000 });
  await t('count-planned').waitFor({ timeout: 15_000 });
}

/** The designer: source -> service -> database built from the keyboard controls, simulated. */
export async function checkDesigner(page, base, shot = async () => {}) {
  const t = (id) => page.getByTestId(id);
  step = 'designer: opens from the nav';
  await page.goto(`${base}/ui`);
  await page.getByRole('link', { name: 'Designer' }).click();
  await t('simulate').waitFor();
  await t('new-design').click();
  step = 'designer: three components added with the add buttons';
  for (const ty of ['source', 'service', 'database']) {
    await t(`add-${ty}`).click();
    await t(`node-${ty}`).waitFor();
  }
  const connectTo = async (from, to) => {
    await t(`node-${from}`).click();
    await t('connect-target').selectOption(to);
    await t('connect-button').click();
    await t(`edge-${from}-${to}`).waitFor({ state: 'attached' });
  };
  step = 'designer: connected with the connect controls';
  await connectTo('source', 'service');
  await connectTo('service', 'database');
  step = 'designer: undo and redo a connection';
  await t('undo').click();
  await t('edge-service-database').waitFor({ state: 'detached' });
  await t('redo').click();
  await t('edge-service-database').waitFor({ state: 'attached' });
  step = 'designer: properties set in the side panel';
  await t('node-source').click();
  await t('prop-rate').fill('300');
  await t('node-service').click();
  await t('prop-replicas').fill('3');
  await t('node-database').click();
  await t('prop-pool').fill('4');
  const yaml = await t('designer-yaml').textContent();
  for (const want of ['rate: 300', 'replicas: 3', 'pool: 4', 'to: service', 'calls: [database]'])
    if (!yaml.includes(want)) throw new Error(`the topology lacks \`${want}\`:\n${yaml}`);
  step = 'designer: simulating names the bottleneck';
  await t('simulate').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="bottleneck"]')?.textContent?.trim(), null, { timeout: 60_000 });
  const bn = (await t('bottleneck').textContent()).trim();
  if (!['source', 'service', 'database'].includes(bn)) throw new Error(`bottleneck \`${bn}\` is not one of the three`);
  const p99 = (await t('latency-p99').textContent()).trim();
  if (!/\d/.test(p99)) throw new Error(`latency p99 shows ${p99}`);
  await shot('designer');
}

/** The results explorer on a study whose runs have x = 1..runs and y = x. */
export async function checkExplore(page, base, project, study, runs, shot = async () => {}) {
  const t = (id) => page.getByTestId(id);
  const matching = (n) =>
    page.waitForFunction((want) => document.querySelector('[data-testid="explore-matching"]')?.dataset.matching === String(want), n, { timeout: 15_000 });
  step = 'explore: the study page links to the explorer';
  await page.goto(`${base}/ui/projects/${encodeURIComponent(project)}/studies/${encodeURIComponent(study)}`);
  await t('explore-link').click();
  await page.waitForURL((u) => u.pathname.endsWith('/explore'));
  step = `explore: every one of the ${runs} runs matches without a filter`;
  await matching(runs);
  await t('plot-svg').waitFor();
  if ((await t('plot-svg').getAttribute('role')) !== 'img') throw new Error('the plot is not role=img');
  step = 'explore: the filter metric.y >= 3 leaves all but two runs';
  await t('filter-add').click();
  await t('filter-column').selectOption('metric.y');
  await t('filter-op').selectOption('gte');
  await t('filter-value').fill('3');
  await t('filter-apply').click();
  await t('filter-chip-0').waitFor();
  await matching(runs - 2);
  if (!new URL(page.url()).searchParams.get('where')?.includes('metric.y:gte:3')) throw new Error(`the filter is not in the URL: ${page.url()}`);
  await shot('explore');
  step = 'explore: the histogram counts sum to the matching runs';
  await t('plot-tab-histogram').click();
  await page.waitForFunction(
    (n) => {
      const bars = [...document.querySelectorAll('[data-testid="plot-svg"] rect.hbar')];
      return bars.length > 0 && bars.reduce((a, b) => a + Number(b.getAttribute('data-count')), 0) === n;
    },
    runs - 2,
    { timeout: 15_000 },
  );
  step = 'explore: sorting the table by metric.y descending puts the largest y first';
  await t('sort-metric.y').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="sort-metric.y"]')?.closest('th')?.getAttribute('aria-sort') === 'ascending');
  await t('sort-metric.y').click();
  await page.waitForFunction(
    (n) =>
      document.querySelector('[data-testid="sort-metric.y"]')?.closest('th')?.getAttribute('aria-sort') === 'descending' &&
      document.querySelector('[data-testid="explore-table"] tbody tr td[data-col="metric.y"]')?.dataset.value === String(n),
    runs,
    { timeout: 15_000 },
  );
  const rowsShown = await page.locator('[data-testid^="explore-row-"]').count();
  if (rowsShown !== runs - 2) throw new Error(`the table shows ${rowsShown} rows, not ${runs - 2}`);
  step = 'explore: the plot downloads as SVG';
  const fs = await import('node:fs/promises');
  const [svgDl] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), t('export-svg').click()]);
  const svgText = await fs.readFile(await svgDl.path(), 'utf8');
  if (!svgText.includes('<svg')) throw new Error(`the SVG download has no <svg: ${svgText.slice(0, 200)}`);
  step = 'explore: the plot downloads as PNG (under the page CSP)';
  const [pngDl] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), t('export-png').click()]);
  const png = await fs.readFile(await pngDl.path());
  if (png.subarray(1, 4).toString() !== 'PNG') throw new Error('the PNG download is not a PNG');
  step = 'explore: the keyboard removes the condition';
  await t('filter-remove-0').focus();
  await page.keyboard.press('Enter');
  await matching(runs);
}

/**
 * The study page of $STUDY (runs with x = 1..runs and y = x): the Study file
 * section shows its YAML (opened from the keyboard) and downloads it; the runs
 * table sorted by metric.y descending starts with y = runs; the condition
 * param.x >= 3 leaves runs - 2 rows, and the view survives a reload (it is in
 * the URL). With `editor`, "Edit a copy" opens the editor holding the same file.
 */
export async function checkStudyPage(page, base, project, study, runs, shot = async () => {}, editor = false) {
  const t = (id) => page.getByTestId(id);
  const url = `${base}/ui/projects/${encodeURIComponent(project)}/studies/${encodeURIComponent(study)}`;
  const spec = () =>
    page.evaluate(
      async ([p, s]) => (await fetch(`/api/v1/projects/${encodeURIComponent(p)}/studies/${encodeURIComponent(s)}/source`)).json(),
      [project, study],
    );
  step = 'study page: the Study file section is collapsed, and opens from the keyboard';
  await page.goto(url);
  await t('study-file').waitFor({ timeout: 15_000 });
  if (await t('study-file').evaluate((e) => e.open)) throw new Error('the Study file section is open before it is asked to be');
  await t('study-file-toggle').focus();
  await page.keyboard.press('Enter');
  step = `study page: the Study file shows \`name: ${study}\``;
  const nameLine = new RegExp(`^name:\\s*["']?${study.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}["']?\\s*(#.*)?$`, 'm').source;
  await page
    .waitForFunction((re) => new RegExp(re, 'm').test(document.querySelector('[data-testid="study-source"] code')?.textContent ?? ''), nameLine, { timeout: 15_000 })
    .catch(async () => {
      const err = await page.locator('[data-testid="study-file"] [data-testid="error"]').textContent().catch(() => null);
      throw new Error(err ? `the study file did not load: ${err}` : `no line \`name: ${study}\` in: ${(await t('study-source').textContent().catch(() => '(none)'))?.slice(0, 300)}`);
    });
  const want = await spec();
  const shown = await t('study-source').locator('code').textContent();
  if (shown.replace(/\n$/, '') !== want.source.replace(/\n$/, '')) throw new Error('the Study file differs from the submitted source');
  step = 'study page: the study file downloads under its name';
  const fs = await import('node:fs/promises');
  const [dl] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), t('study-file-download').click()]);
  if (dl.suggestedFilename() !== want.source_name.split('/').pop()) throw new Error(`downloaded as ${dl.suggestedFilename()}, not ${want.source_name}`);
  if ((await fs.readFile(await dl.path(), 'utf8')) !== want.source) throw new Error('the downloaded file differs from the source');
  await shot('study-file');

  step = 'study page: sorting the runs by metric.y descending puts the largest y first';
  await t('run-state-filter').selectOption('');
  await t('runs-sort').selectOption('metric.y');
  if ((await t('runs-order').getAttribute('data-order')) !== 'desc') await t('runs-order').click();
  await page
    .waitForFunction(
      (n) =>
        document.querySelector('[data-testid="runs-order"]')?.dataset.order === 'desc' &&
        document.querySelector('[data-testid="runs-range"]')?.dataset.total === String(n) &&
        document.querySelector('[data-testid="runs-table"] tbody tr td[data-col="metric.y"]')?.dataset.value === String(n),
      runs,
      { timeout: 15_000 },
    )
    .catch(async () => {
      throw new Error(`first y is ${await page.locator('[data-testid="runs-table"] tbody tr td[data-col="metric.y"]').first().getAttribute('data-value').catch(() => 'missing')}; range: ${await t('runs-range').textContent()}`);
    });
  const sorted = new URL(page.url()).searchParams;
  if (sorted.get('sort') !== 'metric.y' || sorted.get('order') !== 'desc') throw new Error(`the sort is not in the URL: ${page.url()}`);
  await t('runs-sort-key').waitFor();

  step = 'study page: the condition param.x >= 3 leaves all but two runs';
  await t('filter-add').click();
  await t('filter-column').selectOption('param.x');
  await t('filter-op').selectOption('gte');
  await t('filter-value').fill('3');
  await t('filter-apply').click();
  await t('filter-chip-0').waitFor();
  const leaves = (n) =>
    page
      .waitForFunction(
        (k) => document.querySelector('[data-testid="runs-range"]')?.dataset.total === String(k) && document.querySelectorAll('[data-testid^="run-row-"]').length === Math.min(k, 50),
        n,
        { timeout: 15_000 },
      )
      .catch(async () => {
        throw new Error(`the range says: ${(await t('runs-range').textContent())?.trim()}, ${await page.locator('[data-testid^="run-row-"]').count()} rows`);
      });
  await leaves(runs - 2);
  if (!/of \d/.test((await t('runs-range').textContent()) ?? '')) throw new Error(`no "of N" in: ${await t('runs-range').textContent()}`);
  if (!new URL(page.url()).searchParams.get('where')?.includes('param.x:gte:3')) throw new Error(`the condition is not in the URL: ${page.url()}`);
  const firstY = await page.locator('[data-testid="runs-table"] tbody tr td[data-col="metric.y"]').first().getAttribute('data-value');
  if (firstY !== String(runs)) throw new Error(`the first row's y is ${firstY} with the condition, not ${runs}`);
  await shot('study-runs-sorted');
  step = 'study page: the sorted, filtered view comes back from its URL';
  await page.reload();
  await t('filter-chip-0').waitFor({ timeout: 15_000 });
  await leaves(runs - 2);
  if ((await t('runs-sort').inputValue()) !== 'metric.y' || (await t('runs-order').getAttribute('data-order')) !== 'desc') throw new Error('the sort did not come back from the URL');
  step = 'study page: removing the condition from the keyboard brings every run back';
  await t('filter-remove-0').focus();
  await page.keyboard.press('Enter');
  await leaves(runs);

  if (editor) {
    step = 'study page: "Edit a copy" opens the editor holding the study file';
    await t('study-file-toggle').click();
    await t('study-file-edit').click();
    await page.waitForURL((u) => u.pathname.endsWith('/new') && u.searchParams.get('from') === study, { timeout: 15_000 });
    await t('editor-copy-of').waitFor({ timeout: 15_000 });
    const text = await t('editor-source').inputValue();
    if (text !== want.source) throw new Error(`the editor holds:\n${text.slice(0, 300)}`);
    if ((await t('editor-source-name').inputValue()) !== want.source_name) throw new Error(`the editor's file name is ${await t('editor-source-name').inputValue()}`);
    const files = Object.keys(want.files ?? {});
    for (let i = 0; i < files.length; i++) {
      const name = await t(`file-name-${i}`).inputValue();
      if (name !== files[i] || (await t(`file-content-${i}`).inputValue()) !== want.files[name]) throw new Error(`extra file ${i} is ${name}, not ${files[i]} as submitted`);
    }
  }
}

/** Reports: the freshness indicator is there and fresh; the simulator table names the queue. */
export async function checkReports(page, base, queue = 'command:sh', shot = async () => {}) {
  const t = (id) => page.getByTestId(id);
  step = 'reports: the nav links to the reports';
  await page.goto(`${base}/ui`);
  await t('nav-reports').click();
  await page.waitForURL((u) => u.pathname === '/ui/reports');
  step = 'reports: the freshness indicator shows and is not stale';
  await t('freshness').waitFor({ timeout: 15_000 });
  const stale = await t('freshness').getAttribute('data-stale');
  if (stale !== 'false') throw new Error(`data-stale="${stale}": ${(await t('freshness').textContent())?.trim()}`);
  step = `reports: the simulator table lists the queue ${queue}`;
  // The ETL may still be on its way: look again, reloading, for 30 s.
  const listed = () =>
    page.evaluate(
      (q) => [...document.querySelectorAll('[data-testid="report-simulators"] [data-col="queue"]')].some((c) => c.textContent.trim() === q),
      queue,
    );
  for (let i = 0; !(await listed()); i++) {
    if (i >= 15) throw new Error(`no row for ${queue} after 30 s`);
    await page.waitForTimeout(2000);
    await page.reload();
    await t('freshness').waitFor({ timeout: 15_000 });
  }
  await t('report-hosts').waitFor();
  await shot('reports');
}

/** Datasets: upload a CSV, see its columns, upload it again (deduplicated), download it through the link. */
export async function checkDatasets(page, base, project, shot = async () => {}) {
  const t = (id) => page.getByTestId(id);
  const name = `e2e-ds-${Date.now().toString(36)}`;
  const bytes = Buffer.from('a,b\n1,2\n3,4.5\n');
  const upload = async () => {
    await t('dataset-upload-file').setInputFiles({ name: 'data.csv', mimeType: 'text/csv', buffer: bytes });
    await t('dataset-upload-name').fill(name);
    await t('dataset-upload-submit').click();
  };
  step = 'datasets: the project page links to its datasets';
  await page.goto(`${base}/ui/projects/${encodeURIComponent(project)}`);
  await t('nav-datasets').click();
  await page.waitForURL((u) => u.pathname.endsWith('/datasets'));
  step = 'datasets: uploading a CSV makes version 1';
  await upload();
  await page.waitForFunction(() => document.querySelector('[data-testid="dataset-upload-result"]')?.dataset.deduplicated === 'false', null, { timeout: 15_000 });
  const v = await t('dataset-upload-result').getAttribute('data-version');
  if (v !== '1') throw new Error(`the upload made version ${v}`);
  await t(`dataset-row-${name}`).waitFor({ timeout: 15_000 });
  await t('dataset-version-1').waitFor({ timeout: 15_000 });
  step = 'datasets: the metadata names the columns a and b';
  await page.waitForFunction(
    () => {
      const cols = [...document.querySelectorAll('[data-testid="dataset-metadata"] td[data-col="name"]')].map((c) => c.textContent.trim());
      return cols.join(',') === 'a,b';
    },
    null,
    { timeout: 15_000 },
  );
  await shot('datasets');
  step = 'datasets: the same file again is deduplicated';
  await upload();
  await page.waitForFunction(() => document.querySelector('[data-testid="dataset-upload-result"]')?.dataset.deduplicated === 'true', null, { timeout: 15_000 });
  const text = (await t('dataset-upload-result').textContent()) ?? '';
  if (!/identical to version 1/i.test(text)) throw new Error(`dedup result says: ${text}`);
  // The versions table re-renders after the upload: wait for it to settle
  // on one row (a real second version would never leave it).
  const one = await page
    .waitForFunction(() => document.querySelectorAll('[data-testid^="dataset-version-"]').length === 1 && !document.querySelector('[data-testid="dataset-version-2"]'), null, { timeout: 10_000 })
    .then(() => true, () => false);
  if (!one) throw new Error(`a second version appeared: ${await page.locator('[data-testid="dataset-versions"]').textContent()}`);
  step = 'datasets: the download link gives the same bytes';
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 15_000 }), t('dataset-download').click()]);
  const { readFile } = await import('node:fs/promises');
  const got = await readFile(await download.path());
  if (!got.equals(bytes)) throw new Error(`downloaded ${got.length} bytes that differ from the upload`);
}

/** Builds source -> service -> sink in an empty design from the add buttons and connect controls. */
async function buildThree(page, base) {
  const t = (id) => page.getByTestId(id);
  await page.goto(`${base}/ui/designer`);
  await t('simulate').waitFor();
  await t('new-design').click();
  for (const ty of ['source', 'service', 'sink']) {
    await t(`add-${ty}`).click();
    await t(`node-${ty}`).waitFor();
  }
  for (const [from, to] of [['source', 'service'], ['service', 'sink']]) {
    await t(`node-${from}`).click();
    await t('connect-target').selectOption(to);
    await t('connect-button').click();
    await t(`edge-${from}-${to}`).waitFor({ state: 'attached' });
  }
  await t('node-source').click();
  await t('prop-rate').fill('300');
}

/** Picks `project` in the experiments' project select (a fixed text in local mode). */
async function pickProject(page, project) {
  const sel = page.getByTestId('experiment-project');
  await sel.waitFor();
  if ((await sel.evaluate((e) => e.tagName)) !== 'SELECT') return;
  await page.waitForFunction((p) => [...(document.querySelector('[data-testid="experiment-project"]')?.options ?? [])].some((o) => o.value === p), project, { timeout: 15_000 }).catch(() => {
    throw new Error(`the project select does not offer ${project}`);
  });
  await sel.selectOption(project);
}

/** Waits for `ok` (a test id) or `bad` (an error box's test id), failing with the error's text. */
async function eitherOr(page, ok, bad, what, timeout = 30_000) {
  const sel = `[data-testid="${ok}"], [data-testid="${bad}"]`;
  await page.locator(sel).first().waitFor({ timeout }).catch(() => {
    throw new Error(`${what}: neither ${ok} nor ${bad} after ${timeout / 1000} s`);
  });
  if (await page.getByTestId(bad).count()) throw new Error(`${what}: ${(await page.getByTestId(bad).textContent())?.trim()}`);
}

/** The designer's sweep: the service's replicas 1..3 as a three-run grid study, followed, then plotted. */
export async function checkSweep(page, base, project, shot = async () => {}) {
  const t = (id) => page.getByTestId(id);
  step = 'sweep: source -> service -> sink in the designer';
  await buildThree(page, base);
  step = 'sweep: the service replicas from 1 to 3 in 3 steps';
  await pickProject(page, project);
  await t('sweep-component').selectOption('service');
  await t('sweep-property').selectOption('components.service.replicas');
  await t('sweep-from').fill('1');
  await t('sweep-to').fill('3');
  await t('sweep-steps').fill('3');
  const preview = (await t('sweep-values').textContent()) ?? '';
  if (!preview.includes('3 runs') || !preview.includes('1, 2, 3')) throw new Error(`the sweep preview says: ${preview}`);
  step = 'sweep: submitted';
  await t('sweep-run').click();
  await eitherOr(page, 'sweep-follow', 'sweep-error', 'submitting the sweep');
  step = 'sweep: both charts show the 3 values once the runs are done';
  const ok = await page
    .waitForFunction(
      () => ['sweep-chart-p99', 'sweep-chart-cost'].every((id) => document.querySelector(`[data-testid="${id}"]`)?.getAttribute('data-points') === '3'),
      null,
      { timeout: Number(process.env.SWEEP_TIMEOUT_MS || 120_000) },
    )
    .then(() => true, () => false);
  if (!ok) throw new Error(`the charts did not get 3 points; progress: ${(await t('sweep-follow').textContent())?.trim().slice(0, 400)}`);
  const p99 = await page.evaluate(() => [...document.querySelectorAll('[data-testid="sweep-chart-p99"] circle.spt')].map((c) => [Number(c.dataset.x), Number(c.dataset.y)]).sort((a, b) => a[0] - b[0]));
  if (p99.map((p) => p[0]).join(',') !== '1,2,3') throw new Error(`the p99 chart has x = ${p99.map((p) => p[0])}`);
  if (!p99.every(([, y]) => Number.isFinite(y) && y > 0)) throw new Error(`p99 values are not positive numbers: ${JSON.stringify(p99)}`);
  if (!(p99[2][1] <= p99[0][1])) console.log(`note: p99 did not fall with more replicas: ${JSON.stringify(p99)}`);
  step = 'sweep: a generous p99 limit names the cheapest value meeting it';
  await t('sweep-limit').fill('1000000');
  await page.waitForFunction(() => /cheapest meeting p99 ≤ .*replicas = \d/i.test(document.querySelector('[data-testid="sweep-cheapest"]')?.textContent ?? ''), null, { timeout: 5_000 }).catch(async () => {
    throw new Error(`the cheapest line says: ${(await t('sweep-cheapest').textContent())?.trim()}`);
  });
  await t('sweep-panel').scrollIntoViewIfNeeded();
  await shot('designer-sweep');
}

/** "Find the cheapest design" on the service replicas in [1, 4] with a budget of 6 runs; apply; the convergence plot. */
export async function checkOptimize(page, base, project, shot = async () => {}) {
  const t = (id) => page.getByTestId(id);
  const param = 'components.service.replicas';
  step = 'optimize: source -> service -> sink, the service at 7 replicas';
  await buildThree(page, base);
  await t('node-service').click();
  await t('prop-replicas').fill('7');
  await pickProject(page, project);
  step = 'optimize: the service replicas in [1, 4], a generous p99 limit, budget 6';
  await t(`opt-dim-${param}`).check();
  await t(`opt-low-${param}`).fill('1');
  await t(`opt-high-${param}`).fill('4');
  await t('opt-limit').fill('100000');
  await t('opt-budget').fill('6');
  if (await t('opt-problems').count()) throw new Error(`the form has problems: ${await t('opt-problems').textContent()}`);
  step = 'optimize: submitted';
  await t('opt-run').click();
  await eitherOr(page, 'opt-follow', 'opt-error', 'submitting the optimisation');
  step = 'optimize: the adaptive loop stops (within OPT_TIMEOUT_MS, default 120 s)';
  const limit = Number(process.env.OPT_TIMEOUT_MS || 120_000);
  const stopped = await page
    .waitForFunction(() => ['stopped', 'failed'].includes(document.querySelector('[data-testid="opt-state"]')?.dataset.state), null, { timeout: limit })
    .then(() => true, () => false);
  if (!stopped) throw new Error(`still ${await t('opt-state').getAttribute('data-state').catch(() => '?')} after ${limit / 1000} s: ${(await t('opt-follow').textContent())?.trim().slice(0, 400)}`);
  const state = await t('opt-state').getAttribute('data-state');
  if (state === 'failed') throw new Error(`the optimiser failed: ${(await t('opt-follow').textContent())?.trim().slice(0, 400)}`);
  step = 'optimize: a best design is shown';
  await t('opt-best').waitFor({ timeout: 10_000 }).catch(async () => {
    throw new Error(`no best design: ${(await t('opt-follow').textContent())?.trim().slice(0, 400)}`);
  });
  const best = await t(`opt-best-${param}`).locator('td').getAttribute('data-value');
  if (!['1', '2', '3', '4'].includes(best)) throw new Error(`the best replicas is ${best}, not in [1, 4]`);
  await shot('designer-optimize');
  step = 'optimize: Apply to canvas sets the replicas (undoable)';
  await t('opt-apply').click();
  await t('node-service').click();
  const now = await t('prop-replicas').inputValue();
  if (now !== best) throw new Error(`prop-replicas is ${now} after Apply, the best is ${best}`);
  await t('undo').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="prop-replicas"]')?.value === '7', null, { timeout: 5_000 }).catch(() => {
    throw new Error('undo did not bring back 7 replicas');
  });
  await t('redo').click();
  step = "optimize: the study's explorer draws at least 4 points of the convergence";
  await t('opt-explore-link').click();
  await page.waitForURL((u) => u.pathname.endsWith('/explore'), { timeout: 15_000 });
  const drawn = await page
    .waitForFunction(() => Number(document.querySelector('[data-testid="convergence-svg"]')?.getAttribute('data-drawn') ?? 0) >= 4, null, { timeout: 30_000 })
    .then(() => true, () => false);
  if (!drawn) {
    const err = await page.locator('[data-testid="convergence"] [data-testid="error"]').textContent().catch(() => null);
    throw new Error(`the convergence plot has ${await t('convergence-svg').getAttribute('data-drawn').catch(() => 'no')} points${err ? `: ${err}` : ''}`);
  }
  await t('convergence').scrollIntoViewIfNeeded();
  await shot('explore-convergence');
}

/** The explorer's sensitivity panel on $ANALYSIS_STUDY: one bar group per input the server reports. */
export async function checkAnalysis(page, base, project, study, shot = async () => {}) {
  const t = (id) => page.getByTestId(id);
  step = `analysis: the explorer of ${study} shows the sensitivity panel`;
  await page.goto(`${base}/ui/projects/${encodeURIComponent(project)}/studies/${encodeURIComponent(study)}/explore`);
  await t('sensitivity').waitFor({ timeout: 15_000 }).catch(() => {
    throw new Error('no sensitivity panel (does explore/columns answer a non-null `sensitivity`?)');
  });
  await page.locator('[data-testid="sensitivity-svg"], [data-testid="sensitivity"] [data-testid="error"]').first().waitFor({ timeout: 30_000 });
  if (!(await t('sensitivity-svg').count())) throw new Error(`the sensitivity failed: ${await page.locator('[data-testid="sensitivity"] [data-testid="error"]').textContent()}`);
  step = 'analysis: one bar group per input';
  const metric = await t('sens-metric').inputValue();
  const want = await page.evaluate(
    async ([p, s, m]) => {
      const r = await fetch(`/api/v1/projects/${encodeURIComponent(p)}/studies/${encodeURIComponent(s)}/explore/sensitivity?metric=${encodeURIComponent(m)}`);
      return (await r.json()).inputs.map((i) => i.name).sort();
    },
    [project, study, metric],
  );
  const got = await page.evaluate(() => [...document.querySelectorAll('[data-testid="sensitivity-svg"] g.sgroup')].map((g) => g.dataset.input).sort());
  if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`bar groups ${JSON.stringify(got)}, inputs ${JSON.stringify(want)}`);
  if (!(await page.locator('[data-testid="sensitivity-svg"] rect.sbar').count())) throw new Error('no bars drawn');
  await page.locator('[data-testid="analysis"]').scrollIntoViewIfNeeded();
  await shot('explore-analysis');
}

/** A phone viewport (390x844): no sideways scrolling on the studies page, the editor and the designer; the nav from the keyboard. */
export async function checkPhone(page, base, project, shot = async () => {}, study = STUDY) {
  const t = (id) => page.getByTestId(id);
  await page.setViewportSize({ width: 390, height: 844 });
  try {
    const pages = [
      ['studies', `/ui/projects/${encodeURIComponent(project)}`, 'updated'],
      // the study page with its Study file open and a condition on the runs
      ...(study ? [['study', `/ui/projects/${encodeURIComponent(project)}/studies/${encodeURIComponent(study)}?sort=metric.y&order=desc&where=param.x:gte:1`, 'filter-chip-0', 'study-file-toggle', 'study-source']] : []),
      ['editor', `/ui/projects/${encodeURIComponent(project)}/new`, 'editor-source'],
      ['designer', '/ui/designer', 'simulate'],
    ];
    for (const [name, path, marker, open, opened] of pages) {
      step = `phone: the ${name} page does not scroll sideways at 390x844`;
      await page.goto(`${base}${path}`);
      await t(marker).waitFor({ timeout: 15_000 });
      if (open) {
        await t(open).click();
        await t(opened).waitFor({ timeout: 15_000 });
      }
      await page.waitForTimeout(300);
      const wide = await page.evaluate(() => ({ over: document.documentElement.scrollWidth - window.innerWidth, culprit: [...document.querySelectorAll('body *')].filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1 && getComputedStyle(e).position !== 'fixed').slice(-3).map((e) => `${e.tagName.toLowerCase()}.${[...e.classList].join('.')}`) }));
      if (wide.over > 1) throw new Error(`the ${name} page is ${wide.over}px wider than the viewport (${wide.culprit.join(', ')})`);
      await shot(`phone-${name}`);
    }
    step = 'phone: the designer palette is reachable and the canvas scrolls in its own box';
    await t('add-service').scrollIntoViewIfNeeded();
    if (!(await t('add-service').isVisible())) throw new Error('the add buttons are not visible');
    const ov = await page.evaluate(() => getComputedStyle(document.querySelector('.canvas-wrap')).overflowX);
    if (!['auto', 'scroll'].includes(ov)) throw new Error(`the canvas box has overflow-x ${ov}`);
    step = 'phone: the main nav works from the keyboard';
    await page.goto(`${base}/ui/projects/${encodeURIComponent(project)}`);
    await t('updated').waitFor({ timeout: 15_000 });
    await page.locator('body').focus();
    let found = false;
    for (let i = 0; i < 25 && !found; i++) {
      await page.keyboard.press('Tab');
      found = await page.evaluate(() => document.activeElement?.tagName === 'A' && document.activeElement.textContent.trim() === 'Designer' && !!document.activeElement.closest('nav'));
    }
    if (!found) throw new Error('Tab never reached the Designer link of the main nav');
    await page.keyboard.press('Enter');
    await page.waitForURL((u) => u.pathname === '/ui/designer', { timeout: 10_000 });
    await t('simulate').waitFor();
  } finally {
    await page.setViewportSize({ width: 1280, height: 800 });
  }
}

const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  args: ['--no-sandbox', '--disable-gpu'],
});
const errors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, acceptDownloads: true });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // 401 before sign-in is expected; anything else logged as an error is not.
    if (m.type() === 'error' && !/401/.test(m.text())) errors.push(`console: ${m.text()}`);
  });
  const shot = async (name) => {
    if (SHOTS) await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: false });
  };
  const t = (id) => page.getByTestId(id);

  if (LOCAL) {
    step = 'local: the dashboard opens without sign-in';
    await page.goto(`${BASE}/ui/`);
    await t(`project-link-${PROJECT}`).waitFor({ timeout: 15_000 });
    if (await t('sign-out').count()) throw new Error('local mode shows Sign out');
    step = 'local: the project lists the study with its runs';
    await t(`project-link-${PROJECT}`).click();
    await t(`study-row-${STUDY}`).waitFor({ timeout: 15_000 });
    await shot('local-studies');
    if (STUDY) await checkStudyPage(page, BASE, PROJECT, STUDY, RUNS, shot, process.env.EDITOR === '1');
    if (EXPLORE) await checkExplore(page, BASE, PROJECT, STUDY, RUNS, shot);
    if (process.env.EDITOR === '1') await checkEditor(page, BASE, PROJECT, shot);
    if (process.env.DESIGNER === '1') await checkDesigner(page, BASE, shot);
    await newChecks(page, shot);
  } else {
  step = 'a signed-out visit lands on sign-in';
  await page.goto(`${BASE}/ui/projects/${PROJECT}`);
  await t('login-form').waitFor();
  await shot('sign-in');

  step = 'a wrong password is refused with the server message';
  await t('login-name').fill(USER);
  await t('login-password').fill('not the password');
  await t('login-submit').click();
  await page.waitForFunction(() => document.querySelector('[data-testid="login-error"]')?.textContent?.trim().length > 0);

  step = 'signing in returns to the page asked for';
  await t('login-password').fill(PASSWORD);
  await t('login-submit').click();
  await (ONLY_NEW ? t('updated') : t(`study-row-${STUDY}`)).waitFor();
  const who = (await t('user-name').textContent())?.trim();
  if (who !== USER) throw new Error(`header names ${who}`);

  if (!ONLY_NEW) {
  step = `the studies page follows the study until its ${RUNS} runs succeed (no reload)`;
  await page.evaluate(() => {
    window.__noReload = true;
  });
  const cell = t(`study-row-${STUDY}`).locator('[data-col="succeeded"]');
  const seen = new Set();
  const deadline = Date.now() + 60_000;
  for (;;) {
    const n = Number((await cell.textContent())?.trim());
    seen.add(n);
    if (n === RUNS) break;
    if (Date.now() > deadline) throw new Error(`succeeded stayed at ${[...seen].join(', ')}`);
    await page.waitForTimeout(200);
  }
  if (Math.min(...seen) >= RUNS) throw new Error('the study finished before the page could watch it');
  if (!(await page.evaluate(() => window.__noReload === true))) throw new Error('the page reloaded');
  await shot('studies');

  step = 'the study page counts every run as succeeded';
  await t(`study-row-${STUDY}`).getByRole('link').first().click();
  await page.waitForFunction(
    (n) => document.querySelector('[data-testid="count-succeeded"]')?.textContent?.trim() === String(n),
    RUNS,
    { timeout: 30_000 },
  );
  await shot('study');

  step = 'filtering runs by state asks the server';
  await t('run-state-filter').selectOption('failed');
  await page.waitForFunction(() => document.querySelectorAll('[data-testid^="run-row-"]').length === 0, null, {
    timeout: 15_000,
  });
  await t('run-state-filter').selectOption('succeeded');
  await page.waitForFunction(
    (n) => document.querySelectorAll('[data-testid^="run-row-"]').length === n,
    RUNS,
    { timeout: 15_000 },
  );

  step = "a run's page shows its logs";
  await page.locator('[data-testid^="run-row-"] a').first().click();
  await t('run-state').waitFor();
  await page.waitForFunction(
    () => /y=/.test(document.querySelector('[data-testid="log-stdout"]')?.textContent ?? ''),
    null,
    { timeout: 15_000 },
  );
  await shot('run');

  await checkStudyPage(page, BASE, PROJECT, STUDY, RUNS, shot, process.env.EDITOR === '1');
  } else if (STUDY) await checkStudyPage(page, BASE, PROJECT, STUDY, RUNS, shot, process.env.EDITOR === '1');

  if (process.env.EDITOR === '1') await checkEditor(page, BASE, PROJECT, shot);
  if (process.env.DESIGNER === '1') await checkDesigner(page, BASE, shot);
  if (EXPLORE) await checkExplore(page, BASE, PROJECT, STUDY, RUNS, shot);
  if (process.env.REPORTS === '1') await checkReports(page, BASE, process.env.REPORT_QUEUE || 'command:sh', shot);
  if (process.env.DATASETS === '1') await checkDatasets(page, BASE, PROJECT, shot);
  await newChecks(page, shot);

  if (!ONLY_NEW) {
  step = 'the workers page lists the worker';
  await page.goto(`${BASE}/ui/workers`);
  await page.locator('[data-testid^="worker-row-"]').first().waitFor();
  await shot('workers');

  step = 'a phone-sized viewport does not scroll sideways';
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(`${BASE}/ui/projects/${PROJECT}`);
  await t(`study-row-${STUDY}`).waitFor();
  const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (wide > 1) throw new Error(`the page is ${wide}px wider than the viewport`);
  await shot('studies-phone');

  }

  if (process.env.DESIGNER === '1') {
    step = 'designer: a phone-sized viewport shows a notice and does not scroll sideways';
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${BASE}/ui/designer`);
    await t('simulate').waitFor();
    if (!(await page.locator('.small-screen-notice').isVisible())) throw new Error('no small-screen notice');
    const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (wide > 1) throw new Error(`the designer is ${wide}px wider than the viewport`);
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  step = 'signing out ends the session';
  await t('sign-out').click();
  await t('login-form').waitFor();
  const me = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
  if (me !== 401) throw new Error(`/api/v1/me answers ${me} after sign-out`);

  }

  if (errors.length) throw new Error(errors.join('\n'));
  step = 'done';
  console.log('dashboard e2e: ok');
} catch (e) {
  console.error(`dashboard e2e failed at: ${step}\n${e.stack ?? e}`);
  if (errors.length) console.error(errors.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
}

#!/usr/bin/env node
// DEVELOPMENT AID ONLY: drives headless Chromium (DevTools protocol over a pipe,
// no dependencies) through the dashboard served by dev/mock-server.mjs, checks
// the data-testid hooks, and writes screenshots to $SHOTS (default /tmp/simforge-ui-shots).
//
//   node dev/mock-server.mjs &  node dev/smoke.mjs
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';

const BASE = process.env.BASE || 'http://127.0.0.1:8787';
const CHROME = process.env.CHROME || '/usr/bin/chromium';
const SHOTS = process.env.SHOTS || '/tmp/simforge-ui-shots';
mkdirSync(SHOTS, { recursive: true });

const proc = spawn(CHROME, ['--headless=new', '--no-sandbox', '--disable-gpu', '--no-first-run', '--remote-debugging-pipe', '--user-data-dir=/tmp/simforge-ui-chrome'], { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
const out = proc.stdio[3];
const inp = proc.stdio[4];
let id = 0;
const pending = new Map();
const errors = [];
let buf = Buffer.alloc(0);
inp.on('data', (d) => {
  buf = Buffer.concat([buf, d]);
  let i;
  while ((i = buf.indexOf(0)) >= 0) {
    const msg = JSON.parse(buf.subarray(0, i).toString());
    buf = buf.subarray(i + 1);
    if (msg.id && pending.has(msg.id)) {
      const { ok, fail } = pending.get(msg.id);
      pending.delete(msg.id);
      msg.error ? fail(new Error(JSON.stringify(msg.error))) : ok(msg.result);
    } else if (msg.method === 'Runtime.exceptionThrown') errors.push(msg.params.exceptionDetails.exception?.description || msg.params.exceptionDetails.text);
    else if (msg.method === 'Log.entryAdded' && msg.params.entry.level === 'error' && !/401|404/.test(msg.params.entry.text)) errors.push(msg.params.entry.text);
    else if (msg.method === 'Runtime.consoleAPICalled' && msg.params.type === 'error') errors.push(msg.params.args.map((a) => a.value ?? a.description).join(' '));
  }
});
const send = (method, params = {}, sessionId) =>
  new Promise((ok, fail) => {
    const m = { id: ++id, method, params, ...(sessionId ? { sessionId } : {}) };
    pending.set(m.id, { ok, fail });
    out.write(JSON.stringify(m) + '\0');
  });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let S;
const page = (method, params) => send(method, params, S);
async function ev(expr) {
  const r = await page('Runtime.evaluate', { expression: expr, awaitPromise: true, returnByValue: true });
  if (r.exceptionDetails) throw new Error(`${expr}: ${r.exceptionDetails.exception?.description}`);
  return r.result.value;
}
async function waitFor(expr, what, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await ev(`!!(${expr})`)) return;
    await sleep(100);
  }
  throw new Error(`timed out waiting for ${what}: ${expr}`);
}
const tid = (t) => `document.querySelector('[data-testid="${t}"]')`;
async function shot(name) {
  const r = await page('Page.captureScreenshot', { format: 'png', captureBeyondViewport: false });
  writeFileSync(`${SHOTS}/${name}.png`, Buffer.from(r.data, 'base64'));
}
async function viewport(w, h, mobile = false) {
  await page('Emulation.setDeviceMetricsOverride', { width: w, height: h, deviceScaleFactor: 1, mobile });
}
const results = [];
const check = (name, cond, detail = '') => {
  results.push(`${cond ? 'ok  ' : 'FAIL'} ${name}${detail ? ` (${detail})` : ''}`);
  if (!cond) process.exitCode = 1;
};

try {
  const { targetId } = await send('Target.createTarget', { url: 'about:blank' });
  ({ sessionId: S } = await send('Target.attachToTarget', { targetId, flatten: true }));
  await page('Page.enable');
  await page('Runtime.enable');
  await page('Log.enable');
  await viewport(1280, 800);

  // Deep link while signed out -> sign-in with ?next=
  await page('Page.navigate', { url: `${BASE}/ui/projects/lab` });
  await waitFor(tid('login-form'), 'login form');
  check('401 redirects to sign-in', (await ev('location.pathname + location.search')) === '/ui/login?next=%2Fui%2Fprojects%2Flab');
  const fill = (t, v) => ev(`(() => { const e = ${tid(t)}; e.value = ${JSON.stringify(v)}; e.dispatchEvent(new Event('input', {bubbles: true})); })()`);
  await fill('login-name', 'alice');
  await fill('login-password', 'wrong');
  await ev(`${tid('login-submit')}.click()`);
  await waitFor(`${tid('login-error')}.textContent.includes('wrong user name')`, 'login error');
  check('login error shows error.message and hint', (await ev(`${tid('login-error')}.textContent`)).includes('alice / correct-horse'));
  await shot('login-error');
  await fill('login-password', 'correct-horse');
  await ev(`${tid('login-submit')}.click()`);
  await waitFor(tid('study-row-cavity-sweep'), 'study row');
  check('after login back to the deep link', (await ev('location.pathname')) === '/ui/projects/lab');
  check('header shows user', (await ev(`${tid('user-name')}.textContent`)) === 'alice');
  await sleep(4500); // a few polls: rate and ETA appear
  const row = await ev(`${tid('study-row-cavity-sweep')}.textContent`);
  check('studies row has rate', /\/s/.test(row), row);
  check('updated Xs ago', /updated \ds ago/.test(await ev(`${tid('updated')}.textContent`)));
  await shot('studies-1280');
  await viewport(390, 844, true);
  await sleep(300);
  await shot('studies-390');
  check('no horizontal page overflow at 390px', await ev('document.documentElement.scrollWidth <= 390'), String(await ev('document.documentElement.scrollWidth')));
  await viewport(1280, 800);

  // Study page
  await ev(`${tid('study-row-cavity-sweep')}.querySelector('a').click()`);
  await waitFor(tid('count-succeeded'), 'study counts');
  const c1 = Number(await ev(`${tid('count-succeeded')}.textContent`));
  await sleep(2600);
  const c2 = Number(await ev(`${tid('count-succeeded')}.textContent`));
  check('counts update live', c2 > c1, `${c1} -> ${c2}`);
  check('all count-* present', await ev(`['pending','running','succeeded','failed','timed_out','cancelled'].every(s => ${'document'}.querySelector('[data-testid="count-' + s + '"]'))`));
  await waitFor(`document.querySelectorAll('[data-testid^="run-row-"]').length === 50`, '50 run rows');
  await shot('study-1280');
  await ev(`${tid('runs-next')}.click()`);
  await waitFor(`document.querySelector('[data-testid^="run-row-"] td').textContent === '25'`, 'page 2 starts at index 25');
  check('next page via cursor', true);
  await ev(`(() => { const s = ${tid('run-state-filter')}; s.value = 'failed'; s.dispatchEvent(new Event('change', {bubbles: true})); })()`);
  await waitFor(`[...document.querySelectorAll('[data-testid^="run-row-"]')].length > 0 && [...document.querySelectorAll('[data-testid^="run-row-"]')].every(r => r.textContent.includes('failed'))`, 'failed rows');
  check('state filter re-queries', (await ev('location.search')) === '?state=failed');
  await shot('study-failed');
  await ev(`document.querySelector('[data-testid^="run-row-"] a').click()`);
  await waitFor(tid('log-stdout'), 'logs');
  check('run page: attempts', await ev(`document.querySelectorAll('[data-testid^="attempt-row-"]').length === 2`));
  check('run page: stderr', (await ev(`${tid('log-stderr')}.textContent`)).includes('diverged'));
  await shot('run-failed');

  // A running run: logs grow and follow the tail.
  await page('Page.navigate', { url: `${BASE}/ui/projects/lab/studies/long-job?state=running` });
  await waitFor(`document.querySelector('[data-testid^="run-row-"] a')`, 'running rows');
  await ev(`document.querySelector('[data-testid^="run-row-"] a').click()`);
  await waitFor(tid('log-stdout'), 'running logs');
  const l1 = await ev(`${tid('log-stdout')}.textContent.length`);
  await sleep(2600);
  const l2 = await ev(`${tid('log-stdout')}.textContent.length`);
  check('running logs refresh', l2 > l1, `${l1} -> ${l2}`);
  await shot('run-running');

  // A succeeded run: artifacts.
  await page('Page.navigate', { url: `${BASE}/ui/projects/lab/studies/mesh-convergence` });
  await waitFor(`document.querySelector('[data-testid^="run-row-"] a')`, 'rows');
  check('finished study: progress 100%', (await ev(`${tid('study-progress')}.textContent`)).includes('100%'));
  await ev(`document.querySelector('[data-testid^="run-row-"] a').click()`);
  await waitFor(tid('artifacts-table'), 'artifacts');
  check('artifact download link', (await ev(`${tid('artifacts-table')}.querySelector('a').getAttribute('href')`)).startsWith('/api/v1/runs/'));
  await shot('run-succeeded');

  await page('Page.navigate', { url: `${BASE}/ui/projects/empty-project` });
  await waitFor(tid('studies-empty'), 'empty state');
  check('empty state', (await ev(`${tid('studies-empty')}.textContent`)).includes('simforge run study.yaml --server'));
  await page('Page.navigate', { url: `${BASE}/ui/projects/nope` });
  await waitFor(tid('error'), 'error box');
  check('404 shows error.message', (await ev(`${tid('error')}.textContent`)).includes('no project'));

  await page('Page.navigate', { url: `${BASE}/ui/workers` });
  await waitFor(tid('worker-row-w-node-1'), 'workers');
  await shot('workers-1280');
  await viewport(390, 844, true);
  await sleep(300);
  await shot('workers-390');
  await viewport(1280, 800);

  await page('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: 'dark' }] });
  await page('Page.navigate', { url: `${BASE}/ui/projects/lab/studies/cavity-sweep` });
  await waitFor(tid('count-succeeded'), 'study counts (dark)');
  await shot('study-dark');
  await page('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: 'light' }] });

  // Study editor: live check, diagnostics with a line, submit.
  await page('Page.navigate', { url: `${BASE}/ui/projects/lab` });
  await waitFor(tid('new-study'), 'new study link');
  await ev(`${tid('new-study')}.click()`);
  await waitFor(tid('editor-summary'), 'editor summary', 8000);
  check('editor: example checks ok', (await ev(`${tid('editor-summary')}.textContent`)).includes('random design'));
  const src0 = await ev(`${tid('editor-source')}.value`);
  await fill('editor-source', src0.replace('metrics:', 'metrcs:'));
  await waitFor(tid('diagnostic-0'), 'diagnostic', 8000);
  check('editor: diagnostic has line:column', /^10:1/.test(await ev(`${tid('diagnostic-0')}.textContent`)));
  check('editor: offending line marked', await ev(`!!document.querySelector('.yaml-editor .band')`));
  check('editor: submit disabled when invalid', await ev(`${tid('editor-submit')}.disabled`));
  await shot('editor-diagnostic');
  await fill('editor-source', src0.replace('branin-random', 'smoke-study'));
  await waitFor(`${tid('editor-summary')}?.textContent.includes('smoke-study') && !${tid('editor-submit')}.disabled`, 'summary again', 8000);
  await ev(`${tid('editor-submit')}.click()`);
  await waitFor(`location.pathname === '/ui/projects/lab/studies/smoke-study'`, 'study page after submit', 8000);
  check('editor: submit lands on the study page', true);

  // System designer: example design, simulate, bottleneck.
  await page('Page.navigate', { url: `${BASE}/ui/designer` });
  await waitFor(tid('load-example'), 'designer');
  await ev(`${tid('load-example')}.click()`);
  await waitFor(tid('node-api'), 'designer nodes');
  check('designer: edges drawn', await ev(`!!${tid('edge-lb-api')} && !!${tid('edge-cache-db')}`));
  await ev(`${tid('simulate')}.click()`);
  await waitFor(`${tid('bottleneck')}?.textContent.trim()`, 'bottleneck', 8000);
  check('designer: bottleneck named', (await ev(`${tid('bottleneck')}.textContent`)).trim() === 'db');
  check('designer: p99 shown', /ms/.test(await ev(`${tid('latency-p99')}.textContent`)));
  await shot('designer-1280');
  await viewport(390, 844, true);
  await sleep(300);
  await shot('designer-390');
  check('designer: no horizontal page overflow at 390px', await ev('document.documentElement.scrollWidth <= 390'), String(await ev('document.documentElement.scrollWidth')));
  await viewport(1280, 800);

  // Results explorer over the mock's million generated Branin runs.
  await page('Page.navigate', { url: `${BASE}/ui/projects/lab/studies/branin-1m` });
  await waitFor(tid('explore-link'), 'explore link');
  await ev(`${tid('explore-link')}.click()`);
  await waitFor(`${tid('explore-matching')}?.dataset.matching`, 'matching count', 8000);
  const m0 = Number(await ev(`${tid('explore-matching')}.dataset.matching`));
  check('explore: matching over all succeeded runs', m0 > 900000, String(m0));
  check('explore: says the plot is a sample', /2,000 of [\d,]+ matching runs — a sample/.test(await ev(`${tid('explore-sampled')}.textContent`)));
  check('explore: scatter draws the sample', await ev(`${tid('plot-svg')}.getAttribute('role') === 'img' && ${tid('plot-svg')}.getAttribute('aria-label').includes('2,000 sampled runs')`));
  const sel = (t, v) => ev(`(() => { const e = ${tid(t)}; e.value = ${JSON.stringify(v)}; e.dispatchEvent(new Event('change', {bubbles: true})); })()`);
  await ev(`${tid('filter-add')}.click()`);
  await waitFor(tid('filter-column'), 'filter form');
  await sel('filter-column', 'metric.y');
  await sel('filter-op', 'lt');
  await fill('filter-value', '10');
  await ev(`${tid('filter-apply')}.click()`);
  await waitFor(`${tid('filter-chip-0')} && ${tid('explore-matching')}.dataset.matching && Number(${tid('explore-matching')}.dataset.matching) < ${m0}`, 'filtered count', 8000);
  const m1 = Number(await ev(`${tid('explore-matching')}.dataset.matching`));
  check('explore: filter in the URL', (await ev('location.search')).includes('where=metric.y%3Alt%3A10'));
  await ev(`${tid('plot-tab-histogram')}.click()`);
  await waitFor(`document.querySelectorAll('[data-testid="plot-svg"] rect.hbar').length === 30`, 'histogram bars', 8000);
  const hsum = await ev(`[...document.querySelectorAll('[data-testid="plot-svg"] rect.hbar')].reduce((a, r) => a + Number(r.dataset.count), 0)`);
  check('explore: histogram counts are exact', hsum === m1, `${hsum} vs ${m1}`);
  await shot('explore-histogram');
  for (const t of ['parallel', 'matrix']) {
    await ev(`${tid('plot-tab-' + t)}.click()`);
    await waitFor(`${tid('plot-svg')}?.querySelector('title')?.textContent !== 'Histogram of y'`, t, 8000);
    await shot(`explore-${t}`);
  }
  check('explore: matrix has diagonal histograms', await ev(`${tid('plot-svg')}.querySelector('title').textContent === 'Scatter matrix'`));
  await ev(`${tid('sort-metric.y')}.click()`);
  await waitFor(`document.querySelector('[data-testid="sort-metric.y"]').closest('th').getAttribute('aria-sort') === 'ascending' && !${tid('explore-range')}.textContent.includes('loading')`, 'sorted');
  await ev(`${tid('sort-metric.y')}.click()`);
  await waitFor(`document.querySelector('[data-testid="sort-metric.y"]').closest('th').getAttribute('aria-sort') === 'descending' && !${tid('explore-range')}.textContent.includes('loading')`, 'sorted desc');
  const ys = await ev(`[...document.querySelectorAll('[data-testid="explore-table"] td[data-col="metric.y"]')].map(td => Number(td.dataset.value))`);
  check('explore: table sorted by y descending within the filter', ys.length === 50 && ys.every((v, i) => v < 10 && (i === 0 || v <= ys[i - 1])));
  await ev(`${tid('explore-next')}.click()`);
  await waitFor(`${tid('explore-range')}.textContent.startsWith('rows 51–100 of')`, 'page 2 range');
  check('explore: export links carry the filter', (await ev(`${tid('export-csv')}.getAttribute('href')`)).includes('where=metric.y%3Alt%3A10'));
  await ev(`${tid('filter-remove-0')}.click()`);
  await waitFor(`${tid('explore-matching')}.dataset.matching === '${m0}'`, 'filter removed', 8000);
  check('explore: removing the condition restores the count', true);

  await page('Page.navigate', { url: `${BASE}/` });
  await waitFor(tid('project-link-lab'), 'projects');
  await shot('projects');
  await ev(`${tid('sign-out')}.click()`);
  await waitFor(tid('login-form'), 'login after sign-out');
  await page('Page.navigate', { url: `${BASE}/ui/workers` });
  await waitFor(tid('login-form'), 'login after sign-out');
  check('signed out for real', (await ev('location.pathname')) === '/ui/login');
  check('no console errors', errors.length === 0, errors.join(' | '));
} catch (e) {
  results.push(`FAIL ${e.message}`);
  process.exitCode = 1;
} finally {
  console.log(results.join('\n'));
  console.log(`screenshots in ${SHOTS}`);
  proc.kill();
}

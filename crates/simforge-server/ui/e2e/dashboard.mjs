// End-to-end check of the dashboard against a real `simforge serve`, in
// headless Chromium driven by playwright-core. Run by
// crates/simforge/tests/server.rs (which starts the server, a worker and a
// study); by hand:
//
//   BASE=http://127.0.0.1:8080 USER=alice PASSWORD=... PROJECT=lab STUDY=s RUNS=6 \
//   CHROMIUM=/usr/bin/chromium node e2e/dashboard.mjs
//
// SHOTS=dir also writes screenshots of the main pages there (docs/img).
// Exits non-zero, naming the failed step, on any failure or page error.
import { chromium } from 'playwright-core';

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`set ${k}`);
  return v;
};
const BASE = env('BASE');
const [USER, PASSWORD, PROJECT, STUDY] = ['USER', 'PASSWORD', 'PROJECT', 'STUDY'].map(env);
const RUNS = Number(env('RUNS'));
const SHOTS = process.env.SHOTS;

let step = 'launching Chromium';
const browser = await chromium.launch({
  executablePath: env('CHROMIUM'),
  args: ['--no-sandbox', '--disable-gpu'],
});
const errors = [];
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
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
  await t(`study-row-${STUDY}`).waitFor();
  const who = (await t('user-name').textContent())?.trim();
  if (who !== USER) throw new Error(`header names ${who}`);

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

  step = 'signing out ends the session';
  await t('sign-out').click();
  await t('login-form').waitFor();
  const me = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
  if (me !== 401) throw new Error(`/api/v1/me answers ${me} after sign-out`);

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

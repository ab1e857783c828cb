// Browser end-to-end tests of the view inside the model (issue 26): a run's head scores appear from
// its first evaluation and move as it trains; a click on a head silences it in the worker and shows
// the accuracy with and without it; the attention view marks each answer token's source and its heads
// silence too; the lesson "What changed inside?" reveals each run's heads and silences one; axe finds
// nothing serious in the view.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const server = h.servePerFile();
const withPage = server.withPage;

/** The heads grid's numbers, as shown. */
const gridValues = (page) => page.locator('#heads-grid button.head').allTextContents();

test('head scores move from the first evaluation; a click on a head silences it and shows what the model loses', async () => {
  const run = h.TINY.replace('layers=1', 'layers=2').replace('steps=40', 'steps=400').replace('eval_every=20', 'eval_every=40');
  await withPage(`${run}&run=1&backend=cpu`, async (page) => {
    await page.waitForSelector('#heads-grid button.head', { timeout: 60_000 });
    const first = await gridValues(page);
    assert.equal(first.length, 2 * 2, first.join(' | '));
    assert.ok(first.every((v) => /^(\d\.\d\d|–)$/.test(v)), first.join(' | '));
    // Live: the grid follows the run's evaluations while it trains.
    await h.waitFor(page, 'the head scores to move', (shown) => {
      const now = [...document.querySelectorAll('#heads-grid button.head')].map((b) => b.textContent).join('|');
      return now !== shown;
    }, first.join('|'), 90_000);
    const chart = await page.locator('#inside-chart').textContent();
    assert.ok(/unseen/.test(chart) && /L\d H\d/.test(chart), chart.slice(0, 300));
    await h.waitFor(page, 'the run to finish', () => /finished/i.test(document.querySelector('#status')?.textContent ?? ''), null, 120_000);

    // A click on a head: the worker evaluates the model with it silenced.
    const started = Date.now();
    await page.click('#head-1-0');
    await page.waitForSelector('#ablation-result', { timeout: 30_000 });
    const seconds = (Date.now() - started) / 1000;
    console.log(`ablation answered in ${seconds.toFixed(2)} s (tiny model, CPU fallback)`);
    assert.equal(await page.getAttribute('#head-1-0', 'aria-pressed'), 'true');
    const whole = await page.locator('#ablation-whole').textContent();
    const silenced = await page.locator('#ablation-silenced').textContent();
    assert.match(whole, /^every head\d+%\d+%$/, whole);
    assert.match(silenced, /^L2 H1 silenced\d+%\d+%$/, silenced);
    assert.match(await page.locator('#ablation-lost').textContent(), /changes by ([+-]\d+|0) points on seen rules and ([+-]\d+|0) on unseen rules \(natively: idp ablate --heads 1\.0,/);

    // The embedding: a frame per evaluation, and the slider moves through them.
    const frames = Number(await page.getAttribute('#embedding-frame', 'max'));
    assert.ok(frames >= 5, `${frames}`);
    await page.fill('#embedding-frame', '0');
    await page.dispatchEvent('#embedding-frame', 'input');
    await h.waitFor(page, 'the first frame', () => /at step 40,/.test(document.querySelector('#embedding figcaption')?.textContent ?? ''), null, 5000);
    await h.assertAccessible(page, 'inside the model, after an ablation');

    // The attention view: each answer token's source is outlined, and its heads silence too.
    await page.fill('#try-x', 'ab');
    await page.fill('#try-y', 'c');
    await page.fill('#try-z', 'dabba');
    await page.click('#try-ask');
    await page.waitForSelector('#attention', { timeout: 30_000 });
    // "dcba": every letter has a source, in every head's table (2 layers x 2 heads).
    assert.equal(await page.locator('#attention td.source').count(), 4 * 4);
    await page.click('#attention-head-0-1');
    await h.waitFor(page, 'the ablation of L1 H2', () => /^L1 H2 silenced/.test(document.querySelector('#ablation-silenced')?.textContent ?? ''), null, 30_000);
    await h.assertAccessible(page, 'the attention view with its sources');
  });
});

test('the lesson "What changed inside?" reveals each run\'s heads and silences one', async () => {
  // The lesson as a reader runs it (two runs of 1,000 steps, in two workers: about three minutes on
  // the CPU fallback); the reveal and the ablation are what this checks, not the finding
  // (tests/integration/lesson.rs checks that).
  await withPage('lesson=what-changed-inside&backend=cpu', async (page) => {
    await page.waitForSelector('#lesson-choice-1');
    await page.check('#lesson-choice-1');
    await page.click('#run-lesson');
    await page.waitForSelector('#lesson-reveal', { timeout: 480_000 });
    const rows = await page.locator('#inside-reveal tbody tr').allTextContents();
    assert.equal(rows.length, 2, rows.join(' | '));
    assert.match(rows[0], /^16\d+%L\d H\d \(\d\.\d\d\)/, rows[0]);
    assert.match(rows[1], /^1024\d+%L\d H\d \(\d\.\d\d\)/, rows[1]);
    const started = Date.now();
    await page.click('#silence-1024');
    await h.waitFor(page, 'the ablation in the reveal', () => /unseen \d+% → \d+%/.test(document.querySelector('#inside-reveal-1024')?.textContent ?? ''), null, 30_000);
    console.log(`ablation of the lesson's model answered in ${((Date.now() - started) / 1000).toFixed(2)} s (CPU fallback)`);
    // The view inside the model shows the same run and head.
    assert.match(await page.locator('#ablation-silenced').textContent(), /silenced/);
    await h.assertAccessible(page, 'the inside lesson revealed');
  });
});

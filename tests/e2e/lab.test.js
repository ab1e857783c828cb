// Browser end-to-end tests of the emergence views (issue 4): a tiny sweep over I fills the curve and the
// phase diagram run by run; a cell opens its run in the instruction inspector; a rule shows its inputs and
// answers across evaluations; a typed rule gets the model's answer and attention; runs compare; a lesson
// asks for a prediction before it runs.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const server = h.servePerFile();
const withPage = server.withPage;

/** Records, from now on, every distinct value of `count()` in `window.__counts[name]`. */
async function recordCounts(page, name, selector) {
  await page.evaluate(({ name, selector }) => {
    window.__counts = window.__counts || {};
    const seen = (window.__counts[name] = []);
    const read = () => {
      const n = document.querySelectorAll(selector).length;
      if (seen[seen.length - 1] !== n) seen.push(n);
    };
    read();
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, attributes: true });
  }, { name, selector });
}

const counts = (page, name) => page.evaluate((name) => window.__counts[name], name);

test('a sweep over I fills the curve and the heatmap run by run; a cell opens the inspector; a typed rule is answered', async () => {
  await withPage(`${h.TINY}&backend=cpu`, async (page) => {
    await page.fill('#sweep-values', '4, 8, 16');
    await page.dispatchEvent('#sweep-values', 'change');
    await recordCounts(page, 'markers', '#sweep-curve circle.marker');
    await recordCounts(page, 'cells', '#heatmap button.cell.filled');
    await page.click('#start-sweep');
    await h.waitFor(page, 'a run in progress in the queue', () => document.querySelectorAll('#sweep-queue li.running').length === 1, null, 60_000);
    await h.waitFor(page, 'the sweep to finish', () => document.querySelector('#sweep-status')?.textContent === 'done', null, 240_000);

    // One heatmap cell and one dot per curve (unseen and seen rules) for each finished run, in turn:
    // the views grow while the sweep runs, not all at its end. (Two runs may land in one redraw
    // when the machine is busy: a CI run once saw 0, 1, 3.)
    const inTurn = (seen, step, runs) => {
      assert.equal(seen[0], 0, `${seen}`);
      assert.equal(seen[seen.length - 1], step * runs, `${seen}`);
      assert.ok(seen.every((n, i) => i === 0 || n > seen[i - 1]), `not growing: ${seen}`);
      assert.ok(seen.every((n) => n % step === 0), `a run drawn in part: ${seen}`);
      assert.ok(seen.length >= 3, `all at once: ${seen}`);
    };
    inTurn(await counts(page, 'cells'), 1, 3);
    inTurn(await counts(page, 'markers'), 2, 3);
    assert.equal(await page.locator('#sweep-queue li.done').count(), 3);
    // Each cell, and each point of the curve, says what its run learned.
    const verdict = /^(not learned yet|memorized|generalized)$/;
    const cells = await page.locator('#heatmap button.cell.filled').allTextContents();
    assert.ok(cells.every((t) => /^\d+%(not learned yet|memorized|generalized)$/.test(t)), cells.join(' | '));
    const classes = await page.locator('#heatmap button.cell.filled').evaluateAll((cs) => cs.map((c) => c.className));
    assert.ok(classes.every((c) => /\b(not-learned|memorized|generalized)\b/.test(c)), classes.join(' | '));
    const notes = await page.locator('#sweep-curve text.note').allTextContents();
    assert.equal(notes.length, 3, notes.join(' | '));
    assert.ok(notes.every((n) => verdict.test(n)), notes.join(' | '));

    // The keyboard reads the curve: End focuses its last point (I = 16), Home its first.
    await page.focus('#sweep-curve');
    await page.keyboard.press('End');
    assert.match(await h.text(page, '#sweep-curve .readout'), /^instructions 16: unseen rules \d.*, seen rules \d/);
    await page.keyboard.press('Home');
    assert.match(await h.text(page, '#sweep-curve .readout'), /^instructions 4: /);
    await page.keyboard.press('Escape');
    assert.equal(await page.locator('#sweep-curve .readout').count(), 0);

    // A cell opens its run: the inspector lists its rules.
    await page.click('#heatmap button.cell.filled[data-column="1"]');
    await h.waitFor(page, 'the inspector to show the I = 8 run', () => document.querySelector('#inspected-name')?.textContent.startsWith('instructions 8'), null, 5000);
    const rules = page.locator('#rule-table tbody tr');
    // 8 training rules (those drawn into the seen split) and up to 6 held-out rules.
    assert.ok(await rules.count() >= 6, `rules: ${await rules.count()}`);
    const groups = await page.locator('#rule-table tbody tr td:first-child').allTextContents();
    assert.ok(groups.includes('training') && groups.includes('held out'), groups.join(','));

    // Sorting by accuracy, then again to flip the order, puts the best rules first.
    await page.click('#sort-rule');
    await page.click('#sort-accuracy');
    assert.match(await h.text(page, '#sort-accuracy'), /▲/);
    await page.click('#sort-accuracy');
    assert.match(await h.text(page, '#sort-accuracy'), /▼/);
    const accuracies = (await page.locator('#rule-table tbody tr td:nth-child(4)').allTextContents()).map((t) => parseFloat(t));
    assert.deepEqual(accuracies, [...accuracies].sort((a, b) => b - a));

    // A rule opens with its inputs and the answers of both evaluations (steps 20 and 40).
    await page.locator('#rule-table .open-rule').first().click();
    await page.waitForSelector('#rule-detail tbody tr');
    const history = await page.locator('#rule-detail tbody tr').first().locator('td.history span').allTextContents();
    assert.equal(history.length, 2, history.join(' '));
    assert.ok(history[0].startsWith('20:') && history[1].startsWith('40:'), history.join(' '));

    // Only failures: every rule left has an accuracy below 100%.
    await page.check('#failures-only');
    const failing = (await page.locator('#rule-table tbody tr td:nth-child(4)').allTextContents()).map((t) => parseFloat(t));
    assert.ok(failing.every((a) => a < 100), failing.join(','));
    await page.uncheck('#failures-only');

    // Try your own: a rule in this run's alphabet (a-f) gets the model's answer and its attention.
    await page.fill('#try-x', 'ab');
    await page.fill('#try-y', 'c');
    await page.fill('#try-z', 'dabba');
    await page.click('#try-ask');
    await page.waitForSelector('#try-answer', { timeout: 30_000 });
    assert.equal(await h.text(page, '#try-expected'), 'dcba');
    assert.match(await h.text(page, '#try-verdict'), /right|wrong/);
    // One layer of two heads in this run.
    assert.equal(await page.locator('#attention table.attention-head').count(), 2);
    assert.ok(await page.locator('#attention th.x-match').count() >= 2, 'the occurrence of x is marked');
    // The form says whose model answers.
    assert.match(await h.text(page, '#try p.muted'), /^Questions go to the model of (instructions \d+|the last run \(\d+ rules\))\. /);
    // Letters outside the alphabet are refused with every field named at once, and nothing is sent.
    await page.fill('#try-x', 'az');
    await page.fill('#try-z', 'abzz');
    await page.click('#try-ask');
    await h.waitFor(page, 'the refusal', () => document.querySelector('#try-error')?.textContent.startsWith('x:'), null, 5000);
    assert.equal(await h.text(page, '#try-error'),
      'x: “z” is not a letter of this run\'s alphabet (a to f); z: “z” is not a letter of this run\'s alphabet (a to f)');

    // The rule detail's Attention button asks about one of the run's own inputs.
    await page.locator('#rule-detail button.attend').first().click();
    await page.waitForSelector('#try-answer', { timeout: 30_000 });

    // Two runs compared: overlaid curves and the settings that differ.
    await page.locator('#runs-table .compare-pick').nth(0).check();
    await page.locator('#runs-table .compare-pick').nth(2).check();
    await page.waitForSelector('#compare-table');
    const differing = await page.locator('#compare-table tbody tr td:first-child').allTextContents();
    assert.deepEqual(differing, ['task.instructions']);
    assert.equal(await page.locator('#compare-accuracy polyline').count(), 2);
  });
});

test('a sweep with bad values is refused with a message; a lesson waits for a prediction and opens from a link', async () => {
  await withPage(`${h.TINY}&backend=cpu`, async (page) => {
    await page.fill('#sweep-values', '4, many');
    await page.dispatchEvent('#sweep-values', 'change');
    await page.click('#start-sweep');
    assert.match(await h.text(page, '#sweep-error'), /`many` is not a whole number/);
    assert.equal(await h.text(page, '#status'), 'idle');
    // Workers and stack sizes out of range are refused with the field named, keeping the value in use.
    const workers = await page.inputValue('#sweep-workers');
    await h.set(page, 'sweep-workers', 1000);
    assert.equal(await h.text(page, '#sweep-error'), `Workers: \`1000\` is not a whole number from 1 to 16; kept ${workers}`);
    assert.equal(await page.inputValue('#sweep-workers'), workers);
    await h.set(page, 'sweep-stack', 9);
    assert.equal(await h.text(page, '#sweep-error'), 'Stacked on WebGPU: `9` is not a whole number from 1 to 8; kept 8');
    await h.set(page, 'sweep-stack', 3);
    assert.equal(await page.locator('#sweep-error').count(), 0);
    assert.equal(await page.inputValue('#sweep-stack'), '3');

    // The primary action opens the phase transition at the top, its prediction first.
    await page.click('#primary');
    await page.waitForSelector('#lesson');
    assert.match(await h.text(page, '#lesson h2'), /phase transition/i);
    assert.equal(await page.locator('#primary').count(), 0);
    assert.ok(await page.isDisabled('#run-lesson'), 'no prediction yet');
    // The lesson's settings load into the controls.
    assert.equal(await page.inputValue('#task-instructions'), '1024');
    await page.check('#lesson-choice-1');
    assert.ok(await page.isEnabled('#run-lesson'));
    assert.match(await h.text(page, '#run-lesson'), /5 runs of 1000 steps/);
    // The address bar names the lesson: a teacher's link opens it.
    await h.waitFor(page, 'the lesson in the address', () => location.hash.includes('&lesson=phase-transition'), null, 5000);
    // Running, the card says how far the lesson is and stops it (the sweep panel may be far below,
    // or hidden by a student link).
    await page.click('#run-lesson');
    await h.waitFor(page, 'the lesson\'s progress in its card', () => /Training: 0 of 5 runs done/.test(document.querySelector('#lesson-progress')?.textContent ?? ''), null, 10_000);
    await page.click('#stop-lesson');
    await h.waitFor(page, 'the lesson to stop', () => document.querySelector('#lesson-progress') === null, null, 10_000);
    assert.equal(await h.text(page, '#sweep-status'), 'cancelled');
    assert.ok(await page.isEnabled('#run-lesson'), 'the lesson can run again');
  });
  await withPage('lesson=no-ops&hide=settings', async (page) => {
    await page.waitForSelector('#lesson');
    assert.match(await h.text(page, '#lesson h2'), /no-op/i);
    assert.ok(await page.isDisabled('#lesson-card-no-ops'), 'the open lesson\'s card opens it again');
    // Another card opens its lesson in the same place.
    await page.click('#lesson-card-skew');
    await h.waitFor(page, 'the skew lesson', () => /skew/i.test(document.querySelector('#lesson h2')?.textContent ?? ''), null, 5000);
    assert.ok(await page.isEnabled('#lesson-card-no-ops'));
    assert.ok(await page.isDisabled('#run-lesson'));
    assert.equal(await page.locator('#task-instructions').count(), 0, 'settings hidden');
  });
});

test('the primary lesson runs whole on the page\'s defaults: the curve stays in view, a reload keeps the prediction, the reveal shows the transition', async () => {
  // No link: what a newcomer gets (here the CPU fallback, in as many workers as cores).
  await withPage('', async (page) => {
    await page.click('#primary');
    await page.waitForSelector('#lesson');
    // The settings summary names the lesson whose settings the form holds, not "Custom".
    assert.match(await h.text(page, '#settings-synopsis'), /Lesson: The phase transition · 1024 rules · 1000 steps/);
    await page.check('#lesson-choice-2');
    await page.click('#run-lesson');
    // Past the first run's first checkpoint, reload: the lesson comes back with its prediction.
    await h.waitFor(page, 'a run past its first evaluation', () => Number(document.querySelector('#checkpoint-step')?.textContent) >= 80, null, 60_000);
    await page.reload();
    await page.waitForSelector('#lesson');
    await h.waitFor(page, 'the lesson to go on', () => document.querySelector('#sweep-status')?.textContent === 'running', null, 30_000);
    assert.ok(await page.isChecked('#lesson-choice-2'), 'the prediction is kept');
    await page.waitForSelector('#lesson-reveal', { timeout: 300_000 });
    assert.equal(await h.text(page, '#sweep-status'), 'done');
    assert.match(await h.text(page, '#lesson-reveal'), /You predicted/);
    // The curve the runs filled is on screen with the reveal (the lesson opened without a jump).
    const curve = await page.locator('#sweep-curve').boundingBox();
    const viewport = page.viewportSize();
    assert.ok(curve && curve.y + curve.height > 0 && curve.y < viewport.height, `the curve at ${JSON.stringify(curve)} in ${JSON.stringify(viewport)}`);
    // The ladder: at most 0.15 unseen-rule accuracy at 4 rules, at least 0.75 at 1,024, in order.
    const rows = await page.locator('#runs-table tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
    const headers = await page.locator('#runs-table thead th').evaluateAll((ths) => ths.map((th) => th.textContent.trim().toLowerCase()));
    const [rulesAt, unseenAt] = [headers.findIndex((x) => x.startsWith('run')), headers.findIndex((x) => x.startsWith('unseen'))];
    const ladder = rows.map((r) => [Number((r[rulesAt].match(/\d+/g) || []).pop()), parseFloat(r[unseenAt]) / 100])
      .sort((a, b) => a[0] - b[0]);
    assert.deepEqual(ladder.map(([rules]) => rules), [4, 16, 64, 256, 1024]);
    assert.ok(ladder[0][1] <= 0.15 && ladder[4][1] >= 0.75, JSON.stringify(ladder));
    assert.ok(ladder.every(([, u], i) => i === 0 || u >= ladder[i - 1][1]), JSON.stringify(ladder));
  });
});

test('a question asked while the run trains is answered by the model in training, and training goes on', async () => {
  const longer = h.TINY.replace('steps=40', 'steps=600').replace('eval_every=20', 'eval_every=100');
  await withPage(`${longer}&backend=cpu&run=1`, async (page) => {
    await h.waitForSteps(page, 120, 60_000);
    await page.fill('#try-x', 'a');
    await page.fill('#try-y', 'bb');
    await page.fill('#try-z', 'cadd');
    await page.click('#try-ask');
    await page.waitForSelector('#try-answer', { timeout: 30_000 });
    assert.equal(await h.text(page, '#try-expected'), 'cbbdd');
    await h.waitForStatus(page, 'finished', 120_000);
    assert.equal(await h.steps(page), 600);
  });
});

test('a link made by the page starts its sweep when opened', async () => {
  let shared;
  await withPage(`${h.TINY}&backend=cpu`, async (page) => {
    await page.fill('#sweep-values', '4 8');
    await page.dispatchEvent('#sweep-values', 'change');
    await page.fill('#sweep-seeds', '2');
    await page.dispatchEvent('#sweep-seeds', 'change');
    await page.selectOption('#link-starts', 'sweep');
    await page.click('#copy-link');
    shared = await page.inputValue('#share-link');
  });
  assert.ok(shared.includes('&sweep=instructions:4,8&seeds=2&run=1'), shared);
  await withPage(shared.split('#')[1], async (page) => {
    await h.waitFor(page, 'the sweep to finish', () => document.querySelector('#sweep-status')?.textContent === 'done', null, 120_000);
    assert.equal(await page.locator('#sweep-queue li.done').count(), 4);
    assert.equal(await page.inputValue('#sweep-values'), '4,8');
    // Two seeds per point: one band per curve in the sweep chart.
    assert.equal(await page.locator('#sweep-curve polygon.band').count(), 2);
  });
});

test('a sweep trains in several workers at once, each run filed where it belongs; cancel stops them all', async () => {
  // Runs long enough (several seconds each) that two overlap for a while.
  await withPage(`${h.TINY.replace('&steps=40&', '&steps=1000&')}&backend=cpu`, async (page) => {
    // This machine's default (cores - 1) may be one worker: ask for two, the moment the page
    // shows its controls (an edit that start-up once overwrote, and these runs with it).
    await page.fill('#sweep-workers', '2');
    await page.dispatchEvent('#sweep-workers', 'change');
    await page.fill('#sweep-values', '4, 8, 16');
    await page.dispatchEvent('#sweep-values', 'change');
    await recordCounts(page, 'running', '#sweep-queue li.running');
    // Counts the moments the sweep runs with "Start one run" open (it was, while a helper trained
    // the sweep's last run and the page's own worker was idle; a click cancelled the sweep).
    await page.evaluate(() => {
      window.__startOpen = 0;
      new MutationObserver(() => {
        if (document.querySelector('#sweep-status')?.textContent === 'running' && !document.querySelector('#start').disabled) window.__startOpen++;
      }).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    });
    await page.click('#start-sweep');
    await h.waitFor(page, 'two runs in progress at once', () => document.querySelectorAll('#sweep-queue li.running').length === 2, null, 90_000);
    const queue = await page.locator('#sweep-queue li').allTextContents();
    assert.ok(queue.some((t) => /running in worker 1/.test(t)) && queue.some((t) => /running in worker 2, step \d+/.test(t)), queue.join(' | '));
    await h.waitFor(page, 'the sweep to finish', () => document.querySelector('#sweep-status')?.textContent === 'done', null, 240_000);
    assert.equal(await page.locator('#sweep-queue li.done').count(), 3);
    assert.equal(await page.locator('#heatmap button.cell.filled').count(), 3);
    // Each finished run is in the library under its own point, whichever worker trained it.
    const labels = await page.locator('#heatmap button.cell.filled').evaluateAll((cs) => cs.map((c) => c.dataset.column).sort());
    assert.deepEqual(labels, ['0', '1', '2']);
    assert.ok((await counts(page, 'running')).includes(2), 'two workers trained at once');
    assert.equal(await page.evaluate(() => window.__startOpen), 0, '"Start one run" was open while the sweep ran');
    // Every run's model answers a typed rule, whichever worker trained (and keeps) it; the inspector
    // shows each run's evaluations.
    for (const column of ['0', '1', '2']) {
      await page.click(`#heatmap button.cell.filled[data-column="${column}"]`);
      assert.ok(await page.locator('#rule-table tbody tr').count() > 0, `run ${column}'s rules`);
      await page.fill('#try-x', 'ab');
      await page.fill('#try-y', 'c');
      await page.fill('#try-z', 'dabba');
      await page.click('#try-ask');
      await page.waitForSelector('#try-answer', { timeout: 30_000 });
      assert.equal(await h.text(page, '#try-expected'), 'dcba', `run ${column}`);
    }

    // A second sweep, cancelled while both workers train: nothing keeps running.
    await page.fill('#sweep-values', '4, 8, 16, 32');
    await page.dispatchEvent('#sweep-values', 'change');
    await page.click('#start-sweep');
    await h.waitFor(page, 'two runs in progress again', () => document.querySelectorAll('#sweep-queue li.running').length === 2, null, 90_000);
    await page.click('#cancel-sweep');
    assert.equal(await h.text(page, '#sweep-status'), 'cancelled');
    assert.equal(await page.locator('#sweep-queue li.running').count(), 0);
    assert.equal(await page.locator('#start-sweep').isDisabled(), false);
  });
});

test('what a person types stays while the page redraws around it: during a run, and as the page opens', async () => {
  // Typed one key at a time while a sweep trains (its progress redraws the sweep builder), then
  // committed by leaving the field: a redraw between keys must not put the old value back.
  const long = h.TINY.replace('steps=40', 'steps=100000').replace('eval_every=20', 'eval_every=500');
  await withPage(`${long}&backend=cpu&sweep=instructions:4,8&run=1`, async (page) => {
    await h.waitForSteps(page, 20, 60_000);
    const typeInto = async (id, text) => {
      await h.reveal(page, `#${id}`);
      await page.click(`#${id}`, { clickCount: 3 });
      await page.keyboard.press('Control+A');
      await page.keyboard.type(text, { delay: 60 });
      assert.equal(await page.inputValue(`#${id}`), text, `#${id} while typing`);
      await page.keyboard.press('Tab');
    };
    await typeInto('sweep-values', '4, 16, 64');
    await typeInto('sweep-seeds', '3');
    await typeInto('teach-hide', 'model, charts');
    const before = await h.steps(page);
    await h.waitForSteps(page, before + 20, 60_000);
    // Committed: later redraws show the new values.
    assert.equal(await page.inputValue('#sweep-values'), '4, 16, 64');
    assert.equal(await page.inputValue('#sweep-seeds'), '3');
    assert.equal(await page.inputValue('#teach-hide'), 'model, charts');
    assert.equal(await h.status(page), 'running');
    assert.equal(await h.text(page, '#sweep-status'), 'running');
  });
  // Edits made the moment the page shows its controls outlast what the page does as it opens
  // (opening the link, the number of workers from the machine's cores, reading storage).
  await withPage(`${h.TINY}&backend=cpu`, async (page) => {
    await h.setAll(page, { 'sweep-workers': 2, 'sweep-seeds': 2, 'model-width': 24 });
    await page.fill('#sweep-values', '4 8');
    await page.dispatchEvent('#sweep-values', 'change');
    await page.waitForTimeout(1500);
    assert.equal(await page.inputValue('#sweep-workers'), '2');
    assert.equal(await page.inputValue('#sweep-seeds'), '2');
    assert.equal(await page.inputValue('#sweep-values'), '4 8');
    assert.equal(await page.inputValue('#model-width'), '24');
    assert.match(await page.evaluate(() => location.hash), /width=24/);
    // Text typed but not committed when a link opens (the address bar's fragment changed) is
    // dropped, even where the link leaves that field's value as it was; leaving the field then
    // commits nothing.
    const width = await page.inputValue('#model-width');
    await page.click('#model-width');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('48');
    await page.evaluate((hash) => { location.hash = hash; }, `${h.TINY.replace('width=16', `width=${width}`).replace('steps=40', 'steps=80')}&backend=cpu`);
    await h.waitFor(page, 'the link to open', () => document.querySelector('#train-steps')?.value === '80', null, 10_000);
    assert.equal(await page.inputValue('#model-width'), width);
    await page.keyboard.press('Tab');
    await page.waitForTimeout(300);
    assert.equal(await page.inputValue('#model-width'), width);
    assert.match(await page.evaluate(() => location.hash), new RegExp(`width=${width}&`));
    // Text typed but not committed when a run starts without leaving the field (a script's click
    // here; a link or a lesson elsewhere): the disabled field shows the value the run uses.
    await page.click('#model-width');
    await page.keyboard.press('Control+A');
    await page.keyboard.type('40');
    await page.evaluate(() => document.querySelector('#start').click());
    await h.waitForStatus(page, 'running', 30_000);
    assert.ok(await page.isDisabled('#model-width'));
    assert.equal(await page.inputValue('#model-width'), width);
  });
});

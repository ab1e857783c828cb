// Browser end-to-end tests of rule programs (issue 28): a link sets a task of programs; the worked
// example shows each program, its steps with the rule that fired and the occurrence it rewrote,
// and the answer; a run of programs trains in the worker and reports the composition split in its
// curve and in the inspector; try-your-own takes a program; the lesson "From one instruction to a
// program" opens on its question; axe finds nothing serious.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const server = h.servePerFile();
const withPage = server.withPage;

/** TINY with programs of two rules, a step-by-step answer, and room for the longer sequences. */
const PROGRAMS = h.TINY.replace('steps=40', 'steps=120').replace('eval_every=20', 'eval_every=40')
  + '&k=2&prog=sequence&answer=trace';

test('a task of programs: the worked example traces each step, a run reports composed programs, try-your-own takes a program', async () => {
  await withPage(`${PROGRAMS}&run=1&backend=cpu`, async (page) => {
    assert.match(await page.locator('#task-sentence').textContent(), /a program of 2 rules applied once each, in order/);
    assert.equal(await page.inputValue('#task-program-rules'), '2');
    // Each card: two numbered rules, a step per rewrite naming its rule, the occurrence marked.
    const cards = page.locator('#worked-example .case.program');
    assert.equal(await cards.count(), 2);
    for (let i = 0; i < 2; i++) {
      const card = cards.nth(i);
      assert.equal(await card.locator('ol.program-rules li').count(), 2);
      const steps = await card.locator('ul.trace li').allTextContents();
      assert.ok(steps.length >= 1 && steps.length <= 2, steps.join(' | '));
      steps.forEach((s, i) => assert.match(s, new RegExp(`^step ${i + 1}, rule [12]: [a-f]+ → [a-f]*$`), steps.join(' | ')));
      assert.equal(await card.locator('ul.trace li mark').count(), steps.length);
      // The trace the model is asked to write: each step's string, the last one the answer.
      const writes = (await card.locator('p.writes .mono').textContent()).split(',');
      assert.equal(writes.length, 2, 'a sequence of two rules writes two strings');
      assert.equal(writes[1], await card.locator('p.answer-line .mono').textContent());
      for (const s of steps) assert.ok(writes.includes(s.split(' → ')[1]), `${s} in ${writes}`);
    }
    await h.assertAccessible(page, 'the worked example of a program');

    await h.waitFor(page, 'the run to finish', () => /finished/i.test(document.querySelector('#status')?.textContent ?? ''), null, 180_000);
    assert.match(await page.locator('#accuracy-chart').textContent(), /composed/);
    assert.match(await page.locator('#accuracy').textContent(), /composed \d+\.\d%/);
    const sets = await page.locator('#inspector').textContent();
    assert.match(sets, /unseen programs of seen rules/, sets.slice(0, 400));

    // Try your own: a program, checked rule by rule, then answered by the run's model.
    await page.fill('#try-program', 'ab -> c; c -> d; a -> b');
    await page.fill('#try-z', 'dabba');
    await page.click('#try-ask');
    await page.waitForSelector('#try-error');
    assert.match(await page.locator('#try-error').textContent(), /2 rules, got 3/);
    await page.fill('#try-program', 'ab -> c; c -> d');
    await page.click('#try-ask');
    await page.waitForSelector('#try-answer', { timeout: 30_000 });
    // A trace: the string after each rule, then (the last) the answer.
    assert.equal(await page.locator('#try-expected').textContent(), 'dcba,ddba');
    assert.match(await page.locator('#try-answer').textContent(), /programab -> c; c -> d/);
    await h.assertAccessible(page, 'a program asked of the model');
    // A phone's width: the finished run's charts, tables and the trace asked about never widen the page.
    await page.setViewportSize({ width: 390, height: 900 });
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), 390);
  });
});

test('the lesson "From one instruction to a program" opens on its question with programs in the settings', async () => {
  // Opened from the lessons' cards, as a reader does: its settings replace the form's.
  await withPage('backend=cpu', async (page) => {
    await page.click('#lesson-card-programs');
    await page.waitForSelector('#lesson-choice-1');
    assert.equal(await page.locator('[id^="lesson-choice-"]').count(), 4);
    assert.match(await page.locator('#task-sentence').textContent(), /program of 2 rules/);
    assert.equal(await page.inputValue('#task-program-rules'), '2');
    await h.assertAccessible(page, 'the programs lesson');
  });
});

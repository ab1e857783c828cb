// The page opens on the experiment (issue 14): at a laptop's and a phone's size, the first screen
// holds the task shown on two rules, the primary action and the place of its curve, with nothing
// sideways; the primary action, its prediction answered, shows seen- and unseen-rule accuracy within
// seconds on the CPU fallback; a run ends labelled by what it learned. Screenshots of each first view
// go to $IDP_SCREENSHOTS (default: a folder under the system's temporary folder).
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const { withPage } = h.servePerFile();
const SHOTS = process.env.IDP_SCREENSHOTS || path.join(os.tmpdir(), 'idp-screenshots');
const VERDICT = /^(not learned yet|memorized|generalized)$/;

/** Where each element is against the viewport, and whether the page scrolls sideways. */
function layout(page, selectors) {
  return page.evaluate((selectors) => {
    const inside = {};
    for (const s of selectors) {
      const element = document.querySelector(s);
      if (!element) {
        inside[s] = 'missing';
        continue;
      }
      const r = element.getBoundingClientRect();
      const fits = r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth && r.height > 0;
      inside[s] = fits ? 'inside' : `outside (${r.left.toFixed(0)},${r.top.toFixed(0)} to ${r.right.toFixed(0)},${r.bottom.toFixed(0)} in ${innerWidth}x${innerHeight})`;
    }
    const root = document.documentElement;
    // Which elements stick out on the right, for the failure message.
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => e.getBoundingClientRect().right > root.clientWidth + 1)
      .slice(0, 5)
      .map((e) => `${e.tagName.toLowerCase()}${e.id ? `#${e.id}` : ''}.${e.className}`);
    return { inside, sideways: root.scrollWidth - root.clientWidth, wide };
  }, selectors);
}

for (const [width, height] of [[1280, 900], [390, 844]]) {
  test(`at ${width}x${height} the first view holds the worked example, the primary button and the curve's place; nothing overflows`, async () => {
    await withPage('', async (page) => {
      await page.setViewportSize({ width, height });
      // Loaded again, every request answered: no missing file (a favicon, say) logs a 404.
      const failed = [];
      page.on('response', (r) => { if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`); });
      await page.reload();
      await page.waitForSelector('#worked-example .case');
      assert.deepEqual(failed, []);
      const { inside, sideways, wide } = await layout(page, ['#worked-example', '#primary', '#sweep-curve']);
      assert.deepEqual(inside, { '#worked-example': 'inside', '#primary': 'inside', '#sweep-curve': 'inside' });
      assert.equal(sideways, 0, `the page scrolls sideways by ${sideways} px: ${wide.join(', ')}`);
      // The worked example: a seen and a held-out rule, each input's leftmost x marked.
      const cases = page.locator('#worked-example .case');
      assert.equal(await cases.count(), 2);
      assert.deepEqual(await page.locator('#worked-example .case h2').allTextContents(), ['trained on', 'never seen']);
      for (let i = 0; i < 2; i += 1) {
        const rule = (await cases.nth(i).locator('.rule').textContent()).split(' → ');
        assert.equal(await cases.nth(i).locator('mark').textContent(), rule[0]);
      }
      // The task is defined in one sentence, on a phone too.
      assert.ok(await page.getByText(/^An instruction is a rule x → y: write the input with the leftmost x replaced by y/).isVisible());
      // Another draw shows other rules.
      const before = await h.text(page, '#worked-example');
      await page.click('#redraw-example');
      await h.waitFor(page, 'another example', (b) => document.querySelector('#worked-example').textContent !== b, before, 5000);
      // The idle counter names the configured steps, and Start says what it starts.
      assert.match(await h.text(page, '.numbers'), /step 0 \/ 4000/);
      assert.match(await h.text(page, '#start'), /^Start one run \(1024 rules, 4000 steps\)$/);
      // The settings wait in a drawer, one click away.
      assert.equal(await page.locator('#task-instructions').isVisible(), false);
      await h.assertAccessible(page, `first view at ${width}x${height}`);
      fs.mkdirSync(SHOTS, { recursive: true });
      await page.screenshot({ path: path.join(SHOTS, `first-view-${width}.png`) });
      await page.click('#settings-drawer > summary');
      assert.equal(await page.locator('#task-instructions').isVisible(), true);
      const open = await layout(page, []);
      assert.equal(open.sideways, 0, `the open drawer scrolls sideways: ${open.wide.join(', ')}`);
    });
  });
}

test('the primary action, its prediction answered, shows seen- and unseen-rule accuracy within 20 s on the CPU fallback', async () => {
  await withPage('backend=cpu', async (page) => {
    await page.click('#primary');
    assert.ok(await page.isDisabled('#run-lesson'), 'the lesson runs before a prediction');
    await page.check('#lesson-choice-0');
    const started = Date.now();
    await page.click('#run-lesson');
    await h.waitFor(page, 'a first evaluation', () => !!document.querySelector('#accuracy'), null, 20_000);
    const seconds = (Date.now() - started) / 1000;
    console.log(`first evaluation ${seconds.toFixed(1)} s after the click`);
    assert.match(await h.text(page, '#accuracy'), /seen rules \d+\.\d% · unseen rules \d+\.\d%/);
    // The run's own accuracy curve sits beside the place of the lesson's curve, titled with its rules.
    await page.waitForSelector('#live-accuracy svg');
    assert.match(await page.getAttribute('#live-accuracy', 'aria-label'), /^This run: 4 rules/);
    assert.match(await h.text(page, '#verdict'), VERDICT);
    assert.match(await h.text(page, '.verdict-line'), /^So far: /);
    // The pointer reads the live chart.
    const box = await page.locator('#live-accuracy').boundingBox();
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2);
    assert.match(await h.text(page, '#live-accuracy .readout'), /^step \d+: seen rules [\d.]+, unseen rules [\d.]+/);
  });
});

test('a run ends labelled by what it learned', async () => {
  await withPage(`${h.TINY}&backend=cpu&run=1`, async (page) => {
    await h.waitForStatus(page, 'finished', 120_000);
    assert.match(await h.text(page, '.verdict-line'), /^This run: (not learned yet|memorized|generalized)$/);
    const verdict = page.locator('#verdict');
    assert.match(await verdict.textContent(), VERDICT);
    assert.match(await verdict.getAttribute('class'), /\bverdict (not-learned|memorized|generalized)\b/);
    // Its label agrees with its accuracies and the thresholds (study::verdict: 50%).
    const [seen, unseen] = (await h.text(page, '#accuracy')).match(/[\d.]+(?=%)/g).map(Number);
    const expected = unseen >= 50 ? 'generalized' : seen >= 50 ? 'memorized' : 'not learned yet';
    assert.equal(await verdict.textContent(), expected, `seen ${seen}%, unseen ${unseen}%`);
  });
});

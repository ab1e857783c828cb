// Runs one lesson in the built page, on the CPU fallback in headless Chromium, as a reader would: open
// it, predict, press run, wait for every run. Prints each run's final accuracies and wall time, and the
// page's own time per run. Usage: `node tests/e2e/lesson-run.js [lesson-id] [screenshot-folder]` after
// `trunk build --release` (a lesson of 5 runs of 1,000 steps at its small settings takes about a minute on a 2-core
// machine). With a folder, it also saves the finished lesson's top of page and whole page at
// 1280x900 and at 390x844 there.
'use strict';
const h = require('./harness');

async function main() {
  const id = process.argv[2] || 'phase-transition';
  const shots = process.argv[3];
  const server = await h.serve();
  const browser = await h.launch({ webgpu: false });
  try {
    const { page, log } = await h.open(browser.context, `${server.url}#backend=cpu`);
    // The phase transition is the primary action; the others open from their cards.
    await page.click(id === 'phase-transition' ? '#primary' : `#lesson-card-${id}`);
    await page.check('#lesson-choice-0');
    const started = Date.now();
    await page.click('#run-lesson');
    let last = '';
    for (;;) {
      const status = await h.text(page, '#sweep-status');
      const done = await page.locator('#sweep-queue li.done').count();
      const line = `${status}: ${done} done`;
      if (line !== last) {
        console.log(`${((Date.now() - started) / 1000).toFixed(0)} s  ${line}`);
        last = line;
      }
      if (status !== 'running') break;
      await page.waitForTimeout(5000);
    }
    if ((await h.text(page, '#sweep-status')) !== 'done') {
      console.log(log.slice(-20).join('\n'));
      throw new Error(`the lesson ended ${await h.text(page, '#sweep-status')}`);
    }
    const rows = await page.locator('#runs-table tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].slice(1, 7).map((td) => td.textContent)));
    console.log(`\nlesson ${id}, CPU fallback in headless Chromium, total ${((Date.now() - started) / 1000).toFixed(0)} s`);
    console.log('| # | run | seen rules | unseen rules | steps | wall time |');
    console.log('|---|---|---|---|---|---|');
    for (const row of rows) console.log(`| ${row.join(' | ')} |`);
    console.log(`\n${await h.text(page, '#lesson-reveal')}`);
    if (shots) {
      require('node:fs').mkdirSync(shots, { recursive: true });
      for (const [width, height] of [[1280, 900], [390, 844]]) {
        await page.setViewportSize({ width, height });
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: `${shots}/lesson-${id}-${width}.png` });
        await page.screenshot({ path: `${shots}/lesson-${id}-${width}-full.png`, fullPage: true });
      }
      console.log(`screenshots in ${shots}`);
    }
  } finally {
    await browser.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});

// Browser tests of the page under real conditions (issue 13): two tabs of one browser, a link pasted
// into the open tab, the build served from a folder, a sibling page offline, an oversized model, and
// axe-core's accessibility check in each of the page's states.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const { TINY } = h;
const LONG = TINY.replace('steps=40', 'steps=4000').replace('eval_every=20', 'eval_every=500');

/** This tab's owner id and the owners with entries in the checkpoint store. */
const storage = (page) => page.evaluate(async () => {
  const database = await new Promise((resolve, reject) => {
    const request = indexedDB.open('instruction-diversity');
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  const keys = await new Promise((resolve, reject) => {
    const request = database.transaction('checkpoint').objectStore('checkpoint').getAllKeys();
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
  database.close();
  return { owner: sessionStorage.getItem('idp-tab-owner'), keys };
});

test('two tabs train two runs and keep both; a closed tab\'s run is offered to the other, never taken while it lives', async () => {
  const server = await h.serve();
  const browser = await h.launch({ webgpu: false });
  try {
    const a = await h.open(browser.context, `${server.url}#${LONG}&run=1&backend=cpu`);
    await h.waitFor(a.page, 'tab A to be checkpointed', () => Number(document.querySelector('#checkpoint-step')?.textContent) >= 500, null, 60_000);
    // Paused, so A is still mid-run however long B takes (on the fused kernels this tiny model
    // can train its 4,000 steps in the seconds B needs).
    await a.page.click('#pause');
    await h.waitForStatus(a.page, 'paused', 10_000);

    // Tab B opens the plain page: A's run is alive in A, so B neither shows nor trains it.
    const b = await h.open(browser.context, server.url);
    await b.page.waitForSelector('#compare');
    await b.page.waitForTimeout(1500);
    assert.equal(await h.status(b.page), 'idle');
    assert.equal(await h.steps(b.page), 0);
    assert.equal(await b.page.locator('#orphans').count(), 0, 'a living tab\'s run was offered');

    // B trains a short run of its own to the end: A's checkpoint stays.
    await b.page.goto(`${server.url}#${TINY}&run=1&backend=cpu`);
    await h.waitForStatus(b.page, 'finished', 120_000);
    const ownerA = (await storage(a.page)).owner;
    const { owner: ownerB, keys } = await storage(b.page);
    assert.notEqual(ownerA, ownerB);
    assert.ok(keys.includes(`run:${ownerA}`), `A's checkpoint is gone: ${keys}`);
    assert.ok(['running', 'paused', 'starting'].includes(await h.status(a.page)), 'A stopped');

    // A reload of A resumes A's run from its checkpoint (the tab keeps its owner id).
    const kept = Number(await h.text(a.page, '#checkpoint-step'));
    await a.page.reload();
    await a.page.waitForSelector('#start');
    await h.waitFor(a.page, 'A to resume', () => ['starting', 'running'].includes(document.querySelector('#status')?.textContent), null, 30_000);
    assert.ok(await h.steps(a.page) >= kept, `A resumed at ${await h.steps(a.page)}, kept at ${kept}`);
    await h.waitFor(a.page, 'A to be checkpointed again', () => Number(document.querySelector('#checkpoint-step')?.textContent) >= 1000, null, 60_000);

    // A is closed mid-run: B, reloaded, offers to resume it, and resumes it only when asked.
    const keptAgain = Number(await h.text(a.page, '#checkpoint-step'));
    await a.page.close();
    await b.page.reload();
    await b.page.waitForSelector('#orphans .resume-here', { timeout: 30_000 });
    assert.match(await h.text(b.page, '#orphans'), /tab that is now closed stopped at step \d+ of 4000/);
    assert.equal(await h.status(b.page), 'idle');
    await b.page.click('#orphans .resume-here');
    await h.waitFor(b.page, 'B to resume A\'s run', () => ['starting', 'running'].includes(document.querySelector('#status')?.textContent), null, 30_000);
    assert.ok(await h.steps(b.page) >= keptAgain, `resumed at ${await h.steps(b.page)}, kept at ${keptAgain}`);
    assert.match(await h.text(b.page, '#notices'), /a closed tab interrupted a run/);
    await h.waitForStatus(b.page, 'finished', 120_000);
    assert.equal(await h.steps(b.page), 4000);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('a link pasted into the open tab is followed, or waits for a choice while a run trains; the address bar and the page agree', async () => {
  const server = await h.serve();
  const browser = await h.launch({ webgpu: false });
  try {
    const { page, log } = await h.open(browser.context, `${server.url}#${TINY}&backend=cpu`);
    try {
      const address = () => page.evaluate(() => location.hash);
      assert.equal(await page.inputValue('#task-instructions'), '16');
      // Pasted into the address bar: the form follows.
      const second = TINY.replace('I=16', 'I=12').replace('seed=7', 'seed=8');
      await page.evaluate((hash) => { location.hash = hash; }, second);
      await h.waitFor(page, 'the form to follow the pasted link', () => document.querySelector('#task-instructions')?.value === '12', null, 10_000);
      assert.equal(await page.inputValue('#seed'), '8');
      assert.match(await address(), /&I=12&/);
      // Back: the page follows the address bar back.
      await page.goBack();
      await h.waitFor(page, 'the form to follow Back', () => document.querySelector('#task-instructions')?.value === '16', null, 10_000);
      assert.match(await address(), /&I=16&/);

      // While a run trains, a pasted link waits: the address bar goes back to the run's link.
      await page.goto(`${server.url}#${LONG}&run=1&backend=cpu`);
      await h.waitForSteps(page, 10, 60_000);
      await page.evaluate((hash) => { location.hash = hash; }, second);
      await page.waitForSelector('#pending-link', { timeout: 10_000 });
      await h.waitFor(page, 'the address bar to show the run\'s link again', () => /&I=16&/.test(location.hash), null, 10_000);
      assert.equal(await page.inputValue('#task-instructions'), '16');
      assert.equal(await h.status(page), 'running');
      await page.click('#pending-open-now');
      await h.waitFor(page, 'the link to open', () => document.querySelector('#task-instructions')?.value === '12', null, 10_000);
      assert.equal(await h.status(page), 'idle');
      assert.match(await address(), /&I=12&/);
    } catch (e) {
      console.log(log.slice(-40).join('\n'));
      throw e;
    }
  } finally {
    await browser.close();
    await server.close();
  }
});

test('the build works from a folder of a static host, with and without the trailing slash, offline too; a build missing its scripts says so', async () => {
  const server = await h.serve(h.DIST, { prefix: 'playground' });
  const browser = await h.launch({ webgpu: false });
  try {
    const withoutSlash = server.url.replace(/\/$/, '');
    const { page } = await h.open(browser.context, `${withoutSlash}#${TINY}&run=1&backend=cpu`);
    assert.ok(page.url().includes('/playground/'), page.url());
    await h.waitForStatus(page, 'finished', 120_000);
    assert.equal(await page.locator('#loading').count(), 0, 'the loading message stayed');
    const scope = await page.evaluate(async () => (await navigator.serviceWorker.ready).scope);
    assert.ok(scope.endsWith('/playground/'), scope);
  } finally {
    await browser.close();
    await server.close();
  }
  // The same build with its app script missing: the page says what went wrong.
  const broken = await h.serve(h.DIST, { omit: /^app-.*\.js$/ });
  const again = await h.launch({ webgpu: false });
  try {
    const page = await again.context.newPage();
    await page.goto(broken.url);
    await h.waitFor(page, 'the failure to be said', () => /could not start|could not be loaded/.test(document.querySelector('#loading')?.textContent ?? ''), null, 30_000);
    assert.ok(await page.isVisible('#loading'));
  } finally {
    await again.close();
    await broken.close();
  }
});

test('offline, the playground\'s address opens the playground, not a sibling page the browser visited', async () => {
  const server = await h.serve(h.DIST, { extra: { 'notes.html': '<!doctype html><title>notes</title><p id="notes">course notes</p>' } });
  const browser = await h.launch({ webgpu: false });
  try {
    const { page } = await h.open(browser.context, server.url);
    await h.waitForOfflineCache(page);
    // A cache that cannot be written (a full quota) never turns the network's answer into an error.
    const [worker] = browser.context.serviceWorkers();
    assert.ok(worker, 'no service worker');
    await worker.evaluate(() => {
      Cache.prototype.put = () => Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'));
    });
    await page.reload();
    await page.waitForSelector('#start', { timeout: 30_000 });
    await page.goto(`${server.url}notes.html`);
    assert.equal(await h.text(page, '#notes'), 'course notes');
    const name = await h.offlineCacheName(page);
    const keys = await page.evaluate(async (name) => (await (await caches.open(name)).keys()).map((r) => r.url), name);
    assert.ok(!keys.some((k) => k.includes('notes')), `a sibling page was cached: ${keys}`);
    await server.close();
    await page.goto(server.url);
    await page.waitForSelector('#start', { timeout: 30_000 });
    assert.equal(await page.locator('#notes').count(), 0);
  } finally {
    await browser.close();
    await server.close();
  }
});

test('an oversized model is refused with its estimate and the limit, and the page stays usable', async () => {
  const server = await h.serve();
  const browser = await h.launch({ webgpu: false });
  try {
    const huge = TINY.replace('layers=1', 'layers=12').replace('width=16', 'width=1024').replace('heads=2', 'heads=8')
      .replace('ff=32', 'ff=8192').replace('batch=8', 'batch=4096');
    const { page, log } = await h.open(browser.context, `${server.url}#${huge}&run=1&backend=cpu`);
    try {
      await page.waitForSelector('#error', { timeout: 60_000 });
      const message = await h.text(page, '#error');
      assert.match(message, /this run needs about [\d.]+ GiB .* more than what a browser tab's WebAssembly can address \(4\.0 GiB\)/);
      assert.match(message, /train\.batch_size/);
      assert.ok(!/unreachable|stopped/.test(message), message);
      // The page goes on: a small run trains.
      await page.goto(`${server.url}#${TINY}&run=1&backend=cpu`);
      await h.waitForStatus(page, 'finished', 120_000);
    } catch (e) {
      console.log(log.slice(-40).join('\n'));
      throw e;
    }
  } finally {
    await browser.close();
    await server.close();
  }
});

test('axe-core finds no serious or critical violation in any of the page\'s states', async () => {
  const server = await h.serve();
  const browser = await h.launch({ webgpu: false });
  try {
    const { page, log } = await h.open(browser.context, `${server.url}#${TINY}&backend=cpu`);
    try {
      await page.waitForTimeout(1000);
      await h.assertAccessible(page, 'idle');
      await page.goto(`${server.url}#${LONG}&run=1&backend=cpu`);
      await h.waitForSteps(page, 20, 60_000);
      await h.assertAccessible(page, 'running');
      await page.click('#stop');
      await page.goto(`${server.url}#${TINY}&sweep=instructions:4,8&run=1&backend=cpu`);
      await h.waitFor(page, 'the sweep to finish', () => document.querySelector('#sweep-status')?.textContent === 'done', null, 120_000);
      await h.assertAccessible(page, 'a finished sweep');
      await page.click('#heatmap button.cell.filled');
      await page.waitForSelector('#rule-table tbody tr');
      await page.click('#rule-table button.open-rule');
      await page.waitForSelector('#rule-detail');
      await page.click('#rule-detail button.attend');
      await page.waitForSelector('#attention', { timeout: 30_000 });
      await h.assertAccessible(page, 'the inspector and the attention view open');
      // A lesson's sweep of 1,500-step runs takes minutes: the sweep just trained stands in for it.
      // Marked as the lesson's in the browser's storage, it comes back with the lesson revealed.
      await page.evaluate(async () => {
        const database = await new Promise((resolve, reject) => {
          const request = indexedDB.open('instruction-diversity');
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        const store = database.transaction('sweeps', 'readwrite').objectStore('sweeps');
        const done = (request) => new Promise((resolve, reject) => {
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        const keys = await done(store.getAllKeys());
        for (const key of keys) {
          const entry = JSON.parse(await done(store.get(key)));
          entry.lesson = 'two-levels';
          await done(store.put(JSON.stringify(entry), key));
        }
        database.close();
      });
      await page.goto(`${server.url}#${TINY}&lesson=two-levels&backend=cpu`);
      await page.reload();
      await page.waitForSelector('#lesson-choice-1');
      await page.check('#lesson-choice-1');
      await page.waitForSelector('#lesson-reveal', { timeout: 30_000 });
      await h.assertAccessible(page, 'a lesson revealed');
    } catch (e) {
      console.log(log.slice(-40).join('\n'));
      throw e;
    }
  } finally {
    await browser.close();
    await server.close();
  }
});

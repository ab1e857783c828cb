// Browser end-to-end tests of sharing, teaching and keeping (issue 5): a link opens its settings, a
// seeded run replays to the same fingerprint, hostile values stay text, a teacher's link hides and locks
// controls, and a run exports to files that import back.
'use strict';
const fs = require('node:fs');
const { test } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

const server = h.servePerFile();
const withPage = server.withPage;

const TINY = h.TINY;

test('a link opens its settings in the controls and the address bar follows later changes', async () => {
  await withPage(TINY, async (page) => {
    assert.equal(await page.inputValue('#task-instructions'), '16');
    assert.equal(await page.inputValue('#model-width'), '16');
    assert.equal(await page.inputValue('#train-learning_rate'), '0.01');
    assert.equal(await page.inputValue('#seed'), '7');
    assert.equal(await page.inputValue('#task-budget'), '1000');
    assert.equal(await page.locator('#notices').count(), 0);
    await h.set(page, 'task-instructions', 24);
    await h.waitFor(page, 'the address to follow the settings', () => location.hash.includes('&I=24&'), null, 5000);
    // The link written back is the one the settings make; copying shows it.
    await page.click('#copy-link');
    const shared = await page.inputValue('#share-link');
    assert.ok(shared.startsWith(server.url), shared);
    assert.ok(shared.includes('&I=24&') && shared.includes('&seed=7&'), shared);
  });
});

test('the same seeded link run twice gives the same fingerprint', async () => {
  const codes = [];
  for (let i = 0; i < 2; i++) {
    await withPage(`${TINY}&run=1&backend=cpu`, async (page) => {
      await h.waitForStatus(page, 'finished', 120_000);
      codes.push(await h.text(page, '#fingerprint'));
    });
  }
  assert.match(codes[0], /^[0-9a-f]{4}-[0-9a-f]{4}$/);
  assert.equal(codes[1], codes[0]);
});

test('unknown keys and bad values keep defaults with a notice; markup in a link stays text', async () => {
  const fragment = 'v=1&I=32&colour=blue&lr=fast'
    + '&preset=%3Cscript%3Ewindow.__xss%3D1%3C%2Fscript%3E'
    + '&x=%22%3E%3Cimg%20src%3Dx%20onerror%3D%22window.__xss%3D2%22%3E';
  await withPage(fragment, async (page) => {
    let dialogs = 0;
    page.on('dialog', (d) => { dialogs += 1; d.dismiss(); });
    await page.waitForSelector('#notices');
    await page.waitForTimeout(500);
    assert.equal(await page.inputValue('#task-instructions'), '32');
    const notices = await h.text(page, '#notices');
    for (const needle of ['colour', '`lr`', 'unknown preset', '<script>', '"><img']) {
      assert.ok(notices.includes(needle), `${needle} not in notices: ${notices}`);
    }
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'a script from the link ran');
    assert.equal(await page.locator('#notices img, #notices script').count(), 0, 'markup from the link was parsed');
    assert.equal(dialogs, 0);
    // The page runs under a policy that forbids inline scripts, and has none of its own.
    const policy = await page.getAttribute('meta[http-equiv="Content-Security-Policy"]', 'content');
    const scriptSrc = policy.split(';').find((d) => d.trim().startsWith('script-src'));
    assert.ok(scriptSrc && !scriptSrc.includes('unsafe-inline'), policy);
    assert.equal(await page.locator('script:not([src])').count(), 0, 'an inline script is on the page');
    const blocked = await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.__inline = 1';
      document.body.appendChild(s);
      return window.__inline;
    });
    assert.equal(blocked, undefined, 'the policy let an inline script run');
    await page.click('#notices button');
    assert.equal(await page.locator('#notices').count(), 0);
  });
});

test('a teacher link hides and locks controls, embeds compactly, and teachers compose such links', async () => {
  await withPage('v=1&I=48&hide=model,lr,charts&lock=I,backend&embed=1', async (page) => {
    assert.equal(await page.locator('#notices').count(), 0);
    for (const hidden of ['#model-width', '#model-layers', '#train-learning_rate', '#loss-chart']) {
      assert.equal(await page.locator(hidden).count(), 0, `${hidden} is shown`);
    }
    assert.equal(await page.inputValue('#task-instructions'), '48');
    assert.ok(await page.locator('#task-instructions').isDisabled(), 'a locked setting is editable');
    assert.ok(await page.locator('#force-cpu').isDisabled(), 'a locked switch is usable');
    assert.ok(await page.locator('#train-steps').isEnabled(), 'an open setting is locked');
    assert.equal(await page.locator('.page.embed').count(), 1, 'no compact layout');
    // The address bar keeps the view, so a reload or a re-shared link stays a student's page.
    await h.set(page, 'train-steps', 321);
    await h.waitFor(page, 'the address to follow the settings', () => location.hash.includes('&steps=321&'), null, 5000);
    const hash = await page.evaluate(() => location.hash);
    assert.ok(hash.includes('&hide=charts,lr,model') && hash.includes('&lock=I,backend') && hash.includes('&embed=1'), hash);
    // A teacher adds to the view of the link they copy; unknown names are named, not written.
    await h.set(page, 'teach-hide', 'predictions, wings');
    await h.set(page, 'teach-lock', 'seed');
    assert.match(await h.text(page, '.teach .error'), /wings/);
    await page.click('#copy-link');
    const shared = await page.inputValue('#share-link');
    assert.ok(shared.includes('&hide=charts,lr,model,predictions&lock=I,backend,seed&embed=1'), shared);
    assert.ok(!shared.includes('wings'), shared);
    // The teacher's own page did not change.
    assert.ok(await page.getByText('Predictions appear at the first evaluation.').isVisible());
    assert.ok(await page.locator('#train-steps').isEnabled());
  });
});

test('a finished run exports CSV, JSON and SVG; the JSON imports back; a damaged file is refused', async () => {
  await withPage(`${TINY}&run=1&backend=cpu`, async (page, browser) => {
    await h.waitForStatus(page, 'finished', 120_000);
    const accuracy = await h.text(page, '#accuracy');
    const save = async (id) => {
      // The exports sit in one menu: open it, as a reader would.
      await h.reveal(page, `#${id}`);
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#${id}`)]);
      const file = await download.path();
      return { name: download.suggestedFilename(), file, text: fs.readFileSync(file, 'utf8') };
    };
    const csv = await save('export-csv');
    assert.equal(csv.name, 'metrics.csv');
    const rows = csv.text.trim().split('\n');
    assert.equal(rows[0], 'step,loss,seen_accuracy,unseen_accuracy,unseen_hasop_accuracy,noop_accuracy');
    assert.ok(rows.some((r) => r.startsWith('40,')), csv.text);
    const json = await save('export-json');
    const bundle = JSON.parse(json.text);
    assert.equal(bundle.format, 'idp-sweep/1');
    assert.equal(bundle.runs.length, 1);
    assert.equal(bundle.runs[0].config.seed, 7);
    assert.equal(bundle.runs[0].steps, 40);
    assert.ok(bundle.runs[0].unseen_rules.length > 0, 'no per-rule results');
    assert.match(bundle.backend, /^CPU/);
    for (const id of ['export-loss-svg', 'export-accuracy-svg']) {
      assert.match((await save(id)).text, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    }
    for (const id of ['export-loss-png', 'export-accuracy-png']) {
      const png = fs.readFileSync((await save(id)).file);
      assert.equal(png.subarray(0, 8).toString('hex'), '89504e470d0a1a0a', `${id} is not a PNG`);
      // IHDR: twice the chart's 480 x 240 units.
      assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [960, 480]);
      assert.ok(png.length > 5000, `${id} looks blank (${png.length} bytes)`);
    }

    // A fresh page shows the imported run: its settings, step count and accuracy.
    const fresh = await browser.context.newPage();
    await fresh.goto(server.url);
    await fresh.waitForSelector('#start');
    await fresh.setInputFiles('#import-file', json.file);
    await h.waitFor(fresh, 'the imported run', () => !!document.querySelector('#imported-run'), null, 10_000);
    assert.equal(await fresh.inputValue('#seed'), '7');
    assert.equal(await fresh.inputValue('#task-instructions'), '16');
    assert.equal(await h.steps(fresh), 40);
    assert.equal(await h.text(fresh, '#accuracy'), accuracy);
    assert.ok(await fresh.locator('#loss-chart polyline').count() > 0, 'no imported loss curve');

    // A damaged file is refused with the reason, and what is shown stays.
    await fresh.setInputFiles('#import-file', {
      name: 'broken.json', mimeType: 'application/json', buffer: Buffer.from(json.text.slice(0, 300)),
    });
    await fresh.waitForSelector('#import-error');
    assert.match(await h.text(fresh, '#import-error'), /not a results file/);
    assert.equal(await h.text(fresh, '#accuracy'), accuracy);
  });
});

test('once loaded, the page opens and trains offline', async () => {
  const own = await h.serve();
  const browser = await h.launch({ webgpu: false });
  try {
    const { page } = await h.open(browser.context, `${own.url}#${TINY}&backend=cpu`);
    await h.waitForOfflineCache(page);
    // The network is gone: the server stops, and its address refuses connections.
    await own.close();
    await page.reload();
    await page.waitForSelector('#start', { timeout: 30_000 });
    assert.equal(await page.inputValue('#task-instructions'), '16', 'the link settings were lost offline');
    await page.click('#start');
    await h.waitForStatus(page, 'finished', 120_000);
    assert.equal(await h.steps(page), 40);
  } finally {
    await browser.close();
    await own.close();
  }
});

test('finished runs are kept in the browser: listed after a reload, a full quota is reported without losing them, clear removes them', async () => {
  await withPage(`${TINY}&run=1&backend=cpu`, async (page) => {
    const kept = () => page.locator('#runs-table tbody td.kept').allTextContents();
    await h.waitForStatus(page, 'finished', 120_000);
    await h.waitFor(page, 'the run to be saved', () => document.querySelector('#runs-table td.kept')?.textContent === 'saved', null, 10_000);

    await page.reload();
    await page.waitForSelector('#runs-table tbody tr', { timeout: 30_000 });
    assert.deepEqual(await kept(), ['saved']);
    assert.match(await h.text(page, '#runs-table tbody tr'), /run 1 \(I = 16\)/);

    // The storage refuses the next write as a full quota would: the page says so, and the run saved
    // before is still listed after a reload.
    await page.evaluate(() => {
      IDBObjectStore.prototype.add = function () {
        throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      };
    });
    await page.click('#start');
    await h.waitForStatus(page, 'finished', 120_000);
    await h.waitFor(page, 'the quota message', () => /storage for this page is full/.test(document.querySelector('#storage-error')?.textContent ?? ''), null, 10_000);
    assert.deepEqual(await kept(), ['saved', 'not saved']);
    await page.reload();
    await page.waitForSelector('#runs-table tbody tr', { timeout: 30_000 });
    assert.deepEqual(await kept(), ['saved']);

    await page.click('#clear-saved');
    await h.waitFor(page, 'the list to empty', () => !document.querySelector('#runs-table'), null, 10_000);
    await page.reload();
    await page.waitForSelector('#compare');
    await page.waitForTimeout(1000);
    assert.equal(await page.locator('#runs-table').count(), 0);
  });
});

test('a reload during a run resumes it from its checkpoint; a reload after it ends does not', async () => {
  const longer = TINY.replace('steps=40', 'steps=4000').replace('eval_every=20', 'eval_every=500');
  await withPage(`${longer}&run=1&backend=cpu`, async (page) => {
    await h.waitFor(page, 'a checkpoint', () => Number(document.querySelector('#checkpoint-step')?.textContent) >= 500, null, 60_000);
    const kept = Number(await h.text(page, '#checkpoint-step'));
    assert.ok(kept < 4000, `kept at ${kept}`);
    await page.reload();
    await page.waitForSelector('#start');
    await h.waitFor(page, 'the run to resume', () => ['starting', 'running'].includes(document.querySelector('#status')?.textContent), null, 30_000);
    // It goes on from the checkpoint, not from 0, with the curve it had.
    assert.ok(await h.steps(page) >= kept, `resumed at ${await h.steps(page)}, kept at ${kept}`);
    assert.match(await h.text(page, '#notices'), /interrupted a run at step \d+ of 4000/);
    await h.waitForStatus(page, 'finished', 120_000);
    assert.equal(await h.steps(page), 4000);
    assert.match(await h.text(page, '#runs-table tbody'), /run 1 \(I = 16\)/);
    // Finished: the checkpoint is gone, so a reload starts nothing.
    await page.reload();
    await page.waitForSelector('#runs-table tbody tr', { timeout: 30_000 });
    await page.waitForTimeout(1500);
    assert.equal(await h.status(page), 'idle');
  });
});

test('a reload during a sweep goes on with its queue: finished runs kept, the run in progress resumed, the rest run', async () => {
  const each = TINY.replace('steps=40', 'steps=1000').replace('eval_every=20', 'eval_every=250');
  await withPage(`${each}&sweep=instructions:4,8,16&backend=cpu`, async (page) => {
    // One worker, whatever the cores (two workers are the next test): the queue runs one at a time.
    await page.fill('#sweep-workers', '1');
    await page.dispatchEvent('#sweep-workers', 'change');
    await page.click('#start-sweep');
    // The first run finished and the second is training, checkpointed past its first evaluation.
    await h.waitFor(page, 'run 2 of the sweep to be checkpointed', () => document.querySelectorAll('#sweep-queue li.done').length === 1
      && Number(document.querySelector('#checkpoint-step')?.textContent) >= 250, null, 120_000);
    const kept = Number(await h.text(page, '#checkpoint-step'));
    await page.reload();
    await page.waitForSelector('#start');
    await h.waitFor(page, 'the sweep to go on', () => document.querySelector('#sweep-status')?.textContent === 'running', null, 30_000);
    assert.match(await h.text(page, '#notices'), /interrupted a sweep at run 2 of 3/);
    assert.equal(await page.locator('#sweep-queue li.done').count(), 1);
    assert.equal(await page.locator('#sweep-queue li.running').count(), 1);
    assert.equal(await page.locator('#sweep-queue li.waiting').count(), 1);
    assert.ok(await h.steps(page) >= kept, `resumed at ${await h.steps(page)}, kept at ${kept}`);
    await h.waitFor(page, 'the sweep to finish', () => document.querySelector('#sweep-status')?.textContent === 'done', null, 180_000);
    assert.equal(await page.locator('#sweep-queue li.done').count(), 3);
    assert.equal(await page.locator('#heatmap button.cell.filled').count(), 3);
    assert.equal(await page.locator('#runs-table tbody tr').count(), 3);
    // Done: a reload starts nothing and shows the kept sweep.
    await page.reload();
    await page.waitForSelector('#runs-table tbody tr', { timeout: 30_000 });
    await page.waitForTimeout(1500);
    assert.equal(await h.status(page), 'idle');
    assert.equal(await h.text(page, '#sweep-status'), 'kept from an earlier visit');
    assert.equal(await page.locator('#heatmap button.cell.filled').count(), 3);
  });
});

test('a reload during a sweep in two workers goes on with the helper worker\'s run from its checkpoint', async () => {
  const each = TINY.replace('steps=40', 'steps=1000').replace('eval_every=20', 'eval_every=250');
  await withPage(`${each}&backend=cpu`, async (page) => {
    await page.fill('#sweep-workers', '2');
    await page.dispatchEvent('#sweep-workers', 'change');
    await page.fill('#sweep-values', '4, 8');
    await page.dispatchEvent('#sweep-values', 'change');
    await page.click('#start-sweep');
    // The helper (worker 2) checkpoints at each evaluation: wait until it is past its first.
    // The step the queue shows for worker 2's run (-1 when none); with `{ min }`, whether it is
    // past `min`; with `{ not }`, whether it shows a step other than `not`.
    const helperStep = (want) => {
      const line = [...document.querySelectorAll('#sweep-queue li.running')]
        .map((li) => li.textContent).find((t) => /running in worker 2/.test(t));
      const m = line && line.match(/running in worker 2, step (\d+)/);
      const step = m ? Number(m[1]) : -1;
      if (!want) return step;
      return 'min' in want ? step >= want.min : step >= 0 && step !== want.not;
    };
    await h.waitFor(page, 'the helper past its first checkpoint', helperStep, { min: 300 }, 120_000);
    await page.reload();
    await page.waitForSelector('#start');
    await h.waitFor(page, 'the sweep to go on', () => document.querySelector('#sweep-status')?.textContent === 'running', null, 30_000);
    assert.match(await h.text(page, '#notices'), /the run in a helper worker goes on from its checkpoint/);
    // The sweep builder shows the sweep that goes on, not the defaults.
    assert.equal(await page.inputValue('#sweep-values'), '4, 8');
    assert.equal(await page.inputValue('#sweep-workers'), '2');
    // Both runs go on at once, the helper's from where it was kept (not from step 0). The queue
    // first shows the kept step; the helper's own first report of progress replaces it.
    await h.waitFor(page, 'two runs in progress again', () => document.querySelectorAll('#sweep-queue li.running').length === 2, null, 30_000);
    const kept = await page.evaluate(helperStep);
    await h.waitFor(page, 'the helper to report progress', helperStep, { not: kept }, 60_000);
    const resumedAt = await page.evaluate(helperStep);
    assert.ok(kept >= 250 && resumedAt > kept, `kept at ${kept}, the helper's run went on at step ${resumedAt}`);
    await h.waitFor(page, 'the sweep to finish', () => document.querySelector('#sweep-status')?.textContent === 'done', null, 240_000);
    assert.equal(await page.locator('#sweep-queue li.done').count(), 2);
    assert.equal(await page.locator('#heatmap button.cell.filled').count(), 2);
    // Done: nothing is left to go on with, the helper's checkpoint included.
    await page.reload();
    await page.waitForSelector('#runs-table tbody tr', { timeout: 30_000 });
    await page.waitForTimeout(1500);
    assert.equal(await h.status(page), 'idle');
    assert.equal(await h.text(page, '#sweep-status'), 'kept from an earlier visit');
    const left = await page.evaluate(() => new Promise((resolve, reject) => {
      const open = indexedDB.open('instruction-diversity');
      open.onerror = () => reject(open.error);
      open.onsuccess = () => {
        const keys = open.result.transaction('checkpoint').objectStore('checkpoint').getAllKeys();
        keys.onsuccess = () => resolve(keys.result);
        keys.onerror = () => reject(keys.error);
      };
    }));
    assert.deepEqual(left.filter((k) => String(k).startsWith('run:')), [], `left in storage: ${left}`);
  });
});

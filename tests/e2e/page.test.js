// Browser end-to-end tests of the page (issue 3): headless Debian Chromium loads the built page from a
// local server and trains small runs, once with WebGPU unavailable (the CPU fallback) and once on
// SwiftShader's WebGPU adapter. Run with `node --test tests/e2e/` after `trunk build --release`.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const h = require('./harness');

// A small model and tiny evaluation sets: SwiftShader compiles every kernel on the CPU.
const SMALL = {
  'task-instructions': 32,
  'task-budget': 2000,
  'model-layers': 1,
  'model-width': 32,
  'model-heads': 2,
  'model-ff_width': 64,
  'train-batch_size': 16,
  'train-learning_rate': 0.01,
  'train-warmup_steps': 5,
  'eval-test_rules': 8,
  'eval-seen_examples': 16,
  'eval-unseen_examples': 16,
  'eval-noop_examples': 16,
};

let server;
before(async () => {
  server = await h.serve();
});
after(async () => {
  await server?.close();
});

/** Runs `body` on a fresh browser and page (opened at `fragment`, if given), printing the page's log
 * when it fails. */
async function withPage({ webgpu, fragment }, body) {
  const browser = await h.launch({ webgpu });
  const url = fragment ? `${server.url}#${fragment}` : server.url;
  const { page, log, firstPaintMs } = await h.open(browser.context, url);
  try {
    await body(page, { firstPaintMs, log });
  } catch (e) {
    console.log(log.slice(-40).join('\n'));
    throw e;
  } finally {
    await browser.close();
  }
}

/** Asserts the loss fell: the mean of the last readings below the mean of the first. */
async function assertLossFell(page) {
  const seen = await h.losses(page);
  assert.ok(seen.length >= 4, `too few loss readings: ${JSON.stringify(seen)}`);
  const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const k = Math.max(1, Math.floor(seen.length / 4));
  const first = mean(seen.slice(0, k));
  const last = mean(seen.slice(-k));
  assert.ok(last < 0.9 * first, `the loss did not fall: first ${first.toFixed(3)}, last ${last.toFixed(3)} (${seen.length} readings)`);
}

async function assertAccuracyShown(page) {
  const accuracy = await h.text(page, '#accuracy');
  assert.match(accuracy, /seen rules \d+\.\d% · unseen rules \d+\.\d% · no-ops \d+\.\d%/);
  const rows = await page.locator('table.predictions tbody tr').count();
  assert.ok(rows > 0, 'no sample predictions after an evaluation');
}

test('CPU fallback: trains, pauses, steps, resumes and finishes when WebGPU is unavailable', async () => {
  await withPage({ webgpu: false }, async (page) => {
    await h.setAll(page, { ...SMALL, 'train-steps': 300, 'train-eval_every': 150 });
    await h.recordLosses(page);
    await page.click('#start');
    await h.waitForSteps(page, 1, 60_000);
    assert.match(await h.text(page, '#backend'), /^CPU: WebGPU unavailable because (the browser offers no WebGPU adapter|this browser exposes no WebGPU)/);
    await h.waitForSteps(page, 30, 60_000);

    // Pause stops the counter.
    await page.click('#pause');
    await h.waitForStatus(page, 'paused', 10_000);
    const pausedAt = await h.steps(page);
    await page.waitForTimeout(1500);
    assert.equal(await h.steps(page), pausedAt, 'the step counter moved while paused');

    // Step takes exactly ten steps and stays paused.
    await page.click('#step');
    await h.waitForSteps(page, pausedAt + 10, 10_000);
    await page.waitForTimeout(500);
    assert.equal(await h.steps(page), pausedAt + 10);
    assert.equal(await h.status(page), 'paused');

    await page.click('#resume');
    await h.waitForStatus(page, 'finished', 120_000);
    assert.equal(await h.steps(page), 300);
    await assertLossFell(page);
    await assertAccuracyShown(page);
    assert.equal(await page.locator('#error').count(), 0, 'an error was shown');
  });
});

test('errors are shown and leave the page usable: rejected settings, a dying worker', async () => {
  await withPage({ webgpu: false }, async (page) => {
    // A width that is not a multiple of the heads is refused with the setting's name; the model keeps
    // its last valid width.
    await h.setAll(page, SMALL);
    await h.set(page, 'model-width', 31);
    const refusal = await h.text(page, '.settings .error');
    assert.match(refusal, /model\.(width|heads)/);
    assert.equal(await page.inputValue('#model-width'), '32');

    // A worker that throws ends the run with a message; the metrics so far stay.
    await h.setAll(page, { 'train-steps': 100000, 'train-eval_every': 100000 });
    await page.click('#start');
    await h.waitForSteps(page, 5, 60_000);
    const worker = page.workers().find((w) => new URL(w.url()).pathname.endsWith('/worker-loader.js'));
    assert.ok(worker, `no training worker among ${page.workers().map((w) => w.url())}`);
    await worker.evaluate(() => setTimeout(() => { throw new Error('injected crash'); }, 0));
    await h.waitForStatus(page, 'failed', 10_000);
    assert.match(await h.text(page, '#error'), /training worker stopped: .*injected crash/);
    assert.equal(await page.locator('#go-on').count(), 0, 'only a lost device offers to go on');
    const kept = await h.steps(page);
    assert.ok(kept >= 5, 'the step count was lost');
    assert.ok(await page.locator('#loss-chart polyline').count() > 0, 'the loss curve was lost');

    // A fresh worker takes the next run.
    await h.set(page, 'train-steps', 20);
    await page.click('#start');
    await h.waitForStatus(page, 'finished', 60_000);
    assert.equal(await h.steps(page), 20);
    assert.equal(await page.locator('#error').count(), 0);
  });
});

test('WebGPU (SwiftShader): trains on the GPU backend, resumes after a reload and after a lost device, and the force-CPU switch falls back', async () => {
  await withPage({ webgpu: true }, async (page) => {
    await h.setAll(page, {
      ...SMALL, 'model-width': 16, 'model-ff_width': 32, 'train-batch_size': 8, 'train-steps': 40,
      'train-eval_every': 40, 'eval-test_rules': 4, 'eval-seen_examples': 8, 'eval-unseen_examples': 8,
      'eval-noop_examples': 8,
    });
    await h.recordLosses(page);
    await page.click('#start');
    await h.waitFor(page, 'a backend badge', () => /:/.test(document.querySelector('#backend')?.textContent), null, 60_000);
    assert.match(await h.text(page, '#backend'), /^WebGPU: .+/);
    await h.waitForSteps(page, 1, 240_000);
    await h.waitForStatus(page, 'finished', 420_000);
    await assertLossFell(page);
    await assertAccuracyShown(page);

    // A WebGPU run is checkpointed too (its tensors read back asynchronously): a reload resumes it
    // from there, on WebGPU.
    await h.setAll(page, { 'train-steps': 100000, 'train-eval_every': 100000 });
    await page.click('#start');
    await h.waitFor(page, 'a checkpoint', () => Number(document.querySelector('#checkpoint-step')?.textContent) >= 3, null, 240_000);
    const kept = Number(await h.text(page, '#checkpoint-step'));
    await page.reload();
    await page.waitForSelector('#start');
    await h.waitFor(page, 'the run to resume', () => ['starting', 'running'].includes(document.querySelector('#status')?.textContent), null, 30_000);
    assert.ok(await h.steps(page) >= kept, `resumed at ${await h.steps(page)}, kept at ${kept}`);
    assert.match(await h.text(page, '#notices'), /interrupted a run at step \d+ of 100000/);
    await h.waitForSteps(page, kept + 3, 240_000);
    assert.match(await h.text(page, '#backend'), /^WebGPU: .+/);
    // On WebGPU the page shows the kernels a step launches (the worker counts them as they go out).
    const launches = Number(/^(\d+) kernel launches a step$/.exec(await h.text(page, '#launches'))?.[1]);
    assert.ok(launches > 10, `launches shown: ${await h.text(page, '#launches')}`);

    // A lost GPU device ends the run with a message instead of hanging; the metrics so far stay.
    const worker = page.workers().find((w) => new URL(w.url()).pathname.endsWith('/worker-loader.js'));
    assert.ok(worker, 'no training worker');
    const destroyed = await worker.evaluate(() => {
      self.__idpGpuDevices.forEach((d) => d.destroy());
      return self.__idpGpuDevices.length;
    });
    assert.ok(destroyed >= 1, 'the worker opened no GPU device');
    await h.waitForStatus(page, 'failed', 60_000);
    assert.match(await h.text(page, '#error'), /GPU device was lost \(destroyed\)/);
    assert.ok(await h.steps(page) >= 3, 'the step count was lost');
    assert.ok(await page.locator('#loss-chart polyline').count() > 0, 'the loss curve was lost');
    // Its checkpoint was kept: the run goes on from there, in a fresh worker on a new device.
    const goOn = await h.text(page, '#go-on');
    const from = Number(/^Go on from step (\d+)$/.exec(goOn)?.[1]);
    assert.ok(from >= kept, `offered: ${goOn}, kept at ${kept} before the reload`);
    await page.click('#go-on');
    await h.waitForSteps(page, from + 2, 240_000);
    assert.equal(await h.status(page), 'running');
    assert.match(await h.text(page, '#backend'), /^WebGPU: .+/);
    assert.equal(await page.locator('#error').count(), 0);
    await page.click('#stop');
    await h.waitForStatus(page, 'idle', 30_000);
    assert.equal(await page.locator('#go-on').count(), 0);

    await page.check('#force-cpu');
    await h.set(page, 'train-steps', 10);
    await page.click('#start');
    await h.waitForStatus(page, 'finished', 60_000);
    assert.equal(await h.text(page, '#backend'), 'CPU: the CPU was chosen');
    assert.equal(await page.locator('#launches').count(), 0, 'the CPU launches no GPU kernels');
  });
});

test('WebGPU (SwiftShader): a sweep\'s runs train together as one stacked model in the page\'s one worker, go on together after a reload and a lost device, and are each kept', async () => {
  const sweep = `${h.TINY}&sweep=instructions:4,8`;
  await withPage({ webgpu: true, fragment: `${sweep}&steps=100000&eval_every=100000&run=1` }, async (page) => {
    const stacked = () => [...document.querySelectorAll('#sweep-queue li.running')]
      .filter((li) => /stacked: 2 runs at once/.test(li.textContent)).length === 2;
    await h.waitFor(page, 'both runs training stacked', stacked, null, 240_000);
    await h.waitFor(page, 'a backend badge', () => /:/.test(document.querySelector('#backend')?.textContent), null, 60_000);
    assert.match(await h.text(page, '#backend'), /^WebGPU: .+/);
    // One worker trains both: no helper was started.
    const workers = () => page.workers().filter((w) => new URL(w.url()).pathname.endsWith('/worker-loader.js')).length;
    assert.equal(workers(), 1);
    // The second run's steps are the stack's: it says them in the queue as the first's rise.
    await h.waitFor(page, 'a checkpoint of the stack', () => Number(document.querySelector('#checkpoint-step')?.textContent) >= 3, null, 240_000);
    const kept = Number(await h.text(page, '#checkpoint-step'));
    const second = await page.locator('#sweep-queue li').nth(1).textContent();
    assert.ok(Number(/step (\d+)/.exec(second)?.[1]) >= kept, second);

    // A reload goes on with both runs, together, from the stack's checkpoint.
    await page.reload();
    await page.waitForSelector('#start');
    await h.waitFor(page, 'the stack to go on', stacked, null, 60_000);
    assert.match(await h.text(page, '#notices'), /runs 1, 2 of 2, trained together: they go on from step \d+/);
    assert.ok(await h.steps(page) >= kept, `resumed at ${await h.steps(page)}, kept at ${kept}`);
    await h.waitForSteps(page, kept + 3, 240_000);
    assert.match(await h.text(page, '#backend'), /^WebGPU: .+/);
    assert.equal(workers(), 1);

    // A lost device ends the stack; it goes on whole from its checkpoint, in a fresh worker.
    await h.waitFor(page, 'a checkpoint after the reload', () => Number(document.querySelector('#checkpoint-step')?.textContent) > 0, null, 120_000);
    const worker = page.workers().find((w) => new URL(w.url()).pathname.endsWith('/worker-loader.js'));
    await worker.evaluate(() => self.__idpGpuDevices.forEach((d) => d.destroy()));
    await h.waitForStatus(page, 'failed', 60_000);
    assert.match(await h.text(page, '#error'), /GPU device was lost/);
    const from = Number(/^Go on from step (\d+)$/.exec(await h.text(page, '#go-on'))?.[1]);
    await page.click('#go-on');
    await h.waitFor(page, 'the stack to go on after the lost device', stacked, null, 60_000);
    await h.waitForSteps(page, from + 2, 240_000);
    assert.equal(await h.status(page), 'running');
    await page.click('#cancel-sweep');
    await h.waitFor(page, 'the sweep to stop', () => document.querySelector('#sweep-status')?.textContent === 'cancelled', null, 30_000);

    // A short stacked sweep ends with both runs kept, each in its own cell.
    await h.setAll(page, { 'train-steps': 20, 'train-eval_every': 20 });
    await page.click('#start-sweep');
    await h.waitFor(page, 'the sweep to finish', () => document.querySelector('#sweep-status')?.textContent === 'done', null, 240_000);
    assert.equal(await page.locator('#sweep-queue li.done').count(), 2);
    assert.equal(await page.locator('#heatmap button.cell.filled').count(), 2);
    assert.equal(await page.locator('#error').count(), 0);
    assert.equal(workers(), 1);
  });
});

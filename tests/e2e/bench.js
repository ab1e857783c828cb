// The page's benchmark (issue 3): wasm sizes, time to first paint, and training steps/s of the reference
// model (2 layers, width 64, 4 heads, batch 64) in headless Chromium on each backend, with what the
// run's checkpoint (weights and AdamW state, every 5 s) costs there. scripts/bench-web
// builds the page, runs this, and prints the native CPU figure beside it.
// Then the `phase-transition` lesson's sweep (its settings, shortened to --sweep-steps a run) on the
// CPU fallback, one run after another against several workers at once (--workers, default 2), ending
// with a `sweep speedup` line.
// Last, a sweep of five runs of a tiny model (the browser tests' `TINY`, --stack-steps a run) on WebGPU,
// one after another against stacked in the page's one worker, ending with a `webgpu stack speedup`
// line. Here WebGPU is SwiftShader, which emulates the GPU on the CPU: the figure says what stacking
// saves of its per-dispatch cost, not what a real GPU gains.
// Usage: node tests/e2e/bench.js [--native-steps-per-s X] [--seconds S] [--sweep-steps N] [--workers W]
//        [--stack-steps N] [--only-sweep] [--only-stack]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const zlib = require('node:zlib');
const h = require('./harness');

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const nativeStepsPerS = option('--native-steps-per-s', NaN);
const windowSeconds = option('--seconds', 20);
const sweepSteps = option('--sweep-steps', 300);
const sweepWorkers = option('--workers', 2);
const onlySweep = args.includes('--only-sweep');
const stackSteps = option('--stack-steps', 100);
const onlyStack = args.includes('--only-stack');

// The reference model and task of `idp bench` (presets::reference_config), batch 64, and no evaluation
// inside the timed window.
const REFERENCE = {
  'task-alphabet': 8,
  'task-x_len-min': 1, 'task-x_len-max': 3,
  'task-y_len-min': 0, 'task-y_len-max': 3,
  'task-z_len-min': 4, 'task-z_len-max': 12,
  'model-layers': 2, 'model-width': 64, 'model-heads': 4, 'model-ff_width': 256,
  'train-batch_size': 64, 'train-steps': 1000000, 'train-eval_every': 1000000, 'train-warmup_steps': 10,
};

const mb = (bytes) => (bytes / 1e6).toFixed(2);

function sizes() {
  const files = fs.readdirSync(h.DIST).filter((f) => f.endsWith('.wasm'));
  let raw = 0;
  let gz = 0;
  for (const f of files) {
    const data = fs.readFileSync(path.join(h.DIST, f));
    const zipped = zlib.gzipSync(data, { level: 9 }).length;
    raw += data.length;
    gz += zipped;
    console.log(`wasm ${f.padEnd(36)} ${mb(data.length).padStart(8)} MB raw ${mb(zipped).padStart(7)} MB gzip`);
  }
  console.log(`wasm total ${' '.repeat(31)} ${mb(raw).padStart(8)} MB raw ${mb(gz).padStart(7)} MB gzip (goal: <= 4 MB gzip)`);
}

async function firstPaint(server) {
  const runs = [];
  for (let i = 0; i < 3; i++) {
    const browser = await h.launch({ webgpu: false });
    const { page, firstPaintMs } = await h.open(browser.context, server.url);
    const fcp = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN);
    runs.push({ fcp, app: firstPaintMs });
    await browser.close();
  }
  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`first contentful paint: ${median(runs.map((r) => r.fcp)).toFixed(0)} ms; app controls shown: ${median(runs.map((r) => r.app))} ms (median of ${runs.length} cold loads)`);
}

/** Steps/s of the reference model over a window after `warmupSteps`, read from the page's counter. */
async function speed(server, { webgpu, warmupSteps, warmupTimeoutMs }) {
  const browser = await h.launch({ webgpu });
  try {
    const { page } = await h.open(browser.context, server.url);
    await h.setAll(page, REFERENCE);
    await page.click('#start');
    await h.waitForSteps(page, warmupSteps, warmupTimeoutMs);
    const backend = await h.text(page, '#backend');
    const s0 = await h.steps(page);
    const t0 = Date.now();
    await page.waitForTimeout(windowSeconds * 1000);
    const s1 = await h.steps(page);
    const rate = (s1 - s0) / ((Date.now() - t0) / 1000);
    // The run is checkpointed every 5 s (inside the window above): what the latest one cost.
    const checkpoint = await page.locator('#checkpoint-cost').textContent({ timeout: 60_000 }).catch(() => 'none');
    await page.click('#stop');
    return { backend, rate, steps: s1 - s0, checkpoint: checkpoint.trim() };
  } finally {
    await browser.close();
  }
}

/** Seconds from the click on Start sweep to the sweep's end; `what` names it if it ends otherwise
 * than done. */
async function timeSweep(page, what) {
  const started = Date.now();
  await page.click('#start-sweep');
  await h.waitFor(page, 'the sweep to finish', () => document.querySelector('#sweep-status')?.textContent !== 'running', null, 3_600_000);
  const seconds = (Date.now() - started) / 1000;
  const status = await h.text(page, '#sweep-status');
  if (status !== 'done') throw new Error(`the sweep ${what} ended ${status}`);
  return seconds;
}

/** Seconds the lesson's sweep takes in `workers` workers, its runs shortened to `sweepSteps` steps. */
async function lessonSweep(server, workers) {
  const browser = await h.launch({ webgpu: false });
  try {
    const { page } = await h.open(browser.context, `${server.url}#backend=cpu`);
    // The lesson's settings (the primary action loads them), with shorter runs, swept over the
    // lesson's rule counts from the sweep builder.
    await page.click('#primary');
    await h.set(page, 'train-steps', sweepSteps);
    await h.set(page, 'sweep-values', '4, 16, 64, 256, 1024');
    await h.set(page, 'sweep-workers', workers);
    return await timeSweep(page, `in ${workers} worker(s)`);
  } finally {
    await browser.close();
  }
}

async function sweepComparison(server) {
  const one = await lessonSweep(server, 1);
  const several = await lessonSweep(server, sweepWorkers);
  console.log(`phase-transition lesson sweep, 5 runs of ${sweepSteps} steps, CPU fallback: one after another ${one.toFixed(1)} s; ${sweepWorkers} workers at once ${several.toFixed(1)} s`);
  console.log(`sweep speedup: ${(one / several).toFixed(2)}x`);
}

/** Seconds a sweep of five tiny runs takes on WebGPU with at most `stack` runs stacked, from the
 * click to the last result (shader compilation included: it is part of what a person waits for). */
async function webgpuSweep(server, stack) {
  const browser = await h.launch({ webgpu: true });
  try {
    const { page } = await h.open(browser.context, `${server.url}#${h.TINY}&steps=${stackSteps}&eval_every=${stackSteps}`);
    await h.set(page, 'sweep-values', '4, 8, 16, 32, 64');
    await h.set(page, 'sweep-stack', stack);
    const seconds = await timeSweep(page, `stacked by ${stack}`);
    const backend = await h.text(page, '#backend');
    if (!backend.startsWith('WebGPU')) throw new Error(`the sweep ran on ${backend}`);
    return { seconds, backend };
  } finally {
    await browser.close();
  }
}

async function stackComparison(server) {
  const one = await webgpuSweep(server, 1);
  const stacked = await webgpuSweep(server, 5);
  console.log(`sweep of 5 tiny runs of ${stackSteps} steps, ${one.backend}: one after another ${one.seconds.toFixed(1)} s; stacked in one worker ${stacked.seconds.toFixed(1)} s`);
  console.log(`webgpu stack speedup: ${(one.seconds / stacked.seconds).toFixed(2)}x`);
}

(async () => {
  if (onlyStack) {
    const server = await h.serve();
    try {
      await stackComparison(server);
    } finally {
      await server.close();
    }
    return;
  }
  if (onlySweep) {
    const server = await h.serve();
    try {
      await sweepComparison(server);
    } finally {
      await server.close();
    }
    return;
  }
  sizes();
  const server = await h.serve();
  try {
    await firstPaint(server);
    const cpu = await speed(server, { webgpu: false, warmupSteps: 5, warmupTimeoutMs: 120_000 });
    console.log(`browser ${cpu.backend.split(':')[0]} fallback: ${cpu.rate.toFixed(2)} steps/s (${cpu.steps} steps in ${windowSeconds} s); latest checkpoint ${cpu.checkpoint}`);
    if (Number.isFinite(nativeStepsPerS)) {
      console.log(`browser CPU / native CPU: ${(cpu.rate / nativeStepsPerS).toFixed(2)}x (native ${nativeStepsPerS.toFixed(2)} steps/s; goal: at least 0.50x)`);
    }
    const gpu = await speed(server, { webgpu: true, warmupSteps: 2, warmupTimeoutMs: 480_000 });
    console.log(`browser ${gpu.backend}: ${gpu.rate.toFixed(2)} steps/s (${gpu.steps} steps in ${windowSeconds} s; SwiftShader emulates the GPU on the CPU); latest checkpoint ${gpu.checkpoint}`);
    await sweepComparison(server);
    await stackComparison(server);
  } finally {
    await server.close();
  }
})().catch((e) => {
  console.error(`benchmark failed: ${e.message}`);
  process.exit(1);
});

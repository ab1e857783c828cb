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
// `--only-speed` measures only the CPU fallback's training speed of the reference model.
// `--lesson` times the real primary lesson instead, as a newcomer meets it: a fresh profile, no link,
// the page's defaults (headless Chromium here has no WebGPU, so the CPU fallback), from the click on
// Run to the reveal, and the time to the first accuracy; then its ladder (unseen-rule accuracy by
// rule count) and whether it shows the transition (at most 0.15 at the fewest rules, at least 0.75
// at the most, in order); `--workers N` sets the workers in place of the default.
// `--launches` counts the GPU kernels one training step of the reference model launches on WebGPU in
// the page (SwiftShader here, which can count them though not time them; batch 8, the count does not
// depend on it): the figure the page shows beside the speed, after --warmup-steps steps (shader
// compilation), as `idp bench --launches` counts them natively. Run it on two builds
// (IDP_DIST=...) to compare them.
// `--responsive` measures how the page answers while the lesson's sweep trains on the CPU fallback in
// 1, then 2, ... up to --workers workers: the time from a click on Pause to the paused state (the
// worker's `Paused`, shown; median and worst of 5), and frame times over 5 s (median, 95th percentile,
// worst), from which the default number of workers is chosen (Pause within 250 ms).
// Usage: node tests/e2e/bench.js [--native-steps-per-s X] [--seconds S] [--sweep-steps N] [--workers W]
//        [--stack-steps N] [--only-sweep] [--only-stack] [--only-speed] [--lesson] [--responsive]
//        [--launches [--warmup-steps N]]
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
const onlySpeed = args.includes('--only-speed');
const lessonOnly = args.includes('--lesson');
const responsive = args.includes('--responsive');
const launchesOnly = args.includes('--launches');
const warmupSteps = option('--warmup-steps', 3);

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
    await h.setAll(page, h.REFERENCE);
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

/** The primary lesson as a newcomer runs it: seconds to the first accuracy and to the reveal, and its
 * ladder. */
async function lesson(server) {
  const browser = await h.launch({ webgpu: false });
  try {
    const { page } = await h.open(browser.context, server.url);
    await page.click('#primary');
    await page.check('#lesson-choice-0');
    // `--workers N` overrides the page's default (one per core), to show what the workers contribute.
    if (args.includes('--workers')) {
      await page.fill('#sweep-workers', String(sweepWorkers));
      await page.dispatchEvent('#sweep-workers', 'change');
    }
    const workers = await page.inputValue('#sweep-workers').catch(() => '?');
    const started = Date.now();
    await page.click('#run-lesson');
    await h.waitFor(page, 'a first accuracy', () => !!document.querySelector('#accuracy'), null, 120_000);
    const first = (Date.now() - started) / 1000;
    await h.waitFor(page, 'the reveal', () => document.querySelector('#sweep-status')?.textContent !== 'running', null, 3_600_000);
    const reveal = (Date.now() - started) / 1000;
    const status = await h.text(page, '#sweep-status');
    if (status !== 'done') throw new Error(`the lesson ended ${status}`);
    await page.waitForSelector('#lesson-reveal', { timeout: 10_000 });
    const backend = await h.text(page, '#backend');
    const rows = await page.locator('#runs-table tbody tr').evaluateAll((trs) =>
      trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent.trim())));
    const headers = await page.locator('#runs-table thead th').evaluateAll((ths) => ths.map((th) => th.textContent.trim()));
    const column = (name) => headers.findIndex((hd) => hd.toLowerCase().startsWith(name));
    const [rulesAt, unseenAt] = [column('run'), column('unseen')];
    const ladder = rows
      .map((r) => ({ rules: Number((r[rulesAt].match(/\d+/g) || []).pop()), unseen: parseFloat(r[unseenAt]) / 100 }))
      .sort((a, b) => a.rules - b.rules);
    const inOrder = ladder.every((p, i) => i === 0 || p.unseen >= ladder[i - 1].unseen);
    const shows = ladder.length > 1 && ladder[0].unseen <= 0.15 && ladder[ladder.length - 1].unseen >= 0.75 && inOrder;
    console.log(`primary lesson, ${backend}, ${workers} worker(s), page defaults, no link`);
    console.log(`first accuracy: ${first.toFixed(1)} s after the click (goal: at most 10 s)`);
    console.log(`click to reveal: ${reveal.toFixed(1)} s (goal: at most 180 s)`);
    console.log(`ladder (unseen-rule accuracy by rules): ${ladder.map((p) => `${p.rules}: ${p.unseen.toFixed(3)}`).join(', ')}`);
    console.log(`shows the transition (<= 0.15 at the fewest rules, >= 0.75 at the most, in order): ${shows ? 'yes' : 'no'}`);
  } finally {
    await browser.close();
  }
}

/** The page's answer to a click and its frame times while a sweep trains in `workers` workers. */
async function responsiveness(server, workers) {
  const browser = await h.launch({ webgpu: false });
  try {
    const { page } = await h.open(browser.context, `${server.url}#backend=cpu`);
    await page.click('#primary');
    await h.set(page, 'train-steps', 100000);
    await h.set(page, 'sweep-values', '4, 16, 64, 256, 1024');
    await h.set(page, 'sweep-workers', workers);
    await page.click('#start-sweep');
    await h.waitFor(page, `${workers} runs training`, (n) => document.querySelectorAll('#sweep-queue li.running').length >= n
      && /running/.test(document.querySelector('#status')?.textContent ?? ''), workers, 120_000);
    // Let every worker pass its first evaluations.
    await page.waitForTimeout(8000);
    const frames = await page.evaluate(() => new Promise((resolve) => {
      const times = [];
      let last = performance.now();
      const end = last + 5000;
      const tick = (now) => {
        times.push(now - last);
        last = now;
        if (now < end) requestAnimationFrame(tick); else resolve(times);
      };
      requestAnimationFrame(tick);
    }));
    const pauses = [];
    for (let i = 0; i < 5; i++) {
      pauses.push(await page.evaluate(() => new Promise((resolve) => {
        const status = document.querySelector('#status');
        const started = performance.now();
        const observer = new MutationObserver(() => {
          if (status.textContent === 'paused') {
            observer.disconnect();
            resolve(performance.now() - started);
          }
        });
        observer.observe(status, { childList: true, characterData: true, subtree: true });
        document.querySelector('#pause').click();
      })));
      await page.click('#resume');
      await h.waitFor(page, 'training again', () => document.querySelector('#status')?.textContent === 'running', null, 10_000);
      await page.waitForTimeout(1000);
    }
    const sorted = (xs) => xs.slice().sort((a, b) => a - b);
    const at = (xs, q) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
    await page.click('#stop');
    return {
      pauseMedian: at(pauses, 0.5), pauseWorst: Math.max(...pauses),
      frameMedian: at(frames, 0.5), frameP95: at(frames, 0.95), frameWorst: Math.max(...frames),
    };
  } finally {
    await browser.close();
  }
}

/** Kernel launches a training step of the reference model (batch 8) on WebGPU, as the page shows
 * them once `warmupSteps` steps have passed, and the steps/s meanwhile. */
async function launches(server) {
  const browser = await h.launch({ webgpu: true });
  try {
    const { page } = await h.open(browser.context, server.url);
    await h.setAll(page, { ...h.REFERENCE, 'train-batch_size': 8 });
    await page.click('#start');
    const started = Date.now();
    await h.waitForSteps(page, warmupSteps + 2, 900_000);
    const backend = await h.text(page, '#backend');
    if (!backend.startsWith('WebGPU')) throw new Error(`the run trained on ${backend}, not WebGPU`);
    const shown = await h.text(page, '#launches');
    const seconds = (Date.now() - started) / 1000;
    const steps = await h.steps(page);
    await page.click('#stop');
    return { backend, shown, steps, seconds };
  } finally {
    await browser.close();
  }
}

(async () => {
  if (launchesOnly) {
    const server = await h.serve();
    try {
      const r = await launches(server);
      console.log(`${r.backend}: reference model, batch 8: ${r.shown} (shown after step ${r.steps}, ${r.seconds.toFixed(0)} s after the click)`);
      const count = Number(r.shown.replace(/[^0-9.].*$/, ''));
      console.log(`kernel launches per training step (page): ${count}`);
    } finally {
      await server.close();
    }
    return;
  }
  if (responsive) {
    const server = await h.serve();
    try {
      for (let workers = 1; workers <= sweepWorkers; workers++) {
        const r = await responsiveness(server, workers);
        console.log(`${workers} worker(s) training: Pause answered in ${r.pauseMedian.toFixed(0)} ms (median of 5; worst ${r.pauseWorst.toFixed(0)} ms); frame time ${r.frameMedian.toFixed(1)} ms median, ${r.frameP95.toFixed(1)} ms p95, ${r.frameWorst.toFixed(1)} ms worst`);
      }
    } finally {
      await server.close();
    }
    return;
  }
  if (lessonOnly || onlySpeed) {
    const server = await h.serve();
    try {
      if (lessonOnly) {
        await lesson(server);
      } else {
        const cpu = await speed(server, { webgpu: false, warmupSteps: 5, warmupTimeoutMs: 120_000 });
        console.log(`browser ${cpu.backend.split(':')[0]} fallback: ${cpu.rate.toFixed(2)} steps/s (${cpu.steps} steps in ${windowSeconds} s); latest checkpoint ${cpu.checkpoint}`);
      }
    } finally {
      await server.close();
    }
    return;
  }
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

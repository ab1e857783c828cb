// Where the CPU fallback's training step goes: a CPU profile of the page's workers (Chromium's own
// sampling profiler, through the DevTools protocol) while the reference model trains, printed as
// self time by function. scripts/profile-worker builds a worker that keeps its function names and
// runs this on it; on the release build, whose names are stripped, functions show as wasm-function[N].
// Usage: IDP_DIST=folder node tests/e2e/profile-worker.js [--seconds S] [--top N]
'use strict';
const h = require('./harness');
const { REFERENCE } = h;

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const seconds = option('--seconds', 15);
const top = option('--top', 25);

/** Self time by function name over every sample of a `Profiler.Profile`. */
function selfTimes(profile) {
  const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
  const byName = new Map();
  profile.samples.forEach((id, i) => {
    const frame = nodes.get(id).callFrame;
    const name = frame.functionName || frame.url || '(anonymous)';
    byName.set(name, (byName.get(name) || 0) + (profile.timeDeltas[i] || 0));
  });
  return byName;
}

(async () => {
  const server = await h.serve();
  const browser = await h.launch({ webgpu: false });
  try {
    const { page } = await h.open(browser.context, server.url);
    // The workers are the page's child targets; their profiler is reached through the page's session.
    const cdp = await browser.context.newCDPSession(page);
    const workers = [];
    // Each request waiting for its answer: id -> { sessionId, resolve, reject }.
    const pending = new Map();
    let nextId = 1;
    cdp.on('Target.attachedToTarget', (e) => workers.push(e.sessionId));
    cdp.on('Target.detachedFromTarget', (e) => {
      const at = workers.indexOf(e.sessionId);
      if (at >= 0) workers.splice(at, 1);
      for (const [id, p] of pending) {
        if (p.sessionId === e.sessionId) {
          pending.delete(id);
          p.reject(new Error('the worker went away while profiled'));
        }
      }
    });
    cdp.on('Target.receivedMessageFromTarget', (e) => {
      const message = JSON.parse(e.message);
      const p = pending.get(message.id);
      if (!p) return;
      pending.delete(message.id);
      if (message.error) p.reject(new Error(`${message.error.message} (${JSON.stringify(message.error)})`));
      else p.resolve(message.result);
    });
    /** One DevTools command to a worker; its result, or an error (answered with one, the worker
     * gone, or no answer in 30 s). */
    const send = (sessionId, method, params = {}) => new Promise((resolve, reject) => {
      const id = nextId++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`${method}: no answer in 30 s`));
      }, 30_000);
      const settle = (f) => (value) => { clearTimeout(timer); f(value); };
      pending.set(id, { sessionId, resolve: settle(resolve), reject: settle(reject) });
      cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id, method, params }) })
        .catch(settle(reject));
    });
    await cdp.send('Target.setAutoAttach', { autoAttach: true, waitForDebuggerOnStart: false, flatten: false });
    await h.setAll(page, REFERENCE);
    await page.click('#start');
    await h.waitForSteps(page, 30, 120_000);
    const profiled = [...workers];
    if (profiled.length === 0) throw new Error('the page has no worker to profile');
    for (const w of profiled) {
      await send(w, 'Profiler.enable');
      await send(w, 'Profiler.setSamplingInterval', { interval: 200 });
      await send(w, 'Profiler.start');
    }
    const s0 = await h.steps(page);
    const t0 = Date.now();
    await page.waitForTimeout(seconds * 1000);
    const rate = ((await h.steps(page)) - s0) / ((Date.now() - t0) / 1000);
    const total = new Map();
    for (const w of profiled) {
      const { profile } = await send(w, 'Profiler.stop');
      for (const [name, t] of selfTimes(profile)) total.set(name, (total.get(name) || 0) + t);
    }
    await page.click('#stop');
    total.delete('(idle)');
    total.delete('(program)');
    const busy = [...total.values()].reduce((a, b) => a + b, 0);
    console.log(`reference model on the CPU fallback: ${rate.toFixed(2)} steps/s; ${(busy / 1e6).toFixed(1)} s of worker time sampled`);
    for (const [name, t] of [...total].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      console.log(`${((100 * t) / busy).toFixed(1).padStart(5)}%  ${name.slice(0, 140)}`);
    }
  } finally {
    await browser.close();
    server.close();
  }
})().catch((e) => {
  console.error(e);
  process.exit(1);
});

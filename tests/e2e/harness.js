// Shared by the browser tests and the browser benchmark: a static server for the built page, headless
// Debian Chromium with or without WebGPU, and helpers that drive the page through its element ids.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..', '..');
const DIST = process.env.IDP_DIST || path.join(ROOT, 'dist');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.wasm': 'application/wasm',
  '.css': 'text/css',
  '.json': 'application/json',
  '.webmanifest': 'application/manifest+json',
};

/**
 * Serves `dist` on a free local port, as a static host would: a folder's URL without its trailing
 * slash is redirected to it. Options: `prefix` serves the build from a folder (`playground`) rather
 * than the root; `extra` adds files (`{ 'notes.html': '<p>notes</p>' }`, beside index.html); `omit`
 * answers 404 for the build's files whose names match it; `headers` are sent with every file of the
 * build (`{ 'Cache-Control': 'max-age=600' }`, as GitHub Pages does); `from(name)` may name another
 * folder to serve that file from (a cache that kept an old build's copy). `dist` may be a function
 * that gives the folder at each request (a deploy while the server runs). Resolves to
 * `{ url, close, requests }`, `url` being the page's folder (with its slash) and `requests` every
 * path and query asked for.
 */
async function serve(dist = DIST, { prefix = '', extra = {}, omit = null, headers = {}, from = () => null } = {}) {
  const folder = typeof dist === 'function' ? dist : () => dist;
  if (!fs.existsSync(path.join(folder(), 'index.html'))) {
    throw new Error(`no built page in ${folder()}: run \`trunk build --release\` first`);
  }
  const base = prefix ? `/${prefix}/` : '/';
  const requests = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const pathname = decodeURIComponent(url.pathname);
    requests.push(`${pathname}${url.search}`);
    if (prefix && pathname === `/${prefix}`) {
      res.writeHead(301, { Location: `${base}${url.search}` }).end();
      return;
    }
    if (!pathname.startsWith(base)) {
      res.writeHead(404).end();
      return;
    }
    const relative = pathname.slice(base.length);
    const name = relative === '' ? 'index.html' : relative;
    if (Object.hasOwn(extra, name)) {
      res.writeHead(200, { 'Content-Type': TYPES[path.extname(name)] || 'text/plain' });
      res.end(extra[name]);
      return;
    }
    if (omit && omit.test(name)) {
      res.writeHead(404).end();
      return;
    }
    const root = from(name) ?? folder();
    let file = path.normalize(path.join(root, relative));
    if (!file.startsWith(root)) {
      res.writeHead(403).end();
      return;
    }
    if (relative === '' || relative.endsWith('/')) file = path.join(file, 'index.html');
    fs.stat(file, (statError, stat) => {
      if (!statError && stat.isDirectory()) {
        res.writeHead(301, { Location: `${pathname}/` }).end();
        return;
      }
      fs.readFile(file, (err, data) => {
        if (err) {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] || 'application/octet-stream', ...headers });
        res.end(data);
      });
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}${base}`,
    requests,
    // Also ends kept-alive connections: a test that stops the server means the network is gone.
    close: () => new Promise((resolve) => {
      server.close(resolve);
      server.closeAllConnections();
    }),
  };
}

// The flags of ../shared/notes/platform.md. Without the WebGPU ones, headless Chromium has no adapter.
const BASE_FLAGS = [
  '--headless=new', '--no-sandbox', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic', '--disable-dev-shm-usage',
];
const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-webgpu-adapter=swiftshader',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
];

/**
 * Launches Chromium with a fresh profile; `webgpu` adds SwiftShader's WebGPU adapter; `names` maps
 * host names to this machine (`['classroom.test']`: a page opened there is not localhost, so it is
 * an insecure context, as a laptop's LAN address is to a class); `flags` are more command-line flags.
 */
async function launch({ webgpu, names = [], flags = [] }) {
  const args = [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : []), ...flags];
  if (names.length) args.push(`--host-resolver-rules=${names.map((n) => `MAP ${n} 127.0.0.1`).join(', ')}`);
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-chromium-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1280, height: 1000 },
  });
  const close = async () => {
    await context.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  };
  return { context, close };
}

/**
 * Launches one Chromium whose contexts share nothing (each `browser.newContext()` has its own
 * storage, as separate devices would); `names` as for `launch`. For the class tests: one browser,
 * many students.
 */
async function launchBrowser({ webgpu = false, names = [], flags = [] } = {}) {
  const args = [...BASE_FLAGS, ...(webgpu ? WEBGPU_FLAGS : []), ...flags];
  if (names.length) args.push(`--host-resolver-rules=${names.map((n) => `MAP ${n} 127.0.0.1`).join(', ')}`);
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

/** Opens the page; `log` collects console lines and page errors for failure messages. */
async function open(context, url) {
  const page = await context.newPage();
  return openIn(page, url);
}

/** Opens the page in an existing tab (see `open`). */
async function openIn(page, url) {
  const log = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text().slice(0, 500)}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.on('worker', (w) => w.on('console', (m) => log.push(`worker: ${m.text().slice(0, 500)}`)));
  const started = Date.now();
  await page.goto(url);
  await page.waitForSelector('#start', { timeout: 60_000 });
  return { page, log, firstPaintMs: Date.now() - started };
}

/**
 * Opens every collapsed <details> around the element `selector` names (the settings drawer, a group's
 * "more settings", the export menu), outermost first, as a person clicking their summaries would.
 */
async function reveal(page, selector) {
  await page.evaluate((selector) => {
    const closed = [];
    for (let d = document.querySelector(selector)?.closest('details'); d; d = d.parentElement?.closest('details')) {
      if (!d.open) closed.unshift(d);
    }
    for (const d of closed) d.querySelector(':scope > summary').click();
  }, selector);
}

/** Sets a numeric setting by its element id, as a person typing and leaving the field would. */
async function set(page, id, value) {
  await reveal(page, `#${id}`);
  await page.fill(`#${id}`, String(value));
  await page.dispatchEvent(`#${id}`, 'change');
}

/** Sets several settings: `{ 'model-width': 32, ... }`. */
async function setAll(page, settings) {
  for (const [id, value] of Object.entries(settings)) await set(page, id, value);
}

async function text(page, selector) {
  return (await page.textContent(selector)) ?? '';
}

async function steps(page) {
  return Number(await text(page, '#step-count'));
}

async function status(page) {
  return text(page, '#status');
}

/**
 * Runs axe-core on the page as it is and fails on any serious or critical violation, naming each
 * with the elements it found. (Evaluated, not injected as a script tag: the page's Content Security
 * Policy allows no inline script.)
 */
async function assertAccessible(page, state) {
  const source = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  const violations = await page.evaluate(async (axeSource) => {
    if (!window.axe) (0, eval)(axeSource);
    const results = await window.axe.run(document, { resultTypes: ['violations'] });
    return results.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')})`);
  }, source);
  if (violations.length > 0) {
    throw new Error(`accessibility, ${state}:\n${violations.join('\n')}`);
  }
}

/** Waits until a condition on the page holds, with a message that says what did not happen. */
async function waitFor(page, what, fn, arg, timeoutMs) {
  try {
    await page.waitForFunction(fn, arg, { timeout: timeoutMs, polling: 100 });
  } catch (e) {
    // What the page showed then, so a failure on CI says more than that time ran out.
    const shown = await page.evaluate(() => ['#status', '#step-count', '#sweep-status', '#sweep-queue', '#notices']
      .map((s) => `${s}: ${(document.querySelector(s)?.textContent ?? '(none)').replace(/\s+/g, ' ').trim().slice(0, 400)}`)
      .join('\n')).catch((err) => `(the page could not be read: ${err.message})`);
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${e.message.split("\n")[0]})\nthe page showed:\n${shown}`);
  }
}

/** The start of the service worker's cache's name, as `www/sw.js` names it (`-<build>` follows). */
const OFFLINE_CACHE = 'idp-offline-v2';

/** The name of the service worker's cache in `page`'s origin (the newest build's), or null. */
const offlineCacheName = (page) => page.evaluate(async (prefix) => {
  const names = (await caches.keys()).filter((n) => n.startsWith(prefix));
  return names[names.length - 1] ?? null;
}, OFFLINE_CACHE);

/**
 * Waits (30 s at most) until the service worker controls the page and its cache holds the page and the worker, so the page
 * opens offline from then on. Polls: waitForFunction would take the returned promise itself as a
 * truthy answer.
 */
async function waitForOfflineCache(page) {
  // The cache is filled while the service worker installs; it answers the page's requests only
  // once it is active and controls the page (a reload before that went to the network: a CI run
  // failed so with ERR_CONNECTION_REFUSED).
  const cached = () => page.evaluate(async (prefix) => {
    const name = (await caches.keys()).find((n) => n.startsWith(prefix));
    if (!name) return false;
    const cache = await caches.open(name);
    return !!(await cache.match('worker_bg.wasm')) && !!(await cache.match('./'))
      && navigator.serviceWorker.controller?.state === 'activated';
  }, OFFLINE_CACHE);
  const deadline = Date.now() + 30_000;
  while (!(await cached())) {
    if (Date.now() >= deadline) throw new Error('the offline cache never held the page and the worker');
    await page.waitForTimeout(200);
  }
}

const waitForSteps = (page, atLeast, timeoutMs) =>
  waitFor(page, `step >= ${atLeast}`, (n) => Number(document.querySelector('#step-count')?.textContent) >= n, atLeast, timeoutMs);

const waitForStatus = (page, wanted, timeoutMs) =>
  waitFor(page, `status "${wanted}"`, (s) => document.querySelector('#status')?.textContent === s, wanted, timeoutMs);

/** Records every loss the page shows, from now on, in `window.__losses`. */
async function recordLosses(page) {
  await page.evaluate(() => {
    window.__losses = [];
    const read = () => {
      const m = /loss ([0-9.eE+-]+|NaN|inf)/.exec(document.querySelector('#loss')?.textContent ?? '');
      if (m && window.__losses[window.__losses.length - 1] !== Number(m[1])) window.__losses.push(Number(m[1]));
    };
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

const losses = (page) => page.evaluate(() => window.__losses);

/**
 * Runs `body(page, browser)` on a fresh browser (no WebGPU) opened at `fragment` on `server`, printing the
 * page's log when it fails.
 */
async function withPage(server, fragment, body) {
  const browser = await launch({ webgpu: false });
  const { page, log } = await open(browser.context, `${server.url}#${fragment}`);
  try {
    await body(page, browser);
  } catch (e) {
    console.log(log.slice(-40).join('\n'));
    throw e;
  } finally {
    await browser.close();
  }
}

/**
 * Serves the built page for the tests of one file (node:test `before` and `after` hooks). Returns the
 * server's `url` (once started) and `withPage(fragment, body)` bound to it.
 */
function servePerFile() {
  const { before, after } = require('node:test');
  let server;
  before(async () => {
    server = await serve();
  });
  after(async () => {
    await server?.close();
  });
  return {
    get url() {
      return server.url;
    },
    withPage: (fragment, body) => withPage(server, fragment, body),
  };
}

// A tiny seeded run (seconds on the CPU), written as the page writes links (see src/permalink.rs).
const TINY = 'v=1&seed=7&I=16&budget=total:1000&alphabet=6&x=1-2&y=0-2&z=4-8&noop=0.2&freq=uniform&occ=1&sem=none'
  + '&layers=1&width=16&heads=2&ff=32&maxlen=64&steps=40&batch=8&lr=0.01&warmup=4&lr_end=0.1&wd=0.01&clip=1'
  + '&eval_every=20&test_rules=6&n_seen=12&n_unseen=12&n_noop=6';

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

module.exports = {
  REFERENCE,
  TINY, withPage, servePerFile,
  DIST, ROOT, serve, launch, launchBrowser, open, openIn, reveal, set, setAll, text, steps, status, waitFor, waitForSteps, waitForStatus,
  recordLosses, losses, assertAccessible, OFFLINE_CACHE, offlineCacheName, waitForOfflineCache,
};

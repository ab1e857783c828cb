// Browser tests of the page where it really lives (issue 27): inside another site's frames, plain
// and sandboxed; with storage that is missing, silent, or held at an older version by another tab;
// across a deploy on a host that caches files for ten minutes; and over plain http on a LAN name.
// In every storage condition a run starts, or the page says why, within 10 s.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const { TINY } = h;
const STARTS_WITHIN_MS = 10_000;
const RUN = `${TINY}&run=1&backend=cpu`;

/** A tab of an older page: it holds the database open at version 1 and ignores requests to close. */
const OLD_TAB = `<!doctype html><title>old</title><script>
window.held = new Promise((resolve, reject) => {
  const request = indexedDB.open('instruction-diversity', 1);
  request.onsuccess = () => { window.db = request.result; resolve('open'); };
  request.onerror = () => reject(request.error);
});
</script>`;

/** A tab of a newer page: it upgrades the database to version 3 and says whether it was blocked. */
const NEW_TAB = `<!doctype html><title>new</title><script>
window.upgraded = new Promise((resolve, reject) => {
  const request = indexedDB.open('instruction-diversity', 3);
  request.onblocked = () => resolve('blocked');
  request.onsuccess = () => resolve('open');
  request.onerror = () => reject(request.error);
});
</script>`;

let server;
before(async () => {
  server = await h.serve(h.DIST, { extra: { 'old-tab.html': OLD_TAB, 'new-tab.html': NEW_TAB } });
});
after(() => server?.close());

/** Waits until the run has started (it trains or is done), or fails naming what the page showed. */
const started = (target, timeoutMs = STARTS_WITHIN_MS) => h.waitFor(target, 'the run to start',
  () => ['running', 'finished'].includes(document.querySelector('#status')?.textContent), null, timeoutMs);

/** Opens `url` and resolves once `#start` is drawn, keeping the page's log for a failure. */
async function visit(context, url, init) {
  const page = await context.newPage();
  if (init) await page.addInitScript(init);
  const log = [];
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text().slice(0, 300)}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  const opened = Date.now();
  await page.goto(url);
  return { page, log, opened };
}

/** Runs `body` on a fresh browser; prints the page logs it collected when it fails. */
async function withBrowser(options, body) {
  const browser = await h.launch({ webgpu: false, ...options });
  const logs = [];
  try {
    await body(browser.context, logs);
  } catch (e) {
    for (const log of logs) console.log(log.slice(-30).join('\n'));
    throw e;
  } finally {
    await browser.close();
  }
}

/** A course site on another origin (`course.test`) whose page embeds the playground in a frame. */
async function courseSite(src, sandbox) {
  const attribute = sandbox === null ? '' : ` sandbox="${sandbox}"`;
  const site = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>Course</title><h1>Week 3</h1>
<iframe id="playground" title="Instruction Diversity Playground" width="1000" height="900"${attribute} src="${src}"></iframe>`);
  });
  await new Promise((resolve) => site.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://course.test:${site.address().port}/`,
    close: () => new Promise((resolve) => { site.close(resolve); site.closeAllConnections(); }),
  };
}

const frameOf = async (page) => {
  await page.waitForSelector('#playground');
  return (await page.$('#playground')).contentFrame();
};

test('embedded in another site\'s frame (no sandbox, and sandboxed with scripts and same origin) the page trains, its storage partitioned or denied and said so', async (t) => {
  // Chromium 156 denies a third-party frame storage by default (third-party cookie deprecation);
  // without that, as in browsers that keep third-party cookies, its storage is partitioned.
  const PARTITIONED = ['--disable-features=TrackingProtection3pcd'];
  const cases = [[null, false], ['allow-scripts allow-same-origin', false], [null, true], ['allow-scripts allow-same-origin', true]];
  for (const [sandbox, partitioned] of cases) {
    const site = await courseSite(`${server.url}#${RUN}&embed=1`, sandbox);
    try {
      await withBrowser({ names: ['course.test'], flags: partitioned ? PARTITIONED : [] }, async (context, logs) => {
        const { page, log, opened } = await visit(context, site.url);
        logs.push(log);
        const frame = await frameOf(page);
        await started(frame);
        t.diagnostic(`frame, sandbox ${sandbox}, partitioned ${partitioned}: the run started ${Date.now() - opened} ms after the course page was asked for`);
        await h.waitForStatus(frame, 'finished', 60_000);
        // Partitioned: the run is kept, apart from the page opened directly. Denied: the page says
        // its runs are not kept.
        const kept = await frame.evaluate(() => indexedDB.databases().then((d) => d.map((x) => x.name), (e) => e.message));
        assert.equal(Array.isArray(kept), partitioned, `${sandbox}, partitioned ${partitioned}: ${kept}`);
        if (Array.isArray(kept)) {
          assert.ok(kept.includes('instruction-diversity'), `${sandbox}: ${kept}`);
          assert.equal(await frame.locator('#storage-problem').count(), 0, `${sandbox}: storage was said to fail`);
        } else {
          assert.match(await h.text(frame, '#storage-problem'), /keeps no data for this page here \(it is in a frame on another site.*will not survive a reload here/, `${sandbox}: ${kept}`);
          // Nothing else on the page says the runs are kept.
          assert.match(await h.text(frame, '#compare'), /cannot keep/);
        }
      });
    } finally {
      await site.close();
    }
  }
});

test('a frame sandboxed without allow-same-origin says what it lacks; one without scripts names the frame in its static text', async () => {
  const site = await courseSite(`${server.url}#${RUN}&embed=1`, 'allow-scripts');
  try {
    await withBrowser({ names: ['course.test'] }, async (context, logs) => {
      const { page, log, opened } = await visit(context, site.url);
      logs.push(log);
      const frame = await frameOf(page);
      await h.waitFor(frame, 'the sandbox to be named', () => !!document.querySelector('#frame-refused'), null, STARTS_WITHIN_MS);
      assert.ok(Date.now() - opened < STARTS_WITHIN_MS);
      const said = await frame.evaluate(() => document.querySelector('#frame-refused').textContent);
      assert.match(said, /sandboxes the frame without allow-same-origin/);
      assert.match(said, /sandbox="allow-scripts allow-same-origin"/);
      assert.doesNotMatch(said, /every file of the build/, 'a sandboxed frame is not a hosting problem');
    });
  } finally {
    await site.close();
  }
  // Without allow-scripts nothing of the page runs: its static text names the frame as one cause.
  const html = fs.readFileSync(path.join(h.DIST, 'index.html'), 'utf8');
  assert.match(html, /the frame must allow scripts/);
});

// Storage that never answers, is missing, or whose locks never answer: simulated in the page by
// replacing the browser's own objects before the page's scripts run.
const STORAGE_CASES = [
  {
    name: 'IndexedDB never answers',
    init: () => { IDBFactory.prototype.open = function open() { return {}; }; },
    says: /did not answer within 3 s/,
  },
  {
    name: 'IndexedDB is missing',
    init: () => { Object.defineProperty(window, 'indexedDB', { value: undefined }); },
    says: /no IndexedDB/,
  },
  {
    name: 'the browser refuses IndexedDB',
    init: () => {
      IDBFactory.prototype.open = function open() { throw new DOMException('access to storage is denied', 'SecurityError'); };
    },
    says: /keeps no data for this page here .*The browser said: SecurityError access to storage is denied/,
  },
  {
    name: 'Web Locks never answer',
    init: () => {
      LockManager.prototype.request = function request() { return new Promise(() => {}); };
      LockManager.prototype.query = function query() { return new Promise(() => {}); };
    },
    says: null,
  },
];

test('a run never waits on storage: silent, missing or refused storage, or silent locks, still start within 10 s and say what is lost', async (t) => {
  for (const { name, init, says } of STORAGE_CASES) {
    await withBrowser({}, async (context, logs) => {
      const { page, log, opened } = await visit(context, `${server.url}#${RUN}`, init);
      logs.push(log);
      await started(page).catch((e) => { throw new Error(`${name}: ${e.message}`); });
      t.diagnostic(`${name}: the run started ${Date.now() - opened} ms after the page was asked for`);
      assert.ok(Date.now() - opened < STARTS_WITHIN_MS + 2_000, `${name}: ${Date.now() - opened} ms`);
      if (says) {
        await h.waitFor(page, `${name} to be said`, () => !!document.querySelector('#storage-problem'), null, STARTS_WITHIN_MS);
        const said = await h.text(page, '#storage-problem');
        assert.match(said, says, name);
        assert.match(said, /will not survive a reload here/, name);
      }
      await h.waitForStatus(page, 'finished', 60_000);
    });
  }
});

test('an old tab holding an older version: the new tab trains and says so, and saves again once the old tab closes', async (t) => {
  await withBrowser({}, async (context, logs) => {
    const old = await context.newPage();
    await old.goto(`${server.url}old-tab.html`);
    assert.equal(await old.evaluate(() => window.held), 'open');

    const { page, log, opened } = await visit(context, `${server.url}#${RUN}`);
    logs.push(log);
    await started(page);
    t.diagnostic(`blocked upgrade: the run started ${Date.now() - opened} ms after the page was asked for`);
    await h.waitFor(page, 'the blocked upgrade to be said', () => !!document.querySelector('#storage-problem'), null, STARTS_WITHIN_MS);
    assert.ok(Date.now() - opened < STARTS_WITHIN_MS + 2_000);
    assert.match(await h.text(page, '#storage-problem'), /Another tab holds an older version of this page open; close or reload it/);
    await h.waitForStatus(page, 'finished', 60_000);

    // The old tab goes: the upgrade that waited completes, and the notice goes with it.
    await old.close();
    await h.waitFor(page, 'storage to answer again', () => !document.querySelector('#storage-problem'), null, 10_000);
  });
});

test('a newer version opened in another tab: this tab lets go of its database at once and offers a reload', async () => {
  await withBrowser({}, async (context, logs) => {
    const { page, log } = await visit(context, `${server.url}#${RUN}`);
    logs.push(log);
    // The run finished and was saved: the page holds its database open.
    await h.waitForStatus(page, 'finished', 60_000);

    const newer = await context.newPage();
    await newer.goto(`${server.url}new-tab.html`);
    assert.equal(await newer.evaluate(() => window.upgraded), 'open', 'this tab blocked the newer one');
    await h.waitFor(page, 'the newer version to be said', () => !!document.querySelector('#storage-problem .reload'), null, 10_000);
    assert.match(await h.text(page, '#storage-problem'), /newer version of this page was opened in another tab/);
  });
});

test('over plain http on a LAN name: the page names the insecure context, trains on the CPU, and Copy link never throws', async () => {
  await withBrowser({ webgpu: true, names: ['classroom.test'] }, async (context, logs) => {
    const port = new URL(server.url).port;
    const { page, log } = await visit(context, `http://classroom.test:${port}/#${TINY}&run=1`);
    logs.push(log);
    assert.equal(await page.evaluate(() => isSecureContext), false);
    await page.waitForSelector('#insecure-context');
    assert.match(await h.text(page, '#insecure-context'), /need https or localhost; this page was opened over plain http/);
    await h.waitForStatus(page, 'finished', 60_000);
    // WebGPU is there for secure pages of this browser, not for this one: the badge says why.
    assert.match(await h.text(page, '#backend'), /opened over plain http .*WebGPU only to secure pages/);
    await page.click('#copy-link');
    await page.waitForSelector('#share-link');
    const said = await page.evaluate(() => document.querySelector('#share-link').nextElementSibling?.textContent ?? '');
    assert.match(said, /^(Copied\.|Copy it from the box: over plain http the browser gives this page no clipboard\.)$/);
    assert.deepEqual(log.filter((l) => l.startsWith('pageerror')), []);
    // No service worker here: offline use is said to be missing, not attempted.
    assert.equal(await page.evaluate(() => 'serviceWorker' in navigator), false);
  });
});

/**
 * A second build made from `dist` as a deploy makes one: the same files with another build name
 * (the 16 hex digits `#build` shows, replaced in both wasm files) and the page's own files renamed,
 * as Trunk's content hashes rename them.
 */
function otherBuild(dist, build, next) {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-build-'));
  let index = fs.readFileSync(path.join(dist, 'index.html'), 'utf8');
  for (const name of fs.readdirSync(dist)) {
    let bytes = fs.readFileSync(path.join(dist, name));
    if (name.endsWith('.wasm')) {
      const count = bytes.toString('latin1').split(build).length - 1;
      assert.ok(count >= 1, `${name} does not name build ${build}`);
      bytes = Buffer.from(bytes.toString('latin1').replaceAll(build, next), 'latin1');
    }
    const renamed = name.startsWith('app-') ? name.replace(/^app-[0-9a-f]+/, `app-${next}`) : name;
    if (renamed !== name) index = index.replaceAll(name, renamed);
    if (name === 'index.html') continue;
    fs.writeFileSync(path.join(folder, renamed), bytes);
    // Trunk's subresource integrity on the preloads: the new files' own.
    const integrity = `sha384-${crypto.createHash('sha384').update(fs.readFileSync(path.join(dist, name))).digest('base64')}`;
    index = index.replaceAll(integrity, `sha384-${crypto.createHash('sha384').update(bytes).digest('base64')}`);
  }
  fs.writeFileSync(path.join(folder, 'index.html'), index);
  return folder;
}

test('a deploy between two loads on a host that caches for ten minutes: the reloaded page gets the worker of its own build', async () => {
  let root = h.DIST;
  const host = await h.serve(() => root, { headers: { 'Cache-Control': 'public, max-age=600' } });
  try {
    await withBrowser({}, async (context, logs) => {
      const { page, log } = await visit(context, `${host.url}#${RUN}`);
      logs.push(log);
      await h.waitForStatus(page, 'finished', 60_000);
      const build = await h.text(page, '#build');
      assert.match(build, /^[0-9a-f]{16}$/);
      const next = [...build].reverse().join('') === build ? 'f'.repeat(16) : [...build].reverse().join('');
      root = otherBuild(h.DIST, build, next);
      host.requests.length = 0;

      await page.reload();
      // The run again, in the new build's page and worker.
      await h.waitFor(page, 'the new build', (b) => document.querySelector('#build')?.textContent === b, next, 30_000);
      await page.click('#start');
      await h.waitForStatus(page, 'finished', 60_000);
      assert.equal(await page.locator('#stale-worker').count(), 0);
      for (const file of ['worker-loader.js', 'worker.js', 'worker_bg.wasm']) {
        assert.ok(host.requests.includes(`/${file}?build=${next}`), `${file} of the new build was not fetched: ${host.requests}`);
      }
    });
  } finally {
    if (root !== h.DIST) fs.rmSync(root, { recursive: true, force: true });
    await host.close();
  }
});

test('a worker of another build is refused with a reload prompt: a cache that ignores the query, and workers of older protocols', async () => {
  const { DIST } = h;
  // The build the page names: read from a first visit.
  let pageBuild;
  await withBrowser({}, async (context) => {
    const { page } = await visit(context, server.url);
    pageBuild = await page.waitForSelector('#build').then(() => h.text(page, '#build'));
  });
  const next = 'f'.repeat(16) === pageBuild ? 'e'.repeat(16) : 'f'.repeat(16);
  const newer = otherBuild(DIST, pageBuild, next);
  const stale = [
    // The old worker's own files, whatever the query asks for.
    { name: 'an older build\'s worker', from: (file) => (/^worker/.test(file) ? DIST : null), says: `build ${pageBuild} for the worker` },
    // A worker from before builds were named says ready without one.
    { name: 'a worker of an older protocol', extra: { 'worker-loader.js': 'postMessage(JSON.stringify({ event: "ready" }));' }, says: 'an older build' },
    // A worker whose first message this page cannot read at all.
    { name: 'a worker of an unknown protocol', extra: { 'worker-loader.js': 'postMessage("{\\"kind\\":\\"hello\\"}");' }, says: 'an older build' },
  ];
  try {
    for (const { name, from, extra, says } of stale) {
      const host = await h.serve(newer, { from, extra });
      try {
        await withBrowser({}, async (context, logs) => {
          const { page, log, opened } = await visit(context, `${host.url}#${RUN}`);
          logs.push(log);
          await h.waitFor(page, `${name} to be refused`, () => !!document.querySelector('#stale-worker .reload'), null, STARTS_WITHIN_MS);
          assert.ok(Date.now() - opened < STARTS_WITHIN_MS + 2_000, name);
          const said = await h.text(page, '#stale-worker');
          assert.ok(said.includes(says) && said.includes(`build ${next} for the page`), `${name}: ${said}`);
          await h.waitForStatus(page, 'failed', 5_000);
          assert.equal(await h.steps(page), 0, `${name}: it trained`);
        });
      } finally {
        await host.close();
      }
    }
  } finally {
    fs.rmSync(newer, { recursive: true, force: true });
  }
});

test('after a deploy the offline copy is the new build: a service worker per build caches the new files', async () => {
  let root = h.DIST;
  const host = await h.serve(() => root);
  try {
    await withBrowser({}, async (context, logs) => {
      const { page, log } = await visit(context, `${host.url}#${RUN}`);
      logs.push(log);
      await h.waitForOfflineCache(page);
      const build = await h.text(page, '#build');
      const next = build === 'a'.repeat(16) ? 'b'.repeat(16) : 'a'.repeat(16);
      root = otherBuild(h.DIST, build, next);
      await page.reload();
      await h.waitFor(page, 'the new build', (b) => document.querySelector('#build')?.textContent === b, next, 30_000);
      // The new build's service worker takes over with its own cache; the old one is dropped.
      const deadline = Date.now() + 30_000;
      for (;;) {
        const [keys, script] = await page.evaluate(async () => [await caches.keys(), navigator.serviceWorker.controller?.scriptURL ?? '']);
        if (keys.length === 1 && keys[0].endsWith(next) && script.endsWith(`build=${next}`)) break;
        if (Date.now() > deadline) throw new Error(`offline caches ${keys}, service worker ${script}`);
        await page.waitForTimeout(200);
      }
      await h.waitForOfflineCache(page);
      await context.setOffline(true);
      await page.reload();
      await h.waitFor(page, 'the new build offline', (b) => document.querySelector('#build')?.textContent === b, next, 30_000);
      await page.click('#start');
      await h.waitForStatus(page, 'finished', 60_000);
    });
  } finally {
    if (root !== h.DIST) fs.rmSync(root, { recursive: true, force: true });
    await host.close();
  }
});

test('without Web Locks (plain http) a duplicated tab gets its own id; a reload keeps its own; cleared site data is saved to again', async () => {
  const LONG = TINY.replace('steps=40', 'steps=4000').replace('eval_every=20', 'eval_every=500');
  const noLocks = () => { Object.defineProperty(Navigator.prototype, 'locks', { get: () => undefined }); };
  await withBrowser({}, async (context, logs) => {
    const a = await visit(context, `${server.url}#${LONG}&run=1&backend=cpu`, noLocks);
    logs.push(a.log);
    await h.waitFor(a.page, 'a checkpoint', () => Number(document.querySelector('#checkpoint-step')?.textContent) >= 500, null, 60_000);
    await a.page.click('#pause');
    const owner = await a.page.evaluate(() => sessionStorage.getItem('idp-tab-owner'));
    // A duplicated tab copies sessionStorage: simulated before the page's scripts run.
    const b = await visit(context, server.url, `(${noLocks})(); sessionStorage.setItem('idp-tab-owner', ${JSON.stringify(owner)});`);
    logs.push(b.log);
    await b.page.waitForSelector('#start');
    await b.page.waitForTimeout(1500);
    assert.notEqual(await b.page.evaluate(() => sessionStorage.getItem('idp-tab-owner')), owner);
    assert.equal(await h.status(b.page), 'idle', 'the duplicated tab took over the run');
    // A reload of A keeps its id and goes on with its run.
    await a.page.reload();
    await a.page.waitForSelector('#start');
    assert.equal(await a.page.evaluate(() => sessionStorage.getItem('idp-tab-owner')), owner);
    await h.waitFor(a.page, 'A to resume', () => ['starting', 'running', 'paused'].includes(document.querySelector('#status')?.textContent), null, 30_000);
    await a.page.click('#stop').catch(() => {});
    await b.page.close();

    // The reader clears the site's data: the browser closes the page's database under it; the next
    // finished run of the same page is saved all the same.
    const c = await visit(context, `${server.url}#${RUN}`);
    logs.push(c.log);
    const saved = () => c.page.evaluate(() => [...document.querySelectorAll('#runs-table td')].filter((td) => td.textContent === 'saved').length);
    await h.waitFor(c.page, 'the first run to be saved', () => [...document.querySelectorAll('#runs-table td')].some((td) => td.textContent === 'saved'), null, 60_000);
    const before = await saved();
    const cdp = await context.newCDPSession(c.page);
    await cdp.send('Storage.clearDataForOrigin', { origin: new URL(server.url).origin, storageTypes: 'indexeddb' });
    await c.page.click('#start');
    await h.waitFor(c.page, 'the next run to be saved', (n) => [...document.querySelectorAll('#runs-table td')].filter((td) => td.textContent === 'saved').length > n, before, 60_000);
    assert.equal(await c.page.locator('#storage-error').count(), 0);
  });
});

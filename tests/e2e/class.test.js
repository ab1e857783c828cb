// A class as it really runs (issue 25): `idp class` on this machine, the teacher's dashboard on
// localhost, and students' pages in Chromium joining through a name that is not localhost (so they
// are insecure contexts, as pages from a laptop's LAN address are), each with storage of its own.
// A 12-cell plan of tiny models fills the teacher's diagram and equals `idp sweep` of the same plan.
// On the way: a student closes the tab mid-run (its cell is handed out again), the teacher reloads,
// the hub is killed and started again with the same folder, a late joiner gets work, an edited code
// is refused, a stale build is refused with a message, and 12 result codes pasted into the
// teacher's page without a hub fill the same diagram.
'use strict';
const { test, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const h = require('./harness');

const TARGET = process.env.CARGO_TARGET_DIR || path.join(os.homedir(), '.cache', 'instruction-diversity', 'target');
const IDP = process.env.IDP_BIN || path.join(TARGET, 'release', 'idp');
// Seven at the start, one closes its tab, a late joiner makes it eight students in all.
const STUDENTS = 7;

// A sweep of 12 cells of a tiny model (rule counts x examples per rule x 3 seeds), long enough (1,500
// steps: the class takes a minute or two with eight pages sharing two cores) that it is still
// filling when the teacher reloads and when the hub is restarted.
const SETTINGS = [
  '--backend', 'cpu', '--seed', '7',
  '--set', 'train.steps=1500', '--set', 'train.eval_every=750', '--set', 'train.warmup_steps=10',
  '--set', 'model={"layers":1,"width":16,"heads":2,"ff_width":32,"max_len":64}',
  '--set', 'eval={"test_rules":6,"seen_examples":16,"unseen_examples":16,"noop_examples":6}',
  '--instructions', '2,4', '--per-rule', '5,20', '--seeds', '7,8,9',
];

const temp = fs.mkdtempSync(path.join(os.tmpdir(), 'idp-class-'));
const hubs = new Set();
after(() => {
  for (const hub of hubs) hub.kill('SIGKILL');
  fs.rmSync(temp, { recursive: true, force: true });
});

/** A free port on this machine. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Starts `idp class` and resolves once it listens; its output is kept for failure messages. */
function startHub(dir, port, more = []) {
  const args = ['class', ...SETTINGS, '--out', dir, '--dist', h.DIST, '--host', '127.0.0.1', '--port', String(port),
    '--public-url', `http://classroom.test:${port}`, '--lease-seconds', '6', ...more];
  const hub = spawn(IDP, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  hubs.add(hub);
  hub.output = [];
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the hub did not start:\n${hub.output.join('')}`)), 60_000);
    const read = (chunk) => {
      hub.output.push(String(chunk));
      // The dashboard's link, with the teacher's key.
      const dashboard = hub.output.join('').match(/teacher's dashboard: (\S+)/);
      if (dashboard) {
        hub.teacherUrl = dashboard[1];
        clearTimeout(timer);
        resolve(hub);
      }
    };
    hub.stdout.on('data', read);
    hub.stderr.on('data', read);
    hub.on('exit', (code) => {
      hubs.delete(hub);
      clearTimeout(timer);
      reject(new Error(`the hub exited (${code}):\n${hub.output.join('')}`));
    });
  });
}

async function stopHub(hub) {
  const exited = new Promise((resolve) => hub.once('exit', resolve));
  hub.kill('SIGKILL');
  await exited;
}

async function hubState(port) {
  const response = await fetch(`http://127.0.0.1:${port}/class/state`);
  return response.json();
}

/** A page in a context of its own (a device of its own); its log is kept for failure messages. */
const pages = {};

async function device(browser, url, logs, name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  pages[name] = page;
  const log = [];
  logs[name] = log;
  page.on('console', (m) => log.push(`console.${m.type()}: ${m.text().slice(0, 300)}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('#class-panel', { timeout: 120_000 });
  return { context, page };
}

/** The numbers of the teacher's tallies line. */
async function tallies(page) {
  const line = await h.text(page, '#class-tallies');
  const number = (re) => Number((line.match(re) ?? [])[1] ?? NaN);
  return {
    line,
    done: number(/(\d+) of \d+ cells done/),
    missing: number(/(\d+) missing/),
    disputed: number(/(\d+) disputed/),
    reissued: number(/(\d+) handed out again/),
  };
}

/** Waits until the teacher's tallies reach `min` (each field at least) and `max` (at most). */
const waitTallies = (page, what, { min = {}, max = {} }, timeoutMs = 240_000) => h.waitFor(page, what,
  ({ min, max }) => {
    const line = document.querySelector('#class-tallies')?.textContent ?? '';
    const n = (re) => Number((line.match(re) ?? [])[1] ?? NaN);
    const t = { done: n(/(\d+) of \d+ cells done/), missing: n(/(\d+) missing/), disputed: n(/(\d+) disputed/), reissued: n(/(\d+) handed out again/) };
    return Object.entries(min).every(([k, v]) => t[k] >= v) && Object.entries(max).every(([k, v]) => t[k] <= v);
  }, { min, max }, timeoutMs);

test('a class of students fills the teacher\'s diagram, through a closed tab, a reload and a restarted hub, and equals idp sweep', async () => {
  assert.ok(fs.existsSync(IDP), `no idp at ${IDP}: build it (cargo build --release) or set IDP_BIN`);
  const dir = path.join(temp, 'class');
  const port = await freePort();
  let hub = await startHub(dir, port);
  const browser = await h.launchBrowser({ names: ['classroom.test'] });
  const logs = {};
  const started = Date.now();
  try {
    assert.match(hub.teacherUrl, new RegExp(`^http://localhost:${port}/#class=teach&key=[0-9a-f]{16}$`));
    const teacher = await device(browser, hub.teacherUrl, logs, 'teacher');
    await teacher.page.waitForSelector('#class-tallies', { timeout: 60_000 });
    assert.equal(await h.text(teacher.page, '#class-join-url'), `http://classroom.test:${port}/#class=join`);
    assert.ok(await teacher.page.$('#class-join-qr svg'), 'the join link has a QR code');
    await h.assertAccessible(teacher.page, 'the teacher\'s dashboard');

    const students = [];
    for (let k = 0; k < STUDENTS; k += 1) {
      students.push(await device(browser, `http://classroom.test:${port}/#class=join`, logs, `student ${k + 1}`));
    }
    await h.waitFor(teacher.page, `${STUDENTS} students on the dashboard`,
      (n) => document.querySelectorAll('#class-students tbody tr').length >= n, STUDENTS, 120_000);
    // Every student's page is an insecure context, and trains on the CPU there.
    assert.ok(await students[0].page.evaluate(() => !window.isSecureContext));

    // A student closes the tab while training a cell: the hub hands the cell to another. (The
    // codes its page showed are kept for the test of pasted codes below.)
    const codes = new Map();
    const gather = async (page) => {
      for (const [cell, code] of await page.$$eval('#class-codes .result-code', (nodes) => nodes.map((n) => [
        n.querySelector('p').textContent.match(/cell (\d+)/)[1], n.querySelector('code').textContent]))) {
        codes.set(cell, code);
      }
    };
    const leaver = students.shift();
    await h.waitFor(leaver.page, 'the first student to train a cell',
      () => /Training cell/.test(document.querySelector('#class-status')?.textContent ?? ''), null, 180_000);
    await gather(leaver.page);
    await leaver.context.close();
    await waitTallies(teacher.page, 'the closed tab\'s cell handed out again', { min: { reissued: 1 } }, 60_000);

    // The teacher reloads: the hub holds the class, nothing is lost.
    await waitTallies(teacher.page, 'three cells done', { min: { done: 3 } });
    const before = await tallies(teacher.page);
    await teacher.page.reload();
    await teacher.page.waitForSelector('#class-tallies', { timeout: 60_000 });
    assert.ok((await tallies(teacher.page)).done >= before.done, 'the reload lost no cell');

    // The hub is killed and started again with the same folder: it goes on where it was.
    await waitTallies(teacher.page, 'five cells done', { min: { done: 5 } });
    await stopHub(hub);
    await h.waitFor(students[0].page, 'a student to see the hub gone',
      () => document.querySelector('#class-trouble') !== null, null, 60_000);
    hub = await startHub(dir, port);
    const replayed = await hubState(port);
    assert.ok(replayed.done >= 5, `the restarted hub replayed its results (${replayed.done} done)`);

    // A late joiner gets work.
    const late = await device(browser, `http://classroom.test:${port}/#class=join`, logs, 'late joiner');
    students.push(late);
    await h.waitFor(late.page, 'the late joiner to train',
      () => /Training|Every cell/.test(document.querySelector('#class-status')?.textContent ?? ''), null, 120_000);

    await waitTallies(teacher.page, 'every cell done', { max: { missing: 0 } });
    const state = await hubState(port);
    assert.equal(state.done, 12, `no disputed cell: ${state.flags.join('; ')}`);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`class figures: ${STUDENTS} students (one closed its tab) and a late joiner filled 12 cells in ${seconds} s (hub: ${state.filled_seconds?.toFixed(1)} s since its restart), ${state.reissued} cell(s) handed out again after the restart, ${state.results} results, flags: ${JSON.stringify(state.flags)}`);
    await teacher.page.waitForSelector('#heatmap button.cell.filled');
    await teacher.page.screenshot({ path: path.join(os.tmpdir(), 'idp-class-teacher.png'), fullPage: true });
    await late.page.screenshot({ path: path.join(os.tmpdir(), 'idp-class-student.png'), fullPage: true });

    // An edited code is refused by name; the codes the students' pages show are gathered.
    for (const s of students) await gather(s.page);
    const [first] = codes.values();
    const edited = first.slice(0, -2) + (first.at(-2) === 'A' ? 'B' : 'A') + first.at(-1);
    await teacher.page.fill('#class-paste', edited);
    await teacher.page.click('#class-add-codes');
    await teacher.page.waitForSelector('#class-error');
    assert.match(await h.text(teacher.page, '#class-error'), /checksum fails/);

    // The class's results equal `idp sweep` of the same plan (accuracies within the replay
    // tolerance: the pages train in WebAssembly, idp natively).
    await stopHub(hub);
    execFileSync(IDP, ['merge', dir]);
    const sweepDir = path.join(temp, 'sweep');
    execFileSync(IDP, ['sweep', ...SETTINGS, '--out', sweepDir], { stdio: 'ignore' });
    const key = (r) => `${r.labels.join(' x ')} seed ${r.config.seed}`;
    const classRuns = JSON.parse(fs.readFileSync(path.join(dir, 'sweep.json'), 'utf8')).runs;
    const sweepRuns = new Map(JSON.parse(fs.readFileSync(path.join(sweepDir, 'sweep.json'), 'utf8')).runs.map((r) => [key(r), r]));
    assert.equal(classRuns.length, 12);
    assert.equal(sweepRuns.size, 12);
    const gaps = [];
    for (const run of classRuns) {
      const native = sweepRuns.get(key(run));
      assert.ok(native, `idp sweep has the cell ${key(run)}`);
      for (const split of ['seen_accuracy', 'unseen_accuracy']) {
        const gap = Math.abs(run.result[split] - native.result[split]);
        gaps.push(gap);
        assert.ok(gap <= 0.1, `${key(run)} ${split}: the class got ${run.result[split]}, idp sweep ${native.result[split]}`);
      }
    }
    console.log(`class against idp sweep: largest accuracy gap ${Math.max(...gaps).toFixed(3)}, ${gaps.filter((g) => g === 0).length} of ${gaps.length} equal`);

    // Without a hub: the teacher's page takes the 12 codes pasted at once.
    const codesHub = await startHub(path.join(temp, 'codes-hub'), port);
    const fragment = (await hubState(port)).codes_fragment;
    assert.ok(fragment, 'the hub offers the class as a link for result codes');
    const codesPage = await device(browser, `http://localhost:${port}/#${fragment}&class=${state.class}&teach=1`, logs, 'teacher, codes');
    await codesPage.page.waitForSelector('#class-paste');
    assert.equal(codes.size, 12, `the students' pages show a code for each cell (${[...codes.keys()].join(', ')})`);
    await codesPage.page.fill('#class-paste', [...codes.values()].map((c, i) => (i % 3 === 0 ? `Seat ${i + 1}: ${c}` : c.toLowerCase())).join('\n'));
    await codesPage.page.click('#class-add-codes');
    await h.waitFor(codesPage.page, 'the codes to fill the class',
      () => /12 of 12 cells done/.test(document.querySelector('#class-tallies')?.textContent ?? ''), null, 20_000);
    assert.equal((await codesPage.page.$$('#heatmap button.cell.filled')).length, 4);
    await h.assertAccessible(codesPage.page, 'the teacher\'s page of result codes');
    await stopHub(codesHub);
  } catch (e) {
    for (const [name, log] of Object.entries(logs)) console.log(`--- ${name}\n${log.slice(-15).join('\n')}`);
    for (const [name, page] of Object.entries(pages)) {
      const shown = await page.evaluate(() => `run: ${document.querySelector('#status')?.textContent}; ${document.querySelector('#class-panel')?.innerText ?? '(no class panel)'}`).catch(() => '(closed)');
      console.log(`--- ${name} showed:\n${shown.slice(0, 600)}`);
    }
    console.log(`--- hub\n${hub.output.join('').slice(-3000)}`);
    throw e;
  } finally {
    await browser.close();
  }
});

test('a student\'s page of another build than the class is told to reload', async () => {
  const port = await freePort();
  const hub = await startHub(path.join(temp, 'stale'), port, ['--page-build', '0000000000000000', '--no-canary']);
  const browser = await h.launchBrowser({ names: ['classroom.test'] });
  try {
    const logs = {};
    const { page } = await device(browser, `http://classroom.test:${port}/#class=join`, logs, 'student');
    await page.waitForSelector('#class-error', { timeout: 60_000 });
    assert.match(await h.text(page, '#class-error'), /another version .* reload the page/);
    // It asks for no work, so it trains nothing for the class.
    assert.equal((await hubState(port)).students.length, 0);
  } finally {
    await browser.close();
    await stopHub(hub);
  }
});

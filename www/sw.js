// Offline support: once the page has loaded, it opens and trains without a network.
// Install precaches the page and every file it names (Trunk hashes the app's file names, so they are
// read from index.html) plus the worker's fixed files, each under its own URL, the page under its
// folder's URL. The worker answers only for those: a navigation to the page itself (its folder, or
// index.html in it) or a request for a file it cached; anything else (another page of the same
// folder, a file of the site) goes to the network untouched. Requests go to the network first, so a
// new build is always picked up online, and fall back to the cache when the network fails. A cache
// that cannot be written (a full quota) never turns the network's answer into an error.
'use strict';
// One cache per build: www/boot.js registers `sw.js?build=<the page's build>`, so a deploy installs
// a new service worker (a changed URL), which caches the new build's files under their new names and
// drops the old build's cache once it is active. Without it the worker would never install again
// (this file does not change between builds) and offline use would stop at the first build.
const BUILD = new URL(self.location.href).searchParams.get('build');
const CACHE = BUILD ? `idp-offline-v2-${BUILD}` : 'idp-offline-v2';
const WORKER_FILES = ['worker-loader.js', 'worker.js', 'worker_bg.wasm', 'boot.js'];

/** The page's own URL: its folder (the worker's scope). */
const page = () => new URL('./', self.registration.scope).href;

/** The URL a request is cached under, or null when the request is not for the page itself. */
function pageKey(url) {
  const u = new URL(url);
  u.search = '';
  u.hash = '';
  return u.href === page() || u.href === new URL('index.html', page()).href ? page() : null;
}

async function precache() {
  const cache = await caches.open(CACHE);
  const index = await fetch(page(), { cache: 'no-cache' });
  if (!index.ok) throw new Error(`index.html: HTTP ${index.status}`);
  const html = await index.clone().text();
  const named = [...html.matchAll(/(?:href|src|content|data-wasm)="([^"]+\.(?:js|wasm|css))"/g)].map((m) => m[1]);
  await cache.put(page(), index);
  // addAll refuses duplicates, and `./boot.js` and `boot.js` are one URL: compare absolute URLs.
  const urls = new Set([...named, ...WORKER_FILES].map((u) => new URL(u, page()).href));
  await cache.addAll([...urls]);
}

self.addEventListener('install', (event) => {
  event.waitUntil(precache().then(() => self.skipWaiting()));
});

self.addEventListener('activate', (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) if (name !== CACHE) await caches.delete(name);
    await self.clients.claim();
  })());
});

self.addEventListener('fetch', (event) => {
  const request = event.request;
  if (request.method !== 'GET' || new URL(request.url).origin !== self.location.origin) return;
  const key = pageKey(request.url);
  // Another page of the site (a sibling in the same folder, say) is not this worker's to answer.
  if (request.mode === 'navigate' && key === null) return;
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    // A cached file is kept under its URL without the query: the page asks for the worker's files
    // with `?build=...` (www/worker-loader.js), and one copy of each is enough offline.
    const plain = new URL(request.url);
    plain.search = '';
    const ours = key ?? ((await cache.match(request, { ignoreSearch: true })) ? plain.href : null);
    try {
      const response = await fetch(request);
      if (response.ok && ours !== null) {
        try {
          await cache.put(ours, response.clone());
        } catch (full) {
          // A full quota: the page still gets the network's answer, the cache keeps its old copy.
        }
      }
      return response;
    } catch (offline) {
      const cached = ours !== null && (await cache.match(ours, { ignoreSearch: true }));
      if (cached) return cached;
      throw offline;
    }
  })());
});

// Offline support: once the page has loaded, it opens and trains without a network.
// Install precaches the page and every file it names (Trunk hashes the app's file names, so they are
// read from index.html) plus the worker's fixed files. Requests then go to the network first, so a new
// build is always picked up online, and fall back to the cache when the network fails.
'use strict';
const CACHE = 'idp-offline-v1';
const WORKER_FILES = ['worker-loader.js', 'worker.js', 'worker_bg.wasm', 'boot.js'];

async function precache() {
  const cache = await caches.open(CACHE);
  const index = await fetch('./', { cache: 'no-cache' });
  if (!index.ok) throw new Error(`index.html: HTTP ${index.status}`);
  const html = await index.clone().text();
  const named = [...html.matchAll(/(?:href|src|content|data-wasm)="([^"]+\.(?:js|wasm|css))"/g)].map((m) => m[1]);
  await cache.put('./', index);
  // addAll refuses duplicates, and `/boot.js` and `boot.js` are one URL: compare absolute URLs.
  const urls = new Set([...named, ...WORKER_FILES].map((u) => new URL(u, self.registration.scope).href));
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
  event.respondWith((async () => {
    const cache = await caches.open(CACHE);
    try {
      const response = await fetch(request);
      if (response.ok) await cache.put(request.mode === 'navigate' ? './' : request, response.clone());
      return response;
    } catch (offline) {
      const cached = await cache.match(request.mode === 'navigate' ? './' : request, { ignoreSearch: true });
      if (cached) return cached;
      throw offline;
    }
  })());
});

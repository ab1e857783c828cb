// Starts the page's wasm. Trunk's own loader is an inline script, which the page's Content Security
// Policy forbids; Trunk.toml's `pattern_script` writes the module names into a meta tag instead. Every
// URL is relative to this file's folder, so the page works from any folder of a static host.
const loading = document.getElementById('loading');
try {
  const app = document.querySelector('meta[name="idp-app"]');
  const { default: init, build } = await import(app.content);
  await init({ module_or_path: app.dataset.wasm });
  loading?.remove();
  // Offline support (www/sw.js), one service worker per build. A page that cannot register it (a
  // private window, file://, plain http from a LAN address) still works.
  if ('serviceWorker' in navigator) {
    const name = build ? `./sw.js?build=${encodeURIComponent(build())}` : './sw.js';
    navigator.serviceWorker.register(name).catch((e) => console.warn(`offline support unavailable: ${e.message}`));
  }
} catch (e) {
  if (loading) {
    loading.innerHTML = '';
    const message = document.createElement('p');
    message.className = 'error';
    message.textContent = `The playground could not start: ${e.message}. If you host this page, check that `
      + 'every file of the build was copied into the same folder as index.html.';
    loading.append(message);
  }
  throw e;
}


// Starts the page's wasm. Trunk's own loader is an inline script, which the page's Content Security
// Policy forbids; Trunk.toml's `pattern_script` writes the module names into a meta tag instead.
const app = document.querySelector('meta[name="idp-app"]');
const { default: init } = await import(app.content);
await init({ module_or_path: app.dataset.wasm });

// Offline support (www/sw.js). A page that cannot register it (a private window, file://) still works.
if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('./sw.js').catch((e) => console.warn(`offline support unavailable: ${e.message}`));
}

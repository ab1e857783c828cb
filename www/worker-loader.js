// Starts the training worker: Trunk's worker.js defines `wasm_bindgen`; loading the module runs the
// worker's main, which listens for commands and then posts a `ready` event.
importScripts("./worker.js");
wasm_bindgen("./worker_bg.wasm");

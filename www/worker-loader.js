// Starts the training worker: Trunk's worker.js defines `wasm_bindgen`; loading the module runs the
// worker's main, which listens for commands and then posts a `ready` event naming its build.
// The page starts this file as `worker-loader.js?build=<its build>`, and the same query goes on the
// worker's script and wasm: their names are fixed (Trunk hashes only the page's own files), so a
// host that caches them (GitHub Pages: max-age=600) would otherwise hand a reloaded page the old
// worker after a deploy. Where a cache ignores the query, the worker's `ready` names the build it
// is and the page refuses it with a reload prompt.
const build = new URL(self.location.href).searchParams.get('build');
const query = build ? `?build=${encodeURIComponent(build)}` : '';
importScripts(`./worker.js${query}`);

// A lost GPU device (driver reset, another tab's crash, the OS reclaiming the GPU) leaves burn's
// pending readbacks unresolved forever: the run would hang instead of failing. Every device the worker
// opens is watched here, and its loss ends the run with a typed error (`gpu_device_lost` in
// src/bin/worker/worker.rs). The devices are kept in `__idpGpuDevices` so tests can destroy one.
self.__idpGpuDevices = [];
if (self.GPUAdapter && GPUAdapter.prototype.requestDevice) {
  const requestDevice = GPUAdapter.prototype.requestDevice;
  GPUAdapter.prototype.requestDevice = async function (...args) {
    const device = await requestDevice.apply(this, args);
    self.__idpGpuDevices.push(device);
    device.lost.then((info) => wasm_bindgen.gpu_device_lost(String(info.reason), String(info.message)));
    return device;
  };
}

wasm_bindgen(`./worker_bg.wasm${query}`);

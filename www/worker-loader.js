// Starts the training worker: Trunk's worker.js defines `wasm_bindgen`; loading the module runs the
// worker's main, which listens for commands and then posts a `ready` event.
importScripts("./worker.js");

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

wasm_bindgen("./worker_bg.wasm");

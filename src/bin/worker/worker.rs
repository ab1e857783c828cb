//! The page's training worker: a [`Host`] of the one training session (`instruction_diversity::
//! session`) over `postMessage`, the browser's WebGPU and IndexedDB. Everything that trains is the
//! session's; this file holds only what a browser worker does differently from another host.

use crate::store;
use burn::prelude::Device;
use instruction_diversity::engine::launches::LaunchCounter;
use instruction_diversity::engine::memory::MemoryLimits;
use instruction_diversity::engine::stack::Checkpoint;
use instruction_diversity::page::storage::describe_failure;
use instruction_diversity::protocol::{
    BUILD, BackendInfo, BackendKind, BackendPreference, Command, Event,
};
use instruction_diversity::session::{Backend, Host, Policy, Session};
use js_sys::{Promise, Reflect};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(event: &Event) {
    // Posting to the page only fails once the page is gone; nothing is left to tell then.
    let _ = scope().post_message(&JsValue::from_str(&event.to_json()));
}

thread_local! {
    /// Set once a GPU device of this worker is lost; the page replaces the worker after that.
    static DEVICE_LOST: Cell<bool> = const { Cell::new(false) };
    /// The WebGPU device, or why there is none. wgpu initialises once per worker.
    static WEBGPU: RefCell<Option<Result<WebGpu, String>>> = const { RefCell::new(None) };
}

/// Called by `www/worker-loader.js` when a GPU device the worker opened is lost: ends the training
/// with a message, and the page replaces this worker (its burn device cannot be used again). The
/// checkpoint is kept, so the page can offer to go on from it.
#[wasm_bindgen]
pub fn gpu_device_lost(reason: String, message: String) {
    DEVICE_LOST.with(|lost| lost.set(true));
    let detail = if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    };
    post(&Event::DeviceLost {
        message: format!("the GPU device was lost ({reason}){detail}"),
    });
}

/// Resolves after `ms` milliseconds.
async fn sleep_ms(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| {
        let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = JsFuture::from(promise).await;
}

/// Lets queued messages (the page's commands) run, then resumes: a `MessageChannel` round trip.
/// `setTimeout(0)` would do the same but browsers clamp nested timers to 4 ms, a few percent of a
/// one-step chunk on the CPU backend. Falls back to `setTimeout` if the channel cannot be made.
async fn yield_to_inbox() {
    let promise = Promise::new(&mut |resolve, _| {
        let channel = Reflect::get(&scope(), &JsValue::from_str("MessageChannel"))
            .ok()
            .and_then(|c| c.dyn_into::<js_sys::Function>().ok())
            .and_then(|c| Reflect::construct(&c, &js_sys::Array::new()).ok());
        let ports = channel.as_ref().and_then(|channel| {
            let port = |name| Reflect::get(channel, &JsValue::from_str(name)).ok();
            Some((port("port1")?, port("port2")?))
        });
        let posted = ports.is_some_and(|(receiver, sender)| {
            Reflect::set(&receiver, &JsValue::from_str("onmessage"), &resolve).is_ok()
                && Reflect::get(&sender, &JsValue::from_str("postMessage"))
                    .ok()
                    .and_then(|post| post.dyn_into::<js_sys::Function>().ok())
                    .is_some_and(|post| post.call1(&sender, &JsValue::NULL).is_ok())
        });
        if !posted {
            let _ = scope().set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
        }
    });
    let _ = JsFuture::from(promise).await;
}

/// The worker as the session's host: commands that `onmessage` queued, and this tab's owner id
/// (the key of its checkpoint in the browser's storage), once the page has said it.
struct WorkerHost {
    inbox: Rc<RefCell<VecDeque<Command>>>,
    owner: Rc<RefCell<Option<String>>>,
    /// Counts the kernels launched while the training is on WebGPU (one worker trains on one
    /// thread, so the process-wide count is this training's).
    launches: Option<LaunchCounter>,
}

impl Host for WorkerHost {
    fn now(&self) -> f64 {
        js_sys::Date::now() / 1000.0
    }

    async fn yield_now(&mut self) {
        yield_to_inbox().await;
    }

    async fn sleep(&mut self, seconds: f64) {
        sleep_ms((seconds * 1000.0).round() as i32).await;
    }

    fn next_command(&mut self) -> Option<Command> {
        self.inbox.borrow_mut().pop_front()
    }

    fn emit(&mut self, event: Event) {
        post(&event);
    }

    async fn read_checkpoint(&mut self) -> Result<Option<Vec<u8>>, String> {
        let owner = self.owner.borrow().clone().unwrap_or_default();
        match store::read_checkpoint(&owner).await {
            // Before runs trained as stacks of one, an entry held a run's weights and optimizer
            // state in two parts; since, one checkpoint file with the optimizer part empty.
            Ok(Some((_, _, optimizer))) if !optimizer.is_empty() => Err(
                "it was saved by an earlier version of this page, whose runs cannot go on here"
                    .into(),
            ),
            Ok(found) => Ok(found.map(|(_, bytes, _)| bytes)),
            Err((name, message)) => Err(describe_failure(&name, &message)),
        }
    }

    async fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<Option<usize>, String> {
        // Before the page has said whose tab this is, there is nowhere to keep it.
        let Some(owner) = self.owner.borrow().clone() else {
            return Ok(None);
        };
        // The first run's meta beside the file: what the page reads of an interrupted training.
        let bytes = checkpoint.to_bytes();
        store::put_checkpoint(&owner, &checkpoint.metas[0].to_json(), &bytes, &[])
            .await
            .map(|()| Some(bytes.len()))
            .map_err(|(name, message)| describe_failure(&name, &message))
    }

    async fn forget_checkpoint(&mut self) {
        let owner = self.owner.borrow().clone();
        if let Some(owner) = owner {
            let _ = store::delete_checkpoint(&owner).await;
        }
    }

    async fn backend(&mut self, preference: BackendPreference) -> Backend {
        let why = match preference {
            BackendPreference::Cpu => "the CPU was chosen".to_string(),
            BackendPreference::Auto => match webgpu().await {
                Ok((device, name, buffer)) => {
                    self.launches.get_or_insert_with(LaunchCounter::start);
                    return Backend {
                        device,
                        info: BackendInfo {
                            kind: BackendKind::WebGpu,
                            description: format!("WebGPU: {name}"),
                        },
                        limits: MemoryLimits {
                            total: None,
                            buffer: Some((buffer, "this WebGPU adapter's largest buffer".into())),
                        },
                    };
                }
                Err(why) => format!("WebGPU unavailable because {why}"),
            },
        };
        self.launches = None;
        Backend {
            device: Device::flex(),
            info: BackendInfo {
                kind: BackendKind::Cpu,
                description: format!("CPU: {why}"),
            },
            limits: MemoryLimits::wasm_tab(),
        }
    }

    fn device_lost(&self) -> bool {
        DEVICE_LOST.with(Cell::get)
    }

    fn kernel_launches(&self) -> Option<u64> {
        self.launches.as_ref().map(LaunchCounter::launched)
    }
}

pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        post(&Event::Error {
            message: format!("the training worker crashed: {info}"),
        });
    }));
    let inbox: Rc<RefCell<VecDeque<Command>>> = Rc::default();
    let owner: Rc<RefCell<Option<String>>> = Rc::default();
    let host = WorkerHost {
        inbox: inbox.clone(),
        owner: owner.clone(),
        launches: None,
    };
    // Taken out while it serves: `onmessage` only queues commands, and starts serving when idle.
    let session = Rc::new(Cell::new(Some(Session::new(host, Policy::page()))));
    let onmessage = Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
        let text = message.data().as_string().unwrap_or_default();
        match Command::from_json(&text) {
            // The owner is the host's: known at once, before any command after it is served.
            Ok(Command::Own { owner: id }) => *owner.borrow_mut() = Some(id),
            Ok(command) => inbox.borrow_mut().push_back(command),
            Err(e) => post(&Event::Error {
                message: e.to_string(),
            }),
        }
        if let Some(mut idle) = session.take() {
            let session = session.clone();
            spawn_local(async move {
                idle.serve().await;
                session.set(Some(idle));
            });
        }
    });
    scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(&Event::Ready {
        build: Some(BUILD.to_string()),
    });
}

/// A WebGPU device, its adapter's name, and its largest buffer in bytes.
type WebGpu = (Device, String, u64);

/// The adapter's largest buffer a training can use: the smaller of `maxBufferSize` and
/// `maxStorageBufferBindingSize` (WebGPU's defaults: 256 MiB and 128 MiB).
fn largest_buffer(adapter: &JsValue) -> u64 {
    let limits = Reflect::get(adapter, &JsValue::from_str("limits")).unwrap_or(JsValue::UNDEFINED);
    let limit = |name: &str, default: f64| {
        Reflect::get(&limits, &JsValue::from_str(name))
            .ok()
            .and_then(|v| v.as_f64())
            .unwrap_or(default)
    };
    limit("maxBufferSize", 268_435_456.0).min(limit("maxStorageBufferBindingSize", 134_217_728.0))
        as u64
}

async fn webgpu() -> Result<WebGpu, String> {
    if let Some(known) = WEBGPU.with(|cell| cell.borrow().clone()) {
        return known;
    }
    let navigator =
        Reflect::get(&scope(), &JsValue::from_str("navigator")).unwrap_or(JsValue::UNDEFINED);
    let has_gpu = Reflect::get(&navigator, &JsValue::from_str("gpu"))
        .map(|gpu| !gpu.is_undefined() && !gpu.is_null())
        .unwrap_or(false);
    let adapter = if has_gpu {
        browser_adapter(&navigator).await
    } else {
        None
    };
    let secure = Reflect::get(&scope(), &JsValue::from_str("isSecureContext"))
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let outcome = if !has_gpu && !secure {
        Err(instruction_diversity::page::state::context::NO_WEBGPU_INSECURE.to_string())
    } else if !has_gpu {
        Err("this browser exposes no WebGPU (navigator.gpu is missing)".to_string())
    } else if let Some(adapter) = adapter {
        match Device::wgpu_options().init_with_setup_async().await {
            Ok((device, setup)) => {
                let info = setup.adapter.get_info();
                let name = match [info.name.as_str(), info.driver.as_str()]
                    .into_iter()
                    .find(|s| !s.is_empty())
                {
                    Some(name) => name.to_string(),
                    // wgpu leaves the name empty in browsers: ask the browser itself.
                    None => browser_adapter_name(&adapter),
                };
                Ok((device, name, largest_buffer(&adapter)))
            }
            Err(e) => Err(format!("no WebGPU adapter could be opened ({e})")),
        }
    } else {
        // wgpu's own error lists every native backend it did not try: say it in the browser's terms.
        Err("the browser offers no WebGPU adapter (no usable GPU, or WebGPU is turned off)".into())
    };
    WEBGPU.with(|cell| *cell.borrow_mut() = Some(outcome.clone()));
    outcome
}

/// `navigator.gpu.requestAdapter()`, `None` when the browser has none to give.
async fn browser_adapter(navigator: &JsValue) -> Option<JsValue> {
    let gpu = Reflect::get(navigator, &JsValue::from_str("gpu")).ok()?;
    let request = Reflect::get(&gpu, &JsValue::from_str("requestAdapter"))
        .ok()?
        .dyn_into::<js_sys::Function>()
        .ok()?;
    let pending = JsFuture::from(Promise::from(request.call0(&gpu).ok()?));
    let adapter = pending.await.ok()?;
    (!adapter.is_null() && !adapter.is_undefined()).then_some(adapter)
}

/// An adapter as the browser describes it (`GPUAdapter.info`): its description, else vendor and
/// architecture, marked when it is a software fallback (as SwiftShader is).
fn browser_adapter_name(adapter: &JsValue) -> String {
    let get = |target: &JsValue, key: &str| {
        Reflect::get(target, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
    };
    let text = |target: &JsValue, key: &str| get(target, key).as_string().unwrap_or_default();
    let info = get(adapter, "info");
    let description = text(&info, "description");
    let mut name = if description.is_empty() {
        [text(&info, "vendor"), text(&info, "architecture")]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        description
    };
    if name.is_empty() {
        name = "adapter".into();
    }
    let fallback = get(adapter, "isFallbackAdapter").as_bool() == Some(true)
        || get(&info, "isFallbackAdapter").as_bool() == Some(true);
    if fallback {
        name.push_str(" (software fallback)");
    }
    name
}

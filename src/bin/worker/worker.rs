use crate::store;
use burn::prelude::Device;
use instruction_diversity::engine::checkpoint::{Checkpoint, CheckpointMeta};
use instruction_diversity::engine::config::{ExperimentConfig, ValidConfig};
use instruction_diversity::engine::eval::answer_question;
use instruction_diversity::engine::memory::{MemoryLimits, check_stack};
use instruction_diversity::engine::metrics::Evaluation;
use instruction_diversity::engine::model::Transformer;
use instruction_diversity::engine::question::{Answer, Question, RuleOrigin, check_question};
use instruction_diversity::engine::run::{Run, RunError};
use instruction_diversity::engine::stack::{Stack, StackCheckpoint};
use instruction_diversity::engine::task::Rule;
use instruction_diversity::engine::tokenizer::SequenceLayout;
use instruction_diversity::page::storage::describe_failure;
use instruction_diversity::protocol::{
    BackendInfo, BackendKind, BackendPreference, Command, Event, KEPT_MODELS, SAMPLES_PER_SPLIT,
    SamplePrediction,
};
use instruction_diversity::study::record::RunRecord;
use js_sys::{Promise, Reflect};
use std::cell::RefCell;
use std::collections::HashSet;
use std::collections::VecDeque;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, spawn_local};
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// A chunk of steps aims at this long, so pause and stop act within a fraction of a second.
const CHUNK_SECONDS: f64 = 0.15;

fn scope() -> DedicatedWorkerGlobalScope {
    js_sys::global().unchecked_into()
}

fn post(event: &Event) {
    // Posting to the page only fails once the page is gone; nothing is left to tell then.
    let _ = scope().post_message(&JsValue::from_str(&event.to_json()));
}

fn now_seconds() -> f64 {
    js_sys::Date::now() / 1000.0
}

/// Called by `www/worker-loader.js` when a GPU device the worker opened is lost: ends the run with a
/// message, and the page replaces this worker (its burn device cannot be used again). The run's
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

thread_local! {
    /// This worker's tab (its owner id in the browser's storage), once the page has said.
    static OWNER: RefCell<Option<String>> = const { RefCell::new(None) };
}

fn owner() -> Option<String> {
    OWNER.with(|owner| owner.borrow().clone())
}

thread_local! {
    /// Set once a GPU device of this worker is lost; the worker is replaced after that.
    static DEVICE_LOST: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// How long a failed GPU operation waits for the device-lost notice, which the browser sends after
/// the failed readback: the loss is the message worth showing.
const DEVICE_LOST_GRACE_MS: i32 = 300;

async fn sleep(ms: i32) {
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

/// Commands not yet handled, filled by `onmessage` while a chunk runs.
type Inbox = Rc<RefCell<VecDeque<Command>>>;

pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        post(&Event::Error {
            message: format!("the training worker crashed: {info}"),
        });
    }));
    let inbox: Inbox = Rc::default();
    let busy = Rc::new(RefCell::new(false));
    let onmessage = {
        let inbox = inbox.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |message: MessageEvent| {
            let text = message.data().as_string().unwrap_or_default();
            match Command::from_json(&text) {
                Ok(command) => inbox.borrow_mut().push_back(command),
                Err(e) => post(&Event::Error {
                    message: e.to_string(),
                }),
            }
            if !*busy.borrow() {
                *busy.borrow_mut() = true;
                let inbox = inbox.clone();
                let busy = busy.clone();
                spawn_local(async move {
                    serve(&inbox).await;
                    *busy.borrow_mut() = false;
                });
            }
        })
    };
    scope().set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();
    post(&Event::Ready);
}

/// A WebGPU device, its adapter's name, and its largest buffer in bytes.
type WebGpu = (Device, String, u64);

thread_local! {
    /// The WebGPU device, or why there is none. wgpu initialises once per worker.
    static WEBGPU: RefCell<Option<Result<WebGpu, String>>> = const { RefCell::new(None) };
}

/// The adapter's largest buffer a run can use: the smaller of `maxBufferSize` and
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
    let outcome = if !has_gpu {
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

/// The backend asked for (or the CPU, saying why), and what a run on it may take in memory.
async fn choose_backend(preference: BackendPreference) -> (Device, BackendInfo, MemoryLimits) {
    let why = match preference {
        BackendPreference::Cpu => "the CPU was chosen".to_string(),
        BackendPreference::Auto => match webgpu().await {
            Ok((device, name, buffer)) => {
                let limits = MemoryLimits {
                    total: None,
                    buffer: Some((buffer, "this WebGPU adapter's largest buffer".into())),
                };
                return (
                    device,
                    BackendInfo {
                        kind: BackendKind::WebGpu,
                        description: format!("WebGPU: {name}"),
                    },
                    limits,
                );
            }
            Err(why) => format!("WebGPU unavailable because {why}"),
        },
    };
    (
        Device::flex(),
        BackendInfo {
            kind: BackendKind::Cpu,
            description: format!("CPU: {why}"),
        },
        MemoryLimits::wasm_tab(),
    )
}

/// The model of a finished run, kept to answer questions about it.
struct KeptModel {
    config: ExperimentConfig,
    model: Transformer,
    device: Device,
    layout: SequenceLayout,
    training_rules: HashSet<Rule>,
    held_out_rules: HashSet<Rule>,
    step: usize,
}

impl KeptModel {
    fn of(run: &Run) -> Self {
        Self {
            config: run.config().raw().clone(),
            model: run.inference_model(),
            device: run.inference_device(),
            layout: *run.layout(),
            training_rules: run.dataset().train_rules.iter().cloned().collect(),
            held_out_rules: run.dataset().test_rules.iter().cloned().collect(),
            step: run.step(),
        }
    }

    /// Run `k` of a stack.
    fn of_stack(stack: &Stack, k: usize) -> Self {
        Self {
            config: stack.config(k).raw().clone(),
            model: stack.inference_model(k),
            device: stack.inference_device(),
            layout: *stack.layout(),
            training_rules: stack.dataset(k).train_rules.iter().cloned().collect(),
            held_out_rules: stack.dataset(k).test_rules.iter().cloned().collect(),
            step: stack.step(),
        }
    }

    async fn answer(&self, question: &Question) -> Result<Box<Answer>, String> {
        // The page checked the question; a message built by hand must not reach the tokenizer's asserts.
        let question = check_question(
            &self.config.task,
            &question.rule.x,
            &question.rule.y,
            &question.z,
        )
        .map_err(|e| e.to_string())?;
        let origin = if self.training_rules.contains(&question.rule) {
            RuleOrigin::Training
        } else if self.held_out_rules.contains(&question.rule) {
            RuleOrigin::HeldOut
        } else {
            RuleOrigin::New
        };
        answer_question(
            &self.model,
            &self.layout,
            &question,
            origin,
            self.step,
            &self.device,
        )
        .await
        .map(Box::new)
        .map_err(|e| e.to_string())
    }
}

thread_local! {
    /// Models of the last [`KEPT_MODELS`] finished runs, newest last.
    static KEPT: RefCell<VecDeque<Rc<KeptModel>>> = const { RefCell::new(VecDeque::new()) };
}

fn keep_model(model: KeptModel) {
    KEPT.with(|kept| {
        let mut kept = kept.borrow_mut();
        if kept.len() == KEPT_MODELS {
            kept.pop_front();
        }
        kept.push_back(Rc::new(model));
    });
}

/// Answers a question with the kept model of the run with these settings (the newest such run).
async fn answer_from_kept(config: &ExperimentConfig, question: &Question) {
    let found = KEPT.with(|kept| {
        kept.borrow()
            .iter()
            .rev()
            .find(|k| &k.config == config)
            .cloned()
    });
    let answer = match found {
        Some(kept) => kept.answer(question).await,
        None => Err(format!(
            "that run's model is no longer in this tab's memory (the worker keeps the last {KEPT_MODELS} runs)"
        )),
    };
    post(&Event::Answer { answer });
}

/// Runs commands until the inbox is empty and no run is in progress.
async fn serve(inbox: &Inbox) {
    let mut next = inbox.borrow_mut().pop_front();
    while let Some(command) = next {
        next = match command {
            Command::Start { config, backend } => {
                let next = train(inbox, *config, backend).await;
                forget_checkpoint_unless_lost().await;
                next
            }
            Command::ResumeSaved { backend } => {
                let next = resume_saved(inbox, backend).await;
                forget_checkpoint_unless_lost().await;
                next
            }
            Command::Continue { config, backend } => {
                let next = continue_run(inbox, *config, backend).await;
                forget_checkpoint_unless_lost().await;
                next
            }
            Command::StartStack { configs, backend } => {
                let next = train_stack(inbox, configs, backend, None).await;
                forget_checkpoint_unless_lost().await;
                next
            }
            Command::ContinueStack { configs, backend } => {
                // The saved stack goes on only when it holds these runs, in this order.
                let saved = read_saved()
                    .await
                    .ok()
                    .and_then(|c| StackCheckpoint::from_bytes(&c.model).ok())
                    .filter(|s| s.metas.iter().map(|m| &m.config).eq(configs.iter()));
                let next = train_stack(inbox, configs, backend, saved).await;
                forget_checkpoint_unless_lost().await;
                next
            }
            Command::Ask { config, question } => {
                answer_from_kept(&config, &question).await;
                None
            }
            Command::Own { owner } => {
                OWNER.with(|o| *o.borrow_mut() = Some(owner));
                None
            }
            // Pause, resume, step or stop with no run: nothing to act on.
            _ => None,
        };
        if next.is_none() {
            next = inbox.borrow_mut().pop_front();
        }
    }
}

/// Trains one run to its end, a stop, an error, or a new `Start` (which is returned to be served).
async fn train(
    inbox: &Inbox,
    config: ValidConfig,
    preference: BackendPreference,
) -> Option<Command> {
    // The checkpoint of an earlier run must not outlive it: a reload would resume the wrong run.
    forget_checkpoint().await;
    let (device, info, limits) = choose_backend(preference).await;
    post(&Event::Backend(info.clone()));
    match Run::within(&config, &device, &limits) {
        Ok(run) => drive(inbox, run, info).await,
        Err(e) => {
            post(&Event::Error {
                message: e.to_string(),
            });
            None
        }
    }
}

/// The run checkpointed in the browser's storage under this worker's owner id, or why there is
/// none to go on with.
async fn read_saved() -> Result<Checkpoint, String> {
    match store::read_checkpoint(&owner().unwrap_or_default()).await {
        Ok(Some((meta, model, optimizer))) => CheckpointMeta::from_json(&meta)
            .map(|meta| Checkpoint {
                meta,
                model,
                optimizer,
            })
            .map_err(|e| e.to_string()),
        Ok(None) => Err("there is no saved run to resume".into()),
        Err((name, message)) => Err(format!(
            "the saved run could not be read ({name} {message})"
        )),
    }
}

/// Trains `config`, from the saved run when it is this one (see [`Command::Continue`]), else from
/// the start.
async fn continue_run(
    inbox: &Inbox,
    config: ValidConfig,
    preference: BackendPreference,
) -> Option<Command> {
    match read_saved().await {
        Ok(saved) if saved.meta.config == config => {
            go_on(inbox, Ok(saved), preference, Some(config)).await
        }
        _ => train(inbox, config, preference).await,
    }
}

/// Goes on with the run, or the stack, checkpointed in the browser's storage (a reload or a lost
/// device interrupted it).
async fn resume_saved(inbox: &Inbox, preference: BackendPreference) -> Option<Command> {
    let saved = read_saved().await;
    if let Some(stack) = saved
        .as_ref()
        .ok()
        .and_then(|c| StackCheckpoint::from_bytes(&c.model).ok())
    {
        let configs = stack.metas.iter().map(|m| m.config.clone()).collect();
        return train_stack(inbox, configs, preference, Some(stack)).await;
    }
    go_on(inbox, saved, preference, None).await
}

/// Trains `configs` as one stack ([`Command::StartStack`]): as many of them as the WebGPU
/// adapter's largest buffer holds, or the first alone on the CPU (the page's helper workers train
/// the others); going on from `saved` when given (a stack saved with these runs; it goes on whole,
/// on either backend), else from the start.
async fn train_stack(
    inbox: &Inbox,
    configs: Vec<ValidConfig>,
    preference: BackendPreference,
    saved: Option<StackCheckpoint>,
) -> Option<Command> {
    if configs.is_empty() {
        post(&Event::Error {
            message: "a stack needs at least one run".into(),
        });
        return None;
    }
    let (device, info, limits) = choose_backend(preference).await;
    let fits = |runs: usize| check_stack(configs[0].raw(), runs, &limits).is_ok();
    let saved = saved.filter(|s| fits(s.metas.len()));
    let runs = match (&saved, info.kind) {
        (Some(saved), _) => saved.metas.len(),
        (None, BackendKind::WebGpu) => (1..=configs.len())
            .rev()
            .find(|&runs| fits(runs))
            .unwrap_or(1),
        (None, BackendKind::Cpu) => 1,
    };
    post(&Event::Stacked { runs });
    if runs == 1 {
        let config = configs.into_iter().next().expect("checked");
        return continue_run(inbox, config, preference).await;
    }
    post(&Event::Backend(info.clone()));
    let resumed = saved.map(|s| Stack::resume(s, &device));
    let stack = match resumed {
        Some(Ok(stack)) => Ok(stack),
        // A damaged saved stack is forgotten; its runs start again.
        _ => {
            forget_checkpoint().await;
            Stack::new(&configs[..runs], &device)
        }
    };
    match stack {
        Ok(stack) => drive_stack(inbox, stack, info).await,
        Err(e) => {
            post(&Event::Error {
                message: e.to_string(),
            });
            None
        }
    }
}

/// Trains on from `saved`; when it cannot be used (damaged weights, say), forgets it and trains
/// `instead` from the start, or without `instead` says why.
async fn go_on(
    inbox: &Inbox,
    saved: Result<Checkpoint, String>,
    preference: BackendPreference,
    instead: Option<ValidConfig>,
) -> Option<Command> {
    let (device, info, limits) = choose_backend(preference).await;
    post(&Event::Backend(info.clone()));
    let fits = |c: Checkpoint| {
        instruction_diversity::engine::memory::check(&c.meta.config, &limits)
            .map(|_| c)
            .map_err(|e| e.to_string())
    };
    match saved
        .and_then(fits)
        .and_then(|c| Run::resume(c, &device).map_err(|e| e.to_string()))
    {
        Ok(run) => drive(inbox, run, info).await,
        Err(why) => {
            // Before the page hears: it replaces this worker at once.
            forget_checkpoint().await;
            let fresh = instead.map(|config| Run::within(&config, &device, &limits));
            match fresh {
                Some(Ok(run)) => drive(inbox, run, info).await,
                Some(Err(e)) => {
                    post(&Event::Error {
                        message: e.to_string(),
                    });
                    None
                }
                None => {
                    post(&Event::Error {
                        message: format!("the interrupted run cannot go on: {why}"),
                    });
                    None
                }
            }
        }
    }
}

/// Deletes the tab's checkpoint; a failure leaves one that the next run's first checkpoint replaces.
async fn forget_checkpoint() {
    if let Some(owner) = owner() {
        let _ = store::delete_checkpoint(&owner).await;
    }
}

/// Deletes the checkpoint of a run that ended, unless a lost GPU device ended it: then the page
/// offers to go on from it.
async fn forget_checkpoint_unless_lost() {
    if !DEVICE_LOST.with(|lost| lost.get()) {
        forget_checkpoint().await;
    }
}

/// Saves the run to the browser's storage, so a reload resumes it here (on either backend: the
/// weights and optimizer state are read back asynchronously, in one transaction).
async fn save_checkpoint(run: &Run) {
    // Before the page has said whose tab this is, there is nowhere to keep it.
    let Some(owner) = owner() else { return };
    let started = now_seconds();
    let entry = run
        .checkpoint()
        .await
        .map(|c| (c.meta.to_json(), c.model, c.optimizer));
    store_checkpoint(
        &owner,
        run.step(),
        started,
        entry.map_err(|e| e.to_string()),
    )
    .await;
}

/// Saves the stack to the browser's storage as one entry: the first run's meta (what the page reads
/// of an interrupted run) and the stack's checkpoint file ([`StackCheckpoint::to_bytes`]) in
/// place of the weights, so a reload goes on with every run of it.
async fn save_stack_checkpoint(stack: &Stack) {
    let Some(owner) = owner() else { return };
    let started = now_seconds();
    let entry = stack
        .checkpoint()
        .await
        .map(|c| (c.metas[0].to_json(), c.to_bytes(), Vec::new()));
    store_checkpoint(
        &owner,
        stack.step(),
        started,
        entry.map_err(|e| e.to_string()),
    )
    .await;
}

/// Writes a checkpoint entry (meta, weights, optimizer state) read back since `started`, or the
/// reason there is none, and tells the page which.
async fn store_checkpoint(
    owner: &str,
    step: usize,
    started: f64,
    entry: Result<(String, Vec<u8>, Vec<u8>), String>,
) {
    let saved = match entry {
        Ok((meta, model, optimizer)) => store::put_checkpoint(owner, &meta, &model, &optimizer)
            .await
            .map(|()| model.len() + optimizer.len())
            .map_err(|(name, message)| describe_failure(&name, &message)),
        Err(e) => Err(e),
    };
    match saved {
        Ok(bytes) => post(&Event::Checkpointed {
            step,
            bytes,
            seconds: now_seconds() - started,
        }),
        // Training goes on; the page says why the run is not kept.
        Err(message) => post(&Event::CheckpointFailed { message }),
    }
}

/// What a training loop does after reading its inbox (shared by [`drive`] and [`drive_stack`]).
enum Control {
    /// Take the next chunk (or wait, while paused).
    Train,
    /// End: the page said `Stop`.
    Stop,
    /// End, and serve this start.
    Start(Command),
    /// Answer this question, then read on.
    Ask(Box<ExperimentConfig>, Question),
}

/// A training loop's pause, single steps asked for, and recent speed.
#[derive(Default)]
struct Pace {
    paused: bool,
    single_steps: usize,
    steps_per_second: f64,
}

impl Pace {
    /// Handles the waiting commands that only change the pace or the owner, up to the first that
    /// ends training or asks a question; `step` is the steps taken, for `Paused`.
    fn read(&mut self, inbox: &Inbox, step: usize) -> Control {
        loop {
            // Popped in its own statement: the inbox's borrow must end before an answer awaits, or
            // a message arriving meanwhile could not be queued.
            let next = inbox.borrow_mut().pop_front();
            let Some(command) = next else {
                return Control::Train;
            };
            match command {
                Command::Pause => {
                    self.paused = true;
                    post(&Event::Paused { step });
                }
                Command::Resume => {
                    self.paused = false;
                    self.single_steps = 0;
                    post(&Event::Resumed);
                }
                Command::Step { steps } => self.single_steps += steps,
                Command::Stop => return Control::Stop,
                Command::Own { owner } => OWNER.with(|o| *o.borrow_mut() = Some(owner)),
                start @ (Command::Start { .. }
                | Command::ResumeSaved { .. }
                | Command::Continue { .. }
                | Command::StartStack { .. }
                | Command::ContinueStack { .. }) => return Control::Start(start),
                Command::Ask { config, question } => return Control::Ask(config, question),
            }
        }
    }

    /// Steps of the next chunk: the single steps asked for while paused, else about
    /// [`CHUNK_SECONDS`] of training; `None` while paused with none asked for.
    fn budget(&self) -> Option<usize> {
        match (self.paused, self.single_steps) {
            (true, 0) => None,
            (true, steps) => Some(steps),
            (false, _) => {
                Some(((self.steps_per_second * CHUNK_SECONDS).round() as usize).clamp(1, 50))
            }
        }
    }

    /// Counts a chunk of `taken` steps that took `elapsed` seconds; its speed counts only when it
    /// held no evaluation.
    fn took(&mut self, taken: usize, elapsed: f64, evaluated: bool) {
        if self.paused {
            self.single_steps = self.single_steps.saturating_sub(taken);
        }
        if taken > 0 && !evaluated {
            self.steps_per_second = taken as f64 / elapsed.max(1e-6);
        }
    }
}

/// A chunk failed: a lost GPU device has told the page itself (the checkpoint is kept); anything
/// else is an error, the checkpoint forgotten first (a failed run is not resumed by a reload, and
/// the page replaces this worker as soon as it hears).
async fn chunk_failed(info: &BackendInfo, e: RunError) {
    if info.kind == BackendKind::WebGpu && matches!(e, RunError::Backend(_)) {
        sleep(DEVICE_LOST_GRACE_MS).await;
        if DEVICE_LOST.with(|lost| lost.get()) {
            return;
        }
    }
    forget_checkpoint().await;
    post(&Event::Error {
        message: e.to_string(),
    });
}

/// The page's message of an evaluation: its headline numbers, a few predictions per split, its
/// fingerprint and every prediction.
fn evaluation_event(evaluation: &Evaluation) -> Event {
    Event::Evaluation {
        summary: evaluation.summary(),
        samples: SamplePrediction::from_evaluation(evaluation, SAMPLES_PER_SPLIT),
        fingerprint: evaluation.fingerprint(),
        detail: Some(Box::new(evaluation.clone())),
    }
}

/// Posts run `k`'s event: run 0's as a single run's, the others' wrapped in [`Event::Member`].
fn post_member(k: usize, event: Event) {
    if k == 0 {
        post(&event);
    } else {
        post(&Event::Member {
            member: k,
            said: Box::new(event),
        });
    }
}

/// Trains a stack to its end, a stop, an error, or a new start (which is returned to be served),
/// as [`drive`] does one run. A run whose loss diverges ends the stack with an error naming it
/// (the page fails the sweep, as it does when a single run diverges).
async fn drive_stack(inbox: &Inbox, mut stack: Stack, info: BackendInfo) -> Option<Command> {
    let total_steps = stack.config(0).train.steps;
    let mut last_checkpoint = now_seconds();
    let started = now_seconds();
    let mut pace = Pace::default();
    loop {
        loop {
            match pace.read(inbox, stack.step()) {
                Control::Train => break,
                Control::Stop => return None,
                Control::Start(start) => return Some(start),
                Control::Ask(config, question) => {
                    match (0..stack.len()).find(|&k| *stack.config(k).raw() == *config) {
                        Some(k) => {
                            let answer = KeptModel::of_stack(&stack, k).answer(&question).await;
                            post(&Event::Answer { answer });
                        }
                        None => answer_from_kept(&config, &question).await,
                    }
                }
            }
        }
        let Some(budget) = pace.budget() else {
            sleep(50).await;
            continue;
        };
        let before = (stack.step(), now_seconds());
        let advance = match stack.advance(budget).await {
            Ok(advance) => advance,
            Err(e) => {
                chunk_failed(&info, e).await;
                return None;
            }
        };
        if let Some((k, e)) = (0..stack.len()).find_map(|k| Some((k, stack.diverged(k)?))) {
            forget_checkpoint().await;
            post(&Event::Error {
                message: format!(
                    "run {} of the {} trained together ({} rules, seed {}): {e}",
                    k + 1,
                    stack.len(),
                    stack.config(k).task.instructions,
                    stack.config(k).seed
                ),
            });
            return None;
        }
        let evaluated = advance.evaluations.iter().any(Option::is_some);
        pace.took(stack.step() - before.0, now_seconds() - before.1, evaluated);
        // Every loss is finite here: a diverged run ended the stack above.
        for (k, loss) in advance.losses.iter().enumerate() {
            if let Some(loss) = loss {
                post_member(
                    k,
                    Event::Progress {
                        step: stack.step(),
                        total_steps,
                        loss: loss.loss,
                        steps_per_second: pace.steps_per_second,
                    },
                );
            }
        }
        for (k, evaluation) in advance.evaluations.iter().enumerate() {
            if let Some(evaluation) = evaluation {
                post_member(k, evaluation_event(evaluation));
            }
        }
        if !advance.finished && (evaluated || now_seconds() - last_checkpoint >= CHECKPOINT_SECONDS)
        {
            save_stack_checkpoint(&stack).await;
            last_checkpoint = now_seconds();
        }
        if advance.finished {
            forget_checkpoint().await;
            let wall_seconds = now_seconds() - started;
            // Run 0 ends last: its `Finished` starts the page's next stack.
            for (k, last) in advance.evaluations.into_iter().enumerate().rev() {
                keep_model(KeptModel::of_stack(&stack, k));
                if let Some(last) = last {
                    let record = RunRecord::of_stack(&stack, k, last, wall_seconds);
                    post_member(
                        k,
                        Event::Record {
                            record: Box::new(record),
                        },
                    );
                }
                post_member(k, Event::Finished { step: stack.step() });
            }
            return None;
        }
        yield_to_inbox().await;
    }
}

/// How often a run is checkpointed (and at every evaluation).
const CHECKPOINT_SECONDS: f64 = 5.0;

/// Trains a run to its end, a stop, an error, or a new `Start` (which is returned to be served).
async fn drive(inbox: &Inbox, mut run: Run, info: BackendInfo) -> Option<Command> {
    let total_steps = run.config().train.steps;
    let mut last_checkpoint = now_seconds();
    let started = now_seconds();
    let mut pace = Pace::default();
    loop {
        loop {
            match pace.read(inbox, run.step()) {
                Control::Train => break,
                Control::Stop => return None,
                Control::Start(start) => return Some(start),
                Control::Ask(config, question) => {
                    if *config == *run.config().raw() {
                        let answer = KeptModel::of(&run).answer(&question).await;
                        post(&Event::Answer { answer });
                    } else {
                        answer_from_kept(&config, &question).await;
                    }
                }
            }
        }
        let Some(budget) = pace.budget() else {
            sleep(50).await;
            continue;
        };
        let before = (run.step(), now_seconds());
        let advance = match run.advance(budget).await {
            Ok(advance) => advance,
            Err(e) => {
                chunk_failed(&info, e).await;
                return None;
            }
        };
        let evaluated = advance.evaluation.is_some();
        pace.took(run.step() - before.0, now_seconds() - before.1, evaluated);
        post(&Event::Progress {
            step: run.step(),
            total_steps,
            loss: advance.loss.loss,
            steps_per_second: pace.steps_per_second,
        });
        if let Some(evaluation) = &advance.evaluation {
            post(&evaluation_event(evaluation));
        }
        if !advance.finished && (evaluated || now_seconds() - last_checkpoint >= CHECKPOINT_SECONDS)
        {
            save_checkpoint(&run).await;
            last_checkpoint = now_seconds();
        }
        if advance.finished {
            // Forgotten before the page hears of the end: a reload right after must not resume.
            forget_checkpoint().await;
            keep_model(KeptModel::of(&run));
            if let Some(last) = advance.evaluation {
                let wall_seconds = now_seconds() - started;
                let record = RunRecord::new(&run, last, wall_seconds);
                post(&Event::Record {
                    record: Box::new(record),
                });
            }
            post(&Event::Finished { step: run.step() });
            return None;
        }
        // Let `onmessage` run before the next chunk.
        yield_to_inbox().await;
    }
}

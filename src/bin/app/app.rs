use crate::lab;
use crate::store;
use instruction_diversity::chart::{LineChart, Series};
use instruction_diversity::config::Budget;
use instruction_diversity::diff::{DiffKind, char_diff};
use instruction_diversity::permalink;
use instruction_diversity::presets::{PRESET_IDS, preset};
use instruction_diversity::protocol::{
    BackendKind, Command, Event as WorkerEvent, SamplePrediction,
};
use instruction_diversity::report::{SweepReport, metrics_csv};
use instruction_diversity::storage::{
    CheckpointMeta, SavedRun, SavedSweep, SweepProgress, describe_failure,
};
use instruction_diversity::sweep::get_path;
use instruction_diversity::ui_state::{Action, Kept, RunStatus, UiState};
use serde_json::Value;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{ErrorEvent, HtmlInputElement, HtmlSelectElement, MessageEvent, Worker};
use yew::prelude::*;

/// The UI state plus the last command for the worker, numbered so the effect that posts it runs
/// once per command.
#[derive(Clone, PartialEq, Default)]
pub struct AppState {
    pub ui: UiState,
    outbox: Option<(u64, Command)>,
}

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        let sequence = self.outbox.as_ref().map_or(0, |(n, _)| *n);
        let (ui, command) = self.ui.clone().reduce(action);
        let outbox = match command {
            Some(command) => Some((sequence + 1, command)),
            None => self.outbox.clone(),
        };
        Rc::new(Self { ui, outbox })
    }
}

/// The worker and the commands waiting for it to be ready.
#[derive(Default)]
struct WorkerLink {
    worker: Option<Worker>,
    /// Counts the workers started, so the handlers of a replaced worker ignore what it still says.
    generation: u64,
    is_ready: bool,
    waiting: Vec<String>,
}

impl WorkerLink {
    fn send(&mut self, message: String) -> Result<(), String> {
        match &self.worker {
            None => Err("it is not running; reload the page to try again".into()),
            Some(_) if !self.is_ready => {
                self.waiting.push(message);
                Ok(())
            }
            Some(w) => w
                .post_message(&JsValue::from_str(&message))
                .map_err(|e| format!("could not reach the worker: {e:?}")),
        }
    }

    fn ready(&mut self) {
        self.is_ready = true;
        for message in std::mem::take(&mut self.waiting) {
            if let Some(w) = &self.worker {
                let _ = w.post_message(&JsValue::from_str(&message));
            }
        }
    }
}

type SharedLink = Rc<RefCell<WorkerLink>>;

/// Starts a fresh worker in place of the current one (if any). After a failed run the worker is
/// replaced: a crash (a panic, a trap, a lost GPU device) can leave its wasm instance unusable, and a
/// fresh one makes the next start work again.
fn spawn_worker(dispatch: UseReducerDispatcher<AppState>, link: SharedLink) {
    let generation = {
        let mut l = link.borrow_mut();
        if let Some(old) = l.worker.take() {
            old.terminate();
        }
        l.generation += 1;
        l.is_ready = false;
        l.generation
    };
    let worker = match Worker::new("./worker-loader.js") {
        Ok(w) => w,
        Err(e) => {
            dispatch.dispatch(Action::WorkerFailed(format!(
                "could not start the worker: {e:?}"
            )));
            return;
        }
    };
    let is_current = {
        let link = link.clone();
        move || link.borrow().generation == generation
    };
    let on_message = {
        let dispatch = dispatch.clone();
        let link = link.clone();
        let is_current = is_current.clone();
        Closure::<dyn FnMut(MessageEvent)>::new(move |m: MessageEvent| {
            if !is_current() {
                return;
            }
            let text = m.data().as_string().unwrap_or_default();
            match WorkerEvent::from_json(&text) {
                Ok(WorkerEvent::Ready) => link.borrow_mut().ready(),
                Ok(event) => {
                    let failed = matches!(
                        event,
                        WorkerEvent::Error { .. } | WorkerEvent::DeviceLost { .. }
                    );
                    dispatch.dispatch(Action::Worker(event));
                    if failed {
                        spawn_worker(dispatch.clone(), link.clone());
                    }
                }
                Err(e) => dispatch.dispatch(Action::WorkerFailed(e.to_string())),
            }
        })
    };
    let on_error = {
        let link = link.clone();
        Closure::<dyn FnMut(ErrorEvent)>::new(move |e: ErrorEvent| {
            if !is_current() {
                return;
            }
            let message = e.message();
            let message = if message.is_empty() {
                "an uncaught error".to_string()
            } else {
                message
            };
            // A worker that never became ready cannot load: starting another would fail the same way.
            if link.borrow().is_ready {
                dispatch.dispatch(Action::WorkerFailed(message));
                spawn_worker(dispatch.clone(), link.clone());
            } else {
                if let Some(w) = link.borrow_mut().worker.take() {
                    w.terminate();
                }
                dispatch.dispatch(Action::WorkerFailed(format!(
                    "it could not load ({message}); reload the page to try again"
                )));
            }
        })
    };
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    // The handlers live as long as the page; a replaced worker's handlers only check a number.
    on_message.forget();
    on_error.forget();
    link.borrow_mut().worker = Some(worker);
}

/// What a shared link starts when opened.
#[derive(Clone, Copy, PartialEq)]
enum LinkStarts {
    Nothing,
    Run,
    Sweep,
}

/// The link fragment of the current settings seen through `view`, starting what `starts` says when
/// opened (a sweep link carries the sweep builder's fields).
fn share_fragment(ui: &UiState, view: &permalink::View, starts: LinkStarts) -> String {
    // The lesson open on the page travels with its links.
    let view = permalink::View {
        lesson: ui.lesson.as_ref().map(|l| l.id.clone()),
        ..view.clone()
    };
    let mut fragment =
        permalink::write_with_view(&ui.config, ui.preset.as_deref(), ui.force_cpu, &view);
    if starts == LinkStarts::Sweep {
        fragment.push_str(&permalink::write_sweep(&ui.sweep_form));
    }
    if starts != LinkStarts::Nothing {
        fragment.push_str("&run=1");
    }
    fragment
}

/// The full share link of the current settings.
fn share_url(ui: &UiState, view: &permalink::View, starts: LinkStarts) -> String {
    let page = web_sys::window()
        .and_then(|w| {
            let l = w.location();
            Some(format!("{}{}", l.origin().ok()?, l.pathname().ok()?))
        })
        .unwrap_or_default();
    format!("{page}#{}", share_fragment(ui, view, starts))
}

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(AppState::default);
    let link: SharedLink = use_mut_ref(WorkerLink::default);

    {
        let dispatch = state.dispatcher();
        let link = link.clone();
        use_effect_with((), move |_| {
            spawn_worker(dispatch.clone(), link);
            // A share link opens its settings (and may start the run: the start waits in the
            // worker link's queue until the worker is ready).
            let hash = web_sys::window()
                .and_then(|w| w.location().hash().ok())
                .unwrap_or_default();
            if hash.len() > 1 {
                let opened = permalink::parse(&hash, &UiState::default().config);
                dispatch.dispatch(Action::OpenLink(Box::new(opened)));
            }
            || ()
        });
    }
    {
        // Runs and sweeps of earlier visits, read back once.
        let dispatch = state.dispatcher();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let visit = js_sys::Date::now() as u64;
                let (runs, sweeps) = (
                    store::read_all(store::RUNS).await,
                    store::read_all(store::SWEEPS).await,
                );
                let mut skipped = Vec::new();
                let mut read = |texts: Result<Vec<String>, store::Failure>| match texts {
                    Ok(texts) => texts,
                    Err((name, message)) => {
                        skipped.push(format!(
                            "the browser's storage could not be read ({name} {message})"
                        ));
                        Vec::new()
                    }
                };
                let (runs, sweeps) = (read(runs), read(sweeps));
                let runs = runs
                    .iter()
                    .filter_map(|t| SavedRun::from_json(t).map_err(|e| skipped.push(e)).ok())
                    .collect();
                let sweeps = sweeps
                    .iter()
                    .filter_map(|t| SavedSweep::from_json(t).map_err(|e| skipped.push(e)).ok())
                    .collect();
                // A run or sweep that a reload interrupted goes on (the worker reads the run's
                // weights itself).
                let mut interrupted =
                    |what: &str, read: Result<Option<String>, store::Failure>| match read {
                        Ok(text) => text,
                        Err((name, message)) => {
                            skipped.push(format!(
                                "the interrupted {what} could not be read ({name} {message})"
                            ));
                            None
                        }
                    };
                let run = interrupted("run", store::read_checkpoint_meta().await);
                let sweep = interrupted(
                    "sweep",
                    store::get(store::CHECKPOINT, store::SWEEP_PROGRESS).await,
                );
                let interrupted_run = run.and_then(|text| {
                    CheckpointMeta::from_json(&text)
                        .map_err(|why| skipped.push(format!("the interrupted run: {why}")))
                        .ok()
                });
                let interrupted_sweep = sweep.and_then(|text| {
                    SweepProgress::from_json(&text)
                        .map_err(|why| skipped.push(format!("the interrupted sweep: {why}")))
                        .ok()
                });
                dispatch.dispatch(Action::Restore {
                    runs,
                    sweeps,
                    skipped,
                    visit,
                    interrupted_run: interrupted_run.map(Box::new),
                    interrupted_sweep: interrupted_sweep.map(Box::new),
                });
            });
            || ()
        });
    }
    {
        // Each finished run is saved once, as its own entry, with its sweep's plan.
        let pending: Vec<usize> = state
            .ui
            .runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kept == Kept::Pending)
            .map(|(i, _)| i)
            .collect();
        let in_flight = use_mut_ref(std::collections::BTreeSet::<usize>::new);
        let saved_sweeps = use_mut_ref(std::collections::BTreeSet::<String>::new);
        let state = state.clone();
        use_effect_with(pending, move |pending| {
            let fresh: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|i| in_flight.borrow_mut().insert(*i))
                .collect();
            if !fresh.is_empty() {
                let ui = &state.ui;
                let entries: Vec<(String, Option<(String, String)>)> = fresh
                    .iter()
                    .map(|&i| {
                        let run = &ui.runs[i];
                        let sweep = run.sweep_key.as_ref().and_then(|key| {
                            let sweep = ui.sweep.as_ref().filter(|s| &s.key == key)?;
                            saved_sweeps.borrow_mut().insert(key.clone()).then(|| {
                                (
                                    key.clone(),
                                    SavedSweep::new(key, &sweep.spec, sweep.lesson.clone())
                                        .to_json(),
                                )
                            })
                        });
                        (
                            SavedRun::new(&run.name, run.sweep_key.clone(), run.record.clone())
                                .to_json(),
                            sweep,
                        )
                    })
                    .collect();
                let dispatch = state.dispatcher();
                wasm_bindgen_futures::spawn_local(async move {
                    let mut outcome = Ok(());
                    for (run, sweep) in entries {
                        if let Some((key, text)) = sweep
                            && let Err(e) = store::put(store::SWEEPS, Some(&key), &text).await
                        {
                            outcome = Err(e);
                            break;
                        }
                        if let Err(e) = store::put(store::RUNS, None, &run).await {
                            outcome = Err(e);
                            break;
                        }
                    }
                    let outcome =
                        outcome.map_err(|(name, message)| describe_failure(&name, &message));
                    dispatch.dispatch(Action::Saved(fresh, outcome));
                });
            }
            || ()
        });
    }
    {
        // The running sweep's queue is kept, so a reload goes on with it; once storage has been read
        // at start (a visit number is set then), so that an interrupted sweep is read before this
        // replaces or removes it.
        let progress = (state.ui.visit != 0).then(|| state.ui.sweep_progress());
        let dispatch = state.dispatcher();
        use_effect_with(progress, move |progress| {
            if let Some(progress) = progress.clone() {
                wasm_bindgen_futures::spawn_local(async move {
                    let written = match progress {
                        Some(p) => {
                            store::put(store::CHECKPOINT, Some(store::SWEEP_PROGRESS), &p.to_json())
                                .await
                        }
                        None => store::delete(store::CHECKPOINT, store::SWEEP_PROGRESS).await,
                    };
                    if let Err((name, message)) = written {
                        dispatch.dispatch(Action::StorageFailed(format!(
                            "the sweep's queue could not be kept, so a reload would lose it ({name} {message})"
                        )));
                    }
                });
            }
            || ()
        });
    }
    {
        // The address bar is always a link to the current settings (replaced, so Back still leaves).
        let fragment = share_fragment(&state.ui, &state.ui.view, LinkStarts::Nothing);
        use_effect_with(fragment, |fragment| {
            if let Some(w) = web_sys::window()
                && let Ok(history) = w.history()
            {
                let _ = history.replace_state_with_url(
                    &JsValue::NULL,
                    "",
                    Some(&format!("#{fragment}")),
                );
            }
            || ()
        });
    }
    {
        let link = link.clone();
        let dispatch = state.dispatcher();
        use_effect_with(state.outbox.clone(), move |outbox| {
            if let Some((_, command)) = outbox
                && let Err(e) = link.borrow_mut().send(command.to_json())
            {
                dispatch.dispatch(Action::WorkerFailed(e));
            }
            || ()
        });
    }

    let ui = &state.ui;
    let act = |action: Action| {
        let dispatch = state.dispatcher();
        Callback::from(move |_: MouseEvent| dispatch.dispatch(action.clone()))
    };
    let view = &ui.view;
    let page_class = classes!(
        "page",
        view.embed.then_some("embed"),
        view.hides("settings").then_some("no-settings")
    );
    html! {
        <div class={page_class}>
            <header>
                <h1>{ "Instruction Diversity Playground" }</h1>
                <p class="lede">{ "A tiny transformer learns string-rewrite rules x → y. Does it follow rules it has never seen? Train it here, in your browser." }</p>
            </header>
            <main>
                if !ui.notices.is_empty() {
                    <section class="notices" role="status" id="notices">
                        <p>{ "This link had settings the page could not use; it kept the defaults for them:" }</p>
                        <ul>{ for ui.notices.iter().map(|n| html! { <li>{ n }</li> }) }</ul>
                        <button onclick={act(Action::DismissNotices)}>{ "Dismiss" }</button>
                    </section>
                }
                if !view.hides("settings") {
                    <section class="panel settings" aria-label="Settings">
                        <Settings state={state.clone()} />
                    </section>
                }
                <section class="panel run" aria-label="Run">
                    <div class="controls" role="toolbar" aria-label="Run controls">
                        <button id="start" onclick={act(Action::Start)} disabled={ui.is_active()}>{ "Start" }</button>
                        <button id="pause" onclick={act(Action::Pause)} disabled={ui.status != RunStatus::Running}>{ "Pause" }</button>
                        <button id="resume" onclick={act(Action::Resume)} disabled={ui.status != RunStatus::Paused}>{ "Resume" }</button>
                        <button id="step" onclick={act(Action::Step)} disabled={ui.status != RunStatus::Paused}>{ "Step" }</button>
                        <button id="stop" onclick={act(Action::Stop)} disabled={!ui.is_active()}>{ "Stop" }</button>
                        if !view.hides("backend") {
                        <label class="check">
                            <input id="force-cpu" type="checkbox" checked={ui.force_cpu} disabled={view.locks("backend")}
                                onchange={{
                                    let dispatch = state.dispatcher();
                                    Callback::from(move |e: Event| {
                                        let on = e.target_unchecked_into::<HtmlInputElement>().checked();
                                        dispatch.dispatch(Action::ForceCpu(on));
                                    })
                                }} />
                            { " Force CPU" }
                        </label>
                        }
                    </div>
                    <Status ui={ui.clone()} />
                    if let (false, Some(kept)) = (ui.is_active(), ui.resumable) {
                        <p class="go-on">
                            <button id="go-on" onclick={act(Action::GoOn)}>{ format!("Go on from step {}", kept.step) }</button>
                            { " The run was kept at that step before the device was lost. Tick Force CPU first to go on without the GPU." }
                        </p>
                    }
                    if !view.hides("share") {
                        <Share ui={ui.clone()} />
                    }
                    if !view.hides("results") {
                        <Results state={state.clone()} />
                    }
                    if !view.hides("charts") {
                        <Charts ui={ui.clone()} />
                    }
                    if !view.hides("predictions") {
                        <Predictions samples={ui.samples.clone()} />
                    }
                </section>
            </main>
            <div class="lab">
                if !view.hides("lessons") {
                    <lab::Lessons state={state.clone()} />
                }
                if !view.hides("sweep") {
                    <lab::Sweeps state={state.clone()} />
                }
                if !view.hides("inspector") {
                    <lab::Inspector state={state.clone()} />
                }
                if !view.hides("try") {
                    <lab::TryYourOwn state={state.clone()} />
                }
                if !view.hides("compare") {
                    <lab::Compare state={state.clone()} />
                }
            </div>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct SettingsProps {
    state: UseReducerHandle<AppState>,
}

/// A numeric setting: path, label, hint, range and whether it is an integer.
struct Field {
    path: &'static str,
    label: &'static str,
    hint: &'static str,
    min: f64,
    max: f64,
    step: f64,
}

const TASK_FIELDS: [Field; 4] = [
    Field {
        path: "task.instructions",
        label: "Distinct rules (I)",
        hint: "How many different instructions the training set holds.",
        min: 1.0,
        max: 100000.0,
        step: 1.0,
    },
    Field {
        path: "task.alphabet",
        label: "Alphabet size",
        hint: "Letters a, b, c... used in rules and inputs (2-26).",
        min: 2.0,
        max: 26.0,
        step: 1.0,
    },
    Field {
        path: "task.noop_share",
        label: "No-op share",
        hint: "Share of inputs where the rule does not apply (0-0.5).",
        min: 0.0,
        max: 0.5,
        step: 0.05,
    },
    Field {
        path: "seed",
        label: "Seed",
        hint: "Same seed, same data and same initial model.",
        min: 0.0,
        max: 1e15,
        step: 1.0,
    },
];
const LENGTH_FIELDS: [Field; 6] = [
    Field {
        path: "task.x_len.min",
        label: "Pattern x: shortest",
        hint: "Letters in the pattern a rule looks for.",
        min: 1.0,
        max: 64.0,
        step: 1.0,
    },
    Field {
        path: "task.x_len.max",
        label: "Pattern x: longest",
        hint: "",
        min: 1.0,
        max: 64.0,
        step: 1.0,
    },
    Field {
        path: "task.y_len.min",
        label: "Replacement y: shortest",
        hint: "0 lets a rule delete its pattern.",
        min: 0.0,
        max: 64.0,
        step: 1.0,
    },
    Field {
        path: "task.y_len.max",
        label: "Replacement y: longest",
        hint: "",
        min: 0.0,
        max: 64.0,
        step: 1.0,
    },
    Field {
        path: "task.z_len.min",
        label: "Input z: shortest",
        hint: "Letters in the string the rule is applied to.",
        min: 1.0,
        max: 256.0,
        step: 1.0,
    },
    Field {
        path: "task.z_len.max",
        label: "Input z: longest",
        hint: "",
        min: 1.0,
        max: 256.0,
        step: 1.0,
    },
];
const MODEL_FIELDS: [Field; 4] = [
    Field {
        path: "model.layers",
        label: "Layers",
        hint: "Transformer blocks (1-12).",
        min: 1.0,
        max: 12.0,
        step: 1.0,
    },
    Field {
        path: "model.width",
        label: "Width",
        hint: "Size of each token's vector; must be a multiple of the heads.",
        min: 4.0,
        max: 1024.0,
        step: 4.0,
    },
    Field {
        path: "model.heads",
        label: "Heads",
        hint: "Attention heads per layer.",
        min: 1.0,
        max: 16.0,
        step: 1.0,
    },
    Field {
        path: "model.ff_width",
        label: "Feed-forward width",
        hint: "Hidden units of each block's MLP.",
        min: 4.0,
        max: 8192.0,
        step: 4.0,
    },
];
const TRAIN_FIELDS: [Field; 5] = [
    Field {
        path: "train.steps",
        label: "Steps",
        hint: "Optimizer steps of the run.",
        min: 1.0,
        max: 1e6,
        step: 1.0,
    },
    Field {
        path: "train.batch_size",
        label: "Batch size",
        hint: "Sequences per step (1-4096).",
        min: 1.0,
        max: 4096.0,
        step: 1.0,
    },
    Field {
        path: "train.learning_rate",
        label: "Learning rate",
        hint: "Peak AdamW rate; too high diverges.",
        min: 1e-5,
        max: 1.0,
        step: 1e-4,
    },
    Field {
        path: "train.warmup_steps",
        label: "Warm-up steps",
        hint: "Steps of linear warm-up to the peak rate.",
        min: 0.0,
        max: 1e6,
        step: 1.0,
    },
    Field {
        path: "train.eval_every",
        label: "Evaluate every",
        hint: "Steps between evaluations.",
        min: 1.0,
        max: 1e6,
        step: 1.0,
    },
];
const EVAL_FIELDS: [Field; 4] = [
    Field {
        path: "eval.test_rules",
        label: "Held-out rules",
        hint: "Rules never trained on, for the unseen-rule accuracy.",
        min: 1.0,
        max: 10000.0,
        step: 1.0,
    },
    Field {
        path: "eval.seen_examples",
        label: "Seen-rule tests",
        hint: "New inputs for training rules, per evaluation.",
        min: 1.0,
        max: 100000.0,
        step: 1.0,
    },
    Field {
        path: "eval.unseen_examples",
        label: "Unseen-rule tests",
        hint: "Inputs for held-out rules, per evaluation.",
        min: 1.0,
        max: 100000.0,
        step: 1.0,
    },
    Field {
        path: "eval.noop_examples",
        label: "No-op tests",
        hint: "Held-out-rule inputs where x is absent.",
        min: 0.0,
        max: 100000.0,
        step: 1.0,
    },
];

/// The value at a dotted path of the serialized config, as the input shows it.
fn current_value(config: &Value, path: &str) -> String {
    get_path(config, path)
        .map(Value::to_string)
        .unwrap_or_default()
}

#[function_component(Settings)]
fn settings(props: &SettingsProps) -> Html {
    let state = &props.state;
    let ui = &state.ui;
    let locked = ui.is_active();
    // Serialized once per render, not once per field: settings re-render at every progress event.
    let config = serde_json::to_value(&ui.config).unwrap_or(Value::Null);
    let view = &ui.view;
    let field = |f: &Field| {
        if view.hides(f.path) {
            return html! {};
        }
        let disabled = locked || view.locks(f.path);
        let dispatch = state.dispatcher();
        let path = f.path;
        let integer = f.step >= 1.0;
        let onchange = Callback::from(move |e: Event| {
            let text = e.target_unchecked_into::<HtmlInputElement>().value();
            let value = if integer {
                text.trim().parse::<u64>().map(Value::from).ok()
            } else {
                text.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|v| serde_json::Number::from_f64(v).map(Value::Number))
            };
            dispatch.dispatch(Action::Set(
                path.to_string(),
                value.unwrap_or(Value::String(text)),
            ));
        });
        let id = f.path.replace('.', "-");
        html! {
            <label class="field" for={id.clone()}>
                <span class="name">{ f.label }</span>
                <input id={id} type="number" min={f.min.to_string()} max={f.max.to_string()} step={f.step.to_string()}
                    value={current_value(&config, f.path)} {disabled} {onchange} />
                <span class="hint">{ f.hint }</span>
            </label>
        }
    };
    let on_preset = {
        let dispatch = state.dispatcher();
        Callback::from(move |e: Event| {
            let id = e.target_unchecked_into::<HtmlSelectElement>().value();
            dispatch.dispatch(Action::LoadPreset(id));
        })
    };
    let group = |name: &str, legend: &str, body: Html| {
        if view.hides(name) {
            html! {}
        } else {
            html! { <fieldset><legend>{ legend.to_string() }</legend>{ body }</fieldset> }
        }
    };
    html! {
        <>
            if !view.hides("preset") {
            <label class="field" for="preset">
                <span class="name">{ "Preset" }</span>
                <select id="preset" onchange={on_preset} disabled={locked || view.locks("preset")}>
                    <option value="" selected={ui.preset.is_none()}>{ "Custom" }</option>
                    { for PRESET_IDS.iter().map(|id| {
                        let p = preset(id).expect("listed presets exist");
                        html! { <option value={*id} selected={ui.preset.as_deref() == Some(*id)}>{ p.title }</option> }
                    }) }
                </select>
                <span class="hint">{ ui.preset.as_deref().and_then(preset).map(|p| p.summary).unwrap_or("Your own settings.") }</span>
            </label>
            }
            { group("task", "Task", html! { <>
                { for TASK_FIELDS.iter().map(field) }
                if !view.hides("task.budget") {
                    <BudgetField state={state.clone()} />
                }
                if !LENGTH_FIELDS.iter().all(|f| view.hides(f.path)) {
                    <details>
                        <summary>{ "Lengths" }</summary>
                        { for LENGTH_FIELDS.iter().map(field) }
                    </details>
                }
            </> }) }
            { group("model", "Model", html! { <>{ for MODEL_FIELDS.iter().map(field) }</> }) }
            { group("train", "Training", html! { <>{ for TRAIN_FIELDS.iter().map(field) }</> }) }
            { group("eval", "Evaluation", html! {
                <details>
                    <summary>{ "Test-set sizes" }</summary>
                    { for EVAL_FIELDS.iter().map(field) }
                </details>
            }) }
            if let Some(e) = &ui.config_error {
                <p class="error" role="alert">{ e.to_string() }</p>
            }
        </>
    }
}

/// The training budget: a total `N` spread over the rules, or `S` examples for every rule.
#[function_component(BudgetField)]
fn budget_field(props: &SettingsProps) -> Html {
    let state = &props.state;
    let locked = state.ui.is_active() || state.ui.view.locks("task.budget");
    let (kind, amount) = match state.ui.config.task.budget {
        Budget::Total(n) => ("total", n),
        Budget::PerRule(s) => ("per_rule", s),
    };
    let set = |kind: &'static str| {
        let dispatch = state.dispatcher();
        move |amount: Value| {
            dispatch.dispatch(Action::Set(
                "task.budget".into(),
                serde_json::json!({ kind: amount }),
            ))
        }
    };
    let on_kind = {
        let dispatch = state.dispatcher();
        Callback::from(move |e: Event| {
            let kind = e.target_unchecked_into::<HtmlSelectElement>().value();
            dispatch.dispatch(Action::Set(
                "task.budget".into(),
                serde_json::json!({ kind: amount }),
            ));
        })
    };
    let on_amount = {
        let set_total = set("total");
        let set_per_rule = set("per_rule");
        Callback::from(move |e: Event| {
            let text = e.target_unchecked_into::<HtmlInputElement>().value();
            let amount = text
                .trim()
                .parse::<u64>()
                .map(Value::from)
                .unwrap_or(Value::String(text));
            if kind == "total" {
                set_total(amount)
            } else {
                set_per_rule(amount)
            }
        })
    };
    html! {
        <div class="field budget">
            <label for="task-budget-kind" class="name">{ "Training examples" }</label>
            <div class="pair">
                <select id="task-budget-kind" onchange={on_kind} disabled={locked} aria-label="Budget kind">
                    <option value="total" selected={kind == "total"}>{ "in total (N)" }</option>
                    <option value="per_rule" selected={kind == "per_rule"}>{ "per rule (S)" }</option>
                </select>
                <input id="task-budget" type="number" min="1" max="10000000" step="1" value={amount.to_string()}
                    disabled={locked} onchange={on_amount} aria-label="Budget amount" />
            </div>
            <span class="hint">{ "A fixed total is shared by the rules; per rule, the total grows with I." }</span>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct UiProps {
    ui: UiState,
}

pub fn format_duration(seconds: f64) -> String {
    let s = seconds.round() as u64;
    if s >= 3600 {
        format!("{}h {:02}m", s / 3600, (s % 3600) / 60)
    } else {
        format!("{}m {:02}s", s / 60, s % 60)
    }
}

/// Copy a link that reopens these settings (optionally starting the run), and the run's fingerprint.
#[function_component(Share)]
fn share(props: &UiProps) -> Html {
    let ui = &props.ui;
    let starts = use_state(|| LinkStarts::Nothing);
    let shown = use_state(String::new);
    let copied = use_state(|| None::<bool>);
    let hide = use_state(String::new);
    let lock = use_state(String::new);
    let embed = use_state(|| false);
    // The link's view: the page's own (a locked page's links stay locked) plus the teacher's lists.
    let (view, unknown) = ui.view.with_lists(&hide, &lock, *embed);
    let on_copy = {
        let ui = ui.clone();
        let view = view.clone();
        let starts = starts.clone();
        let shown = shown.clone();
        let copied = copied.clone();
        Callback::from(move |_: MouseEvent| {
            let url = share_url(&ui, &view, *starts);
            shown.set(url.clone());
            let copied = copied.clone();
            let Some(clipboard) = web_sys::window().map(|w| w.navigator().clipboard()) else {
                copied.set(Some(false));
                return;
            };
            let promise = clipboard.write_text(&url);
            wasm_bindgen_futures::spawn_local(async move {
                // Refused (no permission, or not a secure context): the link stays shown to copy by hand.
                let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
                copied.set(Some(ok));
            });
        })
    };
    let on_starts = {
        let starts = starts.clone();
        Callback::from(move |e: Event| {
            starts.set(match event_value(&e).as_str() {
                "run" => LinkStarts::Run,
                "sweep" => LinkStarts::Sweep,
                _ => LinkStarts::Nothing,
            })
        })
    };
    let on_text = set_on_change;
    let on_embed = {
        let embed = embed.clone();
        Callback::from(move |e: Event| {
            embed.set(e.target_unchecked_into::<HtmlInputElement>().checked())
        })
    };
    let names = permalink::control_names().collect::<Vec<_>>().join(", ");
    html! {
        <div class="share">
            <button id="copy-link" onclick={on_copy}>{ "Copy link" }</button>
            <label class="check" for="link-starts">
                { "the link opens the settings " }
                <select id="link-starts" onchange={on_starts}>
                    <option value="" selected={*starts == LinkStarts::Nothing}>{ "only" }</option>
                    <option value="run" selected={*starts == LinkStarts::Run}>{ "and starts the run" }</option>
                    <option value="sweep" selected={*starts == LinkStarts::Sweep}>{ "and starts the sweep below" }</option>
                </select>
            </label>
            <details class="teach">
                <summary>{ "For students: hide or lock controls" }</summary>
                <label class="field" for="teach-hide">
                    <span class="name">{ "Hide" }</span>
                    <input id="teach-hide" type="text" value={(*hide).clone()} onchange={on_text(&hide)} placeholder="model, charts" />
                </label>
                <label class="field" for="teach-lock">
                    <span class="name">{ "Lock" }</span>
                    <input id="teach-lock" type="text" value={(*lock).clone()} onchange={on_text(&lock)} placeholder="I, seed" />
                </label>
                <label class="check">
                    <input id="teach-embed" type="checkbox" checked={*embed} onchange={on_embed} />
                    { " compact layout for embedding in another page" }
                </label>
                <span class="hint">{ format!("Names: {names}. The link opens with these hidden or locked; this page does not change.") }</span>
                if !unknown.is_empty() {
                    <p class="error" role="alert">{ format!("Unknown names, left out of the link: {}", unknown.join(", ")) }</p>
                }
            </details>
            if !shown.is_empty() {
                <input id="share-link" class="mono" type="text" readonly=true value={(*shown).clone()} aria-label="Share link" />
                <span class="muted">{ match *copied {
                    Some(true) => "Copied.",
                    Some(false) => "Copy it from the box: the browser refused the clipboard.",
                    None => "",
                } }</span>
            }
            if let (RunStatus::Finished, Some(code)) = (ui.status, &ui.fingerprint) {
                <p class="fingerprint">{ "Result fingerprint " }<b id="fingerprint" class="mono">{ code }</b>
                    <span class="muted">{ " — the same settings, seed and backend give the same code." }</span></p>
            }
        </div>
    }
}

#[function_component(Status)]
fn status(props: &UiProps) -> Html {
    let ui = &props.ui;
    let (badge_class, badge) = match &ui.backend {
        Some(info) if info.kind == BackendKind::WebGpu => ("badge gpu", info.description.clone()),
        Some(info) => ("badge cpu", info.description.clone()),
        None if ui.status == RunStatus::Starting => ("badge", "Starting the backend…".to_string()),
        None => ("badge", "Backend chosen at start".to_string()),
    };
    let fraction = if ui.total_steps > 0 {
        ui.step as f64 / ui.total_steps as f64
    } else {
        0.0
    };
    let latest = ui.evaluations.last();
    html! {
        <div class="status" aria-live="polite">
            <span id="backend" class={badge_class}>{ badge }</span>
            <div class="progress" role="progressbar" aria-valuemin="0" aria-valuemax={ui.total_steps.to_string()} aria-valuenow={ui.step.to_string()}>
                <div class="bar" style={format!("width: {:.1}%", 100.0 * fraction)}></div>
            </div>
            <p class="numbers">
                <span>{ "step " }<b id="step-count">{ ui.step }</b>{ format!(" / {}", ui.total_steps) }</span>
                <span>{ format!("{:.2} steps/s", ui.steps_per_second) }</span>
                <span>{ ui.seconds_left().map(|s| format!("{} left", format_duration(s))).unwrap_or_default() }</span>
                <span id="loss">{ ui.losses.last().map(|p| format!("loss {:.4}", p.loss)).unwrap_or_default() }</span>
                <span id="status">{ format!("{:?}", ui.status).to_lowercase() }</span>
                if let (true, Some(step)) = (ui.is_active(), ui.checkpoint_step) {
                    <span title="A reload goes on from here">
                        { "kept at step " }<b id="checkpoint-step">{ step }</b>
                        if let Some((bytes, seconds)) = ui.checkpoint_cost {
                            <span id="checkpoint-cost">{ format!(" ({:.1} MB in {:.2} s)", bytes as f64 / 1e6, seconds) }</span>
                        }
                    </span>
                }
            </p>
            if let Some(e) = latest {
                <p class="accuracy" id="accuracy">
                    { format!("seen rules {:.1}% · unseen rules {:.1}% · no-ops {:.1}%", 100.0 * e.seen_accuracy, 100.0 * e.unseen_accuracy, 100.0 * e.noop_accuracy) }
                </p>
            }
            if let Some(message) = &ui.error {
                <p class="error" role="alert" id="error">{ message }</p>
            }
        </div>
    }
}

fn loss_chart(ui: &UiState) -> LineChart {
    LineChart {
        title: "Training loss".into(),
        x_label: "step".into(),
        series: vec![Series {
            name: "loss".into(),
            color: "#1f77b4".into(),
            points: ui
                .losses
                .iter()
                .map(|p| (p.step as f64, p.loss as f64))
                .collect(),
            ..Series::default()
        }],
        ..LineChart::default()
    }
}

fn accuracy_chart(ui: &UiState) -> LineChart {
    let curve =
        |name: &str, color: &str, pick: fn(&instruction_diversity::metrics::EvalSummary) -> f64| {
            Series {
                name: name.into(),
                color: color.into(),
                points: ui
                    .evaluations
                    .iter()
                    .map(|e| (e.step as f64, pick(e)))
                    .collect(),
                ..Series::default()
            }
        };
    LineChart {
        title: "Exact-match accuracy".into(),
        x_label: "step".into(),
        series: vec![
            curve("seen rules", "#2ca02c", |e| e.seen_accuracy),
            curve("unseen rules", "#d62728", |e| e.unseen_accuracy),
            curve("no-ops", "#9467bd", |e| e.noop_accuracy),
        ],
        y_range: Some((0.0, 1.0)),
        ..LineChart::default()
    }
}

/// Width and height of the charts, on the page and in their SVG export.
const CHART_SIZE: (f64, f64) = (480.0, 240.0);

#[function_component(Charts)]
fn charts(props: &UiProps) -> Html {
    let ui = &props.ui;
    let loss = loss_chart(ui);
    let accuracy = accuracy_chart(ui);
    let svg = |chart: &LineChart| svg_html(chart, CHART_SIZE);
    html! {
        <div class="charts">
            <figure id="loss-chart">{ svg(&loss) }</figure>
            <figure id="accuracy-chart">{ svg(&accuracy) }</figure>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct PredictionsProps {
    samples: Vec<SamplePrediction>,
}

#[function_component(Predictions)]
fn predictions(props: &PredictionsProps) -> Html {
    if props.samples.is_empty() {
        return html! { <p class="muted">{ "Predictions appear at the first evaluation." }</p> };
    }
    html! {
        <div class="table-scroll">
        <table class="predictions">
            <caption>{ "Sample predictions (greedy decoding)" }</caption>
            <thead><tr><th>{ "split" }</th><th>{ "rule" }</th><th>{ "input" }</th><th>{ "expected" }</th><th>{ "model" }</th></tr></thead>
            <tbody>
                { for props.samples.iter().map(|s| html! {
                    <tr class={if s.correct { "right" } else { "wrong" }}>
                        <td>{ &s.split }</td>
                        <td class="mono">{ &s.rule }</td>
                        <td class="mono">{ &s.input }</td>
                        <td class="mono">{ &s.expected }</td>
                        <td class="mono">{ diff_html(&s.expected, &s.output) }</td>
                    </tr>
                }) }
            </tbody>
        </table>
        </div>
    }
}

/// A chart drawn inline at `size`. The SVG text is built from numbers and XML-escaped labels by the
/// core's chart module.
pub fn svg_html(chart: &LineChart, size: (f64, f64)) -> Html {
    Html::from_html_unchecked(AttrValue::from(chart.to_svg(size.0, size.1)))
}

/// The model's answer against the expected one: missing characters struck, extra ones marked.
pub fn diff_html(expected: &str, output: &str) -> Html {
    html! {
        { for char_diff(expected, output).into_iter().map(|seg| match seg.kind {
            DiffKind::Same => html! { <span>{ seg.text }</span> },
            DiffKind::Extra => html! { <ins>{ seg.text }</ins> },
            DiffKind::Missing => html! { <del>{ seg.text }</del> },
        }) }
    }
}

fn js_error(e: JsValue) -> String {
    format!("{e:?}")
}

/// An object URL for `text` as a file of type `mime`; the caller revokes it.
fn text_object_url(text: &str, mime: &str) -> Result<String, String> {
    let parts = js_sys::Array::of1(&JsValue::from_str(text));
    let options = web_sys::BlobPropertyBag::new();
    options.set_type(mime);
    let blob =
        web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).map_err(js_error)?;
    web_sys::Url::create_object_url_with_blob(&blob).map_err(js_error)
}

fn document() -> Result<web_sys::Document, String> {
    web_sys::window()
        .and_then(|w| w.document())
        .ok_or_else(|| "no document".to_string())
}

/// Has the browser save `href` (an object or data URL) as a file named `name`.
fn save_as(href: &str, name: &str) -> Result<(), String> {
    let anchor: web_sys::HtmlAnchorElement = document()?
        .create_element("a")
        .map_err(js_error)?
        .unchecked_into();
    anchor.set_href(href);
    anchor.set_download(name);
    anchor.click();
    Ok(())
}

/// Offers `text` as a file download named `name`.
fn download(name: &str, mime: &str, text: &str) -> Result<(), String> {
    let url = text_object_url(text, mime)?;
    let saved = save_as(&url, name);
    let _ = web_sys::Url::revoke_object_url(&url);
    saved
}

/// Pixels per chart unit in PNG exports: twice the page size, sharp in slides and print.
const PNG_SCALE: f64 = 2.0;

/// Draws an SVG chart on a canvas (white background) and offers it as a PNG download.
async fn download_png(name: &str, svg: &str) -> Result<(), String> {
    let url = text_object_url(svg, "image/svg+xml")?;
    let image = web_sys::HtmlImageElement::new().map_err(js_error)?;
    let loaded = js_sys::Promise::new(&mut |resolve, reject| {
        image.set_onload(Some(&resolve));
        image.set_onerror(Some(&reject));
    });
    image.set_src(&url);
    let drawn = wasm_bindgen_futures::JsFuture::from(loaded).await;
    let _ = web_sys::Url::revoke_object_url(&url);
    drawn.map_err(|_| "the chart could not be drawn".to_string())?;
    let (width, height) = (CHART_SIZE.0 * PNG_SCALE, CHART_SIZE.1 * PNG_SCALE);
    let canvas: web_sys::HtmlCanvasElement = document()?
        .create_element("canvas")
        .map_err(js_error)?
        .unchecked_into();
    canvas.set_width(width as u32);
    canvas.set_height(height as u32);
    let context: web_sys::CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(js_error)?
        .ok_or("no 2d canvas")?
        .unchecked_into();
    context.set_fill_style_str("#ffffff");
    context.fill_rect(0.0, 0.0, width, height);
    context
        .draw_image_with_html_image_element_and_dw_and_dh(&image, 0.0, 0.0, width, height)
        .map_err(js_error)?;
    save_as(
        &canvas
            .to_data_url_with_type("image/png")
            .map_err(js_error)?,
        name,
    )
}

/// Export the shown run (metrics CSV, run JSON, charts SVG and PNG) and import a results file.
#[function_component(Results)]
fn results(props: &SettingsProps) -> Html {
    let state = &props.state;
    let ui = &state.ui;
    let has_metrics = !ui.losses.is_empty() || !ui.evaluations.is_empty();
    let export = |name: &'static str, mime: &'static str, make: fn(&UiState) -> String| {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| {
            if let Err(e) = download(name, mime, &make(&state.ui)) {
                state.dispatch(Action::ImportFailed(format!("the download failed: {e}")));
            }
        })
    };
    let export_png = |name: &'static str, chart: fn(&UiState) -> LineChart| {
        let state = state.clone();
        Callback::from(move |_: MouseEvent| {
            let svg = chart(&state.ui).to_svg(CHART_SIZE.0, CHART_SIZE.1);
            let state = state.clone();
            wasm_bindgen_futures::spawn_local(async move {
                if let Err(e) = download_png(name, &svg).await {
                    state.dispatch(Action::ImportFailed(format!("the PNG export failed: {e}")));
                }
            });
        })
    };
    let on_file = {
        let dispatch = state.dispatcher();
        Callback::from(move |e: Event| {
            let input = e.target_unchecked_into::<HtmlInputElement>();
            let Some(file) = input.files().and_then(|files| files.get(0)) else {
                return;
            };
            // The same file chosen again must fire `change` again.
            input.set_value("");
            let dispatch = dispatch.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let text = wasm_bindgen_futures::JsFuture::from(file.text())
                    .await
                    .ok()
                    .and_then(|t| t.as_string());
                dispatch.dispatch(match text {
                    None => Action::ImportFailed("the file could not be read".into()),
                    Some(text) => match SweepReport::from_json(&text) {
                        Ok(report) => Action::Import(Box::new(report)),
                        Err(e) => Action::ImportFailed(e.to_string()),
                    },
                });
            });
        })
    };
    let on_pick = {
        let dispatch = state.dispatcher();
        Callback::from(move |e: Event| {
            let index = e.target_unchecked_into::<HtmlSelectElement>().value();
            if let Ok(index) = index.parse() {
                dispatch.dispatch(Action::ShowImported(index));
            }
        })
    };
    html! {
        <div class="results">
            <span class="name">{ "Export" }</span>
            <button id="export-csv" disabled={!has_metrics} onclick={export("metrics.csv", "text/csv", |ui| metrics_csv(&ui.losses, &ui.evaluations))}>{ "Metrics CSV" }</button>
            <button id="export-json" disabled={ui.record.is_none()} title="The settings, seed, curves and per-rule results of a finished run"
                onclick={export("run.json", "application/json", |ui| {
                    let backend = ui.backend.as_ref().map_or("unknown backend", |b| b.description.as_str());
                    ui.record.clone().map(|r| SweepReport::single(r, backend).to_json()).unwrap_or_default()
                })}>{ "Run JSON" }</button>
            <button id="export-loss-svg" disabled={!has_metrics} onclick={export("loss.svg", "image/svg+xml", |ui| loss_chart(ui).to_svg(CHART_SIZE.0, CHART_SIZE.1))}>{ "Loss chart SVG" }</button>
            <button id="export-accuracy-svg" disabled={!has_metrics} onclick={export("accuracy.svg", "image/svg+xml", |ui| accuracy_chart(ui).to_svg(CHART_SIZE.0, CHART_SIZE.1))}>{ "Accuracy chart SVG" }</button>
            <button id="export-loss-png" disabled={!has_metrics} onclick={export_png("loss.png", loss_chart)}>{ "Loss chart PNG" }</button>
            <button id="export-accuracy-png" disabled={!has_metrics} onclick={export_png("accuracy.png", accuracy_chart)}>{ "Accuracy chart PNG" }</button>
            <label class="import" for="import-file">
                <span class="name">{ "Import results" }</span>
                <input id="import-file" type="file" accept=".json,application/json" disabled={ui.is_active() || ui.view.locks("results")} onchange={on_file} />
            </label>
            if let Some((report, shown)) = &ui.imported {
                <label class="field" for="imported-run">
                    <span class="name">{ format!("Imported: {} run(s), trained on {}", report.runs.len(), report.backend) }</span>
                    <select id="imported-run" onchange={on_pick}>
                        { for report.runs.iter().enumerate().map(|(i, run)| {
                            let name = if run.labels.is_empty() { format!("run {}", i + 1) } else { run.labels.join(" / ") };
                            html! { <option value={i.to_string()} selected={i == *shown}>{ format!("{name}: unseen {:.1}%", 100.0 * run.result.unseen_accuracy) }</option> }
                        }) }
                    </select>
                </label>
            }
            if let Some(why) = &ui.import_error {
                <p class="error" role="alert" id="import-error">{ why }</p>
            }
        </div>
    }
}

/// The value of the input or select an event came from.
pub fn event_value(e: &Event) -> String {
    e.target_dyn_into::<HtmlInputElement>()
        .map(|input| input.value())
        .or_else(|| {
            e.target_dyn_into::<HtmlSelectElement>()
                .map(|select| select.value())
        })
        .unwrap_or_default()
}

/// A `change` handler that stores an input's (or select's) value in `target`.
pub fn set_on_change(target: &UseStateHandle<String>) -> Callback<Event> {
    let target = target.clone();
    Callback::from(move |e: Event| target.set(event_value(&e)))
}

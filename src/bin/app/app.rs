//! The root component: the reducer, its effects (the worker, the browser's storage, the address
//! bar) and the page's layout. Each component below gets the parts of the state it shows.

use crate::files::Results;
use crate::hero::Hero;
use crate::run_panel::{Charts, Predictions, RunControls, Share, Status};
use crate::settings_form::SettingsForm;
use crate::store;
use crate::worker_link::{SharedLink, WorkerLink, spawn_worker};
use crate::{compare_panel, inside_panel, inspector_panel, lessons_panel, sweep_panel, try_panel};
use instruction_diversity::engine::checkpoint::CheckpointMeta;
use instruction_diversity::page::link;
use instruction_diversity::page::state::SweepAction;
use instruction_diversity::page::state::context::ContextAction;
use instruction_diversity::page::state::library::{LibraryAction, Orphan};
use instruction_diversity::page::state::restore::{RestoreAction, Restored};
use instruction_diversity::page::state::run::RunStatus;
use instruction_diversity::page::state::sweep::{MAX_WORKERS, default_workers};
use instruction_diversity::page::state::{Action, PageState, PendingChoice, Worker};
use instruction_diversity::page::storage::{
    SavedRun, SavedSweep, StorageProblem, SweepProgress, describe_failure, helper_owner,
};
use instruction_diversity::protocol::BUILD;
use instruction_diversity::protocol::Command;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use yew::prelude::*;

/// The page state plus the latest commands for the workers, numbered so the effect that posts
/// them posts each once, in order.
#[derive(Clone, PartialEq, Default)]
pub struct AppState {
    pub page: PageState,
    /// `(number, worker, command)`, the last [`OUTBOX`] of them.
    outbox: Rc<Vec<(u64, Worker, Command)>>,
}

/// Commands kept for the effect that posts them (it posts each once, by its number; one action
/// gives at most a few commands per worker).
const OUTBOX: usize = 256;

impl Reducible for AppState {
    type Action = Action;

    fn reduce(self: Rc<Self>, action: Action) -> Rc<Self> {
        // A copy of the page state is a copy of its parts' pointers: the reducer copies only the
        // parts the action changes.
        let (page, sent) = self.page.clone().reduce(action);
        let outbox = if sent.is_empty() {
            self.outbox.clone()
        } else {
            let mut kept = self.outbox.as_ref().clone();
            let last = kept.last().map_or(0, |(n, _, _)| *n);
            kept.extend(
                sent.into_iter()
                    .enumerate()
                    .map(|(k, (to, c))| (last + 1 + k as u64, to, c)),
            );
            let excess = kept.len().saturating_sub(OUTBOX);
            kept.drain(..excess);
            Rc::new(kept)
        };
        Rc::new(Self { page, outbox })
    }
}

/// What components dispatch actions with.
pub type Dispatch = UseReducerDispatcher<AppState>;

/// A click handler that dispatches `action`.
pub fn on_click(dispatch: &Dispatch, action: Action) -> Callback<MouseEvent> {
    let dispatch = dispatch.clone();
    Callback::from(move |_: MouseEvent| dispatch.dispatch(action.clone()))
}

/// What a tab had in progress, as kept in the browser's storage: its run, its sweep's progress, and
/// its helper workers' runs (by slot).
type InProgress = (
    Option<CheckpointMeta>,
    Option<SweepProgress>,
    Vec<(usize, CheckpointMeta)>,
);

/// Whether a storage failure is one the page's storage notice already says (storage missing,
/// refused, blocked, silent or replaced: see `StorageProblem`), so it is not said again.
fn said_elsewhere(failure_name: &str) -> bool {
    StorageProblem::from_failure(failure_name, "").is_some()
}

/// A tab's run in progress, sweep progress and helpers' runs, as kept in the browser's storage;
/// what cannot be read is skipped, and said why in `skipped`.
async fn read_in_progress(owner: &str, skipped: &mut Vec<String>) -> InProgress {
    let mut interrupted = |what: &str, read: Result<Option<String>, store::Failure>| match read {
        Ok(text) => text,
        Err((name, _)) if said_elsewhere(&name) => None,
        Err((name, message)) => {
            skipped.push(format!(
                "the interrupted {what} could not be read ({name} {message})"
            ));
            None
        }
    };
    let run = interrupted("run", store::read_checkpoint_meta(owner).await);
    let sweep = interrupted(
        "sweep",
        store::get(store::CHECKPOINT, &store::sweep_key(owner)).await,
    );
    let run = run.and_then(|text| {
        CheckpointMeta::from_json(&text)
            .map_err(|why| skipped.push(format!("the interrupted run: {why}")))
            .ok()
    });
    let sweep = sweep.and_then(|text| {
        SweepProgress::from_json(&text)
            .map_err(|why| skipped.push(format!("the interrupted sweep: {why}")))
            .ok()
    });
    // Helpers train only a sweep's runs: without one, theirs are of no use (the next helper to
    // start in that slot replaces its entry).
    let mut helpers = Vec::new();
    if sweep.is_some() {
        for slot in 0..MAX_WORKERS - 1 {
            let owner = helper_owner(owner, slot);
            match store::read_checkpoint_meta(&owner).await {
                Ok(Some(text)) => match CheckpointMeta::from_json(&text) {
                    Ok(meta) => helpers.push((slot, meta)),
                    Err(why) => {
                        skipped.push(format!("the run of helper worker {}: {why}", slot + 1))
                    }
                },
                Ok(None) => {}
                Err((name, _)) if said_elsewhere(&name) => {}
                Err((name, message)) => skipped.push(format!(
                    "the run of helper worker {} could not be read ({name} {message})",
                    slot + 1
                )),
            }
        }
    }
    (run, sweep, helpers)
}

/// Reads what the browser's storage holds from earlier visits: saved runs and sweeps, this tab's
/// run and sweep a reload interrupted, and those of tabs that are gone. Entries that cannot be read
/// are skipped and said why.
async fn read_storage(owner: String) -> Restored {
    let visit = js_sys::Date::now() as u64;
    let (runs, sweeps) = (
        store::read_all(store::RUNS).await,
        store::read_all(store::SWEEPS).await,
    );
    let mut skipped = Vec::new();
    let mut read = |texts: Result<Vec<String>, store::Failure>| match texts {
        Ok(texts) => texts,
        Err((name, _)) if said_elsewhere(&name) => Vec::new(),
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
    // This tab's run or sweep that a reload interrupted goes on (the worker reads the run's weights
    // itself); those of tabs that are gone can be resumed here; those of living tabs are theirs.
    let (interrupted_run, interrupted_sweep, interrupted_helpers) =
        read_in_progress(&owner, &mut skipped).await;
    let mut orphans = Vec::new();
    let others = match store::checkpoint_owners().await {
        Ok(owners) => owners.into_iter().filter(|o| *o != owner).collect(),
        Err((name, _)) if said_elsewhere(&name) => Vec::new(),
        Err((name, message)) => {
            skipped.push(format!(
                "other tabs' runs could not be listed ({name} {message})"
            ));
            Vec::new()
        }
    };
    if !others.is_empty() {
        // Without Web Locks nothing tells a gone tab from a living one: nothing is adopted.
        let alive = crate::tab::alive().await;
        for other in others {
            if alive.as_ref().is_none_or(|alive| alive.contains(&other)) {
                continue;
            }
            let (run, sweep, helpers) = read_in_progress(&other, &mut skipped).await;
            if run.is_some() || sweep.is_some() {
                orphans.push(Orphan {
                    owner: other,
                    run,
                    sweep,
                    helpers,
                });
            }
        }
    }
    Restored {
        owner,
        orphans,
        runs,
        sweeps,
        skipped,
        visit,
        interrupted_run,
        interrupted_sweep,
        interrupted_helpers,
    }
}

/// The state of the first drawing: the number of workers from the machine's cores, and the
/// settings of the link the page was opened at (which may start its run or sweep: the start waits
/// in the worker link's queue until the worker is ready). Set before anything is drawn, not in an
/// effect after it: yew may hand the browser a turn between drawing and its effects, and a person
/// (or a test) editing a field then would see the edit overwritten.
fn first_state() -> AppState {
    let window = web_sys::window();
    // One worker per core but one (for the page and the browser); the sweep builder's "Workers"
    // field changes it.
    let cores = window
        .as_ref()
        .map(|w| w.navigator().hardware_concurrency())
        .unwrap_or(1.0);
    let mut state = Rc::new(AppState::default()).reduce(Action::Sweep(SweepAction::Workers(
        default_workers(cores.max(1.0) as usize),
    )));
    // Over plain http from a name that is not localhost (a classroom laptop's LAN address).
    if window.as_ref().is_some_and(|w| !w.is_secure_context()) {
        state = state.reduce(Action::Context(ContextAction::Insecure));
    }
    let hash = window
        .and_then(|w| w.location().hash().ok())
        .unwrap_or_default();
    if hash.len() > 1 {
        let opened = link::parse(&hash, &PageState::default().settings.config);
        state = state.reduce(Action::OpenLink(Box::new(opened)));
    }
    Rc::unwrap_or_clone(state)
}

#[function_component(App)]
pub fn app() -> Html {
    let state = use_reducer(first_state);
    let link: SharedLink = use_mut_ref(WorkerLink::default);
    // The helper workers, started when a sweep first needs them.
    let helpers = use_mut_ref(Vec::<SharedLink>::new);

    {
        let dispatch = state.dispatcher();
        let link = link.clone();
        // Before the effect that posts the first state's command (a link's start), if any.
        use_effect_with((), move |_| {
            spawn_worker(dispatch, link);
            || ()
        });
    }
    {
        // Storage that stops answering, or answers again, is said as it happens.
        let dispatch = state.dispatcher();
        use_effect_with((), move |_| {
            store::watch(move |problem| {
                dispatch.dispatch(Action::Context(ContextAction::Storage(problem)))
            });
            || ()
        });
    }
    {
        // This tab's owner id (its lock taken), then runs and sweeps of earlier visits, read back
        // once. Neither waits long (see store.rs and tab.rs): a link's run starts meanwhile or
        // right after, with or without storage.
        let dispatch = state.dispatcher();
        let link = link.clone();
        let helpers = helpers.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let owner = crate::tab::owner().await;
                let restored = read_storage(owner.clone()).await;
                link.borrow_mut().own(&owner);
                // Helpers a link's sweep started before this was known checkpoint from now on.
                for (slot, helper) in helpers.borrow().iter().enumerate() {
                    helper.borrow_mut().own(&helper_owner(&owner, slot));
                }
                dispatch.dispatch(Action::Restore(RestoreAction::Restore(Box::new(restored))));
            });
            || ()
        });
    }
    {
        // Each finished run is saved once, as its own entry, with its sweep's plan.
        let pending = state.page.library.pending();
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
                let page = &state.page;
                let entries: Vec<(String, Option<(String, String)>)> = fresh
                    .iter()
                    .map(|&i| {
                        let run = &page.library.runs[i];
                        let sweep = run.sweep_key.as_ref().and_then(|key| {
                            let sweep = page.sweep.sweep.as_ref().filter(|s| &s.key == key)?;
                            saved_sweeps.borrow_mut().insert(key.clone()).then(|| {
                                (
                                    key.clone(),
                                    SavedSweep::new(key, &sweep.spec, sweep.lesson.clone())
                                        .to_json(),
                                )
                            })
                        });
                        (
                            SavedRun::new(
                                &run.name,
                                run.sweep_key.clone(),
                                run.record.as_ref().clone(),
                            )
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
                    dispatch.dispatch(Action::Library(LibraryAction::Saved(fresh, outcome)));
                });
            }
            || ()
        });
    }
    {
        // The running sweep's queue is kept, so a reload goes on with it; once storage has been read
        // at start (a visit number is set then), so that an interrupted sweep is read before this
        // replaces or removes it.
        let progress = (state.page.library.visit != 0).then(|| state.page.sweep_progress());
        let owner = state.page.library.owner.clone();
        let dispatch = state.dispatcher();
        use_effect_with(progress, move |progress| {
            if let Some(progress) = progress.clone() {
                wasm_bindgen_futures::spawn_local(async move {
                    let key = store::sweep_key(&owner);
                    let written = match progress {
                        Some(p) => store::put(store::CHECKPOINT, Some(&key), &p.to_json()).await,
                        None => store::delete(store::CHECKPOINT, &key).await,
                    };
                    if let Err((name, message)) = written
                        && !said_elsewhere(&name)
                    {
                        dispatch.dispatch(Action::Library(LibraryAction::StorageFailed(format!(
                            "the sweep's queue could not be kept, so a reload would lose it ({name} {message})"
                        ))));
                    }
                });
            }
            || ()
        });
    }
    // The fragment last written to the address bar: a change to anything else came from outside.
    let written = use_mut_ref(String::new);
    {
        // The address bar is always a link to the current settings (replaced, so Back still leaves),
        // and again when a link that changed it waits for the reader's choice.
        let page = &state.page;
        let mut fragment = link::share_fragment(
            &page.settings,
            &page.view,
            page.lesson.as_ref().map(|l| l.id.as_str()),
            &page.sweep.form,
            link::LinkStarts::Nothing,
        );
        // A class's page stays its class's across a reload: with a hub, the class's keys after
        // the settings (the hub gives the rest); without, the class's own link (the settings of
        // the cell trained last are not the class's).
        if let Some(class) = &page.class.link {
            match (&class.hub, &page.class.class) {
                (Some(hub), _) => fragment.push_str(&link::write_hub_class(
                    class.role,
                    hub,
                    class.key.as_deref(),
                )),
                (None, Some(plan)) => {
                    if let Some(own) = link::class_fragment(plan, class.role, page.class.seat) {
                        fragment = own;
                    }
                }
                (None, None) => {}
            }
        }
        let written = written.clone();
        use_effect_with(
            (fragment, page.pending_link.is_some()),
            move |(fragment, _)| {
                if let Some(w) = web_sys::window()
                    && let Ok(history) = w.history()
                {
                    let _ = history.replace_state_with_url(
                        &JsValue::NULL,
                        "",
                        Some(&format!("#{fragment}")),
                    );
                    *written.borrow_mut() = format!("#{fragment}");
                }
                || ()
            },
        );
    }
    {
        // A link typed or pasted into the address bar, clicked, or reached by Back and Forward: the
        // page follows it (or asks, while a run trains), so the two never disagree.
        let dispatch = state.dispatcher();
        let written = written.clone();
        use_effect_with((), move |_| {
            let on_change = Closure::<dyn FnMut(web_sys::Event)>::new(move |_: web_sys::Event| {
                let hash = web_sys::window()
                    .and_then(|w| w.location().hash().ok())
                    .unwrap_or_default();
                if hash == *written.borrow() {
                    return;
                }
                let opened = link::parse(&hash, &PageState::default().settings.config);
                dispatch.dispatch(Action::LinkChanged(Box::new(opened)));
            });
            if let Some(w) = web_sys::window() {
                let _ = w.add_event_listener_with_callback(
                    "hashchange",
                    on_change.as_ref().unchecked_ref(),
                );
            }
            // The listener lives as long as the page.
            on_change.forget();
            || ()
        });
    }
    {
        // Each command once, in order; a helper's worker starts with its first command.
        let posted = use_mut_ref(|| 0u64);
        let dispatch = state.dispatcher();
        let link = link.clone();
        let helpers = helpers.clone();
        // Known once storage has answered (a sweep a link starts at once may come before it: its
        // helpers then keep no checkpoint).
        let owner = state.page.library.owner.clone();
        use_effect_with(state.outbox.clone(), move |outbox| {
            for (number, to, command) in outbox.iter() {
                if *number <= *posted.borrow() {
                    continue;
                }
                *posted.borrow_mut() = *number;
                let slot = match to {
                    Worker::Own => {
                        if let Err(e) = link.borrow_mut().send(command.to_json()) {
                            dispatch.dispatch(Action::WorkerFailed(e));
                        }
                        continue;
                    }
                    Worker::Helper(slot) => slot,
                };
                let link = {
                    let mut links = helpers.borrow_mut();
                    while links.len() <= *slot {
                        let next = links.len();
                        links.push(Rc::new(RefCell::new(WorkerLink::helper(next))));
                    }
                    links[*slot].clone()
                };
                // Each helper checkpoints its run under its own owner id, so a reload goes on
                // with it.
                if !owner.is_empty() {
                    link.borrow_mut().own(&helper_owner(&owner, *slot));
                }
                if let Command::Stop = command {
                    // A stopped helper is ended, not told: see `WorkerLink::terminate`. Ended, it
                    // cannot forget its checkpoint itself.
                    link.borrow_mut().terminate();
                    if !owner.is_empty() {
                        let helper = helper_owner(&owner, *slot);
                        wasm_bindgen_futures::spawn_local(async move {
                            let _ = store::delete_checkpoint(&helper).await;
                        });
                    }
                    continue;
                }
                if !link.borrow().is_started() {
                    match command {
                        Command::Train { .. } => spawn_worker(dispatch.clone(), link.clone()),
                        Command::Ask { .. } | Command::Ablate { .. } => {
                            // Its models went with it.
                            let why = "the worker that trained this run has stopped, and its model with it: ask a run trained since".to_string();
                            let event = match command {
                                Command::Ask { .. } => {
                                    instruction_diversity::protocol::Event::Answer {
                                        answer: Err(why),
                                    }
                                }
                                _ => instruction_diversity::protocol::Event::Ablated {
                                    ablated: Err(why),
                                },
                            };
                            dispatch.dispatch(Action::Helper(*slot, event));
                            continue;
                        }
                        // Nothing to pause or resume.
                        _ => continue,
                    }
                }
                if let Err(e) = link.borrow_mut().send(command.to_json()) {
                    dispatch.dispatch(Action::HelperFailed(*slot, e));
                }
            }
            || ()
        });
    }

    let page = &state.page;
    let dispatch = state.dispatcher();
    let view = &page.view;
    // Anything training (the page's worker or a helper) keeps the other starts and the settings
    // closed.
    let active = page.is_busy();
    let page_class = classes!(
        "page",
        view.embed.then_some("embed"),
        view.hides("settings").then_some("no-settings")
    );
    let inspected_config = page.inspected().map(|(config, _)| config.clone());
    let config = &page.settings.config;
    let synopsis = format!(
        "{} · {} rules · {} steps",
        page.settings_origin(),
        config.task.instructions,
        config.train.steps
    );
    html! {
        <div class={page_class}>
            <header>
                <h1>{ "Instruction Diversity Playground" }</h1>
            </header>
            { for page.context.notices().into_iter().map(|notice| html! {
                <section class="notices context" role="status" id={notice.id}>
                    <p>{ notice.text }</p>
                    if notice.reload {
                        <button class="reload" onclick={Callback::from(|_: MouseEvent| {
                            if let Some(w) = web_sys::window() {
                                let _ = w.location().reload();
                            }
                        })}>{ "Reload the page" }</button>
                    }
                </section>
            }) }
            if !page.notices.is_empty() {
                <section class="notices" role="status" id="notices">
                    <ul>{ for page.notices.iter().map(|n| html! { <li>{ n }</li> }) }</ul>
                    <button onclick={on_click(&dispatch, Action::DismissNotices)}>{ "Dismiss" }</button>
                </section>
            }
            if let Some(pending) = &page.pending_link {
                <section class="notices" role="alertdialog" aria-label="Another link" id="pending-link">
                    if pending.deferred {
                        <p>{ "The link you opened opens when this run ends." }
                            <button onclick={on_click(&dispatch, Action::PendingLink(PendingChoice::Forget))}>{ "Forget it" }</button></p>
                    } else {
                        <p>{ "You opened another link while a run trains. The address bar keeps this run's link until you choose:" }</p>
                        <button id="pending-open-now" onclick={on_click(&dispatch, Action::PendingLink(PendingChoice::OpenNow))}>{ "Stop the run and open it" }</button>
                        <button id="pending-open-after" onclick={on_click(&dispatch, Action::PendingLink(PendingChoice::OpenAfter))}>{ "Open it when the run ends" }</button>
                        <button id="pending-forget" onclick={on_click(&dispatch, Action::PendingLink(PendingChoice::Forget))}>{ "Keep the run, forget the link" }</button>
                    }
                </section>
            }
            if !active && !page.library.orphans.is_empty() {
                <Orphans orphans={page.library.orphans.clone()} owner={page.library.owner.clone()} dispatch={dispatch.clone()} />
            }
            if page.class.link.is_some() {
                <crate::class_panel::ClassPanel room={page.class.clone()} step={page.run.step} total={page.run.total_steps}
                    {active} dispatch={dispatch.clone()} />
            }
            <Hero config={config.clone()} lesson={page.lesson.clone()} queue={page.sweep.clone()} library={page.library.clone()}
                run={page.run.clone()} inside={page.inside.clone()} opened={page.inspector.opened} {active} seconds_left={page.sweep_seconds_left()} show_lesson={!view.hides("lessons")} dispatch={dispatch.clone()} />
            <main>
                if !view.hides("settings") {
                    // The whole form one click away; closed at first so the page opens on the
                    // experiment, not on twenty fields.
                    <details class="panel drawer settings" id="settings-drawer">
                        <summary><span class="drawer-title">{ "Settings" }</span>
                            <span class="muted" id="settings-synopsis">{ format!(" {synopsis}") }</span></summary>
                        <SettingsForm settings={page.settings.clone()} view={view.clone()} {active} reset={page.links_opened} dispatch={dispatch.clone()} />
                    </details>
                }
                <section class="panel run" aria-labelledby="run-title">
                    <h2 id="run-title">{ "One run, step by step" }</h2>
                    <RunControls run={page.run.clone()} config={config.clone()} force_cpu={page.settings.force_cpu} busy={active} view={view.clone()} dispatch={dispatch.clone()} />
                    <Status run={page.run.clone()} configured_steps={config.train.steps} />
                    if !view.hides("share") {
                        <Share settings={page.settings.clone()} view={view.clone()} lesson={page.lesson.as_ref().map(|l| l.id.clone())}
                            form={page.sweep.form.clone()}
                            fingerprint={(page.run.status == RunStatus::Finished).then(|| page.run.fingerprint.clone()).flatten()} />
                    }
                    if !view.hides("results") {
                        <Results run={page.run.clone()} library={page.library.clone()} locked={view.locks("results")} dispatch={dispatch.clone()} />
                    }
                    if !view.hides("charts") {
                        <Charts run={page.run.clone()} />
                    }
                    if !view.hides("predictions") {
                        <Predictions samples={page.run.samples.clone()} />
                    }
                </section>
            </main>
            <div class="lab">
                if !view.hides("lessons") {
                    <lessons_panel::Lessons open={page.lesson.as_ref().map(|l| l.id.clone())} {active} dispatch={dispatch.clone()} />
                }
                if !view.hides("sweep") {
                    <sweep_panel::Sweeps queue={page.sweep.clone()} library={page.library.clone()} preset={page.settings.preset.clone()} config={page.settings.config.raw().clone()}
                        {active} seconds_left={page.sweep_seconds_left()} reset={page.links_opened} dispatch={dispatch.clone()} />
                }
                if !view.hides("inspector") {
                    <inspector_panel::InspectorPanel inspector={page.inspector.clone()} library={page.library.clone()} run={page.run.clone()} dispatch={dispatch.clone()} />
                }
                if !view.hides("try") {
                    <try_panel::TryYourOwn inspector={page.inspector.clone()} config={inspected_config} run_name={page.inspected_name()} ablate={!view.hides("inside")} dispatch={dispatch.clone()} />
                }
                if !view.hides("inside") {
                    <inside_panel::InsidePanel inside={page.inside.clone()} inspector={page.inspector.clone()} library={page.library.clone()} run={page.run.clone()} sweep={page.sweep.clone()} run_name={page.inspected_name()} dispatch={dispatch.clone()} />
                }
                if !view.hides("compare") {
                    <compare_panel::Compare library={page.library.clone()} opened={page.inspector.opened} {active} kept={page.context.storage.is_none()} dispatch={dispatch.clone()} />
                }
            </div>
            <footer class="muted">{ "Build " }<span id="build" class="mono">{ BUILD }</span></footer>
        </div>
    }
}

#[derive(Properties, PartialEq)]
struct OrphansProps {
    orphans: Vec<Orphan>,
    /// This tab's owner id.
    owner: String,
    dispatch: Dispatch,
}

/// Runs of tabs that are gone, each with a button that resumes it here.
#[function_component(Orphans)]
fn orphans(props: &OrphansProps) -> Html {
    html! {
        <section class="notices" role="status" id="orphans">
            { for props.orphans.iter().map(|orphan| {
                let what = match (&orphan.run, &orphan.sweep) {
                    (Some(meta), _) => format!(
                        "A run of a tab that is now closed stopped at step {} of {} (I = {}).",
                        meta.step, meta.config.train.steps, meta.config.task.instructions
                    ),
                    (None, Some(sweep)) => format!(
                        "A sweep of a tab that is now closed stopped at run {} of {}.",
                        sweep.current + 1,
                        sweep.spec.run_count()
                    ),
                    (None, None) => String::new(),
                };
                let adopt = {
                    let (from, to) = (orphan.owner.clone(), props.owner.clone());
                    let dispatch = props.dispatch.clone();
                    Callback::from(move |_: MouseEvent| {
                        let (from, to, dispatch) = (from.clone(), to.clone(), dispatch.clone());
                        wasm_bindgen_futures::spawn_local(async move {
                            // Its entries become this tab's first: the worker reads them as its own.
                            match store::adopt(&from, &to).await {
                                Ok(()) => dispatch.dispatch(Action::Restore(RestoreAction::Adopt(from))),
                                Err((name, message)) => dispatch.dispatch(Action::Library(
                                    LibraryAction::StorageFailed(format!(
                                        "the closed tab's run could not be taken over: {}",
                                        describe_failure(&name, &message)
                                    )),
                                )),
                            }
                        });
                    })
                };
                html! {
                    <p>{ what }{ " " }<button class="resume-here" onclick={adopt}>{ "Resume it here" }</button></p>
                }
            }) }
        </section>
    }
}

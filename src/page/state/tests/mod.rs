//! The reducer's tests, by concern: each part's actions, and the actions that cross parts. The
//! fixtures they share are here: actions, worker events, records, sweeps, the worker's side of a
//! run played to its end, and the commands one reduction sends, picked out by worker.

mod inspector;
mod library;
mod restore;
mod run;
mod settings;
mod stack;
mod sweep;
mod workers;

use super::context::ContextAction;
use super::inspector::InspectorAction;
use super::lessons::LessonAction;
use super::library::LibraryAction;
use super::restore::{RestoreAction, Restored};
use super::*;
use crate::engine::metrics::{EvalSummary, LossPoint};
use crate::page::inspect::RuleSort;
use crate::page::storage::{SavedRun, StorageProblem};
use crate::protocol::{BackendInfo, BackendKind};
use serde_json::Value;

fn set_action(path: impl Into<String>, value: impl Into<Value>) -> Action {
    Action::Settings(SettingsAction::Set(path.into(), value.into()))
}

fn load_preset(id: impl Into<String>) -> Action {
    Action::Settings(SettingsAction::LoadPreset(id.into()))
}

fn force_cpu(on: bool) -> Action {
    Action::Settings(SettingsAction::ForceCpu(on))
}

fn start_sweep(spec: Box<SweepSpec>, lesson: Option<String>) -> Action {
    Action::Sweep(SweepAction::Start(spec, lesson))
}

fn edit_sweep(field: SweepField, value: &str) -> Action {
    Action::Sweep(SweepAction::Edit(field, value.into()))
}

fn workers(n: usize) -> Action {
    Action::Sweep(SweepAction::Workers(n))
}

fn import_failed(why: impl Into<String>) -> Action {
    Action::Library(LibraryAction::ImportFailed(why.into()))
}

fn toggle_compare(index: usize) -> Action {
    Action::Library(LibraryAction::ToggleCompare(index))
}

fn saved(indices: Vec<usize>, outcome: Result<(), String>) -> Action {
    Action::Library(LibraryAction::Saved(indices, outcome))
}

fn storage_failed(why: impl Into<String>) -> Action {
    Action::Library(LibraryAction::StorageFailed(why.into()))
}

fn sort_rules(key: RuleSort) -> Action {
    Action::Inspector(InspectorAction::SortRules(key))
}

fn open_lesson(id: Option<String>) -> Action {
    Action::Lesson(LessonAction::Open(id))
}

fn predict(choice: usize) -> Action {
    Action::Lesson(LessonAction::Predict(choice))
}

fn restore_action(restored: Restored) -> Action {
    Action::Restore(RestoreAction::Restore(Box::new(restored)))
}

fn ask(x: &str, y: &str, z: &str) -> Action {
    Action::Ask {
        x: x.into(),
        y: y.into(),
        z: z.into(),
    }
}

/// A worker says how it trains the runs of its `Train`: the first `runs` of them, on `kind`, from
/// step 0.
fn training(runs: usize, kind: BackendKind) -> Event {
    let description = match kind {
        BackendKind::WebGpu => "WebGPU: test",
        BackendKind::Cpu => "CPU",
    };
    Event::Training {
        runs,
        backend: BackendInfo {
            kind,
            description: description.into(),
        },
        step: 0,
    }
}

/// What run `member` of a worker's training said.
fn member(member: usize, said: RunEvent) -> Event {
    Event::Member { member, said }
}

/// Run `member` took `step` of 20 steps, at 10 steps a second.
fn progress(member: usize, step: usize) -> Event {
    progress_of(member, step, 20, 10.0)
}

/// Run `member` took `step` of `total_steps`, at `steps_per_second`.
fn progress_of(member: usize, step: usize, total_steps: usize, steps_per_second: f64) -> Event {
    self::member(
        member,
        RunEvent::Progress {
            step,
            total_steps,
            loss: 1.0,
            steps_per_second,
            launches_per_step: None,
        },
    )
}

/// Run `member`'s record, as it finishes.
fn record(member: usize, record: RunRecord) -> Event {
    self::member(
        member,
        RunEvent::Record {
            record: Box::new(record),
        },
    )
}

/// Run `member` finished at `step`.
fn finished(member: usize, step: usize) -> Event {
    self::member(member, RunEvent::Finished { step })
}

/// Run `member`'s loss diverged.
fn failed(member: usize, message: &str) -> Event {
    self::member(
        member,
        RunEvent::Failed {
            message: message.into(),
        },
    )
}

fn reduce(state: PageState, action: Action) -> PageState {
    state.reduce(action).0
}

/// The commands `sent` gives the page's own worker, in order.
fn own(sent: &Sent) -> Vec<Command> {
    sent.iter()
        .filter(|(to, _)| *to == Worker::Own)
        .map(|(_, command)| command.clone())
        .collect()
}

/// The commands `sent` gives the helper workers, with their slots, in order.
fn helpers(sent: &Sent) -> Vec<(usize, Command)> {
    sent.iter()
        .filter_map(|(to, command)| match to {
            Worker::Helper(slot) => Some((*slot, command.clone())),
            Worker::Own => None,
        })
        .collect()
}

/// The settings of the first run of the fresh `Train` that `sent` gives the page's own worker, if
/// it gives one: a single run's, or a stack's first.
fn first_run(sent: &Sent) -> Option<&ValidConfig> {
    sent.iter().find_map(|(to, command)| match (to, command) {
        (
            Worker::Own,
            Command::Train {
                work: Work::Fresh { runs },
                ..
            },
        ) => runs.first(),
        _ => None,
    })
}

/// The runs of the one command `sent` gives the page's own worker, a fresh `Train` (anything else
/// fails the test): one run, or the runs of a stack.
fn fresh_runs(sent: &Sent) -> Vec<ValidConfig> {
    match own(sent).as_slice() {
        [
            Command::Train {
                work: Work::Fresh { runs },
                ..
            },
        ] => runs.clone(),
        other => panic!("expected a fresh start, got {other:?}"),
    }
}

/// The page's worker trains `config` alone from step 0 on `backend`.
fn fresh_one(config: &ValidConfig, backend: BackendPreference) -> Command {
    Command::Train {
        work: Work::Fresh {
            runs: vec![config.clone()],
        },
        backend,
    }
}

/// Finished run `i` of `state`'s library as the browser keeps it.
fn saved_run(state: &PageState, i: usize) -> SavedRun {
    let run = &state.library.runs[i];
    SavedRun::new(
        &run.name,
        run.sweep_key.clone(),
        run.record.as_ref().clone(),
    )
}

/// The page's worker goes on with the runs of its checkpoint (the settings' backend choice).
fn resume_saved() -> Command {
    Command::Train {
        work: Work::Saved,
        backend: BackendPreference::Auto,
    }
}

/// The rule counts of the runs `sent` asks helpers to train (`continued`: to go on with from their
/// checkpoints when they hold them), by helper.
fn helper_runs(sent: &Sent, continued: bool) -> Vec<(usize, usize)> {
    helpers(sent)
        .into_iter()
        .filter_map(|(slot, command)| {
            let Command::Train { work, backend } = command else {
                return None;
            };
            let runs = match work {
                Work::Fresh { runs } if !continued => runs,
                Work::SavedIfSame { runs } if continued => runs,
                _ => return None,
            };
            assert_eq!(backend, BackendPreference::Cpu, "helpers train on the CPU");
            assert_eq!(runs.len(), 1, "a helper trains one run");
            Some((slot, runs[0].task.instructions))
        })
        .collect()
}

/// The rule counts of the runs `sent` asks helpers to start, by helper.
fn helper_starts(sent: &Sent) -> Vec<(usize, usize)> {
    helper_runs(sent, false)
}

/// The rule counts of the runs `sent` asks helpers to go on with, by helper.
fn helper_continues(sent: &Sent) -> Vec<(usize, usize)> {
    helper_runs(sent, true)
}

/// A run started with the default settings, training on the CPU.
fn running() -> PageState {
    let (state, sent) = PageState::default().reduce(Action::Run(RunAction::Start));
    assert_eq!(fresh_runs(&sent).len(), 1);
    reduce(state, Action::Worker(training(1, BackendKind::Cpu)))
}

/// The page's worker on the CPU: it trains the first run of the runs it was given alone (the others
/// wait for the helpers, which it starts).
fn worker_on_cpu(state: PageState) -> (PageState, Sent) {
    state.reduce(Action::Worker(training(1, BackendKind::Cpu)))
}

/// A finished run's record of a short run of the skew preset, with this seed and final loss.
fn record_with(seed: u64, loss: f32) -> RunRecord {
    let mut config = preset("skew").unwrap().sweep.base;
    config.train.steps = 20;
    config.train.warmup_steps = 2;
    config.train.eval_every = 10;
    config.validate().unwrap();
    RunRecord {
        labels: vec![format!("seed {seed}")],
        config: ExperimentConfig {
            seed,
            ..config.clone()
        },
        instructions: config.task.instructions,
        examples_per_rule: 1.0,
        rules_with_examples: 1,
        steps: 20,
        result: EvalSummary {
            step: 20,
            seen_accuracy: 0.5,
            unseen_accuracy: 0.25,
            unseen_hasop_accuracy: 0.2,
            noop_accuracy: 1.0,
            composed_accuracy: None,
        },
        final_loss: loss,
        losses: vec![LossPoint { step: 20, loss }],
        evaluations: Vec::new(),
        inside: Vec::new(),
        seen_rules: Vec::new(),
        unseen_rules: Vec::new(),
        wall_seconds: 1.0,
    }
}

fn finished_record(seed: u64) -> RunRecord {
    record_with(seed, 0.5)
}

/// The record a run of `config` ends with, `unseen` its held-out accuracy.
fn record_for(config: &ValidConfig, unseen: f64) -> RunRecord {
    RunRecord {
        labels: Vec::new(),
        instructions: config.task.instructions,
        examples_per_rule: 1.0,
        rules_with_examples: config.task.instructions,
        steps: 20,
        result: EvalSummary {
            step: 20,
            seen_accuracy: 0.9,
            unseen_accuracy: unseen,
            unseen_hasop_accuracy: unseen,
            noop_accuracy: 1.0,
            composed_accuracy: None,
        },
        final_loss: 0.5,
        losses: vec![LossPoint {
            step: 20,
            loss: 0.5,
        }],
        evaluations: Vec::new(),
        inside: Vec::new(),
        seen_rules: Vec::new(),
        unseen_rules: Vec::new(),
        wall_seconds: 4.0,
        config: config.raw().clone(),
    }
}

/// A sweep over three rule counts, of 20 steps each.
fn tiny_sweep() -> SweepSpec {
    let mut base = PageState::default().settings.config.raw().clone();
    base.train.steps = 20;
    base.train.warmup_steps = 2;
    base.train.eval_every = 10;
    SweepSpec {
        base,
        axes: vec![crate::study::sweep::Axis::values(
            "instructions",
            "task.instructions",
            [4usize, 16, 64],
        )],
        seeds: vec![1],
    }
}

/// A sweep over four rule counts, for the tests of several workers and of stacks.
fn four_run_sweep() -> SweepSpec {
    let mut spec = tiny_sweep();
    spec.axes[0] = crate::study::sweep::Axis::values(
        "instructions",
        "task.instructions",
        [4usize, 16, 64, 256],
    );
    spec
}

/// Plays the page worker's side of one run to its end: how it trains (the first run of its `Train`
/// alone, on the CPU; unless it said so already), progress, record, finished. Gives what the last
/// event sent.
fn finish_run(state: PageState, unseen: f64) -> (PageState, Sent) {
    let config = state.run.config.clone().expect("a run started");
    let mut state = state;
    if state.run.status == RunStatus::Starting {
        state = worker_on_cpu(state).0;
    }
    state = reduce(state, Action::Worker(progress(0, 20)));
    state = reduce(
        state,
        Action::Worker(record(0, record_for(&config, unseen))),
    );
    state.reduce(Action::Worker(finished(0, 20)))
}

/// Plays helper `slot`'s side of its run to the end: how it trains, progress, record, finished
/// (each its member 0's). Gives what the last event sent; the others send nothing.
fn finish_helper_run(state: PageState, slot: usize, unseen: f64) -> (PageState, Sent) {
    let sweep = state.sweep.sweep.as_ref().unwrap();
    let plan = sweep.elsewhere[slot]
        .as_ref()
        .expect("the helper trains a run")
        .plan;
    let config = sweep.plan[plan].config.raw().clone();
    let (state, sent) = state.reduce(Action::Helper(slot, training(1, BackendKind::Cpu)));
    assert!(sent.is_empty(), "{sent:?}");
    let (state, sent) = state.reduce(Action::Helper(slot, progress(0, 10)));
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(
        state.sweep.sweep.as_ref().unwrap().elsewhere[slot]
            .as_ref()
            .unwrap()
            .step,
        10
    );
    let mut finished_run = record_with(config.seed, 0.5);
    finished_run.labels = Vec::new();
    finished_run.instructions = config.task.instructions;
    finished_run.result.unseen_accuracy = unseen;
    finished_run.config = config;
    let (state, sent) = state.reduce(Action::Helper(slot, record(0, finished_run)));
    assert!(sent.is_empty(), "{sent:?}");
    state.reduce(Action::Helper(slot, finished(0, 20)))
}

/// Plays the page worker's side of a stack's end: each run's record and `Finished`, run 0's last
/// (as the worker sends them). Gives what the last event sent.
fn finish_stack(state: PageState, configs: &[ValidConfig]) -> (PageState, Sent) {
    let mut state = state;
    for (k, config) in configs.iter().enumerate().skip(1).rev() {
        state = reduce(
            state,
            Action::Worker(record(k, record_for(config, 0.1 * k as f64))),
        );
        state = reduce(state, Action::Worker(finished(k, 20)));
    }
    let state = reduce(
        state,
        Action::Worker(record(0, record_for(&configs[0], 0.0))),
    );
    state.reduce(Action::Worker(finished(0, 20)))
}

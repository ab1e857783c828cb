//! The reducer's tests: each part's actions, and the actions that cross parts.

use super::inspector::InspectorAction;
use super::lessons::LessonAction;
use super::library::LibraryAction;
use super::restore::{RestoreAction, Restored};
use super::*;
use crate::engine::metrics::{EvalSummary, LossPoint};
use crate::page::inspect::RuleSort;
use crate::protocol::{BackendInfo, BackendKind};
use crate::study::sweep::SweepSetting;
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

fn restore_action(restored: Restored) -> Action {
    Action::Restore(RestoreAction::Restore(Box::new(restored)))
}

fn predict(choice: usize) -> Action {
    Action::Lesson(LessonAction::Predict(choice))
}

/// The page's worker on the CPU said it trains the first run of its stack alone.
fn alone(state: PageState) -> PageState {
    reduce(state, Action::Worker(Event::Stacked { runs: 1 }))
}

/// The settings of the (first) run a start command trains: a single run's, or a stack's first.
fn first_run(command: &Option<Command>) -> Option<&ValidConfig> {
    match command {
        Some(Command::Start { config, .. }) => Some(config),
        Some(Command::StartStack { configs, .. }) => configs.first(),
        _ => None,
    }
}

fn reduce(state: PageState, action: Action) -> PageState {
    state.reduce(action).0
}

fn running() -> PageState {
    let (state, command) = PageState::default().reduce(Action::Run(RunAction::Start));
    assert!(matches!(command, Some(Command::Start { .. })));
    reduce(
        state,
        Action::Worker(Event::Backend(BackendInfo {
            kind: BackendKind::Cpu,
            description: "CPU".into(),
        })),
    )
}

#[test]
fn start_sends_the_settings_and_the_backend_choice() {
    let state = reduce(PageState::default(), force_cpu(true));
    let (state, command) = state.reduce(Action::Run(RunAction::Start));
    assert_eq!(state.run.status, RunStatus::Starting);
    match command {
        Some(Command::Start { config, backend }) => {
            assert_eq!(*config, state.settings.config);
            assert_eq!(backend, BackendPreference::Cpu);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn pause_resume_and_step_only_when_they_make_sense() {
    let (state, command) = running().reduce(Action::Run(RunAction::Resume));
    assert_eq!(command, None);
    let (state, command) = state.reduce(Action::Run(RunAction::Pause));
    assert_eq!(command, Some(Command::Pause));
    let state = reduce(state, Action::Worker(Event::Paused { step: 7 }));
    assert_eq!(state.run.status, RunStatus::Paused);
    let (state, command) = state.reduce(Action::Run(RunAction::Step));
    assert_eq!(
        command,
        Some(Command::Step {
            steps: STEP_BUTTON_STEPS
        })
    );
    let (state, command) = state.reduce(Action::Run(RunAction::Resume));
    assert_eq!(command, Some(Command::Resume));
    let (state, command) = state.reduce(Action::Run(RunAction::Stop));
    assert_eq!(command, Some(Command::Stop));
    assert_eq!(state.run.status, RunStatus::Idle);
}

#[test]
fn locked_settings_and_panels_refuse_changes_and_presets_keep_them() {
    let link = crate::page::link::parse(
        "v=1&I=48&lock=I,backend&hide=model",
        &PageState::default().settings.config,
    );
    let state = reduce(PageState::default(), Action::OpenLink(Box::new(link)));
    assert_eq!(state.settings.config.task.instructions, 48);
    // A locked key, and a hidden group (hidden means locked).
    let refused = reduce(state.clone(), set_action("task.instructions", 64));
    assert_eq!(refused.settings.config.task.instructions, 48);
    assert_eq!(
        refused.settings.error.as_ref().unwrap().setting,
        "task.instructions"
    );
    let refused = reduce(state.clone(), set_action("model.layers", 3));
    assert_eq!(
        refused.settings.config.model.layers,
        state.settings.config.model.layers
    );
    let allowed = reduce(state.clone(), set_action("train.steps", 500));
    assert_eq!(allowed.settings.config.train.steps, 500);
    assert!(!reduce(state.clone(), force_cpu(true)).settings.force_cpu);
    // A preset loads around the locked settings.
    let loaded = reduce(allowed.clone(), load_preset("skew"));
    let skew = preset("skew").unwrap().sweep.base;
    assert_eq!(loaded.settings.config.task.instructions, 48);
    assert_eq!(loaded.settings.config.model, state.settings.config.model);
    assert_ne!(skew.train, allowed.settings.config.train);
    assert_eq!(loaded.settings.config.train, skew.train);
    assert_eq!(loaded.settings.preset.as_deref(), Some("skew"));
    // Locking the preset menu refuses presets altogether.
    let link = crate::page::link::parse("lock=preset", &PageState::default().settings.config);
    let state = reduce(PageState::default(), Action::OpenLink(Box::new(link)));
    assert_eq!(
        reduce(state.clone(), load_preset("skew")).settings.config,
        state.settings.config
    );
}

/// A finished run's record of a short run of the skew preset, with this seed and final loss.
fn record_with(seed: u64, loss: f32) -> RunRecord {
    let mut config = crate::study::presets::preset("skew").unwrap().sweep.base;
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
        },
        final_loss: loss,
        losses: vec![LossPoint { step: 20, loss }],
        evaluations: Vec::new(),
        seen_rules: Vec::new(),
        unseen_rules: Vec::new(),
        wall_seconds: 1.0,
    }
}

fn finished_record(seed: u64) -> RunRecord {
    record_with(seed, 0.5)
}

#[test]
fn an_imported_file_shows_its_runs_and_a_start_replaces_it() {
    let run = record_with;
    let mut report = SweepReport::single(run(1, 0.5), "CPU");
    report.runs.push(run(2, 0.25));
    let state = reduce(PageState::default(), Action::Import(Box::new(report)));
    assert_eq!(state.settings.config.seed, 1);
    assert_eq!(
        state.run.losses,
        vec![LossPoint {
            step: 20,
            loss: 0.5
        }]
    );
    assert_eq!(state.run.status, RunStatus::Idle);
    assert_eq!(state.library.imported.as_ref().unwrap().1, 0);
    let second = reduce(state, Action::ShowImported(1));
    assert_eq!(second.settings.config.seed, 2);
    assert_eq!(second.run.record.as_ref().unwrap().final_loss, 0.25);
    let refused = reduce(second.clone(), import_failed("bad file"));
    assert_eq!(refused.library.import_error.as_deref(), Some("bad file"));
    assert_eq!(
        refused.run.losses, second.run.losses,
        "a refused file changed the curves"
    );
    let (started, command) = second.reduce(Action::Run(RunAction::Start));
    assert!(command.is_some());
    assert!(
        started.library.imported.is_none()
            && started.run.record.is_none()
            && started.run.losses.is_empty()
    );
    // No import while training: the curves on show belong to the run.
    let busy = reduce(
        running(),
        Action::Import(Box::new(SweepReport::single(run(3, 1.0), "CPU"))),
    );
    assert!(busy.library.imported.is_none() && busy.library.import_error.is_some());
}

#[test]
fn opening_a_link_loads_its_settings_and_may_start() {
    let mut config = PageState::default().settings.config.raw().clone();
    config.task.instructions = 64;
    let text = format!(
        "{}&run=1&preset=nope",
        crate::page::link::write(&config, None, true)
    );
    let link = crate::page::link::parse(&text, &PageState::default().settings.config);
    let (state, command) = PageState::default().reduce(Action::OpenLink(Box::new(link)));
    assert_eq!(state.settings.config.raw(), &config);
    assert!(state.settings.force_cpu);
    assert_eq!(state.settings.preset, None);
    assert_eq!(state.run.status, RunStatus::Starting);
    assert!(matches!(
        command,
        Some(Command::Start {
            backend: BackendPreference::Cpu,
            ..
        })
    ));
    assert_eq!(state.notices.len(), 1, "{:?}", state.notices);
    let state = reduce(state, Action::DismissNotices);
    assert!(state.notices.is_empty());
}

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
        },
        final_loss: 0.5,
        losses: vec![LossPoint {
            step: 20,
            loss: 0.5,
        }],
        evaluations: Vec::new(),
        seen_rules: Vec::new(),
        unseen_rules: Vec::new(),
        wall_seconds: 4.0,
        config: config.raw().clone(),
    }
}

/// Plays the worker's side of one run to its end: backend, progress, record, finished.
fn finish_run(state: PageState, unseen: f64) -> (PageState, Option<Command>) {
    let config = state.run.config.clone().expect("a run started");
    // On the CPU, as the worker does: the first run of a stack alone.
    let state = reduce(state, Action::Worker(Event::Stacked { runs: 1 }));
    let mut state = reduce(
        state,
        Action::Worker(Event::Backend(BackendInfo {
            kind: BackendKind::Cpu,
            description: "CPU".into(),
        })),
    );
    state = reduce(
        state,
        Action::Worker(Event::Progress {
            step: 20,
            total_steps: 20,
            loss: 0.5,
            steps_per_second: 10.0,
        }),
    );
    let record = record_for(&config, unseen);
    state = reduce(
        state,
        Action::Worker(Event::Record {
            record: Box::new(record),
        }),
    );
    state.reduce(Action::Worker(Event::Finished { step: 20 }))
}

#[test]
fn a_sweep_runs_its_plan_in_order_and_fills_its_grid() {
    let (mut state, mut command) =
        PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let mut started = Vec::new();
    for (k, unseen) in [0.0, 0.2, 0.6].into_iter().enumerate() {
        match first_run(&command) {
            Some(config) => started.push(config.task.instructions),
            other => panic!("run {k}: {other:?}"),
        }
        state = alone(state);
        assert_eq!(state.sweep.sweep.as_ref().unwrap().current, Some(k));
        assert_eq!(state.sweep.sweep.as_ref().unwrap().waiting(), 2 - k);
        (state, command) = finish_run(state, unseen);
        let sweep = state.sweep.sweep.as_ref().unwrap();
        let grid = sweep.grid(&state.library.runs);
        assert_eq!(grid.filled(), k + 1, "a cell per finished run");
        assert_eq!(grid.curve().series[0].points.len(), k + 1);
    }
    assert_eq!(started, [4, 16, 64]);
    assert!((0..3).all(|i| state.sweep.sweep.as_ref().unwrap().is_done(i)));
    assert_eq!(command, None);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.status, SweepStatus::Done);
    assert_eq!(state.library.runs.len(), 3);
    assert_eq!(state.library.runs[2].record.labels, ["64"]);
    assert_eq!(state.library.runs[2].name, "instructions 64");
    assert_eq!(state.sweep_seconds_left(), None);
}

#[test]
fn the_queue_estimates_time_left_from_finished_runs() {
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let (state, _) = finish_run(state, 0.1);
    let state = alone(state);
    // One run took 4 s for 20 steps; 40 steps are left (two runs, the second not begun).
    assert_eq!(state.sweep_seconds_left(), Some(8.0));
}

#[test]
fn cancelling_a_sweep_stops_the_run_and_keeps_the_finished_ones() {
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let (state, _) = finish_run(state, 0.1);
    let (state, command) = state.reduce(Action::Sweep(SweepAction::Cancel));
    assert_eq!(command, Some(Command::Stop));
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.status, SweepStatus::Cancelled);
    assert_eq!(sweep.done.len(), 1);
    assert!(sweep.is_done(0) && !sweep.is_done(1));
    assert_eq!(sweep.waiting(), 0);
    // A late Finished of the stopped run starts nothing.
    let (_, command) = state.reduce(Action::Worker(Event::Finished { step: 20 }));
    assert_eq!(command, None);
}

#[test]
fn a_failed_run_ends_the_sweep_and_an_impossible_sweep_is_refused() {
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let state = reduce(
        state,
        Action::Worker(Event::Error {
            message: "device lost".into(),
        }),
    );
    assert_eq!(
        state.sweep.sweep.as_ref().unwrap().status,
        SweepStatus::Failed
    );
    let mut bad = tiny_sweep();
    bad.axes[0].points[0]
        .set
        .insert("task.alphabet".into(), serde_json::json!(99));
    let (state, command) = PageState::default().reduce(start_sweep(Box::new(bad), None));
    assert_eq!(command, None);
    assert!(state.sweep.sweep.is_none());
    assert!(
        state
            .sweep
            .error
            .as_ref()
            .unwrap()
            .contains("task.alphabet")
    );
}

#[test]
fn questions_are_checked_then_sent_with_the_inspected_runs_settings() {
    let (state, command) = PageState::default().reduce(Action::Ask {
        x: "a".into(),
        y: "b".into(),
        z: "abcd".into(),
    });
    assert_eq!(command, None);
    assert!(
        state.inspector.answer.as_ref().unwrap().is_err(),
        "no run yet"
    );
    let state = running();
    let (state, command) = state.reduce(Action::Ask {
        x: "a".into(),
        y: "b".into(),
        z: "xyz".into(),
    });
    assert_eq!(command, None);
    assert!(
        state
            .inspector
            .answer
            .clone()
            .unwrap()
            .unwrap_err()
            .starts_with("z:")
    );
    let (state, command) = state.reduce(Action::Ask {
        x: "a".into(),
        y: "b".into(),
        z: "abcd".into(),
    });
    match command {
        Some(Command::Ask { config, question }) => {
            assert_eq!(Some(&*config), state.run.config.as_deref());
            assert_eq!(question.z, "abcd");
        }
        other => panic!("{other:?}"),
    }
    assert!(state.inspector.asking);
    let state = reduce(
        state,
        Action::Worker(Event::Answer {
            answer: Err("gone".into()),
        }),
    );
    assert!(!state.inspector.asking);
    assert_eq!(state.inspector.answer, Some(Err("gone".into())));
}

#[test]
fn a_lesson_loads_its_settings_and_runs_only_after_a_prediction() {
    let state = reduce(
        PageState::default(),
        open_lesson(Some("phase-transition".into())),
    );
    let lesson = crate::study::lessons::lesson("phase-transition").unwrap();
    assert_eq!(state.settings.config.raw(), &lesson.sweep.base);
    let (state, command) = state.reduce(Action::Lesson(LessonAction::Run));
    assert_eq!(command, None, "no prediction yet");
    let state = reduce(state, predict(1));
    let (state, command) = state.reduce(Action::Lesson(LessonAction::Run));
    assert!(first_run(&command).is_some());
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.lesson.as_deref(), Some("phase-transition"));
    assert_eq!(sweep.plan.len(), 5);
}

#[test]
fn finished_runs_can_be_opened_and_compared() {
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let (state, _) = finish_run(state, 0.1);
    let (state, _) = finish_run(state, 0.3);
    let state = reduce(state, Action::Run(RunAction::Stop));
    let state = reduce(state, toggle_compare(0));
    let state = reduce(state, toggle_compare(1));
    let state = reduce(state, toggle_compare(7));
    assert_eq!(
        state.library.compare.iter().copied().collect::<Vec<_>>(),
        [0, 1]
    );
    let state = reduce(state, toggle_compare(0));
    assert_eq!(state.library.compare.len(), 1);
    let state = reduce(state, Action::OpenRun(Some(0)));
    let (config, _) = state.inspected().unwrap();
    assert_eq!(config.task.instructions, 4);
    assert_eq!(
        state.run.record.as_ref().unwrap().result.unseen_accuracy,
        0.1
    );
    let state = reduce(state, sort_rules(RuleSort::Cases));
    assert!(!state.inspector.rules.descending);
    let state = reduce(state, sort_rules(RuleSort::Cases));
    assert!(state.inspector.rules.descending);
}

#[test]
fn saved_runs_are_listed_on_return_with_their_sweep_and_clear_removes_them() {
    use crate::page::storage::{SavedRun, SavedSweep};
    // A run finishes in this visit before the saved ones are read back.
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let (state, _) = finish_run(state, 0.4);
    assert_eq!(state.library.runs[0].kept, Kept::Pending);
    let key = state.sweep.sweep.as_ref().unwrap().key.clone();
    assert_eq!(
        state.library.runs[0].sweep_key.as_deref(),
        Some(key.as_str())
    );
    let state = reduce(state, toggle_compare(0));
    let earlier = |labels: &str, unseen: f64| {
        let (done, _) = finish_run(
            PageState::default()
                .reduce(start_sweep(Box::new(tiny_sweep()), None))
                .0,
            unseen,
        );
        SavedRun::new(
            &format!("instructions {labels}"),
            Some("old".into()),
            done.library.runs[0]
                .record
                .as_ref()
                .clone()
                .with_labels(&[labels.to_string()]),
        )
    };
    let state = reduce(
        state,
        restore_action(Restored {
            runs: vec![earlier("4", 0.1), earlier("16", 0.5)],
            sweeps: vec![SavedSweep::new("old", &tiny_sweep(), None)],
            skipped: vec!["saved by another version".into()],
            visit: 42,
            interrupted_run: None,
            interrupted_sweep: None,
            ..Restored::default()
        }),
    );
    assert_eq!(state.library.visit, 42);
    assert_eq!(state.library.runs.len(), 3);
    assert_eq!(state.library.runs[0].kept, Kept::Saved);
    assert_eq!(
        state.library.runs[2].kept,
        Kept::Pending,
        "this visit's run moved after them"
    );
    assert_eq!(
        state.library.compare.iter().copied().collect::<Vec<_>>(),
        [2]
    );
    // The sweep of this visit stays on show, its run index shifted.
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.key, key);
    assert_eq!(sweep.done, [2]);
    assert!(
        state
            .library
            .storage_error
            .as_ref()
            .unwrap()
            .contains("1 saved entry")
    );

    // Without a sweep on show, the latest saved sweep comes back with its runs in its grid.
    let fresh = reduce(
        PageState::default(),
        restore_action(Restored {
            runs: vec![earlier("4", 0.1), earlier("16", 0.5)],
            sweeps: vec![SavedSweep::new("old", &tiny_sweep(), Some("x".into()))],
            skipped: Vec::new(),
            visit: 7,
            interrupted_run: None,
            interrupted_sweep: None,
            ..Restored::default()
        }),
    );
    let sweep = fresh.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.status, SweepStatus::Saved);
    assert_eq!(sweep.grid(&fresh.library.runs).filled(), 2);
    assert!(fresh.library.storage_error.is_none());
    // A new sweep gets a key of this visit.
    let (started, _) = fresh
        .clone()
        .reduce(start_sweep(Box::new(tiny_sweep()), None));
    assert_eq!(started.sweep.sweep.as_ref().unwrap().key, "sweep-7-1");

    // A full quota marks the run and says so; the runs saved before stay listed.
    let state = reduce(
        state,
        saved(
            vec![2],
            Err("the browser's storage for this page is full".into()),
        ),
    );
    assert_eq!(state.library.runs[2].kept, Kept::Failed);
    assert_eq!(state.library.runs[0].kept, Kept::Saved);
    assert!(
        state
            .library
            .storage_error
            .as_ref()
            .unwrap()
            .contains("full")
    );
    let state = reduce(state, saved(vec![2], Ok(())));
    assert_eq!(state.library.runs[2].kept, Kept::Saved);

    // The sweep's second run is still training: stop it, then clear.
    let cleared = reduce(
        reduce(state, Action::Run(RunAction::Stop)),
        Action::ClearSaved,
    );
    assert!(
        cleared.library.runs.is_empty()
            && cleared.sweep.sweep.is_none()
            && cleared.library.compare.is_empty()
    );
    // Not while a run trains: the run in progress belongs to the list.
    let busy = reduce(running(), Action::ClearSaved);
    assert!(busy.library.storage_error.is_some());
}

#[test]
fn a_link_can_open_a_lesson_which_waits_for_a_prediction() {
    let text = format!(
        "{}&lesson=no-ops&run=1",
        crate::page::link::write(&PageState::default().settings.config, None, false)
    );
    let link = crate::page::link::parse(&text, &PageState::default().settings.config);
    let (state, command) = PageState::default().reduce(Action::OpenLink(Box::new(link)));
    assert_eq!(command, None);
    assert_eq!(state.lesson.as_ref().unwrap().id, "no-ops");
    assert_eq!(state.notices.len(), 1, "{:?}", state.notices);
    // The link written from this page names the lesson again.
    let again =
        crate::page::link::write_with_view(&state.settings.config, None, false, &state.view);
    assert!(again.ends_with("&lesson=no-ops"), "{again}");
    let link = crate::page::link::parse("lesson=%3Cb%3E", &PageState::default().settings.config);
    let state = reduce(PageState::default(), Action::OpenLink(Box::new(link)));
    assert!(state.lesson.is_none());
    assert!(state.notices[0].contains("unknown lesson `<b>`"));
    // A link's notices say they are the link's; a reload's (below) do not.
    assert!(
        state.notices[0].starts_with("the link: "),
        "{:?}",
        state.notices
    );
}

#[test]
fn a_link_with_a_sweep_fills_the_builder_and_starts_the_sweep() {
    let link = crate::page::link::parse(
        "v=1&steps=20&warmup=2&eval_every=10&sweep=instructions:4,16&seeds=2&run=1",
        &PageState::default().settings.config,
    );
    let (state, command) = PageState::default().reduce(Action::OpenLink(Box::new(link)));
    assert!(first_run(&command).is_some());
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.plan.len(), 4);
    assert_eq!(sweep.spec.seeds, [1, 2]);
    assert_eq!(state.sweep.form.first_values, "4,16");
    // A bad form is refused with the setting named, and nothing starts.
    let state = reduce(
        PageState::default(),
        edit_sweep(SweepField::Values, "4, lots"),
    );
    let (state, command) = state.reduce(Action::Sweep(SweepAction::StartForm));
    assert_eq!(command, None);
    assert!(
        state
            .sweep
            .error
            .as_ref()
            .unwrap()
            .contains("sweep.instructions")
    );
}

#[test]
fn sweep_builder_edits_change_one_field_each_so_quick_edits_all_stay() {
    let edits = [
        (SweepField::Values, "4 8"),
        (SweepField::Seeds, "2"),
        (SweepField::Axis2, "per-rule"),
        (SweepField::Values2, "5, 20"),
        (SweepField::Axis, "noop-share"),
        // An unknown first axis keeps the one chosen; an unknown second axis means none.
        (SweepField::Axis, "bogus"),
    ];
    let state = edits
        .iter()
        .fold(PageState::default(), |state, (field, value)| {
            reduce(state, edit_sweep(*field, value))
        });
    let form = &state.sweep.form;
    assert_eq!(form.first_values, "4 8");
    assert_eq!(form.seeds, "2");
    assert_eq!(form.first, SweepSetting::from_id("noop-share").unwrap());
    assert_eq!(form.second, SweepSetting::from_id("per-rule"));
    assert!(form.second.is_some());
    assert_eq!(form.second_values, "5, 20");
    let state = reduce(state, edit_sweep(SweepField::Axis2, ""));
    assert_eq!(state.sweep.form.second, None);
    assert_eq!(state.sweep.form.seeds, "2");
}

#[test]
fn a_saved_checkpoint_resumes_with_its_curves_unless_a_run_already_started() {
    let mut config = PageState::default().settings.config.raw().clone();
    config.train.steps = 600;
    let meta = crate::engine::checkpoint::CheckpointMeta::new(
        config.validate().unwrap(),
        200,
        vec![LossPoint {
            step: 200,
            loss: 1.5,
        }],
        Vec::new(),
    );
    let interrupted = |meta: &crate::engine::checkpoint::CheckpointMeta| {
        restore_action(Restored {
            runs: Vec::new(),
            sweeps: Vec::new(),
            skipped: Vec::new(),
            visit: 1,
            interrupted_run: Some(meta.clone()),
            interrupted_sweep: None,
            ..Restored::default()
        })
    };
    let (state, command) = PageState::default().reduce(interrupted(&meta));
    assert_eq!(
        command,
        Some(Command::ResumeSaved {
            backend: BackendPreference::Auto
        })
    );
    assert_eq!(state.run.status, RunStatus::Starting);
    assert_eq!((state.run.step, state.run.total_steps), (200, 600));
    assert_eq!(state.run.losses.len(), 1);
    assert_eq!(state.settings.config.raw(), &config);
    assert_eq!(state.run.config.as_deref(), Some(&config));
    assert!(state.notices[0].contains("step 200 of 600"));
    assert!(!state.notices[0].contains("link"), "{:?}", state.notices);
    assert_eq!(state.run.checkpoint_cost, None);
    let state = reduce(
        state,
        Action::Worker(Event::Checkpointed {
            step: 260,
            bytes: 2_000_000,
            seconds: 0.5,
        }),
    );
    assert_eq!(state.run.checkpoint_step, Some(260));
    assert_eq!(state.run.checkpoint_cost, Some((2_000_000, 0.5)));
    let (busy, command) = running().reduce(interrupted(&meta));
    assert_eq!(command, None);
    assert_eq!(busy.run.step, 0);
    assert!(busy.notices.iter().any(|n| n.contains("was dropped")));
}

#[test]
fn a_reload_during_a_sweep_goes_on_with_its_queue() {
    use crate::engine::checkpoint::CheckpointMeta;
    use crate::page::storage::{SavedRun, SavedSweep, SweepProgress};
    // Before the reload: the first of three runs finished and the second is training.
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    assert_eq!(state.sweep_progress().unwrap().current, 0);
    let (before, command) = finish_run(state, 0.1);
    assert!(first_run(&command).is_some());
    let before = alone(before);
    let progress = before.sweep_progress().expect("the queue is running");
    assert_eq!(progress.current, 1);
    let progress = SweepProgress::from_json(&progress.to_json()).unwrap();
    let key = progress.id.clone();
    let saved = |state: &PageState, i: usize| {
        let run = &state.library.runs[i];
        SavedRun::new(
            &run.name,
            run.sweep_key.clone(),
            run.record.as_ref().clone(),
        )
    };
    let first = saved(&before, 0);
    let plan = tiny_sweep().plan().unwrap();
    let checkpoint = |config: &crate::engine::config::ValidConfig| {
        CheckpointMeta::new(
            config.clone(),
            10,
            vec![LossPoint {
                step: 10,
                loss: 1.0,
            }],
            Vec::new(),
        )
    };
    let reload = |runs: Vec<SavedRun>, run: Option<CheckpointMeta>, current: usize| {
        PageState::default().reduce(restore_action(Restored {
            runs,
            sweeps: vec![SavedSweep::new(&key, &tiny_sweep(), None)],
            skipped: Vec::new(),
            visit: 9,
            interrupted_run: run,
            interrupted_sweep: Some(SweepProgress {
                current,
                ..progress.clone()
            }),
            ..Restored::default()
        }))
    };
    let instructions = |command: &Option<Command>| match first_run(command) {
        Some(config) => config.task.instructions,
        other => panic!("expected a start, got {other:?}"),
    };

    // Its checkpoint: the second run goes on from step 10, then the queue goes on.
    let (state, command) = reload(vec![first.clone()], Some(checkpoint(&plan[1].config)), 1);
    assert!(matches!(command, Some(Command::ResumeSaved { .. })));
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(
        (
            sweep.status,
            sweep.current,
            sweep.done.clone(),
            sweep.waiting()
        ),
        (SweepStatus::Running, Some(1), vec![0], 1)
    );
    assert_eq!(sweep.key, key);
    assert_eq!(state.run.step, 10);
    assert!(
        state
            .notices
            .iter()
            .any(|n| n.contains("sweep at run 2 of 3"))
    );
    assert!(state.notices.iter().any(|n| n.contains("step 10 of 20")));
    let (state, command) = finish_run(state, 0.3);
    assert_eq!(instructions(&command), 64);
    assert_eq!(
        state.library.runs[1].sweep_key.as_deref(),
        Some(key.as_str())
    );
    assert_eq!(state.sweep_progress().unwrap().current, 2);
    let (state, command) = finish_run(state, 0.5);
    assert_eq!(command, None);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.status, SweepStatus::Done);
    assert_eq!(sweep.grid(&state.library.runs).filled(), 3);
    assert_eq!(
        state.sweep_progress(),
        None,
        "a finished sweep is not kept as running"
    );

    // No checkpoint yet (the reload came before the first one): the run starts again.
    let (_, command) = reload(vec![first.clone()], None, 1);
    assert_eq!(instructions(&command), 16);
    // A checkpoint of another run is not this sweep's: its run starts again.
    let (_, command) = reload(vec![first.clone()], Some(checkpoint(&plan[2].config)), 1);
    assert_eq!(instructions(&command), 16);
    // The second run finished and was saved before the queue's next run was noted: not again.
    let (after_two, _) = finish_run(before.clone(), 0.3);
    let second = saved(&after_two, 1);
    let (state, command) = reload(vec![first.clone(), second.clone()], None, 1);
    assert_eq!(instructions(&command), 64);
    assert_eq!(state.sweep.sweep.as_ref().unwrap().done, [0, 1]);
    // Every run saved: the sweep is complete and nothing starts.
    let (after_three, _) = finish_run(after_two, 0.5);
    let third = saved(&after_three, 2);
    let (state, command) = reload(vec![first, second, third], None, 2);
    assert_eq!(command, None);
    assert_eq!(
        state.sweep.sweep.as_ref().unwrap().status,
        SweepStatus::Done
    );
}

#[test]
fn a_lost_device_leaves_the_run_to_go_on_from_its_checkpoint_and_its_sweep_with_it() {
    let progress = |state: PageState, step: usize| {
        reduce(
            state,
            Action::Worker(Event::Progress {
                step,
                total_steps: 20,
                loss: 1.0,
                steps_per_second: 1.0,
            }),
        )
    };
    let lost = || {
        Action::Worker(Event::DeviceLost {
            message: "the GPU device was lost (destroyed)".into(),
        })
    };
    // Nothing kept yet: nothing to go on with.
    let state = reduce(progress(running(), 3), lost());
    assert_eq!(
        (state.run.status, state.run.resumable.clone()),
        (RunStatus::Failed, None)
    );
    assert_eq!(
        state.clone().reduce(Action::Restore(RestoreAction::GoOn)).1,
        None
    );
    // An error other than a lost device does not offer it either.
    let kept = |state: PageState| {
        reduce(
            state,
            Action::Worker(Event::Checkpointed {
                step: 5,
                bytes: 10,
                seconds: 0.1,
            }),
        )
    };
    let state = reduce(
        progress(kept(progress(running(), 5)), 8),
        Action::Worker(Event::Error {
            message: "crashed".into(),
        }),
    );
    assert_eq!(state.run.resumable, None);

    // In a sweep: the second run is kept at step 5 and its device is lost at step 8.
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let (state, _) = finish_run(state, 0.1);
    let state = progress(kept(progress(alone(state), 5)), 8);
    let state = reduce(state, lost());
    assert_eq!(
        state.run.resumable,
        Some(Resumable {
            step: 5,
            sweep_run: Some(1),
            stacked: vec![]
        })
    );
    assert_eq!(
        state.sweep.sweep.as_ref().unwrap().status,
        SweepStatus::Failed
    );
    assert_eq!(state.sweep_progress(), None);
    let (state, command) = state.reduce(Action::Restore(RestoreAction::GoOn));
    assert!(matches!(command, Some(Command::ResumeSaved { .. })));
    assert_eq!(
        (
            state.run.status,
            state.run.step,
            state.run.resumable.clone()
        ),
        (RunStatus::Starting, 5, None)
    );
    assert!(
        state.run.losses.iter().all(|p| p.step <= 5),
        "{:?}",
        state.run.losses
    );
    assert_eq!(state.run.error, None);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(
        (sweep.status, sweep.current),
        (SweepStatus::Running, Some(1))
    );
    assert_eq!(state.sweep_progress().unwrap().current, 1);
    // The queue goes on after it.
    let (_, command) = finish_run(state, 0.3);
    match first_run(&command) {
        Some(config) => assert_eq!(config.task.instructions, 64),
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_storage_failure_outside_a_save_is_shown() {
    let state = reduce(
        PageState::default(),
        storage_failed("clearing saved runs failed"),
    );
    assert_eq!(
        state.library.storage_error.as_deref(),
        Some("clearing saved runs failed")
    );
}

/// The state is copied at every dispatch (the page keeps the previous one): a worker event must
/// copy only the live run, and share the library, however many finished runs it holds.
#[test]
fn a_worker_event_shares_every_part_but_the_live_run() {
    let mut report = SweepReport::single(finished_record(1), "CPU");
    report.runs = (1..=200).map(finished_record).collect();
    let state = reduce(PageState::default(), Action::Import(Box::new(report)));
    let state = reduce(state, Action::Run(RunAction::Start));
    let before = reduce(
        state,
        Action::Worker(Event::Backend(BackendInfo {
            kind: BackendKind::Cpu,
            description: "CPU".into(),
        })),
    );
    let after = reduce(
        before.clone(),
        Action::Worker(Event::Progress {
            step: 5,
            total_steps: 100,
            loss: 1.0,
            steps_per_second: 2.0,
        }),
    );
    assert_eq!(after.run.step, 5);
    assert_eq!(after.library.runs.len(), 200);
    assert!(
        Rc::ptr_eq(&before.library, &after.library),
        "the library was copied"
    );
    assert!(Rc::ptr_eq(&before.settings, &after.settings));
    assert!(Rc::ptr_eq(&before.sweep, &after.sweep));
    assert!(Rc::ptr_eq(&before.inspector, &after.inspector));
    assert!(!Rc::ptr_eq(&before.run, &after.run));
}

/// Another tab's run is never taken while that tab lives (the page lists only gone tabs' runs); a
/// gone tab's run is offered, and resumed here only when asked and when nothing else runs.
#[test]
fn a_gone_tabs_run_is_offered_and_resumed_only_when_asked() {
    let mut config = PageState::default().settings.config.raw().clone();
    config.train.steps = 600;
    let meta = crate::engine::checkpoint::CheckpointMeta::new(
        config.validate().unwrap(),
        300,
        vec![LossPoint {
            step: 300,
            loss: 1.0,
        }],
        Vec::new(),
    );
    let orphan = library::Orphan {
        owner: "gone".into(),
        run: Some(meta),
        sweep: None,
        helpers: Vec::new(),
    };
    let (state, command) = PageState::default().reduce(restore_action(Restored {
        owner: "me".into(),
        orphans: vec![orphan],
        visit: 5,
        ..Restored::default()
    }));
    assert_eq!(command, None, "nothing is resumed without being asked");
    assert_eq!(state.library.owner, "me");
    assert_eq!(state.library.orphans.len(), 1);
    assert_eq!(state.run.status, RunStatus::Idle);
    // While a run trains here, the offer waits.
    let (busy, command) = running().reduce(Action::Restore(RestoreAction::Adopt("gone".into())));
    assert_eq!(command, None);
    assert!(busy.notices.iter().any(|n| n.contains("stop the run")));
    let (adopted, command) = state.reduce(Action::Restore(RestoreAction::Adopt("gone".into())));
    assert!(
        matches!(command, Some(Command::ResumeSaved { .. })),
        "{command:?}"
    );
    assert!(adopted.library.orphans.is_empty());
    assert_eq!((adopted.run.step, adopted.run.total_steps), (300, 600));
    assert!(
        adopted
            .notices
            .iter()
            .any(|n| n.contains("a closed tab interrupted"))
    );
    // An owner with nothing left to adopt changes nothing.
    let (again, command) = adopted
        .clone()
        .reduce(Action::Restore(RestoreAction::Adopt("gone".into())));
    assert_eq!(command, None);
    assert_eq!(again.run, adopted.run);
}

/// A link changed in the address bar opens at once when nothing trains; while a run trains it waits
/// for the reader: open it now (the run stops), once the run ends, or forget it.
#[test]
fn a_link_pasted_into_the_open_tab_opens_or_waits_for_the_readers_choice() {
    let base = PageState::default().settings.config.raw().clone();
    let link = |text: &str| Box::new(crate::page::link::parse(text, &base));
    let idle = reduce(
        PageState::default(),
        Action::LinkChanged(link("v=1&I=12&seed=8")),
    );
    assert_eq!(
        (
            idle.settings.config.task.instructions,
            idle.settings.config.seed
        ),
        (12, 8)
    );
    assert!(idle.pending_link.is_none());
    // While a run trains: held, the settings unchanged.
    let busy = reduce(running(), Action::LinkChanged(link("v=1&I=12&seed=8")));
    assert!(busy.pending_link.is_some());
    assert_eq!(
        busy.settings.config.task.instructions,
        base.task.instructions
    );
    assert_eq!(busy.run.status, RunStatus::Running);
    // Forget: nothing changes.
    let kept = reduce(busy.clone(), Action::PendingLink(PendingChoice::Forget));
    assert!(kept.pending_link.is_none());
    assert_eq!(kept.run.status, RunStatus::Running);
    // Open now: the run stops and the link opens (and starts, when it says so).
    let (now, command) = busy
        .clone()
        .reduce(Action::PendingLink(PendingChoice::OpenNow));
    assert_eq!(command, Some(Command::Stop));
    assert_eq!(now.settings.config.task.instructions, 12);
    assert_eq!(now.run.status, RunStatus::Idle);
    let starting = reduce(running(), Action::LinkChanged(link("v=1&I=12&run=1")));
    let (started, command) = starting.reduce(Action::PendingLink(PendingChoice::OpenNow));
    assert!(
        matches!(command, Some(Command::Start { .. })),
        "{command:?}"
    );
    assert_eq!(started.run.config.as_ref().unwrap().task.instructions, 12);
    // Open once the run ends: still held while it trains, opened when it finishes.
    let later = reduce(busy, Action::PendingLink(PendingChoice::OpenAfter));
    assert!(later.pending_link.as_ref().unwrap().deferred);
    assert_eq!(
        later.settings.config.task.instructions,
        base.task.instructions
    );
    let (ended, _) = finish_run(later, 0.5);
    assert!(ended.pending_link.is_none());
    assert_eq!(ended.settings.config.task.instructions, 12);
}

/// A sweep over four rule counts, for the tests of several workers.
fn four_run_sweep() -> SweepSpec {
    let mut spec = tiny_sweep();
    spec.axes[0] = crate::study::sweep::Axis::values(
        "instructions",
        "task.instructions",
        [4usize, 16, 64, 256],
    );
    spec
}

/// The page's worker on the CPU: it trains the first run of the stack it was given alone (it says
/// so with `Stacked`, the others wait for the helpers), then says its backend.
fn worker_on_cpu(state: PageState) -> (PageState, Option<Command>) {
    let (state, _) = step(state, Action::Worker(Event::Stacked { runs: 1 }));
    step(state, Action::Worker(cpu()))
}

fn cpu() -> Event {
    Event::Backend(BackendInfo {
        kind: BackendKind::Cpu,
        description: "CPU".into(),
    })
}

/// The rule counts of the runs the reducer just asked helpers to start (`continued`: to go on with
/// from their checkpoints), by helper.
fn helper_runs(state: &PageState, continued: bool) -> Vec<(usize, usize)> {
    state
        .helper_commands
        .iter()
        .filter_map(|(slot, c)| {
            let (config, backend) = match c {
                Command::Start { config, backend } if !continued => (config, backend),
                Command::Continue { config, backend } if continued => (config, backend),
                _ => return None,
            };
            assert_eq!(*backend, BackendPreference::Cpu, "helpers train on the CPU");
            Some((*slot, config.task.instructions))
        })
        .collect()
}

/// The rule counts of the runs the reducer just asked helpers to start, by helper.
fn helper_starts(state: &PageState) -> Vec<(usize, usize)> {
    helper_runs(state, false)
}

/// Reduces `action` after emptying the helpers' outbox, as the page does.
fn step(mut state: PageState, action: Action) -> (PageState, Option<Command>) {
    state.helper_commands.clear();
    state.reduce(action)
}

/// Plays helper `slot`'s side of its run to the end: progress, an evaluation, record, finished.
fn finish_helper_run(state: PageState, slot: usize, unseen: f64) -> (PageState, Option<Command>) {
    let sweep = state.sweep.sweep.as_ref().unwrap();
    let plan = sweep.elsewhere[slot]
        .as_ref()
        .expect("the helper trains a run")
        .plan;
    let config = sweep.plan[plan].config.raw().clone();
    let (state, _) = step(state, Action::Helper(slot, cpu()));
    let (state, _) = step(
        state,
        Action::Helper(
            slot,
            Event::Progress {
                step: 10,
                total_steps: 20,
                loss: 0.7,
                steps_per_second: 10.0,
            },
        ),
    );
    assert_eq!(
        state.sweep.sweep.as_ref().unwrap().elsewhere[slot]
            .as_ref()
            .unwrap()
            .step,
        10
    );
    let mut record = record_with(config.seed, 0.5);
    record.labels = Vec::new();
    record.instructions = config.task.instructions;
    record.result.unseen_accuracy = unseen;
    record.config = config;
    let (state, _) = step(
        state,
        Action::Helper(
            slot,
            Event::Record {
                record: Box::new(record),
            },
        ),
    );
    step(state, Action::Helper(slot, Event::Finished { step: 20 }))
}

#[test]
fn a_sweep_trains_in_several_workers_and_files_each_run_where_it_belongs() {
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(3)));
    let (state, command) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    assert!(first_run(&command).is_some_and(|config| config.task.instructions == 4));
    // The helpers wait until the page's worker says it trains on the CPU.
    assert!(state.helper_commands.is_empty());
    let (state, _) = worker_on_cpu(state);
    assert_eq!(helper_starts(&state), [(0, 16), (1, 64)]);
    assert_eq!(state.sweep.sweep.as_ref().unwrap().waiting(), 1);
    // Helper 2 finishes first: its run is filed as the 64-rule run, and it takes the last one.
    let (state, command) = finish_helper_run(state, 1, 0.6);
    assert_eq!(command, None);
    assert_eq!(helper_starts(&state), [(1, 256)]);
    assert_eq!(state.library.runs.len(), 1);
    assert_eq!(state.library.runs[0].record.labels, ["64"]);
    assert_eq!(state.library.runs[0].name, "instructions 64");
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert!(sweep.is_done(2) && !sweep.is_done(0) && sweep.waiting() == 0);
    // The page's own run ends with nothing left to start: the sweep goes on in the helpers.
    let (state, command) = finish_run(state, 0.0);
    assert_eq!(command, None);
    assert!(state.is_busy() && !state.is_active());
    assert_eq!(
        state.sweep.sweep.as_ref().unwrap().status,
        SweepStatus::Running
    );
    let (state, _) = finish_helper_run(state, 0, 0.2);
    assert!(state.helper_commands.is_empty());
    let (state, _) = finish_helper_run(state, 1, 0.8);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.status, SweepStatus::Done);
    assert!((0..4).all(|i| sweep.is_done(i)));
    assert!(!state.is_busy());
    let labels: Vec<&str> = state
        .library
        .runs
        .iter()
        .map(|r| r.record.labels[0].as_str())
        .collect();
    assert_eq!(
        labels,
        ["64", "4", "16", "256"],
        "in the order they finished"
    );
    // The grid places each run by its labels, whatever the order.
    let curve = sweep.grid(&state.library.runs).curve();
    let unseen: Vec<f64> = curve.series[0].points.iter().map(|p| p.1).collect();
    assert_eq!(unseen, [0.0, 0.2, 0.6, 0.8]);
}

#[test]
fn cancelling_or_pausing_a_sweep_reaches_every_worker() {
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(3)));
    let (state, _) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    let (state, command) = step(state, Action::Run(RunAction::Pause));
    assert_eq!(command, Some(Command::Pause));
    assert_eq!(
        state.helper_commands,
        [(0, Command::Pause), (1, Command::Pause)]
    );
    let state = reduce(state, Action::Worker(Event::Paused { step: 3 }));
    let (state, command) = step(state, Action::Run(RunAction::Resume));
    assert_eq!(command, Some(Command::Resume));
    assert_eq!(
        state.helper_commands,
        [(0, Command::Resume), (1, Command::Resume)]
    );
    let state = reduce(state, Action::Worker(Event::Resumed));
    let (state, command) = step(state, Action::Sweep(SweepAction::Cancel));
    assert_eq!(command, Some(Command::Stop));
    assert_eq!(
        state.helper_commands,
        [(0, Command::Stop), (1, Command::Stop)]
    );
    assert!(!state.is_busy());
    // A helper's late record of the stopped run is not kept.
    let (state, _) = step(
        state,
        Action::Helper(
            0,
            Event::Record {
                record: Box::new(finished_record(1)),
            },
        ),
    );
    assert!(state.library.runs.is_empty());
}

#[test]
fn a_helpers_failure_fails_the_sweep_and_stops_the_other_workers() {
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(3)));
    let (state, _) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    let (state, command) = step(
        state,
        Action::Helper(
            1,
            Event::Error {
                message: "the loss became NaN at step 7".into(),
            },
        ),
    );
    assert_eq!(command, Some(Command::Stop));
    assert_eq!(state.helper_commands, [(0, Command::Stop)]);
    assert_eq!(
        state.sweep.sweep.as_ref().unwrap().status,
        SweepStatus::Failed
    );
    let error = state.sweep.error.clone().unwrap();
    assert!(error.contains("run 3") && error.contains("NaN"), "{error}");
    // The same for a helper that dies.
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(2)));
    let (state, _) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    let (state, command) = step(state, Action::HelperFailed(0, "out of memory".into()));
    assert_eq!(command, Some(Command::Stop));
    assert!(state.sweep.error.clone().unwrap().contains("out of memory"));
}

#[test]
fn one_worker_by_default_and_on_a_gpu_the_helpers_stay_idle() {
    assert_eq!(sweep::default_workers(1), 1);
    assert_eq!(sweep::default_workers(2), 1);
    assert_eq!(sweep::default_workers(8), 7);
    assert_eq!(sweep::default_workers(128), sweep::MAX_WORKERS);
    let (state, _) = step(
        PageState::default(),
        start_sweep(Box::new(four_run_sweep()), None),
    );
    let (state, _) = worker_on_cpu(state);
    assert!(state.helper_commands.is_empty(), "one worker: no helper");
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(4)));
    let (state, _) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = step(
        state,
        Action::Worker(Event::Backend(BackendInfo {
            kind: BackendKind::WebGpu,
            description: "WebGPU".into(),
        })),
    );
    assert!(state.helper_commands.is_empty(), "a GPU is one worker's");
}

/// With several workers, runs finish out of plan order: after a reload the finished ones are found
/// in the plan by their settings, the page worker's run goes on from its checkpoint, and the runs
/// the helpers were training start again.
#[test]
fn a_reload_of_a_sweep_in_several_workers_keeps_the_runs_that_finished_out_of_order() {
    use crate::engine::checkpoint::CheckpointMeta;
    use crate::page::storage::{SavedRun, SavedSweep};
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(3)));
    let (state, _) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    // Helper 2 finishes the 64-rule run (plan 2) while the page trains plan 0 and helper 1 plan 1.
    let (before, _) = finish_helper_run(state, 1, 0.6);
    let progress = before.sweep_progress().unwrap();
    assert_eq!(progress.current, 0);
    let run = &before.library.runs[0];
    let saved = SavedRun::new(
        &run.name,
        run.sweep_key.clone(),
        run.record.as_ref().clone(),
    );
    let plan = four_run_sweep().plan().unwrap();
    let checkpoint = CheckpointMeta::new(plan[0].config.clone(), 10, Vec::new(), Vec::new());
    // A fresh page: one worker and the builder's defaults, until the sweep is restored.
    let state = PageState::default();
    let (state, command) = step(
        state,
        restore_action(Restored {
            runs: vec![saved],
            sweeps: vec![SavedSweep::new(&progress.id, &four_run_sweep(), None)],
            visit: 9,
            interrupted_run: Some(checkpoint),
            interrupted_sweep: Some(progress),
            ..Restored::default()
        }),
    );
    assert!(matches!(command, Some(Command::ResumeSaved { .. })));
    // The builder shows the sweep that goes on, and its workers.
    assert_eq!(state.sweep.workers, 3);
    assert_eq!(state.sweep.form.first_values, "4, 16, 64, 256");
    assert_eq!(state.sweep.form.seeds, "1");
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.finished, [2]);
    assert_eq!((sweep.current, sweep.waiting()), (Some(0), 2));
    // Once the page's worker is on the CPU again, the helpers take plans 1 and 3.
    let (state, _) = worker_on_cpu(state);
    assert_eq!(helper_starts(&state), [(0, 16), (1, 256)]);
}

/// The rule counts of the runs the reducer just asked helpers to go on with, by helper.
fn helper_continues(state: &PageState) -> Vec<(usize, usize)> {
    helper_runs(state, true)
}

/// After a reload, each helper goes on at once with the run its checkpoint holds (found in the plan
/// by its settings), the queue shows where each stopped, and the page's worker takes neither; a
/// checkpoint of a helper the sweep no longer has, or of a finished run, or of a run another helper
/// holds, is left out. When only helpers' runs remain, the page's worker waits and the sweep runs on.
#[test]
fn a_reload_of_a_sweep_in_several_workers_goes_on_with_the_helpers_runs() {
    use crate::engine::checkpoint::CheckpointMeta;
    use crate::page::storage::{SavedRun, SavedSweep, SweepProgress};
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(3)));
    let (state, _) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    // Helper 2 finishes plan 2 and takes plan 3, while the page trains plan 0 and helper 1 plan 1.
    let (before, _) = finish_helper_run(state, 1, 0.6);
    assert_eq!(helper_starts(&before), [(1, 256)]);
    let progress = before.sweep_progress().unwrap();
    let run = &before.library.runs[0];
    let saved = SavedRun::new(
        &run.name,
        run.sweep_key.clone(),
        run.record.as_ref().clone(),
    );
    let plan = four_run_sweep().plan().unwrap();
    let meta = |index: usize, step: usize| {
        CheckpointMeta::new(plan[index].config.clone(), step, Vec::new(), Vec::new())
    };
    let restored = |run: Option<CheckpointMeta>, helpers: Vec<(usize, CheckpointMeta)>| {
        restore_action(Restored {
            runs: vec![saved.clone()],
            sweeps: vec![SavedSweep::new(&progress.id, &four_run_sweep(), None)],
            visit: 9,
            interrupted_run: run,
            // Two more (idle) helpers than ran, so each entry left out below has a free slot.
            interrupted_sweep: Some(SweepProgress {
                workers: Some(5),
                ..progress.clone()
            }),
            interrupted_helpers: helpers,
            ..Restored::default()
        })
    };
    // The reloaded page is back at its default of one worker: the sweep keeps the three it had.
    let fresh = PageState::default;
    let (state, command) = step(
        fresh(),
        restored(
            Some(meta(0, 10)),
            vec![
                (0, meta(1, 12)),
                (1, meta(3, 5)),
                // A finished run; a run helper 1 already holds; no fifth helper.
                (2, meta(2, 7)),
                (3, meta(1, 4)),
                (4, meta(0, 3)),
            ],
        ),
    );
    assert!(matches!(command, Some(Command::ResumeSaved { .. })));
    assert_eq!(helper_continues(&state), [(0, 16), (1, 256)]);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!((sweep.current, sweep.waiting()), (Some(0), 0));
    let steps: Vec<_> = sweep
        .elsewhere
        .iter()
        .map(|e| e.as_ref().map(|e| (e.plan, e.step)))
        .collect();
    assert_eq!(steps, [Some((1, 12)), Some((3, 5)), None, None]);
    assert!(
        state
            .notices
            .iter()
            .any(|n| n.contains("the 2 runs in helper workers go on from their checkpoints")),
        "{:?}",
        state.notices
    );
    // The page's worker on the CPU again gives the helpers nothing more: they are busy.
    let (state, _) = worker_on_cpu(state);
    assert!(helper_starts(&state).is_empty());
    // Helper 1's run ends and is filed as plan 1.
    let (state, _) = finish_helper_run(state, 0, 0.7);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.finished, [2, 1]);

    // Only the helpers' runs were left: the page's worker waits, the sweep runs on.
    let mut progress_then = progress.clone();
    progress_then.current = 1;
    let (state, command) = step(
        fresh(),
        restore_action(Restored {
            runs: vec![saved.clone(), {
                // Plan 0 finished too, in the page's worker.
                let mut r = saved.clone();
                r.record.config = plan[0].config.raw().clone();
                r
            }],
            sweeps: vec![SavedSweep::new(&progress.id, &four_run_sweep(), None)],
            visit: 9,
            interrupted_sweep: Some(progress_then),
            interrupted_helpers: vec![(0, meta(1, 12)), (1, meta(3, 5))],
            ..Restored::default()
        }),
    );
    assert_eq!(command, None);
    assert_eq!(helper_continues(&state), [(0, 16), (1, 256)]);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.current, None);
    assert!(sweep.is_running() && state.is_busy());
}

/// A closed tab's sweep taken over here goes on with its helpers' runs too, each in the same helper.
#[test]
fn a_closed_tabs_sweep_taken_over_goes_on_with_its_helpers_runs() {
    use crate::engine::checkpoint::CheckpointMeta;
    let plan = four_run_sweep().plan().unwrap();
    let orphan = library::Orphan {
        owner: "gone".into(),
        run: None,
        sweep: Some(crate::page::storage::SweepProgress::new(
            "k",
            &four_run_sweep(),
            None,
            0,
            2,
        )),
        helpers: vec![(
            0,
            CheckpointMeta::new(plan[1].config.clone(), 12, Vec::new(), Vec::new()),
        )],
    };
    let (state, _) = PageState::default().reduce(restore_action(Restored {
        owner: "me".into(),
        orphans: vec![orphan],
        visit: 5,
        ..Restored::default()
    }));
    let (adopted, command) = step(state, Action::Restore(RestoreAction::Adopt("gone".into())));
    // The page's worker starts the first run afresh (it had no checkpoint); helper 1 goes on.
    match first_run(&command) {
        Some(config) => assert_eq!(config.task.instructions, 4),
        other => panic!("expected a start, got {other:?}"),
    }
    assert_eq!(helper_continues(&adopted), [(0, 16)]);
    let adopted = alone(adopted);
    let sweep = adopted.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.elsewhere.len(), 1);
    assert_eq!(sweep.waiting(), 2);
}

/// A helper whose checkpoint cannot be written (a full quota) says so beside the other storage
/// failures; its run trains on.
#[test]
fn a_helpers_failed_checkpoint_is_reported_and_its_run_goes_on() {
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(2)));
    let (state, _) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    assert_eq!(helper_starts(&state), [(0, 16)]);
    let (state, command) = step(
        state,
        Action::Helper(
            0,
            Event::CheckpointFailed {
                message: "the browser's storage for this page is full".into(),
            },
        ),
    );
    assert_eq!(command, None);
    let error = state.library.storage_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("helper worker 1") && error.contains("is full"),
        "{error}"
    );
    assert!(state.sweep.sweep.as_ref().unwrap().elsewhere[0].is_some());
}

#[test]
fn a_question_about_a_run_a_helper_trained_goes_to_that_helper_and_a_paused_sweep_stays_paused() {
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(3)));
    let (state, _) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    // Paused while helper 2's run ends: the run it takes next starts paused.
    let (state, _) = step(state, Action::Run(RunAction::Pause));
    let state = reduce(state, Action::Worker(Event::Paused { step: 3 }));
    let (state, _) = finish_helper_run(state, 1, 0.6);
    assert_eq!(
        state.helper_commands.last(),
        Some(&(1, Command::Pause)),
        "{:?}",
        state.helper_commands
    );
    assert_eq!(state.library.runs[0].helper, Some(1));
    assert!(state.sweep_seconds_left().is_some());
    let (state, _) = step(state, Action::OpenRun(Some(0)));
    let (state, command) = step(
        state,
        Action::Ask {
            x: "a".into(),
            y: "b".into(),
            z: "cabd".into(),
        },
    );
    assert_eq!(command, None, "not the page's worker");
    assert!(matches!(
        state.helper_commands.as_slice(),
        [(1, Command::Ask { .. })]
    ));
    assert!(state.inspector.asking);
    let (state, _) = step(
        state,
        Action::Helper(
            1,
            Event::Answer {
                answer: Err("no such model".into()),
            },
        ),
    );
    assert!(!state.inspector.asking);
    assert_eq!(state.inspector.answer, Some(Err("no such model".into())));
}

#[test]
fn settings_are_read_only_while_anything_trains_and_say_so() {
    // The page's own run: a change that still arrives is refused with the setting named, and the
    // form keeps the values the run uses.
    let before = running();
    let width = before.settings.config.model.width;
    for action in [
        set_action("model.width", 40),
        Action::Settings(SettingsAction::SetText("model.width".into(), "40".into())),
        load_preset("phase-transition"),
    ] {
        let after = reduce(before.clone(), action);
        assert_eq!(after.settings.config, before.settings.config);
        let error = after.settings.error.as_ref().expect("an error").to_string();
        assert!(error.contains("stop it first"), "{error}");
    }
    assert_eq!(
        reduce(before.clone(), set_action("model.width", 40))
            .settings
            .error
            .clone()
            .unwrap()
            .to_string(),
        ConfigError::new(
            "model.width",
            "cannot change while a run trains: stop it first"
        )
        .to_string()
    );
    // Forcing the CPU is for the next run, and stays allowed.
    assert!(reduce(before, force_cpu(true)).settings.force_cpu);
    // Idle again, the same change applies.
    let idle = reduce(PageState::default(), set_action("model.width", 40));
    assert_eq!(idle.settings.config.model.width, 40);
    assert_ne!(width, 40);
}

/// The page's own worker is idle while a helper trains the sweep's last run: a run's start is
/// refused (its button is closed), and the sweep, its helper's run included, goes on.
#[test]
fn one_run_does_not_start_while_a_helper_trains_the_sweeps_last_run() {
    let mut spec = tiny_sweep();
    spec.axes[0] =
        crate::study::sweep::Axis::values("instructions", "task.instructions", [4usize, 16]);
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(2)));
    let (state, _) = step(state, start_sweep(Box::new(spec), None));
    let (state, _) = worker_on_cpu(state);
    assert_eq!(helper_runs(&state, false), [(0, 16)]);
    let (state, _) = finish_run(state, 0.2);
    assert!(
        !state.is_active() && state.is_busy(),
        "only the helper trains"
    );
    let (state, command) = step(state, Action::Run(RunAction::Start));
    assert_eq!(command, None);
    assert!(
        state.helper_commands.is_empty(),
        "the helper was told nothing"
    );
    assert!(state.sweep.running().is_some_and(|s| s.helpers_busy()));
    assert!(
        state.notices.iter().any(|n| n.contains("cancel it")),
        "{:?}",
        state.notices
    );
    // Once the helper's run is in, a run starts.
    let (state, _) = finish_helper_run(state, 0, 0.4);
    assert!(!state.is_busy());
    let (_, command) = step(state, Action::Run(RunAction::Start));
    assert!(matches!(command, Some(Command::Start { .. })));
}

/// The builder's form of a sweep makes that sweep again: one axis or two, plain values, examples
/// per rule, a power-law shape, one count of occurrences, several seeds.
#[test]
fn the_form_of_a_sweep_makes_the_same_sweep() {
    let base = PageState::default().settings.config.raw().clone();
    let forms = [
        ("instructions", "4, 16, 64", None, "2"),
        ("instructions", "4 16", Some(("per-rule", "5, 20")), "1"),
        ("skew", "1, 0.5, 0.2", None, "3"),
        ("occurrences", "1, 2, 3", None, "1"),
    ];
    for (first, values, second, seeds) in forms {
        let Some(first) = SweepSetting::from_id(first) else {
            // The test names only settings the builder offers.
            panic!(
                "`{first}` is not sweepable: known {:?}",
                SweepSetting::all().map(|s| s.id()).collect::<Vec<_>>()
            );
        };
        let form = sweep::SweepForm {
            first,
            first_values: values.into(),
            second: second.map(|(id, _)| SweepSetting::from_id(id).expect("sweepable")),
            second_values: second.map_or("5, 20, 80", |(_, v)| v).into(),
            seeds: seeds.into(),
        };
        let spec = form.spec(&base).expect("a valid sweep");
        let again = sweep::SweepForm::of(&spec).expect("the builder shows it");
        assert_eq!(again.spec(&base).unwrap(), spec, "{form:?}");
        assert_eq!(
            (again.first, again.second, again.seeds.as_str()),
            (form.first, form.second, seeds)
        );
    }
    // Three axes are more than the builder shows.
    let mut spec = four_run_sweep();
    spec.axes.push(spec.axes[0].clone());
    spec.axes.push(spec.axes[0].clone());
    assert_eq!(sweep::SweepForm::of(&spec), None);
}

fn webgpu() -> Event {
    Event::Backend(BackendInfo {
        kind: BackendKind::WebGpu,
        description: "WebGPU: test".into(),
    })
}

/// The runs a `StartStack` trains together (anything else fails the test).
fn stack_of(command: Option<Command>) -> Vec<ValidConfig> {
    match command {
        Some(Command::StartStack { configs, .. }) => configs,
        other => panic!("expected a stack, got {other:?}"),
    }
}

fn member(member: usize, said: Event) -> Action {
    Action::Worker(Event::Member {
        member,
        said: Box::new(said),
    })
}

/// Plays the page worker's side of a stack's end on WebGPU: each run's record and `Finished`,
/// run 0's last (as the worker sends them).
fn finish_stack(state: PageState, configs: &[ValidConfig]) -> (PageState, Option<Command>) {
    let mut state = state;
    for (k, config) in configs.iter().enumerate().skip(1).rev() {
        let record = Box::new(record_for(config, 0.1 * k as f64));
        state = reduce(state, member(k, Event::Record { record }));
        state = reduce(state, member(k, Event::Finished { step: 20 }));
    }
    let record = Box::new(record_for(&configs[0], 0.0));
    let state = reduce(state, Action::Worker(Event::Record { record }));
    state.reduce(Action::Worker(Event::Finished { step: 20 }))
}

#[test]
fn a_sweep_on_webgpu_trains_its_runs_stacked_in_the_pages_worker() {
    let (state, command) = step(
        PageState::default(),
        start_sweep(Box::new(four_run_sweep()), None),
    );
    let Some(Command::StartStack { configs, backend }) = command else {
        panic!("{command:?}");
    };
    assert_eq!(backend, BackendPreference::Auto);
    let rules: Vec<usize> = configs.iter().map(|c| c.task.instructions).collect();
    assert_eq!(
        rules,
        [4, 16, 64, 256],
        "every run that stacks, in plan order"
    );
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!((sweep.current, sweep.waiting()), (Some(0), 0));
    assert!((1..4).all(|i| sweep.is_stacked(i)) && !sweep.is_stacked(0));
    // A reload would go on with the whole stack.
    assert_eq!(state.sweep_progress().unwrap().stacked, [1, 2, 3]);
    assert_eq!(
        state.run.config.as_deref(),
        Some(configs[0].raw()),
        "the run panel shows run 0"
    );

    let (state, _) = step(state, Action::Worker(Event::Stacked { runs: 4 }));
    let (state, _) = step(state, Action::Worker(webgpu()));
    assert!(state.helper_commands.is_empty(), "no helper on WebGPU");
    // Each run's progress and evaluations go to its place in the queue; run 0's to the panel.
    let (state, _) = step(
        state,
        member(
            2,
            Event::Progress {
                step: 10,
                total_steps: 20,
                loss: 0.5,
                steps_per_second: 3.0,
            },
        ),
    );
    let (state, _) = step(
        state,
        Action::Worker(Event::Progress {
            step: 10,
            total_steps: 20,
            loss: 0.7,
            steps_per_second: 3.0,
        }),
    );
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!((sweep.stacked[1].plan, sweep.stacked[1].step), (2, 10));
    assert_eq!(state.run.step, 10);
    // Four runs train at once with 10 + 20 + 10 + 20 steps left: 15 steps of the stack at 3
    // steps a second.
    let left = state.sweep_seconds_left().unwrap();
    assert!((left - 5.0).abs() < 1e-9, "{left}");
    // A member's record of other settings (a stopped stack's, late) is not filed.
    let (state, _) = step(
        state,
        member(
            1,
            Event::Record {
                record: Box::new(record_for(&configs[3], 0.9)),
            },
        ),
    );
    assert!(state.library.runs.is_empty());

    let (state, command) = finish_stack(state, &configs);
    assert_eq!(command, None, "nothing waits");
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.status, SweepStatus::Done);
    assert_eq!(sweep.finished, [3, 2, 1, 0]);
    let names: Vec<&str> = state.library.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "instructions 256",
            "instructions 64",
            "instructions 16",
            "instructions 4"
        ]
    );
    assert_eq!(state.library.runs[0].record.labels, ["256"]);
    assert!(
        state.library.runs.iter().all(|r| r.helper.is_none()),
        "the page's worker keeps every stacked run's model"
    );
    assert_eq!(sweep.grid(&state.library.runs).filled(), 4);
}

#[test]
fn only_runs_that_can_stack_go_together_and_forcing_the_cpu_stacks_nothing() {
    // Runs of two step counts: two stacks, one after the other.
    let mut spec = four_run_sweep();
    spec.axes.push(crate::study::sweep::Axis::values(
        "steps",
        "train.steps",
        [20usize, 30],
    ));
    let plan = spec.plan().unwrap();
    let (state, command) = step(
        PageState::default(),
        start_sweep(Box::new(spec.clone()), None),
    );
    let configs = stack_of(command);
    let steps = configs[0].train.steps;
    assert_eq!(configs.len(), 4);
    assert!(configs.iter().all(|c| c.train.steps == steps));
    let (state, _) = step(state, Action::Worker(Event::Stacked { runs: 4 }));
    let (state, command) = finish_stack(state, &configs);
    let next = stack_of(command);
    assert_eq!(next.len(), 4);
    assert!(next.iter().all(|c| c.train.steps != steps));
    assert_eq!(state.sweep.sweep.as_ref().unwrap().finished.len(), 4);
    assert_eq!(plan.len(), 8);

    // With the CPU forced, a sweep's runs go one at a time, as single runs.
    let state = reduce(PageState::default(), force_cpu(true));
    let (_, command) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    assert!(
        matches!(command, Some(Command::Start { .. })),
        "{command:?}"
    );
}

#[test]
fn a_stack_the_cpu_trains_alone_leaves_its_other_runs_to_the_helpers() {
    let state = reduce(PageState::default(), Action::Sweep(SweepAction::Workers(3)));
    let (state, command) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    assert!(matches!(command, Some(Command::StartStack { .. })));
    let (state, _) = worker_on_cpu(state);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert!(sweep.stacked.is_empty());
    assert_eq!(helper_starts(&state), [(0, 16), (1, 64)]);
    assert_eq!(sweep.waiting(), 1);
    assert_eq!(state.sweep_progress().unwrap().stacked, Vec::<usize>::new());
}

#[test]
fn cancelling_or_failing_a_stack_ends_all_its_runs() {
    let (state, command) = step(
        PageState::default(),
        start_sweep(Box::new(four_run_sweep()), None),
    );
    let configs = stack_of(command);
    let (state, _) = step(state, Action::Worker(Event::Stacked { runs: 4 }));
    let (state, _) = step(state, Action::Worker(webgpu()));
    let (cancelled, command) = step(state.clone(), Action::Sweep(SweepAction::Cancel));
    assert_eq!(command, Some(Command::Stop));
    let sweep = cancelled.sweep.sweep.as_ref().unwrap();
    assert_eq!(
        (sweep.status, sweep.stacked.len()),
        (SweepStatus::Cancelled, 0)
    );
    // Late records of the stopped stack are not filed.
    let (cancelled, _) = finish_stack(cancelled, &configs);
    assert!(cancelled.library.runs.is_empty());

    // A run of the stack that diverges ends the stack and fails the sweep.
    let (failed, _) = step(
        state,
        Action::Worker(Event::Error {
            message: "run 3 of the 4 trained together: the loss diverged".into(),
        }),
    );
    let sweep = failed.sweep.sweep.as_ref().unwrap();
    assert_eq!(
        (sweep.status, sweep.stacked.len()),
        (SweepStatus::Failed, 0)
    );
    assert_eq!(failed.sweep_progress(), None);
}

#[test]
fn a_stack_a_lost_device_ended_goes_on_whole_from_its_checkpoint() {
    let (state, _) = step(
        PageState::default(),
        start_sweep(Box::new(four_run_sweep()), None),
    );
    let (state, _) = step(state, Action::Worker(Event::Stacked { runs: 3 }));
    let (state, _) = step(state, Action::Worker(webgpu()));
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.stacked.len(), 2, "the worker trains three");
    assert_eq!(sweep.waiting(), 1, "the fourth waits for the next stack");
    let (state, _) = step(
        state,
        Action::Worker(Event::Checkpointed {
            step: 10,
            bytes: 100,
            seconds: 0.1,
        }),
    );
    let (state, _) = step(
        state,
        Action::Worker(Event::DeviceLost {
            message: "gone".into(),
        }),
    );
    assert_eq!(
        state.run.resumable,
        Some(Resumable {
            step: 10,
            sweep_run: Some(0),
            stacked: vec![1, 2],
        })
    );
    let (state, command) = step(state, Action::Restore(RestoreAction::GoOn));
    assert!(matches!(command, Some(Command::ResumeSaved { .. })));
    assert_eq!(
        state.notices.last().map(String::as_str),
        Some("the 3 runs trained together go on from step 10, where they were last kept")
    );
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.current, Some(0));
    let stacked: Vec<(usize, usize)> = sweep.stacked.iter().map(|e| (e.plan, e.step)).collect();
    assert_eq!(stacked, [(1, 10), (2, 10)]);
    assert_eq!(sweep.waiting(), 1);
}

#[test]
fn a_reload_goes_on_with_the_stack_in_the_pages_worker() {
    use crate::engine::checkpoint::CheckpointMeta;
    use crate::page::storage::SweepProgress;
    let (before, _) = step(
        PageState::default(),
        start_sweep(Box::new(four_run_sweep()), None),
    );
    let (before, _) = step(before, Action::Worker(Event::Stacked { runs: 3 }));
    let progress = before.sweep_progress().unwrap();
    assert_eq!(
        (progress.current, progress.stacked.clone()),
        (0, vec![1, 2])
    );
    let progress = SweepProgress::from_json(&progress.to_json()).unwrap();
    let plan = four_run_sweep().plan().unwrap();
    let reload = |run: Option<CheckpointMeta>| {
        step(
            PageState::default(),
            restore_action(Restored {
                owner: "me".into(),
                visit: 9,
                interrupted_run: run,
                interrupted_sweep: Some(progress.clone()),
                ..Restored::default()
            }),
        )
    };
    let checked = |state: &PageState, command: Option<Command>| {
        let Some(Command::ContinueStack { configs, .. }) = command else {
            panic!("{command:?}");
        };
        let rules: Vec<usize> = configs.iter().map(|c| c.task.instructions).collect();
        assert_eq!(rules, [4, 16, 64]);
        let sweep = state.sweep.sweep.as_ref().unwrap();
        assert_eq!(sweep.current, Some(0));
        assert_eq!(
            sweep.stacked.iter().map(|e| e.plan).collect::<Vec<_>>(),
            [1, 2]
        );
        assert_eq!(sweep.waiting(), 1);
    };
    // Its checkpoint (the first run's meta): the stack goes on from step 10.
    let meta = CheckpointMeta::new(plan[0].config.clone(), 10, Vec::new(), Vec::new());
    let (state, command) = reload(Some(meta));
    checked(&state, command);
    assert_eq!(state.run.step, 10);
    assert_eq!(state.sweep.sweep.as_ref().unwrap().stacked[0].step, 10);
    assert!(
        state.notices[0].contains("runs 1, 2, 3 of 4, trained together: they go on from step 10"),
        "{:?}",
        state.notices
    );
    // No checkpoint: the same runs start again, together.
    let (state, command) = reload(None);
    checked(&state, command);
    assert_eq!(state.run.step, 0);
    assert!(
        state.notices[0].contains("they start again"),
        "{:?}",
        state.notices
    );
}

#[test]
fn a_workers_value_out_of_range_or_not_a_number_is_refused_with_the_field_named() {
    let state = reduce(
        PageState::default(),
        Action::Sweep(SweepAction::WorkersText("3".into())),
    );
    assert_eq!((state.sweep.workers, state.sweep.error.clone()), (3, None));
    for typed in ["-2", "2.5", "1000", "0", "", "many"] {
        let after = reduce(
            state.clone(),
            Action::Sweep(SweepAction::WorkersText(typed.into())),
        );
        assert_eq!(after.sweep.workers, 3, "{typed}");
        let error = after.sweep.error.clone().unwrap_or_default();
        assert!(
            error.starts_with("Workers: ")
                && error.contains("is not a whole number from 1 to 16; kept 3"),
            "{typed}: {error}"
        );
        // A good value afterwards takes the error away.
        let fixed = reduce(after, Action::Sweep(SweepAction::WorkersText(" 2 ".into())));
        assert_eq!((fixed.sweep.workers, fixed.sweep.error.clone()), (2, None));
    }
}

#[test]
fn the_stack_size_bounds_the_stacks_and_bad_values_are_refused() {
    let stack = |text: &str| Action::Sweep(SweepAction::StackText(text.into()));
    assert_eq!(PageState::default().sweep.stack, MAX_PAGE_STACK);
    let state = reduce(PageState::default(), stack("2"));
    assert_eq!((state.sweep.stack, state.sweep.error.clone()), (2, None));
    for typed in ["0", "9", "x", ""] {
        let after = reduce(state.clone(), stack(typed));
        assert_eq!(after.sweep.stack, 2, "{typed}");
        let error = after.sweep.error.clone().unwrap_or_default();
        assert!(
            error.starts_with("Stacked on WebGPU: ")
                && error.ends_with(&format!("from 1 to {MAX_PAGE_STACK}; kept 2")),
            "{typed}: {error}"
        );
    }
    // Stacks of two: the four runs go two by two.
    let (state, command) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    let configs = stack_of(command);
    assert_eq!(configs.len(), 2);
    let (state, _) = step(state, Action::Worker(Event::Stacked { runs: 2 }));
    let (_, command) = finish_stack(state, &configs);
    let configs = stack_of(command);
    let rules: Vec<usize> = configs.iter().map(|c| c.task.instructions).collect();
    assert_eq!(rules, [64, 256]);
    // 1: one after another, as single runs.
    let state = reduce(PageState::default(), stack("1"));
    let (_, command) = step(state, start_sweep(Box::new(four_run_sweep()), None));
    assert!(
        matches!(command, Some(Command::Start { .. })),
        "{command:?}"
    );
}

#[test]
fn try_your_own_names_the_run_whose_model_answers() {
    assert_eq!(PageState::default().inspected_name(), None);
    let state = running();
    let rules = state.settings.config.task.instructions;
    assert_eq!(
        state.inspected_name(),
        Some(format!("the run in progress ({rules} rules)"))
    );
    let (state, _) = finish_run(state, 0.5);
    assert_eq!(
        state.inspected_name(),
        Some(format!("the last run ({rules} rules)"))
    );
    let state = reduce(state, Action::OpenRun(Some(0)));
    assert_eq!(
        state.inspected_name(),
        Some(state.library.runs[0].name.clone())
    );
}

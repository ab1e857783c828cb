//! A sweep in several workers: the page's own and its helpers, which train on the CPU once the
//! page's worker does; each helper's run filed where it belongs, controls and failures reaching
//! every worker, questions going to the helper that keeps the model, and a reload (or a closed
//! tab's sweep taken over) going on with the helpers' runs.

use super::*;
use crate::engine::checkpoint::CheckpointMeta;
use crate::page::state::library::Orphan;
use crate::page::state::sweep::{MAX_WORKERS, default_workers};
use crate::page::storage::{SavedSweep, SweepProgress};

#[test]
fn a_sweep_trains_in_several_workers_and_files_each_run_where_it_belongs() {
    let state = reduce(PageState::default(), workers(3));
    let (state, sent) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    assert!(first_run(&sent).is_some_and(|config| config.task.instructions == 4));
    // The helpers wait until the page's worker says it trains on the CPU.
    assert!(helpers(&sent).is_empty(), "{sent:?}");
    let (state, sent) = worker_on_cpu(state);
    assert_eq!(helper_starts(&sent), [(0, 16), (1, 64)]);
    assert_eq!(state.sweep.sweep.as_ref().unwrap().waiting(), 1);
    // Helper 2 finishes first: its run is filed as the 64-rule run, and it takes the last one.
    let (state, sent) = finish_helper_run(state, 1, 0.6);
    assert!(own(&sent).is_empty(), "{sent:?}");
    assert_eq!(helper_starts(&sent), [(1, 256)]);
    assert_eq!(state.library.runs.len(), 1);
    assert_eq!(state.library.runs[0].record.labels, ["64"]);
    assert_eq!(state.library.runs[0].name, "instructions 64");
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert!(sweep.is_done(2) && !sweep.is_done(0) && sweep.waiting() == 0);
    // The page's own run ends with nothing left to start: the sweep goes on in the helpers.
    let (state, sent) = finish_run(state, 0.0);
    assert!(own(&sent).is_empty(), "{sent:?}");
    assert!(state.is_busy() && !state.is_active());
    assert_eq!(
        state.sweep.sweep.as_ref().unwrap().status,
        SweepStatus::Running
    );
    let (state, sent) = finish_helper_run(state, 0, 0.2);
    assert!(sent.is_empty(), "{sent:?}");
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
    let state = reduce(PageState::default(), workers(3));
    let (state, _) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    let (state, sent) = state.reduce(Action::Run(RunAction::Pause));
    assert_eq!(own(&sent), [Command::Pause]);
    assert_eq!(helpers(&sent), [(0, Command::Pause), (1, Command::Pause)]);
    let state = reduce(state, Action::Worker(Event::Paused { step: 3 }));
    let (state, sent) = state.reduce(Action::Run(RunAction::Resume));
    assert_eq!(own(&sent), [Command::Resume]);
    assert_eq!(helpers(&sent), [(0, Command::Resume), (1, Command::Resume)]);
    let state = reduce(state, Action::Worker(Event::Resumed));
    let (state, sent) = state.reduce(Action::Sweep(SweepAction::Cancel));
    assert_eq!(own(&sent), [Command::Stop]);
    assert_eq!(helpers(&sent), [(0, Command::Stop), (1, Command::Stop)]);
    assert!(!state.is_busy());
    // A helper's late record of the stopped run is not kept.
    let (state, _) = state.reduce(Action::Helper(0, record(0, finished_record(1))));
    assert!(state.library.runs.is_empty());
}

#[test]
fn a_helpers_failure_fails_the_sweep_and_stops_the_other_workers() {
    // Its run's loss diverging, or its worker's error.
    for failure in [
        failed(0, "the loss became NaN at step 7"),
        Event::Error {
            message: "the loss became NaN at step 7".into(),
        },
    ] {
        let state = reduce(PageState::default(), workers(3));
        let (state, _) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
        let (state, _) = worker_on_cpu(state);
        let (state, sent) = state.reduce(Action::Helper(1, failure.clone()));
        assert_eq!(own(&sent), [Command::Stop], "{failure:?}");
        assert_eq!(helpers(&sent), [(0, Command::Stop)], "{failure:?}");
        assert_eq!(
            state.sweep.sweep.as_ref().unwrap().status,
            SweepStatus::Failed
        );
        let error = state.sweep.error.clone().unwrap();
        assert!(error.contains("run 3") && error.contains("NaN"), "{error}");
    }
    // The same for a helper that dies.
    let state = reduce(PageState::default(), workers(2));
    let (state, _) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    let (state, sent) = state.reduce(Action::HelperFailed(0, "out of memory".into()));
    assert_eq!(own(&sent), [Command::Stop]);
    assert!(state.sweep.error.clone().unwrap().contains("out of memory"));
}

#[test]
fn a_worker_per_core_by_default_and_on_a_gpu_the_helpers_stay_idle() {
    assert_eq!(default_workers(0), 1);
    assert_eq!(default_workers(1), 1);
    assert_eq!(default_workers(2), 2);
    assert_eq!(default_workers(8), 8);
    assert_eq!(default_workers(128), MAX_WORKERS);
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (_, sent) = worker_on_cpu(state);
    assert!(helpers(&sent).is_empty(), "one worker: no helper");
    let state = reduce(PageState::default(), workers(4));
    let (state, _) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    // Even with runs waiting (the GPU holds one run of the stack).
    let (state, sent) = state.reduce(Action::Worker(training(1, BackendKind::WebGpu)));
    assert_eq!(state.sweep.sweep.as_ref().unwrap().waiting(), 3);
    assert!(helpers(&sent).is_empty(), "a GPU is one worker's");
}

/// A helper whose checkpoint cannot be written (a full quota) says so beside the other storage
/// failures; its run trains on.
#[test]
fn a_helpers_failed_checkpoint_is_reported_and_its_run_goes_on() {
    let state = reduce(PageState::default(), workers(2));
    let (state, _) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (state, sent) = worker_on_cpu(state);
    assert_eq!(helper_starts(&sent), [(0, 16)]);
    let (state, sent) = state.reduce(Action::Helper(
        0,
        Event::CheckpointFailed {
            message: "the browser's storage for this page is full".into(),
        },
    ));
    assert!(sent.is_empty(), "{sent:?}");
    let error = state.library.storage_error.as_deref().unwrap_or_default();
    assert!(
        error.contains("helper worker 1") && error.contains("is full"),
        "{error}"
    );
    assert!(state.sweep.sweep.as_ref().unwrap().elsewhere[0].is_some());
}

#[test]
fn a_question_about_a_run_a_helper_trained_goes_to_that_helper_and_a_paused_sweep_stays_paused() {
    let state = reduce(PageState::default(), workers(3));
    let (state, _) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    // Paused while helper 2's run ends: the run it takes next starts paused.
    let (state, _) = state.reduce(Action::Run(RunAction::Pause));
    let state = reduce(state, Action::Worker(Event::Paused { step: 3 }));
    let (state, sent) = finish_helper_run(state, 1, 0.6);
    assert_eq!(helper_starts(&sent), [(1, 256)]);
    assert_eq!(
        helpers(&sent).last(),
        Some(&(1, Command::Pause)),
        "{sent:?}"
    );
    assert_eq!(state.library.runs[0].helper, Some(1));
    assert!(state.sweep_seconds_left().is_some());
    let (state, _) = state.reduce(Action::OpenRun(Some(0)));
    let (state, sent) = state.reduce(ask("a", "b", "cabd"));
    assert!(own(&sent).is_empty(), "not the page's worker: {sent:?}");
    assert!(
        matches!(helpers(&sent).as_slice(), [(1, Command::Ask { .. })]),
        "{sent:?}"
    );
    assert!(state.inspector.asking);
    let (state, _) = state.reduce(Action::Helper(
        1,
        Event::Answer {
            answer: Err("no such model".into()),
        },
    ));
    assert!(!state.inspector.asking);
    assert_eq!(state.inspector.answer, Some(Err("no such model".into())));
}

/// The page's own worker is idle while a helper trains the sweep's last run: a run's start is
/// refused (its button is closed), and the sweep, its helper's run included, goes on.
#[test]
fn one_run_does_not_start_while_a_helper_trains_the_sweeps_last_run() {
    let mut spec = tiny_sweep();
    spec.axes[0] =
        crate::study::sweep::Axis::values("instructions", "task.instructions", [4usize, 16]);
    let state = reduce(PageState::default(), workers(2));
    let (state, _) = state.reduce(start_sweep(Box::new(spec), None));
    let (state, sent) = worker_on_cpu(state);
    assert_eq!(helper_starts(&sent), [(0, 16)]);
    let (state, _) = finish_run(state, 0.2);
    assert!(
        !state.is_active() && state.is_busy(),
        "only the helper trains"
    );
    let (state, sent) = state.reduce(Action::Run(RunAction::Start));
    assert!(
        sent.is_empty(),
        "neither worker, the helper included, was told anything: {sent:?}"
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
    let (_, sent) = state.reduce(Action::Run(RunAction::Start));
    assert_eq!(fresh_runs(&sent).len(), 1);
}

/// With several workers, runs finish out of plan order: after a reload the finished ones are found
/// in the plan by their settings, the page worker's run goes on from its checkpoint, and the runs
/// the helpers were training start again.
#[test]
fn a_reload_of_a_sweep_in_several_workers_keeps_the_runs_that_finished_out_of_order() {
    let state = reduce(PageState::default(), workers(3));
    let (state, _) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    // Helper 2 finishes the 64-rule run (plan 2) while the page trains plan 0 and helper 1 plan 1.
    let (before, _) = finish_helper_run(state, 1, 0.6);
    let progress = before.sweep_progress().unwrap();
    assert_eq!(progress.current, 0);
    let saved = saved_run(&before, 0);
    let plan = four_run_sweep().plan().unwrap();
    let checkpoint = CheckpointMeta::new(plan[0].config.clone(), 10, Vec::new(), Vec::new());
    // A fresh page: one worker and the builder's defaults, until the sweep is restored.
    let (state, sent) = PageState::default().reduce(restore_action(Restored {
        runs: vec![saved],
        sweeps: vec![SavedSweep::new(&progress.id, &four_run_sweep(), None)],
        visit: 9,
        interrupted_run: Some(checkpoint),
        interrupted_sweep: Some(progress),
        ..Restored::default()
    }));
    assert_eq!(own(&sent), [resume_saved()]);
    // The builder shows the sweep that goes on, and its workers.
    assert_eq!(state.sweep.workers, 3);
    assert_eq!(state.sweep.form.first_values, "4, 16, 64, 256");
    assert_eq!(state.sweep.form.seeds, "1");
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.finished, [2]);
    assert_eq!((sweep.current, sweep.waiting()), (Some(0), 2));
    // Once the page's worker is on the CPU again, the helpers take plans 1 and 3.
    let (_, sent) = worker_on_cpu(state);
    assert_eq!(helper_starts(&sent), [(0, 16), (1, 256)]);
}

/// After a reload, each helper goes on at once with the run its checkpoint holds (found in the plan
/// by its settings), the queue shows where each stopped, and the page's worker takes neither; a
/// checkpoint of a helper the sweep no longer has, or of a finished run, or of a run another helper
/// holds, is left out. When only helpers' runs remain, the page's worker waits and the sweep runs on.
#[test]
fn a_reload_of_a_sweep_in_several_workers_goes_on_with_the_helpers_runs() {
    let state = reduce(PageState::default(), workers(3));
    let (state, _) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = worker_on_cpu(state);
    // Helper 2 finishes plan 2 and takes plan 3, while the page trains plan 0 and helper 1 plan 1.
    let (before, sent) = finish_helper_run(state, 1, 0.6);
    assert_eq!(helper_starts(&sent), [(1, 256)]);
    let progress = before.sweep_progress().unwrap();
    let saved = saved_run(&before, 0);
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
    let (state, sent) = fresh().reduce(restored(
        Some(meta(0, 10)),
        vec![
            (0, meta(1, 12)),
            (1, meta(3, 5)),
            // A finished run; a run helper 1 already holds; no fifth helper.
            (2, meta(2, 7)),
            (3, meta(1, 4)),
            (4, meta(0, 3)),
        ],
    ));
    assert_eq!(own(&sent), [resume_saved()]);
    assert_eq!(helper_continues(&sent), [(0, 16), (1, 256)]);
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
    let (state, sent) = worker_on_cpu(state);
    assert!(helper_starts(&sent).is_empty(), "{sent:?}");
    // Helper 1's run ends and is filed as plan 1.
    let (state, _) = finish_helper_run(state, 0, 0.7);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.finished, [2, 1]);

    // Only the helpers' runs were left: the page's worker waits, the sweep runs on.
    let mut progress_then = progress.clone();
    progress_then.current = 1;
    let (state, sent) = fresh().reduce(restore_action(Restored {
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
    }));
    assert!(own(&sent).is_empty(), "{sent:?}");
    assert_eq!(helper_continues(&sent), [(0, 16), (1, 256)]);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.current, None);
    assert!(sweep.is_running() && state.is_busy());
}

/// A closed tab's sweep taken over here goes on with its helpers' runs too, each in the same helper.
#[test]
fn a_closed_tabs_sweep_taken_over_goes_on_with_its_helpers_runs() {
    let plan = four_run_sweep().plan().unwrap();
    let orphan = Orphan {
        owner: "gone".into(),
        run: None,
        sweep: Some(SweepProgress::new("k", &four_run_sweep(), None, 0, 2)),
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
    let (adopted, sent) = state.reduce(Action::Restore(RestoreAction::Adopt("gone".into())));
    // The page's worker starts the first run afresh (it had no checkpoint); helper 1 goes on.
    match first_run(&sent) {
        Some(config) => assert_eq!(config.task.instructions, 4),
        None => panic!("expected a start, got {sent:?}"),
    }
    assert_eq!(helper_continues(&sent), [(0, 16)]);
    let (adopted, _) = worker_on_cpu(adopted);
    let sweep = adopted.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.elsewhere.len(), 1);
    assert_eq!(sweep.waiting(), 2);
}

#[test]
fn a_workers_events_and_failures_are_filed_under_it() {
    assert_eq!(
        Worker::Own.said(Event::Resumed),
        Action::Worker(Event::Resumed)
    );
    assert_eq!(
        Worker::Helper(2).said(Event::Resumed),
        Action::Helper(2, Event::Resumed)
    );
    assert_eq!(
        Worker::Own.failed("gone".into()),
        Action::WorkerFailed("gone".into())
    );
    assert_eq!(
        Worker::Helper(1).failed("gone".into()),
        Action::HelperFailed(1, "gone".into())
    );
}

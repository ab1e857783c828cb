//! Going on after a reload (a run from its checkpoint, a sweep's queue), after a lost GPU device,
//! and with a closed tab's run taken over. The reloads of sweeps in several workers are in
//! `workers`, of stacks in `stack`.

use super::*;
use crate::engine::checkpoint::CheckpointMeta;
use crate::page::state::library::Orphan;
use crate::page::storage::{SavedRun, SavedSweep, SweepProgress};

#[test]
fn a_saved_checkpoint_resumes_with_its_curves_unless_a_run_already_started() {
    let mut config = PageState::default().settings.config.raw().clone();
    config.train.steps = 600;
    let meta = CheckpointMeta::new(
        config.validate().unwrap(),
        200,
        vec![LossPoint {
            step: 200,
            loss: 1.5,
        }],
        Vec::new(),
    );
    let interrupted = |meta: &CheckpointMeta| {
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
    let (state, sent) = PageState::default().reduce(interrupted(&meta));
    assert_eq!(sent, [(Worker::Own, resume_saved())]);
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
    let (busy, sent) = running().reduce(interrupted(&meta));
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(busy.run.step, 0);
    assert!(busy.notices.iter().any(|n| n.contains("was dropped")));
}

#[test]
fn a_reload_during_a_sweep_goes_on_with_its_queue() {
    // Before the reload: the first of three runs finished and the second is training.
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    assert_eq!(state.sweep_progress().unwrap().current, 0);
    let (before, sent) = finish_run(state, 0.1);
    assert!(first_run(&sent).is_some(), "{sent:?}");
    let (before, _) = worker_on_cpu(before);
    let progress = before.sweep_progress().expect("the queue is running");
    assert_eq!(progress.current, 1);
    let progress = SweepProgress::from_json(&progress.to_json()).unwrap();
    let key = progress.id.clone();
    let first = saved_run(&before, 0);
    let plan = tiny_sweep().plan().unwrap();
    let checkpoint = |config: &ValidConfig| {
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
    let instructions = |sent: &Sent| match first_run(sent) {
        Some(config) => config.task.instructions,
        None => panic!("expected a start, got {sent:?}"),
    };

    // Its checkpoint: the second run goes on from step 10, then the queue goes on.
    let (state, sent) = reload(vec![first.clone()], Some(checkpoint(&plan[1].config)), 1);
    assert_eq!(own(&sent), [resume_saved()]);
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
    let (state, sent) = finish_run(state, 0.3);
    assert_eq!(instructions(&sent), 64);
    assert_eq!(
        state.library.runs[1].sweep_key.as_deref(),
        Some(key.as_str())
    );
    assert_eq!(state.sweep_progress().unwrap().current, 2);
    let (state, sent) = finish_run(state, 0.5);
    assert!(sent.is_empty(), "{sent:?}");
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.status, SweepStatus::Done);
    assert_eq!(sweep.grid(&state.library.runs).filled(), 3);
    assert_eq!(
        state.sweep_progress(),
        None,
        "a finished sweep is not kept as running"
    );

    // No checkpoint yet (the reload came before the first one): the run starts again.
    let (_, sent) = reload(vec![first.clone()], None, 1);
    assert_eq!(instructions(&sent), 16);
    // A checkpoint of another run is not this sweep's: its run starts again.
    let (_, sent) = reload(vec![first.clone()], Some(checkpoint(&plan[2].config)), 1);
    assert_eq!(instructions(&sent), 16);
    // The second run finished and was saved before the queue's next run was noted: not again.
    let (after_two, _) = finish_run(before.clone(), 0.3);
    let second = saved_run(&after_two, 1);
    let (state, sent) = reload(vec![first.clone(), second.clone()], None, 1);
    assert_eq!(instructions(&sent), 64);
    assert_eq!(state.sweep.sweep.as_ref().unwrap().done, [0, 1]);
    // Every run saved: the sweep is complete and nothing starts.
    let (after_three, _) = finish_run(after_two, 0.5);
    let third = saved_run(&after_three, 2);
    let (state, sent) = reload(vec![first, second, third], None, 2);
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(
        state.sweep.sweep.as_ref().unwrap().status,
        SweepStatus::Done
    );
}

#[test]
fn a_lost_device_leaves_the_run_to_go_on_from_its_checkpoint_and_its_sweep_with_it() {
    let at = |state: PageState, step: usize| {
        reduce(state, Action::Worker(progress_of(0, step, 20, 1.0)))
    };
    let lost = || {
        Action::Worker(Event::DeviceLost {
            message: "the GPU device was lost (destroyed)".into(),
        })
    };
    // Nothing kept yet: nothing to go on with.
    let state = reduce(at(running(), 3), lost());
    assert_eq!(
        (state.run.status, state.run.resumable.clone()),
        (RunStatus::Failed, None)
    );
    let (_, sent) = state.clone().reduce(Action::Restore(RestoreAction::GoOn));
    assert!(sent.is_empty(), "{sent:?}");
    // An end other than a lost device (the worker's error, the loss diverging) does not offer it
    // either.
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
    for end in [
        Event::Error {
            message: "crashed".into(),
        },
        failed(0, "the loss became NaN at step 8"),
    ] {
        let state = reduce(at(kept(at(running(), 5)), 8), Action::Worker(end.clone()));
        assert_eq!(state.run.status, RunStatus::Failed, "{end:?}");
        assert_eq!(state.run.resumable, None, "{end:?}");
    }

    // In a sweep: the second run is kept at step 5 and its device is lost at step 8.
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let (state, _) = finish_run(state, 0.1);
    let state = at(kept(at(worker_on_cpu(state).0, 5)), 8);
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
    let (state, sent) = state.reduce(Action::Restore(RestoreAction::GoOn));
    assert_eq!(own(&sent), [resume_saved()]);
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
    let (_, sent) = finish_run(state, 0.3);
    match first_run(&sent) {
        Some(config) => assert_eq!(config.task.instructions, 64),
        None => panic!("{sent:?}"),
    }
}

/// Another tab's run is never taken while that tab lives (the page lists only gone tabs' runs); a
/// gone tab's run is offered, and resumed here only when asked and when nothing else runs.
#[test]
fn a_gone_tabs_run_is_offered_and_resumed_only_when_asked() {
    let mut config = PageState::default().settings.config.raw().clone();
    config.train.steps = 600;
    let meta = CheckpointMeta::new(
        config.validate().unwrap(),
        300,
        vec![LossPoint {
            step: 300,
            loss: 1.0,
        }],
        Vec::new(),
    );
    let orphan = Orphan {
        owner: "gone".into(),
        run: Some(meta),
        sweep: None,
        helpers: Vec::new(),
    };
    let (state, sent) = PageState::default().reduce(restore_action(Restored {
        owner: "me".into(),
        orphans: vec![orphan],
        visit: 5,
        ..Restored::default()
    }));
    assert!(sent.is_empty(), "nothing is resumed without being asked");
    assert_eq!(state.library.owner, "me");
    assert_eq!(state.library.orphans.len(), 1);
    assert_eq!(state.run.status, RunStatus::Idle);
    // While a run trains here, the offer waits.
    let (busy, sent) = running().reduce(Action::Restore(RestoreAction::Adopt("gone".into())));
    assert!(sent.is_empty(), "{sent:?}");
    assert!(busy.notices.iter().any(|n| n.contains("stop the run")));
    let (adopted, sent) = state.reduce(Action::Restore(RestoreAction::Adopt("gone".into())));
    assert_eq!(own(&sent), [resume_saved()]);
    assert!(adopted.library.orphans.is_empty());
    assert_eq!((adopted.run.step, adopted.run.total_steps), (300, 600));
    assert!(
        adopted
            .notices
            .iter()
            .any(|n| n.contains("a closed tab interrupted"))
    );
    // An owner with nothing left to adopt changes nothing.
    let (again, sent) = adopted
        .clone()
        .reduce(Action::Restore(RestoreAction::Adopt("gone".into())));
    assert!(sent.is_empty(), "{sent:?}");
    assert_eq!(again.run, adopted.run);
}

#[test]
fn a_reload_during_a_lesson_reopens_it_with_the_prediction() {
    let state = reduce(
        PageState::default(),
        open_lesson(Some("phase-transition".into())),
    );
    let state = reduce(state, predict(2));
    let (state, sent) = state.reduce(Action::Lesson(LessonAction::Run));
    assert!(first_run(&sent).is_some(), "{sent:?}");
    let progress = state.sweep_progress().expect("the lesson's queue runs");
    assert_eq!(progress.lesson.as_deref(), Some("phase-transition"));
    assert_eq!(progress.prediction, Some(2));
    let progress = SweepProgress::from_json(&progress.to_json()).unwrap();
    let spec = progress.spec.clone();
    let reload = |progress: SweepProgress| {
        PageState::default()
            .reduce(restore_action(Restored {
                sweeps: vec![SavedSweep::new(
                    &progress.id,
                    &spec,
                    progress.lesson.clone(),
                )],
                visit: 9,
                interrupted_sweep: Some(progress),
                ..Restored::default()
            }))
            .0
    };
    let reloaded = reload(progress.clone());
    assert_eq!(
        reloaded.lesson,
        Some(LessonState {
            id: "phase-transition".into(),
            prediction: Some(2),
        })
    );
    assert!(reloaded.sweep.running().is_some());
    // An entry kept before predictions were (or a sweep no lesson started) opens no prediction.
    let older = progress.to_json().replace(r#","prediction":2"#, "");
    assert!(!older.contains("prediction"), "{older}");
    let reloaded = reload(SweepProgress::from_json(&older).unwrap());
    assert_eq!(reloaded.lesson.unwrap().prediction, None);
    let unlessoned = SweepProgress {
        lesson: None,
        prediction: None,
        ..progress
    };
    assert_eq!(reload(unlessoned).lesson, None);
}

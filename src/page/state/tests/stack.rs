//! A sweep's runs stacked in the page's worker: trained together on WebGPU, the first alone on the
//! CPU (the others left to the helpers); cancelled, failed, ended by a lost device or a reload.

use super::*;

fn stack(text: &str) -> Action {
    Action::Sweep(SweepAction::StackText(text.into()))
}

#[test]
fn a_sweep_on_webgpu_trains_its_runs_stacked_in_the_pages_worker() {
    let (state, sent) = PageState::default().reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (configs, backend) = match sent.as_slice() {
        [
            (
                Worker::Own,
                Command::Train {
                    work: Work::Fresh { runs },
                    backend,
                },
            ),
        ] => (runs.clone(), *backend),
        other => panic!("{other:?}"),
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

    let (state, sent) = state.reduce(Action::Worker(training(4, BackendKind::WebGpu)));
    assert!(sent.is_empty(), "no helper on WebGPU: {sent:?}");
    // Each run's progress and evaluations go to its place in the queue; run 0's to the panel.
    let (state, _) = state.reduce(Action::Worker(progress_of(2, 10, 20, 3.0)));
    let (state, _) = state.reduce(Action::Worker(progress_of(0, 10, 20, 3.0)));
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!((sweep.stacked[1].plan, sweep.stacked[1].step), (2, 10));
    assert_eq!(state.run.step, 10);
    // Four runs train at once with 10 + 20 + 10 + 20 steps left: 15 steps of the stack at 3
    // steps a second.
    let left = state.sweep_seconds_left().unwrap();
    assert!((left - 5.0).abs() < 1e-9, "{left}");
    // A member's record of other settings (a stopped stack's, late) is not filed.
    let (state, _) = state.reduce(Action::Worker(record(1, record_for(&configs[3], 0.9))));
    assert!(state.library.runs.is_empty());

    let (state, sent) = finish_stack(state, &configs);
    assert!(sent.is_empty(), "nothing waits: {sent:?}");
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
    let (state, sent) = PageState::default().reduce(start_sweep(Box::new(spec.clone()), None));
    let configs = fresh_runs(&sent);
    let steps = configs[0].train.steps;
    assert_eq!(configs.len(), 4);
    assert!(configs.iter().all(|c| c.train.steps == steps));
    let (state, _) = state.reduce(Action::Worker(training(4, BackendKind::WebGpu)));
    let (state, sent) = finish_stack(state, &configs);
    let next = fresh_runs(&sent);
    assert_eq!(next.len(), 4);
    assert!(next.iter().all(|c| c.train.steps != steps));
    assert_eq!(state.sweep.sweep.as_ref().unwrap().finished.len(), 4);
    assert_eq!(plan.len(), 8);

    // With the CPU forced, a sweep's runs go one at a time, as single runs.
    let state = reduce(PageState::default(), force_cpu(true));
    let (_, sent) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    assert_eq!(fresh_runs(&sent).len(), 1, "{sent:?}");
}

#[test]
fn a_stack_the_cpu_trains_alone_leaves_its_other_runs_to_the_helpers() {
    let state = reduce(PageState::default(), workers(3));
    let (state, sent) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    assert_eq!(fresh_runs(&sent).len(), 4, "a stack");
    let (state, sent) = worker_on_cpu(state);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert!(sweep.stacked.is_empty());
    assert_eq!(helper_starts(&sent), [(0, 16), (1, 64)]);
    assert_eq!(sweep.waiting(), 1);
    assert_eq!(state.sweep_progress().unwrap().stacked, Vec::<usize>::new());
}

#[test]
fn cancelling_or_failing_a_stack_ends_all_its_runs() {
    let (state, sent) = PageState::default().reduce(start_sweep(Box::new(four_run_sweep()), None));
    let configs = fresh_runs(&sent);
    let (state, _) = state.reduce(Action::Worker(training(4, BackendKind::WebGpu)));
    let (cancelled, sent) = state.clone().reduce(Action::Sweep(SweepAction::Cancel));
    assert_eq!(sent, [(Worker::Own, Command::Stop)]);
    let sweep = cancelled.sweep.sweep.as_ref().unwrap();
    assert_eq!(
        (sweep.status, sweep.stacked.len()),
        (SweepStatus::Cancelled, 0)
    );
    // Late records of the stopped stack are not filed.
    let (cancelled, _) = finish_stack(cancelled, &configs);
    assert!(cancelled.library.runs.is_empty());

    // A run of the stack that diverges fails the sweep: the worker, which would go on with the
    // others, is stopped, and the run panel says which run it was.
    let (diverged, sent) = state
        .clone()
        .reduce(Action::Worker(failed(2, "the loss diverged")));
    assert_eq!(sent, [(Worker::Own, Command::Stop)]);
    let sweep = diverged.sweep.sweep.as_ref().unwrap();
    assert_eq!(
        (sweep.status, sweep.stacked.len()),
        (SweepStatus::Failed, 0)
    );
    assert_eq!(diverged.sweep_progress(), None);
    assert_eq!(diverged.run.status, RunStatus::Failed);
    let error = diverged.run.error.clone().unwrap_or_default();
    assert!(
        error.contains("run 3 of the sweep") && error.contains("the loss diverged"),
        "{error}"
    );
    // The other runs' late events change nothing.
    let (diverged, sent) = finish_stack(diverged, &configs);
    assert!(sent.is_empty(), "{sent:?}");
    assert!(diverged.library.runs.is_empty());
    // The same when the run on the panel (run 0) diverges: the others would go on in the worker.
    let (diverged, sent) = state
        .clone()
        .reduce(Action::Worker(failed(0, "the loss diverged")));
    assert_eq!(sent, [(Worker::Own, Command::Stop)]);
    let sweep = diverged.sweep.sweep.as_ref().unwrap();
    assert_eq!(
        (sweep.status, sweep.stacked.len()),
        (SweepStatus::Failed, 0)
    );
    assert_eq!(diverged.run.status, RunStatus::Failed);

    // An error of the worker ends every run of the stack too (the worker has stopped).
    let (errored, sent) = state.reduce(Action::Worker(Event::Error {
        message: "the worker crashed".into(),
    }));
    assert!(sent.is_empty(), "{sent:?}");
    let sweep = errored.sweep.sweep.as_ref().unwrap();
    assert_eq!(
        (sweep.status, sweep.stacked.len()),
        (SweepStatus::Failed, 0)
    );
    assert_eq!(errored.sweep_progress(), None);
}

#[test]
fn the_stack_size_bounds_the_stacks_and_bad_values_are_refused() {
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
    let (state, sent) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    let configs = fresh_runs(&sent);
    assert_eq!(configs.len(), 2);
    let (state, _) = state.reduce(Action::Worker(training(2, BackendKind::WebGpu)));
    let (_, sent) = finish_stack(state, &configs);
    let configs = fresh_runs(&sent);
    let rules: Vec<usize> = configs.iter().map(|c| c.task.instructions).collect();
    assert_eq!(rules, [64, 256]);
    // 1: one after another, as single runs.
    let state = reduce(PageState::default(), stack("1"));
    let (_, sent) = state.reduce(start_sweep(Box::new(four_run_sweep()), None));
    assert_eq!(fresh_runs(&sent).len(), 1, "{sent:?}");
}

#[test]
fn a_stack_a_lost_device_ended_goes_on_whole_from_its_checkpoint() {
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (state, _) = state.reduce(Action::Worker(training(3, BackendKind::WebGpu)));
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.stacked.len(), 2, "the worker trains three");
    assert_eq!(sweep.waiting(), 1, "the fourth waits for the next stack");
    let (state, _) = state.reduce(Action::Worker(Event::Checkpointed {
        step: 10,
        bytes: 100,
        seconds: 0.1,
    }));
    let (state, _) = state.reduce(Action::Worker(Event::DeviceLost {
        message: "gone".into(),
    }));
    assert_eq!(
        state.run.resumable,
        Some(Resumable {
            step: 10,
            sweep_run: Some(0),
            stacked: vec![1, 2],
        })
    );
    let (state, sent) = state.reduce(Action::Restore(RestoreAction::GoOn));
    assert_eq!(own(&sent), [resume_saved()]);
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
    let (before, _) = PageState::default().reduce(start_sweep(Box::new(four_run_sweep()), None));
    let (before, _) = before.reduce(Action::Worker(training(3, BackendKind::WebGpu)));
    let progress = before.sweep_progress().unwrap();
    assert_eq!(
        (progress.current, progress.stacked.clone()),
        (0, vec![1, 2])
    );
    let progress = SweepProgress::from_json(&progress.to_json()).unwrap();
    let plan = four_run_sweep().plan().unwrap();
    let reload = |run: Option<CheckpointMeta>| {
        PageState::default().reduce(restore_action(Restored {
            owner: "me".into(),
            visit: 9,
            interrupted_run: run,
            interrupted_sweep: Some(progress.clone()),
            ..Restored::default()
        }))
    };
    let checked = |state: &PageState, sent: &Sent| {
        let configs = match own(sent).as_slice() {
            [
                Command::Train {
                    work: Work::SavedIfSame { runs },
                    ..
                },
            ] => runs.clone(),
            other => panic!("{other:?}"),
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
    let (state, sent) = reload(Some(meta));
    checked(&state, &sent);
    assert_eq!(state.run.step, 10);
    assert_eq!(state.sweep.sweep.as_ref().unwrap().stacked[0].step, 10);
    assert!(
        state.notices[0].contains("runs 1, 2, 3 of 4, trained together: they go on from step 10"),
        "{:?}",
        state.notices
    );
    // No checkpoint: the same runs start again, together.
    let (state, sent) = reload(None);
    checked(&state, &sent);
    assert_eq!(state.run.step, 0);
    assert!(
        state.notices[0].contains("they start again"),
        "{:?}",
        state.notices
    );
}

//! The run controls: start, pause, resume, step and stop, and how a worker event changes the state.

use super::*;

#[test]
fn start_sends_the_settings_and_the_backend_choice() {
    let state = reduce(PageState::default(), force_cpu(true));
    let (state, sent) = state.reduce(Action::Run(RunAction::Start));
    assert_eq!(state.run.status, RunStatus::Starting);
    assert_eq!(
        sent,
        [(
            Worker::Own,
            fresh_one(&state.settings.config, BackendPreference::Cpu)
        )]
    );
}

#[test]
fn pause_resume_and_step_only_when_they_make_sense() {
    let (state, sent) = running().reduce(Action::Run(RunAction::Resume));
    assert!(sent.is_empty(), "{sent:?}");
    let (state, sent) = state.reduce(Action::Run(RunAction::Pause));
    assert_eq!(sent, [(Worker::Own, Command::Pause)]);
    let state = reduce(state, Action::Worker(Event::Paused { step: 7 }));
    assert_eq!(state.run.status, RunStatus::Paused);
    let (state, sent) = state.reduce(Action::Run(RunAction::Step));
    assert_eq!(
        sent,
        [(
            Worker::Own,
            Command::Step {
                steps: STEP_BUTTON_STEPS
            }
        )]
    );
    let (state, sent) = state.reduce(Action::Run(RunAction::Resume));
    assert_eq!(sent, [(Worker::Own, Command::Resume)]);
    let (state, sent) = state.reduce(Action::Run(RunAction::Stop));
    assert_eq!(sent, [(Worker::Own, Command::Stop)]);
    assert_eq!(state.run.status, RunStatus::Idle);
}

/// The state is copied at every dispatch (the page keeps the previous one): a worker event must
/// copy only the live run, and share the library, however many finished runs it holds.
#[test]
fn a_worker_event_shares_every_part_but_the_live_run() {
    let mut report = SweepReport::single(finished_record(1), "CPU");
    report.runs = (1..=200).map(finished_record).collect();
    let state = reduce(PageState::default(), Action::Import(Box::new(report)));
    let state = reduce(state, Action::Run(RunAction::Start));
    let (before, _) = worker_on_cpu(state);
    let after = reduce(before.clone(), Action::Worker(progress_of(0, 5, 100, 2.0)));
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

/// A worker of another build (an old copy a cache kept across a deploy) ends the start that waited
/// for it, says why, and offers a reload; storage that stops answering leaves the run training.
#[test]
fn a_worker_of_another_build_fails_the_start_and_storage_problems_leave_the_run_alone() {
    let state = reduce(PageState::default(), force_cpu(true));
    let state = reduce(state, Action::Run(RunAction::Start));
    let stale = reduce(
        state.clone(),
        Action::Context(ContextAction::StaleWorker(
            Some("feedfacefeedface".into()),
            Worker::Own,
        )),
    );
    assert_eq!(stale.run.status, RunStatus::Failed);
    let said = stale.run.error.as_deref().unwrap_or_default();
    assert!(said.contains("another build"), "{said}");
    assert!(stale.context.notices()[0].reload);

    let (running, _) = worker_on_cpu(state);
    let blocked = reduce(
        running,
        Action::Context(ContextAction::Storage(Some(StorageProblem::Blocked))),
    );
    assert_eq!(blocked.run.status, RunStatus::Running);
    assert_eq!(blocked.context.notices()[0].id, "storage-problem");

    // Storage that answers again clears what was said while it did not, and says so.
    let failed = reduce(
        blocked,
        storage_failed("not saved: another tab holds an older version"),
    );
    let back = reduce(failed, Action::Context(ContextAction::Storage(None)));
    assert!(back.library.storage_error.is_none());
    assert!(back.context.notices().is_empty());
    assert!(
        back.notices.iter().any(|n| n.contains("answers again")),
        "{:?}",
        back.notices
    );
}

/// A helper of another build fails its share of the sweep, not the page's own run.
#[test]
fn a_helper_of_another_build_leaves_the_pages_own_run_alone() {
    let (running, _) = worker_on_cpu(reduce(
        reduce(PageState::default(), force_cpu(true)),
        Action::Run(RunAction::Start),
    ));
    let after = reduce(
        running,
        Action::Context(ContextAction::StaleWorker(None, Worker::Helper(0))),
    );
    assert_eq!(after.run.status, RunStatus::Running);
    assert!(after.context.stale_worker.is_some());
}

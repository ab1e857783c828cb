//! The library: finished runs opened and compared, results files imported, runs saved in the
//! browser's storage and read back on return, storage failures.

use super::*;
use crate::page::storage::{SavedRun, SavedSweep};

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
    let (started, sent) = second.reduce(Action::Run(RunAction::Start));
    assert!(first_run(&sent).is_some(), "{sent:?}");
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

//! The sweep builder and the sweep queue in the page's worker: its plan run in order, time left,
//! cancelling, failures, the builder's form and fields.

use super::*;
use crate::page::state::sweep::SweepForm;
use crate::study::sweep::SweepSetting;

#[test]
fn a_sweep_runs_its_plan_in_order_and_fills_its_grid() {
    let (mut state, mut sent) =
        PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let mut started = Vec::new();
    for (k, unseen) in [0.0, 0.2, 0.6].into_iter().enumerate() {
        match first_run(&sent) {
            Some(config) => started.push(config.task.instructions),
            None => panic!("run {k}: {sent:?}"),
        }
        state = worker_on_cpu(state).0;
        assert_eq!(state.sweep.sweep.as_ref().unwrap().current, Some(k));
        assert_eq!(state.sweep.sweep.as_ref().unwrap().waiting(), 2 - k);
        (state, sent) = finish_run(state, unseen);
        let sweep = state.sweep.sweep.as_ref().unwrap();
        let grid = sweep.grid(&state.library.runs);
        assert_eq!(grid.filled(), k + 1, "a cell per finished run");
        assert_eq!(grid.curve().series[0].points.len(), k + 1);
    }
    assert_eq!(started, [4, 16, 64]);
    assert!((0..3).all(|i| state.sweep.sweep.as_ref().unwrap().is_done(i)));
    assert!(sent.is_empty(), "{sent:?}");
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
    let (state, _) = worker_on_cpu(state);
    // One run took 4 s for 20 steps; 40 steps are left (two runs, the second not begun).
    assert_eq!(state.sweep_seconds_left(), Some(8.0));
}

#[test]
fn cancelling_a_sweep_stops_the_run_and_keeps_the_finished_ones() {
    let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
    let (state, _) = finish_run(state, 0.1);
    let (state, sent) = state.reduce(Action::Sweep(SweepAction::Cancel));
    assert_eq!(sent, [(Worker::Own, Command::Stop)]);
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.status, SweepStatus::Cancelled);
    assert_eq!(sweep.done.len(), 1);
    assert!(sweep.is_done(0) && !sweep.is_done(1));
    assert_eq!(sweep.waiting(), 0);
    // A late Finished of the stopped run starts nothing.
    let (_, sent) = state.reduce(Action::Worker(finished(0, 20)));
    assert!(sent.is_empty(), "{sent:?}");
}

#[test]
fn a_failed_run_ends_the_sweep_and_an_impossible_sweep_is_refused() {
    // The worker's error, or the run's loss diverging.
    for failure in [
        Event::Error {
            message: "device lost".into(),
        },
        failed(0, "the loss became NaN at step 6"),
    ] {
        let (state, _) = PageState::default().reduce(start_sweep(Box::new(tiny_sweep()), None));
        let state = reduce(state, Action::Worker(failure.clone()));
        assert_eq!(
            state.sweep.sweep.as_ref().unwrap().status,
            SweepStatus::Failed,
            "{failure:?}"
        );
    }
    let mut bad = tiny_sweep();
    bad.axes[0].points[0]
        .set
        .insert("task.alphabet".into(), serde_json::json!(99));
    let (state, sent) = PageState::default().reduce(start_sweep(Box::new(bad), None));
    assert!(sent.is_empty(), "{sent:?}");
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
fn a_link_with_a_sweep_fills_the_builder_and_starts_the_sweep() {
    let link = crate::page::link::parse(
        "v=1&steps=20&warmup=2&eval_every=10&sweep=instructions:4,16&seeds=2&run=1",
        &PageState::default().settings.config,
    );
    let (state, sent) = PageState::default().reduce(Action::OpenLink(Box::new(link)));
    assert!(first_run(&sent).is_some(), "{sent:?}");
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.plan.len(), 4);
    assert_eq!(sweep.spec.seeds, [1, 2]);
    assert_eq!(state.sweep.form.first_values, "4,16");
    // A bad form is refused with the setting named, and nothing starts.
    let state = reduce(
        PageState::default(),
        edit_sweep(SweepField::Values, "4, lots"),
    );
    let (state, sent) = state.reduce(Action::Sweep(SweepAction::StartForm));
    assert!(sent.is_empty(), "{sent:?}");
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
        let form = SweepForm {
            first,
            first_values: values.into(),
            second: second.map(|(id, _)| SweepSetting::from_id(id).expect("sweepable")),
            second_values: second.map_or("5, 20, 80", |(_, v)| v).into(),
            seeds: seeds.into(),
        };
        let spec = form.spec(&base).expect("a valid sweep");
        let again = SweepForm::of(&spec).expect("the builder shows it");
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
    assert_eq!(SweepForm::of(&spec), None);
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

//! The inspector's try-your-own (questions to a run's model, and which run answers) and lessons.

use super::*;

#[test]
fn questions_are_checked_then_sent_with_the_inspected_runs_settings() {
    let (state, sent) = PageState::default().reduce(ask("a", "b", "abcd"));
    assert!(sent.is_empty(), "{sent:?}");
    assert!(
        state.inspector.answer.as_ref().unwrap().is_err(),
        "no run yet"
    );
    let state = running();
    let (state, sent) = state.reduce(ask("a", "b", "xyz"));
    assert!(sent.is_empty(), "{sent:?}");
    assert!(
        state
            .inspector
            .answer
            .clone()
            .unwrap()
            .unwrap_err()
            .starts_with("z:")
    );
    let (state, sent) = state.reduce(ask("a", "b", "abcd"));
    match own(&sent).as_slice() {
        [
            Command::Ask {
                config,
                question,
                step,
            },
        ] => {
            assert_eq!(*step, None, "the model in training is meant");
            assert_eq!(Some(&**config), state.run.config.as_deref());
            assert_eq!(question.z, "abcd");
        }
        other => panic!("{other:?}"),
    }
    assert!(helpers(&sent).is_empty(), "{sent:?}");
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
    // A finished run's model is asked for by its steps (another of the same settings is not it),
    // for a question and for an ablation alike.
    let steps = state.library.runs[0].record.steps;
    let (state, sent) = state.reduce(ask("a", "b", "abcd"));
    assert!(
        matches!(own(&sent).as_slice(), [Command::Ask { step: Some(s), .. }] if *s == steps),
        "{sent:?}"
    );
    let (state, sent) = state.reduce(Action::Ablate(vec![(0, 1)]));
    match own(&sent).as_slice() {
        [Command::Ablate { ablation, step, .. }] => {
            assert_eq!(
                (ablation.heads.as_slice(), *step),
                (&[(0, 1)][..], Some(steps))
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(state.inside.ablating_run, Some(0));
    // No head: refused in the page, nothing sent.
    let (state, sent) = state.reduce(Action::Ablate(Vec::new()));
    assert!(sent.is_empty());
    assert_eq!(state.inside.ablation, Some(Err("pick a head first".into())));
}

#[test]
fn a_lesson_loads_its_settings_and_runs_only_after_a_prediction() {
    let state = reduce(
        PageState::default(),
        open_lesson(Some("phase-transition".into())),
    );
    let lesson = crate::study::lessons::lesson("phase-transition").unwrap();
    assert_eq!(state.settings.config.raw(), &lesson.sweep.base);
    let (state, sent) = state.reduce(Action::Lesson(LessonAction::Run));
    assert!(sent.is_empty(), "no prediction yet: {sent:?}");
    let state = reduce(state, predict(1));
    let (state, sent) = state.reduce(Action::Lesson(LessonAction::Run));
    assert!(first_run(&sent).is_some(), "{sent:?}");
    let sweep = state.sweep.sweep.as_ref().unwrap();
    assert_eq!(sweep.lesson.as_deref(), Some("phase-transition"));
    assert_eq!(sweep.plan.len(), 5);
}

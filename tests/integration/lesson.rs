//! The page's primary lesson shows the phase transition (issue 24's ladder): its sweep, trained here
//! natively as the page's worker would train it (one stack on the CPU backend), ends with at most
//! 0.15 unseen-rule accuracy at its fewest rules, at least 0.75 at its most, in order. The lesson's
//! settings were chosen as the cheapest that still show this (README, "The lesson sized by its
//! compute"); a change to them, to the model or to the kernels that loses the transition fails here.

use burn::prelude::*;
use instruction_diversity::engine::stack::Stack;
use instruction_diversity::study::lessons::{PHASE_TRANSITION_STEPS, lesson};

#[test]
fn the_primary_lesson_shows_the_phase_transition() {
    let sweep = lesson("phase-transition").unwrap().sweep;
    let runs = sweep.plan().unwrap();
    assert_eq!(runs.len(), 5);
    assert!(
        runs.iter()
            .all(|r| r.config.train.steps == PHASE_TRANSITION_STEPS)
    );
    let configs: Vec<_> = runs.iter().map(|r| r.config.clone()).collect();
    let mut stack = Stack::new(&configs, &Device::flex()).unwrap();
    while !stack.is_finished() {
        pollster::block_on(stack.advance(PHASE_TRANSITION_STEPS)).unwrap();
    }
    let mut ladder: Vec<(usize, f64)> = (0..stack.len())
        .map(|k| {
            assert!(stack.diverged(k).is_none(), "run {k} diverged");
            let last = stack.evaluations(k).last().expect("a final evaluation");
            assert_eq!(last.step, PHASE_TRANSITION_STEPS);
            (stack.config(k).task.instructions, last.unseen_accuracy)
        })
        .collect();
    ladder.sort_by_key(|&(rules, _)| rules);
    let shown = format!("{ladder:?}");
    let (first, last) = (ladder[0].1, ladder[ladder.len() - 1].1);
    assert!(first <= 0.15, "{first} at the fewest rules: {shown}");
    assert!(last >= 0.75, "{last} at the most rules: {shown}");
    assert!(
        ladder.windows(2).all(|w| w[0].1 <= w[1].1),
        "out of order: {shown}"
    );
}

/// The lesson "What changed inside?" says what its runs show (seed 1 of the three the README
/// tables): the 1,024-rule model's best substitution head reads the rule's `y` clearly more than
/// the 16-rule model's, and silencing it costs the 1,024-rule model unseen-rule accuracy.
#[test]
fn the_inside_lesson_shows_the_many_rule_model_reading_y() {
    use instruction_diversity::engine::eval::ablation_pair;
    use instruction_diversity::engine::mechanism::{Ablation, Measure};
    let lesson = lesson("what-changed-inside").unwrap();
    let configs: Vec<_> = lesson
        .sweep
        .plan()
        .unwrap()
        .into_iter()
        .map(|r| r.config)
        .collect();
    let mut stack = Stack::new(&configs, &Device::flex()).unwrap();
    while !stack.is_finished() {
        pollster::block_on(stack.advance(PHASE_TRANSITION_STEPS)).unwrap();
    }
    let best = |k: usize| {
        let inside = stack.inside(k).last().expect("head scores at the end");
        inside
            .unseen
            .best(Measure::Substitute)
            .expect("substitutions")
    };
    let rules: Vec<usize> = (0..2).map(|k| stack.config(k).task.instructions).collect();
    assert_eq!(rules, [16, 1024]);
    let (few, many) = (best(0), best(1));
    assert!(
        many.2 > few.2 + 0.1,
        "best substitution head: 16 rules {few:?}, 1,024 {many:?}"
    );
    let (layout, device) = (*stack.layout(), stack.inference_device());
    let model = stack.inference_model(1);
    let silence = Ablation {
        heads: vec![(many.0, many.1)],
    };
    let (whole, silenced) = pollster::block_on(ablation_pair(
        &model,
        &silence,
        &layout,
        stack.dataset(1),
        0,
        None,
        &device,
    ))
    .unwrap();
    let (whole, silenced) = (whole.summary(), silenced.summary());
    assert!(
        whole.unseen_accuracy - silenced.unseen_accuracy >= 0.05,
        "silencing {many:?} cost {} of {}",
        whole.unseen_accuracy - silenced.unseen_accuracy,
        whole.unseen_accuracy
    );
}

/// The lesson "From one instruction to a program" says what its runs show (seed 1 of the three
/// the README tables): at 1,024 programs the model follows both unseen kinds, new pairings of its
/// rules better; at 16 it follows neither.
#[test]
fn the_programs_lesson_shows_many_programs_following_both_unseen_kinds() {
    let lesson = lesson("programs").unwrap();
    let configs: Vec<_> = lesson
        .sweep
        .plan()
        .unwrap()
        .into_iter()
        .map(|r| r.config)
        .collect();
    let mut stack = Stack::new(&configs, &Device::flex()).unwrap();
    let mut last = vec![None; configs.len()];
    while !stack.is_finished() {
        let advance = pollster::block_on(stack.advance(PHASE_TRANSITION_STEPS)).unwrap();
        for (k, e) in advance.evaluations.into_iter().enumerate() {
            if let Some(e) = e {
                last[k] = Some(e.summary());
            }
        }
    }
    let [few, many] = [0, 1].map(|k| last[k].expect("a last evaluation"));
    let composed = |s: &instruction_diversity::engine::metrics::EvalSummary| {
        s.composed_accuracy
            .expect("programs have a composition split")
    };
    assert!(many.unseen_accuracy >= 0.3, "{many:?}");
    assert!(few.unseen_accuracy <= 0.15, "{few:?}");
    assert!(composed(&many) > many.unseen_accuracy, "{many:?}");
    assert!(composed(&few) < many.unseen_accuracy, "{few:?} {many:?}");
    assert_eq!(lesson.answer, 1);
}

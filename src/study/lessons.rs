//! Guided lessons: a paragraph, a "predict before you run" question and a sweep sized for a browser
//! tab, one per idea of the paper.
//!
//! Each lesson's sweep is a preset's (see [`crate::study::presets`]) with fewer steps: the presets are
//! calibrated for the native CLI at 4,000 steps a run; a lesson must finish while a class watches.
//! The phase transition, the page's primary action, has its own settings, sized by its compute
//! ([`phase_transition_sweep`]).

use crate::engine::config::Span;
use crate::study::presets::preset;
use crate::study::sweep::{Axis, SweepSpec};

/// Steps of every lesson run (see the module docs).
pub const LESSON_STEPS: usize = 1500;

/// Steps between a lesson run's evaluations, so its accuracy curve moves within seconds: the first
/// comes about 13 s after the click on the CPU fallback of a 2-core machine (6.5 steps a second in
/// headless Chromium; `tests/e2e/first-view.test.js` holds it under 20 s).
pub const LESSON_EVAL_EVERY: usize = 80;

/// Inputs of each split a lesson's interim evaluation scores (the last one scores the whole sets).
/// With [`LESSON_EVAL_EVERY`], the interim evaluations cost 6-7% of the training time and the
/// last one 6-8%, plus 2-3% for the head scores (measured with `cargo run --release --example
/// eval_cost` on a 2-core machine; README, "Lessons").
pub const LESSON_INTERIM_EXAMPLES: usize = 32;

/// A guided lesson.
#[derive(Clone, Debug, PartialEq)]
pub struct Lesson {
    /// Identifier, used by links (`lesson=phase-transition`).
    pub id: &'static str,
    /// Title for the menu.
    pub title: &'static str,
    /// One paragraph: what the experiment does and what to look at.
    pub text: &'static str,
    /// The question to answer before running.
    pub question: &'static str,
    /// Possible answers.
    pub choices: &'static [&'static str],
    /// Index of the answer the paper (and this page, run with the lesson's settings) supports.
    pub answer: usize,
    /// Why, shown once the runs are done.
    pub explanation: &'static str,
    /// The runs.
    pub sweep: SweepSpec,
    /// Whether the reveal looks inside the models (head scores and an ablation per run).
    pub inside: bool,
}

/// Identifiers of every lesson, in teaching order.
pub const LESSON_IDS: [&str; 8] = [
    "two-levels",
    "model-a-vs-b",
    "phase-transition",
    "what-changed-inside",
    "programs",
    "no-ops",
    "skew",
    "semantics",
];

/// A preset's sweep shortened to `steps` a run, by the one rule for that
/// ([`crate::engine::config::ValidConfig::with_steps`]), as the CLI's `--steps` does.
pub fn shortened(mut sweep: SweepSpec, steps: usize) -> SweepSpec {
    sweep.base = sweep
        .base
        .validate()
        .and_then(|base| base.with_steps(steps))
        .expect("lessons shorten valid presets to a valid number of steps")
        .into_raw();
    sweep
}

/// A preset's sweep as a lesson runs it: shortened to [`LESSON_STEPS`], evaluated every
/// [`LESSON_EVAL_EVERY`] steps on [`LESSON_INTERIM_EXAMPLES`] inputs of each split.
fn lesson_sweep(spec: SweepSpec) -> SweepSpec {
    let mut sweep = shortened(spec, LESSON_STEPS);
    sweep.base.train.eval_every = LESSON_EVAL_EVERY;
    sweep.base.eval.interim_examples = LESSON_INTERIM_EXAMPLES;
    sweep
}

fn preset_sweep(id: &str) -> SweepSpec {
    lesson_sweep(preset(id).expect("lessons use existing presets").sweep)
}

/// Steps of each run of the phase-transition lesson (and of the two-levels lesson, which runs two of
/// its points).
pub const PHASE_TRANSITION_STEPS: usize = 1000;

/// The phase-transition preset's sweep (the same five rule counts and budget) at the cheapest
/// settings found that still show the transition clearly on seeds 1, 2 and 3: inputs of 2 to 4
/// letters (18 tokens a sequence, not 30), width 32 (FF 128), batch 32 and 1,000 steps at a learning
/// rate of 5e-3. About 0.05 of the compute of the preset shortened to 1,500 steps (444 against 8,905
/// GFLOP a lesson), its unseen-rule accuracy is at most 0.122 at 4 rules and at least 0.82 at 1,024
/// on each seed, in order, where the shortened preset reached only 0.68 to 0.78 at 1,024 (README,
/// "The lesson sized by its compute", which tables the 26 candidates and why not the cheaper one
/// that passed once).
pub fn phase_transition_sweep() -> SweepSpec {
    let preset = preset("phase-transition").expect("the phase-transition preset exists");
    let mut sweep = shortened(preset.sweep, PHASE_TRANSITION_STEPS);
    let base = &mut sweep.base;
    base.task.z_len = Span::new(2, 4);
    base.model.width = 32;
    base.model.ff_width = 128;
    base.train.batch_size = 32;
    base.train.learning_rate = 5e-3;
    base.train.eval_every = LESSON_EVAL_EVERY;
    base.eval.interim_examples = LESSON_INTERIM_EXAMPLES;
    sweep
}

/// The choices of the lesson "What changed inside?".
const WHAT_CHANGED_INSIDE_CHOICES: [&str; 4] = [
    "Both models', about as much: they were trained the same way",
    "The 1,024-rule model's, clearly more: it reads the rule from the prompt",
    "The 16-rule model's more",
    "Neither model's heads look there",
];

/// The answer the lesson's runs give on seeds 1, 2 and 3 (README, "Inside the model": measured
/// with `idp sweep --lesson what-changed-inside --seeds 1,2,3 --keep-models` and `idp ablate
/// --best substitute`): the best substitution head scores 0.52 to 0.60 at 1,024 rules and 0.21 to
/// 0.45 at 16.
const WHAT_CHANGED_INSIDE_ANSWER: usize = 1;

/// Why, as those runs show it.
const WHAT_CHANGED_INSIDE_EXPLANATION: &str = "Where it writes a letter of y, the 1,024-rule model's best head puts more than half its attention on that very letter of the prompt (0.52 to 0.60 over three seeds); the 16-rule model's best head a third (0.21 to 0.45): it writes the y it memorized for a rule it recognizes. Both copy input letters alike (about 0.6): every rule needs copying. Silencing that head costs the 1,024-rule model about 20 points on unseen rules; the 16-rule model has nothing to lose there, but loses about half its seen-rule accuracy: its head served its memorized rules.";

/// Two points of the phase-transition lesson's ladder (its settings, these rule counts).
fn phase_transition_points(rules: [usize; 2]) -> SweepSpec {
    let mut sweep = phase_transition_sweep();
    sweep.axes = vec![Axis::values("instructions", "task.instructions", rules)];
    sweep
}

/// The lesson "From one instruction to a program": the phase-transition lesson's settings with
/// instructions of two rules applied in turn, at 16 and 1,024 distinct programs.
pub fn programs_sweep() -> SweepSpec {
    let mut sweep = phase_transition_points([16, 1024]);
    let base = &mut sweep.base;
    base.task.program = crate::engine::config::ProgramConfig {
        rules: 2,
        ..Default::default()
    };
    let layout = crate::engine::tokenizer::SequenceLayout::new(&base.task);
    base.model.max_len = layout.sequence_len().next_multiple_of(16);
    sweep
}

/// The choices of the lesson "From one instruction to a program".
const PROGRAMS_CHOICES: [&str; 4] = [
    "Neither kind: a program is too hard for a model this small",
    "Both kinds, new pairings of its own rules somewhat better",
    "New pairings of its own rules only",
    "Programs of rules it never saw only",
];

/// The answer the lesson's runs give on seeds 1, 2 and 3 (measured with `idp sweep --lesson
/// programs --seeds 1,2,3`; README, "Programs of rules"): at 1,024 programs, 0.48 to 0.55 on
/// composed programs and 0.38 to 0.40 on unseen ones; at 16, 0.12 to 0.20 and 0.08 to 0.09.
const PROGRAMS_ANSWER: usize = 1;

/// Why, as those runs show it.
const PROGRAMS_EXPLANATION: &str = "After 1,000 steps the 1,024-program model gets about half of the new pairings of its own rules right (0.48 to 0.55 over three seeds) and close to 40% of the programs made of rules it never met (0.38 to 0.40). The 16-program model memorized its 16 programs (0.67 to 0.78 on new inputs of them) and follows neither kind (0.12 to 0.20 and 0.08). As with single rules, many distinct programs teach the model to read the instruction; rules it has already met help, but are not needed.";

/// The lesson with this identifier.
pub fn lesson(id: &str) -> Option<Lesson> {
    let lesson = match id {
        "two-levels" => Lesson {
            id: "two-levels",
            title: "Two levels of generalization",
            text: "A model can generalize in two ways: to new inputs of the rules it was trained on, and to rules it has never seen. Two models get the same 20,000 training examples; one sees only 4 distinct rules, the other 1,024. Both are then tested on new inputs of their own rules (seen rules) and on 100 rules neither has met (unseen rules).",
            question: "What will the 4-rule model get right?",
            choices: &[
                "Neither its own rules on new inputs nor new rules",
                "Its own rules on new inputs, but not new rules",
                "New rules, but not its own rules on new inputs",
                "Both, as well as the 1,024-rule model",
            ],
            answer: 1,
            explanation: "New inputs of a known rule are easy for both models: seen-rule accuracy is high either way. Following a rule it has never seen takes many distinct rules in training: only the 1,024-rule model does it.",
            sweep: phase_transition_points([4, 1024]),
            inside: false,
        },
        "model-a-vs-b" => Lesson {
            id: "model-a-vs-b",
            title: "Model A vs model B",
            text: "Model A is trained on a single rule with 200,000 examples. Model B is trained on 1,000 different rules with 20 examples each. Both are then asked to follow rules they have never seen.",
            question: "Which model follows new rules better?",
            choices: &[
                "Model A: more examples make a better model",
                "Model B: more distinct rules",
                "Both about the same",
            ],
            answer: 1,
            explanation: "A becomes perfect at its one rule and learns nothing about rules in general. B saw each rule only a few times, but so many different rules that it learned what a rule is.",
            sweep: preset_sweep("model-a-vs-b"),
            inside: false,
        },
        "phase-transition" => Lesson {
            id: "phase-transition",
            title: "The phase transition",
            text: "Five models share one budget of 20,000 examples, spread over 4, 16, 64, 256 or 1,024 distinct rules. Watch the curve of unseen-rule accuracy against the number of rules (a log axis), and the cells of the phase diagram fill in as each run finishes.",
            question: "How does accuracy on unseen rules change as the number of rules grows?",
            choices: &[
                "It rises steadily, a little with each doubling",
                "It stays near zero with few rules, then climbs steeply once there are enough of them",
                "It does not change: the budget is the same",
                "It falls: fewer examples per rule",
            ],
            answer: 1,
            explanation: "With few rules the model memorizes them and fails on new ones whatever the examples per rule. Once there are enough rules (at this scale, between 16 and 256; in the paper's larger task, a few hundred), following the rule is easier than memorizing each one, and unseen-rule accuracy climbs.",
            sweep: phase_transition_sweep(),
            inside: false,
        },
        "what-changed-inside" => Lesson {
            id: "what-changed-inside",
            title: "What changed inside?",
            text: "Two models share one budget of 20,000 examples: one sees 16 distinct rules, the other 1,024. For every letter of an answer we know where in the prompt it comes from: the input letter it copies, or the letter of y it writes in place of x. After training we measure how much each attention head looks exactly there on rules neither model has seen, then silence each model's strongest such head and see what it loses.",
            question: "On rules neither model has seen, whose heads look at the rule's y where they write it?",
            choices: &WHAT_CHANGED_INSIDE_CHOICES,
            answer: WHAT_CHANGED_INSIDE_ANSWER,
            explanation: WHAT_CHANGED_INSIDE_EXPLANATION,
            sweep: phase_transition_points([16, 1024]),
            inside: true,
        },
        "programs" => Lesson {
            id: "programs",
            title: "From one instruction to a program",
            text: "Now an instruction is a small program: two rules, applied in turn (the first rule, then the second on its result), each at the leftmost occurrence of its x. Two models share one budget of 20,000 examples: one sees 16 distinct programs, the other 1,024. Both are then tested on programs they never saw, of two kinds: new pairings of rules they trained on (composed), and programs made of rules they never met (unseen).",
            question: "What does the 1,024-program model follow?",
            choices: &PROGRAMS_CHOICES,
            answer: PROGRAMS_ANSWER,
            explanation: PROGRAMS_EXPLANATION,
            sweep: programs_sweep(),
            inside: false,
        },
        "no-ops" => Lesson {
            id: "no-ops",
            title: "No-op inputs",
            text: "Sometimes x does not occur in the input, and the right answer is the input unchanged. Three models are trained with 0%, 25% or 50% of such no-op inputs, and tested on no-op inputs of unseen rules.",
            question: "The model trained with no no-op inputs at all: what does it do when x is absent?",
            choices: &[
                "It copies the input unchanged, as it should",
                "It rewrites something anyway, so it fails many no-op inputs",
            ],
            answer: 1,
            explanation: "A model that never saw a no-op always rewrites: it has not learned to check whether x occurs. A share of no-op inputs teaches it to leave the input alone.",
            sweep: preset_sweep("no-ops"),
            inside: false,
        },
        "skew" => Lesson {
            id: "skew",
            title: "Skewed rule frequencies",
            text: "Real instruction data is skewed: a few tasks are very common, most are rare. Four models get the same rules and budget, spread evenly (shape 1) or by steeper and steeper power laws (shapes 0.5, 0.2, 0.05), so that a few rules take most of the examples.",
            question: "How does a steeper skew change accuracy on unseen rules?",
            choices: &[
                "It helps: the common rules are learned very well",
                "It hurts, most at the steepest skew",
                "No effect: the same rules are in the training set",
            ],
            answer: 1,
            explanation: "Under a steep power law most rules get almost no examples: the training set holds far fewer distinct rules in practice, and generalization to new rules suffers. A mild skew costs little.",
            sweep: preset_sweep("skew"),
            inside: false,
        },
        "semantics" => Lesson {
            id: "semantics",
            title: "Restricted semantics",
            text: "Here the training rules are not random: x and y are repeated letters (aaa), periodic patterns (abab) or mirrored ones (abba). The test rules are random. Three models train on repeated rules only, periodic rules only, or all three families.",
            question: "Which training set transfers best to random rules?",
            choices: &["Repeated only", "Periodic only", "All three families"],
            answer: 2,
            explanation: "Rules from one narrow family teach a narrow skill. Diversity across families, not just the number of rules, is what carries over to unstructured rules.",
            sweep: preset_sweep("semantics"),
            inside: false,
        },
        _ => return None,
    };
    Some(lesson)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lesson_plans_short_valid_runs_and_a_fair_question() {
        for id in LESSON_IDS {
            let lesson = lesson(id).unwrap_or_else(|| panic!("{id}"));
            assert_eq!(lesson.id, id);
            assert!(lesson.answer < lesson.choices.len(), "{id}");
            assert!(lesson.choices.len() >= 2, "{id}");
            let runs = lesson.sweep.plan().unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(runs.len() >= 2, "{id}");
            let steps = match id {
                "phase-transition" | "two-levels" | "what-changed-inside" | "programs" => {
                    PHASE_TRANSITION_STEPS
                }
                _ => LESSON_STEPS,
            };
            assert!(runs.iter().all(|r| r.config.train.steps == steps), "{id}");
            // Live from the first seconds: often, on a few inputs; the last evaluation whole.
            for run in &runs {
                assert_eq!(run.config.train.eval_every, LESSON_EVAL_EVERY, "{id}");
                assert_eq!(
                    run.config.eval.interim_examples, LESSON_INTERIM_EXAMPLES,
                    "{id}"
                );
                assert!(
                    run.config.eval.seen_examples > LESSON_INTERIM_EXAMPLES,
                    "{id}"
                );
            }
        }
        assert!(lesson("nope").is_none());
    }

    #[test]
    fn the_two_levels_lesson_contrasts_few_and_many_rules() {
        let runs = lesson("two-levels").unwrap().sweep.plan().unwrap();
        let rules: Vec<usize> = runs.iter().map(|r| r.config.task.instructions).collect();
        assert_eq!(rules, [4, 1024]);
    }
}

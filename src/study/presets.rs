//! Ready-made experiments, each a sweep over the setting it teaches about.
//!
//! Calibration (measured with `idp run` on one CPU core, seed 1, 4,000 steps, about 4 minutes a run):
//! on the reference task (`x` 1-3, `y` 0-3, `z` 4-12) the reference model reached only 0.31
//! unseen-rule accuracy at I = 4096 after 2,000 steps at lr 1e-3 (0.38 at lr 3e-3, 0.41 at 5e-3).
//! With `x` 1-2, `y` 0-2, `z` 4-10 (shorter sequences, so also 20% cheaper a step) and lr 3e-3 it
//! reached 0.675 at I = 1024 and 0.64 at I = 4096 after 4,000 steps. The presets use that task; the
//! ladder stops at 1024, where unseen accuracy saturates at this scale.

use crate::engine::config::{
    AnswerFormat, Budget, ExperimentConfig, Init, ProgramConfig, ProgramSemantics, RuleFrequency,
    SemanticsConfig, Span,
};
use crate::engine::task::Family;
use crate::study::sweep::{Axis, AxisPoint, SweepSpec};
use serde_json::json;
use std::collections::BTreeMap;

/// A named, described sweep.
#[derive(Clone, Debug, PartialEq)]
pub struct Preset {
    /// Identifier used by the CLI and links (`phase-transition`).
    pub id: &'static str,
    /// Title for menus.
    pub title: &'static str,
    /// One sentence on what it shows.
    pub summary: &'static str,
    /// The runs.
    pub sweep: SweepSpec,
}

/// Identifiers of every preset, in menu order.
pub const PRESET_IDS: [&str; 7] = [
    "phase-transition",
    "model-a-vs-b",
    "no-ops",
    "skew",
    "semantics",
    "occurrences",
    "programs",
];

/// Presets too large for a tab, so the page's menu does not list them: the papers' scale, for a
/// cluster (`idp plan --preset paper`), and the program experiments of 3 seeds
/// (`scripts/experiments/programs`).
pub const CLUSTER_PRESET_IDS: [&str; 4] = ["paper", "programs-k2", "programs-k3", "programs-pool"];

/// Distinct programs `P` the program experiments sweep at the presets' fixed budget.
pub const PROGRAM_COUNTS: [usize; 3] = [8, 64, 512];

/// Rules in the pool of `programs-pool`: 32 rules make 992 ordered pairs.
pub const PROGRAM_POOL: usize = 32;

/// Steps of the program experiments: half the presets' 4,000, so that their 57 runs fit in about
/// 90 minutes of this project's 2-core machine (a run of two rules, 2,000 steps, takes 70 s on one
/// core; a Markov trace about twice that). Their models are still learning at the end; the README
/// says so beside the tables.
pub const PROGRAM_EXPERIMENT_STEPS: usize = 2000;

/// `base` shortened to [`PROGRAM_EXPERIMENT_STEPS`], evaluated every 500 steps.
fn experiment_length(mut base: ExperimentConfig) -> ExperimentConfig {
    base.train.steps = PROGRAM_EXPERIMENT_STEPS;
    base.train.warmup_steps = 100;
    base.train.eval_every = 500;
    base
}

/// The base of the program presets: the presets' task, model and budget, with instructions that
/// are programs of `k` rules, and positions for the longest sequence they write.
pub fn program_base(
    rules: usize,
    semantics: ProgramSemantics,
    answer: AnswerFormat,
) -> ExperimentConfig {
    let mut config = preset_base();
    config.task.program = ProgramConfig {
        rules,
        semantics,
        // Markov programs of short rules rarely need more; a longer bound lengthens every trace.
        max_steps: 4,
        answer,
        ..ProgramConfig::default()
    };
    let layout = crate::engine::tokenizer::SequenceLayout::new(&config.task);
    config.model.max_len = layout.sequence_len().next_multiple_of(16).max(64);
    config
}

/// The papers' ladder of rule counts (arXiv 2402.10891, figure 2).
pub const PAPER_RULE_COUNTS: [usize; 16] = [
    10, 20, 50, 100, 200, 300, 400, 500, 600, 1_000, 2_000, 2_500, 5_000, 10_000, 100_000,
    1_000_000,
];

/// The papers' setting (section 3): a GPT-2-style decoder of 6 layers, width 256 and 4 heads;
/// inputs of up to 50 letters and patterns of up to 20; a budget of 10^6 examples; AdamW at lr 1e-3
/// with a linear schedule for 50 epochs (at batch 256, 195,313 steps). Not stated in the papers and
/// chosen here: the alphabet (26 letters), the replacement's length (0 to 20), the batch size, the
/// warm-up (1,000 steps) and the evaluation sets.
pub fn paper_config() -> ExperimentConfig {
    let mut config = ExperimentConfig::default();
    config.task.alphabet = 26;
    config.task.x_len = Span::new(1, 20);
    config.task.y_len = Span::new(0, 20);
    config.task.z_len = Span::new(20, 50);
    config.task.budget = Budget::Total(1_000_000);
    config.task.instructions = 1_000;
    config.model.layers = 6;
    config.model.width = 256;
    config.model.heads = 4;
    config.model.ff_width = 1024;
    config.model.max_len = 256;
    config.train.batch_size = 256;
    config.train.steps = 50 * 1_000_000_usize.div_ceil(256);
    config.train.learning_rate = 1e-3;
    config.train.warmup_steps = 1_000;
    config.train.final_lr_ratio = 0.0;
    config.train.eval_every = 10_000;
    config.eval.test_rules = 200;
    config.eval.seen_examples = 1_000;
    config.eval.unseen_examples = 1_000;
    config.eval.noop_examples = 500;
    config
}

/// Steps of every preset run.
pub const PRESET_STEPS: usize = 4000;

/// The training budget of the phase-transition ladder.
pub const PRESET_BUDGET: usize = 20_000;

/// The reference setting, used by the benchmark: alphabet 8, `x` 1-3, `y` 0-3, `z` 4-12
/// letters, 10% no-ops, a budget of 20,000 examples, 2 layers of width 64 with 4 heads, batch 64,
/// AdamW at lr 1e-3.
pub fn reference_config() -> ExperimentConfig {
    let mut config = ExperimentConfig::default();
    config.task.budget = Budget::Total(PRESET_BUDGET);
    config
}

/// The base of every preset: the reference model on the calibrated task (see the module docs).
pub fn preset_base() -> ExperimentConfig {
    let mut config = reference_config();
    config.task.x_len = Span::new(1, 2);
    config.task.y_len = Span::new(0, 2);
    config.task.z_len = Span::new(4, 10);
    config.task.instructions = 1024;
    config.train.steps = PRESET_STEPS;
    config.train.learning_rate = 3e-3;
    config.train.warmup_steps = 200;
    // Often and cheaply: every 100 steps on the first 50 inputs of each split (about 5% of the
    // training time), the last evaluation on the whole sets, so the page's curves move within
    // seconds.
    config.train.eval_every = 100;
    config.eval.interim_examples = 50;
    // PyTorch's initialisation: small models learn this task much faster from it (README, "Why an
    // independent implementation generalized better").
    config.model.init = Init::Pytorch;
    config
}

fn point(label: &str, settings: &[(&str, serde_json::Value)]) -> AxisPoint {
    AxisPoint {
        label: label.into(),
        set: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>(),
    }
}

/// The preset with this identifier.
pub fn preset(id: &str) -> Option<Preset> {
    let base = preset_base();
    let one_seed = vec![1];
    let preset = match id {
        "phase-transition" => Preset {
            id: "phase-transition",
            title: "Phase transition",
            summary: "Same budget, more and more distinct rules: accuracy on unseen rules jumps once there are enough of them.",
            sweep: SweepSpec {
                axes: vec![Axis::values(
                    "instructions",
                    "task.instructions",
                    [4usize, 16, 64, 256, 1024],
                )],
                base,
                seeds: one_seed,
            },
        },
        "model-a-vs-b" => Preset {
            id: "model-a-vs-b",
            title: "Model A vs model B",
            summary: "A sees one rule ten times as often as B sees each of its many rules; only B follows new rules.",
            sweep: SweepSpec {
                axes: vec![Axis {
                    name: "model".into(),
                    points: vec![
                        point(
                            "A: 1 rule",
                            &[
                                ("task.instructions", json!(1)),
                                ("task.budget", json!({ "total": 10 * PRESET_BUDGET })),
                            ],
                        ),
                        point(
                            "B: 1000 rules",
                            &[
                                ("task.instructions", json!(1000)),
                                ("task.budget", json!({ "total": PRESET_BUDGET })),
                            ],
                        ),
                    ],
                }],
                base,
                seeds: one_seed,
            },
        },
        "no-ops" => Preset {
            id: "no-ops",
            title: "No-op inputs",
            summary: "More inputs where the rule does not apply: the model must learn when to leave the input alone.",
            sweep: SweepSpec {
                axes: vec![Axis::values(
                    "no-op share",
                    "task.noop_share",
                    [0.0f64, 0.25, 0.5],
                )],
                base,
                seeds: one_seed,
            },
        },
        "skew" => Preset {
            id: "skew",
            title: "Skewed rule frequencies",
            summary: "Power-law rule frequencies: with few rules, a steep skew leaves most rules barely seen.",
            sweep: SweepSpec {
                axes: vec![Axis {
                    name: "shape".into(),
                    points: [1.0f64, 0.5, 0.2, 0.05]
                        .iter()
                        .map(|&shape| {
                            let frequency = if shape == 1.0 {
                                RuleFrequency::Uniform
                            } else {
                                RuleFrequency::PowerLaw { shape }
                            };
                            point(
                                &shape.to_string(),
                                &[(
                                    "task.frequency",
                                    serde_json::to_value(frequency).expect("serializable"),
                                )],
                            )
                        })
                        .collect(),
                }],
                base,
                seeds: one_seed,
            },
        },
        "semantics" => {
            let mut base = base;
            base.task.x_len = Span::new(1, 6);
            base.task.y_len = Span::new(0, 6);
            base.task.z_len = Span::new(6, 14);
            let families = |fs: &[Family]| {
                serde_json::to_value(SemanticsConfig {
                    families: fs.to_vec(),
                    train_k: Span::new(2, 3),
                    test_k: Span::new(1, 1),
                })
                .expect("serializable")
            };
            Preset {
                id: "semantics",
                title: "Restricted semantics",
                summary: "Train on structured rules (repeated, periodic, mirrored), test on unstructured ones: one family alone does not transfer, the mix does better.",
                sweep: SweepSpec {
                    axes: vec![Axis {
                        name: "families".into(),
                        points: vec![
                            point(
                                "repeated",
                                &[("task.semantics", families(&[Family::Repeated]))],
                            ),
                            point(
                                "periodic",
                                &[("task.semantics", families(&[Family::Periodic]))],
                            ),
                            point("all three", &[("task.semantics", families(&Family::ALL))]),
                        ],
                    }],
                    base,
                    seeds: one_seed,
                },
            }
        }
        "occurrences" => Preset {
            id: "occurrences",
            title: "Pattern occurrences",
            summary: "Inputs holding x once, several times, or a mix: the mix teaches 'leftmost' best.",
            sweep: SweepSpec {
                axes: vec![Axis {
                    name: "occurrences".into(),
                    points: vec![
                        point("1", &[("task.occurrences", json!([1]))]),
                        point("3", &[("task.occurrences", json!([3]))]),
                        point("1-3 mixed", &[("task.occurrences", json!([1, 2, 3]))]),
                    ],
                }],
                base,
                seeds: one_seed,
            },
        },
        "programs" => Preset {
            id: "programs",
            title: "Programs of two rules",
            summary: "Each instruction is two rules applied in turn: does following unseen programs also need many distinct ones?",
            sweep: SweepSpec {
                axes: vec![Axis::values(
                    "instructions",
                    "task.instructions",
                    [4usize, 16, 64, 256, 1024],
                )],
                base: program_base(2, ProgramSemantics::Sequence, AnswerFormat::Direct),
                seeds: one_seed,
            },
        },
        "programs-k2" | "programs-k3" => {
            let k = if id == "programs-k2" { 2 } else { 3 };
            let kinds: &[(&str, ProgramSemantics, AnswerFormat)] = if k == 2 {
                &[
                    (
                        "sequence, direct",
                        ProgramSemantics::Sequence,
                        AnswerFormat::Direct,
                    ),
                    (
                        "sequence, trace",
                        ProgramSemantics::Sequence,
                        AnswerFormat::Trace,
                    ),
                    (
                        "markov, direct",
                        ProgramSemantics::Markov,
                        AnswerFormat::Direct,
                    ),
                    (
                        "markov, trace",
                        ProgramSemantics::Markov,
                        AnswerFormat::Trace,
                    ),
                ]
            } else {
                &[
                    (
                        "sequence, direct",
                        ProgramSemantics::Sequence,
                        AnswerFormat::Direct,
                    ),
                    (
                        "sequence, trace",
                        ProgramSemantics::Sequence,
                        AnswerFormat::Trace,
                    ),
                ]
            };
            // The longest trace sets the positions of every point, so all share one model shape.
            let widest = program_base(k, ProgramSemantics::Markov, AnswerFormat::Trace);
            let mut base = experiment_length(program_base(
                k,
                ProgramSemantics::Sequence,
                AnswerFormat::Direct,
            ));
            base.model.max_len = widest.model.max_len;
            Preset {
                id: if k == 2 { "programs-k2" } else { "programs-k3" },
                title: if k == 2 {
                    "Programs of two rules: semantics and answers"
                } else {
                    "Programs of three rules: direct or step by step"
                },
                summary: "Distinct programs P at a fixed budget, for each semantics and answer format, 3 seeds: where does accuracy on unseen programs rise?",
                sweep: SweepSpec {
                    axes: vec![
                        Axis {
                            name: "program".into(),
                            points: kinds
                                .iter()
                                .map(|&(label, semantics, answer)| {
                                    point(
                                        label,
                                        &[
                                            ("task.program.semantics", json!(semantics)),
                                            ("task.program.answer", json!(answer)),
                                        ],
                                    )
                                })
                                .collect(),
                        },
                        // Three rules: the fewest and the most programs only, for the compute
                        // (their traces are the longest sequences: see PROGRAM_EXPERIMENT_STEPS).
                        if k == 2 {
                            Axis::values("instructions", "task.instructions", PROGRAM_COUNTS)
                        } else {
                            Axis::values(
                                "instructions",
                                "task.instructions",
                                [PROGRAM_COUNTS[0], PROGRAM_COUNTS[2]],
                            )
                        },
                    ],
                    base,
                    seeds: vec![1, 2, 3],
                },
            }
        }
        "programs-pool" => {
            let mut base = experiment_length(program_base(
                2,
                ProgramSemantics::Sequence,
                AnswerFormat::Direct,
            ));
            base.task.program.rule_pool = PROGRAM_POOL;
            // The base is checked before the axis sets each cell's count: 1,024 programs (the
            // presets') is more than 32 rules make.
            base.task.instructions = 512;
            Preset {
                id: "programs-pool",
                title: "Programs from a fixed pool of rules",
                summary: "32 distinct rules throughout, more and more distinct programs built from them: is the threshold set by programs or by rules?",
                sweep: SweepSpec {
                    axes: vec![Axis::values(
                        "instructions",
                        "task.instructions",
                        [16usize, 128, 512],
                    )],
                    base,
                    seeds: vec![1, 2, 3],
                },
            }
        }
        "paper" => Preset {
            id: "paper",
            title: "The papers' scale",
            summary: "The phase transition at the papers' scale: 6 layers of width 256, 10^6 examples, 16 rule counts from 10 to 10^6, 3 seeds. For a cluster.",
            sweep: SweepSpec {
                axes: vec![Axis::values(
                    "instructions",
                    "task.instructions",
                    PAPER_RULE_COUNTS,
                )],
                base: paper_config(),
                seeds: vec![1, 2, 3],
            },
        },
        _ => return None,
    };
    Some(preset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_plans_valid_runs() {
        for id in PRESET_IDS.into_iter().chain(CLUSTER_PRESET_IDS) {
            let preset = preset(id).unwrap();
            assert_eq!(preset.id, id);
            // The CLI checks the base (`--set` applies to it) before the axes.
            preset
                .sweep
                .base
                .validate()
                .unwrap_or_else(|e| panic!("{id}'s base: {e}"));
            let runs = preset.sweep.plan().unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(runs.len() >= 2, "{id}");
        }
        assert!(preset("nope").is_none());
    }

    #[test]
    fn phase_transition_keeps_the_budget_fixed() {
        let runs = preset("phase-transition").unwrap().sweep.plan().unwrap();
        let budgets: Vec<usize> = runs
            .iter()
            .map(|r| r.config.task.budget.total(r.config.task.instructions))
            .collect();
        assert!(budgets.iter().all(|&b| b == PRESET_BUDGET));
        let rules: Vec<usize> = runs.iter().map(|r| r.config.task.instructions).collect();
        assert!(rules.windows(2).all(|w| w[0] < w[1]));
    }
}

#[cfg(test)]
mod paper {
    use super::*;

    #[test]
    fn the_paper_preset_is_the_papers_setting() {
        let runs = preset("paper").unwrap().sweep.plan().unwrap();
        assert_eq!(runs.len(), 16 * 3);
        let rules: Vec<usize> = runs[..16]
            .iter()
            .map(|r| r.config.task.instructions)
            .collect();
        assert_eq!(rules, PAPER_RULE_COUNTS);
        let config = &runs[15].config;
        assert_eq!(
            (config.model.layers, config.model.width, config.model.heads),
            (6, 256, 4)
        );
        assert_eq!((config.task.x_len.max, config.task.z_len.max), (20, 50));
        assert_eq!(
            config.task.budget.total(config.task.instructions),
            1_000_000
        );
        // 50 epochs of the budget.
        assert!(config.train.steps * config.train.batch_size >= 50 * 1_000_000);
    }
}

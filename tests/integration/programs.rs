//! Rule programs (issue 28): a program of one rule is today's task, bit for bit; the interpreter
//! of both semantics against a naive one; every example's answer is its program's; held-out
//! programs never reach a training batch; a trace ends in the answer.

use super::training::small_config;
use burn::prelude::*;
use instruction_diversity::engine::config::{
    AnswerFormat, ExperimentConfig, InputSampling, ProgramConfig, ProgramSemantics, RuleFrequency,
    SequenceFormat, Span, Terminal,
};
use instruction_diversity::engine::stack::Stack;
use instruction_diversity::engine::task::{Dataset, Instruction, Rule, RuleSet};
use instruction_diversity::engine::tokenizer::{BAR, SequenceLayout};
use instruction_diversity::engine::train::{BatchOrder, Batcher};
use proptest::prelude::*;
use std::collections::HashSet;

/// FNV-1a over every draw of a dataset (instructions, inputs, answers, split by split), printed as
/// 16 hex digits: equal datasets give equal codes.
fn dataset_code(config: &ExperimentConfig) -> String {
    let data = Dataset::generate(&config.validate().unwrap()).unwrap();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |text: &str| {
        for b in text.bytes().chain([0xff]) {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    };
    for rule in data
        .train_instructions
        .iter()
        .chain(&data.test_instructions)
    {
        eat(&rule.to_string());
    }
    for split in [
        &data.train,
        &data.seen.examples,
        &data.unseen.examples,
        &data.noop.examples,
    ] {
        for e in split {
            eat(&format!("{}:{}:{}:{}", e.rule, e.z, e.answer, e.noop));
        }
    }
    format!("{hash:016x}")
}

/// The variants whose data a one-rule program must reproduce: the defaults of both sequence
/// formats, overwritten inputs, several occurrences and restricted semantics.
fn variants() -> Vec<(&'static str, ExperimentConfig)> {
    let base = small_config(5);
    let mut packed = base.clone();
    packed.task.format = SequenceFormat::Packed;
    let mut overwrite = base.clone();
    overwrite.task.inputs = InputSampling::Overwrite;
    let mut occurrences = base.clone();
    occurrences.task.occurrences = vec![1, 2];
    let mut skew = base.clone();
    skew.task.frequency = RuleFrequency::PowerLaw { shape: 0.5 };
    skew.task.noop_share = 0.3;
    let mut preset = ExperimentConfig::default();
    preset.task.instructions = 300;
    vec![
        ("small", base),
        ("packed", packed),
        ("overwrite", overwrite),
        ("occurrences", occurrences),
        ("defaults", preset),
        ("skew", skew),
    ]
}

#[test]
fn one_rule_programs_draw_todays_datasets() {
    let codes: Vec<String> = variants()
        .into_iter()
        .map(|(name, config)| format!("{name} {}", dataset_code(&config)))
        .collect();
    eprintln!("{codes:?}");
    assert_eq!(codes, PINNED_DATASETS);
}

#[test]
fn one_rule_programs_train_todays_runs() {
    let device = Device::flex();
    let mut fingerprints = Vec::new();
    for (name, config) in variants().into_iter().take(2) {
        let mut run = Stack::new(&[config.validate().unwrap()], &device).unwrap();
        let evaluation = loop {
            let advance = pollster::block_on(run.advance(50)).unwrap();
            if advance.finished {
                break advance.evaluations[0]
                    .clone()
                    .expect("the last chunk evaluates");
            }
        };
        fingerprints.push(format!("{name} {}", evaluation.fingerprint()));
    }
    eprintln!("{fingerprints:?}");
    assert_eq!(fingerprints, PINNED_RUNS);
}

/// Measured at e991cf5, before instructions could be programs.
const PINNED_DATASETS: [&str; 6] = [
    "small 19b34e9e5a6c9bc4",
    "packed 19b34e9e5a6c9bc4",
    "overwrite ae3a669b14a096b7",
    "occurrences 9c9f5e0084698ad9",
    "defaults 41494917a2c74953",
    "skew f06dd2fd7fd7d5bc",
];
const PINNED_RUNS: [&str; 2] = ["small 843e-cc10", "packed ff62-bee4"];

/// The Markov algorithm and the sequence, spelled out with `str::find` and `replacen`: the
/// definitions, without the interpreter's bookkeeping. `None` when the bound is passed.
fn naive_run(
    rules: &[(String, String)],
    semantics: ProgramSemantics,
    terminal: bool,
    max_steps: usize,
    z: &str,
) -> Option<(String, Vec<String>)> {
    let mut s = z.to_string();
    let mut trace = Vec::new();
    match semantics {
        ProgramSemantics::Sequence => {
            for (x, y) in rules {
                s = s.replacen(x.as_str(), y, 1);
                trace.push(s.clone());
            }
        }
        ProgramSemantics::Markov => {
            let mut steps = 0;
            while let Some(i) = rules.iter().position(|(x, _)| s.contains(x.as_str())) {
                if steps == max_steps {
                    return None;
                }
                s = s.replacen(rules[i].0.as_str(), &rules[i].1, 1);
                trace.push(s.clone());
                steps += 1;
                if terminal && i + 1 == rules.len() {
                    break;
                }
            }
            if trace.is_empty() {
                trace.push(s.clone());
            }
        }
    }
    Some((s, trace))
}

fn semantics() -> impl Strategy<Value = ProgramSemantics> {
    prop_oneof![
        Just(ProgramSemantics::Sequence),
        Just(ProgramSemantics::Markov)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    #[test]
    fn the_interpreter_matches_the_naive_reference(
        rules in prop::collection::vec(("[abc]{1,2}", "[abc]{0,3}"), 1..4),
        semantics in semantics(),
        terminal in any::<bool>(),
        max_steps in 1usize..8,
        z in "[abc]{0,10}",
    ) {
        let terminal = terminal && semantics == ProgramSemantics::Markov;
        let instruction = Instruction::program(
            rules.iter().map(|(x, y)| Rule::new(x.clone(), y.clone())).collect(),
            semantics,
            terminal,
            max_steps,
        );
        let naive = naive_run(&rules, semantics, terminal, max_steps, &z);
        match instruction.run(&z, usize::MAX) {
            Ok(run) => {
                let (output, trace) = naive.expect("the naive run halts too");
                prop_assert_eq!(&run.output, &output);
                prop_assert_eq!(run.trace(&instruction, &z), trace);
                prop_assert_eq!(instruction.is_noop_on(&z), run.steps.is_empty());
                // Each step's rule rewrote its pattern's leftmost occurrence.
                let mut before = z.clone();
                for step in &run.steps {
                    let rule = &instruction.rules()[step.rule];
                    prop_assert_eq!(before.find(rule.x.as_str()), Some(step.at));
                    before = step.after.clone();
                }
            }
            Err(_) => prop_assert!(naive.is_none()),
        }
        // Text round trip.
        let text = instruction.to_string();
        prop_assert_eq!(Instruction::parse(&text, semantics, max_steps).unwrap(), instruction);
    }
}

/// A small task of programs: alphabet 5, x 1-2, y 0-2, z 4-8.
fn program_config(program: ProgramConfig) -> ExperimentConfig {
    let mut config = small_config(7);
    config.task.alphabet = 5;
    config.task.z_len = Span::new(4, 8);
    config.task.instructions = 24;
    config.task.noop_share = 0.2;
    config.task.program = program;
    config.model.max_len = 96;
    config
}

fn programs() -> Vec<ProgramConfig> {
    let base = ProgramConfig {
        rules: 2,
        ..ProgramConfig::default()
    };
    vec![
        base.clone(),
        ProgramConfig {
            answer: AnswerFormat::Trace,
            ..base.clone()
        },
        ProgramConfig {
            rules: 3,
            semantics: ProgramSemantics::Markov,
            max_steps: 4,
            answer: AnswerFormat::Trace,
            ..base.clone()
        },
        ProgramConfig {
            semantics: ProgramSemantics::Markov,
            terminal: Terminal::Last,
            max_steps: 3,
            ..base.clone()
        },
        ProgramConfig {
            rule_pool: 8,
            ..base.clone()
        },
        ProgramConfig {
            rules: 1,
            semantics: ProgramSemantics::Markov,
            max_steps: 3,
            ..base
        },
    ]
}

#[test]
fn every_example_is_its_program_applied_to_its_input_and_its_trace_ends_in_the_answer() {
    for program in programs() {
        let config = program_config(program.clone()).validate().unwrap();
        let data = Dataset::generate(&config).unwrap();
        let max_len = config.task.max_string_len();
        let splits = [
            (RuleSet::Train, &data.train),
            (data.seen.rules, &data.seen.examples),
            (data.unseen.rules, &data.unseen.examples),
            (data.noop.rules, &data.noop.examples),
            (data.composed.rules, &data.composed.examples),
        ];
        for (set, examples) in splits {
            for e in examples.iter() {
                let instruction = data.instruction(set, e.rule);
                assert_eq!(instruction.rules().len(), program.rules, "{program:?}");
                let run = instruction.run(&e.z, max_len).expect("drawn examples halt");
                assert_eq!(run.output, e.answer, "{instruction} on {}", e.z);
                assert_eq!(e.noop, instruction.is_noop_on(&e.z));
                let trace = run.trace(instruction, &e.z);
                assert_eq!(trace.last(), Some(&e.answer), "a trace ends in the answer");
                assert_eq!(trace[..trace.len() - 1], e.intermediate[..]);
                assert!(trace.len() <= program.max_trace_strings());
                let target = e.target(config.task.program.answer);
                assert!(target.ends_with(&e.answer));
                assert!(target.len() <= config.task.max_answer_len());
                assert!(config.task.z_len.contains(e.z.len()));
            }
        }
        assert!(data.noop.examples.iter().all(|e| e.noop));
        assert!(data.unseen.examples.iter().any(|e| !e.noop));
        if program.rules >= 2 {
            assert!(!data.composed.examples.is_empty(), "{program:?}");
        }
    }
}

#[test]
fn held_out_programs_never_reach_a_training_batch_and_composed_ones_reuse_seen_rules() {
    // A steep skew leaves some programs without examples: their rules are not seen.
    let mut skewed = program_config(programs()[0].clone());
    skewed.task.instructions = 100;
    skewed.task.frequency = RuleFrequency::PowerLaw { shape: 0.05 };
    let configs = programs().into_iter().map(program_config).chain([skewed]);
    for config in configs {
        let program = config.task.program.clone();
        let config = config.validate().unwrap();
        let data = Dataset::generate(&config).unwrap();
        let train_rules: HashSet<&Rule> = data
            .train_instructions
            .iter()
            .flat_map(|p| p.rules())
            .collect();
        let seen_rules: HashSet<&Rule> = data
            .train_instructions
            .iter()
            .zip(&data.train_counts)
            .filter(|&(_, &count)| count > 0)
            .flat_map(|(p, _)| p.rules())
            .collect();
        if config.task.frequency != RuleFrequency::Uniform {
            assert!(
                data.train_counts.contains(&0),
                "the skew leaves a program unseen"
            );
        }
        if program.rule_pool > 0 {
            assert_eq!(train_rules.len(), program.rule_pool);
        }
        for held_out in &data.test_instructions {
            assert!(
                held_out.rules().iter().all(|r| !train_rules.contains(r)),
                "{held_out} shares a rule with training"
            );
        }
        let trained: HashSet<&Instruction> = data.train_instructions.iter().collect();
        for composed in &data.composed_instructions {
            assert!(
                !trained.contains(composed),
                "{composed} is a training program"
            );
            assert!(composed.rules().iter().all(|r| seen_rules.contains(r)));
        }
        // The prompts of every batch of two epochs: each is a training program's, none a held-out
        // or composed one's.
        let layout = SequenceLayout::new(&config.task);
        let rules_of = |tokens: &[u32]| -> Vec<u32> {
            tokens[..tokens.iter().position(|&t| t == BAR).unwrap()].to_vec()
        };
        let encode = |i: &Instruction| rules_of(&layout.encode_prompt(i, "a"));
        let allowed: HashSet<Vec<u32>> = data.train_instructions.iter().map(encode).collect();
        let forbidden: HashSet<Vec<u32>> = data
            .test_instructions
            .iter()
            .chain(&data.composed_instructions)
            .map(encode)
            .collect();
        let batcher = Batcher { layout };
        let mut order = BatchOrder::new(config.seed, data.train.len(), config.train.sampling);
        let t = layout.sequence_len() - 1;
        for _ in 0..2 * data.train.len() / 32 {
            let batch = batcher.host_batch(&data, &order.next_batch(32));
            for row in batch.inputs.chunks(t) {
                let tokens: Vec<u32> = row.iter().map(|&t| t as u32).collect();
                let prompt = rules_of(&tokens);
                assert!(allowed.contains(&prompt));
                assert!(!forbidden.contains(&prompt));
            }
        }
    }
}

#[test]
fn programs_that_do_not_halt_are_rejected_and_counted() {
    // Rules that lengthen their input: many Markov programs never halt within 3 steps.
    let mut config = program_config(ProgramConfig {
        rules: 2,
        semantics: ProgramSemantics::Markov,
        max_steps: 3,
        ..ProgramConfig::default()
    });
    config.task.y_len = Span::new(1, 2);
    let data = Dataset::generate(&config.validate().unwrap()).unwrap();
    assert!(data.rejected.programs > 0, "{:?}", data.rejected);
    assert!(data.rejected.inputs > 0, "{:?}", data.rejected);
    // One step on 8 letters of a and b, with rules of one letter: almost no input is done after it.
    config.task.alphabet = 2;
    config.task.x_len = Span::new(1, 1);
    config.task.y_len = Span::new(2, 2);
    config.task.z_len = Span::new(8, 8);
    config.task.program.max_steps = 1;
    config.task.instructions = 2;
    config.eval.test_rules = 1;
    let err = Dataset::generate(&config.validate().unwrap()).unwrap_err();
    assert_eq!(err.setting, "task.program.max_steps", "{err}");
}

#[test]
fn impossible_program_settings_are_named() {
    let named = |edit: &dyn Fn(&mut ExperimentConfig)| {
        let mut config = program_config(ProgramConfig {
            rules: 2,
            ..ProgramConfig::default()
        });
        edit(&mut config);
        config.validate().err().map(|e| e.setting)
    };
    assert_eq!(named(&|_| {}), None);
    assert_eq!(
        named(&|c| c.task.program.terminal = Terminal::Last).as_deref(),
        Some("task.program.terminal")
    );
    assert_eq!(
        named(&|c| {
            c.task.program.rules = 1;
            c.task.program.answer = AnswerFormat::Trace;
        })
        .as_deref(),
        Some("task.program.answer")
    );
    assert_eq!(
        named(&|c| {
            c.task.program.rules = 1;
            c.task.program.rule_pool = 5;
        })
        .as_deref(),
        Some("task.program.rule_pool")
    );
    assert_eq!(
        named(&|c| c.task.program.rule_pool = 1).as_deref(),
        Some("task.program.rule_pool")
    );
    // 5 rules make 20 ordered pairs: not 24 programs.
    assert_eq!(
        named(&|c| c.task.program.rule_pool = 5).as_deref(),
        Some("task.program.rule_pool")
    );
    assert_eq!(
        named(&|c| c.task.occurrences = vec![1, 2]).as_deref(),
        Some("task.occurrences")
    );
    assert_eq!(
        named(&|c| {
            c.task.program.rules = 6;
            c.task.program.answer = AnswerFormat::Trace;
        })
        .as_deref(),
        Some("model.max_len")
    );
    assert_eq!(
        named(&|c| {
            c.task.alphabet = 2;
            c.task.x_len = Span::new(1, 1);
            c.task.y_len = Span::new(0, 0);
        })
        .as_deref(),
        Some("task.instructions")
    );
}

#[test]
fn a_run_of_programs_reports_the_composition_split_and_replays_from_its_seed() {
    let device = Device::flex();
    let mut config = program_config(ProgramConfig {
        rules: 2,
        answer: AnswerFormat::Trace,
        ..ProgramConfig::default()
    });
    config.train.steps = 60;
    config.train.eval_every = 60;
    let run = |config: &ExperimentConfig| {
        let mut run = Stack::new(&[config.validate().unwrap()], &device).unwrap();
        loop {
            let advance = pollster::block_on(run.advance(30)).unwrap();
            if advance.finished {
                break advance.evaluations[0]
                    .clone()
                    .expect("the last chunk evaluates");
            }
        }
    };
    let evaluation = run(&config);
    let composed = evaluation
        .composed
        .as_ref()
        .expect("programs have a composition split");
    assert_eq!(composed.all.total, config.eval.unseen_examples);
    assert!(evaluation.summary().composed_accuracy.is_some());
    assert!(
        evaluation
            .inside
            .as_ref()
            .is_some_and(|i| i.seen.examples == 0)
    );
    assert_eq!(run(&config).fingerprint(), evaluation.fingerprint());
}

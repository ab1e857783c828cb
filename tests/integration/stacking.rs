//! Runs trained as one stack train as they would alone, a run alone being a stack of one (issue
//! 17's first goal): the same data, initial weights and batch order bit for bit, per-run losses
//! within 1e-3 relative over the first 100 steps, final accuracies within 0.02, on the CPU backend
//! and on wgpu (llvmpipe in CI).

use super::training::{small_config, wgpu_device};
use burn::module::{Module, ModuleVisitor, Param};
use burn::prelude::*;
use instruction_diversity::engine::config::ValidConfig;
use instruction_diversity::engine::model::Transformer;
use instruction_diversity::engine::run::RunError;
use instruction_diversity::engine::stack::{Checkpoint, Stack, StackError, plan_stacks};

/// Three runs that differ in everything a stack lets differ (seed, rules, budget, no-op share),
/// with a gradient clip low enough to act, so that clipping per run is exercised.
fn three_runs(steps: usize) -> Vec<ValidConfig> {
    [(1, 16, 0.1), (2, 8, 0.3), (3, 32, 0.0)]
        .into_iter()
        .map(|(seed, rules, noop)| {
            let mut config = small_config(seed);
            config.model.layers = 1;
            config.task.instructions = rules;
            config.task.noop_share = noop;
            config.train.grad_clip = Some(0.5);
            config.train.steps = steps;
            config.train.eval_every = steps;
            config.validate().unwrap()
        })
        .collect()
}

/// Every parameter's values, in the module's order.
#[derive(Default)]
struct Values(Vec<Vec<f32>>);

impl ModuleVisitor for Values {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0
            .push(param.val().into_data().try_to_vec::<f32>().unwrap());
    }
}

fn values(model: &Transformer) -> Vec<Vec<f32>> {
    let mut values = Values::default();
    model.visit(&mut values);
    values.0
}

fn relative(a: f32, b: f32) -> f32 {
    (a - b).abs() / a.abs().max(b.abs()).max(1e-6)
}

/// The whole check on one device: `compared` steps one by one, then the rest to the end.
fn stacked_runs_train_as_alone(device: &Device, compared: usize, steps: usize) {
    let configs = three_runs(steps);
    let mut stack = Stack::new(&configs, device).unwrap();
    let mut alone: Vec<Stack> = configs
        .iter()
        .map(|c| Stack::new(std::slice::from_ref(c), device).unwrap())
        .collect();
    for (k, run) in alone.iter().enumerate() {
        assert_eq!(stack.dataset(k), run.dataset(0), "run {k}'s data");
        assert_eq!(
            values(&stack.inference_model(k)),
            values(&run.inference_model(0)),
            "run {k}'s initial weights"
        );
    }
    let mut worst = 0f32;
    for step in 0..compared {
        let together = pollster::block_on(stack.advance(1)).unwrap();
        for (k, run) in alone.iter_mut().enumerate() {
            let lone = pollster::block_on(run.advance(1)).unwrap().losses[0]
                .unwrap()
                .loss;
            let stacked = together.losses[k].expect("no run diverges").loss;
            let gap = relative(lone, stacked);
            assert!(
                gap <= 1e-3,
                "run {k} at step {step}: alone {lone}, stacked {stacked}"
            );
            worst = worst.max(gap);
        }
    }
    eprintln!("largest relative loss gap over {compared} steps: {worst:e}");
    let mut last = None;
    while !stack.is_finished() {
        last = Some(pollster::block_on(stack.advance(50)).unwrap());
    }
    let last = last.expect("steps remain after the compared ones");
    for (k, run) in alone.iter_mut().enumerate() {
        let lone = loop {
            let advance = pollster::block_on(run.advance(50)).unwrap();
            if advance.finished {
                break advance.evaluations[0].as_ref().unwrap().summary();
            }
        };
        let stacked = last.evaluations[k].as_ref().unwrap().summary();
        eprintln!(
            "run {k}: seen {:.3} / {:.3}, unseen {:.3} / {:.3} (alone / stacked)",
            lone.seen_accuracy,
            stacked.seen_accuracy,
            lone.unseen_accuracy,
            stacked.unseen_accuracy
        );
        assert!((lone.seen_accuracy - stacked.seen_accuracy).abs() <= 0.02);
        assert!((lone.unseen_accuracy - stacked.unseen_accuracy).abs() <= 0.02);
        assert!((lone.noop_accuracy - stacked.noop_accuracy).abs() <= 0.02);
    }
}

#[test]
fn stacked_runs_train_as_they_would_alone_on_the_cpu() {
    stacked_runs_train_as_alone(&Device::flex(), 100, 200);
}

#[test]
fn stacked_runs_train_as_they_would_alone_on_wgpu() {
    let Some((device, _gpu)) = wgpu_device("stacked_runs_train_as_they_would_alone_on_wgpu") else {
        return;
    };
    stacked_runs_train_as_alone(&device, 100, 110);
}

/// A stack's checkpoint (one file) resumes as the stack would have gone on, bit for bit.
#[test]
fn a_resumed_stack_goes_on_exactly_as_it_would_have() {
    let configs = three_runs(12);
    let losses = |stack: &mut Stack, steps: usize| -> Vec<Vec<f32>> {
        (0..steps)
            .map(|_| {
                pollster::block_on(stack.advance(1))
                    .unwrap()
                    .losses
                    .iter()
                    .map(|l| l.unwrap().loss)
                    .collect()
            })
            .collect()
    };
    let mut straight = Stack::new(&configs, &Device::flex()).unwrap();
    let expected = losses(&mut straight, 12);
    let mut first = Stack::new(&configs, &Device::flex()).unwrap();
    let mut got = losses(&mut first, 5);
    let bytes = pollster::block_on(first.checkpoint()).unwrap().to_bytes();
    drop(first);
    let saved = Checkpoint::from_bytes(&bytes).unwrap();
    assert_eq!(saved.metas.len(), 3);
    let mut resumed = Stack::resume(saved, &Device::flex()).unwrap();
    assert_eq!(resumed.step(), 5);
    got.extend(losses(&mut resumed, 7));
    assert_eq!(got, expected);
    // A cut file is refused, not half-read; so is one with a byte changed anywhere (its weights
    // would otherwise train on, wrong).
    assert!(Checkpoint::from_bytes(&bytes[..bytes.len() - 3]).is_err());
    for at in [30, bytes.len() / 2, bytes.len() - 10] {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        match Checkpoint::from_bytes(&damaged) {
            Err(e) => assert!(
                e.to_string().contains("damaged") || e.to_string().contains("unreadable"),
                "{e}"
            ),
            Ok(_) => panic!("a damaged checkpoint at byte {at} was read"),
        }
    }
}

/// Runs that differ in what a stack shares are refused together, with the difference named, and
/// the planner never puts them in one stack.
#[test]
fn runs_that_cannot_stack_are_named_and_planned_apart() {
    let mut configs = three_runs(20);
    let mut wider = configs[0].raw().clone();
    wider.model.width = 64;
    let mut faster = configs[0].raw().clone();
    faster.train.learning_rate = 1e-2;
    let mut other_alphabet = configs[0].raw().clone();
    other_alphabet.task.alphabet += 1;
    for (other, what) in [
        (wider, "model settings"),
        (faster, "training settings"),
        (other_alphabet, "sequence format"),
    ] {
        let pair = [configs[1].clone(), other.validate().unwrap()];
        match Stack::new(&pair, &Device::flex()) {
            Err(RunError::Stack(StackError::Mismatch { index: 1, what: w })) => assert_eq!(w, what),
            Err(other) => panic!("{what}: {other}"),
            Ok(_) => panic!("{what}: runs that differ stacked"),
        }
        configs.push(pair[1].clone());
    }
    assert!(matches!(
        Stack::new(&[], &Device::flex()),
        Err(RunError::Stack(StackError::Empty))
    ));
    // Six runs: three that stack, three of their own kinds. Two workers: the three are dealt
    // into two stacks, each other run is a stack of one.
    let stacks = plan_stacks(&configs, 2, 16);
    assert_eq!(stacks, vec![vec![0, 2], vec![1], vec![3], vec![4], vec![5]]);
    assert_eq!(plan_stacks(&configs[..3], 1, 16), vec![vec![0, 1, 2]]);
    // No stack grows past its cap: one worker, stacks of at most 2.
    assert_eq!(plan_stacks(&configs[..3], 1, 2), vec![vec![0, 2], vec![1]]);
    assert_eq!(
        plan_stacks(&configs[..3], 8, 16),
        vec![vec![0], vec![1], vec![2]]
    );
}

/// One stacked decoding gives each run the answers its own model gives, with runs of unequal
/// evaluation sizes (the rows that fill the shorter runs are dropped). Kernels may round in
/// another order, so a near tie could flip: at least 99% of answers must agree, and every count.
#[test]
fn a_stacked_evaluation_gives_each_run_its_own_answers() {
    use instruction_diversity::engine::eval::evaluate;
    let mut configs = three_runs(40);
    let mut fewer = configs[1].raw().clone();
    fewer.eval.seen_examples = 20;
    fewer.eval.unseen_examples = 300;
    configs[1] = fewer.validate().unwrap();
    let device = Device::flex();
    let mut stack = Stack::new(&configs, &device).unwrap();
    let advance = pollster::block_on(stack.advance(40)).unwrap();
    assert!(advance.finished);
    for k in 0..3 {
        let together = advance.evaluations[k].as_ref().unwrap();
        let alone = pollster::block_on(evaluate(
            &stack.inference_model(k),
            stack.layout(),
            &[stack.dataset(k)],
            stack.step(),
            &[None],
            &device,
        ))
        .unwrap()
        .remove(0);
        for (a, b) in [
            (&alone.seen, &together.seen),
            (&alone.unseen, &together.unseen),
            (&alone.noop, &together.noop),
        ] {
            assert_eq!(
                a.predictions.len(),
                b.predictions.len(),
                "run {k} {}",
                a.name
            );
            assert!(!a.predictions.is_empty());
            let same = a
                .predictions
                .iter()
                .zip(&b.predictions)
                .filter(|(x, y)| x.output == y.output && x.z == y.z)
                .count();
            assert!(
                same * 100 >= a.predictions.len() * 99,
                "run {k} {}: {same} of {} answers agree",
                a.name,
                a.predictions.len()
            );
        }
    }
}

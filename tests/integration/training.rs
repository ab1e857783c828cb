//! Training on the CPU backend: determinism, overfitting one batch, a short run learning.

use burn::prelude::*;
use instruction_diversity::engine::config::{Budget, ExperimentConfig, ModelConfig, Span};
use instruction_diversity::engine::stack::Stack;
use instruction_diversity::engine::task::{Dataset, Rule};
use instruction_diversity::engine::train::Trainer;

/// A run alone: a stack of one.
fn run_of(config: &ExperimentConfig, device: &Device) -> Stack {
    Stack::new(&[config.validate().unwrap()], device).unwrap()
}

/// A trainer of one run and its data.
fn trainer_of(config: &ExperimentConfig) -> (Trainer, [Dataset; 1]) {
    let config = config.validate().unwrap();
    let datasets = [Dataset::generate(&config).unwrap()];
    let trainer = Trainer::new(&[config], &datasets, &Device::flex()).unwrap();
    (trainer, datasets)
}

/// The one loss of a one-run trainer's chunk.
fn scalar(loss: Tensor<1>) -> f32 {
    loss.into_data().try_to_vec::<f32>().unwrap()[0]
}

/// A small task and model that train in seconds on one core.
pub(super) fn small_config(seed: u64) -> ExperimentConfig {
    let mut config = ExperimentConfig {
        seed,
        ..ExperimentConfig::default()
    };
    config.task.alphabet = 4;
    config.task.x_len = Span::new(1, 2);
    config.task.y_len = Span::new(0, 2);
    config.task.z_len = Span::new(3, 6);
    config.task.instructions = 16;
    config.task.budget = Budget::Total(512);
    config.model = ModelConfig {
        layers: 2,
        width: 32,
        heads: 4,
        ff_width: 64,
        max_len: 24,
        ..ModelConfig::default()
    };
    config.train.batch_size = 32;
    config.train.steps = 200;
    config.train.warmup_steps = 10;
    config.train.learning_rate = 3e-3;
    config.train.eval_every = 200;
    config.eval.test_rules = 8;
    config.eval.seen_examples = 64;
    config.eval.unseen_examples = 64;
    config.eval.noop_examples = 32;
    config
}

fn first_losses(config: &ExperimentConfig, steps: usize) -> Vec<f32> {
    let (mut trainer, datasets) = trainer_of(config);
    (0..steps)
        .map(|_| scalar(trainer.train_chunk(&datasets, 1).1))
        .collect()
}

/// The losses of `run`'s next `steps` steps, one step per call.
fn step_losses(run: &mut Stack, steps: usize) -> Vec<f32> {
    (0..steps)
        .map(|_| {
            pollster::block_on(run.advance(1)).unwrap().losses[0]
                .unwrap()
                .loss
        })
        .collect()
}

#[test]
fn same_seed_gives_identical_data_and_first_losses_other_seed_differs() {
    let a = small_config(11);
    let b = small_config(11);
    assert_eq!(
        Dataset::generate(&a.validate().unwrap()).unwrap(),
        Dataset::generate(&b.validate().unwrap()).unwrap()
    );
    let losses_a = first_losses(&a, 5);
    let losses_b = first_losses(&b, 5);
    assert_eq!(losses_a, losses_b, "same seed must replay bit for bit");
    let other = first_losses(&small_config(12), 5);
    assert_ne!(losses_a, other);
}

#[test]
fn overfits_one_small_batch_to_near_zero_loss() {
    let mut config = small_config(3);
    // One batch that is the whole training set: every step sees the same 32 examples.
    config.task.instructions = 4;
    config.task.budget = Budget::Total(32);
    config.train.steps = 300;
    config.train.weight_decay = 0.0;
    config.train.final_lr_ratio = 1.0;
    let (mut trainer, datasets) = trainer_of(&config);
    let first = scalar(trainer.train_chunk(&datasets, 1).1);
    scalar(trainer.train_chunk(&datasets, 290).1);
    let last = scalar(trainer.train_chunk(&datasets, 9).1);
    assert!(first > 1.0, "initial loss {first} should be near ln(vocab)");
    assert!(last < 0.05, "loss after 300 steps on one batch: {last}");
}

#[test]
fn a_short_run_learns_and_reports_accuracy() {
    let config = small_config(5);
    let mut run = run_of(&config, &Device::flex());
    let mut losses = Vec::new();
    let mut last_eval = None;
    loop {
        let advance = pollster::block_on(run.advance(20)).unwrap();
        losses.push(advance.losses[0].unwrap().loss);
        if let Some(e) = advance.evaluations[0].clone() {
            last_eval = Some(e);
        }
        if advance.finished {
            break;
        }
    }
    assert_eq!(run.step(), 200);
    let head: f32 = losses[..2].iter().sum::<f32>() / 2.0;
    let tail: f32 = losses[losses.len() - 2..].iter().sum::<f32>() / 2.0;
    assert!(tail < 0.6 * head, "loss should fall: {head} -> {tail}");
    let evaluation = last_eval.expect("the final chunk evaluates");
    assert_eq!(evaluation.step, 200);
    assert_eq!(evaluation.seen.all.total, 64);
    assert_eq!(evaluation.unseen.all.total, 64);
    assert_eq!(evaluation.noop.all.total, 32);
    // After 200 steps on 16 rules the model copies no-op inputs much better than chance.
    assert!(
        evaluation.summary().seen_accuracy > 0.2,
        "{:?}",
        evaluation.summary()
    );
    assert_eq!(run.evaluations(0).len(), 1);
}

#[test]
fn invalid_settings_are_rejected_before_any_work() {
    let mut config = small_config(1);
    config.task.instructions = 5000;
    // A run takes only validated settings: these cannot become one.
    let error = config.validate().unwrap_err();
    assert_eq!(
        error.setting, "task.budget",
        "5000 rules cannot fit a 512-example budget"
    );
}

#[test]
fn a_typed_question_gets_the_greedy_answer_and_attention_of_every_head() {
    use instruction_diversity::engine::eval::{answer_question, greedy_decode};
    use instruction_diversity::engine::question::{RuleOrigin, check_question};
    let config = small_config(3);
    let run = run_of(&config, &Device::flex());
    let (model, device, layout) = (
        run.inference_model(0),
        run.inference_device(),
        *run.layout(),
    );
    let question = check_question(&config.task, "ab", "c", "dabba").unwrap();
    let answer = pollster::block_on(answer_question(
        &model,
        &layout,
        &question,
        RuleOrigin::New,
        0,
        &device,
    ))
    .unwrap();
    assert_eq!(answer.expected, "dcba");
    // The answer is what batched greedy decoding writes for the same prompt.
    let prompt = layout.encode_prompt(&Rule::new("ab", "c").into(), "dabba");
    let tokens = pollster::block_on(greedy_decode(&model, &layout, &[vec![prompt]], &device))
        .unwrap()
        .remove(0);
    assert_eq!(answer.output, layout.render_answer(&tokens[0]));
    assert_eq!(
        answer.correct,
        layout.decode_answer(&tokens[0]).as_deref() == Some("dcba")
    );
    let map = &answer.attention;
    let rows = map.rows.len();
    assert!((1..=layout.answer_width).contains(&rows));
    assert_eq!(map.prompt_len, layout.prompt_len());
    assert_eq!(map.columns.len(), layout.prompt_len() + rows - 1);
    assert_eq!((map.layers, map.heads), (2, 4));
    assert_eq!(map.weights.len(), 2 * 4 * rows * map.columns.len());
    assert_eq!(map.columns[0], "^");
    for layer in 0..2 {
        for head in 0..4 {
            for row in 0..rows {
                // Softmax rows sum to 1 and never look ahead of their own position.
                let query = layout.prompt_len() - 1 + row;
                let sum: f32 = (0..map.columns.len())
                    .map(|c| map.weight(layer, head, row, c))
                    .sum();
                assert!((sum - 1.0).abs() < 1e-4, "row sums to {sum}");
                for column in query + 1..map.columns.len() {
                    assert_eq!(map.weight(layer, head, row, column), 0.0);
                }
            }
        }
    }
}

#[test]
fn a_resumed_checkpoint_goes_on_exactly_as_the_run_would_have() {
    let mut config = small_config(11);
    config.train.steps = 24;
    config.train.eval_every = 24;
    let mut straight = run_of(&config, &Device::flex());
    let expected = step_losses(&mut straight, 24);

    let mut first = run_of(&config, &Device::flex());
    let head = step_losses(&mut first, 10);
    let checkpoint = pollster::block_on(first.checkpoint()).unwrap();
    assert_eq!(checkpoint.step(), 10);
    assert_eq!(checkpoint.metas[0].losses.len(), 10);
    // Through the file's bytes, as the browser and the CLI keep it.
    let checkpoint =
        instruction_diversity::engine::checkpoint::Checkpoint::from_bytes(&checkpoint.to_bytes())
            .unwrap();
    drop(first);
    let mut resumed = Stack::resume(checkpoint, &Device::flex()).unwrap();
    assert_eq!(resumed.step(), 10);
    let tail = step_losses(&mut resumed, 14);
    let got: Vec<f32> = head.into_iter().chain(tail).collect();
    for (step, (a, b)) in expected.iter().zip(&got).enumerate() {
        assert!(
            (a - b).abs() <= 1e-5 * a.abs().max(1.0),
            "step {}: {a} vs {b}",
            step + 1
        );
    }
    assert!(resumed.is_finished());
    assert_eq!(resumed.losses(0).len(), 24);
    // A damaged checkpoint is a checkpoint error naming what is damaged, not a panic and not a
    // failure of the backend.
    use instruction_diversity::engine::checkpoint::{Checkpoint, CheckpointError};
    use instruction_diversity::engine::run::RunError;
    let saved = pollster::block_on(straight.checkpoint()).unwrap();
    let broken_model = Checkpoint {
        model: vec![1, 2, 3],
        ..saved.clone()
    };
    let Err(error) = Stack::resume(broken_model, &Device::flex()) else {
        panic!("a damaged model resumed");
    };
    assert!(
        matches!(error, RunError::Checkpoint(CheckpointError::Model(_))),
        "{error}"
    );
    assert!(error.to_string().contains("saved model"), "{error}");
    let broken_optimizer = Checkpoint {
        optimizer: vec![9; 16],
        ..saved
    };
    let Err(error) = Stack::resume(broken_optimizer, &Device::flex()) else {
        panic!("a damaged optimizer state resumed");
    };
    assert!(
        matches!(error, RunError::Checkpoint(CheckpointError::Optimizer(_))),
        "{error}"
    );
}

/// The wgpu device, with a guard that keeps the other wgpu tests waiting until this one ends, or
/// `None` (with a line saying the test is skipped) where no adapter exists. `.ci/run` sets
/// `IDP_REQUIRE_WGPU=1`, which makes a missing adapter a failure: CI always runs the wgpu tests, on
/// Mesa's llvmpipe.
///
/// The device is set up once per process and shared: burn's wgpu runtime is set up once, and a
/// second set-up in the same process fails (which read as "no adapter" when two wgpu tests ran).
pub(super) fn wgpu_device(test: &str) -> Option<(Device, std::sync::MutexGuard<'static, ()>)> {
    static DEVICE: std::sync::OnceLock<Option<Device>> = std::sync::OnceLock::new();
    static IN_USE: std::sync::Mutex<()> = std::sync::Mutex::new(());
    // A test that failed while holding the guard leaves it poisoned; the device is still fine.
    let guard = IN_USE.lock().unwrap_or_else(|e| e.into_inner());
    let found = DEVICE.get_or_init(|| {
        // Some drivers panic instead of returning an error.
        std::panic::catch_unwind(|| Device::wgpu_options().init_with_setup())
            .ok()
            .and_then(Result::ok)
            .map(|(device, _)| device)
    });
    match found {
        Some(device) => Some((device.clone(), guard)),
        _ if std::env::var_os("IDP_REQUIRE_WGPU").is_some() => panic!(
            "{test}: no wgpu adapter, and IDP_REQUIRE_WGPU is set (apt-get install libgl1-mesa-dri libegl1)"
        ),
        _ => {
            eprintln!(
                "skipped {test}: no wgpu adapter on this machine (set IDP_REQUIRE_WGPU=1 to fail instead)"
            );
            None
        }
    }
}

/// The checkpoint of a run on the wgpu backend (Mesa's llvmpipe here, WebGPU in a browser) is read
/// back asynchronously, and the resumed run's losses equal the uninterrupted run's bit for bit.
#[test]
fn a_resumed_wgpu_checkpoint_goes_on_exactly_as_the_run_would_have() {
    let Some((device, _gpu)) =
        wgpu_device("a_resumed_wgpu_checkpoint_goes_on_exactly_as_the_run_would_have")
    else {
        return;
    };
    let mut config = small_config(5);
    config.model.layers = 1;
    config.train.steps = 12;
    config.train.warmup_steps = 2;
    config.train.eval_every = 12;
    let mut straight = run_of(&config, &device);
    let expected = step_losses(&mut straight, 12);
    let mut first = run_of(&config, &device);
    let mut got = step_losses(&mut first, 5);
    let checkpoint = pollster::block_on(first.checkpoint()).unwrap();
    drop(first);
    let mut resumed = Stack::resume(checkpoint, &device).unwrap();
    got.extend(step_losses(&mut resumed, 7));
    assert_eq!(got, expected);
}

/// Prompts of several lengths (the packed format) decode together as each decodes alone: a row's
/// answer never depends on the padding after a shorter prompt, nor on the other rows.
#[test]
fn packed_prompts_of_several_lengths_decode_together_as_each_alone() {
    use instruction_diversity::engine::config::{Init, SequenceFormat};
    use instruction_diversity::engine::eval::greedy_decode;
    let mut config = small_config(4);
    config.task.format = SequenceFormat::Packed;
    config.model.init = Init::Pytorch;
    let run = run_of(&config, &Device::flex());
    let (model, device, layout) = (
        run.inference_model(0),
        run.inference_device(),
        *run.layout(),
    );
    let prompts: Vec<Vec<u32>> = [
        ("a", "", "abc"),
        ("ab", "cd", "dabba"),
        ("b", "a", "cbcdab"),
    ]
    .iter()
    .map(|(x, y, z)| layout.encode_prompt(&Rule::new(*x, *y).into(), z))
    .collect();
    assert!(
        prompts[0].len() < prompts[2].len(),
        "the prompts differ in length"
    );
    let together = pollster::block_on(greedy_decode(
        &model,
        &layout,
        std::slice::from_ref(&prompts),
        &device,
    ))
    .unwrap()
    .remove(0);
    for (prompt, answer) in prompts.iter().zip(&together) {
        let alone = pollster::block_on(greedy_decode(
            &model,
            &layout,
            &[vec![prompt.clone()]],
            &device,
        ))
        .unwrap()
        .remove(0);
        assert_eq!(&alone[0], answer);
        assert_eq!(answer.len(), layout.answer_width);
    }
}

/// Every choice the fidelity study compares trains: PyTorch's initialisation, packed sequences,
/// overwritten inputs and batches drawn with replacement, alone and together. A short run's loss
/// falls and its evaluation scores every example.
#[test]
fn each_fidelity_choice_trains_and_replays_from_its_seed() {
    use instruction_diversity::engine::config::{
        BatchSampling, Init, InputSampling, SequenceFormat,
    };
    let variants: [fn(&mut ExperimentConfig); 5] = [
        |c| c.model.init = Init::Pytorch,
        |c| c.task.format = SequenceFormat::Packed,
        |c| c.task.inputs = InputSampling::Overwrite,
        |c| c.train.sampling = BatchSampling::Replacement,
        |c| {
            c.model.init = Init::Pytorch;
            c.task.format = SequenceFormat::Packed;
            c.task.inputs = InputSampling::Overwrite;
            c.train.sampling = BatchSampling::Replacement;
        },
    ];
    for (k, variant) in variants.iter().enumerate() {
        let mut config = small_config(7);
        config.train.steps = 120;
        config.train.eval_every = 120;
        variant(&mut config);
        assert_eq!(
            first_losses(&config, 3),
            first_losses(&config, 3),
            "variant {k}"
        );
        let mut run = run_of(&config, &Device::flex());
        let first = pollster::block_on(run.advance(10)).unwrap().losses[0]
            .unwrap()
            .loss;
        let last = loop {
            let advance = pollster::block_on(run.advance(30)).unwrap();
            if advance.finished {
                let loss = advance.losses[0].unwrap().loss;
                break advance.evaluations[0].clone().map(|e| (loss, e));
            }
        };
        let (loss, evaluation) = last.expect("the last chunk evaluates");
        assert!(loss < 0.8 * first, "variant {k}: loss {first} -> {loss}");
        assert_eq!(evaluation.seen.all.total, 64, "variant {k}");
        assert_eq!(evaluation.unseen.all.total, 64, "variant {k}");
    }
}

/// Interim evaluations score the first examples of each split (cheap enough to run often); the last
/// evaluation always scores the whole sets.
#[test]
fn interim_evaluations_use_the_first_examples_and_the_last_the_whole_sets() {
    let mut config = small_config(4);
    config.train.steps = 60;
    config.train.eval_every = 20;
    config.eval.interim_examples = 8;
    let mut run = run_of(&config, &Device::flex());
    let mut sizes = Vec::new();
    loop {
        let advance = pollster::block_on(run.advance(20)).unwrap();
        if let Some(e) = &advance.evaluations[0] {
            sizes.push((
                e.step,
                e.seen.all.total,
                e.unseen.all.total,
                e.noop.all.total,
            ));
        }
        if advance.finished {
            break;
        }
    }
    assert_eq!(sizes, [(20, 8, 8, 8), (40, 8, 8, 8), (60, 64, 64, 32)]);
}

/// The fused CPU kernels (`engine::kernels`) train the model as burn's own ops do: over 50 steps of
/// the reference model (three runs stacked, with gradient clipping that acts), every run's loss
/// stays within 1e-4 relative of the decomposed model's, and a fused run evaluates alike.
#[test]
fn the_fused_kernels_train_as_burns_own_ops_over_fifty_steps() {
    use instruction_diversity::engine::kernels;
    use instruction_diversity::study::presets::reference_config;
    let configs: Vec<_> = (1..=3u64)
        .map(|seed| {
            let mut config = reference_config();
            config.seed = seed;
            config.train.steps = 50;
            config.train.warmup_steps = 5;
            config.train.eval_every = 50;
            config.train.grad_clip = Some(0.5);
            config.validate().unwrap()
        })
        .collect();
    let losses = |fused: bool| -> (Vec<Vec<f32>>, Vec<f64>) {
        kernels::set_enabled(fused);
        let mut stack = Stack::new(&configs, &Device::flex()).unwrap();
        let mut losses = Vec::new();
        let mut last = None;
        for _ in 0..50 {
            let advance = pollster::block_on(stack.advance(1)).unwrap();
            losses.push(advance.losses.iter().map(|l| l.unwrap().loss).collect());
            if advance.finished {
                last = Some(advance.evaluations);
            }
        }
        kernels::set_enabled(true);
        let accuracies = last
            .unwrap()
            .into_iter()
            .map(|e| e.unwrap().summary().seen_accuracy)
            .collect();
        (losses, accuracies)
    };
    let (decomposed, decomposed_accuracy) = losses(false);
    let (fused, fused_accuracy) = losses(true);
    let mut worst = 0f32;
    for (step, (a, b)) in decomposed.iter().zip(&fused).enumerate() {
        for (k, (a, b)) in a.iter().zip(b).enumerate() {
            let gap = (a - b).abs() / a.abs().max(1e-6);
            worst = worst.max(gap);
            assert!(
                gap <= 1e-4,
                "run {k} at step {}: burn's ops {a}, fused {b}",
                step + 1
            );
        }
    }
    eprintln!("largest relative loss gap over 50 steps: {worst:e}");
    for (a, b) in decomposed_accuracy.iter().zip(&fused_accuracy) {
        assert!((a - b).abs() <= 0.02, "seen accuracy {a} vs {b}");
    }
    // The switch is real: the fused losses are not bit for bit burn's (else this test proves nothing).
    assert_ne!(decomposed, fused);
}

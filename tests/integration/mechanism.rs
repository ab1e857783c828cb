//! Head scores on hand-made attention, ablation, and what a run records of its inside.

use super::training::small_config;
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::TensorData;
use instruction_diversity::engine::config::{SequenceFormat, Span, TaskConfig};
use instruction_diversity::engine::eval::{HeadBatch, evaluate_ablated, greedy_decode};
use instruction_diversity::engine::mechanism::{Measure, sources};
use instruction_diversity::engine::model::{Ablation, Transformer};
use instruction_diversity::engine::stack::Stack;
use instruction_diversity::engine::task::Rule;
use instruction_diversity::engine::tokenizer::SequenceLayout;

fn layout(format: SequenceFormat) -> SequenceLayout {
    SequenceLayout::new(&TaskConfig {
        alphabet: 5,
        x_len: Span::new(1, 2),
        y_len: Span::new(0, 2),
        z_len: Span::new(2, 5),
        format,
        ..TaskConfig::default()
    })
}

/// Attention `[1, B, 3, T, T]` of one layer for the rows of `examples`: head 0 puts all its weight
/// on each answer letter's source, head 1 on the first token, head 2 spreads it over the `x` field.
fn hand_made(
    layout: &SequenceLayout,
    examples: &[(usize, &Rule, &str)],
    device: &Device,
) -> Tensor<5> {
    let t = layout.sequence_len();
    let b = examples.len();
    let mut w = vec![0f32; b * 3 * t * t];
    let at = |row: usize, head: usize, q: usize, k: usize| ((row * 3 + head) * t + q) * t + k;
    for (row, &(_, rule, z)) in examples.iter().enumerate() {
        let (entries, _) = sources(layout, rule, z);
        let fields = layout.fields(rule.x.len(), rule.y.len(), z.len());
        for q in 0..t {
            let source = entries
                .iter()
                .find(|e| e.query == q && e.measure != Measure::MatchX)
                .map_or(0, |e| e.key);
            w[at(row, 0, q, source)] = 1.0;
            w[at(row, 1, q, 0)] = 1.0;
            for k in fields.x.clone() {
                w[at(row, 2, q, k)] = 1.0 / fields.x.len() as f32;
            }
        }
    }
    Tensor::from_data(TensorData::new(w, [1, b, 3, t, t]), device)
}

#[test]
fn a_head_that_attends_exactly_to_the_source_scores_one() {
    let device = Device::flex();
    let rules = [
        Rule::new("ab", "c"),
        Rule::new("b", ""),
        Rule::new("e", "dd"),
        Rule::new("cc", "a"),
    ];
    for format in [SequenceFormat::Fields, SequenceFormat::Packed] {
        let layout = layout(format);
        // Seen: matches in the middle, at the end, a deletion; held-out: a no-op and a match.
        let examples: Vec<(usize, &Rule, &str)> = vec![
            (0, &rules[0], "cabd"),
            (0, &rules[1], "aab"),
            (0, &rules[0], "abab"),
            (1, &rules[2], "abcd"),
            (1, &rules[3], "bccd"),
            (1, &rules[2], "ee"),
        ];
        let batch = HeadBatch::new(&layout, std::slice::from_ref(&examples), &device);
        let [seen, unseen] =
            pollster::block_on(batch.score(vec![hand_made(&layout, &examples, &device)]))
                .unwrap()
                .remove(0);
        assert_eq!((seen.layers, seen.heads, seen.examples), (1, 3, 3));
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        for scores in [&seen, &unseen] {
            let copy = scores.of(Measure::Copy).unwrap();
            let substitute = scores.of(Measure::Substitute).unwrap();
            let match_x = scores.of(Measure::MatchX).unwrap();
            assert!(
                close(copy[0], 1.0) && close(substitute[0], 1.0),
                "{scores:?}"
            );
            assert!(close(match_x[0], 0.0), "{scores:?}");
            assert!(close(copy[1], 0.0) && close(substitute[1], 0.0) && close(match_x[1], 0.0));
            assert!(close(copy[2], 0.0) && close(substitute[2], 0.0) && close(match_x[2], 1.0));
            assert_eq!(
                scores.best(Measure::MatchX).map(|b| (b.0, b.1)),
                Some((0, 2))
            );
        }
    }
}

#[test]
fn a_split_without_substitutions_has_no_substitution_score() {
    let device = Device::flex();
    let layout = layout(SequenceFormat::Fields);
    let deletion = Rule::new("a", "");
    let examples = vec![(0, &deletion, "bab"), (1, &deletion, "bcd")];
    let batch = HeadBatch::new(&layout, std::slice::from_ref(&examples), &device);
    let [seen, unseen] =
        pollster::block_on(batch.score(vec![hand_made(&layout, &examples, &device)]))
            .unwrap()
            .remove(0);
    assert!(seen.of(Measure::Substitute).is_none());
    assert!(seen.of(Measure::Copy).is_some() && seen.of(Measure::MatchX).is_some());
    // A no-op alone: nothing to match.
    assert!(unseen.of(Measure::MatchX).is_none() && unseen.of(Measure::Substitute).is_none());
}

/// Zeroes the value projection of one head of one layer: the head then writes nothing.
fn mute_values(model: Transformer, layer: usize, head: usize) -> Transformer {
    let mut model = model;
    let attn = &mut model.blocks[layer].attn;
    let [k, d, three_d] = attn.qkv.weight.val().dims();
    let s = d / attn.heads;
    let columns = 2 * d + head * s..2 * d + (head + 1) * s;
    let device = attn.qkv.weight.val().device();
    let mut weight = attn
        .qkv
        .weight
        .val()
        .into_data()
        .try_to_vec::<f32>()
        .unwrap();
    let mut bias = attn.qkv.bias.val().into_data().try_to_vec::<f32>().unwrap();
    for (i, w) in weight.iter_mut().enumerate() {
        if columns.contains(&(i % three_d)) {
            *w = 0.0;
        }
    }
    for (i, b) in bias.iter_mut().enumerate() {
        if columns.contains(&(i % three_d)) {
            *b = 0.0;
        }
    }
    attn.qkv.weight = Param::from_tensor(Tensor::from_data(
        TensorData::new(weight, [k, d, three_d]),
        &device,
    ));
    attn.qkv.bias = Param::from_tensor(Tensor::from_data(
        TensorData::new(bias, [k, three_d]),
        &device,
    ));
    model
}

#[test]
fn silencing_a_head_that_carries_nothing_changes_nothing_and_a_working_one_changes_answers() {
    let config = small_config(5).validate().unwrap();
    let mut stack = Stack::new(&[config], &Device::flex()).unwrap();
    pollster::block_on(stack.advance(200)).unwrap();
    let (device, layout) = (stack.inference_device(), *stack.layout());
    let model = mute_values(stack.inference_model(0), 1, 2);
    let dataset = stack.dataset(0);
    let evaluate = |ablation: &Ablation| {
        pollster::block_on(evaluate_ablated(
            &model,
            ablation,
            &layout,
            &[dataset],
            0,
            &[None],
            &device,
        ))
        .unwrap()
        .remove(0)
    };
    let whole = evaluate(&Ablation::none());
    let silent = Ablation::parse("1.2", 2, 4).unwrap();
    assert_eq!(evaluate(&silent), whole, "the muted head carried nothing");
    let tokens = layout
        .encode_example(&Rule::new("ab", "c").into(), "dabba", "dcba")
        .tokens;
    let input = Tensor::<3, Int>::from_data(
        TensorData::new(
            tokens.iter().map(|&t| i64::from(t)).collect::<Vec<_>>(),
            [1, 1, tokens.len()],
        ),
        &device,
    );
    let logits = |ablation: &Ablation| {
        model
            .forward_ablated(input.clone(), ablation)
            .0
            .into_data()
            .try_to_vec::<f32>()
            .unwrap()
    };
    assert_eq!(logits(&silent), logits(&Ablation::none()));
    // Every head of the first layer silenced: the answers can no longer read the prompt.
    let all = Ablation::parse("0.0,0.1,0.2,0.3", 2, 4).unwrap();
    assert_ne!(logits(&all), logits(&Ablation::none()));
    let gutted = evaluate(&all);
    assert_ne!(
        gutted.seen.predictions, whole.seen.predictions,
        "silencing the first layer must change some answer"
    );
    // greedy_decode is the decoding of the empty ablation.
    let prompt = layout.encode_prompt(&Rule::new("ab", "c").into(), "dabba");
    assert_eq!(
        pollster::block_on(greedy_decode(
            &model,
            &layout,
            &[vec![prompt.clone()]],
            &device
        ))
        .unwrap(),
        pollster::block_on(instruction_diversity::engine::eval::greedy_decode_ablated(
            &model,
            &Ablation::none(),
            &layout,
            &[vec![prompt]],
            &device
        ))
        .unwrap()
    );
}

#[test]
fn every_evaluation_records_head_scores_and_a_projection_and_checkpoints_keep_them() {
    let mut config = small_config(9);
    config.train.eval_every = 100;
    let config = config.validate().unwrap();
    let mut stack = Stack::new(std::slice::from_ref(&config), &Device::flex()).unwrap();
    while !stack.is_finished() {
        pollster::block_on(stack.advance(100)).unwrap();
    }
    let inside = stack.inside(0);
    assert_eq!(inside.len(), stack.evaluations(0).len());
    assert_eq!(
        inside.iter().map(|i| i.step).collect::<Vec<_>>(),
        vec![100, 200]
    );
    let layout = stack.layout();
    for i in inside {
        for scores in [&i.seen, &i.unseen] {
            assert_eq!((scores.layers, scores.heads), (2, 4));
            assert!(scores.examples > 0);
            for measure in Measure::ALL {
                let values = scores.of(measure).expect("the small task has every case");
                assert_eq!(values.len(), 8);
                assert!(
                    values.iter().all(|v| (0.0..=1.0 + 1e-5).contains(v)),
                    "{values:?}"
                );
            }
        }
        assert_eq!(i.embedding.labels.len(), layout.vocab_size() - 1);
        assert_eq!(i.embedding.labels[0], "^");
        assert!(i.embedding.points.iter().flatten().all(|v| v.is_finite()));
        assert!(i.embedding.explained[0] >= i.embedding.explained[1]);
    }
    // A checkpoint keeps them, and the record of a finished run carries them.
    let checkpoint = pollster::block_on(stack.checkpoint()).unwrap();
    assert_eq!(checkpoint.metas[0].inside, inside);
    let resumed = Stack::resume(checkpoint, &Device::flex()).unwrap();
    assert_eq!(resumed.inside(0), inside);
    let last = pollster::block_on(stack.evaluate())
        .unwrap()
        .remove(0)
        .unwrap();
    let record = instruction_diversity::study::record::RunRecord::new(&stack, 0, last, 1.0);
    assert_eq!(record.inside.len(), 2);
    let json = serde_json::to_string(&record).unwrap();
    let back: instruction_diversity::study::record::RunRecord =
        serde_json::from_str(&json).unwrap();
    assert_eq!(back.inside, record.inside);
}

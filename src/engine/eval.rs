//! Batched greedy decoding and exact-match scoring, per split, per case (has-op / no-op) and per rule.

pub use crate::engine::metrics::{
    EvalSummary, Evaluation, Prediction, RuleScore, SplitReport, Tally,
};
use crate::engine::model::Transformer;
use crate::engine::question::{Answer, AttentionMap, Question, RuleOrigin};
use crate::engine::task::{Dataset, EvalSplit, Example};
use crate::engine::tokenizer::{PAD, SequenceLayout};
use burn::prelude::*;
use burn::tensor::TensorData;

/// A failure of the compute backend: a read-back that failed, as a lost GPU device makes it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the compute backend failed: {0}")]
pub struct BackendError(pub String);

/// Rows decoded together: bounds memory while keeping the device busy.
pub const DECODE_BATCH: usize = 256;

/// Generates `layout.answer_width` tokens after each prompt, always taking the most likely token.
/// The whole loop stays on the device; the tokens are read back once, asynchronously, at the end.
///
/// Prompts of one length (the `fields` format) decode by appending a column a step. Prompts of
/// several lengths (the `packed` format) are padded on the right to the longest, and row `r` reads
/// its logits at its own last position and writes its next token after it: with causal attention
/// the padding after a row's end never reaches its earlier positions.
///
/// # Shapes
/// - each prompt: its own length, at most `P` -> each answer: `answer_width` (`A`) tokens
///
/// # Errors
/// A [`BackendError`] when the tokens cannot be read back (a lost GPU device).
pub async fn greedy_decode(
    model: &Transformer,
    layout: &SequenceLayout,
    prompts: &[Vec<u32>],
    device: &Device,
) -> Result<Vec<Vec<u32>>, BackendError> {
    let a = layout.answer_width;
    let mut answers = Vec::with_capacity(prompts.len());
    for chunk in prompts.chunks(DECODE_BATCH) {
        let b = chunk.len();
        let lengths: Vec<usize> = chunk.iter().map(Vec::len).collect();
        let p = lengths.iter().copied().max().unwrap_or(0);
        let flat: Vec<i64> = chunk
            .iter()
            .flat_map(|prompt| {
                let padding = std::iter::repeat_n(i64::from(PAD), p - prompt.len());
                prompt.iter().map(|&t| i64::from(t)).chain(padding)
            })
            .collect();
        let mut tokens = Tensor::<2, Int>::from_data(TensorData::new(flat, [b, p]), device); // (B, P)
        let aligned = lengths.iter().all(|&l| l == p);
        for k in 0..a {
            let [_, len] = tokens.dims(); // len = P + k
            let logits = model.forward(tokens.clone()); // (B, len, V)
            if aligned {
                let next = logits.narrow(1, len - 1, 1).argmax(2).reshape([b, 1]); // (B, 1)
                tokens = Tensor::cat(vec![tokens, next], 1); // (B, len + 1)
                continue;
            }
            // Row r reads position l_r - 1 + k and writes position l_r + k.
            let read: Vec<f32> = lengths
                .iter()
                .flat_map(|&l| (0..len).map(move |j| f32::from(u8::from(j + 1 == l + k))))
                .collect();
            let read = Tensor::<3>::from_data(TensorData::new(read, [b, len, 1]), device); // (B, len, 1)
            let next = (logits * read).sum_dim(1).argmax(2).reshape([b, 1]); // (B, 1)
            let write: Vec<bool> = lengths
                .iter()
                .flat_map(|&l| (0..=len).map(move |j| j == l + k))
                .collect();
            let write = Tensor::<2, Bool>::from_data(TensorData::new(write, [b, len + 1]), device);
            let padding = Tensor::<2, Int>::full([b, 1], i64::from(PAD), device); // (B, 1)
            let widened = Tensor::cat(vec![tokens, padding], 1); // (B, len + 1)
            tokens = widened.mask_where(write, next.expand([b, len + 1]));
        }
        let data = tokens // (B, P + A)
            .into_data_async()
            .await
            .map_err(|e| BackendError(format!("reading generated tokens back failed: {e:?}")))?;
        let values = data.convert::<i64>().try_to_vec::<i64>().map_err(|e| {
            BackendError(format!("generated tokens have an unexpected type: {e:?}"))
        })?;
        answers.extend(values.chunks(p + a).zip(&lengths).map(|(row, &l)| {
            row[l..l + a]
                .iter()
                .map(|&t| t as u32)
                .collect::<Vec<u32>>()
        }));
    }
    Ok(answers)
}

/// Decodes and scores one split, or its first `limit` examples.
///
/// # Errors
/// A [`BackendError`] when the answers cannot be read back.
pub async fn evaluate_split(
    model: &Transformer,
    layout: &SequenceLayout,
    dataset: &Dataset,
    split: &EvalSplit,
    limit: Option<usize>,
    device: &Device,
) -> Result<SplitReport, BackendError> {
    let rule_of = |e: &Example| dataset.rule(split.rules, e.rule);
    let examples =
        &split.examples[..limit.map_or(split.examples.len(), |n| n.min(split.examples.len()))];
    let prompts: Vec<Vec<u32>> = examples
        .iter()
        .map(|e| {
            let rule = rule_of(e);
            layout.encode_prompt(&rule.x, &rule.y, &e.z)
        })
        .collect();
    let outputs = greedy_decode(model, layout, &prompts, device).await?;

    let mut report = SplitReport {
        name: split.name.clone(),
        all: Tally::default(),
        hasop: Tally::default(),
        noop: Tally::default(),
        per_rule: Vec::new(),
        predictions: Vec::with_capacity(split.examples.len()),
    };
    let mut per_rule: std::collections::BTreeMap<u32, Tally> = Default::default();
    for (example, tokens) in examples.iter().zip(outputs) {
        let correct = layout.decode_answer(&tokens).as_deref() == Some(example.answer.as_str());
        report.all.add(correct);
        if example.noop {
            report.noop.add(correct);
        } else {
            report.hasop.add(correct);
        }
        per_rule.entry(example.rule).or_default().add(correct);
        report.predictions.push(Prediction {
            rule: example.rule,
            z: example.z.clone(),
            expected: example.answer.clone(),
            output: layout.render_answer(&tokens),
            correct,
            noop: example.noop,
        });
    }
    report.per_rule = per_rule
        .into_iter()
        .map(|(rule, tally)| RuleScore {
            rule,
            text: dataset.rule(split.rules, rule).clone(),
            tally,
        })
        .collect();
    Ok(report)
}

/// Evaluates a model (without autodiff) on the three splits of a dataset, each whole or its first
/// `limit` examples (an interim evaluation).
///
/// # Errors
/// A [`BackendError`] when the answers cannot be read back.
pub async fn evaluate(
    model: &Transformer,
    layout: &SequenceLayout,
    dataset: &Dataset,
    step: usize,
    limit: Option<usize>,
    device: &Device,
) -> Result<Evaluation, BackendError> {
    Ok(Evaluation {
        step,
        seen: evaluate_split(model, layout, dataset, &dataset.seen, limit, device).await?,
        unseen: evaluate_split(model, layout, dataset, &dataset.unseen, limit, device).await?,
        noop: evaluate_split(model, layout, dataset, &dataset.noop, limit, device).await?,
    })
}

/// Puts one question to the model: its greedy answer, scored against the rule, and every layer's
/// attention weights for the queries that wrote the answer.
///
/// # Shapes
/// - prompt `[1, P]`; the prompt plus the answer fed back, `[1, P + R - 1]` for `R` answer tokens
///   (end mark included); each layer's weights `[1, H, T, T]` narrowed to the answer rows `[1, H, R, T]`
pub async fn answer_question(
    model: &Transformer,
    layout: &SequenceLayout,
    question: &Question,
    origin: RuleOrigin,
    step: usize,
    device: &Device,
) -> Result<Answer, BackendError> {
    let Question { rule, z } = question;
    let prompt = layout.encode_prompt(&rule.x, &rule.y, z);
    let p = prompt.len();
    let tokens = greedy_decode(model, layout, std::slice::from_ref(&prompt), device)
        .await?
        .remove(0);
    let expected = rule.apply(z);
    let correct = layout.decode_answer(&tokens).as_deref() == Some(expected.as_str());
    // The answer rows: up to and including the end mark, or every answer token when none came.
    let rows = tokens
        .iter()
        .position(|&t| t == crate::engine::tokenizer::EOS)
        .map_or(tokens.len(), |i| i + 1);
    let fed: Vec<u32> = prompt.iter().chain(&tokens[..rows - 1]).copied().collect();
    let t = fed.len();
    let input = Tensor::<2, Int>::from_data(
        TensorData::new(fed.iter().map(|&t| t as i64).collect::<Vec<_>>(), [1, t]),
        device,
    ); // (1, T)
    let (_, attention) = model.forward_with_attention(input);
    let (layers, mut heads) = (attention.len(), 0);
    let mut weights = Vec::new();
    for layer in attention {
        heads = layer.dims()[1];
        let answer_rows = layer.narrow(2, p - 1, rows); // (1, H, R, T)
        let data = answer_rows
            .into_data_async()
            .await
            .map_err(|e| BackendError(format!("reading attention weights back failed: {e:?}")))?;
        weights.extend(data.convert::<f32>().try_to_vec::<f32>().map_err(|e| {
            BackendError(format!("attention weights have an unexpected type: {e:?}"))
        })?);
    }
    Ok(Answer {
        question: question.clone(),
        output: layout.render_answer(&tokens),
        expected,
        correct,
        origin,
        step,
        attention: AttentionMap {
            columns: fed.iter().map(|&t| layout.token_label(t)).collect(),
            prompt_len: p,
            rows: tokens[..rows]
                .iter()
                .map(|&t| layout.token_label(t))
                .collect(),
            layers,
            heads,
            weights,
        },
    })
}

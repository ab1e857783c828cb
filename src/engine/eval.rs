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

/// Generates `layout.answer_width` tokens after each prompt of each run, always taking the most
/// likely token: `prompts[k]` are run k's, decoded by its own model; each step of the loop is one
/// forward pass of the whole model (every run at once). Runs with fewer prompts than the others
/// have rows filled with a copy of a prompt, whose answers are dropped. The whole loop stays on the
/// device; the tokens are read back once per batch of rows, asynchronously, at its end.
///
/// Prompts of one length (the `fields` format) decode by appending a column a step. Prompts of
/// several lengths (the `packed` format) are padded on the right to the longest, and row `r` reads
/// its logits at its own last position and writes its next token after it: with causal attention
/// the padding after a row's end never reaches its earlier positions.
///
/// # Shapes
/// - `K` lists of prompts, each prompt its own length, at most `P` -> `K` lists of answers,
///   `answer_width` (`A`) tokens each
///
/// # Errors
/// A [`BackendError`] when the tokens cannot be read back (a lost GPU device).
pub async fn greedy_decode(
    model: &Transformer,
    layout: &SequenceLayout,
    prompts: &[Vec<Vec<u32>>],
    device: &Device,
) -> Result<Vec<Vec<Vec<u32>>>, BackendError> {
    let k = prompts.len();
    let longest = prompts.iter().map(Vec::len).max().unwrap_or(0);
    let Some(filler) = prompts.iter().find_map(|p| p.first()) else {
        return Ok(vec![Vec::new(); k]);
    };
    // [K * B, T] rows, run-major, to the stack's [K, B, T] and back.
    let forward = |tokens: Tensor<2, Int>| {
        let [n, t] = tokens.dims();
        let logits = model.forward(tokens.reshape([k, n / k, t])); // (K, B, T, V)
        let [_, _, _, v] = logits.dims();
        logits.reshape([n, t, v])
    };
    let mut answers = vec![Vec::new(); k];
    for start in (0..longest).step_by(DECODE_BATCH) {
        let b = DECODE_BATCH.min(longest - start);
        let rows: Vec<Vec<u32>> = prompts
            .iter()
            .flat_map(|p| (start..start + b).map(move |i| p.get(i).unwrap_or(filler).clone()))
            .collect();
        let decoded = decode_rows(&forward, layout, &rows, device).await?;
        for (run, (answer, own)) in answers.iter_mut().zip(prompts).enumerate() {
            let real = own.len().saturating_sub(start).min(b);
            answer.extend_from_slice(&decoded[run * b..run * b + real]);
        }
    }
    Ok(answers)
}

/// Greedy decoding of one batch of rows, whose logits `forward` gives (`[B, T]` -> `[B, T, V]`);
/// see [`greedy_decode`].
async fn decode_rows(
    forward: &dyn Fn(Tensor<2, Int>) -> Tensor<3>,
    layout: &SequenceLayout,
    chunk: &[Vec<u32>],
    device: &Device,
) -> Result<Vec<Vec<u32>>, BackendError> {
    let a = layout.answer_width;
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
        let logits = forward(tokens.clone()); // (B, len, V)
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
    let values = data
        .convert::<i64>()
        .try_to_vec::<i64>()
        .map_err(|e| BackendError(format!("generated tokens have an unexpected type: {e:?}")))?;
    Ok(values
        .chunks(p + a)
        .zip(&lengths)
        .map(|(row, &l)| row[l..l + a].iter().map(|&t| t as u32).collect())
        .collect())
}

/// The first `limit` examples of a split (all of them when `None`) and their prompts.
fn split_prompts<'a>(
    layout: &SequenceLayout,
    dataset: &Dataset,
    split: &'a EvalSplit,
    limit: Option<usize>,
) -> (&'a [Example], Vec<Vec<u32>>) {
    let examples =
        &split.examples[..limit.map_or(split.examples.len(), |n| n.min(split.examples.len()))];
    let prompts = examples
        .iter()
        .map(|e| {
            let rule = dataset.rule(split.rules, e.rule);
            layout.encode_prompt(&rule.x, &rule.y, &e.z)
        })
        .collect();
    (examples, prompts)
}

/// Scores each example's decoded answer: per split, per case (has-op / no-op) and per rule.
fn score_split(
    layout: &SequenceLayout,
    dataset: &Dataset,
    split: &EvalSplit,
    examples: &[Example],
    outputs: Vec<Vec<u32>>,
) -> SplitReport {
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
    report
}

/// Evaluates every run of a model (without autodiff) at once, one decoding of every run per split:
/// run k on its own `datasets[k]`, each split whole or its first `limits[k]` examples (an interim
/// evaluation).
///
/// # Errors
/// A [`BackendError`] when the answers cannot be read back.
pub async fn evaluate(
    model: &Transformer,
    layout: &SequenceLayout,
    datasets: &[&Dataset],
    step: usize,
    limits: &[Option<usize>],
    device: &Device,
) -> Result<Vec<Evaluation>, BackendError> {
    let splits: [fn(&Dataset) -> &EvalSplit; 3] = [|d| &d.seen, |d| &d.unseen, |d| &d.noop];
    let mut reports: Vec<Vec<SplitReport>> = vec![Vec::with_capacity(3); datasets.len()];
    for split_of in splits {
        let (examples, prompts): (Vec<_>, Vec<_>) = datasets
            .iter()
            .zip(limits)
            .map(|(d, &limit)| split_prompts(layout, d, split_of(d), limit))
            .unzip();
        let outputs = greedy_decode(model, layout, &prompts, device).await?;
        for (k, ((examples, outputs), d)) in
            examples.into_iter().zip(outputs).zip(datasets).enumerate()
        {
            reports[k].push(score_split(layout, d, split_of(d), examples, outputs));
        }
    }
    Ok(reports
        .into_iter()
        .map(|r| {
            let [seen, unseen, noop]: [SplitReport; 3] =
                r.try_into().expect("three splits per run");
            Evaluation {
                step,
                seen,
                unseen,
                noop,
            }
        })
        .collect())
}

/// Puts one question to a model of one run (see [`Transformer::run`]): its greedy answer, scored
/// against the rule, and every layer's attention weights for the queries that wrote the answer.
///
/// # Shapes
/// - prompt `[1, 1, P]`; the prompt plus the answer fed back, `[1, 1, P + R - 1]` for `R` answer
///   tokens (end mark included); each layer's weights `[1, 1, H, T, T]` narrowed to the answer rows
///   `[1, 1, H, R, T]`
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
    let tokens = greedy_decode(model, layout, &[vec![prompt.clone()]], device)
        .await?
        .remove(0)
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
    let input = Tensor::<3, Int>::from_data(
        TensorData::new(fed.iter().map(|&t| t as i64).collect::<Vec<_>>(), [1, 1, t]),
        device,
    ); // (1, 1, T)
    let (_, attention) = model.forward_with_attention(input);
    let (layers, mut heads) = (attention.len(), 0);
    let mut weights = Vec::new();
    for layer in attention {
        heads = layer.dims()[2];
        let answer_rows = layer.narrow(3, p - 1, rows); // (1, 1, H, R, T)
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

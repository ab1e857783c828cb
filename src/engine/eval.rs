//! Batched greedy decoding and exact-match scoring, per split, per case (has-op / no-op) and per rule.

use crate::engine::mechanism::{
    HeadScores, Inside, Measure, Projection, SourceEntry, pca2, sources,
};
pub use crate::engine::metrics::{
    EvalSummary, Evaluation, Prediction, RuleScore, SplitReport, Tally,
};
use crate::engine::model::{Ablation, Transformer};
use crate::engine::question::{Answer, AttentionMap, Question, RuleOrigin};
use crate::engine::task::{Dataset, EvalSplit, Example, Instruction, Rule};
use crate::engine::tokenizer::{PAD, SequenceLayout};

/// Examples of each split (seen, held-out) the head scores read at each evaluation: enough for a
/// mean within a few points, few enough that scoring costs a small share of the evaluation.
pub const HEAD_EXAMPLES: usize = 64;
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
    greedy_decode_ablated(model, &Ablation::none(), layout, prompts, device).await
}

/// [`greedy_decode`] with the heads of `ablation` silenced in every run.
///
/// # Errors
/// As [`greedy_decode`].
pub async fn greedy_decode_ablated(
    model: &Transformer,
    ablation: &Ablation,
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
        let logits = model
            .forward_ablated(tokens.reshape([k, n / k, t]), ablation)
            .0; // (K, B, T, V)
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
        .map(|e| layout.encode_prompt(dataset.instruction(split.rules, e.rule), &e.z))
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
        let correct = layout
            .decode_answer(&tokens)
            .is_some_and(|decoded| layout.final_string(&decoded) == example.answer);
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
            // A trace's whole target, so the page's marks line up with what the model wrote.
            expected: example.target(layout.answer),
            output: layout.render_answer(&tokens),
            correct,
            noop: example.noop,
        });
    }
    report.per_rule = per_rule
        .into_iter()
        .map(|(rule, tally)| RuleScore {
            rule,
            text: dataset.instruction(split.rules, rule).clone(),
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
    let mut evaluations = evaluate_ablated(
        model,
        &Ablation::none(),
        layout,
        datasets,
        step,
        limits,
        device,
    )
    .await?;
    let heads = head_scores(model, layout, datasets, device).await?;
    let embeddings = embedding_projections(model, layout).await?;
    for ((evaluation, [seen, unseen]), embedding) in
        evaluations.iter_mut().zip(heads).zip(embeddings)
    {
        evaluation.inside = Some(Inside {
            step,
            seen,
            unseen,
            embedding,
        });
    }
    Ok(evaluations)
}

/// [`evaluate`] with the heads of `ablation` silenced (see [`Ablation`]), without the head scores
/// and projection: what an ablation reports.
///
/// # Errors
/// A [`BackendError`] when the answers cannot be read back.
pub async fn evaluate_ablated(
    model: &Transformer,
    ablation: &Ablation,
    layout: &SequenceLayout,
    datasets: &[&Dataset],
    step: usize,
    limits: &[Option<usize>],
    device: &Device,
) -> Result<Vec<Evaluation>, BackendError> {
    let mut splits: Vec<fn(&Dataset) -> &EvalSplit> = vec![|d| &d.seen, |d| &d.unseen, |d| &d.noop];
    // Programs' composition split, when some run of the stack has one.
    let composed = datasets.iter().any(|d| !d.composed.examples.is_empty());
    if composed {
        splits.push(|d| &d.composed);
    }
    let mut reports: Vec<Vec<SplitReport>> = vec![Vec::with_capacity(4); datasets.len()];
    for split_of in splits {
        let (examples, prompts): (Vec<_>, Vec<_>) = datasets
            .iter()
            .zip(limits)
            .map(|(d, &limit)| split_prompts(layout, d, split_of(d), limit))
            .unzip();
        let outputs = greedy_decode_ablated(model, ablation, layout, &prompts, device).await?;
        for (k, ((examples, outputs), d)) in
            examples.into_iter().zip(outputs).zip(datasets).enumerate()
        {
            reports[k].push(score_split(layout, d, split_of(d), examples, outputs));
        }
    }
    Ok(reports
        .into_iter()
        .map(|mut r| {
            let composed = if composed { r.pop() } else { None };
            let [seen, unseen, noop]: [SplitReport; 3] =
                r.try_into().expect("three splits per run");
            Evaluation {
                step,
                seen,
                unseen,
                noop,
                composed,
                inside: None,
            }
        })
        .collect())
}

/// One run's model evaluated whole (with its head scores and projection) and with the heads of
/// `ablation` silenced, on the same examples (the first `limit` of each split, or all of them):
/// what an ablation compares.
///
/// # Errors
/// A [`BackendError`] when the answers cannot be read back.
pub async fn ablation_pair(
    model: &Transformer,
    ablation: &Ablation,
    layout: &SequenceLayout,
    dataset: &Dataset,
    step: usize,
    limit: Option<usize>,
    device: &Device,
) -> Result<(Evaluation, Evaluation), BackendError> {
    let whole = evaluate(model, layout, &[dataset], step, &[limit], device).await?;
    let ablated =
        evaluate_ablated(model, ablation, layout, &[dataset], step, &[limit], device).await?;
    Ok((
        whole.into_iter().next().expect("one run"),
        ablated.into_iter().next().expect("one run"),
    ))
}

/// The teacher-forced rows the head scores read, ready on the device: every run's examples of each
/// split (seen 0, held-out 1) with their correct answers, and which attention weights each counts.
///
/// # Shapes
/// - `tokens` `[K, B, T]`: `B` rows per run, its seen then its held-out examples; a run with fewer
///   rows is filled with rows that select nothing
/// - `index` `[K * B, 1, E]`: each row's `E` (query, key) pairs as `query * T + key`
/// - `select` `[K * B, E, 6]`: 1 where pair `e` counts toward split `s` and measure `m`, in
///   column `s * 3 + m`
pub struct HeadBatch {
    /// The rows' tokens.
    pub tokens: Tensor<3, Int>,
    index: Tensor<3, Int>,
    select: Tensor<3>,
    /// Per run, per split, the cases of each measure.
    cases: Vec<[[usize; 3]; 2]>,
    /// Per run, per split, the examples.
    examples: Vec<[usize; 2]>,
}

impl HeadBatch {
    /// The rows of `runs`: per run, its examples as `(split, rule, input)`.
    pub fn new(
        layout: &SequenceLayout,
        runs: &[Vec<(usize, &Rule, &str)>],
        device: &Device,
    ) -> Self {
        let k = runs.len();
        let t = layout.sequence_len();
        let b = runs.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut cases = vec![[[0usize; 3]; 2]; k];
        let mut examples = vec![[0usize; 2]; k];
        // Per run, per row: (split, tokens, the weights it reads).
        type Row = (usize, Vec<u32>, Vec<SourceEntry>);
        let scored: Vec<Vec<Row>> = runs
            .iter()
            .enumerate()
            .map(|(run, rows)| {
                rows.iter()
                    .map(|&(split, rule, z)| {
                        let (entries, counted) = sources(layout, rule, z);
                        for (total, n) in cases[run][split].iter_mut().zip(counted) {
                            *total += n;
                        }
                        examples[run][split] += 1;
                        let answer = rule.apply(z);
                        let instruction = Instruction::Rule(rule.clone());
                        let tokens = layout.encode_example(&instruction, z, &answer).tokens;
                        (split, tokens, entries)
                    })
                    .collect()
            })
            .collect();
        let e = scored
            .iter()
            .flatten()
            .map(|r| r.2.len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut tokens = Vec::with_capacity(k * b * t);
        let mut index = Vec::with_capacity(k * b * e);
        let mut select = vec![0f32; k * b * e * 6];
        for (run, rows) in scored.iter().enumerate() {
            for r in 0..b {
                let row = rows.get(r);
                match row {
                    Some((_, row_tokens, _)) => {
                        tokens.extend(row_tokens.iter().map(|&t| i64::from(t)));
                    }
                    None => tokens.extend(std::iter::repeat_n(i64::from(PAD), t)),
                }
                for slot in 0..e {
                    let entry =
                        row.and_then(|(split, _, entries)| Some((*split, entries.get(slot)?)));
                    index.push(entry.map_or(0, |(_, en)| (en.query * t + en.key) as i64));
                    if let Some((split, en)) = entry {
                        select[((run * b + r) * e + slot) * 6 + split * 3 + en.measure.index()] =
                            1.0;
                    }
                }
            }
        }
        Self {
            tokens: Tensor::from_data(TensorData::new(tokens, [k, b, t]), device),
            index: Tensor::from_data(TensorData::new(index, [k * b, 1, e]), device),
            select: Tensor::from_data(TensorData::new(select, [k * b, e, 6]), device),
            cases,
            examples,
        }
    }

    /// Every run's head scores on its seen and held-out examples from the attention weights of
    /// [`Self::tokens`] (each layer's `[K, B, H, T, T]`, as
    /// [`Transformer::forward_with_attention`] returns them). The weights are read on the device:
    /// gathered at each row's (query, key) pairs, then summed per split and measure by one
    /// batched matmul with the selector, so that only `K * L * H * 6` numbers come back.
    ///
    /// # Shapes
    /// - per layer `[K, B, H, T, T]` -> `[K * B, H, T * T]`, gathered -> `[K * B, H, E]`, times
    ///   the selector -> `[K * B, H, 6]` -> summed over rows `[K, 1, H, 6]`; the layers
    ///   concatenated `[K, L, H, 6]`
    ///
    /// # Errors
    /// A [`BackendError`] when the sums cannot be read back.
    pub async fn score(
        &self,
        attention: Vec<Tensor<5>>,
    ) -> Result<Vec<[HeadScores; 2]>, BackendError> {
        let [k, b, t] = self.tokens.dims();
        let [_, _, e] = self.index.dims();
        let layers = attention.len();
        let heads = attention.first().map_or(0, |w| w.dims()[2]);
        let sums: Vec<Tensor<4>> = attention
            .into_iter()
            .map(|w| {
                w.reshape([k * b, heads, t * t])
                    .gather(2, self.index.clone().expand([k * b, heads, e])) // (K*B, H, E)
                    .matmul(self.select.clone()) // (K*B, H, 6)
                    .reshape([k, b, heads, 6])
                    .sum_dim(1) // (K, 1, H, 6)
            })
            .collect();
        let sums = if sums.is_empty() {
            Vec::new()
        } else {
            Tensor::cat(sums, 1) // (K, L, H, 6)
                .into_data_async()
                .await
                .map_err(|e| BackendError(format!("reading the head scores back failed: {e:?}")))?
                .convert::<f32>()
                .try_to_vec::<f32>()
                .map_err(|e| BackendError(format!("head scores have an unexpected type: {e:?}")))?
        };
        Ok((0..k)
            .map(|run| {
                let split_scores = |split: usize| HeadScores {
                    layers,
                    heads,
                    examples: self.examples[run][split],
                    scores: Measure::ALL.map(|m| {
                        let n = self.cases[run][split][m.index()];
                        (n > 0).then(|| {
                            (0..layers * heads)
                                .map(|lh| {
                                    sums[(run * layers * heads + lh) * 6 + split * 3 + m.index()]
                                        / n as f32
                                })
                                .collect()
                        })
                    }),
                };
                [split_scores(0), split_scores(1)]
            })
            .collect())
    }
}

/// Every run's head scores on its seen and held-out rules (see [`crate::engine::mechanism`]), from
/// the first [`HEAD_EXAMPLES`] examples of each split fed with their correct answers (teacher
/// forcing), in one forward pass of the whole stack ([`HeadBatch`]).
///
/// # Errors
/// A [`BackendError`] when the scores cannot be read back.
pub async fn head_scores(
    model: &Transformer,
    layout: &SequenceLayout,
    datasets: &[&Dataset],
    device: &Device,
) -> Result<Vec<[HeadScores; 2]>, BackendError> {
    let runs: Vec<Vec<(usize, &Rule, &str)>> = datasets
        .iter()
        .map(|d| {
            [&d.seen, &d.unseen]
                .into_iter()
                .enumerate()
                .flat_map(|(split, s)| {
                    s.examples
                        .iter()
                        .take(HEAD_EXAMPLES)
                        // The measures follow one rule's letters: programs have none.
                        .filter_map(move |e| {
                            let rule = d.instruction(s.rules, e.rule).as_rule()?;
                            Some((split, rule, e.z.as_str()))
                        })
                })
                .collect()
        })
        .collect();
    let batch = HeadBatch::new(layout, &runs, device);
    let (_, attention) = model.forward_with_attention(batch.tokens.clone());
    batch.score(attention).await
}

/// Every run's token embedding (every token but the padding) projected on its first two principal
/// components ([`pca2`]).
///
/// # Shapes
/// - the embedding `[K, V, D]` -> per run `V - 1` points
///
/// # Errors
/// A [`BackendError`] when the embedding cannot be read back.
pub async fn embedding_projections(
    model: &Transformer,
    layout: &SequenceLayout,
) -> Result<Vec<Projection>, BackendError> {
    let table = model.token_embedding.val(); // (K, V, D)
    let [k, v, d] = table.dims();
    let values = table
        .into_data_async()
        .await
        .map_err(|e| BackendError(format!("reading the embedding back failed: {e:?}")))?
        .convert::<f32>()
        .try_to_vec::<f32>()
        .map_err(|e| BackendError(format!("the embedding has an unexpected type: {e:?}")))?;
    let first = PAD as usize + 1;
    Ok(values
        .chunks(v * d)
        .take(k)
        .map(|run| {
            let (points, explained) = pca2(&run[first * d..], v - first, d);
            Projection {
                labels: (first..v).map(|t| layout.token_label(t as u32)).collect(),
                points,
                explained,
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
    let Question { instruction, z } = question;
    let prompt = layout.encode_prompt(instruction, z);
    let p = prompt.len();
    let tokens = greedy_decode(model, layout, &[vec![prompt.clone()]], device)
        .await?
        .remove(0)
        .remove(0);
    let run = instruction.run(z, usize::MAX).ok();
    let final_string = run.as_ref().map(|r| r.output.clone()).unwrap_or_default();
    // What the model is trained to write: the answer, or the trace ending in it.
    let expected = match (layout.answer, &run) {
        (crate::engine::config::AnswerFormat::Trace, Some(run)) => {
            run.trace(instruction, z).join(",")
        }
        _ => final_string.clone(),
    };
    let correct = layout
        .decode_answer(&tokens)
        .is_some_and(|decoded| layout.final_string(&decoded) == final_string);
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
    // Each answer row's source column, from the correct answer's letters.
    let entries = instruction
        .as_rule()
        .map(|rule| sources(layout, rule, z).0)
        .unwrap_or_default();
    let letter_sources: Vec<usize> = entries
        .iter()
        .filter(|e| e.measure != Measure::MatchX)
        .map(|e| e.key)
        .collect();
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
            fields: Some(layout.instruction_fields(instruction, z.len())),
            sources: (0..rows).map(|r| letter_sources.get(r).copied()).collect(),
        },
    })
}

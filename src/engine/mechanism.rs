//! What a model holds inside, as plain data: how much each attention head reads the prompt where
//! an answer token comes from ([`HeadScores`]), and the letters' embeddings projected to a plane
//! ([`Projection`]). The tensor code that measures them is in [`crate::engine::eval`]; this module
//! holds their definitions, the bookkeeping of which prompt position each answer token comes from
//! ([`sources`]) and a small PCA ([`pca2`]), all tested natively without a model.
//!
//! # Head scores
//! To follow a rule `x -> y` it has never seen, a model must read the rule from its prompt: write
//! `z` with the leftmost `x` replaced by `y`. Each answer letter has one prompt position it comes
//! from (its *source*). With the answer `z[..i] + y + z[i + |x|..]` for a match at `i`:
//! - a letter `j < i` is **copied** from `z[j]`;
//! - a letter `i <= j < i + |y|` is **substituted** from `y[j - i]`;
//! - a letter `j >= i + |y|` is **copied** from `z[j - |y| + |x|]`;
//! - with no match (a no-op) every letter is copied from `z[j]`; the end mark has no source.
//!
//! The query that writes answer letter `j` is the position before it, `prompt_len - 1 + j` (the
//! `=` for the first letter). For each layer `l` and head `h`, with `w[q, k]` that head's attention
//! weight from query `q` to key `k` (teacher forcing: the correct answer is fed):
//! - `copy[l, h]` is the mean of `w[query(j), source(j)]` over the copied letters of the examples;
//! - `substitute[l, h]` the same over the substituted letters;
//! - `match_x[l, h]` is the mean, over the examples where `x` occurs, of the total weight the query
//!   writing answer letter `i` (where the rewrite starts) puts on the letters of the `x` field.
//!
//! Each lies in [0, 1]; a head that attends only to each token's source scores 1 (a *copy head*,
//! a *substitution head*). The measures follow the attention-based head scores of the induction-head
//! literature (Olsson et al., *In-context Learning and Induction Heads*, 2022), applied to this
//! task's sources.
//!
//! Worked example (fields format, `x` width 2, `y` width 2, `z` width 4): rule `ab -> c`, input
//! `cabd`, answer `ccd`. Prompt `^ a b > c · | c a b d =`, positions 0 to 11; `x` at 1..3, `y` at
//! 4..5, `z` at 7..11, prompt length 12. Answer letter 0 (`c`) is copied from `z[0]` (position 7)
//! and written by query 11; letter 1 (`c`) is substituted from `y[0]` (position 4), written by
//! query 12, which is also where the rewrite starts: `match_x` reads query 12's weight on positions
//! 1 and 2; letter 2 (`d`) is copied from `z[3]` (position 10), written by query 13.

use crate::engine::task::Rule;
use crate::engine::task::rule::leftmost_occurrence;
use crate::engine::tokenizer::SequenceLayout;
use serde::{Deserialize, Serialize};

/// What a head score measures (see the module's docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    /// Weight on the input letter a copied answer letter comes from.
    Copy,
    /// Weight on the `y` letter a substituted answer letter comes from.
    Substitute,
    /// Weight on the `x` field where the rewrite starts.
    MatchX,
}

impl Measure {
    /// Every measure, in the order [`HeadScores`] stores them.
    pub const ALL: [Measure; 3] = [Measure::Copy, Measure::Substitute, Measure::MatchX];

    /// A short name for tables and CSV columns.
    pub fn name(self) -> &'static str {
        match self {
            Measure::Copy => "copy",
            Measure::Substitute => "substitute",
            Measure::MatchX => "match_x",
        }
    }

    /// Index in [`Measure::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One attention weight that a head score reads: from query position `query` to key position
/// `key`, counted toward `measure`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SourceEntry {
    /// The position whose output writes the answer token.
    pub query: usize,
    /// The prompt position read.
    pub key: usize,
    /// What it counts toward.
    pub measure: Measure,
}

/// The weights an example's head scores read (see the module's docs), and how many cases of each
/// measure it holds: copied letters, substituted letters, and 1 for `match_x` when `x` occurs.
///
/// # Panics
/// When `z` or the rule is wider than the layout's fields.
pub fn sources(layout: &SequenceLayout, rule: &Rule, z: &str) -> (Vec<SourceEntry>, [usize; 3]) {
    let fields = layout.fields(rule.x.len(), rule.y.len(), z.len());
    let answer_len = rule.apply(z).len();
    let at = leftmost_occurrence(&rule.x, z);
    let mut entries = Vec::with_capacity(answer_len + rule.x.len());
    let mut cases = [0; 3];
    for j in 0..answer_len {
        let query = fields.prompt_len - 1 + j;
        let (key, measure) = match at {
            Some(i) if j >= i && j < i + rule.y.len() => {
                (fields.y.start + j - i, Measure::Substitute)
            }
            Some(i) if j >= i => (
                fields.z.start + j - rule.y.len() + rule.x.len(),
                Measure::Copy,
            ),
            _ => (fields.z.start + j, Measure::Copy),
        };
        entries.push(SourceEntry {
            query,
            key,
            measure,
        });
        cases[measure.index()] += 1;
    }
    if let Some(i) = at {
        // The query writing answer letter i (or the end mark, when the rewrite ends the answer).
        let query = fields.prompt_len - 1 + i;
        entries.extend(fields.x.clone().map(|key| SourceEntry {
            query,
            key,
            measure: Measure::MatchX,
        }));
        cases[Measure::MatchX.index()] += 1;
    }
    (entries, cases)
}

/// Every head's scores on one split at one evaluation (see the module's docs). Heads are indexed
/// `layer * heads + head`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeadScores {
    /// Layers `L`.
    pub layers: usize,
    /// Heads per layer `H`.
    pub heads: usize,
    /// Examples scored.
    pub examples: usize,
    /// Per measure ([`Measure::ALL`]'s order), `L * H` scores in [0, 1], or `None` when the
    /// examples hold no case of it (no substituted letter when every `y` is empty, no match among
    /// no-ops).
    pub scores: [Option<Vec<f32>>; 3],
}

impl HeadScores {
    /// The scores of one measure, `L * H` of them, when there were cases.
    pub fn of(&self, measure: Measure) -> Option<&[f32]> {
        self.scores[measure.index()].as_deref()
    }

    /// The head scoring highest on `measure`, as `(layer, head, score)`.
    pub fn best(&self, measure: Measure) -> Option<(usize, usize, f32)> {
        let scores = self.of(measure)?;
        let (i, &score) = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))?;
        Some((i / self.heads.max(1), i % self.heads.max(1), score))
    }
}

/// Heads silenced in an evaluation (an *ablation*): zero-ablation, the head's output is set to
/// zero before the output projection mixes the heads (its attention weights are multiplied by 0),
/// as in Michel et al., *Are Sixteen Heads Really Better than One?* (2019). Mean-ablation (the
/// head's mean output instead) would need a pass over data first; zeroing needs none and is what
/// the page and `idp ablate` do.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ablation {
    /// `(layer, head)` pairs, 0-based.
    pub heads: Vec<(usize, usize)>,
}

impl Ablation {
    /// Silences nothing.
    pub fn none() -> Self {
        Self::default()
    }

    /// Whether nothing is silenced.
    pub fn is_empty(&self) -> bool {
        self.heads.is_empty()
    }

    /// Reads `L.H,L.H,...` (0-based, as `idp ablate --heads` and the page write them).
    ///
    /// # Errors
    /// A message naming the part that is not a `layer.head` pair or lies outside `layers` x
    /// `heads`.
    pub fn parse(text: &str, layers: usize, heads: usize) -> Result<Self, String> {
        let mut out = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let pair = part.split_once('.').and_then(|(l, h)| {
                Some((
                    l.trim().parse::<usize>().ok()?,
                    h.trim().parse::<usize>().ok()?,
                ))
            });
            let Some((l, h)) = pair else {
                return Err(format!(
                    "heads: {part:?} is not a layer.head pair such as 0.1 (layers and heads count from 0)"
                ));
            };
            if l >= layers || h >= heads {
                return Err(format!(
                    "heads: {part} is outside the model, which has {layers} layers of {heads} heads \
                     (0.0 to {}.{})",
                    layers.saturating_sub(1),
                    heads.saturating_sub(1)
                ));
            }
            if !out.contains(&(l, h)) {
                out.push((l, h));
            }
        }
        if out.is_empty() {
            return Err("heads: name at least one head, as layer.head (for example 1.0)".into());
        }
        Ok(Self { heads: out })
    }
}

impl std::fmt::Display for Ablation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.heads.iter().map(|(l, h)| format!("{l}.{h}")).collect();
        f.write_str(&parts.join(","))
    }
}

/// The letters' and marks' input embeddings projected on their first two principal components.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Projection {
    /// Each token's label (as the attention view writes it), in token order.
    pub labels: Vec<String>,
    /// Each token's two coordinates.
    pub points: Vec<[f32; 2]>,
    /// Share of the variance each component explains.
    pub explained: [f32; 2],
}

/// What the model holds inside at one evaluation: head scores on seen and held-out rules, and the
/// embedding's projection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Inside {
    /// Optimizer steps taken.
    pub step: usize,
    /// Head scores on seen rules (new inputs).
    pub seen: HeadScores,
    /// Head scores on held-out rules.
    pub unseen: HeadScores,
    /// The token embedding, projected.
    pub embedding: Projection,
}

/// The first two principal components of `n` rows of `d` numbers (`rows` row-major): each row's
/// coordinates on them and the share of the variance each explains.
///
/// Computed from the centred Gram matrix `G = X Xᵀ` (`n x n`; here `n` is the vocabulary, a few
/// dozen, smaller than the width): with `G = U Λ Uᵀ`, the coordinates are `U_k sqrt(λ_k)`, which
/// are `X v_k` for the covariance's eigenvectors `v_k` (Jolliffe, *Principal Component Analysis*,
/// 2002, §3.5). The eigenvectors come from cyclic Jacobi rotations (Golub & Van Loan, *Matrix
/// Computations*, §8.5): exact to rounding, deterministic, and a few dozen lines, where a linear
/// algebra crate would add more to the page's download than the whole engine's math needs. Each
/// component's sign is fixed so that its largest coordinate is positive, so that one matrix always
/// gives one picture. Rows of zero variance give zero coordinates and shares.
///
/// # Panics
/// When `rows.len() != n * d`.
pub fn pca2(rows: &[f32], n: usize, d: usize) -> (Vec<[f32; 2]>, [f32; 2]) {
    assert_eq!(rows.len(), n * d, "pca2 takes n * d numbers");
    if n == 0 {
        return (Vec::new(), [0.0; 2]);
    }
    let mut x: Vec<f64> = rows.iter().map(|&v| f64::from(v)).collect();
    for c in 0..d {
        let mean = (0..n).map(|r| x[r * d + c]).sum::<f64>() / n as f64;
        (0..n).for_each(|r| x[r * d + c] -= mean);
    }
    let mut g = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..d).map(|c| x[i * d + c] * x[j * d + c]).sum();
            g[i * n + j] = dot;
            g[j * n + i] = dot;
        }
    }
    let (values, vectors) = jacobi_eigen(g, n);
    let total: f64 = values.iter().map(|v| v.max(0.0)).sum();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[b].total_cmp(&values[a]).then(a.cmp(&b)));
    let mut points = vec![[0.0f32; 2]; n];
    let mut explained = [0.0f32; 2];
    for (axis, &k) in order.iter().take(2).enumerate() {
        let lambda = values[k].max(0.0);
        let column: Vec<f64> = (0..n).map(|r| vectors[r * n + k]).collect();
        let largest = column
            .iter()
            .copied()
            .max_by(|a, b| a.abs().total_cmp(&b.abs()))
            .unwrap_or(0.0);
        let sign = if largest < 0.0 { -1.0 } else { 1.0 };
        for (point, u) in points.iter_mut().zip(&column) {
            point[axis] = (sign * u * lambda.sqrt()) as f32;
        }
        explained[axis] = if total > 0.0 {
            (lambda / total) as f32
        } else {
            0.0
        };
    }
    (points, explained)
}

/// Eigenvalues and eigenvectors (columns of the row-major `n x n` result) of the symmetric `a`, by
/// cyclic Jacobi rotations until the off-diagonal mass is negligible.
fn jacobi_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut v = vec![0.0; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * n + j] * a[i * n + j])
            .sum();
        if off <= scale * 1e-24 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
                let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (akp, akq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * akp - s * akq;
                    a[k * n + q] = s * akp + c * akq;
                }
                for k in 0..n {
                    let (apk, aqk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * apk - s * aqk;
                    a[q * n + k] = s * apk + c * aqk;
                }
                for k in 0..n {
                    let (vkp, vkq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * vkp - s * vkq;
                    v[k * n + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::engine::config::{SequenceFormat, Span, TaskConfig};
    use proptest::prelude::*;

    fn layout(format: SequenceFormat) -> SequenceLayout {
        SequenceLayout::new(&TaskConfig {
            alphabet: 6,
            x_len: Span::new(1, 2),
            y_len: Span::new(0, 2),
            z_len: Span::new(1, 4),
            format,
            ..TaskConfig::default()
        })
    }

    #[test]
    fn the_worked_example_of_the_docs() {
        let (entries, cases) = sources(
            &layout(SequenceFormat::Fields),
            &Rule::new("ab", "c"),
            "cabd",
        );
        let pairs: Vec<(usize, usize, Measure)> = entries
            .iter()
            .map(|e| (e.query, e.key, e.measure))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (11, 7, Measure::Copy),
                (12, 4, Measure::Substitute),
                (13, 10, Measure::Copy),
                (12, 1, Measure::MatchX),
                (12, 2, Measure::MatchX),
            ]
        );
        assert_eq!(cases, [2, 1, 1]);
    }

    #[test]
    fn a_noop_copies_every_letter_and_has_no_match() {
        let (entries, cases) = sources(
            &layout(SequenceFormat::Packed),
            &Rule::new("ee", "f"),
            "abc",
        );
        // Packed: ^ e e > f | a b c =, z at 6..9, prompt length 10.
        let keys: Vec<usize> = entries.iter().map(|e| e.key).collect();
        assert_eq!(keys, vec![6, 7, 8]);
        assert_eq!(cases, [3, 0, 0]);
    }

    proptest! {
        /// Each source holds the very letter the answer writes there, and every answer letter has
        /// one source: the bookkeeping agrees with the rule's own semantics.
        #[test]
        fn each_source_holds_the_letter_the_answer_writes(
            x in "[a-c]{1,2}", y in "[a-c]{0,2}", z in "[a-c]{1,4}", packed: bool,
        ) {
            let layout = layout(if packed { SequenceFormat::Packed } else { SequenceFormat::Fields });
            let rule = Rule::new(x.clone(), y.clone());
            let answer = rule.apply(&z);
            let prompt = layout.encode_prompt(&Rule::new(x.clone(), y.clone()).into(), &z);
            let (entries, cases) = sources(&layout, &rule, &z);
            let letters: Vec<&SourceEntry> =
                entries.iter().filter(|e| e.measure != Measure::MatchX).collect();
            prop_assert_eq!(letters.len(), answer.len());
            for (j, e) in letters.iter().enumerate() {
                prop_assert_eq!(e.query, prompt.len() - 1 + j);
                prop_assert_eq!(layout.token_char(prompt[e.key]), answer.chars().nth(j));
            }
            prop_assert_eq!(cases[0] + cases[1], answer.len());
            prop_assert_eq!(cases[2], usize::from(!rule.is_noop_on(&z)));
        }
    }

    #[test]
    fn pca_of_a_known_matrix() {
        // Points on a line along (3, 4) plus a smaller spread along (-4, 3): the first component
        // is the line, with the variance shares 100 : 1.
        let rows: Vec<f32> = [(-10.0, 1.0), (10.0, -1.0), (-10.0, -1.0), (10.0, 1.0)]
            .iter()
            .flat_map(|&(a, b): &(f32, f32)| [a * 0.6 - b * 0.8, a * 0.8 + b * 0.6])
            .collect();
        let (points, explained) = pca2(&rows, 4, 2);
        for (p, expected) in
            points
                .iter()
                .zip([(-10.0, 1.0), (10.0, -1.0), (-10.0, -1.0), (10.0, 1.0)])
        {
            assert!((p[0] - expected.0).abs() < 1e-4, "{points:?}");
            assert!((p[1].abs() - 1.0).abs() < 1e-4, "{points:?}");
        }
        assert!((explained[0] - 100.0 / 101.0).abs() < 1e-5);
        assert!((explained[1] - 1.0 / 101.0).abs() < 1e-5);
        // The sign is fixed: the largest coordinate of each component is positive.
        assert_eq!(pca2(&rows, 4, 2), (points.clone(), explained));
    }

    proptest! {
        /// The projection keeps the pairwise distances a rank-two matrix has.
        #[test]
        fn pca_of_a_rank_two_matrix_keeps_distances(
            a in prop::collection::vec(-5.0f32..5.0, 6),
            b in prop::collection::vec(-5.0f32..5.0, 6),
        ) {
            let (u, v) = ([0.5f32, 0.5, 0.5, 0.5, 0.0], [0.5f32, -0.5, 0.5, -0.5, 0.0]);
            let rows: Vec<f32> = a.iter().zip(&b)
                .flat_map(|(&a, &b)| (0..5).map(move |c| a * u[c] + b * v[c]))
                .collect();
            let (points, _) = pca2(&rows, 6, 5);
            for i in 0..6 {
                for j in 0..6 {
                    let original = ((a[i] - a[j]).powi(2) + (b[i] - b[j]).powi(2)).sqrt();
                    let projected = ((points[i][0] - points[j][0]).powi(2)
                        + (points[i][1] - points[j][1]).powi(2)).sqrt();
                    prop_assert!((original - projected).abs() < 1e-3, "{} vs {}", original, projected);
                }
            }
        }
    }

    #[test]
    fn best_head_breaks_ties_to_the_first() {
        let scores = HeadScores {
            layers: 2,
            heads: 2,
            examples: 1,
            scores: [Some(vec![0.1, 0.9, 0.9, 0.2]), None, Some(vec![0.0; 4])],
        };
        assert_eq!(scores.best(Measure::Copy), Some((0, 1, 0.9)));
        assert_eq!(scores.best(Measure::Substitute), None);
        assert_eq!(scores.best(Measure::MatchX), Some((0, 0, 0.0)));
    }
}

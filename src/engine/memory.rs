//! What a run needs in memory, estimated from its settings before anything is allocated, and the
//! check against what the backend allows: a tab's wasm memory (4 GiB), a WebGPU adapter's largest
//! buffer, the machine's memory. A run that cannot fit is refused with the estimate, the limit and
//! the settings that drive it, instead of crashing half-way ("memory allocation failed", a wasm
//! `unreachable`).
//!
//! The estimate counts 32-bit floats: the weights with their gradients and AdamW's two moments (four
//! copies); the activations one training batch keeps for the backward pass, twice (their gradients
//! take as much again at the peak of the backward pass); and one decoding batch of the evaluation.
//! It is an estimate of the order of magnitude, within a factor of about two of what burn allocates:
//! enough to refuse a run a hundred times too large, not to fill a device to the last megabyte.
//!
//! Shape letters as in [`crate::engine::model`]: `B` batch, `T` tokens, `D` width, `H` heads, `F`
//! feed-forward width, `V` vocabulary, `L` layers.

use crate::engine::config::ExperimentConfig;
use crate::engine::tokenizer::SequenceLayout;

/// Bytes of one float.
const FLOAT: u64 = 4;

/// Rows decoded together at evaluation (the engine's decoding batch).
const DECODE_ROWS: u64 = 256;

/// One GiB.
pub const GIB: u64 = 1 << 30;

/// The memory a run needs, in bytes.
#[derive(Clone, Debug, PartialEq)]
pub struct MemoryEstimate {
    /// Weights, their gradients and AdamW's two moments.
    pub parameters: u64,
    /// One training batch's activations and, at the peak of the backward pass, their gradients.
    pub training: u64,
    /// One decoding batch's forward pass at evaluation.
    pub evaluation: u64,
    /// The largest single buffer, in bytes.
    pub largest_buffer: u64,
    /// What that buffer holds, in words (`attention weights: 4096 x 8 x 29 x 29`).
    pub largest_buffer_holds: String,
}

impl MemoryEstimate {
    /// The whole run's need: the parameters plus the larger of training and evaluation.
    pub fn total(&self) -> u64 {
        self.parameters + self.training.max(self.evaluation)
    }
}

/// Number of parameters of the model of `config` (as [`crate::engine::model::Transformer`] builds
/// it): embeddings, per block two LayerNorms, the fused query/key/value projection, the output
/// projection and the MLP, a final LayerNorm and the head, every linear layer with a bias.
pub fn parameter_count(config: &ExperimentConfig) -> u64 {
    let layout = SequenceLayout::new(&config.task);
    let (v, d, f) = (
        layout.vocab_size() as u64,
        config.model.width as u64,
        config.model.ff_width as u64,
    );
    let block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * f + f) + (f * d + d);
    v * d
        + config.model.max_len as u64 * d
        + config.model.layers as u64 * block
        + 2 * d
        + (d * v + v)
}

/// Estimates what a run of `config` needs (see the module docs).
pub fn estimate(config: &ExperimentConfig) -> MemoryEstimate {
    let layout = SequenceLayout::new(&config.task);
    let (l, d, h, f, v) = (
        config.model.layers as u64,
        config.model.width as u64,
        config.model.heads as u64,
        config.model.ff_width as u64,
        layout.vocab_size() as u64,
    );
    let b = config.train.batch_size as u64;
    let t = layout.sequence_len() as u64 - 1;
    // Per block, kept for the backward pass: the LayerNorms' inputs and outputs, the fused q/k/v and
    // its per-head views, the head outputs, the residual sums (about 14 tensors of B x T x D), the
    // MLP's hidden layer before and after GELU (2 of B x T x F), and the attention scores, masked
    // scores and weights (3 of B x H x T x T).
    let per_block = b * t * (14 * d + 2 * f) + 3 * b * h * t * t;
    // Embeddings and the final LayerNorm (4 of B x T x D); logits, log-softmax, targets and their
    // product (4 of B x T x V).
    let outside = 4 * b * t * d + 4 * b * t * v;
    let training = 2 * (l * per_block + outside) * FLOAT;
    let examples = (config.eval.seen_examples
        + config.eval.unseen_examples
        + config.eval.noop_examples) as u64;
    let e = DECODE_ROWS.min(examples.max(1));
    let te = layout.sequence_len() as u64;
    let evaluation =
        (e * te * (6 * d + 2 * f + v) + 3 * e * h * te * te + l * 2 * e * te * d) * FLOAT;
    let parameters = 4 * parameter_count(config) * FLOAT;
    let buffers = [
        (
            b * h * t * t,
            format!("attention weights of a batch: {b} x {h} heads x {t} x {t}"),
        ),
        (
            b * t * f,
            format!("the MLP's hidden layer of a batch: {b} x {t} x {f}"),
        ),
        (
            b * t * 3 * d,
            format!("queries, keys and values of a batch: {b} x {t} x {}", 3 * d),
        ),
        (
            b * t * v,
            format!("the next-token targets of a batch: {b} x {t} x {v}"),
        ),
        (
            e * h * te * te,
            format!("attention weights of a decoding batch: {e} x {h} heads x {te} x {te}"),
        ),
        (d * f, format!("an MLP weight matrix: {d} x {f}")),
        (
            config.model.max_len as u64 * d,
            format!("the position table: {} x {d}", config.model.max_len),
        ),
    ];
    let (largest, holds) = buffers
        .into_iter()
        .max_by_key(|(n, _)| *n)
        .expect("a list of buffers");
    MemoryEstimate {
        parameters,
        training,
        evaluation,
        largest_buffer: largest * FLOAT,
        largest_buffer_holds: holds,
    }
}

/// What a backend can hold, each with a few words saying whose limit it is.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MemoryLimits {
    /// All the run's memory (a tab's 4 GiB of wasm memory, the machine's memory).
    pub total: Option<(u64, String)>,
    /// One buffer (a WebGPU adapter's largest storage binding or buffer).
    pub buffer: Option<(u64, String)>,
}

impl MemoryLimits {
    /// The limits of burn's CPU backend in a browser tab: wasm32 addresses 4 GiB.
    pub fn wasm_tab() -> Self {
        Self {
            total: Some((
                4 * GIB,
                "what a browser tab's WebAssembly can address".into(),
            )),
            buffer: None,
        }
    }
}

/// Why a run does not fit its backend.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum MemoryError {
    /// The whole run needs more than the backend has.
    #[error(
        "this run needs about {} (weights, gradients and AdamW state {}; one training batch {}; one evaluation batch {}), more than {limit} ({}): lower train.batch_size, model.width, model.ff_width or model.layers",
        size(estimate.total()), size(estimate.parameters), size(estimate.training), size(estimate.evaluation), size(*bytes)
    )]
    Total {
        /// The estimate.
        estimate: Box<MemoryEstimate>,
        /// The limit, in bytes.
        bytes: u64,
        /// Whose limit.
        limit: String,
    },
    /// One buffer is larger than the backend allows.
    #[error(
        "this run's largest buffer, {}, would take {}, more than {limit} ({}): lower train.batch_size, model.heads, model.ff_width or model.width",
        estimate.largest_buffer_holds, size(estimate.largest_buffer), size(*bytes)
    )]
    Buffer {
        /// The estimate.
        estimate: Box<MemoryEstimate>,
        /// The limit, in bytes.
        bytes: u64,
        /// Whose limit.
        limit: String,
    },
}

/// Bytes in words: `1.5 GiB`, `320 MiB`.
pub fn size(bytes: u64) -> String {
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else {
        format!("{:.0} MiB", (bytes as f64 / (1 << 20) as f64).max(1.0))
    }
}

/// What a stack of `runs` runs of `config` needs (see `engine::stack`): every part of
/// [`estimate`] times `runs`, the largest buffer included (the stacked attention weights of one
/// decoding batch hold every run's rows).
pub fn estimate_stack(config: &ExperimentConfig, runs: usize) -> MemoryEstimate {
    let one = estimate(config);
    let k = runs.max(1) as u64;
    MemoryEstimate {
        parameters: one.parameters * k,
        training: one.training * k,
        evaluation: one.evaluation * k,
        largest_buffer: one.largest_buffer * k,
        largest_buffer_holds: format!("{} runs of {}", runs, one.largest_buffer_holds),
    }
}

/// Checks that a run of `config` fits `limits`; returns the estimate.
///
/// # Errors
/// A [`MemoryError`] with the estimate, the limit, and the settings to lower.
pub fn check(
    config: &ExperimentConfig,
    limits: &MemoryLimits,
) -> Result<MemoryEstimate, MemoryError> {
    check_estimate(estimate(config), limits)
}

/// [`check`] for a stack of `runs` runs of `config` ([`estimate_stack`]).
///
/// # Errors
/// A [`MemoryError`] with the stack's estimate and the limit.
pub fn check_stack(
    config: &ExperimentConfig,
    runs: usize,
    limits: &MemoryLimits,
) -> Result<MemoryEstimate, MemoryError> {
    check_estimate(estimate_stack(config, runs), limits)
}

fn check_estimate(
    estimate: MemoryEstimate,
    limits: &MemoryLimits,
) -> Result<MemoryEstimate, MemoryError> {
    if let Some((bytes, limit)) = &limits.buffer
        && estimate.largest_buffer > *bytes
    {
        return Err(MemoryError::Buffer {
            estimate: Box::new(estimate),
            bytes: *bytes,
            limit: limit.clone(),
        });
    }
    if let Some((bytes, limit)) = &limits.total
        && estimate.total() > *bytes
    {
        return Err(MemoryError::Total {
            estimate: Box::new(estimate),
            bytes: *bytes,
            limit: limit.clone(),
        });
    }
    Ok(estimate)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The case: settings each within the form's bounds (12 layers, width 1024, 8 heads,
    /// feed-forward 8192, batch 4096) that no tab and no workstation can hold.
    fn oversized() -> ExperimentConfig {
        let mut config = ExperimentConfig::default();
        config.model.layers = 12;
        config.model.width = 1024;
        config.model.heads = 8;
        config.model.ff_width = 8192;
        config.train.batch_size = 4096;
        config
    }

    #[test]
    fn the_reference_model_fits_a_tab_and_the_oversized_one_is_refused_with_its_numbers() {
        let reference = check(&ExperimentConfig::default(), &MemoryLimits::wasm_tab()).unwrap();
        assert!(reference.total() < 256 << 20, "{}", size(reference.total()));
        let error = check(&oversized(), &MemoryLimits::wasm_tab()).unwrap_err();
        let message = error.to_string();
        for needle in [
            "needs about",
            "browser tab's WebAssembly can address (4.0 GiB)",
            "train.batch_size",
            "model.width",
        ] {
            assert!(message.contains(needle), "{needle} not in: {message}");
        }
        let MemoryError::Total { estimate, .. } = error else {
            panic!("{message}")
        };
        assert!(estimate.total() > 100 * GIB, "{}", size(estimate.total()));
    }

    #[test]
    fn a_buffer_over_the_adapters_limit_is_named_with_what_it_holds() {
        let mut config = ExperimentConfig::default();
        config.train.batch_size = 4096;
        config.model.ff_width = 8192;
        let limits = MemoryLimits {
            total: None,
            buffer: Some((
                128 << 20,
                "the WebGPU adapter's largest storage binding".into(),
            )),
        };
        let message = check(&config, &limits).unwrap_err().to_string();
        assert!(
            message.contains("MLP's hidden layer of a batch: 4096 x"),
            "{message}"
        );
        assert!(message.contains("128 MiB"), "{message}");
    }

    #[test]
    fn the_parameter_count_is_the_reference_models() {
        // The pinned count of `model::tests` (vocabulary 14: 6 special tokens and 8 letters).
        assert_eq!(parameter_count(&ExperimentConfig::default()), 105_998);
    }
}

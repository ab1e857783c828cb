//! Which runs can train together as one stacked model ([`crate::engine::stack`]), and how a sweep's
//! runs are dealt into stacks. Plain Rust, apart from the tensor code, so the page's UI (built
//! without `compute`) plans the stacks its worker trains with the same rule as `idp sweep`.

use crate::engine::config::{ModelConfig, TrainConfig, ValidConfig};
use crate::engine::tokenizer::SequenceLayout;

/// Why runs cannot form one stack.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum StackError {
    /// No run was given.
    #[error("a stack needs at least one run")]
    Empty,
    /// A run differs from the first in something a stack shares.
    #[error("run {index} cannot join the stack: its {what} differ from the first run's")]
    Mismatch {
        /// The run's place in the stack.
        index: usize,
        /// What differs ("model settings", "training settings", "sequence format").
        what: &'static str,
    },
    /// The checkpoint's runs are not at one step.
    #[error("the stack's checkpoint holds runs at different steps")]
    Steps,
}

/// What runs must share to train as one stack: the model's settings, the training settings (batch,
/// steps, schedule, clipping, evaluation points, sampling) and the sequence format (the stack
/// encodes and decodes every run with one layout). Seeds, rule counts, budgets, no-op shares and the
/// other task settings may differ.
#[derive(Clone, Debug, PartialEq)]
pub struct StackKey {
    model: ModelConfig,
    train: TrainConfig,
    layout: SequenceLayout,
}

impl StackKey {
    /// The key of a run of `config`.
    pub fn of(config: &ValidConfig) -> Self {
        Self {
            model: config.model.clone(),
            train: config.train.clone(),
            layout: SequenceLayout::new(&config.task),
        }
    }

    #[cfg(feature = "compute")]
    pub(crate) fn check(configs: &[ValidConfig]) -> Result<Self, StackError> {
        let first = Self::of(configs.first().ok_or(StackError::Empty)?);
        for (index, config) in configs.iter().enumerate().skip(1) {
            let key = Self::of(config);
            let what = if key.model != first.model {
                "model settings"
            } else if key.train != first.train {
                "training settings"
            } else if key != first {
                "sequence format"
            } else {
                continue;
            };
            return Err(StackError::Mismatch { index, what });
        }
        Ok(first)
    }
}

/// Splits runs into stacks for `workers` workers, none of more than `max_size` runs: runs that can
/// stack together (equal [`StackKey`]s) are dealt round-robin into as few stacks as that allows
/// but at least `workers` (when there are enough runs), so that each worker gets a share of each
/// kind; runs that cannot stack are never in one stack. Indices into `configs`, each stack in the
/// order given.
pub fn plan_stacks(configs: &[ValidConfig], workers: usize, max_size: usize) -> Vec<Vec<usize>> {
    let mut kinds: Vec<(StackKey, Vec<usize>)> = Vec::new();
    for (index, config) in configs.iter().enumerate() {
        let key = StackKey::of(config);
        match kinds.iter_mut().find(|(k, _)| *k == key) {
            Some((_, runs)) => runs.push(index),
            None => kinds.push((key, vec![index])),
        }
    }
    let mut stacks = Vec::new();
    for (_, runs) in kinds {
        let count = workers
            .max(runs.len().div_ceil(max_size.max(1)))
            .clamp(1, runs.len());
        let mut split = vec![Vec::new(); count];
        for (i, run) in runs.into_iter().enumerate() {
            split[i % count].push(run);
        }
        stacks.extend(split);
    }
    stacks
}

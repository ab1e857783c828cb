//! One run's rules, alone or in a stack (see [`crate::engine::stack`], which advances runs): why a
//! run stops early, where it evaluates and on how much, and when its loss ends it.

use crate::engine::checkpoint::CheckpointError;
use crate::engine::config::{ConfigError, ValidConfig};
use crate::engine::eval::BackendError;
pub use crate::engine::metrics::LossPoint;

/// Why a run stopped early.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RunError {
    /// The settings cannot make a run (found while drawing the data).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The loss became NaN or infinite: the run diverged.
    #[error("the loss became {loss} at step {step}: training diverged (try a lower learning rate)")]
    NonFiniteLoss {
        /// Steps taken when detected.
        step: usize,
        /// The value read.
        loss: f32,
    },
    /// The backend failed (e.g. a lost GPU device).
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// A checkpoint could not be made or resumed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The runs cannot train as one stack.
    #[error(transparent)]
    Stack(#[from] crate::engine::stack_plan::StackError),
    /// The run would not fit the backend's memory.
    #[error(transparent)]
    Memory(#[from] crate::engine::memory::MemoryError),
}

/// Steps of a run's next chunk, from `step`: at most `max_steps` (at least 1), and no further than
/// the next evaluation point (every `train.eval_every` steps), so a run evaluates at the same steps
/// however its training is chunked, alone or in a stack.
pub(crate) fn chunk_length(step: usize, max_steps: usize, config: &ValidConfig) -> usize {
    let every = config.train.eval_every;
    max_steps.max(1).min(every - step % every)
}

/// Whether a run evaluates after reaching `step` and on how much: `Some(None)` on the whole of
/// every split at its end (`finished`); `Some(limit)` at an evaluation point before it, on the
/// first `eval.interim_examples` of each split when that setting is not 0 (else on everything);
/// `None` between evaluation points.
pub(crate) fn evaluation_at(
    step: usize,
    finished: bool,
    config: &ValidConfig,
) -> Option<Option<usize>> {
    let interim = config.eval.interim_examples;
    if finished {
        Some(None)
    } else if step.is_multiple_of(config.train.eval_every) {
        Some((interim > 0).then_some(interim))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_or_infinite_loss_ends_the_run_with_a_plain_message() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let message = RunError::NonFiniteLoss {
                step: 40,
                loss: bad,
            }
            .to_string();
            assert!(
                message.contains("step 40") && message.contains("diverged"),
                "{message}"
            );
        }
    }

    #[test]
    fn chunks_stop_at_evaluation_points_and_the_end_evaluates_everything() {
        let mut config = crate::engine::config::ExperimentConfig::default();
        config.train.steps = 250;
        config.train.eval_every = 100;
        config.eval.interim_examples = 32;
        let config = config.validate().unwrap();
        assert_eq!(chunk_length(0, 40, &config), 40);
        assert_eq!(chunk_length(90, 40, &config), 10);
        assert_eq!(chunk_length(90, 0, &config), 1);
        assert_eq!(evaluation_at(100, false, &config), Some(Some(32)));
        assert_eq!(evaluation_at(150, false, &config), None);
        assert_eq!(evaluation_at(250, true, &config), Some(None));
    }
}

//! One run from config to result, advanced in chunks so a caller (the CLI, the browser worker) can
//! report progress, pause or stop between chunks.

use crate::engine::checkpoint::{Checkpoint, CheckpointError, CheckpointMeta};
use crate::engine::config::{ConfigError, ValidConfig};
use crate::engine::eval::{BackendError, EvalSummary, Evaluation, evaluate};
pub use crate::engine::metrics::LossPoint;
use crate::engine::task::Dataset;
use crate::engine::tokenizer::SequenceLayout;
use crate::engine::train::Trainer;
use burn::prelude::*;

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
    Stack(#[from] crate::engine::stack::StackError),
    /// The run would not fit the backend's memory.
    #[error(transparent)]
    Memory(#[from] crate::engine::memory::MemoryError),
}

/// What one call to [`Run::advance`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct Advance {
    /// The loss over the steps just taken.
    pub loss: LossPoint,
    /// An evaluation, when the chunk reached an evaluation point.
    pub evaluation: Option<Evaluation>,
    /// Whether every configured step has been taken (and the final evaluation done).
    pub finished: bool,
}

/// A run in progress.
pub struct Run {
    config: ValidConfig,
    layout: SequenceLayout,
    dataset: Dataset,
    trainer: Trainer,
    losses: Vec<LossPoint>,
    evaluations: Vec<EvalSummary>,
}

impl Run {
    /// Checks that the run fits `limits` (see [`crate::engine::memory`]), then makes it.
    ///
    /// # Errors
    /// [`RunError::Memory`] with the estimate and the limit when it does not fit; else as [`Self::new`].
    pub fn within(
        config: &ValidConfig,
        device: &Device,
        limits: &crate::engine::memory::MemoryLimits,
    ) -> Result<Self, RunError> {
        crate::engine::memory::check(config, limits)?;
        Self::new(config, device)
    }

    /// Draws the data and initialises the model on `device`.
    ///
    /// # Errors
    /// [`RunError::Config`] when the settings allow too few distinct rules or inputs to draw.
    pub fn new(config: &ValidConfig, device: &Device) -> Result<Self, RunError> {
        let dataset = Dataset::generate(config)?;
        let trainer = Trainer::new(config, &dataset, device);
        Ok(Self {
            config: config.clone(),
            layout: SequenceLayout::new(&config.task),
            dataset,
            trainer,
            losses: Vec::new(),
            evaluations: Vec::new(),
        })
    }

    /// Everything needed to go on with this run later: settings, step, curves, and the model's and
    /// optimizer's state. The tensors are read back asynchronously, so this works on every
    /// backend, WebGPU in a browser included.
    ///
    /// # Errors
    /// [`CheckpointError::ReadBack`] when the device cannot give the tensors back.
    pub async fn checkpoint(&self) -> Result<Checkpoint, CheckpointError> {
        let (model, optimizer) = self.trainer.checkpoint(&Device::flex()).await?;
        Ok(Checkpoint {
            meta: CheckpointMeta::new(
                self.config.clone(),
                self.step(),
                self.losses.clone(),
                self.evaluations.clone(),
            ),
            model,
            optimizer,
        })
    }

    /// The run of a [`Run::checkpoint`], on `device`, going on as it would have (same data, same
    /// batches, same weights and optimizer state).
    ///
    /// # Errors
    /// [`RunError::Checkpoint`] when the saved tensors are damaged or belong to another model.
    pub fn resume(checkpoint: Checkpoint, device: &Device) -> Result<Self, RunError> {
        let Checkpoint {
            meta,
            model,
            optimizer,
        } = checkpoint;
        let config = meta.config;
        let dataset = Dataset::generate(&config)?;
        let trainer = Trainer::resume(&config, &dataset, device, meta.step, model, optimizer)?;
        Ok(Self {
            layout: SequenceLayout::new(&config.task),
            config,
            dataset,
            trainer,
            losses: meta.losses,
            evaluations: meta.evaluations,
        })
    }

    /// The run's settings.
    pub fn config(&self) -> &ValidConfig {
        &self.config
    }

    /// The generated data.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The sequence format.
    pub fn layout(&self) -> &SequenceLayout {
        &self.layout
    }

    /// Steps taken.
    pub fn step(&self) -> usize {
        self.trainer.step()
    }

    /// Whether all steps are done.
    pub fn is_finished(&self) -> bool {
        self.trainer.step() >= self.config.train.steps
    }

    /// The loss curve so far.
    pub fn losses(&self) -> &[LossPoint] {
        &self.losses
    }

    /// Headline numbers of every evaluation so far.
    pub fn evaluations(&self) -> &[EvalSummary] {
        &self.evaluations
    }

    /// The model without autodiff, for inference (try-your-own, attention).
    pub fn inference_model(&self) -> crate::engine::model::Transformer {
        self.trainer.model().valid()
    }

    /// The device inference runs on.
    pub fn inference_device(&self) -> Device {
        self.trainer.device().clone().without_autodiff()
    }

    /// Trains at most `max_steps` steps, stopping early at the next evaluation point, and evaluates
    /// there. The loss is read back once per call, asynchronously.
    pub async fn advance(&mut self, max_steps: usize) -> Result<Advance, RunError> {
        let chunk = chunk_length(self.step(), max_steps, &self.config);
        let (taken, loss) = self.trainer.train_chunk(&self.dataset, chunk);
        let loss = loss
            .into_scalar_async::<f32>()
            .await
            .map_err(|e| BackendError(format!("reading the loss back failed: {e:?}")))?;
        let point = checked_loss(self.step(), loss)?;
        let step = point.step;
        if taken > 0 {
            self.losses.push(point);
        }
        let finished = self.is_finished();
        let evaluation = match evaluation_at(step, finished, &self.config) {
            Some(limit) => Some(self.evaluate_on(limit).await?),
            None => None,
        };
        Ok(Advance {
            loss: point,
            evaluation,
            finished,
        })
    }

    /// Evaluates the current model on the whole of every split and records its summary.
    ///
    /// # Errors
    /// [`RunError::Backend`] when the answers cannot be read back.
    pub async fn evaluate(&mut self) -> Result<Evaluation, RunError> {
        self.evaluate_on(None).await
    }

    async fn evaluate_on(&mut self, limit: Option<usize>) -> Result<Evaluation, RunError> {
        let model = self.inference_model();
        let device = self.inference_device();
        let evaluation = evaluate(
            &model,
            &self.layout,
            &self.dataset,
            self.step(),
            limit,
            &device,
        )
        .await?;
        let summary = evaluation.summary();
        if self.evaluations.last().map(|e| e.step) != Some(summary.step) {
            self.evaluations.push(summary);
        }
        Ok(evaluation)
    }
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

/// The loss point of a chunk, or the error that ends a diverged run: a NaN or infinite loss would
/// otherwise poison every later step and draw nothing on the page's curve.
fn checked_loss(step: usize, loss: f32) -> Result<LossPoint, RunError> {
    if loss.is_finite() {
        Ok(LossPoint { step, loss })
    } else {
        Err(RunError::NonFiniteLoss { step, loss })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nan_or_infinite_loss_ends_the_run_with_a_plain_message() {
        assert_eq!(
            checked_loss(12, 0.5),
            Ok(LossPoint {
                step: 12,
                loss: 0.5
            })
        );
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let error = checked_loss(40, bad).unwrap_err();
            assert!(matches!(error, RunError::NonFiniteLoss { step: 40, .. }));
            let message = error.to_string();
            assert!(
                message.contains("step 40") && message.contains("diverged"),
                "{message}"
            );
        }
    }
}

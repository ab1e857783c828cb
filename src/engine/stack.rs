//! Runs in progress, advanced in chunks so a caller (the session of the CLI or of the browser's
//! worker) can report progress, pause or stop between chunks: K runs whose model shape, batch,
//! schedule and sequence format agree ([`StackKey`]) train together as one model with a leading
//! run axis ([`crate::engine::model`]), and a run alone is a stack of one.
//!
//! Each run keeps everything it would have alone: its data (drawn from its own settings and seed),
//! its initial weights, its batch order and its gradient (see [`crate::engine::train::Trainer`]),
//! and it evaluates where and on what it would alone (its own `eval` settings, [`evaluation_at`]).
//! Evaluation decodes every run's prompts in one forward pass of the whole stack a token
//! ([`crate::engine::eval::evaluate`]). The attention view and try-your-own take run k's own model
//! out of the stack ([`Stack::inference_model`]); a stack checkpoints and resumes as a whole
//! ([`Checkpoint`]).

pub use crate::engine::checkpoint::Checkpoint;
use crate::engine::checkpoint::CheckpointMeta;
use crate::engine::config::ValidConfig;
use crate::engine::eval::{BackendError, evaluate};
use crate::engine::mechanism::Inside;
use crate::engine::memory::{MemoryLimits, check_stack};
use crate::engine::metrics::{EvalSummary, Evaluation, LossPoint};
use crate::engine::model::Transformer;
use crate::engine::run::{RunError, chunk_length, evaluation_at};
pub use crate::engine::stack_plan::{StackError, StackKey, plan_stacks};
use crate::engine::task::Dataset;
use crate::engine::tokenizer::SequenceLayout;
use crate::engine::train::Trainer;
use burn::prelude::*;

/// Most runs `idp sweep` puts in one stack by default: a bound on the memory a stack holds at once
/// (and on the results a stopped stack has not yet written).
pub const MAX_STACK: usize = 16;

/// What one call to [`Stack::advance`] did, run by run.
#[derive(Clone, Debug, PartialEq)]
pub struct Advance {
    /// Steps taken in this call (0 once every step is done).
    pub taken: usize,
    /// Each run's mean loss over the steps just taken (`None` for a run that has diverged).
    pub losses: Vec<Option<LossPoint>>,
    /// Each run's evaluation, when the chunk reached an evaluation point (`None` for a diverged
    /// run).
    pub evaluations: Vec<Option<Evaluation>>,
    /// Whether every configured step has been taken (and the final evaluations done).
    pub finished: bool,
}

/// Runs in progress as one model.
pub struct Stack {
    configs: Vec<ValidConfig>,
    layout: SequenceLayout,
    datasets: Vec<Dataset>,
    trainer: Trainer,
    losses: Vec<Vec<LossPoint>>,
    evaluations: Vec<Vec<EvalSummary>>,
    inside: Vec<Vec<Inside>>,
    diverged: Vec<Option<RunError>>,
}

impl Stack {
    /// Checks that the runs fit `limits` (see [`crate::engine::memory`]), then makes them.
    ///
    /// # Errors
    /// [`RunError::Memory`] with the estimate and the limit when they do not fit; else as
    /// [`Self::new`].
    pub fn within(
        configs: &[ValidConfig],
        device: &Device,
        limits: &MemoryLimits,
    ) -> Result<Self, RunError> {
        let first = configs.first().ok_or(StackError::Empty)?;
        check_stack(first, configs.len(), limits)?;
        Self::new(configs, device)
    }

    /// Draws each run's data and initialises the model on `device`.
    ///
    /// # Errors
    /// [`RunError::Config`] when a run's settings allow too few rules or inputs to draw;
    /// [`RunError::Stack`] when there are no runs or they cannot train together.
    pub fn new(configs: &[ValidConfig], device: &Device) -> Result<Self, RunError> {
        StackKey::check(configs)?;
        let datasets = configs
            .iter()
            .map(Dataset::generate)
            .collect::<Result<Vec<_>, _>>()?;
        let trainer = Trainer::new(configs, &datasets, device)?;
        Ok(Self::with(configs.to_vec(), datasets, trainer))
    }

    fn with(configs: Vec<ValidConfig>, datasets: Vec<Dataset>, trainer: Trainer) -> Self {
        let k = configs.len();
        Self {
            layout: SequenceLayout::new(&configs[0].task),
            configs,
            datasets,
            trainer,
            losses: vec![Vec::new(); k],
            evaluations: vec![Vec::new(); k],
            inside: vec![Vec::new(); k],
            diverged: vec![None; k],
        }
    }

    /// Runs in the stack.
    pub fn len(&self) -> usize {
        self.configs.len()
    }

    /// Whether the stack has no run (never: [`Stack::new`] refuses that).
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// Every run's settings, in the stack's order.
    pub fn configs(&self) -> &[ValidConfig] {
        &self.configs
    }

    /// Run `k`'s settings.
    pub fn config(&self, k: usize) -> &ValidConfig {
        &self.configs[k]
    }

    /// Run `k`'s data.
    pub fn dataset(&self, k: usize) -> &Dataset {
        &self.datasets[k]
    }

    /// The sequence format (one for the stack).
    pub fn layout(&self) -> &SequenceLayout {
        &self.layout
    }

    /// Steps taken by every run.
    pub fn step(&self) -> usize {
        self.trainer.step()
    }

    /// Steps every run takes in all.
    pub fn total_steps(&self) -> usize {
        self.configs[0].train.steps
    }

    /// Whether all steps are done.
    pub fn is_finished(&self) -> bool {
        self.step() >= self.total_steps()
    }

    /// Run `k`'s loss curve so far.
    pub fn losses(&self, k: usize) -> &[LossPoint] {
        &self.losses[k]
    }

    /// Run `k`'s evaluations so far.
    pub fn evaluations(&self, k: usize) -> &[EvalSummary] {
        &self.evaluations[k]
    }

    /// Run `k`'s head scores and embedding projections so far, one per evaluation.
    pub fn inside(&self, k: usize) -> &[Inside] {
        &self.inside[k]
    }

    /// Why run `k` stopped learning, when its loss became NaN or infinite (the others go on: a
    /// run's gradient never reaches another run's weights).
    pub fn diverged(&self, k: usize) -> Option<&RunError> {
        self.diverged[k].as_ref()
    }

    /// Whether every run has diverged: nothing is left to learn.
    pub fn all_diverged(&self) -> bool {
        self.diverged.iter().all(Option::is_some)
    }

    /// Run `k`'s model without autodiff, a model of one run, for inference (try-your-own,
    /// attention).
    pub fn inference_model(&self, k: usize) -> Transformer {
        self.trainer.run_model(k)
    }

    /// The device inference runs on.
    pub fn inference_device(&self) -> Device {
        self.trainer.device().clone().without_autodiff()
    }

    /// Trains every run at most `max_steps` steps, stopping early at the next evaluation point, and
    /// evaluates each run there. The losses are read back once per call, asynchronously.
    ///
    /// # Errors
    /// [`RunError::Backend`] when the device fails.
    pub async fn advance(&mut self, max_steps: usize) -> Result<Advance, RunError> {
        // The runs of a stack share their training settings: the first's stand for all.
        let chunk = chunk_length(self.step(), max_steps, &self.configs[0]);
        let datasets = &self.datasets;
        let (taken, losses) = self.trainer.train_chunk(datasets, chunk);
        let losses = losses
            .into_data_async()
            .await
            .map_err(|e| BackendError(format!("reading the losses back failed: {e:?}")))?
            .try_to_vec::<f32>()
            .map_err(|e| BackendError(format!("reading the losses back failed: {e:?}")))?;
        let step = self.step();
        let mut points = Vec::with_capacity(self.len());
        for (k, &loss) in losses.iter().enumerate() {
            if self.diverged[k].is_none() && !loss.is_finite() {
                self.diverged[k] = Some(RunError::NonFiniteLoss { step, loss });
            }
            let point = (self.diverged[k].is_none()).then_some(LossPoint { step, loss });
            if let (Some(point), true) = (point, taken > 0) {
                self.losses[k].push(point);
            }
            points.push(point);
        }
        let finished = self.is_finished();
        // Each run evaluates where and on what it would alone (its own `eval` settings).
        let limits: Option<Vec<Option<usize>>> = self
            .configs
            .iter()
            .map(|c| evaluation_at(step, finished, c))
            .collect();
        let evaluations = match limits {
            Some(limits) if !self.all_diverged() => self.evaluate_on(&limits).await?,
            _ => vec![None; self.len()],
        };
        Ok(Advance {
            taken,
            losses: points,
            evaluations,
            finished,
        })
    }

    /// Evaluates every run on the whole of every split and records each summary (a run that has
    /// diverged gets `None`).
    ///
    /// # Errors
    /// [`RunError::Backend`] when the answers cannot be read back.
    pub async fn evaluate(&mut self) -> Result<Vec<Option<Evaluation>>, RunError> {
        self.evaluate_on(&vec![None; self.len()]).await
    }

    async fn evaluate_on(
        &mut self,
        limits: &[Option<usize>],
    ) -> Result<Vec<Option<Evaluation>>, RunError> {
        let datasets: Vec<&Dataset> = self.datasets.iter().collect();
        let model = self.trainer.model().valid();
        let step = self.step();
        let all = evaluate(
            &model,
            &self.layout,
            &datasets,
            step,
            limits,
            &self.inference_device(),
        )
        .await?;
        let mut evaluations = vec![None; self.len()];
        for (k, (slot, evaluation)) in evaluations.iter_mut().zip(all).enumerate() {
            // A diverged run's answers mean nothing; its slot stays empty.
            if self.diverged[k].is_some() {
                continue;
            }
            let summary = evaluation.summary();
            if self.evaluations[k].last().map(|e| e.step) != Some(summary.step) {
                self.evaluations[k].push(summary);
                self.inside[k].extend(evaluation.inside.clone());
            }
            *slot = Some(evaluation);
        }
        Ok(evaluations)
    }

    /// Run `k`'s meta: settings, step and curves, what a checkpoint keeps of it beside the tensors.
    pub fn meta(&self, k: usize) -> CheckpointMeta {
        CheckpointMeta {
            inside: self.inside[k].clone(),
            ..CheckpointMeta::new(
                self.configs[k].clone(),
                self.step(),
                self.losses[k].clone(),
                self.evaluations[k].clone(),
            )
        }
    }

    /// Everything needed to go on with the stack later. The tensors are read back asynchronously,
    /// so this works on every backend, WebGPU in a browser included.
    ///
    /// # Errors
    /// [`crate::engine::checkpoint::CheckpointError::ReadBack`] when the device cannot give the
    /// tensors back.
    pub async fn checkpoint(
        &self,
    ) -> Result<Checkpoint, crate::engine::checkpoint::CheckpointError> {
        let (model, optimizer) = self.trainer.checkpoint(&Device::flex()).await?;
        Ok(Checkpoint {
            metas: (0..self.len()).map(|k| self.meta(k)).collect(),
            model,
            optimizer,
        })
    }

    /// The stack of a [`Stack::checkpoint`], on `device`, going on as it would have (same data,
    /// same batches, same weights and optimizer state).
    ///
    /// # Errors
    /// [`RunError::Checkpoint`] when the saved tensors are damaged or belong to another stack.
    pub fn resume(checkpoint: Checkpoint, device: &Device) -> Result<Self, RunError> {
        let Checkpoint {
            metas,
            model,
            optimizer,
        } = checkpoint;
        let configs: Vec<ValidConfig> = metas.iter().map(|m| m.config.clone()).collect();
        StackKey::check(&configs)?;
        let step = metas.first().map_or(0, |m| m.step);
        let datasets = configs
            .iter()
            .map(Dataset::generate)
            .collect::<Result<Vec<_>, _>>()?;
        let trainer = Trainer::resume(&configs, &datasets, device, step, model, optimizer)?;
        let mut stack = Self::with(configs, datasets, trainer);
        for (k, meta) in metas.into_iter().enumerate() {
            stack.losses[k] = meta.losses;
            stack.evaluations[k] = meta.evaluations;
            stack.inside[k] = meta.inside;
        }
        Ok(stack)
    }
}

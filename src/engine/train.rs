//! Our own training loop (burn's `Learner` does not run in wasm): AdamW, linear warm-up then linear
//! decay, per-parameter gradient-norm clipping (per run), seeded batch order, for the K runs of one
//! model (a run alone is `K = 1`).
//!
//! Nothing here reads tensor data back: [`Trainer::train_chunk`] returns the chunk's mean loss as a
//! one-element tensor that the caller reads with burn's async readback, once per chunk. That is what
//! lets the browser worker drive training on WebGPU.

use crate::engine::checkpoint::CheckpointError;
use crate::engine::config::{BatchSampling, TrainConfig, ValidConfig};
use crate::engine::kernels::{
    self,
    adamw::{Clip, FusedAdamW},
};
use crate::engine::model::Transformer;
use crate::engine::rng::SeededRng;
use crate::engine::run::RunError;
use crate::engine::stack_plan::{StackError, StackKey};
use crate::engine::task::Dataset;
use crate::engine::tokenizer::SequenceLayout;
use burn::module::{ModuleMapper, ModuleVisitor, Param};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer, OptimizerRecord};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, TensorData, Transaction};

/// Learning rate at `step` (0-based): linear warm-up to the peak over `warmup_steps`, then linear
/// decay to `peak * final_lr_ratio` at the last step.
pub fn learning_rate(config: &TrainConfig, step: usize) -> f64 {
    let peak = config.learning_rate;
    if step < config.warmup_steps {
        return peak * (step + 1) as f64 / config.warmup_steps as f64;
    }
    let decay_steps = config.steps.saturating_sub(config.warmup_steps).max(1);
    let progress = ((step - config.warmup_steps) as f64 / decay_steps as f64).min(1.0);
    peak * (1.0 - progress * (1.0 - config.final_lr_ratio))
}

/// Turns training examples into batches.
#[derive(Clone, Copy, Debug)]
pub struct Batcher {
    /// The sequence format.
    pub layout: SequenceLayout,
}

/// A batch of one run, on the host: what [`Trainer`] concatenates over its runs and uploads.
#[derive(Clone, Debug)]
pub struct HostBatch {
    /// `[B * (T-1)]` token ids, row-major.
    pub inputs: Vec<i64>,
    /// `[B * (T-1)]` the next token at the positions the loss covers (answer letters and EOS),
    /// [`NOT_IN_LOSS`] elsewhere.
    pub targets: Vec<i64>,
    /// Number of positions the loss covers.
    pub loss_tokens: usize,
}

/// The target of a position the loss does not cover (a prompt position, padding).
pub const NOT_IN_LOSS: i64 = -1;

impl Batcher {
    /// The batch of the training examples at `indices`, on the host.
    pub fn host_batch(&self, dataset: &Dataset, indices: &[u32]) -> HostBatch {
        let layout = self.layout;
        let t = layout.sequence_len() - 1;
        let b = indices.len();
        let mut inputs = Vec::with_capacity(b * t);
        let mut targets = vec![NOT_IN_LOSS; b * t];
        let mut loss_tokens = 0;
        for (row, &index) in indices.iter().enumerate() {
            let example = &dataset.train[index as usize];
            let instruction = &dataset.train_instructions[example.rule as usize];
            let encoded =
                layout.encode_example(instruction, &example.z, &example.target(layout.answer));
            inputs.extend(encoded.tokens[..t].iter().map(|&tok| tok as i64));
            // Target position j predicts token j + 1; the answer starts at token prompt_len.
            let first = encoded.prompt_len - 1;
            for j in first..first + encoded.loss_len {
                targets[row * t + j] = i64::from(encoded.tokens[j + 1]);
            }
            loss_tokens += encoded.loss_len;
        }
        HostBatch {
            inputs,
            targets,
            loss_tokens,
        }
    }
}

/// The order batches visit the training examples in, from the `"batches"` stream: epochs (each
/// example once, reshuffled each epoch) or uniform draws with replacement.
#[derive(Clone, Debug)]
pub struct BatchOrder {
    rng: SeededRng,
    order: Vec<u32>,
    cursor: usize,
    sampling: BatchSampling,
}

impl BatchOrder {
    /// An order over `examples` training examples.
    pub fn new(seed: u64, examples: usize, sampling: BatchSampling) -> Self {
        Self {
            rng: SeededRng::named(seed, "batches"),
            order: (0..examples as u32).collect(),
            cursor: examples, // forces a shuffle before the first batch
            sampling,
        }
    }

    /// The next `batch_size` example indices.
    pub fn next_batch(&mut self, batch_size: usize) -> Vec<u32> {
        if self.sampling == BatchSampling::Replacement {
            let examples = self.order.len();
            return (0..batch_size)
                .map(|_| self.rng.index(examples) as u32)
                .collect();
        }
        let mut out = Vec::with_capacity(batch_size);
        while out.len() < batch_size {
            if self.cursor == self.order.len() {
                self.rng.shuffle(&mut self.order);
                self.cursor = 0;
            }
            let take = (batch_size - out.len()).min(self.order.len() - self.cursor);
            out.extend_from_slice(&self.order[self.cursor..self.cursor + take]);
            self.cursor += take;
        }
        out
    }
}

/// AdamW as this project trains with it (epsilon 1e-8, the run's weight decay), each run's
/// gradient of each parameter clipped to the run's norm first, as burn's `GradientClipping::Norm`
/// clips a run's own ([`Clip::PerRun`]): fused into one pass per parameter on the CPU, burn's own
/// clipping and `AdamW` elsewhere (see [`FusedAdamW`]).
pub(crate) fn adamw(config: &TrainConfig) -> ModuleOptimizer {
    let clip = config
        .grad_clip
        .map_or(Clip::Off, |max_norm| Clip::PerRun(max_norm as f32));
    FusedAdamW::new(config.weight_decay as f32, clip).init()
}

/// The model of K runs (see [`crate::engine::model`]), its optimizer and each run's batch order.
///
/// Each run keeps everything it would have alone: its initial weights (its own `"init"` stream),
/// its batch order (its own `"batches"` stream) and its gradient (the loss is the sum of the runs'
/// losses, and no run's loss depends on another run's weights). AdamW acts per element, so one
/// optimizer over the stacked parameters updates each run as its own optimizer would; gradient
/// clipping, the one step that mixes elements, is done per run ([`adamw`]). The
/// learning-rate schedule is per run too, trivially: runs only train together when their training
/// settings are equal ([`StackKey`]).
pub struct Trainer {
    model: Option<Transformer>,
    optimizer: ModuleOptimizer,
    config: TrainConfig,
    batcher: Batcher,
    orders: Vec<BatchOrder>,
    device: Device,
    step: usize,
}

impl Trainer {
    /// A trainer of the runs of `configs` (one dataset each, in order) on `device` (autodiff is
    /// enabled here), each run's initial weights from its own `"init"` stream.
    ///
    /// # Errors
    /// [`StackError`] when there are no runs or they cannot train together ([`StackKey`]).
    pub fn new(
        configs: &[ValidConfig],
        datasets: &[Dataset],
        device: &Device,
    ) -> Result<Self, StackError> {
        StackKey::check(configs)?;
        let device = device.clone().autodiff();
        let layout = SequenceLayout::new(&configs[0].task);
        let mut rngs: Vec<SeededRng> = configs
            .iter()
            .map(|config| SeededRng::named(config.seed, "init"))
            .collect();
        let model = Transformer::new(&configs[0].model, layout.vocab_size(), &mut rngs, &device);
        let train = configs[0].train.clone();
        Ok(Self {
            model: Some(model),
            // Clipping is per run, never over the whole stack.
            optimizer: adamw(&train),
            orders: configs
                .iter()
                .zip(datasets)
                .map(|(c, d)| BatchOrder::new(c.seed, d.train.len(), train.sampling))
                .collect(),
            config: train,
            batcher: Batcher { layout },
            device,
            step: 0,
        })
    }

    /// A trainer continuing from a [`Trainer::checkpoint`] taken after `step` steps of the same
    /// runs: the weights and optimizer state are loaded, and each batch order is replayed from its
    /// seed to where it was (index shuffles only, no tensor work), so the runs go on exactly as they
    /// would have.
    ///
    /// # Errors
    /// [`RunError::Checkpoint`] when the step is past the end, or the bytes are damaged or belong to
    /// another model or another number of runs; [`RunError::Stack`] when the runs cannot train
    /// together.
    pub fn resume(
        configs: &[ValidConfig],
        datasets: &[Dataset],
        device: &Device,
        step: usize,
        model: Vec<u8>,
        optimizer: Vec<u8>,
    ) -> Result<Self, RunError> {
        let mut trainer = Self::new(configs, datasets, device)?;
        if step > trainer.config.steps {
            return Err(CheckpointError::PastTheEnd {
                step,
                steps: trainer.config.steps,
            }
            .into());
        }
        let fresh = trainer.model.take().expect("a new trainer has its model");
        let blank = std::mem::replace(&mut trainer.optimizer, AdamWConfig::new().init());
        let (model, optimizer) = load_state(fresh, blank, model, optimizer, &trainer.device)?;
        if model.runs() != configs.len() {
            return Err(CheckpointError::Model(format!(
                "it holds {} runs, not {}",
                model.runs(),
                configs.len()
            ))
            .into());
        }
        trainer.model = Some(model);
        trainer.optimizer = optimizer;
        for order in &mut trainer.orders {
            for _ in 0..step {
                order.next_batch(trainer.config.batch_size);
            }
        }
        trainer.step = step;
        Ok(trainer)
    }

    /// Steps taken so far (by every run).
    pub fn step(&self) -> usize {
        self.step
    }

    /// The model being trained (with autodiff; call `.valid()` for inference).
    pub fn model(&self) -> &Transformer {
        self.model
            .as_ref()
            .expect("the model is only taken during a step")
    }

    /// Run `k`'s own model, without autodiff, for evaluation and inference.
    pub fn run_model(&self, k: usize) -> Transformer {
        self.model().valid().run(k)
    }

    /// The device training runs on (with autodiff).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The model's weights and the optimizer's state (AdamW moments and step counts, by parameter
    /// id), as two burnpack byte buffers: with the step count, what [`Trainer::resume`] needs.
    ///
    /// Every tensor is read back in one asynchronous transaction and copied to `host` (a CPU
    /// device), and the records are taken from the copies: burn's records read synchronously,
    /// which WebGPU in a browser cannot do. The bytes are those the synchronous records give.
    ///
    /// # Errors
    /// [`CheckpointError::ReadBack`] when the device cannot give a tensor back.
    pub async fn checkpoint(&self, host: &Device) -> Result<(Vec<u8>, Vec<u8>), CheckpointError> {
        state_bytes(self.model().valid(), &self.optimizer, host).await
    }

    /// Takes up to `steps` steps of every run (never past the configured total) and returns how many
    /// it took and each run's mean loss over them, `[K]`, not yet read back.
    pub fn train_chunk(&mut self, datasets: &[Dataset], steps: usize) -> (usize, Tensor<1>) {
        let steps = steps.min(self.config.steps - self.step);
        let k = self.orders.len();
        let mut loss_sum = Tensor::<1>::zeros([k], &self.device.clone().without_autodiff());
        for _ in 0..steps {
            loss_sum = loss_sum + self.one_step(datasets);
        }
        (steps, loss_sum.div_scalar(steps.max(1) as f64))
    }

    /// One optimizer step of every run; returns each run's batch loss `[K]`, detached.
    fn one_step(&mut self, datasets: &[Dataset]) -> Tensor<1> {
        let layout = self.batcher.layout;
        let t = layout.sequence_len() - 1;
        let (k, b) = (self.orders.len(), self.config.batch_size);
        let mut inputs = Vec::with_capacity(k * b * t);
        let mut targets = Vec::with_capacity(k * b * t);
        let mut inverse_tokens = Vec::with_capacity(k);
        for (order, dataset) in self.orders.iter_mut().zip(datasets) {
            let batch = self.batcher.host_batch(dataset, &order.next_batch(b));
            inputs.extend(batch.inputs);
            targets.extend(batch.targets);
            inverse_tokens.push(1.0 / batch.loss_tokens.max(1) as f32);
        }
        let device = &self.device;
        let inputs = Tensor::<3, Int>::from_data(TensorData::new(inputs, [k, b, t]), device);
        let targets = Tensor::<3, Int>::from_data(TensorData::new(targets, [k, b, t]), device);
        let inverse_tokens = Tensor::<1>::from_data(TensorData::new(inverse_tokens, [k]), device);
        let model = self.model.take().expect("model present between steps");
        // Each run's mean cross-entropy over its answer positions, fused on the CPU.
        let losses = kernels::cross_entropy(model.forward(inputs), targets, inverse_tokens); // (K)
        // The sum's gradient with respect to run k's weights is run k's loss's gradient alone.
        let grads = GradientsParams::from_grads(losses.clone().sum().backward(), &model);
        let lr = learning_rate(&self.config, self.step);
        self.model = Some(self.optimizer.step(lr, model, grads));
        self.step += 1;
        losses.inner()
    }
}

/// The weights of `model` (on any device) and the state of `optimizer`, as two burnpack byte
/// buffers. Every tensor is read back in one asynchronous transaction and copied to `host` (a CPU
/// device), and the records are taken from the copies: burn's records read synchronously, which
/// WebGPU in a browser cannot do. The bytes are those the synchronous records give.
///
/// # Errors
/// [`CheckpointError::ReadBack`] when the device cannot give a tensor back.
pub(crate) async fn state_bytes<M: burn::module::Module>(
    model: M,
    optimizer: &ModuleOptimizer,
    host: &Device,
) -> Result<(Vec<u8>, Vec<u8>), CheckpointError> {
    let host = host.clone().without_autodiff();
    let mut reads = ParamReads::default();
    model.visit(&mut reads);
    let data = reads
        .transaction
        .execute_async()
        .await
        .map_err(|e| CheckpointError::ReadBack(format!("the model: {e:?}")))?;
    let expected = data.len();
    let mut copy = HostCopy {
        data: data.into_iter(),
        device: host.clone(),
        copied: 0,
    };
    let host_model = model.map(&mut copy);
    if copy.copied != expected {
        return Err(CheckpointError::ReadBack(format!(
            "{} of the model's {expected} tensors came back",
            copy.copied
        )));
    }
    let model = host_model
        .into_record()
        .into_bytes()
        .map_err(|e| CheckpointError::Model(format!("{e:?}")))?;
    let optimizer = optimizer
        .to_record_async(&host)
        .await
        .and_then(|record| record.into_bytes())
        .map_err(|e| CheckpointError::ReadBack(format!("the optimizer state: {e:?}")))?;
    Ok((model.to_vec(), optimizer.to_vec()))
}

/// `fresh` and `blank` (a new model and optimizer on `device`) with the weights and optimizer state
/// of [`state_bytes`] loaded.
///
/// # Errors
/// [`CheckpointError::Model`] or [`CheckpointError::Optimizer`] when the bytes are damaged or belong
/// to another model.
pub(crate) fn load_state<M: burn::module::Module>(
    fresh: M,
    blank: ModuleOptimizer,
    model: Vec<u8>,
    optimizer: Vec<u8>,
    device: &Device,
) -> Result<(M, ModuleOptimizer), CheckpointError> {
    let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(model))
        .map_err(|e| CheckpointError::Model(format!("{e:?}")))?;
    let model = fresh
        .try_load_record(record)
        .map_err(|e| CheckpointError::Model(format!("{e:?}")))?;
    let state = OptimizerRecord::from_bytes(Bytes::from_bytes_vec(optimizer))
        .map_err(|e| CheckpointError::Optimizer(format!("{e:?}")))?;
    // On the run's own device: the default one is WebGPU in a browser (see vendor/README.md).
    let state_device = device.clone().without_autodiff();
    Ok((model, blank.load_record_on(state, &state_device)))
}

/// Registers every parameter of a module, as its record would save it, for one read.
#[derive(Default)]
struct ParamReads {
    transaction: Transaction,
}

impl ParamReads {
    fn register<const D: usize, K: burn::tensor::kind::Transaction>(
        &mut self,
        tensor: Tensor<D, K>,
    ) {
        self.transaction = std::mem::take(&mut self.transaction).register(tensor);
    }
}

impl ModuleVisitor for ParamReads {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.register(param.transform_for_save().val());
    }

    fn visit_int<const D: usize>(&mut self, param: &Param<Tensor<D, Int>>) {
        self.register(param.transform_for_save().val());
    }

    fn visit_bool<const D: usize>(&mut self, param: &Param<Tensor<D, Bool>>) {
        self.register(param.transform_for_save().val());
    }
}

/// Replaces each parameter, in [`ParamReads`]' order, by a copy of its data on `device`. The copies
/// keep their ids (the optimizer state is keyed by them) and have no load or save transform, so the
/// record of the copy holds exactly what was read.
struct HostCopy {
    data: std::vec::IntoIter<TensorData>,
    device: Device,
    copied: usize,
}

impl HostCopy {
    fn copy<const D: usize, K: burn::tensor::kind::Basic>(
        &mut self,
        param: Param<Tensor<D, K>>,
    ) -> Param<Tensor<D, K>>
    where
        Tensor<D, K>: burn::module::ParameterValue,
    {
        match self.data.next() {
            Some(data) => {
                self.copied += 1;
                Param::initialized(param.id, Tensor::from_data(data, &self.device))
            }
            None => param,
        }
    }
}

impl ModuleMapper for HostCopy {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        self.copy(param)
    }

    fn map_int<const D: usize>(&mut self, param: Param<Tensor<D, Int>>) -> Param<Tensor<D, Int>> {
        self.copy(param)
    }

    fn map_bool<const D: usize>(
        &mut self,
        param: Param<Tensor<D, Bool>>,
    ) -> Param<Tensor<D, Bool>> {
        self.copy(param)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays_to_the_floor() {
        let config = TrainConfig {
            steps: 100,
            warmup_steps: 10,
            learning_rate: 1e-3,
            final_lr_ratio: 0.1,
            ..TrainConfig::default()
        };
        assert!((learning_rate(&config, 0) - 1e-4).abs() < 1e-12);
        assert!((learning_rate(&config, 9) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(&config, 10) - 1e-3).abs() < 1e-12);
        assert!((learning_rate(&config, 100) - 1e-4).abs() < 1e-12);
        assert!(learning_rate(&config, 50) < learning_rate(&config, 20));
    }

    // Natively only: the test blocks on the read-back, which wasm cannot do.
    #[cfg(not(target_arch = "wasm32"))]
    #[test]
    fn the_async_checkpoint_holds_the_bytes_of_the_synchronous_records() {
        let mut config = crate::engine::config::ExperimentConfig::default();
        config.task.instructions = 8;
        config.task.budget = crate::engine::config::Budget::Total(128);
        config.model.layers = 1;
        config.model.width = 16;
        config.model.heads = 2;
        config.model.ff_width = 32;
        config.train.batch_size = 8;
        config.train.steps = 3;
        config.train.warmup_steps = 1;
        config.eval.test_rules = 4;
        let config = config.validate().unwrap();
        let datasets = [Dataset::generate(&config).unwrap()];
        let device = Device::flex();
        let mut trainer = Trainer::new(&[config], &datasets, &device).unwrap();
        let (taken, _) = trainer.train_chunk(&datasets, 3);
        assert_eq!(taken, 3);
        let (model, optimizer) = pollster::block_on(trainer.checkpoint(&device)).unwrap();
        let sync_model = trainer.model().clone().into_record().into_bytes().unwrap();
        let sync_optimizer = trainer.optimizer.into_bytes().unwrap();
        // Not empty: AdamW has moments for every parameter after a step.
        assert!(
            optimizer.len() > model.len(),
            "{} vs {}",
            optimizer.len(),
            model.len()
        );
        assert!(model == sync_model.to_vec(), "the model's bytes differ");
        assert!(
            optimizer == sync_optimizer.to_vec(),
            "the optimizer's bytes differ"
        );
    }

    #[test]
    fn drawn_with_replacement_batches_repeat_examples_and_replay_from_the_seed() {
        let mut order = BatchOrder::new(3, 10, BatchSampling::Replacement);
        let draws: Vec<u32> = (0..20).flat_map(|_| order.next_batch(4)).collect();
        assert!(draws.iter().all(|&i| i < 10));
        let mut seen = draws.clone();
        seen.sort_unstable();
        seen.dedup();
        assert!(
            seen.len() < draws.len(),
            "80 draws of 10 examples repeat some"
        );
        let mut again = BatchOrder::new(3, 10, BatchSampling::Replacement);
        assert_eq!(again.next_batch(4), draws[..4]);
    }

    #[test]
    fn batch_order_visits_every_example_once_per_epoch() {
        let epochs = |seed| BatchOrder::new(seed, 10, BatchSampling::Epochs);
        let mut order = epochs(3);
        let mut first: Vec<u32> = [
            order.next_batch(4),
            order.next_batch(4),
            order.next_batch(2),
        ]
        .concat();
        first.sort_unstable();
        assert_eq!(first, (0..10).collect::<Vec<_>>());
        let mut again = epochs(3);
        assert_eq!(again.next_batch(7), epochs(3).next_batch(7));
        assert_ne!(again.next_batch(10), epochs(4).next_batch(10));
    }
}

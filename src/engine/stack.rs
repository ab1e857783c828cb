//! Runs trained together: K runs whose model shape, batch, schedule and sequence format agree train
//! as one stacked model, every parameter with a leading run axis of length K.
//!
//! Why: a run of the reference model is hundreds of small kernels a step, and on a GPU (and, less,
//! on a CPU) the cost of launching them dwarfs their arithmetic. A stack launches the same kernels
//! once for K runs: each matmul is a batched matmul over the run axis, embeddings are gathered per
//! run from one table of K vocabularies, and the loss is the sum of the K per-run losses, so each
//! run's gradient is exactly its own (no term of one run's loss depends on another run's weights).
//!
//! Each run keeps everything it would have alone: its data (drawn from its own settings and seed),
//! its initial weights (its own `"init"` stream, [`Transformer::new`], then stacked) and its batch
//! order (its own `"batches"` stream). AdamW acts per element, so one optimizer over the stacked
//! parameters updates each run as its own optimizer would; gradient clipping, the one step that
//! mixes elements, is done per run here ([`clip_per_run`]). The learning-rate schedule is per run
//! too, trivially: runs only stack when their training settings are equal ([`StackKey`]).
//!
//! Evaluation decodes every run's prompts in one stacked forward pass a token
//! ([`crate::engine::eval::evaluate_stacked`]). The attention view and try-your-own take run k's own
//! [`Transformer`] out of the stack ([`StackedTrainer::run_model`]); a stack checkpoints and resumes
//! as a whole ([`StackCheckpoint`]).
//!
//! Shape letters as in [`crate::engine::model`], plus `K` runs and `N = B * T` positions.

use crate::engine::checkpoint::{
    CheckpointError, CheckpointMeta, STACK_FILE_MAGIC, frame, unframe,
};
use crate::engine::config::{TrainConfig, ValidConfig};
use crate::engine::eval::{BackendError, evaluate_stacked};
use crate::engine::metrics::{EvalSummary, Evaluation, LossPoint};
use crate::engine::model::{Block, CausalSelfAttention, Transformer};
use crate::engine::rng::SeededRng;
use crate::engine::run::{RunError, chunk_length, evaluation_at};
pub use crate::engine::stack_plan::{StackError, StackKey, plan_stacks};
use crate::engine::task::Dataset;
use crate::engine::tokenizer::SequenceLayout;
use crate::engine::train::{BatchOrder, Batcher, adamw, learning_rate, load_state, state_bytes};
use burn::module::{ModuleVisitor, Param};
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::optim::{AdamWConfig, GradientsParams, ModuleOptimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::{gelu, log_softmax, softmax};

/// Most runs `idp sweep` puts in one stack by default: a bound on the memory a stack holds at once
/// (and on the results a stopped stack has not yet written).
pub const MAX_STACK: usize = 16;

/// burn's `LayerNormConfig` default, which [`Transformer`]'s norms use.
const LAYER_NORM_EPSILON: f64 = 1e-5;

/// K linear layers: `y_k = x_k W_k + b_k`.
#[derive(Module, Debug)]
pub struct StackedLinear {
    /// `[K, In, Out]`.
    pub weight: Param<Tensor<3>>,
    /// `[K, Out]`.
    pub bias: Param<Tensor<2>>,
}

/// A stacked parameter from the runs' own, on their device. The stacking is done without autodiff
/// (a stacked tensor made on the autodiff device would be a node of the runs' graphs, and burn
/// cannot make a node a parameter); the result is a fresh leaf.
fn stacked<const D: usize, const D2: usize>(parts: Vec<Tensor<D>>) -> Param<Tensor<D2>> {
    let autodiff = parts.first().is_some_and(|t| t.is_autodiff());
    let stack = Tensor::stack::<D2>(parts.into_iter().map(|t| t.inner()).collect(), 0);
    Param::from_tensor(if autodiff { stack.autodiff() } else { stack })
}

/// Run `k`'s slice of a stacked tensor `[K, ...]`.
fn slice<const D: usize, const D2: usize>(stack: &Param<Tensor<D>>, k: usize) -> Param<Tensor<D2>> {
    let value = stack.val();
    let autodiff = value.is_autodiff();
    let part = value.inner().narrow(0, k, 1).squeeze_dim::<D2>(0);
    Param::from_tensor(if autodiff { part.autodiff() } else { part })
}

impl StackedLinear {
    fn stack(layers: &[&Linear]) -> Self {
        Self {
            weight: stacked(layers.iter().map(|l| l.weight.val()).collect()),
            bias: stacked(
                layers
                    .iter()
                    .map(|l| {
                        l.bias
                            .as_ref()
                            .expect("the model's linear layers have biases")
                            .val()
                    })
                    .collect(),
            ),
        }
    }

    fn unstack(&self, k: usize) -> Linear {
        Linear {
            weight: slice(&self.weight, k),
            bias: Some(slice(&self.bias, k)),
        }
    }

    /// # Shapes
    /// - `x`: `[K, N, In]` -> `[K, N, Out]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        x.matmul(self.weight.val()) + self.bias.val().unsqueeze_dim::<3>(1)
    }
}

/// K LayerNorms.
#[derive(Module, Debug)]
pub struct StackedNorm {
    /// `[K, D]` scales.
    pub gamma: Param<Tensor<2>>,
    /// `[K, D]` shifts.
    pub beta: Param<Tensor<2>>,
}

impl StackedNorm {
    fn stack(norms: &[&LayerNorm]) -> Self {
        Self {
            gamma: stacked(norms.iter().map(|n| n.gamma.val()).collect()),
            beta: stacked(
                norms
                    .iter()
                    .map(|n| n.beta.as_ref().expect("the model's norms shift").val())
                    .collect(),
            ),
        }
    }

    fn unstack(&self, k: usize, device: &Device) -> LayerNorm {
        let [_, d] = self.gamma.val().dims();
        let mut norm = LayerNormConfig::new(d).init(device);
        norm.gamma = slice(&self.gamma, k);
        norm.beta = Some(slice(&self.beta, k));
        norm
    }

    /// burn's own normalisation (the same kernel a lone run uses), then each run's scale and shift.
    ///
    /// # Shapes
    /// - `x`: `[K, N, D]` -> `[K, N, D]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        let [_, _, d] = x.dims();
        let ones = Tensor::<1>::ones([d], &x.device());
        let normed = burn::tensor::module::layer_norm(x, ones, None, LAYER_NORM_EPSILON);
        normed * self.gamma.val().unsqueeze_dim::<3>(1) + self.beta.val().unsqueeze_dim::<3>(1)
    }
}

/// K causal self-attentions.
#[derive(Module, Debug)]
pub struct StackedAttention {
    /// `[K, D, 3D]`.
    pub qkv: StackedLinear,
    /// `[K, D, D]`.
    pub proj: StackedLinear,
    /// Heads `H`.
    pub heads: usize,
}

impl StackedAttention {
    /// # Shapes
    /// - `x`: `[K, N, D]` with `N = batch * T`; `future`: `[T, T]` -> `[K, N, D]`
    pub fn forward(&self, x: Tensor<3>, batch: usize, future: Tensor<2, Bool>) -> Tensor<3> {
        let [k, n, d] = x.dims();
        let t = n / batch;
        let kb = k * batch;
        let (h, s) = (self.heads, d / self.heads);
        let qkv = self.qkv.forward(x).reshape([kb, t, 3 * d]); // (K*B, T, 3D)
        let split = |i: usize| {
            qkv.clone()
                .narrow(2, i * d, d) // (K*B, T, D)
                .reshape([kb, t, h, s])
                .swap_dims(1, 2) // (K*B, H, T, S)
        };
        let (q, key, v) = (split(0), split(1), split(2));
        let scores = q.matmul(key.transpose()).div_scalar((s as f64).sqrt()); // (K*B, H, T, T)
        let future = future.reshape([1, 1, t, t]).expand([kb, h, t, t]);
        let weights = softmax(scores.mask_fill(future, f32::NEG_INFINITY), 3);
        let y = weights.matmul(v).swap_dims(1, 2).reshape([k, n, d]); // (K, N, D)
        self.proj.forward(y)
    }
}

/// K pre-LN blocks.
#[derive(Module, Debug)]
pub struct StackedBlock {
    /// LayerNorms before attention.
    pub attn_norm: StackedNorm,
    /// The attentions.
    pub attn: StackedAttention,
    /// LayerNorms before the MLP.
    pub mlp_norm: StackedNorm,
    /// `[K, D, F]`.
    pub fc: StackedLinear,
    /// `[K, F, D]`.
    pub fc_out: StackedLinear,
}

impl StackedBlock {
    /// # Shapes
    /// - `x`: `[K, N, D]` -> `[K, N, D]`
    pub fn forward(&self, x: Tensor<3>, batch: usize, future: Tensor<2, Bool>) -> Tensor<3> {
        let x = x.clone() + self.attn.forward(self.attn_norm.forward(x), batch, future);
        let hidden = gelu(self.fc.forward(self.mlp_norm.forward(x.clone()))); // (K, N, F)
        x + self.fc_out.forward(hidden)
    }
}

/// K transformers of one shape, as one module.
#[derive(Module, Debug)]
pub struct StackedTransformer {
    /// `[K, V, D]`.
    pub token_embedding: Param<Tensor<3>>,
    /// `[K, max_len, D]`.
    pub position_embedding: Param<Tensor<3>>,
    /// The blocks.
    pub blocks: Vec<StackedBlock>,
    /// Final LayerNorms.
    pub final_norm: StackedNorm,
    /// `[K, D, V]`.
    pub head: StackedLinear,
}

impl StackedTransformer {
    /// The stack of `models` (all of one shape), in their order; their weights are copied.
    pub fn stack(models: &[Transformer]) -> Self {
        let blocks = (0..models[0].blocks.len())
            .map(|i| {
                let all: Vec<&Block> = models.iter().map(|m| &m.blocks[i]).collect();
                let attn: Vec<&CausalSelfAttention> = all.iter().map(|b| &b.attn).collect();
                StackedBlock {
                    attn_norm: StackedNorm::stack(
                        &all.iter().map(|b| &b.attn_norm).collect::<Vec<_>>(),
                    ),
                    attn: StackedAttention {
                        qkv: StackedLinear::stack(&attn.iter().map(|a| &a.qkv).collect::<Vec<_>>()),
                        proj: StackedLinear::stack(
                            &attn.iter().map(|a| &a.proj).collect::<Vec<_>>(),
                        ),
                        heads: attn[0].heads,
                    },
                    mlp_norm: StackedNorm::stack(
                        &all.iter().map(|b| &b.mlp_norm).collect::<Vec<_>>(),
                    ),
                    fc: StackedLinear::stack(&all.iter().map(|b| &b.fc).collect::<Vec<_>>()),
                    fc_out: StackedLinear::stack(
                        &all.iter().map(|b| &b.fc_out).collect::<Vec<_>>(),
                    ),
                }
            })
            .collect();
        Self {
            token_embedding: stacked(
                models
                    .iter()
                    .map(|m| m.token_embedding.weight.val())
                    .collect(),
            ),
            position_embedding: stacked(
                models.iter().map(|m| m.position_embedding.val()).collect(),
            ),
            blocks,
            final_norm: StackedNorm::stack(
                &models.iter().map(|m| &m.final_norm).collect::<Vec<_>>(),
            ),
            head: StackedLinear::stack(&models.iter().map(|m| &m.head).collect::<Vec<_>>()),
        }
    }

    /// Runs in the stack.
    pub fn runs(&self) -> usize {
        self.token_embedding.val().dims()[0]
    }

    /// Run `k`'s own model (a copy of its weights, on the stack's device).
    pub fn unstack(&self, k: usize) -> Transformer {
        let device = self.token_embedding.val().device();
        Transformer {
            token_embedding: Embedding {
                weight: slice(&self.token_embedding, k),
            },
            position_embedding: slice(&self.position_embedding, k),
            blocks: self
                .blocks
                .iter()
                .map(|b| Block {
                    attn_norm: b.attn_norm.unstack(k, &device),
                    attn: CausalSelfAttention {
                        qkv: b.attn.qkv.unstack(k),
                        proj: b.attn.proj.unstack(k),
                        heads: b.attn.heads,
                    },
                    mlp_norm: b.mlp_norm.unstack(k, &device),
                    fc: b.fc.unstack(k),
                    fc_out: b.fc_out.unstack(k),
                })
                .collect(),
            final_norm: self.final_norm.unstack(k, &device),
            head: self.head.unstack(k),
        }
    }

    /// Next-token logits of every run.
    ///
    /// # Shapes
    /// - `tokens`: `[K, B, T]` -> `[K, B, T, V]`
    pub fn forward(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        let [k, b, t] = tokens.dims();
        let device = tokens.device();
        let [_, v, d] = self.token_embedding.val().dims();
        // Run k's token j is row k * V + j of the K vocabularies laid end to end.
        let offsets = Tensor::<1, Int>::arange(0..k as i64, &device)
            .mul_scalar(v as i64)
            .reshape([k, 1, 1])
            .expand([k, b, t]);
        let ids = (tokens + offsets).reshape([k * b * t]);
        let table = self.token_embedding.val().reshape([k * v, d]); // (K*V, D)
        let x = table.select(0, ids).reshape([k, b, t, d]); // (K, B, T, D)
        let positions = self
            .position_embedding
            .val()
            .narrow(1, 0, t)
            .unsqueeze_dim::<4>(1); // (K, 1, T, D)
        let mut x = (x + positions).reshape([k, b * t, d]); // (K, N, D)
        // true above the diagonal: key j > query i is in the future and gets no attention.
        let future = Tensor::<2, Bool>::tril_mask([t, t], 0, &device);
        for block in &self.blocks {
            x = block.forward(x, b, future.clone());
        }
        self.head
            .forward(self.final_norm.forward(x))
            .reshape([k, b, t, v])
    }
}

/// Each run's mean cross-entropy over its answer positions ([`crate::engine::train::masked_cross_entropy`]
/// per run).
///
/// # Shapes
/// - `logits`, `targets`: `[K, B, T, V]` (targets one-hot, zero rows ignored); `inverse_tokens`:
///   `[K]`, one over each run's number of loss positions -> `[K]`
pub fn stacked_cross_entropy(
    logits: Tensor<4>,
    targets: Tensor<4>,
    inverse_tokens: Tensor<1>,
) -> Tensor<1> {
    let [k, b, t, v] = logits.dims();
    let log_probs = log_softmax(logits, 3); // (K, B, T, V)
    (log_probs * targets)
        .reshape([k, b * t * v])
        .sum_dim(1) // (K, 1)
        .reshape([k])
        .neg()
        * inverse_tokens
}

/// Scales each run's slice of a stacked gradient `[K, ...]` to a norm of at most `max_norm`: what
/// burn's `GradientClipping::Norm` does to a lone run's gradient of that parameter, per run.
fn clip_rows<const D: usize>(grad: Tensor<D>, max_norm: f64) -> Tensor<D> {
    let dims = grad.dims();
    let k = dims[0];
    let n = dims.iter().product::<usize>() / k.max(1);
    let rows = grad.reshape([k, n]);
    let norm = rows.clone().square().sum_dim(1).sqrt(); // (K, 1)
    let coefficient = norm
        .add_scalar(f32::MIN_POSITIVE)
        .recip()
        .mul_scalar(max_norm)
        .clamp_max(1.0); // (K, 1)
    (rows * coefficient).reshape(dims)
}

/// Applies [`clip_rows`] to the gradient of every parameter of a stack.
struct ClipPerRun<'a> {
    grads: &'a mut GradientsParams,
    max_norm: f64,
}

impl ModuleVisitor for ClipPerRun<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(grad) = self.grads.remove::<D>(param.id) {
            self.grads
                .register::<D>(param.id, clip_rows(grad, self.max_norm));
        }
    }
}

/// Per-run gradient clipping of a stack's gradients (see the module's doc).
fn clip_per_run(model: &StackedTransformer, grads: &mut GradientsParams, max_norm: f64) {
    model.visit(&mut ClipPerRun { grads, max_norm });
}

/// The stacked model, its optimizer and each run's batch order.
pub struct StackedTrainer {
    model: Option<StackedTransformer>,
    optimizer: ModuleOptimizer,
    config: TrainConfig,
    batcher: Batcher,
    orders: Vec<BatchOrder>,
    device: Device,
    step: usize,
}

impl StackedTrainer {
    /// A trainer of the runs of `configs` (one dataset each, in order) on `device`: each run's
    /// initial weights from its own `"init"` stream, exactly as [`crate::engine::train::Trainer::new`]
    /// draws them.
    ///
    /// # Errors
    /// [`StackError`] when there are no runs or they cannot stack ([`StackKey`]).
    pub fn new(
        configs: &[ValidConfig],
        datasets: &[Dataset],
        device: &Device,
    ) -> Result<Self, StackError> {
        StackKey::check(configs)?;
        let device = device.clone().autodiff();
        let layout = SequenceLayout::new(&configs[0].task);
        let models: Vec<Transformer> = configs
            .iter()
            .map(|config| {
                let mut init = SeededRng::named(config.seed, "init");
                Transformer::new(&config.model, layout.vocab_size(), &mut init, &device)
            })
            .collect();
        let train = configs[0].train.clone();
        Ok(Self {
            model: Some(StackedTransformer::stack(&models)),
            // Clipping is per run (`clip_per_run`), never over the whole stack.
            optimizer: adamw(&train, None),
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

    /// A trainer continuing from a [`StackedTrainer::checkpoint`] taken after `step` steps of the same
    /// runs: weights and optimizer state loaded, each batch order replayed to where it was.
    ///
    /// # Errors
    /// [`RunError::Checkpoint`] when the step is past the end or the bytes are damaged or belong to
    /// another stack; [`RunError::Stack`] when the runs cannot stack.
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

    /// The stacked model (with autodiff).
    pub fn model(&self) -> &StackedTransformer {
        self.model
            .as_ref()
            .expect("the model is only taken during a step")
    }

    /// Run `k`'s own model, without autodiff, for evaluation and inference.
    pub fn run_model(&self, k: usize) -> Transformer {
        self.model().valid().unstack(k)
    }

    /// The device training runs on (with autodiff).
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// The stacked weights and optimizer state as burnpack bytes (see
    /// [`crate::engine::train::Trainer::checkpoint`]).
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
        let (t, v) = (layout.sequence_len() - 1, layout.vocab_size());
        let (k, b) = (self.orders.len(), self.config.batch_size);
        let mut inputs = Vec::with_capacity(k * b * t);
        let mut targets = Vec::with_capacity(k * b * t * v);
        let mut inverse_tokens = Vec::with_capacity(k);
        for (order, dataset) in self.orders.iter_mut().zip(datasets) {
            let batch = self.batcher.host_batch(dataset, &order.next_batch(b));
            inputs.extend(batch.inputs);
            targets.extend(batch.targets);
            inverse_tokens.push(1.0 / batch.loss_tokens.max(1) as f32);
        }
        let device = &self.device;
        let inputs = Tensor::<3, Int>::from_data(TensorData::new(inputs, [k, b, t]), device);
        let targets = Tensor::<4>::from_data(TensorData::new(targets, [k, b, t, v]), device);
        let inverse_tokens = Tensor::<1>::from_data(TensorData::new(inverse_tokens, [k]), device);
        let model = self.model.take().expect("model present between steps");
        let losses = stacked_cross_entropy(model.forward(inputs), targets, inverse_tokens); // (K)
        // The sum's gradient with respect to run k's weights is run k's loss's gradient alone.
        let mut grads = GradientsParams::from_grads(losses.clone().sum().backward(), &model);
        if let Some(max_norm) = self.config.grad_clip {
            clip_per_run(&model, &mut grads, max_norm);
        }
        let lr = learning_rate(&self.config, self.step);
        self.model = Some(self.optimizer.step(lr, model, grads));
        self.step += 1;
        losses.inner()
    }
}

/// What one call to [`Stack::advance`] did, run by run.
#[derive(Clone, Debug, PartialEq)]
pub struct StackAdvance {
    /// Each run's mean loss over the steps just taken (`None` for a run that has diverged).
    pub losses: Vec<Option<LossPoint>>,
    /// Each run's evaluation, when the chunk reached an evaluation point.
    pub evaluations: Vec<Option<Evaluation>>,
    /// Whether every configured step has been taken (and the final evaluations done).
    pub finished: bool,
}

/// Runs in progress as one stack: [`crate::engine::run::Run`] for K runs at once.
pub struct Stack {
    configs: Vec<ValidConfig>,
    layout: SequenceLayout,
    datasets: Vec<Dataset>,
    trainer: StackedTrainer,
    losses: Vec<Vec<LossPoint>>,
    evaluations: Vec<Vec<EvalSummary>>,
    diverged: Vec<Option<RunError>>,
}

impl Stack {
    /// Draws each run's data and initialises the stack on `device`.
    ///
    /// # Errors
    /// [`RunError::Config`] when a run's settings allow too few rules or inputs to draw;
    /// [`RunError::Stack`] when the runs cannot stack.
    pub fn new(configs: &[ValidConfig], device: &Device) -> Result<Self, RunError> {
        let datasets = configs
            .iter()
            .map(Dataset::generate)
            .collect::<Result<Vec<_>, _>>()?;
        let trainer = StackedTrainer::new(configs, &datasets, device)?;
        Ok(Self::with(configs.to_vec(), datasets, trainer))
    }

    fn with(configs: Vec<ValidConfig>, datasets: Vec<Dataset>, trainer: StackedTrainer) -> Self {
        let k = configs.len();
        Self {
            layout: SequenceLayout::new(&configs[0].task),
            configs,
            datasets,
            trainer,
            losses: vec![Vec::new(); k],
            evaluations: vec![Vec::new(); k],
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

    /// Whether all steps are done.
    pub fn is_finished(&self) -> bool {
        self.step() >= self.trainer.config.steps
    }

    /// Run `k`'s loss curve so far.
    pub fn losses(&self, k: usize) -> &[LossPoint] {
        &self.losses[k]
    }

    /// Run `k`'s evaluations so far.
    pub fn evaluations(&self, k: usize) -> &[EvalSummary] {
        &self.evaluations[k]
    }

    /// Why run `k` stopped learning, when its loss became NaN or infinite (the others go on: a
    /// run's gradient never reaches another run's weights).
    pub fn diverged(&self, k: usize) -> Option<&RunError> {
        self.diverged[k].as_ref()
    }

    /// Run `k`'s model without autodiff, for inference (try-your-own, attention).
    pub fn inference_model(&self, k: usize) -> Transformer {
        self.trainer.run_model(k)
    }

    /// The device inference runs on.
    pub fn inference_device(&self) -> Device {
        self.trainer.device().clone().without_autodiff()
    }

    /// Trains every run at most `max_steps` steps, stopping early at the next evaluation point, and
    /// evaluates each run there (as [`crate::engine::run::Run::advance`] does for one). The losses
    /// are read back once per call, asynchronously.
    ///
    /// # Errors
    /// [`RunError::Backend`] when the device fails.
    pub async fn advance(&mut self, max_steps: usize) -> Result<StackAdvance, RunError> {
        // The runs of a stack share their training settings: the first's stand for all.
        let chunk = chunk_length(self.step(), max_steps, &self.configs[0]);
        let (taken, losses) = self.trainer.train_chunk(&self.datasets, chunk);
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
        let mut evaluations = vec![None; self.len()];
        // Each run evaluates where and on what it would alone (its own `eval` settings).
        let limits: Option<Vec<Option<usize>>> = self
            .configs
            .iter()
            .map(|c| evaluation_at(step, finished, c))
            .collect();
        if let Some(limits) = limits {
            let datasets: Vec<&Dataset> = self.datasets.iter().collect();
            let model = self.trainer.model().valid();
            let all = evaluate_stacked(
                &model,
                &self.layout,
                &datasets,
                step,
                &limits,
                &self.inference_device(),
            )
            .await?;
            for (k, (slot, evaluation)) in evaluations.iter_mut().zip(all).enumerate() {
                // A diverged run's answers mean nothing; its slot stays empty.
                if self.diverged[k].is_some() {
                    continue;
                }
                let summary = evaluation.summary();
                if self.evaluations[k].last().map(|e| e.step) != Some(summary.step) {
                    self.evaluations[k].push(summary);
                }
                *slot = Some(evaluation);
            }
        }
        Ok(StackAdvance {
            losses: points,
            evaluations,
            finished,
        })
    }

    /// Everything needed to go on with the stack later.
    ///
    /// # Errors
    /// [`CheckpointError::ReadBack`] when the device cannot give the tensors back.
    pub async fn checkpoint(&self) -> Result<StackCheckpoint, CheckpointError> {
        let (model, optimizer) = self.trainer.checkpoint(&Device::flex()).await?;
        Ok(StackCheckpoint {
            metas: (0..self.len())
                .map(|k| {
                    CheckpointMeta::new(
                        self.configs[k].clone(),
                        self.step(),
                        self.losses[k].clone(),
                        self.evaluations[k].clone(),
                    )
                })
                .collect(),
            model,
            optimizer,
        })
    }

    /// The stack of a [`Stack::checkpoint`], on `device`, going on as it would have.
    ///
    /// # Errors
    /// [`RunError::Checkpoint`] when the saved tensors are damaged or belong to another stack.
    pub fn resume(checkpoint: StackCheckpoint, device: &Device) -> Result<Self, RunError> {
        let StackCheckpoint {
            metas,
            model,
            optimizer,
        } = checkpoint;
        let configs: Vec<ValidConfig> = metas.iter().map(|m| m.config.clone()).collect();
        let step = metas.first().map_or(0, |m| m.step);
        let datasets = configs
            .iter()
            .map(Dataset::generate)
            .collect::<Result<Vec<_>, _>>()?;
        let trainer = StackedTrainer::resume(&configs, &datasets, device, step, model, optimizer)?;
        let mut stack = Self::with(configs, datasets, trainer);
        for (k, meta) in metas.into_iter().enumerate() {
            stack.losses[k] = meta.losses;
            stack.evaluations[k] = meta.evaluations;
        }
        Ok(stack)
    }
}

/// A stack in progress, resumable: each run's meta and the stack's model and optimizer state.
#[derive(Clone, Debug, PartialEq)]
pub struct StackCheckpoint {
    /// Each run's settings, step and curves, in the stack's order.
    pub metas: Vec<CheckpointMeta>,
    /// The stacked weights (burnpack).
    pub model: Vec<u8>,
    /// The optimizer's state (burnpack).
    pub optimizer: Vec<u8>,
}

impl StackCheckpoint {
    /// The checkpoint as one file's bytes: the layout of a single run's checkpoint file, its meta a
    /// JSON array of the runs' metas, then a CRC-32 of all that (4 bytes, little-endian), so that a
    /// damaged file is refused rather than trained on.
    pub fn to_bytes(&self) -> Vec<u8> {
        let metas: Vec<serde_json::Value> = self
            .metas
            .iter()
            .map(|m| serde_json::to_value(m).expect("checkpoints serialize"))
            .collect();
        let meta = serde_json::Value::Array(metas).to_string();
        let mut bytes = frame(STACK_FILE_MAGIC, &meta, &self.model, &self.optimizer);
        let checksum = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        bytes
    }

    /// Reads the bytes of [`Self::to_bytes`], checking every run's meta.
    ///
    /// # Errors
    /// [`CheckpointError::Unreadable`] for a damaged file or runs at different steps; each meta's
    /// own errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        let (content, checksum) = bytes
            .split_last_chunk::<4>()
            .ok_or_else(|| CheckpointError::Unreadable("the file is cut short".into()))?;
        if crc32fast::hash(content) != u32::from_le_bytes(*checksum) {
            // A file cut short says so; any other difference is damage.
            unframe(STACK_FILE_MAGIC, content)?;
            return Err(CheckpointError::Unreadable(
                "its checksum does not match: the file is damaged".into(),
            ));
        }
        let (meta, model, optimizer) = unframe(STACK_FILE_MAGIC, content)?;
        let values: Vec<serde_json::Value> =
            serde_json::from_str(&meta).map_err(|e| CheckpointError::Unreadable(e.to_string()))?;
        let metas = values
            .iter()
            .map(|v| CheckpointMeta::from_json(&v.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        if metas.is_empty() || metas.iter().any(|m| m.step != metas[0].step) {
            return Err(CheckpointError::Unreadable(StackError::Steps.to_string()));
        }
        Ok(Self {
            metas,
            model,
            optimizer,
        })
    }
}

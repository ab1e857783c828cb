//! A GPT-style decoder-only transformer, small enough to train in a browser tab, for `K` runs at
//! once: every parameter has a leading run axis, and a run trained alone is `K = 1`.
//!
//! References: Radford et al., *Language Models are Unsupervised Multitask Learners* (GPT-2), and
//! Karpathy's nanoGPT, whose layout this follows: token + learned position embeddings, `layers`
//! pre-LayerNorm blocks (causal multi-head self-attention, then a GELU MLP, each in a residual branch),
//! a final LayerNorm and a linear head to the vocabulary. No dropout: the datasets are generated and
//! the runs short.
//!
//! Why a run axis: a run of the reference model is hundreds of small kernels a step, and on a GPU
//! (and, less, on a CPU) the cost of launching them dwarfs their arithmetic. K runs whose shapes
//! agree train as one model: each matmul is a batched matmul over the run axis, embeddings are
//! gathered per run from one table of K vocabularies, and the loss is the sum of the K per-run
//! losses, so each run's gradient is exactly its own (no term of one run's loss depends on another
//! run's weights). For `K = 1` the same code is the lone run, and its linear layers multiply all
//! `B * T` rows in one matmul (burn's own `Linear` on `[B, T, D]` calls the CPU's gemm once per
//! sequence). One model, one attention and one optimizer path serve a run alone and a stack.
//!
//! Weights are drawn from each run's `"init"` stream (see [`crate::engine::rng`]) on the host and
//! uploaded, rather than by the backend's own generator: the same seed then gives the same initial
//! model on the CPU and on WebGPU, natively and in wasm, alone or stacked. Two schemes ([`Init`]):
//! GPT-2's (N(0, 0.02) everywhere, the residual output projections scaled by `1/sqrt(2 * layers)`,
//! zero biases) and PyTorch's defaults for these layers (N(0, 1) embeddings, Kaiming-uniform linear
//! layers with uniform biases, a Xavier-uniform query/key/value projection and zero attention
//! biases, as `nn.Embedding`, `nn.Linear` and `nn.MultiheadAttention` initialise themselves).
//!
//! Shape letters: `K` runs, `B` batch, `T` tokens, `N = B * T` positions, `D` width, `H` heads,
//! `S = D / H` head size, `F` feed-forward width, `V` vocabulary.

use crate::engine::config::{Init, ModelConfig};
use crate::engine::kernels;
use crate::engine::rng::SeededRng;
use burn::module::Param;
use burn::prelude::*;
use burn::tensor::TensorData;

/// Standard deviation of the initial weights (GPT-2).
const INIT_STD: f64 = 0.02;

/// The LayerNorms' epsilon (PyTorch's and burn's default).
pub const LAYER_NORM_EPSILON: f64 = 1e-5;

/// K linear layers: `y_k = x_k W_k + b_k`.
#[derive(Module, Debug)]
pub struct Linear {
    /// `[K, In, Out]`.
    pub weight: Param<Tensor<3>>,
    /// `[K, Out]`.
    pub bias: Param<Tensor<2>>,
}

impl Linear {
    /// # Shapes
    /// - `x`: `[K, N, In]` -> `[K, N, Out]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        x.matmul(self.weight.val()) + self.bias.val().unsqueeze_dim::<3>(1)
    }
}

/// K LayerNorms.
#[derive(Module, Debug)]
pub struct Norm {
    /// `[K, D]` scales.
    pub gamma: Param<Tensor<2>>,
    /// `[K, D]` shifts.
    pub beta: Param<Tensor<2>>,
}

impl Norm {
    /// Normalised over `D` (biased variance, [`LAYER_NORM_EPSILON`]), then each run's scale and
    /// shift, in one fused pass on the CPU ([`kernels::layer_norm`]).
    ///
    /// # Shapes
    /// - `x`: `[K, N, D]` -> `[K, N, D]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        kernels::layer_norm(x, self.gamma.val(), self.beta.val(), LAYER_NORM_EPSILON)
    }
}

/// K causal multi-head self-attentions, each with a fused query/key/value projection.
#[derive(Module, Debug)]
pub struct Attention {
    /// `[K, D, 3D]`: queries, keys and values in one matmul.
    pub qkv: Linear,
    /// `[K, D, D]`: mixes the heads back into the residual stream.
    pub proj: Linear,
    /// Number of heads `H`.
    pub heads: usize,
}

impl Attention {
    /// Causal: a query attends to its own position and the ones before it.
    ///
    /// A `silence` mask `[1, H, 1, 1]` (1 keeps a head, 0 silences it) multiplies each head's
    /// weights, which zeroes the silenced heads' outputs before the output projection (see
    /// [`Ablation`]); the weights returned are the unmasked ones.
    ///
    /// # Shapes
    /// - `x`: `[K, N, D]` with `N = batch * T`
    /// - `silence`: `[1, H, 1, 1]`
    /// - returns the output `[K, N, D]` and the attention weights `[K * B, H, T, T]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        batch: usize,
        silence: Option<Tensor<4>>,
    ) -> (Tensor<3>, Tensor<4>) {
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
        let scores = q.matmul(key.transpose()); // (K*B, H, T, T), unscaled
        // Scaled by 1/sqrt(S), the future masked, softmax over the keys: one fused pass on the CPU.
        let weights = kernels::causal_softmax(scores, 1.0 / (s as f64).sqrt()); // (K*B, H, T, T)
        let mixed = match silence {
            Some(mask) => weights.clone() * mask, // (K*B, H, T, T)
            None => weights.clone(),
        };
        let y = mixed.matmul(v).swap_dims(1, 2).reshape([k, n, d]); // (K, N, D)
        (self.proj.forward(y), weights)
    }
}

pub use crate::engine::mechanism::Ablation;

/// The mask of `layer` under `ablation`: `[1, H, 1, 1]`, 0 for a silenced head, else 1; `None`
/// when no head of the layer is silenced.
fn silence_mask(
    ablation: &Ablation,
    layer: usize,
    heads: usize,
    device: &Device,
) -> Option<Tensor<4>> {
    let silenced: Vec<usize> = ablation
        .heads
        .iter()
        .filter(|(l, _)| *l == layer)
        .map(|&(_, h)| h)
        .collect();
    if silenced.is_empty() {
        return None;
    }
    let values: Vec<f32> = (0..heads)
        .map(|h| if silenced.contains(&h) { 0.0 } else { 1.0 })
        .collect();
    Some(Tensor::from_data(
        TensorData::new(values, [1, heads, 1, 1]),
        device,
    ))
}

/// K pre-LN blocks.
#[derive(Module, Debug)]
pub struct Block {
    /// LayerNorms before attention.
    pub attn_norm: Norm,
    /// The attentions.
    pub attn: Attention,
    /// LayerNorms before the MLP.
    pub mlp_norm: Norm,
    /// `[K, D, F]`.
    pub fc: Linear,
    /// `[K, F, D]`.
    pub fc_out: Linear,
}

impl Block {
    /// `silence`: as [`Attention::forward`].
    ///
    /// # Shapes
    /// - `x`: `[K, N, D]` -> `[K, N, D]`, plus attention weights `[K * B, H, T, T]`
    pub fn forward(
        &self,
        x: Tensor<3>,
        batch: usize,
        silence: Option<Tensor<4>>,
    ) -> (Tensor<3>, Tensor<4>) {
        let (attended, weights) =
            self.attn
                .forward(self.attn_norm.forward(x.clone()), batch, silence);
        let x = x + attended; // (K, N, D)
        let hidden = kernels::gelu(self.fc.forward(self.mlp_norm.forward(x.clone()))); // (K, N, F)
        (x + self.fc_out.forward(hidden), weights)
    }
}

/// K decoder-only transformers of one shape, as one module.
#[derive(Module, Debug)]
pub struct Transformer {
    /// `[K, V, D]`.
    pub token_embedding: Param<Tensor<3>>,
    /// `[K, max_len, D]`: a learned vector per position.
    pub position_embedding: Param<Tensor<3>>,
    /// The blocks.
    pub blocks: Vec<Block>,
    /// Final LayerNorms.
    pub final_norm: Norm,
    /// `[K, D, V]`: next-token logits.
    pub head: Linear,
}

/// One run's initial weights on the host, in the order they are drawn from its `"init"` stream.
struct HostWeights {
    token_embedding: Vec<f32>,
    position_embedding: Vec<f32>,
    /// Per block: qkv, proj, fc, fc_out, each (weight, bias).
    blocks: Vec<[(Vec<f32>, Vec<f32>); 4]>,
    head: (Vec<f32>, Vec<f32>),
}

/// `n` draws from N(0, std).
fn normal(n: usize, std: f64, rng: &mut SeededRng) -> Vec<f32> {
    (0..n).map(|_| (rng.normal() * std) as f32).collect()
}

/// `n` draws from `U(-bound, bound)`.
fn uniform(n: usize, bound: f64, rng: &mut SeededRng) -> Vec<f32> {
    (0..n)
        .map(|_| ((2.0 * rng.unit_f64() - 1.0) * bound) as f32)
        .collect()
}

/// How one linear layer's weights and bias are drawn.
#[derive(Clone, Copy)]
enum LinearInit {
    /// Weights N(0, std), bias zero (GPT-2).
    Normal(f64),
    /// PyTorch's `nn.Linear`: weights and bias `U(-1/sqrt(fan_in), 1/sqrt(fan_in))` (Kaiming-uniform
    /// with `a = sqrt(5)`).
    Kaiming,
    /// Kaiming-uniform weights and a zero bias (`nn.MultiheadAttention`'s output projection).
    KaimingZeroBias,
    /// `U(-sqrt(6 / (fan_in + fan_out)), +...)` weights and a zero bias (`nn.MultiheadAttention`'s
    /// fused input projection).
    XavierZeroBias,
}

/// A linear layer's `[d_in, d_out]` weights (burn's layout: `y = x W + b`) and `[d_out]` bias.
fn linear(
    d_in: usize,
    d_out: usize,
    init: LinearInit,
    rng: &mut SeededRng,
) -> (Vec<f32>, Vec<f32>) {
    let kaiming = 1.0 / (d_in as f64).sqrt();
    match init {
        LinearInit::Normal(std) => (normal(d_in * d_out, std, rng), vec![0f32; d_out]),
        LinearInit::Kaiming | LinearInit::KaimingZeroBias | LinearInit::XavierZeroBias => {
            let bound = match init {
                LinearInit::XavierZeroBias => (6.0 / (d_in + d_out) as f64).sqrt(),
                _ => kaiming,
            };
            let weight = uniform(d_in * d_out, bound, rng);
            let bias = match init {
                LinearInit::Kaiming => uniform(d_out, kaiming, rng),
                _ => vec![0f32; d_out],
            };
            (weight, bias)
        }
    }
}

impl HostWeights {
    /// One run's weights for a vocabulary of `vocab_size` tokens, drawn from `rng`.
    fn draw(config: &ModelConfig, vocab_size: usize, rng: &mut SeededRng) -> Self {
        let (d, f) = (config.width, config.ff_width);
        // Per layer kind: (embedding std, qkv, attention output, MLP in, MLP out, head).
        let (embedding_std, qkv, proj, fc, fc_out, head) = match config.init {
            Init::Gpt2 => {
                let residual = LinearInit::Normal(INIT_STD / ((2 * config.layers) as f64).sqrt());
                let normal = LinearInit::Normal(INIT_STD);
                (INIT_STD, normal, residual, normal, residual, normal)
            }
            Init::Pytorch => (
                1.0,
                LinearInit::XavierZeroBias,
                LinearInit::KaimingZeroBias,
                LinearInit::Kaiming,
                LinearInit::Kaiming,
                LinearInit::Kaiming,
            ),
        };
        let token_embedding = normal(vocab_size * d, embedding_std, rng);
        let position_embedding = normal(config.max_len * d, embedding_std, rng);
        let blocks = (0..config.layers)
            .map(|_| {
                [
                    linear(d, 3 * d, qkv, rng),
                    linear(d, d, proj, rng),
                    linear(d, f, fc, rng),
                    linear(f, d, fc_out, rng),
                ]
            })
            .collect();
        let head = linear(d, vocab_size, head, rng);
        Self {
            token_embedding,
            position_embedding,
            blocks,
            head,
        }
    }
}

/// A parameter of shape `[K, dims...]` from each run's part (each of `dims`' size), in run order.
fn stacked<const D: usize>(
    parts: Vec<&[f32]>,
    dims: [usize; D],
    device: &Device,
) -> Param<Tensor<D>> {
    let values: Vec<f32> = parts.concat();
    Param::from_data(TensorData::new(values, dims), device)
}

impl Norm {
    fn new(k: usize, d: usize, device: &Device) -> Self {
        Self {
            gamma: Param::from_tensor(Tensor::ones([k, d], device)),
            beta: Param::from_tensor(Tensor::zeros([k, d], device)),
        }
    }
}

impl Transformer {
    /// Freshly initialised models of one shape for a vocabulary of `vocab_size` tokens, one per
    /// stream of `rngs` (pass each run's `"init"` stream), in that order: run k's weights are those
    /// it would get alone.
    ///
    /// # Panics
    /// When `rngs` is empty.
    pub fn new(
        config: &ModelConfig,
        vocab_size: usize,
        rngs: &mut [SeededRng],
        device: &Device,
    ) -> Self {
        assert!(!rngs.is_empty(), "a model holds at least one run");
        let k = rngs.len();
        let (d, f, v) = (config.width, config.ff_width, vocab_size);
        let runs: Vec<HostWeights> = rngs
            .iter_mut()
            .map(|rng| HostWeights::draw(config, vocab_size, rng))
            .collect();
        let each =
            |pick: &dyn Fn(&HostWeights) -> &[f32]| runs.iter().map(pick).collect::<Vec<_>>();
        let layer = |block: usize, which: usize, d_in: usize, d_out: usize| Linear {
            weight: stacked(
                each(&|w| &w.blocks[block][which].0),
                [k, d_in, d_out],
                device,
            ),
            bias: stacked(each(&|w| &w.blocks[block][which].1), [k, d_out], device),
        };
        let blocks = (0..config.layers)
            .map(|i| Block {
                attn_norm: Norm::new(k, d, device),
                attn: Attention {
                    qkv: layer(i, 0, d, 3 * d),
                    proj: layer(i, 1, d, d),
                    heads: config.heads,
                },
                mlp_norm: Norm::new(k, d, device),
                fc: layer(i, 2, d, f),
                fc_out: layer(i, 3, f, d),
            })
            .collect();
        Self {
            token_embedding: stacked(each(&|w| &w.token_embedding), [k, v, d], device),
            position_embedding: stacked(
                each(&|w| &w.position_embedding),
                [k, config.max_len, d],
                device,
            ),
            blocks,
            final_norm: Norm::new(k, d, device),
            head: Linear {
                weight: stacked(each(&|w| &w.head.0), [k, d, v], device),
                bias: stacked(each(&|w| &w.head.1), [k, v], device),
            },
        }
    }

    /// Runs in the model.
    pub fn runs(&self) -> usize {
        self.token_embedding.val().dims()[0]
    }

    /// Run `k`'s own model, a model of one run (a copy of its weights, on the same device, without
    /// their autodiff history): what questions, the attention view and a kept model use.
    pub fn run(&self, k: usize) -> Self {
        self.clone().map(&mut RunSlice { k })
    }

    /// Next-token logits of every run.
    ///
    /// # Shapes
    /// - `tokens`: `[K, B, T]` with `T <= max_len` -> `[K, B, T, V]`
    pub fn forward(&self, tokens: Tensor<3, Int>) -> Tensor<4> {
        self.forward_with_attention(tokens).0
    }

    /// Next-token logits and every layer's attention weights, for the attention view.
    ///
    /// # Shapes
    /// - `tokens`: `[K, B, T]` -> logits `[K, B, T, V]` and, per layer, weights `[K, B, H, T, T]`
    pub fn forward_with_attention(&self, tokens: Tensor<3, Int>) -> (Tensor<4>, Vec<Tensor<5>>) {
        self.forward_ablated(tokens, &Ablation::none())
    }

    /// [`Self::forward_with_attention`] with the heads of `ablation` silenced in every run.
    ///
    /// # Shapes
    /// As [`Self::forward_with_attention`].
    pub fn forward_ablated(
        &self,
        tokens: Tensor<3, Int>,
        ablation: &Ablation,
    ) -> (Tensor<4>, Vec<Tensor<5>>) {
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
        let mut attention = Vec::with_capacity(self.blocks.len());
        for (layer, block) in self.blocks.iter().enumerate() {
            let silence = silence_mask(ablation, layer, block.attn.heads, &device);
            let (next, weights) = block.forward(x, b, silence);
            x = next;
            let [_, h, _, _] = weights.dims();
            attention.push(weights.reshape([k, b, h, t, t]));
        }
        let logits = self
            .head
            .forward(self.final_norm.forward(x))
            .reshape([k, b, t, v]); // (K, B, T, V)
        (logits, attention)
    }
}

/// Narrows every parameter to run `k`'s slice `[1, ...]` (see [`Transformer::run`]).
struct RunSlice {
    k: usize,
}

impl burn::module::ModuleMapper for RunSlice {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let value = param.val();
        let autodiff = value.is_autodiff();
        let part = value.inner().narrow(0, self.k, 1);
        Param::from_tensor(if autodiff { part.autodiff() } else { part })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> ModelConfig {
        ModelConfig {
            layers: 2,
            width: 16,
            heads: 2,
            ff_width: 32,
            max_len: 12,
            init: Init::Gpt2,
        }
    }

    fn one(config: &ModelConfig, vocab: usize, seed: u64, device: &Device) -> Transformer {
        Transformer::new(config, vocab, &mut [SeededRng::from_seed(seed)], device)
    }

    fn tokens(values: Vec<i64>, device: &Device) -> Tensor<3, Int> {
        let t = values.len();
        Tensor::<3, Int>::from_data(TensorData::new(values, [1, 1, t]), device)
    }

    #[test]
    fn pinned_parameter_count_of_the_reference_model() {
        // Reference model: 2 layers, width 64, 4 heads, FF 256, 64 positions, vocabulary 14.
        // tokens 14*64 + positions 64*64 + 2 blocks * (2 norms 2*128 + qkv 64*192+192 + proj 64*64+64
        // + fc 64*256+256 + fc_out 256*64+64) + final norm 128 + head 64*14+14 = 105,998.
        let device = Device::flex();
        let model = one(&ModelConfig::default(), 14, 0, &device);
        assert_eq!(model.num_params(), 105_998);
        // K runs hold K times the parameters.
        let three = Transformer::new(
            &ModelConfig::default(),
            14,
            &mut [0, 1, 2].map(SeededRng::from_seed),
            &device,
        );
        assert_eq!(three.num_params(), 3 * 105_998);
        // The memory estimate counts the same parameters, for any shape.
        let mut config = crate::engine::config::ExperimentConfig::default();
        config.model.layers = 3;
        config.model.width = 48;
        config.model.ff_width = 80;
        let vocab = crate::engine::tokenizer::SequenceLayout::new(&config.task).vocab_size();
        let model = one(&config.model, vocab, 0, &device);
        assert_eq!(
            model.num_params() as u64,
            crate::engine::memory::parameter_count(&config)
        );
    }

    #[test]
    fn causal_mask_future_tokens_do_not_change_earlier_logits() {
        let device = Device::flex();
        let model = one(&tiny(), 10, 5, &device);
        let a = tokens(vec![1, 4, 6, 7, 2, 9, 3, 8], &device);
        let b = tokens(vec![1, 4, 6, 7, 5, 0, 9, 1], &device);
        let la = model.forward(a).into_data().try_to_vec::<f32>().unwrap();
        let lb = model.forward(b).into_data().try_to_vec::<f32>().unwrap();
        let vocab = 10;
        // Positions 0..4 see identical prefixes: identical logits.
        for i in 0..4 * vocab {
            assert!(
                (la[i] - lb[i]).abs() < 1e-5,
                "logit {i}: {} vs {}",
                la[i],
                lb[i]
            );
        }
        // Position 4 sees a different token: its logits must differ (the test would be vacuous otherwise).
        let differs = (4 * vocab..5 * vocab).any(|i| (la[i] - lb[i]).abs() > 1e-6);
        assert!(differs);
    }

    #[test]
    fn attention_rows_are_causal_distributions() {
        let device = Device::flex();
        let model = one(&tiny(), 10, 5, &device);
        let (_, attention) = model.forward_with_attention(tokens(vec![1, 4, 6, 7, 2], &device));
        assert_eq!(attention.len(), 2);
        assert_eq!(attention[0].dims(), [1, 1, 2, 5, 5]);
        let w = attention[0]
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(); // (1, 1, 2, 5, 5)
        for head in 0..2 {
            for q in 0..5 {
                let row = &w[(head * 5 + q) * 5..(head * 5 + q + 1) * 5];
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                assert!(row[q + 1..].iter().all(|&p| p == 0.0));
            }
        }
    }

    /// Runs of one model never mix: run k of a stack gives the logits of run k alone (its own
    /// weights, drawn from its own stream), and [`Transformer::run`] takes it out whole.
    #[test]
    fn each_run_of_a_stack_is_the_run_alone() {
        let device = Device::flex();
        let seeds = [3u64, 8, 13];
        let stack = Transformer::new(&tiny(), 10, &mut seeds.map(SeededRng::from_seed), &device);
        let row = vec![1i64, 4, 6, 7, 2, 9];
        let all = Tensor::<3, Int>::from_data(
            TensorData::new([row.clone(), row.clone(), row.clone()].concat(), [3, 1, 6]),
            &device,
        );
        let stacked = stack.forward(all).into_data().try_to_vec::<f32>().unwrap();
        let per_run = stacked.len() / 3;
        for (k, &seed) in seeds.iter().enumerate() {
            let alone = one(&tiny(), 10, seed, &device)
                .forward(tokens(row.clone(), &device))
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let taken = stack
                .run(k)
                .forward(tokens(row.clone(), &device))
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            for i in 0..per_run {
                assert!(
                    (stacked[k * per_run + i] - alone[i]).abs() < 1e-5,
                    "run {k}, logit {i}"
                );
                assert_eq!(taken[i], alone[i], "run {k}, logit {i}");
            }
        }
        assert_eq!(stack.run(1).runs(), 1);
    }

    /// Each scheme draws the spread it promises: GPT-2's N(0, 0.02) against PyTorch's N(0, 1)
    /// embeddings and `U(±1/sqrt(fan_in))` linear layers (standard deviation `bound / sqrt(3)`).
    #[test]
    fn each_initialisation_draws_the_spread_it_promises() {
        let device = Device::flex();
        let config = |init| ModelConfig {
            width: 64,
            ff_width: 256,
            init,
            ..tiny()
        };
        let std = |t: Tensor<3>| {
            let v = t.into_data().try_to_vec::<f32>().unwrap();
            let mean = v.iter().sum::<f32>() / v.len() as f32;
            (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32).sqrt()
        };
        let gpt2 = one(&config(Init::Gpt2), 10, 1, &device);
        let torch = one(&config(Init::Pytorch), 10, 1, &device);
        let close = |got: f32, want: f64| (got as f64 - want).abs() < 0.1 * want;
        assert!(close(std(gpt2.position_embedding.val()), 0.02));
        assert!(close(std(torch.position_embedding.val()), 1.0));
        assert!(close(std(gpt2.blocks[0].fc.weight.val()), 0.02));
        let kaiming = 1.0 / 64f64.sqrt() / 3f64.sqrt();
        assert!(close(std(torch.blocks[0].fc.weight.val()), kaiming));
        let xavier = (6.0 / (64.0 + 192.0f64)).sqrt() / 3f64.sqrt();
        assert!(close(std(torch.blocks[0].attn.qkv.weight.val()), xavier));
        // The attention's biases start at zero, the MLP's do not.
        let bias = |l: &Linear| l.bias.val().into_data().try_to_vec::<f32>().unwrap();
        assert!(bias(&torch.blocks[0].attn.qkv).iter().all(|&b| b == 0.0));
        assert!(bias(&torch.blocks[0].fc).iter().any(|&b| b != 0.0));
        assert!(bias(&gpt2.blocks[0].fc).iter().all(|&b| b == 0.0));
    }

    #[test]
    fn same_seed_same_weights() {
        let device = Device::flex();
        let a = one(&tiny(), 10, 9, &device);
        let b = one(&tiny(), 10, 9, &device);
        let c = one(&tiny(), 10, 10, &device);
        let w = |m: &Transformer| m.head.weight.val().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(w(&a), w(&b));
        assert_ne!(w(&a), w(&c));
    }
}

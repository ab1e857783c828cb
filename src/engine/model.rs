//! A GPT-style decoder-only transformer, small enough to train in a browser tab.
//!
//! References: Radford et al., *Language Models are Unsupervised Multitask Learners* (GPT-2), and
//! Karpathy's nanoGPT, whose layout this follows: token + learned position embeddings, `layers`
//! pre-LayerNorm blocks (causal multi-head self-attention, then a GELU MLP, each in a residual branch),
//! a final LayerNorm and a linear head to the vocabulary. No dropout: the datasets are generated and
//! the runs short.
//!
//! Weights are drawn from the experiment's `"init"` stream (see [`crate::engine::rng`]) on the host and
//! uploaded, rather than by the backend's own generator: the same seed then gives the same initial
//! model on the CPU and on WebGPU, natively and in wasm. Two schemes ([`Init`]): GPT-2's (N(0, 0.02)
//! everywhere, the residual output projections scaled by `1/sqrt(2 * layers)`, zero biases) and
//! PyTorch's defaults for these layers (N(0, 1) embeddings, Kaiming-uniform linear layers with
//! uniform biases, a Xavier-uniform query/key/value projection and zero attention biases, as
//! `nn.Embedding`, `nn.Linear` and `nn.MultiheadAttention` initialise themselves).
//!
//! Shape letters: `B` batch, `T` tokens, `D` width, `H` heads, `S = D / H` head size, `F` feed-forward
//! width, `V` vocabulary.

use crate::engine::config::{Init, ModelConfig};
use crate::engine::rng::SeededRng;
use burn::module::Param;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig, Linear};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::{gelu, softmax};

/// Standard deviation of the initial weights (GPT-2).
const INIT_STD: f64 = 0.02;

/// Causal multi-head self-attention with a fused query/key/value projection.
#[derive(Module, Debug)]
pub struct CausalSelfAttention {
    /// `[D, 3D]`: queries, keys and values in one matmul.
    pub qkv: Linear,
    /// `[D, D]`: mixes the heads back into the residual stream.
    pub proj: Linear,
    /// Number of heads `H`.
    pub heads: usize,
}

impl CausalSelfAttention {
    /// # Shapes
    /// - `x`: `[B, T, D]`; `future`: `[T, T]`, true where a query would see a later key
    /// - returns the output `[B, T, D]` and the attention weights `[B, H, T, T]`
    pub fn forward(&self, x: Tensor<3>, future: Tensor<2, Bool>) -> (Tensor<3>, Tensor<4>) {
        let [b, t, d] = x.dims();
        let (h, s) = (self.heads, d / self.heads);
        let qkv = self.qkv.forward(x); // (B, T, 3D)
        let split = |i: usize| {
            qkv.clone()
                .narrow(2, i * d, d) // (B, T, D)
                .reshape([b, t, h, s])
                .swap_dims(1, 2) // (B, H, T, S)
        };
        let (q, k, v) = (split(0), split(1), split(2));
        let scores = q.matmul(k.transpose()).div_scalar((s as f64).sqrt()); // (B, H, T, T)
        let future = future.reshape([1, 1, t, t]).expand([b, h, t, t]);
        let weights = softmax(scores.mask_fill(future, f32::NEG_INFINITY), 3); // (B, H, T, T)
        let y = weights.clone().matmul(v); // (B, H, T, S)
        let y = y.swap_dims(1, 2).reshape([b, t, d]); // (B, T, D)
        (self.proj.forward(y), weights)
    }
}

/// One pre-LN transformer block.
#[derive(Module, Debug)]
pub struct Block {
    /// LayerNorm before attention.
    pub attn_norm: LayerNorm,
    /// The attention.
    pub attn: CausalSelfAttention,
    /// LayerNorm before the MLP.
    pub mlp_norm: LayerNorm,
    /// `[D, F]`.
    pub fc: Linear,
    /// `[F, D]`.
    pub fc_out: Linear,
}

impl Block {
    /// # Shapes
    /// - `x`: `[B, T, D]` -> `[B, T, D]`, plus attention weights `[B, H, T, T]`
    pub fn forward(&self, x: Tensor<3>, future: Tensor<2, Bool>) -> (Tensor<3>, Tensor<4>) {
        let (attended, weights) = self.attn.forward(self.attn_norm.forward(x.clone()), future);
        let x = x + attended; // (B, T, D)
        let hidden = gelu(self.fc.forward(self.mlp_norm.forward(x.clone()))); // (B, T, F)
        (x + self.fc_out.forward(hidden), weights) // (B, T, D)
    }
}

/// The decoder-only transformer.
#[derive(Module, Debug)]
pub struct Transformer {
    /// `[V, D]`.
    pub token_embedding: Embedding,
    /// `[max_len, D]`: a learned vector per position.
    pub position_embedding: Param<Tensor<2>>,
    /// The blocks.
    pub blocks: Vec<Block>,
    /// Final LayerNorm.
    pub final_norm: LayerNorm,
    /// `[D, V]`: next-token logits.
    pub head: Linear,
}

fn normal_matrix(
    rows: usize,
    cols: usize,
    std: f64,
    rng: &mut SeededRng,
    device: &Device,
) -> Param<Tensor<2>> {
    let values: Vec<f32> = (0..rows * cols)
        .map(|_| (rng.normal() * std) as f32)
        .collect();
    Param::from_data(TensorData::new(values, [rows, cols]), device)
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

/// A linear layer `[d_in, d_out]` (burn's layout: `y = x W + b`).
fn linear(
    d_in: usize,
    d_out: usize,
    init: LinearInit,
    rng: &mut SeededRng,
    device: &Device,
) -> Linear {
    let kaiming = 1.0 / (d_in as f64).sqrt();
    let (weight, bias) = match init {
        LinearInit::Normal(std) => (
            normal_matrix(d_in, d_out, std, rng, device),
            vec![0f32; d_out],
        ),
        LinearInit::Kaiming | LinearInit::KaimingZeroBias | LinearInit::XavierZeroBias => {
            let bound = match init {
                LinearInit::XavierZeroBias => (6.0 / (d_in + d_out) as f64).sqrt(),
                _ => kaiming,
            };
            let weight = Param::from_data(
                TensorData::new(uniform(d_in * d_out, bound, rng), [d_in, d_out]),
                device,
            );
            let bias = match init {
                LinearInit::Kaiming => uniform(d_out, kaiming, rng),
                _ => vec![0f32; d_out],
            };
            (weight, bias)
        }
    };
    Linear {
        weight,
        bias: Some(Param::from_data(TensorData::new(bias, [d_out]), device)),
    }
}

impl Transformer {
    /// A freshly initialised model for a vocabulary of `vocab_size` tokens, its weights drawn from
    /// the seeded `rng` (pass the experiment's `"init"` stream).
    pub fn new(
        config: &ModelConfig,
        vocab_size: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Self {
        let (d, f) = (config.width, config.ff_width);
        let norm = || LayerNormConfig::new(d).init(device);
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
        let token_embedding = Embedding {
            weight: normal_matrix(vocab_size, d, embedding_std, rng, device),
        };
        let position_embedding = normal_matrix(config.max_len, d, embedding_std, rng, device);
        let blocks = (0..config.layers)
            .map(|_| Block {
                attn_norm: norm(),
                attn: CausalSelfAttention {
                    qkv: linear(d, 3 * d, qkv, rng, device),
                    proj: linear(d, d, proj, rng, device),
                    heads: config.heads,
                },
                mlp_norm: norm(),
                fc: linear(d, f, fc, rng, device),
                fc_out: linear(f, d, fc_out, rng, device),
            })
            .collect();
        Self {
            token_embedding,
            position_embedding,
            blocks,
            final_norm: norm(),
            head: linear(d, vocab_size, head, rng, device),
        }
    }

    /// Next-token logits.
    ///
    /// # Shapes
    /// - `tokens`: `[B, T]` with `T <= max_len` -> `[B, T, V]`
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.forward_with_attention(tokens).0
    }

    /// Next-token logits and every layer's attention weights, for the attention view.
    ///
    /// # Shapes
    /// - `tokens`: `[B, T]` -> logits `[B, T, V]` and, per layer, weights `[B, H, T, T]`
    pub fn forward_with_attention(&self, tokens: Tensor<2, Int>) -> (Tensor<3>, Vec<Tensor<4>>) {
        let device = tokens.device();
        let [_, t] = tokens.dims();
        let positions = self
            .position_embedding
            .val()
            .narrow(0, 0, t)
            .unsqueeze_dim::<3>(0); // (1, T, D)
        let mut x = self.token_embedding.forward(tokens) + positions; // (B, T, D)
        // true above the diagonal: key j > query i is in the future and gets no attention.
        let future = Tensor::<2, Bool>::tril_mask([t, t], 0, &device); // (T, T)
        let mut attention = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (next, weights) = block.forward(x, future.clone());
            x = next;
            attention.push(weights);
        }
        (self.head.forward(self.final_norm.forward(x)), attention) // (B, T, V)
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

    #[test]
    fn pinned_parameter_count_of_the_reference_model() {
        // Reference model: 2 layers, width 64, 4 heads, FF 256, 64 positions, vocabulary 14.
        // tokens 14*64 + positions 64*64 + 2 blocks * (2 norms 2*128 + qkv 64*192+192 + proj 64*64+64
        // + fc 64*256+256 + fc_out 256*64+64) + final norm 128 + head 64*14+14 = 105,998.
        let device = Device::flex();
        let model = Transformer::new(
            &ModelConfig::default(),
            14,
            &mut SeededRng::from_seed(0),
            &device,
        );
        assert_eq!(model.num_params(), 105_998);
        // The memory estimate counts the same parameters, for any shape.
        let mut config = crate::engine::config::ExperimentConfig::default();
        config.model.layers = 3;
        config.model.width = 48;
        config.model.ff_width = 80;
        let vocab = crate::engine::tokenizer::SequenceLayout::new(&config.task).vocab_size();
        let model = Transformer::new(&config.model, vocab, &mut SeededRng::from_seed(0), &device);
        assert_eq!(
            model.num_params() as u64,
            crate::engine::memory::parameter_count(&config)
        );
    }

    #[test]
    fn causal_mask_future_tokens_do_not_change_earlier_logits() {
        let device = Device::flex();
        let model = Transformer::new(&tiny(), 10, &mut SeededRng::from_seed(5), &device);
        let a = Tensor::<2, Int>::from_data(
            TensorData::new(vec![1i64, 4, 6, 7, 2, 9, 3, 8], [1, 8]),
            &device,
        );
        let b = Tensor::<2, Int>::from_data(
            TensorData::new(vec![1i64, 4, 6, 7, 5, 0, 9, 1], [1, 8]),
            &device,
        );
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
        let model = Transformer::new(&tiny(), 10, &mut SeededRng::from_seed(5), &device);
        let tokens =
            Tensor::<2, Int>::from_data(TensorData::new(vec![1i64, 4, 6, 7, 2], [1, 5]), &device);
        let (_, attention) = model.forward_with_attention(tokens);
        assert_eq!(attention.len(), 2);
        let w = attention[0]
            .clone()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap(); // (1, 2, 5, 5)
        for head in 0..2 {
            for q in 0..5 {
                let row = &w[(head * 5 + q) * 5..(head * 5 + q + 1) * 5];
                assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
                assert!(row[q + 1..].iter().all(|&p| p == 0.0));
            }
        }
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
        let std = |t: Tensor<2>| {
            let v = t.into_data().try_to_vec::<f32>().unwrap();
            let mean = v.iter().sum::<f32>() / v.len() as f32;
            (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / v.len() as f32).sqrt()
        };
        let gpt2 = Transformer::new(
            &config(Init::Gpt2),
            10,
            &mut SeededRng::from_seed(1),
            &device,
        );
        let torch = Transformer::new(
            &config(Init::Pytorch),
            10,
            &mut SeededRng::from_seed(1),
            &device,
        );
        let close = |got: f32, want: f64| (got as f64 - want).abs() < 0.1 * want;
        assert!(close(std(gpt2.position_embedding.val()), 0.02));
        assert!(close(std(torch.position_embedding.val()), 1.0));
        assert!(close(std(gpt2.blocks[0].fc.weight.val()), 0.02));
        let kaiming = 1.0 / 64f64.sqrt() / 3f64.sqrt();
        assert!(close(std(torch.blocks[0].fc.weight.val()), kaiming));
        let xavier = (6.0 / (64.0 + 192.0f64)).sqrt() / 3f64.sqrt();
        assert!(close(std(torch.blocks[0].attn.qkv.weight.val()), xavier));
        // The attention's biases start at zero, the MLP's do not.
        let bias = |l: &Linear| {
            l.bias
                .as_ref()
                .unwrap()
                .val()
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert!(bias(&torch.blocks[0].attn.qkv).iter().all(|&b| b == 0.0));
        assert!(bias(&torch.blocks[0].fc).iter().any(|&b| b != 0.0));
        assert!(bias(&gpt2.blocks[0].fc).iter().all(|&b| b == 0.0));
    }

    #[test]
    fn same_seed_same_weights() {
        let device = Device::flex();
        let a = Transformer::new(&tiny(), 10, &mut SeededRng::from_seed(9), &device);
        let b = Transformer::new(&tiny(), 10, &mut SeededRng::from_seed(9), &device);
        let c = Transformer::new(&tiny(), 10, &mut SeededRng::from_seed(10), &device);
        let w = |m: &Transformer| m.head.weight.val().into_data().try_to_vec::<f32>().unwrap();
        assert_eq!(w(&a), w(&b));
        assert_ne!(w(&a), w(&c));
    }
}

//! The fused ops as a burn backend extension: the trait, its `Flex` implementation (forward only)
//! and its `Autodiff<Flex>` implementation (forward saving what the hand-written backward needs).
//!
//! `#[backend_extension(Flex, Autodiff)]` generates `impl FusedOps for Dispatch`, which routes a
//! dispatch tensor to `Flex` or to `Autodiff<Flex, C>` (`C` the tensor's checkpointing strategy);
//! any other backend would panic there, so [`super`]'s functions call it only for `f32` tensors on
//! a flex device and fall back to burn's own ops otherwise.

use super::simd;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::{FlexTensor, Layout};
use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Autodiff, Backend, Flex, TensorMetadata, backend_extension};
use burn::tensor::{Bytes, DType, Shape};

/// Fused forward (and, under autodiff, backward) kernels. Every float input is `f32`.
#[backend_extension(Flex, Autodiff)]
pub trait FusedOps: Backend {
    /// Per-run layer norm: `x` `[K, N, D]`, `gamma`/`beta` `[K, D]` -> `[K, N, D]`.
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self>;

    /// Causal softmax of `scale · scores` over the last axis: `[G, H, T, T]` -> `[G, H, T, T]`.
    fn fused_causal_softmax(scores: FloatTensor<Self>, scale: f64) -> FloatTensor<Self>;

    /// Exact GELU, any shape.
    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// Per-run scaled cross-entropy: `logits` `[K, B, T, V]`, `targets` `[K, B, T]` (negative:
    /// ignored), `inverse_tokens` `[K]` -> `[K]`.
    fn fused_cross_entropy(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        inverse_tokens: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

/// `tensor` with a contiguous row-major layout (a copy only if it had none).
fn contiguous(tensor: FlexTensor) -> FlexTensor {
    if tensor.layout().contiguous_offsets().is_some() {
        tensor
    } else {
        tensor.to_contiguous()
    }
}

/// The values of a contiguous `f32` tensor.
fn values(tensor: &FlexTensor) -> &[f32] {
    assert_eq!(
        tensor.dtype(),
        DType::F32,
        "the fused kernels take f32 tensors"
    );
    tensor
        .as_slice::<f32>()
        .expect("made contiguous by `contiguous`")
}

/// A contiguous `f32` tensor of `shape` holding `values`.
fn tensor(values: Vec<f32>, shape: Shape) -> FlexTensor {
    debug_assert_eq!(values.len(), shape.num_elements());
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(shape),
        DType::F32,
    )
}

/// An integer tensor's values as `i64` (flex stores ids as `i64` or `i32` depending on the
/// device's int dtype).
fn ids(tensor: FlexTensor) -> Vec<i64> {
    let tensor = contiguous(tensor);
    match tensor.dtype() {
        DType::I64 => tensor.as_slice::<i64>().expect("contiguous").to_vec(),
        DType::I32 => tensor
            .as_slice::<i32>()
            .expect("contiguous")
            .iter()
            .map(|&v| i64::from(v))
            .collect(),
        dtype => panic!("cross_entropy: targets must be i64 or i32, not {dtype:?}"),
    }
}

/// What the layer norm's backward pass needs: the input, the scales, each row's mean and `rstd`.
#[derive(Clone, Debug)]
struct LayerNormState {
    x: FlexTensor,
    gamma: FlexTensor,
    mean: Vec<f32>,
    rstd: Vec<f32>,
}

fn layer_norm_forward(
    x: FlexTensor,
    gamma: FlexTensor,
    beta: FlexTensor,
    epsilon: f64,
) -> (FlexTensor, LayerNormState) {
    let (x, gamma, beta) = (contiguous(x), contiguous(gamma), contiguous(beta));
    let shape = x.shape();
    let [k, n, d] = shape.dims::<3>();
    assert_eq!(
        gamma.shape().dims::<2>(),
        [k, d],
        "layer_norm: gamma is [K, D]"
    );
    assert_eq!(
        beta.shape().dims::<2>(),
        [k, d],
        "layer_norm: beta is [K, D]"
    );
    let mut y = vec![0.0; k * n * d];
    let (mut mean, mut rstd) = (vec![0.0; k * n], vec![0.0; k * n]);
    if !y.is_empty() {
        simd::layer_norm_forward(
            values(&x),
            values(&gamma),
            values(&beta),
            d,
            epsilon as f32,
            &mut y,
            &mut mean,
            &mut rstd,
        );
    }
    let state = LayerNormState {
        x,
        gamma,
        mean,
        rstd,
    };
    (tensor(y, shape), state)
}

fn causal_softmax_forward(scores: FlexTensor, scale: f64) -> FlexTensor {
    let scores = contiguous(scores);
    let shape = scores.shape();
    let [_, _, t, t2] = shape.dims::<4>();
    assert_eq!(t, t2, "causal_softmax: scores are [G, H, T, T]");
    let mut p = vec![0.0; shape.num_elements()];
    if !p.is_empty() {
        simd::causal_softmax_forward(values(&scores), t, scale as f32, &mut p);
    }
    tensor(p, shape)
}

fn gelu_forward(x: FlexTensor) -> FlexTensor {
    let x = contiguous(x);
    let shape = x.shape();
    let mut y = vec![0.0; shape.num_elements()];
    simd::gelu_forward(values(&x), &mut y);
    tensor(y, shape)
}

/// What the cross-entropy's backward pass needs.
#[derive(Clone, Debug)]
struct CrossEntropyState {
    logits: FlexTensor,
    targets: Vec<i64>,
    /// Each row's log-sum-exp `[K, B, T]`.
    lse: Vec<f32>,
    inverse_tokens: Vec<f32>,
    /// Each run's summed negative log-likelihood `[K]` (the gradient in `inverse_tokens`).
    nll: Vec<f32>,
}

fn cross_entropy_forward(
    logits: FlexTensor,
    targets: FlexTensor,
    inverse_tokens: FlexTensor,
) -> (FlexTensor, CrossEntropyState) {
    let logits = contiguous(logits);
    let shape = logits.shape();
    let [k, b, t, v] = shape.dims::<4>();
    assert_eq!(
        targets.shape().dims::<3>(),
        [k, b, t],
        "cross_entropy: targets are [K, B, T]"
    );
    assert_eq!(
        inverse_tokens.shape().dims::<1>(),
        [k],
        "cross_entropy: inverse_tokens is [K]"
    );
    let targets = ids(targets);
    let inverse_tokens = values(&contiguous(inverse_tokens)).to_vec();
    let mut lse = vec![0.0; k * b * t];
    let (mut loss, mut nll) = (vec![0.0; k], vec![0.0; k]);
    if k > 0 && v > 0 {
        simd::cross_entropy_forward(
            values(&logits),
            &targets,
            v,
            &inverse_tokens,
            &mut lse,
            &mut loss,
            &mut nll,
        );
    }
    let state = CrossEntropyState {
        logits,
        targets,
        lse,
        inverse_tokens,
        nll,
    };
    (tensor(loss, Shape::new([k])), state)
}

impl FusedOps for Flex {
    fn fused_layer_norm(
        x: FlexTensor,
        gamma: FlexTensor,
        beta: FlexTensor,
        epsilon: f64,
    ) -> FlexTensor {
        layer_norm_forward(x, gamma, beta, epsilon).0
    }

    fn fused_causal_softmax(scores: FlexTensor, scale: f64) -> FlexTensor {
        causal_softmax_forward(scores, scale)
    }

    fn fused_gelu(x: FlexTensor) -> FlexTensor {
        gelu_forward(x)
    }

    fn fused_cross_entropy(
        logits: FlexTensor,
        targets: FlexTensor,
        inverse_tokens: FlexTensor,
    ) -> FlexTensor {
        cross_entropy_forward(logits, targets, inverse_tokens).0
    }
}

#[derive(Debug)]
struct LayerNormBackward;

impl Backward<Flex, 3> for LayerNormBackward {
    type State = LayerNormState;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_x, node_gamma, node_beta] = ops.parents;
        let dy = contiguous(grads.consume::<Flex>(&ops.node));
        let LayerNormState {
            x,
            gamma,
            mean,
            rstd,
        } = ops.state;
        let (x_shape, gamma_shape) = (x.shape(), gamma.shape());
        let d = x_shape[2];
        let mut dx = vec![0.0; x_shape.num_elements()];
        let mut dgamma = vec![0.0; gamma_shape.num_elements()];
        let mut dbeta = vec![0.0; gamma_shape.num_elements()];
        if !dx.is_empty() {
            simd::layer_norm_backward(
                values(&x),
                values(&gamma),
                &mean,
                &rstd,
                values(&dy),
                d,
                &mut dx,
                &mut dgamma,
                &mut dbeta,
            );
        }
        if let Some(node) = node_x {
            grads.register::<Flex>(node.id, tensor(dx, x_shape));
        }
        if let Some(node) = node_gamma {
            grads.register::<Flex>(node.id, tensor(dgamma, gamma_shape.clone()));
        }
        if let Some(node) = node_beta {
            grads.register::<Flex>(node.id, tensor(dbeta, gamma_shape));
        }
    }
}

#[derive(Debug)]
struct CausalSoftmaxBackward;

impl Backward<Flex, 1> for CausalSoftmaxBackward {
    /// The output probabilities and the scale.
    type State = (FlexTensor, f32);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dp = contiguous(grads.consume::<Flex>(&ops.node));
        let Some(node) = node else { return };
        let (p, scale) = ops.state;
        let shape = p.shape();
        let t = shape[3];
        let mut ds = vec![0.0; shape.num_elements()];
        if !ds.is_empty() {
            simd::causal_softmax_backward(values(&p), values(&dp), t, scale, &mut ds);
        }
        grads.register::<Flex>(node.id, tensor(ds, shape));
    }
}

#[derive(Debug)]
struct GeluBackward;

impl Backward<Flex, 1> for GeluBackward {
    /// `dy/dx`, computed with the forward pass.
    type State = FlexTensor;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node] = ops.parents;
        let dy = grads.consume::<Flex>(&ops.node);
        if let Some(node) = node {
            grads.register::<Flex>(node.id, Flex::float_mul(dy, ops.state));
        }
    }
}

#[derive(Debug)]
struct CrossEntropyBackward;

impl Backward<Flex, 2> for CrossEntropyBackward {
    type State = CrossEntropyState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [node_logits, node_inverse] = ops.parents;
        let dloss = contiguous(grads.consume::<Flex>(&ops.node));
        let dloss = values(&dloss);
        let state = ops.state;
        if let Some(node) = node_logits {
            let shape = state.logits.shape();
            let v = shape[3];
            let scale: Vec<f32> = dloss
                .iter()
                .zip(&state.inverse_tokens)
                .map(|(g, i)| g * i)
                .collect();
            let mut dlogits = vec![0.0; shape.num_elements()];
            if !dlogits.is_empty() {
                simd::cross_entropy_backward(
                    values(&state.logits),
                    &state.targets,
                    &state.lse,
                    v,
                    &scale,
                    &mut dlogits,
                );
            }
            grads.register::<Flex>(node.id, tensor(dlogits, shape));
        }
        if let Some(node) = node_inverse {
            let dinverse = dloss.iter().zip(&state.nll).map(|(g, n)| g * n).collect();
            grads.register::<Flex>(node.id, tensor(dinverse, Shape::new([dloss.len()])));
        }
    }
}

impl<C: CheckpointStrategy> FusedOps for Autodiff<Flex, C> {
    fn fused_layer_norm(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
    ) -> FloatTensor<Self> {
        // Compute-bound: a checkpointing strategy keeps the output rather than re-running it.
        let prep = LayerNormBackward
            .prepare::<C>([x.node(), gamma.node(), beta.node()])
            .compute_bound()
            .stateful();
        let (x, gamma, beta) = (
            x.into_primitive(),
            gamma.into_primitive(),
            beta.into_primitive(),
        );
        let (y, state) = layer_norm_forward(x, gamma, beta, epsilon);
        match prep {
            OpsKind::Tracked(prep) => prep.finish(state, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fused_causal_softmax(scores: FloatTensor<Self>, scale: f64) -> FloatTensor<Self> {
        let prep = CausalSoftmaxBackward
            .prepare::<C>([scores.node()])
            .compute_bound()
            .stateful();
        let p = causal_softmax_forward(scores.into_primitive(), scale);
        match prep {
            OpsKind::Tracked(prep) => prep.finish((p.clone(), scale as f32), p),
            OpsKind::UnTracked(prep) => prep.finish(p),
        }
    }

    fn fused_gelu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        match GeluBackward
            .prepare::<C>([x.node()])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                // The derivative now, in the same pass: the backward is then one product.
                let x = contiguous(x.into_primitive());
                let shape = x.shape();
                let mut y = vec![0.0; shape.num_elements()];
                let mut dydx = vec![0.0; shape.num_elements()];
                simd::gelu_forward_with_derivative(values(&x), &mut y, &mut dydx);
                prep.finish(tensor(dydx, shape.clone()), tensor(y, shape))
            }
            OpsKind::UnTracked(prep) => prep.finish(gelu_forward(x.into_primitive())),
        }
    }

    fn fused_cross_entropy(
        logits: FloatTensor<Self>,
        targets: IntTensor<Self>,
        inverse_tokens: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let prep = CrossEntropyBackward
            .prepare::<C>([logits.node(), inverse_tokens.node()])
            .compute_bound()
            .stateful();
        let (loss, state) = cross_entropy_forward(
            logits.into_primitive(),
            targets,
            inverse_tokens.into_primitive(),
        );
        match prep {
            OpsKind::Tracked(prep) => prep.finish(state, loss),
            OpsKind::UnTracked(prep) => prep.finish(loss),
        }
    }
}

//! The fused ops' semantics in burn's own ops: what runs on every backend but flex (wgpu, WebGPU),
//! and what the tests and the benchmark compare the fused kernels with. Each is the model's
//! formulation of that step before the kernels existed.

use burn::prelude::*;
use burn::tensor::activation::{log_softmax, softmax};

/// [`super::layer_norm`] decomposed: burn's normalisation, then each run's scale and shift.
///
/// # Shapes
/// - `x`: `[K, N, D]`; `gamma`, `beta`: `[K, D]` -> `[K, N, D]`
pub fn layer_norm(x: Tensor<3>, gamma: Tensor<2>, beta: Tensor<2>, epsilon: f64) -> Tensor<3> {
    let [_, _, d] = x.dims();
    let ones = Tensor::<1>::ones([d], &x.device());
    let normed = burn::tensor::module::layer_norm(x, ones, None, epsilon);
    normed * gamma.unsqueeze_dim::<3>(1) + beta.unsqueeze_dim::<3>(1)
}

/// [`super::causal_softmax`] decomposed: scale, fill the future with `-inf`, softmax.
///
/// # Shapes
/// - `scores`: `[G, H, T, T]` -> `[G, H, T, T]`
pub fn causal_softmax(scores: Tensor<4>, scale: f64) -> Tensor<4> {
    let [g, h, t, _] = scores.dims();
    // true above the diagonal: key j > query i.
    let future = Tensor::<2, Bool>::tril_mask([t, t], 0, &scores.device())
        .reshape([1, 1, t, t])
        .expand([g, h, t, t]);
    let scores = if scale == 1.0 {
        scores
    } else {
        scores.mul_scalar(scale)
    };
    softmax(scores.mask_fill(future, f32::NEG_INFINITY), 3)
}

/// [`super::gelu`]: burn's `gelu`.
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    burn::tensor::activation::gelu(x)
}

/// [`super::cross_entropy`] decomposed: `log_softmax`, the target's entry gathered, ignored
/// positions zeroed, summed per run.
///
/// # Shapes
/// - `logits`: `[K, B, T, V]`; `targets`: `[K, B, T]`; `inverse_tokens`: `[K]` -> `[K]`
pub fn cross_entropy(
    logits: Tensor<4>,
    targets: Tensor<3, Int>,
    inverse_tokens: Tensor<1>,
) -> Tensor<1> {
    let [k, b, t, _] = logits.dims();
    let ignored = targets.clone().lower_elem(0); // (K, B, T)
    let ids = targets.clamp_min(0).unsqueeze_dim::<4>(3); // (K, B, T, 1)
    let picked = log_softmax(logits, 3).gather(3, ids).reshape([k, b, t]); // (K, B, T)
    picked
        .mask_fill(ignored, 0.0)
        .reshape([k, b * t])
        .sum_dim(1) // (K, 1)
        .reshape([k])
        .neg()
        * inverse_tokens
}

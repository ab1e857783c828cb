//! Fused CPU kernels for the transformer's element-wise and row-wise steps, each with a hand-written
//! backward pass.
//!
//! Under `Autodiff<Flex>`, burn decomposes softmax, layer norm, GELU's backward and the loss into
//! five to nine element-wise ops each, every one allocating its output, forward and backward (see
//! `shared/notes/speed.md`). Each function here does its forward in one pass over the data and its
//! backward in one more, through burn 0.22's backend extension mechanism ([`backend::FusedOps`]),
//! natively and in wasm32:
//!
//! - [`layer_norm`]: each run's own scale and shift, `[K, N, D]`;
//! - [`causal_softmax`]: the attention weights from the raw scores, mask and scale included;
//! - [`gelu`]: exact GELU with a vectorised `Φ` accurate to ~3e-7 relative in both tails, the
//!   derivative computed with the forward pass;
//! - [`cross_entropy`]: each run's loss over its answer positions from token ids, without a one-hot
//!   or log-probability tensor;
//! - [`adamw::FusedAdamW`]: AdamW with whole or per-run gradient clipping, one pass per parameter,
//!   keeping burn's `AdamWState` (and so its checkpoint records).
//!
//! Each fuses only on the flex backend with `f32` tensors (plain for inference, `Autodiff` for
//! training); on any other device (wgpu, WebGPU, with or without burn's `fusion`) or dtype it runs
//! [`reference`], burn's own ops with the same semantics, which are also what the tests compare
//! against. The arithmetic lives in [`simd`], on plain slices, runtime-dispatched to the widest
//! vector instructions the CPU has.

pub mod adamw;
mod backend;
pub mod reference;
pub mod simd;
#[cfg(test)]
mod tests;

pub use backend::FusedOps;

use burn::backend::{Dispatch, DispatchDevice};
use burn::prelude::*;
use burn::tensor::DType;
use std::cell::Cell;

thread_local! {
    /// Whether the fused kernels are in use on this thread (they are unless [`set_enabled`]
    /// turned them off). Per thread, so that a test or a benchmark comparing the two paths never
    /// changes what another thread trains with.
    static ENABLED: Cell<bool> = const { Cell::new(true) };
}

/// Turns the fused kernels on or off for this thread: off, every op runs [`reference`], burn's
/// decomposed ops, as the model did before the kernels (`idp bench` times both).
pub fn set_enabled(on: bool) {
    ENABLED.with(|enabled| enabled.set(on));
}

/// Whether the fused kernels are in use on this thread (see [`set_enabled`]).
pub fn enabled() -> bool {
    ENABLED.with(Cell::get)
}

/// Whether the fused kernels run for tensors on `device` of `dtype`: flex (with or without
/// autodiff) and `f32`, unless they were turned off ([`set_enabled`]).
pub fn fuses(device: &Device, dtype: DType) -> bool {
    enabled()
        && dtype == DType::F32
        && match device.as_dispatch() {
            DispatchDevice::Flex(_) => true,
            DispatchDevice::Autodiff(inner) => matches!(**inner, DispatchDevice::Flex(_)),
            #[allow(unreachable_patterns)] // A build with flex as its only backend.
            _ => false,
        }
}

/// Whether every float input fuses (they then share the flex backend).
fn all_fuse<const N: usize>(inputs: [(&Device, DType); N]) -> bool {
    inputs.iter().all(|(device, dtype)| fuses(device, *dtype))
}

/// Layer normalisation with each run's own scale and shift, over the last axis (biased variance,
/// as burn's and PyTorch's `LayerNorm`).
///
/// `y[k, n, :] = (x[k, n, :] - mean) / sqrt(var + epsilon) * gamma[k, :] + beta[k, :]`
///
/// # Shapes
/// - `x`: `[K, N, D]`; `gamma`, `beta`: `[K, D]` -> `[K, N, D]`
pub fn layer_norm(x: Tensor<3>, gamma: Tensor<2>, beta: Tensor<2>, epsilon: f64) -> Tensor<3> {
    let fused = all_fuse([
        (&x.device(), x.dtype()),
        (&gamma.device(), gamma.dtype()),
        (&beta.device(), beta.dtype()),
    ]);
    if !fused {
        return reference::layer_norm(x, gamma, beta, epsilon);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_layer_norm(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
    ))
}

/// Causal attention weights: the softmax over the last axis of `scale * scores`, where the entries
/// with key `j` after query `i` (`j > i`) get probability 0 (as `mask_fill(-inf)` then `softmax`).
/// Pass `scale = 1/sqrt(S)` and the raw `q·kᵀ` to fold the attention's scaling in, or 1.0 for
/// scores already scaled.
///
/// # Shapes
/// - `scores`: `[G, H, T, T]` (query, then key) -> `[G, H, T, T]`
///
/// # Panics
/// If `scale` is not positive.
pub fn causal_softmax(scores: Tensor<4>, scale: f64) -> Tensor<4> {
    assert!(scale > 0.0, "causal_softmax: the scale must be positive");
    if !fuses(&scores.device(), scores.dtype()) {
        return reference::causal_softmax(scores, scale);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_causal_softmax(
        scores.into_dispatch(),
        scale,
    ))
}

/// GELU, exact form: `x · Φ(x)` with `Φ` the standard normal CDF (what burn's `gelu` computes).
///
/// # Shapes
/// - `x`: any -> the same
pub fn gelu<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if !fuses(&x.device(), x.dtype()) {
        return reference::gelu(x);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_gelu(x.into_dispatch()))
}

/// Each run's cross-entropy over its loss positions:
/// `loss[k] = -inverse_tokens[k] · Σ_{b, t: targets[k, b, t] >= 0} log_softmax(logits[k, b, t, :])[targets[k, b, t]]`.
///
/// A negative target (use -1) leaves its position out of the loss and its gradient at 0, whatever
/// its logits hold. The gradient in the logits is `inverse_tokens[k] · (softmax - onehot)` on the loss
/// positions. No log-probability or one-hot `[K, B, T, V]` tensor is made: the backward pass keeps
/// the logits and one log-sum-exp per position.
///
/// # Shapes
/// - `logits`: `[K, B, T, V]`; `targets`: `[K, B, T]` token ids below `V`, or negative;
///   `inverse_tokens`: `[K]` (one over each run's number of loss positions) -> `[K]`
///
/// # Panics
/// On the fused path, if a target is `>= V`.
pub fn cross_entropy(
    logits: Tensor<4>,
    targets: Tensor<3, Int>,
    inverse_tokens: Tensor<1>,
) -> Tensor<1> {
    let fused = all_fuse([
        (&logits.device(), logits.dtype()),
        (&inverse_tokens.device(), inverse_tokens.dtype()),
    ]) && fuses(&targets.device(), DType::F32);
    if !fused {
        return reference::cross_entropy(logits, targets, inverse_tokens);
    }
    Tensor::from_dispatch(<Dispatch as FusedOps>::fused_cross_entropy(
        logits.into_dispatch(),
        targets.into_dispatch(),
        inverse_tokens.into_dispatch(),
    ))
}

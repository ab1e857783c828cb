//! AdamW with gradient clipping (the whole gradient, or each run's slice of a stack) in one pass
//! over each parameter, as a burn [`Optimizer`] whose state is burn's own [`AdamWState`].
//!
//! burn's `AdamW` takes about fifteen element-wise ops per parameter per step, and per-run clipping
//! (`stack.rs`'s `clip_rows`) eight more, each allocating. On flex with `f32` tensors,
//! [`FusedAdamW`] does the clipping norm in one pass and the update in a second, in place where the
//! tensors are not shared ([`super::simd::adamw_step`]); elsewhere it clips with burn's ops and
//! steps with burn's `AdamW` itself. Its state type *is* `AdamWState` (moments and step count), so
//! a [`ModuleOptimizer`] built from it writes and reads exactly the records of one built from
//! `AdamWConfig`: checkpoints move between the two.

use super::fuses;
use super::simd::{self, AdamWScalars};
use burn::backend::flex::FlexTensor;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::grad_clipping::GradientClipping;
use burn::optim::{
    AdamW, AdamWConfig, AdamWState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::prelude::*;
use burn::tensor::DType;

/// The optimizer step as a flex backend extension (the optimizer sees parameters without autodiff,
/// so no `Autodiff` route).
#[backend_extension(Flex)]
pub trait FusedOptimOps: Backend {
    /// One AdamW step: the parameter, its gradient and both moments in, the three updated out.
    fn fused_adamw(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        runs: usize,
        scalars: AdamWScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// `tensor` contiguous over exactly its own buffer, so that `storage_mut` is the tensor: a copy
/// only if it was a view. Taken by value so no second handle keeps the buffer shared.
fn exact(tensor: FlexTensor) -> FlexTensor {
    assert_eq!(
        tensor.dtype(),
        DType::F32,
        "the fused kernels take f32 tensors"
    );
    tensor.to_contiguous()
}

impl FusedOptimOps for Flex {
    fn fused_adamw(
        param: FlexTensor,
        grad: FlexTensor,
        moment_1: FlexTensor,
        moment_2: FlexTensor,
        runs: usize,
        scalars: AdamWScalars,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let grad = exact(grad);
        let (mut param, mut m, mut v) = (exact(param), exact(moment_1), exact(moment_2));
        // Written in place when this is the buffer's only handle, copied first otherwise.
        simd::adamw_step(
            param.storage_mut::<f32>(),
            grad.storage::<f32>(),
            m.storage_mut::<f32>(),
            v.storage_mut::<f32>(),
            runs,
            scalars,
        );
        (param, m, v)
    }
}

/// Which gradient norm is clipped before the step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Clip {
    /// None.
    Off,
    /// The whole gradient scaled to a norm of at most this (burn's `GradientClipping::Norm`).
    Whole(f32),
    /// Each run's slice `[k, ...]` (the first axis) scaled to a norm of at most this, separately:
    /// what `Whole` does to a lone run's gradient, for every run of a stack.
    PerRun(f32),
}

/// AdamW (decoupled weight decay, bias-corrected moments, `ε` added to `sqrt(v̂)`), with the
/// gradient clipped first; the same arithmetic as burn's `AdamW` (without AMSGrad).
#[derive(Clone)]
pub struct FusedAdamW {
    beta_1: f32,
    beta_2: f32,
    epsilon: f32,
    weight_decay: f32,
    clip: Clip,
    /// burn's own optimizer with the same settings: the step on other backends.
    decomposed: AdamW,
}

impl FusedAdamW {
    /// burn's `AdamWConfig` defaults (`β = (0.9, 0.999)`) with the project's `ε = 1e-8`, the given
    /// weight decay and clipping.
    pub fn new(weight_decay: f32, clip: Clip) -> Self {
        Self::with_settings(0.9, 0.999, 1e-8, weight_decay, clip)
    }

    /// Every setting.
    pub fn with_settings(
        beta_1: f32,
        beta_2: f32,
        epsilon: f32,
        weight_decay: f32,
        clip: Clip,
    ) -> Self {
        let decomposed = AdamWConfig::new()
            .with_beta_1(beta_1)
            .with_beta_2(beta_2)
            .with_epsilon(epsilon)
            .with_weight_decay(weight_decay)
            .build();
        Self {
            beta_1,
            beta_2,
            epsilon,
            weight_decay,
            clip,
            decomposed,
        }
    }

    /// A module optimizer stepping every parameter with this.
    pub fn init(self) -> ModuleOptimizer {
        ModuleOptimizer::from(self)
    }

    /// The clipping alone, in burn's ops (per run: `stack.rs`'s `clip_rows`): what [`Optimizer::step`] does
    /// before burn's `AdamW` on other backends.
    pub fn clip_decomposed<const D: usize>(&self, grad: Tensor<D>) -> Tensor<D> {
        match self.clip {
            Clip::Off => grad,
            Clip::Whole(max_norm) => GradientClipping::Norm(max_norm).clip_gradient(grad),
            Clip::PerRun(max_norm) => {
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
        }
    }
}

impl Optimizer for FusedAdamW {
    type State<const D: usize> = AdamWState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        // The optimizer is handed parameters without autodiff; `FusedOptimOps` has no autodiff route.
        let fused = fuses(&tensor.device(), tensor.dtype())
            && !tensor.device().is_autodiff()
            && fuses(&grad.device(), grad.dtype())
            && !grad.device().is_autodiff()
            && state.as_ref().is_none_or(|s| {
                s.momentum.max_moment_2.is_none()
                    && fuses(&s.momentum.moment_1.device(), s.momentum.moment_1.dtype())
                    && fuses(&s.momentum.moment_2.device(), s.momentum.moment_2.dtype())
            });
        if !fused {
            let grad = self.clip_decomposed(grad);
            return self.decomposed.step(lr, tensor, grad, state);
        }
        let (time, moment_1, moment_2) = match state {
            Some(state) => {
                let m = state.momentum;
                (m.time + 1, m.moment_1, m.moment_2)
            }
            // The first step from zero moments is burn's first step (`m = (1-β1)·g`, ...).
            None => (1, grad.zeros_like(), grad.zeros_like()),
        };
        let (runs, max_norm) = match self.clip {
            Clip::Off => (1, f32::INFINITY),
            Clip::Whole(max_norm) => (1, max_norm),
            Clip::PerRun(max_norm) => (tensor.dims()[0], max_norm),
        };
        // As burn's AdamW: the decay factor in f64 then f32, the corrections in f32.
        let scalars = AdamWScalars {
            lr: lr as f32,
            beta_1: self.beta_1,
            beta_2: self.beta_2,
            epsilon: self.epsilon,
            decay: (1.0 - lr * f64::from(self.weight_decay)) as f32,
            correction_1: 1.0 - self.beta_1.powi(time as i32),
            correction_2: 1.0 - self.beta_2.powi(time as i32),
            max_norm,
        };
        let (param, moment_1, moment_2) = <Dispatch as FusedOptimOps>::fused_adamw(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            moment_1.into_dispatch(),
            moment_2.into_dispatch(),
            runs,
            scalars,
        );
        let momentum = AdaptiveMomentumState {
            time,
            moment_1: Tensor::from_dispatch(moment_1),
            moment_2: Tensor::from_dispatch(moment_2),
            max_moment_2: None,
        };
        (Tensor::from_dispatch(param), Some(AdamWState { momentum }))
    }

    fn to_device<const D: usize>(mut state: Self::State<D>, device: &Device) -> Self::State<D> {
        state.momentum = state.momentum.to_device(device);
        state
    }

    fn map_state_tensors<const D: usize>(
        state: &Self::State<D>,
        f: &mut dyn FnMut(Tensor<D>) -> Tensor<D>,
    ) -> Option<Self::State<D>> {
        Some(AdamWState {
            momentum: state.momentum.map_tensors(f),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::rng::SeededRng;
    use burn::module::Param;
    use burn::optim::GradientsParams;
    use burn::tensor::TensorData;

    fn random(rng: &mut SeededRng, shape: [usize; 3], std: f64, device: &Device) -> Tensor<3> {
        let n = shape.iter().product();
        let values: Vec<f32> = (0..n).map(|_| (rng.normal() * std) as f32).collect();
        Tensor::from_data(TensorData::new(values, shape), device)
    }

    fn close(what: &str, a: Tensor<3>, b: Tensor<3>) {
        let (a, b) = (
            a.into_data().try_to_vec::<f32>().unwrap(),
            b.into_data().try_to_vec::<f32>().unwrap(),
        );
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-6 + 1e-5 * y.abs(),
                "{what}[{i}]: fused {x} vs burn {y}"
            );
        }
    }

    /// Six steps of the fused optimizer against burn's clipping and `AdamW`, on a `[K, 5, 7]`
    /// parameter whose runs' gradients have very different norms (one is clipped, one is not).
    #[test]
    fn fused_adamw_matches_burns_adamw_with_clipping() {
        let device = Device::flex();
        for clip in [Clip::Off, Clip::Whole(1.0), Clip::PerRun(1.0)] {
            let mut rng = SeededRng::from_seed(9);
            let fused = FusedAdamW::with_settings(0.9, 0.999, 1e-8, 0.1, clip);
            let reference = FusedAdamW::with_settings(0.9, 0.999, 1e-8, 0.1, clip);
            let mut p_fused = random(&mut rng, [3, 5, 7], 1.0, &device);
            let mut p_burn = p_fused.clone();
            let (mut s_fused, mut s_burn) = (None, None);
            for step in 0..6 {
                let scales =
                    Tensor::<1>::from_floats([0.01, 1.0, 30.0], &device).reshape([3, 1, 1]);
                let grad = random(&mut rng, [3, 5, 7], 1.0, &device) * scales;
                let lr = 0.01 * (step + 1) as f64;
                (p_fused, s_fused) = fused.step(lr, p_fused, grad.clone(), s_fused);
                let clipped = reference.clip_decomposed(grad);
                (p_burn, s_burn) = reference.decomposed.step(lr, p_burn, clipped, s_burn);
            }
            close(&format!("{clip:?} param"), p_fused, p_burn);
            let (f, b) = (s_fused.unwrap().momentum, s_burn.unwrap().momentum);
            assert_eq!(f.time, b.time);
            close(&format!("{clip:?} m"), f.moment_1, b.moment_1);
            close(&format!("{clip:?} v"), f.moment_2, b.moment_2);
        }
    }

    #[derive(Module, Debug)]
    struct Stacked {
        weight: Param<Tensor<3>>,
    }

    /// A module optimizer's record from the fused optimizer loads into burn's `AdamW` (and the two
    /// then take the same step): the checkpoint format is shared.
    #[test]
    fn records_move_between_fused_and_burns_adamw() {
        let device = Device::flex().autodiff();
        let mut rng = SeededRng::from_seed(10);
        let model = Stacked {
            weight: Param::from_tensor(random(&mut rng, [2, 3, 4], 1.0, &device)),
        };
        let target = random(&mut rng, [2, 3, 4], 1.0, &device);
        let grads = |model: &Stacked| {
            let loss = (model.weight.val() - target.clone()).square().sum();
            GradientsParams::from_grads(loss.backward(), model)
        };
        let mut fused = FusedAdamW::new(0.01, Clip::Off).init();
        let mut model = model;
        for _ in 0..3 {
            let g = grads(&model);
            model = fused.step(0.01, model, g);
        }
        let record = fused.to_record();
        let mut burn = AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(0.01)
            .init()
            .load_record_on(record, &Device::flex());
        let g = grads(&model);
        let by_burn = burn.step(0.01, model.clone(), g);
        let g = grads(&model);
        let by_fused = fused.step(0.01, model, g);
        close(
            "weight",
            by_fused.weight.val().inner(),
            by_burn.weight.val().inner(),
        );
    }
}

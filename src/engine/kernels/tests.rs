//! Each fused op against burn's decomposed ops under burn's autodiff: forward values and every
//! gradient, on tiny shapes that leave vector tails, from seeded inputs.

use super::simd::scalar::{exp32, normal_cdf32};
use super::*;
use crate::engine::rng::SeededRng;
use burn::tensor::TensorData;

/// `n` draws from `N(0, std)`.
fn normal(rng: &mut SeededRng, n: usize, std: f64) -> Vec<f32> {
    (0..n).map(|_| (rng.normal() * std) as f32).collect()
}

fn float<const D: usize>(values: Vec<f32>, shape: [usize; D], device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn to_vec<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

/// `|actual - expected| <= atol + rtol·|expected|` everywhere, naming the worst entry otherwise.
fn assert_close(what: &str, actual: &[f32], expected: &[f32], rtol: f32, atol: f32) {
    assert_eq!(actual.len(), expected.len(), "{what}: lengths");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        let ok = (a - e).abs() <= atol + rtol * e.abs() || (a.is_nan() && e.is_nan());
        assert!(ok, "{what}[{i}]: fused {a} vs decomposed {e}");
    }
}

/// The gradient of `Σ out·weights` in each of `inputs`, for fixed random `weights`: a loss that
/// reaches every output entry with its own coefficient.
fn grads_of<const D: usize, const E: usize>(
    out: Tensor<D>,
    weights: &Tensor<D>,
    inputs: &[&Tensor<E>],
) -> Vec<Vec<f32>> {
    let grads = (out * weights.clone()).sum().backward();
    inputs.iter().map(|x| grad(x, &grads)).collect()
}

fn grad<const D: usize>(x: &Tensor<D>, grads: &burn::tensor::Gradients) -> Vec<f32> {
    to_vec(x.grad(grads).expect("a gradient"))
}

fn training_device() -> Device {
    Device::flex().autodiff()
}

#[test]
fn flex_and_autodiff_flex_fuse_other_dtypes_do_not() {
    assert!(fuses(&Device::flex(), DType::F32));
    assert!(fuses(&Device::flex().autodiff(), DType::F32));
    assert!(!fuses(&Device::flex(), DType::F64));
}

/// `erfc(z)` in f64 to ~1e-13 relative: the Taylor series of erf below 3, the continued fraction
/// of erfc above (Abramowitz & Stegun 7.1.5 and 7.1.14).
fn erfc64(z: f64) -> f64 {
    if z < 0.0 {
        return 2.0 - erfc64(-z);
    }
    if z < 3.0 {
        let (mut term, mut total, mut n) = (z, z, 0.0);
        while term.abs() > 1e-17 * total.abs() {
            n += 1.0;
            term *= -z * z / n;
            total += term / (2.0 * n + 1.0);
        }
        1.0 - total * 2.0 / core::f64::consts::PI.sqrt()
    } else {
        // z + 1/2 / (z + 1 / (z + 3/2 / (z + ...))), from the bottom up.
        let mut fraction = z;
        for k in (1..60).rev() {
            fraction = z + f64::from(k) / 2.0 / fraction;
        }
        (-z * z).exp() / core::f64::consts::PI.sqrt() / fraction
    }
}

#[test]
fn vector_exp_is_within_two_ulp_of_exp() {
    let mut worst = 0f64;
    for i in -87_000..=88_000 {
        let x = i as f32 / 1000.0 + 1.7e-4;
        let exact = f64::from(x).exp();
        worst = worst.max((f64::from(exp32(x)) / exact - 1.0).abs());
    }
    assert!(worst < 2.5e-7, "worst relative error {worst}");
    assert_eq!(exp32(-100.0), 0.0);
    assert_eq!(exp32(f32::NEG_INFINITY), 0.0);
    assert_eq!(exp32(100.0), f32::INFINITY);
    assert!(exp32(f32::NAN).is_nan());
}

#[test]
fn normal_cdf_keeps_its_relative_precision_in_both_tails() {
    let (mut worst_cdf, mut worst_e) = (0f64, 0f64);
    for i in -13_000..=13_000 {
        let x = i as f32 / 1000.0 + 3.1e-4;
        let (cdf, e) = normal_cdf32(x);
        let x = f64::from(x);
        let exact = erfc64(-x / core::f64::consts::SQRT_2) / 2.0;
        let exact_e = (-x * x / 2.0).exp();
        if exact > 1e-36 {
            worst_cdf = worst_cdf.max((f64::from(cdf) / exact - 1.0).abs());
            worst_e = worst_e.max((f64::from(e) / exact_e - 1.0).abs());
        }
    }
    assert!(worst_cdf < 6e-7, "Φ's worst relative error {worst_cdf}");
    assert!(
        worst_e < 3e-7,
        "exp(-x²/2)'s worst relative error {worst_e}"
    );
    assert_eq!(normal_cdf32(-40.0).0, 0.0);
    assert_eq!(normal_cdf32(40.0).0, 1.0);
    assert!(normal_cdf32(f32::NAN).0.is_nan());
}

#[test]
fn gelu_matches_burns_gelu_forward_and_backward() {
    let device = training_device();
    let mut rng = SeededRng::from_seed(1);
    // 3·37 entries: a vector tail on every backend; std 3 reaches both tails.
    let mut values = normal(&mut rng, 3 * 37, 3.0);
    values[..6].copy_from_slice(&[0.0, -0.0, 8.5, -8.5, 1e-6, -1e-6]);
    let x = float(values, [3, 37], &device).require_grad();
    let weights = float(normal(&mut rng, 3 * 37, 1.0), [3, 37], &device);

    let fused = gelu(x.clone());
    let decomposed = reference::gelu(x.clone());
    // burn's 0.5·x·(1 + erf(x/√2)) loses its relative precision for x below about -3.
    assert_close(
        "gelu",
        &to_vec(fused.clone()),
        &to_vec(decomposed.clone()),
        1e-5,
        1e-6,
    );
    let [fused_dx] = grads_of(fused, &weights, &[&x]).try_into().unwrap();
    let [decomposed_dx] = grads_of(decomposed, &weights, &[&x]).try_into().unwrap();
    assert_close("d gelu/dx", &fused_dx, &decomposed_dx, 1e-5, 1e-6);
}

#[test]
fn gelu_without_autodiff_matches_and_keeps_nan() {
    let device = Device::flex();
    let x = float(
        vec![-2.0, -0.5, 0.0, 0.5, 2.0, f32::NAN, 30.0],
        [7],
        &device,
    );
    let y = to_vec(gelu(x.clone()));
    assert_close(
        "gelu",
        &y[..5],
        &to_vec(reference::gelu(x))[..5],
        1e-6,
        1e-7,
    );
    assert!(y[5].is_nan());
    assert_eq!(y[6], 30.0);
}

#[test]
fn layer_norm_matches_the_decomposition_forward_and_backward() {
    let device = training_device();
    let mut rng = SeededRng::from_seed(2);
    // D = 19 leaves a vector tail; D = 64 is the model's width.
    for (k, n, d) in [(2, 5, 19), (3, 4, 64), (1, 1, 1)] {
        let x = float(normal(&mut rng, k * n * d, 2.0), [k, n, d], &device).require_grad();
        let gamma = float(normal(&mut rng, k * d, 1.0), [k, d], &device).require_grad();
        let beta = float(normal(&mut rng, k * d, 1.0), [k, d], &device).require_grad();
        let weights = float(normal(&mut rng, k * n * d, 1.0), [k, n, d], &device);

        let fused = layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5);
        let decomposed = reference::layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5);
        assert_close(
            "layer_norm",
            &to_vec(fused.clone()),
            &to_vec(decomposed.clone()),
            1e-5,
            1e-5,
        );
        let fused = grads_of(fused, &weights, &[&x]);
        let decomposed = grads_of(decomposed, &weights, &[&x]);
        assert_close("d/dx", &fused[0], &decomposed[0], 1e-4, 1e-5);

        let fused = layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5);
        let decomposed = reference::layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5);
        let fused = grads_of(fused, &weights, &[&gamma, &beta]);
        let decomposed = grads_of(decomposed, &weights, &[&gamma, &beta]);
        assert_close("d/dgamma", &fused[0], &decomposed[0], 1e-5, 1e-5);
        assert_close("d/dbeta", &fused[1], &decomposed[1], 1e-5, 1e-5);
    }
}

#[test]
fn layer_norm_without_autodiff_and_with_constant_scales() {
    let mut rng = SeededRng::from_seed(3);
    let (k, n, d) = (2, 3, 16);
    let values = normal(&mut rng, k * n * d, 1.0);
    let (g, b) = (normal(&mut rng, k * d, 1.0), normal(&mut rng, k * d, 1.0));
    let device = Device::flex();
    let x = float(values.clone(), [k, n, d], &device);
    let gamma = float(g.clone(), [k, d], &device);
    let beta = float(b.clone(), [k, d], &device);
    let fused = layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5);
    let decomposed = reference::layer_norm(x, gamma, beta, 1e-5);
    assert_close(
        "layer_norm",
        &to_vec(fused),
        &to_vec(decomposed),
        1e-5,
        1e-5,
    );

    // Only x tracked: gamma and beta are constants of the graph.
    let device = training_device();
    let x = float(values, [k, n, d], &device).require_grad();
    let gamma = float(g, [k, d], &device);
    let beta = float(b, [k, d], &device);
    let weights = float(normal(&mut rng, k * n * d, 1.0), [k, n, d], &device);
    let fused = grads_of(
        layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5),
        &weights,
        &[&x],
    );
    let decomposed = grads_of(
        reference::layer_norm(x.clone(), gamma, beta, 1e-5),
        &weights,
        &[&x],
    );
    assert_close("d/dx", &fused[0], &decomposed[0], 1e-4, 1e-5);
}

#[test]
fn causal_softmax_matches_mask_fill_then_softmax() {
    let device = training_device();
    let mut rng = SeededRng::from_seed(4);
    let (g, h, t) = (2, 3, 19);
    for scale in [1.0, 0.25] {
        let scores =
            float(normal(&mut rng, g * h * t * t, 3.0), [g, h, t, t], &device).require_grad();
        let weights = float(normal(&mut rng, g * h * t * t, 1.0), [g, h, t, t], &device);
        let fused = causal_softmax(scores.clone(), scale);
        let decomposed = reference::causal_softmax(scores.clone(), scale);
        let p = to_vec(fused.clone());
        assert_close(
            "causal_softmax",
            &p,
            &to_vec(decomposed.clone()),
            1e-5,
            1e-7,
        );
        let [fused_ds] = grads_of(fused, &weights, &[&scores]).try_into().unwrap();
        let [decomposed_ds] = grads_of(decomposed, &weights, &[&scores])
            .try_into()
            .unwrap();
        assert_close("d/dscores", &fused_ds, &decomposed_ds, 1e-5, 1e-6);
        // The mask holds: no weight and no gradient on a future key.
        for (r, (row, grad_row)) in p.chunks(t).zip(fused_ds.chunks(t)).enumerate() {
            let i = r % t;
            assert!(row[i + 1..].iter().all(|&v| v == 0.0), "row {r}: {row:?}");
            assert!(grad_row[i + 1..].iter().all(|&v| v == 0.0), "row {r}");
            let total: f32 = row.iter().sum();
            assert!((total - 1.0).abs() < 1e-5, "row {r} sums to {total}");
        }
    }
}

#[test]
fn causal_softmax_ignores_future_scores() {
    let device = Device::flex();
    let mut rng = SeededRng::from_seed(5);
    let t = 9;
    let a = normal(&mut rng, t * t, 2.0);
    let mut b = a.clone();
    // Change every future entry (j > i), including to values that would dominate a softmax.
    for i in 0..t {
        for j in i + 1..t {
            b[i * t + j] = 1e4 * (j as f32 - i as f32);
        }
    }
    let pa = to_vec(causal_softmax(float(a, [1, 1, t, t], &device), 0.5));
    let pb = to_vec(causal_softmax(float(b, [1, 1, t, t], &device), 0.5));
    assert_eq!(pa, pb);
}

/// Token ids with about a quarter of the positions ignored (-1).
fn targets(rng: &mut SeededRng, n: usize, v: usize) -> Vec<i64> {
    (0..n)
        .map(|_| {
            if rng.chance(0.25) {
                -1
            } else {
                rng.index(v) as i64
            }
        })
        .collect()
}

/// Today's model's loss: `log_softmax` times a one-hot target tensor (zero rows ignored), summed per
/// run (`stack::stacked_cross_entropy`).
fn one_hot_cross_entropy(logits: Tensor<4>, ids: &[i64], inverse_tokens: Tensor<1>) -> Tensor<1> {
    let [k, b, t, v] = logits.dims();
    let mut one_hot = vec![0f32; k * b * t * v];
    for (r, &id) in ids.iter().enumerate() {
        if id >= 0 {
            one_hot[r * v + id as usize] = 1.0;
        }
    }
    let one_hot = float(one_hot, [k, b, t, v], &logits.device());
    (burn::tensor::activation::log_softmax(logits, 3) * one_hot)
        .reshape([k, b * t * v])
        .sum_dim(1)
        .reshape([k])
        .neg()
        * inverse_tokens
}

#[test]
fn cross_entropy_matches_the_one_hot_loss_forward_and_backward() {
    let device = training_device();
    let mut rng = SeededRng::from_seed(6);
    let (k, b, t, v) = (3, 4, 5, 14);
    let ids = targets(&mut rng, k * b * t, v);
    let inverse: Vec<f32> = (0..k).map(|r| 1.0 / (10 + r) as f32).collect();
    let logits = float(normal(&mut rng, k * b * t * v, 3.0), [k, b, t, v], &device).require_grad();
    let inverse = float(inverse, [k], &device).require_grad();
    let target_tensor =
        Tensor::<3, Int>::from_data(TensorData::new(ids.clone(), [k, b, t]), &device);
    let weights = float(vec![1.0, -2.0, 0.5], [k], &device);

    let fused = cross_entropy(logits.clone(), target_tensor.clone(), inverse.clone());
    let one_hot = one_hot_cross_entropy(logits.clone(), &ids, inverse.clone());
    let gathered = reference::cross_entropy(logits.clone(), target_tensor, inverse.clone());
    let expected = to_vec(one_hot.clone());
    assert_close("loss", &to_vec(fused.clone()), &expected, 1e-5, 1e-6);
    assert_close(
        "reference loss",
        &to_vec(gathered.clone()),
        &expected,
        1e-5,
        1e-6,
    );

    let grads = (one_hot * weights.clone()).sum().backward();
    let (expected_dlogits, expected_dinverse) = (grad(&logits, &grads), grad(&inverse, &grads));
    for (what, out) in [("fused", fused), ("reference", gathered)] {
        let grads = (out * weights.clone()).sum().backward();
        let (dlogits, dinverse) = (grad(&logits, &grads), grad(&inverse, &grads));
        assert_close(
            &format!("{what} d/dlogits"),
            &dlogits,
            &expected_dlogits,
            1e-5,
            1e-7,
        );
        assert_close(
            &format!("{what} d/dinverse"),
            &dinverse,
            &expected_dinverse,
            1e-5,
            1e-6,
        );
    }
}

#[test]
fn ignored_positions_contribute_nothing_even_with_wild_logits() {
    let device = training_device();
    let mut rng = SeededRng::from_seed(7);
    let (k, b, t, v) = (2, 2, 3, 5);
    let mut ids = targets(&mut rng, k * b * t, v);
    // Run 1 has no loss position at all.
    ids[b * t..].fill(-1);
    ids[0] = -1;
    let mut values = normal(&mut rng, k * b * t * v, 1.0);
    let clean = cross_entropy(
        float(values.clone(), [k, b, t, v], &device),
        Tensor::from_data(TensorData::new(ids.clone(), [k, b, t]), &device),
        float(vec![0.5, 0.5], [k], &device),
    );
    // An ignored position's logits change nothing, even a NaN or an infinity.
    values[..v].copy_from_slice(&[f32::NAN, f32::INFINITY, -1e30, 0.0, 1e30]);
    let logits = float(values, [k, b, t, v], &device).require_grad();
    let wild = cross_entropy(
        logits.clone(),
        Tensor::from_data(TensorData::new(ids, [k, b, t]), &device),
        float(vec![0.5, 0.5], [k], &device),
    );
    let loss = to_vec(wild.clone());
    assert_eq!(loss, to_vec(clean));
    assert_eq!(loss[1], 0.0);
    let grads = wild.sum().backward();
    let dlogits = to_vec(logits.grad(&grads).unwrap());
    assert!(dlogits[..v].iter().all(|&g| g == 0.0));
    assert!(dlogits[b * t * v..].iter().all(|&g| g == 0.0));
}

#[test]
fn cross_entropy_without_autodiff_with_i32_ids() {
    let device = Device::flex();
    let mut rng = SeededRng::from_seed(8);
    let (k, b, t, v) = (1, 3, 4, 14);
    let ids = targets(&mut rng, k * b * t, v);
    let logits = float(normal(&mut rng, k * b * t * v, 1.0), [k, b, t, v], &device);
    let inverse = float(vec![0.1], [k], &device);
    let expected = to_vec(one_hot_cross_entropy(logits.clone(), &ids, inverse.clone()));
    let ids32: Vec<i32> = ids.iter().map(|&i| i as i32).collect();
    let targets = Tensor::<3, Int>::from_data(TensorData::new(ids32, [k, b, t]), &device);
    let got = to_vec(cross_entropy(logits, targets, inverse));
    assert_close("loss", &got, &expected, 1e-5, 1e-6);
}

#[test]
fn float64_tensors_fall_back_to_the_decomposition() {
    let device = Device::flex();
    let x = float(vec![-1.0, 0.0, 2.0], [1, 3], &device).cast(burn::tensor::FloatDType::F64);
    assert_eq!(x.dtype(), DType::F64);
    let y = gelu(x.clone());
    assert_eq!(y.dtype(), DType::F64);
    assert_eq!(y.into_data(), reference::gelu(x).into_data());
}

//! The kernels' arithmetic on plain `f32` slices, written once with macerator's portable vectors.
//!
//! Each public kernel runs a `#[macerator::with_simd]` function: compiled once per instruction set
//! (SSE4.2, AVX2 + FMA, AVX-512 on x86-64; NEON; simd128 in wasm; a scalar fallback), the widest
//! one the CPU has chosen at run time ([`arch`]), so one binary uses AVX-512 where it exists and
//! still runs where it does not. Explicit vectors rather than loops left to LLVM's auto-vectoriser: the
//! browser worker's profile builds this crate at `opt-level = "s"`, where rustc turns the loop
//! vectoriser off, and macerator's vector types stay vectors at any optimisation level.
//!
//! Slices are contiguous, row-major. A row shorter than a vector, or the tail of a longer one, is
//! handled by padding a stack copy to a whole vector with a neutral value (`-inf` before an
//! exponential, `0` before a sum), so every formula is written once, for vectors.
//!
//! Formulas: the exponential is Cephes' `expf` (range reduction by `ln 2` in two parts, a degree-5
//! polynomial); the normal CDF is `1 - erfc(|x|/√2)/2` with `erfc(z) = t·exp(-z²)·Q(t)`,
//! `t = 1/(1 + p z)` (the substitution of Abramowitz & Stegun 7.1.26) and a degree-9 `Q` fitted
//! here (Chebyshev fit with mpmath, relative error 2e-9 before `f32` rounding), which keeps the
//! CDF's *relative* error near 3e-7 in both tails.

use macerator::{Arch, Scalar, Simd, Vector, vload_unaligned, vstore_unaligned};

type V<S> = Vector<S, f32>;

/// The most `f32` lanes of any backend (AVX-512): the size of the stack buffer a partial vector
/// goes through.
const MAX_LANES: usize = 16;

#[cfg(all(test, target_arch = "x86_64"))]
std::thread_local! {
    /// A narrower instruction set than the CPU's, for the tests of every vector width.
    static FORCED_ARCH: core::cell::Cell<Option<Arch>> = const { core::cell::Cell::new(None) };
}

/// The instruction set the kernels run with: the widest this CPU has (macerator's detection,
/// cached), or in tests the one [`with_arch`] forces.
///
/// Each kernel names it with `#[macerator::with_simd(opts(arch = arch()))]`, which makes the
/// generated dispatcher `unsafe` (the arch must be one the CPU has) and is wrapped in a safe `pub fn`.
/// macerator-macros 0.3 reads its options from a list, hence `opts(...)`: `with_simd(arch = ...)`
/// is refused.
#[inline]
fn arch() -> Arch {
    #[cfg(all(test, target_arch = "x86_64"))]
    if let Some(arch) = FORCED_ARCH.with(|forced| forced.get()) {
        return arch;
    }
    Arch::detect()
}

/// Runs `f` with the kernels on `arch`, which must be one this CPU has (x86-64: each level implies
/// the ones below it, and `Arch::detect` returns the highest).
#[cfg(all(test, target_arch = "x86_64"))]
fn with_arch<R>(arch: Arch, f: impl FnOnce() -> R) -> R {
    FORCED_ARCH.with(|forced| forced.set(Some(arch)));
    let out = f();
    FORCED_ARCH.with(|forced| forced.set(None));
    out
}

// Every helper that touches a vector is `#[inline(always)]`, and the kernels use no closures: the
// code must inline all the way into macerator's `#[target_feature]` trampoline to be compiled with
// AVX2/AVX-512. A closure is a function of its own, compiled without those features, in which each
// vector intrinsic stays a call (measured: GELU 3.6x slower than burn's scalar loop).
#[inline(always)]
fn splat<S: Simd>(value: f32) -> V<S> {
    value.splat::<S>()
}

#[inline(always)]
fn lanes<S: Simd>() -> usize {
    let lanes = f32::lanes::<S>();
    debug_assert!(lanes <= MAX_LANES);
    lanes
}

/// A whole vector from the first `lanes` values of `src`.
#[inline(always)]
fn load<S: Simd>(src: &[f32]) -> V<S> {
    assert!(src.len() >= lanes::<S>());
    // SAFETY: `src` holds at least one vector's worth of values (checked above).
    unsafe { vload_unaligned(src.as_ptr()) }
}

/// Stores `value` into the first `lanes` entries of `dst`.
#[inline(always)]
fn store<S: Simd>(dst: &mut [f32], value: V<S>) {
    assert!(dst.len() >= lanes::<S>());
    // SAFETY: `dst` has room for one vector (checked above).
    unsafe { vstore_unaligned(dst.as_mut_ptr(), value) }
}

/// `src` (shorter than a vector) in the first lanes, `fill` in the others.
#[inline(always)]
fn load_partial<S: Simd>(src: &[f32], fill: f32) -> V<S> {
    let mut buffer = [fill; MAX_LANES];
    buffer[..src.len()].copy_from_slice(src);
    load::<S>(&buffer)
}

/// The first `dst.len()` lanes of `value` (fewer than a vector) into `dst`.
#[inline(always)]
fn store_partial<S: Simd>(dst: &mut [f32], value: V<S>) {
    let mut buffer = [0.0; MAX_LANES];
    store::<S>(&mut buffer, value);
    let n = dst.len();
    dst.copy_from_slice(&buffer[..n]);
}

/// `exp(hi + lo)`, where `lo` is a small correction to `hi` (zero for a plain exponential).
///
/// Cephes' `expf`: `n = round((hi + lo)/ln 2)`, `r = hi - n·ln2_hi - n·ln2_lo + lo` (exact in its
/// first subtraction, as `ln2_hi` has 9 significant bits), `exp(r) = 1 + r + r²·P(r)` on
/// `|r| <= ln2/2`, scaled by `2^n` built in the exponent bits. Rounding `x/ln 2` adds 1.5·2²³ and
/// subtracts it, which leaves `n` in the low mantissa bits: no float-to-int conversion. Results
/// below `exp(-87.34)` (the smallest normal) are flushed to 0, above `exp(88.37)` they are
/// infinite; NaN propagates.
#[inline(always)]
fn exp_split<S: Simd>(hi: V<S>, lo: V<S>) -> V<S> {
    const LOG2_E: f32 = core::f32::consts::LOG2_E;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Cephes' digits, some beyond f32's precision.
    #[allow(clippy::excessive_precision)]
    const P: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        5.000_000_1e-1,
    ];
    let x = hi + lo;
    let shifted = x.mul_add(splat(LOG2_E), splat(ROUND));
    let n = shifted - splat(ROUND);
    let r = (hi - n * splat(LN2_HI)) - n * splat(LN2_LO) + lo;
    let mut p = splat::<S>(P[0]);
    for c in &P[1..] {
        p = p.mul_add(r, splat(*c));
    }
    let y = (p * r).mul_add(r, r) + splat(1.0);
    // The low bits of `shifted` are `n + 0x4B40_0000` (the bits of 1.5 * 2^23); rebias to 127.
    let bits = shifted.reinterpret::<u32>() - 0x4B40_0000u32.splat::<S>() + 127u32.splat::<S>();
    let scale = (bits << 23).reinterpret::<f32>();
    let y = y * scale;
    let y = x.gt(splat(88.376_26)).select(splat(f32::INFINITY), y);
    x.lt(splat(-87.336_55)).select(splat(0.0), y)
}

/// `exp(x)`.
#[inline(always)]
fn exp<S: Simd>(x: V<S>) -> V<S> {
    exp_split(x, splat(0.0))
}

/// The standard normal CDF `Φ(x)` and `E = exp(-x²/2)` (so the density is `E/√(2π)`).
///
/// `Φ(x) = erfc(-x/√2)/2`, computed from `h = erfc(|x|/√2)/2 = t·E·Q(t)/2` with
/// `t = 1/(1 + p|x|/√2)`: `h` for negative `x`, `1 - h` for positive, so neither tail loses
/// relative precision to cancellation (unlike `(1 + erf(x/√2))/2`). `x²/2` is split into an exact
/// high part (`x` rounded to 12 bits, whose square is exact in `f32`) and a small low part, or
/// `E`'s relative error would grow like `x²·2⁻²⁴` (1e-6 at `|x| = 6`).
#[inline(always)]
fn normal_cdf<S: Simd>(x: V<S>) -> (V<S>, V<S>) {
    const P: f32 = 0.327_591_1;
    // Q(t), highest degree first, printed to 8 digits from the f32-rounded fit.
    #[allow(clippy::excessive_precision)]
    const Q: [f32; 10] = [
        6.052_539_9e-2,
        -3.383_664_5e-1,
        6.782_315e-1,
        -6.293_985e-1,
        5.605_449e-1,
        -8.311_478e-2,
        2.176_739_7e-1,
        1.630_179_3e-1,
        1.861_249_5e-1,
        1.847_610_6e-1,
    ];
    let a = x.abs();
    let t = splat::<S>(1.0) / (a * splat(P * core::f32::consts::FRAC_1_SQRT_2) + splat(1.0));
    let mut q = splat::<S>(Q[0]);
    for c in &Q[1..] {
        q = q.mul_add(t, splat(*c));
    }
    let high = (x.reinterpret::<u32>() & 0xFFFF_F000u32.splat::<S>()).reinterpret::<f32>();
    let lo = (splat::<S>(-0.5) * (x - high)) * (x + high);
    // Past |x| = 16, E is 0 anyway; this keeps x - high = inf - inf from turning E into NaN.
    let lo = a.lt(splat(16.0)).select(lo, splat(0.0));
    let e = exp_split((splat::<S>(-0.5) * high) * high, lo);
    let h = splat::<S>(0.5) * t * e * q;
    let cdf = x.lt(splat(0.0)).select(h, splat::<S>(1.0) - h);
    (cdf, e)
}

/// `1/√(2π)`: the normal density is `E · INV_SQRT_2PI`.
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// `x·Φ(x)`.
#[inline(always)]
fn gelu<S: Simd>(x: V<S>) -> V<S> {
    x * normal_cdf(x).0
}

/// `x·Φ(x)` and `Φ(x) + x·φ(x)`.
#[inline(always)]
fn gelu_and_derivative<S: Simd>(x: V<S>) -> (V<S>, V<S>) {
    let (cdf, e) = normal_cdf(x);
    (x * cdf, (x * e).mul_add(splat(INV_SQRT_2PI), cdf))
}

/// GELU, exact form: `y = x·Φ(x)` (Hendrycks & Gimpel; burn's and PyTorch's default `gelu`).
///
/// # Shapes
/// - `x`, `y`: any, the same length
pub fn gelu_forward(x: &[f32], y: &mut [f32]) {
    // SAFETY: `arch()` only names a backend the CPU has.
    unsafe { gelu_forward_on(x, y) }
}

#[macerator::with_simd(opts(arch = arch()))]
fn gelu_forward_on<S: Simd>(x: &[f32], y: &mut [f32]) {
    assert_eq!(x.len(), y.len());
    let lanes = lanes::<S>();
    let mut xs = x.chunks_exact(lanes);
    let mut ys = y.chunks_exact_mut(lanes);
    for (x, y) in (&mut xs).zip(&mut ys) {
        store(y, gelu(load::<S>(x)));
    }
    let rest = xs.remainder();
    if !rest.is_empty() {
        store_partial(ys.into_remainder(), gelu(load_partial::<S>(rest, 0.0)));
    }
}

/// GELU and its derivative `dy/dx = Φ(x) + x·φ(x)` in one pass, for a backward pass that is then a
/// single product with the incoming gradient.
///
/// # Shapes
/// - `x`, `y`, `dydx`: any, the same length
pub fn gelu_forward_with_derivative(x: &[f32], y: &mut [f32], dydx: &mut [f32]) {
    // SAFETY: `arch()` only names a backend the CPU has.
    unsafe { gelu_forward_with_derivative_on(x, y, dydx) }
}

#[macerator::with_simd(opts(arch = arch()))]
fn gelu_forward_with_derivative_on<S: Simd>(x: &[f32], y: &mut [f32], dydx: &mut [f32]) {
    assert_eq!(x.len(), y.len());
    assert_eq!(x.len(), dydx.len());
    let lanes = lanes::<S>();
    let mut xs = x.chunks_exact(lanes);
    let mut ys = y.chunks_exact_mut(lanes);
    let mut ds = dydx.chunks_exact_mut(lanes);
    for ((x, y), d) in (&mut xs).zip(&mut ys).zip(&mut ds) {
        let (value, derivative) = gelu_and_derivative(load::<S>(x));
        store(y, value);
        store(d, derivative);
    }
    let rest = xs.remainder();
    if !rest.is_empty() {
        let (value, derivative) = gelu_and_derivative(load_partial::<S>(rest, 0.0));
        store_partial(ys.into_remainder(), value);
        store_partial(ds.into_remainder(), derivative);
    }
}

/// The sum of a row, vector lanes then the scalar tail.
#[inline(always)]
fn sum<S: Simd>(row: &[f32]) -> f32 {
    let mut chunks = row.chunks_exact(lanes::<S>());
    let mut acc = splat::<S>(0.0);
    for c in &mut chunks {
        acc += load(c);
    }
    acc.reduce_add() + chunks.remainder().iter().sum::<f32>()
}

/// The maximum of a non-empty row. A NaN may be dropped (x86's vector max returns its second
/// operand): the callers subtract the maximum and exponentiate every entry, so a NaN still reaches
/// their result.
#[inline(always)]
fn max<S: Simd>(row: &[f32]) -> f32 {
    let mut chunks = row.chunks_exact(lanes::<S>());
    let mut acc = splat::<S>(f32::NEG_INFINITY);
    for c in &mut chunks {
        acc = acc.max(load(c));
    }
    chunks
        .remainder()
        .iter()
        .fold(acc.reduce_max(), |m, &x| m.max(x))
}

/// Layer normalisation of each row of each run, with that run's scale and shift (Ba, Kiros &
/// Hinton 2016): `y = (x - mean)/sqrt(var + eps) · gamma + beta`, the variance biased (over `D`),
/// as burn's `layer_norm` and PyTorch's `LayerNorm`. Writes each row's mean and `1/sqrt(var + eps)`
/// for the backward pass.
///
/// # Shapes
/// - `x`, `y`: `[K, N, D]`; `gamma`, `beta`: `[K, D]`; `mean`, `rstd`: `[K, N]`
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_forward(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    d: usize,
    eps: f32,
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    // SAFETY: `arch()` only names a backend the CPU has.
    unsafe { layer_norm_forward_on(x, gamma, beta, d, eps, y, mean, rstd) }
}

#[macerator::with_simd(opts(arch = arch()))]
#[allow(clippy::too_many_arguments)]
fn layer_norm_forward_on<S: Simd>(
    x: &[f32],
    gamma: &[f32],
    beta: &[f32],
    d: usize,
    eps: f32,
    y: &mut [f32],
    mean: &mut [f32],
    rstd: &mut [f32],
) {
    let rows = mean.len();
    let k = gamma.len() / d.max(1);
    assert!(d > 0 && x.len() == rows * d && y.len() == x.len() && rstd.len() == rows);
    assert!(gamma.len() == k * d && beta.len() == k * d && k > 0 && rows.is_multiple_of(k));
    let n = rows / k;
    let lanes = lanes::<S>();
    let inv_d = 1.0 / d as f32;
    for (r, (x, y)) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)).enumerate() {
        let run = r / n;
        let (g, b) = (&gamma[run * d..][..d], &beta[run * d..][..d]);
        let m = sum::<S>(x) * inv_d;
        // Two passes, like burn's decomposition: the variance of the centred values.
        let mut xs = x.chunks_exact(lanes);
        let mut acc = splat::<S>(0.0);
        for c in &mut xs {
            let centred = load::<S>(c) - splat(m);
            acc = centred.mul_add(centred, acc);
        }
        let tail: f32 = xs.remainder().iter().map(|&v| (v - m) * (v - m)).sum();
        let var = (acc.reduce_add() + tail) * inv_d;
        let s = 1.0 / (var + eps).sqrt();
        mean[r] = m;
        rstd[r] = s;
        let (m, s) = (splat::<S>(m), splat::<S>(s));
        let mut i = 0;
        while i + lanes <= d {
            let value = ((load::<S>(&x[i..]) - m) * s).mul_add(load(&g[i..]), load(&b[i..]));
            store(&mut y[i..], value);
            i += lanes;
        }
        if i < d {
            let x = load_partial::<S>(&x[i..], 0.0);
            let value =
                ((x - m) * s).mul_add(load_partial(&g[i..], 0.0), load_partial(&b[i..], 0.0));
            store_partial(&mut y[i..], value);
        }
    }
}

/// `dx = rstd·(dy·gamma - c1 - x̂·c2)` with `x̂ = (x - mean)·rstd`.
#[inline(always)]
fn layer_norm_dx<S: Simd>(x: V<S>, dy: V<S>, g: V<S>, m: f32, s: f32, c1: f32, c2: f32) -> V<S> {
    let xhat = (x - splat(m)) * splat(s);
    (dy * g - splat(c1) - xhat * splat(c2)) * splat(s)
}

/// Layer normalisation's gradients from the forward pass's means and `rstd`.
///
/// With `x̂ = (x - mean)·rstd` and `g = dy·gamma`: `dx = rstd·(g - mean(g) - x̂·mean(g·x̂))`,
/// `dgamma = Σ_rows dy·x̂`, `dbeta = Σ_rows dy`, each run's own (the standard derivation, e.g.
/// llm.c's `layernorm_backward`). `dgamma` and `dbeta` are accumulated into (pass zeros).
///
/// # Shapes
/// - `x`, `dy`, `dx`: `[K, N, D]`; `gamma`, `dgamma`, `dbeta`: `[K, D]`; `mean`, `rstd`: `[K, N]`
#[allow(clippy::too_many_arguments)]
pub fn layer_norm_backward(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
    d: usize,
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    // SAFETY: `arch()` only names a backend the CPU has.
    unsafe { layer_norm_backward_on(x, gamma, mean, rstd, dy, d, dx, dgamma, dbeta) }
}

#[macerator::with_simd(opts(arch = arch()))]
#[allow(clippy::too_many_arguments)]
fn layer_norm_backward_on<S: Simd>(
    x: &[f32],
    gamma: &[f32],
    mean: &[f32],
    rstd: &[f32],
    dy: &[f32],
    d: usize,
    dx: &mut [f32],
    dgamma: &mut [f32],
    dbeta: &mut [f32],
) {
    let rows = mean.len();
    let k = gamma.len() / d.max(1);
    assert!(d > 0 && x.len() == rows * d && dy.len() == x.len() && dx.len() == x.len());
    assert!(rstd.len() == rows && dgamma.len() == k * d && dbeta.len() == k * d);
    assert!(k > 0 && rows.is_multiple_of(k));
    let n = rows / k;
    let lanes = lanes::<S>();
    let inv_d = 1.0 / d as f32;
    let rows = x
        .chunks_exact(d)
        .zip(dy.chunks_exact(d))
        .zip(dx.chunks_exact_mut(d));
    for (r, ((x, dy), dx)) in rows.enumerate() {
        let run = r / n;
        let g = &gamma[run * d..][..d];
        let dg = &mut dgamma[run * d..][..d];
        let db = &mut dbeta[run * d..][..d];
        let (m, s) = (mean[r], rstd[r]);
        // Pass 1: the row's sums of g and g·x̂, and its share of dgamma and dbeta.
        let (mut sum_g, mut sum_gx) = (splat::<S>(0.0), splat::<S>(0.0));
        let mut i = 0;
        while i + lanes <= d {
            let xhat = (load::<S>(&x[i..]) - splat(m)) * splat(s);
            let dyv = load::<S>(&dy[i..]);
            let gv = dyv * load(&g[i..]);
            sum_g += gv;
            sum_gx = gv.mul_add(xhat, sum_gx);
            let (dg_old, db_old) = (load::<S>(&dg[i..]), load::<S>(&db[i..]));
            store(&mut dg[i..], dyv.mul_add(xhat, dg_old));
            store(&mut db[i..], dyv + db_old);
            i += lanes;
        }
        let (mut tail_g, mut tail_gx) = (0.0, 0.0);
        for j in i..d {
            let xhat = (x[j] - m) * s;
            let gv = dy[j] * g[j];
            tail_g += gv;
            tail_gx += gv * xhat;
            dg[j] += dy[j] * xhat;
            db[j] += dy[j];
        }
        let c1 = (sum_g.reduce_add() + tail_g) * inv_d;
        let c2 = (sum_gx.reduce_add() + tail_gx) * inv_d;
        // Pass 2: dx.
        let mut i = 0;
        while i + lanes <= d {
            store(
                &mut dx[i..],
                layer_norm_dx(
                    load::<S>(&x[i..]),
                    load(&dy[i..]),
                    load(&g[i..]),
                    m,
                    s,
                    c1,
                    c2,
                ),
            );
            i += lanes;
        }
        if i < d {
            let value = layer_norm_dx(
                load_partial::<S>(&x[i..], 0.0),
                load_partial(&dy[i..], 0.0),
                load_partial(&g[i..], 0.0),
                m,
                s,
                c1,
                c2,
            );
            store_partial(&mut dx[i..], value);
        }
    }
}

/// Causal softmax of each `[T, T]` block: row `i` (a query) is the softmax of `scale · scores[i, j]`
/// over the keys `j <= i`; the entries `j > i` are 0.
///
/// # Shapes
/// - `scores`, `p`: `[G, T, T]` (any leading dimensions folded into `G`)
pub fn causal_softmax_forward(scores: &[f32], t: usize, scale: f32, p: &mut [f32]) {
    // SAFETY: `arch()` only names a backend the CPU has.
    unsafe { causal_softmax_forward_on(scores, t, scale, p) }
}

#[macerator::with_simd(opts(arch = arch()))]
fn causal_softmax_forward_on<S: Simd>(scores: &[f32], t: usize, scale: f32, p: &mut [f32]) {
    assert!(t > 0 && scores.len().is_multiple_of(t * t) && p.len() == scores.len());
    assert!(scale > 0.0, "causal_softmax: the scale must be positive");
    let lanes = lanes::<S>();
    for (r, (s, p)) in scores
        .chunks_exact(t)
        .zip(p.chunks_exact_mut(t))
        .enumerate()
    {
        let i = r % t;
        let (s, (p, future)) = (&s[..=i], p.split_at_mut(i + 1));
        future.fill(0.0);
        // A positive scale: max(scale·s) = scale·max(s).
        let top = scale * max::<S>(s);
        let (scale_v, shift) = (splat::<S>(scale), splat::<S>(-top));
        let mut total = splat::<S>(0.0);
        let mut j = 0;
        while j + lanes <= s.len() {
            let e = exp(load::<S>(&s[j..]).mul_add(scale_v, shift));
            total += e;
            store(&mut p[j..], e);
            j += lanes;
        }
        if j < s.len() {
            // -inf pads to exp(-inf) = 0, which leaves the sum alone.
            let e = exp(load_partial::<S>(&s[j..], f32::NEG_INFINITY).mul_add(scale_v, shift));
            total += e;
            store_partial(&mut p[j..], e);
        }
        let inv = 1.0 / total.reduce_add();
        let mut chunks = p.chunks_exact_mut(lanes);
        for c in &mut chunks {
            let v = load::<S>(c) * splat(inv);
            store(c, v);
        }
        for v in chunks.into_remainder() {
            *v *= inv;
        }
    }
}

/// The causal softmax's gradient from its output: `ds_j = scale · p_j · (dp_j - Σ_l p_l dp_l)` for
/// `j <= i`, 0 for the masked keys (their probability is 0).
///
/// # Shapes
/// - `p`, `dp`, `ds`: `[G, T, T]`
pub fn causal_softmax_backward(p: &[f32], dp: &[f32], t: usize, scale: f32, ds: &mut [f32]) {
    // SAFETY: `arch()` only names a backend the CPU has.
    unsafe { causal_softmax_backward_on(p, dp, t, scale, ds) }
}

#[macerator::with_simd(opts(arch = arch()))]
fn causal_softmax_backward_on<S: Simd>(
    p: &[f32],
    dp: &[f32],
    t: usize,
    scale: f32,
    ds: &mut [f32],
) {
    assert!(t > 0 && p.len().is_multiple_of(t * t) && dp.len() == p.len() && ds.len() == p.len());
    let lanes = lanes::<S>();
    let rows = p
        .chunks_exact(t)
        .zip(dp.chunks_exact(t))
        .zip(ds.chunks_exact_mut(t));
    for (r, ((p, dp), ds)) in rows.enumerate() {
        let i = r % t;
        let (p, dp, (ds, future)) = (&p[..=i], &dp[..=i], ds.split_at_mut(i + 1));
        future.fill(0.0);
        let mut dot = splat::<S>(0.0);
        let mut j = 0;
        while j + lanes <= p.len() {
            dot = load::<S>(&p[j..]).mul_add(load(&dp[j..]), dot);
            j += lanes;
        }
        let dot = dot.reduce_add() + p[j..].iter().zip(&dp[j..]).map(|(a, b)| a * b).sum::<f32>();
        let (dot, scale_v) = (splat::<S>(dot), splat::<S>(scale));
        let mut j = 0;
        while j + lanes <= p.len() {
            let value = load::<S>(&p[j..]) * (load::<S>(&dp[j..]) - dot) * scale_v;
            store(&mut ds[j..], value);
            j += lanes;
        }
        if j < p.len() {
            let (p, dp) = (
                load_partial::<S>(&p[j..], 0.0),
                load_partial::<S>(&dp[j..], 0.0),
            );
            let value = p * (dp - dot) * scale_v;
            store_partial(&mut ds[j..], value);
        }
    }
}

/// `ln Σ_j exp(x_j)` of a non-empty row, shifted by its maximum for range.
#[inline(always)]
fn log_sum_exp<S: Simd>(row: &[f32]) -> f32 {
    let lanes = lanes::<S>();
    let top = max::<S>(row);
    if top == f32::NEG_INFINITY {
        return top;
    }
    let mut total = splat::<S>(0.0);
    let mut j = 0;
    while j + lanes <= row.len() {
        total += exp(load::<S>(&row[j..]) - splat(top));
        j += lanes;
    }
    if j < row.len() {
        total += exp(load_partial::<S>(&row[j..], f32::NEG_INFINITY) - splat(top));
    }
    top + total.reduce_add().ln()
}

/// Cross-entropy of each run over its loss positions: `loss_k = inverse_k · Σ_rows (lse - x[target])`
/// over the rows of run `k` whose target is not negative, `lse` the row's log-sum-exp. Writes each
/// row's `lse` (0 for an ignored row) and each run's sum before scaling, for the backward pass.
///
/// # Shapes
/// - `logits`: `[K, R, V]`; `targets`, `lse`: `[K, R]`; `inverse`, `loss`, `nll`: `[K]`
///
/// # Panics
/// If a target is `>= V`.
#[allow(clippy::too_many_arguments)]
pub fn cross_entropy_forward(
    logits: &[f32],
    targets: &[i64],
    v: usize,
    inverse: &[f32],
    lse: &mut [f32],
    loss: &mut [f32],
    nll: &mut [f32],
) {
    // SAFETY: `arch()` only names a backend the CPU has.
    unsafe { cross_entropy_forward_on(logits, targets, v, inverse, lse, loss, nll) }
}

#[macerator::with_simd(opts(arch = arch()))]
#[allow(clippy::too_many_arguments)]
fn cross_entropy_forward_on<S: Simd>(
    logits: &[f32],
    targets: &[i64],
    v: usize,
    inverse: &[f32],
    lse: &mut [f32],
    loss: &mut [f32],
    nll: &mut [f32],
) {
    let k = inverse.len();
    assert!(v > 0 && k > 0 && targets.len().is_multiple_of(k) && logits.len() == targets.len() * v);
    assert!(lse.len() == targets.len() && loss.len() == k && nll.len() == k);
    let per_run = targets.len() / k;
    let mut sums = vec![0f64; k];
    for (r, (row, &target)) in logits.chunks_exact(v).zip(targets).enumerate() {
        if target < 0 {
            lse[r] = 0.0;
            continue;
        }
        let target = usize::try_from(target).expect("non-negative");
        assert!(
            target < v,
            "cross_entropy: target {target} is not below the vocabulary {v}"
        );
        let l = log_sum_exp::<S>(row);
        lse[r] = l;
        // In f64: a run sums up to B·T terms.
        sums[r / per_run.max(1)] += f64::from(l - row[target]);
    }
    for ((loss, nll), (sum, inverse)) in loss
        .iter_mut()
        .zip(nll.iter_mut())
        .zip(sums.iter().zip(inverse))
    {
        *nll = *sum as f32;
        *loss = (*sum * f64::from(*inverse)) as f32;
    }
}

/// The cross-entropy's gradient in the logits: `scale_k · (softmax(x) - onehot(target))` on each
/// loss row of run `k`, 0 on ignored rows; `scale_k` is the loss's incoming gradient times
/// `inverse_k`, and the softmax is recomputed from the saved `lse` as `exp(x - lse)`.
///
/// # Shapes
/// - `logits`, `dlogits`: `[K, R, V]`; `targets`, `lse`: `[K, R]`; `scale`: `[K]`
pub fn cross_entropy_backward(
    logits: &[f32],
    targets: &[i64],
    lse: &[f32],
    v: usize,
    scale: &[f32],
    dlogits: &mut [f32],
) {
    // SAFETY: `arch()` only names a backend the CPU has.
    unsafe { cross_entropy_backward_on(logits, targets, lse, v, scale, dlogits) }
}

#[macerator::with_simd(opts(arch = arch()))]
fn cross_entropy_backward_on<S: Simd>(
    logits: &[f32],
    targets: &[i64],
    lse: &[f32],
    v: usize,
    scale: &[f32],
    dlogits: &mut [f32],
) {
    let k = scale.len();
    assert!(v > 0 && k > 0 && targets.len().is_multiple_of(k) && logits.len() == targets.len() * v);
    assert!(lse.len() == targets.len() && dlogits.len() == logits.len());
    let per_run = targets.len() / k;
    let lanes = lanes::<S>();
    let rows = logits
        .chunks_exact(v)
        .zip(dlogits.chunks_exact_mut(v))
        .zip(targets);
    for (r, ((x, dx), &target)) in rows.enumerate() {
        if target < 0 {
            dx.fill(0.0);
            continue;
        }
        let c = scale[r / per_run];
        let l = lse[r];
        let (l, c_v) = (splat::<S>(l), splat::<S>(c));
        let mut j = 0;
        while j + lanes <= v {
            store(&mut dx[j..], exp(load::<S>(&x[j..]) - l) * c_v);
            j += lanes;
        }
        if j < v {
            let x = load_partial::<S>(&x[j..], f32::NEG_INFINITY);
            store_partial(&mut dx[j..], exp(x - l) * c_v);
        }
        dx[target as usize] -= c;
    }
}

/// One AdamW step's scalars (Loshchilov & Hutter 2019, as burn's `AdamW` computes them).
#[derive(Clone, Copy, Debug)]
pub struct AdamWScalars {
    /// The learning rate.
    pub lr: f32,
    /// Moment decay rates.
    pub beta_1: f32,
    pub beta_2: f32,
    /// Added to `sqrt(v̂)`.
    pub epsilon: f32,
    /// `1 - lr·weight_decay`: the decoupled weight decay's factor on the parameter.
    pub decay: f32,
    /// `1 - beta_1^t` and `1 - beta_2^t`: the bias corrections at step `t` (from 1).
    pub correction_1: f32,
    pub correction_2: f32,
    /// Each run's gradient is scaled to a norm of at most this (infinite: no clipping).
    pub max_norm: f32,
}

/// One AdamW update of a vector of parameters, its gradient scaled by `c`: the new parameter and
/// moments.
#[inline(always)]
fn adamw<S: Simd>(
    p: V<S>,
    g: V<S>,
    m: V<S>,
    v: V<S>,
    c: f32,
    h: AdamWScalars,
) -> (V<S>, V<S>, V<S>) {
    let g = g * splat(c);
    let m = m.mul_add(splat(h.beta_1), g * splat(1.0 - h.beta_1));
    let v = v.mul_add(splat(h.beta_2), g * g * splat(1.0 - h.beta_2));
    let m_hat = m / splat(h.correction_1);
    let v_hat = v / splat(h.correction_2);
    let delta = m_hat / (v_hat.sqrt() + splat(h.epsilon));
    (p * splat(h.decay) - delta * splat(h.lr), m, v)
}

/// AdamW with per-run gradient clipping, in place, one pass over each run's slice after its norm.
///
/// For each run `k` (the slices of `param.len() / runs` values): `c = min(1, max_norm / (|g_k| +
/// f32::MIN_POSITIVE))` (burn's `GradientClipping::Norm`, NaN kept); then with `g = c·grad`,
/// `m = β1·m + (1-β1)·g`, `v = β2·v + (1-β2)·g²` and
/// `param = param·(1 - lr·wd) - lr · (m/(1-β1^t)) / (sqrt(v/(1-β2^t)) + ε)`.
///
/// # Shapes
/// - `param`, `grad`, `m`, `v`: `[K, ...]`, the same length, a multiple of `runs`
pub fn adamw_step(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    runs: usize,
    scalars: AdamWScalars,
) {
    // SAFETY: `arch()` only names a backend the CPU has.
    unsafe { adamw_step_on(param, grad, m, v, runs, scalars) }
}

#[macerator::with_simd(opts(arch = arch()))]
fn adamw_step_on<S: Simd>(
    param: &mut [f32],
    grad: &[f32],
    m: &mut [f32],
    v: &mut [f32],
    runs: usize,
    scalars: AdamWScalars,
) {
    let n = param.len();
    assert!(grad.len() == n && m.len() == n && v.len() == n);
    assert!(runs > 0 && n.is_multiple_of(runs));
    let per_run = n / runs;
    if per_run == 0 {
        return;
    }
    let lanes = lanes::<S>();
    let h = scalars;
    let slices = param
        .chunks_exact_mut(per_run)
        .zip(grad.chunks_exact(per_run))
        .zip(m.chunks_exact_mut(per_run).zip(v.chunks_exact_mut(per_run)));
    for ((p, g), (m, v)) in slices {
        let coefficient = if h.max_norm.is_finite() {
            let mut squares = splat::<S>(0.0);
            let mut chunks = g.chunks_exact(lanes);
            for c in &mut chunks {
                let x = load::<S>(c);
                squares = x.mul_add(x, squares);
            }
            let tail: f32 = chunks.remainder().iter().map(|x| x * x).sum();
            let c = h.max_norm / ((squares.reduce_add() + tail).sqrt() + f32::MIN_POSITIVE);
            // `min(c, 1)` that keeps a NaN norm's NaN (f32::min would drop it).
            if c >= 1.0 { 1.0 } else { c }
        } else {
            1.0
        };
        let mut i = 0;
        while i + lanes <= per_run {
            let (pv, mv, vv) = adamw(
                load::<S>(&p[i..]),
                load(&g[i..]),
                load(&m[i..]),
                load(&v[i..]),
                coefficient,
                h,
            );
            store(&mut p[i..], pv);
            store(&mut m[i..], mv);
            store(&mut v[i..], vv);
            i += lanes;
        }
        if i < per_run {
            let (pv, mv, vv) = adamw(
                load_partial::<S>(&p[i..], 0.0),
                load_partial(&g[i..], 0.0),
                load_partial(&m[i..], 0.0),
                load_partial(&v[i..], 0.0),
                coefficient,
                h,
            );
            store_partial(&mut p[i..], pv);
            store_partial(&mut m[i..], mv);
            store_partial(&mut v[i..], vv);
        }
    }
}

/// Scalar references for the tests: the vector exponential and CDF on one value.
#[cfg(test)]
pub(crate) mod scalar {
    use super::*;
    use macerator::Simd;

    #[macerator::with_simd]
    fn exp_one<S: Simd>(x: f32) -> f32 {
        let mut out = [0.0; MAX_LANES];
        store::<S>(&mut out, exp(splat(x)));
        out[0]
    }

    #[macerator::with_simd]
    fn cdf_one<S: Simd>(x: f32) -> (f32, f32) {
        let (cdf, e) = normal_cdf(splat::<S>(x));
        let (mut a, mut b) = ([0.0; MAX_LANES], [0.0; MAX_LANES]);
        store::<S>(&mut a, cdf);
        store::<S>(&mut b, e);
        (a[0], b[0])
    }

    pub fn exp32(x: f32) -> f32 {
        exp_one(x)
    }

    pub fn normal_cdf32(x: f32) -> (f32, f32) {
        cdf_one(x)
    }
}

/// Every kernel gives the same values on every x86-64 vector width (1, 4, 8 and 16 lanes: the
/// scalar fallback, SSE4.2 as wasm's simd128, AVX2, AVX-512), on rows that leave tails.
#[cfg(all(test, target_arch = "x86_64"))]
mod widths {
    use super::*;
    use crate::engine::rng::SeededRng;

    fn normal(rng: &mut SeededRng, n: usize, std: f64) -> Vec<f32> {
        (0..n).map(|_| (rng.normal() * std) as f32).collect()
    }

    /// Every kernel's outputs, concatenated, on fixed inputs.
    fn all_outputs() -> Vec<f32> {
        let mut rng = SeededRng::from_seed(11);
        let mut out = Vec::new();
        // GELU: 45 values.
        let x = normal(&mut rng, 45, 3.0);
        let (mut y, mut dy) = (vec![0.0; 45], vec![0.0; 45]);
        gelu_forward(&x, &mut y);
        out.extend(&y);
        gelu_forward_with_derivative(&x, &mut y, &mut dy);
        out.extend(y.iter().chain(&dy));
        // Layer norm: K = 2, N = 3, D = 21.
        let (k, n, d) = (2, 3, 21);
        let x = normal(&mut rng, k * n * d, 2.0);
        let (g, b) = (normal(&mut rng, k * d, 1.0), normal(&mut rng, k * d, 1.0));
        let (mut y, mut mean, mut rstd) =
            (vec![0.0; k * n * d], vec![0.0; k * n], vec![0.0; k * n]);
        layer_norm_forward(&x, &g, &b, d, 1e-5, &mut y, &mut mean, &mut rstd);
        let dy = normal(&mut rng, k * n * d, 1.0);
        let (mut dx, mut dg, mut db) = (vec![0.0; k * n * d], vec![0.0; k * d], vec![0.0; k * d]);
        layer_norm_backward(&x, &g, &mean, &rstd, &dy, d, &mut dx, &mut dg, &mut db);
        out.extend(y.iter().chain(&dx).chain(&dg).chain(&db));
        // Causal softmax: G = 2, T = 19.
        let t = 19;
        let s = normal(&mut rng, 2 * t * t, 2.0);
        let mut p = vec![0.0; 2 * t * t];
        causal_softmax_forward(&s, t, 0.3, &mut p);
        let dp = normal(&mut rng, 2 * t * t, 1.0);
        let mut ds = vec![0.0; 2 * t * t];
        causal_softmax_backward(&p, &dp, t, 0.3, &mut ds);
        out.extend(p.iter().chain(&ds));
        // Cross-entropy: K = 2, 6 rows of V = 19, one ignored.
        let v = 19;
        let logits = normal(&mut rng, 12 * v, 2.0);
        let targets: Vec<i64> = (0..12)
            .map(|r| if r == 4 { -1 } else { (r * 7 % v) as i64 })
            .collect();
        let (mut lse, mut loss, mut nll) = (vec![0.0; 12], vec![0.0; 2], vec![0.0; 2]);
        cross_entropy_forward(
            &logits,
            &targets,
            v,
            &[0.2, 0.5],
            &mut lse,
            &mut loss,
            &mut nll,
        );
        let mut dlogits = vec![0.0; 12 * v];
        cross_entropy_backward(&logits, &targets, &lse, v, &[0.2, -1.0], &mut dlogits);
        out.extend(lse.iter().chain(&loss).chain(&nll).chain(&dlogits));
        // AdamW: 3 runs of 23 values, the last run's gradient clipped.
        let mut param = normal(&mut rng, 69, 1.0);
        let mut grad = normal(&mut rng, 69, 1.0);
        grad[46..].iter_mut().for_each(|g| *g *= 10.0);
        let (mut m, mut v) = (normal(&mut rng, 69, 0.1), normal(&mut rng, 69, 0.1));
        v.iter_mut().for_each(|x| *x = x.abs());
        let scalars = AdamWScalars {
            lr: 0.01,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-8,
            decay: 0.999,
            correction_1: 0.19,
            correction_2: 0.003,
            max_norm: 5.0,
        };
        adamw_step(&mut param, &grad, &mut m, &mut v, 3, scalars);
        out.extend(param.iter().chain(&m).chain(&v));
        out
    }

    #[test]
    fn every_vector_width_gives_the_same_values() {
        let widest = all_outputs();
        let mut tested = 0;
        for arch in [Arch::Scalar, Arch::V2, Arch::V3] {
            if (arch as u8) >= (Arch::detect() as u8) {
                continue;
            }
            tested += 1;
            let narrower = with_arch(arch, all_outputs);
            for (i, (a, b)) in narrower.iter().zip(&widest).enumerate() {
                // Fused multiply-adds (AVX2, AVX-512) round once where SSE and wasm round twice.
                assert!(
                    (a - b).abs() <= 1e-6 + 2e-6 * b.abs(),
                    "{arch:?} [{i}]: {a} vs {b}"
                );
            }
        }
        assert!(tested > 0, "this CPU has only the scalar fallback");
    }
}

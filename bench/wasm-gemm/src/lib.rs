//! Kernels timed by `scripts/wasm-ceiling` in Chromium (see `tests/e2e/wasm-ceiling.js`). Exports
//! plain C functions, no wasm-bindgen: the page's JS calls them and times them itself.
#![cfg(target_arch = "wasm32")]

use core::arch::wasm32::{f32x4_add, f32x4_extract_lane, f32x4_mul, f32x4_splat};
use core::hint::black_box;

/// `dst[m, n] = lhs[m, k] · rhs[k, n]`, `reps` times, with `gemm` on one thread as burn's flex
/// backend calls it. `lhs_t`/`rhs_t` != 0 store that operand transposed (as a linear layer's
/// backward pass reads its weight or its input). Returns the sum of `dst`, a checksum that
/// `tests/e2e/wasm-ceiling.js` compares between the two builds.
#[unsafe(no_mangle)]
pub extern "C" fn gemm_reps(
    m: usize,
    n: usize,
    k: usize,
    lhs_t: u32,
    rhs_t: u32,
    reps: u32,
) -> f32 {
    let lhs: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
    let rhs: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
    let mut dst = vec![0f32; m * n];
    let (lhs_cs, lhs_rs) = if lhs_t == 0 {
        (1, k as isize)
    } else {
        (m as isize, 1)
    };
    let (rhs_cs, rhs_rs) = if rhs_t == 0 {
        (1, n as isize)
    } else {
        (k as isize, 1)
    };
    for _ in 0..reps {
        // SAFETY: the strides above address only inside `lhs`, `rhs` and `dst`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                dst.as_mut_ptr(),
                1,
                n as isize,
                false,
                lhs.as_ptr(),
                lhs_cs,
                lhs_rs,
                rhs.as_ptr(),
                rhs_cs,
                rhs_rs,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::None,
            );
        }
    }
    dst.iter().map(|&x| f64::from(x)).sum::<f64>() as f32
}

/// `iters` rounds of 12 independent `c = c·a + b` on 4-lane vectors (96 flops a round): as many
/// chains as keep the core's multiply and add pipes busy through their latency, so the rate is the
/// simd128 ceiling of any kernel made of separate multiplies and adds.
#[unsafe(no_mangle)]
pub extern "C" fn peak(iters: u32) -> f32 {
    let a = f32x4_splat(black_box(0.999));
    let b = f32x4_splat(black_box(0.001));
    let mut c = [f32x4_splat(black_box(1.0)); 12];
    for _ in 0..iters {
        for v in &mut c {
            *v = f32x4_add(f32x4_mul(*v, a), b);
        }
    }
    c.iter().map(|v| f32x4_extract_lane::<0>(*v)).sum()
}

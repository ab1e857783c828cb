//! Forward + backward time of each fused kernel (`engine::kernels`) against burn's decomposed ops, on
//! `Autodiff<Flex>` (one thread: burn's `rayon` is off in this crate) at the reference model's
//! shapes, and the forward alone on plain `Flex` (inference).
//!
//! Each timed step builds the op on inputs that require a gradient, takes `Σ out·w` (a dense
//! incoming gradient, as in the model) and runs the backward pass. The `harness` line is that
//! surrounding work alone (`Σ x·w` and its backward), which both sides of every row pay.
//!
//! Run with `cargo run --release --example kernel_bench [-- RUNS]` (RUNS: the stack's `K`,
//! default 1). Don't time while another build runs. mimalloc, as in `idp`: with glibc's allocator
//! every multi-megabyte buffer is a fresh `mmap` whose page faults cost more than the fused kernels.

use burn::optim::{AdamWConfig, Optimizer};
use burn::prelude::*;
use burn::tensor::TensorData;
use burn::tensor::activation::log_softmax;
use instruction_diversity::engine::kernels::adamw::{Clip, FusedAdamW};
use instruction_diversity::engine::kernels::{self, reference};
use instruction_diversity::engine::rng::SeededRng;
use std::hint::black_box;
use std::time::Instant;

#[cfg(not(target_arch = "wasm32"))]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Batch, tokens, width, heads, head size, feed-forward width, vocabulary: the reference model.
const B: usize = 64;
const T: usize = 35;
const D: usize = 64;
const H: usize = 4;
const S: usize = D / H;
const F: usize = 256;
const V: usize = 14;

/// Median milliseconds per call of `f`, over 9 samples of about 60 ms each after a warm-up.
fn time(mut f: impl FnMut()) -> f64 {
    for _ in 0..3 {
        f();
    }
    let start = Instant::now();
    f();
    let once = start.elapsed().as_secs_f64();
    let reps = ((0.06 / once.max(1e-6)) as usize).clamp(1, 10_000);
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..reps {
                f();
            }
            start.elapsed().as_secs_f64() * 1e3 / reps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

fn float<const N: usize>(
    rng: &mut SeededRng,
    shape: [usize; N],
    std: f64,
    device: &Device,
) -> Tensor<N> {
    let n = shape.iter().product();
    let values: Vec<f32> = (0..n).map(|_| (rng.normal() * std) as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// `Σ out·w` backward, reading one gradient back so the work is not optimised away.
fn backward<const N: usize, const M: usize>(out: Tensor<N>, w: &Tensor<N>, x: &Tensor<M>) {
    let grads = (out * w.clone()).sum().backward();
    black_box(x.grad(&grads));
}

struct Row {
    name: &'static str,
    shape: String,
    fused: f64,
    decomposed: f64,
    fused_forward: f64,
    decomposed_forward: f64,
}

fn print(rows: &[Row]) {
    println!(
        "| op | shape | fused fwd+bwd (ms) | decomposed fwd+bwd (ms) | speed-up | fused fwd (ms) | decomposed fwd (ms) | speed-up |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {:.3} | {:.3} | {:.1}x | {:.3} | {:.3} | {:.1}x |",
            r.name,
            r.shape,
            r.fused,
            r.decomposed,
            r.decomposed / r.fused,
            r.fused_forward,
            r.decomposed_forward,
            r.decomposed_forward / r.fused_forward,
        );
    }
}

fn main() {
    let k: usize = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("RUNS is a number"))
        .unwrap_or(1);
    let n = B * T;
    let train = Device::flex().autodiff();
    let infer = Device::flex();
    let mut rng = SeededRng::from_seed(1);
    let mut rows = Vec::new();

    // The surrounding work every fwd+bwd row pays: Σ x·w and its backward on [K, N, F].
    let x = float(&mut rng, [k, n, F], 1.0, &train).require_grad();
    let w = float(&mut rng, [k, n, F], 1.0, &train);
    let harness = time(|| backward(x.clone(), &w, &x));
    println!("harness (Σ x·w backward on [{k}, {n}, {F}]): {harness:.3} ms");

    // Layer norm [K, N, D], each run's own scale and shift.
    {
        let x = float(&mut rng, [k, n, D], 1.0, &train).require_grad();
        let gamma = float(&mut rng, [k, D], 1.0, &train).require_grad();
        let beta = float(&mut rng, [k, D], 1.0, &train).require_grad();
        let w = float(&mut rng, [k, n, D], 1.0, &train);
        let (xi, gi, bi) = (
            x.clone().inner(),
            gamma.clone().inner(),
            beta.clone().inner(),
        );
        rows.push(Row {
            name: "layer_norm",
            shape: format!("[{k}, {n}, {D}]"),
            fused: time(|| {
                backward(
                    kernels::layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5),
                    &w,
                    &x,
                )
            }),
            decomposed: time(|| {
                backward(
                    reference::layer_norm(x.clone(), gamma.clone(), beta.clone(), 1e-5),
                    &w,
                    &x,
                )
            }),
            fused_forward: time(|| {
                black_box(kernels::layer_norm(
                    xi.clone(),
                    gi.clone(),
                    bi.clone(),
                    1e-5,
                ));
            }),
            decomposed_forward: time(|| {
                black_box(reference::layer_norm(
                    xi.clone(),
                    gi.clone(),
                    bi.clone(),
                    1e-5,
                ));
            }),
        });
        // A lone run's model today: burn's `LayerNorm` ([D] scale and shift) on [B, T, D].
        if k == 1 {
            let x3 = float(&mut rng, [B, T, D], 1.0, &train).require_grad();
            let g1 = float(&mut rng, [D], 1.0, &train).require_grad();
            let b1 = float(&mut rng, [D], 1.0, &train).require_grad();
            let w3 = float(&mut rng, [B, T, D], 1.0, &train);
            let lone = |x: Tensor<3>| {
                burn::tensor::module::layer_norm(x, g1.clone(), Some(b1.clone()), 1e-5)
            };
            let (xi, gi1, bi1) = (x3.clone().inner(), g1.clone().inner(), b1.clone().inner());
            rows.push(Row {
                name: "layer_norm vs burn LayerNorm",
                shape: format!("[{B}, {T}, {D}]"),
                fused: rows[0].fused,
                decomposed: time(|| backward(lone(x3.clone()), &w3, &x3)),
                fused_forward: rows[0].fused_forward,
                decomposed_forward: time(|| {
                    black_box(burn::tensor::module::layer_norm(
                        xi.clone(),
                        gi1.clone(),
                        Some(bi1.clone()),
                        1e-5,
                    ));
                }),
            });
        }
    }

    // Causal softmax of the raw scores [K·B, H, T, T], the 1/sqrt(S) scale folded in.
    {
        let scale = 1.0 / (S as f64).sqrt();
        let s = float(&mut rng, [k * B, H, T, T], 2.0, &train).require_grad();
        let w = float(&mut rng, [k * B, H, T, T], 1.0, &train);
        let si = s.clone().inner();
        rows.push(Row {
            name: "causal_softmax",
            shape: format!("[{}, {H}, {T}, {T}]", k * B),
            fused: time(|| backward(kernels::causal_softmax(s.clone(), scale), &w, &s)),
            decomposed: time(|| backward(reference::causal_softmax(s.clone(), scale), &w, &s)),
            fused_forward: time(|| {
                black_box(kernels::causal_softmax(si.clone(), scale));
            }),
            decomposed_forward: time(|| {
                black_box(reference::causal_softmax(si.clone(), scale));
            }),
        });
    }

    // GELU on the MLP's hidden layer [K, N, F].
    {
        let x = float(&mut rng, [k, n, F], 1.0, &train).require_grad();
        let w = float(&mut rng, [k, n, F], 1.0, &train);
        let xi = x.clone().inner();
        rows.push(Row {
            name: "gelu",
            shape: format!("[{k}, {n}, {F}]"),
            fused: time(|| backward(kernels::gelu(x.clone()), &w, &x)),
            decomposed: time(|| backward(reference::gelu(x.clone()), &w, &x)),
            fused_forward: time(|| {
                black_box(kernels::gelu(xi.clone()));
            }),
            decomposed_forward: time(|| {
                black_box(reference::gelu(xi.clone()));
            }),
        });
    }

    // Cross-entropy over [K, B, T, V] logits, about a third of the positions in the loss, against
    // today's one-hot formulation (the one-hot tensor built outside the timing, as the batcher does).
    {
        let logits = float(&mut rng, [k, B, T, V], 2.0, &train).require_grad();
        let ids: Vec<i64> = (0..k * B * T)
            .map(|_| {
                if rng.chance(0.35) {
                    rng.index(V) as i64
                } else {
                    -1
                }
            })
            .collect();
        let mut one_hot = vec![0f32; k * B * T * V];
        for (r, &id) in ids.iter().enumerate() {
            if id >= 0 {
                one_hot[r * V + id as usize] = 1.0;
            }
        }
        let targets = Tensor::<3, Int>::from_data(TensorData::new(ids, [k, B, T]), &train);
        let one_hot = Tensor::<4>::from_data(TensorData::new(one_hot, [k, B, T, V]), &train);
        let inverse = Tensor::<1>::from_data(TensorData::new(vec![1.0 / 700.0; k], [k]), &train);
        let w = Tensor::<1>::ones([k], &train);
        let one_hot_loss = |logits: Tensor<4>, one_hot: Tensor<4>, inverse: Tensor<1>| {
            (log_softmax(logits, 3) * one_hot)
                .reshape([k, B * T * V])
                .sum_dim(1)
                .reshape([k])
                .neg()
                * inverse
        };
        let (li, ti, oi, ii) = (
            logits.clone().inner(),
            targets.clone().inner(),
            one_hot.clone().inner(),
            inverse.clone().inner(),
        );
        rows.push(Row {
            name: "cross_entropy vs one-hot",
            shape: format!("[{k}, {B}, {T}, {V}]"),
            fused: time(|| {
                let loss = kernels::cross_entropy(logits.clone(), targets.clone(), inverse.clone());
                backward(loss, &w, &logits)
            }),
            decomposed: time(|| {
                let loss = one_hot_loss(logits.clone(), one_hot.clone(), inverse.clone());
                backward(loss, &w, &logits)
            }),
            fused_forward: time(|| {
                black_box(kernels::cross_entropy(li.clone(), ti.clone(), ii.clone()));
            }),
            decomposed_forward: time(|| {
                black_box(one_hot_loss(li.clone(), oi.clone(), ii.clone()));
            }),
        });
    }

    print(&rows);

    // One optimizer step over every parameter of the reference model (stacked K times), each run's
    // gradient clipped to norm 1: the fused optimizer against the stack's clipping (`clip_rows`)
    // then burn's AdamW, both through `Optimizer::step` (no module traversal). Both sides get shared
    // tensors (clones), so the fused step copies its three outputs rather than writing in place.
    {
        let mut matrices: Vec<[usize; 3]> = vec![[k, V, D], [k, 64, D], [k, D, V]];
        let mut vectors: Vec<[usize; 2]> = vec![[k, D], [k, D], [k, V]];
        for _ in 0..2 {
            matrices.extend([[k, D, 3 * D], [k, D, D], [k, D, F], [k, F, D]]);
            vectors.extend([[k, D]; 4]);
            vectors.extend([[k, 3 * D], [k, D], [k, F], [k, D]]);
        }
        let params: usize = matrices
            .iter()
            .map(|s| s.iter().product::<usize>())
            .sum::<usize>()
            + vectors
                .iter()
                .map(|s| s.iter().product::<usize>())
                .sum::<usize>();
        let m: Vec<_> = matrices
            .iter()
            .map(|&s| {
                (
                    float(&mut rng, s, 0.02, &infer),
                    float(&mut rng, s, 0.1, &infer),
                )
            })
            .collect();
        let v: Vec<_> = vectors
            .iter()
            .map(|&s| {
                (
                    float(&mut rng, s, 0.02, &infer),
                    float(&mut rng, s, 0.1, &infer),
                )
            })
            .collect();
        let fused = FusedAdamW::new(0.1, Clip::PerRun(1.0));
        let burn_adamw = AdamWConfig::new()
            .with_epsilon(1e-8)
            .with_weight_decay(0.1)
            .build();
        // States after a first step, so that both time a step with moments.
        let states_m: Vec<_> = m
            .iter()
            .map(|(p, g)| fused.step(1e-3, p.clone(), g.clone(), None).1)
            .collect();
        let states_v: Vec<_> = v
            .iter()
            .map(|(p, g)| fused.step(1e-3, p.clone(), g.clone(), None).1)
            .collect();
        let fused_ms = time(|| {
            for ((p, g), s) in m.iter().zip(&states_m) {
                black_box(fused.step(1e-3, p.clone(), g.clone(), s.clone()));
            }
            for ((p, g), s) in v.iter().zip(&states_v) {
                black_box(fused.step(1e-3, p.clone(), g.clone(), s.clone()));
            }
        });
        let burn_ms = time(|| {
            for ((p, g), s) in m.iter().zip(&states_m) {
                let g = fused.clip_decomposed(g.clone());
                black_box(burn_adamw.step(1e-3, p.clone(), g, s.clone()));
            }
            for ((p, g), s) in v.iter().zip(&states_v) {
                let g = fused.clip_decomposed(g.clone());
                black_box(burn_adamw.step(1e-3, p.clone(), g, s.clone()));
            }
        });
        println!(
            "\nAdamW + per-run clipping, {} parameters ({} tensors): fused {fused_ms:.3} ms, clip_rows + burn AdamW {burn_ms:.3} ms, {:.1}x",
            params,
            matrices.len() + vectors.len(),
            burn_ms / fused_ms
        );
    }
}

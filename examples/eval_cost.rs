//! What evaluating often costs a lesson's run, on the CPU backend: its interim evaluations and its
//! one full evaluation at the end, as shares of its training time, and within them what the head
//! scores and the embedding's projection cost (measured at every evaluation).
//!
//! Lessons evaluate every `train.eval_every` steps on the first `eval.interim_examples` inputs of
//! each split, so the page's accuracy curves move within seconds, and on the whole sets at the end.
//! Each cost is timed directly, as the median of seven timings: a training step (in chunks of 20)
//! and an evaluation on the interim inputs and on the whole sets, each after 100 steps of training.
//! (Timing a whole run with and without its evaluations measured the difference of two totals that
//! vary by 10% from one run to the next on a shared machine: the shares came out between -4% and 9%.)
//! Run with `cargo run --release --example eval_cost [lesson-id]` (default: the phase transition's
//! first and last runs; about a minute). The shares are measured in one process, so the machine's
//! speed cancels out.

// Native only: it blocks on the engine's futures with pollster, which a wasm32 build lacks.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use burn::prelude::Device;
    use instruction_diversity::engine::config::ValidConfig;
    use instruction_diversity::engine::eval::{embedding_projections, evaluate, head_scores};
    use instruction_diversity::engine::stack::Stack;
    use instruction_diversity::study::lessons::lesson;
    use std::time::Instant;

    /// The median of `times` timings of `f`, in seconds.
    fn median(times: usize, mut f: impl FnMut()) -> f64 {
        let mut seconds: Vec<f64> = (0..times)
            .map(|_| {
                let started = Instant::now();
                f();
                started.elapsed().as_secs_f64()
            })
            .collect();
        seconds.sort_by(f64::total_cmp);
        seconds[times / 2]
    }

    /// Seconds a training step takes (the median of chunks of 20 steps, after `warm` steps so the
    /// model has left its first, cheaper, all-alike outputs), and an evaluation of that model on the
    /// first `limit` inputs of each split and on the whole sets (each with the head scores and the
    /// projection), and of the head scores and the projection alone.
    fn costs(config: &ValidConfig, warm: usize, limit: usize) -> (f64, f64, f64, f64) {
        let mut raw = config.raw().clone();
        // No evaluation inside the timed chunks.
        raw.train.eval_every = raw.train.steps;
        let configs = [raw.validate().expect("valid")];
        let mut run = Stack::new(&configs, &Device::flex()).expect("builds");
        pollster::block_on(run.advance(warm)).expect("trains");
        let step = median(7, || {
            pollster::block_on(run.advance(20)).expect("trains");
        }) / 20.0;
        let (model, device) = (run.inference_model(0), run.inference_device());
        let evaluation = |limit: Option<usize>| {
            median(7, || {
                pollster::block_on(evaluate(
                    &model,
                    run.layout(),
                    &[run.dataset(0)],
                    run.step(),
                    &[limit],
                    &device,
                ))
                .expect("evaluates");
            })
        };
        let inside = median(7, || {
            pollster::block_on(head_scores(
                &model,
                run.layout(),
                &[run.dataset(0)],
                &device,
            ))
            .expect("scores");
            pollster::block_on(embedding_projections(&model, run.layout())).expect("projects");
        });
        (step, evaluation(Some(limit)), evaluation(None), inside)
    }

    pub fn main() {
        let id = std::env::args()
            .nth(1)
            .unwrap_or_else(|| "phase-transition".into());
        let lesson = lesson(&id).unwrap_or_else(|| panic!("no lesson `{id}`"));
        let plan = lesson.sweep.plan().expect("lessons plan");
        let base = &lesson.sweep.base;
        let (steps, every, interim) = (
            base.train.steps,
            base.train.eval_every,
            base.eval.interim_examples,
        );
        // Evaluations before the last: at every multiple of `every` below `steps`.
        let count = (steps - 1) / every;
        println!(
            "lesson {id}: {} runs of {steps} steps; {count} interim evaluations on {interim} inputs per split, then one on the whole sets",
            plan.len()
        );
        println!(
            "| run | step (ms) | interim evaluation (ms) | full evaluation (ms) | interim / training | full / training | all / training | head scores + projection (ms) | their share of training |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        for planned in [plan.first(), plan.last()].into_iter().flatten() {
            let (step, partial, full, inside) = costs(&planned.config, 100, interim);
            let training = step * steps as f64;
            let interim_share = count as f64 * partial / training;
            let full_share = full / training;
            let inside_share = (count + 1) as f64 * inside / training;
            println!(
                "| {} | {:.1} | {:.0} | {:.0} | {:.1}% | {:.1}% | {:.1}% | {:.1} | {:.1}% |",
                planned.labels.join(" / "),
                1e3 * step,
                1e3 * partial,
                1e3 * full,
                100.0 * interim_share,
                100.0 * full_share,
                100.0 * (interim_share + full_share),
                1e3 * inside,
                100.0 * inside_share,
            );
        }
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    native::main();
}

#[cfg(target_arch = "wasm32")]
fn main() {}

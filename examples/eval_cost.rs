//! What evaluating often costs a lesson's run: the same run trained with and without its interim
//! evaluations, on the CPU backend, and the cost of its one full evaluation at the end.
//!
//! Lessons evaluate every `train.eval_every` steps on the first `eval.interim_examples` inputs of
//! each split, so the page's accuracy curves move within seconds, and on the whole sets at the end.
//! Run with `cargo run --release --example eval_cost [lesson-id] [steps]` (default: the phase
//! transition's first and last runs, 600 steps each, timed twice: about six minutes). The ratio is
//! measured in the same process, so the machine's speed cancels out.

// Native only: it blocks on the engine's futures with pollster, which a wasm32 build lacks.
#[cfg(not(target_arch = "wasm32"))]
mod native {
    use burn::prelude::Device;
    use instruction_diversity::engine::run::Run;
    use instruction_diversity::study::lessons::lesson;
    use std::time::Instant;

    /// Trains `config` to the end, returning the wall seconds and the number of evaluations made.
    fn train(config: &instruction_diversity::engine::config::ValidConfig) -> (f64, usize) {
        let mut run = Run::new(config, &Device::flex()).expect("a lesson's run builds");
        let started = Instant::now();
        while !run.is_finished() {
            pollster::block_on(run.advance(usize::MAX)).expect("the run trains");
        }
        (started.elapsed().as_secs_f64(), run.evaluations().len())
    }

    pub fn main() {
        let mut args = std::env::args().skip(1);
        let id = args.next().unwrap_or_else(|| "phase-transition".into());
        let steps: usize = args
            .next()
            .map(|s| s.parse().expect("steps: a whole number"))
            .unwrap_or(600);
        let lesson = lesson(&id).unwrap_or_else(|| panic!("no lesson `{id}`"));
        let plan = lesson.sweep.plan().expect("lessons plan");
        let picks = [plan.first(), plan.last()];
        println!(
            "lesson {id}: {} runs of {} steps, evaluated every {} steps on {} inputs per split; {steps} steps measured",
            plan.len(),
            lesson.sweep.base.train.steps,
            lesson.sweep.base.train.eval_every,
            lesson.sweep.base.eval.interim_examples,
        );
        println!(
            "| run | interim evaluations | training alone (s) | their cost (s) | cost / training | full evaluation (s) | full / training |"
        );
        println!("|---|---|---|---|---|---|---|");
        for planned in picks.into_iter().flatten() {
            // The lesson's own evaluation schedule over `steps` steps; the baseline trains the same
            // steps with one evaluation, the last (a full one), which both pay. Each is timed twice,
            // alternately, and the faster time kept, so a busy moment of the machine counts less.
            let mut raw = planned
                .config
                .with_steps(steps)
                .expect("shortened")
                .into_raw();
            raw.train.eval_every = lesson.sweep.base.train.eval_every.min(steps);
            let with = raw.clone().validate().expect("valid");
            raw.train.eval_every = steps;
            let without = raw.validate().expect("valid");
            let mut best = [(f64::INFINITY, 0), (f64::INFINITY, 0)];
            for _ in 0..2 {
                for (k, config) in [&without, &with].into_iter().enumerate() {
                    let (seconds, evaluations) = train(config);
                    best[k] = (best[k].0.min(seconds), evaluations);
                }
            }
            let [(t_without, n_without), (t_with, n_with)] = best;
            // The full evaluation alone, on the trained model.
            let mut run = Run::new(&without, &Device::flex()).expect("builds");
            let started = Instant::now();
            pollster::block_on(run.evaluate()).expect("evaluates");
            let full = started.elapsed().as_secs_f64();
            let train_only = t_without - full;
            println!(
                "| {} | {} | {train_only:.1} | {:.1} | {:.1}% | {full:.2} | {:.1}% |",
                planned.labels.join(" / "),
                n_with - n_without,
                t_with - t_without,
                100.0 * (t_with - t_without) / train_only,
                100.0 * full / train_only,
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

//! What one worker event costs the page's reducer with no finished run loaded, and with 200.
//!
//! The page keeps the previous state while it reduces an action (yew's `use_reducer` does), so a
//! reducer that copies its whole state pays for every finished run at every progress event; one
//! that shares its parts does not. Run with `cargo run --release --example dispatch_cost`.

use instruction_diversity::engine::config::ValidConfig;
use instruction_diversity::engine::metrics::{EvalSummary, LossPoint, RuleScore, Tally};
use instruction_diversity::engine::task::Rule;
use instruction_diversity::page::state::{Action, PageState, RunAction};
use instruction_diversity::protocol::{BackendInfo, BackendKind, Event, RunEvent};
use instruction_diversity::study::record::{RunRecord, SweepReport};
use std::time::Instant;

/// A finished run's record as a 4,000-step run of 1,024 rules leaves it: 160 loss points, 5
/// evaluations, 1,024 seen-rule and 100 held-out-rule scores.
fn record(seed: u64) -> RunRecord {
    let config = ValidConfig::default().raw().clone();
    let summary = |step| EvalSummary {
        step,
        seen_accuracy: 0.5,
        unseen_accuracy: 0.25,
        unseen_hasop_accuracy: 0.2,
        noop_accuracy: 1.0,
        composed_accuracy: None,
    };
    let scores = |n: u32| {
        (0..n)
            .map(|rule| RuleScore {
                rule,
                text: Rule::new("ab", "c").into(),
                tally: Tally {
                    correct: 3,
                    total: 4,
                },
            })
            .collect()
    };
    RunRecord {
        labels: vec![seed.to_string()],
        config: instruction_diversity::engine::config::ExperimentConfig { seed, ..config },
        instructions: 1024,
        examples_per_rule: 19.5,
        rules_with_examples: 1024,
        steps: 4000,
        result: summary(4000),
        final_loss: 0.5,
        losses: (1..=160)
            .map(|i| LossPoint {
                step: i * 25,
                loss: 1.0,
            })
            .collect(),
        evaluations: (1..=5).map(|i| summary(i * 800)).collect(),
        inside: Vec::new(),
        seen_rules: scores(1024),
        unseen_rules: scores(100),
        wall_seconds: 60.0,
    }
}

/// Microseconds per progress event, reduced as the page does (the previous state kept alive).
fn per_event(finished_runs: usize) -> f64 {
    let mut state = PageState::default();
    if finished_runs > 0 {
        let mut report = SweepReport::single(record(0), "CPU");
        report.runs = (0..finished_runs as u64).map(record).collect();
        state = state.reduce(Action::Import(Box::new(report))).0;
    }
    state = state.reduce(Action::Run(RunAction::Start)).0;
    state = state
        .reduce(Action::Worker(Event::Training {
            runs: 1,
            backend: BackendInfo {
                kind: BackendKind::Cpu,
                description: "CPU".into(),
            },
            step: 0,
        }))
        .0;
    let events = 4000;
    let started = Instant::now();
    for step in 1..=events {
        let previous = state.clone();
        state = previous
            .clone()
            .reduce(Action::Worker(Event::Member {
                member: 0,
                said: RunEvent::Progress {
                    step,
                    total_steps: 4000,
                    loss: 1.0,
                    steps_per_second: 10.0,
                    launches_per_step: None,
                },
            }))
            .0;
        drop(previous);
    }
    started.elapsed().as_secs_f64() * 1e6 / events as f64
}

/// The fastest of three measurements (the first pays for warming caches and the allocator).
fn best_of_three(finished_runs: usize) -> f64 {
    (0..3)
        .map(|_| per_event(finished_runs))
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    // One untimed pass of each first: the allocator's first growth would count against whichever
    // comes first.
    per_event(0);
    per_event(200);
    let none = best_of_three(0);
    let many = best_of_three(200);
    println!("one worker event, no finished run:   {none:8.2} µs");
    println!("one worker event, 200 finished runs: {many:8.2} µs");
    println!("ratio (200 runs / none): {:.2}x", many / none);
}

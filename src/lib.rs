//! Instruction Diversity Playground: the experiment engine.
//!
//! Reproduces Zhang, Wang & Charton, *Instruction Diversity Drives Generalization To Unseen Tasks*
//! (arXiv 2402.10891): a tiny transformer learns string-rewrite rules `x -> y` and is tested on rules
//! it never saw. This crate is the pure core (tasks, tokenizer, model, training, evaluation, presets,
//! sweeps): it never imports web crates, builds and is tested natively, and runs unchanged in the
//! browser worker.

pub mod chart;
pub mod config;
pub mod diff;
pub mod eval;
pub mod experiment;
pub mod model;
pub mod presets;
pub mod protocol;
pub mod report;
pub mod rng;
pub mod sweep;
pub mod task;
pub mod tokenizer;
pub mod train;
pub mod ui_state;

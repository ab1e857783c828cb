//! Instruction Diversity Playground: the experiment engine.
//!
//! Reproduces Zhang, Wang & Charton, *Instruction Diversity Drives Generalization To Unseen Tasks*
//! (arXiv 2402.10891): a tiny transformer learns string-rewrite rules `x -> y` and is tested on rules
//! it never saw. This crate is the pure core (tasks, tokenizer, model, training, evaluation, presets,
//! sweeps): it never imports web crates, builds and is tested natively, and runs unchanged in the
//! browser worker.
//!
//! The `engine` feature (on by default) adds the tensor code: model, training, evaluation and runs.
//! Without it the crate is burn-free, which keeps burn out of the page's UI binary: only its worker
//! trains.

pub mod chart;
pub mod config;
pub mod diff;
#[cfg(feature = "engine")]
pub mod eval;
#[cfg(feature = "engine")]
pub mod experiment;
pub mod heatmap;
pub mod inspect;
pub mod lessons;
pub mod metrics;
#[cfg(feature = "engine")]
pub mod model;
pub mod permalink;
pub mod presets;
pub mod protocol;
pub mod report;
pub mod rng;
pub mod storage;
pub mod sweep;
pub mod task;
pub mod tokenizer;
#[cfg(feature = "engine")]
pub mod train;
pub mod ui_state;

//! Instruction Diversity Playground: watch a tiny transformer learn to follow string-rewrite
//! instructions it has never seen, reproducing Zhang, Wang & Charton, *Instruction Diversity Drives
//! Generalization To Unseen Tasks* (arXiv 2402.10891).
//!
//! The crate is a house of three floors, each importing only the floors below it (a test,
//! `tests/integration/layers.rs`, fails when a file imports upwards):
//! - [`engine`]: one run, from settings to result (the settings table, config and validation, seeded
//!   randomness, the task and its data, the tokenizer, and with the `compute` feature the model,
//!   training, evaluation, checkpoints and runs);
//! - [`study`]: many runs (sweeps, presets, lessons, run records and their files);
//! - [`page`]: the page's logic, natively tested (state in parts, links, storage entries, inspector,
//!   charts), beside [`protocol`], the typed messages between the page and its training worker.
//!
//! The binaries sit on top: `idp` (the CLI), `app` (the page's UI, built without `compute`, so burn
//! stays out of it) and `worker` (the page's training worker).

pub mod engine;
pub mod page;
pub mod protocol;
pub mod study;

//! Instruction Diversity Playground: watch a tiny transformer learn to follow string-rewrite
//! instructions it has never seen, reproducing Zhang, Wang & Charton, *Instruction Diversity Drives
//! Generalization To Unseen Tasks* (arXiv 2402.10891).
//!
//! The crate is a house of floors, each importing only the floors below it (a test,
//! `tests/integration/layers.rs`, parses every file's imports and fails when one points upwards;
//! `ARCHITECTURE.md` has the map):
//! - [`engine`]: one run, from settings to result (the settings table, config and validation, seeded
//!   randomness, the task and its data, the tokenizer, and with the `compute` feature the model,
//!   training, evaluation, checkpoints and runs);
//! - [`study`]: many runs (sweeps, presets, lessons, run records and their files);
//! - [`protocol`]: the typed messages between a host and a training session;
//! - [`session`] (with `compute`): one training session for every host, the loop that paces
//!   training, over a small `Host` seam;
//! - [`page`]: the page's logic, natively tested (state in parts, links, storage entries, inspector,
//!   charts); it speaks the protocol and never imports the session.
//!
//! The binaries sit on top: `idp` (the CLI, a session host with progress bars), `app` (the page's
//! UI, built without `compute`, so burn stays out of it) and `worker` (the page's training worker,
//! a session host over `postMessage` and IndexedDB).

pub mod engine;
pub mod page;
pub mod protocol;
#[cfg(feature = "compute")]
pub mod session;
pub mod study;

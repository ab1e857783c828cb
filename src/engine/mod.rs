//! The engine: one run, from settings to result.
//!
//! The settings ([`settings`], [`config`]), seeded randomness ([`rng`]), the task and its data
//! ([`task`]), the sequence format ([`tokenizer`]), what an evaluation reports ([`metrics`]), what a model holds inside ([`mechanism`]), typed
//! questions ([`question`]), the memory a run needs ([`memory`]), which runs train together
//! ([`stack_plan`]) and checkpoints ([`checkpoint`]) are plain Rust; with the `compute` feature come
//! the tensor code: the transformer of K runs ([`model`]; a run alone is K = 1), training
//! ([`train`]), evaluation ([`eval`]), one run's rules ([`run`]), runs advanced chunk by chunk
//! ([`stack`]) and a count of the GPU kernels they launch ([`launches`]). The engine imports
//! nothing from the floors above it and no web crate: it builds and is tested natively, and runs
//! unchanged in the browser's worker.

pub mod checkpoint;
pub mod config;
#[cfg(feature = "compute")]
pub mod eval;
#[cfg(feature = "compute")]
pub mod kernels;
#[cfg(feature = "compute")]
pub mod launches;
pub mod mechanism;
pub mod memory;
pub mod metrics;
#[cfg(feature = "compute")]
pub mod model;
pub mod question;
pub mod rng;
#[cfg(feature = "compute")]
pub mod run;
pub mod settings;
#[cfg(feature = "compute")]
pub mod stack;
pub mod stack_plan;
pub mod task;
pub mod tokenizer;
#[cfg(feature = "compute")]
pub mod train;

//! Many runs: sweeps and their plans, the presets, the guided lessons, and run records with their
//! CSV and JSON files. Imports the engine only.

pub mod class;
pub mod lessons;
pub mod mechanism;
pub mod plan;
pub mod presets;
pub mod record;
pub mod schedule;
pub mod sweep;
pub mod verdict;

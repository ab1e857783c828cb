//! The string-rewrite tasks of Zhang, Wang & Charton (arXiv 2402.10891).

pub mod dataset;
pub mod rule;
pub mod semantics;

pub use dataset::{Dataset, EvalSplit, Example, RuleSet, WorkedCase, worked_example};
pub use rule::Rule;
pub use semantics::Family;

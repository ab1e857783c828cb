//! The string-rewrite tasks of Zhang, Wang & Charton (arXiv 2402.10891), and programs of them.

pub mod dataset;
pub mod program;
pub mod rule;
pub mod semantics;

pub use dataset::{Dataset, EvalSplit, Example, Rejections, RuleSet, WorkedCase, worked_example};
pub use program::{Halt, Instruction, Program, Run, Step};
pub use rule::Rule;
pub use semantics::Family;

mod cli;
mod layers;
mod rewrite;
mod stacking;
mod training;

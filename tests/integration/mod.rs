mod cli;
mod layers;
mod rewrite;
mod training;

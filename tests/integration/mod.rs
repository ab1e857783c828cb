mod cli;
mod rewrite;
mod training;

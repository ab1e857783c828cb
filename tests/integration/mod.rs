mod class;
mod cli;
mod layers;
mod lesson;
mod rewrite;
mod stacking;
mod training;

mod class;
mod cli;
mod layers;
mod lesson;
mod mechanism;
mod rewrite;
mod stacking;
mod training;

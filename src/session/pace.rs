//! The pace of a training: paused or not, single steps asked for, the recent speed, and how many
//! steps the next chunk takes.

use super::kept::Query;
use super::{Host, Policy};
use crate::engine::config::ExperimentConfig;
use crate::protocol::{Command, Event};

/// What the loop does after reading its inbox.
pub(super) enum Control {
    /// Take the next chunk (or wait, while paused).
    Train,
    /// End: [`Command::Stop`].
    Stop,
    /// Checkpoint, then end: [`Command::Suspend`].
    Suspend,
    /// End, and serve this training instead.
    Start(Command),
    /// Answer this question (or ablation) about the model of the run with these settings, then
    /// read on.
    Query(Box<ExperimentConfig>, Option<usize>, Query),
}

/// A training's pause, single steps asked for, and recent speed.
#[derive(Debug, Default)]
pub(super) struct Pace {
    pub(super) paused: bool,
    single_steps: usize,
    /// Steps per second of the last chunk without an evaluation.
    pub(super) steps_per_second: f64,
    /// Kernels a step launched in the last chunk without an evaluation, where the host counts them.
    pub(super) launches_per_step: Option<f64>,
}

impl Pace {
    /// Handles the waiting commands that only change the pace, up to the first that ends training
    /// or asks a question; `step` is the steps taken, for [`Event::Paused`].
    pub(super) fn read(&mut self, host: &mut impl Host, step: usize) -> Control {
        while let Some(command) = host.next_command() {
            match command {
                Command::Pause => {
                    self.paused = true;
                    host.emit(Event::Paused { step });
                }
                Command::Resume => {
                    self.paused = false;
                    self.single_steps = 0;
                    host.emit(Event::Resumed);
                }
                Command::Step { steps } => self.single_steps += steps,
                Command::Stop => return Control::Stop,
                Command::Suspend => return Control::Suspend,
                // The host keeps its owner itself.
                Command::Own { .. } => {}
                start @ Command::Train { .. } => return Control::Start(start),
                Command::Ask {
                    config,
                    question,
                    step,
                } => return Control::Query(config, step, Query::Ask(question)),
                Command::Ablate {
                    config,
                    ablation,
                    step,
                } => return Control::Query(config, step, Query::Ablate(ablation)),
            }
        }
        Control::Train
    }

    /// Steps of the next chunk: the single steps asked for while paused, else about
    /// `policy.chunk_seconds` of training at the recent speed (1 before it is known); `None` while
    /// paused with none asked for.
    pub(super) fn budget(&self, policy: &Policy) -> Option<usize> {
        match (self.paused, self.single_steps) {
            (true, 0) => None,
            (true, steps) => Some(steps),
            (false, _) => Some(
                ((self.steps_per_second * policy.chunk_seconds).round() as usize)
                    .clamp(1, policy.max_chunk.max(1)),
            ),
        }
    }

    /// Counts a chunk of `taken` steps that took `elapsed` seconds and launched `launched` GPU
    /// kernels (`None` where the host does not count them); its speed and launches count only when
    /// it held no evaluation.
    pub(super) fn took(
        &mut self,
        taken: usize,
        elapsed: f64,
        launched: Option<u64>,
        evaluated: bool,
    ) {
        if self.paused {
            self.single_steps = self.single_steps.saturating_sub(taken);
        }
        if taken > 0 && !evaluated {
            self.steps_per_second = taken as f64 / elapsed.max(1e-6);
            self.launches_per_step = launched.map(|n| n as f64 / taken as f64);
        }
    }
}

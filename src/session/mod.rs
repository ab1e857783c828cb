//! One training session for every host: the loop that paces training (chunks sized by time,
//! pause, single steps, stop, questions while training, evaluations, checkpoints, divergence, a
//! failed device), what is kept of finished runs for questions, and the start and resume policy,
//! written once for the page's worker and the CLI (and any later host, such as a class hub).
//!
//! A host gives the session a [`Host`]: a clock, a way to let its inbox fill, its inbox of
//! [`Command`]s, a sink for [`Event`]s, a place for checkpoint bytes and a device. The page's
//! worker is such a host over `postMessage` and IndexedDB; `idp` is one over a signal flag, progress
//! bars and files. Everything here is native Rust, tested with a fake host (`tests.rs`). The model
//! of Brush: one training process as a library, emitting typed messages that each front end
//! consumes.
//!
//! The floor above the engine, the study layer and the protocol; below the binaries. It imports
//! nothing from the page's logic (`crate::page`) and no web crate.

mod drive;
pub mod kept;
mod pace;
mod start;
pub mod trainee;

// Natively only: the tests block on the session's futures with pollster, which wasm32 lacks.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

use crate::engine::memory::MemoryLimits;
use crate::engine::stack::Checkpoint;
use crate::protocol::{BackendInfo, BackendPreference, Command, Event, Work};
use burn::prelude::Device;
pub use kept::{Kept, KeptModel, Query};
pub use trainee::Trainee;

/// The device a training runs on, what the page's badge says of it, and what a training may take
/// of its memory.
#[derive(Clone, Debug)]
pub struct Backend {
    /// The device.
    pub device: Device,
    /// Which backend, and why it was chosen.
    pub info: BackendInfo,
    /// What one training may allocate there.
    pub limits: MemoryLimits,
}

/// What a session needs from the program it runs in. Its methods are called from one thread only,
/// between chunks of training: a browser worker's futures are not `Send`, so none is asked for.
#[allow(async_fn_in_trait)]
pub trait Host {
    /// Seconds since a fixed moment (the page's clock, a monotonic clock natively).
    fn now(&self) -> f64;

    /// Lets the host's inbox fill between two chunks (a worker hands its event loop a turn).
    async fn yield_now(&mut self);

    /// Waits `seconds` (while paused, or for a lost device to be reported).
    async fn sleep(&mut self, seconds: f64);

    /// The oldest command waiting, if any.
    fn next_command(&mut self) -> Option<Command>;

    /// Says something to whoever drives the session.
    fn emit(&mut self, event: Event);

    /// The checkpoint kept for this session's trainer: its bytes ([`Checkpoint::to_bytes`]),
    /// `None` when there is none, or why it cannot be read.
    async fn read_checkpoint(&mut self) -> Result<Option<Vec<u8>>, String>;

    /// Keeps `checkpoint` in place of the one kept before: the bytes written, `None` when the host
    /// has nowhere to keep it (a worker before it knows its tab, `idp run`), or why it failed.
    async fn write_checkpoint(&mut self, checkpoint: &Checkpoint) -> Result<Option<usize>, String>;

    /// Forgets the kept checkpoint (a failure leaves one that the next checkpoint replaces, or
    /// that a later start of other runs ignores).
    async fn forget_checkpoint(&mut self);

    /// The device to train on for `preference`.
    async fn backend(&mut self, preference: BackendPreference) -> Backend;

    /// Whether a lost GPU device ended the training (the host has said so itself, and the
    /// checkpoint is kept so that the training can go on from it).
    fn device_lost(&self) -> bool;

    /// GPU kernels launched since some fixed moment, where the host counts them (the page's worker
    /// on WebGPU: [`crate::engine::launches::LaunchCounter`]); `None` where it does not, or on
    /// the CPU. The session reports the launches of a step from the difference over a chunk.
    fn kernel_launches(&self) -> Option<u64> {
        None
    }
}

/// How a host wants its training paced and kept. Each host has one: [`Policy::page`] and
/// [`Policy::cli`].
#[derive(Clone, Debug, PartialEq)]
pub struct Policy {
    /// A chunk of steps aims at this long, so that pause and stop act within about this.
    pub chunk_seconds: f64,
    /// Most steps in one chunk.
    pub max_chunk: usize,
    /// Checkpoint after every evaluation (besides [`Self::checkpoint_every`]).
    pub checkpoint_at_evaluations: bool,
    /// Checkpoint when this many seconds have passed since the last one.
    pub checkpoint_every: Option<f64>,
    /// Most of the runs asked for that train together on a CPU.
    pub cpu_stack: usize,
    /// On a GPU, train as many of the runs asked for as its memory holds (the rest are the host's
    /// to give elsewhere), rather than refusing runs that do not all fit.
    pub shrink_to_fit: bool,
    /// Models of finished runs kept to answer questions ([`Command::Ask`]).
    pub kept_models: usize,
    /// Checkpoint once more when every step is done, before the records are said: the trained
    /// models, kept (`idp sweep --keep-models`, `idp run --save`) for `idp ablate`.
    pub checkpoint_at_end: bool,
}

impl Policy {
    /// The page's worker: chunks of about 0.15 s (Pause acts within a fraction of a second),
    /// checkpoints every 5 s and at every evaluation (a reload loses little), one run at a time on
    /// the CPU (the page's helper workers train a sweep's other runs on the other cores) and as
    /// many as fit on WebGPU, and the last [`crate::protocol::KEPT_MODELS`] models kept for
    /// try-your-own.
    pub fn page() -> Self {
        Self {
            chunk_seconds: 0.15,
            max_chunk: 50,
            checkpoint_at_evaluations: true,
            checkpoint_every: Some(5.0),
            cpu_stack: 1,
            shrink_to_fit: true,
            kept_models: crate::protocol::KEPT_MODELS,
            checkpoint_at_end: false,
        }
    }

    /// `idp`: chunks of about a second (a progress bar needs no more; Ctrl-C acts within it),
    /// checkpoints every `every` seconds (and when stopped), the runs asked for trained together
    /// or refused (its planner sized the stacks for memory), and no model kept (nobody asks).
    pub fn cli(every: Option<f64>) -> Self {
        Self {
            chunk_seconds: 1.0,
            max_chunk: 500,
            checkpoint_at_evaluations: false,
            checkpoint_every: every,
            cpu_stack: usize::MAX,
            shrink_to_fit: false,
            kept_models: 0,
            checkpoint_at_end: false,
        }
    }
}

/// How a training ended.
#[derive(Clone, Debug, PartialEq)]
pub enum Ended {
    /// Every step was taken (each run's record, or its failure, was said).
    Finished,
    /// [`Command::Stop`]: it ended where it was; the checkpoint is forgotten.
    Stopped,
    /// [`Command::Suspend`]: it was checkpointed at this step (when the host could keep it), to go
    /// on from there later.
    Suspended {
        /// Steps taken.
        step: usize,
    },
    /// It could not start, or it failed (the error, or the lost device, was said).
    Failed,
    /// Another training was asked for: it ended for that one, which the caller serves next.
    Replaced(Command),
}

/// A training session: a host, its policy, and the models kept of finished runs.
pub struct Session<H: Host> {
    /// The program it runs in.
    pub host: H,
    policy: Policy,
    kept: Kept,
}

impl<H: Host> Session<H> {
    /// A session over `host`, paced and kept as `policy` says.
    pub fn new(host: H, policy: Policy) -> Self {
        let kept = Kept::new(policy.kept_models);
        Self { host, policy, kept }
    }

    /// The models kept of finished runs.
    pub fn kept(&self) -> &Kept {
        &self.kept
    }

    /// Serves the host's commands until its inbox is empty: trainings one after another (a
    /// training ends early for a later one the inbox holds), questions, and the controls that mean
    /// nothing between trainings (ignored).
    pub async fn serve(&mut self) {
        let mut next = self.host.next_command();
        while let Some(command) = next {
            next = match command {
                Command::Train { work, backend } => match self.train(work, backend).await {
                    Ended::Replaced(command) => Some(command),
                    _ => None,
                },
                Command::Ask {
                    config,
                    question,
                    step,
                } => {
                    let reply = self.kept.reply(&config, step, Query::Ask(question)).await;
                    self.host.emit(reply);
                    None
                }
                Command::Ablate {
                    config,
                    ablation,
                    step,
                } => {
                    let reply = self
                        .kept
                        .reply(&config, step, Query::Ablate(ablation))
                        .await;
                    self.host.emit(reply);
                    None
                }
                // The host keeps its owner (its storage key) itself; the controls of a training
                // mean nothing when none runs.
                Command::Own { .. }
                | Command::Pause
                | Command::Resume
                | Command::Step { .. }
                | Command::Stop
                | Command::Suspend => None,
            }
            .or_else(|| self.host.next_command());
        }
    }

    /// Trains `work` on the backend asked for, to its end, a stop, a suspension, a failure or a
    /// later training asked for. The checkpoint is forgotten when it ends, unless it was
    /// suspended or a lost device ended it (then it is what goes on).
    pub async fn train(&mut self, work: Work, preference: BackendPreference) -> Ended {
        let ended = match self.start(work, preference).await {
            Some((stack, backend)) => self.drive(stack, &backend.info).await,
            None => Ended::Failed,
        };
        if !matches!(ended, Ended::Suspended { .. }) && !self.host.device_lost() {
            self.host.forget_checkpoint().await;
        }
        ended
    }
}

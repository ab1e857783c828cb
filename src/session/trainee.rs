//! What the session's loop trains: a [`Trainee`], the runs of one model advanced together. The
//! engine's [`Stack`] is the one real trainee (a run alone is a stack of one); the seam lets the
//! loop's tests play runs that diverge or a device that fails on cue.

use super::kept::KeptModel;
use crate::engine::config::ValidConfig;
use crate::engine::metrics::Evaluation;
use crate::engine::run::RunError;
use crate::engine::stack::{Advance, Checkpoint, Stack};
use crate::study::record::RunRecord;

/// Runs trained together, advanced chunk by chunk.
#[allow(async_fn_in_trait)]
pub trait Trainee {
    /// Runs trained together (members `0..members()`).
    fn members(&self) -> usize;

    /// Member `k`'s settings.
    fn config(&self, k: usize) -> &ValidConfig;

    /// Steps taken by every member.
    fn step(&self) -> usize;

    /// Steps every member takes in all.
    fn total_steps(&self) -> usize;

    /// Trains at most `max_steps` steps, stopping early at the next evaluation point, and evaluates
    /// there (see [`Stack::advance`]).
    ///
    /// # Errors
    /// [`RunError::Backend`] when the device fails.
    async fn advance(&mut self, max_steps: usize) -> Result<Advance, RunError>;

    /// Why member `k` diverged, if it did.
    fn diverged(&self, k: usize) -> Option<&RunError>;

    /// Everything needed to go on later.
    ///
    /// # Errors
    /// Why the state could not be read back, in words.
    async fn checkpoint(&self) -> Result<Checkpoint, String>;

    /// Member `k`'s record, from its last evaluation, `wall_seconds` after it started here.
    fn record(&self, k: usize, last: Evaluation, wall_seconds: f64) -> RunRecord;

    /// Member `k`'s model as it is now, to answer questions (`None` when it has none to ask).
    fn model(&self, k: usize) -> Option<KeptModel>;
}

impl Trainee for Stack {
    fn members(&self) -> usize {
        self.len()
    }

    fn config(&self, k: usize) -> &ValidConfig {
        Stack::config(self, k)
    }

    fn step(&self) -> usize {
        Stack::step(self)
    }

    fn total_steps(&self) -> usize {
        Stack::total_steps(self)
    }

    async fn advance(&mut self, max_steps: usize) -> Result<Advance, RunError> {
        Stack::advance(self, max_steps).await
    }

    fn diverged(&self, k: usize) -> Option<&RunError> {
        Stack::diverged(self, k)
    }

    async fn checkpoint(&self) -> Result<Checkpoint, String> {
        Stack::checkpoint(self).await.map_err(|e| e.to_string())
    }

    fn record(&self, k: usize, last: Evaluation, wall_seconds: f64) -> RunRecord {
        RunRecord::new(self, k, last, wall_seconds)
    }

    fn model(&self, k: usize) -> Option<KeptModel> {
        Some(KeptModel::of(self, k))
    }
}

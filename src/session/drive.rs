//! The loop: trains a [`Trainee`] chunk by chunk, reading the inbox between chunks, and says what
//! happens as events.

use super::pace::{Control, Pace};
use super::{Ended, Host, Session, Trainee};
use crate::engine::metrics::Evaluation;
use crate::engine::run::RunError;
use crate::protocol::{
    BackendInfo, BackendKind, Event, RunEvent, SAMPLES_PER_SPLIT, SamplePrediction,
};

/// How long a failed GPU chunk waits for the lost-device notice, which the browser sends after the
/// failed read-back: the loss is the message worth showing.
const DEVICE_LOST_GRACE_SECONDS: f64 = 0.3;

/// How long a paused training waits before reading its inbox again.
const PAUSED_POLL_SECONDS: f64 = 0.05;

/// The page's message of an evaluation: its headline numbers, a few predictions per split, its
/// fingerprint and every prediction.
pub(super) fn evaluation_event(evaluation: &Evaluation) -> RunEvent {
    RunEvent::Evaluation {
        summary: evaluation.summary(),
        samples: SamplePrediction::from_evaluation(evaluation, SAMPLES_PER_SPLIT),
        fingerprint: evaluation.fingerprint(),
        detail: Some(Box::new(evaluation.clone())),
    }
}

impl<H: Host> Session<H> {
    fn say(&mut self, member: usize, said: RunEvent) {
        self.host.emit(Event::Member { member, said });
    }

    /// Trains `trainee` to its end, a stop, a suspension, a failure, or a later training asked
    /// for. A member whose loss diverges ends alone ([`RunEvent::Failed`]): the others go on, and
    /// the training fails when none is left.
    pub(super) async fn drive(
        &mut self,
        mut trainee: impl Trainee,
        backend: &BackendInfo,
    ) -> Ended {
        let members = trainee.members();
        let started = self.host.now();
        let mut last_checkpoint = started;
        let mut pace = Pace::default();
        let mut failed = vec![false; members];
        loop {
            loop {
                match pace.read(&mut self.host, trainee.step()) {
                    Control::Train => break,
                    Control::Stop => return Ended::Stopped,
                    Control::Suspend => {
                        self.save(&trainee).await;
                        return Ended::Suspended {
                            step: trainee.step(),
                        };
                    }
                    Control::Start(start) => return Ended::Replaced(start),
                    Control::Query(config, step, query) => {
                        // The run in training, unless another model of these settings is meant
                        // (a finished run's, by its step).
                        let training = (0..members).find(|&k| {
                            trainee.config(k).raw() == &*config
                                && step.is_none_or(|s| s == trainee.step())
                        });
                        let reply = match training.map(|k| trainee.model(k)) {
                            Some(Some(model)) => model.reply(query).await,
                            Some(None) => query.refused("this run has no model to ask".to_string()),
                            None => self.kept.reply(&config, step, query).await,
                        };
                        self.host.emit(reply);
                    }
                }
            }
            let Some(budget) = pace.budget(&self.policy) else {
                self.host.sleep(PAUSED_POLL_SECONDS).await;
                continue;
            };
            let before = self.host.now();
            let launches_before = self.host.kernel_launches();
            let advance = match trainee.advance(budget).await {
                Ok(advance) => advance,
                Err(e) => {
                    self.chunk_failed(backend, e).await;
                    return Ended::Failed;
                }
            };
            for (k, failed) in failed.iter_mut().enumerate() {
                if let (false, Some(e)) = (*failed, trainee.diverged(k)) {
                    *failed = true;
                    let message = e.to_string();
                    self.say(k, RunEvent::Failed { message });
                }
            }
            if failed.iter().all(|&f| f) {
                return Ended::Failed;
            }
            let evaluated = advance.evaluations.iter().any(Option::is_some);
            let launched = match (launches_before, self.host.kernel_launches()) {
                (Some(before), Some(after)) => Some(after.saturating_sub(before)),
                _ => None,
            };
            pace.took(advance.taken, self.host.now() - before, launched, evaluated);
            let step = trainee.step();
            for (k, loss) in advance.losses.iter().enumerate() {
                if let Some(loss) = loss {
                    let said = RunEvent::Progress {
                        step,
                        total_steps: trainee.total_steps(),
                        loss: loss.loss,
                        steps_per_second: pace.steps_per_second,
                        launches_per_step: pace.launches_per_step,
                    };
                    self.say(k, said);
                }
            }
            for (k, evaluation) in advance.evaluations.iter().enumerate() {
                if let Some(evaluation) = evaluation {
                    self.say(k, evaluation_event(evaluation));
                }
            }
            if advance.finished {
                if self.policy.checkpoint_at_end {
                    self.save(&trainee).await;
                }
                // Forgotten before the host hears of the end: a reload right after must not resume.
                self.host.forget_checkpoint().await;
                let wall_seconds = self.host.now() - started;
                // Member 0 ends last: its `Finished` ends the training (and starts the page's next).
                for (k, last) in advance.evaluations.into_iter().enumerate().rev() {
                    if failed[k] {
                        continue;
                    }
                    if let Some(model) = trainee.model(k) {
                        self.kept.keep(model);
                    }
                    if let Some(last) = last {
                        let record = trainee.record(k, last, wall_seconds);
                        self.say(
                            k,
                            RunEvent::Record {
                                record: Box::new(record),
                            },
                        );
                    }
                    self.say(k, RunEvent::Finished { step });
                }
                return Ended::Finished;
            }
            let now = self.host.now();
            let due = self
                .policy
                .checkpoint_every
                .is_some_and(|every| now - last_checkpoint >= every);
            if (evaluated && self.policy.checkpoint_at_evaluations) || due {
                self.save(&trainee).await;
                last_checkpoint = self.host.now();
            }
            // Let the inbox fill before the next chunk.
            self.host.yield_now().await;
        }
    }

    /// Checkpoints `trainee` where the host keeps it, and says whether that worked.
    async fn save(&mut self, trainee: &impl Trainee) {
        let started = self.host.now();
        let written = match trainee.checkpoint().await {
            Ok(checkpoint) => self.host.write_checkpoint(&checkpoint).await,
            Err(e) => Err(e),
        };
        match written {
            Ok(Some(bytes)) => {
                let seconds = self.host.now() - started;
                self.host.emit(Event::Checkpointed {
                    step: trainee.step(),
                    bytes,
                    seconds,
                });
            }
            // Nowhere to keep it: nothing to say.
            Ok(None) => {}
            // Training goes on; the host says why the run is not kept.
            Err(message) => self.host.emit(Event::CheckpointFailed { message }),
        }
    }

    /// A chunk failed: a lost GPU device has been said by the host itself (and the checkpoint is
    /// kept); anything else is an error, the checkpoint forgotten first (a failed training is not
    /// resumed by a reload, and the page replaces its worker as soon as it hears).
    async fn chunk_failed(&mut self, backend: &BackendInfo, e: RunError) {
        if backend.kind == BackendKind::WebGpu && matches!(e, RunError::Backend(_)) {
            self.host.sleep(DEVICE_LOST_GRACE_SECONDS).await;
            if self.host.device_lost() {
                return;
            }
        }
        self.host.forget_checkpoint().await;
        self.host.emit(Event::Error {
            message: e.to_string(),
        });
    }
}

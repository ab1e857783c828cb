//! The live run: its status, backend, progress, curves, latest predictions and checkpoint, as the
//! worker reports them.

use crate::engine::config::ValidConfig;
use crate::engine::metrics::{EvalSummary, Evaluation, LossPoint};
use crate::protocol::{BackendInfo, Event, RunEvent, SamplePrediction};
use crate::study::record::RunRecord;
use std::rc::Rc;

/// Where the run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// Nothing started yet, or the last run was stopped.
    Idle,
    /// Sent `Start`, waiting for the backend.
    Starting,
    /// Training.
    Running,
    /// Paused by the user.
    Paused,
    /// Every step done.
    Finished,
    /// Ended on an error.
    Failed,
}

/// A run that ended on a lost GPU device but can go on from its latest checkpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resumable {
    /// The step of the checkpoint.
    pub step: usize,
    /// The plan index of the run, when it was a running sweep's: the sweep's queue goes on too.
    pub sweep_run: Option<usize>,
    /// The plan indices of the runs stacked with it (a stack's checkpoint holds them all).
    pub stacked: Vec<usize>,
}

/// The run in progress, or the last one (or a finished run opened while nothing trains).
#[derive(Clone, Debug, PartialEq)]
pub struct LiveRun {
    /// Run status.
    pub status: RunStatus,
    /// The backend of the current run.
    pub backend: Option<BackendInfo>,
    /// Steps taken.
    pub step: usize,
    /// Steps the run will take.
    pub total_steps: usize,
    /// Recent speed.
    pub steps_per_second: f64,
    /// GPU kernels a recent step launched, where the worker counts them (WebGPU).
    pub launches_per_step: Option<f64>,
    /// The loss curve.
    pub losses: Vec<LossPoint>,
    /// Every evaluation.
    pub evaluations: Vec<EvalSummary>,
    /// Predictions of the latest evaluation.
    pub samples: Vec<SamplePrediction>,
    /// The error that ended the run, shown until the next start.
    pub error: Option<String>,
    /// The fingerprint of the latest evaluation: equal codes mean equal answers.
    pub fingerprint: Option<String>,
    /// The record of the finished run on show, for export.
    pub record: Option<Rc<RunRecord>>,
    /// The settings of the run in progress (or last run): questions go to its model.
    pub config: Option<ValidConfig>,
    /// Every evaluation of the run in progress (or last run), with its predictions.
    pub history: Vec<Rc<Evaluation>>,
    /// The step of the run's latest checkpoint in the browser's storage.
    pub checkpoint_step: Option<usize>,
    /// What the latest checkpoint cost: bytes written and seconds taken.
    pub checkpoint_cost: Option<(usize, f64)>,
    /// The failed run that can go on from its checkpoint (after a lost GPU device).
    pub resumable: Option<Resumable>,
}

impl Default for LiveRun {
    fn default() -> Self {
        Self {
            status: RunStatus::Idle,
            backend: None,
            step: 0,
            total_steps: 0,
            steps_per_second: 0.0,
            launches_per_step: None,
            losses: Vec::new(),
            evaluations: Vec::new(),
            samples: Vec::new(),
            error: None,
            fingerprint: None,
            record: None,
            config: None,
            history: Vec::new(),
            checkpoint_step: None,
            checkpoint_cost: None,
            resumable: None,
        }
    }
}

/// What one worker event did to the live run, for the parts beside it.
#[derive(Clone, Debug, PartialEq)]
pub enum RunOutcome {
    /// Nothing the other parts need to know.
    Nothing,
    /// The finished run's record arrived: the library keeps it.
    Record(Box<RunRecord>),
    /// Every step is done.
    Finished,
    /// The run failed; `lost_device` when a lost GPU device ended it (its checkpoint is kept).
    Failed {
        /// Whether a lost GPU device ended it.
        lost_device: bool,
    },
}

impl LiveRun {
    /// Whether a run is in progress (started and neither finished, failed nor stopped).
    pub fn is_active(&self) -> bool {
        matches!(
            self.status,
            RunStatus::Starting | RunStatus::Running | RunStatus::Paused
        )
    }

    /// Seconds left at the current speed, when known.
    pub fn seconds_left(&self) -> Option<f64> {
        (self.steps_per_second > 0.0 && self.is_active())
            .then(|| (self.total_steps.saturating_sub(self.step)) as f64 / self.steps_per_second)
    }

    /// Clears what the page shows of the last run, for a run of `config` that is starting.
    pub fn begin(&mut self, config: &ValidConfig) {
        *self = LiveRun {
            status: RunStatus::Starting,
            total_steps: config.train.steps,
            config: Some(config.clone()),
            ..LiveRun::default()
        };
    }

    /// Shows a finished run (opened from a list, or an imported file's) while nothing trains.
    pub fn show(
        &mut self,
        record: &Rc<RunRecord>,
        history: &[Rc<Evaluation>],
        samples_per_split: usize,
    ) {
        self.losses = record.losses.clone();
        self.evaluations = record.evaluations.clone();
        self.step = record.steps;
        self.total_steps = record.config.train.steps;
        self.steps_per_second = 0.0;
        self.launches_per_step = None;
        self.samples = history.last().map_or_else(Vec::new, |e| {
            SamplePrediction::from_evaluation(e, samples_per_split)
        });
        self.fingerprint = history.last().map(|e| e.fingerprint());
        self.error = None;
        self.record = Some(record.clone());
    }

    /// Ends the run on an error.
    pub fn fail(&mut self, message: String) {
        self.status = RunStatus::Failed;
        self.error = Some(message);
    }

    /// The worker died or could not be reached.
    pub fn worker_failed(&mut self, message: String) {
        let message = format!("the training worker stopped: {message}");
        if self.is_active() {
            self.fail(message);
        } else {
            // Nothing to end, but the next start depends on the worker: say so now.
            self.error = Some(message);
        }
    }

    /// Applies a worker event (answers to questions go to the inspector, not here; a member's
    /// events to [`Self::apply_run`], by the page state, which knows whose they are). Events of a
    /// stopped or failed run can still be in flight: they change nothing.
    pub fn apply(&mut self, event: Event) -> RunOutcome {
        if !self.is_active() {
            return RunOutcome::Nothing;
        }
        match event {
            Event::Ready { .. }
            | Event::Answer { .. }
            | Event::Ablated { .. }
            | Event::Member { .. } => {}
            Event::Training { backend, .. } => {
                self.backend = Some(backend);
                self.status = RunStatus::Running;
            }
            Event::Paused { step } => {
                self.step = step;
                self.status = RunStatus::Paused;
            }
            Event::Resumed => self.status = RunStatus::Running,
            Event::Checkpointed {
                step,
                bytes,
                seconds,
            } => {
                self.checkpoint_step = Some(step);
                self.checkpoint_cost = Some((bytes, seconds));
            }
            // The library shows checkpoint failures beside the other storage failures.
            Event::CheckpointFailed { .. } => {}
            Event::Error { message } => {
                self.fail(message);
                return RunOutcome::Failed { lost_device: false };
            }
            Event::DeviceLost { message } => {
                self.fail(message);
                return RunOutcome::Failed { lost_device: true };
            }
        }
        RunOutcome::Nothing
    }

    /// Applies what the run on show said (its member of the worker's training).
    pub fn apply_run(&mut self, event: RunEvent) -> RunOutcome {
        if !self.is_active() {
            return RunOutcome::Nothing;
        }
        match event {
            RunEvent::Progress {
                step,
                total_steps,
                loss,
                steps_per_second,
                launches_per_step,
            } => {
                self.step = step;
                self.total_steps = total_steps;
                self.steps_per_second = steps_per_second;
                self.launches_per_step = launches_per_step;
                if self.losses.last().map(|p| p.step) != Some(step) {
                    self.losses.push(LossPoint { step, loss });
                }
            }
            RunEvent::Evaluation {
                summary,
                samples,
                fingerprint,
                detail,
            } => {
                self.evaluations.push(summary);
                self.samples = samples;
                self.fingerprint = Some(fingerprint);
                if let Some(detail) = detail {
                    self.history.push(Rc::new(*detail));
                }
            }
            // Kept by the library, with its sweep labels, which then sets `record`.
            RunEvent::Record { record } => return RunOutcome::Record(record),
            RunEvent::Finished { step } => {
                self.step = step;
                self.status = RunStatus::Finished;
                return RunOutcome::Finished;
            }
            RunEvent::Failed { message } => {
                self.fail(message);
                return RunOutcome::Failed { lost_device: false };
            }
        }
        RunOutcome::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::BackendKind;

    fn running() -> LiveRun {
        let mut run = LiveRun::default();
        run.begin(&ValidConfig::default());
        run.apply(Event::Training {
            runs: 1,
            backend: BackendInfo {
                kind: BackendKind::Cpu,
                description: "CPU".into(),
            },
            step: 0,
        });
        run
    }

    #[test]
    fn progress_and_evaluations_accumulate() {
        let mut run = running();
        for step in [10, 20] {
            run.apply_run(RunEvent::Progress {
                step,
                total_steps: 100,
                loss: 1.0 / step as f32,
                steps_per_second: 5.0,
                launches_per_step: Some(480.0 + step as f64),
            });
        }
        assert_eq!(run.losses.len(), 2);
        assert_eq!(run.step, 20);
        assert_eq!(run.seconds_left(), Some(16.0));
        assert_eq!(run.launches_per_step, Some(500.0), "the latest count shows");
    }

    #[test]
    fn errors_end_the_run_and_keep_the_metrics() {
        let mut run = running();
        run.apply_run(RunEvent::Progress {
            step: 5,
            total_steps: 100,
            loss: 2.0,
            steps_per_second: 1.0,
            launches_per_step: None,
        });
        let outcome = run.apply_run(RunEvent::Failed {
            message: "the loss became NaN at step 6".into(),
        });
        assert_eq!(outcome, RunOutcome::Failed { lost_device: false });
        assert_eq!(run.status, RunStatus::Failed);
        assert_eq!(run.losses.len(), 1);
        assert!(run.error.as_deref().unwrap().contains("NaN"));
        // A late event of the failed run changes nothing.
        let before = run.clone();
        assert_eq!(
            run.apply_run(RunEvent::Finished { step: 9 }),
            RunOutcome::Nothing
        );
        assert_eq!(
            run.apply(Event::Error {
                message: "late".into()
            }),
            RunOutcome::Nothing
        );
        assert_eq!(run, before);
    }

    #[test]
    fn a_dead_worker_fails_an_active_run_and_is_reported_when_idle() {
        let mut run = running();
        run.worker_failed("out of memory".into());
        assert_eq!(run.status, RunStatus::Failed);
        assert!(run.error.as_deref().unwrap().contains("out of memory"));
        let mut idle = LiveRun::default();
        idle.worker_failed("no wasm".into());
        assert_eq!(idle.status, RunStatus::Idle);
        assert!(idle.error.as_deref().unwrap().contains("no wasm"));
    }
}

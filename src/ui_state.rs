//! The page's state and its one reducer (yew's `function_todomvc` pattern, kept free of web crates
//! so it is tested natively). User events and worker events are both [`Action`]s; reducing an action
//! gives the next state and, when the worker must act, the [`Command`] to send it.

use crate::config::{ConfigError, ExperimentConfig};
use crate::heatmap::Grid;
use crate::inspect::{Answer, RuleGroup, RuleSort, check_question};
use crate::lessons::lesson;
use crate::metrics::LossPoint;
use crate::metrics::{EvalSummary, Evaluation};
use crate::permalink::{Link, View};
use crate::presets::preset;
use crate::protocol::{BackendInfo, BackendPreference, Command, Event, SamplePrediction};
use crate::report::{RunRecord, SweepReport};
use crate::sweep::{PlannedRun, SweepForm, SweepSpec, apply_settings, get_path};
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

/// A finished run of this session (or of an imported file), kept for the sweep views, the inspector
/// and comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedRun {
    /// Name in lists: the sweep labels, or `run N`.
    pub name: String,
    /// Settings, curves and final per-rule scores.
    pub record: RunRecord,
    /// Every evaluation with its predictions, oldest first (empty for imported and saved runs).
    /// Shared, so that copying the state at each action copies no predictions.
    pub history: Vec<Rc<Evaluation>>,
    /// Whether it is kept in the browser's storage.
    pub kept: Kept,
    /// Key of the sweep it belongs to, if any (shared with the saved sweep).
    pub sweep_key: Option<String>,
}

/// Whether a finished run is kept in the browser's storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    /// To be saved.
    Pending,
    /// Saved (or read back from storage).
    Saved,
    /// Saving failed; the run stays listed for this visit.
    Failed,
    /// Not to be saved: it came from an imported file.
    Never,
}

/// Where a sweep is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepStatus {
    /// Runs are going one after another.
    Running,
    /// Every run finished.
    Done,
    /// Cancelled by the user; the finished runs stay.
    Cancelled,
    /// A run failed; the finished runs stay.
    Failed,
    /// Shown from an imported results file.
    Imported,
    /// Read back from the browser's storage (a sweep of an earlier visit).
    Saved,
}

/// A sweep: its plan, the runs done so far and the one in progress.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepState {
    /// What is swept.
    pub spec: SweepSpec,
    /// Every run, in order (empty for an imported sweep).
    pub plan: Vec<PlannedRun>,
    /// The finished runs, as indices into [`UiState::runs`], in the order they finished.
    pub done: Vec<usize>,
    /// The plan index of the run in progress.
    pub current: Option<usize>,
    /// Where it is.
    pub status: SweepStatus,
    /// The lesson that started it, if any.
    pub lesson: Option<String>,
    /// Its key in the browser's storage (unique per visit and sweep).
    pub key: String,
}

impl SweepState {
    /// Runs not started yet.
    pub fn waiting(&self) -> usize {
        let started = self.done.len() + usize::from(self.current.is_some());
        if self.status == SweepStatus::Running {
            self.plan.len().saturating_sub(started)
        } else {
            0
        }
    }

    /// Whether planned run `index` has finished: runs go in plan order and each finished one joins
    /// [`Self::done`], so the first `done.len()` runs of the plan are the finished ones.
    pub fn is_done(&self, index: usize) -> bool {
        !self.plan.is_empty() && index < self.done.len()
    }

    /// The finished runs' records, in the order they finished, with their indices in `runs`.
    pub fn records<'a>(&self, runs: &'a [FinishedRun]) -> Vec<(usize, &'a RunRecord)> {
        self.done
            .iter()
            .filter_map(|&i| Some((i, &runs.get(i)?.record)))
            .collect()
    }

    /// The finished runs binned into the sweep's grid; a cell's runs index into [`Self::done`].
    pub fn grid(&self, runs: &[FinishedRun]) -> Grid {
        Grid::bin(&self.spec, self.records(runs).into_iter().map(|(_, r)| r))
    }
}

/// A lesson opened in the page and the reader's prediction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessonState {
    /// Its identifier (see [`crate::lessons`]).
    pub id: String,
    /// The answer the reader chose before running.
    pub prediction: Option<usize>,
}

/// How the inspector shows the rules of the inspected run.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InspectorView {
    /// The rule opened, if any.
    pub rule: Option<(RuleGroup, u32)>,
    /// Sort key of the table.
    pub sort: RuleSort,
    /// Largest first.
    pub descending: bool,
    /// Only rules (and cases) the model gets wrong.
    pub failures_only: bool,
}

/// A run that ended on a lost GPU device but can go on from its latest checkpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resumable {
    /// The step of the checkpoint.
    pub step: usize,
    /// The plan index of the run, when it was a running sweep's: the sweep's queue goes on too.
    pub sweep_run: Option<usize>,
}

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

/// Everything the page shows.
#[derive(Clone, Debug, PartialEq)]
pub struct UiState {
    /// The settings of the next run.
    pub config: ExperimentConfig,
    /// The preset the settings came from, if any.
    pub preset: Option<String>,
    /// Why the last settings change was refused (the settings stay as they were).
    pub config_error: Option<ConfigError>,
    /// Train on the CPU even where WebGPU exists.
    pub force_cpu: bool,
    /// Run status.
    pub status: RunStatus,
    /// The backend of the current run.
    pub backend: Option<BackendInfo>,
    /// Steps taken and planned.
    pub step: usize,
    /// Steps the run will take.
    pub total_steps: usize,
    /// Recent speed.
    pub steps_per_second: f64,
    /// The loss curve.
    pub losses: Vec<LossPoint>,
    /// Every evaluation.
    pub evaluations: Vec<EvalSummary>,
    /// Predictions of the latest evaluation.
    pub samples: Vec<SamplePrediction>,
    /// The error that ended the run, shown until the next start.
    pub error: Option<String>,
    /// What an opened link could not use (shown until dismissed).
    pub notices: Vec<String>,
    /// The fingerprint of the latest evaluation: equal codes mean equal answers.
    pub fingerprint: Option<String>,
    /// What a teacher's link hides or locks.
    pub view: View,
    /// The record of the last finished run, for export.
    pub record: Option<RunRecord>,
    /// An imported results file and the run of it on show.
    pub imported: Option<(SweepReport, usize)>,
    /// Why the last import was refused.
    pub import_error: Option<String>,
    /// The settings of the run in progress (or last run): questions go to its model.
    pub run_config: Option<ExperimentConfig>,
    /// Every evaluation of the run in progress (or last run), with its predictions.
    pub history: Vec<Rc<Evaluation>>,
    /// Finished runs of this session and of imported files.
    pub runs: Vec<FinishedRun>,
    /// The sweep on show, if any.
    pub sweep: Option<SweepState>,
    /// Why the last sweep could not start.
    pub sweep_error: Option<String>,
    /// The sweep builder's fields, as typed.
    pub sweep_form: SweepForm,
    /// The finished run opened from the sweep views or the runs list (an index into `runs`); `None`
    /// inspects the run in progress or the last one.
    pub opened: Option<usize>,
    /// How the inspector shows its rules.
    pub inspector: InspectorView,
    /// The answer to the last typed question, or why there is none.
    pub answer: Option<Result<Answer, String>>,
    /// A question is with the worker.
    pub asking: bool,
    /// The lesson open, if any.
    pub lesson: Option<LessonState>,
    /// Finished runs picked for comparison (indices into `runs`).
    pub compare: BTreeSet<usize>,
    /// Identifies this visit in storage keys (set when saved runs are read back at start).
    pub visit: u64,
    /// Sweeps started in this visit, for their storage keys.
    pub sweeps_started: u64,
    /// Why saving or reading saved runs failed, if it did.
    pub storage_error: Option<String>,
    /// The step of the run's latest checkpoint in the browser's storage.
    pub checkpoint_step: Option<usize>,
    /// What the latest checkpoint of this page's worker cost: bytes written and seconds taken.
    pub checkpoint_cost: Option<(usize, f64)>,
    /// The failed run that can go on from its checkpoint (after a lost GPU device).
    pub resumable: Option<Resumable>,
}

impl Default for UiState {
    fn default() -> Self {
        let base = preset("phase-transition")
            .expect("preset exists")
            .sweep
            .base;
        Self {
            config: base,
            preset: Some("phase-transition".into()),
            config_error: None,
            force_cpu: false,
            status: RunStatus::Idle,
            backend: None,
            step: 0,
            total_steps: 0,
            steps_per_second: 0.0,
            losses: Vec::new(),
            evaluations: Vec::new(),
            samples: Vec::new(),
            error: None,
            notices: Vec::new(),
            fingerprint: None,
            view: View::default(),
            record: None,
            imported: None,
            import_error: None,
            run_config: None,
            history: Vec::new(),
            runs: Vec::new(),
            sweep: None,
            sweep_error: None,
            sweep_form: SweepForm::default(),
            opened: None,
            inspector: InspectorView::default(),
            answer: None,
            asking: false,
            lesson: None,
            compare: BTreeSet::new(),
            visit: 0,
            sweeps_started: 0,
            storage_error: None,
            checkpoint_step: None,
            checkpoint_cost: None,
            resumable: None,
        }
    }
}

/// Something that happened: a user event or a worker event.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Change one setting by dotted path (e.g. `task.instructions`) to a JSON value.
    Set(String, serde_json::Value),
    /// Load a preset's base settings.
    LoadPreset(String),
    /// Force (or stop forcing) the CPU backend.
    ForceCpu(bool),
    /// Open a share link: its settings, backend choice and notices; it may start the run.
    OpenLink(Box<Link>),
    /// Hide the link notices.
    DismissNotices,
    /// Show a results file (the page's export or `idp sweep`'s output), checked by
    /// [`SweepReport::from_json`].
    Import(Box<SweepReport>),
    /// A results file was refused: why.
    ImportFailed(String),
    /// Show another run of the imported file.
    ShowImported(usize),
    /// Start a run with the current settings.
    Start,
    /// Pause training.
    Pause,
    /// Resume training.
    Resume,
    /// Take a few steps while paused.
    Step,
    /// Stop the run.
    Stop,
    /// The worker said something.
    Worker(Event),
    /// The worker died or could not be reached.
    WorkerFailed(String),
    /// Run every point of a sweep, one after another, with the lesson that asked for it (if any).
    StartSweep(Box<SweepSpec>, Option<String>),
    /// Stop the sweep: the run in progress ends, the finished runs stay.
    CancelSweep,
    /// The sweep builder's fields changed.
    EditSweep(SweepForm),
    /// Run the sweep the builder describes, over the current settings.
    StartFormSweep,
    /// Inspect a finished run (an index into [`UiState::runs`]); `None` inspects the current run.
    OpenRun(Option<usize>),
    /// Open a rule in the inspector, or close it.
    InspectRule(Option<(RuleGroup, u32)>),
    /// Sort the inspector's rules; the same key again flips the order.
    SortRules(RuleSort),
    /// Show only failures in the inspector.
    FailuresOnly(bool),
    /// Put a typed rule `x -> y` and input `z` to the inspected run's model.
    Ask {
        /// The pattern.
        x: String,
        /// The replacement.
        y: String,
        /// The input.
        z: String,
    },
    /// Open a lesson (its settings load) or close it.
    OpenLesson(Option<String>),
    /// The reader's prediction for the open lesson.
    Predict(usize),
    /// Run the open lesson's sweep (after a prediction).
    RunLesson,
    /// Add a finished run to the comparison, or take it out.
    ToggleCompare(usize),
    /// What the browser's storage held at start: runs and sweeps of earlier visits (already checked),
    /// entries that could not be read, and a number identifying this visit.
    Restore {
        /// Saved runs, oldest first.
        runs: Vec<crate::storage::SavedRun>,
        /// Saved sweeps.
        sweeps: Vec<crate::storage::SavedSweep>,
        /// Why some entries were skipped.
        skipped: Vec<String>,
        /// This visit's number (e.g. the time it began, in ms).
        visit: u64,
        /// The run a reload interrupted (its checkpoint's meta; the worker reads the weights).
        interrupted_run: Option<Box<crate::storage::CheckpointMeta>>,
        /// The sweep whose queue a reload interrupted.
        interrupted_sweep: Option<Box<crate::storage::SweepProgress>>,
    },
    /// Go on with the run a lost GPU device ended, from its checkpoint.
    GoOn,
    /// Runs `runs[i]` for each index were saved (`Ok`) or not (`Err`, the reason in words).
    Saved(Vec<usize>, Result<(), String>),
    /// Remove every saved run and sweep (storage has been cleared).
    ClearSaved,
    /// The browser's storage failed outside a save (reading at start, clearing): why.
    StorageFailed(String),
}

/// Predictions per split shown for an opened run (the worker sends as many with each evaluation).
pub const SAMPLES_PER_SPLIT: usize = 4;

/// Steps taken by one press of the step button.
pub const STEP_BUTTON_STEPS: usize = 10;

impl UiState {
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

    /// Seconds until the sweep's queue is done, when known: the steps left (the run in progress and
    /// the waiting runs) at the pace of the finished runs (evaluations included), or at the current
    /// speed before any run finished.
    pub fn sweep_seconds_left(&self) -> Option<f64> {
        let sweep = self
            .sweep
            .as_ref()
            .filter(|s| s.status == SweepStatus::Running)?;
        let waiting_steps: usize = sweep
            .plan
            .iter()
            .skip(sweep.current.map_or(sweep.done.len(), |c| c + 1))
            .map(|r| r.config.train.steps)
            .sum();
        let steps_left = waiting_steps + self.total_steps.saturating_sub(self.step);
        let finished: Vec<&RunRecord> = sweep
            .records(&self.runs)
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        let (seconds, steps) = finished
            .iter()
            .fold((0.0, 0usize), |(t, n), r| (t + r.wall_seconds, n + r.steps));
        if steps > 0 && seconds > 0.0 {
            Some(steps_left as f64 * seconds / steps as f64)
        } else if self.steps_per_second > 0.0 {
            Some(steps_left as f64 / self.steps_per_second)
        } else {
            None
        }
    }

    /// The run the inspector, try-your-own and attention views look at: the opened finished run, or
    /// the run in progress (or last run). Its settings and evaluations, oldest first.
    pub fn inspected(&self) -> Option<(&ExperimentConfig, &[Rc<Evaluation>])> {
        match self.opened.and_then(|i| self.runs.get(i)) {
            Some(run) => Some((&run.record.config, &run.history)),
            None => Some((self.run_config.as_ref()?, &self.history)),
        }
    }

    /// Resets the live run's view and asks the worker to train `config`.
    fn begin_run(&mut self, config: ExperimentConfig) -> Command {
        self.reset_run_view(&config);
        Command::Start {
            config: Box::new(config),
            backend: self.backend_preference(),
        }
    }

    /// Clears what the page shows of the last run, for a run of `config` that is starting.
    fn reset_run_view(&mut self, config: &ExperimentConfig) {
        self.status = RunStatus::Starting;
        self.backend = None;
        self.step = 0;
        self.total_steps = config.train.steps;
        self.steps_per_second = 0.0;
        self.losses.clear();
        self.evaluations.clear();
        self.samples.clear();
        self.fingerprint = None;
        self.error = None;
        self.record = None;
        self.imported = None;
        self.import_error = None;
        self.history.clear();
        self.opened = None;
        self.inspector.rule = None;
        self.answer = None;
        self.asking = false;
        self.run_config = Some(config.clone());
        self.checkpoint_step = None;
        self.checkpoint_cost = None;
        self.resumable = None;
    }

    fn backend_preference(&self) -> BackendPreference {
        if self.force_cpu {
            BackendPreference::Cpu
        } else {
            BackendPreference::Auto
        }
    }

    /// Starts the sweep's next planned run, or marks it done.
    fn next_sweep_run(&mut self) -> Option<Command> {
        let sweep = self.sweep.as_mut()?;
        if sweep.status != SweepStatus::Running {
            return None;
        }
        let next = sweep.current.map_or(0, |c| c + 1);
        match sweep.plan.get(next) {
            Some(run) => {
                sweep.current = Some(next);
                let config = run.config.clone();
                Some(self.begin_run(config))
            }
            None => {
                sweep.current = None;
                sweep.status = SweepStatus::Done;
                None
            }
        }
    }

    /// Shows the run of a checkpoint that a reload interrupted, with its curves, and asks the worker
    /// to go on with it.
    fn resume_run(&mut self, meta: crate::storage::CheckpointMeta) -> Command {
        self.reset_run_view(&meta.config);
        self.step = meta.step;
        self.losses = meta.losses;
        self.evaluations = meta.evaluations;
        self.checkpoint_step = Some(meta.step);
        self.notices.push(format!(
            "a reload interrupted a run at step {} of {}: it goes on from there",
            meta.step, self.total_steps
        ));
        Command::ResumeSaved {
            backend: self.backend_preference(),
        }
    }

    /// Goes on with a sweep whose queue a reload interrupted: its finished runs (saved, in plan
    /// order) count as done, and the queue goes on from the run in progress, from its checkpoint
    /// when `run` is that run's, else from its start.
    fn resume_sweep(
        &mut self,
        progress: crate::storage::SweepProgress,
        run: Option<crate::storage::CheckpointMeta>,
    ) -> Option<Command> {
        let plan = match progress.spec.plan() {
            Ok(plan) => plan,
            Err(e) => {
                self.notices
                    .push(format!("the interrupted sweep cannot go on: {e}"));
                return None;
            }
        };
        let done: Vec<usize> = (0..self.runs.len())
            .filter(|&i| self.runs[i].sweep_key.as_deref() == Some(progress.id.as_str()))
            .collect();
        // A run that finished and was saved just before the reload is not run again.
        let next = progress.current.max(done.len());
        let total = plan.len();
        let resumable = run.filter(|meta| plan.get(next).is_some_and(|p| p.config == meta.config));
        self.compare.clear();
        self.sweep = Some(SweepState {
            spec: progress.spec,
            plan,
            done,
            current: next.checked_sub(1),
            status: SweepStatus::Running,
            lesson: progress.lesson,
            key: progress.id,
        });
        if next >= total {
            return self.next_sweep_run();
        }
        match resumable {
            Some(meta) => {
                self.notices.push(format!(
                    "a reload interrupted a sweep at run {} of {total}: its queue goes on",
                    next + 1
                ));
                if let Some(sweep) = &mut self.sweep {
                    sweep.current = Some(next);
                }
                Some(self.resume_run(meta))
            }
            None => {
                self.notices.push(format!(
                    "a reload interrupted a sweep at run {} of {total}: that run starts again and the queue goes on",
                    next + 1
                ));
                self.next_sweep_run()
            }
        }
    }

    /// What the browser's storage should hold of the running sweep, so a reload goes on with its
    /// queue: `None` when no sweep's queue is running.
    pub fn sweep_progress(&self) -> Option<crate::storage::SweepProgress> {
        let sweep = self
            .sweep
            .as_ref()
            .filter(|s| s.status == SweepStatus::Running)?;
        Some(crate::storage::SweepProgress::new(
            &sweep.key,
            &sweep.spec,
            sweep.lesson.clone(),
            sweep.current?,
        ))
    }

    /// Keeps the run that just finished (its record and evaluations) among the session's runs.
    fn keep_finished_run(&mut self, record: RunRecord) {
        let index = self.runs.len();
        let mut record = record;
        let mut name = format!(
            "run {} (I = {})",
            index + 1,
            record.config.task.instructions
        );
        let mut sweep_key = None;
        if let Some(sweep) = self
            .sweep
            .as_mut()
            .filter(|s| s.status == SweepStatus::Running)
        {
            if let Some(planned) = sweep.current.and_then(|c| sweep.plan.get(c)) {
                record = record.with_labels(&planned.labels);
                if !planned.labels.is_empty() {
                    let mut parts: Vec<String> = sweep
                        .spec
                        .axes
                        .iter()
                        .zip(&planned.labels)
                        .map(|(axis, label)| format!("{} {label}", axis.name))
                        .collect();
                    if sweep.spec.seeds.len() > 1 {
                        parts.push(format!("seed {}", record.config.seed));
                    }
                    name = parts.join(", ");
                }
            }
            sweep_key = Some(sweep.key.clone());
            sweep.done.push(index);
        }
        self.record = Some(record.clone());
        self.runs.push(FinishedRun {
            name,
            record,
            history: self.history.clone(),
            kept: Kept::Pending,
            sweep_key,
        });
    }

    /// Shows run `index` of the imported file as if it had just finished here: its settings, curves
    /// and record (no samples or fingerprint: a results file has no predictions).
    fn show_imported(&mut self, index: usize) {
        let Some((report, shown)) = &mut self.imported else {
            return;
        };
        let Some(run) = report.runs.get(index) else {
            return;
        };
        *shown = index;
        self.config = run.config.clone();
        self.config_error = None;
        self.preset = None;
        self.status = RunStatus::Idle;
        self.step = run.steps;
        self.total_steps = run.config.train.steps;
        self.steps_per_second = 0.0;
        self.losses = run.losses.clone();
        self.evaluations = run.evaluations.clone();
        self.samples.clear();
        self.fingerprint = None;
        self.error = None;
        self.import_error = None;
        self.record = Some(run.clone());
    }

    /// Marks the running sweep failed; returns the plan index of the run it was on.
    fn fail_sweep(&mut self) -> Option<usize> {
        let sweep = self
            .sweep
            .as_mut()
            .filter(|s| s.status == SweepStatus::Running)?;
        sweep.status = SweepStatus::Failed;
        sweep.current.take()
    }

    fn fail(&mut self, message: String) {
        self.status = RunStatus::Failed;
        self.error = Some(message);
    }

    /// The next state, and the command the worker must receive, if any.
    pub fn reduce(mut self, action: Action) -> (Self, Option<Command>) {
        let command = match action {
            Action::Set(path, _) if self.view.locks(&path) => {
                self.config_error = Some(ConfigError::new(
                    path,
                    "is locked by the link that opened this page",
                ));
                None
            }
            Action::Set(path, value) => {
                let mut settings = BTreeMap::from([(path.clone(), value.clone())]);
                // Fewer steps than the warm-up would be refused: keep the warm-up within a tenth.
                if let (true, Some(steps)) = (path == "train.steps", value.as_u64()) {
                    let warmup = self.config.train.warmup_steps.min(steps as usize / 10);
                    settings.insert("train.warmup_steps".into(), warmup.into());
                }
                match apply_settings(&self.config, &settings) {
                    Ok(config) => {
                        self.config = config;
                        self.config_error = None;
                        self.preset = None;
                    }
                    Err(e) => self.config_error = Some(e),
                }
                None
            }
            Action::LoadPreset(_) if self.view.locks("preset") => None,
            Action::LoadPreset(id) => {
                if let Some(p) = preset(&id) {
                    // Settings a teacher locked keep their values under any preset.
                    let current = serde_json::to_value(&self.config).expect("configs serialize");
                    let locked: BTreeMap<String, serde_json::Value> = crate::permalink::KEYS
                        .iter()
                        .filter(|k| self.view.locks(k.path))
                        .filter_map(|k| {
                            Some((k.path.to_string(), get_path(&current, k.path)?.clone()))
                        })
                        .collect();
                    match apply_settings(&p.sweep.base, &locked) {
                        Ok(config) => {
                            self.config = config;
                            self.preset = Some(id);
                            self.config_error = None;
                        }
                        Err(e) => self.config_error = Some(e),
                    }
                }
                None
            }
            Action::ForceCpu(_) if self.view.locks("backend") => None,
            Action::ForceCpu(on) => {
                self.force_cpu = on;
                None
            }
            Action::OpenLink(link) => {
                let Link {
                    config,
                    preset: named,
                    autostart,
                    force_cpu,
                    view,
                    sweep,
                    mut notices,
                } = *link;
                let starts_sweep = sweep.is_some();
                if let Some(form) = sweep {
                    self.sweep_form = form;
                }
                self.config = config;
                self.view = view;
                self.config_error = None;
                self.force_cpu = force_cpu;
                self.preset = match named {
                    Some(id) if preset(&id).is_some() => Some(id),
                    Some(id) => {
                        notices.push(format!(
                            "ignored unknown preset `{}`",
                            crate::permalink::shorten(&id)
                        ));
                        None
                    }
                    None => None,
                };
                let lesson_id = self.view.lesson.clone();
                if let Some(id) = lesson_id {
                    if lesson(&id).is_some() {
                        self.lesson = Some(LessonState {
                            id,
                            prediction: None,
                        });
                        if autostart {
                            notices.push(
                                "the lesson runs once you have made your prediction (the link's `run=1` waits for it)"
                                    .into(),
                            );
                        }
                        self.notices = notices;
                        return (self, None);
                    }
                    notices.push(format!(
                        "ignored unknown lesson `{}`",
                        crate::permalink::shorten(&id)
                    ));
                    self.view.lesson = None;
                }
                self.notices = notices;
                match (autostart, starts_sweep) {
                    (true, true) => return self.reduce(Action::StartFormSweep),
                    (true, false) => return self.reduce(Action::Start),
                    _ => {}
                }
                None
            }
            Action::DismissNotices => {
                self.notices.clear();
                None
            }
            Action::Import(_) | Action::ShowImported(_) if self.is_active() => {
                self.import_error = Some("stop the run before showing a results file".into());
                None
            }
            Action::Import(report) => {
                // The file's runs join the session's, and its sweep shows in the sweep views.
                let first = self.runs.len();
                for (i, record) in report.runs.iter().enumerate() {
                    let name = if record.labels.is_empty() {
                        format!("imported run {}", i + 1)
                    } else {
                        format!("imported: {}", record.labels.join(", "))
                    };
                    self.runs.push(FinishedRun {
                        name,
                        record: record.clone(),
                        history: Vec::new(),
                        kept: Kept::Never,
                        sweep_key: None,
                    });
                }
                if !report.spec.axes.is_empty() {
                    self.sweep = Some(SweepState {
                        spec: report.spec.clone(),
                        plan: Vec::new(),
                        done: (first..self.runs.len()).collect(),
                        current: None,
                        status: SweepStatus::Imported,
                        lesson: None,
                        key: String::new(),
                    });
                }
                self.imported = Some((*report, 0));
                self.show_imported(0);
                None
            }
            Action::ShowImported(index) => {
                self.show_imported(index);
                None
            }
            Action::ImportFailed(why) => {
                self.import_error = Some(why);
                None
            }
            Action::Start => match self.config.validate() {
                Err(e) => {
                    self.config_error = Some(e);
                    None
                }
                Ok(()) => {
                    if let Some(sweep) = &mut self.sweep
                        && sweep.status == SweepStatus::Running
                    {
                        sweep.status = SweepStatus::Cancelled;
                    }
                    let config = self.config.clone();
                    Some(self.begin_run(config))
                }
            },
            Action::Pause => (self.status == RunStatus::Running).then_some(Command::Pause),
            Action::Resume => (self.status == RunStatus::Paused).then_some(Command::Resume),
            Action::Step => (self.status == RunStatus::Paused).then_some(Command::Step {
                steps: STEP_BUTTON_STEPS,
            }),
            Action::Stop | Action::CancelSweep => {
                if let Some(sweep) = &mut self.sweep
                    && sweep.status == SweepStatus::Running
                {
                    sweep.status = SweepStatus::Cancelled;
                    sweep.current = None;
                }
                if self.is_active() {
                    self.status = RunStatus::Idle;
                    Some(Command::Stop)
                } else {
                    None
                }
            }
            Action::Worker(event) => {
                let finished = matches!(event, Event::Finished { .. }) && self.is_active();
                self.apply_event(event);
                if finished {
                    self.next_sweep_run()
                } else {
                    None
                }
            }
            Action::EditSweep(form) => {
                self.sweep_form = form;
                None
            }
            Action::StartFormSweep => match self.sweep_form.spec(&self.config) {
                Ok(spec) => return self.reduce(Action::StartSweep(Box::new(spec), None)),
                Err(e) => {
                    self.sweep_error = Some(format!("this sweep cannot run: {e}"));
                    None
                }
            },
            Action::StartSweep(_, _) if self.is_active() => {
                self.sweep_error = Some("stop the run before starting a sweep".into());
                None
            }
            Action::StartSweep(spec, lesson_id) => match spec.plan() {
                Err(e) => {
                    self.sweep_error = Some(format!("this sweep cannot run: {e}"));
                    None
                }
                Ok(plan) => {
                    self.sweep_error = None;
                    self.compare.clear();
                    self.sweeps_started += 1;
                    self.sweep = Some(SweepState {
                        spec: *spec,
                        plan,
                        done: Vec::new(),
                        current: None,
                        status: SweepStatus::Running,
                        lesson: lesson_id,
                        key: format!("sweep-{}-{}", self.visit, self.sweeps_started),
                    });
                    self.next_sweep_run()
                }
            },
            Action::OpenRun(index) => {
                self.opened = index.filter(|&i| i < self.runs.len());
                if let Some(run) = self.opened.and_then(|i| self.runs.get(i)) {
                    // The opened run's curves replace the live ones only when nothing trains.
                    if !self.is_active() {
                        self.losses = run.record.losses.clone();
                        self.evaluations = run.record.evaluations.clone();
                        self.step = run.record.steps;
                        self.total_steps = run.record.config.train.steps;
                        self.samples = run.history.last().map_or_else(Vec::new, |e| {
                            SamplePrediction::from_evaluation(e, SAMPLES_PER_SPLIT)
                        });
                        self.fingerprint = run.history.last().map(|e| e.fingerprint());
                        self.record = Some(run.record.clone());
                    }
                }
                self.inspector.rule = None;
                self.answer = None;
                None
            }
            Action::InspectRule(rule) => {
                self.inspector.rule = rule;
                None
            }
            Action::SortRules(key) => {
                if self.inspector.sort == key {
                    self.inspector.descending = !self.inspector.descending;
                } else {
                    self.inspector.sort = key;
                    self.inspector.descending = false;
                }
                None
            }
            Action::FailuresOnly(on) => {
                self.inspector.failures_only = on;
                None
            }
            Action::Ask { x, y, z } => match self.inspected() {
                None => {
                    self.answer = Some(Err("train a run first: questions go to its model".into()));
                    None
                }
                Some((config, _)) => match check_question(&config.task, &x, &y, &z) {
                    Err(e) => {
                        self.answer = Some(Err(e.to_string()));
                        None
                    }
                    Ok(question) => {
                        let config = Box::new(config.clone());
                        self.asking = true;
                        Some(Command::Ask { config, question })
                    }
                },
            },
            Action::OpenLesson(None) => {
                self.lesson = None;
                None
            }
            Action::OpenLesson(Some(id)) => {
                if let Some(found) = lesson(&id) {
                    if !self.view.locks("preset") {
                        self.config = found.sweep.base.clone();
                        self.preset = None;
                        self.config_error = None;
                    }
                    self.lesson = Some(LessonState {
                        id,
                        prediction: None,
                    });
                }
                None
            }
            Action::Predict(choice) => {
                if let Some(open) = &mut self.lesson {
                    open.prediction = Some(choice);
                }
                None
            }
            Action::RunLesson => {
                let chosen = self
                    .lesson
                    .as_ref()
                    .filter(|l| l.prediction.is_some())
                    .and_then(|l| lesson(&l.id));
                match chosen {
                    Some(found) => {
                        let id = found.id.to_string();
                        return self.reduce(Action::StartSweep(Box::new(found.sweep), Some(id)));
                    }
                    None => None,
                }
            }
            Action::Restore {
                runs,
                sweeps,
                skipped,
                visit,
                interrupted_run,
                interrupted_sweep,
            } => {
                self.visit = visit;
                if !skipped.is_empty() {
                    self.storage_error = Some(format!(
                        "{} saved entr{} could not be read and {} left out: {}",
                        skipped.len(),
                        if skipped.len() == 1 { "y" } else { "ies" },
                        if skipped.len() == 1 { "was" } else { "were" },
                        skipped.join("; ")
                    ));
                }
                // Saved runs go before this visit's (none yet, unless a link started a run at once):
                // indices shift, so rebuild the lists that hold them.
                let mut restored: Vec<FinishedRun> = runs
                    .into_iter()
                    .map(|saved| FinishedRun {
                        name: saved.name,
                        record: saved.record,
                        history: Vec::new(),
                        kept: Kept::Saved,
                        sweep_key: saved.sweep,
                    })
                    .collect();
                let shift = restored.len();
                restored.append(&mut self.runs);
                self.runs = restored;
                self.compare = self.compare.iter().map(|i| i + shift).collect();
                self.opened = self.opened.map(|i| i + shift);
                if let Some(sweep) = &mut self.sweep {
                    for i in &mut sweep.done {
                        *i += shift;
                    }
                }
                // A link may have started a run or sweep before storage answered: that one goes on.
                let busy = self.is_active()
                    || self
                        .sweep
                        .as_ref()
                        .is_some_and(|s| s.status == SweepStatus::Running);
                if busy && (interrupted_run.is_some() || interrupted_sweep.is_some()) {
                    self.notices.push(
                        "a reload had interrupted a run, but this link started another: the interrupted one was dropped"
                            .into(),
                    );
                } else if let Some(progress) = interrupted_sweep {
                    let command = self.resume_sweep(*progress, interrupted_run.map(|m| *m));
                    return (self, command);
                }
                // The latest saved sweep shows in the sweep views, unless one is already on show.
                if self.sweep.is_none()
                    && let Some(last) = self.runs[..shift]
                        .iter()
                        .rev()
                        .find_map(|r| r.sweep_key.clone())
                    && let Some(saved) = sweeps.iter().find(|s| s.id == last)
                {
                    self.sweep = Some(SweepState {
                        spec: saved.spec.clone(),
                        plan: Vec::new(),
                        done: (0..shift)
                            .filter(|&i| self.runs[i].sweep_key.as_deref() == Some(last.as_str()))
                            .collect(),
                        current: None,
                        status: SweepStatus::Saved,
                        lesson: saved.lesson.clone(),
                        key: saved.id.clone(),
                    });
                }
                match interrupted_run {
                    Some(meta) if !busy => {
                        let meta = *meta;
                        self.config = meta.config.clone();
                        self.preset = None;
                        Some(self.resume_run(meta))
                    }
                    _ => None,
                }
            }
            Action::Saved(indices, outcome) => {
                let kept = if outcome.is_ok() {
                    Kept::Saved
                } else {
                    Kept::Failed
                };
                for i in indices {
                    if let Some(run) = self.runs.get_mut(i) {
                        run.kept = kept.clone();
                    }
                }
                if let Err(why) = outcome {
                    self.storage_error = Some(why);
                }
                None
            }
            Action::StorageFailed(why) => {
                self.storage_error = Some(why);
                None
            }
            Action::ClearSaved if self.is_active() => {
                self.storage_error = Some("stop the run before clearing saved runs".into());
                None
            }
            Action::GoOn if self.is_active() => None,
            Action::GoOn => match self.resumable.take() {
                None => None,
                Some(Resumable { step, sweep_run }) => {
                    if let (Some(index), Some(sweep)) = (sweep_run, &mut self.sweep) {
                        sweep.status = SweepStatus::Running;
                        sweep.current = Some(index);
                    }
                    // The curves after the checkpoint are trained again.
                    self.losses.retain(|p| p.step <= step);
                    self.evaluations.retain(|e| e.step <= step);
                    self.history.retain(|e| e.step <= step);
                    self.status = RunStatus::Starting;
                    self.backend = None;
                    self.error = None;
                    self.step = step;
                    self.checkpoint_step = Some(step);
                    self.notices.push(format!(
                        "the run goes on from step {step}, where it was last kept"
                    ));
                    Some(Command::ResumeSaved {
                        backend: self.backend_preference(),
                    })
                }
            },
            Action::ClearSaved => {
                self.resumable = None;
                self.runs.clear();
                self.sweep = None;
                self.compare.clear();
                self.opened = None;
                self.storage_error = None;
                None
            }
            Action::ToggleCompare(index) => {
                if !self.compare.remove(&index) && index < self.runs.len() {
                    self.compare.insert(index);
                }
                None
            }
            Action::WorkerFailed(message) => {
                let message = format!("the training worker stopped: {message}");
                if self.is_active() {
                    self.fail(message);
                } else {
                    // Nothing to end, but the next start depends on the worker: say so now.
                    self.error = Some(message);
                }
                None
            }
        };
        (self, command)
    }

    fn apply_event(&mut self, event: Event) {
        // Answers come whether or not a run trains.
        if let Event::Answer { answer } = event {
            self.asking = false;
            self.answer = Some(answer.map(|a| *a));
            return;
        }
        // Events of a stopped or failed run can still be in flight: they change nothing.
        if !self.is_active() {
            return;
        }
        match event {
            Event::Answer { .. } => {}
            Event::Ready => {}
            Event::Backend(info) => {
                self.backend = Some(info);
                self.status = RunStatus::Running;
            }
            Event::Progress {
                step,
                total_steps,
                loss,
                steps_per_second,
            } => {
                self.step = step;
                self.total_steps = total_steps;
                self.steps_per_second = steps_per_second;
                if self.losses.last().map(|p| p.step) != Some(step) {
                    self.losses.push(LossPoint { step, loss });
                }
            }
            Event::Evaluation {
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
            Event::Paused { step } => {
                self.step = step;
                self.status = RunStatus::Paused;
            }
            Event::Resumed => self.status = RunStatus::Running,
            Event::Record { record } => self.keep_finished_run(*record),
            Event::Checkpointed {
                step,
                bytes,
                seconds,
            } => {
                self.checkpoint_step = Some(step);
                self.checkpoint_cost = Some((bytes, seconds));
            }
            Event::CheckpointFailed { message } => {
                self.storage_error = Some(format!(
                    "the run in progress could not be checkpointed, so a reload would lose it: {message}"
                ));
            }
            Event::Finished { step } => {
                self.step = step;
                self.status = RunStatus::Finished;
            }
            Event::Error { message } => {
                self.fail_sweep();
                self.fail(message)
            }
            Event::DeviceLost { message } => {
                let sweep_run = self.fail_sweep();
                self.resumable = self
                    .checkpoint_step
                    .map(|step| Resumable { step, sweep_run });
                self.fail(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::BackendKind;

    fn reduce(state: UiState, action: Action) -> UiState {
        state.reduce(action).0
    }

    fn running() -> UiState {
        let (state, command) = UiState::default().reduce(Action::Start);
        assert!(matches!(command, Some(Command::Start { .. })));
        reduce(
            state,
            Action::Worker(Event::Backend(BackendInfo {
                kind: BackendKind::Cpu,
                description: "CPU".into(),
            })),
        )
    }

    #[test]
    fn start_sends_the_settings_and_the_backend_choice() {
        let state = reduce(UiState::default(), Action::ForceCpu(true));
        let (state, command) = state.reduce(Action::Start);
        assert_eq!(state.status, RunStatus::Starting);
        match command {
            Some(Command::Start { config, backend }) => {
                assert_eq!(*config, state.config);
                assert_eq!(backend, BackendPreference::Cpu);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn invalid_setting_is_refused_and_the_old_value_kept() {
        let state = reduce(
            UiState::default(),
            Action::Set("task.noop_share".into(), serde_json::json!(0.9)),
        );
        assert_eq!(
            state.config.task.noop_share,
            UiState::default().config.task.noop_share
        );
        assert_eq!(state.config_error.unwrap().setting, "task.noop_share");
        let state = reduce(
            UiState::default(),
            Action::Set("task.instructions".into(), serde_json::json!(64)),
        );
        assert_eq!(state.config.task.instructions, 64);
        assert!(state.config_error.is_none());
        assert!(state.preset.is_none());
    }

    #[test]
    fn fewer_steps_shrink_the_warm_up_instead_of_being_refused() {
        let state = reduce(
            UiState::default(),
            Action::Set("train.steps".into(), serde_json::json!(60)),
        );
        assert!(state.config_error.is_none(), "{:?}", state.config_error);
        assert_eq!(state.config.train.steps, 60);
        assert_eq!(state.config.train.warmup_steps, 6);
    }

    #[test]
    fn progress_and_evaluations_accumulate() {
        let mut state = running();
        for step in [10, 20] {
            state = reduce(
                state,
                Action::Worker(Event::Progress {
                    step,
                    total_steps: 100,
                    loss: 1.0 / step as f32,
                    steps_per_second: 5.0,
                }),
            );
        }
        assert_eq!(state.losses.len(), 2);
        assert_eq!(state.step, 20);
        assert_eq!(state.seconds_left(), Some(16.0));
    }

    #[test]
    fn pause_resume_and_step_only_when_they_make_sense() {
        let (state, command) = running().reduce(Action::Resume);
        assert_eq!(command, None);
        let (state, command) = state.reduce(Action::Pause);
        assert_eq!(command, Some(Command::Pause));
        let state = reduce(state, Action::Worker(Event::Paused { step: 7 }));
        assert_eq!(state.status, RunStatus::Paused);
        let (state, command) = state.reduce(Action::Step);
        assert_eq!(
            command,
            Some(Command::Step {
                steps: STEP_BUTTON_STEPS
            })
        );
        let (state, command) = state.reduce(Action::Resume);
        assert_eq!(command, Some(Command::Resume));
        let (state, command) = state.reduce(Action::Stop);
        assert_eq!(command, Some(Command::Stop));
        assert_eq!(state.status, RunStatus::Idle);
    }

    #[test]
    fn errors_end_the_run_and_keep_the_metrics() {
        let state = reduce(
            running(),
            Action::Worker(Event::Progress {
                step: 5,
                total_steps: 100,
                loss: 2.0,
                steps_per_second: 1.0,
            }),
        );
        let state = reduce(
            state,
            Action::Worker(Event::Error {
                message: "the loss became NaN at step 6".into(),
            }),
        );
        assert_eq!(state.status, RunStatus::Failed);
        assert_eq!(state.losses.len(), 1);
        assert!(state.error.as_deref().unwrap().contains("NaN"));
        // A late event of the failed run changes nothing.
        let late = reduce(state.clone(), Action::Worker(Event::Finished { step: 9 }));
        assert_eq!(late, state);
    }

    #[test]
    fn a_dead_worker_fails_an_active_run_and_is_reported_when_idle() {
        let state = reduce(running(), Action::WorkerFailed("out of memory".into()));
        assert_eq!(state.status, RunStatus::Failed);
        assert!(state.error.as_deref().unwrap().contains("out of memory"));
        let idle = reduce(UiState::default(), Action::WorkerFailed("no wasm".into()));
        assert_eq!(idle.status, RunStatus::Idle);
        assert!(idle.error.as_deref().unwrap().contains("no wasm"));
    }

    #[test]
    fn locked_settings_and_panels_refuse_changes_and_presets_keep_them() {
        let link = crate::permalink::parse(
            "v=1&I=48&lock=I,backend&hide=model",
            &UiState::default().config,
        );
        let state = reduce(UiState::default(), Action::OpenLink(Box::new(link)));
        assert_eq!(state.config.task.instructions, 48);
        // A locked key, and a hidden group (hidden means locked).
        let refused = reduce(
            state.clone(),
            Action::Set("task.instructions".into(), 64.into()),
        );
        assert_eq!(refused.config.task.instructions, 48);
        assert_eq!(refused.config_error.unwrap().setting, "task.instructions");
        let refused = reduce(state.clone(), Action::Set("model.layers".into(), 3.into()));
        assert_eq!(refused.config.model.layers, state.config.model.layers);
        let allowed = reduce(state.clone(), Action::Set("train.steps".into(), 500.into()));
        assert_eq!(allowed.config.train.steps, 500);
        assert!(!reduce(state.clone(), Action::ForceCpu(true)).force_cpu);
        // A preset loads around the locked settings.
        let loaded = reduce(allowed.clone(), Action::LoadPreset("skew".into()));
        let skew = preset("skew").unwrap().sweep.base;
        assert_eq!(loaded.config.task.instructions, 48);
        assert_eq!(loaded.config.model, state.config.model);
        assert_ne!(skew.train, allowed.config.train);
        assert_eq!(loaded.config.train, skew.train);
        assert_eq!(loaded.preset.as_deref(), Some("skew"));
        // Locking the preset menu refuses presets altogether.
        let link = crate::permalink::parse("lock=preset", &UiState::default().config);
        let state = reduce(UiState::default(), Action::OpenLink(Box::new(link)));
        assert_eq!(
            reduce(state.clone(), Action::LoadPreset("skew".into())).config,
            state.config
        );
    }

    #[test]
    fn an_imported_file_shows_its_runs_and_a_start_replaces_it() {
        let mut config = crate::presets::preset("skew").unwrap().sweep.base;
        config.train.steps = 20;
        config.train.warmup_steps = 2;
        config.train.eval_every = 10;
        config.validate().unwrap();
        let run = |seed: u64, loss: f32| RunRecord {
            labels: vec![format!("seed {seed}")],
            config: ExperimentConfig {
                seed,
                ..config.clone()
            },
            instructions: config.task.instructions,
            examples_per_rule: 1.0,
            rules_with_examples: 1,
            steps: 20,
            result: EvalSummary {
                step: 20,
                seen_accuracy: 0.5,
                unseen_accuracy: 0.25,
                unseen_hasop_accuracy: 0.2,
                noop_accuracy: 1.0,
            },
            final_loss: loss,
            losses: vec![LossPoint { step: 20, loss }],
            evaluations: Vec::new(),
            seen_rules: Vec::new(),
            unseen_rules: Vec::new(),
            wall_seconds: 1.0,
        };
        let mut report = SweepReport::single(run(1, 0.5), "CPU");
        report.runs.push(run(2, 0.25));
        let state = reduce(UiState::default(), Action::Import(Box::new(report)));
        assert_eq!(state.config.seed, 1);
        assert_eq!(
            state.losses,
            vec![LossPoint {
                step: 20,
                loss: 0.5
            }]
        );
        assert_eq!(state.status, RunStatus::Idle);
        assert_eq!(state.imported.as_ref().unwrap().1, 0);
        let second = reduce(state, Action::ShowImported(1));
        assert_eq!(second.config.seed, 2);
        assert_eq!(second.record.as_ref().unwrap().final_loss, 0.25);
        let refused = reduce(second.clone(), Action::ImportFailed("bad file".into()));
        assert_eq!(refused.import_error.as_deref(), Some("bad file"));
        assert_eq!(
            refused.losses, second.losses,
            "a refused file changed the curves"
        );
        let (started, command) = second.reduce(Action::Start);
        assert!(command.is_some());
        assert!(
            started.imported.is_none() && started.record.is_none() && started.losses.is_empty()
        );
        // No import while training: the curves on show belong to the run.
        let busy = reduce(
            running(),
            Action::Import(Box::new(SweepReport::single(run(3, 1.0), "CPU"))),
        );
        assert!(busy.imported.is_none() && busy.import_error.is_some());
    }

    #[test]
    fn opening_a_link_loads_its_settings_and_may_start() {
        let mut config = UiState::default().config;
        config.task.instructions = 64;
        let text = format!(
            "{}&run=1&preset=nope",
            crate::permalink::write(&config, None, true)
        );
        let link = crate::permalink::parse(&text, &UiState::default().config);
        let (state, command) = UiState::default().reduce(Action::OpenLink(Box::new(link)));
        assert_eq!(state.config, config);
        assert!(state.force_cpu);
        assert_eq!(state.preset, None);
        assert_eq!(state.status, RunStatus::Starting);
        assert!(matches!(
            command,
            Some(Command::Start {
                backend: BackendPreference::Cpu,
                ..
            })
        ));
        assert_eq!(state.notices.len(), 1, "{:?}", state.notices);
        let state = reduce(state, Action::DismissNotices);
        assert!(state.notices.is_empty());
    }

    fn tiny_sweep() -> SweepSpec {
        let mut base = UiState::default().config;
        base.train.steps = 20;
        base.train.warmup_steps = 2;
        base.train.eval_every = 10;
        SweepSpec {
            base,
            axes: vec![crate::sweep::Axis::values(
                "instructions",
                "task.instructions",
                [4usize, 16, 64],
            )],
            seeds: vec![1],
        }
    }

    /// Plays the worker's side of one run to its end: backend, progress, record, finished.
    fn finish_run(state: UiState, unseen: f64) -> (UiState, Option<Command>) {
        let config = state.run_config.clone().expect("a run started");
        let mut state = reduce(
            state,
            Action::Worker(Event::Backend(BackendInfo {
                kind: BackendKind::Cpu,
                description: "CPU".into(),
            })),
        );
        state = reduce(
            state,
            Action::Worker(Event::Progress {
                step: 20,
                total_steps: 20,
                loss: 0.5,
                steps_per_second: 10.0,
            }),
        );
        let record = RunRecord {
            labels: Vec::new(),
            instructions: config.task.instructions,
            examples_per_rule: 1.0,
            rules_with_examples: config.task.instructions,
            steps: 20,
            result: EvalSummary {
                step: 20,
                seen_accuracy: 0.9,
                unseen_accuracy: unseen,
                unseen_hasop_accuracy: unseen,
                noop_accuracy: 1.0,
            },
            final_loss: 0.5,
            losses: vec![LossPoint {
                step: 20,
                loss: 0.5,
            }],
            evaluations: Vec::new(),
            seen_rules: Vec::new(),
            unseen_rules: Vec::new(),
            wall_seconds: 4.0,
            config,
        };
        state = reduce(
            state,
            Action::Worker(Event::Record {
                record: Box::new(record),
            }),
        );
        state.reduce(Action::Worker(Event::Finished { step: 20 }))
    }

    #[test]
    fn a_sweep_runs_its_plan_in_order_and_fills_its_grid() {
        let (mut state, mut command) =
            UiState::default().reduce(Action::StartSweep(Box::new(tiny_sweep()), None));
        let mut started = Vec::new();
        for (k, unseen) in [0.0, 0.2, 0.6].into_iter().enumerate() {
            match &command {
                Some(Command::Start { config, .. }) => started.push(config.task.instructions),
                other => panic!("run {k}: {other:?}"),
            }
            assert_eq!(state.sweep.as_ref().unwrap().current, Some(k));
            assert_eq!(state.sweep.as_ref().unwrap().waiting(), 2 - k);
            (state, command) = finish_run(state, unseen);
            let sweep = state.sweep.as_ref().unwrap();
            let grid = sweep.grid(&state.runs);
            assert_eq!(grid.filled(), k + 1, "a cell per finished run");
            assert_eq!(grid.curve().series[0].points.len(), k + 1);
        }
        assert_eq!(started, [4, 16, 64]);
        assert!((0..3).all(|i| state.sweep.as_ref().unwrap().is_done(i)));
        assert_eq!(command, None);
        let sweep = state.sweep.as_ref().unwrap();
        assert_eq!(sweep.status, SweepStatus::Done);
        assert_eq!(state.runs.len(), 3);
        assert_eq!(state.runs[2].record.labels, ["64"]);
        assert_eq!(state.runs[2].name, "instructions 64");
        assert_eq!(state.sweep_seconds_left(), None);
    }

    #[test]
    fn the_queue_estimates_time_left_from_finished_runs() {
        let (state, _) =
            UiState::default().reduce(Action::StartSweep(Box::new(tiny_sweep()), None));
        let (state, _) = finish_run(state, 0.1);
        // One run took 4 s for 20 steps; 40 steps are left (two runs, the second not begun).
        assert_eq!(state.sweep_seconds_left(), Some(8.0));
    }

    #[test]
    fn cancelling_a_sweep_stops_the_run_and_keeps_the_finished_ones() {
        let (state, _) =
            UiState::default().reduce(Action::StartSweep(Box::new(tiny_sweep()), None));
        let (state, _) = finish_run(state, 0.1);
        let (state, command) = state.reduce(Action::CancelSweep);
        assert_eq!(command, Some(Command::Stop));
        let sweep = state.sweep.as_ref().unwrap();
        assert_eq!(sweep.status, SweepStatus::Cancelled);
        assert_eq!(sweep.done.len(), 1);
        assert!(sweep.is_done(0) && !sweep.is_done(1));
        assert_eq!(sweep.waiting(), 0);
        // A late Finished of the stopped run starts nothing.
        let (_, command) = state.reduce(Action::Worker(Event::Finished { step: 20 }));
        assert_eq!(command, None);
    }

    #[test]
    fn a_failed_run_ends_the_sweep_and_an_impossible_sweep_is_refused() {
        let (state, _) =
            UiState::default().reduce(Action::StartSweep(Box::new(tiny_sweep()), None));
        let state = reduce(
            state,
            Action::Worker(Event::Error {
                message: "device lost".into(),
            }),
        );
        assert_eq!(state.sweep.as_ref().unwrap().status, SweepStatus::Failed);
        let mut bad = tiny_sweep();
        bad.axes[0].points[0]
            .set
            .insert("task.alphabet".into(), serde_json::json!(99));
        let (state, command) = UiState::default().reduce(Action::StartSweep(Box::new(bad), None));
        assert_eq!(command, None);
        assert!(state.sweep.is_none());
        assert!(state.sweep_error.unwrap().contains("task.alphabet"));
    }

    #[test]
    fn questions_are_checked_then_sent_with_the_inspected_runs_settings() {
        let (state, command) = UiState::default().reduce(Action::Ask {
            x: "a".into(),
            y: "b".into(),
            z: "abcd".into(),
        });
        assert_eq!(command, None);
        assert!(state.answer.unwrap().is_err(), "no run yet");
        let state = running();
        let (state, command) = state.reduce(Action::Ask {
            x: "a".into(),
            y: "b".into(),
            z: "xyz".into(),
        });
        assert_eq!(command, None);
        assert!(state.answer.clone().unwrap().unwrap_err().starts_with("z:"));
        let (state, command) = state.reduce(Action::Ask {
            x: "a".into(),
            y: "b".into(),
            z: "abcd".into(),
        });
        match command {
            Some(Command::Ask { config, question }) => {
                assert_eq!(Some(*config), state.run_config);
                assert_eq!(question.z, "abcd");
            }
            other => panic!("{other:?}"),
        }
        assert!(state.asking);
        let state = reduce(
            state,
            Action::Worker(Event::Answer {
                answer: Err("gone".into()),
            }),
        );
        assert!(!state.asking);
        assert_eq!(state.answer, Some(Err("gone".into())));
    }

    #[test]
    fn a_lesson_loads_its_settings_and_runs_only_after_a_prediction() {
        let state = reduce(
            UiState::default(),
            Action::OpenLesson(Some("phase-transition".into())),
        );
        let lesson = crate::lessons::lesson("phase-transition").unwrap();
        assert_eq!(state.config, lesson.sweep.base);
        let (state, command) = state.reduce(Action::RunLesson);
        assert_eq!(command, None, "no prediction yet");
        let state = reduce(state, Action::Predict(1));
        let (state, command) = state.reduce(Action::RunLesson);
        assert!(matches!(command, Some(Command::Start { .. })));
        let sweep = state.sweep.as_ref().unwrap();
        assert_eq!(sweep.lesson.as_deref(), Some("phase-transition"));
        assert_eq!(sweep.plan.len(), 5);
    }

    #[test]
    fn finished_runs_can_be_opened_and_compared() {
        let (state, _) =
            UiState::default().reduce(Action::StartSweep(Box::new(tiny_sweep()), None));
        let (state, _) = finish_run(state, 0.1);
        let (state, _) = finish_run(state, 0.3);
        let state = reduce(state, Action::Stop);
        let state = reduce(state, Action::ToggleCompare(0));
        let state = reduce(state, Action::ToggleCompare(1));
        let state = reduce(state, Action::ToggleCompare(7));
        assert_eq!(state.compare.iter().copied().collect::<Vec<_>>(), [0, 1]);
        let state = reduce(state, Action::ToggleCompare(0));
        assert_eq!(state.compare.len(), 1);
        let state = reduce(state, Action::OpenRun(Some(0)));
        let (config, _) = state.inspected().unwrap();
        assert_eq!(config.task.instructions, 4);
        assert_eq!(state.record.as_ref().unwrap().result.unseen_accuracy, 0.1);
        let state = reduce(state, Action::SortRules(RuleSort::Cases));
        assert!(!state.inspector.descending);
        let state = reduce(state, Action::SortRules(RuleSort::Cases));
        assert!(state.inspector.descending);
    }

    #[test]
    fn saved_runs_are_listed_on_return_with_their_sweep_and_clear_removes_them() {
        use crate::storage::{SavedRun, SavedSweep};
        // A run finishes in this visit before the saved ones are read back.
        let (state, _) =
            UiState::default().reduce(Action::StartSweep(Box::new(tiny_sweep()), None));
        let (state, _) = finish_run(state, 0.4);
        assert_eq!(state.runs[0].kept, Kept::Pending);
        let key = state.sweep.as_ref().unwrap().key.clone();
        assert_eq!(state.runs[0].sweep_key.as_deref(), Some(key.as_str()));
        let state = reduce(state, Action::ToggleCompare(0));
        let earlier = |labels: &str, unseen: f64| {
            let (done, _) = finish_run(
                UiState::default()
                    .reduce(Action::StartSweep(Box::new(tiny_sweep()), None))
                    .0,
                unseen,
            );
            SavedRun::new(
                &format!("instructions {labels}"),
                Some("old".into()),
                done.runs[0]
                    .record
                    .clone()
                    .with_labels(&[labels.to_string()]),
            )
        };
        let state = reduce(
            state,
            Action::Restore {
                runs: vec![earlier("4", 0.1), earlier("16", 0.5)],
                sweeps: vec![SavedSweep::new("old", &tiny_sweep(), None)],
                skipped: vec!["saved by another version".into()],
                visit: 42,
                interrupted_run: None,
                interrupted_sweep: None,
            },
        );
        assert_eq!(state.visit, 42);
        assert_eq!(state.runs.len(), 3);
        assert_eq!(state.runs[0].kept, Kept::Saved);
        assert_eq!(
            state.runs[2].kept,
            Kept::Pending,
            "this visit's run moved after them"
        );
        assert_eq!(state.compare.iter().copied().collect::<Vec<_>>(), [2]);
        // The sweep of this visit stays on show, its run index shifted.
        let sweep = state.sweep.as_ref().unwrap();
        assert_eq!(sweep.key, key);
        assert_eq!(sweep.done, [2]);
        assert!(
            state
                .storage_error
                .as_ref()
                .unwrap()
                .contains("1 saved entry")
        );

        // Without a sweep on show, the latest saved sweep comes back with its runs in its grid.
        let fresh = reduce(
            UiState::default(),
            Action::Restore {
                runs: vec![earlier("4", 0.1), earlier("16", 0.5)],
                sweeps: vec![SavedSweep::new("old", &tiny_sweep(), Some("x".into()))],
                skipped: Vec::new(),
                visit: 7,
                interrupted_run: None,
                interrupted_sweep: None,
            },
        );
        let sweep = fresh.sweep.as_ref().unwrap();
        assert_eq!(sweep.status, SweepStatus::Saved);
        assert_eq!(sweep.grid(&fresh.runs).filled(), 2);
        assert!(fresh.storage_error.is_none());
        // A new sweep gets a key of this visit.
        let (started, _) = fresh
            .clone()
            .reduce(Action::StartSweep(Box::new(tiny_sweep()), None));
        assert_eq!(started.sweep.as_ref().unwrap().key, "sweep-7-1");

        // A full quota marks the run and says so; the runs saved before stay listed.
        let state = reduce(
            state,
            Action::Saved(
                vec![2],
                Err("the browser's storage for this page is full".into()),
            ),
        );
        assert_eq!(state.runs[2].kept, Kept::Failed);
        assert_eq!(state.runs[0].kept, Kept::Saved);
        assert!(state.storage_error.as_ref().unwrap().contains("full"));
        let state = reduce(state, Action::Saved(vec![2], Ok(())));
        assert_eq!(state.runs[2].kept, Kept::Saved);

        // The sweep's second run is still training: stop it, then clear.
        let cleared = reduce(reduce(state, Action::Stop), Action::ClearSaved);
        assert!(cleared.runs.is_empty() && cleared.sweep.is_none() && cleared.compare.is_empty());
        // Not while a run trains: the run in progress belongs to the list.
        let busy = reduce(running(), Action::ClearSaved);
        assert!(busy.storage_error.is_some());
    }

    #[test]
    fn a_link_can_open_a_lesson_which_waits_for_a_prediction() {
        let text = format!(
            "{}&lesson=no-ops&run=1",
            crate::permalink::write(&UiState::default().config, None, false)
        );
        let link = crate::permalink::parse(&text, &UiState::default().config);
        let (state, command) = UiState::default().reduce(Action::OpenLink(Box::new(link)));
        assert_eq!(command, None);
        assert_eq!(state.lesson.as_ref().unwrap().id, "no-ops");
        assert_eq!(state.notices.len(), 1, "{:?}", state.notices);
        // The link written from this page names the lesson again.
        let again = crate::permalink::write_with_view(&state.config, None, false, &state.view);
        assert!(again.ends_with("&lesson=no-ops"), "{again}");
        let link = crate::permalink::parse("lesson=%3Cb%3E", &UiState::default().config);
        let state = reduce(UiState::default(), Action::OpenLink(Box::new(link)));
        assert!(state.lesson.is_none());
        assert!(state.notices[0].contains("unknown lesson `<b>`"));
    }

    #[test]
    fn a_link_with_a_sweep_fills_the_builder_and_starts_the_sweep() {
        let link = crate::permalink::parse(
            "v=1&steps=20&warmup=2&eval_every=10&sweep=instructions:4,16&seeds=2&run=1",
            &UiState::default().config,
        );
        let (state, command) = UiState::default().reduce(Action::OpenLink(Box::new(link)));
        assert!(matches!(command, Some(Command::Start { .. })));
        let sweep = state.sweep.as_ref().unwrap();
        assert_eq!(sweep.plan.len(), 4);
        assert_eq!(sweep.spec.seeds, [1, 2]);
        assert_eq!(state.sweep_form.first_values, "4,16");
        // A bad form is refused with the setting named, and nothing starts.
        let form = SweepForm {
            first_values: "4, lots".into(),
            ..SweepForm::default()
        };
        let state = reduce(UiState::default(), Action::EditSweep(form));
        let (state, command) = state.reduce(Action::StartFormSweep);
        assert_eq!(command, None);
        assert!(state.sweep_error.unwrap().contains("sweep.instructions"));
    }

    #[test]
    fn a_saved_checkpoint_resumes_with_its_curves_unless_a_run_already_started() {
        let mut config = UiState::default().config;
        config.train.steps = 600;
        let meta = crate::storage::CheckpointMeta {
            format: crate::storage::SAVED_FORMAT.into(),
            config: config.clone(),
            step: 200,
            losses: vec![LossPoint {
                step: 200,
                loss: 1.5,
            }],
            evaluations: Vec::new(),
        };
        let interrupted = |meta: &crate::storage::CheckpointMeta| Action::Restore {
            runs: Vec::new(),
            sweeps: Vec::new(),
            skipped: Vec::new(),
            visit: 1,
            interrupted_run: Some(Box::new(meta.clone())),
            interrupted_sweep: None,
        };
        let (state, command) = UiState::default().reduce(interrupted(&meta));
        assert_eq!(
            command,
            Some(Command::ResumeSaved {
                backend: BackendPreference::Auto
            })
        );
        assert_eq!(state.status, RunStatus::Starting);
        assert_eq!((state.step, state.total_steps), (200, 600));
        assert_eq!(state.losses.len(), 1);
        assert_eq!(state.config, config);
        assert_eq!(state.run_config, Some(config));
        assert!(state.notices[0].contains("step 200 of 600"));
        assert_eq!(state.checkpoint_cost, None);
        let state = reduce(
            state,
            Action::Worker(Event::Checkpointed {
                step: 260,
                bytes: 2_000_000,
                seconds: 0.5,
            }),
        );
        assert_eq!(state.checkpoint_step, Some(260));
        assert_eq!(state.checkpoint_cost, Some((2_000_000, 0.5)));
        let (busy, command) = running().reduce(interrupted(&meta));
        assert_eq!(command, None);
        assert_eq!(busy.step, 0);
        assert!(busy.notices.iter().any(|n| n.contains("was dropped")));
    }

    #[test]
    fn a_reload_during_a_sweep_goes_on_with_its_queue() {
        use crate::storage::{CheckpointMeta, SAVED_FORMAT, SavedRun, SavedSweep, SweepProgress};
        // Before the reload: the first of three runs finished and the second is training.
        let (state, _) =
            UiState::default().reduce(Action::StartSweep(Box::new(tiny_sweep()), None));
        assert_eq!(state.sweep_progress().unwrap().current, 0);
        let (before, command) = finish_run(state, 0.1);
        assert!(matches!(command, Some(Command::Start { .. })));
        let progress = before.sweep_progress().expect("the queue is running");
        assert_eq!(progress.current, 1);
        let progress = SweepProgress::from_json(&progress.to_json()).unwrap();
        let key = progress.id.clone();
        let saved = |state: &UiState, i: usize| {
            let run = &state.runs[i];
            SavedRun::new(&run.name, run.sweep_key.clone(), run.record.clone())
        };
        let first = saved(&before, 0);
        let plan = tiny_sweep().plan().unwrap();
        let checkpoint = |config: &ExperimentConfig| CheckpointMeta {
            format: SAVED_FORMAT.into(),
            config: config.clone(),
            step: 10,
            losses: vec![LossPoint {
                step: 10,
                loss: 1.0,
            }],
            evaluations: Vec::new(),
        };
        let reload = |runs: Vec<SavedRun>, run: Option<CheckpointMeta>, current: usize| {
            UiState::default().reduce(Action::Restore {
                runs,
                sweeps: vec![SavedSweep::new(&key, &tiny_sweep(), None)],
                skipped: Vec::new(),
                visit: 9,
                interrupted_run: run.map(Box::new),
                interrupted_sweep: Some(Box::new(SweepProgress {
                    current,
                    ..progress.clone()
                })),
            })
        };
        let instructions = |command: &Option<Command>| match command {
            Some(Command::Start { config, .. }) => config.task.instructions,
            other => panic!("expected a start, got {other:?}"),
        };

        // Its checkpoint: the second run goes on from step 10, then the queue goes on.
        let (state, command) = reload(vec![first.clone()], Some(checkpoint(&plan[1].config)), 1);
        assert!(matches!(command, Some(Command::ResumeSaved { .. })));
        let sweep = state.sweep.as_ref().unwrap();
        assert_eq!(
            (
                sweep.status,
                sweep.current,
                sweep.done.clone(),
                sweep.waiting()
            ),
            (SweepStatus::Running, Some(1), vec![0], 1)
        );
        assert_eq!(sweep.key, key);
        assert_eq!(state.step, 10);
        assert!(
            state
                .notices
                .iter()
                .any(|n| n.contains("sweep at run 2 of 3"))
        );
        assert!(state.notices.iter().any(|n| n.contains("step 10 of 20")));
        let (state, command) = finish_run(state, 0.3);
        assert_eq!(instructions(&command), 64);
        assert_eq!(state.runs[1].sweep_key.as_deref(), Some(key.as_str()));
        assert_eq!(state.sweep_progress().unwrap().current, 2);
        let (state, command) = finish_run(state, 0.5);
        assert_eq!(command, None);
        let sweep = state.sweep.as_ref().unwrap();
        assert_eq!(sweep.status, SweepStatus::Done);
        assert_eq!(sweep.grid(&state.runs).filled(), 3);
        assert_eq!(
            state.sweep_progress(),
            None,
            "a finished sweep is not kept as running"
        );

        // No checkpoint yet (the reload came before the first one): the run starts again.
        let (_, command) = reload(vec![first.clone()], None, 1);
        assert_eq!(instructions(&command), 16);
        // A checkpoint of another run is not this sweep's: its run starts again.
        let (_, command) = reload(vec![first.clone()], Some(checkpoint(&plan[2].config)), 1);
        assert_eq!(instructions(&command), 16);
        // The second run finished and was saved before the queue's next run was noted: not again.
        let (after_two, _) = finish_run(before.clone(), 0.3);
        let second = saved(&after_two, 1);
        let (state, command) = reload(vec![first.clone(), second.clone()], None, 1);
        assert_eq!(instructions(&command), 64);
        assert_eq!(state.sweep.as_ref().unwrap().done, [0, 1]);
        // Every run saved: the sweep is complete and nothing starts.
        let (after_three, _) = finish_run(after_two, 0.5);
        let third = saved(&after_three, 2);
        let (state, command) = reload(vec![first, second, third], None, 2);
        assert_eq!(command, None);
        assert_eq!(state.sweep.as_ref().unwrap().status, SweepStatus::Done);
    }

    #[test]
    fn a_lost_device_leaves_the_run_to_go_on_from_its_checkpoint_and_its_sweep_with_it() {
        let progress = |state: UiState, step: usize| {
            reduce(
                state,
                Action::Worker(Event::Progress {
                    step,
                    total_steps: 20,
                    loss: 1.0,
                    steps_per_second: 1.0,
                }),
            )
        };
        let lost = || {
            Action::Worker(Event::DeviceLost {
                message: "the GPU device was lost (destroyed)".into(),
            })
        };
        // Nothing kept yet: nothing to go on with.
        let state = reduce(progress(running(), 3), lost());
        assert_eq!((state.status, state.resumable), (RunStatus::Failed, None));
        assert_eq!(state.clone().reduce(Action::GoOn).1, None);
        // An error other than a lost device does not offer it either.
        let kept = |state: UiState| {
            reduce(
                state,
                Action::Worker(Event::Checkpointed {
                    step: 5,
                    bytes: 10,
                    seconds: 0.1,
                }),
            )
        };
        let state = reduce(
            progress(kept(progress(running(), 5)), 8),
            Action::Worker(Event::Error {
                message: "crashed".into(),
            }),
        );
        assert_eq!(state.resumable, None);

        // In a sweep: the second run is kept at step 5 and its device is lost at step 8.
        let (state, _) =
            UiState::default().reduce(Action::StartSweep(Box::new(tiny_sweep()), None));
        let (state, _) = finish_run(state, 0.1);
        let state = progress(kept(progress(state, 5)), 8);
        let state = reduce(state, lost());
        assert_eq!(
            state.resumable,
            Some(Resumable {
                step: 5,
                sweep_run: Some(1)
            })
        );
        assert_eq!(state.sweep.as_ref().unwrap().status, SweepStatus::Failed);
        assert_eq!(state.sweep_progress(), None);
        let (state, command) = state.reduce(Action::GoOn);
        assert!(matches!(command, Some(Command::ResumeSaved { .. })));
        assert_eq!(
            (state.status, state.step, state.resumable),
            (RunStatus::Starting, 5, None)
        );
        assert!(
            state.losses.iter().all(|p| p.step <= 5),
            "{:?}",
            state.losses
        );
        assert_eq!(state.error, None);
        let sweep = state.sweep.as_ref().unwrap();
        assert_eq!(
            (sweep.status, sweep.current),
            (SweepStatus::Running, Some(1))
        );
        assert_eq!(state.sweep_progress().unwrap().current, 1);
        // The queue goes on after it.
        let (_, command) = finish_run(state, 0.3);
        match command {
            Some(Command::Start { config, .. }) => assert_eq!(config.task.instructions, 64),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_storage_failure_outside_a_save_is_shown() {
        let state = reduce(
            UiState::default(),
            Action::StorageFailed("clearing saved runs failed".into()),
        );
        assert_eq!(
            state.storage_error.as_deref(),
            Some("clearing saved runs failed")
        );
    }
}

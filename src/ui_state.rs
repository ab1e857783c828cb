//! The page's state and its one reducer (yew's `function_todomvc` pattern, kept free of web crates
//! so it is tested natively). User events and worker events are both [`Action`]s; reducing an action
//! gives the next state and, when the worker must act, the [`Command`] to send it.

use crate::config::{ConfigError, ExperimentConfig};
use crate::metrics::EvalSummary;
use crate::metrics::LossPoint;
use crate::permalink::{Link, View};
use crate::presets::preset;
use crate::protocol::{BackendInfo, BackendPreference, Command, Event, SamplePrediction};
use crate::report::{RunRecord, SweepReport};
use crate::sweep::{apply_settings, get_path};
use std::collections::BTreeMap;

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
}

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
                    mut notices,
                } = *link;
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
                self.notices = notices;
                if autostart {
                    return self.reduce(Action::Start);
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
                    self.status = RunStatus::Starting;
                    self.backend = None;
                    self.step = 0;
                    self.total_steps = self.config.train.steps;
                    self.steps_per_second = 0.0;
                    self.losses.clear();
                    self.evaluations.clear();
                    self.samples.clear();
                    self.fingerprint = None;
                    self.error = None;
                    self.record = None;
                    self.imported = None;
                    self.import_error = None;
                    Some(Command::Start {
                        config: Box::new(self.config.clone()),
                        backend: if self.force_cpu {
                            BackendPreference::Cpu
                        } else {
                            BackendPreference::Auto
                        },
                    })
                }
            },
            Action::Pause => (self.status == RunStatus::Running).then_some(Command::Pause),
            Action::Resume => (self.status == RunStatus::Paused).then_some(Command::Resume),
            Action::Step => (self.status == RunStatus::Paused).then_some(Command::Step {
                steps: STEP_BUTTON_STEPS,
            }),
            Action::Stop => {
                if self.is_active() {
                    self.status = RunStatus::Idle;
                    Some(Command::Stop)
                } else {
                    None
                }
            }
            Action::Worker(event) => {
                self.apply_event(event);
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
        // Events of a stopped or failed run can still be in flight: they change nothing.
        if !self.is_active() {
            return;
        }
        match event {
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
            } => {
                self.evaluations.push(summary);
                self.samples = samples;
                self.fingerprint = Some(fingerprint);
            }
            Event::Paused { step } => {
                self.step = step;
                self.status = RunStatus::Paused;
            }
            Event::Resumed => self.status = RunStatus::Running,
            Event::Record { record } => self.record = Some(*record),
            Event::Finished { step } => {
                self.step = step;
                self.status = RunStatus::Finished;
            }
            Event::Error { message } => self.fail(message),
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
}

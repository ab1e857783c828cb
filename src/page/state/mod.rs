//! The page's state in parts, each with its own actions and reducer, kept free of web crates so it
//! is tested natively (yew's `function_todomvc` keeps state, actions and components apart the same
//! way; at this size the state is split by concern):
//! - [`settings`]: the settings of the next run;
//! - [`run`]: the live run, as the worker reports it;
//! - [`library`]: finished runs (this visit's, earlier visits', imported files'), comparison, storage;
//! - [`sweep`]: the sweep builder and the sweep queue;
//! - [`inspector`]: the inspected run, its rules and try-your-own;
//! - [`inside`]: the view inside the inspected run's model: head scores, embedding, ablation;
//! - [`lessons`]: the open lesson and the reader's prediction;
//! - [`restore`]: going on after a reload or a lost GPU device;
//! - [`context`]: where the page was opened and what the browser gives it there (plain http,
//!   storage, a worker of another build).
//!
//! [`PageState`] holds each part behind an `Rc`: an action copies the parts it changes and shares
//! the others, so a worker event costs the same with 200 finished runs loaded as with none, and a
//! component given one part re-renders only when that part changed. User events and worker events
//! are both [`Action`]s; reducing one gives the next state and every [`Command`] the workers must
//! receive ([`Sent`]: the page's own worker's and the helpers', in the order to post them). Actions
//! that touch several parts (a start, a finished run, a link) are reduced here, each part through
//! its own methods.

pub mod class;
pub mod context;
pub mod inside;
pub mod inspector;
pub mod lessons;
pub mod library;
pub mod restore;
pub mod run;
pub mod settings;
pub mod sweep;

use crate::engine::config::{ConfigError, ExperimentConfig, ValidConfig};
use crate::engine::metrics::Evaluation;
use crate::engine::question::{check_program_question, check_question};
use crate::engine::settings::shorten;
use crate::page::link::{Link, View};
use crate::protocol::{
    BackendPreference, Command, Event, MAX_PAGE_STACK, RunEvent, SAMPLES_PER_SPLIT, Work,
};
use crate::study::lessons::lesson;
use crate::study::presets::preset;
use crate::study::record::{RunRecord, SweepReport};
use crate::study::sweep::SweepSpec;
use class::{ClassAction, ClassRoom};
use context::{ContextAction, PageContext};
use inside::{InsideAction, InsideView};
use inspector::{Inspector, InspectorAction};
use lessons::{LessonAction, LessonState};
use library::{FinishedRun, Kept, Library, LibraryAction};
use restore::RestoreAction;
use run::{LiveRun, Resumable, RunOutcome, RunStatus};
use settings::{Settings, SettingsAction};
use std::rc::Rc;
use sweep::{MAX_WORKERS, OtherRun, SweepField, SweepQueue, SweepState, SweepStatus};

/// Everything the page shows, in parts.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PageState {
    /// The settings of the next run.
    pub settings: Rc<Settings>,
    /// What a teacher's link hides or locks.
    pub view: Rc<View>,
    /// What an opened link could not use, and what a reload did (shown until dismissed).
    pub notices: Rc<Vec<String>>,
    /// The live run.
    pub run: Rc<LiveRun>,
    /// Finished runs, comparison and storage.
    pub library: Rc<Library>,
    /// The sweep builder and queue.
    pub sweep: Rc<SweepQueue>,
    /// The inspector and try-your-own.
    pub inspector: Rc<Inspector>,
    /// The view inside the inspected run's model.
    pub inside: Rc<InsideView>,
    /// The lesson open, if any.
    pub lesson: Option<LessonState>,
    /// A link opened in the address bar while a run trains, waiting for the reader's choice (or, when
    /// `deferred`, for the run to end): the address bar shows the page's own link meanwhile.
    pub pending_link: Option<PendingLink>,
    /// Counts the links opened: a form field drops what was being typed into it when one opens,
    /// even where the link leaves that field's value as it was.
    pub links_opened: u64,
    /// Where the page was opened and what the browser gives it there.
    pub context: Rc<PageContext>,
    /// The class the page trains for or teaches, if a class link opened it.
    pub class: Rc<ClassRoom>,
}

/// Which worker a command is for, or an event or failure comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Worker {
    /// The page's own worker: the run panel's run, and the runs stacked with it.
    #[default]
    Own,
    /// Helper worker `slot`, training another run of the sweep at once (see
    /// [`SweepQueue::workers`]).
    Helper(usize),
}

impl Worker {
    /// The action of an event this worker said.
    pub fn said(self, event: Event) -> Action {
        match self {
            Worker::Own => Action::Worker(event),
            Worker::Helper(slot) => Action::Helper(slot, event),
        }
    }

    /// The action of this worker dying or not being reached.
    pub fn failed(self, message: String) -> Action {
        match self {
            Worker::Own => Action::WorkerFailed(message),
            Worker::Helper(slot) => Action::HelperFailed(slot, message),
        }
    }
}

/// The commands reducing one action gives, each with its worker, in the order to post them.
pub type Sent = Vec<(Worker, Command)>;

/// A link that arrived while a run trains.
#[derive(Clone, Debug, PartialEq)]
pub struct PendingLink {
    /// What it opens.
    pub link: Rc<Link>,
    /// Open it once the run (and its sweep) ends, rather than asking.
    pub deferred: bool,
}

/// What to do with a link that arrived while a run trains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PendingChoice {
    /// Stop the run (and its sweep) and open the link now.
    OpenNow,
    /// Open it once the run ends.
    OpenAfter,
    /// Keep the run and forget the link.
    Forget,
}

/// The run controls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunAction {
    /// Start a run with the current settings.
    Start,
    /// Pause training.
    Pause,
    /// Resume training.
    Resume,
    /// Take a few steps while paused.
    Step,
    /// Stop the run (and the sweep it belongs to).
    Stop,
}

/// The sweep builder and queue.
#[derive(Clone, Debug, PartialEq)]
pub enum SweepAction {
    /// One field of the builder changed (its input).
    Edit(SweepField, String),
    /// Run the sweep the builder describes, over the current settings.
    StartForm,
    /// Run every point of a sweep, one after another, with the lesson that asked for it (if any).
    Start(Box<SweepSpec>, Option<String>),
    /// Stop the sweep: the runs in progress end, the finished runs stay.
    Cancel,
    /// Train a sweep's runs in this many workers at once (the next sweep; clamped to 1..=16).
    Workers(usize),
    /// The Workers field as typed: a whole number from 1 to 16, else an error that names the
    /// field and keeps the number in use.
    WorkersText(String),
    /// The "Stacked on WebGPU" field as typed: a whole number from 1 to
    /// [`MAX_PAGE_STACK`], else an error that names the field and keeps the number in use.
    StackText(String),
}

/// Something that happened: a user event or a worker event.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// A change to the settings.
    Settings(SettingsAction),
    /// Open a share link: its settings, backend choice and notices; it may start the run.
    OpenLink(Box<Link>),
    /// The address bar changed to another link (typed, pasted, a clicked link, Back or Forward):
    /// opened at once when nothing trains, else held for the reader's choice.
    LinkChanged(Box<Link>),
    /// The reader's choice about the link held while a run trains.
    PendingLink(PendingChoice),
    /// Hide the notices.
    DismissNotices,
    /// A run control.
    Run(RunAction),
    /// The worker said something.
    Worker(Event),
    /// The worker died or could not be reached.
    WorkerFailed(String),
    /// Helper worker `slot` (training another run of the sweep) said something.
    Helper(usize, Event),
    /// Helper worker `slot` died or could not be reached.
    HelperFailed(usize, String),
    /// A change to the library alone.
    Library(LibraryAction),
    /// Show a results file (the page's export or `idp sweep`'s output), checked by
    /// [`SweepReport::from_json`].
    Import(Box<SweepReport>),
    /// Show another run of the imported file.
    ShowImported(usize),
    /// Remove every saved run and sweep (storage has been cleared).
    ClearSaved,
    /// The sweep builder and queue.
    Sweep(SweepAction),
    /// Inspect a finished run (an index into the library's runs); `None` inspects the current run.
    OpenRun(Option<usize>),
    /// A change to the inspector alone.
    Inspector(InspectorAction),
    /// Put a typed rule `x -> y` and input `z` to the inspected run's model.
    Ask {
        /// The pattern.
        x: String,
        /// The replacement.
        y: String,
        /// The input.
        z: String,
    },
    /// Put a typed program (`x1 -> y1; x2 -> y2`) and input `z` to the inspected run's model.
    AskProgram {
        /// The program, as [`crate::engine::task::Instruction::parse`] reads it.
        program: String,
        /// The input.
        z: String,
    },
    /// A change to the view inside the model alone.
    Inside(InsideAction),
    /// Evaluate the inspected run's model with these heads silenced (`(layer, head)`, 0-based).
    Ablate(Vec<(usize, usize)>),
    /// The lesson.
    Lesson(LessonAction),
    /// Going on after a reload or a lost device.
    Restore(RestoreAction),
    /// What the page found of where it runs.
    Context(ContextAction),
    /// The class the page trains for or teaches.
    Class(ClassAction),
}

/// The run the inspector, try-your-own and attention views look at: the opened finished run, or the
/// run in progress (or last run). Its settings and evaluations, oldest first.
pub fn inspected<'a>(
    inspector: &Inspector,
    library: &'a Library,
    run: &'a LiveRun,
) -> Option<(&'a ExperimentConfig, &'a [Rc<Evaluation>])> {
    match inspector.opened.and_then(|i| library.runs.get(i)) {
        Some(finished) => Some((&finished.record.config, &finished.history)),
        None => Some((run.config.as_deref()?, &run.history)),
    }
}

/// The inspected run's head scores and embedding projections (one per evaluation that measured
/// them, oldest first) and its evaluations' headline numbers: from its evaluations this visit, or
/// from its record (a run saved earlier or imported).
pub fn inspected_inside<'a>(
    inspector: &Inspector,
    library: &'a Library,
    run: &'a LiveRun,
) -> (
    Vec<&'a crate::engine::mechanism::Inside>,
    Vec<crate::engine::metrics::EvalSummary>,
) {
    let from_history =
        |history: &'a [Rc<Evaluation>]| -> Vec<&'a crate::engine::mechanism::Inside> {
            history.iter().filter_map(|e| e.inside.as_ref()).collect()
        };
    match inspector.opened.and_then(|i| library.runs.get(i)) {
        Some(finished) => {
            let insides = from_history(&finished.history);
            let insides = if insides.is_empty() {
                finished.record.inside.iter().collect()
            } else {
                insides
            };
            (insides, finished.record.evaluations.clone())
        }
        None => (from_history(&run.history), run.evaluations.clone()),
    }
}

/// Steps taken by one press of the step button.
pub const STEP_BUTTON_STEPS: usize = 10;

impl Action {
    /// The question about `instruction` on `z`: a rule's `x` and `y`, or a program's text.
    pub fn ask_about(instruction: &crate::engine::task::Instruction, z: &str) -> Action {
        match instruction.as_rule() {
            Some(rule) => Action::Ask {
                x: rule.x.clone(),
                y: rule.y.clone(),
                z: z.to_string(),
            },
            None => Action::AskProgram {
                program: instruction.to_string(),
                z: z.to_string(),
            },
        }
    }
}

impl PageState {
    /// Whether a run is in progress in the page's own worker (started and neither finished, failed
    /// nor stopped).
    pub fn is_active(&self) -> bool {
        self.run.is_active()
    }

    /// Where the settings in the form come from, for their one-line summary: the chosen preset's
    /// title, the open lesson's (while the form holds that lesson's settings), or "Custom".
    pub fn settings_origin(&self) -> String {
        if let Some(found) = self.settings.preset.as_deref().and_then(preset) {
            return found.title.to_string();
        }
        self.lesson
            .as_ref()
            .and_then(|open| lesson(&open.id))
            .filter(|found| *self.settings.config == found.sweep.base)
            .map_or_else(
                || "Custom".to_string(),
                |found| format!("Lesson: {}", found.title),
            )
    }

    /// Whether anything trains: the page's own worker, or a helper training a sweep's run.
    pub fn is_busy(&self) -> bool {
        self.is_active() || self.sweep.running().is_some_and(|s| s.helpers_busy())
    }

    /// Tells each helper in `slots` to stop.
    fn stop_helpers(slots: Vec<usize>, out: &mut Sent) {
        out.extend(
            slots
                .into_iter()
                .map(|slot| (Worker::Helper(slot), Command::Stop)),
        );
    }

    /// Sends `command` to every helper training a run of the running sweep.
    fn tell_helpers(&self, command: &Command, out: &mut Sent) {
        let busy: Vec<usize> = self
            .sweep
            .running()
            .map(|s| {
                (0..s.elsewhere.len())
                    .filter(|&i| s.elsewhere[i].is_some())
                    .collect()
            })
            .unwrap_or_default();
        out.extend(
            busy.into_iter()
                .map(|slot| (Worker::Helper(slot), command.clone())),
        );
    }

    /// Gives each idle helper a waiting run of the running sweep. Helpers train on the CPU: they
    /// are started once the page's own worker has fallen back to it (a GPU is best used by one
    /// worker).
    fn fill_helpers(&mut self, out: &mut Sent) {
        for slot in self.sweep.idle_helpers() {
            self.start_helper(slot, out);
        }
    }

    /// Gives helper `slot` the running sweep's next waiting run, if one waits; returns whether it
    /// got one.
    fn start_helper(&mut self, slot: usize, out: &mut Sent) -> bool {
        let Some(config) = Rc::make_mut(&mut self.sweep).start_elsewhere(slot) else {
            return false;
        };
        out.push((
            Worker::Helper(slot),
            Command::Train {
                work: Work::Fresh { runs: vec![config] },
                backend: BackendPreference::Cpu,
            },
        ));
        true
    }

    /// What helper `slot` said about the sweep's run it trains (its one run, member 0). A failed
    /// helper stops the whole sweep.
    fn helper_event(&mut self, slot: usize, event: Event, out: &mut Sent) {
        let message = match event {
            // Answers come whether or not the helper trains (it keeps the models it trained).
            Event::Answer { answer } => {
                Rc::make_mut(&mut self.inspector).answered(answer.map(|a| *a));
                return;
            }
            Event::Ablated { ablated } => {
                Rc::make_mut(&mut self.inside).answered(ablated.map(|a| *a));
                return;
            }
            Event::Member { said, .. } => {
                match self.other_run_event(OtherRun::Helper(slot), said) {
                    Some(RunEvent::Finished { .. }) => {
                        let started = self.start_helper(slot, out);
                        // A sweep paused meanwhile keeps the new run paused too.
                        if started && self.run.status == RunStatus::Paused {
                            out.push((Worker::Helper(slot), Command::Pause));
                        }
                        return;
                    }
                    Some(RunEvent::Failed { message }) => message,
                    _ => return,
                }
            }
            Event::Error { message } | Event::DeviceLost { message } => message,
            Event::CheckpointFailed { message } => {
                if self
                    .sweep
                    .running()
                    .is_some_and(|s| s.elsewhere.get(slot).is_some_and(Option::is_some))
                {
                    Rc::make_mut(&mut self.library).storage_error = Some(format!(
                        "the run in helper worker {} could not be checkpointed, so a reload would start it again: {message}",
                        slot + 1
                    ));
                }
                return;
            }
            Event::Ready { .. }
            | Event::Training { .. }
            | Event::Checkpointed { .. }
            | Event::Paused { .. }
            | Event::Resumed => return,
        };
        self.helper_failed(slot, message, out);
    }

    /// A helper's run failed: the sweep fails, as when the page's own run does, and everything
    /// else stops.
    fn helper_failed(&mut self, slot: usize, message: String, out: &mut Sent) {
        let Some(plan) = self
            .sweep
            .running()
            .and_then(|s| s.elsewhere.get(slot)?.as_ref().map(|e| e.plan))
        else {
            return;
        };
        let (_, busy) = Rc::make_mut(&mut self.sweep).fail();
        Self::stop_helpers(busy.into_iter().filter(|&b| b != slot).collect(), out);
        Rc::make_mut(&mut self.sweep).error = Some(format!(
            "run {} of the sweep failed in helper worker {}: {message}",
            plan + 1,
            slot + 1
        ));
        if self.is_active() {
            Rc::make_mut(&mut self.run).status = RunStatus::Idle;
            out.push((Worker::Own, Command::Stop));
        }
    }

    /// Seconds until the running sweep's queue is done, when known.
    pub fn sweep_seconds_left(&self) -> Option<f64> {
        self.sweep.seconds_left(
            &self.library.runs,
            self.run.total_steps.saturating_sub(self.run.step),
            self.run.steps_per_second,
        )
    }

    /// The run the inspector, try-your-own and attention views look at (see [`inspected`]).
    pub fn inspected(&self) -> Option<(&ExperimentConfig, &[Rc<Evaluation>])> {
        inspected(&self.inspector, &self.library, &self.run)
    }

    /// The name of the run whose model try-your-own asks (see [`inspected`]): the opened run's, else
    /// the run in progress or the last one, by its rule count.
    pub fn inspected_name(&self) -> Option<String> {
        if let Some(run) = self.inspector.opened.and_then(|i| self.library.runs.get(i)) {
            return Some(run.name.clone());
        }
        let config = self.run.config.as_deref()?;
        let which = if self.is_active() {
            "the run in progress"
        } else {
            "the last run"
        };
        Some(format!("{which} ({} rules)", config.task.instructions))
    }

    /// What the browser's storage should hold of the running sweep (see [`SweepQueue::progress`]).
    pub fn sweep_progress(&self) -> Option<crate::page::storage::SweepProgress> {
        let mut progress = self.sweep.progress()?;
        // The prediction lives with the open lesson, not the queue.
        progress.prediction = self
            .lesson
            .as_ref()
            .filter(|open| progress.lesson.as_ref() == Some(&open.id))
            .and_then(|open| open.prediction);
        Some(progress)
    }

    fn backend_preference(&self) -> BackendPreference {
        if self.settings.force_cpu {
            BackendPreference::Cpu
        } else {
            BackendPreference::Auto
        }
    }

    fn notice(&mut self, text: String) {
        Rc::make_mut(&mut self.notices).push(text);
    }

    /// Clears what the page shows of the last run, for a run of `config` that is starting.
    fn prepare_run(&mut self, config: &ValidConfig) {
        Rc::make_mut(&mut self.run).begin(config);
        if self.library.imported.is_some() || self.library.import_error.is_some() {
            let library = Rc::make_mut(&mut self.library);
            library.imported = None;
            library.import_error = None;
        }
        Rc::make_mut(&mut self.inspector).follow_new_run();
        let inside = Rc::make_mut(&mut self.inside);
        inside.open();
        // "The run in progress" is another run now: the last one's ablations are not its.
        inside.done.retain(|(run, _)| run.is_some());
    }

    /// Resets the live run's view and asks the worker to train `runs` (the run panel's first).
    fn begin_run(&mut self, runs: Vec<ValidConfig>) -> Command {
        self.prepare_run(&runs[0]);
        Command::Train {
            work: Work::Fresh { runs },
            backend: self.backend_preference(),
        }
    }

    /// Starts the running sweep's next planned run, or marks the sweep done. Unless the CPU is
    /// forced, the runs that can stack with it go along: the worker trains them together on
    /// WebGPU, and says with [`Event::Training`] if it trains fewer.
    fn next_sweep_run(&mut self) -> Option<Command> {
        self.sweep.running()?;
        let stack = match self.backend_preference() {
            BackendPreference::Auto => self.sweep.stack,
            BackendPreference::Cpu => 1,
        };
        let configs = Rc::make_mut(&mut self.sweep).start_next(stack)?;
        Some(self.begin_run(configs))
    }

    /// Keeps the run that just finished in the page's own worker (its record and evaluations)
    /// among the session's runs.
    fn keep_finished_run(&mut self, record: RunRecord) {
        let record = self.keep_run(record, None, None, self.run.history.clone());
        if self.class.training.is_some() {
            let fingerprint = self.run.fingerprint.clone().unwrap_or_default();
            let backend = self
                .run
                .backend
                .as_ref()
                .map_or_else(|| "CPU".to_string(), |b| b.description.clone());
            Rc::make_mut(&mut self.class).trained(&record, &fingerprint, &backend);
        }
        Rc::make_mut(&mut self.run).record = Some(record);
    }

    /// Keeps a finished run among the session's runs, filed under the running sweep (as its run
    /// `plan`, or the page worker's `current` run when `None`) when one runs; `helper` is the
    /// helper worker that trained it (which keeps its model), `None` for the page's own worker.
    /// Returns its record as kept.
    fn keep_run(
        &mut self,
        record: RunRecord,
        plan: Option<usize>,
        helper: Option<usize>,
        history: Vec<Rc<Evaluation>>,
    ) -> Rc<RunRecord> {
        let index = self.library.runs.len();
        let (record, name, sweep_key) = match self.sweep.running() {
            Some(_) => Rc::make_mut(&mut self.sweep)
                .finished(index, plan, record)
                .map(|(record, name, key)| (record, name, Some(key)))
                .expect("a running sweep files its run"),
            None => (record, None, None),
        };
        let name = name.unwrap_or_else(|| {
            format!(
                "run {} (I = {})",
                index + 1,
                record.config.task.instructions
            )
        });
        let record = Rc::new(record);
        Rc::make_mut(&mut self.library).keep(FinishedRun {
            name,
            record: record.clone(),
            history,
            kept: Kept::Pending,
            sweep_key,
            helper,
        });
        record
    }

    /// The next state, and every command the workers must receive, in the order to post them.
    pub fn reduce(mut self, action: Action) -> (Self, Sent) {
        let mut out = Sent::new();
        let command = match action {
            // The form is read-only while anything trains; a change that still arrives (a field
            // committed as it is disabled, say) would make the form show what the run does not use.
            Action::Settings(
                change @ (SettingsAction::Set(..)
                | SettingsAction::SetText(..)
                | SettingsAction::LoadPreset(_)),
            ) if self.is_busy() => {
                let name = match change {
                    SettingsAction::Set(path, _) | SettingsAction::SetText(path, _) => path,
                    _ => "preset".into(),
                };
                Rc::make_mut(&mut self.settings).error = Some(ConfigError::new(
                    name,
                    "cannot change while a run trains: stop it first",
                ));
                None
            }
            Action::Settings(change) => {
                Rc::make_mut(&mut self.settings).reduce(change, &self.view);
                None
            }
            Action::OpenLink(link) => return self.open_link(*link, out),
            Action::LinkChanged(link) if self.is_active() || self.sweep.running().is_some() => {
                self.pending_link = Some(PendingLink {
                    link: Rc::new(*link),
                    deferred: false,
                });
                None
            }
            Action::LinkChanged(link) => return self.open_link(*link, out),
            Action::PendingLink(choice) => {
                let Some(pending) = self.pending_link.take() else {
                    return (self, out);
                };
                match choice {
                    PendingChoice::Forget => None,
                    PendingChoice::OpenAfter => {
                        self.pending_link = Some(PendingLink {
                            deferred: true,
                            ..pending
                        });
                        None
                    }
                    PendingChoice::OpenNow => {
                        // The stop reaches the workers first, then what the link starts.
                        let (stopped, stop) = self.reduce(Action::Run(RunAction::Stop));
                        return stopped.open_link(Rc::unwrap_or_clone(pending.link), stop);
                    }
                }
            }
            Action::Class(action) => {
                let class = Rc::make_mut(&mut self.class);
                let train = class.reduce(action, crate::protocol::BUILD);
                if let Some(config) = train {
                    if self.is_busy() {
                        Rc::make_mut(&mut self.class)
                            .reduce(ClassAction::Busy, crate::protocol::BUILD);
                    } else {
                        let settings = Rc::make_mut(&mut self.settings);
                        settings.config = config;
                        settings.error = None;
                        settings.preset = None;
                        let (state, started) = self.reduce(Action::Run(RunAction::Start));
                        out.extend(started);
                        return (state, out);
                    }
                }
                None
            }
            Action::DismissNotices => {
                self.notices = Rc::default();
                None
            }
            // Start is closed while anything trains; a click that still arrives (a helper's run
            // is the sweep's last, the page's own worker idle) must not cancel the sweep unasked.
            Action::Run(RunAction::Start) if self.is_busy() => {
                self.notice("a sweep is training: cancel it before starting one run".into());
                None
            }
            Action::Run(RunAction::Start) => {
                if self.sweep.running().is_some() {
                    let busy = Rc::make_mut(&mut self.sweep).cancel();
                    Self::stop_helpers(busy, &mut out);
                }
                let config = self.settings.config.clone();
                Some(self.begin_run(vec![config]))
            }
            Action::Run(RunAction::Pause) => {
                let pause = self.run.status == RunStatus::Running;
                if pause {
                    self.tell_helpers(&Command::Pause, &mut out);
                }
                pause.then_some(Command::Pause)
            }
            Action::Run(RunAction::Resume) => {
                let resume = self.run.status == RunStatus::Paused;
                if resume {
                    self.tell_helpers(&Command::Resume, &mut out);
                }
                resume.then_some(Command::Resume)
            }
            Action::Run(RunAction::Step) => {
                (self.run.status == RunStatus::Paused).then_some(Command::Step {
                    steps: STEP_BUTTON_STEPS,
                })
            }
            Action::Run(RunAction::Stop) | Action::Sweep(SweepAction::Cancel) => {
                if self.sweep.running().is_some() {
                    let busy = Rc::make_mut(&mut self.sweep).cancel();
                    Self::stop_helpers(busy, &mut out);
                }
                if self.is_active() {
                    Rc::make_mut(&mut self.run).status = RunStatus::Idle;
                    if self.class.training.is_some() {
                        Rc::make_mut(&mut self.class)
                            .reduce(ClassAction::Stopped, crate::protocol::BUILD);
                    }
                    Some(Command::Stop)
                } else {
                    None
                }
            }
            Action::Worker(event) => self.worker_event(event, &mut out),
            Action::WorkerFailed(message) => {
                if self.class.training.is_some() {
                    Rc::make_mut(&mut self.class).failed(&message);
                }
                Rc::make_mut(&mut self.run).worker_failed(message);
                None
            }
            Action::Context(change) => {
                // A refused worker ends what waited for it, as a worker that failed to load does:
                // the page's own worker its run, a helper its share of the sweep.
                let stale = match &change {
                    ContextAction::StaleWorker(_, worker) => Some(*worker),
                    _ => None,
                };
                if let ContextAction::Storage(None) = change
                    && self.context.storage.is_some()
                {
                    // What was said while storage was missing no longer holds.
                    Rc::make_mut(&mut self.library).storage_error = None;
                    self.notice("the browser's storage answers again: runs are saved from now on (runs saved before show after a reload)".into());
                }
                Rc::make_mut(&mut self.context).reduce(change);
                let why = "it is of another build than the page; reload the page".to_string();
                match stale {
                    Some(Worker::Own) => {
                        if self.class.training.is_some() {
                            Rc::make_mut(&mut self.class).failed(&why);
                        }
                        Rc::make_mut(&mut self.run).worker_failed(why);
                    }
                    Some(Worker::Helper(slot)) => {
                        self.helper_failed(slot, format!("the worker stopped: {why}"), &mut out)
                    }
                    None => {}
                }
                None
            }
            Action::Helper(slot, event) => {
                self.helper_event(slot, event, &mut out);
                None
            }
            Action::HelperFailed(slot, message) => {
                self.helper_failed(slot, format!("the worker stopped: {message}"), &mut out);
                None
            }
            Action::Library(change) => {
                Rc::make_mut(&mut self.library).reduce(change);
                None
            }
            Action::Import(_) | Action::ShowImported(_) if self.is_busy() => {
                Rc::make_mut(&mut self.library).import_error =
                    Some("stop the run before showing a results file".into());
                None
            }
            Action::Import(report) => {
                // The file's runs join the session's, and its sweep shows in the sweep views.
                let spec = report.spec.clone();
                let indices = Rc::make_mut(&mut self.library).import(*report);
                if !spec.axes.is_empty() {
                    Rc::make_mut(&mut self.sweep).sweep = Some(SweepState::shown(
                        spec,
                        indices.collect(),
                        SweepStatus::Imported,
                        None,
                        String::new(),
                    ));
                }
                self.show_imported(0);
                None
            }
            Action::ShowImported(index) => {
                self.show_imported(index);
                None
            }
            Action::ClearSaved if self.is_busy() => {
                Rc::make_mut(&mut self.library).storage_error =
                    Some("stop the run before clearing saved runs".into());
                None
            }
            Action::ClearSaved => {
                Rc::make_mut(&mut self.run).resumable = None;
                Rc::make_mut(&mut self.library).clear();
                Rc::make_mut(&mut self.sweep).sweep = None;
                Rc::make_mut(&mut self.inspector).opened = None;
                // Their runs are gone: so are the ablations kept by run.
                Rc::make_mut(&mut self.inside).done.clear();
                None
            }
            Action::Sweep(SweepAction::Workers(workers)) => {
                Rc::make_mut(&mut self.sweep).set_workers(workers);
                None
            }
            Action::Sweep(SweepAction::WorkersText(text)) => {
                let queue = Rc::make_mut(&mut self.sweep);
                match count("Workers", &text, MAX_WORKERS, queue.workers) {
                    Ok(workers) => {
                        queue.set_workers(workers);
                        queue.error = None;
                    }
                    Err(why) => queue.error = Some(why),
                }
                None
            }
            Action::Sweep(SweepAction::StackText(text)) => {
                let queue = Rc::make_mut(&mut self.sweep);
                match count("Stacked on WebGPU", &text, MAX_PAGE_STACK, queue.stack) {
                    Ok(stack) => {
                        queue.stack = stack;
                        queue.error = None;
                    }
                    Err(why) => queue.error = Some(why),
                }
                None
            }
            Action::Sweep(SweepAction::Edit(field, value)) => {
                let sweep = Rc::make_mut(&mut self.sweep);
                sweep.form = std::mem::take(&mut sweep.form).with(field, value);
                None
            }
            Action::Sweep(SweepAction::StartForm) => {
                match self.sweep.form.spec(&self.settings.config) {
                    Ok(spec) => return self.start_sweep(spec, None, out),
                    Err(e) => {
                        Rc::make_mut(&mut self.sweep).error =
                            Some(format!("this sweep cannot run: {e}"));
                        None
                    }
                }
            }
            Action::Sweep(SweepAction::Start(spec, lesson)) => {
                return self.start_sweep(*spec, lesson, out);
            }
            Action::OpenRun(index) => {
                let index = index.filter(|&i| i < self.library.runs.len());
                Rc::make_mut(&mut self.inspector).open(index);
                Rc::make_mut(&mut self.inside).open();
                // The opened run's curves replace the live ones only when nothing trains.
                if let Some(run) = index.map(|i| self.library.runs[i].clone())
                    && !self.is_active()
                {
                    Rc::make_mut(&mut self.run).show(&run.record, &run.history, SAMPLES_PER_SPLIT);
                }
                None
            }
            Action::Inspector(change) => {
                Rc::make_mut(&mut self.inspector).reduce(change);
                None
            }
            Action::Ask { x, y, z } => self.ask(|task| check_question(task, &x, &y, &z), &mut out),
            Action::AskProgram { program, z } => {
                self.ask(|task| check_program_question(task, &program, &z), &mut out)
            }
            Action::Inside(change) => {
                Rc::make_mut(&mut self.inside).reduce(change);
                None
            }
            Action::Ablate(heads) => self.ablate(heads, &mut out),
            Action::Lesson(change) => return self.lesson_action(change, out),
            Action::Restore(change) => return self.restore(change, out),
        };
        out.extend(command.map(|c| (Worker::Own, c)));
        // A link the reader chose to open once the run ends opens now that it has.
        if self.pending_link.as_ref().is_some_and(|p| p.deferred)
            && !self.is_active()
            && self.sweep.running().is_none()
            && !out
                .iter()
                .any(|(to, c)| *to == Worker::Own && matches!(c, Command::Train { .. }))
        {
            let pending = self.pending_link.take().expect("checked");
            return self.open_link(Rc::unwrap_or_clone(pending.link), out);
        }
        (self, out)
    }

    fn worker_event(&mut self, event: Event, out: &mut Sent) -> Option<Command> {
        // Answers come whether or not a run trains.
        match event {
            Event::Answer { answer } => {
                Rc::make_mut(&mut self.inspector).answered(answer.map(|a| *a));
                return None;
            }
            Event::Ablated { ablated } => {
                Rc::make_mut(&mut self.inside).answered(ablated.map(|a| *a));
                return None;
            }
            _ => {}
        }
        // Events of a stopped or failed run can still be in flight: they change nothing.
        if !self.is_active() {
            return None;
        }
        let outcome = match event {
            Event::Member { member: 0, said } => {
                // A diverged run ends alone; the runs trained with it would go on for nothing.
                if matches!(said, RunEvent::Failed { .. }) && self.run.is_active() {
                    out.push((Worker::Own, Command::Stop));
                }
                Rc::make_mut(&mut self.run).apply_run(said)
            }
            Event::Member { member, said } => {
                // Another run of the worker's training. Its `Finished` needs nothing: member 0's
                // ends the training and starts the next; its failure fails the sweep.
                match self.other_run_event(OtherRun::Stacked(member), said) {
                    Some(RunEvent::Failed { message }) => self.stacked_failed(member, message, out),
                    _ => None,
                }
                .unwrap_or(RunOutcome::Nothing)
            }
            Event::Training {
                runs, ref backend, ..
            } => {
                Rc::make_mut(&mut self.sweep).keep_stacked(runs);
                let on_cpu = backend.kind == crate::protocol::BackendKind::Cpu;
                let outcome = Rc::make_mut(&mut self.run).apply(event);
                if on_cpu {
                    self.fill_helpers(out);
                }
                outcome
            }
            Event::CheckpointFailed { ref message } => {
                Rc::make_mut(&mut self.library).storage_error = Some(format!(
                    "the run in progress could not be checkpointed, so a reload would lose it: {message}"
                ));
                Rc::make_mut(&mut self.run).apply(event)
            }
            event => Rc::make_mut(&mut self.run).apply(event),
        };
        match outcome {
            RunOutcome::Nothing => None,
            RunOutcome::Record(record) => {
                self.keep_finished_run(*record);
                None
            }
            RunOutcome::Finished => self.next_sweep_run(),
            RunOutcome::Failed { lost_device } => {
                if self.class.training.is_some() {
                    let why = self.run.error.clone().unwrap_or_default();
                    Rc::make_mut(&mut self.class).failed(&why);
                }
                let (own, busy) = Rc::make_mut(&mut self.sweep).fail();
                Self::stop_helpers(busy, out);
                if lost_device {
                    let run = Rc::make_mut(&mut self.run);
                    run.resumable = run.checkpoint_step.map(|step| Resumable {
                        step,
                        sweep_run: own.first().copied(),
                        stacked: own.get(1..).unwrap_or_default().to_vec(),
                    });
                }
                None
            }
        }
    }

    /// Run `member` (1 or more) of the worker's training diverged: the worker goes on with the
    /// others, but the sweep fails, as when any of its runs fails, so the worker is stopped and the
    /// run panel says which run it was.
    fn stacked_failed(
        &mut self,
        member: usize,
        message: String,
        out: &mut Sent,
    ) -> Option<RunOutcome> {
        let sweep = self.sweep.running()?;
        let plan = sweep.stacked.get(member.checked_sub(1)?)?.plan;
        let config = &sweep.plan[plan].config;
        let message = format!(
            "run {} of the sweep, trained together with this one ({} rules, seed {}), failed: {message}",
            plan + 1,
            config.task.instructions,
            config.seed
        );
        Rc::make_mut(&mut self.run).fail(message);
        out.push((Worker::Own, Command::Stop));
        Some(RunOutcome::Failed { lost_device: false })
    }

    /// The progress, evaluations and record of the sweep's run trained `at`, beside the run
    /// panel's: they show in the queue, and the record is kept as the sweep's run. Its end or
    /// failure is given back for the caller; nothing is when no run trains there now (a late event
    /// of a cancelled sweep, a replaced helper or an ended stack changes nothing).
    fn other_run_event(&mut self, at: OtherRun, event: RunEvent) -> Option<RunEvent> {
        let place = Rc::make_mut(&mut self.sweep).other_mut(at)?;
        match event {
            RunEvent::Progress {
                step, total_steps, ..
            } => {
                place.step = step;
                place.total = total_steps;
            }
            RunEvent::Evaluation {
                detail: Some(detail),
                ..
            } => place.history.push(Rc::new(*detail)),
            RunEvent::Evaluation { detail: None, .. } => {}
            RunEvent::Record { record } => {
                let (plan, history) = (place.plan, place.history.clone());
                // Only the record of the run given to that place (a stopped helper is replaced
                // and an ended stack's places emptied, so a late record of another run seldom
                // gets here; this is the second lock).
                let planned = self.sweep.running().map(|s| s.plan[plan].config.raw());
                if planned == Some(&record.config) {
                    let helper = match at {
                        OtherRun::Helper(slot) => Some(slot),
                        OtherRun::Stacked(_) => None,
                    };
                    self.keep_run(*record, Some(plan), helper, history);
                }
            }
            ended @ (RunEvent::Finished { .. } | RunEvent::Failed { .. }) => return Some(ended),
        }
        None
    }

    /// Shows run `index` of the imported file as if it had just finished here: its settings, curves
    /// and record (no samples or fingerprint: a results file has no predictions).
    fn show_imported(&mut self, index: usize) {
        let Some(record) = self
            .library
            .imported
            .as_ref()
            .and_then(|(report, _)| report.runs.get(index))
            .cloned()
        else {
            return;
        };
        let library = Rc::make_mut(&mut self.library);
        if let Some((_, shown)) = &mut library.imported {
            *shown = index;
        }
        library.import_error = None;
        // Imported records were checked as they were read: their settings are valid.
        if let Ok(config) = record.config.validate() {
            Rc::make_mut(&mut self.settings).replace(config);
        }
        let run = Rc::make_mut(&mut self.run);
        run.status = RunStatus::Idle;
        run.show(&Rc::new(record), &[], SAMPLES_PER_SPLIT);
    }

    fn start_sweep(
        mut self,
        spec: SweepSpec,
        lesson: Option<String>,
        mut out: Sent,
    ) -> (Self, Sent) {
        if self.is_busy() {
            Rc::make_mut(&mut self.sweep).error =
                Some("stop the run before starting a sweep".into());
            return (self, out);
        }
        let visit = self.library.visit;
        if Rc::make_mut(&mut self.sweep)
            .start(spec, lesson, visit)
            .is_err()
        {
            return (self, out);
        }
        if !self.library.compare.is_empty() {
            Rc::make_mut(&mut self.library).compare.clear();
        }
        out.extend(self.next_sweep_run().map(|c| (Worker::Own, c)));
        (self, out)
    }

    /// `command` about the inspected run's model, to the worker that keeps it: a run a helper
    /// trained is asked there; the page's own worker's is returned, to be sent last.
    fn to_model_keeper(&self, command: Command, out: &mut Sent) -> Option<Command> {
        let helper = self
            .inspector
            .opened
            .and_then(|i| self.library.runs.get(i))
            .and_then(|r| r.helper);
        match helper {
            Some(slot) => {
                out.push((Worker::Helper(slot), command));
                None
            }
            None => Some(command),
        }
    }

    /// The steps of the inspected run's model, for a question or an ablation: a finished (or
    /// stopped) run's last; `None` for the run in training, whose model moves on.
    fn inspected_step(&self) -> Option<usize> {
        match self.inspector.opened.and_then(|i| self.library.runs.get(i)) {
            Some(finished) => Some(finished.record.steps),
            None if self.is_active() => None,
            None => Some(self.run.step),
        }
    }

    fn ablate(&mut self, heads: Vec<(usize, usize)>, out: &mut Sent) -> Option<Command> {
        let ablation = crate::engine::mechanism::Ablation { heads };
        let config = match self.inspected() {
            None => Err("train a run first: the ablation silences heads of its model".to_string()),
            Some(_) if ablation.is_empty() => Err("pick a head first".to_string()),
            Some((config, _)) => Ok(Box::new(config.clone())),
        };
        let step = self.inspected_step();
        let inside = Rc::make_mut(&mut self.inside);
        match config {
            Err(why) => {
                inside.ablating = None;
                inside.ablation = Some(Err(why));
                None
            }
            Ok(config) => {
                inside.asked(ablation.clone(), self.inspector.opened);
                let ablate = Command::Ablate {
                    config,
                    ablation,
                    step,
                };
                self.to_model_keeper(ablate, out)
            }
        }
    }

    fn ask(
        &mut self,
        check: impl FnOnce(
            &crate::engine::config::TaskConfig,
        ) -> Result<
            crate::engine::question::Question,
            crate::engine::question::QuestionError,
        >,
        out: &mut Sent,
    ) -> Option<Command> {
        let checked = match self.inspected() {
            None => Err("train a run first: questions go to its model".to_string()),
            Some((config, _)) => check(&config.task)
                .map(|question| (Box::new(config.clone()), question))
                .map_err(|e| e.to_string()),
        };
        let inspector = Rc::make_mut(&mut self.inspector);
        match checked {
            Err(why) => {
                inspector.answer = Some(Err(why));
                None
            }
            Ok((config, question)) => {
                inspector.asking = true;
                let step = self.inspected_step();
                self.to_model_keeper(
                    Command::Ask {
                        config,
                        question,
                        step,
                    },
                    out,
                )
            }
        }
    }

    fn lesson_action(mut self, change: LessonAction, out: Sent) -> (Self, Sent) {
        match change {
            LessonAction::Open(None) => self.lesson = None,
            LessonAction::Open(Some(id)) => {
                if let Some(found) = lesson(&id) {
                    if !self.view.locks("preset") {
                        let config = found.sweep.base.validate().expect("lessons are valid");
                        Rc::make_mut(&mut self.settings).replace(config);
                    }
                    self.lesson = Some(LessonState::opened(id));
                }
            }
            LessonAction::Predict(choice) => {
                if let Some(open) = &mut self.lesson {
                    open.prediction = Some(choice);
                }
            }
            LessonAction::Run => {
                let chosen = self
                    .lesson
                    .as_ref()
                    .filter(|l| l.prediction.is_some())
                    .and_then(|l| lesson(&l.id));
                if let Some(found) = chosen {
                    let id = found.id.to_string();
                    return self.start_sweep(found.sweep, Some(id), out);
                }
            }
        }
        (self, out)
    }

    /// Opens a share link (its notices replace those shown); what it starts follows `out`.
    fn open_link(mut self, link: Link, out: Sent) -> (Self, Sent) {
        self.links_opened += 1;
        let Link {
            config,
            preset: named,
            autostart,
            force_cpu,
            view,
            sweep,
            class,
            mut notices,
        } = link;
        if let Some(class) = class {
            self.class = Rc::new(ClassRoom::opened(class));
        }
        let starts_sweep = sweep.is_some();
        if let Some(form) = sweep {
            Rc::make_mut(&mut self.sweep).form = form;
        }
        let settings = Rc::make_mut(&mut self.settings);
        // A link's settings are valid by construction (`link::parse`).
        if let Ok(config) = config.validate() {
            settings.config = config;
        }
        settings.error = None;
        settings.force_cpu = force_cpu;
        settings.preset = match named {
            Some(id) if preset(&id).is_some() => Some(id),
            Some(id) => {
                notices.push(format!("ignored unknown preset `{}`", shorten(&id)));
                None
            }
            None => None,
        };
        // A class without a hub: its plan is the link's sweep over the link's settings.
        if self.class.link.as_ref().is_some_and(|l| l.id.is_some()) {
            let plan = self
                .sweep
                .form
                .spec(self.settings.config.raw())
                .map_err(|e| e.to_string())
                .and_then(|spec| {
                    crate::study::class::ClassPlan::new(spec, crate::protocol::BUILD)
                        .map_err(|e| e.to_string())
                });
            let class = Rc::make_mut(&mut self.class);
            match plan {
                Ok(plan) => {
                    class.reduce(ClassAction::Planned(Box::new(plan)), crate::protocol::BUILD);
                }
                Err(e) => class.error = Some(format!("this class link cannot be used: {e}")),
            }
        }
        let mut view = view;
        if let Some(id) = view.lesson.clone() {
            if lesson(&id).is_some() {
                self.lesson = Some(LessonState::opened(id));
                if autostart {
                    notices.push(
                        "the lesson runs once you have made your prediction (the link's `run=1` waits for it)"
                            .into(),
                    );
                }
                self.view = Rc::new(view);
                self.notices = Rc::new(link_notices(notices));
                return (self, out);
            }
            notices.push(format!("ignored unknown lesson `{}`", shorten(&id)));
            view.lesson = None;
        }
        self.view = Rc::new(view);
        self.notices = Rc::new(link_notices(notices));
        let (state, started) = match (autostart, starts_sweep) {
            (true, true) => self.reduce(Action::Sweep(SweepAction::StartForm)),
            (true, false) => self.reduce(Action::Run(RunAction::Start)),
            _ => (self, Sent::new()),
        };
        let mut out = out;
        out.extend(started);
        (state, out)
    }
}

/// A count typed into the field `name`: a whole number from 1 to `max`, else why not, keeping
/// `kept`.
fn count(name: &str, text: &str, max: usize, kept: usize) -> Result<usize, String> {
    match text.trim().parse::<usize>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => {
            let typed = if text.trim().is_empty() {
                "an empty field or no number".to_string()
            } else {
                format!("`{}`", shorten(text.trim()))
            };
            Err(format!(
                "{name}: {typed} is not a whole number from 1 to {max}; kept {kept}"
            ))
        }
    }
}

/// A link's notices, each saying it is about the link: the notices also tell of reloads and other
/// tabs, so none may read as the link's unless it is.
fn link_notices(notices: Vec<String>) -> Vec<String> {
    notices
        .into_iter()
        .map(|n| format!("the link: {n}"))
        .collect()
}

#[cfg(test)]
pub(crate) mod tests;

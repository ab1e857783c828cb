//! Going on after a reload or a lost GPU device: what the browser's storage held at start (saved
//! runs and sweeps, the interrupted run's checkpoint, the interrupted sweep's queue) becomes the
//! library, the sweep on show and a resumed run; and a run a lost device ended goes on from its
//! checkpoint.

use super::lessons::LessonState;
use super::library::{FinishedRun, Kept, Orphan};
use super::run::{Resumable, RunStatus};
use super::sweep::{Elsewhere, MAX_WORKERS, SweepForm, SweepState, SweepStatus};
use super::{PageState, Sent, Worker};
use crate::engine::checkpoint::CheckpointMeta;
use crate::page::storage::{SavedRun, SavedSweep, SweepProgress};
use crate::protocol::{BackendPreference, Command, Work};
use crate::study::lessons::lesson;
use std::rc::Rc;

/// What the browser's storage held at start (already checked).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Restored {
    /// This tab's owner id (kept across reloads of the tab).
    pub owner: String,
    /// Runs in progress of tabs that are gone (no tab holds their owner's lock).
    pub orphans: Vec<Orphan>,
    /// Saved runs, oldest first.
    pub runs: Vec<SavedRun>,
    /// Saved sweeps.
    pub sweeps: Vec<SavedSweep>,
    /// Why some entries were skipped.
    pub skipped: Vec<String>,
    /// This visit's number (e.g. the time it began, in ms).
    pub visit: u64,
    /// This tab's run a reload interrupted (its checkpoint's meta; the worker reads the weights).
    pub interrupted_run: Option<CheckpointMeta>,
    /// This tab's sweep whose queue a reload interrupted.
    pub interrupted_sweep: Option<SweepProgress>,
    /// The runs this tab's helper workers were training when a reload interrupted them: each
    /// helper's slot and its checkpoint's meta (the helper reads the weights itself).
    pub interrupted_helpers: Vec<(usize, CheckpointMeta)>,
}

/// Going on after a reload or a lost device.
#[derive(Clone, Debug, PartialEq)]
pub enum RestoreAction {
    /// What the browser's storage held at start.
    Restore(Box<Restored>),
    /// Go on with the run a lost GPU device ended, from its checkpoint.
    GoOn,
    /// Resume here the run (and sweep) of a gone tab, whose entries were just moved to this tab's
    /// owner id.
    Adopt(String),
}

impl PageState {
    pub(super) fn restore(mut self, change: RestoreAction, mut out: Sent) -> (Self, Sent) {
        let command = match change {
            RestoreAction::Restore(restored) => return self.restored(*restored, out),
            RestoreAction::GoOn if self.is_active() => None,
            RestoreAction::GoOn => self.go_on(),
            RestoreAction::Adopt(_) if self.is_active() || self.sweep.running().is_some() => {
                self.notice("stop the run in progress before resuming another tab's".into());
                None
            }
            RestoreAction::Adopt(owner) => {
                let library = Rc::make_mut(&mut self.library);
                let Some(at) = library.orphans.iter().position(|o| o.owner == owner) else {
                    return (self, out);
                };
                let orphan = library.orphans.remove(at);
                return self.resume_interrupted(
                    orphan.run,
                    orphan.sweep,
                    orphan.helpers,
                    "a closed tab",
                    out,
                );
            }
        };
        out.extend(command.map(|c| (Worker::Own, c)));
        (self, out)
    }

    fn restored(mut self, restored: Restored, out: Sent) -> (Self, Sent) {
        let Restored {
            owner,
            orphans,
            runs,
            sweeps,
            skipped,
            visit,
            interrupted_run,
            interrupted_sweep,
            interrupted_helpers,
        } = restored;
        let library = Rc::make_mut(&mut self.library);
        library.visit = visit;
        library.owner = owner;
        library.orphans = orphans;
        if !skipped.is_empty() {
            library.storage_error = Some(format!(
                "{} saved entr{} could not be read and {} left out: {}",
                skipped.len(),
                if skipped.len() == 1 { "y" } else { "ies" },
                if skipped.len() == 1 { "was" } else { "were" },
                skipped.join("; ")
            ));
        }
        // Saved runs go before this visit's (none yet, unless a link started a run at once):
        // indices shift, so the parts that hold them move them.
        let shift = library.prepend(
            runs.into_iter()
                .map(|saved| FinishedRun {
                    name: saved.name,
                    record: Rc::new(saved.record),
                    history: Vec::new(),
                    kept: Kept::Saved,
                    sweep_key: saved.sweep,
                    helper: None,
                })
                .collect(),
        );
        Rc::make_mut(&mut self.inspector).shift(shift);
        Rc::make_mut(&mut self.sweep).shift(shift);
        Rc::make_mut(&mut self.inside).shift(shift);
        // A link may have started a run or sweep before storage answered: that one goes on.
        let busy = self.is_active() || self.sweep.running().is_some();
        if busy && (interrupted_run.is_some() || interrupted_sweep.is_some()) {
            self.notice(
                "a reload had interrupted a run, but this link started another: the interrupted one was dropped"
                    .into(),
            );
        } else if interrupted_sweep.is_some() {
            return self.resume_interrupted(
                interrupted_run,
                interrupted_sweep,
                interrupted_helpers,
                "a reload",
                out,
            );
        }
        // The latest saved sweep shows in the sweep views, unless one is already on show.
        if self.sweep.sweep.is_none()
            && let Some(last) = self.library.runs[..shift]
                .iter()
                .rev()
                .find_map(|r| r.sweep_key.clone())
            && let Some(saved) = sweeps.iter().find(|s| s.id == last)
        {
            let done = (0..shift)
                .filter(|&i| self.library.runs[i].sweep_key.as_deref() == Some(last.as_str()))
                .collect();
            Rc::make_mut(&mut self.sweep).sweep = Some(SweepState::shown(
                saved.spec.clone(),
                done,
                SweepStatus::Saved,
                saved.lesson.clone(),
                saved.id.clone(),
            ));
        }
        if busy {
            return (self, out);
        }
        self.resume_interrupted(interrupted_run, None, Vec::new(), "a reload", out)
    }

    /// Goes on with an interrupted sweep (its run and its helpers' runs) or run, saying what
    /// interrupted it.
    fn resume_interrupted(
        mut self,
        run: Option<CheckpointMeta>,
        sweep: Option<SweepProgress>,
        helpers: Vec<(usize, CheckpointMeta)>,
        cause: &str,
        mut out: Sent,
    ) -> (Self, Sent) {
        let command = match (sweep, run) {
            (Some(progress), run) => self.resume_sweep(progress, run, helpers, cause, &mut out),
            (None, Some(meta)) => {
                Rc::make_mut(&mut self.settings).replace(meta.config.clone());
                Some(self.resume_run(meta, cause))
            }
            (None, None) => None,
        };
        out.extend(command.map(|c| (Worker::Own, c)));
        (self, out)
    }

    /// Shows the run of a checkpoint that a reload interrupted, with its curves, and asks the worker
    /// to go on with it.
    fn resume_run(&mut self, meta: CheckpointMeta, cause: &str) -> Command {
        let step = meta.step;
        let total = self.show_interrupted(meta);
        self.notice(format!(
            "{cause} interrupted a run at step {step} of {total}: it goes on from there"
        ));
        Command::Train {
            work: Work::Saved,
            backend: self.backend_preference(),
        }
    }

    /// Shows the run of a checkpoint a reload interrupted, with its curves; returns its steps.
    fn show_interrupted(&mut self, meta: CheckpointMeta) -> usize {
        self.prepare_run(&meta.config);
        let run = Rc::make_mut(&mut self.run);
        run.step = meta.step;
        run.losses = meta.losses;
        run.evaluations = meta.evaluations;
        run.checkpoint_step = Some(meta.step);
        run.total_steps
    }

    /// Goes on with a sweep whose queue a reload interrupted: its finished runs (saved, each found
    /// in the plan by its settings: with several workers they finish out of order) count as done;
    /// each helper goes on at once with the run its checkpoint holds (`helpers`, found in the plan
    /// by its settings: a helper the sweep no longer has, or a run finished or held twice, is left
    /// out), and the queue goes on from the run in progress, from its checkpoint when `run` is that
    /// run's, else from its start.
    fn resume_sweep(
        &mut self,
        progress: SweepProgress,
        run: Option<CheckpointMeta>,
        helpers: Vec<(usize, CheckpointMeta)>,
        cause: &str,
        out: &mut Sent,
    ) -> Option<Command> {
        let plan = match progress.spec.plan() {
            Ok(plan) => plan,
            Err(e) => {
                self.notice(format!("the interrupted sweep cannot go on: {e}"));
                return None;
            }
        };
        let done: Vec<usize> = (0..self.library.runs.len())
            .filter(|&i| self.library.runs[i].sweep_key.as_deref() == Some(progress.id.as_str()))
            .collect();
        let finished: Vec<usize> = done
            .iter()
            .filter_map(|&i| {
                let config = &self.library.runs[i].record.config;
                plan.iter().position(|p| p.config.raw() == config)
            })
            .collect();
        // The sweep keeps the workers it had, so each helper's run finds its worker again.
        let workers = progress.workers.unwrap_or(self.sweep.workers);
        let slots = workers.clamp(1, MAX_WORKERS) - 1;
        let mut elsewhere: Vec<Option<Elsewhere>> = vec![None; slots];
        let mut continued = Vec::new();
        for (slot, meta) in helpers {
            let Some(index) = plan.iter().position(|p| p.config == meta.config) else {
                continue;
            };
            let held = elsewhere.iter().flatten().any(|e| e.plan == index);
            if slot < slots && elsewhere[slot].is_none() && !held && !finished.contains(&index) {
                elsewhere[slot] = Some(Elsewhere {
                    plan: index,
                    step: meta.step,
                    total: plan[index].config.train.steps,
                    history: Vec::new(),
                });
                continued.push((
                    Worker::Helper(slot),
                    Command::Train {
                        work: Work::SavedIfSame {
                            runs: vec![plan[index].config.clone()],
                        },
                        backend: BackendPreference::Cpu,
                    },
                ));
            }
        }
        // A run that finished and was saved just before the reload is not run again, nor one a
        // helper goes on with.
        let next = (progress.current..plan.len())
            .chain(0..progress.current)
            .find(|i| !finished.contains(i) && !elsewhere.iter().flatten().any(|e| e.plan == *i));
        let total = plan.len();
        let resumable = run.filter(|meta| {
            next.and_then(|n| plan.get(n))
                .is_some_and(|p| p.config == meta.config)
        });
        // The runs the page's worker trained stacked with the run in progress go on with it, as
        // one stack (from the stack's checkpoint when the worker finds it).
        let stacked: Vec<usize> = match next {
            Some(n) if n == progress.current => progress
                .stacked
                .iter()
                .copied()
                .filter(|&i| {
                    i != n
                        && i < plan.len()
                        && !finished.contains(&i)
                        && !elsewhere.iter().flatten().any(|e| e.plan == i)
                })
                .collect(),
            _ => Vec::new(),
        };
        if !self.library.compare.is_empty() {
            Rc::make_mut(&mut self.library).compare.clear();
        }
        // The builder shows the sweep that goes on (its axes, values, seeds and workers), as it
        // did before the reload, not the defaults.
        let queue = Rc::make_mut(&mut self.sweep);
        if let Some(form) = SweepForm::of(&progress.spec) {
            queue.form = form;
        }
        queue.set_workers(workers);
        // A lesson's sweep reopens its lesson with the reader's prediction, so the answer is still
        // revealed when the runs are done.
        if let Some(id) = progress.lesson.clone().filter(|id| lesson(id).is_some()) {
            self.lesson = Some(LessonState {
                id,
                prediction: progress.prediction,
            });
        }
        queue.sweep = Some(SweepState {
            spec: progress.spec,
            plan,
            done,
            finished,
            current: None,
            stacked: Vec::new(),
            elsewhere,
            status: SweepStatus::Running,
            lesson: progress.lesson,
            key: progress.id,
        });
        let also = match continued.len() {
            0 => String::new(),
            1 => "; the run in a helper worker goes on from its checkpoint".to_string(),
            n => format!("; the {n} runs in helper workers go on from their checkpoints"),
        };
        out.extend(continued);
        let Some(next) = next else {
            if !also.is_empty() {
                self.notice(format!("{cause} interrupted a sweep{also}"));
            }
            return self.next_sweep_run();
        };
        if !stacked.is_empty() {
            return Some(self.resume_stack(next, stacked, resumable, cause, &also));
        }
        match resumable {
            Some(meta) => {
                self.notice(format!(
                    "{cause} interrupted a sweep at run {} of {total}: its queue goes on{also}",
                    next + 1
                ));
                if let Some(sweep) = &mut Rc::make_mut(&mut self.sweep).sweep {
                    sweep.current = Some(next);
                }
                Some(self.resume_run(meta, cause))
            }
            None => {
                self.notice(format!(
                    "{cause} interrupted a sweep at run {} of {total}: that run starts again and the queue goes on{also}",
                    next + 1
                ));
                self.next_sweep_run()
            }
        }
    }

    /// Goes on with the stack a reload interrupted in the page's worker: run `first` (the run
    /// panel's) and the runs `stacked` with it, from the stack's checkpoint when the worker finds
    /// one of these runs (`meta`, its first run's meta, is then shown), else from their start.
    fn resume_stack(
        &mut self,
        first: usize,
        stacked: Vec<usize>,
        meta: Option<CheckpointMeta>,
        cause: &str,
        also: &str,
    ) -> Command {
        let step = meta.as_ref().map_or(0, |m| m.step);
        let Some(sweep) = &mut Rc::make_mut(&mut self.sweep).sweep else {
            unreachable!("the sweep was just put back");
        };
        sweep.current = Some(first);
        sweep.stacked = stacked_runs(sweep, &stacked, step);
        let total = sweep.plan.len();
        let configs: Vec<_> = std::iter::once(first)
            .chain(stacked.iter().copied())
            .map(|i| sweep.plan[i].config.clone())
            .collect();
        let runs = std::iter::once(first)
            .chain(stacked)
            .map(|i| (i + 1).to_string())
            .collect::<Vec<_>>()
            .join(", ");
        match meta {
            Some(meta) => {
                self.show_interrupted(meta);
                self.notice(format!(
                    "{cause} interrupted a sweep at runs {runs} of {total}, trained together: they go on from step {step}, and the queue after them{also}"
                ));
            }
            None => {
                self.prepare_run(&configs[0]);
                self.notice(format!(
                    "{cause} interrupted a sweep at runs {runs} of {total}, trained together: they start again and the queue goes on{also}"
                ));
            }
        }
        Command::Train {
            work: Work::SavedIfSame { runs: configs },
            backend: self.backend_preference(),
        }
    }

    /// Goes on with the run a lost GPU device ended, from its checkpoint (and its sweep's queue,
    /// and the runs stacked with it).
    fn go_on(&mut self) -> Option<Command> {
        let Resumable {
            step,
            sweep_run,
            stacked,
        } = self.run.resumable.clone()?;
        if let Some(index) = sweep_run
            && let Some(sweep) = &mut Rc::make_mut(&mut self.sweep).sweep
        {
            sweep.status = SweepStatus::Running;
            sweep.current = Some(index);
            sweep.stacked = stacked_runs(sweep, &stacked, step);
        }
        let run = Rc::make_mut(&mut self.run);
        run.resumable = None;
        // The curves after the checkpoint are trained again.
        run.losses.retain(|p| p.step <= step);
        run.evaluations.retain(|e| e.step <= step);
        run.history.retain(|e| e.step <= step);
        run.status = RunStatus::Starting;
        run.backend = None;
        run.error = None;
        run.step = step;
        run.checkpoint_step = Some(step);
        self.notice(match stacked.len() {
            0 => format!("the run goes on from step {step}, where it was last kept"),
            n => format!(
                "the {} runs trained together go on from step {step}, where they were last kept",
                n + 1
            ),
        });
        Some(Command::Train {
            work: Work::Saved,
            backend: self.backend_preference(),
        })
    }
}

/// The queue's entries of the runs `stacked` in the page's worker, each at `step`.
fn stacked_runs(sweep: &SweepState, stacked: &[usize], step: usize) -> Vec<Elsewhere> {
    stacked
        .iter()
        .filter_map(|&plan| {
            Some(Elsewhere {
                plan,
                step,
                total: sweep.plan.get(plan)?.config.train.steps,
                history: Vec::new(),
            })
        })
        .collect()
}

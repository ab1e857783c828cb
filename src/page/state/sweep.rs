//! The sweep queue: the sweep builder's fields, the sweep on show (its plan, the runs done, the one
//! in progress) and why the last sweep could not start.

use crate::engine::config::{ConfigError, ExperimentConfig, ValidConfig};
use crate::engine::stack_plan::StackKey;
use crate::page::heatmap::Grid;
use crate::page::state::library::FinishedRun;
use crate::page::storage::SweepProgress;
use crate::study::record::RunRecord;
use crate::study::schedule::Schedule;
use crate::study::sweep::{Axis, PlannedRun, SweepSetting, SweepSpec};
use std::rc::Rc;

/// Most seeds the page's sweep builder repeats a sweep with.
pub const MAX_SEEDS: usize = 5;

/// The page's sweep builder as typed (and as a link carries it): the setting each axis varies, its
/// values as text, and the number of seeds. [`SweepForm::spec`] checks it into a sweep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepForm {
    /// The first axis (columns of the phase diagram, the curve's x axis).
    pub first: SweepSetting,
    /// Its values, e.g. `4, 16, 64`.
    pub first_values: String,
    /// The second axis, if any (rows of the phase diagram).
    pub second: Option<SweepSetting>,
    /// Its values.
    pub second_values: String,
    /// Seeds to repeat every point with (the base seed and the ones after it), as typed.
    pub seeds: String,
}

impl Default for SweepForm {
    fn default() -> Self {
        Self {
            first: SweepSetting::from_id("instructions").expect("rule counts are sweepable"),
            first_values: "4, 16, 64, 256, 1024".into(),
            second: None,
            second_values: "5, 20, 80".into(),
            seeds: "1".into(),
        }
    }
}

/// One field of the sweep builder, as its input names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepField {
    /// The first axis's setting, by its identifier (`instructions`).
    Axis,
    /// The first axis's values.
    Values,
    /// The second axis's setting, or none (an empty or unknown identifier).
    Axis2,
    /// The second axis's values.
    Values2,
    /// The number of seeds.
    Seeds,
}

impl SweepForm {
    /// The form that makes `spec` over a base whose seed is `spec.seeds[0]` (a sweep a reload goes
    /// on with), or `None` when the builder cannot show it: more than two axes, or an axis that is
    /// none of its settings. Each axis is found by its name, its values are its points' labels.
    pub fn of(spec: &SweepSpec) -> Option<Self> {
        let setting = |axis: &Axis| SweepSetting::all().find(|s| s.name() == axis.name);
        let values = |axis: &Axis| {
            let labels: Vec<&str> = axis.points.iter().map(|p| p.label.as_str()).collect();
            labels.join(", ")
        };
        let (first, second) = match spec.axes.as_slice() {
            [first] => (first, None),
            [first, second] => (first, Some(second)),
            _ => return None,
        };
        Some(Self {
            first: setting(first)?,
            first_values: values(first),
            second: match second {
                Some(axis) => Some(setting(axis)?),
                None => None,
            },
            second_values: second.map_or_else(|| Self::default().second_values, values),
            seeds: spec.seeds.len().to_string(),
        })
    }

    /// The form with one field set to what was typed or picked. A field is changed alone, on the
    /// form as it is now, so two edits in quick succession both stay (an edit carrying a whole
    /// form copied at the last render would undo the one before it).
    pub fn with(mut self, field: SweepField, value: String) -> Self {
        match field {
            SweepField::Axis => {
                if let Some(setting) = SweepSetting::from_id(&value) {
                    self.first = setting;
                }
            }
            SweepField::Values => self.first_values = value,
            SweepField::Axis2 => self.second = SweepSetting::from_id(&value),
            SweepField::Values2 => self.second_values = value,
            SweepField::Seeds => self.seeds = value,
        }
        self
    }

    /// The sweep over `base`: seeds `base.seed`, `base.seed + 1`, ...; every run's settings checked.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the axis, the seeds, or the first run's setting that is refused.
    pub fn spec(&self, base: &ExperimentConfig) -> Result<SweepSpec, ConfigError> {
        let mut axes = vec![self.first.axis(&self.first_values)?];
        if let Some(second) = self.second {
            if second == self.first {
                return Err(ConfigError::new(
                    "sweep",
                    "the two axes must vary different settings",
                ));
            }
            axes.push(second.axis(&self.second_values)?);
        }
        let seeds = self
            .seeds
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_SEEDS).contains(n))
            .ok_or_else(|| {
                ConfigError::new(
                    "sweep.seeds",
                    format!("must be a whole number from 1 to {MAX_SEEDS}"),
                )
            })?;
        let spec = SweepSpec {
            seeds: (0..seeds as u64)
                .map(|k| base.seed.wrapping_add(k))
                .collect(),
            base: base.clone(),
            axes,
        };
        spec.plan()?;
        Ok(spec)
    }
}

/// Where a sweep is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepStatus {
    /// Runs are going, one after another in each worker.
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

/// Where a sweep's run trains beside the run panel's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OtherRun {
    /// In helper worker `slot`.
    Helper(usize),
    /// In the page's worker, as run `member` (1 or more) of its stack.
    Stacked(usize),
}

/// A run of the sweep that a helper worker trains, or that the page's own worker trains stacked
/// with `current`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Elsewhere {
    /// Its plan index.
    pub plan: usize,
    /// Steps taken, as the helper last said.
    pub step: usize,
    /// Steps it takes.
    pub total: usize,
    /// Its evaluations (with every prediction), for the inspector once it finishes.
    pub history: Vec<Rc<crate::engine::metrics::Evaluation>>,
}

/// A sweep: its plan, the runs done so far and those in progress.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepState {
    /// What is swept.
    pub spec: SweepSpec,
    /// Every run, in order (empty for an imported or saved sweep).
    pub plan: Vec<PlannedRun>,
    /// The finished runs, as indices into the library's runs, in the order they finished.
    pub done: Vec<usize>,
    /// The plan indices of the finished runs, in the same order as `done`. With several workers
    /// runs finish out of plan order.
    pub finished: Vec<usize>,
    /// The plan index of the run in progress in the page's own worker (the one the run panel
    /// shows).
    pub current: Option<usize>,
    /// The other runs of the page worker's stack, in the stack's order (its run 1, 2, ...): on
    /// WebGPU it trains them together with `current` as one stacked model.
    pub stacked: Vec<Elsewhere>,
    /// Per helper worker, the run it trains, if any.
    pub elsewhere: Vec<Option<Elsewhere>>,
    /// Where it is.
    pub status: SweepStatus,
    /// The lesson that started it, if any.
    pub lesson: Option<String>,
    /// Its key in the browser's storage (unique per visit and sweep).
    pub key: String,
}

impl SweepState {
    /// A sweep shown, not run: imported from a file or kept from an earlier visit.
    pub fn shown(
        spec: SweepSpec,
        done: Vec<usize>,
        status: SweepStatus,
        lesson: Option<String>,
        key: String,
    ) -> Self {
        Self {
            spec,
            plan: Vec::new(),
            done,
            finished: Vec::new(),
            current: None,
            stacked: Vec::new(),
            elsewhere: Vec::new(),
            status,
            lesson,
            key,
        }
    }

    /// Runs not started yet.
    pub fn waiting(&self) -> usize {
        if self.status == SweepStatus::Running {
            (0..self.plan.len()).filter(|&i| self.is_waiting(i)).count()
        } else {
            0
        }
    }

    /// Whether planned run `index` has finished.
    pub fn is_done(&self, index: usize) -> bool {
        self.finished.contains(&index)
    }

    /// The helper worker (0-based) training planned run `index`, if one does.
    pub fn helper_of(&self, index: usize) -> Option<usize> {
        self.elsewhere
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| e.plan == index))
    }

    /// Whether planned run `index` trains in the page's worker, stacked with `current`.
    pub fn is_stacked(&self, index: usize) -> bool {
        self.stacked.iter().any(|e| e.plan == index)
    }

    /// Whether planned run `index` is neither finished nor in progress anywhere.
    fn is_waiting(&self, index: usize) -> bool {
        !self.is_done(index)
            && self.current != Some(index)
            && !self.is_stacked(index)
            && self.helper_of(index).is_none()
    }

    /// The sweep's cells as the schedule every sweep follows ([`Schedule`], which `idp sweep`'s
    /// threads and the class hub's students follow too) sees them: the finished runs done, and
    /// the runs in progress held by the page's worker ([`PAGE_WORKER`]) or a helper
    /// ([`helper_worker`]). The page's state stays the truth (a reload restores it); the schedule
    /// decides what comes next from it.
    pub fn schedule(&self) -> Schedule {
        let mut schedule = Schedule::new(self.plan.len());
        for &done in &self.finished {
            schedule.mark_done(done);
        }
        for cell in self
            .current
            .iter()
            .chain(self.stacked.iter().map(|e| &e.plan))
        {
            schedule.hold(*cell, PAGE_WORKER, 0);
        }
        for (slot, run) in self.elsewhere.iter().enumerate() {
            if let Some(run) = run {
                schedule.hold(run.plan, &helper_worker(slot), 0);
            }
        }
        schedule
    }

    /// Whether any helper worker trains a run.
    pub fn helpers_busy(&self) -> bool {
        self.elsewhere.iter().any(Option::is_some)
    }

    /// The finished runs' records, in the order they finished, with their indices in `runs`.
    pub fn records<'a>(&self, runs: &'a [Rc<FinishedRun>]) -> Vec<(usize, &'a RunRecord)> {
        self.done
            .iter()
            .filter_map(|&i| Some((i, runs.get(i)?.record.as_ref())))
            .collect()
    }

    /// The finished runs binned into the sweep's grid; a cell's runs index into [`Self::done`].
    pub fn grid(&self, runs: &[Rc<FinishedRun>]) -> Grid {
        Grid::bin(&self.spec, self.records(runs).into_iter().map(|(_, r)| r))
    }

    /// Whether its queue is running.
    pub fn is_running(&self) -> bool {
        self.status == SweepStatus::Running
    }
}

/// The page's own worker, as [`SweepState::schedule`] names it.
pub const PAGE_WORKER: &str = "page";

/// Helper worker `slot`, as [`SweepState::schedule`] names it.
pub fn helper_worker(slot: usize) -> String {
    format!("helper {slot}")
}

/// The sweep builder, the sweep on show and why the last one could not start.
#[derive(Clone, Debug, PartialEq)]
pub struct SweepQueue {
    /// Workers a sweep's runs train in at once on the CPU fallback: the page's own and `workers - 1`
    /// helpers (see [`MAX_WORKERS`]). The page sets it from the machine's cores.
    pub workers: usize,
    /// Most runs the page's worker trains at once as one stacked model on WebGPU (1: one after
    /// another), at most [`crate::protocol::MAX_PAGE_STACK`]; the worker stacks fewer when the
    /// adapter cannot hold them.
    pub stack: usize,
    /// The sweep on show, if any.
    pub sweep: Option<SweepState>,
    /// Why the last sweep could not start.
    pub error: Option<String>,
    /// The sweep builder's fields, as typed.
    pub form: SweepForm,
    /// Sweeps started in this visit, for their storage keys.
    pub started: u64,
}

/// Most workers a sweep trains in at once (each a wasm instance with its own memory).
pub const MAX_WORKERS: usize = 16;

impl Default for SweepQueue {
    fn default() -> Self {
        Self {
            workers: 1,
            stack: crate::protocol::MAX_PAGE_STACK,
            sweep: None,
            error: None,
            form: SweepForm::default(),
            started: 0,
        }
    }
}

/// The default number of workers on a machine with `cores` logical cores
/// (`navigator.hardwareConcurrency`): one per core, at most [`MAX_WORKERS`]. Measured on a 2-core
/// machine with the lesson's sweep training on the CPU fallback (`node tests/e2e/bench.js
/// --responsive`): with 2 workers the page answered Pause in 68 ms (median of 5, worst 146 ms)
/// and drew every frame in 16.7 ms, as with 1 (57 ms, worst 124 ms): the page stays responsive
/// with every core training, so none is left idle.
pub fn default_workers(cores: usize) -> usize {
    cores.clamp(1, MAX_WORKERS)
}

impl SweepQueue {
    /// The running sweep, if any.
    pub fn running(&self) -> Option<&SweepState> {
        self.sweep.as_ref().filter(|s| s.is_running())
    }

    fn running_mut(&mut self) -> Option<&mut SweepState> {
        self.sweep.as_mut().filter(|s| s.is_running())
    }

    /// Plans `spec` and makes it the running sweep (keyed for this `visit`); the caller starts its
    /// first run with [`Self::start_next`].
    ///
    /// # Errors
    /// Why the sweep cannot run, in words (kept in [`Self::error`] too).
    pub fn start(
        &mut self,
        spec: SweepSpec,
        lesson: Option<String>,
        visit: u64,
    ) -> Result<(), String> {
        match spec.plan() {
            Err(e) => {
                let why = format!("this sweep cannot run: {e}");
                self.error = Some(why.clone());
                Err(why)
            }
            Ok(plan) => {
                self.error = None;
                self.started += 1;
                self.sweep = Some(SweepState {
                    spec,
                    plan,
                    done: Vec::new(),
                    finished: Vec::new(),
                    current: None,
                    stacked: Vec::new(),
                    elsewhere: vec![None; self.workers.clamp(1, MAX_WORKERS) - 1],
                    status: SweepStatus::Running,
                    lesson,
                    key: format!("sweep-{visit}-{}", self.started),
                });
                Ok(())
            }
        }
    }

    /// The running sweep's next waiting run, now in progress in the page's own worker, and after
    /// it up to `stack - 1` more waiting runs that can train stacked with it (equal
    /// [`StackKey`]s, in plan order), their settings in the stack's order; `None` when no run
    /// waits (the sweep is then done, unless a helper still trains one) or no sweep runs.
    pub fn start_next(&mut self, stack: usize) -> Option<Vec<ValidConfig>> {
        let sweep = self.running_mut()?;
        sweep.current = None;
        sweep.stacked.clear();
        let plan = &sweep.plan;
        let cells = sweep
            .schedule()
            .take_with(PAGE_WORKER, 0, stack, |first, other| {
                StackKey::of(&plan[first].config) == StackKey::of(&plan[other].config)
            });
        match cells.split_first() {
            Some((&next, with)) => {
                sweep.current = Some(next);
                sweep.stacked = with
                    .iter()
                    .map(|&plan| Elsewhere {
                        plan,
                        step: 0,
                        total: sweep.plan[plan].config.train.steps,
                        history: Vec::new(),
                    })
                    .collect();
                Some(
                    cells
                        .iter()
                        .map(|&i| sweep.plan[i].config.clone())
                        .collect(),
                )
            }
            None => {
                if !sweep.helpers_busy() {
                    sweep.status = SweepStatus::Done;
                }
                None
            }
        }
    }

    /// The running sweep's next waiting run, now in progress in helper `slot`; `None` when no run
    /// waits (the helper is then idle, and the sweep done if nothing else trains).
    pub fn start_elsewhere(&mut self, slot: usize) -> Option<ValidConfig> {
        let sweep = self.running_mut()?;
        *sweep.elsewhere.get_mut(slot)? = None;
        let next = sweep
            .schedule()
            .take(&helper_worker(slot), 0)
            .map(|take| take.cell);
        sweep.elsewhere[slot] = next.map(|plan| Elsewhere {
            plan,
            step: 0,
            total: sweep.plan[plan].config.train.steps,
            history: Vec::new(),
        });
        if next.is_none() && sweep.current.is_none() && !sweep.helpers_busy() {
            sweep.status = SweepStatus::Done;
        }
        next.map(|plan| sweep.plan[plan].config.clone())
    }

    /// The helpers of the running sweep that are idle while runs wait: each gets one.
    pub fn idle_helpers(&self) -> Vec<usize> {
        self.running()
            .map(|s| {
                (0..s.elsewhere.len())
                    .filter(|&i| s.elsewhere[i].is_none())
                    .take(s.waiting())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The page worker trains only the first `runs` runs of its stack (the CPU trains one run at a
    /// time): the others wait again, for the helpers.
    pub fn keep_stacked(&mut self, runs: usize) {
        if let Some(sweep) = self.running_mut() {
            sweep.stacked.truncate(runs.saturating_sub(1));
        }
    }

    /// The running sweep's run trained `at`, beside the run panel's, to update as its worker
    /// reports; `None` when none is trained there now.
    pub fn other_mut(&mut self, at: OtherRun) -> Option<&mut Elsewhere> {
        let sweep = self.running_mut()?;
        match at {
            OtherRun::Helper(slot) => sweep.elsewhere.get_mut(slot)?.as_mut(),
            OtherRun::Stacked(member) => sweep.stacked.get_mut(member.checked_sub(1)?),
        }
    }

    /// Cancels the running sweep: the runs in progress end, the finished runs stay. Returns the
    /// helpers that were training (they must be told to stop).
    pub fn cancel(&mut self) -> Vec<usize> {
        let Some(sweep) = self.running_mut() else {
            return Vec::new();
        };
        sweep.status = SweepStatus::Cancelled;
        sweep.current = None;
        sweep.stacked.clear();
        take_busy(sweep)
    }

    /// Marks the running sweep failed; returns the plan indices of the runs its own worker was on
    /// (`current`, then the runs stacked with it), and the helpers that were training (they must
    /// be told to stop).
    pub fn fail(&mut self) -> (Vec<usize>, Vec<usize>) {
        let Some(sweep) = self.running_mut() else {
            return (Vec::new(), Vec::new());
        };
        sweep.status = SweepStatus::Failed;
        let own = sweep
            .current
            .take()
            .into_iter()
            .chain(sweep.stacked.drain(..).map(|e| e.plan))
            .collect();
        (own, take_busy(sweep))
    }

    /// Files a finished run (library index `index`, with `record` its record) under the running
    /// sweep, as run `plan` of its plan (the page worker's run when `None`): returns its labelled
    /// record, its name (the sweep's labels, when it has axes) and the sweep's key; `None` when no
    /// sweep runs.
    pub fn finished(
        &mut self,
        index: usize,
        plan: Option<usize>,
        record: RunRecord,
    ) -> Option<(RunRecord, Option<String>, String)> {
        let sweep = self.running_mut()?;
        let mut record = record;
        let mut name = None;
        let plan = plan.or(sweep.current);
        if let Some(planned) = plan.and_then(|c| sweep.plan.get(c)) {
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
                name = Some(parts.join(", "));
            }
        }
        sweep.done.push(index);
        if let Some(plan) = plan {
            sweep.finished.push(plan);
        }
        Some((record, name, sweep.key.clone()))
    }

    /// Seconds until the running sweep's queue is done, when known: the steps left (the run in
    /// progress, `steps_left` of it, and the waiting runs) at the pace of the finished runs
    /// (evaluations included), or at `steps_per_second` before any run finished.
    pub fn seconds_left(
        &self,
        runs: &[Rc<FinishedRun>],
        steps_left: usize,
        steps_per_second: f64,
    ) -> Option<f64> {
        let sweep = self.running()?;
        let waiting_steps: usize = sweep
            .plan
            .iter()
            .filter(|r| sweep.is_waiting(r.index))
            .map(|r| r.config.train.steps)
            .sum();
        // Runs train `workers` at a time; each helper's run (and each run stacked with the page
        // worker's) has its own steps left.
        let elsewhere_steps: usize = sweep
            .elsewhere
            .iter()
            .flatten()
            .chain(&sweep.stacked)
            .map(|e| e.total.saturating_sub(e.step))
            .sum();
        // The runs training at once: the page worker's stack and the helpers' runs (helpers only
        // train on the CPU, and not when fewer runs are left than workers). The pace of finished
        // stacked runs is their stack's, so this counts a stack of K as K workers.
        let workers = (1 + sweep.stacked.len() + sweep.elsewhere.iter().flatten().count()) as f64;
        let steps_left = (waiting_steps + steps_left + elsewhere_steps) as f64 / workers;
        let (seconds, steps) = sweep
            .records(runs)
            .into_iter()
            .fold((0.0, 0usize), |(t, n), (_, r)| {
                (t + r.wall_seconds, n + r.steps)
            });
        if steps > 0 && seconds > 0.0 {
            Some(steps_left * seconds / steps as f64)
        } else if steps_per_second > 0.0 {
            Some(steps_left / steps_per_second)
        } else {
            None
        }
    }

    /// What the browser's storage should hold of the running sweep, so a reload goes on with its
    /// queue: `None` when no sweep's queue is running.
    pub fn progress(&self) -> Option<SweepProgress> {
        let sweep = self.running()?;
        // The page worker's run, else the first helper's: a reload goes on with every run not
        // finished, each from its checkpoint where it has one.
        let current = sweep
            .current
            .or_else(|| sweep.elsewhere.iter().flatten().map(|e| e.plan).min())?;
        let stacked = match sweep.current {
            Some(_) => sweep.stacked.iter().map(|e| e.plan).collect(),
            None => Vec::new(),
        };
        Some(
            SweepProgress::new(
                &sweep.key,
                &sweep.spec,
                sweep.lesson.clone(),
                current,
                sweep.elsewhere.len() + 1,
            )
            .with_stacked(stacked),
        )
    }

    /// Sets the number of workers (clamped to 1..=[`MAX_WORKERS`]); a running sweep keeps its own.
    pub fn set_workers(&mut self, workers: usize) {
        self.workers = workers.clamp(1, MAX_WORKERS);
    }

    /// Moves the finished runs' indices after `shift` runs were put before them in the library.
    pub fn shift(&mut self, shift: usize) {
        if let Some(sweep) = &mut self.sweep {
            for i in &mut sweep.done {
                *i += shift;
            }
        }
    }
}

/// Empties the busy helper slots of a sweep that ended; returns them.
fn take_busy(sweep: &mut SweepState) -> Vec<usize> {
    (0..sweep.elsewhere.len())
        .filter(|&i| sweep.elsewhere[i].take().is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sweep_form_checks_its_axes_and_seeds() {
        let base = ExperimentConfig::default();
        let spec = SweepForm::default().spec(&base).unwrap();
        assert_eq!(spec.axes.len(), 1);
        assert_eq!(spec.seeds, [base.seed]);
        let form = SweepForm {
            second: SweepSetting::from_id("per-rule"),
            second_values: "10 40".into(),
            seeds: "3".into(),
            ..SweepForm::default()
        };
        let spec = form.spec(&base).unwrap();
        assert_eq!(spec.plan().unwrap().len(), 5 * 2 * 3);
        assert_eq!(spec.seeds, [1, 2, 3]);
        for (form, setting) in [
            (
                SweepForm {
                    second: SweepSetting::from_id("instructions"),
                    ..SweepForm::default()
                },
                "sweep",
            ),
            (
                SweepForm {
                    seeds: "9".into(),
                    ..SweepForm::default()
                },
                "sweep.seeds",
            ),
            (
                SweepForm {
                    first_values: "4, 999999".into(),
                    ..SweepForm::default()
                },
                "task.budget",
            ),
            (
                SweepForm {
                    first_values: "4, 99999999".into(),
                    ..SweepForm::default()
                },
                "sweep.instructions",
            ),
        ] {
            assert_eq!(form.spec(&base).unwrap_err().setting, setting, "{form:?}");
        }
    }
}

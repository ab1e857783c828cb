//! The sweep queue: the sweep builder's fields, the sweep on show (its plan, the runs done, the one
//! in progress) and why the last sweep could not start.

use crate::engine::config::{ConfigError, ExperimentConfig, ValidConfig};
use crate::page::heatmap::Grid;
use crate::page::state::library::FinishedRun;
use crate::page::storage::SweepProgress;
use crate::study::record::RunRecord;
use crate::study::sweep::{PlannedRun, SweepSetting, SweepSpec};
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
    /// Every run, in order (empty for an imported or saved sweep).
    pub plan: Vec<PlannedRun>,
    /// The finished runs, as indices into the library's runs, in the order they finished.
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

/// The sweep builder, the sweep on show and why the last one could not start.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SweepQueue {
    /// The sweep on show, if any.
    pub sweep: Option<SweepState>,
    /// Why the last sweep could not start.
    pub error: Option<String>,
    /// The sweep builder's fields, as typed.
    pub form: SweepForm,
    /// Sweeps started in this visit, for their storage keys.
    pub started: u64,
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
                    current: None,
                    status: SweepStatus::Running,
                    lesson,
                    key: format!("sweep-{visit}-{}", self.started),
                });
                Ok(())
            }
        }
    }

    /// The running sweep's next planned run, now in progress; `None` (and the sweep done) when every
    /// run has finished, or when no sweep runs.
    pub fn start_next(&mut self) -> Option<ValidConfig> {
        let sweep = self.running_mut()?;
        let next = sweep.current.map_or(0, |c| c + 1);
        match sweep.plan.get(next) {
            Some(run) => {
                sweep.current = Some(next);
                Some(run.config.clone())
            }
            None => {
                sweep.current = None;
                sweep.status = SweepStatus::Done;
                None
            }
        }
    }

    /// Cancels the running sweep: the run in progress ends, the finished runs stay.
    pub fn cancel(&mut self) {
        if let Some(sweep) = self.running_mut() {
            sweep.status = SweepStatus::Cancelled;
            sweep.current = None;
        }
    }

    /// Marks the running sweep failed; returns the plan index of the run it was on.
    pub fn fail(&mut self) -> Option<usize> {
        let sweep = self.running_mut()?;
        sweep.status = SweepStatus::Failed;
        sweep.current.take()
    }

    /// Files a finished run (library index `index`, with `record` its record) under the running
    /// sweep: returns its labelled record, its name (the sweep's labels, when it has axes) and the
    /// sweep's key; `None` when no sweep runs.
    pub fn finished(
        &mut self,
        index: usize,
        record: RunRecord,
    ) -> Option<(RunRecord, Option<String>, String)> {
        let sweep = self.running_mut()?;
        let mut record = record;
        let mut name = None;
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
                name = Some(parts.join(", "));
            }
        }
        sweep.done.push(index);
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
            .skip(sweep.current.map_or(sweep.done.len(), |c| c + 1))
            .map(|r| r.config.train.steps)
            .sum();
        let steps_left = waiting_steps + steps_left;
        let (seconds, steps) = sweep
            .records(runs)
            .into_iter()
            .fold((0.0, 0usize), |(t, n), (_, r)| {
                (t + r.wall_seconds, n + r.steps)
            });
        if steps > 0 && seconds > 0.0 {
            Some(steps_left as f64 * seconds / steps as f64)
        } else if steps_per_second > 0.0 {
            Some(steps_left as f64 / steps_per_second)
        } else {
            None
        }
    }

    /// What the browser's storage should hold of the running sweep, so a reload goes on with its
    /// queue: `None` when no sweep's queue is running.
    pub fn progress(&self) -> Option<SweepProgress> {
        let sweep = self.running()?;
        Some(SweepProgress::new(
            &sweep.key,
            &sweep.spec,
            sweep.lesson.clone(),
            sweep.current?,
        ))
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

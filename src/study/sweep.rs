//! Sweeps: a ladder (or grid) of runs that vary one or two settings, over one or more seeds.
//!
//! An axis is a list of points; each point is a label and the settings it changes, by dotted path
//! (`task.instructions`) with a JSON value that replaces the whole setting. One point may change
//! several settings at once (model A vs model B changes both the rule count and the budget), and the
//! paths are the same names config files and error messages use.

use crate::engine::config::{ConfigError, ExperimentConfig, ValidConfig};
use crate::engine::settings::{Setting, SweepValue, Sweepable, apply_settings, shorten, sweepable};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One value of an axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AxisPoint {
    /// Short label for tables and charts (e.g. `256`).
    pub label: String,
    /// Settings this point changes: dotted path to the new value.
    pub set: BTreeMap<String, Value>,
}

/// A swept setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Axis {
    /// Name of the axis (e.g. `instructions`).
    pub name: String,
    /// Its points, in order.
    pub points: Vec<AxisPoint>,
}

impl Axis {
    /// An axis setting one config value, e.g. `Axis::values("instructions", "task.instructions", [4, 16])`.
    pub fn values<T: Serialize + ToString>(
        name: &str,
        setting: &str,
        values: impl IntoIterator<Item = T>,
    ) -> Self {
        Self {
            name: name.into(),
            points: values
                .into_iter()
                .map(|v| AxisPoint {
                    label: v.to_string(),
                    set: BTreeMap::from([(
                        setting.to_string(),
                        serde_json::to_value(&v).expect("serializable"),
                    )]),
                })
                .collect(),
        }
    }

    /// An axis over examples per rule `S` (the budget becomes `{"per_rule": S}`), for `I` x `S` grids.
    pub fn examples_per_rule(values: impl IntoIterator<Item = usize>) -> Self {
        let per_rule = SweepSetting::from_id("per-rule").expect("the budget is sweepable");
        Axis {
            name: per_rule.name().into(),
            points: values
                .into_iter()
                .map(|s| per_rule.point(s as f64))
                .collect(),
        }
    }
}

/// A setting a sweep can vary: a row of the settings table with a sweep entry
/// ([`crate::engine::settings::Sweepable`]), and how typed numbers become its axis.
#[derive(Clone, Copy, Debug)]
pub struct SweepSetting {
    setting: &'static Setting,
    sweep: Sweepable,
}

impl PartialEq for SweepSetting {
    fn eq(&self, other: &Self) -> bool {
        self.sweep.id == other.sweep.id
    }
}

impl Eq for SweepSetting {}

impl SweepSetting {
    /// Every sweepable setting, in menu order.
    pub fn all() -> impl Iterator<Item = SweepSetting> {
        sweepable().map(|(setting, sweep)| SweepSetting { setting, sweep })
    }

    /// The setting with this sweep identifier (`per-rule`).
    pub fn from_id(id: &str) -> Option<Self> {
        Self::all().find(|s| s.id() == id)
    }

    /// Identifier for menus and links.
    pub fn id(self) -> &'static str {
        self.sweep.id
    }

    /// Name in menus, and of the axis.
    pub fn name(self) -> &'static str {
        self.sweep.name
    }

    /// The setting's row in the settings table.
    pub fn setting(self) -> &'static Setting {
        self.setting
    }

    /// The axis point of one number (already within the setting's bounds).
    fn point(self, x: f64) -> AxisPoint {
        let number = if self.setting.bounds.whole {
            Value::from(x as u64)
        } else {
            Value::from(x)
        };
        let label = number.to_string();
        let value = match self.sweep.value {
            SweepValue::Plain => number,
            SweepValue::PerRule => serde_json::json!({ "per_rule": number }),
            SweepValue::PowerLawShape if x == 1.0 => serde_json::json!({ "kind": "uniform" }),
            SweepValue::PowerLawShape => {
                serde_json::json!({ "kind": "power_law", "shape": number })
            }
            SweepValue::SingleCount => serde_json::json!([number]),
        };
        AxisPoint {
            label,
            set: BTreeMap::from([(self.setting.path.to_string(), value)]),
        }
    }

    /// An axis from typed values, separated by commas or spaces (`4, 16, 64`), each within the
    /// setting's bounds in the settings table; the runs' settings as a whole are checked when the
    /// sweep is planned.
    ///
    /// # Errors
    /// A [`ConfigError`] naming `sweep.<id>` and the value that does not fit.
    pub fn axis(self, text: &str) -> Result<Axis, ConfigError> {
        let setting = format!("sweep.{}", self.id());
        let items: Vec<&str> = text
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|t| !t.is_empty())
            .collect();
        if items.is_empty() {
            return Err(ConfigError::new(setting, "type at least one value"));
        }
        if items.len() > MAX_AXIS_POINTS {
            return Err(ConfigError::new(
                setting,
                format!("at most {MAX_AXIS_POINTS} values, got {}", items.len()),
            ));
        }
        let bounds = self.setting.bounds;
        let points = items
            .iter()
            .map(|t| {
                t.parse::<f64>()
                    .ok()
                    .filter(|&x| bounds.admits(x))
                    .map(|x| self.point(x))
                    .ok_or_else(|| {
                        ConfigError::new(
                            &setting,
                            format!("`{}` is not {}", shorten(t), bounds.describe()),
                        )
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Axis {
            name: self.name().into(),
            points,
        })
    }
}

/// Most values one axis of the page's sweep builder takes.
pub const MAX_AXIS_POINTS: usize = 12;

/// A sweep: a base config, one or two axes and the seeds to repeat it with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSpec {
    /// The config every run starts from.
    pub base: ExperimentConfig,
    /// The axes: the first varies slowest.
    pub axes: Vec<Axis>,
    /// Seeds; each point of the grid runs once per seed.
    pub seeds: Vec<u64>,
}

/// One run of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlannedRun {
    /// Position in the plan.
    pub index: usize,
    /// For each axis, the index of this run's point.
    pub coordinates: Vec<usize>,
    /// For each axis, the label of this run's point.
    pub labels: Vec<String>,
    /// The seed.
    pub seed: u64,
    /// The complete, validated config of the run.
    pub config: ValidConfig,
}

impl SweepSpec {
    /// How many runs [`Self::plan`] makes (points of every axis, times the seeds), without building
    /// or checking them.
    pub fn run_count(&self) -> usize {
        self.axes.iter().map(|a| a.points.len()).product::<usize>() * self.seeds.len()
    }

    /// Every run, in execution order: seeds outermost (so each seed completes the whole ladder before
    /// the next starts and a curve appears early), then the axes with the first varying slowest.
    /// Each run's config is validated; the first invalid point is reported with its labels.
    pub fn plan(&self) -> Result<Vec<PlannedRun>, ConfigError> {
        if self.seeds.is_empty() {
            return Err(ConfigError::new("sweep.seeds", "needs at least one seed"));
        }
        if let Some(axis) = self.axes.iter().find(|a| a.points.is_empty()) {
            return Err(ConfigError::new(
                format!("sweep.{}", axis.name),
                "an axis needs at least one value",
            ));
        }
        let grid: usize = self.axes.iter().map(|a| a.points.len()).product();
        let mut runs = Vec::with_capacity(grid * self.seeds.len());
        for &seed in &self.seeds {
            for cell in 0..grid {
                // Mixed-radix digits of the cell index, last axis fastest.
                let mut rest = cell;
                let mut coordinates = vec![0; self.axes.len()];
                for (axis_index, axis) in self.axes.iter().enumerate().rev() {
                    coordinates[axis_index] = rest % axis.points.len();
                    rest /= axis.points.len();
                }
                let mut config = ExperimentConfig {
                    seed,
                    ..self.base.clone()
                };
                let mut valid = None;
                for (axis, &point) in self.axes.iter().zip(&coordinates) {
                    let applied =
                        apply_settings(&config, &axis.points[point].set).map_err(|e| {
                            ConfigError::new(
                                e.setting,
                                format!(
                                    "{} (at {} = {})",
                                    e.message, axis.name, axis.points[point].label
                                ),
                            )
                        })?;
                    config = applied.raw().clone();
                    valid = Some(applied);
                }
                let config = match valid {
                    Some(valid) => valid,
                    None => config.validate()?,
                };
                let labels = self
                    .axes
                    .iter()
                    .zip(&coordinates)
                    .map(|(axis, &p)| axis.points[p].label.clone())
                    .collect();
                runs.push(PlannedRun {
                    index: runs.len(),
                    coordinates,
                    labels,
                    seed,
                    config,
                });
            }
        }
        Ok(runs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::engine::config::Budget;

    fn spec() -> SweepSpec {
        let mut base = ExperimentConfig::default();
        base.task.budget = Budget::Total(4096);
        SweepSpec {
            base,
            axes: vec![
                Axis::values("instructions", "task.instructions", [4usize, 16, 64]),
                Axis::examples_per_rule([8, 32]),
            ],
            seeds: vec![1, 2],
        }
    }

    #[test]
    fn plan_orders_seeds_outermost_and_first_axis_slowest() {
        let runs = spec().plan().unwrap();
        assert_eq!(runs.len(), 3 * 2 * 2);
        assert_eq!(spec().run_count(), runs.len());
        let order: Vec<(u64, Vec<usize>)> = runs
            .iter()
            .map(|r| (r.seed, r.coordinates.clone()))
            .collect();
        assert_eq!(order[0], (1, vec![0, 0]));
        assert_eq!(order[1], (1, vec![0, 1]));
        assert_eq!(order[2], (1, vec![1, 0]));
        assert_eq!(order[5], (1, vec![2, 1]));
        assert_eq!(order[6], (2, vec![0, 0]));
        assert!(runs.iter().enumerate().all(|(i, r)| r.index == i));
    }

    #[test]
    fn plan_applies_patches_and_seeds() {
        let runs = spec().plan().unwrap();
        let run = &runs[3]; // seed 1, instructions 16, 32 per rule
        assert_eq!(run.labels, vec!["16".to_string(), "32".to_string()]);
        assert_eq!(run.config.task.instructions, 16);
        assert_eq!(run.config.task.budget, Budget::PerRule(32));
        assert_eq!(run.config.seed, 1);
        assert_eq!(runs[9].config.seed, 2);
        // Settings no axis touches stay as in the base.
        assert_eq!(run.config.model, spec().base.model);
    }

    #[test]
    fn invalid_point_names_setting_and_axis_value() {
        let mut spec = spec();
        spec.axes = vec![Axis::values(
            "instructions",
            "task.instructions",
            [10usize, 5000],
        )];
        spec.base.task.budget = Budget::Total(100);
        let err = spec.plan().unwrap_err();
        assert_eq!(err.setting, "task.budget");
        assert!(
            err.message.contains("instructions = 5000"),
            "{}",
            err.message
        );
    }

    #[test]
    fn typed_values_become_axes_and_bad_ones_are_named() {
        let setting = |id| SweepSetting::from_id(id).unwrap();
        let axis = setting("instructions").axis("4, 16 64").unwrap();
        assert_eq!(axis.name, "instructions");
        assert_eq!(
            axis.points
                .iter()
                .map(|p| p.label.as_str())
                .collect::<Vec<_>>(),
            ["4", "16", "64"]
        );
        let per_rule = setting("per-rule").axis("10,40").unwrap();
        assert_eq!(per_rule.name, "examples per rule");
        assert_eq!(
            per_rule.points[1].set["task.budget"],
            serde_json::json!({"per_rule": 40})
        );
        assert_eq!(per_rule, Axis::examples_per_rule([10, 40]));
        // Every kind of axis yields runs the config accepts.
        for (id, text) in [
            ("noop-share", "0, 0.25"),
            ("skew", "1, 0.2, 2"),
            ("occurrences", "1, 2"),
        ] {
            let spec = SweepSpec {
                base: ExperimentConfig::default(),
                axes: vec![setting(id).axis(text).unwrap()],
                seeds: vec![1],
            };
            let runs = spec.plan().unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(runs.len() >= 2);
            assert_ne!(runs[0].config, runs[1].config, "{id}");
        }
        for (id, text, needle) in [
            ("instructions", "", "at least one value"),
            ("instructions", "4, x", "`x`"),
            ("instructions", "0", "from 1 to"),
            ("instructions", "2.5", "whole number"),
            ("noop-share", "0.7", "0 to 0.5"),
            ("skew", "0", "0.01 to 10"),
            (
                "instructions",
                "1 2 3 4 5 6 7 8 9 10 11 12 13",
                "at most 12",
            ),
        ] {
            let err = setting(id).axis(text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {err}");
            assert_eq!(err.setting, format!("sweep.{id}"));
        }
        assert!(SweepSetting::from_id("nope").is_none());
        // The sweepable settings are the table's, in its order.
        let ids: Vec<&str> = SweepSetting::all().map(|s| s.id()).collect();
        assert_eq!(
            ids,
            [
                "instructions",
                "per-rule",
                "noop-share",
                "skew",
                "occurrences",
                "program-rules",
                "rule-pool"
            ]
        );
    }
}

//! Sweeps: a ladder (or grid) of runs that vary one or two settings, over one or more seeds.
//!
//! An axis is a list of points; each point is a label and the settings it changes, by dotted path
//! (`task.instructions`) with a JSON value that replaces the whole setting. One point may change
//! several settings at once (model A vs model B changes both the rule count and the budget), and the
//! paths are the same names config files and error messages use.

use crate::config::{ConfigError, ExperimentConfig, RuleFrequency};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One value of an axis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AxisPoint {
    /// Short label for tables and charts (e.g. `256`).
    pub label: String,
    /// Settings this point changes: dotted path to the new value.
    pub set: BTreeMap<String, Value>,
}

/// A swept setting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
}

impl Axis {
    /// An axis over examples per rule `S` (the budget becomes `{"per_rule": S}`), for `I` x `S` grids.
    pub fn examples_per_rule(values: impl IntoIterator<Item = usize>) -> Self {
        Self {
            name: "examples per rule".into(),
            points: values
                .into_iter()
                .map(|s| AxisPoint {
                    label: s.to_string(),
                    set: BTreeMap::from([(
                        "task.budget".to_string(),
                        serde_json::json!({ "per_rule": s }),
                    )]),
                })
                .collect(),
        }
    }
}

/// A setting the page's sweep builder can vary, and how a typed list of values becomes an axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepSetting {
    /// Distinct training rules `I`, at the base's budget.
    Instructions,
    /// Examples per rule `S` (the budget becomes `S` per rule): crossed with `I`, the phase diagram.
    ExamplesPerRule,
    /// Share of no-op training inputs.
    NoopShare,
    /// Shape of a power law of rule frequencies (1 is uniform; smaller is steeper).
    Skew,
    /// Occurrences of `x` in each has-op input.
    Occurrences,
}

impl SweepSetting {
    /// Every setting, in menu order.
    pub const ALL: [SweepSetting; 5] = [
        SweepSetting::Instructions,
        SweepSetting::ExamplesPerRule,
        SweepSetting::NoopShare,
        SweepSetting::Skew,
        SweepSetting::Occurrences,
    ];

    /// Identifier for menus and links.
    pub fn id(self) -> &'static str {
        match self {
            SweepSetting::Instructions => "instructions",
            SweepSetting::ExamplesPerRule => "per-rule",
            SweepSetting::NoopShare => "noop-share",
            SweepSetting::Skew => "skew",
            SweepSetting::Occurrences => "occurrences",
        }
    }

    /// The setting with this identifier.
    pub fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.id() == id)
    }

    /// Name in menus, and of the axis.
    pub fn name(self) -> &'static str {
        match self {
            SweepSetting::Instructions => "instructions",
            SweepSetting::ExamplesPerRule => "examples per rule",
            SweepSetting::NoopShare => "no-op share",
            SweepSetting::Skew => "skew shape",
            SweepSetting::Occurrences => "occurrences",
        }
    }

    /// An axis from typed values, separated by commas or spaces (`4, 16, 64`). Integers for counts,
    /// numbers for shares and shapes; each value checked for range here, the runs' settings as a
    /// whole when the sweep is planned.
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
        let count = |t: &str| {
            t.parse::<usize>().ok().filter(|&v| v >= 1).ok_or_else(|| {
                ConfigError::new(
                    &setting,
                    format!(
                        "`{}` is not a whole number of at least 1",
                        crate::permalink::shorten(t)
                    ),
                )
            })
        };
        let number = |t: &str, low: f64, high: f64| {
            t.parse::<f64>()
                .ok()
                .filter(|v| (low..=high).contains(v))
                .ok_or_else(|| {
                    ConfigError::new(
                        &setting,
                        format!(
                            "`{}` is not a number from {low} to {high}",
                            crate::permalink::shorten(t)
                        ),
                    )
                })
        };
        let name = self.name();
        Ok(match self {
            SweepSetting::Instructions => Axis::values(
                name,
                "task.instructions",
                items
                    .iter()
                    .map(|t| count(t))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            SweepSetting::ExamplesPerRule => Axis {
                name: name.into(),
                ..Axis::examples_per_rule(
                    items
                        .iter()
                        .map(|t| count(t))
                        .collect::<Result<Vec<_>, _>>()?,
                )
            },
            SweepSetting::NoopShare => Axis::values(
                name,
                "task.noop_share",
                items
                    .iter()
                    .map(|t| number(t, 0.0, 0.5))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            SweepSetting::Skew => Axis {
                name: name.into(),
                points: items
                    .iter()
                    .map(|t| {
                        let shape = number(t, 0.01, 1.0)?;
                        let frequency = if shape == 1.0 {
                            RuleFrequency::Uniform
                        } else {
                            RuleFrequency::PowerLaw { shape }
                        };
                        let frequency = serde_json::to_value(frequency).expect("serializable");
                        Ok(AxisPoint {
                            label: shape.to_string(),
                            set: BTreeMap::from([("task.frequency".to_string(), frequency)]),
                        })
                    })
                    .collect::<Result<Vec<_>, ConfigError>>()?,
            },
            SweepSetting::Occurrences => Axis {
                name: name.into(),
                points: items
                    .iter()
                    .map(|t| {
                        let k = count(t)?;
                        Ok(AxisPoint {
                            label: k.to_string(),
                            set: BTreeMap::from([(
                                "task.occurrences".to_string(),
                                serde_json::json!([k]),
                            )]),
                        })
                    })
                    .collect::<Result<Vec<_>, ConfigError>>()?,
            },
        })
    }
}

/// Most values one axis of the page's sweep builder takes.
pub const MAX_AXIS_POINTS: usize = 12;

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
            first: SweepSetting::Instructions,
            first_values: "4, 16, 64, 256, 1024".into(),
            second: None,
            second_values: "5, 20, 80".into(),
            seeds: "1".into(),
        }
    }
}

impl SweepForm {
    /// The sweep over `base`: seeds `base.seed`, `base.seed + 1`, ...; every run's settings checked.
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

/// A sweep: a base config, one or two axes and the seeds to repeat it with.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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
pub struct PlannedRun {
    /// Position in the plan.
    pub index: usize,
    /// For each axis, the index of this run's point.
    pub coordinates: Vec<usize>,
    /// For each axis, the label of this run's point.
    pub labels: Vec<String>,
    /// The seed.
    pub seed: u64,
    /// The complete config of the run.
    pub config: ExperimentConfig,
}

/// The setting at a dotted path (`train.learning_rate`) of a serialized config.
pub fn get_path<'a>(target: &'a Value, setting: &str) -> Option<&'a Value> {
    setting
        .split('.')
        .try_fold(target, |node, key| node.as_object()?.get(key))
}

/// Replaces the setting at a dotted path of a serialized config.
pub(crate) fn set_path(target: &mut Value, setting: &str, value: Value) -> Result<(), ConfigError> {
    let mut node = target;
    for key in setting.split('.') {
        node = node
            .as_object_mut()
            .and_then(|object| object.get_mut(key))
            .ok_or_else(|| ConfigError::new(setting, "no such setting"))?;
    }
    *node = value;
    Ok(())
}

/// Applies a point's settings to a config; the result is validated.
pub fn apply_settings(
    base: &ExperimentConfig,
    settings: &BTreeMap<String, Value>,
) -> Result<ExperimentConfig, ConfigError> {
    let mut value = serde_json::to_value(base).expect("configs serialize");
    for (setting, new) in settings {
        set_path(&mut value, setting, new.clone())?;
    }
    let config: ExperimentConfig = serde_json::from_value(value).map_err(|e| {
        let setting = settings.keys().cloned().collect::<Vec<_>>().join(", ");
        ConfigError::new(setting, format!("a value does not fit the setting: {e}"))
    })?;
    config.validate()?;
    Ok(config)
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
                let mut config = self.base.clone();
                config.seed = seed;
                for (axis, &point) in self.axes.iter().zip(&coordinates) {
                    config = apply_settings(&config, &axis.points[point].set).map_err(|e| {
                        ConfigError::new(
                            e.setting,
                            format!(
                                "{} (at {} = {})",
                                e.message, axis.name, axis.points[point].label
                            ),
                        )
                    })?;
                }
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

    #[test]
    fn get_path_reads_what_set_path_writes() {
        let mut value = serde_json::to_value(ExperimentConfig::default()).unwrap();
        set_path(&mut value, "task.x_len.max", 3.into()).unwrap();
        assert_eq!(get_path(&value, "task.x_len.max"), Some(&Value::from(3)));
        assert_eq!(get_path(&value, "seed"), value.get("seed"));
        assert_eq!(get_path(&value, "task.nope"), None);
        assert_eq!(get_path(&value, "seed.deeper"), None);
    }
    use crate::config::Budget;

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
        let axis = SweepSetting::Instructions.axis("4, 16 64").unwrap();
        assert_eq!(axis.name, "instructions");
        assert_eq!(
            axis.points
                .iter()
                .map(|p| p.label.as_str())
                .collect::<Vec<_>>(),
            ["4", "16", "64"]
        );
        let per_rule = SweepSetting::ExamplesPerRule.axis("10,40").unwrap();
        assert_eq!(per_rule.name, "examples per rule");
        assert_eq!(
            per_rule.points[1].set["task.budget"],
            serde_json::json!({"per_rule": 40})
        );
        // Every kind of axis yields runs the config accepts.
        for (setting, text) in [
            (SweepSetting::NoopShare, "0, 0.25"),
            (SweepSetting::Skew, "1, 0.2"),
            (SweepSetting::Occurrences, "1, 2"),
        ] {
            let spec = SweepSpec {
                base: ExperimentConfig::default(),
                axes: vec![setting.axis(text).unwrap()],
                seeds: vec![1],
            };
            let runs = spec.plan().unwrap_or_else(|e| panic!("{setting:?}: {e}"));
            assert_eq!(runs.len(), 2);
            assert_ne!(runs[0].config, runs[1].config, "{setting:?}");
        }
        for (setting, text, needle) in [
            (SweepSetting::Instructions, "", "at least one value"),
            (SweepSetting::Instructions, "4, x", "`x`"),
            (SweepSetting::Instructions, "0", "at least 1"),
            (SweepSetting::NoopShare, "0.7", "0 to 0.5"),
            (SweepSetting::Skew, "0", "0.01 to 1"),
            (
                SweepSetting::Instructions,
                "1 2 3 4 5 6 7 8 9 10 11 12 13",
                "at most 12",
            ),
        ] {
            let err = setting.axis(text).unwrap_err();
            assert!(err.message.contains(needle), "{text}: {err}");
            assert_eq!(err.setting, format!("sweep.{}", setting.id()));
        }
        assert_eq!(SweepSetting::from_id("skew"), Some(SweepSetting::Skew));
        assert_eq!(SweepSetting::from_id("nope"), None);
    }

    #[test]
    fn the_sweep_form_checks_its_axes_and_seeds() {
        let base = ExperimentConfig::default();
        let spec = SweepForm::default().spec(&base).unwrap();
        assert_eq!(spec.axes.len(), 1);
        assert_eq!(spec.seeds, [base.seed]);
        let form = SweepForm {
            second: Some(SweepSetting::ExamplesPerRule),
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
                    second: Some(SweepSetting::Instructions),
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
                    first_values: "4, 99999999".into(),
                    ..SweepForm::default()
                },
                "task.budget",
            ),
        ] {
            assert_eq!(form.spec(&base).unwrap_err().setting, setting, "{form:?}");
        }
    }

    #[test]
    fn unknown_setting_and_ill_typed_value_are_named() {
        let base = ExperimentConfig::default();
        let err = apply_settings(
            &base,
            &BTreeMap::from([("task.colour".into(), Value::from(3))]),
        )
        .unwrap_err();
        assert_eq!(err.setting, "task.colour");
        let err = apply_settings(
            &base,
            &BTreeMap::from([("task.alphabet".into(), Value::from("many"))]),
        )
        .unwrap_err();
        assert_eq!(err.setting, "task.alphabet");
    }
}

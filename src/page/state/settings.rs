//! The settings of the next run: the config, the preset it came from, why the last change was
//! refused, and the backend choice.

use crate::engine::config::{ConfigError, ValidConfig};
use crate::engine::settings::{SETTINGS, apply_settings, get_path, setting, shorten};
use crate::page::link::View;
use crate::study::presets::preset;
use serde_json::Value;
use std::collections::BTreeMap;

/// The settings of the next run.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// The settings: always valid (a change is applied only when validation accepts it).
    pub config: ValidConfig,
    /// The preset the settings came from, if any.
    pub preset: Option<String>,
    /// Why the last settings change was refused (the settings stay as they were).
    pub error: Option<ConfigError>,
    /// Train on the CPU even where WebGPU exists.
    pub force_cpu: bool,
}

/// The preset the page opens with.
pub const DEFAULT_PRESET: &str = "phase-transition";

impl Default for Settings {
    fn default() -> Self {
        let base = preset(DEFAULT_PRESET)
            .expect("preset exists")
            .sweep
            .base
            .validate()
            .expect("presets are valid");
        Self {
            config: base,
            preset: Some(DEFAULT_PRESET.into()),
            error: None,
            force_cpu: false,
        }
    }
}

/// A change to the settings.
#[derive(Clone, Debug, PartialEq)]
pub enum SettingsAction {
    /// Change one setting by dotted path (e.g. `task.instructions`) to a JSON value.
    Set(String, Value),
    /// Change one setting, or one end of a span (`task.x_len.max`), to what a form field holds: read
    /// by the setting's codec in the settings table (a number, `1-3`, `power_law:0.5`, `1,5,10`; an
    /// empty optional number is none).
    SetText(String, String),
    /// Load a preset's base settings.
    LoadPreset(String),
    /// Force (or stop forcing) the CPU backend.
    ForceCpu(bool),
}

impl Settings {
    /// Applies a change, unless `view` (a teacher's link) locks what it changes.
    pub fn reduce(&mut self, action: SettingsAction, view: &View) {
        match action {
            SettingsAction::Set(path, _) | SettingsAction::SetText(path, _)
                if view.locks(&path) =>
            {
                self.error = Some(ConfigError::new(
                    path,
                    "is locked by the link that opened this page",
                ));
            }
            SettingsAction::Set(path, value) => {
                let changed = match (path.as_str(), value.as_u64()) {
                    // The one rule for a run's length: warm-up and evaluations keep their share.
                    ("train.steps", Some(steps)) => self.config.with_steps(steps as usize),
                    _ => apply_settings(&self.config, &BTreeMap::from([(path, value)])),
                };
                match changed {
                    Ok(config) => {
                        self.config = config;
                        self.error = None;
                        self.preset = None;
                    }
                    Err(e) => self.error = Some(e),
                }
            }
            SettingsAction::SetText(path, text) => match field_value(&path, &text) {
                Ok(value) => self.reduce(SettingsAction::Set(path, value), view),
                Err(why) => self.error = Some(ConfigError::new(path, why)),
            },
            SettingsAction::LoadPreset(_) if view.locks("preset") => {}
            SettingsAction::LoadPreset(id) => {
                if let Some(p) = preset(&id) {
                    // Settings a teacher locked keep their values under any preset.
                    let current = serde_json::to_value(&self.config).expect("configs serialize");
                    let locked: BTreeMap<String, Value> = SETTINGS
                        .iter()
                        .filter(|s| view.locks(s.path))
                        .filter_map(|s| {
                            Some((s.path.to_string(), get_path(&current, s.path)?.clone()))
                        })
                        .collect();
                    match apply_settings(&p.sweep.base, &locked) {
                        Ok(config) => {
                            self.config = config;
                            self.preset = Some(id);
                            self.error = None;
                        }
                        Err(e) => self.error = Some(e),
                    }
                }
            }
            SettingsAction::ForceCpu(_) if view.locks("backend") => {}
            SettingsAction::ForceCpu(on) => self.force_cpu = on,
        }
    }

    /// Replaces the settings (a link, a lesson, an imported run), forgetting the preset.
    pub fn replace(&mut self, config: ValidConfig) {
        self.config = config;
        self.preset = None;
        self.error = None;
    }
}

/// The JSON value of a form field's text for the setting at `path`, or one end of a span
/// (`task.x_len.min`), read by the setting's codec.
///
/// # Errors
/// Why the text is not a value of that setting, in words.
pub fn field_value(path: &str, text: &str) -> Result<Value, String> {
    let found = setting(path).ok_or_else(|| "no such setting".to_string())?;
    if found.path == path {
        return found.read(text).map_err(|e| e.to_string());
    }
    // One end of a span: a whole number.
    text.trim()
        .parse::<u64>()
        .map(Value::from)
        .map_err(|_| format!("`{}` is not a whole number", shorten(text.trim())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::ExperimentConfig;
    use serde_json::json;

    fn set(settings: &mut Settings, path: &str, value: Value) {
        settings.reduce(SettingsAction::Set(path.into(), value), &View::default());
    }

    #[test]
    fn invalid_setting_is_refused_and_the_old_value_kept() {
        let mut settings = Settings::default();
        set(&mut settings, "task.noop_share", json!(0.9));
        assert_eq!(
            settings.config.task.noop_share,
            Settings::default().config.task.noop_share
        );
        assert_eq!(settings.error.as_ref().unwrap().setting, "task.noop_share");
        set(&mut settings, "task.instructions", json!(64));
        assert_eq!(settings.config.task.instructions, 64);
        assert!(settings.error.is_none());
        assert!(settings.preset.is_none());
    }

    #[test]
    fn fewer_steps_shrink_the_warm_up_and_the_evaluations_instead_of_being_refused() {
        let mut settings = Settings::default();
        let before = settings.config.train.clone();
        set(&mut settings, "train.steps", json!(60));
        assert!(settings.error.is_none(), "{:?}", settings.error);
        assert_eq!(settings.config.train.steps, 60);
        // The one rule: warm-up and evaluation interval keep their share of the run.
        let expected = settings.config.clone();
        assert_eq!(Settings::default().config.with_steps(60).unwrap(), expected);
        assert!(settings.config.train.warmup_steps < before.warmup_steps);
        assert!(settings.config.train.eval_every <= 60);
    }

    /// The values the form offers for a setting (or one end of a span): each bound, and a value in
    /// between on the form's step grid, as the form's text.
    fn offered(bounds: crate::engine::settings::Bounds) -> Vec<String> {
        let middle =
            bounds.min + ((bounds.max - bounds.min) / 2.0 / bounds.step).floor() * bounds.step;
        [bounds.min, middle, bounds.max]
            .into_iter()
            .map(|x| {
                if bounds.whole {
                    format!("{}", x as u64)
                } else {
                    format!("{x}")
                }
            })
            .collect()
    }

    /// Settings in which every other setting leaves room: a large alphabet and budget, long inputs
    /// and positions, no warm-up.
    fn roomy() -> ValidConfig {
        let mut config = crate::engine::config::ExperimentConfig::default();
        config.task.alphabet = 26;
        config.task.z_len = crate::engine::config::Span::new(1, 64);
        config.task.budget = crate::engine::config::Budget::Total(1_000_000);
        config.task.instructions = 100;
        config.model.max_len = 1024;
        config.train.steps = 1000;
        config.train.warmup_steps = 0;
        config.validate().unwrap()
    }

    /// The other settings a value needs to be consistent (the cross-setting rules of validation:
    /// heads divide the width, x fits in z as often as it must occur, the sequence fits the
    /// positions, the rules fit the alphabet and the budget, the warm-up fits the steps).
    fn make_room(path: &str, text: &str) -> Vec<(&'static str, Value)> {
        let number = text.parse::<f64>().unwrap_or(0.0);
        // One end of a span is set at a time: the other end leaves it all its room.
        let mut room = match setting(path) {
            Some(s) if s.path != path => {
                vec![(
                    s.path,
                    json!({"min": s.bounds.min as u64, "max": s.bounds.max as u64}),
                )]
            }
            _ => Vec::new(),
        };
        room.extend(match path {
            "model.heads" => vec![("model.width", json!(number as u64 * 16))],
            "task.z_len.min" | "task.z_len.max" if number < 3.0 => vec![
                ("task.x_len", json!({"min": 1, "max": 1})),
                ("task.z_len", json!({"min": 1, "max": 64})),
            ],
            "task.occurrences" => vec![("task.x_len", json!({"min": 1, "max": 1}))],
            "task.alphabet" => vec![
                ("task.instructions", json!(1)),
                ("eval.test_rules", json!(1)),
            ],
            "task.budget" => vec![("task.instructions", json!(1))],
            "task.program.answer" | "task.program.rule_pool" => vec![
                ("task.program.semantics", json!("markov")),
                ("task.instructions", json!(1)),
            ],
            "task.program.terminal" => vec![("task.program.semantics", json!("markov"))],
            "model.max_len" => vec![
                ("task.instructions", json!(1)),
                ("eval.test_rules", json!(1)),
                ("task.x_len", json!({"min": 1, "max": 1})),
                ("task.y_len", json!({"min": 0, "max": 0})),
                ("task.z_len", json!({"min": 1, "max": 1})),
            ],
            "task.semantics" => vec![("task.x_len", json!({"min": 1, "max": 32}))],
            "train.warmup_steps" => vec![("train.steps", json!(1_000_000))],
            _ => Vec::new(),
        });
        room
    }

    /// Every value the form offers (from the settings table, as the form renders it) is accepted by
    /// validation, given room in the other settings, and reads back the same from a share link.
    #[test]
    fn every_value_the_form_offers_is_valid_and_round_trips_through_a_link() {
        use crate::engine::settings::Codec;
        for s in SETTINGS {
            let fields: Vec<(String, Vec<String>)> = match s.codec {
                Codec::Int | Codec::Float => vec![(s.path.into(), offered(s.bounds))],
                Codec::OptionalFloat => {
                    let mut values = offered(s.bounds);
                    values.push(String::new());
                    vec![(s.path.into(), values)]
                }
                Codec::Span => ["min", "max"]
                    .iter()
                    .map(|end| (format!("{}.{end}", s.path), offered(s.bounds)))
                    .collect(),
                Codec::Budget => vec![(
                    s.path.into(),
                    offered(s.bounds)
                        .into_iter()
                        .flat_map(|n| [format!("total:{n}"), format!("per_rule:{n}")])
                        .collect(),
                )],
                Codec::Frequency => vec![(
                    s.path.into(),
                    std::iter::once("uniform".to_string())
                        .chain(
                            offered(s.bounds)
                                .into_iter()
                                .map(|a| format!("power_law:{a}")),
                        )
                        .collect(),
                )],
                Codec::IntList => vec![(s.path.into(), offered(s.bounds))],
                Codec::Semantics => vec![(
                    s.path.into(),
                    std::iter::once("none".to_string())
                        .chain(
                            offered(s.bounds)
                                .into_iter()
                                .map(|k| format!("repeated+periodic+mirrored:{k}-{k}:1-1")),
                        )
                        .collect(),
                )],
                Codec::Choice(names) => {
                    vec![(s.path.into(), names.iter().map(|n| n.to_string()).collect())]
                }
            };
            for (path, values) in fields {
                for text in values {
                    let base = crate::engine::settings::apply_settings(
                        &roomy(),
                        &make_room(&path, &text)
                            .into_iter()
                            .map(|(p, v)| (p.to_string(), v))
                            .collect(),
                    )
                    .unwrap_or_else(|e| panic!("{path} = {text}: the room itself is refused: {e}"));
                    let mut settings = Settings {
                        config: base,
                        ..Settings::default()
                    };
                    settings.reduce(
                        SettingsAction::SetText(path.clone(), text.clone()),
                        &View::default(),
                    );
                    assert!(
                        settings.error.is_none(),
                        "{path} = {text:?}: {:?}",
                        settings.error
                    );
                    let written = crate::engine::settings::get_path(
                        &serde_json::to_value(&settings.config).unwrap(),
                        &path,
                    )
                    .cloned()
                    .unwrap();
                    assert_eq!(
                        field_value(&path, &text).unwrap(),
                        written,
                        "{path} = {text:?}"
                    );
                    let link = crate::page::link::write(&settings.config, None, false);
                    let back = crate::page::link::parse(&link, &ExperimentConfig::default());
                    assert!(
                        back.notices.is_empty(),
                        "{path} = {text:?}: {:?}",
                        back.notices
                    );
                    assert_eq!(&back.config, settings.config.raw(), "{path} = {text:?}");
                }
                // Just outside the bounds is refused, and named.
                if s.codec == Codec::Int || s.codec == Codec::Float {
                    let mut settings = Settings {
                        config: roomy(),
                        ..Settings::default()
                    };
                    let above = if s.bounds.whole {
                        format!("{}", s.bounds.max as u64 + 1)
                    } else {
                        format!("{}", s.bounds.max * 1.5)
                    };
                    settings.reduce(
                        SettingsAction::SetText(path.clone(), above.clone()),
                        &View::default(),
                    );
                    assert_eq!(
                        settings.error.as_ref().map(|e| e.setting.as_str()),
                        Some(s.path),
                        "{path} = {above}"
                    );
                }
            }
        }
    }
}

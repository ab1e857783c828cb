//! Every setting of an experiment, declared once.
//!
//! [`SETTINGS`] is the one table of settings: each entry names the setting's dotted path in the
//! config (`task.instructions`), its short key and text codec in share links (`I=1024`), its label
//! and hint in the page's form, its bounds, and whether (and how) a sweep can vary it. Validation
//! ([`crate::engine::config`]), share links (`page::link`), the page's form and the sweep builder
//! (`study::sweep`) all read this table, so they cannot disagree: TensorFlow Playground's `state.ts`
//! drives its URL the same way.
//!
//! Values travel as JSON ([`serde_json::Value`]) between the table and the typed config: dotted
//! paths address the serialized config ([`get_path`], [`set_path`]), and [`apply_settings`] turns a
//! set of overrides into a validated config.

use crate::engine::config::{ConfigError, ExperimentConfig, MAX_BUDGET, ValidConfig};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A group of settings: a fieldset of the page's form, and a name a teacher's link can hide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// What the model is asked to learn (the seed belongs here too).
    Task,
    /// The transformer's shape.
    Model,
    /// The training loop.
    Train,
    /// The evaluation sets.
    Eval,
}

impl Group {
    /// Every group, in form order.
    pub const ALL: [Group; 4] = [Group::Task, Group::Model, Group::Train, Group::Eval];

    /// The name links use (`hide=model`).
    pub fn name(self) -> &'static str {
        match self {
            Group::Task => "task",
            Group::Model => "model",
            Group::Train => "train",
            Group::Eval => "eval",
        }
    }

    /// The legend of its fieldset.
    pub fn title(self) -> &'static str {
        match self {
            Group::Task => "Task",
            Group::Model => "Model",
            Group::Train => "Training",
            Group::Eval => "Evaluation",
        }
    }
}

/// How a setting's value is written as text (in links, and in the form's text fields).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// A whole number: `1024`.
    Int,
    /// A finite number: `0.003`.
    Float,
    /// A number, or `none`: `1` or `none`.
    OptionalFloat,
    /// An inclusive range: `1-3`, or `2` for `2-2`.
    Span,
    /// Whole numbers: `1,2,3`.
    IntList,
    /// `total:20000` or `per_rule:20`.
    Budget,
    /// `uniform` or `power_law:0.5`.
    Frequency,
    /// `none`, or families, train `k` and test `k`: `repeated+periodic:2-3:1`.
    Semantics,
    /// One of a fixed list of names: `gpt2`.
    Choice(&'static [&'static str]),
}

/// The numbers a setting accepts: each number in its value (both ends of a span, each element of a
/// list, the amount of a budget, the shape of a power law, the `k` of semantic families) lies in
/// `min..=max`, and is a whole number when `whole`. `step` is the form's spinner step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// Smallest number accepted.
    pub min: f64,
    /// Largest number accepted.
    pub max: f64,
    /// Whether only whole numbers are accepted.
    pub whole: bool,
    /// The form's step between offered values (`min`, `min + step`, ...).
    pub step: f64,
}

const fn whole(min: u64, max: u64) -> Bounds {
    Bounds {
        min: min as f64,
        max: max as f64,
        whole: true,
        step: 1.0,
    }
}

const fn number(min: f64, max: f64, step: f64) -> Bounds {
    Bounds {
        min,
        max,
        whole: false,
        step,
    }
}

/// How a sweep turns each typed number into a value of the setting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SweepValue {
    /// The number is the value (`task.instructions`, `task.noop_share`).
    Plain,
    /// `S` examples for every rule: the budget becomes `{"per_rule": S}`.
    PerRule,
    /// The shape of a power law of rule frequencies (`1` is uniform).
    PowerLawShape,
    /// Exactly this many occurrences: the list `[k]`.
    SingleCount,
}

/// A setting a sweep can vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sweepable {
    /// The identifier in links and menus (`per-rule`).
    pub id: &'static str,
    /// The axis name in charts and tables (`examples per rule`).
    pub name: &'static str,
    /// How a typed number becomes the setting's value.
    pub value: SweepValue,
}

/// One setting: where it lives in the config, how links write it, how the form shows it, which
/// values it accepts and whether a sweep can vary it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Setting {
    /// The dotted config path (`task.x_len`), as config files, `--set` and error messages name it.
    pub path: &'static str,
    /// The short key in share links (`x`), also accepted by a teacher's `hide=` and `lock=`.
    pub key: &'static str,
    /// How links (and the form's text fields) write the value.
    pub codec: Codec,
    /// Its group.
    pub group: Group,
    /// Its label in the form.
    pub label: &'static str,
    /// One line on what it does.
    pub hint: &'static str,
    /// The numbers it accepts.
    pub bounds: Bounds,
    /// Shown under the form's "more settings" rather than at once.
    pub advanced: bool,
    /// How a sweep varies it, if it can.
    pub sweep: Option<Sweepable>,
}

/// Every setting, in the order links write them and the form shows them.
pub const SETTINGS: &[Setting] = &[
    Setting {
        path: "seed",
        key: "seed",
        codec: Codec::Int,
        group: Group::Task,
        label: "Seed",
        hint: "Same seed, same data and same initial model.",
        // Up to 2^53 - 1: the largest whole number the page's number fields hold exactly.
        bounds: whole(0, 9_007_199_254_740_991),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "task.instructions",
        key: "I",
        codec: Codec::Int,
        group: Group::Task,
        label: "Distinct instructions (I)",
        hint: "How many different instructions (rules, or programs of rules) the training set holds.",
        bounds: whole(1, 1_000_000),
        advanced: false,
        sweep: Some(Sweepable {
            id: "instructions",
            name: "instructions",
            value: SweepValue::Plain,
        }),
    },
    Setting {
        path: "task.budget",
        key: "budget",
        codec: Codec::Budget,
        group: Group::Task,
        label: "Training examples",
        hint: "A fixed total is shared by the rules; per rule, the total grows with I.",
        bounds: whole(1, MAX_BUDGET as u64),
        advanced: false,
        sweep: Some(Sweepable {
            id: "per-rule",
            name: "examples per rule",
            value: SweepValue::PerRule,
        }),
    },
    Setting {
        path: "task.alphabet",
        key: "alphabet",
        codec: Codec::Int,
        group: Group::Task,
        label: "Alphabet size",
        hint: "Letters a, b, c... used in rules and inputs.",
        bounds: whole(2, 26),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "task.x_len",
        key: "x",
        codec: Codec::Span,
        group: Group::Task,
        label: "Pattern x",
        hint: "Letters in the pattern a rule looks for.",
        bounds: whole(1, 32),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "task.y_len",
        key: "y",
        codec: Codec::Span,
        group: Group::Task,
        label: "Replacement y",
        hint: "0 lets a rule delete its pattern.",
        bounds: whole(0, 32),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "task.z_len",
        key: "z",
        codec: Codec::Span,
        group: Group::Task,
        label: "Input z",
        hint: "Letters in the string the rule is applied to.",
        bounds: whole(1, 64),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "task.noop_share",
        key: "noop",
        codec: Codec::Float,
        group: Group::Task,
        label: "No-op share",
        hint: "Share of inputs where the rule does not apply.",
        bounds: number(0.0, 0.5, 0.05),
        advanced: false,
        sweep: Some(Sweepable {
            id: "noop-share",
            name: "no-op share",
            value: SweepValue::Plain,
        }),
    },
    Setting {
        path: "task.frequency",
        key: "freq",
        codec: Codec::Frequency,
        group: Group::Task,
        label: "Rule frequencies",
        hint: "`uniform`, or `power_law:A` with shape A (below 1: a few rules take most examples).",
        bounds: number(0.01, 10.0, 0.01),
        advanced: true,
        sweep: Some(Sweepable {
            id: "skew",
            name: "skew shape",
            value: SweepValue::PowerLawShape,
        }),
    },
    Setting {
        path: "task.occurrences",
        key: "occ",
        codec: Codec::IntList,
        group: Group::Task,
        label: "Occurrences of x",
        hint: "Allowed counts of x in an input where the rule applies, e.g. `1` or `1,5,10`.",
        bounds: whole(1, 32),
        advanced: true,
        sweep: Some(Sweepable {
            id: "occurrences",
            name: "occurrences",
            value: SweepValue::SingleCount,
        }),
    },
    Setting {
        path: "task.semantics",
        key: "sem",
        codec: Codec::Semantics,
        group: Group::Task,
        label: "Restricted semantics",
        hint: "`none`, or families, training k and test k: `repeated+periodic+mirrored:2-3:1`.",
        // k repeats a base at least once within x, so k is at most x's longest length.
        bounds: whole(1, 32),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "task.inputs",
        key: "inputs",
        codec: Codec::Choice(&["exact", "overwrite"]),
        group: Group::Task,
        label: "Inputs with x",
        hint: "`exact`: x occurs as often as asked; `overwrite`: x written over a random string, maybe more than once.",
        bounds: whole(0, 0),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "task.format",
        key: "format",
        codec: Codec::Choice(&["fields", "packed"]),
        group: Group::Task,
        label: "Sequence format",
        hint: "`fields`: each part padded, answers start at one position; `packed`: no padding inside.",
        bounds: whole(0, 0),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "task.program.rules",
        key: "k",
        codec: Codec::Int,
        group: Group::Task,
        label: "Rules per instruction (k)",
        hint: "1: one rewrite rule, the papers' task; more: an instruction is a program of k rules.",
        bounds: whole(1, 6),
        advanced: false,
        sweep: Some(Sweepable {
            id: "program-rules",
            name: "rules per program",
            value: SweepValue::Plain,
        }),
    },
    Setting {
        path: "task.program.semantics",
        key: "prog",
        codec: Codec::Choice(&["sequence", "markov"]),
        group: Group::Task,
        label: "Program semantics",
        hint: "`sequence`: each rule once, in order; `markov`: the first rule that applies, again and again, until none does.",
        bounds: whole(0, 0),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "task.program.answer",
        key: "answer",
        codec: Codec::Choice(&["direct", "trace"]),
        group: Group::Task,
        label: "Answer",
        hint: "`direct`: the final string; `trace`: each intermediate string, then the final one (step by step).",
        bounds: whole(0, 0),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "task.program.terminal",
        key: "terminal",
        codec: Codec::Choice(&["none", "last"]),
        group: Group::Task,
        label: "Terminal rule",
        hint: "`last`: a Markov program halts when its last rule fires (written `x ->. y`).",
        bounds: whole(0, 0),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "task.program.max_steps",
        key: "max_steps",
        codec: Codec::Int,
        group: Group::Task,
        label: "Markov step bound",
        hint: "Most rewrites a Markov program may take; programs and inputs that need more are redrawn.",
        bounds: whole(1, 16),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "task.program.rule_pool",
        key: "pool",
        codec: Codec::Int,
        group: Group::Task,
        label: "Rule pool",
        hint: "Distinct rules the training programs are built from; 0: each program has its own rules.",
        bounds: whole(0, 1_000_000),
        advanced: true,
        sweep: Some(Sweepable {
            id: "rule-pool",
            name: "rules in the pool",
            value: SweepValue::Plain,
        }),
    },
    Setting {
        path: "model.layers",
        key: "layers",
        codec: Codec::Int,
        group: Group::Model,
        label: "Layers",
        hint: "Transformer blocks.",
        bounds: whole(1, 12),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "model.width",
        key: "width",
        codec: Codec::Int,
        group: Group::Model,
        label: "Width",
        hint: "Size of each token's vector; a multiple of the heads.",
        bounds: Bounds {
            step: 4.0,
            ..whole(4, 1024)
        },
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "model.heads",
        key: "heads",
        codec: Codec::Int,
        group: Group::Model,
        label: "Heads",
        hint: "Attention heads per layer; they divide the width.",
        bounds: whole(1, 16),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "model.ff_width",
        key: "ff",
        codec: Codec::Int,
        group: Group::Model,
        label: "Feed-forward width",
        hint: "Hidden units of each block's MLP.",
        bounds: whole(1, 8192),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "model.max_len",
        key: "maxlen",
        codec: Codec::Int,
        group: Group::Model,
        label: "Positions",
        hint: "The longest sequence the model accepts (at least the task's sequence length).",
        // The shortest task (x of 1 letter, empty y, z of 1 letter) makes sequences of 7 tokens.
        bounds: whole(8, 1024),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "model.init",
        key: "init",
        codec: Codec::Choice(&["gpt2", "pytorch"]),
        group: Group::Model,
        label: "Initial weights",
        hint: "`pytorch`: PyTorch's defaults (learns this task faster); `gpt2`: N(0, 0.02), GPT-2's.",
        bounds: whole(0, 0),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "train.steps",
        key: "steps",
        codec: Codec::Int,
        group: Group::Train,
        label: "Steps",
        hint: "Optimizer steps of the run (warm-up and evaluations scale with them).",
        bounds: whole(1, 1_000_000),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "train.batch_size",
        key: "batch",
        codec: Codec::Int,
        group: Group::Train,
        label: "Batch size",
        hint: "Sequences per step.",
        bounds: whole(1, 4096),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "train.learning_rate",
        key: "lr",
        codec: Codec::Float,
        group: Group::Train,
        label: "Learning rate",
        hint: "Peak AdamW rate; too high diverges.",
        bounds: number(1e-6, 1.0, 1e-4),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "train.warmup_steps",
        key: "warmup",
        codec: Codec::Int,
        group: Group::Train,
        label: "Warm-up steps",
        hint: "Steps of linear warm-up to the peak rate (at most the steps).",
        bounds: whole(0, 1_000_000),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "train.final_lr_ratio",
        key: "lr_end",
        codec: Codec::Float,
        group: Group::Train,
        label: "Final learning rate",
        hint: "The rate decays linearly to this share of the peak at the last step (1: no decay).",
        bounds: number(0.0, 1.0, 0.05),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "train.weight_decay",
        key: "wd",
        codec: Codec::Float,
        group: Group::Train,
        label: "Weight decay",
        hint: "AdamW's decoupled weight decay.",
        bounds: number(0.0, 1.0, 0.01),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "train.grad_clip",
        key: "clip",
        codec: Codec::OptionalFloat,
        group: Group::Train,
        label: "Gradient clipping",
        hint: "Largest L2 norm of each parameter's gradient; empty for none.",
        bounds: number(1e-6, 1e6, 0.1),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "train.eval_every",
        key: "eval_every",
        codec: Codec::Int,
        group: Group::Train,
        label: "Evaluate every",
        hint: "Steps between evaluations.",
        bounds: whole(1, 1_000_000),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "train.sampling",
        key: "sampling",
        codec: Codec::Choice(&["epochs", "replacement"]),
        group: Group::Train,
        label: "Batches",
        hint: "`epochs`: every example once per epoch, shuffled; `replacement`: drawn uniformly.",
        bounds: whole(0, 0),
        advanced: true,
        sweep: None,
    },
    Setting {
        path: "eval.test_rules",
        key: "test_rules",
        codec: Codec::Int,
        group: Group::Eval,
        label: "Held-out rules",
        hint: "Rules never trained on, for the unseen-rule accuracy.",
        bounds: whole(1, 10_000),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "eval.seen_examples",
        key: "n_seen",
        codec: Codec::Int,
        group: Group::Eval,
        label: "Seen-rule tests",
        hint: "New inputs for training rules, per evaluation.",
        bounds: whole(1, 100_000),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "eval.unseen_examples",
        key: "n_unseen",
        codec: Codec::Int,
        group: Group::Eval,
        label: "Unseen-rule tests",
        hint: "Inputs for held-out rules, per evaluation.",
        bounds: whole(1, 100_000),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "eval.noop_examples",
        key: "n_noop",
        codec: Codec::Int,
        group: Group::Eval,
        label: "No-op tests",
        hint: "Held-out-rule inputs where x is absent.",
        bounds: whole(1, 100_000),
        advanced: false,
        sweep: None,
    },
    Setting {
        path: "eval.interim_examples",
        key: "n_interim",
        codec: Codec::Int,
        group: Group::Eval,
        label: "Tests per interim evaluation",
        hint: "Inputs per split of every evaluation but the last, which uses all; 0: all every time.",
        bounds: whole(0, 100_000),
        advanced: true,
        sweep: None,
    },
];

/// The setting at a dotted path (`task.x_len`), or the one whose value holds it (`task.x_len.max`).
pub fn setting(path: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| {
        path == s.path
            || path
                .strip_prefix(s.path)
                .is_some_and(|rest| rest.starts_with('.'))
    })
}

/// The setting with this link key (`I`).
pub fn by_key(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|s| s.key == key)
}

/// The settings a sweep can vary, in menu order.
pub fn sweepable() -> impl Iterator<Item = (&'static Setting, Sweepable)> {
    SETTINGS.iter().filter_map(|s| Some((s, s.sweep?)))
}

/// The sweepable setting with this sweep identifier (`per-rule`).
pub fn sweepable_by_id(id: &str) -> Option<(&'static Setting, Sweepable)> {
    sweepable().find(|(_, s)| s.id == id)
}

/// The setting at a dotted path (`train.learning_rate`) of a serialized config.
pub fn get_path<'a>(target: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.')
        .try_fold(target, |node, key| node.as_object()?.get(key))
}

/// Replaces the setting at a dotted path of a serialized config; an unknown path is an error naming
/// it.
pub fn set_path(target: &mut Value, path: &str, value: Value) -> Result<(), ConfigError> {
    let mut node = target;
    for key in path.split('.') {
        node = node
            .as_object_mut()
            .and_then(|object| object.get_mut(key))
            .ok_or_else(|| ConfigError::new(path, "no such setting"))?;
    }
    *node = value;
    Ok(())
}

/// `base` with the settings of `overrides` (dotted path to a JSON value that replaces the whole
/// setting) applied, validated.
///
/// # Errors
/// A [`ConfigError`] naming the first unknown path, the setting whose value does not fit its type, or
/// the first setting validation rejects.
pub fn apply_settings(
    base: &ExperimentConfig,
    overrides: &BTreeMap<String, Value>,
) -> Result<ValidConfig, ConfigError> {
    let mut value = serde_json::to_value(base).expect("configs serialize");
    for (path, new) in overrides {
        set_path(&mut value, path, new.clone())?;
    }
    let config = ExperimentConfig::from_value(value).map_err(|e| {
        // Name the setting the parser complained about when it says which; else every override.
        if e.setting.is_empty() {
            ConfigError::new(
                overrides.keys().cloned().collect::<Vec<_>>().join(", "),
                e.message,
            )
        } else {
            e
        }
    })?;
    config.validate()
}

impl Bounds {
    /// Whether `x` is a number this setting accepts.
    pub fn admits(&self, x: f64) -> bool {
        x.is_finite() && x >= self.min && x <= self.max && (!self.whole || x.fract() == 0.0)
    }

    /// The bounds in words, for messages: `between 2 and 26`, `a whole number from 1 to 32`.
    pub fn describe(&self) -> String {
        if self.whole {
            format!("a whole number from {} to {}", self.min, self.max)
        } else {
            format!("a number from {} to {}", self.min, self.max)
        }
    }
}

impl Setting {
    /// The numbers of a serialized value that [`Self::bounds`] applies to, or why the value has the
    /// wrong shape.
    fn numbers(&self, value: &Value) -> Result<Vec<f64>, String> {
        let number = |v: &Value| {
            v.as_f64()
                .ok_or_else(|| format!("`{}` is not a number", shorten(&v.to_string())))
        };
        let span = |v: &Value| -> Result<Vec<f64>, String> {
            Ok(vec![number(&v["min"])?, number(&v["max"])?])
        };
        match self.codec {
            Codec::Int | Codec::Float => Ok(vec![number(value)?]),
            Codec::OptionalFloat => match value {
                Value::Null => Ok(Vec::new()),
                v => Ok(vec![number(v)?]),
            },
            Codec::Span => span(value),
            Codec::IntList => value
                .as_array()
                .ok_or("not a list")?
                .iter()
                .map(number)
                .collect(),
            Codec::Budget => {
                let (_, amount) = value
                    .as_object()
                    .and_then(|o| o.iter().next())
                    .ok_or("not a budget")?;
                Ok(vec![number(amount)?])
            }
            Codec::Frequency => match value["kind"].as_str() {
                Some("power_law") => Ok(vec![number(&value["shape"])?]),
                _ => Ok(Vec::new()),
            },
            Codec::Semantics => match value {
                Value::Null => Ok(Vec::new()),
                v => Ok([span(&v["train_k"])?, span(&v["test_k"])?].concat()),
            },
            Codec::Choice(_) => Ok(Vec::new()),
        }
    }

    /// Checks a serialized value against the setting's bounds.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting and the accepted range.
    pub fn check(&self, value: &Value) -> Result<(), ConfigError> {
        let numbers = self
            .numbers(value)
            .map_err(|why| ConfigError::new(self.path, why))?;
        match numbers.into_iter().find(|&x| !self.bounds.admits(x)) {
            None => Ok(()),
            Some(bad) => Err(ConfigError::new(
                self.path,
                format!("must be {}, got {bad}", self.bounds.describe()),
            )),
        }
    }

    /// The text of a serialized value, `None` when the value has an unexpected shape.
    pub fn write(&self, value: &Value) -> Option<String> {
        self.codec.write(value)
    }

    /// The serialized value of a text, or why it cannot be one.
    ///
    /// # Errors
    /// A [`ReadError`] saying what the text should look like.
    pub fn read(&self, text: &str) -> Result<Value, ReadError> {
        self.codec.read(text)
    }
}

impl Codec {
    /// The text of a serialized value, `None` when the value has an unexpected shape.
    pub fn write(self, value: &Value) -> Option<String> {
        let span = |v: &Value| {
            let (min, max) = (v["min"].as_u64()?, v["max"].as_u64()?);
            Some(format!("{min}-{max}"))
        };
        match self {
            Codec::Int => value.as_u64().map(|n| n.to_string()),
            Codec::Float => value.as_f64().map(float),
            Codec::OptionalFloat => match value {
                Value::Null => Some("none".into()),
                v => v.as_f64().map(float),
            },
            Codec::Span => span(value),
            Codec::IntList => value.as_array().map(|items| {
                items
                    .iter()
                    .filter_map(Value::as_u64)
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }),
            Codec::Budget => {
                let (kind, amount) = value.as_object()?.iter().next()?;
                Some(format!("{kind}:{}", amount.as_u64()?))
            }
            Codec::Frequency => match value["kind"].as_str()? {
                "power_law" => Some(format!("power_law:{}", float(value["shape"].as_f64()?))),
                kind => Some(kind.to_string()),
            },
            Codec::Semantics => match value {
                Value::Null => Some("none".into()),
                v => {
                    let families = v["families"]
                        .as_array()?
                        .iter()
                        .map(|f| f.as_str().map(str::to_string))
                        .collect::<Option<Vec<_>>>()?;
                    Some(format!(
                        "{}:{}:{}",
                        families.join("+"),
                        span(&v["train_k"])?,
                        span(&v["test_k"])?
                    ))
                }
            },
            Codec::Choice(names) => value
                .as_str()
                .filter(|name| names.contains(name))
                .map(str::to_string),
        }
    }

    /// The serialized value of a text, or why it cannot be one. Only the syntax is checked here;
    /// bounds and consistency are validation's.
    ///
    /// # Errors
    /// A [`ReadError`] saying what the text should look like.
    pub fn read(self, text: &str) -> Result<Value, ReadError> {
        self.read_text(text).map_err(ReadError)
    }

    fn read_text(self, text: &str) -> Result<Value, String> {
        // A browser's number field gives an empty text for what is not a number ("1e", "abc"), so
        // the message cannot quote it: it says what to type instead.
        let int = |t: &str| {
            if t.trim().is_empty() {
                return Err("is empty or not a number: type a whole number".to_string());
            }
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{}` is not a whole number", shorten(t)))
        };
        let number = |t: &str| match t.trim().parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ if t.trim().is_empty() => Err("is empty or not a number: type a number".to_string()),
            _ => Err(format!("`{}` is not a finite number", shorten(t))),
        };
        let span = |t: &str| -> Result<Value, String> {
            let (min, max) = t.split_once('-').unwrap_or((t, t));
            Ok(json!({ "min": int(min)?, "max": int(max)? }))
        };
        let text = text.trim();
        match self {
            Codec::Int => int(text).map(Value::from),
            Codec::Float => number(text).map(Value::from),
            Codec::OptionalFloat if text == "none" || text.is_empty() => Ok(Value::Null),
            Codec::OptionalFloat => number(text).map(Value::from),
            Codec::Span => span(text),
            Codec::IntList => text
                .split(',')
                .map(int)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::from),
            Codec::Budget => match text.split_once(':') {
                Some((kind @ ("total" | "per_rule"), amount)) => Ok(json!({ kind: int(amount)? })),
                _ => Err(format!(
                    "`{}` is not `total:N` or `per_rule:S`",
                    shorten(text)
                )),
            },
            Codec::Frequency => match text.split_once(':') {
                None if text == "uniform" => Ok(json!({ "kind": "uniform" })),
                Some(("power_law", shape)) => {
                    Ok(json!({ "kind": "power_law", "shape": number(shape)? }))
                }
                _ => Err(format!(
                    "`{}` is not `uniform` or `power_law:SHAPE`",
                    shorten(text)
                )),
            },
            Codec::Semantics if text == "none" => Ok(Value::Null),
            Codec::Semantics => {
                let mut parts = text.split(':');
                let (Some(families), Some(train_k), Some(test_k), None) =
                    (parts.next(), parts.next(), parts.next(), parts.next())
                else {
                    return Err(format!(
                        "`{}` is not `none` or `FAMILIES:K-K:K-K`",
                        shorten(text)
                    ));
                };
                Ok(json!({
                    "families": families.split('+').collect::<Vec<_>>(),
                    "train_k": span(train_k)?,
                    "test_k": span(test_k)?,
                }))
            }
            Codec::Choice(names) if names.contains(&text) => Ok(Value::from(text)),
            Codec::Choice(names) => Err(format!(
                "`{}` is not one of {}",
                shorten(text),
                names.join(", ")
            )),
        }
    }
}

/// A text that is not a value of a setting: what it should look like, in words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ReadError(pub String);

/// Shortest text that reads back to the same `f64`.
fn float(x: f64) -> String {
    format!("{x}")
}

/// At most 40 characters of user text in a notice or message (longer text ends in `…`), so a pasted
/// link or file cannot flood the page.
pub fn shorten(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(40).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_keys_are_unique_and_every_path_exists_in_the_config() {
        let config = serde_json::to_value(ExperimentConfig::default()).unwrap();
        let mut paths = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for s in SETTINGS {
            assert!(paths.insert(s.path), "{} twice", s.path);
            assert!(keys.insert(s.key), "{} twice", s.key);
            assert!(
                get_path(&config, s.path).is_some(),
                "{} not in the config",
                s.path
            );
            assert!(s.bounds.min <= s.bounds.max, "{}", s.path);
            assert!(
                s.bounds.admits(s.bounds.min) && s.bounds.admits(s.bounds.max),
                "{}",
                s.path
            );
        }
        // Every leaf of the config is some setting's (or inside one's value).
        fn leaves(value: &Value, prefix: &str, out: &mut Vec<String>) {
            match value.as_object() {
                Some(object)
                    if !object.is_empty()
                        && prefix != "task.budget"
                        && prefix != "task.frequency" =>
                {
                    for (k, v) in object {
                        let path = if prefix.is_empty() {
                            k.clone()
                        } else {
                            format!("{prefix}.{k}")
                        };
                        leaves(v, &path, out);
                    }
                }
                _ => out.push(prefix.to_string()),
            }
        }
        let mut all = Vec::new();
        leaves(&config, "", &mut all);
        for leaf in all {
            assert!(
                setting(&leaf).is_some(),
                "the config's `{leaf}` has no row in the table"
            );
        }
    }

    #[test]
    fn a_setting_is_found_by_path_by_a_path_inside_it_and_by_key() {
        assert_eq!(setting("task.x_len").unwrap().key, "x");
        assert_eq!(setting("task.x_len.max").unwrap().key, "x");
        assert!(setting("task.x_lenx").is_none());
        assert_eq!(by_key("I").unwrap().path, "task.instructions");
        assert_eq!(sweepable_by_id("per-rule").unwrap().0.path, "task.budget");
    }

    #[test]
    fn get_path_reads_what_set_path_writes() {
        let mut value = serde_json::to_value(ExperimentConfig::default()).unwrap();
        set_path(&mut value, "task.x_len.max", 3.into()).unwrap();
        assert_eq!(get_path(&value, "task.x_len.max"), Some(&Value::from(3)));
        assert_eq!(get_path(&value, "seed"), value.get("seed"));
        assert_eq!(get_path(&value, "task.nope"), None);
        assert_eq!(get_path(&value, "seed.deeper"), None);
        assert_eq!(
            set_path(&mut value, "task.colour", 1.into())
                .unwrap_err()
                .setting,
            "task.colour"
        );
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
        // A typo inside a nested value is named too, with the key that was not understood.
        let err = apply_settings(
            &base,
            &BTreeMap::from([("model".into(), json!({"layers": 2, "widht": 64}))]),
        )
        .unwrap_err();
        assert!(err.message.contains("widht"), "{err}");
    }

    #[test]
    fn bounds_refuse_fractions_of_whole_numbers_and_non_finite_numbers() {
        let layers = setting("model.layers").unwrap();
        assert!(layers.check(&json!(2)).is_ok());
        assert!(layers.check(&json!(2.5)).is_err());
        assert!(
            layers
                .check(&json!(13))
                .unwrap_err()
                .message
                .contains("from 1 to 12")
        );
        assert!(layers.check(&Value::Null).is_err());
        let budget = setting("task.budget").unwrap();
        assert!(budget.check(&json!({"per_rule": 0})).is_err());
        let semantics = setting("task.semantics").unwrap();
        assert!(semantics.check(&Value::Null).is_ok());
        assert!(
            semantics
                .check(&json!({"families": ["repeated"], "train_k": {"min": 2, "max": 99}, "test_k": {"min": 1, "max": 1}}))
                .is_err()
        );
    }

    #[test]
    fn an_empty_number_says_what_to_type_and_a_bad_one_is_quoted() {
        let message = |codec: Codec, text: &str| codec.read(text).unwrap_err().0;
        for text in ["", "  "] {
            assert_eq!(
                message(Codec::Int, text),
                "is empty or not a number: type a whole number"
            );
            assert_eq!(
                message(Codec::Float, text),
                "is empty or not a number: type a number"
            );
            assert!(message(Codec::Span, text).contains("type a whole number"));
        }
        assert_eq!(message(Codec::Int, "many"), "`many` is not a whole number");
        assert_eq!(message(Codec::Float, "inf"), "`inf` is not a finite number");
        // An optional number left empty is none, not an error.
        assert_eq!(Codec::OptionalFloat.read("").unwrap(), Value::Null);
    }

    #[test]
    fn codecs_read_what_they_write() {
        for (codec, text) in [
            (Codec::Int, "1024"),
            (Codec::Float, "0.003"),
            (Codec::OptionalFloat, "none"),
            (Codec::OptionalFloat, "1.5"),
            (Codec::Span, "1-3"),
            (Codec::IntList, "1,5,10"),
            (Codec::Budget, "per_rule:20"),
            (Codec::Frequency, "power_law:0.5"),
            (Codec::Frequency, "uniform"),
            (Codec::Semantics, "repeated+mirrored:2-3:1-1"),
            (Codec::Semantics, "none"),
            (Codec::Choice(&["a", "b"]), "b"),
        ] {
            let value = codec.read(text).unwrap();
            assert_eq!(codec.write(&value).as_deref(), Some(text), "{codec:?}");
        }
        assert_eq!(Codec::Span.read("2").unwrap(), json!({"min": 2, "max": 2}));
        assert!(
            Codec::Choice(&["a"])
                .read("c")
                .unwrap_err()
                .0
                .contains("one of a")
        );
        assert!(Codec::Budget.read("lots").is_err());
    }

    #[test]
    fn user_text_in_messages_is_cut_at_forty_characters() {
        assert_eq!(shorten("short"), "short");
        let long = "x".repeat(50);
        assert_eq!(shorten(&long), format!("{}…", "x".repeat(40)));
    }
}

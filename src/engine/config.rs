//! One nested, serializable experiment config: task, model, training, evaluation and the seed.
//!
//! Raw and validated settings are two types (ripgrep's `LowArgs` and `HiArgs`): [`ExperimentConfig`]
//! is what a person wrote (a config file, `--set`, a link, the page's form, an imported file);
//! [`ExperimentConfig::validate`] checks it against the settings table
//! ([`crate::engine::settings::SETTINGS`]) and the consistency rules, and returns a [`ValidConfig`],
//! the only form the engine runs. Errors are [`ConfigError`]s naming the setting by its dotted path.
//!
//! Every field has a default, so a partial JSON file or a link that names only a few keys still makes
//! a full config; a key the config does not know is refused by name (`deny_unknown_fields`), so a typo
//! in a file is never silently dropped.

use crate::engine::settings::{SETTINGS, get_path};
use crate::engine::task::semantics::Family;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An inclusive range of lengths (or of a semantic parameter `k`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Span {
    /// Smallest value.
    pub min: usize,
    /// Largest value (inclusive).
    pub max: usize,
}

impl Span {
    /// The span `min..=max`.
    pub const fn new(min: usize, max: usize) -> Self {
        Self { min, max }
    }

    /// Whether `value` lies in the span.
    pub fn contains(&self, value: usize) -> bool {
        (self.min..=self.max).contains(&value)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}-{}", self.min, self.max)
        }
    }
}

/// How many training examples there are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Budget {
    /// A fixed total number of examples `N`, spread over the rules by [`RuleFrequency`].
    Total(usize),
    /// `S` examples for every rule (the frequency setting is then ignored).
    PerRule(usize),
}

impl Budget {
    /// Total number of training examples for `instructions` rules.
    pub fn total(&self, instructions: usize) -> usize {
        match *self {
            Budget::Total(n) => n,
            Budget::PerRule(s) => s.saturating_mul(instructions),
        }
    }
}

/// How often each training rule appears.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum RuleFrequency {
    /// Every rule gets the same number of examples (up to one, when the budget does not divide).
    Uniform,
    /// The papers' power law: rule `i` of `I` gets the mass `F((i+1)/I) - F(i/I)` of the budget with
    /// `F(u) = u^shape`, the CDF of the PMF `a*u^(a-1)` on `[0, 1]`. `shape = 1` is uniform; smaller
    /// shapes give a few very frequent rules and a long tail of rare ones (some may get no example).
    PowerLaw {
        /// The shape `a` (> 0).
        shape: f64,
    },
}

/// Restricts rules to structured patterns, for the restricted-semantics experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SemanticsConfig {
    /// Families mixed in training (and in testing), each rule drawn from one uniformly.
    pub families: Vec<Family>,
    /// `k` range of the training rules.
    pub train_k: Span,
    /// `k` range of the held-out test rules.
    pub test_k: Span,
}

impl Default for SemanticsConfig {
    fn default() -> Self {
        Self {
            families: vec![Family::Repeated, Family::Periodic, Family::Mirrored],
            train_k: Span::new(2, 3),
            test_k: Span::new(1, 1),
        }
    }
}

/// What the model is asked to learn and how the training set is drawn.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TaskConfig {
    /// Number of letters (`a`, `b`, ...), 2 to 26.
    pub alphabet: usize,
    /// Length of the pattern `x` (at least 1).
    pub x_len: Span,
    /// Length of the replacement `y` (0 allowed: deletions).
    pub y_len: Span,
    /// Length of the input `z`.
    pub z_len: Span,
    /// Number of distinct training rules `I`.
    pub instructions: usize,
    /// Number of training examples.
    pub budget: Budget,
    /// Share of training inputs in which `x` does not occur (0 to 0.5).
    pub noop_share: f64,
    /// Rule frequency distribution (with a total budget).
    pub frequency: RuleFrequency,
    /// Allowed numbers of occurrences of `x` in a has-op input, drawn uniformly per example.
    /// `[1]` by default; `[1, 5, 10, 15, 20]` reproduces the papers' mixture.
    pub occurrences: Vec<usize>,
    /// Restricted semantics, or `None` for unrestricted random rules.
    pub semantics: Option<SemanticsConfig>,
    /// How an input holding `x` is drawn.
    pub inputs: InputSampling,
    /// How the rule, input and answer are laid out in a sequence.
    pub format: SequenceFormat,
    /// Instructions made of several rules; one rule (the default) is the papers' task.
    pub program: ProgramConfig,
}

/// How a program's rules are applied to the input (see [`crate::engine::task::program`]).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum ProgramSemantics {
    /// Each rule once, in order, at its leftmost occurrence (a rule whose `x` is absent does
    /// nothing).
    #[default]
    Sequence,
    /// A Markov algorithm (Markov 1954): again and again, the first rule whose `x` occurs rewrites
    /// its leftmost occurrence, until no rule applies or a terminal rule fires.
    Markov,
}

/// Which rule of a Markov program is terminal (written `x ->. y`): when it fires, the program halts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Terminal {
    /// None: the program halts when no rule applies.
    #[default]
    None,
    /// The last rule of every program.
    Last,
}

/// What the model writes after the prompt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AnswerFormat {
    /// The final string only.
    #[default]
    Direct,
    /// The string after each step, separated by `,`, the final one last (step by step). The loss
    /// covers all of it; exact match looks at the final string.
    Trace,
}

/// Instructions that are programs of `rules` rewrite rules (issue 28).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProgramConfig {
    /// Rules per instruction `k`; 1 with `sequence` is the papers' task, bit for bit.
    pub rules: usize,
    /// How the rules are applied.
    pub semantics: ProgramSemantics,
    /// The terminal rule of `markov` programs.
    pub terminal: Terminal,
    /// Most rewrites a `markov` program may take on an input; programs and inputs that would take
    /// more are rejected when the data are drawn.
    pub max_steps: usize,
    /// The answer's format.
    pub answer: AnswerFormat,
    /// Distinct training rules the training programs are built from; 0: every training program
    /// draws its own fresh rules (then `I` programs hold `I * k` distinct rules).
    pub rule_pool: usize,
}

impl Default for ProgramConfig {
    fn default() -> Self {
        Self {
            rules: 1,
            semantics: ProgramSemantics::Sequence,
            terminal: Terminal::None,
            max_steps: 6,
            answer: AnswerFormat::Direct,
            rule_pool: 0,
        }
    }
}

impl ProgramConfig {
    /// Whether instructions are single rules applied once: the papers' task, drawn and encoded
    /// exactly as before programs existed.
    pub fn is_single_rule(&self) -> bool {
        self.rules == 1 && self.semantics == ProgramSemantics::Sequence
    }

    /// Most strings a trace holds: one per rule in a sequence, one per rewrite in a Markov program
    /// (and the input itself when nothing applies).
    pub fn max_trace_strings(&self) -> usize {
        match self.semantics {
            ProgramSemantics::Sequence => self.rules,
            ProgramSemantics::Markov => self.max_steps.max(1),
        }
    }
}

/// How an input that holds `x` (a has-op input) is drawn. (Inputs without `x` are drawn letter by
/// letter, never completing `x`, either way.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputSampling {
    /// `x` occurs exactly as many times as `task.occurrences` draws: `x` is cut into a filler that
    /// holds no `x`, and the input is drawn again if the seams make another occurrence.
    #[default]
    Exact,
    /// A random string of a length in `task.z_len`, with `x` written over it at a uniform position:
    /// `x` may occur more than once, and the leftmost occurrence is rewritten. (An independent
    /// implementation of the papers' task draws inputs this way.)
    Overwrite,
}

/// How a sequence lays out the rule, the input and the answer (see [`crate::engine::tokenizer`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SequenceFormat {
    /// Every field padded to its longest length: the answer always starts at the same position.
    #[default]
    Fields,
    /// No padding inside: `BOS x > y | z =` then the answer and `EOS`, padded on the right only, so
    /// the answer starts where the prompt ends.
    Packed,
}

impl Default for TaskConfig {
    fn default() -> Self {
        Self {
            alphabet: 8,
            x_len: Span::new(1, 3),
            y_len: Span::new(0, 3),
            z_len: Span::new(4, 12),
            instructions: 1000,
            budget: Budget::Total(20_000),
            noop_share: 0.1,
            frequency: RuleFrequency::Uniform,
            occurrences: vec![1],
            semantics: None,
            inputs: InputSampling::Exact,
            format: SequenceFormat::Fields,
            program: ProgramConfig::default(),
        }
    }
}

/// Shape of the decoder-only transformer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ModelConfig {
    /// Number of transformer blocks.
    pub layers: usize,
    /// Residual width `d_model`.
    pub width: usize,
    /// Attention heads (must divide `width`).
    pub heads: usize,
    /// Hidden width of the feed-forward layer.
    pub ff_width: usize,
    /// Size of the learned position table: the longest sequence the model accepts.
    pub max_len: usize,
    /// How the initial weights are drawn.
    pub init: Init,
}

/// How a model's initial weights are drawn (from the experiment's `"init"` stream either way).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Init {
    /// GPT-2's (Radford et al. 2019; nanoGPT): every weight N(0, 0.02), the residual output
    /// projections scaled by `1/sqrt(2 * layers)`, zero biases. The default of files and links that
    /// do not name it: the runs made before this setting existed used it.
    #[default]
    Gpt2,
    /// PyTorch's defaults for the same layers: embeddings N(0, 1); linear layers Kaiming-uniform
    /// (`U(-1/sqrt(fan_in), 1/sqrt(fan_in))`) with biases drawn the same way; the fused query, key
    /// and value projection Xavier-uniform and the attention's biases zero, as
    /// `nn.MultiheadAttention` does. Small models learn this task much faster from it (see the
    /// README's ablation); every preset uses it.
    Pytorch,
}

impl Default for ModelConfig {
    fn default() -> Self {
        Self {
            layers: 2,
            width: 64,
            heads: 4,
            ff_width: 256,
            max_len: 64,
            init: Init::Gpt2,
        }
    }
}

/// The training loop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Peak learning rate of AdamW.
    pub learning_rate: f64,
    /// Linear warm-up steps from 0 to the peak.
    pub warmup_steps: usize,
    /// The rate decays linearly to `peak * final_lr_ratio` at the last step.
    pub final_lr_ratio: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Each parameter's gradient is rescaled to at most this L2 norm (`None`: no clipping).
    pub grad_clip: Option<f64>,
    /// Evaluate every this many steps (and always at the end).
    pub eval_every: usize,
    /// How batches are drawn from the training set.
    pub sampling: BatchSampling,
}

/// How each step's batch is drawn from the training examples (from the `"batches"` stream).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchSampling {
    /// Epochs: every example once, in a new shuffled order each epoch.
    #[default]
    Epochs,
    /// Each example of each batch drawn uniformly, with replacement.
    Replacement,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            steps: 2000,
            batch_size: 64,
            learning_rate: 1e-3,
            warmup_steps: 100,
            final_lr_ratio: 0.1,
            weight_decay: 0.01,
            grad_clip: Some(1.0),
            eval_every: 250,
            sampling: BatchSampling::Epochs,
        }
    }
}

/// The evaluation sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EvalConfig {
    /// Held-out rules, never in a training batch.
    pub test_rules: usize,
    /// Examples of seen rules on inputs absent from the training set.
    pub seen_examples: usize,
    /// Examples of held-out rules.
    pub unseen_examples: usize,
    /// No-op examples of held-out rules (`x` absent), to score no-ops even when training has none.
    pub noop_examples: usize,
    /// Examples per split of every evaluation but the last (the first ones of each split), so that
    /// frequent evaluations stay cheap; the last evaluation always uses the whole sets. 0: every
    /// evaluation uses the whole sets.
    pub interim_examples: usize,
}

impl Default for EvalConfig {
    fn default() -> Self {
        Self {
            test_rules: 100,
            seen_examples: 400,
            unseen_examples: 400,
            noop_examples: 200,
            interim_examples: 0,
        }
    }
}

/// Everything that defines one run. Same config (seed included), same data and, on the same backend,
/// the same curves.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExperimentConfig {
    /// The experiment seed; named sub-seeds derive from it (see [`crate::engine::rng`]).
    pub seed: u64,
    /// The task.
    pub task: TaskConfig,
    /// The model.
    pub model: ModelConfig,
    /// The training loop.
    pub train: TrainConfig,
    /// The evaluation sets.
    pub eval: EvalConfig,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            seed: 1,
            task: TaskConfig::default(),
            model: ModelConfig::default(),
            train: TrainConfig::default(),
            eval: EvalConfig::default(),
        }
    }
}

/// A setting that is out of range or inconsistent with another, named by its dotted path.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting `{setting}`: {message}")]
pub struct ConfigError {
    /// Dotted path of the setting, e.g. `task.x_len`.
    pub setting: String,
    /// What is wrong, in plain words.
    pub message: String,
}

impl ConfigError {
    /// An error about `setting`.
    pub fn new(setting: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            setting: setting.into(),
            message: message.into(),
        }
    }
}

/// Largest total number of training examples accepted (memory guard for the browser).
pub const MAX_BUDGET: usize = 5_000_000;

fn check(ok: bool, setting: &str, message: impl FnOnce() -> String) -> Result<(), ConfigError> {
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(setting, message()))
    }
}

fn check_order(span: Span, setting: &str) -> Result<(), ConfigError> {
    check(span.min <= span.max, setting, || {
        format!("minimum {} is above maximum {}", span.min, span.max)
    })
}

/// Number of programs of `k` different rules, in order, from a pool of `pool` rules
/// (`pool! / (pool - k)!`), saturating at `u128::MAX`.
pub fn programs_from_pool(pool: usize, k: usize) -> u128 {
    (0..k).fold(1u128, |n, i| {
        n.saturating_mul(pool.saturating_sub(i) as u128)
    })
}

impl ProgramConfig {
    /// Distinct rules that `instructions` training instructions and `held_out` held-out ones need:
    /// one each for single rules; `k` each for programs (the training ones from the pool when there
    /// is one).
    pub fn rules_needed(&self, instructions: usize, held_out: usize) -> u128 {
        if self.is_single_rule() {
            return instructions as u128 + held_out as u128;
        }
        let k = self.rules as u128;
        let train = if self.rule_pool > 0 {
            self.rule_pool as u128
        } else {
            instructions as u128 * k
        };
        train + held_out as u128 * k
    }
}

/// Number of strings over `alphabet` letters with a length in `span`, saturating at `u128::MAX`.
pub fn strings_with_length(alphabet: usize, span: Span) -> u128 {
    (span.min..=span.max)
        .map(|len| (alphabet as u128).saturating_pow(len as u32))
        .fold(0u128, u128::saturating_add)
}

impl TaskConfig {
    /// Number of distinct unrestricted rules `x -> y` with `x != y` the settings allow.
    pub fn distinct_rules(&self) -> u128 {
        let xs = strings_with_length(self.alphabet, self.x_len);
        let ys = strings_with_length(self.alphabet, self.y_len);
        let overlap_min = self.x_len.min.max(self.y_len.min);
        let overlap_max = self.x_len.max.min(self.y_len.max);
        let identical = if overlap_min <= overlap_max {
            strings_with_length(self.alphabet, Span::new(overlap_min, overlap_max))
        } else {
            0
        };
        xs.saturating_mul(ys).saturating_sub(identical)
    }

    /// Most occurrences of `x` a has-op input may hold.
    pub fn max_occurrences(&self) -> usize {
        self.occurrences.iter().copied().max().unwrap_or(1)
    }

    /// Longest string an instruction may write: a no-op copies `z`; a rewrite changes the length by
    /// `|y| - |x|`, once per rule of a program. A Markov program may rewrite more often: a string
    /// longer than this is rejected when the data are drawn.
    pub fn max_string_len(&self) -> usize {
        self.z_len.max + self.program.rules * self.y_len.max.saturating_sub(self.x_len.min)
    }

    /// Longest answer, in letters (and `,` between the strings of a trace).
    pub fn max_answer_len(&self) -> usize {
        let strings = match self.program.answer {
            AnswerFormat::Direct => 1,
            AnswerFormat::Trace => self.program.max_trace_strings(),
        };
        strings * self.max_string_len() + strings - 1
    }
}

/// A config that passed [`ExperimentConfig::validate`]: every setting within its bounds and
/// consistent with the others. The engine takes only this type, so an unchecked config cannot reach
/// a run. Reading it gives the [`ExperimentConfig`] inside; deserializing one validates it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ExperimentConfig", into = "ExperimentConfig")]
pub struct ValidConfig(ExperimentConfig);

impl std::ops::Deref for ValidConfig {
    type Target = ExperimentConfig;

    fn deref(&self) -> &ExperimentConfig {
        &self.0
    }
}

impl TryFrom<ExperimentConfig> for ValidConfig {
    type Error = ConfigError;

    fn try_from(config: ExperimentConfig) -> Result<Self, ConfigError> {
        config.validate()
    }
}

impl From<ValidConfig> for ExperimentConfig {
    fn from(config: ValidConfig) -> Self {
        config.0
    }
}

impl Default for ValidConfig {
    fn default() -> Self {
        ExperimentConfig::default()
            .validate()
            .expect("the defaults are valid")
    }
}

impl ValidConfig {
    /// The raw settings, to edit (the result must be validated again).
    pub fn raw(&self) -> &ExperimentConfig {
        &self.0
    }

    /// The raw settings, by value.
    pub fn into_raw(self) -> ExperimentConfig {
        self.0
    }

    /// The same run with `steps` training steps. The warm-up and the evaluation interval keep their
    /// share of the run (rounded; at least one evaluation interval of one step, and a warm-up of at
    /// least one step when there was one), so a preset shortened for a lesson, by `idp --steps` or in
    /// the page's form keeps its schedule's shape. The one rule for shortening (or lengthening) a run.
    ///
    /// # Errors
    /// A [`ConfigError`] when `steps` is outside `train.steps`' bounds.
    pub fn with_steps(&self, steps: usize) -> Result<ValidConfig, ConfigError> {
        let mut config = self.0.clone();
        let train = &mut config.train;
        let scale = |n: usize| (n as f64 * steps as f64 / train.steps as f64).round() as usize;
        let warmup = scale(train.warmup_steps);
        train.warmup_steps = if train.warmup_steps > 0 {
            warmup.clamp(1, steps.max(1))
        } else {
            0
        };
        train.eval_every = scale(train.eval_every).clamp(1, steps.max(1));
        train.steps = steps;
        config.validate()
    }
}

/// Reads any of the project's JSON files into `T`, naming where a key or value is wrong
/// (`runs.0.config.train.learning_rat: unknown field ...`), so a typo in a file written by hand (or
/// by another version) is reported by name.
///
/// # Errors
/// The place and what the parser expected there, in words.
pub fn read_json_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        if path == "." {
            e.into_inner().to_string()
        } else {
            format!("at `{path}`: {}", e.into_inner())
        }
    })
}

/// Collects the dotted paths of `value`'s keys that `template` (a serialized default config) does not
/// have, each with the keys known at its place, walking the config's groups and spans. Values whose
/// shape depends on their variant (the budget, the rule frequencies, the semantics) are left to the
/// parser, which names their errors.
fn unknown_keys(
    value: &serde_json::Value,
    template: &serde_json::Value,
    prefix: &str,
    out: &mut Vec<(String, Vec<String>)>,
) {
    const VARIANT_SHAPED: [&str; 3] = ["task.budget", "task.frequency", "task.semantics"];
    let (Some(given), Some(known)) = (value.as_object(), template.as_object()) else {
        return;
    };
    if VARIANT_SHAPED.contains(&prefix) {
        return;
    }
    for (key, inner) in given {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match known.get(key) {
            None => out.push((path, known.keys().cloned().collect())),
            Some(expected) => unknown_keys(inner, expected, &path, out),
        }
    }
}

impl ExperimentConfig {
    /// Reads a config from JSON text (a file a person wrote, or one the project saved): missing keys
    /// take their defaults; an unknown key, or a value of the wrong type, is an error naming its
    /// dotted path (`task.learning_rat`). The result still needs [`Self::validate`].
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting and what the parser expected there.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| ConfigError::new("", format!("not JSON: {e}")))?;
        Self::from_value(value)
    }

    /// Like [`Self::from_json`], from a JSON value.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting and what the parser expected there.
    pub fn from_value(value: serde_json::Value) -> Result<Self, ConfigError> {
        let mut unknown = Vec::new();
        unknown_keys(
            &value,
            &serde_json::to_value(Self::default()).expect("configs serialize"),
            "",
            &mut unknown,
        );
        if let Some((first, known)) = unknown.first() {
            return Err(ConfigError::new(
                first.clone(),
                format!(
                    "unknown setting{} {} (known beside the first: {})",
                    if unknown.len() == 1 { "" } else { "s" },
                    unknown
                        .iter()
                        .map(|(path, _)| format!("`{path}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    known.join(", ")
                ),
            ));
        }
        serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let path = if path == "." { String::new() } else { path };
            ConfigError::new(path, e.into_inner().to_string())
        })
    }

    /// Checks every setting against its bounds in the settings table, then their consistency. The
    /// first problem found is returned.
    ///
    /// # Errors
    /// A [`ConfigError`] naming the setting (by dotted path) and what is wrong.
    pub fn validate(&self) -> Result<ValidConfig, ConfigError> {
        let value = serde_json::to_value(self).expect("configs serialize");
        for setting in SETTINGS {
            let field = get_path(&value, setting.path).unwrap_or(&serde_json::Value::Null);
            setting.check(field)?;
        }
        let task = &self.task;
        for (span, setting) in [
            (task.x_len, "task.x_len"),
            (task.y_len, "task.y_len"),
            (task.z_len, "task.z_len"),
        ] {
            check_order(span, setting)?;
        }
        check(!task.occurrences.is_empty(), "task.occurrences", || {
            "needs at least one allowed number of occurrences".into()
        })?;
        check(
            task.inputs == InputSampling::Exact || task.occurrences == [1],
            "task.inputs",
            || {
                "`overwrite` writes x once over a random string (it may then occur more often): set task.occurrences to [1], or use `exact`".into()
            },
        )?;
        let needed = task.x_len.max * task.max_occurrences();
        check(needed <= task.z_len.max, "task.x_len", || {
            format!(
                "x can be {} characters long and must occur up to {} time(s), which needs z of {} characters, but z is at most {}",
                task.x_len.max,
                task.max_occurrences(),
                needed,
                task.z_len.max
            )
        })?;
        if let Budget::Total(n) = task.budget {
            check(n >= task.instructions, "task.budget", || {
                format!(
                    "a budget of {n} examples cannot cover {} rules: give at least one example per rule",
                    task.instructions
                )
            })?;
        }
        let total = task.budget.total(task.instructions);
        check(total <= MAX_BUDGET, "task.budget", || {
            format!("{total} training examples is more than the limit of {MAX_BUDGET}")
        })?;
        match &task.semantics {
            None => {
                let available = task.distinct_rules();
                let wanted = task
                    .program
                    .rules_needed(task.instructions, self.eval.test_rules);
                let setting = if task.program.rule_pool > 0 {
                    "task.program.rule_pool"
                } else {
                    "task.instructions"
                };
                check(wanted <= available, setting, || {
                    format!(
                        "{} training {} plus {} held-out ones need {wanted} distinct rules, but an alphabet of {} with these lengths allows only {available}",
                        task.instructions,
                        if task.program.is_single_rule() {
                            "rules"
                        } else {
                            "programs"
                        },
                        self.eval.test_rules,
                        task.alphabet
                    )
                })?;
            }
            Some(semantics) => self.validate_semantics(semantics)?,
        }
        self.validate_program()?;

        let model = &self.model;
        check(
            model.width.is_multiple_of(model.heads),
            "model.heads",
            || format!("must divide the width {}, got {}", model.width, model.heads),
        )?;
        let seq_len = crate::engine::tokenizer::SequenceLayout::new(task).sequence_len();
        check(seq_len <= model.max_len, "model.max_len", || {
            format!(
                "the task's sequences are {seq_len} tokens long but the model accepts at most {}",
                model.max_len
            )
        })?;

        let train = &self.train;
        check(
            train.warmup_steps <= train.steps,
            "train.warmup_steps",
            || {
                format!(
                    "{} warm-up steps is more than the {} training steps",
                    train.warmup_steps, train.steps
                )
            },
        )?;
        Ok(ValidConfig(self.clone()))
    }

    /// The combinations of program settings that cannot be drawn or mean nothing.
    fn validate_program(&self) -> Result<(), ConfigError> {
        let task = &self.task;
        let program = &task.program;
        check(
            program.terminal == Terminal::None || program.semantics == ProgramSemantics::Markov,
            "task.program.terminal",
            || {
                "a terminal rule halts a Markov program: set task.program.semantics to `markov`, or terminal to `none`".into()
            },
        )?;
        if program.is_single_rule() {
            check(
                program.answer == AnswerFormat::Direct,
                "task.program.answer",
                || {
                    "the trace of one rule applied once is its answer: set task.program.rules above 1, semantics to `markov`, or answer to `direct`".into()
                },
            )?;
            return check(program.rule_pool == 0, "task.program.rule_pool", || {
                "a pool of rules builds programs: set task.program.rules above 1, or the pool to 0"
                    .into()
            });
        }
        check(task.occurrences == [1], "task.occurrences", || {
            "a program's input holds each rule's x written over a random string once: set task.occurrences to [1]".into()
        })?;
        let k = program.rules;
        if program.rule_pool > 0 {
            check(program.rule_pool >= k, "task.program.rule_pool", || {
                format!(
                    "a program of {k} different rules needs a pool of at least {k}, got {}",
                    program.rule_pool
                )
            })?;
            let programs = programs_from_pool(program.rule_pool, k);
            check(
                programs >= task.instructions as u128,
                "task.program.rule_pool",
                || {
                    format!(
                        "{} rules make only {programs} programs of {k} different rules, fewer than the {} training programs asked for",
                        program.rule_pool, task.instructions
                    )
                },
            )?;
        }
        Ok(())
    }

    fn validate_semantics(&self, semantics: &SemanticsConfig) -> Result<(), ConfigError> {
        let task = &self.task;
        check(
            !semantics.families.is_empty(),
            "task.semantics.families",
            || "pick at least one family (repeated, periodic, mirrored)".into(),
        )?;
        for (span, setting) in [
            (semantics.train_k, "task.semantics.train_k"),
            (semantics.test_k, "task.semantics.test_k"),
        ] {
            check_order(span, setting)?;
            for k in span.min..=span.max {
                for family in &semantics.families {
                    let fits_x = family.base_lengths(k, task.x_len).next().is_some();
                    check(fits_x, setting, || {
                        format!(
                            "a {} pattern with k = {k} cannot have a length in x's range {}",
                            family.name(),
                            task.x_len
                        )
                    })?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        ExperimentConfig::default().validate().unwrap();
    }

    #[test]
    fn distinct_rules_counts_pairs_without_identity() {
        let task = TaskConfig {
            alphabet: 2,
            x_len: Span::new(1, 1),
            y_len: Span::new(0, 1),
            ..TaskConfig::default()
        };
        // x in {a, b}; y in {"", a, b}; minus a->a and b->b.
        assert_eq!(task.distinct_rules(), 2 * 3 - 2);
    }

    fn error_setting(edit: impl FnOnce(&mut ExperimentConfig)) -> String {
        let mut config = ExperimentConfig::default();
        edit(&mut config);
        config.validate().unwrap_err().setting
    }

    #[test]
    fn x_longer_than_z_names_x_len() {
        assert_eq!(
            error_setting(|c| {
                c.task.x_len = Span::new(1, 8);
                c.task.z_len = Span::new(2, 5);
            }),
            "task.x_len"
        );
    }

    #[test]
    fn too_many_rules_for_the_alphabet_names_instructions() {
        assert_eq!(
            error_setting(|c| {
                c.task.alphabet = 2;
                c.task.x_len = Span::new(1, 1);
                c.task.y_len = Span::new(1, 1);
                c.task.instructions = 3;
                c.task.budget = Budget::Total(100);
            }),
            "task.instructions"
        );
    }

    #[test]
    fn budget_below_rule_count_names_budget() {
        assert_eq!(
            error_setting(|c| {
                c.task.instructions = 500;
                c.task.budget = Budget::Total(100);
            }),
            "task.budget"
        );
    }

    #[test]
    fn other_impossible_settings_are_named() {
        assert_eq!(
            error_setting(|c| c.task.noop_share = 0.9),
            "task.noop_share"
        );
        assert_eq!(error_setting(|c| c.model.heads = 3), "model.heads");
        assert_eq!(error_setting(|c| c.model.max_len = 8), "model.max_len");
        assert_eq!(
            error_setting(|c| c.train.learning_rate = f64::NAN),
            "train.learning_rate"
        );
        assert_eq!(error_setting(|c| c.task.alphabet = 40), "task.alphabet");
        assert_eq!(
            error_setting(|c| c.task.frequency = RuleFrequency::PowerLaw { shape: 0.0 }),
            "task.frequency"
        );
        assert_eq!(
            error_setting(|c| c.task.z_len = Span::new(9, 4)),
            "task.z_len"
        );
    }

    #[test]
    fn a_typo_in_a_config_file_is_named_not_dropped() {
        let error = ExperimentConfig::from_json(r#"{"train": {"learning_rat": 0.5}}"#).unwrap_err();
        assert_eq!(error.setting, "train.learning_rat");
        assert!(
            error.message.contains("learning_rate"),
            "the known keys are listed: {error}"
        );
        // Every unknown key is named at once, not only the first.
        let error = ExperimentConfig::from_json(
            r#"{"train": {"learning_rat": 0.5}, "task": {"instructionz": 5, "alphabet": 4}}"#,
        )
        .unwrap_err();
        assert!(
            error.message.contains("`train.learning_rat`")
                && error.message.contains("`task.instructionz`"),
            "{error}"
        );
        let error = ExperimentConfig::from_json(r#"{"task": {"instructionz": 5}}"#).unwrap_err();
        assert_eq!(error.setting, "task.instructionz");
        let error = ExperimentConfig::from_json(r#"{"sed": 5}"#).unwrap_err();
        assert_eq!(error.setting, "sed");
        let error =
            ExperimentConfig::from_json(r#"{"task": {"x_len": {"min": 1, "mx": 2}}}"#).unwrap_err();
        assert_eq!(error.setting, "task.x_len.mx");
        let error = ExperimentConfig::from_json(
            r#"{"task": {"frequency": {"kind": "power_law", "shap": 1}}}"#,
        )
        .unwrap_err();
        assert!(error.message.contains("shap"), "{error}");
        let error = ExperimentConfig::from_json(r#"{"task": {"alphabet": "many"}}"#).unwrap_err();
        assert_eq!(error.setting, "task.alphabet");
        assert!(
            ExperimentConfig::from_json("{")
                .unwrap_err()
                .message
                .contains("not JSON")
        );
    }

    #[test]
    fn a_valid_config_is_only_made_by_validation() {
        let valid = ExperimentConfig::default().validate().unwrap();
        let text = serde_json::to_string(&valid).unwrap();
        assert_eq!(text, serde_json::to_string(valid.raw()).unwrap());
        assert_eq!(serde_json::from_str::<ValidConfig>(&text).unwrap(), valid);
        let mut bad = ExperimentConfig::default();
        bad.model.heads = 5;
        let error =
            serde_json::from_str::<ValidConfig>(&serde_json::to_string(&bad).unwrap()).unwrap_err();
        assert!(error.to_string().contains("model.heads"), "{error}");
    }

    #[test]
    fn a_run_shortened_to_n_steps_keeps_the_shape_of_its_schedule() {
        let mut config = ExperimentConfig::default();
        config.train.steps = 4000;
        config.train.warmup_steps = 200;
        config.train.eval_every = 1000;
        let config = config.validate().unwrap();
        let short = config.with_steps(1500).unwrap();
        assert_eq!(short.train.steps, 1500);
        assert_eq!(short.train.warmup_steps, 75);
        assert_eq!(short.train.eval_every, 375);
        let tiny = config.with_steps(3).unwrap();
        assert_eq!((tiny.train.warmup_steps, tiny.train.eval_every), (1, 1));
        let mut no_warmup = config.raw().clone();
        no_warmup.train.warmup_steps = 0;
        assert_eq!(
            no_warmup
                .validate()
                .unwrap()
                .with_steps(10)
                .unwrap()
                .train
                .warmup_steps,
            0
        );
        assert_eq!(config.with_steps(0).unwrap_err().setting, "train.steps");
    }

    #[test]
    fn partial_json_fills_defaults() {
        let config: ExperimentConfig =
            serde_json::from_str(r#"{"seed": 9, "task": {"instructions": 64}}"#).unwrap();
        assert_eq!(config.seed, 9);
        assert_eq!(config.task.instructions, 64);
        assert_eq!(config.task.alphabet, TaskConfig::default().alphabet);
        assert_eq!(config.model, ModelConfig::default());
    }
}

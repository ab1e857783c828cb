//! A run in progress, saved so that it can go on later exactly as it would have: its settings, step
//! and curves (JSON text, [`CheckpointMeta`]) and the model's and optimizer's state (burnpack bytes).
//!
//! The browser keeps one in IndexedDB per worker training runs; the CLI writes one beside a sweep's
//! cells. One [`Checkpoint`] holds the runs one model trains together (a run alone is a model of
//! one run). The tensors are made and read by `train::Trainer::checkpoint` and
//! `train::Trainer::resume`.

use crate::engine::config::{ConfigError, ValidConfig};
use crate::engine::metrics::{EvalSummary, LossPoint};
use serde::{Deserialize, Serialize};

/// Format tag of a checkpoint's meta. (The page's first checkpoints carried the tag of its other
/// saved entries, `idp-saved/1`; it is kept so that those still resume.)
pub const CHECKPOINT_FORMAT: &str = "idp-saved/1";

/// Why a checkpoint cannot be made or used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CheckpointError {
    /// The meta is not JSON of the right shape.
    #[error("the checkpoint is unreadable: {0}")]
    Unreadable(String),
    /// The meta has another format tag.
    #[error("the checkpoint was saved by another version (format `{0}`)")]
    OtherVersion(String),
    /// The saved settings are not a valid run.
    #[error("the checkpoint's settings are refused: {0}")]
    Config(#[from] ConfigError),
    /// The step is past the end of the run.
    #[error("the checkpoint is at step {step}, past the run's {steps} steps")]
    PastTheEnd {
        /// The saved step.
        step: usize,
        /// The run's steps.
        steps: usize,
    },
    /// The model's bytes are damaged or belong to another model.
    #[error("the saved model is damaged or does not fit this run: {0}")]
    Model(String),
    /// The optimizer's bytes are damaged.
    #[error("the saved optimizer state is damaged: {0}")]
    Optimizer(String),
    /// The tensors could not be read back from the device to be saved.
    #[error("the run's tensors could not be read back to be saved: {0}")]
    ReadBack(String),
}

/// Where a run in progress stood when it was checkpointed: everything but the tensors, as JSON, so
/// the page can show the curves before the worker has loaded the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMeta {
    /// Always [`CHECKPOINT_FORMAT`].
    pub format: String,
    /// The run's settings.
    pub config: ValidConfig,
    /// Steps taken.
    pub step: usize,
    /// The loss curve so far.
    pub losses: Vec<LossPoint>,
    /// Every evaluation's headline numbers so far.
    pub evaluations: Vec<EvalSummary>,
    /// Every evaluation's head scores and embedding projection so far (none in checkpoints saved
    /// before they were measured).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inside: Vec<crate::engine::mechanism::Inside>,
}

/// Runs in progress, resumable: each run's meta (all at one step) and the state of the model that
/// trains them together (see [`crate::engine::model`]; a run alone is a model of one run).
#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    /// Each run's settings, step and curves, in the model's run order.
    pub metas: Vec<CheckpointMeta>,
    /// The weights (burnpack).
    pub model: Vec<u8>,
    /// The optimizer's state (burnpack).
    pub optimizer: Vec<u8>,
}

impl CheckpointMeta {
    /// The meta of a run of `config` after `step` steps.
    pub fn new(
        config: ValidConfig,
        step: usize,
        losses: Vec<LossPoint>,
        evaluations: Vec<EvalSummary>,
    ) -> Self {
        Self {
            format: CHECKPOINT_FORMAT.into(),
            config,
            step,
            losses,
            evaluations,
            inside: Vec::new(),
        }
    }

    /// The meta as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("checkpoints serialize")
    }

    /// Reads and checks a meta: its format tag, valid settings, a step within the run.
    ///
    /// # Errors
    /// A [`CheckpointError`] saying which of these fails.
    pub fn from_json(text: &str) -> Result<Self, CheckpointError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| CheckpointError::Unreadable(e.to_string()))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(CHECKPOINT_FORMAT) => {}
            Some(other) => {
                return Err(CheckpointError::OtherVersion(
                    crate::engine::settings::shorten(other),
                ));
            }
            None => return Err(CheckpointError::Unreadable("it has no format tag".into())),
        }
        // The settings are validated as they are read (a `ValidConfig` only deserializes when
        // valid): read them first, so a refused setting is named as such.
        let config = value.get("config").cloned().unwrap_or_default();
        crate::engine::config::ExperimentConfig::from_value(config)?.validate()?;
        let meta: Self =
            crate::engine::config::read_json_value(value).map_err(CheckpointError::Unreadable)?;
        if meta.step > meta.config.train.steps {
            return Err(CheckpointError::PastTheEnd {
                step: meta.step,
                steps: meta.config.train.steps,
            });
        }
        Ok(meta)
    }
}

/// The magic line that starts a checkpoint file (its name from when only stacks of runs had one of
/// this kind; a run alone has had one since it became a stack of one).
const FILE_MAGIC: &[u8] = b"idp-stack-checkpoint/1\n";

/// The magic line of the checkpoint files of a run alone before a run became a stack of one: its
/// weights have another layout, so such a file is refused with a message saying why.
const LONE_RUN_MAGIC: &[u8] = b"idp-checkpoint/1\n";

/// One file of three parts: `magic`, then the meta, the model and the optimizer state, each after
/// its length (8 bytes, little-endian). One file, so that writing it atomically (temporary file,
/// then rename) never leaves a meta beside another run's tensors.
pub(crate) fn frame(magic: &[u8], meta: &str, model: &[u8], optimizer: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(magic.len() + 24 + meta.len() + model.len() + optimizer.len());
    out.extend_from_slice(magic);
    for part in [meta.as_bytes(), model, optimizer] {
        out.extend_from_slice(&(part.len() as u64).to_le_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// The meta (text), model and optimizer parts of a [`frame`]d file.
///
/// # Errors
/// [`CheckpointError::Unreadable`] for a file cut short, too long or of another kind.
pub(crate) fn unframe(
    magic: &[u8],
    bytes: &[u8],
) -> Result<(String, Vec<u8>, Vec<u8>), CheckpointError> {
    let mut rest = bytes
        .strip_prefix(magic)
        .ok_or_else(|| CheckpointError::Unreadable("not a checkpoint file".into()))?;
    let mut parts = Vec::with_capacity(3);
    for name in ["meta", "model", "optimizer"] {
        let cut = || CheckpointError::Unreadable(format!("the file is cut short in its {name}"));
        let (length, tail) = rest.split_first_chunk::<8>().ok_or_else(cut)?;
        let length = usize::try_from(u64::from_le_bytes(*length)).map_err(|_| cut())?;
        if tail.len() < length {
            return Err(cut());
        }
        let (part, tail) = tail.split_at(length);
        parts.push(part.to_vec());
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(CheckpointError::Unreadable(
            "the file has bytes after its optimizer state".into(),
        ));
    }
    let optimizer = parts.pop().expect("three parts");
    let model = parts.pop().expect("three parts");
    let meta = String::from_utf8(parts.pop().expect("three parts"))
        .map_err(|_| CheckpointError::Unreadable("the meta is not text".into()))?;
    Ok((meta, model, optimizer))
}

impl Checkpoint {
    /// The checkpoint as one file's bytes: [`frame`]d, its meta a JSON array of the runs' metas,
    /// then a CRC-32 of all that (4 bytes, little-endian), so that a damaged file is refused rather
    /// than trained on.
    pub fn to_bytes(&self) -> Vec<u8> {
        let metas: Vec<serde_json::Value> = self
            .metas
            .iter()
            .map(|m| serde_json::to_value(m).expect("checkpoints serialize"))
            .collect();
        let meta = serde_json::Value::Array(metas).to_string();
        let mut bytes = frame(FILE_MAGIC, &meta, &self.model, &self.optimizer);
        let checksum = crc32fast::hash(&bytes);
        bytes.extend_from_slice(&checksum.to_le_bytes());
        bytes
    }

    /// Reads the bytes of [`Self::to_bytes`], checking every run's meta.
    ///
    /// # Errors
    /// [`CheckpointError::Unreadable`] for a damaged file, a file of another kind or runs at
    /// different steps; [`CheckpointError::OtherVersion`] for a run's checkpoint of an earlier
    /// version; each meta's own errors.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CheckpointError> {
        if bytes.starts_with(LONE_RUN_MAGIC) {
            return Err(CheckpointError::OtherVersion(
                "idp-checkpoint/1, a run saved before runs trained as stacks of one".into(),
            ));
        }
        let (content, checksum) = bytes
            .split_last_chunk::<4>()
            .ok_or_else(|| CheckpointError::Unreadable("the file is cut short".into()))?;
        if crc32fast::hash(content) != u32::from_le_bytes(*checksum) {
            // A file cut short says so; any other difference is damage.
            unframe(FILE_MAGIC, content)?;
            return Err(CheckpointError::Unreadable(
                "its checksum does not match: the file is damaged".into(),
            ));
        }
        let (meta, model, optimizer) = unframe(FILE_MAGIC, content)?;
        let values: Vec<serde_json::Value> =
            serde_json::from_str(&meta).map_err(|e| CheckpointError::Unreadable(e.to_string()))?;
        let metas = values
            .iter()
            .map(|v| CheckpointMeta::from_json(&v.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        if metas.is_empty() || metas.iter().any(|m| m.step != metas[0].step) {
            return Err(CheckpointError::Unreadable(
                "its runs are not all at one step, or it holds none".into(),
            ));
        }
        Ok(Self {
            metas,
            model,
            optimizer,
        })
    }

    /// Whether it holds exactly the runs of `configs`, in that order.
    pub fn holds(&self, configs: &[ValidConfig]) -> bool {
        self.metas.iter().map(|m| &m.config).eq(configs.iter())
    }

    /// The step every run of it has reached.
    pub fn step(&self) -> usize {
        self.metas[0].step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::ExperimentConfig;

    #[test]
    fn a_checkpoint_file_reads_back_and_a_cut_damaged_or_old_file_is_refused() {
        let meta = CheckpointMeta::new(ValidConfig::default(), 5, Vec::new(), Vec::new());
        let checkpoint = Checkpoint {
            metas: vec![meta.clone(), meta.clone()],
            model: vec![1, 2, 3],
            optimizer: vec![4; 10],
        };
        let bytes = checkpoint.to_bytes();
        assert_eq!(Checkpoint::from_bytes(&bytes).unwrap(), checkpoint);
        assert!(checkpoint.holds(&[ValidConfig::default(), ValidConfig::default()]));
        assert!(!checkpoint.holds(&[ValidConfig::default()]));
        let mut damaged = bytes.clone();
        damaged[FILE_MAGIC.len() + 12] ^= 1;
        assert!(matches!(
            Checkpoint::from_bytes(&damaged),
            Err(CheckpointError::Unreadable(why)) if why.contains("checksum")
        ));
        let mut uneven = checkpoint.clone();
        uneven.metas[1].step = 6;
        assert!(Checkpoint::from_bytes(&uneven.to_bytes()).is_err());
        let old = frame(LONE_RUN_MAGIC, &meta.to_json(), &[1], &[2]);
        assert!(matches!(
            Checkpoint::from_bytes(&old),
            Err(CheckpointError::OtherVersion(why)) if why.contains("stacks of one")
        ));
        for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                matches!(
                    Checkpoint::from_bytes(&bytes[..cut]),
                    Err(CheckpointError::Unreadable(_))
                ),
                "cut at {cut}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Checkpoint::from_bytes(&longer).is_err());
    }

    #[test]
    fn a_meta_reads_back_and_every_kind_of_damage_is_named() {
        let meta = CheckpointMeta::new(ValidConfig::default(), 5, Vec::new(), Vec::new());
        assert_eq!(CheckpointMeta::from_json(&meta.to_json()).unwrap(), meta);
        assert!(matches!(
            CheckpointMeta::from_json("{"),
            Err(CheckpointError::Unreadable(_))
        ));
        assert!(matches!(
            CheckpointMeta::from_json(&meta.to_json().replace(CHECKPOINT_FORMAT, "idp-saved/9")),
            Err(CheckpointError::OtherVersion(v)) if v == "idp-saved/9"
        ));
        let mut past = meta.clone();
        past.step = ExperimentConfig::default().train.steps + 1;
        assert!(matches!(
            CheckpointMeta::from_json(&past.to_json()),
            Err(CheckpointError::PastTheEnd { .. })
        ));
        let mut bad = serde_json::to_value(&meta).unwrap();
        bad["config"]["model"]["heads"] = 5.into();
        match CheckpointMeta::from_json(&bad.to_string()) {
            Err(CheckpointError::Config(e)) => assert_eq!(e.setting, "model.heads"),
            other => panic!("{other:?}"),
        }
    }
}

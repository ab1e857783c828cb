//! What an evaluation reports: tallies, predictions, per-rule scores and headline numbers.
//!
//! Plain data with no tensor code, so the page's UI thread (which never links burn) can show it.

use crate::engine::task::Instruction;
use serde::{Deserialize, Serialize};

/// Correct answers out of a number of cases.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Exact matches.
    pub correct: usize,
    /// Cases.
    pub total: usize,
}

impl Tally {
    /// Adds one case.
    pub fn add(&mut self, correct: bool) {
        self.correct += usize::from(correct);
        self.total += 1;
    }

    /// Share correct, `None` when there is no case.
    pub fn accuracy(&self) -> Option<f64> {
        (self.total > 0).then(|| self.correct as f64 / self.total as f64)
    }
}

/// One scored example.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prediction {
    /// Index of the rule in the split's rule set.
    pub rule: u32,
    /// The input.
    pub z: String,
    /// The correct answer.
    pub expected: String,
    /// What the model wrote (unknown tokens as `?`, cut at EOS).
    pub output: String,
    /// Exact match of the whole answer, EOS included.
    pub correct: bool,
    /// Whether the input holds no `x`.
    pub noop: bool,
}

/// Score of one rule within a split.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleScore {
    /// Index of the rule in the split's rule set.
    pub rule: u32,
    /// The rule or program.
    pub text: Instruction,
    /// Its score.
    pub tally: Tally,
}

/// Scores of one evaluation split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SplitReport {
    /// `seen`, `unseen` or `noop`.
    pub name: String,
    /// All cases.
    pub all: Tally,
    /// Cases where `x` occurs.
    pub hasop: Tally,
    /// Cases where `x` is absent.
    pub noop: Tally,
    /// Per-rule scores, in rule order.
    pub per_rule: Vec<RuleScore>,
    /// Every scored example.
    pub predictions: Vec<Prediction>,
}

impl SplitReport {
    /// Exact-match accuracy over the whole split (0 for an empty split).
    pub fn accuracy(&self) -> f64 {
        self.all.accuracy().unwrap_or(0.0)
    }
}

/// The evaluation of a model at one step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// Optimizer steps taken when evaluated.
    pub step: usize,
    /// Seen rules on new inputs.
    pub seen: SplitReport,
    /// Held-out rules.
    pub unseen: SplitReport,
    /// Held-out rules, no-op inputs only.
    pub noop: SplitReport,
    /// Unseen programs of seen rules (the composition split); `None` for single rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composed: Option<SplitReport>,
    /// Head scores and the embedding's projection ([`crate::engine::mechanism`]); `None` in
    /// evaluations saved before they were measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inside: Option<crate::engine::mechanism::Inside>,
}

impl Evaluation {
    /// A short code of every answer the model gave at this evaluation: two runs with the same
    /// settings, seed and backend show the same code, so people can confirm they replayed a run.
    /// (Losses are left out: their chunking follows the machine's speed.)
    pub fn fingerprint(&self) -> String {
        // FNV-1a, 64 bits: stable across platforms and versions, unlike `DefaultHasher`.
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for &b in bytes {
                hash ^= u64::from(b);
                hash = hash.wrapping_mul(0x0100_0000_01b3);
            }
        };
        eat(&(self.step as u64).to_le_bytes());
        for split in [&self.seen, &self.unseen, &self.noop]
            .into_iter()
            .chain(self.composed.as_ref())
        {
            eat(split.name.as_bytes());
            for p in &split.predictions {
                eat(p.output.as_bytes());
                // A separator, so "ab"+"c" and "a"+"bc" differ.
                eat(&[0xff]);
            }
        }
        let folded = (hash >> 32) as u32 ^ hash as u32;
        format!("{:04x}-{:04x}", folded >> 16, folded & 0xffff)
    }

    /// The headline numbers of the evaluation.
    pub fn summary(&self) -> EvalSummary {
        EvalSummary {
            step: self.step,
            seen_accuracy: self.seen.accuracy(),
            unseen_accuracy: self.unseen.accuracy(),
            unseen_hasop_accuracy: self.unseen.hasop.accuracy().unwrap_or(0.0),
            noop_accuracy: self.noop.accuracy(),
            composed_accuracy: self.composed.as_ref().map(SplitReport::accuracy),
        }
    }
}

/// The headline numbers of an evaluation, for curves and tables.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalSummary {
    /// Optimizer steps taken.
    pub step: usize,
    /// Accuracy on seen rules, new inputs.
    pub seen_accuracy: f64,
    /// Accuracy on held-out rules.
    pub unseen_accuracy: f64,
    /// Accuracy on held-out rules where `x` occurs.
    pub unseen_hasop_accuracy: f64,
    /// Accuracy on held-out rules where `x` is absent.
    pub noop_accuracy: f64,
    /// Accuracy on unseen programs of seen rules (the composition split); `None` for single rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub composed_accuracy: Option<f64>,
}

/// One point of the loss curve: the mean training loss of the steps since the previous point.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    /// Steps taken at the end of the chunk.
    pub step: usize,
    /// Mean loss over the chunk.
    pub loss: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(name: &str, outputs: &[&str]) -> SplitReport {
        SplitReport {
            name: name.into(),
            all: Tally::default(),
            hasop: Tally::default(),
            noop: Tally::default(),
            per_rule: Vec::new(),
            predictions: outputs
                .iter()
                .map(|o| Prediction {
                    rule: 0,
                    z: "ab".into(),
                    expected: "ab".into(),
                    output: (*o).into(),
                    correct: false,
                    noop: false,
                })
                .collect(),
        }
    }

    fn evaluation(step: usize, seen: &[&str]) -> Evaluation {
        Evaluation {
            step,
            seen: split("seen", seen),
            unseen: split("unseen", &["x"]),
            noop: split("noop", &[]),
            composed: None,
            inside: None,
        }
    }

    #[test]
    fn fingerprints_follow_every_answer_and_the_step() {
        let a = evaluation(100, &["ab", "c"]);
        assert_eq!(a.fingerprint(), evaluation(100, &["ab", "c"]).fingerprint());
        assert_eq!(a.fingerprint().len(), 9);
        assert_ne!(a.fingerprint(), evaluation(100, &["a", "bc"]).fingerprint());
        assert_ne!(a.fingerprint(), evaluation(101, &["ab", "c"]).fingerprint());
        assert_ne!(a.fingerprint(), evaluation(100, &["ab", "d"]).fingerprint());
        // Pinned: the code must not change between versions, or old shared codes stop matching.
        assert_eq!(a.fingerprint(), "ed16-2e18");
    }
}

//! Ablation results as data (`idp ablate`, the page's head clicks) and the mechanism table: per
//! number of rules, unseen-rule accuracy beside the best head's scores and what silencing it costs,
//! as mean and range over seeds.

use crate::engine::mechanism::{HeadScores, Measure};
use crate::engine::metrics::EvalSummary;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One run's ablation: its accuracies with every head and with some silenced, and its head scores
/// on held-out rules.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ablated {
    /// Distinct training rules `I`.
    pub instructions: usize,
    /// The run's seed.
    pub seed: u64,
    /// Steps the model was trained.
    pub step: usize,
    /// The heads silenced, as `layer.head,...` (0-based).
    pub heads: String,
    /// With every head.
    pub whole: EvalSummary,
    /// With the heads silenced.
    pub ablated: EvalSummary,
    /// Head scores on held-out rules, with every head.
    pub scores: HeadScores,
}

impl Ablated {
    /// The row of a run of `config` at `step`, from its evaluations whole and with the heads of
    /// `ablation` silenced ([`crate::engine::eval::ablation_pair`]).
    ///
    /// # Errors
    /// When the whole evaluation measured no head scores.
    pub fn of(
        config: &crate::engine::config::ExperimentConfig,
        step: usize,
        ablation: &crate::engine::mechanism::Ablation,
        whole: crate::engine::metrics::Evaluation,
        ablated: &crate::engine::metrics::Evaluation,
    ) -> Result<Self, String> {
        let summary = whole.summary();
        let inside = whole
            .inside
            .ok_or("the evaluation measured no head scores")?;
        Ok(Self {
            instructions: config.task.instructions,
            seed: config.seed,
            step,
            heads: ablation.to_string(),
            whole: summary,
            ablated: ablated.summary(),
            scores: inside.unseen,
        })
    }

    /// Accuracy lost on seen rules when the heads are silenced (positive: lost).
    pub fn seen_lost(&self) -> f64 {
        self.whole.seen_accuracy - self.ablated.seen_accuracy
    }

    /// Accuracy lost on held-out rules when the heads are silenced.
    pub fn unseen_lost(&self) -> f64 {
        self.whole.unseen_accuracy - self.ablated.unseen_accuracy
    }

    /// The best head's score on `measure` (held-out rules), when it has cases.
    pub fn best(&self, measure: Measure) -> Option<f32> {
        self.scores.best(measure).map(|(_, _, s)| s)
    }
}

/// Mean and range of some numbers, written `0.840 (0.790-0.892)`; `-` when there are none.
fn spread(values: &[f64]) -> String {
    if values.is_empty() {
        return "-".into();
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let (lo, hi) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if values.len() == 1 {
        format!("{mean:.3}")
    } else {
        format!("{mean:.3} ({lo:.3} to {hi:.3})")
    }
}

/// One row per run, as `idp ablate` prints it.
pub fn runs_table(rows: &[Ablated]) -> String {
    let mut out = String::from(
        "| I (rules) | seed | step | silenced | seen | seen, silenced | unseen | unseen, silenced | best copy | best substitute | best match_x |\n|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let score = |v: Option<f32>| v.map_or("-".into(), |v| format!("{v:.3}"));
    for r in rows {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} |\n",
            r.instructions,
            r.seed,
            r.step,
            r.heads,
            r.whole.seen_accuracy,
            r.ablated.seen_accuracy,
            r.whole.unseen_accuracy,
            r.ablated.unseen_accuracy,
            score(r.best(Measure::Copy)),
            score(r.best(Measure::Substitute)),
            score(r.best(Measure::MatchX)),
        ));
    }
    out
}

/// The mechanism table: per number of rules and steps trained (ascending), unseen-rule accuracy,
/// the best head's scores on held-out rules, and the accuracy lost on seen and held-out rules when
/// the silenced heads are silenced, each as mean and range over the runs (seeds). Runs trained
/// for different numbers of steps are not averaged together: each has its row.
pub fn summary_table(rows: &[Ablated]) -> String {
    let mut groups: BTreeMap<(usize, usize), Vec<&Ablated>> = BTreeMap::new();
    for r in rows {
        groups.entry((r.instructions, r.step)).or_default().push(r);
    }
    let several_steps = groups
        .keys()
        .map(|k| k.1)
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1;
    let mut out = String::from(
        "| I (rules) | runs | unseen | best copy | best substitute | best match_x | seen lost, silenced | unseen lost, silenced |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for ((instructions, step), runs) in groups {
        // The steps are named only where runs of several lengths are tabled.
        let instructions = if several_steps {
            format!("{instructions} ({step} steps)")
        } else {
            instructions.to_string()
        };
        let of = |f: &dyn Fn(&Ablated) -> Option<f64>| -> String {
            spread(&runs.iter().filter_map(|r| f(r)).collect::<Vec<_>>())
        };
        out.push_str(&format!(
            "| {instructions} | {} | {} | {} | {} | {} | {} | {} |\n",
            runs.len(),
            of(&|r| Some(r.whole.unseen_accuracy)),
            of(&|r| r.best(Measure::Copy).map(f64::from)),
            of(&|r| r.best(Measure::Substitute).map(f64::from)),
            of(&|r| r.best(Measure::MatchX).map(f64::from)),
            of(&|r| Some(r.seen_lost())),
            of(&|r| Some(r.unseen_lost())),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(seen: f64, unseen: f64) -> EvalSummary {
        EvalSummary {
            step: 100,
            seen_accuracy: seen,
            unseen_accuracy: unseen,
            unseen_hasop_accuracy: unseen,
            noop_accuracy: 1.0,
            composed_accuracy: None,
        }
    }

    fn row(instructions: usize, seed: u64, unseen: f64, substitute: f32) -> Ablated {
        Ablated {
            instructions,
            seed,
            step: 100,
            heads: "1.0".into(),
            whole: summary(0.9, unseen),
            ablated: summary(0.5, unseen / 2.0),
            scores: HeadScores {
                layers: 1,
                heads: 2,
                examples: 4,
                scores: [Some(vec![0.2, 0.4]), Some(vec![substitute, 0.1]), None],
            },
        }
    }

    #[test]
    fn the_summary_groups_by_rules_with_mean_and_range() {
        let rows = [
            row(1024, 2, 0.8, 0.6),
            row(16, 1, 0.1, 0.2),
            row(1024, 1, 0.9, 0.8),
        ];
        let table = summary_table(&rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert_eq!(
            lines[2],
            "| 16 | 1 | 0.100 | 0.400 | 0.200 | - | 0.400 | 0.050 |"
        );
        assert_eq!(
            lines[3],
            "| 1024 | 2 | 0.850 (0.800 to 0.900) | 0.400 (0.400 to 0.400) | 0.700 (0.600 to 0.800) | - | 0.400 (0.400 to 0.400) | 0.425 (0.400 to 0.450) |"
        );
        assert_eq!(runs_table(&rows).lines().count(), 5);
        // Runs of other lengths are not averaged in: their own row, named with their steps.
        let mut longer = row(1024, 3, 0.2, 0.1);
        longer.step = 400;
        let table = summary_table(&[rows[0].clone(), rows[2].clone(), longer]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(lines[2].starts_with("| 1024 (100 steps) | 2 |"), "{table}");
        assert!(
            lines[3].starts_with("| 1024 (400 steps) | 1 | 0.200 |"),
            "{table}"
        );
    }
}

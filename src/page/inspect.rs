//! Looking inside one run: per-rule scores and a rule's answers across the run's evaluations, built
//! on the page's UI thread from the evaluations the worker sent.

use crate::engine::metrics::{Evaluation, Prediction, SplitReport, Tally};
use crate::engine::task::Rule;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Which rules a row of the inspector scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleGroup {
    /// Training rules, tested on new inputs (the `seen` split).
    Training,
    /// Held-out rules (the `unseen` and `noop` splits).
    HeldOut,
}

impl RuleGroup {
    /// The evaluation splits whose predictions belong to this group.
    fn splits(self, evaluation: &Evaluation) -> Vec<&SplitReport> {
        match self {
            RuleGroup::Training => vec![&evaluation.seen],
            RuleGroup::HeldOut => vec![&evaluation.unseen, &evaluation.noop],
        }
    }
}

/// One row of the inspector: a rule and its score at an evaluation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRow {
    /// Training or held out.
    pub group: RuleGroup,
    /// Index of the rule in its rule set.
    pub rule: u32,
    /// The rule.
    pub text: Rule,
    /// Its score over every test input of the group's splits.
    pub tally: Tally,
}

/// Per-rule scores of an evaluation: training rules (scored on new inputs) and held-out rules (their
/// has-op and no-op inputs together), in rule order.
pub fn rule_rows(evaluation: &Evaluation) -> Vec<RuleRow> {
    let mut rows = Vec::new();
    for group in [RuleGroup::Training, RuleGroup::HeldOut] {
        let mut merged: BTreeMap<u32, RuleRow> = BTreeMap::new();
        for split in group.splits(evaluation) {
            for score in &split.per_rule {
                let row = merged.entry(score.rule).or_insert_with(|| RuleRow {
                    group,
                    rule: score.rule,
                    text: score.text.clone(),
                    tally: Tally::default(),
                });
                row.tally.correct += score.tally.correct;
                row.tally.total += score.tally.total;
            }
        }
        rows.extend(merged.into_values());
    }
    rows
}

/// What the inspector's table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RuleSort {
    /// Accuracy of the rule.
    #[default]
    Accuracy,
    /// Number of test inputs.
    Cases,
    /// The rule's text (`x`, then `y`).
    Rule,
    /// Training rules first, then held-out rules.
    Group,
}

/// Sorts rows by `key`, ascending or descending; ties keep group and rule order, so the order is the
/// same at every render.
pub fn sort_rows(rows: &mut [RuleRow], key: RuleSort, descending: bool) {
    rows.sort_by(|a, b| {
        let primary = match key {
            RuleSort::Accuracy => {
                let acc = |r: &RuleRow| r.tally.accuracy().unwrap_or(0.0);
                acc(a).total_cmp(&acc(b))
            }
            RuleSort::Cases => a.tally.total.cmp(&b.tally.total),
            RuleSort::Rule => a.text.cmp(&b.text),
            RuleSort::Group => a.group.cmp(&b.group),
        };
        let primary = if descending {
            primary.reverse()
        } else {
            primary
        };
        primary.then((a.group, a.rule).cmp(&(b.group, b.rule)))
    });
}

/// One test input of a rule and the model's answer to it at each evaluation of the run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleCase {
    /// The input.
    pub z: String,
    /// The correct answer.
    pub expected: String,
    /// Whether `x` is absent from `z`.
    pub noop: bool,
    /// `(step, answer, correct)` at each evaluation, oldest first.
    pub answers: Vec<(usize, String, bool)>,
}

impl RuleCase {
    /// Whether the latest answer is wrong.
    pub fn failed(&self) -> bool {
        self.answers.last().is_some_and(|(_, _, correct)| !correct)
    }

    /// The latest answer.
    pub fn latest(&self) -> Option<&str> {
        self.answers.last().map(|(_, output, _)| output.as_str())
    }
}

/// Every test input of one rule with its answers across `history` (the run's evaluations, oldest
/// first). Evaluation sets are fixed for a run, so the predictions of a split line up by position;
/// an evaluation whose predictions do not line up (a different run) is skipped.
pub fn rule_cases(history: &[&Evaluation], group: RuleGroup, rule: u32) -> Vec<RuleCase> {
    let Some(latest) = history.last() else {
        return Vec::new();
    };
    // Each evaluation's splits of the group, looked up once rather than per case.
    let splits_of: Vec<(usize, Vec<&SplitReport>)> =
        history.iter().map(|e| (e.step, group.splits(e))).collect();
    let mut cases = Vec::new();
    for (split_index, split) in group.splits(latest).into_iter().enumerate() {
        for (position, prediction) in split.predictions.iter().enumerate() {
            if prediction.rule != rule {
                continue;
            }
            let answers = splits_of
                .iter()
                .filter_map(|(step, splits)| {
                    let p: &Prediction = splits.get(split_index)?.predictions.get(position)?;
                    (p.rule == rule && p.z == prediction.z)
                        .then(|| (*step, p.output.clone(), p.correct))
                })
                .collect();
            cases.push(RuleCase {
                z: prediction.z.clone(),
                expected: prediction.expected.clone(),
                noop: prediction.noop,
                answers,
            });
        }
    }
    cases
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metrics::RuleScore;

    fn prediction(rule: u32, z: &str, output: &str) -> Prediction {
        let expected = z.to_uppercase();
        Prediction {
            rule,
            z: z.into(),
            correct: output == expected,
            expected,
            output: output.into(),
            noop: false,
        }
    }

    fn split(name: &str, predictions: Vec<Prediction>) -> SplitReport {
        let mut per_rule: BTreeMap<u32, Tally> = BTreeMap::new();
        for p in &predictions {
            per_rule.entry(p.rule).or_default().add(p.correct);
        }
        SplitReport {
            name: name.into(),
            all: Tally::default(),
            hasop: Tally::default(),
            noop: Tally::default(),
            per_rule: per_rule
                .into_iter()
                .map(|(rule, tally)| RuleScore {
                    rule,
                    text: Rule::new(format!("r{rule}"), "y"),
                    tally,
                })
                .collect(),
            predictions,
        }
    }

    /// Rule 0 (training) on "ab" and "cd"; held-out rule 1 in the unseen split and again (a no-op)
    /// in the noop split. `right` says which inputs are answered correctly.
    fn evaluation(step: usize, right: &[&str]) -> Evaluation {
        let answer = |z: &str| {
            if right.contains(&z) {
                z.to_uppercase()
            } else {
                "?".into()
            }
        };
        Evaluation {
            step,
            seen: split(
                "seen",
                vec![
                    prediction(0, "ab", &answer("ab")),
                    prediction(0, "cd", &answer("cd")),
                ],
            ),
            unseen: split("unseen", vec![prediction(1, "ef", &answer("ef"))]),
            noop: split("noop", vec![prediction(1, "gh", &answer("gh"))]),
        }
    }

    #[test]
    fn rows_merge_the_held_out_splits_and_sort_stably() {
        let e = evaluation(100, &["ab", "gh"]);
        let mut rows = rule_rows(&e);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].group, RuleGroup::Training);
        assert_eq!(
            rows[0].tally,
            Tally {
                correct: 1,
                total: 2
            }
        );
        assert_eq!(rows[1].group, RuleGroup::HeldOut);
        assert_eq!(
            rows[1].tally,
            Tally {
                correct: 1,
                total: 2
            }
        );
        sort_rows(&mut rows, RuleSort::Accuracy, true);
        // Equal accuracy: group order decides.
        assert_eq!(rows[0].group, RuleGroup::Training);
        sort_rows(&mut rows, RuleSort::Group, true);
        assert_eq!(rows[0].group, RuleGroup::HeldOut);
        let mut rows = rule_rows(&evaluation(100, &["ab", "cd"]));
        sort_rows(&mut rows, RuleSort::Accuracy, false);
        assert_eq!(rows[0].group, RuleGroup::HeldOut, "0% before 100%");
    }

    #[test]
    fn a_rules_cases_follow_its_answers_across_evaluations() {
        let early = evaluation(100, &[]);
        let late = evaluation(200, &["ab"]);
        let cases = rule_cases(&[&early, &late], RuleGroup::Training, 0);
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].z, "ab");
        assert_eq!(
            cases[0].answers,
            vec![(100, "?".to_string(), false), (200, "AB".to_string(), true)]
        );
        assert!(!cases[0].failed());
        assert!(cases[1].failed());
        assert_eq!(cases[1].latest(), Some("?"));
        let held_out = rule_cases(&[&late], RuleGroup::HeldOut, 1);
        assert_eq!(
            held_out.iter().map(|c| c.z.as_str()).collect::<Vec<_>>(),
            ["ef", "gh"]
        );
        assert!(rule_cases(&[], RuleGroup::Training, 0).is_empty());
    }
}

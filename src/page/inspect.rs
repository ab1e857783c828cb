//! Looking inside one run: a summary per set of rules and per kind of rule, per-rule scores, and a
//! rule's answers across the run's evaluations, built on the page's UI thread from the evaluations
//! the worker sent.
//!
//! A rule's percentage is only as good as the inputs behind it: with many training rules and a fixed
//! evaluation budget, most training rules are scored on one input (0% or 100%). So every tally here
//! carries its input count, the sets say how many of their rules have fewer than [`FEW_INPUTS`],
//! and the list opens on the held-out rules and, within a set, on the rules with the most inputs.

use crate::engine::metrics::{Evaluation, Prediction, SplitReport, Tally};
use crate::engine::task::{Instruction, Rule};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// Below this many test inputs a rule's accuracy moves in steps of more than 20 points: the set
/// summary counts such rules, so a percentage of one or two inputs is read as such.
pub const FEW_INPUTS: usize = 5;

/// Which rules a row of the inspector scores. Declared held-out first: sets sort in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleGroup {
    /// Held-out rules (the `unseen` and `noop` splits): what the run generalizes to.
    HeldOut,
    /// Training rules, tested on new inputs (the `seen` split).
    Training,
    /// Unseen programs of seen rules (the `composed` split of programs).
    Composed,
}

impl RuleGroup {
    /// Both sets of single rules, held-out first.
    pub const ALL: [RuleGroup; 2] = [RuleGroup::HeldOut, RuleGroup::Training];

    /// The sets of an evaluation: [`Self::ALL`], then the composed programs when it has them.
    pub fn of(evaluation: &Evaluation) -> Vec<RuleGroup> {
        let mut groups = Self::ALL.to_vec();
        if evaluation.composed.is_some() {
            groups.push(RuleGroup::Composed);
        }
        groups
    }

    /// The evaluation splits whose predictions belong to this group.
    fn splits(self, evaluation: &Evaluation) -> Vec<&SplitReport> {
        match self {
            RuleGroup::Training => vec![&evaluation.seen],
            RuleGroup::HeldOut => vec![&evaluation.unseen, &evaluation.noop],
            RuleGroup::Composed => evaluation.composed.iter().collect(),
        }
    }
}

/// What a rule does to the length of its input, from `|y|` against `|x|`. Kinds generalize
/// differently (a deletion has no letters of `y` to copy, a lengthening has more), so the inspector
/// tallies each kind apart. Declared from the shortest `y` to the longest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleKind {
    /// `y` is empty: the rule deletes the leftmost `x`.
    Deletion,
    /// `y` is shorter than `x` but not empty.
    Shortening,
    /// `y` is as long as `x` (and not empty): letters are replaced in place.
    Substitution,
    /// `y` is longer than `x`: the rule inserts letters.
    Lengthening,
}

impl RuleKind {
    /// Every kind, in declaration order.
    pub const ALL: [RuleKind; 4] = [
        RuleKind::Deletion,
        RuleKind::Shortening,
        RuleKind::Substitution,
        RuleKind::Lengthening,
    ];

    /// The kind of `rule`, by the lengths in letters of its two sides. An empty `y` is a deletion
    /// whatever `x` is.
    pub fn of(rule: &Rule) -> Self {
        let (x, y) = (rule.x.chars().count(), rule.y.chars().count());
        if y == 0 {
            return RuleKind::Deletion;
        }
        match y.cmp(&x) {
            Ordering::Less => RuleKind::Shortening,
            Ordering::Equal => RuleKind::Substitution,
            Ordering::Greater => RuleKind::Lengthening,
        }
    }

    /// The kind of an instruction: a rule's own; a program's by its rules' lengths added up
    /// (every `y` empty: a deletion).
    pub fn of_instruction(instruction: &Instruction) -> Self {
        let total =
            |side: fn(&Rule) -> &str| -> String { instruction.rules().iter().map(side).collect() };
        Self::of(&Rule::new(total(|r| &r.x), total(|r| &r.y)))
    }

    /// Its name, as the page shows it.
    pub fn name(self) -> &'static str {
        match self {
            RuleKind::Deletion => "deletion",
            RuleKind::Shortening => "shortening",
            RuleKind::Substitution => "substitution",
            RuleKind::Lengthening => "lengthening",
        }
    }

    /// What the name means, in terms of `x` and `y`.
    pub fn meaning(self) -> &'static str {
        match self {
            RuleKind::Deletion => "y is empty",
            RuleKind::Shortening => "y shorter than x",
            RuleKind::Substitution => "y as long as x",
            RuleKind::Lengthening => "y longer than x",
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
    /// The rule or program.
    pub text: Instruction,
    /// Its score over every test input of the group's splits.
    pub tally: Tally,
}

impl RuleRow {
    /// The rule's kind.
    pub fn kind(&self) -> RuleKind {
        RuleKind::of_instruction(&self.text)
    }
}

/// Per-rule scores of an evaluation: held-out rules (their has-op and no-op inputs together), then
/// training rules (scored on new inputs), each set in rule order.
pub fn rule_rows(evaluation: &Evaluation) -> Vec<RuleRow> {
    let mut rows = Vec::new();
    for group in RuleGroup::of(evaluation) {
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

/// A number of rules and their test inputs, scored together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Share {
    /// Rules.
    pub rules: usize,
    /// Their test inputs, all together.
    pub inputs: Tally,
}

impl Share {
    fn add(&mut self, row: &RuleRow) {
        self.rules += 1;
        self.inputs.correct += row.tally.correct;
        self.inputs.total += row.tally.total;
    }
}

/// One set of rules at an evaluation: the line the inspector opens on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetSummary {
    /// Held out or training.
    pub group: RuleGroup,
    /// Its rules and their inputs: the accuracy is exact match over every input.
    pub share: Share,
    /// Rules scored on fewer than [`FEW_INPUTS`] inputs.
    pub few_inputs: usize,
    /// The set's inputs by evaluation split (`unseen` and `noop` for the held-out rules, whose
    /// `unseen` split is the headline held-out accuracy), in split order.
    pub splits: Vec<(String, Tally)>,
}

/// One summary per set of `evaluation`, held-out rules first; a set without rules still has its line.
pub fn set_summaries(evaluation: &Evaluation) -> Vec<SetSummary> {
    let rows = rule_rows(evaluation);
    RuleGroup::of(evaluation)
        .into_iter()
        .map(|group| {
            let mut share = Share::default();
            let mut few_inputs = 0;
            for row in rows.iter().filter(|r| r.group == group) {
                share.add(row);
                few_inputs += usize::from(row.tally.total < FEW_INPUTS);
            }
            SetSummary {
                group,
                share,
                few_inputs,
                splits: group
                    .splits(evaluation)
                    .into_iter()
                    .map(|s| (s.name.clone(), s.all))
                    .collect(),
            }
        })
        .collect()
}

/// One kind of rule at an evaluation, in each set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindRow {
    /// The kind.
    pub kind: RuleKind,
    /// Its held-out rules and their inputs.
    pub held_out: Share,
    /// Its training rules and their inputs.
    pub training: Share,
    /// Its composed programs and their inputs (programs only).
    pub composed: Share,
}

impl KindRow {
    /// The kind's rules in `group`.
    pub fn share(&self, group: RuleGroup) -> &Share {
        match group {
            RuleGroup::HeldOut => &self.held_out,
            RuleGroup::Training => &self.training,
            RuleGroup::Composed => &self.composed,
        }
    }
}

/// Per-kind tallies of `evaluation` in each set: one row per kind that has a rule in either set, in
/// [`RuleKind`] order.
pub fn kind_rows(evaluation: &Evaluation) -> Vec<KindRow> {
    let mut by_kind: BTreeMap<RuleKind, KindRow> = BTreeMap::new();
    for row in rule_rows(evaluation) {
        let kind = row.kind();
        let entry = by_kind.entry(kind).or_insert_with(|| KindRow {
            kind,
            held_out: Share::default(),
            training: Share::default(),
            composed: Share::default(),
        });
        match row.group {
            RuleGroup::HeldOut => entry.held_out.add(&row),
            RuleGroup::Training => entry.training.add(&row),
            RuleGroup::Composed => entry.composed.add(&row),
        }
    }
    by_kind.into_values().collect()
}

/// What the inspector's table is sorted by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RuleSort {
    /// The set: held-out rules first (ascending), then training rules. The opening order.
    #[default]
    Group,
    /// Accuracy of the rule.
    Accuracy,
    /// Number of test inputs.
    Cases,
    /// The rule's text (`x`, then `y`).
    Rule,
    /// The rule's kind, deletions first.
    Kind,
}

/// The inspector's opening order, and every sort's tie-break: held-out rules first, then within a
/// set the rules with the most inputs (whose percentages mean the most), then by rule.
fn opening_order(a: &RuleRow, b: &RuleRow) -> Ordering {
    a.group
        .cmp(&b.group)
        .then(b.tally.total.cmp(&a.tally.total))
        .then_with(|| a.text.cmp(&b.text))
        .then(a.rule.cmp(&b.rule))
}

/// Sorts rows by `key`, ascending or descending; ties keep the opening order (held-out first, most
/// inputs first, then by rule), so the order is the same at every render.
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
            RuleSort::Kind => a.kind().cmp(&b.kind()),
        };
        let primary = if descending {
            primary.reverse()
        } else {
            primary
        };
        primary.then_with(|| opening_order(a, b))
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

    /// A split of `predictions`, rule `i` written `texts[i]` (or `ri -> y` past the end).
    fn split_of(name: &str, predictions: Vec<Prediction>, texts: &[(&str, &str)]) -> SplitReport {
        let mut per_rule: BTreeMap<u32, Tally> = BTreeMap::new();
        let mut all = Tally::default();
        for p in &predictions {
            per_rule.entry(p.rule).or_default().add(p.correct);
            all.add(p.correct);
        }
        SplitReport {
            name: name.into(),
            all,
            hasop: Tally::default(),
            noop: Tally::default(),
            per_rule: per_rule
                .into_iter()
                .map(|(rule, tally)| RuleScore {
                    rule,
                    text: texts
                        .get(rule as usize)
                        .map(|&(x, y)| Rule::new(x, y).into())
                        .unwrap_or_else(|| Rule::new(format!("r{rule}"), "y").into()),
                    tally,
                })
                .collect(),
            predictions,
        }
    }

    fn split(name: &str, predictions: Vec<Prediction>) -> SplitReport {
        split_of(name, predictions, &[])
    }

    /// `right` of `inputs` test inputs of `rule`, answered correctly, the rest wrong.
    fn scored(rule: u32, inputs: usize, right: usize) -> Vec<Prediction> {
        (0..inputs)
            .map(|i| {
                let z = format!("z{rule}{i}");
                let output = if i < right {
                    z.to_uppercase()
                } else {
                    "?".into()
                };
                prediction(rule, &z, &output)
            })
            .collect()
    }

    /// Held-out rules: 0 `ab -> ` (3 unseen inputs and 1 no-op, 2 right), 1 `ab -> cd` (1 input,
    /// right), 2 `a -> b` (1 input, wrong). Training rules: 0 `a -> bc` (6 inputs, 5 right), 1
    /// `b -> ` (1 input, wrong), 2 `cd -> e` (2 inputs, wrong).
    fn kinds_evaluation() -> Evaluation {
        let held_out = [("ab", ""), ("ab", "cd"), ("a", "b")];
        let training = [("a", "bc"), ("b", ""), ("cd", "e")];
        let unseen = [scored(0, 3, 2), scored(1, 1, 1), scored(2, 1, 0)].concat();
        let seen = [scored(0, 6, 5), scored(1, 1, 0), scored(2, 2, 0)].concat();
        Evaluation {
            step: 300,
            seen: split_of("seen", seen, &training),
            unseen: split_of("unseen", unseen, &held_out),
            noop: split_of("noop", scored(0, 1, 0), &held_out),
            composed: None,
            inside: None,
        }
    }

    fn tally(correct: usize, total: usize) -> Tally {
        Tally { correct, total }
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
            composed: None,
            inside: None,
        }
    }

    #[test]
    fn rows_merge_the_held_out_splits_and_sort_stably() {
        let e = evaluation(100, &["ab", "gh"]);
        let mut rows = rule_rows(&e);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].group, RuleGroup::HeldOut);
        assert_eq!(rows[0].tally, tally(1, 2), "its unseen and no-op inputs");
        assert_eq!(rows[1].group, RuleGroup::Training);
        assert_eq!(rows[1].tally, tally(1, 2));
        sort_rows(&mut rows, RuleSort::Accuracy, true);
        // Equal accuracy: the opening order (held-out first) decides.
        assert_eq!(rows[0].group, RuleGroup::HeldOut);
        sort_rows(&mut rows, RuleSort::Group, true);
        assert_eq!(rows[0].group, RuleGroup::Training);
        let mut rows = rule_rows(&evaluation(100, &["ef", "gh"]));
        sort_rows(&mut rows, RuleSort::Accuracy, false);
        assert_eq!(rows[0].group, RuleGroup::Training, "0% before 100%");
    }

    #[test]
    fn a_rules_kind_is_the_length_of_y_against_x_and_an_empty_y_is_a_deletion() {
        let kind = |x: &str, y: &str| RuleKind::of(&Rule::new(x, y));
        assert_eq!(kind("a", ""), RuleKind::Deletion);
        assert_eq!(kind("abc", ""), RuleKind::Deletion);
        assert_eq!(kind("abc", "d"), RuleKind::Shortening);
        assert_eq!(kind("abc", "de"), RuleKind::Shortening);
        assert_eq!(kind("a", "b"), RuleKind::Substitution);
        assert_eq!(kind("ab", "ba"), RuleKind::Substitution);
        assert_eq!(kind("a", "bc"), RuleKind::Lengthening);
        assert_eq!(kind("ab", "abc"), RuleKind::Lengthening);
        let names: std::collections::HashSet<_> = RuleKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), RuleKind::ALL.len(), "names tell kinds apart");
        let mut sorted = RuleKind::ALL;
        sorted.sort();
        assert_eq!(sorted, RuleKind::ALL, "ALL is in sort order");
    }

    #[test]
    fn each_set_counts_its_rules_inputs_right_answers_and_rules_with_few_inputs() {
        let sets = set_summaries(&kinds_evaluation());
        assert_eq!(
            sets,
            [
                SetSummary {
                    group: RuleGroup::HeldOut,
                    share: Share {
                        rules: 3,
                        inputs: tally(3, 6)
                    },
                    few_inputs: 3,
                    splits: vec![("unseen".into(), tally(3, 5)), ("noop".into(), tally(0, 1))],
                },
                SetSummary {
                    group: RuleGroup::Training,
                    share: Share {
                        rules: 3,
                        inputs: tally(5, 9)
                    },
                    few_inputs: 2,
                    splits: vec![("seen".into(), tally(5, 9))],
                },
            ]
        );
        // A set without rules keeps its line, empty.
        let mut e = kinds_evaluation();
        e.seen = split("seen", Vec::new());
        let training = &set_summaries(&e)[1];
        assert_eq!((training.share, training.few_inputs), (Share::default(), 0));
    }

    #[test]
    fn each_kind_tallies_its_rules_and_inputs_per_set() {
        let kinds = kind_rows(&kinds_evaluation());
        let share = |rules, correct, total| Share {
            rules,
            inputs: tally(correct, total),
        };
        assert_eq!(
            kinds,
            [
                KindRow {
                    kind: RuleKind::Deletion,
                    held_out: share(1, 2, 4),
                    training: share(1, 0, 1),
                    composed: Share::default(),
                },
                KindRow {
                    kind: RuleKind::Shortening,
                    held_out: Share::default(),
                    training: share(1, 0, 2),
                    composed: Share::default(),
                },
                KindRow {
                    kind: RuleKind::Substitution,
                    held_out: share(2, 1, 2),
                    training: Share::default(),
                    composed: Share::default(),
                },
                KindRow {
                    kind: RuleKind::Lengthening,
                    held_out: Share::default(),
                    training: share(1, 5, 6),
                    composed: Share::default(),
                },
            ]
        );
        assert_eq!(kinds[0].share(RuleGroup::Training), &share(1, 0, 1));
        // Kinds add up to their sets.
        for set in set_summaries(&kinds_evaluation()) {
            let rules: usize = kinds.iter().map(|k| k.share(set.group).rules).sum();
            let inputs: usize = kinds.iter().map(|k| k.share(set.group).inputs.total).sum();
            assert_eq!((rules, inputs), (set.share.rules, set.share.inputs.total));
        }
        // A kind with no rule in either set has no row.
        let mut e = kinds_evaluation();
        e.seen = split_of("seen", scored(0, 2, 1), &[("a", "bc")]);
        let kinds: Vec<RuleKind> = kind_rows(&e).iter().map(|k| k.kind).collect();
        assert_eq!(
            kinds,
            [
                RuleKind::Deletion,
                RuleKind::Substitution,
                RuleKind::Lengthening
            ]
        );
    }

    fn order(rows: &[RuleRow]) -> Vec<(RuleGroup, u32)> {
        rows.iter().map(|r| (r.group, r.rule)).collect()
    }

    #[test]
    fn the_inspector_opens_on_held_out_rules_then_training_rules_most_inputs_first() {
        use RuleGroup::{HeldOut, Training};
        let mut rows = rule_rows(&kinds_evaluation());
        let opening = crate::page::state::inspector::RuleView::default();
        sort_rows(&mut rows, opening.sort, opening.descending);
        assert_eq!(
            order(&rows),
            [
                (HeldOut, 0),
                // One input each: by rule, `a -> b` before `ab -> cd`.
                (HeldOut, 2),
                (HeldOut, 1),
                (Training, 0),
                (Training, 2),
                (Training, 1),
            ]
        );
        // The set flipped: training first, each set still most inputs first.
        sort_rows(&mut rows, RuleSort::Group, true);
        assert_eq!(
            order(&rows),
            [
                (Training, 0),
                (Training, 2),
                (Training, 1),
                (HeldOut, 0),
                (HeldOut, 2),
                (HeldOut, 1),
            ]
        );
        // Other keys break ties in the opening order.
        sort_rows(&mut rows, RuleSort::Kind, false);
        assert_eq!(
            order(&rows),
            [
                (HeldOut, 0),
                (Training, 1),
                (Training, 2),
                (HeldOut, 2),
                (HeldOut, 1),
                (Training, 0),
            ]
        );
        sort_rows(&mut rows, RuleSort::Accuracy, false);
        assert_eq!(
            order(&rows),
            [
                (HeldOut, 2),
                (Training, 2),
                (Training, 1),
                (HeldOut, 0),
                (Training, 0),
                (HeldOut, 1),
            ]
        );
        sort_rows(&mut rows, RuleSort::Cases, true);
        assert_eq!(order(&rows)[..2], [(Training, 0), (HeldOut, 0)]);
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

//! Results as data: one record per finished run, a sweep report, and their CSV / JSON forms.
//! The browser imports the same JSON, so a large native sweep can be shown in the page.

use crate::config::ExperimentConfig;
#[cfg(feature = "engine")]
use crate::experiment::Run;
use crate::metrics::LossPoint;
use crate::metrics::{EvalSummary, RuleScore};
use crate::sweep::SweepSpec;
use serde::{Deserialize, Serialize};

/// Format tag of sweep files; bump on incompatible changes.
pub const SWEEP_FORMAT: &str = "idp-sweep/1";

/// A finished run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// The sweep labels of this run, one per axis (empty for a single run).
    pub labels: Vec<String>,
    /// The complete settings.
    pub config: ExperimentConfig,
    /// Distinct training rules `I`.
    pub instructions: usize,
    /// Training examples per rule, on average (`N / I`).
    pub examples_per_rule: f64,
    /// Training rules that got at least one example.
    pub rules_with_examples: usize,
    /// Steps trained.
    pub steps: usize,
    /// The last evaluation's headline numbers.
    pub result: EvalSummary,
    /// Mean loss of the last chunk.
    pub final_loss: f32,
    /// The loss curve.
    pub losses: Vec<LossPoint>,
    /// Every evaluation's headline numbers.
    pub evaluations: Vec<EvalSummary>,
    /// Per-rule accuracy of seen rules at the end.
    pub seen_rules: Vec<RuleScore>,
    /// Per-rule accuracy of held-out rules at the end.
    pub unseen_rules: Vec<RuleScore>,
    /// Wall-clock time of the run.
    pub wall_seconds: f64,
}

impl RunRecord {
    /// The record of a finished run and its final evaluation.
    #[cfg(feature = "engine")]
    pub fn new(run: &Run, last: crate::metrics::Evaluation, wall_seconds: f64) -> Self {
        let config = run.config().clone();
        let total = config.task.budget.total(config.task.instructions);
        Self {
            labels: Vec::new(),
            instructions: config.task.instructions,
            examples_per_rule: total as f64 / config.task.instructions as f64,
            rules_with_examples: run.dataset().rules_with_examples(),
            steps: run.step(),
            result: last.summary(),
            final_loss: run.losses().last().map(|p| p.loss).unwrap_or(f32::NAN),
            losses: run.losses().to_vec(),
            evaluations: run.evaluations().to_vec(),
            seen_rules: last.seen.per_rule,
            unseen_rules: last.unseen.per_rule,
            wall_seconds,
            config,
        }
    }

    /// The same record with sweep labels.
    pub fn with_labels(mut self, labels: &[String]) -> Self {
        self.labels = labels.to_vec();
        self
    }
}

/// A sweep and its finished runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Always [`SWEEP_FORMAT`].
    pub format: String,
    /// Backend the runs trained on, in words.
    pub backend: String,
    /// What was swept.
    pub spec: SweepSpec,
    /// Finished runs, in plan order.
    pub runs: Vec<RunRecord>,
}

impl SweepReport {
    /// An empty report for a sweep.
    pub fn new(spec: &SweepSpec, backend: &str) -> Self {
        Self {
            format: SWEEP_FORMAT.into(),
            backend: backend.into(),
            spec: spec.clone(),
            runs: Vec::new(),
        }
    }

    /// Names of the axes, for column headers.
    pub fn axis_names(&self) -> Vec<String> {
        self.spec.axes.iter().map(|a| a.name.clone()).collect()
    }

    /// One CSV row per run: the axis labels (columns `axis_<name>`), then the fixed columns.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        // Axis columns are prefixed so they never collide with a fixed column of the same name.
        let mut header: Vec<String> = self
            .axis_names()
            .iter()
            .map(|n| csv_field(&format!("axis_{}", n.replace(' ', "_"))))
            .collect();
        header.extend(CSV_COLUMNS.iter().map(|c| c.to_string()));
        out.push_str(&header.join(","));
        out.push('\n');
        for run in &self.runs {
            let mut row: Vec<String> = run.labels.iter().map(|l| csv_field(l)).collect();
            row.extend([
                run.instructions.to_string(),
                format!("{:.2}", run.examples_per_rule),
                run.config.seed.to_string(),
                run.steps.to_string(),
                format!("{:.4}", run.result.seen_accuracy),
                format!("{:.4}", run.result.unseen_accuracy),
                format!("{:.4}", run.result.unseen_hasop_accuracy),
                format!("{:.4}", run.result.noop_accuracy),
                format!("{:.4}", run.final_loss),
                run.rules_with_examples.to_string(),
                format!("{:.1}", run.wall_seconds),
            ]);
            out.push_str(&row.join(","));
            out.push('\n');
        }
        out
    }
}

/// The fixed CSV columns, after one column per sweep axis.
pub const CSV_COLUMNS: [&str; 11] = [
    "instructions",
    "examples_per_rule",
    "seed",
    "steps",
    "seen_accuracy",
    "unseen_accuracy",
    "unseen_hasop_accuracy",
    "noop_accuracy",
    "final_loss",
    "rules_with_examples",
    "wall_seconds",
];

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// One line of the results table.
pub fn table_row(run: &RunRecord) -> String {
    let labels = if run.labels.is_empty() {
        String::from("-")
    } else {
        run.labels.join(" / ")
    };
    format!(
        "{labels:>16} {:>6} {:>9.1} {:>5} {:>6} {:>6.3} {:>7.3} {:>7.3} {:>6.3} {:>7.4} {:>7.1}",
        run.instructions,
        run.examples_per_rule,
        run.config.seed,
        run.steps,
        run.result.seen_accuracy,
        run.result.unseen_accuracy,
        run.result.unseen_hasop_accuracy,
        run.result.noop_accuracy,
        run.final_loss,
        run.wall_seconds,
    )
}

/// A results table with a header.
pub fn table(runs: &[RunRecord], axis_names: &[String]) -> String {
    let axes = if axis_names.is_empty() {
        "run".to_string()
    } else {
        axis_names.join(" / ")
    };
    let mut out = format!(
        "{axes:>16} {:>6} {:>9} {:>5} {:>6} {:>6} {:>7} {:>7} {:>6} {:>7} {:>7}\n",
        "I", "ex/rule", "seed", "steps", "seen", "unseen", "has-op", "no-op", "loss", "wall s"
    );
    for run in runs {
        out.push_str(&table_row(run));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_labels_with_commas() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("256"), "256");
    }

    #[test]
    fn csv_has_the_promised_columns() {
        let spec = crate::presets::preset("phase-transition").unwrap().sweep;
        let report = SweepReport::new(&spec, "test");
        let header = report.to_csv();
        let columns: Vec<&str> = header.lines().next().unwrap().split(',').collect();
        let unique: std::collections::HashSet<&&str> = columns.iter().collect();
        assert_eq!(
            unique.len(),
            columns.len(),
            "duplicate columns in {columns:?}"
        );
        assert_eq!(columns[0], "axis_instructions");
        for column in [
            "instructions",
            "examples_per_rule",
            "seed",
            "steps",
            "seen_accuracy",
            "unseen_accuracy",
            "noop_accuracy",
        ] {
            assert!(
                header
                    .lines()
                    .next()
                    .unwrap()
                    .split(',')
                    .any(|c| c == column),
                "{column}"
            );
        }
    }
}

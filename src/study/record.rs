//! Results as data: one record per finished run, a sweep report, and their CSV / JSON forms.
//! The browser imports the same JSON, so a large native sweep can be shown in the page.

use crate::engine::config::{ConfigError, ExperimentConfig};
use crate::engine::metrics::LossPoint;
use crate::engine::metrics::{EvalSummary, RuleScore};
use crate::study::sweep::SweepSpec;
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
    /// Mean loss of the last chunk; NaN when the record has no loss curve (a run read from a
    /// class's result code), which JSON writes as `null`.
    #[serde(deserialize_with = "nan_if_null")]
    pub final_loss: f32,
    /// The loss curve.
    pub losses: Vec<LossPoint>,
    /// Every evaluation's headline numbers.
    pub evaluations: Vec<EvalSummary>,
    /// Every evaluation's head scores and embedding projection
    /// ([`crate::engine::mechanism::Inside`]); empty in records made before they were measured
    /// and in records read from a class's result code.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inside: Vec<crate::engine::mechanism::Inside>,
    /// Per-rule accuracy of seen rules at the end.
    pub seen_rules: Vec<RuleScore>,
    /// Per-rule accuracy of held-out rules at the end.
    pub unseen_rules: Vec<RuleScore>,
    /// Wall-clock time of the run.
    pub wall_seconds: f64,
}

/// Reads a number, or `null` (what JSON makes of NaN) as NaN.
fn nan_if_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<f32, D::Error> {
    Ok(Option::<f32>::deserialize(deserializer)?.unwrap_or(f32::NAN))
}

impl RunRecord {
    /// The record of run `k` of a finished stack (a run alone is a stack of one) and its final
    /// evaluation (`wall_seconds`: the stack's, shared by its runs).
    #[cfg(feature = "compute")]
    pub fn new(
        stack: &crate::engine::stack::Stack,
        k: usize,
        last: crate::engine::metrics::Evaluation,
        wall_seconds: f64,
    ) -> Self {
        Self::from_parts(
            stack.config(k),
            stack.dataset(k),
            (stack.step(), stack.losses(k), stack.evaluations(k)),
            last,
            wall_seconds,
        )
        .with_inside(stack.inside(k).to_vec())
    }

    /// The record of a run known only by its settings and final headline numbers (a class's
    /// result code, a test): no curves, no per-rule scores, no loss (NaN), every rule counted as
    /// having examples, no time.
    pub fn summary_only(config: &ExperimentConfig, summary: EvalSummary) -> Self {
        let instructions = config.task.instructions;
        Self {
            labels: Vec::new(),
            config: config.clone(),
            instructions,
            examples_per_rule: config.task.budget.total(instructions) as f64 / instructions as f64,
            rules_with_examples: instructions,
            steps: summary.step,
            result: summary,
            final_loss: f32::NAN,
            losses: Vec::new(),
            evaluations: vec![summary],
            inside: Vec::new(),
            seen_rules: Vec::new(),
            unseen_rules: Vec::new(),
            wall_seconds: 0.0,
        }
    }

    /// The record with its head scores and projections.
    pub fn with_inside(self, inside: Vec<crate::engine::mechanism::Inside>) -> Self {
        Self { inside, ..self }
    }

    #[cfg(feature = "compute")]
    fn from_parts(
        config: &crate::engine::config::ValidConfig,
        dataset: &crate::engine::task::Dataset,
        (steps, losses, evaluations): (
            usize,
            &[crate::engine::metrics::LossPoint],
            &[crate::engine::metrics::EvalSummary],
        ),
        last: crate::engine::metrics::Evaluation,
        wall_seconds: f64,
    ) -> Self {
        let config = config.raw().clone();
        let total = config.task.budget.total(config.task.instructions);
        Self {
            labels: Vec::new(),
            instructions: config.task.instructions,
            examples_per_rule: total as f64 / config.task.instructions as f64,
            rules_with_examples: dataset.rules_with_examples(),
            steps,
            result: last.summary(),
            final_loss: losses.last().map(|p| p.loss).unwrap_or(f32::NAN),
            losses: losses.to_vec(),
            evaluations: evaluations.to_vec(),
            inside: Vec::new(),
            seen_rules: last.seen.per_rule,
            unseen_rules: last.unseen.per_rule,
            wall_seconds,
            config,
        }
    }

    /// Checks what a record read from a file or the browser's storage claims: settings the page
    /// accepts, accuracies in [0, 1], finite losses.
    ///
    /// # Errors
    /// A [`RecordError`] saying which claim fails.
    pub fn check(&self) -> Result<(), RecordError> {
        self.config.validate()?;
        let accuracies = self.evaluations.iter().chain([&self.result]).flat_map(|e| {
            [
                e.seen_accuracy,
                e.unseen_accuracy,
                e.unseen_hasop_accuracy,
                e.noop_accuracy,
            ]
        });
        if let Some(bad) = accuracies.into_iter().find(|a| !(0.0..=1.0).contains(a)) {
            return Err(RecordError::Accuracy(bad));
        }
        if let Some(bad) = self.losses.iter().find(|p| !p.loss.is_finite()) {
            return Err(RecordError::Loss {
                step: bad.step,
                loss: bad.loss,
            });
        }
        Ok(())
    }

    /// The same record with sweep labels.
    pub fn with_labels(mut self, labels: &[String]) -> Self {
        self.labels = labels.to_vec();
        self
    }
}

/// Why a run record cannot be right.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RecordError {
    /// Settings the page does not accept.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// An accuracy outside [0, 1].
    #[error("an accuracy of {0} is outside [0, 1]")]
    Accuracy(f64),
    /// A loss that is not a finite number.
    #[error("the loss at step {step} is {loss}")]
    Loss {
        /// Its step.
        step: usize,
        /// Its value.
        loss: f32,
    },
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
        let mut out = csv::Writer::from_writer(Vec::new());
        // Axis columns are prefixed so they never collide with a fixed column of the same name.
        let header: Vec<String> = self
            .axis_names()
            .iter()
            .map(|n| format!("axis_{}", n.replace(' ', "_")))
            .chain(CSV_COLUMNS.iter().map(|c| c.to_string()))
            .collect();
        out.write_record(header).expect("writing to memory");
        for run in &self.runs {
            let row = run.labels.iter().cloned().chain([
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
                run.result
                    .composed_accuracy
                    .map_or(String::new(), |a| format!("{a:.4}")),
                // Last: the one column two runs of the same cell may differ in.
                format!("{:.1}", run.wall_seconds),
            ]);
            out.write_record(row).expect("writing to memory");
        }
        csv_text(out)
    }
}

/// The text a CSV writer made in memory.
fn csv_text(writer: csv::Writer<Vec<u8>>) -> String {
    let bytes = writer.into_inner().expect("writing to memory");
    String::from_utf8(bytes).expect("the fields are text")
}

/// Why a results file cannot be shown.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ImportError {
    /// Not JSON, or JSON of another shape.
    #[error("this is not a results file of this page or of `idp sweep` ({0})")]
    Unreadable(String),
    /// A results file of a format this version does not read.
    #[error("this results file has format `{0}`; this page reads `{SWEEP_FORMAT}`")]
    WrongFormat(String),
    /// A file with no run in it.
    #[error("this results file holds no finished run")]
    Empty,
    /// A run whose settings or numbers cannot be right.
    #[error("run {index} of this results file is damaged: {why}")]
    Damaged {
        /// Position of the run in the file, from 1.
        index: usize,
        /// What is wrong.
        why: RecordError,
    },
}

impl SweepReport {
    /// The report of one run made in the page: a sweep with no axis and one seed, so the page's export
    /// and `idp sweep`'s output are one format.
    pub fn single(record: RunRecord, backend: &str) -> Self {
        let spec = SweepSpec {
            base: record.config.clone(),
            axes: Vec::new(),
            seeds: vec![record.config.seed],
        };
        Self {
            runs: vec![record],
            ..Self::new(&spec, backend)
        }
    }

    /// The report as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("reports serialize")
    }

    /// Reads and checks a results file (the page's export or `idp sweep`'s `sweep.json`): the format
    /// tag, at least one run, settings the page accepts, accuracies in [0, 1], finite losses.
    pub fn from_json(text: &str) -> Result<Self, ImportError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ImportError::Unreadable(e.to_string()))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(SWEEP_FORMAT) => {}
            Some(other) => {
                return Err(ImportError::WrongFormat(crate::engine::settings::shorten(
                    other,
                )));
            }
            None => return Err(ImportError::Unreadable("it has no `format` tag".into())),
        }
        let report: Self =
            crate::engine::config::read_json_value(value).map_err(ImportError::Unreadable)?;
        if report.runs.is_empty() {
            return Err(ImportError::Empty);
        }
        for (i, run) in report.runs.iter().enumerate() {
            run.check()
                .map_err(|why| ImportError::Damaged { index: i + 1, why })?;
        }
        Ok(report)
    }
}

/// Columns of [`heads_csv`].
pub const HEADS_COLUMNS: [&str; 7] = [
    "step",
    "split",
    "layer",
    "head",
    "copy",
    "substitute",
    "match_x",
];

/// A run's head scores ([`crate::engine::mechanism`]) as CSV: one row per evaluation, split
/// (`seen`, `unseen`) and head, layers and heads counted from 0 (as `idp ablate --heads` takes
/// them); a measure with no case at that evaluation is an empty cell.
pub fn heads_csv(inside: &[crate::engine::mechanism::Inside]) -> String {
    use crate::engine::mechanism::Measure;
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(HEADS_COLUMNS).expect("writing to memory");
    for evaluation in inside {
        for (split, scores) in [("seen", &evaluation.seen), ("unseen", &evaluation.unseen)] {
            for layer in 0..scores.layers {
                for head in 0..scores.heads {
                    let value = |m: Measure| {
                        scores
                            .of(m)
                            .and_then(|v| v.get(layer * scores.heads + head))
                            .map(|v| format!("{v}"))
                            .unwrap_or_default()
                    };
                    let row = [
                        evaluation.step.to_string(),
                        split.to_string(),
                        layer.to_string(),
                        head.to_string(),
                        value(Measure::Copy),
                        value(Measure::Substitute),
                        value(Measure::MatchX),
                    ];
                    out.write_record(row).expect("writing to memory");
                }
            }
        }
    }
    csv_text(out)
}

/// Columns of [`metrics_csv`].
pub const METRICS_COLUMNS: [&str; 6] = [
    "step",
    "loss",
    "seen_accuracy",
    "unseen_accuracy",
    "unseen_hasop_accuracy",
    "noop_accuracy",
];

/// The curves of one run as CSV: a row per step with a loss reading or an evaluation (empty cells
/// where a step has only one of them), in step order.
pub fn metrics_csv(losses: &[LossPoint], evaluations: &[EvalSummary]) -> String {
    let mut steps: Vec<usize> = losses
        .iter()
        .map(|p| p.step)
        .chain(evaluations.iter().map(|e| e.step))
        .collect();
    steps.sort_unstable();
    steps.dedup();
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(METRICS_COLUMNS)
        .expect("writing to memory");
    for step in steps {
        let loss = losses
            .iter()
            .rfind(|p| p.step == step)
            .map(|p| format!("{}", p.loss))
            .unwrap_or_default();
        let accuracies = match evaluations.iter().rfind(|e| e.step == step) {
            Some(e) => [
                e.seen_accuracy,
                e.unseen_accuracy,
                e.unseen_hasop_accuracy,
                e.noop_accuracy,
            ]
            .map(|a| format!("{a}")),
            None => Default::default(),
        };
        let row = [step.to_string(), loss].into_iter().chain(accuracies);
        out.write_record(row).expect("writing to memory");
    }
    csv_text(out)
}

/// The fixed CSV columns, after one column per sweep axis.
pub const CSV_COLUMNS: [&str; 12] = [
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
    "composed_accuracy",
    "wall_seconds",
];

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
    ) + &run
        .result
        .composed_accuracy
        .map_or(String::new(), |a| format!(" {a:>8.3}"))
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
    // Programs: unseen programs of seen rules, after the fixed columns.
    if runs.iter().any(|r| r.result.composed_accuracy.is_some()) {
        out.insert_str(out.len() - 1, &format!(" {:>8}", "composed"));
    }
    for run in runs {
        out.push_str(&table_row(run));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(step: usize, unseen: f64) -> EvalSummary {
        EvalSummary {
            step,
            seen_accuracy: 0.5,
            unseen_accuracy: unseen,
            unseen_hasop_accuracy: unseen,
            noop_accuracy: 1.0,
            composed_accuracy: None,
        }
    }

    fn record() -> RunRecord {
        let config = crate::study::presets::preset("phase-transition")
            .unwrap()
            .sweep
            .base;
        RunRecord {
            labels: Vec::new(),
            instructions: config.task.instructions,
            examples_per_rule: 19.5,
            rules_with_examples: 1000,
            steps: 20,
            result: summary(20, 0.25),
            final_loss: 0.7,
            losses: vec![
                LossPoint {
                    step: 10,
                    loss: 1.5,
                },
                LossPoint {
                    step: 20,
                    loss: 0.7,
                },
            ],
            evaluations: vec![summary(20, 0.25)],
            inside: Vec::new(),
            seen_rules: Vec::new(),
            unseen_rules: Vec::new(),
            wall_seconds: 3.0,
            config,
        }
    }

    #[test]
    fn a_page_export_reads_back_the_same() {
        let report = SweepReport::single(record(), "CPU: test");
        let again = SweepReport::from_json(&report.to_json()).unwrap();
        assert_eq!(again, report);
        assert_eq!(again.format, SWEEP_FORMAT);
        assert!(again.spec.axes.is_empty());
    }

    #[test]
    fn a_typo_in_an_imported_file_is_named_with_its_place() {
        let good = SweepReport::single(record(), "CPU").to_json();
        let typo = good.replacen("\"learning_rate\"", "\"learning_rat\"", 1);
        match SweepReport::from_json(&typo) {
            Err(ImportError::Unreadable(why)) => {
                assert!(why.contains("learning_rat"), "{why}");
                assert!(why.contains("spec.base.train"), "the place is named: {why}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wrong_or_damaged_files_are_refused_with_the_reason() {
        let good = SweepReport::single(record(), "CPU");
        let refuse = |text: &str| SweepReport::from_json(text).unwrap_err();
        assert!(matches!(refuse("not json"), ImportError::Unreadable(_)));
        assert!(matches!(refuse("{\"a\": 1}"), ImportError::Unreadable(_)));
        let json = good.to_json();
        assert_eq!(
            refuse(&json.replace(SWEEP_FORMAT, "idp-sweep/9")),
            ImportError::WrongFormat("idp-sweep/9".into())
        );
        assert!(matches!(
            refuse(&json[..json.len() / 2]),
            ImportError::Unreadable(_)
        ));
        let mut empty = good.clone();
        empty.runs.clear();
        assert_eq!(refuse(&empty.to_json()), ImportError::Empty);
        let mut bad = good.clone();
        bad.runs[0].evaluations[0].unseen_accuracy = 1.5;
        assert!(
            refuse(&bad.to_json())
                .to_string()
                .contains("outside [0, 1]")
        );
        let mut bad = good.clone();
        bad.runs[0].config.model.heads = 5;
        let error = refuse(&bad.to_json()).to_string();
        assert!(
            error.contains("run 1") && error.contains("model"),
            "{error}"
        );
        let mut bad = good;
        bad.runs[0].losses[0].loss = f32::INFINITY;
        // JSON has no infinity: serde writes null, which is not a loss.
        assert!(matches!(refuse(&bad.to_json()), ImportError::Unreadable(_)));
    }

    #[test]
    fn heads_csv_has_a_row_per_evaluation_split_and_head() {
        use crate::engine::mechanism::{HeadScores, Inside, Projection};
        let scores = |copy: Vec<f32>| HeadScores {
            layers: 1,
            heads: 2,
            examples: 3,
            scores: [Some(copy), None, Some(vec![0.5, 0.25])],
        };
        let inside = Inside {
            step: 40,
            seen: scores(vec![0.75, 0.125]),
            unseen: scores(vec![1.0, 0.0]),
            embedding: Projection {
                labels: Vec::new(),
                points: Vec::new(),
                explained: [0.0; 2],
            },
        };
        let csv = heads_csv(&[inside]);
        assert_eq!(
            csv,
            "step,split,layer,head,copy,substitute,match_x\n\
             40,seen,0,0,0.75,,0.5\n40,seen,0,1,0.125,,0.25\n\
             40,unseen,0,0,1,,0.5\n40,unseen,0,1,0,,0.25\n"
        );
        assert_eq!(
            heads_csv(&[]),
            "step,split,layer,head,copy,substitute,match_x\n"
        );
    }

    #[test]
    fn metrics_csv_merges_losses_and_evaluations_by_step() {
        let csv = metrics_csv(
            &[
                LossPoint {
                    step: 10,
                    loss: 1.5,
                },
                LossPoint {
                    step: 20,
                    loss: 0.75,
                },
            ],
            &[summary(0, 0.0), summary(20, 0.25)],
        );
        assert_eq!(
            csv,
            "step,loss,seen_accuracy,unseen_accuracy,unseen_hasop_accuracy,noop_accuracy\n\
             0,,0.5,0,0,1\n\
             10,1.5,,,,\n\
             20,0.75,0.5,0.25,0.25,1\n"
        );
    }

    #[test]
    fn csv_quotes_labels_with_commas_and_quotes() {
        let mut report = SweepReport::single(record(), "CPU");
        report.spec.axes = vec![crate::study::sweep::Axis::values("model", "seed", [1u64])];
        report.runs[0].labels = vec!["A, then \"B\"".into()];
        let csv = report.to_csv();
        let row = csv.lines().nth(1).unwrap();
        assert!(row.starts_with("\"A, then \"\"B\"\"\","), "{row}");
        let mut reader = csv::Reader::from_reader(csv.as_bytes());
        let first = reader.records().next().unwrap().unwrap();
        assert_eq!(&first[0], "A, then \"B\"");
    }

    #[test]
    fn csv_has_the_promised_columns() {
        let spec = crate::study::presets::preset("phase-transition")
            .unwrap()
            .sweep;
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

//! A sweep split into cells that run anywhere: the plan (every cell's full, validated config, its
//! index and labels) as one file, each cell's result as a file of its own, and the merge of the
//! results into the sweep's report.
//!
//! `idp sweep` runs a plan's cells in one process; on a cluster a Slurm job array runs one cell per
//! task (`idp cell DIR --index I`) and a dependent job merges them (`idp merge DIR`). Both write the
//! same files, so a sweep can be started on one machine and finished on another. The files are
//! plain data; writing them (atomically) is the CLI's.

use crate::engine::config::ConfigError;
use crate::study::record::{RecordError, RunRecord, SweepReport};
use crate::study::sweep::{PlannedRun, SweepSpec};
use serde::{Deserialize, Serialize};

/// Format tag of a plan file.
pub const PLAN_FORMAT: &str = "idp-plan/1";

/// Format tag of a cell's result file.
pub const CELL_FORMAT: &str = "idp-cell/1";

/// Why a plan or a cell's result cannot be used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PlanError {
    /// Not JSON, or JSON of another shape.
    #[error("unreadable ({0})")]
    Unreadable(String),
    /// Another format tag.
    #[error("format `{found}`, this version reads `{expected}`")]
    WrongFormat {
        /// The tag found.
        found: String,
        /// The tag this version reads.
        expected: &'static str,
    },
    /// The sweep cannot be planned.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The cells are not the sweep's plan (a hand edit, or files of two sweeps mixed).
    #[error("its cells are not the plan of its sweep (cell {0} differs)")]
    Inconsistent(usize),
    /// A cell index past the plan.
    #[error("there is no cell {index}: the plan has {cells} (0 to {last})", last = cells.saturating_sub(1))]
    NoSuchCell {
        /// The index asked for.
        index: usize,
        /// Cells in the plan.
        cells: usize,
    },
    /// A result that cannot be right.
    #[error("the result of cell {index} is damaged: {why}")]
    Damaged {
        /// The cell.
        index: usize,
        /// What is wrong.
        why: RecordError,
    },
    /// A result of a cell with other settings than the plan's.
    #[error("the result of cell {0} was made with other settings than the plan's")]
    OtherSettings(usize),
}

/// Reads JSON text with a format tag into `T`.
fn read_tagged<T: for<'de> Deserialize<'de>>(
    text: &str,
    expected: &'static str,
) -> Result<T, PlanError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| PlanError::Unreadable(e.to_string()))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(tag) if tag == expected => {}
        Some(found) => {
            return Err(PlanError::WrongFormat {
                found: crate::engine::settings::shorten(found),
                expected,
            });
        }
        None => return Err(PlanError::Unreadable("it has no `format` tag".into())),
    }
    crate::engine::config::read_json_value(value).map_err(PlanError::Unreadable)
}

/// A sweep's plan: the spec and every cell, in run order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// Always [`PLAN_FORMAT`].
    pub format: String,
    /// What is swept.
    pub spec: SweepSpec,
    /// Every cell: its index, labels, seed and validated config.
    pub cells: Vec<PlannedRun>,
}

impl Plan {
    /// The plan of a sweep.
    ///
    /// # Errors
    /// The [`ConfigError`] of the first cell whose settings are refused.
    pub fn new(spec: SweepSpec) -> Result<Self, ConfigError> {
        let cells = spec.plan()?;
        Ok(Self {
            format: PLAN_FORMAT.into(),
            spec,
            cells,
        })
    }

    /// The plan as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plans serialize")
    }

    /// Reads a plan, checking its format and that its cells are its sweep's plan (each config is
    /// validated as it is read).
    ///
    /// # Errors
    /// A [`PlanError`] saying what is wrong.
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        let plan: Self = read_tagged(text, PLAN_FORMAT)?;
        let expected = plan.spec.plan()?;
        if let Some(index) = (0..expected.len().max(plan.cells.len()))
            .find(|&i| expected.get(i) != plan.cells.get(i))
        {
            return Err(PlanError::Inconsistent(index));
        }
        Ok(plan)
    }

    /// Cell `index`.
    ///
    /// # Errors
    /// [`PlanError::NoSuchCell`] past the plan.
    pub fn cell(&self, index: usize) -> Result<&PlannedRun, PlanError> {
        self.cells.get(index).ok_or(PlanError::NoSuchCell {
            index,
            cells: self.cells.len(),
        })
    }

    /// Checks that a cell's result belongs to this plan: a cell of it, trained with its settings.
    ///
    /// # Errors
    /// A [`PlanError`] saying how it does not.
    pub fn check(&self, result: &CellResult) -> Result<(), PlanError> {
        let cell = self.cell(result.index)?;
        if cell.config.raw() != &result.record.config {
            return Err(PlanError::OtherSettings(result.index));
        }
        Ok(())
    }

    /// The sweep's report from the cells' results (in plan order, whatever order they finished in),
    /// and the indices of the cells that have none yet.
    pub fn merge(&self, results: &[CellResult]) -> (SweepReport, Vec<usize>) {
        let mut by_index: Vec<Option<&CellResult>> = vec![None; self.cells.len()];
        for result in results {
            if let Some(slot) = by_index.get_mut(result.index) {
                *slot = Some(result);
            }
        }
        let mut backends: Vec<&str> = Vec::new();
        for result in by_index.iter().flatten() {
            if !backends.contains(&result.backend.as_str()) {
                backends.push(&result.backend);
            }
        }
        let mut report = SweepReport::new(&self.spec, &backends.join("; "));
        report.runs = by_index
            .iter()
            .flatten()
            .map(|r| r.record.clone())
            .collect();
        let missing = (0..self.cells.len())
            .filter(|&i| by_index[i].is_none())
            .collect();
        (report, missing)
    }
}

/// One cell's result: its index in the plan, the backend it trained on, and its record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CellResult {
    /// Always [`CELL_FORMAT`].
    pub format: String,
    /// The cell's index in the plan.
    pub index: usize,
    /// The backend it trained on, in words.
    pub backend: String,
    /// Its record, with the plan's labels.
    pub record: RunRecord,
}

impl CellResult {
    /// The result of cell `index`.
    pub fn new(index: usize, backend: &str, record: RunRecord) -> Self {
        Self {
            format: CELL_FORMAT.into(),
            index,
            backend: backend.into(),
            record,
        }
    }

    /// The result as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("results serialize")
    }

    /// Reads and checks a result: format, and a record whose numbers can be right.
    ///
    /// # Errors
    /// A [`PlanError`] saying what is wrong.
    pub fn from_json(text: &str) -> Result<Self, PlanError> {
        let result: Self = read_tagged(text, CELL_FORMAT)?;
        result.record.check().map_err(|why| PlanError::Damaged {
            index: result.index,
            why,
        })?;
        Ok(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::metrics::{EvalSummary, LossPoint};
    use crate::study::sweep::Axis;

    fn spec() -> SweepSpec {
        let mut base = crate::engine::config::ExperimentConfig::default();
        base.train.steps = 10;
        base.train.warmup_steps = 1;
        SweepSpec {
            base,
            axes: vec![Axis::values(
                "instructions",
                "task.instructions",
                [4usize, 16],
            )],
            seeds: vec![1, 2],
        }
    }

    fn result(plan: &Plan, index: usize) -> CellResult {
        let cell = &plan.cells[index];
        let summary = EvalSummary {
            step: 10,
            seen_accuracy: 0.5,
            unseen_accuracy: 0.1 * index as f64,
            unseen_hasop_accuracy: 0.1,
            noop_accuracy: 1.0,
            composed_accuracy: None,
        };
        CellResult::new(
            index,
            "CPU",
            RunRecord {
                labels: cell.labels.clone(),
                config: cell.config.raw().clone(),
                instructions: cell.config.task.instructions,
                examples_per_rule: 1.0,
                rules_with_examples: 4,
                steps: 10,
                result: summary,
                final_loss: 0.5,
                losses: vec![LossPoint {
                    step: 10,
                    loss: 0.5,
                }],
                evaluations: vec![summary],
                inside: Vec::new(),
                seen_rules: Vec::new(),
                unseen_rules: Vec::new(),
                wall_seconds: 1.0,
            },
        )
    }

    #[test]
    fn a_plan_reads_back_and_a_hand_edited_one_is_refused() {
        let plan = Plan::new(spec()).unwrap();
        assert_eq!(plan.cells.len(), 4);
        assert_eq!(Plan::from_json(&plan.to_json()).unwrap(), plan);
        let mut edited = serde_json::to_value(&plan).unwrap();
        edited["cells"][2]["config"]["task"]["instructions"] = 5.into();
        assert_eq!(
            Plan::from_json(&edited.to_string()).unwrap_err(),
            PlanError::Inconsistent(2)
        );
        let mut short = plan.clone();
        short.cells.pop();
        assert_eq!(
            Plan::from_json(&short.to_json()).unwrap_err(),
            PlanError::Inconsistent(3)
        );
        let mut invalid = serde_json::to_value(&plan).unwrap();
        invalid["cells"][0]["config"]["model"]["heads"] = 5.into();
        assert!(Plan::from_json(&invalid.to_string()).is_err());
        assert!(matches!(
            Plan::from_json(&plan.to_json().replace(PLAN_FORMAT, "idp-plan/9")),
            Err(PlanError::WrongFormat { .. })
        ));
        assert!(matches!(
            plan.cell(4),
            Err(PlanError::NoSuchCell { index: 4, cells: 4 })
        ));
    }

    #[test]
    fn the_merge_keeps_plan_order_and_names_the_missing_cells() {
        let plan = Plan::new(spec()).unwrap();
        let results = vec![result(&plan, 3), result(&plan, 0), result(&plan, 1)];
        for r in &results {
            plan.check(r).unwrap();
            assert_eq!(CellResult::from_json(&r.to_json()).unwrap(), *r);
        }
        let (report, missing) = plan.merge(&results);
        assert_eq!(missing, vec![2]);
        let order: Vec<f64> = report
            .runs
            .iter()
            .map(|r| r.result.unseen_accuracy)
            .collect();
        assert_eq!(order, vec![0.0, 0.1, 0.30000000000000004]);
        assert_eq!(report.backend, "CPU");
        let (full, missing) = plan.merge(&[
            result(&plan, 0),
            result(&plan, 1),
            result(&plan, 2),
            result(&plan, 3),
        ]);
        assert!(missing.is_empty());
        assert_eq!(full.runs.len(), 4);
        // A result of another sweep's cell is refused.
        let mut foreign = result(&plan, 1);
        foreign.record.config.seed = 99;
        assert_eq!(plan.check(&foreign), Err(PlanError::OtherSettings(1)));
    }
}

//! The runs library: every finished run of this visit, of earlier visits (read back from the
//! browser's storage) and of imported files; the imported file on show; the runs picked for
//! comparison; and what went wrong with storage or an import.
//!
//! Finished runs are shared (`Rc`): the state is copied at every dispatch, and a copy of the library
//! is a copy of pointers, whatever the runs hold.

use crate::engine::metrics::Evaluation;
use crate::study::record::{RunRecord, SweepReport};
use std::collections::BTreeSet;
use std::rc::Rc;

/// A finished run of this session (or of an imported file, or of an earlier visit), kept for the
/// sweep views, the inspector and comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct FinishedRun {
    /// Name in lists: the sweep labels, or `run N`.
    pub name: String,
    /// Settings, curves and final per-rule scores.
    pub record: Rc<RunRecord>,
    /// Every evaluation with its predictions, oldest first (empty for imported and saved runs).
    pub history: Vec<Rc<Evaluation>>,
    /// Whether it is kept in the browser's storage.
    pub kept: Kept,
    /// Key of the sweep it belongs to, if any (shared with the saved sweep).
    pub sweep_key: Option<String>,
    /// The helper worker that trained it and keeps its model for questions, if one did (`None`:
    /// the page's own worker, or a run not trained in this visit).
    pub helper: Option<usize>,
}

/// Whether a finished run is kept in the browser's storage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    /// To be saved.
    Pending,
    /// Saved (or read back from storage).
    Saved,
    /// Saving failed; the run stays listed for this visit.
    Failed,
    /// Not to be saved: it came from an imported file.
    Never,
}

/// The runs library.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Library {
    /// Finished runs: earlier visits' first, then this visit's and imported files', in order.
    pub runs: Vec<Rc<FinishedRun>>,
    /// An imported results file and the run of it on show.
    pub imported: Option<(Rc<SweepReport>, usize)>,
    /// Why the last import was refused.
    pub import_error: Option<String>,
    /// Finished runs picked for comparison (indices into `runs`).
    pub compare: BTreeSet<usize>,
    /// Why saving or reading saved runs failed, if it did.
    pub storage_error: Option<String>,
    /// Identifies this visit in storage keys (set when saved runs are read back at start).
    pub visit: u64,
    /// This tab's owner id in the browser's storage (its checkpoint and sweep progress).
    pub owner: String,
    /// Runs in progress of tabs that are gone, which this tab can resume.
    pub orphans: Vec<Orphan>,
}

/// What a gone tab left in the browser's storage: its run in progress and its sweep's progress.
#[derive(Clone, Debug, PartialEq)]
pub struct Orphan {
    /// The gone tab's owner id.
    pub owner: String,
    /// Its run's checkpoint meta.
    pub run: Option<crate::engine::checkpoint::CheckpointMeta>,
    /// Its sweep's progress.
    pub sweep: Option<crate::page::storage::SweepProgress>,
    /// Its helper workers' runs in progress: each helper's slot and checkpoint meta.
    pub helpers: Vec<(usize, crate::engine::checkpoint::CheckpointMeta)>,
}

/// A change to the library alone.
#[derive(Clone, Debug, PartialEq)]
pub enum LibraryAction {
    /// A results file was refused: why.
    ImportFailed(String),
    /// Add a finished run to the comparison, or take it out.
    ToggleCompare(usize),
    /// Runs `runs[i]` for each index were saved (`Ok`) or not (`Err`, the reason in words).
    Saved(Vec<usize>, Result<(), String>),
    /// The browser's storage failed outside a save (reading at start, clearing): why.
    StorageFailed(String),
}

impl Library {
    /// Applies a change to the library alone.
    pub fn reduce(&mut self, action: LibraryAction) {
        match action {
            LibraryAction::ImportFailed(why) => self.import_error = Some(why),
            LibraryAction::ToggleCompare(index) => {
                if !self.compare.remove(&index) && index < self.runs.len() {
                    self.compare.insert(index);
                }
            }
            LibraryAction::Saved(indices, outcome) => {
                let kept = if outcome.is_ok() {
                    Kept::Saved
                } else {
                    Kept::Failed
                };
                for i in indices {
                    if let Some(run) = self.runs.get_mut(i) {
                        Rc::make_mut(run).kept = kept.clone();
                    }
                }
                if let Err(why) = outcome {
                    self.storage_error = Some(why);
                }
            }
            LibraryAction::StorageFailed(why) => self.storage_error = Some(why),
        }
    }

    /// Adds a finished run; returns its index.
    pub fn keep(&mut self, run: FinishedRun) -> usize {
        self.runs.push(Rc::new(run));
        self.runs.len() - 1
    }

    /// Adds an imported file's runs (never saved); returns their indices.
    pub fn import(&mut self, report: SweepReport) -> std::ops::Range<usize> {
        let first = self.runs.len();
        for (i, record) in report.runs.iter().enumerate() {
            let name = if record.labels.is_empty() {
                format!("imported run {}", i + 1)
            } else {
                format!("imported: {}", record.labels.join(", "))
            };
            self.keep(FinishedRun {
                name,
                record: Rc::new(record.clone()),
                history: Vec::new(),
                kept: Kept::Never,
                sweep_key: None,
                helper: None,
            });
        }
        self.imported = Some((Rc::new(report), 0));
        self.import_error = None;
        first..self.runs.len()
    }

    /// Puts runs read back from storage before this visit's; returns how far the indices of the
    /// runs already listed moved.
    pub fn prepend(&mut self, saved: Vec<FinishedRun>) -> usize {
        let shift = saved.len();
        let mut runs: Vec<Rc<FinishedRun>> = saved.into_iter().map(Rc::new).collect();
        runs.append(&mut self.runs);
        self.runs = runs;
        self.compare = self.compare.iter().map(|i| i + shift).collect();
        shift
    }

    /// Forgets every run (the browser's storage was cleared).
    pub fn clear(&mut self) {
        self.runs.clear();
        self.compare.clear();
        self.storage_error = None;
    }

    /// Indices of the runs waiting to be saved.
    pub fn pending(&self) -> Vec<usize> {
        self.runs
            .iter()
            .enumerate()
            .filter(|(_, r)| r.kept == Kept::Pending)
            .map(|(i, _)| i)
            .collect()
    }
}

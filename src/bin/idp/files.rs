//! The files of a sweep folder, written atomically (a temporary file in the same folder, flushed to
//! disk, then renamed over the old one, as cargo writes its files), so an interruption or a full disk
//! leaves the previous complete file:
//!
//! ```text
//! DIR/plan.json             the plan: every cell's settings (idp plan)
//! DIR/cells/<i>.json        cell i's result (idp cell)
//! DIR/cells/<i>.checkpoint  cell i in progress, to go on from (idp cell)
//! DIR/sweep.csv, sweep.json the merged results (idp merge)
//! DIR/class.json, results.jsonl  a class's plan and the results its hub took (idp class)
//! ```

use instruction_diversity::study::class::{ClassBook, ClassPlan};
use instruction_diversity::study::plan::{CellResult, Plan};
use instruction_diversity::study::record::SweepReport;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically: the old file stays whole until the new one is.
///
/// # Errors
/// What failed, naming the file (a full disk: "No space left on device").
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let fail = |e: &dyn std::fmt::Display| {
        format!(
            "cannot write {} (the previous version, if any, is kept): {e}",
            path.display()
        )
    };
    // Readable by the group, as a file written by `std::fs::write` would be (a temporary file is
    // private by default): the cells of a sweep on a cluster are read by the merge job.
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o644));
    let mut file = builder.tempfile_in(folder).map_err(|e| fail(&e))?;
    file.write_all(bytes).map_err(|e| fail(&e))?;
    file.as_file().sync_all().map_err(|e| fail(&e))?;
    file.persist(path).map_err(|e| fail(&e.error))?;
    Ok(())
}

/// A sweep's folder.
#[derive(Clone, Debug)]
pub struct SweepDir {
    root: PathBuf,
}

impl SweepDir {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn plan_path(&self) -> PathBuf {
        self.root.join("plan.json")
    }

    fn cells(&self) -> PathBuf {
        self.root.join("cells")
    }

    pub fn result_path(&self, index: usize) -> PathBuf {
        self.cells().join(format!("{index}.json"))
    }

    pub fn checkpoint_path(&self, index: usize) -> PathBuf {
        self.cells().join(format!("{index}.checkpoint"))
    }

    /// Where a finished checkpoint is kept (`--keep-models`): `models/` with the checkpoint's own
    /// file name, for `idp ablate`.
    pub fn kept_model_path(&self, checkpoint: &Path) -> PathBuf {
        let name = checkpoint.file_name().map_or_else(
            || std::ffi::OsString::from("model.checkpoint"),
            std::ffi::OsStr::to_os_string,
        );
        self.root.join("models").join(name)
    }

    /// Keeps a finished checkpoint in `models/` (see [`Self::kept_model_path`]).
    ///
    /// # Errors
    /// Naming the file and the reason, when `models/` cannot be made or the file moved.
    pub fn keep_model(&self, checkpoint: &Path) -> Result<PathBuf, String> {
        let kept = self.kept_model_path(checkpoint);
        let folder = kept.parent().expect("a kept model has a folder");
        std::fs::create_dir_all(folder)
            .map_err(|e| format!("cannot make {}: {e}", folder.display()))?;
        std::fs::rename(checkpoint, &kept).map_err(|e| {
            format!(
                "cannot move {} to {}: {e}",
                checkpoint.display(),
                kept.display()
            )
        })?;
        Ok(kept)
    }

    /// The checkpoint file of the stack of `cells` (in the stack's order).
    pub fn stack_checkpoint_path(&self, cells: &[usize]) -> PathBuf {
        let names: Vec<String> = cells.iter().map(|c| c.to_string()).collect();
        self.cells()
            .join(format!("stack-{}.checkpoint", names.join("-")))
    }

    /// The cells of each stack checkpoint in the folder, as its file name lists them (names that
    /// list a cell twice are not a stack's, and are left alone).
    pub fn stack_checkpoints(&self) -> Vec<Vec<usize>> {
        let Ok(entries) = std::fs::read_dir(self.cells()) else {
            return Vec::new();
        };
        let mut stacks: Vec<Vec<usize>> = entries
            .filter_map(|e| {
                let name = e.ok()?.file_name().into_string().ok()?;
                let cells = name.strip_prefix("stack-")?.strip_suffix(".checkpoint")?;
                let cells: Vec<usize> = cells
                    .split('-')
                    .map(|c| c.parse().ok())
                    .collect::<Option<_>>()?;
                let mut distinct = cells.clone();
                distinct.sort_unstable();
                distinct.dedup();
                (distinct.len() == cells.len()).then_some(cells)
            })
            .collect();
        stacks.sort();
        stacks
    }

    /// Writes `plan` into the folder (made if needed). A folder that already holds the same plan is
    /// taken as it is (its finished cells count); one holding another sweep's plan is refused, so
    /// no result is ever mixed with another sweep's or overwritten.
    pub fn prepare(&self, plan: &Plan) -> Result<(), String> {
        std::fs::create_dir_all(self.cells())
            .map_err(|e| format!("cannot create {}: {e}", self.cells().display()))?;
        // Before any training: a folder that cannot be written would lose every result.
        tempfile::NamedTempFile::new_in(self.cells())
            .map_err(|e| format!("cannot write in {}: {e}", self.cells().display()))?;
        // Temporary files an earlier process was killed while writing (a file-size limit, say).
        for folder in [self.root.clone(), self.cells()] {
            for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
                if entry.file_name().to_string_lossy().starts_with(".tmp") {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
        if self.plan_path().exists() {
            let existing = self.read_plan()?;
            if existing != *plan {
                return Err(format!(
                    "{} holds the plan of another sweep: give another --out, or remove that folder to start again",
                    self.root.display()
                ));
            }
            return Ok(());
        }
        write_atomically(&self.plan_path(), plan.to_json().as_bytes())
    }

    /// The folder's plan.
    pub fn read_plan(&self) -> Result<Plan, String> {
        let path = self.plan_path();
        let text = std::fs::read_to_string(&path).map_err(|e| {
            format!(
                "cannot read {} ({e}): plan the sweep first with `idp plan ... --out {}`",
                path.display(),
                self.root.display()
            )
        })?;
        Plan::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Cell `index`'s result, if it has one; a result that does not belong to the plan is an error.
    pub fn read_result(&self, plan: &Plan, index: usize) -> Result<Option<CellResult>, String> {
        let path = self.result_path(index);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
        };
        let result = CellResult::from_json(&text)
            .and_then(|r| plan.check(&r).map(|()| r))
            .map_err(|e| format!("{}: {e} (remove it to run the cell again)", path.display()))?;
        if result.index != index {
            return Err(format!(
                "{} holds the result of cell {}",
                path.display(),
                result.index
            ));
        }
        Ok(Some(result))
    }

    /// Every result the folder holds, in plan order: each cell's file, and for a class's folder
    /// (`idp class`) the results its hub took, in `results.jsonl` (a cell's first result in the
    /// class's book; a cell's own file comes first).
    pub fn results(&self, plan: &Plan) -> Result<Vec<CellResult>, String> {
        let mut results = Vec::new();
        for index in 0..plan.cells.len() {
            results.extend(self.read_result(plan, index)?);
        }
        let class_path = self.root.join("class.json");
        if let Ok(text) = std::fs::read_to_string(&class_path) {
            let class = ClassPlan::from_json(&text)
                .map_err(|e| format!("{}: {e}", class_path.display()))?;
            let (taken, warnings) =
                crate::class::read_results(&self.root.join("results.jsonl"), &class)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            let mut book = ClassBook::new();
            for r in taken {
                book.add(r);
            }
            for (cell, rs) in book.cells() {
                if let Some(first) = rs
                    .first()
                    .filter(|_| !results.iter().any(|r: &CellResult| r.index == cell))
                {
                    results.push(CellResult::new(cell, &first.backend, first.record.clone()));
                }
            }
            results.sort_by_key(|r| r.index);
        }
        Ok(results)
    }

    /// Writes a cell's result.
    pub fn write_result(&self, result: &CellResult) -> Result<(), String> {
        write_atomically(&self.result_path(result.index), result.to_json().as_bytes())
    }

    /// Merges the results into `sweep.csv` and `sweep.json`; returns the report and the cells still
    /// missing.
    pub fn merge(&self, plan: &Plan) -> Result<(SweepReport, Vec<usize>), String> {
        let results = self.results(plan)?;
        let (report, missing) = plan.merge(&results);
        write_atomically(&self.root.join("sweep.csv"), report.to_csv().as_bytes())?;
        write_atomically(
            &self.root.join("sweep.json"),
            serde_json::to_string_pretty(&report)
                .expect("reports serialize")
                .as_bytes(),
        )?;
        Ok((report, missing))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_atomic_write_replaces_the_whole_file_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write_atomically(&path, b"first").unwrap();
        write_atomically(&path, b"second").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"second");
        // A folder that does not exist: an error naming the file, and nothing written.
        let missing = dir.path().join("no/such/folder/a.json");
        let error = write_atomically(&missing, b"x").unwrap_err();
        assert!(error.contains("no/such/folder/a.json"), "{error}");
        let entries: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(entries.len(), 1, "no temporary file is left behind");
    }
}

//! What the page keeps in the browser's storage (IndexedDB) between visits: each finished run as its
//! own entry, and each sweep's plan, so that a failed write (a full quota) loses only the entry being
//! written. Entries are JSON text with a format tag, checked when read back like an imported file.

use crate::study::record::RunRecord;
use crate::study::sweep::SweepSpec;
use serde::{Deserialize, Serialize};

/// Format tag of saved entries; entries of another format are skipped, with a notice.
pub const SAVED_FORMAT: &str = "idp-saved/1";

/// A finished run as kept in the browser.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedRun {
    /// Always [`SAVED_FORMAT`].
    pub format: String,
    /// Its name in the runs list.
    pub name: String,
    /// The sweep it belongs to (a key of the saved sweeps), if any.
    pub sweep: Option<String>,
    /// Settings, curves and final per-rule scores.
    pub record: RunRecord,
}

/// A sweep as kept in the browser: what it varies, and the lesson that started it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedSweep {
    /// Always [`SAVED_FORMAT`].
    pub format: String,
    /// Its key, shared by its runs.
    pub id: String,
    /// What was swept.
    pub spec: SweepSpec,
    /// The lesson that started it, if any.
    pub lesson: Option<String>,
}

/// Reads a saved entry, checking its format tag and, for runs, the record itself.
pub fn read_entry<T: for<'de> Deserialize<'de>>(text: &str) -> Result<T, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON ({e})"))?;
    match value.get("format").and_then(|f| f.as_str()) {
        Some(SAVED_FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "saved by another version (format `{}`)",
                crate::engine::settings::shorten(other)
            ));
        }
        None => return Err("no format tag".into()),
    }
    crate::engine::config::read_json_value(value)
}

impl SavedRun {
    /// A run to save.
    pub fn new(name: &str, sweep: Option<String>, record: RunRecord) -> Self {
        Self {
            format: SAVED_FORMAT.into(),
            name: name.into(),
            sweep,
            record,
        }
    }

    /// The entry's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("records serialize")
    }

    /// Reads and checks an entry.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let run: Self = read_entry(text)?;
        run.record.check().map_err(|e| e.to_string())?;
        Ok(run)
    }
}

impl SavedSweep {
    /// A sweep to save.
    pub fn new(id: &str, spec: &SweepSpec, lesson: Option<String>) -> Self {
        Self {
            format: SAVED_FORMAT.into(),
            id: id.into(),
            spec: spec.clone(),
            lesson,
        }
    }

    /// The entry's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("specs serialize")
    }

    /// Reads and checks an entry.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let sweep: Self = read_entry(text)?;
        sweep.spec.plan().map_err(|e| e.to_string())?;
        Ok(sweep)
    }
}

/// A sweep whose queue is running: what a reload needs to go on with it. The page keeps one, replaced
/// as each run of the queue starts and removed when the sweep ends (done, cancelled or failed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SweepProgress {
    /// Always [`SAVED_FORMAT`].
    pub format: String,
    /// The sweep's key, shared by its saved runs.
    pub id: String,
    /// What is swept (its plan is made again from it).
    pub spec: SweepSpec,
    /// The lesson that started it, if any.
    pub lesson: Option<String>,
    /// The plan index of the run in progress.
    pub current: usize,
    /// Workers it trains in (the page's own and its helpers): a reload goes on with as many, so
    /// each helper's run finds its worker again. `None` in entries kept before it was: the page's
    /// setting then.
    #[serde(default)]
    pub workers: Option<usize>,
    /// The plan indices of the runs the page's worker trains stacked with `current` (on WebGPU),
    /// in the stack's order: a reload goes on with the stack, from its checkpoint.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stacked: Vec<usize>,
    /// The answer the reader predicted, when a lesson started the sweep: a reload reopens the
    /// lesson with it, so the reveal still compares it with the runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<usize>,
}

impl SweepProgress {
    /// The progress of sweep `id`, trained in `workers` workers, with plan run `current` in
    /// progress.
    pub fn new(
        id: &str,
        spec: &SweepSpec,
        lesson: Option<String>,
        current: usize,
        workers: usize,
    ) -> Self {
        Self {
            format: SAVED_FORMAT.into(),
            id: id.into(),
            spec: spec.clone(),
            lesson,
            current,
            workers: Some(workers),
            stacked: Vec::new(),
            prediction: None,
        }
    }

    /// The progress with these runs stacked with `current` in the page's worker.
    pub fn with_stacked(mut self, stacked: Vec<usize>) -> Self {
        self.stacked = stacked;
        self
    }

    /// The entry's text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("specs serialize")
    }

    /// Reads and checks an entry: format, a sweep that plans, a run within its plan.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let progress: Self = read_entry(text)?;
        let runs = progress.spec.plan().map_err(|e| e.to_string())?.len();
        if let Some(past) = std::iter::once(&progress.current)
            .chain(&progress.stacked)
            .find(|&&run| run >= runs)
        {
            return Err(format!("run {} is past the sweep's {runs} runs", past + 1));
        }
        Ok(progress)
    }
}

/// The owner id under which helper worker `slot` of tab `owner` keeps its run in progress
/// (`<owner>~<slot>`), so that a reload goes on with the runs the helpers trained, and a tab that
/// adopts a gone tab's entries takes its helpers' runs too. Tab ids never hold a `~`.
pub fn helper_owner(owner: &str, slot: usize) -> String {
    format!("{owner}~{slot}")
}

/// The tab whose entry an owner id names: the tab itself, or the tab of a helper's
/// ([`helper_owner`]) with the helper's slot.
pub fn tab_of(owner: &str) -> (&str, Option<usize>) {
    match owner.rsplit_once('~') {
        Some((tab, slot)) => match slot.parse() {
            Ok(slot) => (tab, Some(slot)),
            Err(_) => (owner, None),
        },
        None => (owner, None),
    }
}

/// Why the browser's storage cannot be used at all, as the page's storage code finds it. A run
/// never waits on storage: every request settles within a bound (`src/bin/app/store.rs`), and a
/// page whose storage has one of these problems trains without checkpoints and says so.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StorageProblem {
    /// No `indexedDB` at all (an old browser, some private windows).
    Missing,
    /// The browser refused to open it: the DOMException's name and message (`SecurityError` in a
    /// frame with an opaque origin or where the reader blocked site data).
    Refused(String),
    /// Another tab holds the database open at an older version and ignores the request to close
    /// it (a tab left open across a deploy of a page from before versions were handled).
    Blocked,
    /// It did not answer within the bound (a frame whose storage the browser holds back, a browser
    /// stuck on its disk).
    NotAnswering {
        /// The bound that passed, in seconds.
        seconds: u32,
    },
    /// A newer version of the page opened the database in another tab; this tab closed its
    /// connection so that one could upgrade.
    Replaced,
    /// The database is of a newer version than this copy of the page (`VersionError`): a newer
    /// copy was opened in this browser before, and this one is older (a cached copy, a rollback).
    Newer,
}

impl StorageProblem {
    /// The failure name `store.rs` gives its requests' errors for this problem (`describe_failure`
    /// reads it back).
    pub fn failure_name(&self) -> &'static str {
        match self {
            StorageProblem::Missing => "idp-storage-missing",
            StorageProblem::Refused(_) => "idp-storage-refused",
            StorageProblem::Blocked => "idp-storage-blocked",
            StorageProblem::NotAnswering { .. } => "idp-storage-not-answering",
            StorageProblem::Replaced => "idp-storage-replaced",
            StorageProblem::Newer => "idp-storage-newer",
        }
    }

    /// The problem a failure name and detail stand for, if it is one of these.
    pub fn from_failure(name: &str, detail: &str) -> Option<Self> {
        Some(match name {
            "idp-storage-missing" => StorageProblem::Missing,
            "idp-storage-refused" => StorageProblem::Refused(detail.to_string()),
            "idp-storage-blocked" => StorageProblem::Blocked,
            "idp-storage-not-answering" => StorageProblem::NotAnswering {
                seconds: detail.parse().unwrap_or(0),
            },
            "idp-storage-replaced" => StorageProblem::Replaced,
            "idp-storage-newer" => StorageProblem::Newer,
            _ => return None,
        })
    }

    /// The detail a failure of this problem carries (what [`Self::from_failure`] reads back).
    pub fn failure_detail(&self) -> String {
        match self {
            StorageProblem::Refused(why) => why.clone(),
            StorageProblem::NotAnswering { seconds } => seconds.to_string(),
            _ => String::new(),
        }
    }

    /// What it is and what it costs, in plain words.
    pub fn describe(&self) -> String {
        const COST: &str = "runs train, but are not saved and will not survive a reload here";
        match self {
            StorageProblem::Missing => {
                format!("This browser gives the page no storage here (no IndexedDB): {COST}.")
            }
            StorageProblem::Refused(why) => format!(
                "This browser keeps no data for this page here (it is in a frame on another site, or site data is blocked for this site): {COST}. (The browser said: {why}.)"
            ),
            StorageProblem::Blocked => format!(
                "Another tab holds an older version of this page open; close or reload it. Until then {COST}."
            ),
            StorageProblem::NotAnswering { seconds } => format!(
                "The browser's storage did not answer within {seconds} s (a frame whose storage the browser holds back?): {COST}."
            ),
            StorageProblem::Replaced => "A newer version of this page was opened in another tab, so this tab let go of the browser's storage: reload it to keep saving runs (a run in progress is lost at the reload: let it end, or export it, first).".into(),
            StorageProblem::Newer => format!(
                "This copy of the page is older than one opened before in this browser, so it cannot use the browser's storage: {COST}. Reload to get the newer copy (if this stays, the site serves an older copy)."
            ),
        }
    }
}

/// A storage failure in plain words. A full quota is said as such, with what is kept: storage
/// writes are transactions, so a refused write leaves every earlier entry as it was.
pub fn describe_failure(error_name: &str, detail: &str) -> String {
    if let Some(problem) = StorageProblem::from_failure(error_name, detail) {
        return problem.describe();
    }
    match error_name {
        "QuotaExceededError" => "the browser's storage for this page is full: this run was not saved; runs saved earlier are kept. Clear saved runs, or free space in the browser's settings.".into(),
        "" => format!("saving failed: {detail}"),
        name => format!("saving failed ({name}): {detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::config::ExperimentConfig;
    use crate::engine::metrics::{EvalSummary, LossPoint};

    #[test]
    fn each_storage_problem_survives_its_failure_and_says_what_it_costs() {
        let problems = [
            StorageProblem::Missing,
            StorageProblem::Refused("SecurityError: access denied".into()),
            StorageProblem::Blocked,
            StorageProblem::NotAnswering { seconds: 3 },
            StorageProblem::Replaced,
            StorageProblem::Newer,
        ];
        for problem in problems {
            let (name, detail) = (problem.failure_name(), problem.failure_detail());
            assert_eq!(
                StorageProblem::from_failure(name, &detail),
                Some(problem.clone())
            );
            let said = describe_failure(name, &detail);
            assert_eq!(said, problem.describe());
            assert!(said.contains("reload"), "{said}");
        }
        assert!(StorageProblem::Blocked.describe().contains("older version"));
        assert!(
            StorageProblem::NotAnswering { seconds: 3 }
                .describe()
                .contains("within 3 s")
        );
        // A browser's own failure is not one of them.
        assert_eq!(StorageProblem::from_failure("QuotaExceededError", ""), None);
        assert!(describe_failure("QuotaExceededError", "").contains("full"));
    }

    #[test]
    fn a_helpers_owner_id_names_its_tab_and_slot() {
        for (tab, slot) in [("19a2b-00f3c1", 0), ("19a2b-00f3c1", 14), ("legacy", 3)] {
            let owner = helper_owner(tab, slot);
            assert_eq!(tab_of(&owner), (tab, Some(slot)), "{owner}");
        }
        // A tab's own id, and ids that only look like a helper's, name the tab itself.
        for owner in ["19a2b-00f3c1", "legacy", "a~b", "a~", "~x"] {
            assert_eq!(tab_of(owner), (owner, None), "{owner}");
        }
    }

    fn record() -> RunRecord {
        RunRecord {
            labels: vec!["16".into()],
            config: ExperimentConfig::default(),
            instructions: 1000,
            examples_per_rule: 20.0,
            rules_with_examples: 1000,
            steps: 10,
            result: EvalSummary {
                step: 10,
                seen_accuracy: 0.5,
                unseen_accuracy: 0.25,
                unseen_hasop_accuracy: 0.2,
                noop_accuracy: 1.0,
                composed_accuracy: None,
            },
            final_loss: 0.5,
            losses: vec![LossPoint {
                step: 10,
                loss: 0.5,
            }],
            evaluations: Vec::new(),
            inside: Vec::new(),
            seen_rules: Vec::new(),
            unseen_rules: Vec::new(),
            wall_seconds: 1.0,
        }
    }

    #[test]
    fn saved_runs_and_sweeps_read_back_and_damage_is_refused() {
        let run = SavedRun::new("instructions 16", Some("s1".into()), record());
        assert_eq!(SavedRun::from_json(&run.to_json()).unwrap(), run);
        // An entry with a key this version does not know is refused by name, not half read.
        let typo = run
            .to_json()
            .replacen("\"batch_size\"", "\"batch_sise\"", 1);
        let why = SavedRun::from_json(&typo).unwrap_err();
        assert!(
            why.contains("batch_sise") && why.contains("record.config.train"),
            "{why}"
        );
        let spec = crate::study::presets::preset("no-ops").unwrap().sweep;
        let sweep = SavedSweep::new("s1", &spec, Some("no-ops".into()));
        assert_eq!(SavedSweep::from_json(&sweep.to_json()).unwrap(), sweep);

        let mut bad = run.clone();
        bad.record.result.unseen_accuracy = 3.0;
        assert!(
            SavedRun::from_json(&bad.to_json())
                .unwrap_err()
                .contains("outside [0, 1]")
        );
        let other = run.to_json().replace(SAVED_FORMAT, "idp-saved/9");
        assert!(
            SavedRun::from_json(&other)
                .unwrap_err()
                .contains("another version")
        );
        assert!(SavedRun::from_json("{").unwrap_err().contains("not JSON"));
        assert!(SavedRun::from_json("{}").unwrap_err().contains("no format"));
    }

    #[test]
    fn a_sweeps_progress_reads_back_only_within_its_plan() {
        let spec = crate::study::presets::preset("no-ops").unwrap().sweep;
        let runs = spec.plan().unwrap().len();
        let last = SweepProgress::new("s1", &spec, None, runs - 1, 1);
        assert_eq!(SweepProgress::from_json(&last.to_json()).unwrap(), last);
        // Its workers come back; an entry kept before they were had one.
        let three = SweepProgress::new("s1", &spec, None, 0, 3);
        assert_eq!(
            SweepProgress::from_json(&three.to_json()).unwrap().workers,
            Some(3)
        );
        let older = last.to_json().replace(r#","workers":1"#, "");
        assert!(!older.contains("workers"), "{older}");
        assert_eq!(SweepProgress::from_json(&older).unwrap().workers, None);
        let past = SweepProgress::new("s1", &spec, None, runs, 1);
        let why = SweepProgress::from_json(&past.to_json()).unwrap_err();
        assert!(
            why.contains(&format!("past the sweep's {runs} runs")),
            "{why}"
        );
        // A stack's runs come back; one past the plan is refused as `current` is.
        let stack = SweepProgress::new("s1", &spec, None, 0, 1).with_stacked(vec![1, runs - 1]);
        assert_eq!(SweepProgress::from_json(&stack.to_json()).unwrap(), stack);
        assert!(!last.to_json().contains("stacked"));
        let past_stack = SweepProgress::new("s1", &spec, None, 0, 1).with_stacked(vec![1, runs]);
        let why = SweepProgress::from_json(&past_stack.to_json()).unwrap_err();
        assert!(why.contains(&format!("run {} is past", runs + 1)), "{why}");
        let mut unplannable = last.clone();
        unplannable.spec.seeds.clear();
        assert!(SweepProgress::from_json(&unplannable.to_json()).is_err());
        let other = last.to_json().replace(SAVED_FORMAT, "idp-saved/0");
        assert!(
            SweepProgress::from_json(&other)
                .unwrap_err()
                .contains("another version")
        );
    }

    #[test]
    fn a_full_quota_is_named_and_says_earlier_runs_are_kept() {
        let message = describe_failure("QuotaExceededError", "whatever");
        assert!(
            message.contains("full") && message.contains("kept"),
            "{message}"
        );
        assert_eq!(
            describe_failure("", "no database"),
            "saving failed: no database"
        );
        assert!(describe_failure("InvalidStateError", "closed").contains("InvalidStateError"));
    }
}

//! A class trains one sweep together: the class's plan (a sweep plan with an identifier and the
//! build it needs), each student's cell result, the result codes a student can paste anywhere, and
//! the class's book of results, merged in any order.
//!
//! Plain data, no web crate: the page (a student's results, the teacher's pasted codes), the hub
//! `idp class` and `idp merge` read and write the same values.
//!
//! Integrity follows what volunteer computing learned (BOINC): every result names the plan, the
//! cell, the build and a hash of the cell's settings, so a result of another sweep, another build
//! or edited settings is refused by name; some cells are trained twice and two results of one cell
//! that disagree beyond [`REPLAY_TOLERANCE`] are both kept and flagged, never averaged silently.

use crate::engine::config::{ConfigError, ValidConfig};
use crate::engine::metrics::EvalSummary;
use crate::study::plan::Plan;
use crate::study::record::{RunRecord, SweepReport};
use crate::study::sweep::SweepSpec;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Format tag of a class plan file.
pub const CLASS_FORMAT: &str = "idp-class/1";

/// Most cells a class plan holds (a result code keeps the cell in 16 bits; a class fills far
/// fewer).
pub const MAX_CLASS_CELLS: usize = 4096;

/// How far two results of one cell may differ in seen or unseen accuracy and still agree.
///
/// Two replays of a cell on the CPU path give the same answers bit for bit on one build and
/// machine, and differ across machines only by float summation order (native AVX against wasm
/// SIMD128); on WebGPU they reproduce only on the same device. A model that learned differently
/// moves these accuracies by tens of points; summation order moved them by at most a few examples
/// of the evaluation set in the project's tests. 0.1 (ten points) separates the two.
pub const REPLAY_TOLERANCE: f64 = 0.1;

/// FNV-1a, 64 bits: stable across platforms and versions (unlike `DefaultHasher`), for identifiers
/// that must agree between the page, the hub and files written by other builds.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// Why a class plan, a result or a result code cannot be used. Each names what is wrong in the
/// words a teacher or student can act on.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClassError {
    /// Not JSON, or JSON of another shape.
    #[error("unreadable ({0})")]
    Unreadable(String),
    /// The sweep cannot be planned.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// More cells than a class plan holds.
    #[error("a class sweep holds at most {MAX_CLASS_CELLS} cells; this one has {0}")]
    TooManyCells(usize),
    /// The identifier is not its sweep's (a hand edit, or a cut link).
    #[error("the class plan's identifier {found} is not its sweep's ({expected})")]
    WrongId {
        /// The identifier found.
        found: String,
        /// The one its sweep gives.
        expected: String,
    },
    /// A result of another class.
    #[error("this result is of another class ({found}; this class is {expected})")]
    OtherClass {
        /// The result's class.
        found: String,
        /// This class.
        expected: String,
    },
    /// A result trained by another build of the page than the class's.
    #[error(
        "this result was trained by another version of the page (build {found}; the class uses {expected}): reload the page and train the cell again"
    )]
    StaleBuild {
        /// The result's build.
        found: String,
        /// The class's build.
        expected: String,
    },
    /// A cell past the plan.
    #[error("there is no cell {index}: the class has {cells}")]
    NoSuchCell {
        /// The cell asked for.
        index: usize,
        /// Cells in the plan.
        cells: usize,
    },
    /// A result whose settings are not its cell's.
    #[error(
        "the result of cell {0} was trained with other settings than the class's (an edited link or result): open the class's link again and train the cell"
    )]
    OtherSettings(usize),
    /// A result that cannot be right (accuracies outside [0, 1], a damaged record).
    #[error("the result of cell {index} is damaged: {why}")]
    Damaged {
        /// The cell.
        index: usize,
        /// What is wrong.
        why: String,
    },
    /// A result code that is not one: a letter changed, cut short, or text of another kind.
    #[error("`{code}` is not a result code: {why}")]
    BadCode {
        /// The start of the text, shortened.
        code: String,
        /// What is wrong.
        why: String,
    },
}

/// A class sweep: a sweep plan, its identifier (a hash of the sweep, so the page, the hub and the
/// codes agree on it without a server) and the build of the page that trains it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassPlan {
    /// Always [`CLASS_FORMAT`].
    pub format: String,
    /// The class's identifier: [`ClassPlan::id_of`] its sweep, 8 letters and digits.
    pub id: String,
    /// The build every result must come from ([`crate::protocol::BUILD`] of the hub or page that
    /// made the plan).
    pub build: String,
    /// The sweep and its cells.
    pub plan: Plan,
}

impl ClassPlan {
    /// The class plan of `spec`, for results of `build`.
    ///
    /// # Errors
    /// The first cell's [`ConfigError`], or [`ClassError::TooManyCells`].
    pub fn new(spec: SweepSpec, build: &str) -> Result<Self, ClassError> {
        let id = Self::id_of(&spec);
        let plan = Plan::new(spec)?;
        if plan.cells.len() > MAX_CLASS_CELLS {
            return Err(ClassError::TooManyCells(plan.cells.len()));
        }
        Ok(Self {
            format: CLASS_FORMAT.into(),
            id,
            build: build.into(),
            plan,
        })
    }

    /// The identifier of a sweep: the first 40 bits of [`fnv1a`] of its JSON, as 8 base32 letters
    /// and digits (`K3QZ7M2A`). Equal sweeps give equal identifiers on every machine.
    pub fn id_of(spec: &SweepSpec) -> String {
        let json = serde_json::to_string(spec).expect("sweeps serialize");
        let hash = fnv1a(json.as_bytes()).to_be_bytes();
        data_encoding::BASE32_NOPAD.encode(&hash[..5])
    }

    /// The plan as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("class plans serialize")
    }

    /// Reads a class plan, checking its format, its cells and its identifier.
    ///
    /// # Errors
    /// A [`ClassError`] saying what is wrong.
    pub fn from_json(text: &str) -> Result<Self, ClassError> {
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ClassError::Unreadable(e.to_string()))?;
        match value.get("format").and_then(|f| f.as_str()) {
            Some(CLASS_FORMAT) => {}
            Some(other) => {
                return Err(ClassError::Unreadable(format!(
                    "format `{}`, this version reads `{CLASS_FORMAT}`",
                    crate::engine::settings::shorten(other)
                )));
            }
            None => return Err(ClassError::Unreadable("it has no `format` tag".into())),
        }
        let class: Self =
            crate::engine::config::read_json_value(value).map_err(ClassError::Unreadable)?;
        let plan = Plan::from_json(&class.plan.to_json())
            .map_err(|e| ClassError::Unreadable(e.to_string()))?;
        let expected = Self::id_of(&plan.spec);
        if class.id != expected {
            return Err(ClassError::WrongId {
                found: crate::engine::settings::shorten(&class.id),
                expected,
            });
        }
        Ok(class)
    }

    /// Cells in the plan.
    pub fn len(&self) -> usize {
        self.plan.cells.len()
    }

    /// Whether the plan has no cell (never, for a plan made by [`Self::new`]).
    pub fn is_empty(&self) -> bool {
        self.plan.cells.is_empty()
    }

    /// The settings of cell `index`.
    ///
    /// # Errors
    /// [`ClassError::NoSuchCell`] past the plan.
    pub fn cell(&self, index: usize) -> Result<&ValidConfig, ClassError> {
        self.plan
            .cells
            .get(index)
            .map(|c| &c.config)
            .ok_or(ClassError::NoSuchCell {
                index,
                cells: self.len(),
            })
    }

    /// The settings' hash of cell `index`: [`settings_hash`] of its config.
    ///
    /// # Errors
    /// [`ClassError::NoSuchCell`] past the plan.
    pub fn settings_hash(&self, index: usize) -> Result<String, ClassError> {
        Ok(settings_hash(self.cell(index)?))
    }

    /// The canary: cell 0's settings trained for a tenth of its steps (at least 10, as
    /// [`ValidConfig::with_steps`] shortens a run), a short run whose answer the hub computes
    /// itself and each student's device must reproduce before it gets real cells. It also
    /// measures the device's speed.
    pub fn canary(&self) -> ValidConfig {
        let first = &self.plan.cells[0].config;
        let steps = (first.train.steps / 10).max(10).min(first.train.steps);
        first.with_steps(steps).unwrap_or_else(|_| first.clone())
    }

    /// Checks that `result` is a result of this class: its class, its build, a cell of the plan,
    /// the cell's settings, and a record whose claims hold.
    ///
    /// # Errors
    /// The first [`ClassError`] that applies, in that order.
    pub fn check(&self, result: &ClassResult) -> Result<(), ClassError> {
        if result.class != self.id {
            return Err(ClassError::OtherClass {
                found: crate::engine::settings::shorten(&result.class),
                expected: self.id.clone(),
            });
        }
        if !same_build(&result.build, &self.build) {
            return Err(ClassError::StaleBuild {
                found: crate::engine::settings::shorten(&result.build),
                expected: self.build.clone(),
            });
        }
        let config = self.cell(result.cell)?;
        let expected = settings_hash(config);
        let settings_match = result.settings.len() >= 6
            && expected.starts_with(&result.settings.to_ascii_lowercase());
        if !settings_match || &result.record.config != config.raw() {
            return Err(ClassError::OtherSettings(result.cell));
        }
        result.record.check().map_err(|e| ClassError::Damaged {
            index: result.cell,
            why: e.to_string(),
        })
    }

    /// The sweep's report from a book of results: one record per cell that has a result (the
    /// first of its results in the book's order, which does not depend on the order they
    /// arrived in), in plan order.
    pub fn report(&self, book: &ClassBook) -> SweepReport {
        let results: Vec<crate::study::plan::CellResult> = book
            .cells()
            .filter_map(|(cell, results)| {
                let first = results.first()?;
                Some(crate::study::plan::CellResult::new(
                    cell,
                    &first.backend,
                    first.record.clone(),
                ))
            })
            .collect();
        self.plan.merge(&results).0
    }
}

/// Whether two builds are one: equal, or one the prefix of the other (a result code keeps the
/// first 6 hexadecimal digits of the build).
fn same_build(a: &str, b: &str) -> bool {
    let n = a.len().min(b.len());
    n >= 6 && a.is_char_boundary(n) && b.is_char_boundary(n) && a[..n].eq_ignore_ascii_case(&b[..n])
}

/// The hash of a run's settings: [`fnv1a`] of its JSON, folded to 32 bits, as 8 hexadecimal digits.
/// Equal settings give equal hashes on every machine.
pub fn settings_hash(config: &ValidConfig) -> String {
    let json = serde_json::to_string(config.raw()).expect("configs serialize");
    let hash = fnv1a(json.as_bytes());
    format!("{:08x}", (hash >> 32) as u32 ^ hash as u32)
}

/// One cell's result: the run's record with what ties it to its class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassResult {
    /// The class's identifier ([`ClassPlan::id`]).
    pub class: String,
    /// The cell's index in the plan.
    pub cell: usize,
    /// The build that trained it.
    pub build: String,
    /// [`settings_hash`] of the settings it trained with.
    pub settings: String,
    /// The replay fingerprint of its last evaluation
    /// ([`crate::engine::metrics::Evaluation::fingerprint`], `ed16-2e18`): equal for two replays
    /// that gave the same answers.
    pub fingerprint: String,
    /// The backend it trained on, in words.
    pub backend: String,
    /// Its record, with the plan's labels. A record read from a result code has the final
    /// evaluation only (no loss curve).
    pub record: RunRecord,
}

impl ClassResult {
    /// The result of `cell` of `class`, from its finished record and last evaluation's fingerprint.
    ///
    /// # Errors
    /// [`ClassError::NoSuchCell`] past the plan.
    pub fn new(
        class: &ClassPlan,
        cell: usize,
        build: &str,
        fingerprint: &str,
        backend: &str,
        record: RunRecord,
    ) -> Result<Self, ClassError> {
        let labels = &class.plan.cells.get(cell).map(|c| c.labels.clone());
        let labels = labels.as_ref().ok_or(ClassError::NoSuchCell {
            index: cell,
            cells: class.len(),
        })?;
        Ok(Self {
            class: class.id.clone(),
            cell,
            build: build.into(),
            settings: class.settings_hash(cell)?,
            fingerprint: fingerprint.into(),
            backend: backend.into(),
            record: record.with_labels(labels),
        })
    }

    /// Whether two results of one cell agree: the same answers (fingerprint), or seen and unseen
    /// accuracies each within [`REPLAY_TOLERANCE`].
    pub fn agrees_with(&self, other: &ClassResult) -> bool {
        let (a, b) = (&self.record.result, &other.record.result);
        self.fingerprint == other.fingerprint
            || ((a.seen_accuracy - b.seen_accuracy).abs() <= REPLAY_TOLERANCE
                && (a.unseen_accuracy - b.unseen_accuracy).abs() <= REPLAY_TOLERANCE)
    }

    /// What makes two results the same result (sent twice, or pasted twice): everything a result
    /// code carries.
    fn identity(&self) -> ResultCode {
        ResultCode::of(self)
    }

    /// The result as one line of JSON (the hub's results file holds one per line).
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("results serialize")
    }

    /// Reads one line of the hub's results file.
    ///
    /// # Errors
    /// [`ClassError::Unreadable`] naming the field that is wrong.
    pub fn from_line(line: &str) -> Result<Self, ClassError> {
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| ClassError::Unreadable(e.to_string()))?;
        crate::engine::config::read_json_value(value).map_err(ClassError::Unreadable)
    }
}

/// Whether `a` is to be kept rather than `b`, two copies of one result: the one with more of its
/// record (loss curve, evaluations, per-rule scores), else the smaller JSON, so the choice does not
/// depend on order.
fn preferred(a: &ClassResult, b: &ClassResult) -> bool {
    let fullness = |r: &ClassResult| {
        (
            r.record.losses.len(),
            r.record.evaluations.len(),
            r.record.seen_rules.len() + r.record.unseen_rules.len(),
            // A code's record has no loss at all.
            r.record.final_loss.is_finite(),
        )
    };
    match fullness(a).cmp(&fullness(b)) {
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Equal => a.to_line() < b.to_line(),
    }
}

/// How one result joined a book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Added {
    /// The cell's first result.
    First,
    /// The same result again (sent twice, pasted twice): stored once.
    Duplicate,
    /// Another result of the cell that agrees with those it had.
    Agrees,
    /// Another result of the cell that disagrees beyond [`REPLAY_TOLERANCE`]: both kept, the cell
    /// flagged.
    Disagrees,
}

/// Where a cell of a class stands in a book.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CellStatus {
    /// No result yet.
    Missing,
    /// One result, or several that agree.
    Done,
    /// Results that disagree: the teacher decides.
    Disputed,
}

/// Cells done, missing and disputed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tallies {
    /// Cells with agreeing results.
    pub done: usize,
    /// Cells with no result.
    pub missing: usize,
    /// Cells with results that disagree.
    pub disputed: usize,
    /// Results held, duplicates counted once.
    pub results: usize,
}

/// A class's results, merged: order-free (any order of the same results gives the same book) and
/// idempotent (a result added twice is stored once). Results of one cell are kept in a canonical
/// order, by their result code.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClassBook {
    by_cell: BTreeMap<usize, Vec<(ResultCode, ClassResult)>>,
}

impl ClassBook {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a result (checked by the caller with [`ClassPlan::check`]).
    pub fn add(&mut self, result: ClassResult) -> Added {
        let identity = result.identity();
        let results = self.by_cell.entry(result.cell).or_default();
        if let Some((_, kept)) = results.iter_mut().find(|(id, _)| *id == identity) {
            // The same result, perhaps with more of its record (sent to the hub whole, and
            // pasted as a code): keep the fuller one, so the book does not depend on which came
            // first.
            if preferred(&result, kept) {
                *kept = result;
            }
            return Added::Duplicate;
        }
        let agrees = results.iter().all(|(_, r)| r.agrees_with(&result));
        let first = results.is_empty();
        let at = results.partition_point(|(id, _)| *id < identity);
        results.insert(at, (identity, result));
        match (first, agrees) {
            (true, _) => Added::First,
            (false, true) => Added::Agrees,
            (false, false) => Added::Disagrees,
        }
    }

    /// Whether adding `result` would change the book: a result it does not have, or a fuller copy
    /// of one it has (a full record after its code). A file of results needs only those.
    pub fn would_change(&self, result: &ClassResult) -> bool {
        let identity = result.identity();
        match self
            .by_cell
            .get(&result.cell)
            .and_then(|rs| rs.iter().find(|(id, _)| *id == identity))
        {
            None => true,
            Some((_, kept)) => preferred(result, kept),
        }
    }

    /// Each cell with results, in plan order, and its results in canonical order.
    pub fn cells(&self) -> impl Iterator<Item = (usize, Vec<&ClassResult>)> {
        self.by_cell
            .iter()
            .map(|(&cell, results)| (cell, results.iter().map(|(_, r)| r).collect()))
    }

    /// Every result, in plan order.
    pub fn results(&self) -> impl Iterator<Item = &ClassResult> {
        self.by_cell.values().flatten().map(|(_, r)| r)
    }

    /// Where cell `cell` stands.
    pub fn status(&self, cell: usize) -> CellStatus {
        match self.by_cell.get(&cell) {
            None => CellStatus::Missing,
            Some(results) => {
                let all_agree = results
                    .iter()
                    .all(|(_, a)| results.iter().all(|(_, b)| a.agrees_with(b)));
                if all_agree {
                    CellStatus::Done
                } else {
                    CellStatus::Disputed
                }
            }
        }
    }

    /// Cells done, missing and disputed among a plan's `cells`.
    pub fn tallies(&self, cells: usize) -> Tallies {
        let mut tallies = Tallies {
            results: self.by_cell.values().map(Vec::len).sum(),
            ..Tallies::default()
        };
        for cell in 0..cells {
            match self.status(cell) {
                CellStatus::Missing => tallies.missing += 1,
                CellStatus::Done => tallies.done += 1,
                CellStatus::Disputed => tallies.disputed += 1,
            }
        }
        tallies
    }

    /// The disputed cells, in plan order.
    pub fn disputed(&self) -> Vec<usize> {
        self.by_cell
            .keys()
            .copied()
            .filter(|&c| self.status(c) == CellStatus::Disputed)
            .collect()
    }
}

/// What a hub hands a student (`POST /class/work`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum HubWork {
    /// The canary: [`ClassPlan::canary`].
    Canary,
    /// A cell of the plan (a second training of a cell that has its result when `replica`).
    Cell {
        /// The cell.
        cell: usize,
        /// Whether it trains a cell that has its result.
        replica: bool,
    },
    /// Nothing to hand out now: ask again in a moment.
    Wait,
    /// Every cell is done.
    Done,
}

/// Where a student's canary stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CanaryState {
    /// Not trained yet.
    Pending,
    /// Trained; the hub's own answer is still being computed.
    Unchecked,
    /// Matches the hub's answer.
    Passed,
    /// Does not: this device's results are flagged.
    Failed,
}

/// The canary's answer, computed by the hub itself.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CanaryAnswer {
    /// Seen-rule accuracy.
    pub seen_accuracy: f64,
    /// Unseen-rule accuracy.
    pub unseen_accuracy: f64,
}

/// The teacher's view of one student.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StudentView {
    /// Seat number, from 1.
    pub seat: usize,
    /// The name the student gave (hidden on the projector).
    pub name: String,
    /// What it trains.
    pub work: Option<HubWork>,
    /// Steps taken.
    pub step: usize,
    /// Steps of its run.
    pub total: usize,
    /// Its canary.
    pub canary: CanaryState,
    /// Results it handed in.
    pub results: usize,
    /// Whether it went silent (its cell handed out again).
    pub gone: bool,
    /// Seconds since it was last heard of.
    pub silent_seconds: u64,
}

/// The teacher's view of one cell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CellView {
    /// The cell.
    pub cell: usize,
    /// Its labels, one per axis.
    pub labels: Vec<String>,
    /// Its seed.
    pub seed: u64,
    /// `missing`, `done` or `disputed`.
    pub status: String,
    /// Unseen-rule accuracy of each of its results.
    pub unseen: Vec<f64>,
    /// Seats training it now.
    pub training: Vec<usize>,
}

/// A hub's state, as its dashboard shows it (`GET /class/state`, and every message of the
/// `/class/live` socket).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HubState {
    /// The class's identifier.
    pub class: String,
    /// The build its results must come from.
    pub build: String,
    /// The link students open.
    pub join_url: String,
    /// The teacher's dashboard.
    pub teacher_url: String,
    /// Cells in the plan.
    pub cells: usize,
    /// Cells with agreeing results.
    pub done: usize,
    /// Cells with none.
    pub missing: usize,
    /// Cells whose results disagree.
    pub disputed: usize,
    /// Results held.
    pub results: usize,
    /// Cells handed out again after their student went silent.
    pub reissued: usize,
    /// Seconds since the hub started.
    pub seconds: f64,
    /// Seconds it took every cell to get a result, once they have.
    pub filled_seconds: Option<f64>,
    /// The canary's answer, once the hub has it.
    pub canary: Option<CanaryAnswer>,
    /// The students, by seat.
    pub students: Vec<StudentView>,
    /// The cells, in plan order.
    pub cell_views: Vec<CellView>,
    /// What the teacher should look at: disagreements, failed canaries, refused results,
    /// reissued cells.
    pub flags: Vec<String>,
    /// The class's sweep as a share link's fragment (its settings and sweep, without the `class`
    /// keys), when a link can carry it: students the hub cannot reach train with result codes from
    /// it.
    pub codes_fragment: Option<String>,
    /// The class's sweep as a results file, for the sweep views.
    pub report: SweepReport,
}

/// The prefix of every result code.
pub const CODE_PREFIX: &str = "IDP1";

/// What a result code carries, in 35 bytes: the class (40 bits), the cell (16), the build (its
/// first 24 bits), the settings' hash (24), the fingerprint (32), the four headline accuracies (16
/// bits each), the steps (24), the seconds in tenths (24) and the backend's kind (8); then 24 bits
/// of a CRC-32 of all of it, so that a changed or lost letter is caught. Written as base32
/// (RFC 4648, no padding: 56 letters and digits) in groups of seven after `IDP1-`: 68 characters,
/// small enough for any chat, a link or a QR code.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ResultCode {
    class: [u8; 5],
    cell: u16,
    build: u32,
    settings: u32,
    fingerprint: u32,
    accuracies: [u16; 4],
    steps: u32,
    tenths: u32,
    backend: u8,
}

/// Bytes of a code before its checksum.
const CODE_BODY: usize = 5 + 2 + 3 + 3 + 4 + 8 + 3 + 3 + 1;

/// Bytes of the checksum.
const CODE_CHECK: usize = 3;

/// Largest value of 24 bits.
const U24: u32 = (1 << 24) - 1;

/// The backend kinds a code names: what the page and the CLI call their backends.
const BACKENDS: [&str; 3] = ["CPU", "WebGPU", "GPU"];

/// The first `digits` hexadecimal digits of `text` (dashes skipped) as a number.
fn hex(text: &str, digits: usize) -> u32 {
    let digits: String = text
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(digits)
        .collect();
    u32::from_str_radix(&digits, 16).unwrap_or(0)
}

fn unit16(x: f64) -> u16 {
    (x.clamp(0.0, 1.0) * f64::from(u16::MAX)).round() as u16
}

fn check(body: &[u8]) -> [u8; CODE_CHECK] {
    let crc = crc32fast::hash(body).to_be_bytes();
    [crc[0], crc[1], crc[2]]
}

impl ResultCode {
    /// The code of a result.
    pub fn of(result: &ClassResult) -> Self {
        let mut class = [0u8; 5];
        let decoded = data_encoding::BASE32_NOPAD
            .decode(result.class.as_bytes())
            .unwrap_or_default();
        for (to, from) in class.iter_mut().zip(decoded) {
            *to = from;
        }
        let r = &result.record.result;
        let backend = if result.backend.contains("WebGPU") {
            1
        } else if result.backend.contains("CPU") {
            0
        } else {
            2
        };
        Self {
            class,
            cell: result.cell.min(usize::from(u16::MAX)) as u16,
            build: hex(&result.build, 6),
            settings: hex(&result.settings, 6),
            fingerprint: hex(&result.fingerprint, 8),
            accuracies: [
                unit16(r.seen_accuracy),
                unit16(r.unseen_accuracy),
                unit16(r.unseen_hasop_accuracy),
                unit16(r.noop_accuracy),
            ],
            steps: (r.step as u64).min(u64::from(U24)) as u32,
            tenths: (result.record.wall_seconds * 10.0)
                .round()
                .clamp(0.0, f64::from(U24)) as u32,
            backend,
        }
    }

    fn body(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(CODE_BODY + CODE_CHECK);
        let u24 = |x: u32| [(x >> 16) as u8, (x >> 8) as u8, x as u8];
        out.extend_from_slice(&self.class);
        out.extend_from_slice(&self.cell.to_be_bytes());
        out.extend_from_slice(&u24(self.build));
        out.extend_from_slice(&u24(self.settings));
        out.extend_from_slice(&self.fingerprint.to_be_bytes());
        for a in self.accuracies {
            out.extend_from_slice(&a.to_be_bytes());
        }
        out.extend_from_slice(&u24(self.steps));
        out.extend_from_slice(&u24(self.tenths));
        out.push(self.backend);
        out
    }

    /// The code as text: `IDP1-` and base32 in groups of seven.
    pub fn text(&self) -> String {
        let mut bytes = self.body();
        let check = check(&bytes);
        bytes.extend_from_slice(&check);
        let letters = data_encoding::BASE32_NOPAD.encode(&bytes);
        let groups: Vec<&str> = letters
            .as_bytes()
            .chunks(7)
            .map(|c| std::str::from_utf8(c).expect("base32 is ASCII"))
            .collect();
        format!("{CODE_PREFIX}-{}", groups.join("-"))
    }

    /// Reads a code as a person pastes it: any case, with or without its dashes, spaces or line
    /// breaks, or inside a link (`...&result=IDP1-...`).
    ///
    /// # Errors
    /// [`ClassError::BadCode`] saying what is wrong: not a code, cut short, or changed (the
    /// checksum fails).
    pub fn parse(text: &str) -> Result<Self, ClassError> {
        let shown = crate::engine::settings::shorten(text.trim());
        let bad = |why: &str| ClassError::BadCode {
            code: shown.clone(),
            why: why.into(),
        };
        let text = text.trim();
        let text = text
            .rsplit_once("result=")
            .map_or(text, |(_, code)| code.split('&').next().unwrap_or(code));
        let letters: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect::<String>()
            .to_ascii_uppercase();
        let Some(letters) = letters.strip_prefix(CODE_PREFIX) else {
            return Err(bad("a result code starts with IDP1-"));
        };
        let bytes = data_encoding::BASE32_NOPAD
            .decode(letters.as_bytes())
            .map_err(|_| bad("it holds letters a code never has, or is cut short"))?;
        if bytes.len() != CODE_BODY + CODE_CHECK {
            return Err(bad("it is cut short or has letters added"));
        }
        let (body, crc) = bytes.split_at(CODE_BODY);
        if check(body) != crc {
            return Err(bad(
                "its checksum fails: a letter was changed or lost (copy the code again)",
            ));
        }
        let u16_at = |i: usize| u16::from_be_bytes([body[i], body[i + 1]]);
        let u24_at = |i: usize| u32::from_be_bytes([0, body[i], body[i + 1], body[i + 2]]);
        let u32_at =
            |i: usize| u32::from_be_bytes([body[i], body[i + 1], body[i + 2], body[i + 3]]);
        let code = Self {
            class: body[..5].try_into().expect("five bytes"),
            cell: u16_at(5),
            build: u24_at(7),
            settings: u24_at(10),
            fingerprint: u32_at(13),
            accuracies: [u16_at(17), u16_at(19), u16_at(21), u16_at(23)],
            steps: u24_at(25),
            tenths: u24_at(28),
            backend: body[31],
        };
        if usize::from(code.backend) >= BACKENDS.len() {
            return Err(bad("it names no backend this version knows"));
        }
        Ok(code)
    }

    /// The class this code names.
    pub fn class(&self) -> String {
        data_encoding::BASE32_NOPAD.encode(&self.class)
    }

    /// The cell this code names.
    pub fn cell(&self) -> usize {
        usize::from(self.cell)
    }

    /// The result this code stands for, in `class`: the cell's settings and labels, the code's
    /// final accuracies (the record's only evaluation: a code carries no loss curve).
    ///
    /// # Errors
    /// The [`ClassError`] of [`ClassPlan::check`]: another class, a stale build, no such cell,
    /// other settings, or a damaged record.
    pub fn result(&self, class: &ClassPlan) -> Result<ClassResult, ClassError> {
        let as_unit = |a: u16| f64::from(a) / f64::from(u16::MAX);
        let summary = EvalSummary {
            step: self.steps as usize,
            seen_accuracy: as_unit(self.accuracies[0]),
            unseen_accuracy: as_unit(self.accuracies[1]),
            unseen_hasop_accuracy: as_unit(self.accuracies[2]),
            noop_accuracy: as_unit(self.accuracies[3]),
            composed_accuracy: None,
        };
        if self.class() != class.id {
            return Err(ClassError::OtherClass {
                found: self.class(),
                expected: class.id.clone(),
            });
        }
        let cell = self.cell();
        let config = class.cell(cell)?;
        let record = RunRecord {
            labels: class.plan.cells[cell].labels.clone(),
            wall_seconds: f64::from(self.tenths) / 10.0,
            ..RunRecord::summary_only(config.raw(), summary)
        };
        let result = ClassResult {
            class: self.class(),
            cell,
            build: format!("{:06x}", self.build),
            settings: format!("{:06x}", self.settings),
            fingerprint: format!(
                "{:04x}-{:04x}",
                self.fingerprint >> 16,
                self.fingerprint & 0xffff
            ),
            backend: BACKENDS[usize::from(self.backend)].into(),
            record,
        };
        class.check(&result)?;
        Ok(result)
    }
}

/// What reading many pasted codes gave: the results taken, and each line refused with why.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Pasted {
    /// Results read (checked against the class; not yet in a book).
    pub results: Vec<ClassResult>,
    /// Lines that are not results of this class: the line's number (from 1) and why.
    pub refused: Vec<(usize, ClassError)>,
}

/// Letters and digits a whole code has after its prefix.
const CODE_LETTERS: usize = (CODE_BODY + CODE_CHECK) * 8 / 5;

/// Reads every result code in `text` (one or more per line, or a file of them; blank lines and
/// text around the codes are skipped; a code broken by spaces, as some chats break long words, is
/// joined again) as results of `class`.
pub fn read_codes(text: &str, class: &ClassPlan) -> Pasted {
    let mut pasted = Pasted::default();
    let letters = |t: &str| t.chars().filter(char::is_ascii_alphanumeric).count();
    for (number, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut at = 0;
        while at < words.len() {
            let word = words[at];
            at += 1;
            let Some(start) = word.to_ascii_uppercase().find(CODE_PREFIX) else {
                continue;
            };
            // A word holding a code: the code alone, or a link ending in `result=<code>`.
            let mut code = if word[..start].ends_with("result=") {
                word.to_string()
            } else {
                word[start..].to_string()
            };
            while letters(&code) < CODE_PREFIX.len() + CODE_LETTERS
                && at < words.len()
                && !words[at].to_ascii_uppercase().contains(CODE_PREFIX)
            {
                code.push_str(words[at]);
                at += 1;
            }
            match ResultCode::parse(&code).and_then(|code| code.result(class)) {
                Ok(result) => pasted.results.push(result),
                Err(e) => pasted.refused.push((number + 1, e)),
            }
        }
    }
    pasted
}

/// A QR code of `text` as an SVG image (dark modules on white, with the standard quiet zone),
/// `size` pixels at least on each side. Encoded with the `qrcode` crate at error correction level
/// M, which a phone reads off a projector.
pub fn qr_svg(text: &str, size: u32) -> Option<String> {
    let code = qrcode::QrCode::with_error_correction_level(text, qrcode::EcLevel::M).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(size, size)
            .dark_color(qrcode::render::svg::Color("#000000"))
            .light_color(qrcode::render::svg::Color("#ffffff"))
            .build(),
    )
}

// Native only: the property tests need proptest, which needs OS entropy (wasm32 has none).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;

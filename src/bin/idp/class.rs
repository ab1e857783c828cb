//! `idp class`: the hub a teacher runs on a laptop so a class trains one sweep together.
//!
//! It serves the built page (`dist/`, what `trunk build` writes) and the class's endpoints over
//! HTTP and WebSocket (axum), on every address of the laptop, so that students join with one link
//! or one scan and nothing needs the internet. What is decided is the study layer's: the cells
//! handed out follow [`Schedule`] (the rule `idp sweep` and the page's workers follow too), the
//! results are checked and merged by [`ClassPlan`] and [`ClassBook`]. The hub keeps:
//!
//! ```text
//! DIR/plan.json      the sweep's plan (so `idp merge DIR` reads the class as any sweep)
//! DIR/class.json     the class plan: its identifier and build
//! DIR/results.jsonl  every result taken, one JSON line each, appended as it arrives
//! ```
//!
//! A hub started again with the same folder replays `results.jsonl` and goes on.
//!
//! Endpoints (JSON unless said): `GET /class/plan`; `POST /class/join` `{name?, student?}` gives a
//! student its id and seat; `POST /class/work` `{student}` gives the canary, a cell, a replica, or
//! "wait"; `POST /class/progress` `{student, step, total}` is the heartbeat; `POST /class/canary`
//! and `POST /class/result` take what a student trained; `POST /class/codes` (text) takes pasted
//! result codes; `GET /class/state` is the dashboard's state, which `GET /class/live` (WebSocket)
//! pushes at every change.

use crate::files::{SweepDir, write_atomically};
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use instruction_diversity::engine::metrics::EvalSummary;
use instruction_diversity::study::class::{
    Added, CanaryAnswer, CanaryState, CellStatus, CellView, ClassBook, ClassError, ClassPlan,
    ClassResult, HubState, HubWork as Work, REPLAY_TOLERANCE, StudentView, read_codes,
};
use instruction_diversity::study::schedule::Schedule;
use serde::{Deserialize, Serialize};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What `idp class` was asked for.
pub struct HubOptions {
    /// The class's folder.
    pub dir: PathBuf,
    /// The built page.
    pub dist: PathBuf,
    /// Address to listen on.
    pub host: String,
    /// Port (0: any free one).
    pub port: u16,
    /// The join link's start, when the LAN address is not the one students reach.
    pub public_url: Option<String>,
    /// A student silent this long loses its cell.
    pub lease: Duration,
    /// About one cell in this many is trained by a second student (0: none).
    pub replicate_every: usize,
    /// Whether each student first trains the canary.
    pub canary: bool,
}

/// A student of the class.
#[derive(Clone, Debug, Serialize)]
struct Student {
    id: String,
    seat: usize,
    name: String,
    #[serde(skip)]
    seen_ms: u64,
    work: Option<Work>,
    step: usize,
    total: usize,
    canary: CanaryState,
    canary_seen: Option<f64>,
    canary_unseen: Option<f64>,
    results: usize,
    /// Whether it went silent (its cell handed out again).
    gone: bool,
}

/// Most flags the dashboard keeps (the newest).
const MAX_FLAGS: usize = 200;

/// Most students a hub takes (a class is tens; a page reloaded in a loop must not grow it
/// without bound).
const MAX_STUDENTS: usize = 500;

/// The class's state.
struct Hub {
    class: ClassPlan,
    book: ClassBook,
    schedule: Schedule,
    students: Vec<Student>,
    canary: Option<CanaryAnswer>,
    use_canary: bool,
    /// What the teacher should look at: disagreements, failed canaries, refused results.
    flags: Vec<String>,
    reissued: usize,
    started: Instant,
    filled_seconds: Option<f64>,
    results_file: PathBuf,
    join_url: String,
    teacher_url: String,
    codes_fragment: Option<String>,
    /// The teacher's key: in the dashboard's link, asked of what only the teacher may do (read
    /// the students' names, add pasted codes). Students' pages never see it.
    key: String,
    /// Bumped at every change: the dashboards' sockets send the state when it moves.
    version: tokio::sync::watch::Sender<u64>,
}

impl Hub {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn changed(&mut self) {
        // The newest flags: a hub left running for days (or flooded) keeps its state small.
        if self.flags.len() > MAX_FLAGS {
            self.flags.drain(..self.flags.len() - MAX_FLAGS);
        }
        self.version.send_modify(|v| *v += 1);
    }

    fn student_mut(&mut self, id: &str) -> Option<&mut Student> {
        self.students.iter_mut().find(|s| s.id == id)
    }

    fn seat_of(&self, id: &str) -> String {
        self.students
            .iter()
            .find(|s| s.id == id)
            .map_or_else(|| "a student".into(), |s| format!("seat {}", s.seat))
    }

    /// Takes a result: checked, appended to the results file, then booked.
    ///
    /// # Errors
    /// Why it is refused (the flag the teacher sees says it too), and whether that is the
    /// student's doing (a 4xx) or the hub's (the disk).
    fn take_result(
        &mut self,
        from: &str,
        result: ClassResult,
    ) -> Result<Added, (StatusCode, String)> {
        if let Err(e) = self.class.check(&result) {
            let status = match e {
                ClassError::StaleBuild { .. } => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            self.flags.push(format!(
                "refused a result of cell {} from {}: {e}",
                result.cell,
                self.seat_of(from)
            ));
            self.changed();
            return Err((status, e.to_string()));
        }
        if self.book.would_change(&result) {
            append_line(&self.results_file, &result.to_line())
                .map_err(|e| (StatusCode::INSUFFICIENT_STORAGE, e))?;
        }
        let cell = result.cell;
        let unseen = result.record.result.unseen_accuracy;
        let added = self.book.add(result);
        if added != Added::Duplicate {
            self.schedule.finish(cell, from);
        }
        if let Some(s) = self
            .students
            .iter()
            .find(|s| s.id == from && s.canary == CanaryState::Failed)
        {
            let seat = s.seat;
            self.flags.push(format!(
                "cell {cell} came from seat {seat}, whose canary disagreed with the hub's: check it"
            ));
        }
        if added == Added::Disagrees {
            let others: Vec<String> = self
                .book
                .cells()
                .find(|(c, _)| *c == cell)
                .map(|(_, rs)| {
                    rs.iter()
                        .map(|r| format!("{:.2}", r.record.result.unseen_accuracy))
                        .collect()
                })
                .unwrap_or_default();
            self.flags.push(format!(
                "cell {cell}: {} got unseen accuracy {unseen:.2}, beyond the replay tolerance ({REPLAY_TOLERANCE}) of the others ({}): both kept",
                self.seat_of(from),
                others.join(", ")
            ));
        }
        if let Some(s) = self.student_mut(from).filter(|_| added != Added::Duplicate) {
            s.results += 1;
        }
        if self.filled_seconds.is_none() && self.schedule.all_done() {
            self.filled_seconds = Some(self.started.elapsed().as_secs_f64());
        }
        self.changed();
        Ok(added)
    }

    /// The next work for student `id`.
    fn work_for(&mut self, id: &str) -> Work {
        let now = self.now_ms();
        let use_canary = self.use_canary;
        let Some(student) = self.student_mut(id) else {
            return Work::Wait;
        };
        student.seen_ms = now;
        student.gone = false;
        if use_canary && student.canary == CanaryState::Pending {
            student.work = Some(Work::Canary);
            student.step = 0;
            self.changed();
            return Work::Canary;
        }
        // A student that asks while it holds a cell lost it (a reload): it gets that cell again.
        let held = self.schedule.held_by(id).first().map(|&cell| Work::Cell {
            cell,
            replica: self
                .schedule
                .leases(cell)
                .iter()
                .any(|l| l.worker == id && l.replica),
        });
        let work = match held.or_else(|| {
            self.schedule.take(id, now).map(|take| Work::Cell {
                cell: take.cell,
                replica: take.replica,
            })
        }) {
            Some(work) => work,
            // Every cell has its result: the replicas still due are for other students.
            None if self.schedule.all_done() => Work::Done,
            None => Work::Wait,
        };
        if let Some(student) = self.student_mut(id) {
            student.work = Some(work.clone());
            student.step = 0;
            student.total = 0;
        }
        self.changed();
        work
    }

    /// Hands out again the cells of students gone silent.
    fn expire(&mut self) {
        let now = self.now_ms();
        let expired = self.schedule.expire(now);
        if expired.is_empty() {
            return;
        }
        for e in &expired {
            self.reissued += 1;
            let seat = self.seat_of(&e.worker);
            self.flags.push(format!(
                "cell {} handed out again: {seat} went silent",
                e.cell
            ));
            if let Some(s) = self.student_mut(&e.worker) {
                s.gone = true;
                s.work = None;
            }
        }
        self.changed();
    }

    /// Checks a student's canary against the hub's answer, once both are known.
    fn check_canary(&mut self, id: &str) {
        let Some(answer) = self.canary else { return };
        let Some(student) = self.student_mut(id) else {
            return;
        };
        let (Some(seen), Some(unseen)) = (student.canary_seen, student.canary_unseen) else {
            return;
        };
        let agrees = (seen - answer.seen_accuracy).abs() <= REPLAY_TOLERANCE
            && (unseen - answer.unseen_accuracy).abs() <= REPLAY_TOLERANCE;
        student.canary = if agrees {
            CanaryState::Passed
        } else {
            CanaryState::Failed
        };
        if !agrees {
            let seat = student.seat;
            self.flags.push(format!(
                "seat {seat}'s canary disagrees with the hub's (seen {seen:.2} and unseen {unseen:.2}, against {:.2} and {:.2}): look at that device's results",
                answer.seen_accuracy, answer.unseen_accuracy
            ));
        }
    }

    /// The dashboard's view of the class; the students' names only for the teacher (`names`).
    fn state(&self, names: bool) -> HubState {
        let now = self.now_ms();
        let tallies = self.book.tallies(self.class.len());
        let cells = (0..self.class.len())
            .map(|cell| {
                let results: Vec<&ClassResult> = self
                    .book
                    .cells()
                    .find(|(c, _)| *c == cell)
                    .map(|(_, rs)| rs)
                    .unwrap_or_default();
                CellView {
                    cell,
                    labels: self.class.plan.cells[cell].labels.clone(),
                    seed: self.class.plan.cells[cell].seed,
                    status: match self.book.status(cell) {
                        CellStatus::Missing => "missing",
                        CellStatus::Done => "done",
                        CellStatus::Disputed => "disputed",
                    }
                    .into(),
                    unseen: results
                        .iter()
                        .map(|r| r.record.result.unseen_accuracy)
                        .collect(),
                    training: self
                        .schedule
                        .leases(cell)
                        .iter()
                        .filter_map(|l| self.students.iter().find(|s| s.id == l.worker))
                        .map(|s| s.seat)
                        .collect(),
                }
            })
            .collect();
        HubState {
            class: self.class.id.clone(),
            build: self.class.build.clone(),
            join_url: self.join_url.clone(),
            teacher_url: if names {
                self.teacher_url.clone()
            } else {
                String::new()
            },
            cells: self.class.len(),
            done: tallies.done,
            missing: tallies.missing,
            disputed: tallies.disputed,
            results: tallies.results,
            reissued: self.reissued,
            seconds: self.started.elapsed().as_secs_f64(),
            filled_seconds: self.filled_seconds,
            canary: self.canary,
            students: self
                .students
                .iter()
                .map(|s| StudentView {
                    seat: s.seat,
                    name: if names {
                        s.name.clone()
                    } else {
                        format!("Seat {}", s.seat)
                    },
                    work: s.work.clone(),
                    step: s.step,
                    total: s.total,
                    canary: s.canary,
                    results: s.results,
                    gone: s.gone,
                    silent_seconds: now.saturating_sub(s.seen_ms) / 1000,
                })
                .collect(),
            cell_views: cells,
            flags: self.flags.clone(),
            codes_fragment: self.codes_fragment.clone(),
            report: {
                // The diagram and the curve need each run's final numbers only: the loss curves
                // and per-rule scores stay in the results file.
                let mut report = self.class.report(&self.book);
                for run in &mut report.runs {
                    run.losses.clear();
                    run.seen_rules.clear();
                    run.unseen_rules.clear();
                }
                report
            },
        }
    }
}

type Shared = Arc<Mutex<Hub>>;

/// Appends one line to `path` in one write, flushed to disk: a line is whole or, after a crash
/// mid-write, a last line cut short that the replay skips.
fn append_line(path: &Path, line: &str) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot append to {}: {e}", path.display());
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(fail)?;
    let mut bytes = line.as_bytes().to_vec();
    bytes.push(b'\n');
    file.write_all(&bytes).map_err(fail)?;
    file.sync_data().map_err(fail)
}

/// Reads a class folder's results file: every whole line that is a result of `class` (a result of
/// an older build counts: it was taken by this class). Lines that are not are named in the
/// returned warnings.
pub fn read_results(
    path: &Path,
    class: &ClassPlan,
) -> Result<(Vec<ClassResult>, Vec<String>), String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mut results = Vec::new();
    let mut warnings = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let read = ClassResult::from_line(line).and_then(|r| {
            let mut same_build = class.clone();
            same_build.build.clone_from(&r.build);
            same_build.check(&r).map(|()| r)
        });
        match read {
            Ok(r) => results.push(r),
            Err(e) => warnings.push(format!("{}:{}: skipped ({e})", path.display(), number + 1)),
        }
    }
    Ok((results, warnings))
}

/// The class's folder: its class plan written (or the same one found), its results read.
fn open_folder(dir: &Path, class: &ClassPlan) -> Result<(PathBuf, Vec<ClassResult>), String> {
    SweepDir::new(dir).prepare(&class.plan)?;
    let class_path = dir.join("class.json");
    if let Ok(text) = std::fs::read_to_string(&class_path) {
        let existing =
            ClassPlan::from_json(&text).map_err(|e| format!("{}: {e}", class_path.display()))?;
        if existing.id != class.id {
            return Err(format!(
                "{} holds another class ({}): give another --out, or remove that folder to start again",
                dir.display(),
                existing.id
            ));
        }
    }
    write_atomically(&class_path, class.to_json().as_bytes())?;
    let results_file = dir.join("results.jsonl");
    // A line cut by a crash mid-write: end it, so the next result starts a line of its own.
    if let Ok(bytes) = std::fs::read(&results_file)
        && bytes.last().is_some_and(|&b| b != b'\n')
    {
        append_line(&results_file, "")?;
    }
    let (results, warnings) = read_results(&results_file, class)?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    Ok((results_file, results))
}

/// The class's sweep as a link's fragment for result codes (see [`HubState::codes_fragment`]):
/// only when the link reads back to this very class.
fn codes_fragment(class: &ClassPlan) -> Option<String> {
    use instruction_diversity::page::link::{self, ClassRole};
    let fragment = link::class_fragment(class, ClassRole::Teacher, None)?;
    let read = link::parse(
        &fragment,
        &instruction_diversity::engine::config::ExperimentConfig::default(),
    );
    // Without the class's own keys: the dashboard adds them.
    let settings = fragment.split("&class=").next()?.to_string();
    read.class.is_some().then_some(settings)
}

/// The teacher's key: the one in `DIR/teacher.key` (so the dashboard's link stays valid when the
/// hub is started again), else a new random one of 64 bits, as 16 hexadecimal digits, written
/// there. The standard library's hasher is seeded from the operating system's randomness at each
/// `RandomState::new()`; the key only keeps the students' names and the pasting of codes to the
/// teacher's dashboard, in a classroom.
fn teacher_key(dir: &Path) -> Result<String, String> {
    use std::hash::{BuildHasher, Hasher};
    let path = dir.join("teacher.key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let key = text.trim();
        if key.len() == 16 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(key.to_string());
        }
    }
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let key = format!("{:016x}", hasher.finish());
    write_atomically(&path, key.as_bytes())?;
    Ok(key)
}

/// The laptop's address on the classroom network, for the join link.
fn lan_address() -> Option<std::net::IpAddr> {
    local_ip_address::local_ip()
        .ok()
        .filter(|ip| !ip.is_loopback())
}

/// Runs the hub until Ctrl-C. `train_canary` computes the canary's answer (on this machine's
/// CPU), in a thread of its own.
pub fn serve(
    class: ClassPlan,
    options: &HubOptions,
    train_canary: impl FnOnce(&ClassPlan) -> Result<EvalSummary, String> + Send + 'static,
) -> Result<(), String> {
    let index = options.dist.join("index.html");
    if !index.exists() {
        return Err(format!(
            "no built page at {}: build it first with `trunk build --release` (it writes dist/), or give --dist FOLDER",
            index.display()
        ));
    }
    let (results_file, results) = open_folder(&options.dir, &class)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the hub: {e}"))?;
    runtime.block_on(async move {
        let address = format!("{}:{}", options.host, options.port);
        let listener = tokio::net::TcpListener::bind(&address)
            .await
            .map_err(|e| format!("cannot listen on {address}: {e} (is another hub running? try --port)"))?;
        let port = listener.local_addr().map_err(|e| e.to_string())?.port();
        let join_base = match &options.public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => match lan_address() {
                Some(ip) => format!("http://{ip}:{port}"),
                None => format!("http://localhost:{port}"),
            },
        };
        let join_url = format!("{join_base}/#class=join");
        let key = teacher_key(&options.dir)?;
        let teacher_url = format!("http://localhost:{port}/#class=teach&key={key}");
        let (version, _) = tokio::sync::watch::channel(0u64);
        let mut schedule = Schedule::new(class.len());
        schedule.lease_ms = options.lease.as_millis() as u64;
        schedule.replicate_every = options.replicate_every;
        let mut book = ClassBook::new();
        for r in results {
            book.add(r);
        }
        // Each result replayed counts as a worker's, so a cell trained twice is not due again.
        for (cell, results) in book.cells() {
            for k in 0..results.len() {
                schedule.finish(cell, &format!("an earlier result {k}"));
            }
        }
        let taken = book.tallies(class.len());
        let hub = Hub {
            book,
            schedule,
            students: Vec::new(),
            canary: None,
            use_canary: options.canary,
            flags: Vec::new(),
            reissued: 0,
            started: Instant::now(),
            filled_seconds: None,
            results_file,
            join_url: join_url.clone(),
            teacher_url: teacher_url.clone(),
            codes_fragment: codes_fragment(&class),
            key,
            version,
            class: class.clone(),
        };
        let shared: Shared = Arc::new(Mutex::new(hub));
        if options.canary {
            let for_canary = Arc::clone(&shared);
            let class = class.clone();
            std::thread::spawn(move || {
                let answer = train_canary(&class);
                let mut hub = for_canary.lock().expect("the hub's lock");
                match answer {
                    Ok(summary) => {
                        hub.canary = Some(CanaryAnswer {
                            seen_accuracy: summary.seen_accuracy,
                            unseen_accuracy: summary.unseen_accuracy,
                        });
                        let ids: Vec<String> = hub.students.iter().map(|s| s.id.clone()).collect();
                        for id in ids {
                            hub.check_canary(&id);
                        }
                    }
                    Err(e) => hub.flags.push(format!("the hub could not train the canary: {e}")),
                }
                hub.changed();
            });
        }
        let ticker = Arc::clone(&shared);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_millis(500));
            loop {
                every.tick().await;
                ticker.lock().expect("the hub's lock").expire();
            }
        });
        let app = router(Arc::clone(&shared), &options.dist);
        println!(
            "class {}: {} cells ({} done, {} missing) -> {}",
            class.id,
            class.len(),
            taken.done + taken.disputed,
            taken.missing,
            options.dir.display()
        );
        println!("students join: {join_url}");
        if let Ok(code) = qrcode::QrCode::new(join_url.as_bytes()) {
            println!(
                "{}",
                code.render::<qrcode::render::unicode::Dense1x2>()
                    .quiet_zone(true)
                    .build()
            );
        }
        println!("teacher's dashboard: {teacher_url}");
        if let Some(fragment) = codes_fragment(&class) {
            println!(
                "students the hub cannot reach hand in result codes, taken on the dashboard or on: http://localhost:{port}/#{fragment}{}",
                instruction_diversity::page::link::write_class(
                    &class.id,
                    instruction_diversity::page::link::ClassRole::Teacher
                )
            );
        }
        println!("Ctrl-C stops the hub; every result is in {} as it arrives", options.dir.join("results.jsonl").display());
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(|e| format!("the hub stopped: {e}"))
    })
}

fn router(shared: Shared, dist: &Path) -> Router {
    let files = tower_http::services::ServeDir::new(dist).append_index_html_on_directories(true);
    // An https page (the project's site) may send to a hub on the classroom network where the
    // browser allows a local-network request: it asks for CORS, and Chrome's private network
    // preflight.
    let cors = tower_http::cors::CorsLayer::new()
        .allow_origin(tower_http::cors::Any)
        .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
        .allow_headers([axum::http::header::CONTENT_TYPE])
        .allow_private_network(true);
    let class = Router::new()
        .route("/class/plan", get(plan))
        .route("/class/join", post(join))
        .route("/class/work", post(work))
        .route("/class/progress", post(progress))
        .route("/class/canary", post(canary))
        .route("/class/result", post(result))
        .route("/class/codes", post(codes))
        .route("/class/state", get(state))
        .route("/class/live", get(live))
        .layer(cors)
        .with_state(shared);
    class
        .fallback_service(files)
        // 40 students loading a page of megabytes from one laptop: compressed, it is a quarter.
        .layer(tower_http::compression::CompressionLayer::new())
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(serde_json::json!({ "error": message.into() }))).into_response()
}

async fn plan(State(hub): State<Shared>) -> Response {
    let hub = hub.lock().expect("the hub's lock");
    Json(serde_json::json!({ "class": hub.class, "canary": hub.use_canary })).into_response()
}

#[derive(Deserialize)]
struct JoinRequest {
    #[serde(default)]
    name: Option<String>,
    /// A student's id from an earlier join (a reload): it keeps its seat.
    #[serde(default)]
    student: Option<String>,
}

async fn join(State(hub): State<Shared>, Json(request): Json<JoinRequest>) -> Response {
    let mut hub = hub.lock().expect("the hub's lock");
    let now = hub.now_ms();
    if let Some(id) = &request.student
        && let Some(s) = hub.student_mut(id)
    {
        if let Some(name) = request
            .name
            .as_deref()
            .map(nickname)
            .filter(|n| !n.is_empty())
        {
            s.name = name;
        }
        s.seen_ms = now;
        s.gone = false;
        let seat = s.seat;
        hub.changed();
        return Json(serde_json::json!({ "student": id, "seat": seat })).into_response();
    }
    if hub.students.len() >= MAX_STUDENTS {
        return refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the class is full ({MAX_STUDENTS} students)"),
        );
    }
    let seat = hub.students.len() + 1;
    // Not a secret: the id only tells one student's reports from another's.
    let id = request
        .student
        .filter(|s| !s.is_empty() && s.len() <= 64)
        .unwrap_or_else(|| format!("s{seat}-{:x}", fastrand::u64(..)));
    let name = request
        .name
        .as_deref()
        .map(nickname)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("Seat {seat}"));
    hub.students.push(Student {
        id: id.clone(),
        seat,
        name,
        seen_ms: now,
        work: None,
        step: 0,
        total: 0,
        canary: CanaryState::Pending,
        canary_seen: None,
        canary_unseen: None,
        results: 0,
        gone: false,
    });
    hub.changed();
    Json(serde_json::json!({ "student": id, "seat": seat })).into_response()
}

/// A nickname as the dashboard shows it: trimmed, at most 24 characters, no control characters.
fn nickname(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(24)
        .collect()
}

#[derive(Deserialize)]
struct StudentRequest {
    student: String,
}

async fn work(State(hub): State<Shared>, Json(request): Json<StudentRequest>) -> Response {
    let mut hub = hub.lock().expect("the hub's lock");
    if hub.student_mut(&request.student).is_none() {
        return refuse(StatusCode::NOT_FOUND, "unknown student: join again");
    }
    Json(hub.work_for(&request.student)).into_response()
}

#[derive(Deserialize)]
struct ProgressRequest {
    student: String,
    step: usize,
    total: usize,
}

async fn progress(State(hub): State<Shared>, Json(request): Json<ProgressRequest>) -> Response {
    let mut hub = hub.lock().expect("the hub's lock");
    let now = hub.now_ms();
    hub.schedule.heartbeat(&request.student, now);
    match hub.student_mut(&request.student) {
        Some(s) => {
            s.seen_ms = now;
            s.gone = false;
            s.step = request.step;
            s.total = request.total;
            hub.changed();
            StatusCode::NO_CONTENT.into_response()
        }
        None => refuse(StatusCode::NOT_FOUND, "unknown student: join again"),
    }
}

#[derive(Deserialize)]
struct CanaryReport {
    student: String,
    seen_accuracy: f64,
    unseen_accuracy: f64,
}

async fn canary(State(hub): State<Shared>, Json(report): Json<CanaryReport>) -> Response {
    let mut hub = hub.lock().expect("the hub's lock");
    let Some(s) = hub.student_mut(&report.student) else {
        return refuse(StatusCode::NOT_FOUND, "unknown student: join again");
    };
    s.canary_seen = Some(report.seen_accuracy);
    s.canary_unseen = Some(report.unseen_accuracy);
    s.canary = CanaryState::Unchecked;
    s.work = None;
    hub.check_canary(&report.student);
    hub.changed();
    StatusCode::NO_CONTENT.into_response()
}

#[derive(Deserialize)]
struct ResultRequest {
    student: String,
    result: ClassResult,
}

async fn result(State(hub): State<Shared>, Json(request): Json<ResultRequest>) -> Response {
    let mut hub = hub.lock().expect("the hub's lock");
    // From students the hub knows (one restarted asks them to join again first; the page keeps
    // the result meanwhile).
    if hub.student_mut(&request.student).is_none() {
        return refuse(StatusCode::NOT_FOUND, "unknown student: join again");
    }
    match hub.take_result(&request.student, request.result) {
        Ok(added) => Json(serde_json::json!({ "added": format!("{added:?}").to_lowercase() }))
            .into_response(),
        Err((status, message)) => refuse(status, message),
    }
}

/// The teacher's key, where a request gives one (`?key=`).
#[derive(Deserialize)]
struct KeyQuery {
    #[serde(default)]
    key: Option<String>,
}

impl KeyQuery {
    fn is_teacher(&self, hub: &Hub) -> bool {
        self.key.as_deref() == Some(hub.key.as_str())
    }
}

async fn codes(State(hub): State<Shared>, Query(query): Query<KeyQuery>, text: String) -> Response {
    let mut hub = hub.lock().expect("the hub's lock");
    if !query.is_teacher(&hub) {
        return refuse(
            StatusCode::FORBIDDEN,
            "only the teacher's dashboard adds codes: open it from the link `idp class` printed",
        );
    }
    let pasted = read_codes(&text, &hub.class.clone());
    let (mut taken, mut again) = (0, 0);
    let mut refused: Vec<String> = pasted
        .refused
        .iter()
        .map(|(line, e)| format!("line {line}: {e}"))
        .collect();
    for r in pasted.results {
        let cell = r.cell;
        match hub.take_result("a result code", r) {
            Ok(Added::Duplicate) => again += 1,
            Ok(_) => taken += 1,
            Err((_, e)) => refused.push(format!("cell {cell}: {e}")),
        }
    }
    Json(serde_json::json!({ "taken": taken, "already": again, "refused": refused }))
        .into_response()
}

async fn state(State(hub): State<Shared>, Query(query): Query<KeyQuery>) -> Response {
    let state = {
        let hub = hub.lock().expect("the hub's lock");
        hub.state(query.is_teacher(&hub))
    };
    Json(state).into_response()
}

async fn live(
    State(hub): State<Shared>,
    Query(query): Query<KeyQuery>,
    socket: WebSocketUpgrade,
) -> Response {
    let names = query.is_teacher(&hub.lock().expect("the hub's lock"));
    socket.on_upgrade(move |socket| send_states(hub, names, socket))
}

/// Sends the state at once, then at each change, at most 4 times a second (made under the hub's
/// lock, written out of it).
async fn send_states(hub: Shared, names: bool, mut socket: WebSocket) {
    let mut changes = hub.lock().expect("the hub's lock").version.subscribe();
    loop {
        let state = hub.lock().expect("the hub's lock").state(names);
        let text = serde_json::to_string(&state).expect("states serialize");
        if socket.send(Message::Text(text.into())).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        if changes.changed().await.is_err() {
            return;
        }
    }
}

//! `idp class`, the class hub, driven over HTTP by simulated students: the cells handed out once
//! each, a silent student's cell handed out again, duplicates stored once, a disagreement and a
//! stale build flagged or refused, an edited code refused, the results file replayed by a restarted
//! hub and merged by `idp merge` into the same files as `idp sweep`.

use super::cli::{TINY, TINY_EVAL, temp_dir};
use instruction_diversity::engine::metrics::EvalSummary;
use instruction_diversity::study::class::{ClassPlan, ClassResult, HubState, HubWork, ResultCode};
use instruction_diversity::study::record::RunRecord;
use instruction_diversity::study::schedule::replicated;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A hub on a free port, killed when dropped.
struct Hub {
    child: Child,
    url: String,
    /// The teacher's key, from the dashboard's link.
    key: String,
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const AXES: [&str; 6] = [
    "--instructions",
    "2,4",
    "--per-rule",
    "5,20",
    "--seeds",
    "1,2,3",
];

fn start(dir: &Path, dist: &Path, more: &[&str]) -> Hub {
    let mut args: Vec<&str> = vec!["class"];
    args.extend(TINY);
    args.push(TINY_EVAL);
    args.extend(AXES);
    let (dir, dist) = (dir.to_str().unwrap(), dist.to_str().unwrap());
    args.extend([
        "--out",
        dir,
        "--dist",
        dist,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--lease-seconds",
        "1",
    ]);
    args.extend(more);
    let mut child = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(&args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("idp runs");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines
            .next()
            .expect("the hub prints its dashboard's address")
            .unwrap();
        if let Some(rest) = line.strip_prefix("teacher's dashboard: ") {
            break rest.to_string();
        }
    };
    let (url, key) = url
        .split_once("/#class=teach&key=")
        .expect("a dashboard link with its key");
    let (url, key) = (url.to_string(), key.to_string());
    // Keep reading its output, so it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Hub { child, url, key }
}

fn post(hub: &Hub, path: &str, body: &Value) -> (u16, Value) {
    let response = ureq::post(&format!("{}{path}", hub.url))
        .config()
        .http_status_as_error(false)
        .build()
        .send_json(body)
        .expect("the hub answers");
    let status = response.status().as_u16();
    let text = response.into_body().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn state(hub: &Hub) -> HubState {
    let text = ureq::get(&format!("{}/class/state?key={}", hub.url, hub.key))
        .call()
        .expect("the hub answers")
        .into_body()
        .read_to_string()
        .unwrap();
    serde_json::from_str(&text).expect("a hub state")
}

fn plan(hub: &Hub) -> ClassPlan {
    let text = ureq::get(&format!("{}/class/plan", hub.url))
        .call()
        .expect("the hub answers")
        .into_body()
        .read_to_string()
        .unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    ClassPlan::from_json(&v["class"].to_string()).expect("a class plan")
}

fn join(hub: &Hub) -> String {
    let (status, v) = post(hub, "/class/join", &json!({}));
    assert_eq!(status, 200, "{v}");
    v["student"].as_str().unwrap().to_string()
}

fn work(hub: &Hub, student: &str) -> HubWork {
    let (status, v) = post(hub, "/class/work", &json!({ "student": student }));
    assert_eq!(status, 200, "{v}");
    serde_json::from_value(v).unwrap()
}

/// A result of `cell` as a student's page would send it, with made-up accuracies.
fn result(class: &ClassPlan, cell: usize, unseen: f64) -> ClassResult {
    let config = class.cell(cell).unwrap().raw().clone();
    let summary = EvalSummary {
        step: config.train.steps,
        seen_accuracy: 0.9,
        unseen_accuracy: unseen,
        unseen_hasop_accuracy: unseen,
        noop_accuracy: 1.0,
        composed_accuracy: None,
    };
    let record = RunRecord {
        labels: Vec::new(),
        instructions: config.task.instructions,
        examples_per_rule: 5.0,
        rules_with_examples: config.task.instructions,
        steps: config.train.steps,
        result: summary,
        final_loss: 0.5,
        losses: Vec::new(),
        evaluations: vec![summary],
        inside: Vec::new(),
        seen_rules: Vec::new(),
        unseen_rules: Vec::new(),
        wall_seconds: 1.0,
        config,
    };
    ClassResult::new(class, cell, &class.build, "abcd-0123", "CPU (test)", record).unwrap()
}

fn send(hub: &Hub, student: &str, result: &ClassResult) -> (u16, Value) {
    post(
        hub,
        "/class/result",
        &json!({ "student": student, "result": result }),
    )
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "waited for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn dist(name: &str) -> std::path::PathBuf {
    let dist = temp_dir(name);
    std::fs::create_dir_all(&dist).unwrap();
    std::fs::write(
        dist.join("index.html"),
        "<!doctype html><title>page</title>",
    )
    .unwrap();
    dist
}

#[test]
fn a_class_of_simulated_students_fills_the_sweep_and_a_restarted_hub_goes_on() {
    let (dir, dist) = (temp_dir("class-hub"), dist("class-dist"));
    let hub = start(&dir, &dist, &["--replicate-every", "5"]);
    let class = plan(&hub);
    assert_eq!(class.len(), 12);
    // The page is served, compressed where asked.
    let page = ureq::get(&format!("{}/", hub.url))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    assert!(page.contains("<title>page"));

    // The canary first; the hub computes its own answer and checks the students' against it.
    let students: Vec<String> = (0..3).map(|_| join(&hub)).collect();
    wait_for("the canary's answer", || state(&hub).canary.is_some());
    let answer = state(&hub).canary.unwrap();
    for (k, s) in students.iter().enumerate() {
        assert_eq!(work(&hub, s), HubWork::Canary);
        // The third device is off: its canary fails, and is flagged.
        let off = if k == 2 { 0.5 } else { 0.0 };
        let (status, _) = post(
            &hub,
            "/class/canary",
            &json!({ "student": s, "seen_accuracy": (answer.seen_accuracy + off).min(1.0),
                     "unseen_accuracy": (answer.unseen_accuracy + off).min(1.0) }),
        );
        assert_eq!(status, 204);
    }
    let s = state(&hub);
    assert_eq!(
        s.students
            .iter()
            .map(|s| format!("{:?}", s.canary))
            .collect::<Vec<_>>(),
        ["Passed", "Passed", "Failed"]
    );
    assert!(
        s.flags.iter().any(|f| f.contains("seat 3's canary")),
        "{:?}",
        s.flags
    );

    // A student who takes a cell and goes silent: the cell is handed out again.
    let HubWork::Cell { cell: lost, .. } = work(&hub, &students[2]) else {
        panic!("a cell")
    };
    wait_for("the silent student's lease to end", || {
        state(&hub).reissued == 1
    });
    let s = state(&hub);
    assert!(s.students[2].gone);
    assert!(
        s.flags.iter().any(|f| f.contains("handed out again")),
        "{:?}",
        s.flags
    );

    // Two students train every cell; each cell goes out once, the lost one included.
    let mut trained = Vec::new();
    let mut replicas = 0;
    loop {
        let mut progress = false;
        for s in &students[..2] {
            match work(&hub, s) {
                HubWork::Cell { cell, replica } => {
                    post(
                        &hub,
                        "/class/progress",
                        &json!({ "student": s, "step": 3, "total": 40 }),
                    );
                    let mut r = result(&class, cell, cell as f64 / 20.0);
                    if replica {
                        // Another device: other answers, close accuracies.
                        r.fingerprint = "abcd-9999".into();
                    }
                    let (status, v) = send(&hub, s, &r);
                    assert_eq!(status, 200, "{v}");
                    if replica {
                        replicas += 1;
                        assert_eq!(v["added"], "agrees");
                    } else {
                        assert_eq!(v["added"], "first");
                        trained.push(cell);
                    }
                    progress = true;
                }
                HubWork::Wait | HubWork::Done | HubWork::Canary => {}
            }
        }
        if !progress {
            break;
        }
    }
    trained.sort_unstable();
    assert_eq!(trained, (0..12).collect::<Vec<_>>());
    assert!(trained.contains(&lost));
    let expected = (0..12).filter(|&c| replicated(c, 5)).count();
    assert!(expected > 0);
    assert_eq!(replicas, expected, "the replicated cells are trained twice");
    assert_eq!(work(&hub, &students[0]), HubWork::Done);
    let s = state(&hub);
    assert_eq!((s.done, s.missing, s.disputed), (12, 0, 0));
    assert!(s.filled_seconds.is_some());
    assert_eq!(s.report.runs.len(), 12);

    // The same result again is stored once; one far from the others is kept and flagged.
    let (_, v) = send(&hub, &students[0], &result(&class, 4, 4.0 / 20.0));
    assert_eq!(v["added"], "duplicate");
    let mut far = result(&class, 4, 0.95);
    far.fingerprint = "ffff-ffff".into();
    let (_, v) = send(&hub, &students[1], &far);
    assert_eq!(v["added"], "disagrees");
    let s = state(&hub);
    assert_eq!((s.done, s.disputed, s.results), (11, 1, 12 + expected + 1));
    assert!(
        s.flags.iter().any(|f| f.starts_with("cell 4:")),
        "{:?}",
        s.flags
    );

    // Another build's result is refused with a reload message; so are other settings.
    let mut stale = result(&class, 1, 0.1);
    stale.build = "0000000000000000".into();
    let (status, v) = send(&hub, &students[0], &stale);
    assert_eq!(status, 409);
    assert!(v["error"].as_str().unwrap().contains("reload"), "{v}");
    let mut edited = result(&class, 1, 0.1);
    edited.record.config.train.learning_rate = 0.5;
    let (status, _) = send(&hub, &students[0], &edited);
    assert_eq!(status, 422);

    // Codes: one of a result the hub has is stored once; an edited one is refused by name.
    let code = ResultCode::of(&result(&class, 2, 2.0 / 20.0)).text();
    let mut changed = code.clone();
    let at = code.len() - 3;
    changed.replace_range(at..at + 1, if &code[at..at + 1] == "A" { "B" } else { "A" });
    let paste = |key: &str| {
        let response = ureq::post(&format!("{}/class/codes?key={key}", hub.url))
            .config()
            .http_status_as_error(false)
            .build()
            .content_type("text/plain")
            .send(format!("{code}\n{changed}\n"))
            .unwrap();
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap();
        (status, serde_json::from_str::<Value>(&text).unwrap())
    };
    // Only the teacher's dashboard (it has the key) adds codes.
    let (status, v) = paste("guess");
    assert_eq!(status, 403, "{v}");
    let (status, v) = paste(&hub.key);
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        (v["taken"].as_u64(), v["already"].as_u64()),
        (Some(0), Some(1)),
        "{v}"
    );
    assert!(
        v["refused"][0].as_str().unwrap().contains("checksum"),
        "{v}"
    );
    // Without the key, the state names no student and gives no dashboard link.
    let text = ureq::get(&format!("{}/class/state", hub.url))
        .call()
        .unwrap()
        .into_body()
        .read_to_string()
        .unwrap();
    let open: HubState = serde_json::from_str(&text).unwrap();
    assert!(open.teacher_url.is_empty());
    assert!(
        open.students
            .iter()
            .all(|s| s.name == format!("Seat {}", s.seat))
    );

    // Every result taken is one line of the results file.
    let lines = std::fs::read_to_string(dir.join("results.jsonl")).unwrap();
    let cells: Vec<String> = lines
        .lines()
        .map(|l| {
            let r = ClassResult::from_line(l).unwrap();
            format!("{}:{}:{}", r.cell, r.fingerprint, r.record.losses.len())
        })
        .collect();
    assert_eq!(lines.lines().count(), 12 + expected + 1, "{cells:?}");

    // Killed and started again with the same folder: it goes on where it was.
    drop(hub);
    let hub = start(&dir, &dist, &["--no-canary"]);
    let s = state(&hub);
    assert_eq!((s.done, s.disputed, s.missing), (11, 1, 0));
    let late = join(&hub);
    assert_eq!(work(&hub, &late), HubWork::Done);
    drop(hub);

    // `idp merge` reads the class's results into the sweep's files, one row per cell.
    let merged = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["merge", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        merged.status.success(),
        "{}",
        String::from_utf8_lossy(&merged.stderr)
    );
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 12, "{csv}");
    // A cut last line (the hub killed mid-write) is skipped with a warning, not fatal.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(dir.join("results.jsonl"))
        .unwrap();
    std::io::Write::write_all(&mut file, b"{\"class\":\"cut sh").unwrap();
    let merged = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["merge", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(merged.status.success());
    assert!(String::from_utf8_lossy(&merged.stderr).contains("skipped"));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::remove_dir_all(&dist).ok();
}

#[test]
fn a_hub_without_a_built_page_or_in_another_class_folder_says_what_to_do() {
    let dir = temp_dir("class-nodist");
    let output = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(["class", "--instructions", "2,4", "--out"])
        .arg(&dir)
        .args(["--dist"])
        .arg(dir.join("nothing-here"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("trunk build"), "{stderr}");
    std::fs::remove_dir_all(&dir).ok();
}

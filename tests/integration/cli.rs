//! The `idp` binary: clear errors naming the setting (never a panic), and a tiny sweep's files.

use std::process::{Command, Output};

fn idp(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(args)
        .output()
        .expect("the idp binary runs")
}

fn assert_clean_error(output: &Output, setting: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.contains(setting),
        "expected `{setting}` in: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn x_longer_than_z_is_a_named_error() {
    let output = idp(&[
        "run",
        "--backend",
        "cpu",
        "--set",
        r#"task.x_len={"min":1,"max":9}"#,
        "--set",
        r#"task.z_len={"min":2,"max":5}"#,
    ]);
    assert_clean_error(&output, "task.x_len");
}

#[test]
fn more_rules_than_the_alphabet_allows_is_a_named_error() {
    let output = idp(&[
        "run",
        "--backend",
        "cpu",
        "--set",
        "task.alphabet=2",
        "--set",
        r#"task.x_len={"min":1,"max":1}"#,
        "--set",
        r#"task.y_len={"min":1,"max":1}"#,
    ]);
    assert_clean_error(&output, "task.instructions");
}

#[test]
fn budget_below_rule_count_is_a_named_error() {
    let output = idp(&[
        "sweep",
        "--backend",
        "cpu",
        "--instructions",
        "10,500",
        "--set",
        r#"task.budget={"total":100}"#,
    ]);
    assert_clean_error(&output, "task.budget");
}

#[test]
fn unknown_setting_and_preset_are_named() {
    assert_clean_error(&idp(&["run", "--set", "task.colour=3"]), "task.colour");
    assert_clean_error(&idp(&["run", "--preset", "nope"]), "nope");
    assert_clean_error(
        &idp(&["run", "--set", "task.alphabet=many"]),
        "task.alphabet",
    );
}

#[test]
fn a_tiny_sweep_writes_one_csv_row_per_run() {
    let out = std::env::temp_dir().join(format!("idp-cli-sweep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = idp(&[
        "sweep",
        "--backend",
        "cpu",
        "--instructions",
        "2,8",
        "--seeds",
        "3",
        "--steps",
        "4",
        "--set",
        r#"model={"layers":1,"width":16,"heads":2,"ff_width":32,"max_len":64}"#,
        "--set",
        r#"eval={"test_rules":4,"seen_examples":8,"unseen_examples":8,"noop_examples":4}"#,
        "--out",
        out.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        stderr.contains("backend: CPU"),
        "the backend in use is named: {stderr}"
    );
    let csv = std::fs::read_to_string(out.join("sweep.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    for column in [
        "instructions",
        "examples_per_rule",
        "seed",
        "steps",
        "seen_accuracy",
        "unseen_accuracy",
        "noop_accuracy",
    ] {
        assert!(header.contains(&column), "missing {column} in {header:?}");
    }
    let column = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let first: Vec<&str> = lines[1].split(',').collect();
    assert_eq!(first[column("instructions")], "2");
    assert_eq!(first[column("seed")], "3");
    assert_eq!(first[column("steps")], "4");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(json["format"], "idp-sweep/1");
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn typos_in_a_config_file_are_named_and_nothing_runs() {
    let dir = std::env::temp_dir().join(format!("idp-cli-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("c.json");
    std::fs::write(
        &file,
        r#"{"train": {"learning_rat": 0.5}, "task": {"instructionz": 5}}"#,
    )
    .unwrap();
    let output = idp(&[
        "run",
        "--backend",
        "cpu",
        "--config",
        file.to_str().unwrap(),
    ]);
    assert_clean_error(&output, "train.learning_rat");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("task.instructionz"),
        "both typos are named: {stderr}"
    );
    assert!(
        String::from_utf8_lossy(&output.stdout).is_empty(),
        "nothing ran"
    );
    // The same holds for `--set` with a nested value, and for the printed config read back.
    assert_clean_error(
        &idp(&["config", "--set", r#"model={"layers":2,"widht":64}"#]),
        "model.widht",
    );
    let printed = idp(&["config", "--preset", "skew"]);
    assert!(printed.status.success());
    std::fs::write(&file, &printed.stdout).unwrap();
    let again = idp(&["config", "--config", file.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        String::from_utf8_lossy(&printed.stdout),
        "a printed config reads back the same"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Settings of a sweep that trains in a second: a tiny model, 40 steps, tiny evaluation sets.
pub(crate) const TINY: [&str; 7] = [
    "--backend",
    "cpu",
    "--steps",
    "40",
    "--set",
    r#"model={"layers":1,"width":16,"heads":2,"ff_width":32,"max_len":64}"#,
    "--set",
];
pub(crate) const TINY_EVAL: &str =
    r#"eval={"test_rules":4,"seen_examples":8,"unseen_examples":8,"noop_examples":4}"#;

/// `idp <command> <tiny settings> <more>`.
fn idp_tiny(command: &str, more: &[&str]) -> Output {
    let mut args = vec![command];
    args.extend(TINY);
    args.push(TINY_EVAL);
    args.extend(more);
    idp(&args)
}

/// The rows of a sweep's CSV without the wall-time column (the only one that may differ between
/// two runs of the same cells).
fn rows_without_wall_time(dir: &std::path::Path) -> Vec<String> {
    let csv = std::fs::read_to_string(dir.join("sweep.csv")).unwrap();
    csv.lines()
        .map(|line| line.rsplit_once(',').unwrap().0.to_string())
        .collect()
}

pub(crate) fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("idp-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn plan_cells_and_merge_make_the_sweep_that_one_process_makes() {
    let (one, split) = (temp_dir("one-process"), temp_dir("split"));
    let axes = ["--instructions", "2,8", "--seeds", "1,2"];
    let run = |command: &str, dir: &std::path::Path, more: &[&str]| {
        let mut args: Vec<&str> = axes.to_vec();
        args.extend(["--out", dir.to_str().unwrap()]);
        args.extend(more);
        idp_tiny(command, &args)
    };
    // Each cell alone, as `idp cell` trains it (stacked sweeps are compared with unstacked ones in
    // `a_stacked_sweep_finds_what_the_unstacked_one_finds`).
    let output = run("sweep", &one, &["--jobs", "2", "--no-stack"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = run("plan", &split, &["--no-estimate"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("planned 4 cells"));
    let split_arg = split.to_str().unwrap();
    // The cells in another order than the plan's, one of them twice: it is skipped.
    for index in ["3", "0", "2", "0"] {
        let output = idp(&["cell", split_arg, "--index", index, "--backend", "cpu"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let again = idp(&["cell", split_arg, "--index", "0", "--backend", "cpu"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("already has a result"));
    // One cell missing: the merge writes what there is, names the cell, and exits with 3.
    let output = idp(&["merge", split_arg]);
    assert_eq!(
        output.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1 cell(s) have no result yet: 1"),
        "{stderr}"
    );
    assert_eq!(
        rows_without_wall_time(&split).len(),
        4,
        "a header and three rows"
    );
    let missing = idp(&["merge", split_arg, "--missing"]);
    assert_eq!(String::from_utf8_lossy(&missing.stdout).trim(), "1");
    let output = idp(&["cell", split_arg, "--index", "1", "--backend", "cpu"]);
    assert!(output.status.success());
    let output = idp(&["merge", split_arg]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(rows_without_wall_time(&split), rows_without_wall_time(&one));
    let json = |dir: &std::path::Path| {
        let mut report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap())
                .unwrap();
        for run in report["runs"].as_array_mut().unwrap() {
            run["wall_seconds"] = 0.into();
        }
        report
    };
    assert_eq!(
        json(&split),
        json(&one),
        "the same sweep.json, wall times aside"
    );
    // A cell past the plan, and a folder with no plan, are named errors.
    assert_clean_error(&idp(&["cell", split_arg, "--index", "9"]), "no cell 9");
    let nowhere = temp_dir("no-plan");
    assert_clean_error(&idp(&["merge", nowhere.to_str().unwrap()]), "idp plan");
    // Another sweep into a folder of this one is refused, and nothing there changes.
    let output = idp_tiny("sweep", &["--instructions", "2,16", "--out", split_arg]);
    assert_clean_error(&output, "another sweep");
    assert_eq!(rows_without_wall_time(&split), rows_without_wall_time(&one));
    for dir in [one, split] {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// The issue's case: a file-size limit kills the sweep in the middle of writing its merged files.
/// Every file is written atomically, so the folder keeps its last complete files, and the same
/// command run again trains only what is missing and ends with the results of an uninterrupted run.
#[cfg(unix)]
#[test]
fn a_sweep_killed_while_writing_keeps_its_files_and_goes_on_with_what_is_missing() {
    let (dir, clean) = (temp_dir("killed"), temp_dir("clean"));
    let axes = ["--instructions", "4,8,16"];
    let args = |dir: &std::path::Path| {
        let mut args: Vec<String> = vec!["sweep".into()];
        args.extend(TINY.iter().map(|s| s.to_string()));
        args.push(TINY_EVAL.into());
        args.extend(axes.iter().map(|s| s.to_string()));
        args.extend(["--jobs", "1", "--out"].map(String::from));
        args.push(dir.to_str().unwrap().into());
        args
    };
    let output = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(args(&clean))
        .output()
        .unwrap();
    assert!(output.status.success());
    let full = std::fs::metadata(clean.join("sweep.json")).unwrap().len();
    // Two cells first, so the limit can sit between the merged file of two runs and of three.
    let output = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(args(&dir))
        .output()
        .unwrap();
    assert!(output.status.success());
    std::fs::remove_file(dir.join("cells/2.json")).unwrap();
    let output = idp(&["merge", dir.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3));
    let two = std::fs::metadata(dir.join("sweep.json")).unwrap().len();
    assert!(two < full, "{two} < {full}");
    let limit_kib = two.div_ceil(1024) + 1;
    assert!(
        limit_kib * 1024 < full,
        "the limit must cut the three-run file"
    );
    let script = format!("ulimit -f {limit_kib}; exec \"$0\" \"$@\"");
    let killed = Command::new("bash")
        .arg("-c")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_idp"))
        .args(&args(&dir)[..])
        .output()
        .unwrap();
    assert!(
        !killed.status.success(),
        "the file-size limit stops the sweep"
    );
    // The merged file is the last complete one (two runs), not half of the next one.
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap())
            .expect("sweep.json is whole");
    assert_eq!(report["runs"].as_array().unwrap().len(), 2);
    assert!(
        dir.join("cells/2.json").exists(),
        "the cell's own result was written first"
    );
    // Run again: nothing is trained again, and the files are those of the uninterrupted sweep.
    let again = Command::new(env!("CARGO_BIN_EXE_idp"))
        .args(args(&dir))
        .output()
        .unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("3 already done"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    assert_eq!(rows_without_wall_time(&dir), rows_without_wall_time(&clean));
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".tmp"))
        .collect();
    assert!(
        leftovers.len() <= 1,
        "at most the killed write's temporary file: {leftovers:?}"
    );
    for dir in [dir, clean] {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// A sweep stopped by the scheduler (SIGTERM) checkpoints its cells; run again, they go on from
/// their checkpoints and end where an uninterrupted sweep ends.
#[cfg(unix)]
#[test]
fn a_stopped_sweep_checkpoints_its_cells_and_goes_on_from_them() {
    // Two threads: each cell alone, checkpointed on its own.
    stopped_sweep_goes_on("2", "cells/0.checkpoint", "TERM", None);
}

/// The same with one thread, stopped by Ctrl-C (SIGINT): the two cells train as one stack,
/// checkpointed as one file.
#[cfg(unix)]
#[test]
fn a_stopped_stacked_sweep_checkpoints_its_stack_and_goes_on_from_it() {
    stopped_sweep_goes_on("1", "cells/stack-0-1.checkpoint", "INT", None);
}

/// A stopped stack, one of whose cells was then run alone to its end (`idp cell`, as a Slurm array
/// would): the sweep goes on from the stack's checkpoint for the other cell, rather than starting it
/// again, and keeps the result the lone run wrote.
#[cfg(unix)]
#[test]
fn a_stopped_stack_goes_on_after_one_of_its_cells_finished_alone() {
    stopped_sweep_goes_on("1", "cells/stack-0-1.checkpoint", "TERM", Some(1));
}

/// The latest step a checkpoint file holds (its meta is JSON text with each loss point's step), or 0
/// when there is none.
fn checkpoint_step(path: &std::path::Path) -> usize {
    let bytes = std::fs::read(path).unwrap_or_default();
    let text = String::from_utf8_lossy(&bytes);
    text.split("\"step\":")
        .skip(1)
        .filter_map(|rest| {
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// Stops a sweep with `signal` (TERM as Slurm sends it, or INT as Ctrl-C does) and checks the
/// exit status names the signal (128 + its number), the checkpoint, and the sweep run again. With
/// `finish_alone`, that cell is first run to its end by `idp cell`.
fn stopped_sweep_goes_on(jobs: &str, checkpoint: &str, signal: &str, finish_alone: Option<usize>) {
    // Tests run at once in one process: each gets its own folders.
    let tag = format!("{jobs}-{signal}-{}", finish_alone.map_or(-1, |i| i as i64));
    let (dir, clean) = (
        temp_dir(&format!("stopped-{tag}")),
        temp_dir(&format!("unstopped-{tag}")),
    );
    let sweep = |dir: &std::path::Path| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_idp"));
        command.args(["sweep", "--backend", "cpu", "--steps", "1500", "--set"]);
        command.args([
            TINY[5],
            "--set",
            TINY_EVAL,
            "--instructions",
            "4,8",
            "--jobs",
            jobs,
            "--out",
            dir.to_str().unwrap(),
        ]);
        command
    };
    assert!(sweep(&clean).output().unwrap().status.success());
    let mut stopped = sweep(&dir);
    if finish_alone.is_some() {
        // Checkpointed often, so the test can stop it past half-way (see below).
        stopped.args(["--checkpoint-minutes", "0.002"]);
    }
    let child = stopped
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until training is under way (the plan is written), then stop it as Slurm would.
    let started = std::time::Instant::now();
    while !dir.join("plan.json").exists() && started.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if finish_alone.is_some() {
        // Past half-way, going on with the stack of two trains fewer run-steps than starting the
        // waiting cell again (`resume_whole`): wait for a checkpoint there.
        let path = dir.join(checkpoint);
        while checkpoint_step(&path) < 800 && started.elapsed().as_secs() < 120 {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(checkpoint_step(&path) >= 800, "no checkpoint past step 800");
    } else {
        std::thread::sleep(std::time::Duration::from_millis(700));
    }
    Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    // 128 + the signal's number: a scheduler or script can tell SIGTERM (143) from Ctrl-C (130).
    let status = match signal {
        "TERM" => 143,
        "INT" => 130,
        other => panic!("no status known for SIG{other}"),
    };
    assert_eq!(output.status.code(), Some(status), "{stderr}");
    assert!(stderr.contains("checkpointed"), "{stderr}");
    assert!(dir.join(checkpoint).exists() || dir.join("cells/0.json").exists());
    // Files that only look like stack checkpoints (a cell named twice, another cell set) neither
    // hide nor remove the real one.
    std::fs::write(dir.join("cells/stack-0-0.checkpoint"), b"junk").unwrap();
    std::fs::write(dir.join("cells/stack-1-0.checkpoint"), b"junk").unwrap();
    let alone = finish_alone.map(|index| {
        let output = idp(&[
            "cell",
            dir.to_str().unwrap(),
            "--index",
            &index.to_string(),
            "--backend",
            "cpu",
        ]);
        assert!(output.status.success(), "{output:?}");
        let result = dir.join(format!("cells/{index}.json"));
        (index, std::fs::read(result).unwrap())
    });
    let again = sweep(&dir).output().unwrap();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("goes on from its checkpoint"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );
    let (rows, clean_rows) = (rows_without_wall_time(&dir), rows_without_wall_time(&clean));
    match alone {
        None => assert_eq!(rows, clean_rows),
        Some((index, result)) => {
            // The lone run's result is kept as it was; the stack's other cell resumed, so its row
            // is the uninterrupted sweep's (row 0 is the header).
            let written = std::fs::read(dir.join(format!("cells/{index}.json"))).unwrap();
            assert!(written == result, "cell {index}'s result was rewritten");
            for (row, (got, want)) in rows.iter().zip(&clean_rows).enumerate() {
                if row != index + 1 {
                    assert_eq!(got, want, "row {row}");
                }
            }
        }
    }
    assert!(
        !dir.join(checkpoint).exists(),
        "a finished cell's checkpoint is removed"
    );
    for dir in [dir, clean] {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// Settings each within the form's bounds that no machine here can hold are refused before anything
/// is allocated, with the estimate, the limit and the settings to lower; not a crash.
#[test]
fn an_oversized_model_is_refused_with_its_estimate_before_it_allocates() {
    let output = idp(&[
        "run",
        "--backend",
        "cpu",
        "--set",
        "model.layers=12",
        "--set",
        "model.width=1024",
        "--set",
        "model.heads=8",
        "--set",
        "model.ff_width=8192",
        "--set",
        "train.batch_size=4096",
    ]);
    assert_clean_error(&output, "train.batch_size");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("this run needs about") && stderr.contains("this machine's memory"),
        "{stderr}"
    );
    assert!(!stderr.contains("memory allocation"), "{stderr}");
}

/// Stacking is a way to compute, not a different experiment: a sweep of stacked cells writes the
/// rows an unstacked sweep writes (accuracies within 0.02, losses within 1e-3 relative: kernels may
/// sum in another order).
#[test]
fn a_stacked_sweep_finds_what_the_unstacked_one_finds() {
    let (stacked, alone) = (temp_dir("stacked"), temp_dir("alone"));
    let run = |dir: &std::path::Path, more: &[&str]| {
        let mut args = vec!["--instructions", "2,8", "--seeds", "1,2", "--jobs", "1"];
        args.extend(["--out", dir.to_str().unwrap()]);
        args.extend(more);
        let output = idp_tiny("sweep", &args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    let output = run(&stacked, &[]);
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("stacks of 4 cells"),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    run(&alone, &["--no-stack"]);
    let runs = |dir: &std::path::Path| -> Vec<serde_json::Value> {
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap())
                .unwrap();
        report["runs"].as_array().unwrap().clone()
    };
    let (stacked_runs, alone_runs) = (runs(&stacked), runs(&alone));
    assert_eq!(stacked_runs.len(), 4);
    for (s, a) in stacked_runs.iter().zip(&alone_runs) {
        assert_eq!(s["config"], a["config"]);
        assert_eq!(s["labels"], a["labels"]);
        for key in ["seen_accuracy", "unseen_accuracy", "noop_accuracy"] {
            let (x, y) = (
                s["result"][key].as_f64().unwrap(),
                a["result"][key].as_f64().unwrap(),
            );
            assert!((x - y).abs() <= 0.02, "{key}: {x} stacked, {y} alone");
        }
        let (x, y) = (
            s["final_loss"].as_f64().unwrap(),
            a["final_loss"].as_f64().unwrap(),
        );
        assert!(
            (x - y).abs() <= 1e-3 * x.abs().max(y.abs()),
            "loss {x} stacked, {y} alone"
        );
    }
    for dir in [stacked, alone] {
        std::fs::remove_dir_all(dir).ok();
    }
}

/// `idp bench --sweep` measures each way of training the `phase-transition` sweep and ends with
/// the speedup line; `--stacks` measures stacks of K runs beside one alone.
#[test]
fn the_sweep_bench_prints_each_way_and_the_speedup() {
    let output = idp(&[
        "bench", "--sweep", "--steps", "2", "--warmup", "1", "--jobs", "2",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for way in [
        "one after another",
        "stacked (1 stack of 5)",
        "alone, 2 at a time",
        "stacked on every core (2 stacks: 3+2)",
    ] {
        assert!(stdout.contains(way), "{way}: {stdout}");
    }
    let last = stdout.lines().last().unwrap();
    let speedup: f64 = last
        .strip_prefix("sweep speedup: ")
        .and_then(|v| v.strip_suffix('x'))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("last line: {last}"));
    assert!(
        speedup >= 1.0,
        "the best is at least the baseline: {speedup}"
    );
    // Values that cannot be measured are named errors.
    for (args, named) in [
        (vec!["--stacks", "0"], "--stacks"),
        (vec!["--stacks", "2", "--steps", "0"], "--steps"),
        (vec!["--sweep", "--jobs", "0"], "--jobs"),
        (vec!["--stacks", "2", "--only", "torch"], "--only"),
        (
            vec!["--stacks", "100000", "--only", "cpu"],
            "--stacks 100000",
        ),
        // A typo or nothing at all is not an empty table.
        (vec!["--only", "gpu"], "--only"),
        (vec!["--only", ""], "--only"),
        // `--launches` counts the reference model on wgpu: other choices would be ignored.
        (vec!["--launches", "--only", "cpu"], "--only"),
        (vec!["--launches", "--model", "paper"], "--model"),
        (vec!["--batch", "0", "--only", "cpu"], "--batch"),
        (
            vec!["--warmup", "18446744073709551615", "--only", "cpu"],
            "--warmup",
        ),
    ] {
        let mut all = vec!["bench"];
        all.extend(args);
        assert_clean_error(&idp(&all), named);
    }
    let output = idp(&[
        "bench", "--stacks", "2,3", "--only", "cpu", "--steps", "2", "--warmup", "1",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    let rows: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with(['1', '2', '3']))
        .collect();
    assert_eq!(rows.len(), 3, "one alone, then 2 and 3: {stdout}");
}

/// `idp bench` runs with fewer steps than the reference run's learning-rate warm-up (a short bench
/// is a valid run), times burn's own ops beside the fused kernels, and `--launches` counts a
/// training step's kernels on wgpu (skipped where no adapter exists, unless IDP_REQUIRE_WGPU).
#[test]
fn a_short_bench_times_both_cpu_paths_and_counts_kernel_launches() {
    let output = idp(&["bench", "--only", "cpu", "--steps", "2", "--warmup", "1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "burn's ops",
        "fused kernels",
        "fused kernels / burn's ops: ",
    ] {
        assert!(stdout.contains(line), "{line}: {stdout}");
    }
    let output = idp(&["bench", "--launches", "--steps", "1", "--warmup", "1"]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() && std::env::var_os("IDP_REQUIRE_WGPU").is_none() {
        eprintln!("skipped --launches: {stderr}");
        return;
    }
    assert!(output.status.success(), "{stdout}{stderr}");
    let per_step: f64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("kernel launches per training step: "))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no count: {stdout}"));
    // A step of two layers launches hundreds of kernels, fused or not: a count near zero means the
    // observer saw nothing.
    assert!(per_step > 100.0, "{per_step}: {stdout}");
}

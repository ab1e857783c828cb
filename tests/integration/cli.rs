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

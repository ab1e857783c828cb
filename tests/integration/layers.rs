//! The house's floors: the engine imports nothing from `study`, `page` or `protocol`, nor any web
//! crate; `study` imports nothing from `page` or `protocol`; `protocol` nothing from `page`. A file
//! that imports upwards fails this test with its name and line.

use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a readable directory").path();
        if path.is_dir() {
            found.extend(sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
    found
}

/// The lines of the files below `src/<floor>` (or the file `src/<floor>.rs`) that name any of
/// `forbidden`, as `file:line: text`.
fn upward_imports(floor: &str, forbidden: &[&str]) -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let dir = src.join(floor);
    let files = if dir.is_dir() {
        sources(&dir)
    } else {
        vec![src.join(format!("{floor}.rs"))]
    };
    assert!(!files.is_empty(), "no sources in {floor}");
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("a readable source");
        for (number, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if let Some(name) = forbidden.iter().find(|name| code.contains(*name)) {
                found.push(format!(
                    "{}:{}: `{name}` in: {}",
                    file.strip_prefix(&src).unwrap_or(&file).display(),
                    number + 1,
                    line.trim()
                ));
            }
        }
    }
    found
}

const WEB_CRATES: [&str; 6] = [
    "web_sys",
    "js_sys",
    "wasm_bindgen",
    "yew",
    "gloo",
    "wasm_bindgen_futures",
];

#[test]
fn the_engine_imports_no_floor_above_it_and_no_web_crate() {
    let mut forbidden = vec!["crate::study", "crate::page", "crate::protocol"];
    forbidden.extend(WEB_CRATES);
    let found = upward_imports("engine", &forbidden);
    assert!(
        found.is_empty(),
        "the engine imports upwards:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_study_layer_imports_only_the_engine() {
    let mut forbidden = vec!["crate::page", "crate::protocol"];
    forbidden.extend(WEB_CRATES);
    let found = upward_imports("study", &forbidden);
    assert!(
        found.is_empty(),
        "study imports upwards:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_protocol_and_the_page_logic_import_no_web_crate_and_the_protocol_no_page() {
    let mut forbidden = vec!["crate::page"];
    forbidden.extend(WEB_CRATES);
    let found = upward_imports("protocol", &forbidden);
    assert!(
        found.is_empty(),
        "the protocol imports upwards:\n{}",
        found.join("\n")
    );
    let found = upward_imports("page", &WEB_CRATES);
    assert!(
        found.is_empty(),
        "the page logic imports web crates:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_finds_an_upward_import() {
    // The check itself: the page does import the study layer, so looking for it there finds lines.
    assert!(!upward_imports("page", &["crate::study"]).is_empty());
}

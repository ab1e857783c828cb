//! Names this build: a hash of every source file that goes into the page (the crate's sources, the
//! web files, the vendored crates, the lock file), as the `IDP_BUILD` environment variable that
//! `instruction_diversity::BUILD` reads. The page and its worker are two wasm binaries built from
//! one crate: both carry the same name when they come from one build, and the page refuses a
//! worker that carries another (a host that cached the worker's fixed-name files across a deploy).
//! A content hash rather than a git commit: a build from a tarball, or with local changes, is named
//! too, and two builds of the same sources get the same name.

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

const INPUTS: [&str; 8] = [
    "src",
    "www",
    "vendor",
    "Cargo.toml",
    "Cargo.lock",
    "index.html",
    "Trunk.toml",
    "build.rs",
];

fn files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        entries.sort();
        for entry in entries {
            files(&entry, out);
        }
    } else if path.is_file() {
        out.push(path.to_path_buf());
    }
}

fn main() {
    let mut all = Vec::new();
    for input in INPUTS {
        println!("cargo:rerun-if-changed={input}");
        files(Path::new(input), &mut all);
    }
    // SipHash with fixed keys: the same sources give the same name on every machine.
    let mut hasher = DefaultHasher::new();
    for file in &all {
        hasher.write(file.to_string_lossy().replace('\\', "/").as_bytes());
        hasher.write(&std::fs::read(file).unwrap_or_default());
    }
    println!("cargo:rustc-env=IDP_BUILD={:016x}", hasher.finish());
}

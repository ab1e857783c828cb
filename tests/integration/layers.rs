//! The house's floors (see `ARCHITECTURE.md`): the engine imports no floor above it; the study
//! layer only the engine; the protocol nothing of the session or the page; the session nothing of
//! the page; the page nothing of the session; and none of them a web crate. Every file is parsed
//! (`syn`) and every path it names is resolved against its module, so grouped imports
//! (`use crate::{page, ...}`), `super::` chains, paths written inline in code and paths inside
//! macro calls are all seen. A file that reaches upwards fails the test with its name and line.

use proc_macro2::{TokenStream, TokenTree};
use std::path::{Path, PathBuf};
use syn::spanned::Spanned;
use syn::visit::Visit;

/// The crate's floors, each with the floors it must not reach.
const FLOORS: [(&str, &[&str]); 5] = [
    ("engine", &["study", "protocol", "session", "page"]),
    ("study", &["protocol", "session", "page"]),
    ("protocol", &["session", "page"]),
    ("session", &["page"]),
    ("page", &["session"]),
];

/// Crates that only the browser's binaries may use.
const WEB_CRATES: [&str; 6] = [
    "web_sys",
    "js_sys",
    "wasm_bindgen",
    "wasm_bindgen_futures",
    "yew",
    "gloo",
];

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

/// The module path of a file below `src/`: `engine/task/rule.rs` is `engine::task::rule`,
/// `engine/mod.rs` is `engine`.
fn module_of(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// Every path a file names, with its line: `use` trees flattened, paths in code, and `a::b`
/// sequences inside macro calls (whose bodies `syn` does not parse).
#[derive(Default)]
struct Paths(Vec<(Vec<String>, usize)>);

impl Paths {
    fn use_tree(&mut self, prefix: &[String], tree: &syn::UseTree, line: usize) {
        let with = |name: String| {
            let mut path = prefix.to_vec();
            path.push(name);
            path
        };
        match tree {
            syn::UseTree::Path(p) => self.use_tree(&with(p.ident.to_string()), &p.tree, line),
            syn::UseTree::Name(n) => self.0.push((with(n.ident.to_string()), line)),
            syn::UseTree::Rename(r) => self.0.push((with(r.ident.to_string()), line)),
            syn::UseTree::Glob(_) => self.0.push((prefix.to_vec(), line)),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree, line);
                }
            }
        }
    }

    fn tokens(&mut self, tokens: TokenStream) {
        let trees: Vec<TokenTree> = tokens.into_iter().collect();
        let mut i = 0;
        while i < trees.len() {
            if let TokenTree::Group(group) = &trees[i] {
                self.tokens(group.stream());
            }
            // `ident :: ident (:: ident)*`
            let mut path = Vec::new();
            let mut j = i;
            while let Some(TokenTree::Ident(ident)) = trees.get(j) {
                path.push(ident.to_string());
                let colons = matches!(
                    (trees.get(j + 1), trees.get(j + 2)),
                    (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                        if a.as_char() == ':' && b.as_char() == ':'
                );
                if !colons {
                    break;
                }
                j += 3;
            }
            if path.len() > 1 {
                self.0.push((path, trees[i].span().start().line));
                i = j.max(i + 1);
            } else {
                i += 1;
            }
        }
    }
}

impl<'ast> Visit<'ast> for Paths {
    fn visit_item_use(&mut self, item: &'ast syn::ItemUse) {
        self.use_tree(&[], &item.tree, item.span().start().line);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let names = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.0.push((names, path.span().start().line));
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        self.tokens(mac.tokens.clone());
        syn::visit::visit_macro(self, mac);
    }
}

/// Where a path leads: `Ok(module path)` inside this crate, `Err(crate name)` outside it (or an
/// item of the module itself, which names no floor).
fn resolve(path: &[String], module: &[String]) -> Result<Vec<String>, String> {
    let (first, rest) = path.split_first().ok_or_else(String::new)?;
    match first.as_str() {
        "crate" | "instruction_diversity" => Ok(rest.to_vec()),
        "self" => Ok(module.iter().chain(rest).cloned().collect()),
        "super" => {
            let mut base = module.to_vec();
            let mut rest = path;
            while let Some(("super", tail)) = rest.split_first().map(|(f, t)| (f.as_str(), t)) {
                base.pop();
                rest = tail;
            }
            Ok(base.into_iter().chain(rest.iter().cloned()).collect())
        }
        other => Err(other.to_string()),
    }
}

/// What `text`, the file `relative` below `src/`, reaches that its floor must not, as
/// `file:line: reason` lines.
fn violations(relative: &Path, text: &str) -> Vec<String> {
    let module = module_of(relative);
    let Some((_, forbidden)) = FLOORS
        .iter()
        .find(|(floor, _)| module.first().is_some_and(|m| m == floor))
    else {
        return Vec::new();
    };
    let file = syn::parse_file(text).unwrap_or_else(|e| panic!("{}: {e}", relative.display()));
    let mut paths = Paths::default();
    paths.visit_file(&file);
    let mut found: Vec<String> = paths
        .0
        .into_iter()
        .filter_map(|(path, line)| {
            let why = match resolve(&path, &module) {
                Ok(target) => {
                    let floor = target.first()?;
                    forbidden
                        .contains(&floor.as_str())
                        .then(|| format!("reaches the `{floor}` floor"))?
                }
                Err(krate) => WEB_CRATES
                    .contains(&krate.as_str())
                    .then(|| format!("uses the web crate `{krate}`"))?,
            };
            Some(format!(
                "{}:{line}: {why} through `{}`",
                relative.display(),
                path.join("::")
            ))
        })
        .collect();
    found.dedup();
    found
}

/// The violations of every file of the crate's library.
fn all_violations() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    for path in sources(&src) {
        let relative = path.strip_prefix(&src).expect("below src");
        if relative.starts_with("bin") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("a readable source");
        found.extend(violations(relative, &text));
    }
    found
}

#[test]
fn every_floor_imports_only_the_floors_below_it_and_no_web_crate() {
    let found = all_violations();
    assert!(
        found.is_empty(),
        "files reach upwards:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_every_form_of_reaching_upwards() {
    let cases = [
        // A grouped import, which a text match for `crate::page` never saw.
        (
            "engine/fake.rs",
            "use crate::{config, page::state::Action};",
            "page",
        ),
        (
            "engine/fake.rs",
            "use crate::{\n    config,\n    study,\n};",
            "study",
        ),
        // `super` chains out of the floor.
        (
            "engine/task/fake.rs",
            "use super::super::super::protocol::Event;",
            "protocol",
        ),
        // A path written inline, and one inside a macro call.
        (
            "study/fake.rs",
            "fn f() { let _ = crate::page::link::parse(\"\"); }",
            "page",
        ),
        (
            "session/fake.rs",
            "fn f(e: &E) -> bool { matches!(e, crate::page::state::Action::Ask { .. }) }",
            "page",
        ),
        ("page/fake.rs", "use crate::session::Session;", "session"),
        (
            "protocol.rs",
            "use crate::{engine, session::Host};",
            "session",
        ),
        ("page/fake.rs", "use web_sys::Window;", "web_sys"),
        (
            "engine/fake.rs",
            "use ::instruction_diversity::study::presets;",
            "study",
        ),
    ];
    for (file, text, reached) in cases {
        let found = violations(Path::new(file), text);
        assert!(
            found.iter().any(|v| v.contains(reached)),
            "{file}: `{text}` was not caught: {found:?}"
        );
    }
    // What is allowed stays allowed: downward imports, the module's own items, other crates.
    let allowed = [
        (
            "page/fake.rs",
            "use crate::{engine::config, study::record, protocol::Event};",
        ),
        (
            "session/fake.rs",
            "use super::kept::Kept; use crate::protocol::Command;",
        ),
        (
            "engine/task/fake.rs",
            "use super::rule::Rule; use serde::Serialize;",
        ),
    ];
    for (file, text) in allowed {
        assert_eq!(
            violations(Path::new(file), text),
            Vec::<String>::new(),
            "{file}"
        );
    }
}

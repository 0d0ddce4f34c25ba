//! The folder layout is the architecture: each module of `bench/src` imports only the
//! pipeline stages below it, and no two files of one folder import each other.
//!
//! The test reads every non-test line of `bench/src` that names `crate::…` or `super::…`
//! (a `use`, or a path written inline) and checks it against [`STAGES`]. A new module must
//! be given a stage here; an import of a later stage fails with the file and line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The stages of `bench/src`, lowest first. A module may import its own stage and the
/// stages before it, never one after it.
const STAGES: &[&[&str]] = &[
    &["fs", "environment", "profile", "source_path"],
    &["child"],
    &["client"],
    &["measure"],
    &["model", "verdict"],
    &["target"],
    &["description"],
    &["scenario"],
    &["runner"],
    &["requests"],
    &["drive"],
    &["ladder"],
    &["gate"],
    &["report"],
    &["baseline"],
    &["bench_compare"],
    &["cli"],
];

fn stage_of(module: &str) -> Option<usize> {
    STAGES.iter().position(|stage| stage.contains(&module))
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The lines of a file before its `#[cfg(test)]` module, without comments.
fn code_lines(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .enumerate()
        .take_while(|(_, line)| !line.starts_with("#[cfg(test)]"))
        .map(|(i, line)| (i + 1, line.split("//").next().unwrap_or("").to_owned()))
        .collect()
}

/// The identifiers that follow `prefix` on `line` (`crate::a::b` → `a`).
fn names_after<'a>(line: &'a str, prefix: &str) -> Vec<&'a str> {
    line.match_indices(prefix)
        .filter(|(at, _)| !line[..*at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == ':'))
        .filter_map(|(at, _)| {
            let rest = &line[at + prefix.len()..];
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (end > 0).then(|| &rest[..end])
        })
        .collect()
}

/// `module` of `bench/src/module/...` or `bench/src/module.rs`; `None` for `lib.rs` and `bin/`.
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "bin" => None,
        name => Some(name.trim_end_matches(".rs").to_owned()),
    }
}

#[test]
fn every_module_imports_only_earlier_stages() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut back_arrows = Vec::new();
    for file in rust_files(&src) {
        let Some(module) = top_module(&src, &file) else {
            continue;
        };
        let Some(own) = stage_of(&module) else {
            panic!(
                "{}: module `{module}` has no stage in STAGES; give it one",
                file.display()
            );
        };
        for (number, line) in code_lines(&file) {
            for used in names_after(&line, "crate::") {
                let stage = stage_of(used)
                    .unwrap_or_else(|| panic!("{}:{number}: unknown module crate::{used}", file.display()));
                if stage > own {
                    back_arrows.push(format!(
                        "{}:{number}: {module} imports later stage {used}",
                        file.display()
                    ));
                }
            }
        }
    }
    assert!(
        back_arrows.is_empty(),
        "imports of later stages:\n{}",
        back_arrows.join("\n")
    );
}

#[test]
fn no_folder_has_an_import_cycle() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    // folder → file stem → sibling stems it imports
    let mut graphs: BTreeMap<PathBuf, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for file in rust_files(&src) {
        let (Some(dir), Some(stem)) = (file.parent(), file.file_stem().and_then(|s| s.to_str())) else {
            continue;
        };
        if stem == "tests" || stem == "mod" || stem == "lib" {
            continue;
        }
        let folder = dir.strip_prefix(&src).unwrap_or(dir).to_owned();
        let folder_path: Vec<String> = folder.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        let crate_prefix = format!("crate::{}::", folder_path.join("::"));
        let mut imports = BTreeSet::new();
        for (_, line) in code_lines(&file) {
            let mut siblings = names_after(&line, "super::");
            if !folder_path.is_empty() {
                siblings.extend(names_after(&line, &crate_prefix));
            }
            // `use super::{a, b}` lists siblings in braces.
            if let Some(list) = line.split("super::{").nth(1) {
                siblings.extend(list.split(['}', ',']).map(str::trim).filter(|s| !s.is_empty()));
            }
            imports.extend(
                siblings
                    .into_iter()
                    .map(|s| {
                        s.trim_start_matches("self::")
                            .split("::")
                            .next()
                            .unwrap_or("")
                            .to_owned()
                    })
                    .filter(|s| s != stem),
            );
        }
        graphs.entry(folder).or_default().insert(stem.to_owned(), imports);
    }
    for (folder, graph) in &graphs {
        if let Some(cycle) = find_cycle(graph) {
            panic!(
                "bench/src/{}: import cycle {}",
                folder.display(),
                cycle.join(" → ")
            );
        }
    }
}

/// A cycle among the files of one folder, if any (depth-first search).
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph
            .get(node)
            .into_iter()
            .flatten()
            .filter(|n| graph.contains_key(*n))
        {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_checks_catch_a_back_arrow_and_a_cycle() {
    assert_eq!(
        names_after("use crate::model::{A}; x::crate::no", "crate::"),
        ["model"]
    );
    assert!(stage_of("gate") > stage_of("model"));
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("run".to_owned(), BTreeSet::from(["phases".to_owned()])),
        ("phases".to_owned(), BTreeSet::from(["run".to_owned()])),
    ]
    .into();
    assert_eq!(find_cycle(&graph).unwrap(), ["phases", "run", "phases"]);
}

//! The client's modules import each other one way only: no import circle in `src/` (issue 16).
//!
//! Reads the sources and takes every `crate::<module>` path outside comments as an edge to that
//! module, and every `crate::<Item>` to the module `lib.rs` re-exports it from; the items of a
//! grouped `use crate::{…}` count one by one, and `super::<module>` inside a directory module
//! is an edge to that sibling. The generated client (`include!`d in `lib.rs` as `generated`)
//! reaches what `build.rs` makes it name. An edge to `lib` itself (an item defined there) would
//! reach every module, and is refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, with its module path (`call`, `bulk`, `bulk::run`).
fn modules(dir: &Path, prefix: &str, out: &mut BTreeMap<String, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let stem = path.file_stem().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            modules(&path, &format!("{prefix}{stem}::"), out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let name = match (prefix, stem.as_str()) {
                ("", "lib") => "lib".to_owned(),
                (_, "mod") => prefix.trim_end_matches("::").to_owned(),
                _ => format!("{prefix}{stem}"),
            };
            out.insert(name, path);
        }
    }
}

/// The top-level names of a `{…}` group: `a::b, C, d::{e, f}` gives `a`, `C`, `d`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let (mut depth, mut start) = (0, 0);
    let bytes = group.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'{' => depth += 1,
            b'}' if depth == 0 => {
                heads.push(group[start..i].to_owned());
                return heads.into_iter().map(|h| head(&h)).collect();
            }
            b'}' => depth -= 1,
            b',' if depth == 0 => {
                heads.push(group[start..i].to_owned());
                start = i + 1;
            }
            _ => {}
        }
    }
    heads.push(group[start..].to_owned());
    heads.into_iter().map(|h| head(&h)).collect()
}

fn head(path: &str) -> String {
    let path = path.trim();
    let end = path
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(path.len());
    path[..end].to_owned()
}

/// The text of a file with comments dropped, joined on one line (so that a `use crate::{…}`
/// over several lines reads as one), without its unit tests (`#[cfg(test)] mod tests`, at the
/// end of a file by this crate's convention: tests may reach any module).
fn code(text: &str) -> String {
    let text = text
        .split("#[cfg(test)]\nmod tests {")
        .next()
        .unwrap_or_default();
    let mut out = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("//") {
            continue;
        }
        let line = line.split(" //").next().unwrap_or_default();
        out.push_str(line);
        out.push(' ');
    }
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = BTreeMap::new();
    modules(&root.join("src"), "", &mut files);
    let names: BTreeSet<String> = files.keys().cloned().collect();
    let lib = code(&std::fs::read_to_string(&files["lib"]).unwrap());
    // `pub use module::{A, B};` and `pub use module::A;` in lib.rs: item → module.
    let mut reexports: BTreeMap<String, String> = BTreeMap::new();
    for stmt in lib.split(';') {
        let stmt = stmt.trim();
        let Some(path) = stmt.strip_prefix("pub use ") else {
            continue;
        };
        let module = head(path);
        if !names.contains(&module) {
            continue; // secrecy::ExposeSecret and the like
        }
        let rest = &path[module.len()..];
        let items = match rest.strip_prefix("::{") {
            Some(group) => group_heads(group),
            None => vec![rest.trim_start_matches("::").trim().to_owned()],
        };
        for item in items {
            reexports.insert(item, module.clone());
        }
    }
    // The generated client names what build.rs tells it to.
    let build = std::fs::read_to_string(root.join("build.rs")).unwrap();
    let mut generated = BTreeSet::new();
    for (at, _) in build.match_indices("crate::") {
        generated.insert(head(&build[at + "crate::".len()..]));
    }
    let mut graph = BTreeMap::new();
    graph.insert("generated".to_owned(), generated);
    for (name, path) in &files {
        if name == "lib" {
            continue;
        }
        let text = code(&std::fs::read_to_string(path).unwrap());
        let mut edges = BTreeSet::new();
        let resolve = |segment: &str, edges: &mut BTreeSet<String>| {
            let target = if names.contains(segment) || segment == "generated" {
                segment.to_owned()
            } else if let Some(module) = reexports.get(segment) {
                module.clone()
            } else {
                panic!(
                    "{name}: `crate::{segment}` names neither a module nor a re-export of lib.rs"
                )
            };
            if target != *name && !name.starts_with(&format!("{target}::")) {
                edges.insert(target);
            }
        };
        for (at, _) in text.match_indices("crate::") {
            let rest = &text[at + "crate::".len()..];
            match rest.strip_prefix('{') {
                Some(group) => {
                    // A trailing comma leaves an empty head.
                    for segment in group_heads(group).iter().filter(|s| !s.is_empty()) {
                        resolve(segment, &mut edges);
                    }
                }
                None => resolve(&head(rest), &mut edges),
            }
        }
        // `super::sibling` inside a directory module.
        if let Some((parent, _)) = name.rsplit_once("::") {
            for (at, _) in text.match_indices("super::") {
                let rest = &text[at + "super::".len()..];
                let segments = match rest.strip_prefix('{') {
                    Some(group) => group_heads(group),
                    None => vec![head(rest)],
                };
                for segment in segments {
                    let sibling = format!("{parent}::{segment}");
                    if names.contains(&sibling) {
                        edges.insert(sibling);
                    } else if !segment.is_empty() && segment != "*" {
                        // An item of the parent module itself: an edge to it.
                        edges.insert(parent.to_owned());
                    }
                }
            }
        }
        graph.insert(name.clone(), edges);
    }
    graph
}

/// A circle through `from`, if there is one.
fn circle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    from: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|m| m == from) {
        let mut found = path[at..].to_vec();
        found.push(from.to_owned());
        return Some(found);
    }
    if done.contains(from) {
        return None;
    }
    path.push(from.to_owned());
    for next in graph.get(from).into_iter().flatten() {
        if let Some(found) = circle(graph, next, path, done) {
            return Some(found);
        }
    }
    path.pop();
    done.insert(from.to_owned());
    None
}

#[test]
fn no_module_imports_one_that_imports_it_back() {
    let graph = graph();
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        if let Some(found) = circle(&graph, module, &mut Vec::new(), &mut done) {
            panic!("an import circle: {}", found.join(" -> "));
        }
    }
    // The call is above the attempt, never the other way round.
    assert!(graph["call"].contains("transport"));
    assert!(graph["transport"].contains("generated"));
    assert!(!graph["transport"].contains("call"));
    assert!(!graph["token"].contains("call"));
}

#[test]
fn the_graph_reader_finds_a_circle() {
    let mut graph = BTreeMap::new();
    graph.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    graph.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    graph.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    let found = circle(&graph, "a", &mut Vec::new(), &mut BTreeSet::new()).unwrap();
    assert_eq!(found, ["a", "b", "c", "a"]);
    assert_eq!(group_heads("a::b, C, d::{e, f}} rest"), ["a", "C", "d"]);
}

//! The emulator's modules import each other one way only: no import circle in `src/` (issue 16).
//!
//! Reads the sources and takes every `crate::<module>` path outside comments as an edge to that
//! module, and every `crate::<item>` path to an item of `lib.rs` as an edge to the crate root,
//! which itself reaches every module. Grouped `crate::{…}` imports and `super::` paths (other
//! than the `use super::*;` of test modules) would hide edges from this, so they are refused.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module name (the file's stem; `lib` for the root) to the modules it imports from.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&src).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            path.extension().is_some_and(|e| e == "rs"),
            "{} is not a module file: nested modules would escape this check",
            path.display()
        );
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        sources.insert(name, std::fs::read_to_string(&path).unwrap());
    }
    let modules: BTreeSet<String> = sources.keys().filter(|m| *m != "lib").cloned().collect();
    let mut graph = BTreeMap::new();
    for (name, text) in &sources {
        let mut edges = BTreeSet::new();
        if name == "lib" {
            edges.extend(modules.iter().cloned());
        }
        for line in text.lines().map(str::trim) {
            if line.starts_with("//") {
                continue;
            }
            assert!(
                !line.contains("super::") || line == "use super::*;",
                "{name}.rs: `{line}`: name the module with crate:: instead of super::"
            );
            assert!(
                !line.contains("crate::{"),
                "{name}.rs: `{line}`: one module per `use crate::…`"
            );
            for (at, _) in line.match_indices("crate::") {
                let rest = &line[at + "crate::".len()..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let target = &rest[..end];
                let target = if modules.contains(target) {
                    target
                } else {
                    "lib"
                };
                if target != name {
                    edges.insert(target.to_owned());
                }
            }
        }
        graph.insert(name.clone(), edges);
    }
    graph
}

/// A circle of imports, if there is one.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
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
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(graph, next, path, done) {
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
        .find_map(|node| visit(graph, node, &mut Vec::new(), &mut done))
}

#[test]
fn module_imports_form_no_circle() {
    let graph = module_graph();
    assert!(graph.len() > 2, "read the sources: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import circle: {}", cycle.join(" -> "));
    }
}

#[test]
fn the_circle_finder_finds_circles() {
    let graph = |edges: &[(&str, &str)]| {
        let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (from, to) in edges {
            g.entry((*from).to_owned())
                .or_default()
                .insert((*to).to_owned());
        }
        g
    };
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("b", "c"), ("c", "a")])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    assert_eq!(
        find_cycle(&graph(&[("a", "b"), ("a", "c"), ("b", "c")])),
        None
    );
}

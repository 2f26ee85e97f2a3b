//! The layering rule of DESIGN.md, checked on the source: no file of `src/` imports another
//! that imports it back, directly or through others (types sit below their users).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path (`["dispatch", "breaker"]`) → its file's text, without its unit tests.
fn modules() -> BTreeMap<Vec<String>, String> {
    let mut out = BTreeMap::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel
                .iter()
                .map(|p| p.to_string_lossy().into_owned())
                .collect();
            if matches!(
                parts.last().map(String::as_str),
                Some("mod" | "lib" | "main")
            ) {
                parts.pop();
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let text = text.split("#[cfg(test)]").next().unwrap_or("").to_owned();
            out.insert(parts, text);
        }
    }
    out
}

/// The files each file names through `crate::` paths (`use crate::{a, b::c}` included).
fn imports(
    modules: &BTreeMap<Vec<String>, String>,
) -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let path = regex::Regex::new(r"crate::((?:[a-z_][a-z0-9_]*::)*[a-z_][a-z0-9_]*)").unwrap();
    let group = regex::Regex::new(r"use crate::\{([^;]*)\};").unwrap();
    let resolve = |segments: Vec<&str>| {
        (1..=segments.len()).rev().find_map(|n| {
            let key: Vec<String> = segments[..n].iter().map(|s| (*s).to_owned()).collect();
            modules.contains_key(&key).then_some(key)
        })
    };
    let mut edges = BTreeMap::new();
    for (module, text) in modules {
        let mut named: Vec<Vec<&str>> = path
            .captures_iter(text)
            .map(|c| c.get(1).unwrap().as_str().split("::").collect())
            .collect();
        for c in group.captures_iter(text) {
            for item in c.get(1).unwrap().as_str().split(',') {
                let item = item.trim().split("::{").next().unwrap_or("");
                if !item.is_empty() {
                    named.push(item.split("::").collect());
                }
            }
        }
        let targets: BTreeSet<Vec<String>> = named
            .into_iter()
            .filter_map(resolve)
            // a module may use its own parents' items (e.g. `crate::config` from `config/raw`)
            .filter(|t| t != module && !module.starts_with(t))
            .collect();
        edges.insert(module.clone(), targets);
    }
    edges
}

/// Groups of two or more files that import each other in a circle.
fn cycles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<String>> {
    // files that reach each other, by a search from every file (the tree is small)
    let reach = |from: &Vec<String>| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for t in edges.get(&m).into_iter().flatten() {
                if seen.insert(t.clone()) {
                    todo.push(t.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<_, _> = edges.keys().map(|m| (m.clone(), reach(m))).collect();
    let mut groups: Vec<Vec<String>> = Vec::new();
    let mut placed = BTreeSet::new();
    for (m, r) in &reaches {
        if placed.contains(m) || !r.contains(m) {
            continue;
        }
        let group: Vec<String> = r
            .iter()
            .filter(|o| reaches[*o].contains(m))
            .map(|o| {
                placed.insert(o.clone());
                o.join("/")
            })
            .collect();
        groups.push(group);
    }
    groups
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let modules = modules();
    assert!(modules.len() > 50, "found {} files", modules.len());
    let edges = imports(&modules);
    // the check itself sees edges: the pipeline reads the config
    assert!(edges[&vec!["pipeline".to_owned()]].contains(&vec!["config".to_owned()]));
    let circles = cycles(&edges);
    assert!(circles.is_empty(), "import circles: {circles:?}");
}

#[test]
fn a_planted_circle_is_found() {
    let mut modules = BTreeMap::new();
    modules.insert(vec!["a".to_owned()], "use crate::b::Thing;".to_owned());
    modules.insert(vec!["b".to_owned()], "use crate::{c::X, d};".to_owned());
    modules.insert(vec!["c".to_owned()], "fn f() { crate::a::g() }".to_owned());
    modules.insert(vec!["d".to_owned()], String::new());
    let circles = cycles(&imports(&modules));
    assert_eq!(circles, vec![vec!["a", "b", "c"]]);
}

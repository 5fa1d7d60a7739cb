//! No two modules of the crate use each other, directly or through
//! others: the crate's modules form a tree of concerns with dependencies
//! one way. Read from the sources (their non-test part, comments left
//! out): a module uses another when it names it by a `crate::` or
//! `super::` path, or a child of its own by a relative path.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Module path ("datapath::tunnel") -> its source, test modules cut.
fn modules() -> BTreeMap<String, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.clone()];
    while let Some(d) = dirs.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                if !p.ends_with("bin") {
                    dirs.push(p);
                }
                continue;
            }
            if p.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = p.strip_prefix(&root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into()).collect();
            if parts.last().is_some_and(|l| l == "mod") {
                parts.pop();
            }
            if parts == ["lib"] {
                continue;
            }
            let text = std::fs::read_to_string(&p).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String = code
                .lines()
                .map(|l| l.split("//").next().unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
                .replace("pub(super)", "pub")
                .replace("pub(crate)", "pub");
            out.insert(parts.join("::"), code);
        }
    }
    out
}

/// The paths `crate::a::b` and `super::c` that `code` names, as words.
fn paths(code: &str) -> Vec<Vec<&str>> {
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut out = Vec::new();
    for (i, _) in code
        .match_indices("crate::")
        .chain(code.match_indices("super::"))
    {
        if code[..i]
            .chars()
            .next_back()
            .is_some_and(|c| word(c) || c == ':')
        {
            continue;
        }
        let rest = &code[i..];
        let mut parts = Vec::new();
        for seg in rest.split("::") {
            let end = seg.find(|c: char| !word(c)).unwrap_or(seg.len());
            if end > 0 {
                parts.push(&seg[..end]);
            }
            if end == 0 || end != seg.len() {
                break;
            }
        }
        out.push(parts);
    }
    out
}

/// The module that path `p`, named in module `m`, lands in.
fn resolve(m: &str, p: &[&str], mods: &BTreeMap<String, String>) -> Option<String> {
    let mut cur: Vec<&str> = if p.first() == Some(&"crate") {
        Vec::new()
    } else {
        m.split("::").collect()
    };
    let mut rest = p;
    if rest.first() == Some(&"crate") {
        rest = &rest[1..];
    }
    while rest.first() == Some(&"super") {
        cur.pop();
        rest = &rest[1..];
    }
    (0..=rest.len()).rev().find_map(|n| {
        let mut c = cur.clone();
        c.extend(&rest[..n]);
        let name = c.join("::");
        mods.contains_key(&name).then_some(name)
    })
}

fn edges(mods: &BTreeMap<String, String>) -> BTreeMap<&str, BTreeSet<String>> {
    let mut e: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (m, code) in mods {
        let set = e.entry(m).or_default();
        for p in paths(code) {
            if let Some(t) = resolve(m, &p, mods).filter(|t| t != m) {
                set.insert(t);
            }
        }
        // A child named by a relative path: `vxlan::write4`, `use tables::X`.
        for c in mods.keys() {
            let Some(name) = c
                .strip_prefix(&format!("{m}::"))
                .filter(|n| !n.contains("::"))
            else {
                continue;
            };
            let pat = format!("{name}::");
            let used = code.match_indices(&pat).any(|(i, _)| {
                !code[..i]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            });
            if used {
                set.insert(c.clone());
            }
        }
    }
    e
}

/// A cycle through `start`, if any, as the modules along it.
fn cycle_from(start: &str, e: &BTreeMap<&str, BTreeSet<String>>) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((m, path)) = stack.pop() {
        for t in e.get(m.as_str()).into_iter().flatten() {
            if t == start {
                return Some(path);
            }
            if seen.insert(t.clone()) {
                let mut p = path.clone();
                p.push(t.clone());
                stack.push((t.clone(), p));
            }
        }
    }
    None
}

#[test]
fn no_modules_use_each_other_in_a_circle() {
    let mods = modules();
    assert!(
        mods.contains_key("datapath::tunnel::vxlan"),
        "{:?}",
        mods.keys()
    );
    let e = edges(&mods);
    // The reading finds what is there.
    assert!(e["datapath::tunnel"].contains("datapath::tunnel::vxlan"));
    assert!(e["datapath::forward"].contains("datapath::fdb"));
    let cycles: Vec<_> = mods.keys().filter_map(|m| cycle_from(m, &e)).collect();
    assert!(cycles.is_empty(), "modules in a circle: {cycles:?}");
}

//! docs/config.md lists every key the parser accepts, and no other.
//!
//! The parser is asked which keys it accepts: a config with an unknown
//! key in a section is refused with "unknown field ..., expected one of
//! `a`, `b`, ..." (serde's `deny_unknown_fields`), which names them all.

use std::collections::BTreeSet;

/// The smallest text that reaches each section's keys.
const BASE: &str = "[eal]\nargs = []\n[underlay]\nport = \"x\"\naddress = \"192.0.2.1/24\"\n";

/// The keys the parser accepts in `section` ("" for the top level).
fn accepted(section: &str) -> BTreeSet<String> {
    let text = match section {
        "" => "[zz_probe]\n".to_string(),
        "eal" => "[eal]\nzz_probe = 1\n".to_string(),
        "underlay" => format!("{BASE}zz_probe = 1\n"),
        "neighbor" | "access" | "vni" | "fdb" => format!("{BASE}[[{section}]]\nzz_probe = 1\n"),
        _ => format!("{BASE}[{section}]\nzz_probe = 1\n"),
    };
    let err = match vtep_config::Config::parse(&text) {
        Err(e) => e.to_string(),
        Ok(_) => panic!("[{section}] took an unknown key"),
    };
    let list = err
        .split_once("expected ")
        .unwrap_or_else(|| panic!("[{section}]: no list of keys in {err:?}"))
        .1;
    let keys: BTreeSet<String> = list
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|k| {
            if section.is_empty() {
                k.to_string()
            } else {
                format!("{section}.{k}")
            }
        })
        .collect();
    assert!(!keys.is_empty(), "[{section}]: {err}");
    keys
}

/// The keys in the first column of the reference's tables.
fn documented() -> BTreeSet<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/config.md"))
        .expect("docs/config.md");
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`'))
        .map(|(k, _)| k.to_string())
        .collect()
}

#[test]
fn the_reference_lists_every_key_the_parser_accepts_and_no_other() {
    let top = accepted("");
    let mut keys = top.clone();
    for section in &top {
        keys.extend(accepted(section));
    }
    // Every section, and some keys of each, were found.
    assert!(keys.contains("vni.flood_pps") && keys.contains("dataplane.workers"));
    let doc = documented();
    let missing: Vec<_> = keys.difference(&doc).collect();
    let unknown: Vec<_> = doc.difference(&keys).collect();
    assert!(
        missing.is_empty(),
        "accepted by the parser, not in docs/config.md: {missing:?}"
    );
    assert!(
        unknown.is_empty(),
        "in docs/config.md, not accepted by the parser: {unknown:?}"
    );
}

/// The README's minimal config is valid.
#[test]
fn the_readme_config_parses() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let toml = readme
        .split_once("```toml\n")
        .and_then(|(_, rest)| rest.split_once("```"))
        .expect("a toml block in README.md")
        .0;
    let c = vtep_config::Config::parse(toml).unwrap_or_else(|e| panic!("README config: {e}"));
    assert_eq!(c.vnis.len(), 1);
}

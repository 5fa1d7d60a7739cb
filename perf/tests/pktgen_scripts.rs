//! The pktgen-dpdk scripts in perf/pktgen, run under Lua against a
//! stand-in of pktgen's Lua library (perf/pktgen/check.lua): every call
//! must exist with its argument count and options, and the NDR search must
//! converge on the stand-in's 73% forwarding limit. pktgen itself is not
//! packaged for Debian 12, so this is as far as CI can take them.

use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("pktgen")
}

fn run(scripts: &[&Path]) -> (bool, String) {
    let out = Command::new("lua5.4")
        .arg(dir().join("check.lua"))
        .args(scripts)
        .output()
        .expect("lua5.4 (scripts/setup.sh installs it)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn encap_and_decap_scripts_use_only_pktgen_api() {
    for s in ["encap.lua", "decap.lua"] {
        let (ok, out) = run(&[&dir().join(s)]);
        assert!(ok, "{s}: {out}");
        assert!(out.contains("all known"), "{s}: {out}");
        assert!(out.contains("sent 30000000"), "{s} ran its 30 s: {out}");
    }
}

#[test]
fn ndr_script_converges_on_the_limit() {
    let (ok, out) = run(&[&dir().join("encap.lua"), &dir().join("ndr.lua")]);
    assert!(ok, "{out}");
    let ndr: f64 = out
        .lines()
        .find_map(|l| l.strip_prefix("NDR: "))
        .and_then(|l| l.split('%').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no NDR line: {out}"));
    assert!((72.5..=73.0).contains(&ndr), "{ndr}: {out}");
}

#[test]
fn the_checker_rejects_calls_pktgen_does_not_have() {
    let bad = std::env::temp_dir().join(format!("vtep-pktgen-bad-{}.lua", std::process::id()));
    for (body, what) in [
        (
            "pktgen.set(\"0\", \"speed\", 10)",
            "set does not support speed",
        ),
        ("pktgen.start(0)", "portlist must be a string"),
        (
            "pktgen.set_mac(\"0\", \"02:00:00:00:00:01\")",
            "takes 3 arguments",
        ),
        (
            "pktgen.range.dst_mac(\"0\", \"first\", \"02:00:00:00:00:01\")",
            "start/min/max/inc",
        ),
        ("pktgen.sendfast(\"0\")", "does not exist"),
    ] {
        std::fs::write(&bad, body).unwrap();
        let (ok, out) = run(&[&bad]);
        assert!(!ok && out.contains(what), "{body}: {out}");
    }
    let _ = std::fs::remove_file(&bad);
}

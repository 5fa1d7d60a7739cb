//! vtepctl's command line: exit codes, JSON errors and help, against a
//! socket that answers as vtepd's control socket does.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixListener;
use std::process::{Command, Output};

use vtep_api::{Reply, Request};

fn vtepctl(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vtepctl"))
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Serves `n` connections, answering each request with `answer(req)`.
fn daemon(
    path: &std::path::Path,
    n: usize,
    answer: fn(Request) -> Reply,
) -> std::thread::JoinHandle<()> {
    let l = UnixListener::bind(path).unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().take(n) {
            let s = s.unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            let reply = answer(Request::parse(&line).unwrap());
            writeln!(&s, "{}", reply.to_line()).unwrap();
        }
    })
}

#[test]
fn usage_errors_exit_64_and_unreachable_exits_2() {
    let o = vtepctl(&["fdb", "add", "--vni", "x"]);
    assert_eq!(o.status.code(), Some(64), "{}", text(&o.stderr));
    assert!(text(&o.stderr).contains("invalid value 'x'"));
    let o = vtepctl(&["--json", "frobnicate"]);
    assert_eq!(o.status.code(), Some(64));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "usage");
    assert!(v["error"].as_str().unwrap().contains("frobnicate"));
    let o = vtepctl(&["--socket", "/nonexistent/vtep.sock", "status"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o.stderr).contains("is vtepd running?"));
    let o = vtepctl(&["--json", "--socket", "/nonexistent/vtep.sock", "status"]);
    assert_eq!(o.status.code(), Some(2));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["kind"], "unreachable");
}

#[test]
fn refusals_are_json_with_json() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s");
    let d = daemon(&sock, 2, |req| {
        assert_eq!(
            req,
            Request::FdbDel {
                vni: 7,
                mac: "02:00:00:00:00:01".into()
            }
        );
        Reply::error("VNI 7 is not configured")
    });
    let s = sock.to_str().unwrap();
    let args = [
        "--socket",
        s,
        "fdb",
        "del",
        "--vni",
        "7",
        "--mac",
        "02:00:00:00:00:01",
    ];
    let o = vtepctl(&args);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(text(&o.stderr).trim(), "vtepctl: VNI 7 is not configured");
    let mut json = vec!["--json"];
    json.extend(args);
    let o = vtepctl(&json);
    assert_eq!(o.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["error"], "VNI 7 is not configured");
    assert_eq!(v["kind"], "refused");
    d.join().unwrap();
}

#[test]
fn every_subcommand_has_help() {
    for args in [
        vec!["--help"],
        vec!["fdb", "--help"],
        vec!["fdb", "add", "--help"],
        vec!["fdb", "flush", "--help"],
        vec!["stats", "--help"],
        vec!["vni", "--help"],
        vec!["neigh", "show", "--help"],
    ] {
        let o = vtepctl(&args);
        assert_eq!(o.status.code(), Some(0), "{args:?}");
        let out = text(&o.stdout);
        let described = out.lines().next().is_some_and(|l| l.len() > 10);
        assert!(described, "{args:?} has no description:\n{out}");
    }
    let out = text(&vtepctl(&["fdb", "add", "--help"]).stdout);
    assert!(out.contains("IPv4 address of the remote VTEP"), "{out}");
    let out = text(&vtepctl(&["--help"]).stdout);
    assert!(out.contains("64 bad command line"), "{out}");
}

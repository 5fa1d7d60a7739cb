//! What vtepd refuses before it touches DPDK: a control socket path that
//! names something other than a stale socket, and an invalid RUST_LOG.

use std::process::Command;

fn config(socket: &str) -> String {
    format!(
        "[eal]\nargs = [\"-l\", \"0-1\", \"--no-pci\", \"--no-huge\", \"--no-shconf\", \
         \"--vdev=net_null0\", \"--vdev=net_null1\"]\n[underlay]\nport = \"net_null0\"\n\
         address = \"192.0.2.1/24\"\n[[access]]\nport = \"net_null1\"\nvni = 100\n[[vni]]\nid = 100\n\
         [control]\nsocket = \"{socket}\"\n"
    )
}

/// Runs vtepd on the config at `cfg` with `RUST_LOG` as given; returns
/// its exit code and standard error.
fn vtepd(cfg: &std::path::Path, rust_log: &str) -> (Option<i32>, String) {
    let o = Command::new(env!("CARGO_BIN_EXE_vtepd"))
        .arg("--config")
        .arg(cfg)
        .env("RUST_LOG", rust_log)
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

#[test]
fn socket_path_naming_a_file_is_refused_and_the_file_kept() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("vtep.toml");
    // The socket path is the config file itself.
    let text = config(&cfg.display().to_string());
    std::fs::write(&cfg, &text).unwrap();
    let (code, err) = vtepd(&cfg, "info");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("exists and is not a socket"), "{err}");
    assert!(!err.contains("EAL"), "refused before DPDK starts: {err}");
    assert_eq!(
        std::fs::read_to_string(&cfg).unwrap(),
        text,
        "the file is intact"
    );
}

#[test]
fn invalid_log_filter_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("vtep.toml");
    std::fs::write(&cfg, config(&dir.path().join("s").display().to_string())).unwrap();
    let (code, err) = vtepd(&cfg, "vtep=loud[");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("RUST_LOG") && err.contains("not a valid log filter"),
        "{err}"
    );
}

#[test]
fn mtu_above_the_device_is_refused_naming_the_port_and_its_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("vtep.toml");
    let tap = format!("vmt{}", std::process::id());
    let text = config(&dir.path().join("s").display().to_string())
        .replace("--vdev=net_null0", &format!("--vdev=net_tap0,iface={tap}"))
        .replace("port = \"net_null0\"", "port = \"net_tap0\"\nmtu = 9000");
    std::fs::write(&cfg, text).unwrap();
    let (code, err) = vtepd(&cfg, "info");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains(
            "port net_tap0 (net_tap): underlay.mtu = 9000 is above the device's maximum MTU 1504"
        ),
        "{err}"
    );
}

#[test]
fn evpn_namespace_that_does_not_exist_is_refused_before_dpdk() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("vtep.toml");
    let sock = dir.path().join("s.sock");
    let text = config(&sock.display().to_string())
        .replace(
            "\"--vdev=net_null1\"]",
            "\"--vdev=net_null1\", \"--vdev=net_tap0,iface=vtepnone0\"]",
        )
        .replace("[underlay]\n", "[underlay]\nkernel_port = \"net_tap0\"\n");
    std::fs::write(
        &cfg,
        format!("{text}\n[evpn]\nnetns = \"vtep-no-such-ns\"\n"),
    )
    .unwrap();
    let (code, err) = vtepd(&cfg, "info");
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("evpn.netns \"vtep-no-such-ns\": no such network namespace")
            && err.contains("ip netns add vtep-no-such-ns"),
        "{err}"
    );
    assert!(!err.contains("EAL"), "refused before DPDK starts: {err}");
}

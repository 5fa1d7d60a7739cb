//! The `/metrics` exposition against the real Prometheus tools: the text
//! passes `promtool check metrics`, and a Prometheus server scrapes vtepd
//! and answers queries over its series.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use vtep_testsupport::wait_some;

/// Children killed and files removed when the test ends, also on failure.
struct Cleanup {
    children: Vec<Child>,
    dir: PathBuf,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{}", self.prefix));
    }
}

/// GET `path` from 127.0.0.1:`port`; the body, or None if not answered.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    // HTTP/1.0: the answer is never chunked.
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    if !out.lines().next()?.contains(" 200 ") {
        return None;
    }
    out.split_once("\r\n\r\n").map(|(_, b)| b.to_string())
}

#[test]
fn promtool_accepts_and_prometheus_scrapes() {
    for tool in ["promtool", "prometheus"] {
        assert!(
            Command::new(tool).arg("--version").output().is_ok(),
            "{tool} is not installed (scripts/setup.sh installs Debian's prometheus)"
        );
    }
    let dir = tempfile::tempdir().unwrap().keep();
    let prefix = format!("vtep-prom-{}", std::process::id());
    let mut cleanup = Cleanup {
        children: Vec::new(),
        dir: dir.clone(),
        prefix: prefix.clone(),
    };
    let metrics = vtep_dataplane::testing::free_port();
    let cfg = dir.join("vtep.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"[eal]
# net_null1 receives endless zeroed frames (dropped as access_src_invalid),
# so the ports have extended statistics to show.
args = ["-l", "0-1", "--no-pci", "--no-huge", "-m", "256", "--file-prefix={prefix}",
        "--vdev=net_null0,no-rx=1", "--vdev=net_null1"]
[dataplane]
mbufs = 2047
fdb_capacity = 4096
learn_queue = 64
[underlay]
port = "net_null0"
address = "192.0.2.1/24"
mac = "02:00:00:00:01:01"
[[access]]
port = "net_null1"
vni = 100
[[vni]]
id = 100
flood = ["192.0.2.2"]
[control]
socket = "{dir}/vtep.sock"
metrics = "127.0.0.1:{metrics}"
"#,
            dir = dir.display()
        ),
    )
    .unwrap();
    cleanup.children.push(
        Command::new(env!("CARGO_BIN_EXE_vtepd"))
            .arg("--config")
            .arg(&cfg)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("vtepd.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let text = wait_some("vtepd's /metrics", 30, || http_get(metrics, "/metrics"));

    let check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .as_ref()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let web = vtep_dataplane::testing::free_port();
    let prom_cfg = dir.join("prometheus.yml");
    std::fs::write(
        &prom_cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: vtep\n    static_configs:\n      - targets: ['127.0.0.1:{metrics}']\n"
        ),
    )
    .unwrap();
    cleanup.children.push(
        Command::new("prometheus")
            .arg(format!("--config.file={}", prom_cfg.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{web}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let query = |q: &str| {
        let body = http_get(web, &format!("/api/v1/query?query={q}"))?;
        let v: serde_json::Value = serde_json::from_str(&body).ok()?;
        let r = v["data"]["result"].as_array()?.clone();
        (!r.is_empty()).then_some(r)
    };
    let up = wait_some("Prometheus to scrape vtepd", 60, || {
        query("up%7Bjob%3D%22vtep%22%7D")
    });
    assert_eq!(up[0]["value"][1], "1", "target up: {up:?}");
    let ports = wait_some("vtep_port_up", 30, || query("vtep_port_up"));
    let mut names: Vec<&str> = ports
        .iter()
        .filter_map(|s| s["metric"]["port"].as_str())
        .collect();
    names.sort();
    assert_eq!(names, ["net_null0", "net_null1"]);
    let drops = wait_some("vtep_drops_total", 30, || query("vtep_drops_total"));
    assert!(
        drops.len() > 30,
        "one series per drop reason: {}",
        drops.len()
    );
    for q in [
        "vtep_forwarded_total",
        "vtep_mempool_in_use",
        "vtep_reload_failures_total",
        "vtep_flood_copy_drops_total",
        "vtep_learn_events_dropped_total",
        "vtep_port_rx_errors_total",
        // net_null1 makes up zeroed frames: its device counts them.
        "vtep_port_xstat%7Bport%3D%22net_null1%22%7D",
    ] {
        wait_some(q, 10, || query(q));
    }
}

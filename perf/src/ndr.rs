//! The NDR run: vtepd with two net_memif server ports and vtep-loadgen as
//! their client in a second process (see `src/bin/vtep-loadgen.rs`).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use vtep_lab::bench_mac;
use vtep_lab::{vtepd_path, Reaper};
use vtep_testsupport::dpdk_files::DpdkFiles;

/// How to run the search.
#[derive(Debug, Clone)]
pub struct NdrOptions {
    /// Working directory: config, sockets, logs.
    pub dir: PathBuf,
    /// Hugepages (the benchmark method) or `--no-huge` (CI).
    pub hugepages: bool,
    /// Static FDB entries the frames go to.
    pub macs: u32,
    pub trial_secs: f64,
    pub max_trials: usize,
    /// Top rate, Mpps; 0 = as fast as the generator can.
    pub max_mpps: f64,
    /// MAC moves to time after the search (0: none).
    pub moves: u32,
}

/// The search's trials and its result, as vtep-loadgen printed them.
#[derive(Debug, Clone)]
pub struct NdrReport {
    pub trials: Vec<Value>,
    pub result: Value,
    /// The move test's line, when moves were asked for.
    pub moves: Option<Value>,
}

impl NdrReport {
    pub fn ndr_mpps(&self) -> f64 {
        self.result["ndr_mpps"].as_f64().unwrap_or(0.0)
    }
    /// Latency percentile at the NDR, ns ("p50", "p99", "p999", "max").
    pub fn latency_ns(&self, p: &str) -> u64 {
        self.result["at"]["latency_ns"][p].as_u64().unwrap_or(0)
    }
}

const REMOTE: &str = "192.0.2.10";
/// Where the move test moves MACs to.
const REMOTE_B: &str = "192.0.2.11";

/// EAL memory and file-prefix arguments.
fn eal_memory(hugepages: bool, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = if hugepages {
        vec!["-m".into(), "256".into()]
    } else {
        ["--no-huge", "-m", "256", "--no-shconf"]
            .map(String::from)
            .to_vec()
    };
    v.push(format!("--file-prefix={prefix}"));
    v
}

/// vtepd's config: memif servers for both ports, `macs` static entries
/// behind one remote.
pub fn vtepd_config(o: &NdrOptions, prefix: &str) -> String {
    let d = o.dir.display();
    let mut cfg = format!(
        r#"[eal]
args = ["-l", "0-1", "--no-pci", {mem},
        "--vdev=net_memif0,role=server,id=0,socket={d}/ul.sock",
        "--vdev=net_memif1,role=server,id=0,socket={d}/acc.sock"]
[dataplane]
mbufs = 16383
[underlay]
port = "net_memif0"
mac = "02:00:00:00:01:01"
address = "192.0.2.1/24"
[[neighbor]]
ip = "{REMOTE}"
mac = "02:00:00:00:02:0a"
[[neighbor]]
ip = "{REMOTE_B}"
mac = "02:00:00:00:02:0b"
[[access]]
port = "net_memif1"
vni = 100
[[vni]]
id = 100
learning = true
flood = ["{REMOTE}", "{REMOTE_B}"]
[control]
socket = "{d}/vtep.sock"
"#,
        mem = eal_memory(o.hugepages, prefix)
            .iter()
            .map(|a| format!("\"{a}\""))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for i in 0..o.macs {
        let m = bench_mac(i);
        cfg.push_str(&format!(
            "[[fdb]]\nvni = 100\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nremote = \"{REMOTE}\"\n",
            m[0], m[1], m[2], m[3], m[4], m[5]
        ));
    }
    cfg
}

/// Starts vtepd, runs the search with vtep-loadgen, stops vtepd.
pub fn run(o: &NdrOptions) -> Result<NdrReport, String> {
    std::fs::create_dir_all(&o.dir).map_err(|e| format!("{}: {e}", o.dir.display()))?;
    let pid = std::process::id();
    let (vd_prefix, lg_prefix) = (format!("vtep-ndr-vd-{pid}"), format!("vtep-ndr-lg-{pid}"));
    // Dropped after vtepd (declared before it): removed on every return.
    let _files = DpdkFiles(vec![vd_prefix.clone(), lg_prefix.clone()]);
    for f in ["ul.sock", "acc.sock", "vtep.sock"] {
        let _ = std::fs::remove_file(o.dir.join(f));
    }
    let cfg = o.dir.join("vtep.toml");
    std::fs::write(&cfg, vtepd_config(o, &vd_prefix)).map_err(|e| e.to_string())?;
    let log = std::fs::File::create(o.dir.join("vtepd.log")).map_err(|e| e.to_string())?;
    let mut vtepd = Reaper(
        Command::new(vtepd_path())
            .arg("--config")
            .arg(&cfg)
            // Start-up and shutdown steps logged: how far it got if it
            // does not exit cleanly.
            .env("RUST_LOG", "info")
            .stderr(log)
            .spawn()
            .map_err(|e| format!("vtepd: {e}"))?,
    );
    let ready = Instant::now() + Duration::from_secs(20);
    while !o.dir.join("vtep.sock").exists() {
        if Instant::now() > ready || vtepd.0.try_wait().ok().flatten().is_some() {
            return Err(format!(
                "vtepd did not start; see {}/vtepd.log",
                o.dir.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = Command::new(loadgen_path())
        .arg("--access")
        .arg(o.dir.join("acc.sock"))
        .arg("--underlay")
        .arg(o.dir.join("ul.sock"))
        .args(["--macs", &o.macs.to_string()])
        .args(["--trial-secs", &o.trial_secs.to_string()])
        .args(["--max-trials", &o.max_trials.to_string()])
        .args(["--max-mpps", &o.max_mpps.to_string()])
        .args(["--moves", &o.moves.to_string()])
        .args(["--", "-l", "0", "--no-pci"])
        .args(eal_memory(o.hugepages, &lg_prefix))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("vtep-loadgen: {e}"))?;
    // SIGTERM and wait, keeping the status for the report.
    let _ = vtep_lab::sh(&format!("kill -TERM {}", vtepd.0.id()));
    let status = vtepd.0.wait();
    let stopped = status.as_ref().is_ok_and(|s| s.success());
    let text = String::from_utf8_lossy(&out.stdout);
    std::fs::write(o.dir.join("loadgen.log"), out.stderr.as_slice()).ok();
    let lines: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    if !out.status.success() {
        return Err(format!(
            "vtep-loadgen failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        ));
    }
    if !stopped {
        return Err(format!(
            "vtepd did not exit cleanly ({}); see {}/vtepd.log",
            match &status {
                Ok(s) => s.to_string(),
                Err(e) => e.to_string(),
            },
            o.dir.display()
        ));
    }
    let result = lines
        .iter()
        .find(|v| v["kind"] == "ndr")
        .cloned()
        .ok_or("vtep-loadgen printed no result")?;
    let moves = lines.iter().find(|v| v["kind"] == "move").cloned();
    let trials = lines.into_iter().filter(|v| v["kind"] == "trial").collect();
    Ok(NdrReport {
        trials,
        result,
        moves,
    })
}

fn loadgen_path() -> PathBuf {
    vtepd_path().with_file_name("vtep-loadgen")
}

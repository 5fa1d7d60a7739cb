//! vtep-perf: writes deterministic fixtures, measures DPDK's own forwarding
//! ceiling (dpdk-testpmd io forwarding) and vtepd on the same source and
//! sink in the same run, and prints Mpps, cycles per packet, the ratio to
//! the ceiling and vtepd's resident memory.
//!
//! Method: one worker core, hugepages, --no-pci; source net_pcap replaying
//! a fixture (infinite_rx), sink net_null with no-rx. Cycles per packet are
//! TSC cycles of the busy worker over packets (testpmd: TSC Hz / pps, its
//! forwarding core being always busy).
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clap::Parser;
use vtep_perf::lab::{rss_kib, vtepctl_path, vtepd_path, Reaper};
use vtep_perf::{tenant_udp, vxlan_from, write_pcap};

#[derive(Parser)]
#[command(about = "Measure vtepd against DPDK's forwarding ceiling")]
struct Args {
    /// Short run for CI: one run per program, 2 s windows.
    #[arg(long)]
    quick: bool,
    /// Runs per program (median reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Measurement window per run, seconds.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Only this scenario (encap or decap).
    #[arg(long)]
    scenario: Option<String>,
    /// Where fixtures and logs go.
    #[arg(long, default_value = "/tmp/vtep-perf")]
    dir: PathBuf,
}

const VTEP_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
const REMOTES: u32 = 16;
const MACS: u32 = 4096;
const FLOWS: u32 = 256;

fn remote_ip(r: u32) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10 + r as u8)
}

fn dst_mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [2, 0xdd, 0, b[1], b[2], b[3]]
}

/// 60-byte tenant frames to 4096 known MACs, 256 flows.
fn encap_fixture() -> Vec<Vec<u8>> {
    (0..MACS * 4)
        .map(|i| {
            let flow = i % FLOWS;
            tenant_udp(
                dst_mac(i % MACS),
                [2, 0xaa, 0, 0, 0, (flow % 8) as u8],
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 1, (flow % 250) as u8),
                10_000 + flow as u16,
                80,
                18,
            )
        })
        .collect()
}

/// The replies to those frames (tenants behind the 16 remotes answering
/// the local tenants), as VXLAN from the remotes.
fn decap_fixture() -> Vec<Vec<u8>> {
    encap_fixture()
        .iter()
        .map(|f| {
            let mut r = f.clone();
            r[0..6].copy_from_slice(&f[6..12]);
            r[6..12].copy_from_slice(&f[0..6]);
            r
        })
        .enumerate()
        .map(|(i, f)| {
            let r = (i as u32 / 7) % REMOTES;
            vxlan_from(
                [2, 0, 0, 0, 2, r as u8],
                remote_ip(r),
                VTEP_MAC,
                Ipv4Addr::new(192, 0, 2, 1),
                100,
                &f,
            )
        })
        .collect()
}

/// Median of the steady-state samples.
fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// dpdk-testpmd io forwarding from the fixture to a null sink: Mpps.
fn ceiling(fixture: &Path, secs: u64, dir: &Path) -> f64 {
    let prefix = format!("vtep-perf-tp-{}", std::process::id());
    let out = Command::new("timeout")
        .arg((secs + 4).to_string())
        .args(["dpdk-testpmd", "-l", "0-1", "--no-pci", "-m", "1024"])
        .arg(format!("--file-prefix={prefix}"))
        .arg(format!(
            "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
            fixture.display()
        ))
        .args([
            "--vdev=net_null0,no-rx=1",
            "--",
            "--forward-mode=io",
            "--auto-start",
            "--stats-period",
            "1",
        ])
        .args(["--nb-cores=1", "--total-num-mbufs=32768"])
        .stdin(Stdio::null())
        .output()
        .expect("run dpdk-testpmd");
    cleanup(&prefix);
    let text = String::from_utf8_lossy(&out.stdout);
    std::fs::write(dir.join("testpmd.log"), text.as_bytes()).ok();
    // Tx-pps of port 1 (the sink) per period; skip the first two.
    let mut port = 0;
    let mut samples = Vec::new();
    for l in text.lines() {
        if let Some(p) = l.split("NIC statistics for port ").nth(1) {
            port = p
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
        }
        if port == 1 && l.trim_start().starts_with("Tx-pps:") {
            if let Some(v) = l
                .split_whitespace()
                .nth(1)
                .and_then(|x| x.parse::<f64>().ok())
            {
                samples.push(v);
            }
        }
    }
    median(samples.into_iter().skip(2).filter(|v| *v > 0.0).collect()) / 1e6
}

fn cleanup(prefix: &str) {
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    if let Ok(rd) = std::fs::read_dir("/dev/hugepages") {
        for e in rd.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{prefix}map_"))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

struct Measured {
    /// Share of received packets that were forwarded (sanity: ~1.0).
    forwarded: f64,
    mpps: f64,
    cycles: f64,
    rss_mib: f64,
}

/// vtepd with the fixture on `source` ("access" or "underlay").
fn vtepd(fixture: &Path, source: &str, secs: u64, dir: &Path) -> Measured {
    let prefix = format!("vtep-perf-vd-{}", std::process::id());
    let (ul, acc) = if source == "access" {
        (
            "--vdev=net_null0,no-rx=1".to_string(),
            format!(
                "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
                fixture.display()
            ),
        )
    } else {
        (
            format!(
                "--vdev=net_pcap0,rx_pcap={},infinite_rx=1",
                fixture.display()
            ),
            "--vdev=net_null0,no-rx=1".to_string(),
        )
    };
    let (ul_name, acc_name) = if source == "access" {
        ("net_null0", "net_pcap0")
    } else {
        ("net_pcap0", "net_null0")
    };
    let mut cfg = format!(
        "[eal]\nargs = [\"-l\", \"0-1\", \"--no-pci\", \"-m\", \"1024\", \"--file-prefix={prefix}\", \"{ul}\", \"{acc}\"]\n\
         [dataplane]\nmbufs = 32767\n[underlay]\nport = \"{ul_name}\"\nmac = \"02:00:00:00:01:01\"\naddress = \"192.0.2.1/24\"\n\
         [[access]]\nport = \"{acc_name}\"\nvni = 100\n[[vni]]\nid = 100\nlearning = false\n\
         flood = [\"192.0.2.10\"]\n[control]\nsocket = \"{}/vtep.sock\"\n",
        dir.display()
    );
    for r in 0..REMOTES {
        cfg.push_str(&format!(
            "[[neighbor]]\nip = \"{}\"\nmac = \"02:00:00:00:02:{r:02x}\"\n",
            remote_ip(r)
        ));
    }
    for i in 0..MACS {
        let m = dst_mac(i);
        cfg.push_str(&format!(
            "[[fdb]]\nvni = 100\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nremote = \"{}\"\n",
            m[0], m[1], m[2], m[3], m[4], m[5], remote_ip(i % REMOTES)
        ));
    }
    let path = dir.join("vtep.toml");
    std::fs::write(&path, cfg).expect("config");
    let sock = dir.join("vtep.sock");
    let _ = std::fs::remove_file(&sock);
    let mut child = Reaper(
        Command::new(vtepd_path())
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "warn")
            .stderr(std::fs::File::create(dir.join("vtepd.log")).expect("log"))
            .spawn()
            .expect("vtepd"),
    );
    for _ in 0..200 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let stats = || -> serde_json::Value {
        let o = Command::new(vtepctl_path())
            .arg("--socket")
            .arg(&sock)
            .args(["--json", "stats"])
            .output()
            .expect("vtepctl");
        serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
    };
    std::thread::sleep(Duration::from_secs(1));
    let a = stats();
    let t0 = std::time::Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let b = stats();
    let dt = t0.elapsed().as_secs_f64();
    let rss = rss_kib(child.0.id()) as f64 / 1024.0;
    child.stop();
    cleanup(&prefix);
    let w = |v: &serde_json::Value, k: &str| v["workers"][0][k].as_u64().unwrap_or(0) as f64;
    let pk = w(&b, "rx_packets") - w(&a, "rx_packets");
    let acc = |v: &serde_json::Value, k: &str| v["accounting"][k].as_u64().unwrap_or(0) as f64;
    let fwd = acc(&b, "forwarded") - acc(&a, "forwarded");
    let cy = w(&b, "busy_cycles") - w(&a, "busy_cycles");
    Measured {
        forwarded: if pk > 0.0 { fwd / pk } else { 0.0 },
        mpps: pk / dt / 1e6,
        cycles: if pk > 0.0 { cy / pk } else { 0.0 },
        rss_mib: rss,
    }
}

fn tsc_hz() -> f64 {
    // The kernel's TSC-calibrated CPU clock is close enough for testpmd's
    // cycles per packet; vtepd reports its own TSC cycles.
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1)?.trim().parse::<f64>().ok())
        })
        .map(|mhz| mhz * 1e6)
        .unwrap_or(0.0)
}

fn main() {
    let a = Args::parse();
    let (runs, secs) = if a.quick {
        (1, 2)
    } else {
        (a.runs.max(1), a.secs.max(1))
    };
    std::fs::create_dir_all(&a.dir).expect("dir");
    let enc = a.dir.join("encap.pcap");
    let dec = a.dir.join("decap.pcap");
    write_pcap(&enc, &encap_fixture()).expect("fixture");
    write_pcap(&dec, &decap_fixture()).expect("fixture");
    let hz = tsc_hz();
    println!("vtep-perf: {runs} run(s) x {secs} s per program, 1 worker core; machine: {} cores, {:.0} MHz", num_cores(), hz / 1e6);
    println!(
        "{:<10} {:<22} {:>8} {:>12} {:>7} {:>9}",
        "scenario", "program", "Mpps", "cycles/pkt", "ratio", "RSS MiB"
    );
    let mut failed = false;
    for (name, fix, source) in [("encap", &enc, "access"), ("decap", &dec, "underlay")] {
        if a.scenario.as_deref().is_some_and(|s| s != name) {
            continue;
        }
        let ceil = median((0..runs).map(|_| ceiling(fix, secs, &a.dir)).collect());
        let ms: Vec<Measured> = (0..runs)
            .map(|_| vtepd(fix, source, secs, &a.dir))
            .collect();
        let mpps = median(ms.iter().map(|m| m.mpps).collect());
        let cyc = median(ms.iter().map(|m| m.cycles).collect());
        let rss = ms.iter().map(|m| m.rss_mib).fold(0.0, f64::max);
        let tp_cyc = if ceil > 0.0 { hz / (ceil * 1e6) } else { 0.0 };
        println!(
            "{name:<10} {:<22} {ceil:>8.2} {tp_cyc:>12.1} {:>7} {:>9}",
            "dpdk-testpmd io (ceil)", "1.00", "-"
        );
        let ratio = if ceil > 0.0 { mpps / ceil } else { 0.0 };
        println!(
            "{name:<10} {:<22} {mpps:>8.2} {cyc:>12.1} {ratio:>7.2} {rss:>9.1}",
            "vtepd"
        );
        let fwd = median(ms.iter().map(|m| m.forwarded).collect());
        if fwd < 0.99 {
            eprintln!(
                "vtep-perf: {name}: only {:.1}% of packets were forwarded; see {}/vtepd.log",
                fwd * 100.0,
                a.dir.display()
            );
            failed = true;
        }
        failed |= ceil <= 0.0 || mpps <= 0.0;
    }
    if failed {
        eprintln!(
            "vtep-perf: a measurement came out empty; logs in {}",
            a.dir.display()
        );
        std::process::exit(1);
    }
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

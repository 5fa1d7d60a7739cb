//! vtep-perf: writes deterministic fixtures, measures DPDK's own forwarding
//! ceiling (dpdk-testpmd io forwarding) and vtepd on the same source and
//! sink in the same run, and prints Mpps, cycles per packet, the ratio to
//! the ceiling and vtepd's resident memory; then searches the no-drop rate
//! over memif with vtep-loadgen.
//!
//! Method: one worker core (two for the scaling row), hugepages, --no-pci;
//! source net_pcap replaying a fixture (infinite_rx), sink net_null with
//! no-rx. Cycles per packet are TSC cycles of the busy workers over packets
//! (testpmd: TSC Hz / pps per forwarding core, its cores never idle). Runs
//! alternate (ceiling, vtepd) pairs; the ratio is the median of the pairs'
//! ratios, so a machine whose speed drifts between pairs is compared with
//! itself.
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::Value;
use vtep_dataplane::datapath::tunnel::{encapsulate, Tunnel};
use vtep_lab::{bench_mac, tenant_udp, vxlan_from};
use vtep_lab::{rss_kib, vtepctl_path, vtepd_path, Reaper};
use vtep_perf::ndr;
use vtep_testsupport::dpdk_files::remove_dpdk_files;
use vtep_testsupport::write_pcap;

#[derive(Parser)]
#[command(about = "Measure vtepd against DPDK's forwarding ceiling")]
struct Args {
    /// Short run: one run per program, 2 s windows, short NDR trials.
    #[arg(long)]
    quick: bool,
    /// Runs per program, as alternating (ceiling, vtepd) pairs (medians reported).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Measurement window per run, seconds.
    #[arg(long, default_value_t = 5)]
    secs: u64,
    /// Only these scenarios (comma-separated): encap, decap (known
    /// unicast), decap-flood, encap6, decap6 (over an IPv6 underlay),
    /// encap-geneve, decap-geneve, encap-nvgre, decap-nvgre (VNI 100 in
    /// that encapsulation), encap-1m, bum, bum-1k (1000-byte broadcasts:
    /// shared copies where the underlay offers multi-segment transmit or
    /// vtepd is built with `bench-shared-floods`), bum-group (the same
    /// broadcasts to a multicast group instead), encap-2w, ndr.
    #[arg(long, value_delimiter = ',')]
    scenario: Vec<String>,
    /// Where fixtures and logs go.
    #[arg(long, default_value = "/tmp/vtep-perf")]
    dir: PathBuf,
    /// `[underlay] mtu` of vtepd (9000 sizes its mbufs for jumbo frames).
    #[arg(long, default_value_t = 1500)]
    mtu: u16,
}

const VTEP_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
const REMOTES: u32 = 16;
const MACS: u32 = 4096;
/// Frames in the encap, decap and bum fixtures: one per MAC. net_pcap's
/// infinite_rx keeps every frame in an mbuf of its own (~2.3 KiB), so the
/// source's working set is FRAMES x 2.3 KiB: 9.4 MiB here, inside a
/// server's L3, as a real NIC's descriptor rings and DDIO-written data
/// are. With four times as many (37 MiB, above this VM's 32 MiB L3) the
/// source's two loads per packet (the stored mbuf, its data) took over a
/// quarter of vtepd's samples and halved its rate, while testpmd's
/// barely moved: that measured the generator's memory, not forwarding
/// (docs/performance.md). `encap-1m` measures vtepd's own misses.
const FRAMES: u32 = MACS;
const FLOWS: u32 = 256;
/// The large-FDB scenario: entries learned before measuring, and frames in
/// its fixture (destinations drawn uniformly from the entries).
const BIG_MACS: u32 = 1_000_000;
const BIG_FRAMES: u32 = 65536;
const BUM_REMOTES: usize = 8;

fn remote_ip(r: u32) -> Ipv4Addr {
    Ipv4Addr::new(192, 0, 2, 10 + r as u8)
}

/// Remote `r` of the IPv6 scenarios.
fn remote_ip6(r: u32) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 10 + r as u16)
}

/// The remote's address as the config writes it.
fn remote_text(r: u32, ipv6: bool) -> String {
    if ipv6 {
        remote_ip6(r).to_string()
    } else {
        remote_ip(r).to_string()
    }
}

fn local_frame(dst: [u8; 6], i: u32) -> Vec<u8> {
    let flow = i % FLOWS;
    tenant_udp(
        dst,
        [2, 0xaa, 0, 0, 0, (flow % 8) as u8],
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 1, (flow % 250) as u8),
        10_000 + flow as u16,
        80,
        18,
    )
}

/// 60-byte tenant frames to 4096 known MACs, 256 flows.
fn encap_fixture() -> Vec<Vec<u8>> {
    (0..FRAMES)
        .map(|i| local_frame(bench_mac(i % MACS), i))
        .collect()
}

/// Frames to destinations drawn uniformly (xorshift, fixed seed) from the
/// BIG_MACS learned entries.
fn encap_big_fixture() -> Vec<Vec<u8>> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..BIG_FRAMES)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            local_frame(bench_mac((x % BIG_MACS as u64) as u32), i)
        })
        .collect()
}

/// Broadcast frames from the local tenants.
fn bum_fixture() -> Vec<Vec<u8>> {
    (0..FRAMES).map(|i| local_frame([0xff; 6], i)).collect()
}

/// [`bum_fixture`]'s frames padded to 1000 bytes: above the size from
/// which flood copies may share their payload.
fn bum_1k_fixture() -> Vec<Vec<u8>> {
    bum_fixture()
        .into_iter()
        .map(|mut f| {
            f.resize(1000, 0);
            f
        })
        .collect()
}

/// [`decap_fixture`]'s inner frames from the same remotes through
/// `tunnel`, over IPv6 (UDP checksums computed) or IPv4.
fn decap_in(tunnel: Tunnel, v6: bool) -> Vec<Vec<u8>> {
    use vtep_dataplane::datapath::buf::{PacketBuf, VecBuf};
    use vtep_dataplane::datapath::state::Template;
    decap_fixture()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let r = (i as u32 / 7) % REMOTES;
            let mac = [2, 0, 0, 0, 2, r as u8];
            let t = if v6 {
                let us = std::net::Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
                Template::new6(VTEP_MAC, mac, remote_ip6(r), us, tunnel, 64, false)
            } else {
                let us = Ipv4Addr::new(192, 0, 2, 1);
                Template::new(VTEP_MAC, mac, remote_ip(r), us, tunnel, 64, false)
            };
            // The VXLAN fixture's inner frame, re-wrapped.
            let mut b = VecBuf::new(&f[50..]);
            encapsulate(&mut b, &t, 100, 9000).expect("fits");
            b.data().to_vec()
        })
        .collect()
}

fn decap6_fixture() -> Vec<Vec<u8>> {
    decap_in(Tunnel::vxlan(4789), true)
}

fn decap_geneve_fixture() -> Vec<Vec<u8>> {
    decap_in(Tunnel::geneve(6081), false)
}

fn decap_nvgre_fixture() -> Vec<Vec<u8>> {
    decap_in(Tunnel::nvgre(false), false)
}

fn from_remote(i: u32, inner: &[u8]) -> Vec<u8> {
    let r = (i / 7) % REMOTES;
    vxlan_from(
        [2, 0, 0, 0, 2, r as u8],
        remote_ip(r),
        VTEP_MAC,
        Ipv4Addr::new(192, 0, 2, 1),
        100,
        inner,
    )
}

/// The replies to the encap frames (tenants behind the 16 remotes
/// answering the local tenants), as VXLAN from the remotes.
fn decap_fixture() -> Vec<Vec<u8>> {
    encap_fixture()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut r = f.clone();
            r[0..6].copy_from_slice(&f[6..12]);
            r[6..12].copy_from_slice(&f[0..6]);
            from_remote(i as u32, &r)
        })
        .collect()
}

/// One VXLAN packet from behind a remote per BIG_MACS source MAC, to a
/// local tenant: vtepd learns every MAC from it.
fn learn_fixture() -> Vec<Vec<u8>> {
    (0..BIG_MACS)
        .map(|i| {
            let mut f = local_frame([2, 0xaa, 0, 0, 0, 0], i);
            f[6..12].copy_from_slice(&bench_mac(i));
            from_remote(i, &f)
        })
        .collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Access,
    Underlay,
}

struct Scenario {
    name: &'static str,
    fixture: PathBuf,
    source: Source,
    workers: usize,
    /// Static FDB entries: bench_mac(i) behind remote i % 16.
    static_macs: u32,
    /// Replayed once on the underlay port before measuring; vtepd learns
    /// BIG_MACS entries from it.
    learn: Option<PathBuf>,
    /// Remotes in the VNI's flood list.
    flood: usize,
    /// Static entries for the local tenant MACs (02:aa:00:00:00:0x, x <
    /// 8) on the access port: decap then takes the known-unicast path.
    local_macs: bool,
    mbufs: u32,
    /// vtepd's underlay MTU.
    mtu: u16,
    /// An IPv6 underlay (remotes 2001:db8:1::10+r).
    ipv6: bool,
    /// VNI 100's `encap`.
    encap: &'static str,
    /// VNI 100 floods to multicast group [`GROUP`] (besides `flood`).
    group: bool,
}

/// The group of the `bum-group` scenario.
const GROUP: &str = "239.1.1.100";

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// EAL lcore arguments: the main lcore on CPU 0, workers on CPU 1 and, for
/// a second worker on this 2-CPU machine, on CPU 0 beside the main lcore.
fn lcores(workers: usize) -> Vec<String> {
    if workers == 1 {
        vec!["-l".into(), "0-1".into()]
    } else {
        vec!["--lcores".into(), "0@0,1@1,2@0".into()]
    }
}

/// The source vdev: one rx_pcap per worker (one RX queue each).
fn source_vdev(fixture: &Path, workers: usize) -> String {
    let rx = format!("rx_pcap={}", fixture.display());
    format!(
        "--vdev=net_pcap0,{},infinite_rx=1",
        vec![rx; workers].join(",")
    )
}

/// dpdk-testpmd io forwarding from the fixture to a null sink: Mpps.
///
/// testpmd runs until it has printed `secs` periods after two warm-up
/// ones, however long its start takes (a fixed timeout once left a slow
/// start with no sample at all); the outer timeout only bounds a hang.
fn ceiling(s: &Scenario, secs: u64, dir: &Path) -> f64 {
    use std::io::BufRead;
    const WARM_UP: usize = 2;
    let prefix = format!("vtep-perf-tp-{}", std::process::id());
    let w = s.workers.to_string();
    let mut child = Reaper(
        Command::new("timeout")
            .arg((secs + 60).to_string())
            .arg("dpdk-testpmd")
            .args(lcores(s.workers))
            .args(["--no-pci", "-m", "1024"])
            .arg(format!("--file-prefix={prefix}"))
            .arg(source_vdev(&s.fixture, s.workers))
            .args([
                "--vdev=net_null0,no-rx=1",
                "--",
                "--forward-mode=io",
                "--auto-start",
                "--stats-period",
                "1",
            ])
            .args(["--nb-cores", &w, "--rxq", &w, "--txq", &w])
            .arg(format!("--total-num-mbufs={}", s.mbufs + 1))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("testpmd.err")).expect("testpmd.err"))
            .spawn()
            .expect("run dpdk-testpmd"),
    );
    let stdout = child.0.stdout.take().expect("piped stdout");
    let mut log = String::new();
    // Tx-pps of port 1 (the sink) per period.
    let mut port = 0;
    let mut samples = Vec::new();
    let mut stopped = false;
    for l in std::io::BufReader::new(stdout).lines() {
        let Ok(l) = l else { break };
        log.push_str(&l);
        log.push('\n');
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
        if !stopped && samples.len() >= WARM_UP + secs as usize {
            // timeout passes the signal on to testpmd, which quits on it.
            let _ = Command::new("kill")
                .args(["-TERM", &child.0.id().to_string()])
                .status();
            stopped = true;
        }
    }
    let _ = child.0.wait();
    remove_dpdk_files(&prefix);
    std::fs::write(dir.join("testpmd.log"), log.as_bytes()).ok();
    median(
        samples
            .into_iter()
            .skip(WARM_UP)
            .filter(|v| *v > 0.0)
            .collect(),
    ) / 1e6
}

#[derive(Default)]
struct Measured {
    /// Share of received packets that were forwarded (sanity: ~1.0).
    forwarded: f64,
    mpps: f64,
    cycles: f64,
    rss_mib: f64,
    /// Flood copies per second, millions.
    copies_mpps: f64,
    cycles_per_copy: f64,
    /// New MACs per second the management thread absorbed (learn scenario).
    learn_per_sec: f64,
}

fn vtepd_config(s: &Scenario, prefix: &str, dir: &Path) -> String {
    let eal: Vec<String> = lcores(s.workers)
        .into_iter()
        .chain(["--no-pci", "-m", "1024", &format!("--file-prefix={prefix}")].map(String::from))
        .chain([
            source_vdev(&s.fixture, s.workers),
            match &s.learn {
                Some(p) => format!("--vdev=net_pcap1,rx_pcap={}", p.display()),
                None => "--vdev=net_null0,no-rx=1".into(),
            },
        ])
        .map(|a| format!("\"{a}\""))
        .collect();
    let other = if s.learn.is_some() {
        "net_pcap1"
    } else {
        "net_null0"
    };
    let (ul, acc) = match s.source {
        Source::Access => (other, "net_pcap0"),
        Source::Underlay => ("net_pcap0", other),
    };
    let learning = s.learn.is_some();
    let flood: Vec<String> = (0..s.flood as u32)
        .map(|r| format!("\"{}\"", remote_text(r, s.ipv6)))
        .collect();
    let address = if s.ipv6 {
        "2001:db8:1::1/64"
    } else {
        "192.0.2.1/24"
    };
    let mut cfg = format!(
        "[eal]\nargs = [{}]\n\
         [dataplane]\nworkers = {}\nmbufs = {}\nfdb_capacity = {}\nlearn_queue = {}\n\
         [underlay]\nport = \"{ul}\"\nmac = \"02:00:00:00:01:01\"\naddress = \"{address}\"\nmtu = {mtu}\n\
         [[access]]\nport = \"{acc}\"\nvni = 100\n\
         [[vni]]\nid = 100\nencap = \"{encap}\"\nlearning = {learning}\nmac_limit = {}\naging_secs = 86400\nflood = [{}]\n{group}\
         [control]\nsocket = \"{}/vtep.sock\"\n",
        eal.join(", "),
        s.workers,
        s.mbufs,
        if learning { BIG_MACS as usize } else { 262_144 },
        // The learn fixture arrives in ~0.1 s; the queue holds what the
        // management thread has not absorbed yet.
        if learning { 1 << 20 } else { 65_536 },
        // mac_limit: at most fdb_capacity (vtepd refuses more).
        if learning { BIG_MACS as usize } else { 65_536 },
        flood.join(", "),
        dir.display(),
        mtu = s.mtu,
        encap = s.encap,
        group = if s.group {
            format!("group = \"{GROUP}\"\n")
        } else {
            String::new()
        },
    );
    for r in 0..REMOTES {
        cfg.push_str(&format!(
            "[[neighbor]]\nip = \"{}\"\nmac = \"02:00:00:00:02:{r:02x}\"\n",
            remote_text(r, s.ipv6)
        ));
    }
    if s.local_macs {
        for x in 0..8 {
            cfg.push_str(&format!(
                "[[fdb]]\nvni = 100\nmac = \"02:aa:00:00:00:{x:02x}\"\nport = \"{acc}\"\n"
            ));
        }
    }
    for i in 0..s.static_macs {
        let m = bench_mac(i);
        cfg.push_str(&format!(
            "[[fdb]]\nvni = 100\nmac = \"{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}\"\nremote = \"{}\"\n",
            m[0], m[1], m[2], m[3], m[4], m[5], remote_text(i % REMOTES, s.ipv6)
        ));
    }
    cfg
}

fn vtepd(s: &Scenario, secs: u64, dir: &Path) -> Measured {
    let prefix = format!("vtep-perf-vd-{}", std::process::id());
    let path = dir.join("vtep.toml");
    std::fs::write(&path, vtepd_config(s, &prefix, dir)).expect("config");
    let sock = dir.join("vtep.sock");
    let _ = std::fs::remove_file(&sock);
    let mut child = Reaper(
        Command::new(vtepd_path())
            .arg("--config")
            .arg(&path)
            // Quiet unless asked (RUST_LOG=info shows a phase-cycles build's figures).
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stderr(std::fs::File::create(dir.join("vtepd.log")).expect("log"))
            .spawn()
            .expect("vtepd"),
    );
    let mut m = Measured::default();
    // vtepd refusing its config (or dying) is a failed measurement, said
    // at once, not a wait for a socket or for MACs that never come.
    let mut exited = || match child.0.try_wait() {
        Ok(Some(st)) => {
            eprintln!(
                "vtep-perf: {}: vtepd exited ({st}); see {}",
                s.name,
                dir.join("vtepd.log").display()
            );
            remove_dpdk_files(&prefix);
            true
        }
        _ => false,
    };
    for _ in 0..400 {
        if sock.exists() {
            break;
        }
        if exited() {
            return m;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let ctl = |cmd: &str| -> Value {
        let o = Command::new(vtepctl_path())
            .arg("--socket")
            .arg(&sock)
            .args(["--json", cmd])
            .output()
            .expect("vtepctl");
        serde_json::from_slice(&o.stdout).unwrap_or(Value::Null)
    };
    if s.learn.is_some() {
        // The workers forward the fixture at full rate meanwhile (frames to
        // MACs not yet learned are flooded).
        let t0 = Instant::now();
        let deadline = t0 + Duration::from_secs(300);
        let mut n = 0;
        while n < BIG_MACS as u64 && Instant::now() < deadline {
            if exited() {
                return m;
            }
            std::thread::sleep(Duration::from_millis(20));
            n = ctl("status")["fdb_entries"].as_u64().unwrap_or(0);
        }
        m.learn_per_sec = n as f64 / t0.elapsed().as_secs_f64();
        if n < BIG_MACS as u64 {
            eprintln!("vtep-perf: {}: only {n} MACs learned in 300 s", s.name);
        }
    }
    std::thread::sleep(Duration::from_secs(1));
    let a = ctl("stats");
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let b = ctl("stats");
    let dt = t0.elapsed().as_secs_f64();
    m.rss_mib = rss_kib(child.0.id()) as f64 / 1024.0;
    child.stop();
    remove_dpdk_files(&prefix);
    let workers = |v: &Value, k: &str| -> f64 {
        v["workers"]
            .as_array()
            .map(|ws| ws.iter().map(|w| w[k].as_u64().unwrap_or(0) as f64).sum())
            .unwrap_or(0.0)
    };
    let acc = |v: &Value, k: &str| v["accounting"][k].as_u64().unwrap_or(0) as f64;
    let pk = workers(&b, "rx_packets") - workers(&a, "rx_packets");
    let cy = workers(&b, "busy_cycles") - workers(&a, "busy_cycles");
    let fwd = acc(&b, "forwarded") - acc(&a, "forwarded");
    let copies = acc(&b, "flood_copies") - acc(&a, "flood_copies");
    if pk > 0.0 {
        m.forwarded = fwd / pk;
        m.mpps = pk / dt / 1e6;
        m.cycles = cy / pk;
    }
    if copies > 0.0 {
        m.copies_mpps = copies / dt / 1e6;
        m.cycles_per_copy = cy / copies;
    }
    m
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

/// A fixture's frames, made on demand.
type Fixture = fn() -> Vec<Vec<u8>>;

fn write(dir: &Path, name: &str, frames: Fixture) -> PathBuf {
    let p = dir.join(name);
    write_pcap(&p, &frames()).expect("fixture");
    p
}

fn main() {
    let a = Args::parse();
    let (runs, secs) = if a.quick {
        (1, 2)
    } else {
        (a.runs.max(1), a.secs.max(1))
    };
    let wanted = |n: &str| a.scenario.is_empty() || a.scenario.iter().any(|s| s == n);
    // Checked before anything starts: a failure mid-scenario leaves
    // processes and DPDK runtime files behind.
    for (what, p) in [("vtepd", vtepd_path()), ("vtepctl", vtepctl_path())] {
        if !p.exists() {
            eprintln!(
                "vtep-perf: no {what} at {} (run `cargo build --release --bins`, or set VTEPD)",
                p.display()
            );
            std::process::exit(2);
        }
    }
    std::fs::create_dir_all(&a.dir).expect("dir");
    let d = &a.dir;
    let mut scenarios = Vec::new();
    let basic = |name, fixture, source, workers| Scenario {
        name,
        fixture,
        source,
        workers,
        static_macs: MACS,
        learn: None,
        flood: 1,
        local_macs: false,
        mbufs: 32767,
        mtu: a.mtu,
        ipv6: false,
        encap: "vxlan",
        group: false,
    };
    if wanted("encap") || wanted("encap-2w") {
        let enc = write(d, "encap.pcap", encap_fixture);
        if wanted("encap") {
            scenarios.push(basic("encap", enc.clone(), Source::Access, 1));
        }
        if wanted("encap-2w") {
            // net_pcap holds a copy of the fixture per RX queue.
            scenarios.push(Scenario {
                mbufs: 65_535,
                ..basic("encap-2w", enc, Source::Access, 2)
            });
        }
    }
    if wanted("decap") || wanted("decap-flood") {
        let dec = write(d, "decap.pcap", decap_fixture);
        if wanted("decap") {
            scenarios.push(Scenario {
                local_macs: true,
                ..basic("decap", dec.clone(), Source::Underlay, 1)
            });
        }
        if wanted("decap-flood") {
            // No entry for the inner destinations: every frame floods to
            // the (one) access port.
            scenarios.push(basic("decap-flood", dec, Source::Underlay, 1));
        }
    }
    // The same over an IPv6 underlay (UDP checksums in software).
    if wanted("encap6") {
        scenarios.push(Scenario {
            ipv6: true,
            ..basic(
                "encap6",
                write(d, "encap.pcap", encap_fixture),
                Source::Access,
                1,
            )
        });
    }
    if wanted("decap6") {
        scenarios.push(Scenario {
            ipv6: true,
            local_macs: true,
            ..basic(
                "decap6",
                write(d, "decap6.pcap", decap6_fixture),
                Source::Underlay,
                1,
            )
        });
    }
    // Geneve and NVGRE, against VXLAN's figures of the same run.
    type Fixture = fn() -> Vec<Vec<u8>>;
    let others: [(&str, &str, &str, Fixture); 2] = [
        (
            "geneve",
            "encap-geneve",
            "decap-geneve",
            decap_geneve_fixture,
        ),
        ("nvgre", "encap-nvgre", "decap-nvgre", decap_nvgre_fixture),
    ];
    for (encap, en, de, fixture) in others {
        if wanted(en) {
            scenarios.push(Scenario {
                encap,
                ..basic(en, write(d, "encap.pcap", encap_fixture), Source::Access, 1)
            });
        }
        if wanted(de) {
            scenarios.push(Scenario {
                encap,
                local_macs: true,
                ..basic(
                    de,
                    write(d, &format!("{de}.pcap"), fixture),
                    Source::Underlay,
                    1,
                )
            });
        }
    }
    if wanted("encap-1m") {
        scenarios.push(Scenario {
            static_macs: 0,
            learn: Some(write(d, "learn-1m.pcap", learn_fixture)),
            mbufs: 131_071,
            ..basic(
                "encap-1m",
                write(d, "encap-1m.pcap", encap_big_fixture),
                Source::Access,
                1,
            )
        });
    }
    let bums: [(&str, Fixture); 2] = [("bum", bum_fixture), ("bum-1k", bum_1k_fixture)];
    for (name, fixture) in bums {
        if wanted(name) {
            scenarios.push(Scenario {
                flood: BUM_REMOTES,
                ..basic(
                    name,
                    write(d, &format!("{name}.pcap"), fixture),
                    Source::Access,
                    1,
                )
            });
        }
    }
    if wanted("bum-group") {
        scenarios.push(Scenario {
            flood: 0,
            group: true,
            ..basic(
                "bum-group",
                write(d, "bum.pcap", bum_fixture),
                Source::Access,
                1,
            )
        });
    }
    let hz = tsc_hz();
    println!(
        "vtep-perf: {runs} run(s) x {secs} s per program; machine: {} cores, {:.0} MHz",
        num_cores(),
        hz / 1e6
    );
    println!(
        "{:<11} {:<22} {:>8} {:>11} {:>6} {:>8}  notes",
        "scenario", "program", "Mpps", "cycles/pkt", "ratio", "RSS MiB"
    );
    let mut failed = false;
    let mut single_encap = None;
    // Each vtepd run is paired with a ceiling measured just before it: the
    // ratio is the median of the pairs' ratios, so a machine that changes
    // speed between pairs moves both sides of each ratio. Runs go round
    // the scenarios (one pair of each per round), so that scenarios
    // compared with each other (Geneve with VXLAN) share every round's
    // drift.
    let mut pairs: Vec<(Vec<f64>, Vec<Measured>)> =
        scenarios.iter().map(|_| (Vec::new(), Vec::new())).collect();
    for round in 1..=runs {
        for (s, (ceils, ms)) in scenarios.iter().zip(&mut pairs) {
            let (c, m) = (ceiling(s, secs, d), vtepd(s, secs, d));
            eprintln!(
                "round {round}/{runs} {:<12} ceiling {c:.2} Mpps, vtepd {:.2} Mpps, ratio {:.2}",
                s.name,
                m.mpps,
                if c > 0.0 { m.mpps / c } else { 0.0 }
            );
            ceils.push(c);
            ms.push(m);
        }
    }
    let ratios_of = |(ceils, ms): &(Vec<f64>, Vec<Measured>)| -> Vec<f64> {
        ceils
            .iter()
            .zip(ms)
            .map(|(c, m)| if *c > 0.0 { m.mpps / c } else { 0.0 })
            .collect()
    };
    let ratios_by_name = |name: &str| {
        scenarios
            .iter()
            .position(|s| s.name == name)
            .map(|i| ratios_of(&pairs[i]))
    };
    for (s, pair) in scenarios.iter().zip(&pairs) {
        let (ceils, ms) = pair;
        let ceil = median(ceils.clone());
        let ratios = ratios_of(pair);
        let med = |f: fn(&Measured) -> f64| median(ms.iter().map(f).collect());
        let (mpps, cyc) = (med(|m| m.mpps), med(|m| m.cycles));
        let rss = ms.iter().map(|m| m.rss_mib).fold(0.0, f64::max);
        let tp_cyc = if ceil > 0.0 {
            hz * s.workers as f64 / (ceil * 1e6)
        } else {
            0.0
        };
        println!(
            "{:<11} {:<22} {ceil:>8.2} {tp_cyc:>11.1} {:>6} {:>8}",
            s.name, "dpdk-testpmd io (ceil)", "1.00", "-"
        );
        let ratio = median(ratios.clone());
        let mut notes = Vec::new();
        if runs > 1 {
            let lo = ratios.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = ratios.iter().copied().fold(0.0, f64::max);
            notes.push(format!("ratio of each pair {lo:.2}..{hi:.2}"));
        }
        if s.name == "encap" {
            single_encap = Some(mpps);
        }
        // Geneve and NVGRE against VXLAN: the median over rounds of each
        // round's quotient of ratios.
        if s.encap != "vxlan" {
            let base = s.name.split('-').next().unwrap_or_default();
            if let Some(vxlan) = ratios_by_name(base) {
                let q: Vec<f64> = ratios
                    .iter()
                    .zip(&vxlan)
                    .map(|(r, v)| if *v > 0.0 { r / v } else { 0.0 })
                    .collect();
                notes.push(format!(
                    "{:.2}x {base}'s ratio (median over rounds of each round's quotient)",
                    median(q)
                ));
            }
        }
        if s.workers > 1 {
            if let Some(one) = single_encap {
                notes.push(format!(
                    "{:.2}x the 1-worker encap rate; worker 2 shares CPU 0 with the main lcore",
                    mpps / one
                ));
            }
        }
        if s.group {
            notes.push(format!(
                "{:.1} cycles per BUM frame, one copy to group {GROUP} (bum: 8 head-end copies)",
                med(|m| m.cycles)
            ));
        }
        if s.flood > 1 {
            notes.push(format!(
                "{:.2} M copies/s to {} remotes, {:.1} cycles/copy",
                med(|m| m.copies_mpps),
                s.flood,
                med(|m| m.cycles_per_copy)
            ));
        }
        if s.learn.is_some() {
            notes.push(format!(
                "{} MACs learned at {:.0} MACs/s while forwarding",
                BIG_MACS,
                med(|m| m.learn_per_sec)
            ));
        }
        println!(
            "{:<11} {:<22} {mpps:>8.2} {cyc:>11.1} {ratio:>6.2} {rss:>8.1}  {}",
            s.name,
            "vtepd",
            notes.join("; ")
        );
        let fwd = med(|m| m.forwarded);
        if fwd < 0.99 {
            eprintln!(
                "vtep-perf: {}: only {:.1}% of packets were forwarded; see {}/vtepd.log",
                s.name,
                fwd * 100.0,
                d.display()
            );
            failed = true;
        }
        failed |= ceil <= 0.0 || mpps <= 0.0;
    }
    if wanted("ndr") {
        let o = ndr::NdrOptions {
            dir: d.join("ndr"),
            hugepages: true,
            macs: 64,
            trial_secs: if a.quick { 0.5 } else { 2.0 },
            max_trials: if a.quick { 5 } else { 10 },
            max_mpps: 0.0,
            moves: 10,
        };
        match ndr::run(&o) {
            Ok(r) => {
                println!(
                    "{:<11} {:<22} {:>8.2} {:>11} {:>6} {:>8}  no-drop rate over memif ({} trials of {} s, limited by {}); latency at NDR p50 {:.1} / p99 {:.1} / p99.9 {:.1} / max {:.1} us",
                    "ndr",
                    "vtepd (memif)",
                    r.ndr_mpps(),
                    "-",
                    "-",
                    "-",
                    r.trials.len(),
                    o.trial_secs,
                    r.result["limited_by"].as_str().unwrap_or("?"),
                    r.latency_ns("p50") as f64 / 1e3,
                    r.latency_ns("p99") as f64 / 1e3,
                    r.latency_ns("p999") as f64 / 1e3,
                    r.latency_ns("max") as f64 / 1e3,
                );
                if let Some(m) = &r.moves {
                    let us = |k: &str| m["latency_us"][k].as_f64().unwrap_or(0.0);
                    println!(
                        "{:<11} {:<22} {:>8} {:>11} {:>6} {:>8}  MAC move to first frame at the new VTEP, {} moves: min {:.0} / p50 {:.0} / max {:.0} us",
                        "move", "vtepd (memif)", "-", "-", "-", "-",
                        o.moves, us("min"), us("p50"), us("max")
                    );
                }
            }
            Err(e) => {
                eprintln!("vtep-perf: ndr: {e}");
                failed = true;
            }
        }
    }
    if failed {
        eprintln!(
            "vtep-perf: a measurement failed or came out empty; logs in {}",
            d.display()
        );
        std::process::exit(1);
    }
}

fn num_cores() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

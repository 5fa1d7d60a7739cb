//! Bandwidth per VNI on DPDK ports: net_pcap ports replay tenant frames
//! (access) and VXLAN (underlay) as fast as the worker takes them, for
//! VNI 100 (limited) and VNI 200 (unlimited) at once. The forwarded rate of
//! VNI 100, read from vtepd's counters over a few seconds, must be within
//! 10% of its limit in each direction, VNI 200 untouched; then a reload to
//! a new rate, then storm control alone against a broadcast flood.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use serde_json::Value;
use vtep_lab::Daemon;
use vtep_lab::{tenant_udp, vxlan_from};
use vtep_testsupport::write_pcap;

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 2, 2];
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const US: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// Tenants on the access port (static), per VNI.
const LOCAL: [[u8; 6]; 2] = [[2, 0, 0, 0, 0x10, 1], [2, 0, 0, 0, 0x20, 1]];
/// Tenants behind the remote (static), per VNI.
const FAR: [[u8; 6]; 2] = [[2, 0, 0, 0, 0x10, 2], [2, 0, 0, 0, 0x20, 2]];
/// Learned from traffic: senders behind the remote.
const SENDER: [[u8; 6]; 2] = [[2, 0, 0, 0, 0x10, 3], [2, 0, 0, 0, 0x20, 3]];

fn tagged(f: &[u8], vid: u16) -> Vec<u8> {
    let mut t = f[..12].to_vec();
    t.extend_from_slice(&[0x81, 0x00, (vid >> 8) as u8, vid as u8]);
    t.extend_from_slice(&f[12..]);
    t
}

/// `workers` 2: every port has two queues (the pcap replayed on each), and
/// the second worker shares CPU 0 with the main lcore.
fn config(dir: &std::path::Path, prefix: &str, workers: usize, vni100: &str) -> String {
    let d = dir.display();
    let rx = |f: &str| vec![format!("rx_pcap={d}/{f}"); workers].join(",");
    let lcores = match workers {
        1 => "\"-l\", \"0-1\"",
        _ => "\"--lcores\", \"0@0,1@1,2@0\"",
    };
    let mut c = format!(
        r#"[eal]
args = [{lcores}, "--no-pci", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix={prefix}",
        "--vdev=net_pcap0,{ul},infinite_rx=1", "--vdev=net_pcap1,{acc},infinite_rx=1"]
[dataplane]
workers = {workers}
mbufs = 16383
[underlay]
port = "net_pcap0"
mac = "02:00:00:00:01:01"
address = "192.0.2.1/24"
[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:02:02"
[[access]]
port = "net_pcap1"
vni = 100
vlans = {{ 10 = 200 }}
[[vni]]
id = 100
flood = ["192.0.2.2"]
{vni100}
[[vni]]
id = 200
flood = ["192.0.2.2"]
[control]
socket = "{d}/vtep.sock"
"#,
        ul = rx("ul.pcap"),
        acc = rx("acc.pcap"),
    );
    for (i, vni) in [100, 200].into_iter().enumerate() {
        let mac = |m: [u8; 6]| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        };
        c.push_str(&format!(
            "[[fdb]]\nvni = {vni}\nmac = \"{}\"\nport = \"net_pcap1\"\n[[fdb]]\nvni = {vni}\nmac = \"{}\"\nremote = \"192.0.2.2\"\n",
            mac(LOCAL[i]),
            mac(FAR[i])
        ));
    }
    c
}

/// 1000-byte tenant frames both ways in both VNIs; VNI 100's access side
/// also sends broadcasts (one frame in four).
fn fixtures(dir: &std::path::Path) {
    let udp = |dst, src, sport| {
        tenant_udp(
            dst,
            src,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            sport,
            9,
            1000 - 42,
        )
    };
    let mut acc = Vec::new();
    let mut ul = Vec::new();
    for n in 0..16u16 {
        acc.push(udp(FAR[0], LOCAL[0], 1000 + n));
        acc.push(tagged(&udp(FAR[1], LOCAL[1], 1000 + n), 10));
        if n % 2 == 0 {
            acc.push(udp([0xff; 6], LOCAL[0], 2000 + n));
        }
        for (i, vni) in [100, 200].into_iter().enumerate() {
            let inner = udp(LOCAL[i], SENDER[i], 3000 + n);
            ul.push(vxlan_from(PEER_MAC, PEER, OUR_MAC, US, vni, &inner));
        }
    }
    write_pcap(&dir.join("acc.pcap"), &acc).unwrap();
    write_pcap(&dir.join("ul.pcap"), &ul).unwrap();
}

fn vni(st: &Value, id: u64) -> &Value {
    st["vnis"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["id"] == id))
        .unwrap_or_else(|| panic!("VNI {id} in {st}"))
}

fn n(v: &Value, k: &str) -> f64 {
    v[k].as_u64().unwrap_or_else(|| panic!("{k} in {v}")) as f64
}

/// VNI counters at the start and end of a measurement.
struct Rates {
    a: Value,
    st: Value,
    dt: f64,
}

impl Rates {
    /// Counter `k` of VNI `id`, per second.
    fn per_sec(&self, id: u64, k: &str) -> f64 {
        (n(vni(&self.st, id), k) - n(vni(&self.a, id), k)) / self.dt
    }
}

/// Rates over `secs`, after a settling second.
fn measure(d: &Daemon, secs: u64) -> Rates {
    std::thread::sleep(Duration::from_secs(1));
    let a = d.ctl(&["stats"]);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    let st = d.ctl(&["stats"]);
    Rates {
        a,
        st,
        dt: t0.elapsed().as_secs_f64(),
    }
}

fn within(what: &str, got: f64, want: f64, st: &Value) {
    let err = (got - want).abs() / want;
    eprintln!(
        "{what}: {got:.0} (limit {want:.0}, {:+.1}%)",
        100.0 * (got - want) / want
    );
    assert!(err <= 0.10, "{what}: {got:.0}/s against {want:.0}/s: {st}");
}

fn accounting_holds(st: &Value) {
    let a = &st["accounting"];
    let k = |x: &str| a[x].as_u64().unwrap();
    assert_eq!(
        k("rx_packets"),
        k("forwarded") + k("dropped") + k("punted"),
        "{a}"
    );
    let drops = &st["drops"];
    assert_eq!(
        k("dropped"),
        drops["policed"].as_u64().unwrap() + drops["storm_control"].as_u64().unwrap(),
        "only the limits drop: {drops}"
    );
}

#[test]
fn a_vni_is_held_to_its_rate_both_ways_and_reload_changes_it() {
    let dir = Daemon::dir_for("police");
    fixtures(&dir);
    let prefix = Daemon::prefix_for("police");
    let d = vtep_lab::daemon("police", &config(&dir, &prefix, 1, "rate_mbps = 20"));
    let shown = d.ctl(&["vni", "show"]);
    let v100 = shown
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == 100)
        .unwrap();
    assert_eq!(
        (v100["rate_mbps"].as_u64(), v100["burst_kb"].as_u64()),
        (Some(20), Some(36)),
        "default burst: four jumbo frames"
    );

    for mbps in [20.0, 50.0] {
        if mbps != 20.0 {
            std::fs::write(
                dir.join("vtep.toml"),
                config(&dir, &prefix, 1, &format!("rate_mbps = {mbps}")),
            )
            .unwrap();
            let r = d.ctl(&["reload"]);
            assert!(r["generation"].as_u64().is_some(), "reload: {r}");
        }
        let r = measure(&d, 3);
        let bytes = mbps * 1e6 / 8.0;
        within(
            &format!("VNI 100 encap at {mbps} Mbit/s, bytes/s"),
            r.per_sec(100, "encap_bytes"),
            bytes,
            &r.st,
        );
        within(
            &format!("VNI 100 decap at {mbps} Mbit/s, bytes/s"),
            r.per_sec(100, "decap_bytes"),
            bytes,
            &r.st,
        );
        assert!(r.per_sec(100, "policed_encap_packets") > 0.0, "{}", r.st);
        assert!(r.per_sec(100, "policed_decap_packets") > 0.0, "{}", r.st);
        // VNI 200 shares the ports and the worker and is not held.
        let v200 = vni(&r.st, 200);
        assert_eq!(
            n(v200, "policed_encap_packets") + n(v200, "policed_decap_packets"),
            0.0
        );
        for k in ["encap_bytes", "decap_bytes"] {
            let got = r.per_sec(200, k);
            assert!(got > 3.0 * bytes, "VNI 200 {k}: {got:.0}/s: {}", r.st);
        }
        accounting_holds(&r.st);
    }

    // Storm control alone: broadcasts over 2000/s are dropped before
    // replication; VNI 100's unicast is no longer held.
    std::fs::write(
        dir.join("vtep.toml"),
        config(&dir, &prefix, 1, "flood_pps = 2000"),
    )
    .unwrap();
    assert!(d.ctl(&["reload"])["generation"].as_u64().is_some());
    let r = measure(&d, 3);
    within(
        "VNI 100 floods/s",
        r.per_sec(100, "flood_packets"),
        2000.0,
        &r.st,
    );
    assert!(r.per_sec(100, "storm_control_packets") > 2000.0, "{}", r.st);
    assert_eq!(r.per_sec(100, "policed_encap_packets"), 0.0);
    assert!(r.per_sec(100, "encap_bytes") > 3.0 * 50e6 / 8.0, "{}", r.st);
    accounting_holds(&r.st);
    let text = std::process::Command::new(vtep_lab::vtepctl_path())
        .arg("--socket")
        .arg(d.socket())
        .args(["vni", "show"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("rate unlimited flood_pps 2000"), "{text}");
    // DPDK telemetry shows the drops per VNI and in the totals.
    let tel = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '/vtep/stats\\n' | dpdk-telemetry.py -f {prefix}"
        ))
        .output()
        .unwrap();
    let tel = String::from_utf8_lossy(&tel.stdout);
    let vs = tel
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find_map(|v| v.get("/vtep/stats").cloned())
        .unwrap_or_else(|| panic!("no /vtep/stats in {tel}"));
    for k in [
        "vni100_storm_control",
        "vni100_policed_encap",
        "vni100_policed_decap",
        "drop_policed",
        "drop_storm_control",
    ] {
        assert!(vs[k].as_u64().unwrap_or(0) > 0, "{k}: {vs}");
    }
}

#[test]
fn two_workers_together_stay_within_the_limit() {
    let dir = Daemon::dir_for("police2w");
    fixtures(&dir);
    let prefix = Daemon::prefix_for("police2w");
    let d = vtep_lab::daemon(
        "police2w",
        &config(&dir, &prefix, 2, "rate_mbps = 30\nflood_pps = 1000"),
    );
    let r = measure(&d, 3);
    // Both workers forward VNI 100: the limit is on their sum.
    let w = r.st["workers"].as_array().expect("workers");
    assert_eq!(w.len(), 2);
    assert!(
        w.iter().all(|w| w["rx_packets"].as_u64().unwrap_or(0) > 0),
        "both workers receive: {}",
        r.st["workers"]
    );
    let bytes = 30e6 / 8.0;
    within(
        "2 workers, VNI 100 encap bytes/s",
        r.per_sec(100, "encap_bytes"),
        bytes,
        &r.st,
    );
    within(
        "2 workers, VNI 100 decap bytes/s",
        r.per_sec(100, "decap_bytes"),
        bytes,
        &r.st,
    );
    accounting_holds(&r.st);
}

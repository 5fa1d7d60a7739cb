//! Resource limits: 100,000 random source MACs flood VNI 100 (mac_limit
//! 1000), replayed in a loop (the pcap PMD holds the whole file in mbufs). At most 1000 are ever learned there, the
//! overflow is counted, and VNI 200's static entries and traffic are
//! untouched. The learn-event queue (64 here) overflows; that is counted
//! and never stalls forwarding.
//!
//! Every assertion holds for any scheduling of the worker and the
//! management thread: the limit is checked at every sample, and what
//! depends on the management thread getting CPU (reaching the limit,
//! learning VNI 200's tenant) is waited for while the flood repeats.
use std::time::{Duration, Instant};

use vtep_lab::corpus::{inner, TENANT};
use vtep_lab::Daemon;
use vtep_testsupport::write_pcap;

const FLOOD: usize = 100_000;

#[test]
fn mac_flood_is_bounded() {
    let dir = Daemon::dir_for("macflood");
    let mut frames = Vec::with_capacity(FLOOD + FLOOD / 100);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let target = [2, 0, 0, 0, 0, 0xbb];
    for i in 0..FLOOD {
        // xorshift: deterministic "random" unicast, locally administered MACs.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_be_bytes();
        let src = [0x02, b[1], b[2], b[3], b[4], b[5]];
        frames.push(inner(target, src, i as u16));
        if i % 100 == 0 {
            // VNI 200 (VID 10) traffic from a fixed tenant to a static entry.
            let f = inner([2, 0, 0, 0, 2, 0xcc], TENANT, i as u16);
            let mut t = f[..12].to_vec();
            t.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a]);
            t.extend_from_slice(&f[12..]);
            frames.push(t);
        }
    }
    write_pcap(&dir.join("acc.pcap"), &frames).unwrap();
    let cfg = format!(
        r#"[eal]
args = ["-l", "0-1", "--no-pci", "--no-huge", "-m", "1024", "--no-shconf", "--file-prefix={prefix}",
        "--vdev=net_null0,no-rx=1", "--vdev=net_pcap0,rx_pcap={d}/acc.pcap,infinite_rx=1"]
[dataplane]
mbufs = 131071
learn_queue = 64
[underlay]
port = "net_null0"
address = "192.0.2.1/24"
[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:02:02"
[[access]]
port = "net_pcap0"
vni = 100
vlans = {{ 10 = 200 }}
[[vni]]
id = 100
flood = ["192.0.2.2"]
mac_limit = 1000
[[vni]]
id = 200
flood = ["192.0.2.2"]
[[fdb]]
vni = 100
mac = "02:00:00:00:00:bb"
remote = "192.0.2.2"
[[fdb]]
vni = 200
mac = "02:00:00:00:02:cc"
remote = "192.0.2.2"
[control]
socket = "{d}/vtep.sock"
"#,
        d = dir.display(),
        prefix = Daemon::prefix_for("macflood"),
    );
    let mut vtepd = vtep_lab::daemon("macflood", &cfg);
    let vni = |stats: &serde_json::Value, id: u64| {
        stats["vnis"]
            .as_array()
            .and_then(|a| a.iter().find(|v| v["id"] == id))
            .unwrap_or_else(|| panic!("no VNI {id} in {stats}"))
            .clone()
    };
    let tenant_learned = |d: &Daemon| {
        d.ctl(&["fdb", "show", "--vni", "200"])
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["kind"] == "learned")
    };
    let t0 = Instant::now();
    let stats = loop {
        let stats = vtepd.ctl(&["stats"]);
        let learned = vni(&stats, 100)["learned_macs"].as_u64().unwrap();
        assert!(learned <= 1000, "never more than mac_limit: {learned}");
        let limited = stats["fdb"]["mac_limit_drops"].as_u64().unwrap();
        let lost = stats["learn_events_dropped"].as_u64().unwrap();
        if learned == 1000 && limited > 0 && lost > 0 && tenant_learned(&vtepd) {
            break stats;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "flood did not reach the limit: learned {learned}, limited {limited}, lost {lost}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    eprintln!(
        "learned in VNI 100: 1000 after {:?}, mac_limit_drops {}, learn events dropped {}",
        t0.elapsed(),
        stats["fdb"]["mac_limit_drops"],
        stats["learn_events_dropped"]
    );
    // Forwarding never stalled: everything received was forwarded
    // (unicast to static entries), and the accounting identity is exact.
    let a = &stats["accounting"];
    assert_eq!(a["dropped"], 0, "{a}");
    assert_eq!(a["punted"], 0, "{a}");
    assert_eq!(a["forwarded"], a["rx_packets"], "{a}");
    assert!(
        vni(&stats, 200)["encap_packets"].as_u64().unwrap() > 0,
        "VNI 200 carried its traffic"
    );
    assert_eq!(
        vni(&stats, 200)["learned_macs"],
        1,
        "VNI 200 learned only its tenant"
    );
    let f200 = vtepd.ctl(&["fdb", "show", "--vni", "200"]);
    let rows = f200.as_array().unwrap();
    assert!(rows
        .iter()
        .any(|r| r["mac"] == "02:00:00:00:02:cc" && r["kind"] == "static"));
    assert_eq!(
        rows.len(),
        2,
        "VNI 200: its static entry and its one tenant: {rows:?}"
    );
    let f100 = vtepd.ctl(&["fdb", "show", "--vni", "100"]);
    assert!(
        f100.as_array()
            .unwrap()
            .iter()
            .any(|r| r["mac"] == "02:00:00:00:00:bb" && r["kind"] == "static"),
        "static entry kept"
    );
    assert!(vtepd.stop());
}

//! Mempool exhaustion: a pool of 1023 mbufs, all but about 60 held by the
//! pcap port's replay ring, and broadcasts flooded to 8 remotes (one mbuf
//! per copy: net_null offers no multi-segment transmit, so copies are
//! private). Allocation failures are counted (flood copy drops, port nombuf),
//! the worker never wedges, unicast keeps flowing, the accounting holds,
//! and vtepd stops cleanly.
use std::time::Duration;

use vtep_lab::corpus::{inner, TENANT};
use vtep_lab::Daemon;
use vtep_testsupport::write_pcap;

#[test]
fn exhaustion_is_counted_and_survived() {
    let dir = Daemon::dir_for("exhaust");
    // 960 frames: the replay ring holds them all; ~60 mbufs stay free.
    let mut frames = Vec::new();
    for i in 0..960u16 {
        let mut bcast = inner([0xff; 6], TENANT, i);
        bcast.resize(400, 0x42);
        frames.push(if i % 3 == 0 {
            inner([2, 0, 0, 0, 0, 0xbb], TENANT, i)
        } else {
            bcast
        });
    }
    write_pcap(&dir.join("acc.pcap"), &frames).unwrap();
    let remotes: Vec<String> = (2..10).map(|i| format!("192.0.2.{i}")).collect();
    let neigh: String = (2..10)
        .map(|i| format!("[[neighbor]]\nip = \"192.0.2.{i}\"\nmac = \"02:00:00:00:02:{i:02x}\"\n"))
        .collect();
    let cfg = format!(
        r#"[eal]
args = ["-l", "0-1", "--no-pci", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix={prefix}",
        "--vdev=net_null0,no-rx=1", "--vdev=net_pcap0,rx_pcap={d}/acc.pcap,infinite_rx=1"]
[dataplane]
mbufs = 1023
[underlay]
port = "net_null0"
address = "192.0.2.1/24"
{neigh}
[[access]]
port = "net_pcap0"
vni = 100
[[vni]]
id = 100
flood = {remotes:?}
[[fdb]]
vni = 100
mac = "02:00:00:00:00:bb"
remote = "192.0.2.2"
[control]
socket = "{d}/vtep.sock"
"#,
        d = dir.display(),
        prefix = Daemon::prefix_for("exhaust"),
    );
    let mut vtepd = vtep_lab::daemon("exhaust", &cfg);
    let ctl = || vtepd.ctl(&["stats"]);
    std::thread::sleep(Duration::from_secs(1));
    let a = ctl();
    std::thread::sleep(Duration::from_secs(1));
    let b = ctl();
    let n = |v: &serde_json::Value, k: &str| v["accounting"][k].as_u64().unwrap();
    let nombuf: u64 = b["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rx_nombuf"].as_u64().unwrap())
        .sum();
    let copy_drops = b["flood_copy_drops"].as_u64().unwrap();
    eprintln!(
        "in 1 s: forwarded {} -> {}, flood copies {}, copy drops {copy_drops}, port nombuf {nombuf}",
        n(&a, "forwarded"),
        n(&b, "forwarded"),
        n(&b, "flood_copies")
    );
    assert!(
        copy_drops + nombuf > 0,
        "exhaustion happened and was counted"
    );
    assert!(
        n(&b, "forwarded") > n(&a, "forwarded") + 1000,
        "forwarding goes on while the pool runs dry"
    );
    assert_eq!(
        n(&b, "rx_packets"),
        n(&b, "forwarded") + n(&b, "dropped") + n(&b, "punted")
    );
    let remote_tx: u64 = b["remotes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["tx_packets"].as_u64().unwrap())
        .sum();
    assert!(remote_tx > 0);
    assert!(vtepd.stop(), "vtepd stops cleanly after exhaustion");
}

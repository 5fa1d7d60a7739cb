//! The malformed-input corpus through a running vtepd on both sides, each
//! case interleaved with valid traffic: every case ends as the corpus says
//! (drop reason, forward or punt), the valid frames all come out intact,
//! vtepd stays up, and rx == forwarded + dropped + punted exactly.
use std::collections::BTreeMap;
use std::time::Duration;

use vtep_lab::corpus::{
    self, access_cases, good_vxlan, inner, underlay_cases, Expect, CORPUS_CONFIG,
};
use vtep_lab::Daemon;
use vtep_testsupport::{read_pcap, write_pcap};

#[test]
fn corpus_replay() {
    let dir = Daemon::dir_for("corpus");
    let ul_cases = underlay_cases();
    let acc_cases = access_cases();
    let mut ul_in = Vec::new();
    let mut ul_valid = Vec::new();
    for (i, c) in ul_cases.iter().enumerate() {
        let g = good_vxlan(100, i as u16);
        ul_valid.push(g[50..].to_vec());
        ul_in.push(g);
        ul_in.push(c.frame.clone());
    }
    let mut acc_in = Vec::new();
    let mut acc_valid = Vec::new();
    for (i, c) in acc_cases.iter().enumerate() {
        let g = inner(corpus::REMOTE_TENANT, corpus::TENANT, 0x8000 + i as u16);
        acc_valid.push(g.clone());
        acc_in.push(g);
        acc_in.push(c.frame.clone());
    }
    write_pcap(&dir.join("ul.pcap"), &ul_in).unwrap();
    write_pcap(&dir.join("acc.pcap"), &acc_in).unwrap();
    let cfg = format!(
        r#"[eal]
args = ["-l", "0-1", "--no-pci", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix={prefix}",
        "--vdev=net_pcap0,rx_pcap={d}/ul.pcap,tx_pcap={d}/ul_out.pcap",
        "--vdev=net_pcap1,rx_pcap={d}/acc.pcap,tx_pcap={d}/acc_out.pcap"]
[dataplane]
mbufs = 8191
{CORPUS_CONFIG}
[[fdb]]
vni = 100
mac = "02:00:00:00:00:bb"
remote = "192.0.2.2"
[control]
socket = "{d}/vtep.sock"
"#,
        d = dir.display(),
        prefix = Daemon::prefix_for("corpus"),
    );
    let mut vtepd = vtep_lab::daemon("corpus", &cfg);
    let total = (ul_in.len() + acc_in.len()) as u64;
    vtepd.wait_frames(total, 20);
    std::thread::sleep(Duration::from_millis(300));
    let stats = vtepd.ctl(&["stats"]);

    let mut want: BTreeMap<&str, u64> = BTreeMap::new();
    let (mut fwd, mut punt, mut too_big) = ((ul_in.len() + acc_in.len()) as u64 / 2, 0, 0);
    for c in ul_cases.iter().chain(acc_cases.iter()) {
        match c.expect {
            Expect::Drop(r) => *want.entry(r).or_default() += 1,
            Expect::Forward => fwd += 1,
            Expect::Punt => punt += 1,
            Expect::TooBig => too_big += 1,
        }
    }
    let drops = &stats["drops"];
    let multi = drops["multi_segment"].as_u64().unwrap();
    let port_err: u64 = stats["ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["rx_errors"].as_u64().unwrap())
        .sum();
    assert_eq!(
        multi + port_err,
        too_big,
        "oversize frames are dropped by the port or as multi-segment"
    );
    if multi > 0 {
        want.insert("multi_segment", multi);
    }
    let mut wrong = Vec::new();
    for (k, v) in drops.as_object().unwrap() {
        let got = v.as_u64().unwrap();
        let exp = want.get(k.as_str()).copied().unwrap_or(0);
        if got != exp {
            wrong.push(format!("{k}: got {got}, want {exp}"));
        }
    }
    assert!(
        wrong.is_empty(),
        "drop counters differ from the corpus:\n{}",
        wrong.join("\n")
    );
    let a = &stats["accounting"];
    let n = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(
        n("rx_packets"),
        n("forwarded") + n("dropped") + n("punted"),
        "accounting identity"
    );
    assert_eq!(n("rx_packets"), total - port_err);
    assert_eq!(n("forwarded"), fwd);
    assert_eq!(n("punted"), punt);
    assert_eq!(stats["vxlan_reserved_bits_seen"], 1);
    assert_eq!(
        stats["mempool"]["available"], stats["mempool"]["size"],
        "no mbuf leaked"
    );

    // Isolation: the spoofed source (192.0.2.99) taught nothing; the inner
    // source is known only behind the real remote.
    let fdb = vtepd.ctl(&["fdb", "show"]);
    let rows = fdb.as_array().unwrap();
    assert!(
        rows.iter().all(|r| r["remote"] != "192.0.2.99"),
        "spoofed source never enters the FDB: {fdb}"
    );
    assert!(rows
        .iter()
        .all(|r| r["mac"] != "ff:ff:ff:ff:ff:ff" && r["mac"] != "00:00:00:00:00:00"));
    assert!(stats["remotes"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["ip"] != "192.0.2.99"));
    assert!(vtepd.stop(), "vtepd stayed up and exits cleanly");
    let acc_out = read_pcap(&dir.join("acc_out.pcap")).unwrap();
    for v in &ul_valid {
        assert!(
            acc_out.contains(v),
            "valid VXLAN traffic interleaved with the corpus was delivered intact"
        );
    }
    let ul_out: Vec<_> = read_pcap(&dir.join("ul_out.pcap"))
        .unwrap()
        .into_iter()
        .filter(|f| f.len() > 50 && f[12..14] == [8, 0])
        .collect();
    for v in &acc_valid {
        assert!(
            ul_out.iter().any(|f| f[50..] == v[..]),
            "valid tenant traffic encapsulated intact"
        );
    }
}

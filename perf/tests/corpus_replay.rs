//! The malformed-input corpus through a running vtepd on both sides, each
//! case interleaved with valid traffic: every case ends as the corpus says
//! (drop reason, forward or punt), the valid frames all come out intact,
//! vtepd stays up, and rx == forwarded + dropped + punted exactly.
use std::collections::BTreeMap;
use std::fs::File;
use std::process::Command;
use std::time::{Duration, Instant};

use pcap_file::pcap::PcapReader;
use vtep_perf::corpus::{
    self, access_cases, good_vxlan, inner, underlay_cases, Expect, CORPUS_CONFIG,
};
use vtep_perf::lab::{vtepctl_path, vtepd_path};
use vtep_perf::write_pcap;

fn read_pcap(p: &std::path::Path) -> Vec<Vec<u8>> {
    let mut r = PcapReader::new(File::open(p).unwrap()).unwrap();
    let mut v = Vec::new();
    while let Some(x) = r.next_packet() {
        v.push(x.unwrap().data.into_owned());
    }
    v
}

#[test]
fn corpus_replay() {
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("vtep-corpus-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
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
args = ["-l", "0-1", "--no-pci", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix=vtep-corpus-{pid}",
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
        d = dir.display()
    );
    std::fs::write(dir.join("vtep.toml"), cfg).unwrap();
    let mut vtepd = vtep_perf::lab::Reaper(
        Command::new(vtepd_path())
            .arg("--config")
            .arg(dir.join("vtep.toml"))
            .stderr(File::create(dir.join("log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let sock = dir.join("vtep.sock");
    let ctl = || -> serde_json::Value {
        let o = Command::new(vtepctl_path())
            .arg("--socket")
            .arg(&sock)
            .args(["--json", "stats"])
            .output()
            .unwrap();
        serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
    };
    let total = (ul_in.len() + acc_in.len()) as u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    let stats = loop {
        if sock.exists() {
            let s = ctl();
            let rx = s["accounting"]["rx_packets"].as_u64().unwrap_or(0);
            let port_err: u64 = s["ports"]
                .as_array()
                .map(|a| a.iter().map(|p| p["rx_errors"].as_u64().unwrap_or(0)).sum())
                .unwrap_or(0);
            if rx + port_err == total {
                break s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "not all frames reached vtepd:\n{}",
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    std::thread::sleep(Duration::from_millis(300));
    let stats = {
        let s = ctl();
        if s.is_null() {
            stats
        } else {
            s
        }
    };

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
    let o = Command::new(vtepctl_path())
        .arg("--socket")
        .arg(&sock)
        .args(["--json", "fdb", "show"])
        .output()
        .unwrap();
    let fdb: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
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
    let acc_out = read_pcap(&dir.join("acc_out.pcap"));
    for v in &ul_valid {
        assert!(
            acc_out.contains(v),
            "valid VXLAN traffic interleaved with the corpus was delivered intact"
        );
    }
    let ul_out: Vec<_> = read_pcap(&dir.join("ul_out.pcap"))
        .into_iter()
        .filter(|f| f.len() > 50 && f[12..14] == [8, 0])
        .collect();
    for v in &acc_valid {
        assert!(
            ul_out.iter().any(|f| f[50..] == v[..]),
            "valid tenant traffic encapsulated intact"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/vtep-corpus-{pid}"));
}

//! Scenario 2: no static FDB. First packets are flooded to every kernel
//! VTEP; replies teach the FDB; then unicast goes only to the right VTEP.
//! A capture on the underlay shows VXLAN with VNI 100 and source ports in
//! 49152-65535 that differ between flows.
use std::time::Duration;

use vtep_lab::{Lab, LabOptions, K1_IP, K2_IP, T1_MAC, T2_MAC};

fn remote_tx(lab: &Lab, ip: &str) -> u64 {
    let st = lab.ctl(&["stats"]);
    st["remotes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ip"] == ip)
        .unwrap()["tx_packets"]
        .as_u64()
        .unwrap()
}

#[test]
fn learning_then_unicast() {
    let lab = Lab::new(LabOptions {
        static_fdb: false,
        ..LabOptions::default()
    });
    let cap = lab.dir.join("ul.pcap");
    let mut tcpdump = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &lab.ns("ul"),
            "tcpdump",
            "-i",
            &lab.underlay_capture_iface(),
            "-U",
            "-w",
        ])
        .arg(&cap)
        .args(["udp", "port", "4789"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(700));

    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "t0 -> t1 by flooding and learning\n{}",
        lab.log()
    );
    let st = lab.ctl(&["stats"]);
    assert!(
        st["vnis"][0]["flood_packets"].as_u64().unwrap() >= 1,
        "the first ARP was flooded"
    );
    let k2_before = remote_tx(&lab, K2_IP);
    assert!(k2_before >= 1, "the flood reached k2 too");

    let fdb = lab.ctl(&["fdb", "show", "--vni", "100"]);
    let rows = fdb.as_array().unwrap();
    let t1 = rows
        .iter()
        .find(|r| r["mac"] == T1_MAC)
        .expect("t1 learned");
    assert_eq!(t1["kind"], "learned");
    assert_eq!(t1["remote"], K1_IP);
    assert!(
        rows.iter()
            .any(|r| r["mac"] == "02:00:00:00:00:10" && r["port"].is_string()),
        "local MAC learned"
    );

    // Unicast now: 20 pings with two flows (ICMP ids differ) go only to k1.
    let k1_before = remote_tx(&lab, K1_IP);
    lab.must_exec("t0", "ping -c 10 -i 0.05 -W 1 10.0.0.11");
    lab.must_exec("t0", "ping -c 10 -i 0.05 -W 1 10.0.0.11");
    assert!(remote_tx(&lab, K1_IP) >= k1_before + 20);
    let k2_after = remote_tx(&lab, K2_IP);
    if k2_after != k2_before {
        std::thread::sleep(Duration::from_millis(300));
        let _ = std::process::Command::new("kill")
            .arg("-INT")
            .arg(tcpdump.id().to_string())
            .status();
        let _ = tcpdump.wait();
        let (_, t) = vtep_lab::sh(&format!("tcpdump -enr {} 2>/dev/null", cap.display()));
        panic!("k2 got more: {k2_before} -> {k2_after}\n{t}");
    }

    assert!(lab.ping("t0", "10.0.0.12", 20));
    let fdb = lab.ctl(&["fdb", "show"]);
    assert!(fdb
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["mac"] == T2_MAC && r["remote"] == K2_IP));

    std::thread::sleep(Duration::from_millis(300));
    let _ = std::process::Command::new("kill")
        .arg("-INT")
        .arg(tcpdump.id().to_string())
        .status();
    let _ = tcpdump.wait();
    let (_, text) = vtep_lab::sh(&format!(
        "tcpdump -nr {} 'src host 192.0.2.1' 2>/dev/null",
        cap.display()
    ));
    let mut ports = std::collections::BTreeSet::new();
    let mut lines = 0;
    for l in text.lines().filter(|l| l.contains("VXLAN")) {
        lines += 1;
        assert!(l.contains("vni 100"), "{l}");
        // "IP 192.0.2.1.SPORT > 192.0.2.2.4789: VXLAN ..."
        let sport: u32 = l
            .split_whitespace()
            .nth(2)
            .unwrap()
            .rsplit('.')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((49152..=65535).contains(&sport), "{l}");
        ports.insert(sport);
    }
    assert!(
        lines >= 20,
        "captured {lines} VXLAN packets from vtepd:\n{text}"
    );
    assert!(
        ports.len() >= 2,
        "different flows, different source ports: {ports:?}"
    );
}

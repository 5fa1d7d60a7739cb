//! Jumbo frames end to end: an underlay MTU of 9000 to Linux kernel VXLAN
//! peers (one on-link, one behind a router); tenants get 8950. 8900-byte
//! pings with DF set cross both ways, and TCP runs. The ports are net_pcap
//! on veths: DPDK 22.11's net_tap and net_af_packet drivers take at most
//! 1504 and 1500 (vtepd refuses more on them, see `mtu_above_the_device`).
use vtep_lab::{iperf, Lab, LabOptions, PortKind};

#[test]
fn jumbo_frames_cross_both_ways() {
    let lab = Lab::new(LabOptions {
        kind: PortKind::Pcap,
        mtu: 9000,
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    for (from, to) in [
        ("t0", "10.0.0.11"),
        ("t1", "10.0.0.10"),
        ("t0", "10.0.0.12"),
        ("t2", "10.0.0.10"),
    ] {
        let (ok, out) = lab.exec(from, &format!("ping -M do -s 8900 -c 3 -W 2 {to}"));
        assert!(
            ok,
            "{from} -> {to} with 8928-byte IP packets, DF set:\n{out}\n{}",
            lab.ctl(&["stats"])
        );
    }
    // One byte more than the tenant MTU cannot leave t0 with DF set.
    let (ok, _) = lab.exec("t0", "ping -M do -s 8923 -c 1 -W 1 10.0.0.11");
    assert!(!ok, "8951-byte IP packet left an 8950 MTU interface");
    for reverse in [false, true] {
        let r = iperf(&lab, "t0", "t1", "10.0.0.11", 2, reverse);
        assert!(r.bps > 1e6, "throughput {:.1} Mbit/s", r.bps / 1e6);
        eprintln!("jumbo, reverse={reverse}: {:.0} Mbit/s", r.bps / 1e6);
    }
    let st = lab.ctl(&["stats"]);
    for r in [
        "mtu_exceeded",
        "multi_segment",
        "no_headroom",
        "ipv4_checksum",
    ] {
        assert_eq!(st["drops"][r].as_u64().unwrap_or(0), 0, "{r}: {st}");
    }
    assert_eq!(lab.drops_but_noise(), 0, "{}", st["drops"]);
    let ports = st["ports"].as_array().expect("ports");
    assert!(ports.iter().all(|p| p["link_up"] == true), "{st}");
}

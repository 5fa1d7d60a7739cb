//! VXLAN over an IPv6 underlay against Linux kernel VTEPs with their
//! default checksum settings (computed UDP checksums sent, zero ones
//! refused): k1 on-link, k2 behind an IPv6 router that vtepd reaches
//! through its gateway, resolved by neighbour discovery. Nothing is
//! static: the first frames flood, the replies teach the FDB, and the
//! MACs end up behind IPv6 remotes.
use vtep_lab::{iperf, Lab, LabOptions, PortKind, T1_MAC, T2_MAC, V6};

#[test]
fn ipv6_underlay_interop_with_the_kernel() {
    let lab = Lab::new(LabOptions {
        ipv6: true,
        static_fdb: false,
        ..LabOptions::default()
    });
    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "t0 -> t1 (k1, on-link)\n{}",
        lab.log()
    );
    assert!(
        lab.ping("t0", "10.0.0.12", 20),
        "t0 -> t2 (k2, via the gateway)\n{}",
        lab.log()
    );
    assert!(lab.ping("t1", "10.0.0.10", 10), "t1 -> t0");
    assert!(lab.ping("t2", "10.0.0.10", 10), "t2 -> t0");

    // Underlay: the kernel resolved vtepd's address by ND, and vtepd
    // answers ICMPv6 echo, on-link and through the router.
    let (_, kn) = lab.exec("k1", &format!("ip -6 neigh show {}", V6.vtep));
    assert!(kn.contains("lladdr"), "k1 resolved the VTEP address: {kn}");
    assert!(lab.ping("k1", V6.vtep, 5), "VTEP answers ping6 (on-link)");
    assert!(lab.ping("k2", V6.vtep, 5), "VTEP answers ping6 (routed)");

    // TCP both ways across the overlay.
    let up = iperf(&lab, "t0", "t1", "10.0.0.11", 2, false);
    let down = iperf(&lab, "t0", "t1", "10.0.0.11", 2, true);
    assert!(up.bps > 1e6 && down.bps > 1e6, "{} {}", up.bps, down.bps);

    // Learned behind IPv6 remotes.
    let fdb = lab.ctl(&["fdb", "show", "--vni", "100"]);
    let remote_of = |mac: &str| {
        fdb.as_array()
            .unwrap()
            .iter()
            .find(|e| e["mac"] == mac)
            .unwrap_or_else(|| panic!("{mac} not learned: {fdb}"))["remote"]
            .clone()
    };
    assert_eq!(remote_of(T1_MAC), V6.k1, "{fdb}");
    assert_eq!(remote_of(T2_MAC), V6.k2, "{fdb}");

    for ip in [V6.gw, V6.k1] {
        let n = lab.neighbor(ip);
        assert_eq!(n["state"], "reachable", "{n}");
    }

    let st = lab.ctl(&["stats"]);
    let a = &st["accounting"];
    let n = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(n("rx_packets"), n("forwarded") + n("dropped") + n("punted"));
    let drops = &st["drops"];
    for r in [
        "udp_bad_checksum",
        "udp6_zero_checksum",
        "nd_invalid",
        "mtu_exceeded",
    ] {
        assert_eq!(drops[r], 0, "{r}: {drops}");
    }
    let m = &st["management"];
    assert!(m["nd_solicitations_sent"].as_u64().unwrap() >= 2, "{m}");
    // The unsolicited one at start; solicited ones only if the kernel
    // asked (it may have taken vtepd's MAC from vtepd's own solicitation).
    assert!(m["nd_advertisements_sent"].as_u64().unwrap() >= 1, "{m}");
    assert!(m["echo_replies_sent"].as_u64().unwrap() >= 2, "{m}");
    let remotes: Vec<String> = st["remotes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["rx_packets"].as_u64().unwrap() > 0)
        .map(|r| r["ip"].as_str().unwrap().to_string())
        .collect();
    assert!(
        remotes.contains(&V6.k1.to_string()) && remotes.contains(&V6.k2.to_string()),
        "{remotes:?}"
    );
    // The kernel found every UDP checksum vtepd computed right.
    for k in ["k1", "k2"] {
        let (_, out) = lab.exec(k, "nstat -az Udp6InCsumErrors Udp6InErrors");
        let errs: u64 = out
            .lines()
            .filter(|l| l.starts_with("Udp6In"))
            .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
            .sum();
        assert_eq!(errs, 0, "{k}: {out}");
    }
}

/// The same over net_tap, which offers UDP checksum offload both ways:
/// vtepd leaves its outer UDP checksums to the port on transmit and takes
/// the port's verdict on receive (net_tap reports it as a plain UDP
/// packet's), and the kernel VTEPs, which refuse bad ones, take every
/// packet both ways.
#[test]
fn ipv6_underlay_with_the_checksum_offloaded_on_tap() {
    let lab = Lab::new(LabOptions {
        kind: PortKind::Tap,
        ipv6: true,
        static_fdb: false,
        ..LabOptions::default()
    });
    assert!(
        lab.log()
            .contains("UDP checksum over IPv6 in the NIC on transmit and receive"),
        "{}",
        lab.log()
    );
    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "t0 -> t1 (k1, on-link)\n{}",
        lab.log()
    );
    assert!(lab.ping("t0", "10.0.0.12", 20), "t0 -> t2 (k2, routed)");
    assert!(lab.ping("t1", "10.0.0.10", 10), "t1 -> t0");
    let up = iperf(&lab, "t0", "t1", "10.0.0.11", 2, false);
    let down = iperf(&lab, "t0", "t1", "10.0.0.11", 2, true);
    assert!(up.bps > 1e6 && down.bps > 1e6, "{} {}", up.bps, down.bps);
    // Nothing the kernels sent back was refused by vtepd's own checks.
    let drops = &lab.ctl(&["stats"])["drops"];
    assert_eq!(
        drops["udp_bad_checksum"]
            .as_u64()
            .expect("the counter exists"),
        0,
        "{drops}"
    );
}

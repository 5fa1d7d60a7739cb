//! `udp6_zero_checksum_tx` against Linux kernel VTEPs that accept zero
//! UDP checksums over IPv6, with a link-local gateway. (Its own file: a
//! lab is named after the test process, one lab per process.)
use vtep_lab::{Lab, LabOptions, V6};

/// `udp6_zero_checksum_tx` against kernel VTEPs told to accept (and send)
/// zero UDP checksums over IPv6, and the router's link-local address as
/// vtepd's gateway (how routed fabrics usually name their next hops).
#[test]
fn ipv6_zero_checksums_and_a_link_local_gateway() {
    let lab = Lab::new(LabOptions {
        ipv6: true,
        underlay_extra: "udp6_zero_checksum_tx = true".into(),
        // The router's bridge has the fixed MAC 02:00:00:00:fe:fe.
        gateway: Some("fe80::ff:fe00:fefe".into()),
        kernel_vxlan_extra: "udp6zerocsumtx udp6zerocsumrx".into(),
        ..LabOptions::default()
    });
    let cap = lab.dir.join("ul6.pcap");
    let mut tcpdump = std::process::Command::new("ip")
        .args(["netns", "exec", &lab.ns("ul"), "tcpdump", "-i"])
        .arg(lab.underlay_capture_iface())
        .args(["-U", "-w"])
        .arg(&cap)
        .args(["ip6", "and", "udp", "port", "4789"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    assert!(lab.ping("t0", "10.0.0.11", 20), "on-link\n{}", lab.log());
    assert!(
        lab.ping("t0", "10.0.0.12", 20),
        "through the link-local gateway\n{}",
        lab.log()
    );
    let gw = lab.neighbor("fe80::ff:fe00:fefe");
    assert_eq!(
        (&gw["mac"], &gw["state"]),
        (&"02:00:00:00:fe:fe".into(), &"reachable".into()),
        "{gw}"
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let _ = std::process::Command::new("kill")
        .arg(tcpdump.id().to_string())
        .status();
    let _ = tcpdump.wait();
    // Both ways over the wire with a zero UDP checksum.
    let mut seen = std::collections::BTreeMap::new();
    for f in vtep_testsupport::read_pcap(&cap).unwrap() {
        // Ethernet (14), IPv6 (40): source at 22..38, UDP checksum at 60.
        let src = std::net::Ipv6Addr::from(<[u8; 16]>::try_from(&f[22..38]).unwrap());
        let csum = u16::from_be_bytes([f[60], f[61]]);
        *seen.entry((src.to_string(), csum)).or_insert(0u32) += 1;
    }
    assert!(seen.contains_key(&(V6.vtep.to_string(), 0)), "{seen:?}");
    assert!(seen.contains_key(&(V6.k1.to_string(), 0)), "{seen:?}");
    assert!(seen.keys().all(|(_, c)| *c == 0), "{seen:?}");
    let st = lab.ctl(&["stats"]);
    assert_eq!(st["drops"]["udp_bad_checksum"], 0);
}

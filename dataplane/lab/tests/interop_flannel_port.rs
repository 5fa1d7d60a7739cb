//! A Kubernetes-style overlay beside a standard one: VNI 200 is VXLAN on
//! UDP 8472 (flannel's and Cilium's port) against a Linux kernel device
//! set up as flannel's VXLAN backend sets up a node (`nolearning`, the FDB
//! written by the agent), while VNI 100 stays on 4789. The trunk tenant's
//! tags are written by hand (see interop_vnis.rs).
use vtep_lab::{tagged_arp, Lab, LabOptions, T3_MAC, T4_MAC};

#[test]
fn a_vni_on_flannel_s_port_beside_one_on_4789() {
    let lab = Lab::new(LabOptions {
        vni200: true,
        vni200_port: Some(8472),
        ..LabOptions::default()
    });
    let ul = lab.underlay_capture_iface();
    let cap = lab.capture("ul", &ul, "udp port 8472 or udp port 4789");
    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "VNI 100 on 4789\n{}",
        lab.log()
    );
    let got = tagged_arp(
        &lab,
        "t4",
        &lab.t4_iface(),
        20,
        T4_MAC,
        "10.0.0.14",
        "10.0.0.13",
    );
    let (vid, mac) = got.expect("tagged ARP answered across VNI 200 on 8472");
    assert_eq!((vid, mac.as_str()), (20, T3_MAC));
    // On the wire: VNI 200 only on 8472, VNI 100 only on 4789, both ways.
    let mut seen = std::collections::BTreeSet::new();
    for f in cap.frames() {
        // Ethernet 14, IPv4 20: UDP destination at 36, VXLAN at 42.
        let dport = u16::from_be_bytes([f[36], f[37]]);
        let vni = u32::from_be_bytes([0, f[46], f[47], f[48]]);
        assert_eq!(f[42], 0x08, "VXLAN I flag");
        let from_vtepd = f[26..30] == [192, 0, 2, 1];
        seen.insert((dport, vni, from_vtepd));
    }
    for want in [
        (4789, 100, true),
        (4789, 100, false),
        (8472, 200, true),
        (8472, 200, false),
    ] {
        assert!(seen.contains(&want), "{want:?} not on the wire: {seen:?}");
    }
    assert!(!seen
        .iter()
        .any(|(p, v, _)| (*p, *v) == (4789, 200) || (*p, *v) == (8472, 100)));
    let vnis = lab.ctl(&["vni", "show"]);
    let v200 = vnis
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == 200)
        .unwrap();
    assert_eq!(
        (v200["encap"].as_str(), v200["udp_port"].as_u64()),
        (Some("vxlan"), Some(8472))
    );
    let st = lab.ctl(&["stats"]);
    assert_eq!(st["drops"]["encap_mismatch"], 0, "{st}");
}

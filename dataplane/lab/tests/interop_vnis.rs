//! Scenario 4: two VNIs on one underlay. VNI 100 tenants cannot reach the
//! VNI 200 tenant (same subnet, other segment), and an 802.1Q-tagged access
//! port maps VID 20 to VNI 200 both ways. The tagged host is a raw-socket
//! client: this kernel has no 802.1Q support for a tagged host stack, so the
//! tags are written and read by hand while the kernel tenant behind k1
//! answers with its own ARP.
use vtep_lab::{tagged_arp, Lab, LabOptions, T3_MAC, T4_MAC};

#[test]
fn vni_isolation_and_vlan_mapping() {
    let lab = Lab::new(LabOptions {
        vni200: true,
        ..LabOptions::default()
    });
    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "VNI 100 works\n{}",
        lab.log()
    );
    // 10.0.0.13 lives only in VNI 200.
    assert!(
        !lab.ping("t0", "10.0.0.13", 3),
        "VNI 100 must not reach VNI 200"
    );
    assert!(
        !lab.ping("t1", "10.0.0.13", 3),
        "not from behind the kernel VTEP either"
    );
    // t3 (kernel tenant in VNI 200) answers a tagged ARP from the trunk port.
    let got = tagged_arp(
        &lab,
        "t4",
        &lab.t4_iface(),
        20,
        T4_MAC,
        "10.0.0.14",
        "10.0.0.13",
    );
    let (vid, mac) = got.expect("tagged ARP answered across VNI 200");
    assert_eq!(vid, 20, "the VLAN tag is restored on the way back");
    assert_eq!(mac, T3_MAC);
    // An unmapped VID goes nowhere and is counted.
    assert!(tagged_arp(
        &lab,
        "t4",
        &lab.t4_iface(),
        30,
        T4_MAC,
        "10.0.0.14",
        "10.0.0.13"
    )
    .is_none());
    let st = lab.ctl(&["stats"]);
    assert!(st["drops"]["access_vlan_unmapped"].as_u64().unwrap() >= 1);
    let v200 = st["vnis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == 200)
        .unwrap()
        .clone();
    assert!(
        v200["encap_packets"].as_u64().unwrap() >= 1
            && v200["decap_packets"].as_u64().unwrap() >= 1
    );
    // Learning in VNI 200 did not touch VNI 100.
    let fdb100 = lab.ctl(&["fdb", "show", "--vni", "100"]);
    assert!(!fdb100
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["mac"] == T3_MAC || r["mac"] == T4_MAC));
}

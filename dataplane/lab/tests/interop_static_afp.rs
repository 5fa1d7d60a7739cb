//! Scenario 1 (af_packet) and 6: static FDB; the tenant behind vtepd pings
//! tenants behind both kernel VTEPs and back; ARP crosses the overlay; the
//! kernel peers resolve the VTEP address; the VTEP answers ping; k2 is
//! reached only through the gateway. t0's MAC is a static entry on the
//! access port (`[[fdb]] port`), so traffic to it is known unicast.
use vtep_lab::{Lab, LabOptions, T0_MAC, VTEP_IP};

#[test]
fn static_fdb_ping_both_ways_af_packet() {
    let lab = Lab::new(LabOptions {
        extra_config: format!(
            "\n[[fdb]]\nvni = 100\nmac = \"{T0_MAC}\"\nport = \"net_af_packet1\"\n"
        ),
        ..LabOptions::default()
    });
    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "t0 -> t1 (k1, on-link)\n{}",
        lab.log()
    );
    assert!(
        lab.ping("t0", "10.0.0.12", 20),
        "t0 -> t2 (k2, via gateway)\n{}",
        lab.log()
    );
    assert!(lab.ping("t1", "10.0.0.10", 10), "t1 -> t0");
    assert!(lab.ping("t2", "10.0.0.10", 10), "t2 -> t0");
    // ARP crossed the overlay: each tenant has a neighbour entry for t0.
    let (_, n) = lab.exec("t1", "ip neigh show 10.0.0.10");
    assert!(n.contains("02:00:00:00:00:10"), "{n}");
    // Underlay: the kernel VTEP resolved our address; the VTEP answers ping.
    let (_, kn) = lab.exec("k1", &format!("ip neigh show {VTEP_IP}"));
    assert!(kn.contains("lladdr"), "k1 resolved the VTEP address: {kn}");
    assert!(
        lab.ping("k1", VTEP_IP, 5),
        "VTEP address answers ping (on-link)"
    );
    assert!(
        lab.ping("k2", VTEP_IP, 5),
        "VTEP address answers ping (via gateway)"
    );
    let fdb = lab.ctl(&["fdb", "show", "--vni", "100"]);
    let t0 = fdb
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["mac"] == T0_MAC)
        .unwrap_or_else(|| panic!("{fdb}"));
    assert_eq!(
        (&t0["port"], &t0["kind"], &t0["source"]),
        (&"net_af_packet1".into(), &"static".into(), &"config".into()),
        "{t0}"
    );
    let st = lab.ctl(&["stats"]);
    let a = &st["accounting"];
    let n = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(n("rx_packets"), n("forwarded") + n("dropped") + n("punted"));
    assert!(st["management"]["echo_replies_sent"].as_u64().unwrap() >= 2);
    let gw = lab.neighbor("192.0.2.254");
    assert_eq!(gw["state"], "reachable", "gateway resolved by ARP: {gw}");
}

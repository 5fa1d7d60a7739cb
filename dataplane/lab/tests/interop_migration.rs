//! Scenario 5: VM migration. Tenant t1 (MAC and IP kept) moves from behind
//! kernel VTEP k1 to behind k2; once it speaks from there, traffic follows
//! without restarting anything, and the move is counted.
use vtep_lab::{Lab, LabOptions, K1_IP, K2_IP, T1_MAC};

fn where_is(lab: &Lab, mac: &str) -> Option<String> {
    let fdb = lab.ctl(&["fdb", "show", "--vni", "100"]);
    fdb.as_array()?
        .iter()
        .find(|r| r["mac"] == mac)
        .and_then(|r| r["remote"].as_str().map(str::to_string))
}

#[test]
fn mac_moves_between_kernel_vteps() {
    let lab = Lab::new(LabOptions {
        static_fdb: false,
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    assert_eq!(where_is(&lab, T1_MAC).as_deref(), Some(K1_IP));

    // Migrate: unplug t1 from k1's bridge, plug it into k2's with the same
    // MAC and address (the tenant namespace, i.e. the VM, stays).
    let (old_k, old_t) = (lab.ifname("t1k"), lab.ifname("t1h"));
    lab.must_exec("k1", &format!("ip link del {old_k}"));
    let (new_k, new_t) = (lab.ifname("t1m"), lab.ifname("t1n"));
    lab.must_exec(
        "k2",
        &format!(
            "ip link add name {new_k} type veth peer name {new_t} netns {}",
            lab.ns("t1")
        ),
    );
    for (role, i) in [("k2", &new_k), ("t1", &new_t)] {
        let _ = lab.exec(
            role,
            &format!("ethtool -K {i} tx off rx off tso off gso off gro off"),
        );
        let _ = lab.exec(
            role,
            &format!("sysctl -qw net.ipv6.conf.{i}.disable_ipv6=1"),
        );
    }
    lab.must_exec("k2", &format!("ip link set {new_k} master br100 up"));
    lab.must_exec(
        "t1",
        &format!("ip link set {new_t} address {T1_MAC} mtu 1450 up"),
    );
    lab.must_exec("t1", &format!("ip addr add 10.0.0.11/24 dev {new_t}"));
    assert!(
        !lab.exec("t1", &format!("ip link show {old_t}")).0,
        "old link gone"
    );

    // The VM announces itself (as hypervisors do after a move): its traffic
    // now enters through k2.
    assert!(
        lab.ping("t1", "10.0.0.10", 10),
        "t1 reaches t0 from its new place"
    );
    assert_eq!(
        where_is(&lab, T1_MAC).as_deref(),
        Some(K2_IP),
        "the FDB followed the move"
    );
    assert!(
        lab.ping("t0", "10.0.0.11", 5),
        "traffic to t1 goes to its new VTEP"
    );
    let st = lab.ctl(&["stats"]);
    assert!(
        st["fdb"]["moved"].as_u64().unwrap() >= 1,
        "the move is counted"
    );
}

//! The underlay router is replaced under traffic: its MAC changes, first
//! without a gratuitous ARP, then with one. vtepd follows within
//! `neighbor_confirm_secs` plus about a second in the first case (it
//! probes the next hop, which no longer answers at the old MAC, then asks
//! everyone), and at once in the second. The outage is measured from a
//! 20 Hz ping between tenants across the router (t0 to t2 behind k2).
//! Then the router goes silent: vtepd forgets its MAC after the probes and
//! counts what it could not send, and finds it again when it is back.
use std::time::Duration;

use vtep_lab::{longest_gap, Lab, LabOptions, VTEP_IP};

/// Runs a 20 Hz ping from t0 to t2 for `secs`, calling `fault` after
/// `after`; returns the longest gap between replies, in seconds.
fn outage(lab: &Lab, secs: u32, after: Duration, fault: impl FnOnce()) -> f64 {
    let ping = lab.timed_ping("t0", "10.0.0.12", "0.05", secs);
    std::thread::sleep(after);
    fault();
    let times = ping.replies();
    assert!(times.len() > 20, "ping ran: {times:?}");
    longest_gap(&times)
}

fn management(lab: &Lab, key: &str) -> u64 {
    lab.ctl(&["stats"])["management"][key].as_u64().unwrap()
}

#[test]
fn a_replaced_router_is_followed_within_seconds() {
    let lab = Lab::new(LabOptions::default());
    assert!(lab.ping("t0", "10.0.0.12", 20), "{}", lab.log());
    // The router never asks vtepd (its entry is pinned), so only vtepd's
    // own probing can find the new MAC.
    let mac = lab.ctl(&["status"])["vtep_mac"]
        .as_str()
        .unwrap()
        .to_string();
    lab.must_exec(
        "ul",
        &format!("ip neigh replace {VTEP_IP} lladdr {mac} dev br0 nud permanent"),
    );
    let confirm = 5.0;

    // No gratuitous ARP (arp_notify is off by default).
    let gap = outage(&lab, 14, Duration::from_secs(2), || {
        lab.must_exec("ul", "ip link set br0 address 02:00:00:00:fe:01");
    });
    eprintln!("router replaced without a gratuitous ARP: tenants cut off {gap:.2} s");
    assert!(gap < confirm + 2.0, "outage {gap:.2} s\n{}", lab.log());
    let gw = lab.neighbor("192.0.2.254");
    assert_eq!(gw["mac"], "02:00:00:00:fe:01", "{gw}");
    assert!(lab.log().contains("next hop's MAC changed"), "logged");

    // With a gratuitous ARP: at once.
    lab.must_exec("ul", "sysctl -qw net.ipv4.conf.br0.arp_notify=1");
    let gap = outage(&lab, 4, Duration::from_secs(1), || {
        lab.must_exec("ul", "ip link set br0 address 02:00:00:00:fe:02");
    });
    eprintln!("router replaced with a gratuitous ARP: tenants cut off {gap:.2} s");
    assert!(gap < 1.0, "outage {gap:.2} s\n{}", lab.log());
    assert_eq!(management(&lab, "neighbor_probes_failed"), 0);

    // The router goes silent (its address removed, still bridging): its
    // probes go unanswered, its MAC is forgotten, and the frames for it
    // are dropped and counted instead of sent; back, it is found at once.
    let unresolved = || {
        lab.ctl(&["stats"])["drops"]["neighbor_unresolved"]
            .as_u64()
            .unwrap()
    };
    let before = unresolved();
    let ping = lab.timed_ping("t0", "10.0.0.12", "0.05", 14);
    std::thread::sleep(Duration::from_secs(1));
    lab.must_exec("ul", "ip addr del 192.0.2.254/24 dev br0");
    assert!(
        vtep_lab::wait_for(15, || management(&lab, "neighbor_probes_failed") == 1),
        "forgotten\n{}",
        lab.log()
    );
    let back = vtep_lab::unix_now();
    lab.must_exec("ul", "ip addr add 192.0.2.254/24 dev br0");
    let times = ping.replies();
    let first = times.iter().find(|t| **t > back).map(|t| t - back);
    eprintln!("router silent, then back: forwarding {first:?} s after its return");
    assert!(first.is_some_and(|f| f < 2.0), "{times:?}\n{}", lab.log());
    assert!(
        management(&lab, "neighbor_unconfirmed_tx") > 0,
        "frames sent to it between its probe and its being forgotten"
    );
    assert!(unresolved() > before, "then dropped as neighbor_unresolved");
    assert!(lab.log().contains("answered none of"), "logged");
}

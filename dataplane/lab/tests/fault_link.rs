//! The underlay link goes down for 3 s under a 100 Hz ping, and comes back
//! (the router's end of vtepd's veth, as a cable pulled at the switch).
//! net_af_packet reports no link state, so vtepd reads the kernel
//! interface's carrier: the change is logged once each way, the port's
//! `link_up` follows, and while it is down frames for it are dropped as
//! `port_down` instead of being handed to a kernel that discards them
//! uncounted; at link up its next hops are probed at once, and traffic is
//! back within about a second.
use std::time::Duration;

use vtep_lab::{longest_gap, Lab, LabOptions};

#[test]
fn a_pulled_underlay_link_is_seen_counted_and_recovered_from() {
    let lab = Lab::new(LabOptions::default());
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    let (uu, ud) = (lab.ifname("uu"), lab.ifname("ud"));
    let kernel_dropped = || {
        std::fs::read_to_string(format!("/sys/class/net/{ud}/statistics/tx_dropped"))
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    let stat = |k: &str| lab.ctl(&["stats"])["drops"][k].as_u64().unwrap();
    let underlay_up = || lab.ctl(&["stats"])["ports"][0]["link_up"].clone();
    let (dropped_before, port_down_before) = (kernel_dropped(), stat("port_down"));

    let ping = lab.timed_ping("t0", "10.0.0.11", "0.01", 7);
    std::thread::sleep(Duration::from_secs(1));
    lab.must_exec("ul", &format!("ip link set {uu} down"));
    assert!(
        vtep_lab::wait_for(5, || underlay_up() == false),
        "link_up follows the carrier\n{}",
        lab.log()
    );
    std::thread::sleep(Duration::from_secs(2));
    let port_down = stat("port_down") - port_down_before;
    let uncounted = kernel_dropped() - dropped_before;
    lab.must_exec("ul", &format!("ip link set {uu} up"));
    let back = vtep_lab::unix_now();
    // Its next hops are probed at once, not at their next turn.
    let confirmed = |ip: &str| {
        let n = lab.neighbor(ip);
        n["state"] == "reachable" && n["age_secs"] == 0
    };
    assert!(
        vtep_lab::wait_for(2, || confirmed("192.0.2.254") && confirmed("192.0.2.2")),
        "next hops confirmed after link up: {} {}",
        lab.neighbor("192.0.2.254"),
        lab.neighbor("192.0.2.2")
    );
    let times = ping.replies();
    let first = times.iter().find(|t| **t > back).map(|t| t - back);
    eprintln!(
        "underlay link down 3 s: {port_down} frames dropped as port_down, {uncounted} discarded \
         by the kernel before vtepd saw the carrier go; forwarding {first:?} s after link up \
         (longest gap {:.2} s)",
        longest_gap(&times)
    );
    // The carrier is read once a second: what comes before that goes to
    // the kernel, the rest is counted (t0's own ARP probes, unanswered,
    // slow its ping down, so no fixed number).
    assert!(port_down >= 20, "{port_down}");
    assert!(first.is_some_and(|f| f < 2.0), "{times:?}\n{}", lab.log());
    assert_eq!(underlay_up(), true);
    let log = lab.log();
    assert_eq!(log.matches("link down").count(), 1, "{log}");
    assert_eq!(log.matches("link up").count(), 1, "{log}");
}

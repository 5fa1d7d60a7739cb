//! FRR's bgpd, then zebra, of vtepd's namespace killed (SIGKILL) and
//! started again while a tenant pings across the fabric at 100 Hz; while
//! each is down, a MAC appears behind k2 and another leaves it.
//!
//! - bgpd: zebra removes every remote MAC and VTEP it installed when its
//!   BGP client goes (as it does on a Linux VTEP); vtepd follows, and holds
//!   exactly the announced routes once bgpd is back.
//! - zebra: the mirror stays as it is, so vtepd forwards on what it has.
//!   bgpd does not take a new zebra, so both are started again (as
//!   watchfrr does); vtepd then holds every announced route, and once it
//!   has swept what the new zebra did not install again (a route withdrawn
//!   while zebra was away), exactly those.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use vtep_lab::{
    bridge_remote_macs, evpn_entries, longest_gap, unix_now, wait_for, Lab, LabOptions, K1_IP,
    K2_IP, T1_MAC, T2_MAC,
};

/// (MAC, VTEP) of every EVPN entry of VNI 100 in vtepd's FDB.
fn fdb(lab: &Lab) -> BTreeSet<(String, String)> {
    evpn_entries(&lab.ctl(&["fdb", "show", "--vni", "100"]))
}

fn flood(lab: &Lab) -> String {
    lab.ctl(&["vni", "show"])[0]["flood_sources"].to_string()
}

/// A host MAC behind kernel VTEP `k` (a static entry on its tenant's
/// bridge port, which its zebra announces), or its removal.
fn host(lab: &Lab, k: &str, mac: &str, add: bool) {
    let port = lab.ifname(if k == "k1" { "t1k" } else { "t2k" });
    let op = if add { "add" } else { "del" };
    lab.must_exec(
        k,
        &format!("bridge fdb {op} {mac} dev {port} master static"),
    );
}

fn entries(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(m, at)| (m.to_string(), at.to_string()))
        .collect()
}

fn diag(lab: &Lab) -> String {
    format!(
        "--- cp bgp\n{}\n--- cp macs\n{}\n--- mirror\n{}\n--- vtepd fdb\n{}\n--- log\n{}",
        lab.vtysh("cp", "show bgp l2vpn evpn summary"),
        lab.vtysh("cp", "show evpn mac vni all"),
        lab.exec("cp", "bridge fdb show dev vxlan100").1,
        lab.ctl_text(&["fdb", "show"]),
        lab.log()
    )
}

/// `evpn.restart_sweep_secs` of the test.
const SWEEP_SECS: u64 = 4;

const A: &str = "02:00:00:00:00:31";
const B: &str = "02:00:00:00:00:32";
const C: &str = "02:00:00:00:00:33";

/// (MAC, VTEP) of every remote MAC of VNI 100 in vtepd's mirror.
fn mirror(lab: &Lab) -> BTreeSet<(String, String)> {
    bridge_remote_macs(&lab.exec("cp", "bridge fdb show dev vxlan100").1)
}

/// What a cycle measured (pings t0 -> t2 every 10 ms).
struct Cycle {
    /// The longest gap between replies while the daemon was down.
    gap_down: f64,
    /// The longest gap over the whole cycle.
    gap: f64,
    /// Seconds from the restart until vtepd held what the peers announce.
    back: f64,
    /// vtepd's EVPN entries while the daemon was down.
    held: usize,
    /// When the daemon was started again.
    at: Instant,
}

/// Kills `first` in vtepd's FRR and changes the fabric while it is down;
/// then starts it again (with a new bgpd when it is zebra, as watchfrr
/// does: bgpd does not take a new zebra) and waits until vtepd holds at
/// least `want` and its flood list.
fn cycle(lab: &Lab, first: &str, change: impl Fn(), want: &BTreeSet<(String, String)>) -> Cycle {
    let ping = lab.timed_ping("t0", "10.0.0.12", "0.01", 60);
    std::thread::sleep(Duration::from_secs(1));
    let killed = unix_now();
    lab.kill_frr_daemon("cp", first);
    change();
    std::thread::sleep(Duration::from_secs(3));
    let held = fdb(lab).len();
    let restarted = unix_now();
    if first == "zebra" {
        lab.kill_frr_daemon("cp", "bgpd");
    }
    for d in ["zebra", "bgpd"] {
        if first == "zebra" || d == first {
            lab.start_frr_daemon("cp", d);
        }
    }
    let at = Instant::now();
    assert!(
        wait_for(60, || fdb(lab).is_superset(want)
            && flood(lab).contains(K1_IP)
            && flood(lab).contains(K2_IP)),
        "after {first} restarted, vtepd holds what the peers announce: {want:?}\n{}",
        diag(lab)
    );
    let back = at.elapsed().as_secs_f64();
    // Settled: vtepd's FRR peers with both again, nothing more arrives.
    assert!(
        wait_for(60, || lab.evpn_sessions("cp") == 2),
        "{}",
        diag(lab)
    );
    std::thread::sleep(Duration::from_secs(2));
    // Read one after the other, the two can straddle a change (the end of
    // a sweep): equal once it has reached vtepd.
    assert!(
        wait_for(10, || fdb(lab) == mirror(lab)),
        "vtepd's FDB is its mirror\n{}",
        diag(lab)
    );
    let times = ping.stop();
    // The window's ends count, so that a ping silent throughout it shows
    // as one gap the length of the window.
    let during: Vec<f64> = std::iter::once(killed)
        .chain(
            times
                .iter()
                .copied()
                .filter(|t| *t > killed && *t < restarted),
        )
        .chain(std::iter::once(restarted))
        .collect();
    Cycle {
        gap_down: longest_gap(&during),
        gap: longest_gap(&times),
        back,
        held,
        at,
    }
}

#[test]
fn zebra_and_bgpd_killed_and_restarted_under_traffic() {
    let lab = Lab::new(LabOptions {
        evpn: true,
        evpn_extra: format!("restart_sweep_secs = {SWEEP_SECS}"),
        ..LabOptions::default()
    });
    assert!(
        wait_for(90, || lab.evpn_sessions("cp") == 2),
        "{}",
        diag(&lab)
    );
    // The kernel VTEPs learn t1 and t2 from traffic, and announce them.
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", diag(&lab));
    assert!(lab.ping("t0", "10.0.0.12", 20), "{}", diag(&lab));
    host(&lab, "k2", B, true);
    let start = entries(&[(T1_MAC, K1_IP), (T2_MAC, K2_IP), (B, K2_IP)]);
    assert!(
        wait_for(60, || fdb(&lab) == start),
        "before: {start:?}\n{}",
        diag(&lab)
    );

    // bgpd: A appears behind k2, B leaves it. zebra removes every remote
    // MAC and VTEP when bgpd goes, and vtepd follows; the peers drop
    // vtepd's routes with the session.
    let want = entries(&[(T1_MAC, K1_IP), (T2_MAC, K2_IP), (A, K2_IP)]);
    let c = cycle(
        &lab,
        "bgpd",
        || {
            host(&lab, "k2", A, true);
            host(&lab, "k2", B, false);
        },
        &want,
    );
    eprintln!(
        "bgpd killed for 3 s: zebra withdrew the remote MACs and VTEPs ({} EVPN entries left in \
         vtepd); every announced route back {:.2} s after bgpd started again, nothing stale; \
         tenants cut off {:.2} s",
        c.held, c.back, c.gap
    );
    assert_eq!(c.held, 0, "zebra withdraws when its BGP client goes");
    assert_eq!(
        fdb(&lab),
        want,
        "nothing stale, nothing lost\n{}",
        diag(&lab)
    );

    // zebra: C appears behind k2, A leaves it. The mirror stays as it is
    // while zebra is away, and vtepd forwards on it.
    let want = entries(&[(T1_MAC, K1_IP), (T2_MAC, K2_IP), (C, K2_IP)]);
    let c = cycle(
        &lab,
        "zebra",
        || {
            host(&lab, "k2", C, true);
            host(&lab, "k2", A, false);
        },
        &want,
    );
    let left: BTreeSet<_> = fdb(&lab).difference(&want).cloned().collect();
    // FRR 8.4's zebra does not sweep the remote MACs it finds in the
    // kernel at start: vtepd does, restart_sweep_secs after it saw the new
    // zebra (within a second of its start).
    assert!(
        wait_for(SWEEP_SECS + 40, || fdb(&lab) == want
            && mirror(&lab) == want),
        "after the sweep, vtepd and its mirror hold exactly what the peers announce: \
         {want:?}\n{}",
        diag(&lab)
    );
    let swept = c.at.elapsed().as_secs_f64();
    eprintln!(
        "zebra killed for 3 s: vtepd kept its {} EVPN entries, longest ping gap while zebra was \
         away {:.2} s; every announced route back {:.2} s after zebra and bgpd started again; \
         tenants cut off {:.2} s in all (the peers drop vtepd's routes with bgpd's session); \
         left by the new zebra {left:?}, swept {swept:.2} s after the restart \
         (restart_sweep_secs {SWEEP_SECS})",
        c.held, c.gap_down, c.back, c.gap
    );
    assert_eq!(c.held, 3, "nothing flushed while zebra was away");
    assert!(
        c.gap_down < 0.5,
        "forwarding went on while zebra was away: gap {:.2} s",
        c.gap_down
    );
    assert!(
        lab.log().contains("a new zebra runs") && lab.log().contains("swept what the new zebra"),
        "{}",
        lab.log()
    );
    assert!(lab.ping("t0", "10.0.0.12", 20), "{}", diag(&lab));
    let m = &lab.ctl(&["stats"])["management"];
    assert!(m["evpn_swept"].as_u64() >= Some(1), "{m}");
    assert_eq!(m["evpn_errors"], 0, "{m}\n{}", lab.log());
}

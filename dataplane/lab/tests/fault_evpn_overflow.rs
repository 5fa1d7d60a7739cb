//! The EVPN mirror's netlink socket overflows: vtepd is frozen (SIGSTOP)
//! while 20,000 remote MACs are written into the mirror as zebra writes
//! them (the VXLAN device's `self` entry with its VTEP, and the bridge's
//! `master` entry), far more than the socket buffer holds; then thawed.
//! The lost messages are counted as a resync, and vtepd's EVPN entries
//! end up exactly the mirror's. A second burst withdraws them all and
//! announces half of them again behind another VTEP, with new ones: the
//! messages still queued at the overflow are older than the dump that
//! follows, and applying them after it would leave withdrawn entries
//! behind or lose re-announced ones.
//!
//! Then, three times, bursts during the resync itself: an overflow while
//! frozen, and, as vtepd reads the mirror again, a second burst that
//! withdraws half of what the first announced and announces others. A
//! dump that overlaps changes skips entries; vtepd must read again.
//!
//! zebra and bgpd of vtepd's namespace are killed first, so that the
//! mirror holds only what the test writes.
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use vtep_lab::evpn_batch::{announce, withdraw_at};
use vtep_lab::{bridge_remote_macs, evpn_entries, sh, Lab, K1_IP, K2_IP};

const MACS: u32 = 20_000;

/// (MAC, VTEP) of every remote MAC of VNI 100 in vtepd's mirror.
fn mirror(lab: &Lab) -> BTreeSet<(String, String)> {
    bridge_remote_macs(&lab.exec("cp", "bridge fdb show dev vxlan100").1)
}

/// (MAC, VTEP) of every EVPN entry of VNI 100 in vtepd's FDB.
fn fdb(lab: &Lab) -> BTreeSet<(String, String)> {
    evpn_entries(&lab.ctl(&["fdb", "show", "--vni", "100"]))
}

/// Writes `lines` (`bridge -batch` commands) into the mirror while vtepd
/// is frozen; returns when it is running again.
fn burst_while_frozen(lab: &Lab, pid: u32, lines: &[String]) {
    burst_while_frozen_then(lab, pid, lines, || {});
}

/// The same, calling `then` right after vtepd resumes.
fn burst_while_frozen_then(lab: &Lab, pid: u32, lines: &[String], then: impl FnOnce()) {
    let path = lab.dir.join("burst.batch");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    assert!(sh(&format!("kill -STOP {pid}")).0);
    let (ok, out) = lab.exec("cp", &format!("bridge -batch {}", path.display()));
    assert!(sh(&format!("kill -CONT {pid}")).0);
    then();
    assert!(ok, "bridge -batch: {out}");
}

fn withdraw(i: u32) -> [String; 2] {
    withdraw_at(i, K1_IP)
}

/// Waits until vtepd's EVPN entries are the mirror's; the seconds it took.
fn converge(lab: &Lab, what: &str) -> f64 {
    let t = Instant::now();
    let want = mirror(lab);
    loop {
        let have = fdb(lab);
        if have == want {
            return t.elapsed().as_secs_f64();
        }
        if t.elapsed() > Duration::from_secs(30) {
            let stale: Vec<_> = have.difference(&want).take(5).collect();
            let lost: Vec<_> = want.difference(&have).take(5).collect();
            panic!(
                "{what}: vtepd holds {} EVPN entries, the mirror {}: {} stale (e.g. {stale:?}), \
                 {} lost (e.g. {lost:?})\n{}",
                have.len(),
                want.len(),
                have.difference(&want).count(),
                want.difference(&have).count(),
                lab.log()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_netlink_overflow_is_counted_and_the_fdb_ends_equal_to_the_mirror() {
    let lab = Lab::evpn_mirror_only();
    let pid = lab.vtepd.as_ref().unwrap().id();
    let resyncs = || {
        lab.ctl(&["stats"])["management"]["evpn_resyncs"]
            .as_u64()
            .unwrap()
    };
    let errors = || {
        lab.ctl(&["stats"])["management"]["evpn_errors"]
            .as_u64()
            .unwrap()
    };
    converge(&lab, "before");

    let r0 = resyncs();
    let lines: Vec<String> = (0..MACS).flat_map(|i| announce(i, K1_IP)).collect();
    burst_while_frozen(&lab, pid, &lines);
    let first = converge(&lab, "after the announcements");
    assert_eq!(
        mirror(&lab).len(),
        MACS as usize,
        "every announcement is in the mirror"
    );
    let r1 = resyncs();
    assert!(
        r1 > r0,
        "the overflow is counted as a resync ({r0} -> {r1})"
    );

    // All withdrawn; half announced again behind k2, and as many new ones.
    let mut lines: Vec<String> = (0..MACS).flat_map(withdraw).collect();
    lines.extend((0..MACS / 2).flat_map(|i| announce(i, K2_IP)));
    lines.extend((MACS..MACS + MACS / 2).flat_map(|i| announce(i, K2_IP)));
    burst_while_frozen(&lab, pid, &lines);
    let second = converge(&lab, "after withdrawals and new announcements");
    let now = mirror(&lab);
    assert_eq!(now.len(), MACS as usize);
    assert!(now.iter().all(|(_, at)| at == K2_IP));
    let r2 = resyncs();
    assert!(r2 > r1, "the second overflow is counted ({r1} -> {r2})");

    // Bursts during the resync itself: an overflow while frozen, and as
    // vtepd resumes (reading the mirror again) another burst that
    // withdraws what the first announced and announces others, started
    // at once, 20 ms or 100 ms later.
    let mut during = Vec::new();
    for (round, delay_ms) in [(0u32, 0u64), (1, 20), (2, 100)] {
        let base = 100_000 + round * 2 * MACS;
        let mut lines: Vec<String> = mirror(&lab)
            .iter()
            .flat_map(|(m, at)| {
                [
                    format!("fdb del {m} dev vxlan100 dst {at} self"),
                    format!("fdb del {m} dev vxlan100 master"),
                ]
            })
            .collect();
        lines.extend((base..base + MACS).flat_map(|i| announce(i, K1_IP)));
        let after: Vec<String> = (base..base + MACS / 2)
            .flat_map(|i| withdraw_at(i, K1_IP))
            .chain((base + MACS..base + MACS + MACS / 2).flat_map(|i| announce(i, K2_IP)))
            .collect();
        let path = lab.dir.join("during.batch");
        std::fs::write(&path, after.join("\n") + "\n").unwrap();
        let before = resyncs();
        let mut second_burst = None;
        burst_while_frozen_then(&lab, pid, &lines, || {
            std::thread::sleep(Duration::from_millis(delay_ms));
            second_burst = Some(lab.spawn_exec("cp", &format!("bridge -batch {}", path.display())));
        });
        let out = second_burst.unwrap().wait_with_output().unwrap();
        assert!(out.status.success(), "bridge -batch: {out:?}");
        let t = converge(&lab, &format!("bursts during the resync (round {round})"));
        assert_eq!(mirror(&lab).len(), MACS as usize, "round {round}");
        during.push((t, resyncs() - before));
    }
    assert_eq!(errors(), 0, "{}", lab.log());
    eprintln!("bursts during the resync: (seconds to equal, resyncs) per round: {during:?}");
    eprintln!(
        "netlink overflow: {MACS} announcements ({} messages) written while vtepd was frozen: \
         FDB equal to the mirror {first:.2} s after it resumed ({} resyncs); {MACS} withdrawals \
         and {MACS} announcements: equal after {second:.2} s ({} resyncs)",
        2 * MACS,
        r1 - r0,
        r2 - r1
    );
}

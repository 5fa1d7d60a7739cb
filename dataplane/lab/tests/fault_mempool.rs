//! A broadcast storm that drains the mbuf pool, under a 100 Hz ping, and
//! the time back to full forwarding once it stops.
//!
//! net_tap keeps one mbuf posted per receive descriptor and frees what it
//! sends at once, so the pool runs dry when the storm's mbufs of one burst
//! (a replacement per frame received, a private copy per remote) exceed
//! what is left beside the rings. vtepd runs with a pool only a few dozen
//! mbufs larger than what it holds at rest: during the storm, copies fail
//! and are counted (`flood_copy_drops`; port `rx_nombuf` would count
//! frames net_tap had no mbuf for, none so far), unicast goes on, and
//! when the storm stops forwarding is back in full within a second.
use std::time::Duration;

use vtep_lab::{longest_gap, unix_now, Lab, LabOptions, PortKind, T0_MAC, T1_MAC};

/// Spare mbufs beside what vtepd holds at rest: fewer than one burst's
/// copies to two remotes (32 x 2).
const SPARE: u32 = 48;
/// The pool: two taps' receive rings (1024 mbufs each), no more than
/// `SPARE` besides (checked at start).
const POOL: u32 = 2046 + SPARE;
const STORM_SECS: f64 = 3.0;

#[test]
fn a_pool_draining_storm_is_counted_and_forwarding_returns_at_once() {
    let lab = Lab::new(LabOptions {
        kind: PortKind::Tap,
        mbufs: POOL,
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    let m = lab.ctl(&["stats"])["mempool"].clone();
    let spare = m["available"].as_u64().unwrap();
    assert!(
        (16..=96).contains(&spare),
        "{spare} mbufs spare at rest, for a storm to drain: set POOL to what the lab holds \
         plus {SPARE} ({m})"
    );
    let stats = |lab: &Lab| {
        let s = lab.ctl(&["stats"]);
        let nombuf: u64 = s["ports"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["rx_nombuf"].as_u64().unwrap())
            .sum();
        (s["flood_copy_drops"].as_u64().unwrap(), nombuf, s)
    };
    // The tenants know each other: what is measured is vtepd, not their
    // ARP caches revalidating through the storm.
    lab.must_exec(
        "t0",
        &format!(
            "ip neigh replace 10.0.0.11 lladdr {T1_MAC} dev {} nud permanent",
            lab.t0_iface()
        ),
    );
    lab.must_exec(
        "t1",
        &format!(
            "ip neigh replace 10.0.0.10 lladdr {T0_MAC} dev {} nud permanent",
            lab.ifname("t1h")
        ),
    );
    let (copy_drops0, nombuf0, _) = stats(&lab);
    let ping = lab.timed_ping("t0", "10.0.0.11", "0.01", 7);
    std::thread::sleep(Duration::from_secs(1));
    // Broadcasts from an address of its own as fast as one core sends them.
    let storm = format!(
        "python3 -c \"import socket, time\n\
         s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('{iface}', 0))\n\
         f = bytes.fromhex('ffffffffffff' + '020000000099' + '88b5') + bytes(60)\n\
         end = time.time() + {STORM_SECS}; n = 0\n\
         while time.time() < end:\n\
         \x20   for _ in range(200):\n\
         \x20       try: s.send(f); n += 1\n\
         \x20       except OSError: pass\n\
         print(n)\"",
        iface = lab.t0_iface(),
    );
    let (ok, sent) = lab.exec("t0", &storm);
    let stopped = unix_now();
    assert!(ok, "storm: {sent}");
    let (copy_drops, nombuf, during) = stats(&lab);
    let (copy_drops, nombuf) = (copy_drops - copy_drops0, nombuf - nombuf0);
    let times = ping.replies();
    let after: Vec<f64> = times.iter().copied().filter(|t| *t > stopped).collect();
    // Full forwarding from the first reply after which no gap exceeds
    // 0.1 s (pings are sent every 10 ms).
    let full = after
        .windows(2)
        .rfind(|w| w[1] - w[0] > 0.1)
        .map(|w| w[1])
        .or(after.first().copied())
        .map(|t| t - stopped);
    let gap_during = longest_gap(
        &times
            .iter()
            .copied()
            .filter(|t| *t > stopped - STORM_SECS && *t <= stopped)
            .collect::<Vec<_>>(),
    );
    eprintln!(
        "broadcast storm of {} frames in {STORM_SECS} s on a pool of {POOL} mbufs ({spare} spare): \
         {copy_drops} flood copies and {nombuf} received frames dropped for want of an mbuf; \
         longest ping gap during the storm {gap_during:.2} s; full forwarding {full:?} s after it \
         stopped (longest gap after it {:.3} s, {} replies); management frames not sent {}",
        sent.trim(),
        longest_gap(&after),
        after.len(),
        during["management"]["mgmt_tx_failed"]
    );
    assert!(
        copy_drops + nombuf > 0,
        "the storm drained the pool, and that was counted\n{during}"
    );
    let a = &during["accounting"];
    let n = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(
        n("rx_packets"),
        n("forwarded") + n("dropped") + n("punted"),
        "{a}"
    );
    // Back within a second of the storm's end, and nothing lost from then
    // on to the end of the ping.
    assert!(
        full.is_some_and(|f| f < 1.0),
        "{times:?}\nstopped {stopped}\n{}\n{}\n{}",
        lab.ctl_text(&["neigh", "show"]),
        lab.ctl(&["stats"])["drops"],
        lab.log()
    );
    assert!(
        after.len() >= 100,
        "{} replies after the storm",
        after.len()
    );
}

//! Scenario 3 over net_tap.
use vtep_lab::{iperf, Lab, LabOptions, PortKind};

#[test]
fn iperf3_both_ways_tap() {
    let lab = Lab::new(LabOptions {
        kind: PortKind::Tap,
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20));
    for reverse in [false, true] {
        let r = iperf(&lab, "t0", "t1", "10.0.0.11", 3, reverse);
        assert!(r.min_interval_bps > 0.0, "stall: {r:?}");
        assert!(r.bps > 1e6, "throughput {:.1} Mbit/s", r.bps / 1e6);
        eprintln!(
            "tap, reverse={reverse}: {:.0} Mbit/s, {} retransmits",
            r.bps / 1e6,
            r.retransmits
        );
    }
}

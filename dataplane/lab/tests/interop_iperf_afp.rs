//! Scenario 3 over af_packet: TCP between a tenant behind vtepd and one
//! behind a kernel VTEP, both directions, without stalls.
use vtep_lab::{iperf, Lab, LabOptions};

#[test]
fn iperf3_both_ways_af_packet() {
    let lab = Lab::new(LabOptions::default());
    assert!(lab.ping("t0", "10.0.0.11", 20));
    for reverse in [false, true] {
        let r = iperf(&lab, "t0", "t1", "10.0.0.11", 3, reverse);
        assert!(
            r.min_interval_bps > 0.0,
            "a 1 s interval carried nothing (stall): {r:?}"
        );
        assert!(r.bps > 1e6, "throughput {:.1} Mbit/s", r.bps / 1e6);
        eprintln!(
            "af_packet, reverse={reverse}: {:.0} Mbit/s, {} retransmits",
            r.bps / 1e6,
            r.retransmits
        );
    }
    let st = lab.ctl(&["stats"]);
    let a = &st["accounting"];
    let n = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(n("rx_packets"), n("forwarded") + n("dropped") + n("punted"));
}

//! Bandwidth per VNI against the kernel VTEP: iperf3 UDP offered at five
//! times VNI 100's 10 Mbit/s limit arrives at about the limit, in each
//! direction (t0 behind vtepd, t1 behind the kernel's VXLAN).
use vtep_lab::{iperf_udp, Lab, LabOptions};

#[test]
fn iperf3_udp_arrives_at_the_limit_both_ways() {
    let lab = Lab::new(LabOptions {
        vni100_extra: "rate_mbps = 10".into(),
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    // 1400-byte datagrams are 1442-byte tenant frames (the limit counts
    // frames): 10 Mbit/s of frames carries 9.71 Mbit/s of payload.
    let len = 1400;
    let want = 10e6 * len as f64 / (len + 42) as f64;
    for reverse in [false, true] {
        let r = iperf_udp(&lab, "t0", "t1", "10.0.0.11", 4, reverse, 50_000_000, len);
        let err = (r.received_bps - want) / want;
        eprintln!(
            "reverse={reverse}: {:.2} Mbit/s of payload received ({:+.1}% of the limit), {} of {} datagrams",
            r.received_bps / 1e6,
            100.0 * err,
            r.received,
            r.sent
        );
        assert!(
            r.sent > 2 * r.received,
            "offered well above the limit: {r:?}"
        );
        assert!(err.abs() <= 0.10, "{r:?}: {}", lab.ctl(&["stats"]));
    }
    let st = lab.ctl(&["stats"]);
    let v = st["vnis"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == 100)
        .unwrap()
        .clone();
    assert!(v["policed_encap_packets"].as_u64().unwrap() > 0, "{v}");
    assert!(v["policed_decap_packets"].as_u64().unwrap() > 0, "{v}");
    let a = &st["accounting"];
    let n = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(n("rx_packets"), n("forwarded") + n("dropped") + n("punted"));
}

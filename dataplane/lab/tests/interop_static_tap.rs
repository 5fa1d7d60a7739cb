//! Scenario 1 over net_tap: the same pings with tap devices moved into the
//! tenant and underlay namespaces.
use vtep_lab::{Lab, LabOptions, PortKind};

#[test]
fn static_fdb_ping_both_ways_tap() {
    let lab = Lab::new(LabOptions {
        kind: PortKind::Tap,
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "t0 -> t1\n{}", lab.log());
    assert!(lab.ping("t0", "10.0.0.12", 20), "t0 -> t2\n{}", lab.log());
    assert!(lab.ping("t1", "10.0.0.10", 10), "t1 -> t0");
    assert!(lab.ping("t2", "10.0.0.10", 10), "t2 -> t0");
}

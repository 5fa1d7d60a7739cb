//! Two workers on multi-queue net_tap ports: the kernel spreads flows over
//! the two queues of vtepd's access port by flow hash, each worker polls
//! its own queue of every port and sends on its own, and per flow the
//! frames leave in the order they came (see `vtep_lab::flows`).
use vtep_lab::flows::check_flow_order;
use vtep_lab::{Lab, LabOptions, PortKind};

#[test]
fn two_workers_both_carry_traffic_and_keep_each_flow_in_order() {
    let lab = Lab::new(LabOptions {
        kind: PortKind::Tap,
        workers: 2,
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    check_flow_order(&lab);
}

//! Two workers on net_af_packet ports with two queue pairs (`qpairs=2`):
//! the kernel's packet fanout spreads flows by hash; per flow the frames
//! leave in the order they came (see `vtep_lab::flows`).
use vtep_lab::flows::check_flow_order;
use vtep_lab::{Lab, LabOptions, PortKind};

#[test]
fn two_workers_on_af_packet_qpairs_keep_each_flow_in_order() {
    let lab = Lab::new(LabOptions {
        kind: PortKind::AfPacket,
        workers: 2,
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    check_flow_order(&lab);
}

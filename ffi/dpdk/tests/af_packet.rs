//! net_af_packet on a veth end; the peer sits in a namespace the test makes.
//! Frames sent in the namespace arrive byte-identical on the DPDK port, and
//! frames DPDK sends arrive in the namespace.
mod common;

use std::time::{Duration, Instant};

use common::{sh, LinkGuard, Netns};
use dpdk::{Burst, Mempool, Port, PortConfig};

#[test]
fn af_packet_veth_both_ways() {
    let pid = std::process::id();
    let ns = Netns::new("afp");
    let (dp, peer) = (format!("vda{pid}"), format!("vdb{pid}"));
    let _link = LinkGuard(dp.clone());
    sh(&format!(
        "ip link add {dp} type veth peer name {peer} netns {}",
        ns.0
    ));
    sh(&format!("ip link set {dp} up"));
    sh(&format!(
        "ethtool -K {dp} tx off rx off tso off gso off gro off >/dev/null 2>&1 || true"
    ));
    ns.exec(&format!("ip link set {peer} up"));

    let eal = common::eal(&[format!("net_af_packet0,iface={dp}")]);
    let pool = Mempool::new(&eal, "afp", 1023, 32, 2176).unwrap();
    let mut port = Port::by_name(&eal, "net_af_packet0").unwrap();
    let (mut rx, mut tx) = port.configure(&PortConfig::default(), &pool).unwrap();
    port.start().unwrap();

    // Namespace -> DPDK.
    let frame = common::test_frame([2, 0, 0, 0, 0, 9], [2, 0, 0, 0, 0, 8], 7, 90);
    ns.exec(&common::send_raw_cmd(&peer, &frame));
    let mut b = Burst::<32>::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found = false;
    while Instant::now() < deadline && !found {
        rx[0].rx(&mut b);
        found = b.drain().any(|m| m.data() == &frame[..]);
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        found,
        "frame from the namespace reached the DPDK port intact"
    );

    // DPDK -> namespace: start the capture, then send until it reports.
    let back = common::test_frame([2, 0, 0, 0, 0, 8], [2, 0, 0, 0, 0, 9], 3, 120);
    assert_eq!(
        common::send_and_capture(&ns, &peer, &pool, &mut tx[0], &back),
        common::hex(&back)
    );
    assert!(port.stats().unwrap().tx_packets >= 1);
}

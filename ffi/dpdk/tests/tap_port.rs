//! net_tap creates its kernel interface; moved into a namespace it passes
//! frames both ways.
mod common;

use std::time::{Duration, Instant};

use common::{sh, Netns};
use dpdk::{Burst, Mempool, Port, PortConfig};

#[test]
fn tap_passes_frames() {
    let pid = std::process::id();
    let iface = format!("vtap{pid}");
    let ns = Netns::new("tap");
    let eal = common::eal(&[format!("net_tap0,iface={iface}")]);
    // The tap PMD fills its RX ring with one mbuf per descriptor up front.
    let pool = Mempool::new(&eal, "tap", 4095, 32, 2176).unwrap();
    let mut port = Port::by_name(&eal, "net_tap0").unwrap();
    let (mut rx, mut tx) = port.configure(&PortConfig::default(), &pool).unwrap();
    port.start().unwrap();
    port.set_promiscuous(true).unwrap();
    assert!(
        sh("ip -o link show").contains(&iface),
        "tap interface exists"
    );
    sh(&format!("ip link set {iface} netns {}", ns.0));
    ns.exec(&format!("ip link set {iface} up"));

    let frame = common::test_frame([2, 0, 0, 0, 0, 5], [2, 0, 0, 0, 0, 6], 1, 100);
    let mut b = Burst::<32>::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut found = false;
    while Instant::now() < deadline && !found {
        ns.exec(&common::send_raw_cmd(&iface, &frame));
        std::thread::sleep(Duration::from_millis(20));
        rx[0].rx(&mut b);
        found = b.drain().any(|m| m.data() == &frame[..]);
    }
    assert!(found, "frame sent in the namespace arrived on the tap port");

    let back = common::test_frame([2, 0, 0, 0, 0, 6], [2, 0, 0, 0, 0, 5], 2, 80);
    assert_eq!(
        common::send_and_capture(&ns, &iface, &pool, &mut tx[0], &back),
        common::hex(&back)
    );
}

//! A burst goes out of a net_ring port and comes back byte-identical.
mod common;

use dpdk::{Burst, Mempool, Port, PortConfig};

#[test]
fn ring_burst_round_trip() {
    let eal = common::eal(&["net_ring0".to_string()]);
    let pool = Mempool::new(&eal, "ring", 1023, 32, 2176).unwrap();
    let mut port = Port::by_name(&eal, "net_ring0").unwrap();
    let (mut rx, mut tx) = port.configure(&PortConfig::default(), &pool).unwrap();
    port.start().unwrap();

    let frames: Vec<Vec<u8>> = (0..32u8)
        .map(|i| common::test_frame([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2], i, 60 + i as usize))
        .collect();
    let mut out = Burst::<32>::new();
    for f in &frames {
        out.push(pool.alloc_from(f).unwrap()).unwrap();
    }
    let (sent, dropped) = tx[0].tx(&mut out);
    assert_eq!((sent, dropped), (32, 0));
    assert!(out.is_empty());

    let mut got = Burst::<64>::new();
    for _ in 0..10 {
        rx[0].rx(&mut got);
    }
    assert_eq!(got.len(), 32);
    for (m, f) in got.drain().zip(&frames) {
        assert_eq!(m.data(), &f[..]);
        assert_eq!(m.pkt_len(), f.len());
    }
    let st = port.stats().unwrap();
    assert_eq!(st.tx_packets, 32);
    assert_eq!(st.rx_packets, 32);
    assert!(!port.xstats().unwrap().is_empty());
    assert!(port.link().unwrap().up);
    assert_eq!(port.mac().unwrap().len(), 6);
    assert_eq!(pool.in_use(), 0, "every mbuf is back in the pool");
}

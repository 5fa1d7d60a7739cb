//! Mbuf prepend/adj/append/trim semantics, bulk alloc/free, and mempool
//! exhaustion returning errors rather than panicking.
mod common;

use dpdk::{Burst, Eal, Error, Mempool};

#[test]
fn mbuf_semantics_and_exhaustion() {
    let eal = common::eal(&[]);
    assert!(matches!(
        Eal::init(["--no-pci"]),
        Err(Error::AlreadyInitialized)
    ));
    assert!(Eal::version().starts_with("DPDK "));

    let pool = Mempool::new(&eal, "ops", 64, 0, 2176).unwrap();
    let mut m = pool.alloc().unwrap();
    let head0 = m.headroom();
    let tail0 = m.tailroom();
    assert_eq!(m.len(), 0);
    assert!(head0 >= 64, "default headroom is RTE_PKTMBUF_HEADROOM");

    m.append(10).unwrap().copy_from_slice(b"0123456789");
    assert_eq!(m.data(), b"0123456789");
    assert_eq!(m.tailroom(), tail0 - 10);

    m.prepend(4).unwrap().copy_from_slice(b"HDR:");
    assert_eq!(m.data(), b"HDR:0123456789");
    assert_eq!(m.pkt_len(), 14);
    assert_eq!(m.headroom(), head0 - 4);

    assert!(m.adj(4));
    assert_eq!(m.data(), b"0123456789");
    assert!(m.trim(3));
    assert_eq!(m.data(), b"0123456");
    assert_eq!(m.pkt_len(), 7);

    // A fresh mbuf asks for no offload and carries no receive verdict.
    assert_eq!(m.tx_offload_request(), (0, 0));
    assert_eq!(m.rx_ip_csum(), dpdk::RxCsum::Unknown);
    assert_eq!(m.rss_hash(), None);
    // IPv4 checksum offload: the flags, and l2_len | l3_len << 7.
    m.offload_ipv4_csum(14, 20);
    let (flags, lens) = m.tx_offload_request();
    assert_ne!(flags, 0);
    assert_eq!(lens, 14 | (20 << 7));

    // UDP checksum offload over IPv6: other flags, the same lengths word.
    let mut m6 = pool.alloc().unwrap();
    m6.offload_udp6_csum(14, 40);
    let (flags6, lens6) = m6.tx_offload_request();
    assert!(flags6 != 0 && flags6 != flags, "{flags6:#x} {flags:#x}");
    assert_eq!(lens6, 14 | (40 << 7));
    drop(m6);

    // Outer UDP checksum offload: outer lengths at bits 40 and 49, the
    // inner part in l2_len.
    let mut mt = pool.alloc().unwrap();
    assert_eq!(mt.rx_udp_csum(), dpdk::RxCsum::Unknown);
    mt.offload_outer_udp6_csum(14, 40, 30);
    let (flags_t, lens_t) = mt.tx_offload_request();
    assert!(
        flags_t != 0 && flags_t != flags6,
        "{flags_t:#x} {flags6:#x}"
    );
    assert_eq!(lens_t, 30 | (40 << 40) | (14 << 49));
    drop(mt);

    // Refusals leave the mbuf unchanged.
    assert!(m.prepend(head0 + 1).is_none());
    assert!(m.append(m.tailroom() + 1).is_none());
    assert!(!m.adj(8));
    assert!(!m.trim(8));
    assert_eq!(m.data(), b"0123456");
    m.data_mut()[0] = b'X';
    assert_eq!(m.data()[0], b'X');
    drop(m);

    // append_copy: lengths around each 64-byte block, onto an empty mbuf
    // and after data already there; what does not fit is refused, unchanged.
    for len in [1usize, 59, 60, 64, 65, 128, 129, 200, 256, 257, 1500] {
        let f: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        let src = pool.alloc_from(&f).unwrap();
        let mut d = pool.alloc().unwrap();
        assert!(d.append_copy(&src), "{len}");
        assert_eq!(d.data(), &f[..], "{len}");
        assert_eq!(d.pkt_len(), len);
        let mut e = pool.alloc_from(b"ab").unwrap();
        assert!(e.append_copy(&src), "{len}");
        assert_eq!(&e.data()[..2], b"ab");
        assert_eq!(&e.data()[2..], &f[..], "{len}");
        assert_eq!(e.pkt_len(), len + 2);
        assert_eq!(src.data(), &f[..], "the source is untouched");
    }
    let big = pool.alloc_from(&[1u8; 2000]).unwrap();
    let mut d = pool.alloc_from(&[2u8; 100]).unwrap();
    assert!(!d.append_copy(&big));
    assert_eq!(d.data(), &[2u8; 100][..]);
    drop((big, d));

    // Exhaustion: single allocs, then bulk, return errors; then recover.
    let mut held = Vec::new();
    loop {
        match pool.alloc() {
            Ok(m) => held.push(m),
            Err(Error::NoMbufs) => break,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(held.len(), 64);
    assert_eq!(pool.available(), 0);
    let mut b = Burst::<32>::new();
    assert!(matches!(pool.alloc_bulk(&mut b, 8), Err(Error::NoMbufs)));
    assert!(b.is_empty());
    held.truncate(40);
    pool.alloc_bulk(&mut b, 24).unwrap();
    assert_eq!(b.len(), 24);
    assert!(
        pool.alloc_bulk(&mut b, 16).is_err(),
        "bulk larger than the burst's room"
    );
    b.free_all();
    held.clear();
    assert_eq!(pool.available(), 64);
    assert!(
        pool.alloc_from(&[0u8; 4000]).is_err(),
        "frame larger than one mbuf"
    );
    assert_eq!(pool.in_use(), 0);
}

#[test]
fn shared_mbufs_refuse_writes_and_chain() {
    // Same process as above is not possible (one EAL per process); nextest
    // runs each test in its own process.
    let eal = common::eal(&[]);
    let pool = Mempool::new(&eal, "share", 64, 0, 2176).unwrap();
    let mut m = pool.alloc_from(b"payload-bytes").unwrap();
    assert!(m.is_exclusive());
    let c = m.share(&pool).unwrap();
    assert!(!m.is_exclusive() && !c.is_exclusive());
    assert_eq!(c.data(), b"payload-bytes");
    assert!(m.prepend(4).is_none(), "no writes into a shared buffer");
    let mut h = pool.alloc_from(b"HDR:").unwrap();
    assert!(h.is_exclusive());
    h.data_mut()[0] = b'h';
    let pkt = h.chain(c).unwrap();
    assert_eq!(pkt.nb_segs(), 2);
    assert_eq!(pkt.pkt_len(), 4 + 13);
    assert_eq!(pkt.data(), b"hDR:");
    drop(pkt);
    assert!(m.is_exclusive(), "the clone is gone: exclusive again");
    drop(m);
    assert_eq!(pool.in_use(), 0);
}

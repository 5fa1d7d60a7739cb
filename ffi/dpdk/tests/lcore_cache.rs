//! A thread pinned and registered as an lcore frees into its mempool cache;
//! an unregistered thread has no cache and goes to the shared ring every time
//! (the silent slowdown registration exists to avoid).
mod common;

use dpdk::{current_lcore, pin_current_thread, register_current_thread, Mempool};

#[test]
fn registered_threads_use_the_mempool_cache() {
    let eal = common::eal(&[]);
    let pool = Mempool::new(&eal, "cache", 1023, 64, 2176).unwrap();
    let main = eal.main_lcore();
    assert_eq!(current_lcore(), Some(main.id));

    let (p, e) = (pool.clone(), eal.clone());
    std::thread::spawn(move || {
        assert_eq!(current_lcore(), None);
        let ring_before = p.ring_count();
        let m = p.alloc().unwrap();
        drop(m);
        assert_eq!(
            p.ring_count(),
            ring_before,
            "no cache: the mbuf went back to the ring"
        );

        assert!(pin_current_thread(0));
        let reg = register_current_thread(&e).unwrap();
        assert_ne!(reg.id(), main.id);
        assert_eq!(current_lcore(), Some(reg.id()));
        let m = p.alloc().unwrap();
        drop(m);
        assert!(
            p.cache_count(reg.id()) > 0,
            "the free landed in the lcore cache"
        );
        assert!(
            p.ring_count() < ring_before,
            "the cache was filled from the ring"
        );
        assert!(
            register_current_thread(&e).is_err(),
            "registering twice is an error"
        );
        drop(reg);
        assert_eq!(current_lcore(), None);
    })
    .join()
    .unwrap();
    assert_eq!(pool.in_use(), 0);
}

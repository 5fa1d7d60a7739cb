//! Thin safe layer over DPDK: EAL, mempools, mbufs, ethdev ports and their
//! queues, lcore registration. With `dpdk-sys` this is the only code of the
//! project that contains `unsafe`.
//!
//! Lifetimes are kept by reference counting rather than borrows, so handles
//! can move into worker threads: a [`Port`] keeps its [`Mempool`] and the
//! [`Eal`] alive, a queue keeps its port alive. Mbufs hold no reference (one
//! refcount per packet would cost too much); instead a mempool that still has
//! mbufs out when it is dropped is leaked rather than freed, and then EAL is
//! never cleaned up, so an mbuf can never point into unmapped memory.

mod eal;
mod error;
mod huge;
mod lcore;
pub mod log;
mod mbuf;
mod mempool;
mod port;
pub mod telemetry;

pub use eal::{Eal, Lcore};
pub use error::{Error, Result};
pub use huge::HugeAtomics;
pub use lcore::{
    current_lcore, launch, pin_current_thread, register_current_thread, Launched, LcoreRegistration,
};
pub use mbuf::{udp_verdict, Burst, Mbuf, RxCsum};
pub use mempool::Mempool;
pub use port::{offload, DevInfo, Link, Port, PortConfig, PortStats, RxQueue, TxQueue};

/// The CPU's time-stamp counter (`rte_rdtsc`). On x86_64 the instruction
/// is inlined (the worker reads it twice a burst); elsewhere DPDK's.
#[inline(always)]
pub fn rdtsc() -> u64 {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: RDTSC reads a counter; no memory is touched.
    unsafe {
        core::arch::x86_64::_rdtsc()
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: reads the TSC; no memory is touched.
    unsafe {
        dpdk_sys::vtep_rdtsc()
    }
}

/// TSC frequency in Hz (valid once EAL is initialised).
pub fn tsc_hz() -> u64 {
    // SAFETY: reads a value EAL computed at init.
    unsafe { dpdk_sys::rte_get_tsc_hz() }
}

/// Hints the CPU to bring `r`'s cache line into L1 (a prefetch); a no-op
/// on architectures without the hint. Used to overlap the FDB cache and TLB
/// misses of a whole burst.
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetching never faults, whatever the address; SSE is part
    // of the x86_64 baseline.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>(
            (r as *const T).cast::<i8>(),
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

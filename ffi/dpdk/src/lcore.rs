use std::marker::PhantomData;

use crate::error::{errno, strerror, Error, Result};
use crate::Eal;

/// The calling thread registered as a DPDK lcore; unregistered on drop.
/// Mempool per-lcore caches only work on registered threads: without one,
/// every alloc and free goes to the shared ring (a silent slowdown).
pub struct LcoreRegistration {
    id: u32,
    _eal: Eal,
    // Registration is per thread: the guard must stay on it.
    _not_send: PhantomData<*const ()>,
}

impl LcoreRegistration {
    pub fn id(&self) -> u32 {
        self.id
    }
}

impl Drop for LcoreRegistration {
    fn drop(&mut self) {
        // SAFETY: this thread registered itself and still is registered.
        unsafe { dpdk_sys::rte_thread_unregister() };
    }
}

/// Registers the calling (non-EAL) thread as an lcore (`rte_thread_register`).
pub fn register_current_thread(eal: &Eal) -> Result<LcoreRegistration> {
    if let Some(id) = current_lcore() {
        return Err(Error::Lcore(format!("thread already is lcore {id}")));
    }
    // SAFETY: EAL is initialised (we hold a handle).
    let rc = unsafe { dpdk_sys::rte_thread_register() };
    if rc < 0 {
        return Err(Error::Lcore(format!(
            "rte_thread_register failed: {} (no free lcore id?)",
            strerror(errno())
        )));
    }
    let id =
        current_lcore().ok_or_else(|| Error::Lcore("registered without an lcore id".into()))?;
    Ok(LcoreRegistration {
        id,
        _eal: eal.clone(),
        _not_send: PhantomData,
    })
}

/// The calling thread's lcore id, or None for a thread DPDK does not know.
pub fn current_lcore() -> Option<u32> {
    // SAFETY: reads a thread-local through the shim.
    let id = unsafe { dpdk_sys::vtep_lcore_id() };
    (id != u32::MAX).then_some(id)
}

/// Pins the calling thread to `cpu`. Returns false if the OS refused.
pub fn pin_current_thread(cpu: usize) -> bool {
    core_affinity::set_for_current(core_affinity::CoreId { id: cpu })
}

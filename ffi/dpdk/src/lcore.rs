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

/// A closure running on an EAL worker lcore (`rte_eal_remote_launch`).
/// Unlike a registered thread this keeps DPDK multi-process working (so
/// `dpdk-dumpcap` can attach): registering a non-EAL thread disables it.
pub struct Launched {
    lcore: u32,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    panic: std::sync::Arc<std::sync::Mutex<Option<String>>>,
    _eal: Eal,
}

struct Job {
    f: Box<dyn FnOnce() + Send>,
    done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    panic: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

unsafe extern "C" fn trampoline(arg: *mut std::ffi::c_void) -> std::ffi::c_int {
    // SAFETY: arg is the Box<Job> leaked by `launch`, taken back once.
    let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
    let Job { f, done, panic } = *job;
    // A panic must not unwind into C: catch it and report it.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    let rc = match r {
        Ok(()) => 0,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "panic".into());
            if let Ok(mut g) = panic.lock() {
                *g = Some(msg);
            }
            -1
        }
    };
    done.store(true, std::sync::atomic::Ordering::Release);
    rc
}

/// Runs `f` on EAL worker lcore `lcore` (from `-l`, not the main one).
pub fn launch<F: FnOnce() + Send + 'static>(eal: &Eal, lcore: u32, f: F) -> Result<Launched> {
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let panic = std::sync::Arc::new(std::sync::Mutex::new(None));
    let job = Box::new(Job {
        f: Box::new(f),
        done: done.clone(),
        panic: panic.clone(),
    });
    let arg = Box::into_raw(job).cast::<std::ffi::c_void>();
    // SAFETY: trampoline matches lcore_function_t and takes ownership of arg.
    let rc = unsafe { dpdk_sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if rc != 0 {
        // SAFETY: the launch failed, so the job was not taken: reclaim it.
        drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
        return Err(Error::Lcore(format!(
            "lcore {lcore} is not a free EAL worker lcore ({rc})"
        )));
    }
    Ok(Launched {
        lcore,
        done,
        panic,
        _eal: eal.clone(),
    })
}

impl Launched {
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// True once the closure returned or panicked.
    pub fn is_finished(&self) -> bool {
        self.done.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Waits for the closure; Err carries a panic's message.
    pub fn join(self) -> std::result::Result<(), String> {
        // SAFETY: waits for the lcore we launched on.
        unsafe { dpdk_sys::rte_eal_wait_lcore(self.lcore) };
        match self.panic.lock().ok().and_then(|mut g| g.take()) {
            Some(m) => Err(m),
            None => Ok(()),
        }
    }
}

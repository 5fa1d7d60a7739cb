use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::error::{errno, strerror, Error, Result};

/// Set once EAL init has been attempted in this process; DPDK allows only one.
static INITIALISED: AtomicBool = AtomicBool::new(false);

/// An initialised DPDK environment. Cheap to clone; `rte_eal_cleanup` runs
/// when the last handle (including those held by mempools and ports) drops.
#[derive(Clone)]
pub struct Eal {
    _inner: Arc<EalInner>,
}

struct EalInner;

impl Drop for EalInner {
    fn drop(&mut self) {
        // SAFETY: the last handle is gone: no port, mempool or queue is left.
        unsafe { dpdk_sys::rte_eal_cleanup() };
    }
}

/// An EAL lcore: DPDK's logical core id and the CPU it is bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lcore {
    pub id: u32,
    pub cpu: usize,
}

impl Eal {
    /// Initialises EAL with `args` (without the program name). A second call
    /// in the same process returns [`Error::AlreadyInitialized`].
    pub fn init<I, S>(args: I) -> Result<Eal>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut owned = vec![CString::new("vtep").expect("static")];
        for a in args {
            let a = a.as_ref();
            owned.push(CString::new(a).map_err(|_| Error::BadArgument(a.to_string()))?);
        }
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(Error::AlreadyInitialized);
        }
        // EAL may keep pointers into argv and permutes it: leak both.
        let owned: &'static mut [CString] = owned.leak();
        let argv: &'static mut [*mut c_char] = owned
            .iter()
            .map(|c| c.as_ptr() as *mut c_char)
            .collect::<Vec<_>>()
            .leak();
        // SAFETY: argv holds argc valid NUL-terminated strings that live forever.
        let rc = unsafe { dpdk_sys::rte_eal_init(argv.len() as i32, argv.as_mut_ptr()) };
        if rc < 0 {
            let e = errno();
            return Err(Error::EalInit {
                errno: e,
                msg: strerror(e),
            });
        }
        Ok(Eal {
            _inner: Arc::new(EalInner),
        })
    }

    /// The DPDK version string, e.g. "DPDK 22.11.11".
    pub fn version() -> String {
        // SAFETY: rte_version returns a static string.
        unsafe { CStr::from_ptr(dpdk_sys::rte_version()) }
            .to_string_lossy()
            .into_owned()
    }

    /// TSC frequency in Hz.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: EAL is initialised.
        unsafe { dpdk_sys::rte_get_tsc_hz() }
    }

    /// The main lcore (the thread that called init).
    pub fn main_lcore(&self) -> Lcore {
        // SAFETY: EAL is initialised.
        let id = unsafe { dpdk_sys::rte_get_main_lcore() };
        Lcore {
            id,
            cpu: lcore_cpu(id),
        }
    }

    /// The enabled lcores other than the main one (from `-l`/`--lcores`).
    pub fn worker_lcores(&self) -> Vec<Lcore> {
        let mut v = Vec::new();
        let mut i: u32 = u32::MAX;
        loop {
            // SAFETY: EAL is initialised; i is a previous return or -1.
            i = unsafe { dpdk_sys::rte_get_next_lcore(i, 1, 0) };
            if i >= dpdk_sys::RTE_MAX_LCORE {
                break;
            }
            v.push(Lcore {
                id: i,
                cpu: lcore_cpu(i),
            });
        }
        v
    }

    /// NUMA socket of the calling thread.
    pub fn socket_id(&self) -> i32 {
        // SAFETY: EAL is initialised.
        unsafe { dpdk_sys::rte_socket_id() as i32 }
    }

    /// Number of ports EAL probed.
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised.
        unsafe { dpdk_sys::rte_eth_dev_count_avail() }
    }

    /// Initialises the pdump framework so `dpdk-dumpcap` can capture from
    /// this process's ports.
    pub fn enable_pdump(&self) -> Result<()> {
        // SAFETY: EAL is initialised.
        let rc = unsafe { dpdk_sys::rte_pdump_init() };
        if rc < 0 {
            let e = errno();
            return Err(Error::EalInit {
                errno: e,
                msg: format!("rte_pdump_init: {}", strerror(e)),
            });
        }
        Ok(())
    }
}

fn lcore_cpu(id: u32) -> usize {
    // SAFETY: EAL is initialised; any id is accepted.
    let c = unsafe { dpdk_sys::rte_lcore_to_cpu_id(id as i32) };
    c.max(0) as usize
}

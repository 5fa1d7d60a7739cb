use std::ffi::CStr;

/// Errors of the DPDK layer, each with what a person needs to act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("EAL is already initialised in this process (DPDK allows one init per process)")]
    AlreadyInitialized,
    #[error("EAL argument {0:?} contains a NUL byte")]
    BadArgument(String),
    #[error("EAL initialisation failed: {msg} (rte_errno {errno}); check [eal].args")]
    EalInit { errno: i32, msg: String },
    #[error("no DPDK port named {0:?}: is its --vdev or PCI address (-a) in [eal].args, and is a NIC bound to vfio-pci? `vtepd --preflight` checks the host")]
    NoSuchPort(String),
    #[error("port {port}: {op} failed: {msg} ({code})")]
    Port {
        port: String,
        op: &'static str,
        code: i32,
        msg: String,
    },
    #[error("mempool {name:?}: {msg}")]
    Mempool { name: String, msg: String },
    #[error("mempool exhausted: no free mbufs")]
    NoMbufs,
    #[error("lcore: {0}")]
    Lcore(String),
    #[error("telemetry: {0}")]
    Telemetry(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// `rte_strerror` of a (positive or negative) errno value.
pub(crate) fn strerror(code: i32) -> String {
    // SAFETY: rte_strerror returns a pointer to a static or thread-local
    // NUL-terminated string, valid until the next call on this thread.
    unsafe { CStr::from_ptr(dpdk_sys::rte_strerror(code.abs())) }
        .to_string_lossy()
        .into_owned()
}

/// The calling thread's `rte_errno`.
pub(crate) fn errno() -> i32 {
    // SAFETY: reads a thread-local int through the shim.
    unsafe { dpdk_sys::vtep_errno() }
}

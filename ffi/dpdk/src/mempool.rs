use std::ffi::CString;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::{errno, strerror, Error, Result};
use crate::mbuf::{Burst, Mbuf};
use crate::Eal;

/// A packet-mbuf mempool. Cheap to clone; freed when the last handle drops,
/// unless mbufs are still out (then it is leaked: see the crate docs).
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<Inner>,
}

struct Inner {
    raw: NonNull<dpdk_sys::rte_mempool>,
    name: String,
    size: u32,
    eal: Option<Eal>,
}

// SAFETY: DPDK mempools are multi-producer/multi-consumer safe.
unsafe impl Send for Inner {}
// SAFETY: as above; all methods are thread-safe mempool operations.
unsafe impl Sync for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        let raw = self.raw.as_ptr();
        // SAFETY: raw is a live mempool; avail_count counts ring + caches.
        let avail = unsafe { dpdk_sys::rte_mempool_avail_count(raw) };
        if avail == self.size {
            // SAFETY: every object is back; nothing references the pool.
            unsafe { dpdk_sys::rte_mempool_free(raw) };
        } else {
            // Mbufs still point into this pool: keep it and EAL alive forever.
            std::mem::forget(self.eal.take());
        }
    }
}

impl Mempool {
    /// Creates a pool of `n` packet mbufs with `data_room` bytes each
    /// (headroom included) and a per-lcore cache of `cache` mbufs.
    pub fn new(eal: &Eal, name: &str, n: u32, cache: u32, data_room: u16) -> Result<Mempool> {
        let cname = CString::new(name).map_err(|_| Error::Mempool {
            name: name.into(),
            msg: "name contains a NUL byte".into(),
        })?;
        let socket = eal.socket_id();
        // SAFETY: EAL is initialised; cname is a valid C string.
        let raw = unsafe {
            dpdk_sys::rte_pktmbuf_pool_create(cname.as_ptr(), n, cache, 0, data_room, socket)
        };
        let raw = NonNull::new(raw).ok_or_else(|| Error::Mempool {
            name: name.into(),
            msg: format!(
                "cannot create {n} mbufs of {data_room} bytes: {} (too little memory? try -m or hugepages)",
                strerror(errno())
            ),
        })?;
        Ok(Mempool {
            inner: Arc::new(Inner {
                raw,
                name: name.into(),
                size: n,
                eal: Some(eal.clone()),
            }),
        })
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn size(&self) -> u32 {
        self.inner.size
    }

    pub(crate) fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.inner.raw.as_ptr()
    }

    /// Free mbufs, in the shared ring and in all lcore caches.
    pub fn available(&self) -> u32 {
        // SAFETY: live mempool.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Mbufs currently allocated.
    pub fn in_use(&self) -> u32 {
        self.size() - self.available()
    }

    /// Free mbufs in the shared ring only (caches excluded).
    pub fn ring_count(&self) -> u32 {
        // SAFETY: live mempool.
        unsafe { dpdk_sys::vtep_mempool_ring_count(self.as_ptr()) }
    }

    /// Mbufs held in `lcore`'s per-lcore cache.
    pub fn cache_count(&self, lcore: u32) -> u32 {
        // SAFETY: live mempool; the shim bounds-checks the lcore id.
        unsafe { dpdk_sys::vtep_mempool_cache_len(self.as_ptr(), lcore) }
    }

    /// Allocates one mbuf (empty, default headroom).
    pub fn alloc(&self) -> Result<Mbuf> {
        // SAFETY: live mempool.
        let m = unsafe { dpdk_sys::vtep_pktmbuf_alloc(self.as_ptr()) };
        NonNull::new(m)
            .map(|p| unsafe { Mbuf::from_raw(p) })
            .ok_or(Error::NoMbufs)
    }

    /// Allocates `n` mbufs at once onto the end of `burst`; all or none.
    pub fn alloc_bulk<const N: usize>(&self, burst: &mut Burst<N>, n: usize) -> Result<()> {
        let len = burst.len();
        if n > N - len {
            return Err(Error::Mempool {
                name: self.name().into(),
                msg: format!("bulk of {n} does not fit a burst of {N} holding {len}"),
            });
        }
        // SAFETY: the spare tail of the burst has room for n pointers.
        let rc = unsafe {
            dpdk_sys::vtep_pktmbuf_alloc_bulk(self.as_ptr(), burst.spare_ptr(), n as u32)
        };
        if rc != 0 {
            return Err(Error::NoMbufs);
        }
        // SAFETY: n new mbufs were written to the spare slots.
        unsafe { burst.set_len(len + n) };
        Ok(())
    }

    /// Allocates an mbuf holding a copy of `bytes`.
    pub fn alloc_from(&self, bytes: &[u8]) -> Result<Mbuf> {
        let mut m = self.alloc()?;
        // ok_or_else: building the error allocates; only on failure.
        let room = m.append(bytes.len()).ok_or_else(|| Error::Mempool {
            name: self.name().into(),
            msg: format!("{} bytes do not fit one mbuf", bytes.len()),
        })?;
        room.copy_from_slice(bytes);
        Ok(m)
    }
}

//! Zeroed atomic arrays backed by transparent huge pages.
//!
//! Large lookup tables read at random (the FDB) pay a TLB miss and a page
//! walk per lookup on 4 KiB pages; on 2 MiB pages a 64 MiB table needs 32
//! TLB entries. The memory is an anonymous mapping aligned to 2 MiB and
//! marked MADV_HUGEPAGE before it is touched, so it works with the kernel's
//! THP setting "madvise" (the default of most distributions) as well as
//! "always"; where THP is off it is ordinary zeroed memory. Independent of
//! the EAL, so tests and tools without DPDK memory use it too.

use std::ops::Deref;
use std::ptr::NonNull;
use std::sync::atomic::AtomicU64;

const HUGE: usize = 2 << 20;

/// `len` zeroed `AtomicU64`s in their own 2 MiB-aligned mapping.
pub struct HugeAtomics {
    ptr: NonNull<AtomicU64>,
    len: usize,
    map: *mut libc::c_void,
    map_len: usize,
}

// SAFETY: the mapping is owned; AtomicU64 is Sync, so shared access from
// several threads is what atomics are for.
unsafe impl Send for HugeAtomics {}
unsafe impl Sync for HugeAtomics {}

impl HugeAtomics {
    /// Maps the memory; panics if the kernel refuses the mapping (out of
    /// memory), as a `Vec` allocation would abort.
    pub fn zeroed(len: usize) -> HugeAtomics {
        let bytes = (len.max(1) * 8).div_ceil(HUGE) * HUGE;
        let map_len = bytes + HUGE;
        // SAFETY: anonymous private mapping, no fd; checked below.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                map_len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert!(
            map != libc::MAP_FAILED,
            "cannot map {map_len} bytes: {}",
            std::io::Error::last_os_error()
        );
        let aligned = (map as usize).div_ceil(HUGE) * HUGE;
        // SAFETY: [aligned, aligned + bytes) lies inside the mapping. A
        // refused advice (THP off) leaves ordinary pages: ignored.
        unsafe { libc::madvise(aligned as *mut libc::c_void, bytes, libc::MADV_HUGEPAGE) };
        HugeAtomics {
            // SAFETY: inside a successful mapping, hence non-null; anonymous
            // mappings are zero-filled and zero is a valid AtomicU64.
            ptr: unsafe { NonNull::new_unchecked(aligned as *mut AtomicU64) },
            len,
            map,
            map_len,
        }
    }
}

impl Deref for HugeAtomics {
    type Target = [AtomicU64];
    fn deref(&self) -> &[AtomicU64] {
        // SAFETY: len initialised (zeroed) atomics, alive as long as self.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for HugeAtomics {
    fn drop(&mut self) {
        // SAFETY: the mapping made in zeroed(); no borrow outlives self.
        unsafe { libc::munmap(self.map, self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn zeroed_aligned_writable_and_shared() {
        let a = HugeAtomics::zeroed(3 * (1 << 18) + 5);
        assert_eq!(a.len(), 3 * (1 << 18) + 5);
        assert_eq!(a.as_ptr() as usize % HUGE, 0);
        assert!(a.iter().all(|w| w.load(Ordering::Relaxed) == 0));
        let a = std::sync::Arc::new(a);
        let b = a.clone();
        std::thread::spawn(move || b[7].store(42, Ordering::Relaxed))
            .join()
            .unwrap();
        assert_eq!(a[7].load(Ordering::Relaxed), 42);
        let last = a.len() - 1;
        a[last].store(1, Ordering::Relaxed);
    }
}

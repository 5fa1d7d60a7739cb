//! The buffer trait packet code is written against: implemented by DPDK
//! mbufs in production and by [`VecBuf`] in tests, so every rule of encap and
//! decap runs without an EAL.

/// A packet buffer with room to grow at the front.
pub trait PacketBuf {
    fn data(&self) -> &[u8];
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the front by `n` bytes and returns them; None if no headroom.
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]>;
    /// Removes `n` bytes from the front; false if shorter.
    fn adj(&mut self, n: usize) -> bool;
    /// Removes `n` bytes from the end; false if shorter.
    fn trim(&mut self, n: usize) -> bool;
    fn len(&self) -> usize {
        self.data().len()
    }
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PacketBuf for dpdk::Mbuf {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        dpdk::Mbuf::data(self)
    }
    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        dpdk::Mbuf::data_mut(self)
    }
    #[inline(always)]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        dpdk::Mbuf::prepend(self, n)
    }
    #[inline(always)]
    fn adj(&mut self, n: usize) -> bool {
        dpdk::Mbuf::adj(self, n)
    }
    #[inline(always)]
    fn trim(&mut self, n: usize) -> bool {
        dpdk::Mbuf::trim(self, n)
    }
    #[inline(always)]
    fn len(&self) -> usize {
        dpdk::Mbuf::len(self)
    }
}

/// A Vec-backed buffer with DPDK's default 128 bytes of headroom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecBuf {
    buf: Vec<u8>,
    start: usize,
}

impl VecBuf {
    pub const HEADROOM: usize = 128;

    pub fn new(bytes: &[u8]) -> VecBuf {
        let mut buf = vec![0u8; Self::HEADROOM];
        buf.extend_from_slice(bytes);
        VecBuf {
            buf,
            start: Self::HEADROOM,
        }
    }
}

// Inlined as the mbuf's methods are (instruction counts on plain
// buffers then measure what a worker runs).
impl PacketBuf for VecBuf {
    #[inline(always)]
    fn data(&self) -> &[u8] {
        &self.buf[self.start..]
    }
    #[inline(always)]
    fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.start..]
    }
    #[inline(always)]
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.start {
            return None;
        }
        self.start -= n;
        Some(&mut self.buf[self.start..self.start + n])
    }
    #[inline(always)]
    fn adj(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        self.start += n;
        true
    }
    #[inline(always)]
    fn trim(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        let l = self.buf.len() - n;
        self.buf.truncate(l);
        true
    }
}

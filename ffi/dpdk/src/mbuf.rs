use std::ptr::NonNull;

use dpdk_sys as sys;

/// An owned packet buffer: not `Clone`, freed on drop. Field access is done
/// in Rust at the offsets the bindings give, with no FFI call per packet.
///
/// Data may be shared with other mbufs after [`Mbuf::share`] (an indirect
/// clone points at the same buffer, whose reference count then exceeds 1).
/// Writing shared data would race with whoever else sends it, so every
/// method that writes packet bytes checks [`Mbuf::is_exclusive`] first.
#[repr(transparent)]
pub struct Mbuf(NonNull<sys::rte_mbuf>);

/// The receive checksum verdict of a NIC (`RTE_MBUF_F_RX_IP_CKSUM_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RxCsum {
    /// Not checked, or no checksum offload: check in software.
    Unknown,
    Good,
    Bad,
}

/// The NIC's verdict on the outermost UDP checksum of a received packet,
/// from its offload flags and packet type. A NIC that took the packet for
/// a tunnel reports the outer checksum in `RX_OUTER_L4_CKSUM_*` (with
/// `RX_OUTER_UDP_CKSUM` on); one that did not reports it in the plain
/// `RX_L4_CKSUM_*` (with `RX_UDP_CKSUM` on), where a tunnel-aware NIC puts
/// the inner one. So the plain flags count only when the packet type says
/// UDP and no tunnel; anything else (no type, a tunnel, `INVALID`) is
/// left to software. `NONE` (checked, but the field in the data is not
/// valid) counts as good, as for the IPv4 header.
pub fn udp_verdict(ol_flags: u64, packet_type: u32) -> RxCsum {
    match ol_flags & sys::RTE_MBUF_F_RX_OUTER_L4_CKSUM_MASK as u64 {
        f if f == sys::RTE_MBUF_F_RX_OUTER_L4_CKSUM_GOOD as u64 => return RxCsum::Good,
        f if f == sys::RTE_MBUF_F_RX_OUTER_L4_CKSUM_BAD as u64 => return RxCsum::Bad,
        _ => {}
    }
    let plain_udp = packet_type & sys::RTE_PTYPE_TUNNEL_MASK == 0
        && packet_type & sys::RTE_PTYPE_L4_MASK == sys::RTE_PTYPE_L4_UDP;
    if !plain_udp {
        return RxCsum::Unknown;
    }
    match ol_flags & sys::RTE_MBUF_F_RX_L4_CKSUM_MASK as u64 {
        f if f == sys::RTE_MBUF_F_RX_L4_CKSUM_GOOD as u64
            || f == sys::RTE_MBUF_F_RX_L4_CKSUM_NONE as u64 =>
        {
            RxCsum::Good
        }
        f if f == sys::RTE_MBUF_F_RX_L4_CKSUM_BAD as u64 => RxCsum::Bad,
        _ => RxCsum::Unknown,
    }
}

// SAFETY: an mbuf may be freed or sent from any thread; ownership is unique.
unsafe impl Send for Mbuf {}

macro_rules! field {
    ($get:ident, $set:ident, $off:ident, $t:ty) => {
        #[inline(always)]
        fn $get(&self) -> $t {
            // SAFETY: the offset comes from offsetof on this DPDK's rte_mbuf.
            unsafe { self.at::<$t>(sys::$off as usize).read() }
        }
        #[inline(always)]
        #[allow(dead_code)]
        fn $set(&mut self, v: $t) {
            // SAFETY: as above; we own the mbuf.
            unsafe { self.at::<$t>(sys::$off as usize).write(v) }
        }
    };
}

impl Mbuf {
    /// # Safety
    /// `raw` must be a valid, exclusively owned, direct mbuf.
    #[inline(always)]
    pub(crate) unsafe fn from_raw(raw: NonNull<sys::rte_mbuf>) -> Mbuf {
        Mbuf(raw)
    }

    /// The field at byte offset `off` of the rte_mbuf, as a `T`.
    #[inline(always)]
    fn at<T>(&self, off: usize) -> *mut T {
        self.0.as_ptr().cast::<u8>().wrapping_add(off).cast()
    }

    /// Gives up ownership, e.g. to hand the mbuf to `rte_eth_tx_burst`.
    #[inline(always)]
    pub fn into_raw(self) -> *mut sys::rte_mbuf {
        let p = self.0.as_ptr();
        std::mem::forget(self);
        p
    }

    field!(buf_addr, _set_buf_addr, VTEP_MBUF_OFF_BUF_ADDR, *mut u8);
    field!(data_off, set_data_off, VTEP_MBUF_OFF_DATA_OFF, u16);
    field!(nb_segs_raw, _set_nb_segs, VTEP_MBUF_OFF_NB_SEGS, u16);
    field!(port_raw, _set_port, VTEP_MBUF_OFF_PORT, u16);
    field!(pkt_len_raw, set_pkt_len, VTEP_MBUF_OFF_PKT_LEN, u32);
    field!(data_len_raw, set_data_len, VTEP_MBUF_OFF_DATA_LEN, u16);
    field!(buf_len, _set_buf_len, VTEP_MBUF_OFF_BUF_LEN, u16);
    field!(ol_flags, set_ol_flags, VTEP_MBUF_OFF_OL_FLAGS, u64);
    field!(
        packet_type,
        _set_packet_type,
        VTEP_MBUF_OFF_PACKET_TYPE,
        u32
    );
    field!(hash_rss, _set_hash_rss, VTEP_MBUF_OFF_HASH, u32);
    field!(
        tx_offload_raw,
        set_tx_offload,
        VTEP_MBUF_OFF_TX_OFFLOAD,
        u64
    );

    /// The NIC's RSS hash of the packet, when the driver supplied one.
    #[inline(always)]
    pub fn rss_hash(&self) -> Option<u32> {
        (self.ol_flags() & sys::RTE_MBUF_F_RX_RSS_HASH as u64 != 0).then(|| self.hash_rss())
    }

    /// What the NIC found of the (outer) IPv4 header checksum. `NONE`
    /// (the header was verified but the checksum field in the data is not
    /// valid, as virtio may deliver) counts as good: a software check
    /// would wrongly drop it.
    #[inline(always)]
    pub fn rx_ip_csum(&self) -> RxCsum {
        match self.ol_flags() & sys::RTE_MBUF_F_RX_IP_CKSUM_MASK as u64 {
            f if f == sys::RTE_MBUF_F_RX_IP_CKSUM_GOOD as u64
                || f == sys::RTE_MBUF_F_RX_IP_CKSUM_NONE as u64 =>
            {
                RxCsum::Good
            }
            f if f == sys::RTE_MBUF_F_RX_IP_CKSUM_BAD as u64 => RxCsum::Bad,
            _ => RxCsum::Unknown,
        }
    }

    /// What the NIC found of the outermost UDP checksum ([`udp_verdict`]).
    #[inline(always)]
    pub fn rx_udp_csum(&self) -> RxCsum {
        udp_verdict(self.ol_flags(), self.packet_type())
    }

    /// Asks the NIC to fill the IPv4 header checksum of this packet, whose
    /// IPv4 header (of `l3_len` bytes, checksum field zero) follows
    /// `l2_len` bytes of Ethernet. The port must have the
    /// `TX_IPV4_CKSUM` offload on.
    #[inline(always)]
    pub fn offload_ipv4_csum(&mut self, l2_len: u8, l3_len: u16) {
        // tx_offload bit-fields: l2_len bits 0-6, l3_len bits 7-15.
        self.set_tx_offload((l2_len as u64 & 0x7f) | ((l3_len as u64 & 0x1ff) << 7));
        self.set_ol_flags(self.ol_flags() | sys::RTE_MBUF_F_TX_IPV4 | sys::RTE_MBUF_F_TX_IP_CKSUM);
    }

    /// Asks the NIC to fill the UDP checksum of this packet: IPv6 (a
    /// header of `l3_len` bytes, no extension headers) after `l2_len`
    /// bytes of Ethernet, then UDP whose checksum field holds the
    /// pseudo-header's sum, as DPDK's L4 checksum offload wants it. The
    /// port must have the `TX_UDP_CKSUM` offload on.
    #[inline(always)]
    pub fn offload_udp6_csum(&mut self, l2_len: u8, l3_len: u16) {
        self.set_tx_offload((l2_len as u64 & 0x7f) | ((l3_len as u64 & 0x1ff) << 7));
        self.set_ol_flags(self.ol_flags() | sys::RTE_MBUF_F_TX_IPV6 | sys::RTE_MBUF_F_TX_UDP_CKSUM);
    }

    /// Asks the NIC to fill the outer UDP checksum of this tunnel packet
    /// (`TX_OUTER_UDP_CKSUM`, for a NIC that offers it but not the plain
    /// `TX_UDP_CKSUM`): IPv6 (`outer_l3_len` bytes) after `outer_l2_len`
    /// bytes of Ethernet, then UDP whose checksum field holds the
    /// pseudo-header's sum; `inner_l2_len` is what follows the outer IPv6
    /// header up to the inner IP header (UDP, tunnel and inner Ethernet
    /// headers), as DPDK describes a tunnel packet's `l2_len`.
    #[inline(always)]
    pub fn offload_outer_udp6_csum(
        &mut self,
        outer_l2_len: u8,
        outer_l3_len: u16,
        inner_l2_len: u8,
    ) {
        // tx_offload bit-fields: l2_len 0-6, l3_len 7-15, l4_len 16-23,
        // tso_segsz 24-39, outer_l3_len 40-48, outer_l2_len 49-55.
        self.set_tx_offload(
            (inner_l2_len as u64 & 0x7f)
                | ((outer_l3_len as u64 & 0x1ff) << 40)
                | ((outer_l2_len as u64 & 0x7f) << 49),
        );
        self.set_ol_flags(
            self.ol_flags() | sys::RTE_MBUF_F_TX_OUTER_IPV6 | sys::RTE_MBUF_F_TX_OUTER_UDP_CKSUM,
        );
    }

    /// The TX offload request of this packet: the checksum flags and the
    /// `tx_offload` lengths word.
    pub fn tx_offload_request(&self) -> (u64, u64) {
        (
            self.ol_flags()
                & (sys::RTE_MBUF_F_TX_IPV4
                    | sys::RTE_MBUF_F_TX_IP_CKSUM
                    | sys::RTE_MBUF_F_TX_IPV6
                    | sys::RTE_MBUF_F_TX_L4_MASK
                    | sys::RTE_MBUF_F_TX_OUTER_IPV6
                    | sys::RTE_MBUF_F_TX_OUTER_UDP_CKSUM),
            self.tx_offload_raw(),
        )
    }

    /// True when no other mbuf shares this one's data: a direct mbuf with
    /// reference count 1.
    #[inline(always)]
    pub fn is_exclusive(&self) -> bool {
        if self.ol_flags() & (sys::RTE_MBUF_F_INDIRECT | sys::RTE_MBUF_F_EXTERNAL) != 0 {
            return false;
        }
        // SAFETY: refcnt is a u16 DPDK updates atomically; the offset comes
        // from offsetof and the field is 2-byte aligned.
        let rc = unsafe {
            std::sync::atomic::AtomicU16::from_ptr(
                self.0
                    .as_ptr()
                    .cast::<u8>()
                    .add(sys::VTEP_MBUF_OFF_REFCNT as usize)
                    .cast::<u16>(),
            )
        };
        rc.load(std::sync::atomic::Ordering::Acquire) == 1
    }

    /// An indirect clone sharing this packet's data (`rte_pktmbuf_clone`):
    /// neither mbuf may write packet bytes until the other is gone.
    pub fn share(&self, pool: &crate::Mempool) -> crate::Result<Mbuf> {
        // SAFETY: self is a valid mbuf; the clone is a new owned mbuf.
        let c = unsafe { sys::vtep_pktmbuf_clone(self.0.as_ptr(), pool.as_ptr()) };
        NonNull::new(c)
            .map(|p| unsafe { Mbuf::from_raw(p) })
            .ok_or(crate::Error::NoMbufs)
    }

    /// Appends `tail`'s segments to this packet (`rte_pktmbuf_chain`); on
    /// failure (too many segments) both come back.
    pub fn chain(self, tail: Mbuf) -> Result<Mbuf, (Mbuf, Mbuf)> {
        // SAFETY: both are valid owned mbufs; on success the head owns tail.
        let rc = unsafe { sys::vtep_pktmbuf_chain(self.0.as_ptr(), tail.0.as_ptr()) };
        if rc == 0 {
            std::mem::forget(tail);
            Ok(self)
        } else {
            Err((self, tail))
        }
    }

    /// Bytes in this (first) segment.
    #[inline(always)]
    pub fn len(&self) -> usize {
        self.data_len_raw() as usize
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes in the whole packet, all segments.
    #[inline(always)]
    pub fn pkt_len(&self) -> usize {
        self.pkt_len_raw() as usize
    }

    /// Number of segments; the data accessors see only the first.
    #[inline(always)]
    pub fn nb_segs(&self) -> u16 {
        self.nb_segs_raw()
    }

    /// The port the mbuf was received on.
    #[inline(always)]
    pub fn port(&self) -> u16 {
        self.port_raw()
    }

    #[inline(always)]
    pub fn headroom(&self) -> usize {
        self.data_off() as usize
    }

    #[inline(always)]
    pub fn tailroom(&self) -> usize {
        self.buf_len() as usize - self.data_off() as usize - self.len()
    }

    /// The first segment's data.
    #[inline(always)]
    pub fn data(&self) -> &[u8] {
        // SAFETY: buf_addr + data_off .. + data_len lies inside the buffer.
        unsafe {
            std::slice::from_raw_parts(self.buf_addr().add(self.data_off() as usize), self.len())
        }
    }

    /// Prefetches the cache line `n` bytes in front of the data, where a
    /// prepend of `n` bytes will write; no-op if the headroom is smaller.
    #[inline(always)]
    pub fn prefetch_headroom(&self, n: usize) {
        let off = self.data_off() as usize;
        if n <= off {
            // SAFETY: buf_addr + off - n lies inside the buffer.
            crate::prefetch(unsafe { &*self.buf_addr().add(off - n) });
        }
    }

    /// The first segment's data, writable.
    ///
    /// # Panics
    /// If the data is shared (see [`Mbuf::is_exclusive`]).
    #[inline(always)]
    pub fn data_mut(&mut self) -> &mut [u8] {
        assert!(self.is_exclusive(), "data_mut on a shared mbuf");
        // SAFETY: as `data`; &mut self and the check give exclusive access.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.buf_addr().add(self.data_off() as usize),
                self.len(),
            )
        }
    }

    /// Grows the packet at the front by `n` bytes (into the headroom) and
    /// returns them; None, unchanged, when the headroom is too small.
    #[inline(always)]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        if n > self.headroom() || !self.is_exclusive() {
            return None;
        }
        let n16 = n as u16;
        self.set_data_off(self.data_off() - n16);
        self.set_data_len(self.data_len_raw() + n16);
        self.set_pkt_len(self.pkt_len_raw() + n as u32);
        // SAFETY: the n bytes in front of the old data lie in the buffer
        // (n <= headroom), and the mbuf is exclusive (checked above).
        Some(unsafe {
            std::slice::from_raw_parts_mut(self.buf_addr().add(self.data_off() as usize), n)
        })
    }

    /// Removes `n` bytes from the front; false, unchanged, if shorter.
    #[inline(always)]
    pub fn adj(&mut self, n: usize) -> bool {
        if n > self.len() {
            return false;
        }
        let n16 = n as u16;
        self.set_data_off(self.data_off() + n16);
        self.set_data_len(self.data_len_raw() - n16);
        self.set_pkt_len(self.pkt_len_raw() - n as u32);
        true
    }

    /// Grows a single-segment packet at the end by `n` bytes and returns
    /// them; None, unchanged, if the tailroom is too small or it is chained.
    #[inline(always)]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        if self.nb_segs() != 1 || n > self.tailroom() || !self.is_exclusive() {
            return None;
        }
        let old = self.len();
        self.set_data_len((old + n) as u16);
        self.set_pkt_len(self.pkt_len_raw() + n as u32);
        Some(&mut self.data_mut()[old..])
    }

    /// Appends a copy of `src`'s first segment; false, unchanged, when it
    /// does not fit. A frame of up to 256 bytes is copied in whole 64-byte
    /// blocks when both buffers hold them (the bytes past its end belong
    /// to neither packet): a few vector moves instead of a call to memcpy.
    #[inline(always)]
    pub fn append_copy(&mut self, src: &Mbuf) -> bool {
        let n = src.len();
        if self.nb_segs() != 1 || n > self.tailroom() || !self.is_exclusive() {
            return false;
        }
        let old = self.len();
        let blocks = n.div_ceil(64);
        let whole = blocks * 64;
        let src_room = src.buf_len() as usize - src.data_off() as usize;
        // SAFETY: the destination [data_off + old, + n) lies in this
        // buffer (n <= tailroom) and this mbuf is exclusive (checked); the
        // source [data_off, + n) is src's data. Whole blocks are copied
        // only when both buffers extend that far; the copy is bytewise,
        // so bytes never written are only moved, never read as values.
        unsafe {
            let d = self.buf_addr().add(self.data_off() as usize + old);
            let s = src.buf_addr().add(src.data_off() as usize);
            if blocks <= 4 && whole <= self.tailroom() && whole <= src_room {
                // Constant lengths: inlined moves, never a memcpy call.
                match blocks {
                    0 | 1 => std::ptr::copy_nonoverlapping(s, d, 64),
                    2 => std::ptr::copy_nonoverlapping(s, d, 128),
                    3 => std::ptr::copy_nonoverlapping(s, d, 192),
                    _ => std::ptr::copy_nonoverlapping(s, d, 256),
                }
            } else {
                std::ptr::copy_nonoverlapping(s, d, n);
            }
        }
        self.set_data_len((old + n) as u16);
        self.set_pkt_len(self.pkt_len_raw() + n as u32);
        true
    }

    /// Removes `n` bytes from the end of a single-segment packet.
    #[inline(always)]
    pub fn trim(&mut self, n: usize) -> bool {
        if self.nb_segs() != 1 || n > self.len() {
            return false;
        }
        self.set_data_len(self.data_len_raw() - n as u16);
        self.set_pkt_len(self.pkt_len_raw() - n as u32);
        true
    }
}

impl Drop for Mbuf {
    #[inline(always)]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; it is returned to its pool.
        unsafe { sys::vtep_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("len", &self.len())
            .field("pkt_len", &self.pkt_len())
            .field("headroom", &self.headroom())
            .finish()
    }
}

/// A fixed array of up to N owned mbufs: what RX fills, TX drains and bulk
/// alloc appends to. Remaining mbufs are bulk-freed on drop.
pub struct Burst<const N: usize> {
    pkts: [*mut sys::rte_mbuf; N],
    len: usize,
}

// SAFETY: the burst owns its mbufs exclusively.
unsafe impl<const N: usize> Send for Burst<N> {}

impl<const N: usize> Default for Burst<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Burst<N> {
    pub const fn new() -> Self {
        Burst {
            pkts: [std::ptr::null_mut(); N],
            len: 0,
        }
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    #[inline(always)]
    pub fn is_full(&self) -> bool {
        self.len == N
    }

    pub const fn capacity(&self) -> usize {
        N
    }

    /// Adds an mbuf; gives it back if the burst is full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.len == N {
            return Err(m);
        }
        self.pkts[self.len] = m.into_raw();
        self.len += 1;
        Ok(())
    }

    /// Takes the last mbuf.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slots below len hold owned, valid mbufs.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(self.pkts[self.len])) })
    }

    /// Takes every mbuf, in order, leaving the burst empty.
    #[inline(always)]
    pub fn drain(&mut self) -> Drain<'_, N> {
        let len = self.len;
        self.len = 0;
        Drain {
            burst: self,
            next: 0,
            end: len,
        }
    }

    /// The mbuf at `i`, borrowed.
    #[inline(always)]
    pub fn get(&self, i: usize) -> Option<&Mbuf> {
        if i >= self.len {
            return None;
        }
        // SAFETY: Mbuf is a repr(transparent) NonNull newtype; the slot
        // holds a valid mbuf we own, and the borrow is tied to &self.
        Some(unsafe { &*(&self.pkts[i] as *const *mut sys::rte_mbuf as *const Mbuf) })
    }

    /// Frees every mbuf at once (`rte_pktmbuf_free_bulk`).
    #[inline(always)]
    pub fn free_all(&mut self) {
        if self.len > 0 {
            // SAFETY: slots below len hold owned mbufs; they are given up.
            unsafe { sys::rte_pktmbuf_free_bulk(self.pkts.as_mut_ptr(), self.len as u32) };
            self.len = 0;
        }
    }

    pub(crate) fn spare_ptr(&mut self) -> *mut *mut sys::rte_mbuf {
        // SAFETY: len <= N, so this is at most one past the end.
        unsafe { self.pkts.as_mut_ptr().add(self.len) }
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut *mut sys::rte_mbuf {
        self.pkts.as_mut_ptr()
    }

    /// # Safety
    /// Slots below `len` must hold owned, valid mbufs.
    pub(crate) unsafe fn set_len(&mut self, len: usize) {
        debug_assert!(len <= N);
        self.len = len;
    }

    /// Drops the first `n` entries from the array without freeing them
    /// (they were handed to the driver) and moves the rest to the front.
    pub(crate) fn consume_front(&mut self, n: usize) {
        self.pkts.copy_within(n..self.len, 0);
        self.len -= n;
    }
}

impl<const N: usize> Drop for Burst<N> {
    fn drop(&mut self) {
        self.free_all();
    }
}

/// Iterator of [`Burst::drain`]. Mbufs not taken are freed when it drops.
pub struct Drain<'a, const N: usize> {
    burst: &'a mut Burst<N>,
    next: usize,
    end: usize,
}

impl<const N: usize> Iterator for Drain<'_, N> {
    type Item = Mbuf;

    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        let p = self.burst.pkts[self.next];
        self.next += 1;
        // SAFETY: slots in next..end still hold owned mbufs.
        Some(unsafe { Mbuf::from_raw(NonNull::new_unchecked(p)) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl<const N: usize> ExactSizeIterator for Drain<'_, N> {}

impl<const N: usize> Drop for Drain<'_, N> {
    fn drop(&mut self) {
        let rest = self.end - self.next;
        if rest > 0 {
            // SAFETY: the untaken slots still hold owned mbufs.
            unsafe {
                sys::rte_pktmbuf_free_bulk(self.burst.pkts.as_mut_ptr().add(self.next), rest as u32)
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTER_GOOD: u64 = sys::RTE_MBUF_F_RX_OUTER_L4_CKSUM_GOOD as u64;
    const OUTER_BAD: u64 = sys::RTE_MBUF_F_RX_OUTER_L4_CKSUM_BAD as u64;
    const OUTER_INVALID: u64 = sys::RTE_MBUF_F_RX_OUTER_L4_CKSUM_INVALID as u64;
    const L4_GOOD: u64 = sys::RTE_MBUF_F_RX_L4_CKSUM_GOOD as u64;
    const L4_BAD: u64 = sys::RTE_MBUF_F_RX_L4_CKSUM_BAD as u64;
    const L4_NONE: u64 = sys::RTE_MBUF_F_RX_L4_CKSUM_NONE as u64;
    const UDP6: u32 = sys::RTE_PTYPE_L2_ETHER | sys::RTE_PTYPE_L3_IPV6 | sys::RTE_PTYPE_L4_UDP;
    const VXLAN6: u32 = UDP6 | sys::RTE_PTYPE_TUNNEL_VXLAN | sys::RTE_PTYPE_INNER_L4_TCP;

    /// A tunnel-aware NIC (outer flags, tunnel packet type): its outer
    /// verdict counts and its plain flags, the inner checksum's, do not.
    #[test]
    fn a_tunnel_aware_nic_is_read_from_the_outer_flags() {
        assert_eq!(udp_verdict(OUTER_GOOD | L4_BAD, VXLAN6), RxCsum::Good);
        assert_eq!(udp_verdict(OUTER_BAD | L4_GOOD, VXLAN6), RxCsum::Bad);
        assert_eq!(udp_verdict(L4_GOOD, VXLAN6), RxCsum::Unknown);
        assert_eq!(udp_verdict(L4_BAD, VXLAN6), RxCsum::Unknown);
        assert_eq!(
            udp_verdict(OUTER_INVALID | L4_GOOD, VXLAN6),
            RxCsum::Unknown
        );
    }

    /// A NIC that sees plain UDP reports the outer checksum as L4; without
    /// a packet type nothing says which header the flags are about.
    #[test]
    fn a_plain_nic_is_read_from_the_l4_flags_of_a_udp_packet_type() {
        assert_eq!(udp_verdict(L4_GOOD, UDP6), RxCsum::Good);
        assert_eq!(udp_verdict(L4_NONE, UDP6), RxCsum::Good);
        assert_eq!(udp_verdict(L4_BAD, UDP6), RxCsum::Bad);
        assert_eq!(udp_verdict(0, UDP6), RxCsum::Unknown);
        assert_eq!(udp_verdict(L4_GOOD, 0), RxCsum::Unknown);
        let tcp6 = sys::RTE_PTYPE_L2_ETHER | sys::RTE_PTYPE_L3_IPV6 | sys::RTE_PTYPE_L4_TCP;
        assert_eq!(udp_verdict(L4_GOOD, tcp6), RxCsum::Unknown);
        // A device with no checksum offload at all.
        assert_eq!(udp_verdict(0, 0), RxCsum::Unknown);
    }
}

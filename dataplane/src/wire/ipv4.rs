//! IPv4 header (RFC 791).
//!
//! ```text
//!  0                   1                   2                   3
//! |Version|  IHL  |Type of Service|          Total Length         |
//! |         Identification        |Flags|      Fragment Offset    |
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! |                       Source Address                          |
//! |                    Destination Address                        |
//! |                    Options (IHL > 5)                          |
//! ```

use std::net::Ipv4Addr;

use super::bytes::{be16, ipv4_at, put16};
use super::checksum::{checksum, csum_add};

pub const MIN_HEADER_LEN: usize = 20;
/// The DF flag in the flags/fragment-offset word.
pub const DF: u16 = 0x4000;
/// More-fragments flag and fragment offset.
const MF_OFFSET_MASK: u16 = 0x3fff;

pub(crate) mod field {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const IDENT: usize = 4;
    pub const FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTO: usize = 9;
    pub const CSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// Why a buffer is not a well-formed IPv4 packet, in the order checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Error {
    /// Shorter than a header, or than its total length says.
    Length,
    Version,
    /// IHL below 5 or beyond the buffer.
    Ihl,
}

/// A view of an IPv4 packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv4Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// The view, if `buf` holds a header whose version, IHL and total
    /// length are consistent with it (trailing bytes, e.g. Ethernet
    /// padding, are allowed: see [`Self::total_len`]).
    #[inline(always)]
    pub fn new_checked(buf: T) -> Result<Self, Ipv4Error> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Ipv4Error::Length);
        }
        if b[field::VER_IHL] >> 4 != 4 {
            return Err(Ipv4Error::Version);
        }
        let ihl = (b[field::VER_IHL] & 0x0f) as usize * 4;
        if ihl < MIN_HEADER_LEN || ihl > b.len() {
            return Err(Ipv4Error::Ihl);
        }
        let total = be16(b, field::TOTAL_LEN) as usize;
        if total < ihl || total > b.len() {
            return Err(Ipv4Error::Length);
        }
        Ok(Ipv4Packet { buf })
    }

    /// A view over a buffer of at least [`MIN_HEADER_LEN`] bytes whose
    /// fields are still to be written.
    #[inline(always)]
    pub fn new_unchecked(buf: T) -> Self {
        debug_assert!(buf.as_ref().len() >= MIN_HEADER_LEN);
        Ipv4Packet { buf }
    }

    #[inline(always)]
    pub fn header_len(&self) -> usize {
        (self.buf.as_ref()[field::VER_IHL] & 0x0f) as usize * 4
    }

    #[inline(always)]
    pub fn total_len(&self) -> usize {
        be16(self.buf.as_ref(), field::TOTAL_LEN) as usize
    }

    /// More fragments follow or this is not the first.
    #[inline(always)]
    pub fn is_fragment(&self) -> bool {
        be16(self.buf.as_ref(), field::FRAG) & MF_OFFSET_MASK != 0
    }

    #[inline(always)]
    pub fn dont_fragment(&self) -> bool {
        be16(self.buf.as_ref(), field::FRAG) & DF != 0
    }

    #[inline(always)]
    pub fn ttl(&self) -> u8 {
        self.buf.as_ref()[field::TTL]
    }

    #[inline(always)]
    pub fn protocol(&self) -> u8 {
        self.buf.as_ref()[field::PROTO]
    }

    #[inline(always)]
    pub fn src(&self) -> Ipv4Addr {
        ipv4_at(self.buf.as_ref(), field::SRC)
    }

    #[inline(always)]
    pub fn dst(&self) -> Ipv4Addr {
        ipv4_at(self.buf.as_ref(), field::DST)
    }

    /// Source and destination as one big-endian word (flow hashing).
    #[inline(always)]
    pub fn addr_word(&self) -> u64 {
        let b = self.buf.as_ref();
        u64::from_be_bytes([b[12], b[13], b[14], b[15], b[16], b[17], b[18], b[19]])
    }

    #[inline(always)]
    pub fn checksum_ok(&self) -> bool {
        checksum(&self.buf.as_ref()[..self.header_len()]) == 0
    }

    /// The bytes after the header, up to the total length.
    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Writes a 20-byte header without options; lengths and checksum 0.
    pub fn init(&mut self, ttl: u8, proto: u8, src: Ipv4Addr, dst: Ipv4Addr, df: bool) {
        let b = self.buf.as_mut();
        b[..MIN_HEADER_LEN].fill(0);
        b[field::VER_IHL] = 0x45;
        put16(b, field::FRAG, if df { DF } else { 0 });
        b[field::TTL] = ttl;
        b[field::PROTO] = proto;
        b[field::SRC..field::SRC + 4].copy_from_slice(&src.octets());
        b[field::DST..field::DST + 4].copy_from_slice(&dst.octets());
    }

    #[inline(always)]
    pub fn set_total_len(&mut self, n: u16) {
        put16(self.buf.as_mut(), field::TOTAL_LEN, n);
    }

    #[inline(always)]
    pub fn set_ident(&mut self, id: u16) {
        put16(self.buf.as_mut(), field::IDENT, id);
    }

    #[inline(always)]
    pub fn set_ttl(&mut self, ttl: u8) {
        self.buf.as_mut()[field::TTL] = ttl;
    }

    #[inline(always)]
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buf.as_mut(), field::CSUM, c);
    }

    /// Swaps source and destination (to answer the sender).
    pub fn swap_addrs(&mut self) {
        let (s, d) = (self.src(), self.dst());
        let b = self.buf.as_mut();
        b[field::SRC..field::SRC + 4].copy_from_slice(&d.octets());
        b[field::DST..field::DST + 4].copy_from_slice(&s.octets());
    }

    /// Computes and writes the header checksum.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let n = self.header_len();
        let c = checksum(&self.buf.as_ref()[..n]);
        self.set_checksum(c);
    }

    /// The ones'-complement sum of the header with total length,
    /// identification and checksum zero: per packet, only the length and
    /// identification are added and folded.
    pub fn partial_sum(&self) -> u32 {
        csum_add(0, &self.buf.as_ref()[..self.header_len()])
    }

    #[inline(always)]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), self.total_len());
        &mut self.buf.as_mut()[h..t]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::csum_fold;

    fn header() -> [u8; 28] {
        let mut b = [0u8; 28];
        let mut p = Ipv4Packet::new_unchecked(&mut b[..]);
        p.init(
            64,
            17,
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            true,
        );
        p.set_total_len(28);
        p.fill_checksum();
        b
    }

    #[test]
    fn fields_and_checksum() {
        let b = header();
        let p = Ipv4Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (p.header_len(), p.total_len(), p.ttl(), p.protocol()),
            (20, 28, 64, 17)
        );
        assert_eq!(
            (p.src(), p.dst()),
            (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2))
        );
        assert!(p.checksum_ok() && p.dont_fragment() && !p.is_fragment());
        assert_eq!(p.payload().len(), 8);
        assert_eq!(p.addr_word(), 0x0a00_0001_0a00_0002);
        // The partial sum plus the length gives the same checksum.
        let mut z = b;
        let mut q = Ipv4Packet::new_unchecked(&mut z[..]);
        q.set_total_len(0);
        q.set_checksum(0);
        assert_eq!(
            csum_fold(q.partial_sum() + 28),
            u16::from_be_bytes([b[10], b[11]])
        );
    }

    #[test]
    fn malformed_headers_say_why() {
        let b = header();
        assert_eq!(
            Ipv4Packet::new_checked(&b[..19]).unwrap_err(),
            Ipv4Error::Length
        );
        let mut v = b;
        v[0] = 0x65;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            Ipv4Error::Version
        );
        v[0] = 0x44;
        assert_eq!(Ipv4Packet::new_checked(&v[..]).unwrap_err(), Ipv4Error::Ihl);
        v[0] = 0x4f;
        assert_eq!(
            Ipv4Packet::new_checked(&v[..]).unwrap_err(),
            Ipv4Error::Ihl,
            "60 > 28"
        );
        assert_eq!(
            Ipv4Packet::new_checked(&b[..27]).unwrap_err(),
            Ipv4Error::Length
        );
        let mut t = [0u8; 40];
        t[..28].copy_from_slice(&b);
        assert!(
            Ipv4Packet::new_checked(&t[..]).is_ok(),
            "padding after the packet is allowed"
        );
    }
}

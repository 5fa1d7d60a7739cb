//! UDP header (RFC 768).
//!
//! ```text
//! |          Source Port          |       Destination Port        |
//! |            Length             |           Checksum            |
//! ```

use super::bytes::{be16, put16};

pub const HEADER_LEN: usize = 8;

pub(crate) mod field {
    pub const SPORT: usize = 0;
    pub const DPORT: usize = 2;
    pub const LEN: usize = 4;
    pub const CSUM: usize = 6;
}

/// A view of a UDP datagram.
#[derive(Debug, Clone, Copy)]
pub struct UdpPacket<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> UdpPacket<T> {
    /// The view, if `buf` is exactly the datagram its length field says.
    #[inline(always)]
    pub fn new_checked(buf: T) -> Option<Self> {
        let b = buf.as_ref();
        (b.len() >= HEADER_LEN && be16(b, field::LEN) as usize == b.len())
            .then_some(UdpPacket { buf })
    }

    /// A view over at least [`HEADER_LEN`] bytes still to be written.
    #[inline(always)]
    pub fn new_unchecked(buf: T) -> Self {
        debug_assert!(buf.as_ref().len() >= HEADER_LEN);
        UdpPacket { buf }
    }

    #[inline(always)]
    pub fn src_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::SPORT)
    }

    #[inline(always)]
    pub fn dst_port(&self) -> u16 {
        be16(self.buf.as_ref(), field::DPORT)
    }

    #[inline(always)]
    pub fn checksum(&self) -> u16 {
        be16(self.buf.as_ref(), field::CSUM)
    }

    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> UdpPacket<T> {
    #[inline(always)]
    pub fn set_src_port(&mut self, p: u16) {
        put16(self.buf.as_mut(), field::SPORT, p);
    }

    #[inline(always)]
    pub fn set_dst_port(&mut self, p: u16) {
        put16(self.buf.as_mut(), field::DPORT, p);
    }

    #[inline(always)]
    pub fn set_len(&mut self, n: u16) {
        put16(self.buf.as_mut(), field::LEN, n);
    }

    #[inline(always)]
    pub fn set_checksum(&mut self, c: u16) {
        put16(self.buf.as_mut(), field::CSUM, c);
    }
}

/// The ports of a TCP or UDP header as one big-endian word (flow hashing);
/// None if `l4` is shorter than 4 bytes.
#[inline(always)]
pub fn ports_word(l4: &[u8]) -> Option<u32> {
    l4.get(..4)
        .map(|p| u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn length_must_match() {
        let mut b = [0u8; 12];
        let mut u = UdpPacket::new_unchecked(&mut b[..]);
        u.set_src_port(50000);
        u.set_dst_port(4789);
        u.set_len(12);
        let u = UdpPacket::new_checked(&b[..]).unwrap();
        assert_eq!(
            (u.src_port(), u.dst_port(), u.checksum(), u.payload().len()),
            (50000, 4789, 0, 4)
        );
        assert!(UdpPacket::new_checked(&b[..11]).is_none());
        assert!(UdpPacket::new_checked(&b[..7]).is_none());
        assert_eq!(ports_word(&b), Some(0xc350_12b5));
        assert_eq!(ports_word(&b[..3]), None);
    }
}

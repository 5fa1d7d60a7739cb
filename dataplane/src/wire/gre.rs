//! GRE header with a key (RFC 2784, RFC 2890), as NVGRE uses it
//! (RFC 7637 §3.2).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |C|R|K|S|     Reserved0       | Ver |         Protocol Type         |
//! |               Virtual Subnet ID (VSID)        |    FlowID     |
//! ```
//!
//! NVGRE sends only K, version 0 and protocol 0x6558; the key holds the
//! VSID (24 bits) and an 8-bit FlowID. R is RFC 1701's routing bit, which
//! RFC 2784 made reserved.

use super::bytes::{be16, put16};

/// The header with a key (NVGRE's length).
pub const HEADER_LEN: usize = 8;
/// The header without optional fields.
pub const BASE_LEN: usize = 4;
/// IP protocol number of GRE.
pub const PROTO_GRE: u8 = 47;
/// Protocol Type of an Ethernet frame (Transparent Ethernet Bridging).
pub const PROTO_ETHERNET: u16 = 0x6558;

pub const FLAG_C: u8 = 0x80;
pub const FLAG_R: u8 = 0x40;
pub const FLAG_K: u8 = 0x20;
pub const FLAG_S: u8 = 0x10;

pub(crate) mod field {
    /// C, R, K, S and the first reserved bits.
    pub const FLAGS: usize = 0;
    /// The last reserved bits and the version (low 3 bits).
    pub const VER: usize = 1;
    pub const PROTOCOL: usize = 2;
    /// The key, where K alone is set (no checksum before it).
    pub const KEY: usize = 4;
}

/// A view of a GRE header (and the frame after it).
#[derive(Debug, Clone, Copy)]
pub struct GreHeader<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> GreHeader<T> {
    /// The view, if `buf` holds the header without optional fields.
    #[inline(always)]
    pub fn new_checked(buf: T) -> Option<Self> {
        (buf.as_ref().len() >= BASE_LEN).then_some(GreHeader { buf })
    }

    /// A view over at least [`HEADER_LEN`] bytes still to be written.
    #[inline(always)]
    pub fn new_unchecked(buf: T) -> Self {
        debug_assert!(buf.as_ref().len() >= HEADER_LEN);
        GreHeader { buf }
    }

    #[inline(always)]
    pub fn flags(&self) -> u8 {
        self.buf.as_ref()[field::FLAGS]
    }

    #[inline(always)]
    pub fn version(&self) -> u8 {
        self.buf.as_ref()[field::VER] & 0x07
    }

    #[inline(always)]
    pub fn protocol(&self) -> u16 {
        be16(self.buf.as_ref(), field::PROTOCOL)
    }

    /// The key, when K is the only optional field present and the buffer
    /// holds it (NVGRE's shape).
    #[inline(always)]
    pub fn key(&self) -> Option<u32> {
        let b = self.buf.as_ref();
        if b[field::FLAGS] & (FLAG_C | FLAG_R | FLAG_K | FLAG_S) != FLAG_K {
            return None;
        }
        let k = b.get(field::KEY..field::KEY + 4)?;
        Some(u32::from_be_bytes([k[0], k[1], k[2], k[3]]))
    }

    /// NVGRE's VSID (the key's high 24 bits).
    #[inline(always)]
    pub fn vsid(&self) -> Option<u32> {
        self.key().map(|k| k >> 8)
    }

    /// The encapsulated frame after an NVGRE header.
    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        self.buf.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GreHeader<T> {
    /// Writes an NVGRE header: K only, version 0, Ethernet, the key
    /// `vsid << 8 | flow_id`.
    #[inline(always)]
    pub fn init_nvgre(&mut self, vsid: u32, flow_id: u8) {
        let b = self.buf.as_mut();
        b[field::FLAGS] = FLAG_K;
        b[field::VER] = 0;
        put16(b, field::PROTOCOL, PROTO_ETHERNET);
        b[field::KEY..field::KEY + 4].copy_from_slice(&(vsid << 8 | flow_id as u32).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nvgre_header_as_sent() {
        let mut b = [0xffu8; 10];
        GreHeader::new_unchecked(&mut b[..]).init_nvgre(0x12_3456, 0x9a);
        assert_eq!(&b[..8], &[0x20, 0, 0x65, 0x58, 0x12, 0x34, 0x56, 0x9a]);
        let h = GreHeader::new_checked(&b[..]).unwrap();
        assert_eq!(
            (h.flags(), h.version(), h.protocol()),
            (FLAG_K, 0, PROTO_ETHERNET)
        );
        assert_eq!((h.key(), h.vsid()), (Some(0x1234_569a), Some(0x12_3456)));
        assert_eq!(h.payload().len(), 2);
        assert!(GreHeader::new_checked(&b[..3]).is_none());
    }

    #[test]
    fn a_key_only_where_k_is_the_only_optional_field() {
        let mut b = [0u8; 8];
        GreHeader::new_unchecked(&mut b[..]).init_nvgre(7, 0);
        for extra in [FLAG_C, FLAG_R, FLAG_S] {
            let mut x = b;
            x[0] |= extra;
            assert_eq!(
                GreHeader::new_checked(&x[..]).unwrap().key(),
                None,
                "{extra:#x}"
            );
        }
        let mut no_k = b;
        no_k[0] = 0;
        assert_eq!(GreHeader::new_checked(&no_k[..]).unwrap().key(), None);
        // The key cut short.
        assert_eq!(GreHeader::new_checked(&b[..7]).unwrap().key(), None);
        let mut v1 = b;
        v1[1] = 0x01;
        assert_eq!(GreHeader::new_checked(&v1[..]).unwrap().version(), 1);
    }
}

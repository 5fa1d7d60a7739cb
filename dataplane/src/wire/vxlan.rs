//! VXLAN header (RFC 7348 §5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! ```
//!
//! Sent with I set and every reserved bit zero; on receipt I must be set
//! and the reserved bits are ignored (or, strictly, refused).

pub const HEADER_LEN: usize = 8;
/// The I flag: the VNI is valid.
pub const FLAG_I: u8 = 0x08;

pub(crate) mod field {
    use std::ops::Range;
    pub const FLAGS: usize = 0;
    pub const RESERVED1: Range<usize> = 1..4;
    pub const VNI: Range<usize> = 4..7;
    pub const RESERVED2: usize = 7;
}

/// A view of a VXLAN header (and the inner frame after it).
#[derive(Debug, Clone, Copy)]
pub struct VxlanHeader<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> VxlanHeader<T> {
    #[inline(always)]
    pub fn new_checked(buf: T) -> Option<Self> {
        (buf.as_ref().len() >= HEADER_LEN).then_some(VxlanHeader { buf })
    }

    /// A view over at least [`HEADER_LEN`] bytes still to be written.
    #[inline(always)]
    pub fn new_unchecked(buf: T) -> Self {
        debug_assert!(buf.as_ref().len() >= HEADER_LEN);
        VxlanHeader { buf }
    }

    #[inline(always)]
    pub fn i_flag(&self) -> bool {
        self.buf.as_ref()[field::FLAGS] & FLAG_I != 0
    }

    /// Any reserved bit set (flags other than I, or reserved bytes).
    #[inline(always)]
    pub fn reserved_set(&self) -> bool {
        let b = self.buf.as_ref();
        b[field::FLAGS] & !FLAG_I != 0 || b[field::RESERVED1] != [0; 3] || b[field::RESERVED2] != 0
    }

    #[inline(always)]
    pub fn vni(&self) -> u32 {
        let v = &self.buf.as_ref()[field::VNI];
        u32::from_be_bytes([0, v[0], v[1], v[2]])
    }

    /// The encapsulated frame.
    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> VxlanHeader<T> {
    /// Writes a header as sent: I flag, `vni`, reserved zero.
    #[inline(always)]
    pub fn init(&mut self, vni: u32) {
        let b = self.buf.as_mut();
        b[..HEADER_LEN].fill(0);
        b[field::FLAGS] = FLAG_I;
        self.set_vni(vni);
    }

    #[inline(always)]
    pub fn set_vni(&mut self, vni: u32) {
        self.buf.as_mut()[field::VNI].copy_from_slice(&vni.to_be_bytes()[1..4]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_as_sent_and_reserved_bits() {
        let mut b = [0xffu8; 10];
        VxlanHeader { buf: &mut b[..] }.init(0x12_3456);
        assert_eq!(&b[..8], &[0x08, 0, 0, 0, 0x12, 0x34, 0x56, 0]);
        let h = VxlanHeader::new_checked(&b[..]).unwrap();
        assert!(h.i_flag() && !h.reserved_set());
        assert_eq!((h.vni(), h.payload().len()), (0x12_3456, 2));
        for (i, bit) in [(0, 0x80), (0, 0x01), (2, 1), (7, 1)] {
            let mut r = b;
            r[i] |= bit;
            assert!(
                VxlanHeader::new_checked(&r[..]).unwrap().reserved_set(),
                "byte {i}"
            );
        }
        let mut clear = b;
        clear[0] = 0;
        assert!(!VxlanHeader::new_checked(&clear[..]).unwrap().i_flag());
        assert!(VxlanHeader::new_checked(&b[..7]).is_none());
    }
}

//! Ethernet II header, and the 802.1Q tag that may follow the addresses.
//!
//! ```text
//!  0      6      12     14
//! | dst  | src  | type | payload ...            untagged
//! | dst  | src  |8100| TCI | type | payload ...  802.1Q (TCI: PCP DEI VID)
//! ```

use super::bytes::{be16, mac_at, put16};

pub const HEADER_LEN: usize = 14;
pub const VLAN_TAG_LEN: usize = 4;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_IPV6: u16 = 0x86dd;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;

pub(crate) mod field {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const TYPE: usize = 12;
    /// 802.1Q: the tag control information and the inner EtherType.
    pub const TCI: usize = 14;
    pub const INNER_TYPE: usize = 16;
}

/// A view of an Ethernet frame.
#[derive(Debug, Clone, Copy)]
pub struct EthernetFrame<T> {
    buf: T,
}

/// Destination and source MACs of a frame's first 12 bytes as 48-bit
/// big-endian words, from two 8-byte loads (VPP builds its l2fib keys the
/// same way). Written as array copies: byte-by-byte arrays that overlap
/// compiled to byte loads, shifts and ors instead.
#[inline(always)]
pub fn mac_words(h: &[u8; 12]) -> (u64, u64) {
    (word_at(h, 0) >> 16, word_at(h, 4) & 0xffff_ffff_ffff)
}

/// The 8 bytes of `h` at `at` as a big-endian word, in one load when the
/// bounds are known; 0 past the end.
#[inline(always)]
pub fn word_at(h: &[u8], at: usize) -> u64 {
    match h.get(at..).and_then(|t| t.first_chunk::<8>()) {
        Some(w) => u64::from_be_bytes(*w),
        None => 0,
    }
}

impl<T: AsRef<[u8]>> EthernetFrame<T> {
    /// The view, if `buf` holds at least the 14-byte header.
    #[inline(always)]
    pub fn new_checked(buf: T) -> Option<Self> {
        (buf.as_ref().len() >= HEADER_LEN).then_some(EthernetFrame { buf })
    }

    /// A view over at least [`HEADER_LEN`] bytes still to be written.
    #[inline(always)]
    pub fn new_unchecked(buf: T) -> Self {
        debug_assert!(buf.as_ref().len() >= HEADER_LEN);
        EthernetFrame { buf }
    }

    #[inline(always)]
    pub fn dst(&self) -> [u8; 6] {
        mac_at(self.buf.as_ref(), field::DST.start)
    }

    #[inline(always)]
    pub fn src(&self) -> [u8; 6] {
        mac_at(self.buf.as_ref(), field::SRC.start)
    }

    /// Destination and source as 48-bit big-endian words (flow hashing);
    /// [`mac_words`] for a frame's first 12 bytes.
    #[inline(always)]
    pub fn addr_words(&self) -> (u64, u64) {
        let b = self.buf.as_ref();
        let w = |a: usize| {
            u64::from_be_bytes([0, 0, b[a], b[a + 1], b[a + 2], b[a + 3], b[a + 4], b[a + 5]])
        };
        (w(field::DST.start), w(field::SRC.start))
    }

    #[inline(always)]
    pub fn ethertype(&self) -> u16 {
        be16(self.buf.as_ref(), field::TYPE)
    }

    /// The 802.1Q tag: (VID, inner EtherType), if the frame has one whole.
    #[inline(always)]
    pub fn vlan(&self) -> Option<(u16, u16)> {
        let b = self.buf.as_ref();
        (self.ethertype() == ETHERTYPE_VLAN && b.len() >= HEADER_LEN + VLAN_TAG_LEN)
            .then(|| (be16(b, field::TCI) & 0x0fff, be16(b, field::INNER_TYPE)))
    }

    /// Multicast or all-zero: not a valid source address.
    #[inline(always)]
    pub fn src_is_invalid(&self) -> bool {
        let b = self.buf.as_ref();
        b[field::SRC.start] & 1 == 1 || b[field::SRC] == [0; 6]
    }

    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..]
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.buf.as_ref()
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> EthernetFrame<T> {
    #[inline(always)]
    pub fn set_dst(&mut self, m: [u8; 6]) {
        self.buf.as_mut()[field::DST].copy_from_slice(&m);
    }

    #[inline(always)]
    pub fn set_src(&mut self, m: [u8; 6]) {
        self.buf.as_mut()[field::SRC].copy_from_slice(&m);
    }

    #[inline(always)]
    pub fn set_ethertype(&mut self, t: u16) {
        put16(self.buf.as_mut(), field::TYPE, t);
    }

    /// Sends the frame back where it came from, from `mac`.
    #[inline(always)]
    pub fn reverse(&mut self, mac: [u8; 6]) {
        let src = self.src();
        self.set_dst(src);
        self.set_src(mac);
    }

    #[inline(always)]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        &mut self.buf.as_mut()[HEADER_LEN..]
    }
}

/// Moves the addresses of a tagged frame 4 bytes on, over the tag; the
/// caller then drops the first 4 bytes. `b` must hold a whole tag.
#[inline(always)]
pub fn close_tag(b: &mut [u8]) {
    b.copy_within(0..field::TYPE, VLAN_TAG_LEN);
}

/// Writes a tag with `vid` into a frame whose first 4 bytes were just
/// prepended: the addresses move to the front, the tag follows them.
#[inline(always)]
pub fn open_tag(b: &mut [u8], vid: u16) {
    b.copy_within(VLAN_TAG_LEN..VLAN_TAG_LEN + field::TYPE, 0);
    put16(b, field::TYPE, ETHERTYPE_VLAN);
    put16(b, field::TCI, vid & 0x0fff);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_and_tags() {
        let mut f = [0u8; 20];
        let mut e = EthernetFrame::new_checked(&mut f[..]).unwrap();
        e.set_dst([1, 2, 3, 4, 5, 6]);
        e.set_src([2, 0, 0, 0, 0, 9]);
        e.set_ethertype(ETHERTYPE_IPV4);
        assert_eq!(
            (e.dst()[0], e.src()[5], e.ethertype()),
            (1, 9, ETHERTYPE_IPV4)
        );
        assert!(!e.src_is_invalid());
        assert_eq!(e.vlan(), None);
        // Tag it with VID 10 in the 4 bytes "prepended" at the front.
        let mut t = [0u8; 24];
        t[4..].copy_from_slice(&f);
        open_tag(&mut t, 0x100a);
        let tagged = EthernetFrame::new_checked(&t[..]).unwrap();
        assert_eq!(tagged.vlan(), Some((10, ETHERTYPE_IPV4)));
        assert_eq!(tagged.src(), [2, 0, 0, 0, 0, 9]);
        close_tag(&mut t);
        assert_eq!(&t[4..], &f[..], "untagged again");
        assert!(EthernetFrame::new_checked(&[0u8; 13][..]).is_none());
        let mut m = [0u8; 14];
        m[6] = 1;
        assert!(EthernetFrame::new_checked(&m[..]).unwrap().src_is_invalid());
    }
}

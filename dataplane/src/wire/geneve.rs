//! Geneve header and its option TLVs (RFC 8926 §3.4, §3.5).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//! |        Virtual Network Identifier (VNI)       |    Reserved   |
//! |                    Variable-Length Options                    |
//! ```
//!
//! Opt Len counts the options in 4-byte words. Each option:
//!
//! ```text
//! |          Option Class         |      Type     |R|R|R| Length  |
//! |                 Variable-Length Option Data                   |
//! ```
//!
//! where Length counts the data in 4-byte words and the high bit of Type
//! marks a critical option. Sent here with version 0, no options, no
//! flags, protocol 0x6558 (Ethernet).

use super::bytes::{be16, put16};

pub const HEADER_LEN: usize = 8;
/// Protocol Type of an Ethernet frame (Transparent Ethernet Bridging).
pub const PROTO_ETHERNET: u16 = 0x6558;
/// The O bit: a control (OAM) message.
pub const FLAG_O: u8 = 0x80;
/// The C bit: a critical option is present.
pub const FLAG_C: u8 = 0x40;
/// The high bit of an option's Type: critical.
pub const OPTION_CRITICAL: u8 = 0x80;
/// The most option bytes a header can announce (Opt Len is 6 bits).
pub const MAX_OPTIONS_LEN: usize = 63 * 4;

pub(crate) mod field {
    use std::ops::Range;
    /// Version (2 bits) and Opt Len (6 bits).
    pub const VER_OPTLEN: usize = 0;
    /// O, C and reserved bits.
    pub const FLAGS: usize = 1;
    pub const PROTOCOL: usize = 2;
    /// The byte after it is reserved, ignored on receipt.
    pub const VNI: Range<usize> = 4..7;
}

/// A view of a Geneve header, its options and the frame after them.
#[derive(Debug, Clone, Copy)]
pub struct GeneveHeader<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> GeneveHeader<T> {
    /// The view, if `buf` holds the fixed header and all the options it
    /// announces.
    #[inline(always)]
    pub fn new_checked(buf: T) -> Option<Self> {
        let b = buf.as_ref();
        (b.len() >= HEADER_LEN && b.len() >= HEADER_LEN + options_len(b[field::VER_OPTLEN]))
            .then_some(GeneveHeader { buf })
    }

    /// A view over at least [`HEADER_LEN`] bytes still to be written.
    #[inline(always)]
    pub fn new_unchecked(buf: T) -> Self {
        debug_assert!(buf.as_ref().len() >= HEADER_LEN);
        GeneveHeader { buf }
    }

    #[inline(always)]
    pub fn version(&self) -> u8 {
        self.buf.as_ref()[field::VER_OPTLEN] >> 6
    }

    /// The options' length in bytes.
    #[inline(always)]
    pub fn options_len(&self) -> usize {
        options_len(self.buf.as_ref()[field::VER_OPTLEN])
    }

    /// The O bit: a control message, not tenant data.
    #[inline(always)]
    pub fn oam(&self) -> bool {
        self.buf.as_ref()[field::FLAGS] & FLAG_O != 0
    }

    /// The C bit: at least one critical option is present.
    #[inline(always)]
    pub fn critical(&self) -> bool {
        self.buf.as_ref()[field::FLAGS] & FLAG_C != 0
    }

    #[inline(always)]
    pub fn protocol(&self) -> u16 {
        be16(self.buf.as_ref(), field::PROTOCOL)
    }

    #[inline(always)]
    pub fn vni(&self) -> u32 {
        let v = &self.buf.as_ref()[field::VNI];
        u32::from_be_bytes([0, v[0], v[1], v[2]])
    }

    /// The header's length, options included.
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// The options, one by one.
    pub fn options(&self) -> Options<'_> {
        Options {
            rest: &self.buf.as_ref()[HEADER_LEN..self.header_len()],
        }
    }

    /// The encapsulated frame, after the options.
    #[inline(always)]
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GeneveHeader<T> {
    /// Writes a header as sent: version 0, no options, no flags,
    /// Ethernet, `vni`.
    #[inline(always)]
    pub fn init(&mut self, vni: u32) {
        let b = self.buf.as_mut();
        b[..HEADER_LEN].fill(0);
        put16(b, field::PROTOCOL, PROTO_ETHERNET);
        self.set_vni(vni);
    }

    #[inline(always)]
    pub fn set_vni(&mut self, vni: u32) {
        self.buf.as_mut()[field::VNI].copy_from_slice(&vni.to_be_bytes()[1..4]);
    }
}

#[inline(always)]
fn options_len(ver_optlen: u8) -> usize {
    (ver_optlen & 0x3f) as usize * 4
}

/// One option TLV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneveOption<'a> {
    pub class: u16,
    /// Type, the critical bit included.
    pub kind: u8,
    pub data: &'a [u8],
}

impl GeneveOption<'_> {
    pub fn critical(&self) -> bool {
        self.kind & OPTION_CRITICAL != 0
    }
}

/// The options of a header: each option, or one `Err(())` where an
/// option's length runs past the options' end (then nothing more).
pub struct Options<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<GeneveOption<'a>, ()>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.rest;
        let Some(h) = r.first_chunk::<4>() else {
            self.rest = &[];
            return Some(Err(()));
        };
        let end = 4 + (h[3] & 0x1f) as usize * 4;
        let Some(data) = r.get(4..end) else {
            self.rest = &[];
            return Some(Err(()));
        };
        self.rest = &r[end..];
        Some(Ok(GeneveOption {
            class: be16(h, 0),
            kind: h[2],
            data,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_as_sent() {
        let mut b = [0xffu8; 10];
        GeneveHeader::new_unchecked(&mut b[..]).init(0x12_3456);
        assert_eq!(&b[..8], &[0, 0, 0x65, 0x58, 0x12, 0x34, 0x56, 0]);
        let h = GeneveHeader::new_checked(&b[..]).unwrap();
        assert_eq!(
            (h.version(), h.options_len(), h.oam(), h.critical()),
            (0, 0, false, false)
        );
        assert_eq!(
            (h.protocol(), h.vni(), h.payload().len()),
            (PROTO_ETHERNET, 0x12_3456, 2)
        );
        assert_eq!(h.options().count(), 0);
        assert!(GeneveHeader::new_checked(&b[..7]).is_none());
    }

    #[test]
    fn flags_and_version_are_read_where_the_rfc_puts_them() {
        let mut b = [0u8; 8];
        b[0] = 0xc0;
        b[1] = FLAG_O | FLAG_C;
        let h = GeneveHeader::new_checked(&b[..]).unwrap();
        assert_eq!((h.version(), h.oam(), h.critical()), (3, true, true));
    }

    #[test]
    fn options_are_skipped_by_their_length_and_never_read_past() {
        // Opt Len 3 words: one option of 4 data bytes (critical), then one
        // with none; two payload bytes after them.
        let mut b = vec![3, 0, 0x65, 0x58, 0, 0, 1, 0];
        b.extend_from_slice(&[0x01, 0x02, 0x81, 1, 9, 9, 9, 9]);
        b.extend_from_slice(&[0x01, 0x03, 0x05, 0]);
        b.extend_from_slice(&[0xaa, 0xbb]);
        let h = GeneveHeader::new_checked(&b[..]).unwrap();
        assert_eq!(h.header_len(), 20);
        assert_eq!(h.payload(), &[0xaa, 0xbb]);
        let opts: Vec<_> = h.options().collect();
        assert_eq!(
            opts,
            vec![
                Ok(GeneveOption {
                    class: 0x0102,
                    kind: 0x81,
                    data: &[9, 9, 9, 9]
                }),
                Ok(GeneveOption {
                    class: 0x0103,
                    kind: 0x05,
                    data: &[]
                }),
            ]
        );
        assert!(opts[0].unwrap().critical() && !opts[1].unwrap().critical());
        // Announced options longer than the packet: no view.
        assert!(GeneveHeader::new_checked(&b[..19]).is_none());
        // An option whose length runs past Opt Len: an error, then nothing.
        let mut bad = b.clone();
        bad[11] = 3;
        let h = GeneveHeader::new_checked(&bad[..]).unwrap();
        assert_eq!(h.options().collect::<Vec<_>>(), vec![Err(())]);
        // Opt Len of one word holding an option that says it has data.
        let mut cut = b[..8].to_vec();
        cut[0] = 1;
        cut.extend_from_slice(&[0, 0, 0, 1, 0xaa, 0xbb]);
        let h = GeneveHeader::new_checked(&cut[..]).unwrap();
        assert_eq!(h.options().collect::<Vec<_>>(), vec![Err(())]);
        assert_eq!(h.payload(), &[0xaa, 0xbb]);
    }

    proptest::proptest! {
        /// Any bytes: a view either fails or holds its options and payload
        /// inside the buffer, and the options iterator ends.
        #[test]
        fn any_bytes_give_a_view_inside_the_buffer_or_none(
            b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300),
        ) {
            if let Some(h) = GeneveHeader::new_checked(&b[..]) {
                proptest::prop_assert!(h.header_len() <= b.len());
                proptest::prop_assert_eq!(h.payload().len(), b.len() - h.header_len());
                proptest::prop_assert!(h.options().count() <= MAX_OPTIONS_LEN / 4);
            }
        }
    }
}

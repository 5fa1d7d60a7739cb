//! Geneve (RFC 8926) as a tunnel: its UDP and Geneve headers in the
//! template (version 0, no options, no flags, protocol Ethernet), and
//! the checks of the header on receipt: the fast one for the common case
//! (no options), and the step-by-step one that skips options by their
//! length and names each drop. This endpoint processes no options, so a
//! packet with the C bit (a critical option) is dropped (§3.5), as are
//! control messages (the O bit). The per-packet writers are
//! [`super::udp`]'s, shared with VXLAN.

use crate::datapath::drops::DropReason;
use crate::wire::geneve::{self, GeneveHeader, FLAG_C, FLAG_O, PROTO_ETHERNET};
use crate::wire::GENEVE_LEN;

// The shared writers put the VNI at bytes 4..7 of the tunnel header.
const _: () =
    assert!(geneve::field::VNI.start == super::udp::VNI_AT && GENEVE_LEN == super::udp::HEADER_LEN);

/// Writes the UDP header (destination `port`) and the Geneve header at
/// the start of `l4`; returns their length and the words the IPv6 UDP
/// checksum adds that never change (destination port, protocol).
pub(super) fn init(l4: &mut [u8], port: u16) -> (usize, u32) {
    let mut h = [0u8; GENEVE_LEN];
    GeneveHeader::new_unchecked(&mut h[..]).init(0);
    super::udp::init(l4, port, h)
}

/// The Geneve header `h` as the fast path takes it: version 0, no
/// options, neither O nor C, Ethernet; its VNI. None for anything else
/// (the step-by-step [`parse`] then skips the options or names the drop).
#[inline(always)]
pub fn fast_header(h: &[u8; GENEVE_LEN]) -> Option<u32> {
    use geneve::field::{FLAGS, PROTOCOL, VER_OPTLEN, VNI};
    if h[VER_OPTLEN] != 0
        || h[FLAGS] & (FLAG_O | FLAG_C) != 0
        || u16::from_be_bytes([h[PROTOCOL], h[PROTOCOL + 1]]) != PROTO_ETHERNET
    {
        return None;
    }
    let v = VNI.start;
    Some(u32::from_be_bytes([0, h[v], h[v + 1], h[v + 2]]))
}

/// The Geneve header at the start of UDP payload `v`, every check a named
/// drop: (VNI, the inner frame after the options).
#[inline(always)]
pub fn parse(v: &[u8]) -> Result<(u32, &[u8]), DropReason> {
    let g = GeneveHeader::new_checked(v).ok_or(DropReason::GeneveTruncated)?;
    if g.version() != 0 {
        return Err(DropReason::GeneveBadVersion);
    }
    if g.critical() {
        return Err(DropReason::GeneveCriticalOption);
    }
    if g.oam() {
        return Err(DropReason::GeneveOam);
    }
    if g.protocol() != PROTO_ETHERNET {
        return Err(DropReason::GeneveBadProtocol);
    }
    Ok((g.vni(), &v[g.header_len()..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::UDP_LEN;

    #[test]
    fn the_template_header_is_version_0_ethernet_without_options() {
        let mut l4 = [0xffu8; UDP_LEN + GENEVE_LEN];
        assert_eq!(init(&mut l4, 6081), (16, 6081 + 0x6558));
        assert_eq!(l4[2..4], 6081u16.to_be_bytes());
        assert_eq!(l4[UDP_LEN..], [0, 0, 0x65, 0x58, 0, 0, 0, 0]);
    }

    /// Each refusal is its own drop; the fast check takes exactly the
    /// headers without options that parse takes.
    #[test]
    fn each_check_names_its_drop_and_the_fast_check_agrees() {
        let ok = [0u8, 0, 0x65, 0x58, 0x12, 0x34, 0x56, 0, 0xee];
        assert_eq!(parse(&ok), Ok((0x12_3456, &ok[8..])));
        assert_eq!(fast_header(ok.first_chunk().unwrap()), Some(0x12_3456));
        let cases: [(usize, u8, DropReason); 5] = [
            (0, 0x40, DropReason::GeneveBadVersion),
            (1, FLAG_C, DropReason::GeneveCriticalOption),
            (1, FLAG_O, DropReason::GeneveOam),
            (2, 0x86, DropReason::GeneveBadProtocol),
            (3, 0xdd, DropReason::GeneveBadProtocol),
        ];
        for (at, v, drop) in cases {
            let mut h = ok;
            h[at] = v;
            assert_eq!(parse(&h), Err(drop), "byte {at} = {v:#x}");
            assert_eq!(fast_header(h.first_chunk().unwrap()), None, "byte {at}");
        }
        // Reserved bits are ignored on receipt.
        let mut r = ok;
        r[1] = 0x3f;
        r[7] = 0xff;
        assert_eq!(parse(&r).map(|x| x.0), Ok(0x12_3456));
        assert_eq!(parse(&ok[..7]), Err(DropReason::GeneveTruncated));
    }

    #[test]
    fn options_are_skipped_not_read() {
        // One option of one word (not critical), then the frame.
        let mut h = vec![2u8, 0, 0x65, 0x58, 0, 0, 7, 0];
        h.extend_from_slice(&[0x01, 0x02, 0x03, 1, 9, 9, 9, 9, 0xaa]);
        assert_eq!(parse(&h), Ok((7, &[0xaa][..])));
        assert_eq!(fast_header(h.first_chunk().unwrap()), None);
        // Options announced past the packet.
        assert_eq!(parse(&h[..15]), Err(DropReason::GeneveTruncated));
    }
}

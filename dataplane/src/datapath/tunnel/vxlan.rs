//! VXLAN (RFC 7348) as a tunnel: its UDP and VXLAN headers in the
//! template, and the checks of the VXLAN header on receipt (the fast one
//! at fixed offsets, and the step-by-step one that names each drop). The
//! per-packet writers are [`super::udp`]'s, shared with Geneve. Offsets
//! come from the `wire` views' field constants.

use crate::datapath::drops::DropReason;
use crate::wire::{vxlan, VxlanHeader, VXLAN_LEN};

pub use super::udp::{OUTER4_LEN, OUTER6_LEN};

// The shared writers put the VNI at bytes 4..7 of the tunnel header.
const _: () =
    assert!(vxlan::field::VNI.start == super::udp::VNI_AT && VXLAN_LEN == super::udp::HEADER_LEN);

/// Writes the UDP header (destination `port`) and the VXLAN header (I
/// set, VNI per packet) at the start of `l4`; returns their length and
/// the header words that never change, as the IPv6 UDP checksum adds
/// them (destination port, flags).
pub(super) fn init(l4: &mut [u8], port: u16) -> (usize, u32) {
    let mut h = [0u8; VXLAN_LEN];
    VxlanHeader::new_unchecked(&mut h[..]).init(0);
    super::udp::init(l4, port, h)
}

/// The VXLAN header `h` as the fast path reads it: (VNI, reserved bits
/// set), or None when the I flag is clear or, with `strict`, a reserved
/// bit is set (the step-by-step [`parse`] then names the drop).
#[inline(always)]
pub fn fast_header(h: &[u8; VXLAN_LEN], strict: bool) -> Option<(u32, bool)> {
    use vxlan::field::{FLAGS, RESERVED1, RESERVED2, VNI};
    if h[FLAGS] & vxlan::FLAG_I == 0 {
        return None;
    }
    let reserved = h[FLAGS] != vxlan::FLAG_I || h[RESERVED1] != [0; 3] || h[RESERVED2] != 0;
    if reserved && strict {
        return None;
    }
    let v = VNI.start;
    Some((u32::from_be_bytes([0, h[v], h[v + 1], h[v + 2]]), reserved))
}

/// The VXLAN header at the start of UDP payload `v`, every check a named
/// drop: (VNI, reserved bits set, the inner frame).
#[inline(always)]
pub fn parse(v: &[u8], strict: bool) -> Result<(u32, bool, &[u8]), DropReason> {
    let vx = VxlanHeader::new_checked(v).ok_or(DropReason::VxlanTruncated)?;
    if !vx.i_flag() {
        return Err(DropReason::VxlanFlagI);
    }
    let reserved = vx.reserved_set();
    if reserved && strict {
        return Err(DropReason::VxlanReserved);
    }
    Ok((vx.vni(), reserved, &v[VXLAN_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::UDP_LEN;

    /// The fast check and the steps agree on every header.
    #[test]
    fn fast_header_agrees_with_parse() {
        for flags in [0u8, 0x08, 0x0c, 0x88] {
            for r in [0u8, 1] {
                for strict in [false, true] {
                    let h = [flags, 0, r, 0, 0x12, 0x34, 0x56, r];
                    let fast = fast_header(&h, strict);
                    let steps = parse(&h, strict).ok().map(|(v, res, _)| (v, res));
                    assert_eq!(fast, steps, "flags {flags:#x} reserved {r} strict {strict}");
                }
            }
        }
        assert_eq!(
            fast_header(&[8, 0, 0, 0, 0, 0, 100, 0], true),
            Some((100, false))
        );
    }

    /// The IPv6 checksum's constant words are the destination port and
    /// the flags word.
    #[test]
    fn init_returns_the_constant_words() {
        let mut l4 = [0u8; UDP_LEN + VXLAN_LEN];
        assert_eq!(init(&mut l4, 4789), (16, 4789 + 0x0800));
        assert_eq!(l4[2..4], 4789u16.to_be_bytes());
        assert_eq!(l4[8], vxlan::FLAG_I);
    }
}

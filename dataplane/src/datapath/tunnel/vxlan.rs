//! VXLAN (RFC 7348) as a tunnel: its UDP and VXLAN headers in the
//! template, the writers that patch them per packet, and the checks of
//! the VXLAN header on receipt (the fast one at fixed offsets, and the
//! step-by-step one that names each drop). Offsets come from the `wire`
//! views' field constants.

use crate::datapath::drops::DropReason;
use crate::wire::{
    csum_fold, ipv4, udp, vxlan, Ipv6Packet, UdpPacket, VxlanHeader, ETH_LEN, IPV4_LEN, IPV6_LEN,
    UDP_LEN, VXLAN_LEN,
};

use super::outer::{flow_label, Outer, Template};

/// The outer IPv4 header in an IPv4 template.
const IP4: usize = ETH_LEN;
/// The UDP header after IPv4 without options.
pub(crate) const UDP4: usize = IP4 + IPV4_LEN;
/// The VXLAN header after IPv4 without options and UDP.
pub(crate) const VX4: usize = UDP4 + UDP_LEN;
/// Outer Ethernet + IPv4 + UDP + VXLAN, without options.
pub const OUTER4_LEN: usize = VX4 + VXLAN_LEN;
/// Outer Ethernet + IPv6 + UDP + VXLAN.
pub const OUTER6_LEN: usize = ETH_LEN + IPV6_LEN + UDP_LEN + VXLAN_LEN;
const _: () = assert!(OUTER6_LEN <= super::outer::MAX_OUTER_LEN);

/// Writes the UDP header (destination `port`) and the VXLAN header (I
/// set, VNI per packet) at the start of `l4`; returns their length and
/// the header words that never change, as the IPv6 UDP checksum adds
/// them (destination port, flags).
pub(super) fn init(l4: &mut [u8], port: u16) -> (usize, u32) {
    let (u, vx) = l4.split_at_mut(UDP_LEN);
    UdpPacket::new_unchecked(u).set_dst_port(port);
    let mut h = VxlanHeader::new_unchecked(&mut *vx);
    h.init(0);
    let flags = u16::from_be_bytes([vx[0], vx[1]]);
    (UDP_LEN + VXLAN_LEN, (port as u32) << 16 | flags as u32)
}

/// Writes the outer IPv4 header for an inner frame of `inner_len` bytes
/// into `h`: the template, then lengths, identification, checksum (from
/// the template's precomputed sum), source port and VNI. Fixed offsets
/// into a fixed-size header, fields that sit together stored together:
/// no bounds checks and six stores after the copy (this runs once per
/// encapsulated packet).
#[inline(always)]
pub fn write4(h: &mut [u8; OUTER4_LEN], t: &Template, inner_len: usize, o: Outer) {
    const LEN_ID: usize = IP4 + ipv4::field::TOTAL_LEN;
    const CSUM: usize = IP4 + ipv4::field::CSUM;
    const SPORT: usize = UDP4 + udp::field::SPORT;
    const ULEN: usize = UDP4 + udp::field::LEN;
    const VNI: usize = VX4 + vxlan::field::VNI.start;
    // Total length and identification are adjacent.
    const _: () = assert!(ipv4::field::IDENT == ipv4::field::TOTAL_LEN + 2);
    let ip_len = (inner_len + OUTER4_LEN - ETH_LEN) as u16;
    let csum = csum_fold(t.ip_sum + ip_len as u32 + o.ip_id as u32);
    if let Some(b) = t.bytes.first_chunk::<OUTER4_LEN>() {
        *h = *b;
    }
    let len_id = (ip_len as u32) << 16 | o.ip_id as u32;
    h[LEN_ID..LEN_ID + 4].copy_from_slice(&len_id.to_be_bytes());
    h[CSUM..CSUM + 2].copy_from_slice(&csum.to_be_bytes());
    h[SPORT..SPORT + 2].copy_from_slice(&o.sport.to_be_bytes());
    h[ULEN..ULEN + 2].copy_from_slice(&(ip_len - IPV4_LEN as u16).to_be_bytes());
    // VNI (24 bits) and the reserved byte after it (zero).
    h[VNI..VNI + 4].copy_from_slice(&(o.vni << 8).to_be_bytes());
}

/// [`write4`] over IPv6 (`h` is [`OUTER6_LEN`] bytes): payload and UDP
/// lengths, flow label, source port, VNI, and the UDP checksum
/// (mandatory over IPv6, RFC 8200 §8.1) from the template's constant sum,
/// the per-packet words and the inner frame's sum `isum`; zero if the
/// template says so (RFC 6935).
#[inline(always)]
pub fn write6(h: &mut [u8], t: &Template, inner_len: usize, o: Outer, isum: u32) {
    let udp_len = inner_len + UDP_LEN + VXLAN_LEN;
    h.copy_from_slice(&t.bytes[..OUTER6_LEN]);
    let (_, rest) = h.split_at_mut(ETH_LEN);
    let (l3, rest) = rest.split_at_mut(IPV6_LEN);
    let (l4, vx) = rest.split_at_mut(UDP_LEN);
    let mut ip = Ipv6Packet::new_unchecked(l3);
    ip.set_payload_len(udp_len as u16);
    ip.set_flow_label(flow_label(o.hash));
    VxlanHeader::new_unchecked(vx).set_vni(o.vni);
    let mut udp = UdpPacket::new_unchecked(l4);
    udp.set_src_port(o.sport);
    udp.set_len(udp_len as u16);
    if !t.zero_csum {
        // Length twice (pseudo-header and UDP header), the source port,
        // the VNI's two words, the inner frame.
        let s = t.ip_sum
            + 2 * udp_len as u32
            + o.sport as u32
            + (o.vni >> 8)
            + ((o.vni & 0xff) << 8)
            + isum;
        // A computed 0 is sent as all ones (RFC 768).
        let c = csum_fold(s);
        udp.set_checksum(if c == 0 { 0xffff } else { c });
    }
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
        assert_eq!(init(&mut l4, 4789), (16, 4789 << 16 | 0x0800));
        assert_eq!(l4[2..4], 4789u16.to_be_bytes());
        assert_eq!(l4[8], vxlan::FLAG_I);
    }
}

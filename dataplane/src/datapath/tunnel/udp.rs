//! The UDP tunnels whose header is 8 bytes with the VNI in bytes 4..7
//! and a zero byte after it: VXLAN, and Geneve without options. Their
//! outer headers differ only in the template's constant bytes, so one
//! pair of writers patches both per packet.

use crate::wire::{csum_fold, ipv6, udp, UdpPacket, ETH_LEN, IPV4_LEN, IPV6_LEN, UDP_LEN};

use super::outer::{flow_label, Outer, Template};

/// The tunnel header's length.
pub const HEADER_LEN: usize = 8;
/// Where the VNI starts in the tunnel header.
pub const VNI_AT: usize = 4;
/// The outer IPv4 header in an IPv4 template.
const IP4: usize = ETH_LEN;
/// The UDP header after IPv4 without options.
pub(crate) const UDP4: usize = IP4 + IPV4_LEN;
/// The tunnel header after IPv4 without options and UDP.
pub(crate) const TUN4: usize = UDP4 + UDP_LEN;
/// Outer Ethernet + IPv4 + UDP + tunnel header, without options.
pub const OUTER4_LEN: usize = TUN4 + HEADER_LEN;
/// Outer Ethernet + IPv6 + UDP + tunnel header.
pub const OUTER6_LEN: usize = ETH_LEN + IPV6_LEN + UDP_LEN + HEADER_LEN;
const _: () = assert!(OUTER6_LEN <= super::outer::MAX_OUTER_LEN);

/// Writes UDP (destination `port`) and the tunnel's constant `header`
/// (VNI zero) at the start of `l4`; returns their length and the words
/// that never change as the IPv6 UDP checksum adds them (the destination
/// port and the header's first two words).
pub(super) fn init(l4: &mut [u8], port: u16, header: [u8; HEADER_LEN]) -> (usize, u32) {
    let (u, h) = l4.split_at_mut(UDP_LEN);
    UdpPacket::new_unchecked(u).set_dst_port(port);
    h[..HEADER_LEN].copy_from_slice(&header);
    let w0 = u16::from_be_bytes([header[0], header[1]]) as u32;
    let w1 = u16::from_be_bytes([header[2], header[3]]) as u32;
    (UDP_LEN + HEADER_LEN, port as u32 + w0 + w1)
}

/// Writes the outer IPv4 header for an inner frame of `inner_len` bytes
/// into `h`: the template with IP length, identification and checksum
/// ([`Template::write_ip4`]), then the UDP source port and length and the
/// VNI, fields that sit together stored together.
#[inline(always)]
pub fn write4(h: &mut [u8; OUTER4_LEN], t: &Template, inner_len: usize, o: Outer) {
    const SPORT: usize = UDP4 + udp::field::SPORT;
    const ULEN: usize = UDP4 + udp::field::LEN;
    const VNI: usize = TUN4 + VNI_AT;
    let ip_len = t.write_ip4(h, inner_len, o.ip_id);
    h[SPORT..SPORT + 2].copy_from_slice(&o.sport.to_be_bytes());
    h[ULEN..ULEN + 2].copy_from_slice(&(ip_len - IPV4_LEN as u16).to_be_bytes());
    // VNI (24 bits) and the reserved byte after it (zero).
    h[VNI..VNI + 4].copy_from_slice(&(o.vni << 8).to_be_bytes());
}

/// [`write4`] over IPv6: payload and UDP lengths, flow label, source
/// port, VNI, and the UDP checksum (mandatory over IPv6, RFC 8200 §8.1)
/// from the template's constant sum, the per-packet words and the inner
/// frame's sum `isum`; zero if the template says so (RFC 6935); the
/// pseudo-header's sum if the NIC computes it. Fixed offsets into a
/// fixed-size header, as [`write4`].
#[inline(always)]
pub fn write6(h: &mut [u8; OUTER6_LEN], t: &Template, inner_len: usize, o: Outer, isum: u32) {
    const IP6: usize = ETH_LEN;
    const VER_FL: usize = IP6 + ipv6::field::VER_TC_FL;
    const PLEN: usize = IP6 + ipv6::field::PAYLOAD_LEN;
    const UDP6: usize = IP6 + IPV6_LEN;
    const SPORT: usize = UDP6 + udp::field::SPORT;
    const ULEN: usize = UDP6 + udp::field::LEN;
    const CSUM: usize = UDP6 + udp::field::CSUM;
    const VNI: usize = UDP6 + UDP_LEN + VNI_AT;
    let udp_len = (inner_len + UDP_LEN + HEADER_LEN) as u16;
    if let Some(b) = t.bytes.first_chunk::<OUTER6_LEN>() {
        *h = *b;
    }
    // Version and traffic class from the template, the flow label (20
    // bits) from the flow.
    let w0 = u32::from_be_bytes([h[VER_FL], h[VER_FL + 1], h[VER_FL + 2], h[VER_FL + 3]]);
    let w0 = (w0 & 0xfff0_0000) | (flow_label(o.hash) & 0x000f_ffff);
    h[VER_FL..VER_FL + 4].copy_from_slice(&w0.to_be_bytes());
    h[PLEN..PLEN + 2].copy_from_slice(&udp_len.to_be_bytes());
    h[SPORT..SPORT + 2].copy_from_slice(&o.sport.to_be_bytes());
    h[ULEN..ULEN + 2].copy_from_slice(&udp_len.to_be_bytes());
    h[VNI..VNI + 4].copy_from_slice(&(o.vni << 8).to_be_bytes());
    if t.csum_offload {
        // The NIC sums the datagram onto the pseudo-header's sum, which
        // DPDK's L4 checksum offload wants in the field (not complemented).
        let p = !csum_fold(t.pseudo + udp_len as u32);
        h[CSUM..CSUM + 2].copy_from_slice(&p.to_be_bytes());
    } else if !t.zero_csum {
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
        let c = if c == 0 { 0xffff } else { c };
        h[CSUM..CSUM + 2].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With the checksum offloaded, the field holds the pseudo-header's
    /// sum: a NIC summing the datagram onto it (as net_tap and DPDK's
    /// Intel drivers do) writes the checksum software would have.
    #[test]
    fn an_offloaded_checksum_completes_to_the_software_one() {
        use crate::datapath::tunnel::Tunnel;
        use crate::wire::csum_add;
        let t = Template::new6(
            [2, 0, 0, 0, 0, 2],
            [2, 0, 0, 0, 0, 1],
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            Tunnel::vxlan(4789),
            64,
            false,
        );
        let inner: Vec<u8> = (0..61u8).collect();
        let o = Outer::new(100, 0x1234_5678, 0);
        let mut soft = [0u8; OUTER6_LEN];
        write6(&mut soft, &t, inner.len(), o, csum_add(0, &inner));
        let mut hw = [0u8; OUTER6_LEN];
        let off = t.offloading_csum(true);
        assert!(off.csum_offload);
        write6(&mut hw, &off, inner.len(), o, 0);
        const C: usize = ETH_LEN + IPV6_LEN + 6;
        assert_ne!(hw[C..C + 2], soft[C..C + 2]);
        // The NIC: the field as the start, summed with the datagram.
        let seed = u16::from_be_bytes([hw[C], hw[C + 1]]) as u32;
        hw[C..C + 2].fill(0);
        let mut dgram = hw[ETH_LEN + IPV6_LEN..].to_vec();
        dgram.extend_from_slice(&inner);
        let c = crate::wire::csum_fold(csum_add(seed, &dgram));
        assert_eq!(c.to_be_bytes(), soft[C..C + 2]);
        assert_eq!(hw[..C], soft[..C]);
        // Nothing to offload where nothing is computed.
        assert!(!t.offloading_csum(false).csum_offload);
        let zero = Template::new6(
            [2; 6],
            [2; 6],
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
            Tunnel::vxlan(4789),
            64,
            true,
        );
        assert!(!zero.offloading_csum(true).csum_offload);
    }

    /// The IPv6 checksum's constant words: the destination port and the
    /// header's first two words.
    #[test]
    fn init_returns_the_constant_words() {
        let mut l4 = [0u8; UDP_LEN + HEADER_LEN];
        let h = [0x08, 0, 0x65, 0x58, 9, 9, 9, 9];
        assert_eq!(init(&mut l4, 4789, h), (16, 4789 + 0x0800 + 0x6558));
        assert_eq!(l4[2..4], 4789u16.to_be_bytes());
        assert_eq!(l4[8..], h);
    }
}

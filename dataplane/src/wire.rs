//! Wire formats read and written at byte offsets (no packed structs):
//! Ethernet, 802.1Q, IPv4, UDP, VXLAN (RFC 7348 §5), ARP and ICMP echo.
//!
//! ```text
//! VXLAN header (8 bytes):
//!  0                   1                   2                   3
//! |R|R|R|R|I|R|R|R|            Reserved                           |
//! |                VXLAN Network Identifier (VNI) |   Reserved    |
//! ```

use std::net::Ipv4Addr;

pub const ETH_LEN: usize = 14;
pub const VLAN_LEN: usize = 4;
pub const IPV4_LEN: usize = 20;
pub const UDP_LEN: usize = 8;
pub const VXLAN_LEN: usize = 8;
/// Outer Ethernet + IPv4 + UDP + VXLAN, without options.
pub const OUTER_LEN: usize = ETH_LEN + IPV4_LEN + UDP_LEN + VXLAN_LEN;

pub const ETHERTYPE_IPV4: u16 = 0x0800;
pub const ETHERTYPE_ARP: u16 = 0x0806;
pub const ETHERTYPE_VLAN: u16 = 0x8100;
pub const ETHERTYPE_QINQ: u16 = 0x88a8;
pub const PROTO_ICMP: u8 = 1;
pub const PROTO_UDP: u8 = 17;
pub const VXLAN_FLAG_I: u8 = 0x08;

pub mod eth {
    use std::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const TYPE: usize = 12;
}

pub mod ip {
    pub const VER_IHL: usize = 0;
    pub const TOTAL_LEN: usize = 2;
    pub const ID: usize = 4;
    pub const FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTO: usize = 9;
    pub const CSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
    /// More-fragments flag and fragment offset.
    pub const MF_OFFSET_MASK: u16 = 0x3fff;
    pub const DF: u16 = 0x4000;
}

pub mod udp {
    pub const SPORT: usize = 0;
    pub const DPORT: usize = 2;
    pub const LEN: usize = 4;
    pub const CSUM: usize = 6;
}

pub mod arp {
    pub const LEN: usize = 28;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
    pub const REQUEST: u16 = 1;
    pub const REPLY: u16 = 2;
}

#[inline(always)]
pub fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

#[inline(always)]
pub fn ipv4_at(b: &[u8], at: usize) -> Ipv4Addr {
    Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3])
}

#[inline(always)]
pub fn mac_at(b: &[u8], at: usize) -> [u8; 6] {
    [b[at], b[at + 1], b[at + 2], b[at + 3], b[at + 4], b[at + 5]]
}

/// Ones'-complement sum of 16-bit big-endian words (odd tail padded).
#[inline]
pub fn csum_add(mut sum: u32, b: &[u8]) -> u32 {
    let mut chunks = b.chunks_exact(2);
    for c in &mut chunks {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    if let [x] = chunks.remainder() {
        sum += (*x as u32) << 8;
    }
    sum
}

#[inline(always)]
pub fn csum_fold(mut sum: u32) -> u16 {
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

/// The Internet checksum of `b`.
pub fn checksum(b: &[u8]) -> u16 {
    csum_fold(csum_add(0, b))
}

/// Writes a 28-byte Ethernet/IPv4 ARP body.
pub fn write_arp(
    out: &mut [u8],
    oper: u16,
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) {
    out[..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
    put16(out, arp::OPER, oper);
    out[arp::SHA..arp::SHA + 6].copy_from_slice(&sha);
    out[arp::SPA..arp::SPA + 4].copy_from_slice(&spa.octets());
    out[arp::THA..arp::THA + 6].copy_from_slice(&tha);
    out[arp::TPA..arp::TPA + 4].copy_from_slice(&tpa.octets());
}

/// A whole ARP frame (Ethernet + ARP, padded to 60 bytes).
pub fn arp_frame(
    dst: [u8; 6],
    src: [u8; 6],
    oper: u16,
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    f[eth::DST].copy_from_slice(&dst);
    f[eth::SRC].copy_from_slice(&src);
    put16(&mut f, eth::TYPE, ETHERTYPE_ARP);
    write_arp(&mut f[ETH_LEN..], oper, sha, spa, tha, tpa);
    f
}

/// A parsed Ethernet/IPv4 ARP body; None unless it is one, with sane lengths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub oper: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

impl Arp {
    pub fn parse(b: &[u8]) -> Option<Arp> {
        if b.len() < arp::LEN || b[..6] != [0, 1, 8, 0, 6, 4] {
            return None;
        }
        let oper = be16(b, arp::OPER);
        if oper != arp::REQUEST && oper != arp::REPLY {
            return None;
        }
        Some(Arp {
            oper,
            sha: mac_at(b, arp::SHA),
            spa: ipv4_at(b, arp::SPA),
            tha: mac_at(b, arp::THA),
            tpa: ipv4_at(b, arp::TPA),
        })
    }
}

/// Turns an ARP request frame (Ethernet + ARP) in place into the reply
/// `mac` gives for the requested address.
pub fn arp_reply_in_place(f: &mut [u8], req: &Arp, mac: [u8; 6]) {
    f.copy_within(eth::SRC, 0);
    f[eth::SRC].copy_from_slice(&mac);
    let body = &mut f[ETH_LEN..];
    put16(body, arp::OPER, arp::REPLY);
    body[arp::SHA..arp::SHA + 6].copy_from_slice(&mac);
    body[arp::SPA..arp::SPA + 4].copy_from_slice(&req.tpa.octets());
    body[arp::THA..arp::THA + 6].copy_from_slice(&req.sha);
    body[arp::TPA..arp::TPA + 4].copy_from_slice(&req.spa.octets());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 §3: words 0001 f203 f4f5 f6f7 sum to ddf2, checksum 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn arp_round_trip_and_reply() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let req = arp_frame(
            [0xff; 6],
            [2, 0, 0, 0, 0, 1],
            arp::REQUEST,
            [2, 0, 0, 0, 0, 1],
            a,
            [0; 6],
            b,
        );
        let p = Arp::parse(&req[ETH_LEN..]).unwrap();
        assert_eq!((p.oper, p.spa, p.tpa), (arp::REQUEST, a, b));
        let mut rep = req.clone();
        arp_reply_in_place(&mut rep, &p, [2, 0, 0, 0, 0, 2]);
        let r = Arp::parse(&rep[ETH_LEN..]).unwrap();
        assert_eq!(r.oper, arp::REPLY);
        assert_eq!(
            (r.spa, r.sha, r.tpa, r.tha),
            (b, [2, 0, 0, 0, 0, 2], a, [2, 0, 0, 0, 0, 1])
        );
        assert_eq!(&rep[0..6], &[2, 0, 0, 0, 0, 1]);
        let mut bad = req.clone();
        bad[ETH_LEN + 4] = 8; // hardware length
        assert!(Arp::parse(&bad[ETH_LEN..]).is_none());
        bad = req;
        put16(&mut bad[ETH_LEN..], arp::OPER, 9);
        assert!(Arp::parse(&bad[ETH_LEN..]).is_none());
        assert!(Arp::parse(&[0u8; 27]).is_none());
    }
}

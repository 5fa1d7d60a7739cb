//! ICMPv6 (RFC 4443) echo and the neighbour discovery messages a VTEP
//! needs on its underlay (RFC 4861 §4.3, §4.4): neighbour solicitation and
//! advertisement with their link-layer address options.
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |  NS: reserved / NA: |R|S|O| reserved                          |
//! |                       Target Address (128)                    |
//! |   Options: type, length (8-byte units), link-layer address    |
//! ```

use std::net::Ipv6Addr;

use super::bytes::{mac_at, put16};
use super::checksum::{csum_add, csum_fold};
use super::ethernet::HEADER_LEN as ETH_LEN;
use super::ethernet::{EthernetFrame, ETHERTYPE_IPV6};
use super::ipv6::{self, Ipv6Packet};

pub const PROTO_ICMPV6: u8 = 58;
pub const ECHO_REQUEST: u8 = 128;
pub const ECHO_REPLY: u8 = 129;
pub const NEIGHBOR_SOLICIT: u8 = 135;
pub const NEIGHBOR_ADVERT: u8 = 136;

/// NA flags.
pub const FLAG_ROUTER: u8 = 0x80;
pub const FLAG_SOLICITED: u8 = 0x40;
pub const FLAG_OVERRIDE: u8 = 0x20;

const OPT_SOURCE_LL: u8 = 1;
const OPT_TARGET_LL: u8 = 2;
/// Type, code, checksum, flags/reserved and the target.
const ND_LEN: usize = 24;
const CSUM: usize = 2;

/// A neighbour solicitation or advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Nd {
    /// [`NEIGHBOR_SOLICIT`] or [`NEIGHBOR_ADVERT`].
    pub kind: u8,
    /// NA flags (0 in a solicitation).
    pub flags: u8,
    pub target: Ipv6Addr,
    /// The source (NS) or target (NA) link-layer address option.
    pub lladdr: Option<[u8; 6]>,
}

impl Nd {
    /// Parses an ICMPv6 message as NS or NA: code 0, its whole body,
    /// options each of non-zero length (RFC 4861 §7.1.1, §7.1.2).
    pub fn parse(m: &[u8]) -> Option<Nd> {
        if m.len() < ND_LEN || m[1] != 0 {
            return None;
        }
        let kind = m[0];
        let want = match kind {
            NEIGHBOR_SOLICIT => OPT_SOURCE_LL,
            NEIGHBOR_ADVERT => OPT_TARGET_LL,
            _ => return None,
        };
        let mut t = [0u8; 16];
        t.copy_from_slice(&m[8..24]);
        let mut lladdr = None;
        let mut opts = &m[ND_LEN..];
        while opts.len() >= 2 {
            let len = opts[1] as usize * 8;
            if len == 0 || len > opts.len() {
                return None;
            }
            if opts[0] == want && len >= 8 {
                lladdr = Some(mac_at(opts, 2));
            }
            opts = &opts[len..];
        }
        Some(Nd {
            kind,
            flags: if kind == NEIGHBOR_ADVERT {
                m[4] & 0xe0
            } else {
                0
            },
            target: Ipv6Addr::from(t),
            lladdr,
        })
    }

    /// The message with its link-layer option, checksum still 0.
    pub fn body(&self) -> Vec<u8> {
        let mut m = vec![0u8; ND_LEN];
        m[0] = self.kind;
        m[4] = self.flags;
        m[8..24].copy_from_slice(&self.target.octets());
        if let Some(mac) = self.lladdr {
            let opt = if self.kind == NEIGHBOR_SOLICIT {
                OPT_SOURCE_LL
            } else {
                OPT_TARGET_LL
            };
            m.extend_from_slice(&[opt, 1]);
            m.extend_from_slice(&mac);
        }
        m
    }
}

/// True when the checksum of ICMPv6 message `ip.payload()` is right.
pub fn checksum_ok<T: AsRef<[u8]>>(ip: &Ipv6Packet<T>) -> bool {
    let m = ip.payload();
    csum_fold(csum_add(ip.pseudo_sum(m.len(), PROTO_ICMPV6), m)) == 0
}

/// Fills the checksum of the ICMPv6 message that is `ip`'s payload.
pub fn fill_checksum<T: AsRef<[u8]> + AsMut<[u8]>>(ip: &mut Ipv6Packet<T>) {
    let len = ip.payload_len();
    let pseudo = ip.pseudo_sum(len, PROTO_ICMPV6);
    let m = ip.payload_mut();
    put16(m, CSUM, 0);
    let c = csum_fold(csum_add(pseudo, m));
    put16(m, CSUM, c);
}

/// A whole Ethernet frame carrying ICMPv6 `msg`, checksum filled.
pub fn frame(
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    src: Ipv6Addr,
    dst: Ipv6Addr,
    hop: u8,
    msg: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; ETH_LEN + ipv6::HEADER_LEN + msg.len()];
    let mut e = EthernetFrame::new_unchecked(&mut f[..]);
    e.set_dst(dst_mac);
    e.set_src(src_mac);
    e.set_ethertype(ETHERTYPE_IPV6);
    let mut ip = Ipv6Packet::new_unchecked(&mut f[ETH_LEN..]);
    ip.init(hop, PROTO_ICMPV6, src, dst);
    ip.set_payload_len(msg.len() as u16);
    ip.payload_mut().copy_from_slice(msg);
    fill_checksum(&mut ip);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nd_messages_round_trip_with_checksums() {
        let mac = [2, 0, 0, 0, 0, 1];
        let ours: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let peer: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let ns = Nd {
            kind: NEIGHBOR_SOLICIT,
            flags: 0,
            target: peer,
            lladdr: Some(mac),
        };
        let group = ipv6::solicited_node(peer);
        let f = frame(
            ipv6::multicast_mac(group),
            mac,
            ours,
            group,
            255,
            &ns.body(),
        );
        let ip = Ipv6Packet::new_checked(&f[ETH_LEN..]).unwrap();
        assert!(checksum_ok(&ip));
        assert_eq!(Nd::parse(ip.payload()), Some(ns));
        let na = Nd {
            kind: NEIGHBOR_ADVERT,
            flags: FLAG_SOLICITED | FLAG_OVERRIDE,
            target: ours,
            lladdr: Some(mac),
        };
        assert_eq!(Nd::parse(&na.body()), Some(na));
        let mut bad = na.body();
        bad[25] = 0; // option length 0
        assert_eq!(Nd::parse(&bad), None);
        let mut f2 = f.clone();
        f2[ETH_LEN + 40 + 9] ^= 1;
        assert!(!checksum_ok(
            &Ipv6Packet::new_checked(&f2[ETH_LEN..]).unwrap()
        ));
        assert_eq!(Nd::parse(&[ECHO_REQUEST; 30]), None);
    }
}

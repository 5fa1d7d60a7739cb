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

    /// The message's length: with its link-layer option, if any.
    pub fn wire_len(&self) -> usize {
        ND_LEN + if self.lladdr.is_some() { 8 } else { 0 }
    }

    /// Writes the message with its link-layer option, checksum 0, into
    /// the first [`Nd::wire_len`] bytes of `m` (which must hold them).
    pub fn emit(&self, m: &mut [u8]) {
        let m = &mut m[..self.wire_len()];
        m.fill(0);
        m[0] = self.kind;
        m[4] = self.flags;
        m[8..24].copy_from_slice(&self.target.octets());
        if let Some(mac) = self.lladdr {
            let opt = if self.kind == NEIGHBOR_SOLICIT {
                OPT_SOURCE_LL
            } else {
                OPT_TARGET_LL
            };
            m[24..26].copy_from_slice(&[opt, 1]);
            m[26..32].copy_from_slice(&mac);
        }
    }

    /// The message with its link-layer option, checksum still 0.
    pub fn body(&self) -> Vec<u8> {
        let mut m = vec![0u8; self.wire_len()];
        self.emit(&mut m);
        m
    }
}

/// A neighbour solicitation or advertisement carried by Ethernet frame
/// `f`, with its IPv6 source: valid as RFC 4861 §7.1 has it (hop limit
/// 255, ICMPv6 right after the IPv6 header, checksum right).
pub fn nd_in_frame(f: &[u8]) -> Option<(Ipv6Addr, Nd)> {
    let e = EthernetFrame::new_checked(f)?;
    if e.ethertype() != ETHERTYPE_IPV6 {
        return None;
    }
    let ip = Ipv6Packet::new_checked(e.payload()).ok()?;
    if ip.next_header() != PROTO_ICMPV6 || ip.hop_limit() != 255 {
        return None;
    }
    if !matches!(
        ip.payload().first(),
        Some(&NEIGHBOR_SOLICIT | &NEIGHBOR_ADVERT)
    ) || !checksum_ok(&ip)
    {
        return None;
    }
    Some((ip.src(), Nd::parse(ip.payload())?))
}

/// The length of the frame [`advert_in_place`] makes.
pub const ADVERT_FRAME_LEN: usize = ETH_LEN + ipv6::HEADER_LEN + ND_LEN + 8;

/// Turns neighbour solicitation frame `f` (from `src`, for `ns.target`)
/// into the solicited advertisement that the target at `mac` would send
/// back, in its first [`ADVERT_FRAME_LEN`] bytes; false, with `f`
/// untouched, if `f` is shorter.
pub fn advert_in_place(f: &mut [u8], src: Ipv6Addr, ns: &Nd, mac: [u8; 6]) -> bool {
    if f.len() < ADVERT_FRAME_LEN {
        return false;
    }
    EthernetFrame::new_unchecked(&mut f[..]).reverse(mac);
    let mut ip = Ipv6Packet::new_unchecked(&mut f[ETH_LEN..ADVERT_FRAME_LEN]);
    ip.init(255, PROTO_ICMPV6, ns.target, src);
    let na = Nd {
        kind: NEIGHBOR_ADVERT,
        flags: FLAG_SOLICITED | FLAG_OVERRIDE,
        target: ns.target,
        lladdr: Some(mac),
    };
    ip.set_payload_len(na.wire_len() as u16);
    // Written in place: no buffer per answer.
    na.emit(ip.payload_mut());
    fill_checksum(&mut ip);
    true
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
    fn a_solicitation_becomes_the_targets_advertisement() {
        let (host, target_mac) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let src: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        let target: Ipv6Addr = "2001:db8:1::2".parse().unwrap();
        let ns = Nd {
            kind: NEIGHBOR_SOLICIT,
            flags: 0,
            target,
            lladdr: Some(host),
        };
        let group = ipv6::solicited_node(target);
        let mut f = frame(
            ipv6::multicast_mac(group),
            host,
            src,
            group,
            255,
            &ns.body(),
        );
        assert_eq!(nd_in_frame(&f), Some((src, ns)));
        // Not ND as RFC 4861 has it: routed (hop limit), or corrupted.
        let mut routed = f.clone();
        routed[ETH_LEN + 7] = 64;
        assert_eq!(nd_in_frame(&routed), None);
        let mut bad = f.clone();
        bad[ETH_LEN + ipv6::HEADER_LEN + 10] ^= 1;
        assert_eq!(nd_in_frame(&bad), None);

        f.extend_from_slice(&[0; 6]);
        assert!(advert_in_place(&mut f, src, &ns, target_mac));
        let na = &f[..ADVERT_FRAME_LEN];
        let e = EthernetFrame::new_checked(na).unwrap();
        assert_eq!((e.dst(), e.src()), (host, target_mac));
        let ip = Ipv6Packet::new_checked(e.payload()).unwrap();
        assert_eq!((ip.src(), ip.dst(), ip.hop_limit()), (target, src, 255));
        assert_eq!(
            nd_in_frame(na),
            Some((
                target,
                Nd {
                    kind: NEIGHBOR_ADVERT,
                    flags: FLAG_SOLICITED | FLAG_OVERRIDE,
                    target,
                    lladdr: Some(target_mac),
                }
            ))
        );
        let mut short = vec![0u8; ADVERT_FRAME_LEN - 1];
        assert!(!advert_in_place(&mut short, src, &ns, target_mac));
        assert!(short.iter().all(|b| *b == 0));
    }

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

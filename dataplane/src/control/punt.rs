//! Frames the workers punt to the management thread (ARP and IPv6
//! neighbour discovery for the VTEP address, ICMP and ICMPv6 echo requests
//! to it), and the frames it sends on the underlay. Pure over the buffer
//! trait: a punted frame is turned into its answer in place (or a new
//! answer is built), and what it taught about neighbours is returned.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::datapath::buf::PacketBuf;
use crate::wire::arp::{self, Arp};
use crate::wire::icmp::IcmpEcho;
use crate::wire::icmpv6::{self, Nd};
use crate::wire::ipv6;
use crate::wire::{
    EthernetFrame, Ipv4Packet, Ipv6Packet, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_LEN,
    IPV6_LEN, PROTO_ICMPV6,
};

/// What a punted frame asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The sender binding an ARP packet or a neighbour solicitation or
    /// advertisement showed (to be checked by the caller against the
    /// on-link prefix).
    pub sender: Option<(IpAddr, [u8; 6])>,
    /// The frame was rewritten into this answer (or, with `frame`, the
    /// answer was built apart): send it.
    pub reply: Option<Answer>,
    /// A newly built answer to send instead of the punted frame.
    pub frame: Option<Vec<u8>>,
    /// The sender announced itself (a gratuitous ARP) rather than spoke
    /// to this VTEP: it updates a neighbour already known, and adds none.
    pub announced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    ArpReply,
    EchoReply,
    NeighborAdvert,
}

/// Handles one punted frame for VTEP `our_ip`/`our_mac`.
pub fn handle<B: PacketBuf>(b: &mut B, our_ip: IpAddr, our_mac: [u8; 6]) -> Outcome {
    let none = Outcome {
        sender: None,
        reply: None,
        frame: None,
        announced: false,
    };
    let Some(e) = EthernetFrame::new_checked(b.data()) else {
        return none;
    };
    match (e.ethertype(), our_ip) {
        (ETHERTYPE_ARP, IpAddr::V4(ours)) => {
            let Some(a) = Arp::parse(e.payload()) else {
                return none;
            };
            let sender = Some((IpAddr::V4(a.spa), a.sha));
            if a.oper == arp::REQUEST && a.tpa == ours {
                arp::reply_in_place(b.data_mut(), &a, our_mac);
                return Outcome {
                    sender,
                    reply: Some(Answer::ArpReply),
                    ..none
                };
            }
            Outcome {
                sender,
                announced: a.tpa != ours && a.spa == a.tpa,
                ..none
            }
        }
        (ETHERTYPE_IPV4, IpAddr::V4(_)) if echo_reply_in_place(b, our_mac) => Outcome {
            reply: Some(Answer::EchoReply),
            ..none
        },
        (ETHERTYPE_IPV6, IpAddr::V6(ours)) => handle6(b, ours, our_mac),
        _ => none,
    }
}

/// Neighbour discovery and echo over IPv6 (checked by decap: hop limit,
/// checksum, message shape; re-checked here where it matters).
fn handle6<B: PacketBuf>(b: &mut B, ours: Ipv6Addr, our_mac: [u8; 6]) -> Outcome {
    let none = Outcome {
        sender: None,
        reply: None,
        frame: None,
        announced: false,
    };
    let (eth_src, src, msg) = {
        let Some(e) = EthernetFrame::new_checked(b.data()) else {
            return none;
        };
        let Ok(ip) = Ipv6Packet::new_checked(e.payload()) else {
            return none;
        };
        if ip.next_header() != PROTO_ICMPV6 {
            return none;
        }
        (e.src(), ip.src(), ip.payload().to_vec())
    };
    match msg.first().copied() {
        Some(icmpv6::ECHO_REQUEST) => {
            if echo6_reply_in_place(b, our_mac) {
                return Outcome {
                    reply: Some(Answer::EchoReply),
                    ..none
                };
            }
            none
        }
        _ => {
            let Some(nd) = Nd::parse(&msg) else {
                return none;
            };
            if nd.kind == icmpv6::NEIGHBOR_ADVERT {
                // An answer to our solicitation (or an unsolicited update):
                // the target's link-layer address, else the frame's source.
                return Outcome {
                    sender: Some((IpAddr::V6(nd.target), nd.lladdr.unwrap_or(eth_src))),
                    ..none
                };
            }
            if nd.target != ours {
                return none;
            }
            // A solicitation from an address being checked for duplicates
            // (source ::) teaches nothing and is answered to all nodes.
            let dad = src.is_unspecified();
            let sender = (!dad)
                .then_some(nd.lladdr.map(|m| (IpAddr::V6(src), m)))
                .flatten();
            let (dst, dst_mac, flags) = if dad {
                (
                    ipv6::ALL_NODES,
                    ipv6::multicast_mac(ipv6::ALL_NODES),
                    icmpv6::FLAG_OVERRIDE,
                )
            } else {
                (
                    src,
                    nd.lladdr.unwrap_or(eth_src),
                    icmpv6::FLAG_SOLICITED | icmpv6::FLAG_OVERRIDE,
                )
            };
            Outcome {
                sender,
                reply: Some(Answer::NeighborAdvert),
                frame: Some(advert(our_mac, ours, dst_mac, dst, flags)),
                announced: false,
            }
        }
    }
}

/// A neighbour advertisement for our address with our link-layer address.
fn advert(our_mac: [u8; 6], ours: Ipv6Addr, dst_mac: [u8; 6], dst: Ipv6Addr, flags: u8) -> Vec<u8> {
    let na = Nd {
        kind: icmpv6::NEIGHBOR_ADVERT,
        flags,
        target: ours,
        lladdr: Some(our_mac),
    };
    icmpv6::frame(dst_mac, our_mac, ours, dst, 255, &na.body())
}

/// The unsolicited advertisement of our address to all nodes, sent at
/// start so that neighbours update stale entries (RFC 4861 §7.2.6).
pub fn unsolicited_advert(our_mac: [u8; 6], ours: Ipv6Addr) -> Vec<u8> {
    advert(
        our_mac,
        ours,
        ipv6::multicast_mac(ipv6::ALL_NODES),
        ipv6::ALL_NODES,
        icmpv6::FLAG_OVERRIDE,
    )
}

/// A neighbour solicitation for `target` to its solicited-node group.
pub fn neighbor_solicit(our_mac: [u8; 6], ours: Ipv6Addr, target: Ipv6Addr) -> Vec<u8> {
    let ns = Nd {
        kind: icmpv6::NEIGHBOR_SOLICIT,
        flags: 0,
        target,
        lladdr: Some(our_mac),
    };
    let group = ipv6::solicited_node(target);
    icmpv6::frame(
        ipv6::multicast_mac(group),
        our_mac,
        ours,
        group,
        255,
        &ns.body(),
    )
}

/// The request that resolves next hop `target`: ARP or a neighbour
/// solicitation, to everyone, or with `to` a probe unicast to the MAC it
/// had (RFC 4861 §7.3.3; as Linux probes ARP entries); None if the
/// families differ.
pub fn resolve_request(
    our_mac: [u8; 6],
    ours: IpAddr,
    target: IpAddr,
    to: Option<[u8; 6]>,
) -> Option<Vec<u8>> {
    match (ours, target, to) {
        (IpAddr::V4(a), IpAddr::V4(t), None) => Some(arp_request(our_mac, a, t)),
        (IpAddr::V4(a), IpAddr::V4(t), Some(m)) => {
            let mut f = arp_request(our_mac, a, t);
            f[..6].copy_from_slice(&m);
            Some(f)
        }
        (IpAddr::V6(a), IpAddr::V6(t), None) => Some(neighbor_solicit(our_mac, a, t)),
        (IpAddr::V6(a), IpAddr::V6(t), Some(m)) => {
            let ns = Nd {
                kind: icmpv6::NEIGHBOR_SOLICIT,
                flags: 0,
                target: t,
                lladdr: Some(our_mac),
            };
            Some(icmpv6::frame(m, our_mac, a, t, 255, &ns.body()))
        }
        _ => None,
    }
}

/// Turns an ICMPv6 echo request into its reply in place, trimming any
/// Ethernet padding.
fn echo6_reply_in_place<B: PacketBuf>(b: &mut B, our_mac: [u8; 6]) -> bool {
    let len = {
        let Some(e) = EthernetFrame::new_checked(b.data()) else {
            return false;
        };
        match Ipv6Packet::new_checked(e.payload()) {
            Ok(ip) if ip.payload().len() >= 8 && ip.payload()[1] == 0 => ip.payload_len(),
            _ => return false,
        }
    };
    let mut e = EthernetFrame::new_unchecked(b.data_mut());
    e.reverse(our_mac);
    let mut ip = Ipv6Packet::new_unchecked(e.payload_mut());
    ip.swap_addrs();
    ip.set_hop_limit(64);
    ip.payload_mut()[0] = icmpv6::ECHO_REPLY;
    icmpv6::fill_checksum(&mut ip);
    let extra = b.len() - (ETH_LEN + IPV6_LEN + len);
    b.trim(extra);
    true
}

/// A broadcast ARP request from the VTEP for `target` (a gratuitous one
/// when `target` is the VTEP's own address).
pub fn arp_request(our_mac: [u8; 6], our_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    Arp {
        oper: arp::REQUEST,
        sha: our_mac,
        spa: our_ip,
        tha: [0; 6],
        tpa: target,
    }
    .frame([0xff; 6], our_mac)
}

/// Turns an ICMP echo request (already checked by decap) into its reply,
/// trimming any Ethernet padding.
fn echo_reply_in_place<B: PacketBuf>(b: &mut B, our_mac: [u8; 6]) -> bool {
    let total = {
        let Some(e) = EthernetFrame::new_checked(b.data()) else {
            return false;
        };
        match Ipv4Packet::new_checked(e.payload()) {
            Ok(ip) if IcmpEcho::new_request(ip.payload()).is_some() => ip.total_len(),
            _ => return false,
        }
    };
    let mut e = EthernetFrame::new_unchecked(b.data_mut());
    e.reverse(our_mac);
    let mut ip = Ipv4Packet::new_unchecked(e.payload_mut());
    ip.swap_addrs();
    ip.set_ttl(64);
    ip.fill_checksum();
    if let Some(mut icmp) = IcmpEcho::new_request(ip.payload_mut()) {
        icmp.make_reply();
    }
    let extra = b.len() - (ETH_LEN + total);
    b.trim(extra);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::buf::VecBuf;
    use crate::testing::{OUR_IP, OUR_MAC, PEER_IP, PEER_MAC};

    #[test]
    fn probes_go_to_the_mac_and_are_answered() {
        use crate::testing::{OUR_IP6, PEER_IP6};
        for (ours, peer) in [
            (IpAddr::from(OUR_IP), IpAddr::from(PEER_IP)),
            (OUR_IP6.into(), PEER_IP6.into()),
        ] {
            let bcast = resolve_request(OUR_MAC, ours, peer, None).unwrap();
            assert_eq!(bcast[0] & 1, 1, "to everyone");
            let f = resolve_request(OUR_MAC, ours, peer, Some(PEER_MAC)).unwrap();
            assert_eq!(&f[..6], &PEER_MAC, "a probe: to the MAC it had");
            // The neighbour answers it and learns us from it.
            let mut b = VecBuf::new(&f);
            let o = handle(&mut b, peer, PEER_MAC);
            assert_eq!(o.sender, Some((ours, OUR_MAC)), "{ours}");
            assert!(
                matches!(o.reply, Some(Answer::ArpReply | Answer::NeighborAdvert)),
                "{ours}: {:?}",
                o.reply
            );
        }
        assert_eq!(
            resolve_request(OUR_MAC, OUR_IP.into(), PEER_IP6.into(), None),
            None
        );
    }

    #[test]
    fn a_gratuitous_arp_is_an_announcement() {
        let mut b = VecBuf::new(&arp_request(PEER_MAC, PEER_IP, PEER_IP));
        let o = handle(&mut b, OUR_IP.into(), OUR_MAC);
        assert_eq!(o.sender, Some((PEER_IP.into(), PEER_MAC)));
        assert!(o.announced && o.reply.is_none());
        let mut b = VecBuf::new(&arp_request(PEER_MAC, PEER_IP, OUR_IP));
        assert!(!handle(&mut b, OUR_IP.into(), OUR_MAC).announced);
    }

    #[test]
    fn arp_request_for_us_is_answered_and_teaches_the_sender() {
        let mut b = VecBuf::new(&arp_request(PEER_MAC, PEER_IP, OUR_IP));
        let o = handle(&mut b, OUR_IP.into(), OUR_MAC);
        assert_eq!(o.sender, Some((PEER_IP.into(), PEER_MAC)));
        assert_eq!(o.reply, Some(Answer::ArpReply));
        let r = Arp::from_frame(b.data()).unwrap();
        assert_eq!(
            (r.oper, r.spa, r.sha, r.tpa),
            (arp::REPLY, OUR_IP, OUR_MAC, PEER_IP)
        );
        assert_eq!(&b.data()[0..6], &PEER_MAC, "sent back to the asker");
    }

    #[test]
    fn arp_reply_teaches_without_answer() {
        let reply = Arp::parse(&arp_request(OUR_MAC, OUR_IP, PEER_IP)[ETH_LEN..])
            .unwrap()
            .reply(PEER_MAC)
            .frame(OUR_MAC, PEER_MAC);
        let mut b = VecBuf::new(&reply);
        let o = handle(&mut b, OUR_IP.into(), OUR_MAC);
        assert_eq!(
            (o.sender, o.reply),
            (Some((PEER_IP.into(), PEER_MAC)), None)
        );
    }

    #[test]
    fn echo_request_becomes_its_reply() {
        // Ethernet + IPv4 (20) + ICMP echo (8 + 4 data), padded to 60.
        let mut f = vec![0u8; 60];
        let mut e = EthernetFrame::new_unchecked(&mut f[..]);
        e.set_dst(OUR_MAC);
        e.set_src(PEER_MAC);
        e.set_ethertype(ETHERTYPE_IPV4);
        let mut ip = Ipv4Packet::new_unchecked(e.payload_mut());
        ip.init(9, crate::wire::PROTO_ICMP, PEER_IP, OUR_IP, false);
        ip.set_total_len(32);
        ip.fill_checksum();
        let l4 = &mut f[ETH_LEN + 20..ETH_LEN + 32];
        l4[0] = 8;
        l4[8..12].copy_from_slice(b"ping");
        let c = crate::wire::checksum(l4);
        l4[2..4].copy_from_slice(&c.to_be_bytes());
        let mut b = VecBuf::new(&f);
        let o = handle(&mut b, OUR_IP.into(), OUR_MAC);
        assert_eq!(o.reply, Some(Answer::EchoReply));
        let d = b.data();
        assert_eq!(d.len(), ETH_LEN + 32, "Ethernet padding trimmed");
        let e = EthernetFrame::new_checked(d).unwrap();
        assert_eq!((e.dst(), e.src()), (PEER_MAC, OUR_MAC));
        let ip = Ipv4Packet::new_checked(e.payload()).unwrap();
        assert_eq!((ip.src(), ip.dst(), ip.ttl()), (OUR_IP, PEER_IP, 64));
        assert!(ip.checksum_ok());
        assert_eq!(crate::wire::checksum(ip.payload()), 0);
        assert_eq!((ip.payload()[0], &ip.payload()[8..12]), (0, &b"ping"[..]));
    }

    #[test]
    fn other_frames_are_ignored() {
        let mut b = VecBuf::new(&[0u8; 10]);
        assert_eq!(handle(&mut b, OUR_IP.into(), OUR_MAC).reply, None);
        let mut f = arp_request(PEER_MAC, PEER_IP, OUR_IP);
        f[ETH_LEN + 4] = 8; // bad hardware length
        let mut b = VecBuf::new(&f);
        assert_eq!(handle(&mut b, OUR_IP.into(), OUR_MAC).sender, None);
    }
}

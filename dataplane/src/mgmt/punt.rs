//! Frames the workers punt to the management thread (ARP for the VTEP
//! address, ICMP echo requests to it), and the frames it sends on the
//! underlay. Pure over the buffer trait: a punted frame is turned into its
//! answer in place, and what it taught about neighbours is returned.

use std::net::Ipv4Addr;

use crate::buf::PacketBuf;
use crate::wire::arp::{self, Arp};
use crate::wire::icmp::IcmpEcho;
use crate::wire::{EthernetFrame, Ipv4Packet, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETH_LEN};

/// What a punted frame asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The sender binding an ARP packet showed (to be checked by the
    /// caller against the on-link prefix).
    pub sender: Option<(Ipv4Addr, [u8; 6])>,
    /// The frame was rewritten into this answer: send it.
    pub reply: Option<Answer>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    ArpReply,
    EchoReply,
}

/// Handles one punted frame for VTEP `our_ip`/`our_mac`.
pub fn handle<B: PacketBuf>(b: &mut B, our_ip: Ipv4Addr, our_mac: [u8; 6]) -> Outcome {
    let none = Outcome {
        sender: None,
        reply: None,
    };
    let Some(e) = EthernetFrame::new_checked(b.data()) else {
        return none;
    };
    match e.ethertype() {
        ETHERTYPE_ARP => {
            let Some(a) = Arp::parse(e.payload()) else {
                return none;
            };
            let sender = Some((a.spa, a.sha));
            if a.oper == arp::REQUEST && a.tpa == our_ip {
                arp::reply_in_place(b.data_mut(), &a, our_mac);
                return Outcome {
                    sender,
                    reply: Some(Answer::ArpReply),
                };
            }
            Outcome {
                sender,
                reply: None,
            }
        }
        ETHERTYPE_IPV4 if echo_reply_in_place(b, our_mac) => Outcome {
            sender: None,
            reply: Some(Answer::EchoReply),
        },
        _ => none,
    }
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
    use crate::buf::VecBuf;
    use crate::testing::{OUR_IP, OUR_MAC, PEER_IP, PEER_MAC};

    #[test]
    fn arp_request_for_us_is_answered_and_teaches_the_sender() {
        let mut b = VecBuf::new(&arp_request(PEER_MAC, PEER_IP, OUR_IP));
        let o = handle(&mut b, OUR_IP, OUR_MAC);
        assert_eq!(o.sender, Some((PEER_IP, PEER_MAC)));
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
        let o = handle(&mut b, OUR_IP, OUR_MAC);
        assert_eq!((o.sender, o.reply), (Some((PEER_IP, PEER_MAC)), None));
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
        let o = handle(&mut b, OUR_IP, OUR_MAC);
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
        assert_eq!(handle(&mut b, OUR_IP, OUR_MAC).reply, None);
        let mut f = arp_request(PEER_MAC, PEER_IP, OUR_IP);
        f[ETH_LEN + 4] = 8; // bad hardware length
        let mut b = VecBuf::new(&f);
        assert_eq!(handle(&mut b, OUR_IP, OUR_MAC).sender, None);
    }
}

//! Frames the workers punt to the management thread (ARP for the VTEP
//! address, ICMP echo requests to it), and the frames it sends on the
//! underlay. Pure over the buffer trait: a punted frame is turned into its
//! answer in place, and what it taught about neighbours is returned.

use std::net::Ipv4Addr;

use crate::buf::PacketBuf;
use crate::wire::{self, arp, eth, ip, Arp, ETH_LEN};

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
    let d = b.data();
    if d.len() < ETH_LEN {
        return none;
    }
    match wire::be16(d, eth::TYPE) {
        wire::ETHERTYPE_ARP => {
            let Some(a) = Arp::parse(&d[ETH_LEN..]) else {
                return none;
            };
            let sender = Some((a.spa, a.sha));
            if a.oper == arp::REQUEST && a.tpa == our_ip {
                wire::arp_reply_in_place(b.data_mut(), &a, our_mac);
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
        wire::ETHERTYPE_IPV4 if echo_reply_in_place(b, our_mac) => Outcome {
            sender: None,
            reply: Some(Answer::EchoReply),
        },
        _ => none,
    }
}

/// A broadcast ARP request from the VTEP for `target` (a gratuitous one
/// when `target` is the VTEP's own address).
pub fn arp_request(our_mac: [u8; 6], our_ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    wire::arp_frame(
        [0xff; 6],
        our_mac,
        arp::REQUEST,
        our_mac,
        our_ip,
        [0; 6],
        target,
    )
}

/// Turns an ICMP echo request (already checked by decap) into its reply.
fn echo_reply_in_place<B: PacketBuf>(b: &mut B, our_mac: [u8; 6]) -> bool {
    let d = b.data_mut();
    if d.len() < ETH_LEN + 20 {
        return false;
    }
    let ihl = (d[ETH_LEN] & 0x0f) as usize * 4;
    let total = wire::be16(d, ETH_LEN + ip::TOTAL_LEN) as usize;
    if d.len() < ETH_LEN + total || total < ihl + 8 || ihl < 20 {
        return false;
    }
    if d[ETH_LEN + ihl] != 8 {
        return false;
    }
    d.copy_within(eth::SRC, 0);
    d[eth::SRC].copy_from_slice(&our_mac);
    let l3 = &mut d[ETH_LEN..ETH_LEN + total];
    let (src, dst) = (wire::ipv4_at(l3, ip::SRC), wire::ipv4_at(l3, ip::DST));
    l3[ip::SRC..ip::SRC + 4].copy_from_slice(&dst.octets());
    l3[ip::DST..ip::DST + 4].copy_from_slice(&src.octets());
    l3[ip::TTL] = 64;
    wire::put16(l3, ip::CSUM, 0);
    let c = wire::checksum(&l3[..ihl]);
    wire::put16(l3, ip::CSUM, c);
    let icmp = &mut l3[ihl..];
    icmp[0] = 0;
    wire::put16(icmp, 2, 0);
    let c = wire::checksum(icmp);
    wire::put16(icmp, 2, c);
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
        let mut b = VecBuf::new(&wire::arp_frame(
            [0xff; 6],
            PEER_MAC,
            arp::REQUEST,
            PEER_MAC,
            PEER_IP,
            [0; 6],
            OUR_IP,
        ));
        let o = handle(&mut b, OUR_IP, OUR_MAC);
        assert_eq!(o.sender, Some((PEER_IP, PEER_MAC)));
        assert_eq!(o.reply, Some(Answer::ArpReply));
        let r = Arp::parse(&b.data()[ETH_LEN..]).unwrap();
        assert_eq!(
            (r.oper, r.spa, r.sha, r.tpa),
            (arp::REPLY, OUR_IP, OUR_MAC, PEER_IP)
        );
        assert_eq!(&b.data()[0..6], &PEER_MAC, "sent back to the asker");
    }

    #[test]
    fn arp_reply_teaches_without_answer() {
        let mut b = VecBuf::new(&wire::arp_frame(
            OUR_MAC,
            PEER_MAC,
            arp::REPLY,
            PEER_MAC,
            PEER_IP,
            OUR_MAC,
            OUR_IP,
        ));
        let o = handle(&mut b, OUR_IP, OUR_MAC);
        assert_eq!((o.sender, o.reply), (Some((PEER_IP, PEER_MAC)), None));
    }

    #[test]
    fn echo_request_becomes_its_reply() {
        // Ethernet + IPv4 (20) + ICMP echo (8 + 4 data), padded to 60.
        let mut f = vec![0u8; 60];
        f[0..6].copy_from_slice(&OUR_MAC);
        f[6..12].copy_from_slice(&PEER_MAC);
        wire::put16(&mut f, 12, wire::ETHERTYPE_IPV4);
        let l3 = &mut f[ETH_LEN..];
        l3[0] = 0x45;
        wire::put16(l3, ip::TOTAL_LEN, 32);
        l3[ip::TTL] = 9;
        l3[ip::PROTO] = wire::PROTO_ICMP;
        l3[ip::SRC..ip::SRC + 4].copy_from_slice(&PEER_IP.octets());
        l3[ip::DST..ip::DST + 4].copy_from_slice(&OUR_IP.octets());
        l3[20] = 8;
        l3[28..32].copy_from_slice(b"ping");
        let mut b = VecBuf::new(&f);
        let o = handle(&mut b, OUR_IP, OUR_MAC);
        assert_eq!(o.reply, Some(Answer::EchoReply));
        let d = b.data();
        assert_eq!(d.len(), ETH_LEN + 32, "Ethernet padding trimmed");
        assert_eq!((&d[0..6], &d[6..12]), (&PEER_MAC[..], &OUR_MAC[..]));
        let l3 = &d[ETH_LEN..];
        assert_eq!(wire::ipv4_at(l3, ip::DST), PEER_IP);
        assert_eq!(wire::checksum(&l3[..20]), 0);
        assert_eq!(wire::checksum(&l3[20..32]), 0);
        assert_eq!((l3[20], &l3[28..32]), (0, &b"ping"[..]));
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

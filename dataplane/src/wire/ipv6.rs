//! IPv6 header (RFC 8200).
//!
//! ```text
//! |Version| Traffic Class |           Flow Label                  |
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! |                         Source Address (128)                  |
//! |                      Destination Address (128)                |
//! ```

use std::net::Ipv6Addr;

use super::bytes::{be16, put16};
use super::checksum::csum_add;

pub const HEADER_LEN: usize = 40;

pub(crate) mod field {
    pub const VER_TC_FL: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT: usize = 6;
    pub const HOP: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// Why a buffer is not a well-formed IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Error {
    /// Shorter than a header, or than its payload length says.
    Length,
    Version,
}

/// A view of an IPv6 packet.
#[derive(Debug, Clone, Copy)]
pub struct Ipv6Packet<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// The view, if `buf` holds a version-6 header and the payload its
    /// length says (trailing bytes, e.g. Ethernet padding, are allowed).
    #[inline(always)]
    pub fn new_checked(buf: T) -> Result<Self, Ipv6Error> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Ipv6Error::Length);
        }
        if b[field::VER_TC_FL] >> 4 != 6 {
            return Err(Ipv6Error::Version);
        }
        if HEADER_LEN + be16(b, field::PAYLOAD_LEN) as usize > b.len() {
            return Err(Ipv6Error::Length);
        }
        Ok(Ipv6Packet { buf })
    }

    /// A view over at least [`HEADER_LEN`] bytes still to be written.
    #[inline(always)]
    pub fn new_unchecked(buf: T) -> Self {
        debug_assert!(buf.as_ref().len() >= HEADER_LEN);
        Ipv6Packet { buf }
    }

    pub fn payload_len(&self) -> usize {
        be16(self.buf.as_ref(), field::PAYLOAD_LEN) as usize
    }

    pub fn next_header(&self) -> u8 {
        self.buf.as_ref()[field::NEXT]
    }

    pub fn hop_limit(&self) -> u8 {
        self.buf.as_ref()[field::HOP]
    }

    pub fn flow_label(&self) -> u32 {
        let b = self.buf.as_ref();
        u32::from_be_bytes([0, b[1] & 0x0f, b[2], b[3]])
    }

    pub fn src(&self) -> Ipv6Addr {
        addr_at(self.buf.as_ref(), field::SRC)
    }

    pub fn dst(&self) -> Ipv6Addr {
        addr_at(self.buf.as_ref(), field::DST)
    }

    /// The payload, as long as the header says (padding excluded).
    pub fn payload(&self) -> &[u8] {
        &self.buf.as_ref()[HEADER_LEN..HEADER_LEN + self.payload_len()]
    }

    /// The pseudo-header sum (RFC 8200 §8.1) for this packet's addresses
    /// and an upper-layer packet of `len` bytes of protocol `next`.
    pub fn pseudo_sum(&self, len: usize, next: u8) -> u32 {
        let b = self.buf.as_ref();
        csum_add(len as u32 + next as u32, &b[field::SRC..field::DST + 16])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Writes version 6, traffic class and flow label 0, `next`, `hop`
    /// and the addresses; the payload length is the caller's.
    pub fn init(&mut self, hop: u8, next: u8, src: Ipv6Addr, dst: Ipv6Addr) {
        let b = self.buf.as_mut();
        b[..4].copy_from_slice(&[0x60, 0, 0, 0]);
        b[field::NEXT] = next;
        b[field::HOP] = hop;
        b[field::SRC..field::SRC + 16].copy_from_slice(&src.octets());
        b[field::DST..field::DST + 16].copy_from_slice(&dst.octets());
    }

    pub fn set_payload_len(&mut self, len: u16) {
        put16(self.buf.as_mut(), field::PAYLOAD_LEN, len);
    }

    pub fn set_hop_limit(&mut self, hop: u8) {
        self.buf.as_mut()[field::HOP] = hop;
    }

    /// The low 20 bits of `label`; the traffic class is kept.
    pub fn set_flow_label(&mut self, label: u32) {
        let b = self.buf.as_mut();
        b[1] = (b[1] & 0xf0) | ((label >> 16) & 0x0f) as u8;
        b[2] = (label >> 8) as u8;
        b[3] = label as u8;
    }

    /// Exchanges source and destination.
    pub fn swap_addrs(&mut self) {
        let b = self.buf.as_mut();
        let (src, dst) = b[field::SRC..field::DST + 16].split_at_mut(16);
        src.swap_with_slice(dst);
    }

    pub fn set_src(&mut self, a: Ipv6Addr) {
        self.buf.as_mut()[field::SRC..field::SRC + 16].copy_from_slice(&a.octets());
    }

    pub fn payload_mut(&mut self) -> &mut [u8] {
        let n = self.payload_len();
        &mut self.buf.as_mut()[HEADER_LEN..HEADER_LEN + n]
    }
}

fn addr_at(b: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    Ipv6Addr::from(a)
}

/// The solicited-node multicast group of `a` (RFC 4291 §2.7.1).
pub fn solicited_node(a: Ipv6Addr) -> Ipv6Addr {
    let o = a.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet multicast MAC of an IPv6 multicast group (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// All-nodes multicast, ff02::1.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::csum_fold;

    #[test]
    fn header_fields_round_trip() {
        let (s, d): (Ipv6Addr, Ipv6Addr) = (
            "2001:db8::1".parse().unwrap(),
            "2001:db8::2".parse().unwrap(),
        );
        let mut b = [0u8; 48];
        let mut ip = Ipv6Packet::new_unchecked(&mut b[..]);
        ip.init(64, 17, s, d);
        ip.set_payload_len(8);
        ip.set_flow_label(0xabcde);
        let ip = Ipv6Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            (ip.src(), ip.dst(), ip.next_header(), ip.hop_limit()),
            (s, d, 17, 64)
        );
        assert_eq!(
            (ip.payload_len(), ip.flow_label(), ip.payload().len()),
            (8, 0xabcde, 8)
        );
        assert_eq!(b[0], 0x60);
        assert_eq!(
            Ipv6Packet::new_checked(&b[..47]).unwrap_err(),
            Ipv6Error::Length
        );
        let mut v4 = b;
        v4[0] = 0x45;
        assert_eq!(
            Ipv6Packet::new_checked(&v4[..]).unwrap_err(),
            Ipv6Error::Version
        );
    }

    #[test]
    fn pseudo_header_checksum_of_a_known_packet() {
        // A UDP datagram whose checksum was computed by Linux (tcpdump -x):
        // 2001:db8::1 -> 2001:db8::2, ports 40000 -> 4789, payload "hi".
        let s: Ipv6Addr = "2001:db8::1".parse().unwrap();
        let d: Ipv6Addr = "2001:db8::2".parse().unwrap();
        let mut b = [0u8; 40 + 10];
        let mut ip = Ipv6Packet::new_unchecked(&mut b[..]);
        ip.init(64, 17, s, d);
        ip.set_payload_len(10);
        let udp = [0x9c, 0x40, 0x12, 0xb5, 0x00, 0x0a, 0x00, 0x00, b'h', b'i'];
        b[40..].copy_from_slice(&udp);
        let ip = Ipv6Packet::new_checked(&b[..]).unwrap();
        let c = csum_fold(csum_add(ip.pseudo_sum(10, 17), ip.payload()));
        // By hand: pseudo-header words 2001+0db8+0001 + 2001+0db8+0002 +
        // 000a + 0011, UDP words 9c40+12b5+000a+6869.
        let mut by_hand: u32 = 0x2001 + 0x0db8 + 1 + 0x2001 + 0x0db8 + 2 + 0x0a + 0x11;
        by_hand += 0x9c40 + 0x12b5 + 0x000a + 0x6869;
        assert_eq!(c, csum_fold(by_hand));
    }

    #[test]
    fn solicited_node_group_and_mac() {
        let a: Ipv6Addr = "2001:db8:1::12:3456".parse().unwrap();
        assert_eq!(
            solicited_node(a),
            "ff02::1:ff12:3456".parse::<Ipv6Addr>().unwrap()
        );
        assert_eq!(
            multicast_mac(solicited_node(a)),
            [0x33, 0x33, 0xff, 0x12, 0x34, 0x56]
        );
        assert_eq!(multicast_mac(ALL_NODES), [0x33, 0x33, 0, 0, 0, 1]);
    }
}

//! Wire formats as zero-copy views over byte buffers, one file per header:
//! [`ethernet`] (with 802.1Q), [`ipv4`], [`udp`], [`vxlan`] (RFC 7348 §5),
//! [`geneve`] (RFC 8926, with its options), [`gre`] (with a key, as NVGRE
//! uses it, RFC 7637), [`ipv6`], [`arp`], [`icmp`] (echo) and [`icmpv6`]
//! (echo, neighbour discovery). Each view is built with `new_checked`,
//! which checks the length once; after that no accessor panics. Fields
//! live at named offsets in each file's `field` module; code elsewhere
//! that reads or writes at fixed offsets (the tunnels' writers and fast
//! checks) derives them from those constants.

pub mod arp;
mod bytes;
pub mod checksum;
pub mod ethernet;
pub mod geneve;
pub mod gre;
pub mod icmp;
pub mod icmpv6;
pub mod igmp;
pub mod ipv4;
pub mod ipv6;
pub mod udp;
pub mod vxlan;

pub use arp::Arp;
pub use checksum::{checksum, csum_add, csum_fold};
pub use ethernet::{
    EthernetFrame, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN,
};
pub use geneve::GeneveHeader;
pub use gre::GreHeader;
pub use ipv4::Ipv4Packet;
pub use ipv6::Ipv6Packet;

/// The Ethernet address IP multicast group `ip` maps to (RFC 1112 §6.4:
/// 01:00:5e and the low 23 bits; RFC 2464 §7: 33:33 and the low 32);
/// None for a unicast address.
pub fn group_mac(ip: std::net::IpAddr) -> Option<[u8; 6]> {
    match ip {
        std::net::IpAddr::V4(a) if a.is_multicast() => {
            let o = a.octets();
            Some([0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]])
        }
        std::net::IpAddr::V6(a) if a.is_multicast() => Some(ipv6::multicast_mac(a)),
        _ => None,
    }
}
pub use udp::UdpPacket;
pub use vxlan::VxlanHeader;

pub const ETH_LEN: usize = ethernet::HEADER_LEN;
pub const VLAN_LEN: usize = ethernet::VLAN_TAG_LEN;
pub const IPV4_LEN: usize = ipv4::MIN_HEADER_LEN;
pub const UDP_LEN: usize = udp::HEADER_LEN;
pub const VXLAN_LEN: usize = vxlan::HEADER_LEN;
pub const GENEVE_LEN: usize = geneve::HEADER_LEN;
pub const NVGRE_LEN: usize = gre::HEADER_LEN;
pub const IPV6_LEN: usize = ipv6::HEADER_LEN;

pub const PROTO_ICMP: u8 = 1;
pub const PROTO_TCP: u8 = 6;
pub const PROTO_UDP: u8 = 17;
pub const PROTO_GRE: u8 = gre::PROTO_GRE;
pub const PROTO_ICMPV6: u8 = icmpv6::PROTO_ICMPV6;

pub(crate) use bytes::be16;

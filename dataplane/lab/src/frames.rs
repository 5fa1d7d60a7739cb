//! Deterministic frames for tests and benchmarks: tenant frames for the
//! access side and VXLAN packets as a remote VTEP would send them.

use std::net::Ipv4Addr;

use vtep_dataplane::datapath::buf::{PacketBuf, VecBuf};
use vtep_dataplane::datapath::state::Template;
use vtep_dataplane::datapath::tunnel::{encapsulate, Tunnel};
use vtep_dataplane::wire::{
    EthernetFrame, Ipv4Packet, UdpPacket, ETHERTYPE_IPV4, ETH_LEN, IPV4_LEN, PROTO_UDP,
};

/// The i-th tenant MAC of the benchmarks (02:dd:00:xx:xx:xx, up to 2^24).
pub fn bench_mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [2, 0xdd, 0, b[1], b[2], b[3]]
}

/// An Ethernet/IPv4/UDP tenant frame with `payload` bytes.
pub fn tenant_udp(
    dst: [u8; 6],
    src: [u8; 6],
    sip: Ipv4Addr,
    dip: Ipv4Addr,
    sport: u16,
    dport: u16,
    payload: usize,
) -> Vec<u8> {
    let ip_len = IPV4_LEN + 8 + payload;
    let mut f = vec![0u8; ETH_LEN + ip_len];
    let mut e = EthernetFrame::new_unchecked(&mut f[..]);
    e.set_dst(dst);
    e.set_src(src);
    e.set_ethertype(ETHERTYPE_IPV4);
    let mut h = Ipv4Packet::new_unchecked(e.payload_mut());
    h.init(64, PROTO_UDP, sip, dip, false);
    h.set_total_len(ip_len as u16);
    h.fill_checksum();
    let mut u = UdpPacket::new_unchecked(h.payload_mut());
    u.set_src_port(sport);
    u.set_dst_port(dport);
    u.set_len((8 + payload) as u16);
    for (i, b) in f[ETH_LEN + IPV4_LEN + 8..].iter_mut().enumerate() {
        *b = i as u8;
    }
    f
}

/// `inner` wrapped in VXLAN as the VTEP at `src` (MAC `src_mac`) sends it
/// to the VTEP at `dst` (MAC `dst_mac`).
pub fn vxlan_from(
    src_mac: [u8; 6],
    src: Ipv4Addr,
    dst_mac: [u8; 6],
    dst: Ipv4Addr,
    vni: u32,
    inner: &[u8],
) -> Vec<u8> {
    let t = Template::new(dst_mac, src_mac, src, dst, Tunnel::vxlan(4789), 64, false);
    let mut b = VecBuf::new(inner);
    encapsulate(&mut b, &t, vni, 9000).expect("fixture fits");
    b.data().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_frame_checksum_and_lengths() {
        let f = tenant_udp(
            [2; 6],
            [4; 6],
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 2),
            1,
            2,
            18,
        );
        assert_eq!(f.len(), 60);
        assert!(Ipv4Packet::new_checked(&f[ETH_LEN..])
            .unwrap()
            .checksum_ok());
        let v = vxlan_from(
            [6; 6],
            Ipv4Addr::new(192, 0, 2, 2),
            [8; 6],
            Ipv4Addr::new(192, 0, 2, 1),
            100,
            &f,
        );
        assert_eq!(v.len(), 110);
        assert_eq!(&v[50..], &f[..]);
    }
}

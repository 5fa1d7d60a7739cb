//! Deterministic traffic fixtures written as pcap files: tenant frames for
//! the access side and VXLAN packets as a remote VTEP would send them.
#![forbid(unsafe_code)]

pub mod corpus;
pub mod lab;
pub mod ndr;

use std::fs::File;
use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapWriter};
use vtep_dataplane::buf::{PacketBuf, VecBuf};
use vtep_dataplane::encap::encapsulate;
use vtep_dataplane::state::Template;
use vtep_dataplane::wire::{self, ip, ETH_LEN, IPV4_LEN};

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
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&src);
    wire::put16(&mut f, 12, wire::ETHERTYPE_IPV4);
    let h = &mut f[ETH_LEN..];
    h[ip::VER_IHL] = 0x45;
    wire::put16(h, ip::TOTAL_LEN, ip_len as u16);
    h[ip::TTL] = 64;
    h[ip::PROTO] = wire::PROTO_UDP;
    h[ip::SRC..ip::SRC + 4].copy_from_slice(&sip.octets());
    h[ip::DST..ip::DST + 4].copy_from_slice(&dip.octets());
    let c = wire::checksum(&h[..IPV4_LEN]);
    wire::put16(h, ip::CSUM, c);
    let u = &mut h[IPV4_LEN..];
    wire::put16(u, 0, sport);
    wire::put16(u, 2, dport);
    wire::put16(u, 4, (8 + payload) as u16);
    for (i, b) in u[8..].iter_mut().enumerate() {
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
    let t = Template::new(dst_mac, src_mac, src, dst, 4789, 64, false);
    let mut b = VecBuf::new(inner);
    encapsulate(&mut b, &t, vni, 9000).expect("fixture fits");
    b.data().to_vec()
}

/// Writes frames to a pcap file.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> std::io::Result<()> {
    let mut w = PcapWriter::new(File::create(path)?).map_err(std::io::Error::other)?;
    for f in frames {
        w.write_packet(&PcapPacket::new(Duration::ZERO, f.len() as u32, f))
            .map_err(std::io::Error::other)?;
    }
    Ok(())
}

/// Removes what DPDK leaves for a file prefix (runtime dir, hugepage files).
pub fn remove_dpdk_files(prefix: &str) {
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    if let Ok(rd) = std::fs::read_dir("/dev/hugepages") {
        for e in rd.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{prefix}map_"))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
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
        assert_eq!(wire::checksum(&f[ETH_LEN..ETH_LEN + IPV4_LEN]), 0);
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

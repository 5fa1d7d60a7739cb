//! Fixtures shared by unit tests, fuzz targets and benchmarks: a small but
//! complete forwarding state, built only from the public types.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;
use vtep_config::Vni;

use crate::datapath::state::{AccessState, RemoteState, State, Template, VniSettings, VniState};
use crate::datapath::tunnel::{Tunnel, TunnelIdx, Tunnels, MAX_TUNNELS};

pub const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
pub const OUR_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 2, 2];
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const OUR_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);
pub const PEER_IP6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 2);

/// Two VNIs (100 untagged, 200 on VID 10 of access port 0), one known
/// remote 192.0.2.2 with a resolved template, VTEP 192.0.2.1.
pub fn sample_state() -> State {
    sample_state_with(
        OUR_IP.into(),
        PEER_IP.into(),
        Template::new(
            PEER_MAC,
            OUR_MAC,
            OUR_IP,
            PEER_IP,
            Tunnel::vxlan(4789),
            64,
            true,
        ),
    )
}

/// [`sample_state`] over IPv6: VTEP 2001:db8:1::1, remote 2001:db8:1::2,
/// UDP checksums computed and zero accepted.
pub fn sample_state6() -> State {
    sample_state_with(
        OUR_IP6.into(),
        PEER_IP6.into(),
        Template::new6(
            PEER_MAC,
            OUR_MAC,
            OUR_IP6,
            PEER_IP6,
            Tunnel::vxlan(4789),
            64,
            false,
        ),
    )
}

fn sample_state_with(our_ip: IpAddr, peer: IpAddr, t: Template) -> State {
    let mut vni_index = HashMap::new();
    vni_index.insert(100, 0);
    vni_index.insert(200, 1);
    let mut acc = AccessState::new("acc0");
    acc.untagged = Some(0);
    acc.vlans[10] = Some(1);
    let mut remote_index = HashMap::new();
    remote_index.insert(peer, 0);
    State {
        generation: 1,
        our_ip,
        our_mac: OUR_MAC,
        tunnels: Tunnels::new(&[Tunnel::vxlan(4789)]).expect("one tunnel"),
        mtu: 1500,
        accept_unknown_sources: false,
        strict_reserved: false,
        vnis: vec![
            Some(VniState::new(VniSettings {
                vni: Vni::new(100).unwrap(),
                learning: true,
                learn_underlay: true,
                arp_suppress: false,
                flood: vec![0],
                group: None,
                ports: vec![(0, None)],
                police: None,
                tunnel: 0,
            })),
            Some(VniState::new(VniSettings {
                vni: Vni::new(200).unwrap(),
                learning: true,
                learn_underlay: true,
                arp_suppress: false,
                flood: vec![0],
                group: None,
                ports: vec![(0, Some(10))],
                police: None,
                tunnel: 0,
            })),
        ],
        vni_index,
        access: vec![acc],
        remotes: vec![Some(RemoteState::new(peer, Some(t)))],
        remote_index,
        udp6_zero_rx: true,
        kernel: false,
        arp: HashMap::new(),
        ports_down: 0,
        groups: Vec::new(),
    }
}

/// [`sample_state`] (or over IPv6 [`sample_state6`]) with `tunnels`, VNI
/// 100 on tunnel `vni_tunnels[0]` and 200 on `vni_tunnels[1]`, and the
/// remote's template for each tunnel (IPv6: UDP checksums computed).
pub fn sample_state_tunnels(v6: bool, tunnels: &[Tunnel], vni_tunnels: [TunnelIdx; 2]) -> State {
    let mut st = if v6 { sample_state6() } else { sample_state() };
    st.tunnels = Tunnels::new(tunnels).expect("valid tunnels");
    let mut templates = [None; MAX_TUNNELS];
    for (slot, t) in templates.iter_mut().zip(tunnels) {
        *slot = Some(if v6 {
            Template::new6(PEER_MAC, OUR_MAC, OUR_IP6, PEER_IP6, *t, 64, false)
        } else {
            Template::new(PEER_MAC, OUR_MAC, OUR_IP, PEER_IP, *t, 64, true)
        });
    }
    if let Some(Some(r)) = st.remotes.get_mut(0) {
        r.templates = templates;
    }
    for (v, tun) in st.vnis.iter_mut().zip(vni_tunnels) {
        if let Some(x) = v {
            let mut s = (**x).clone();
            s.tunnel = tun;
            *x = VniState::new(s);
        }
    }
    st
}

/// What the sample remote sends this VTEP through `tunnel`.
pub fn peer_to_us_in(v6: bool, tunnel: Tunnel) -> Template {
    if v6 {
        Template::new6(OUR_MAC, PEER_MAC, PEER_IP6, OUR_IP6, tunnel, 64, false)
    } else {
        Template::new(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, tunnel, 64, false)
    }
}

/// The sample remote's VXLAN template towards this VTEP: what it sends
/// (UDP 4789, TTL 64, DF clear).
pub fn peer_to_us() -> Template {
    Template::new(
        OUR_MAC,
        PEER_MAC,
        PEER_IP,
        OUR_IP,
        Tunnel::vxlan(4789),
        64,
        false,
    )
}

/// This VTEP's VXLAN template towards the sample remote (UDP 4789, TTL
/// 64, DF clear).
pub fn us_to_peer() -> Template {
    Template::new(
        PEER_MAC,
        OUR_MAC,
        OUR_IP,
        PEER_IP,
        Tunnel::vxlan(4789),
        64,
        false,
    )
}

/// A valid config (VTEP 192.0.2.1/24, gateway 192.0.2.254, VNI 100
/// untagged and VNI 200 on VID 10 of net_ring1, flood to 192.0.2.2) with
/// `extra` TOML appended.
pub fn config_text(extra: &str) -> String {
    format!(
        r#"[eal]
args = ["-l", "0-1", "--no-pci", "--no-huge", "--vdev=net_ring0", "--vdev=net_ring1"]
[underlay]
port = "net_ring0"
address = "192.0.2.1/24"
gateway = "192.0.2.254"
mac = "02:00:00:00:01:01"
[[access]]
port = "net_ring1"
vni = 100
vlans = {{ 10 = 200 }}
[[vni]]
id = 100
flood = ["192.0.2.2"]
[[vni]]
id = 200
{extra}"#
    )
}

/// The i-th 60-byte tenant frame of the micro-benchmarks: Ethernet/IPv4/UDP
/// to 02:00:ii:ii:ii:ii, one flow per i (header checksum left 0).
pub fn bench_frame(i: u32) -> Vec<u8> {
    let b = i.to_be_bytes();
    let mut f = vec![2, 0, b[0], b[1], b[2], b[3], 2, 0, 0, 0, 0, 1, 0x08, 0x00];
    f.extend_from_slice(&[
        0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend_from_slice(&[0x1f, b[3], 0, 80, 0, 26, 0, 0]);
    f.resize(60, 0);
    f
}

/// A TCP port on 127.0.0.1 that was free a moment ago (for test servers).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// Plain byte buffers as forwarded packets (one segment, no NIC verdicts).
impl crate::datapath::forward::Packet for crate::datapath::buf::VecBuf {
    fn segments(&self) -> u16 {
        1
    }
}

/// An [`Io`](crate::datapath::forward::Io) over plain buffers that keeps what would
/// be sent in `sent` (for the caller to reuse): the whole forwarding path
/// without DPDK, for instruction counts and benchmarks.
#[derive(Debug, Default)]
pub struct SinkIo {
    pub access: u64,
    pub underlay: u64,
    pub sent: Vec<crate::datapath::buf::VecBuf>,
}

impl crate::datapath::forward::Io for SinkIo {
    type Pkt = crate::datapath::buf::VecBuf;
    type Copies = std::vec::IntoIter<crate::datapath::buf::VecBuf>;

    fn copy(&mut self, src: &Self::Pkt) -> Option<Self::Pkt> {
        use crate::datapath::buf::PacketBuf;
        Some(crate::datapath::buf::VecBuf::new(src.data()))
    }
    fn copies(&mut self, src: &Self::Pkt, n: usize) -> Option<Self::Copies> {
        use crate::datapath::buf::PacketBuf;
        let copies: Vec<_> = (0..n)
            .map(|_| crate::datapath::buf::VecBuf::new(src.data()))
            .collect();
        Some(copies.into_iter())
    }
    fn can_share(&self) -> bool {
        true
    }
    fn shared(&mut self, src: &Self::Pkt, header: &[u8]) -> Option<Self::Pkt> {
        use crate::datapath::buf::PacketBuf;
        let mut b = header.to_vec();
        b.extend_from_slice(src.data());
        Some(crate::datapath::buf::VecBuf::new(&b))
    }
    // Inlined as the worker's queues are, so that instruction counts
    // measure the forwarding path, not calls into the sink.
    #[inline(always)]
    fn send_access(
        &mut self,
        _port: u16,
        p: Self::Pkt,
        is_copy: bool,
        t: &mut crate::datapath::stats::Tally,
    ) {
        t.flood_copies += u64::from(is_copy);
        self.access += 1;
        self.sent.push(p);
    }
    #[inline(always)]
    fn send_underlay(
        &mut self,
        p: Self::Pkt,
        is_copy: bool,
        t: &mut crate::datapath::stats::Tally,
    ) {
        t.flood_copies += u64::from(is_copy);
        self.underlay += 1;
        self.sent.push(p);
    }
    fn punt(&mut self, p: Self::Pkt) -> Result<(), Self::Pkt> {
        Err(p)
    }
}

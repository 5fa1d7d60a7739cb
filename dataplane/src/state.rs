//! The read-only state workers forward with: VNIs, access ports, remote
//! VTEPs with their prebuilt outer headers, ARP-suppression bindings. The
//! management thread builds a new [`State`] on every change and publishes
//! it with `arc_swap`; workers load it once per burst.

use std::net::Ipv4Addr;
use std::sync::Arc;

use hashbrown::HashMap;
use vtep_config::Vni;

use crate::fdb::VniIdx;
use crate::police::VniPolice;
use crate::wire::{
    EthernetFrame, Ipv4Packet, UdpPacket, VxlanHeader, ETHERTYPE_IPV4, ETH_LEN, IPV4_LEN,
    OUTER_LEN, PROTO_UDP, UDP_LEN,
};

/// One configured VNI.
#[derive(Debug, Clone)]
pub struct VniState {
    pub vni: Vni,
    pub learning: bool,
    pub arp_suppress: bool,
    /// Remote indexes of the head-end replication list.
    pub flood: Vec<u32>,
    /// Access ports carrying this VNI, with the VID they tag it with.
    pub ports: Vec<(u16, Option<u16>)>,
    /// Bandwidth limits and storm control, if configured.
    pub police: Option<Arc<VniPolice>>,
}

/// One access port.
#[derive(Debug, Clone)]
pub struct AccessState {
    pub name: String,
    pub untagged: Option<VniIdx>,
    /// VID -> VNI index; 4096 entries so classification is one load.
    pub vlans: Box<[Option<VniIdx>]>,
}

impl AccessState {
    pub fn new(name: &str) -> AccessState {
        AccessState {
            name: name.into(),
            untagged: None,
            vlans: vec![None; 4096].into_boxed_slice(),
        }
    }
}

/// A remote VTEP and the outer header that reaches it.
#[derive(Debug, Clone)]
pub struct RemoteState {
    pub ip: Ipv4Addr,
    /// None while its next hop's MAC is unresolved.
    pub template: Option<Template>,
}

/// Outer Ethernet/IPv4/UDP/VXLAN header built once per remote; per packet
/// only lengths, checksum, source port and VNI are patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    pub bytes: [u8; OUTER_LEN],
    /// Ones'-complement sum of the IPv4 header with length and checksum 0.
    pub ip_sum: u32,
}

impl Template {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dst_mac: [u8; 6],
        src_mac: [u8; 6],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        udp_port: u16,
        ttl: u8,
        df: bool,
    ) -> Template {
        let mut b = [0u8; OUTER_LEN];
        let (l2, rest) = b.split_at_mut(ETH_LEN);
        let (l3, rest) = rest.split_at_mut(IPV4_LEN);
        let (l4, vx) = rest.split_at_mut(UDP_LEN);
        let mut e = EthernetFrame::new_unchecked(l2);
        e.set_dst(dst_mac);
        e.set_src(src_mac);
        e.set_ethertype(ETHERTYPE_IPV4);
        let mut ip = Ipv4Packet::new_unchecked(l3);
        ip.init(ttl, PROTO_UDP, src, dst, df);
        let ip_sum = ip.partial_sum();
        UdpPacket::new_unchecked(l4).set_dst_port(udp_port);
        VxlanHeader::new_unchecked(vx).init(0);
        Template { bytes: b, ip_sum }
    }
}

/// Everything a worker needs, immutable once published.
#[derive(Debug, Clone)]
pub struct State {
    pub generation: u64,
    pub our_ip: Ipv4Addr,
    pub our_mac: [u8; 6],
    pub udp_port: u16,
    pub mtu: u16,
    pub accept_unknown_sources: bool,
    pub strict_reserved: bool,
    pub vnis: Vec<Option<VniState>>,
    pub vni_index: HashMap<u32, VniIdx>,
    pub access: Vec<AccessState>,
    pub remotes: Vec<Option<RemoteState>>,
    pub remote_index: HashMap<Ipv4Addr, u32>,
    /// ARP suppression bindings: (VNI index, IP) -> MAC.
    pub arp: HashMap<(VniIdx, Ipv4Addr), [u8; 6]>,
}

impl State {
    #[inline(always)]
    pub fn vni(&self, i: VniIdx) -> Option<&VniState> {
        self.vnis.get(i as usize).and_then(Option::as_ref)
    }

    #[inline(always)]
    pub fn remote(&self, i: u32) -> Option<&RemoteState> {
        self.remotes.get(i as usize).and_then(Option::as_ref)
    }
}

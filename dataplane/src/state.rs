//! The read-only state workers forward with: VNIs, access ports, remote
//! VTEPs with their prebuilt outer headers, ARP-suppression bindings. The
//! management thread builds a new [`State`] on every change and publishes
//! it with `arc_swap`; workers load it once per burst.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use hashbrown::HashMap;
use vtep_config::Vni;

use crate::fdb::VniIdx;
use crate::police::VniPolice;
use crate::wire::{
    csum_add, EthernetFrame, Ipv4Packet, Ipv6Packet, UdpPacket, VxlanHeader, ETHERTYPE_IPV4,
    ETHERTYPE_IPV6, ETH_LEN, IPV4_LEN, IPV6_LEN, OUTER6_LEN, OUTER_LEN, PROTO_UDP, UDP_LEN,
};

/// What a VNI is configured to do, as the workers read it.
#[derive(Debug, Clone)]
pub struct VniSettings {
    pub vni: Vni,
    /// Learn source MACs from access ports.
    pub learning: bool,
    /// Learn source MACs behind remote VTEPs (off under EVPN).
    pub learn_underlay: bool,
    pub arp_suppress: bool,
    /// Remote indexes of the head-end replication list.
    pub flood: Vec<u32>,
    /// Access ports carrying this VNI, with the VID they tag it with.
    pub ports: Vec<(u16, Option<u16>)>,
    /// Bandwidth limits and storm control, if configured.
    pub police: Option<Arc<VniPolice>>,
}

impl VniSettings {
    /// The VID access port `p` tags this VNI with (None: untagged);
    /// None if the port does not carry the VNI.
    #[inline(always)]
    pub fn vid_on(&self, p: u16) -> Option<Option<u16>> {
        self.ports.iter().find(|(q, _)| *q == p).map(|(_, v)| *v)
    }
}

/// One configured VNI: its settings (read through `Deref`, never changed
/// once published) and the fast paths they allow, decided with them.
#[derive(Debug, Clone)]
pub struct VniState {
    settings: VniSettings,
    fast: FastPaths,
}

impl VniState {
    pub fn new(settings: VniSettings) -> VniState {
        VniState {
            fast: FastPaths::of(&settings),
            settings,
        }
    }

    /// The fast paths that may serve this VNI.
    #[inline(always)]
    pub fn fast(&self) -> FastPaths {
        self.fast
    }
}

impl std::ops::Deref for VniState {
    type Target = VniSettings;

    #[inline(always)]
    fn deref(&self) -> &VniSettings {
        &self.settings
    }
}

/// Which known-unicast fast paths may serve a VNI. A fast path is the
/// general path with work removed, so it may serve a VNI only when none
/// of the VNI's settings asks for the work it removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FastPaths {
    /// Access port to remote VTEP (`encap_known`).
    pub encap: bool,
    /// Remote VTEP to access port (`decap_known`).
    pub decap: bool,
}

impl FastPaths {
    /// The decision, from every setting: the destructuring names each
    /// field, so a new setting does not compile until its effect on the
    /// fast paths is decided here.
    pub fn of(s: &VniSettings) -> FastPaths {
        let VniSettings {
            // The VNI's number and index: the fast paths write and count it.
            vni: _,
            // Learning is one of the fast paths' two loops (encap) or a
            // branch (decap), with the general path's checks.
            learning: _,
            learn_underlay: _,
            // Snooping reads every frame, and answering takes requests.
            arp_suppress,
            // Known unicast neither floods nor reaches another port.
            flood: _,
            ports: _,
            police,
        } = s;
        // Storm control limits floods only: known unicast passes it.
        let limited = |dir: fn(&VniPolice) -> bool| police.as_deref().is_some_and(dir);
        FastPaths {
            encap: !arp_suppress && !limited(|p| p.encap.is_some()),
            decap: !arp_suppress && !limited(|p| p.decap.is_some()),
        }
    }
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
    pub ip: IpAddr,
    /// None while its next hop's MAC is unresolved.
    pub template: Option<Template>,
}

/// Outer Ethernet/IPv4/UDP/VXLAN (or Ethernet/IPv6/UDP/VXLAN) header
/// built once per remote; per packet only lengths, checksums, source port,
/// flow label and VNI are patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The header: the first [`Template::len`] bytes.
    pub bytes: [u8; OUTER6_LEN],
    /// [`OUTER_LEN`] over IPv4, [`OUTER6_LEN`] over IPv6.
    pub len: usize,
    /// IPv4: ones'-complement sum of the IPv4 header with length and
    /// checksum 0. IPv6: sum of the UDP checksum's constant words (the
    /// pseudo-header's addresses and next header, the destination port,
    /// the VXLAN flags).
    pub ip_sum: u32,
    pub v6: bool,
    /// IPv6: send a zero UDP checksum (RFC 6935) instead of computing it.
    pub zero_csum: bool,
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
        let mut b = [0u8; OUTER6_LEN];
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
        Template {
            bytes: b,
            len: OUTER_LEN,
            ip_sum,
            v6: false,
            zero_csum: true,
        }
    }

    /// The IPv6 template: hop limit `hop`, flow label and lengths per
    /// packet, the UDP checksum computed per packet unless `zero_csum`.
    pub fn new6(
        dst_mac: [u8; 6],
        src_mac: [u8; 6],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        udp_port: u16,
        hop: u8,
        zero_csum: bool,
    ) -> Template {
        let mut b = [0u8; OUTER6_LEN];
        let (l2, rest) = b.split_at_mut(ETH_LEN);
        let (l3, rest) = rest.split_at_mut(IPV6_LEN);
        let (l4, vx) = rest.split_at_mut(UDP_LEN);
        let mut e = EthernetFrame::new_unchecked(l2);
        e.set_dst(dst_mac);
        e.set_src(src_mac);
        e.set_ethertype(ETHERTYPE_IPV6);
        let mut ip = Ipv6Packet::new_unchecked(l3);
        ip.init(hop, PROTO_UDP, src, dst);
        let pseudo = ip.pseudo_sum(0, PROTO_UDP);
        UdpPacket::new_unchecked(l4).set_dst_port(udp_port);
        VxlanHeader::new_unchecked(&mut *vx).init(0);
        // Destination port and the VXLAN flags word; the VNI is per packet.
        let ip_sum = csum_add(
            pseudo,
            &[(udp_port >> 8) as u8, udp_port as u8, vx[0], vx[1]],
        );
        Template {
            bytes: b,
            len: OUTER6_LEN,
            ip_sum,
            v6: true,
            zero_csum,
        }
    }

    /// The outer IP packet's length for an inner frame of `inner` bytes.
    #[inline(always)]
    pub fn ip_len(&self, inner: usize) -> usize {
        inner + self.len - ETH_LEN
    }
}

/// Everything a worker needs, immutable once published.
#[derive(Debug, Clone)]
pub struct State {
    pub generation: u64,
    pub our_ip: IpAddr,
    pub our_mac: [u8; 6],
    pub udp_port: u16,
    pub mtu: u16,
    pub accept_unknown_sources: bool,
    pub strict_reserved: bool,
    pub vnis: Vec<Option<VniState>>,
    pub vni_index: HashMap<u32, VniIdx>,
    pub access: Vec<AccessState>,
    pub remotes: Vec<Option<RemoteState>>,
    pub remote_index: HashMap<IpAddr, u32>,
    /// IPv6 underlay: accept VXLAN with a zero UDP checksum.
    pub udp6_zero_rx: bool,
    /// `[underlay] kernel_port` is set: frames to the VTEP that are not
    /// VXLAN go to the kernel instead of being dropped.
    pub kernel: bool,
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

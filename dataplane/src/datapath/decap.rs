//! Underlay side: check an arriving frame against this VTEP's rules, in
//! order — Ethernet, IPv4 or IPv6, UDP, the tunnel's header (its own
//! checks, in [`crate::datapath::tunnel`]), source, inner frame — and say what it
//! is. Every failure is a named drop.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use dpdk::RxCsum;

use crate::datapath::drops::DropReason;
use crate::datapath::fdb::VniIdx;
use crate::datapath::state::State;
use crate::datapath::tunnel::{geneve, nvgre, vxlan, Encap, TunnelIdx};
use crate::wire::ethernet;
use crate::wire::icmp::IcmpEcho;
use crate::wire::icmpv6::{self, Nd};
use crate::wire::igmp;
use crate::wire::ipv4::Ipv4Error;
use crate::wire::ipv6::{self, Ipv6Error};
use crate::wire::{
    be16, csum_add, csum_fold, group_mac, Arp, EthernetFrame, Ipv4Packet, Ipv6Packet, UdpPacket,
    ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_LEN,
    GENEVE_LEN, IPV4_LEN, IPV6_LEN, NVGRE_LEN, PROTO_GRE, PROTO_ICMP, PROTO_ICMPV6, PROTO_UDP,
    UDP_LEN, VXLAN_LEN,
};

/// What an underlay frame is, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Underlay {
    /// A tunnel packet for us: the inner frame is
    /// `inner_off..inner_off + inner_len`.
    Tunnel {
        vni: VniIdx,
        /// Index of the sending VTEP; None for one that is not a known
        /// remote (accepted with `accept_unknown_sources`; its address
        /// is [`outer_source`]).
        remote: Option<u32>,
        inner_off: usize,
        inner_len: usize,
        reserved_set: bool,
    },
    /// ARP for the VTEP address (request or reply): for the management thread.
    Arp,
    /// ICMP echo request to the VTEP address: for the management thread.
    Echo,
    /// IPv6 neighbour solicitation for the VTEP address, any neighbour
    /// advertisement, or ICMPv6 echo request to it: for the management
    /// thread.
    Icmp6,
    /// An IGMP or MLD message to all systems or nodes, or to one of the
    /// VNIs' groups (a query, for the management thread; a VTEP with no
    /// group leaves these to the kernel or drops them).
    Membership,
    /// Anything else to the VTEP's address (or, over IPv6, its kernel
    /// interface's link-local address) when `[underlay] kernel_port` is
    /// set: for the kernel, through the management thread.
    Kernel,
}

/// The verdict on a frame to the VTEP that is not VXLAN: the kernel's
/// when there is an exception path, else the drop `r`.
#[inline(always)]
fn to_kernel(st: &State, r: DropReason) -> Result<Underlay, DropReason> {
    if st.kernel {
        Ok(Underlay::Kernel)
    } else {
        Err(r)
    }
}

/// The outer source address of a frame [`classify_underlay`] accepted as
/// VXLAN (read again only for VTEPs that are not known remotes).
pub fn outer_source(d: &[u8]) -> Option<IpAddr> {
    let e = EthernetFrame::new_checked(d)?;
    match e.ethertype() {
        ETHERTYPE_IPV4 => Ipv4Packet::new_checked(e.payload())
            .ok()
            .map(|ip| IpAddr::V4(ip.src())),
        ETHERTYPE_IPV6 => Ipv6Packet::new_checked(e.payload())
            .ok()
            .map(|ip| IpAddr::V6(ip.src())),
        _ => None,
    }
}

/// Caches of the two per-packet table lookups of decap (VNI -> index,
/// source IP -> remote): one entry each, and for the fast path's IPv4
/// sources a small direct-mapped table, since a burst often interleaves
/// a few remotes. Valid for one published [`State`] (its generation is
/// checked).
#[derive(Debug, Clone, Copy)]
pub struct DecapCache {
    generation: u64,
    /// A VNI, its index and its tunnel.
    vni: Option<(u32, VniIdx, TunnelIdx)>,
    src: Option<(IpAddr, Option<u32>)>,
    /// The fast path's IPv4 sources, direct-mapped by [`src4_way`]: a
    /// burst from a few remotes, interleaved, finds each here.
    src4s: [(u32, Option<u32>); SRC4_WAYS],
    /// Local destinations of decapsulated frames, direct-mapped by FDB
    /// key: (key, FDB version, access port). A VTEP's local MACs are few.
    dsts: [(u64, u64, u16); DST_WAYS],
}

impl Default for DecapCache {
    fn default() -> DecapCache {
        DecapCache {
            generation: 0,
            vni: None,
            src: None,
            // A way holding address 0 is empty: it is never taken as a hit.
            src4s: [(0, None); SRC4_WAYS],
            // No FDB key is 0.
            dsts: [(0, 0, 0); DST_WAYS],
        }
    }
}

impl DecapCache {
    /// Empties the cache if `st` is not the state it was filled from.
    #[inline(always)]
    fn follow(&mut self, st: &State) {
        if self.generation != st.generation {
            *self = DecapCache {
                generation: st.generation,
                ..DecapCache::default()
            };
        }
    }

    /// The access port the FDB gave for key `k` at version `version` (see
    /// [`FdbTable::version`]), if remembered.
    ///
    /// [`FdbTable::version`]: crate::datapath::fdb::FdbTable::version
    #[inline(always)]
    pub(crate) fn local(&self, k: u64, version: u64) -> Option<u16> {
        let w = &self.dsts[dst_way(k)];
        (w.0 == k && w.1 == version).then_some(w.2)
    }

    /// VNI `vni`'s index and tunnel ([`State::vni_tunnel`]), remembered
    /// for the next packet.
    #[inline(always)]
    fn vni_tunnel(&mut self, st: &State, vni: u32) -> Option<(VniIdx, TunnelIdx)> {
        if let Some((v, i, t)) = self.vni {
            if v == vni {
                return Some((i, t));
            }
        }
        let (i, t) = st.vni_tunnel(vni)?;
        self.vni = Some((vni, i, t));
        Some((i, t))
    }

    /// The remote index of source `src`, remembered for the next packet.
    #[inline(always)]
    fn remote(&mut self, st: &State, src: IpAddr) -> Option<u32> {
        match self.src {
            Some((ip, r)) if ip == src => r,
            _ => {
                let r = st.remote_index.get(&src).copied();
                self.src = Some((src, r));
                r
            }
        }
    }

    /// Remembers that the FDB had key `k` on access port `p` at `version`.
    #[inline(always)]
    pub(crate) fn remember(&mut self, k: u64, version: u64, p: u16) {
        self.dsts[dst_way(k)] = (k, version, p);
    }
}

const DST_WAYS: usize = 32;

/// The way of FDB key `k`: the MAC's last byte folded with its OUI's.
#[inline(always)]
fn dst_way(k: u64) -> usize {
    (k ^ (k >> 24)) as usize % DST_WAYS
}

const SRC4_WAYS: usize = 64;

/// The way of IPv4 source `ip` (as a word): its low bits, folded with the
/// next byte's. Remotes numbered from one subnet fill distinct ways.
#[inline(always)]
fn src4_way(ip: u32) -> usize {
    (ip ^ (ip >> 8)) as usize % SRC4_WAYS
}

/// Classifies an underlay frame.
#[inline(always)]
pub fn classify_underlay(d: &[u8], st: &State) -> Result<Underlay, DropReason> {
    classify_underlay_cached(d, RxCsum::Unknown, st, &mut DecapCache::default())
}

/// [`classify_underlay`] with lookups remembered across packets, and the
/// NIC's verdict on the underlay's outer checksum: the IPv4 header's
/// (`Bad` drops as `ipv4_bad_checksum`), or over IPv6 the UDP one (`Bad`
/// drops as `udp_bad_checksum`); `Good` skips the software check.
#[inline(always)]
pub fn classify_underlay_cached(
    d: &[u8],
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
) -> Result<Underlay, DropReason> {
    cache.follow(st);
    match fast(d, csum, st, cache) {
        Some(u) => Ok(u),
        None => classify_steps(d, csum, st, cache),
    }
}

/// [`classify_underlay_cached`]'s common case alone: VXLAN from a known
/// remote, as (VNI, remote, inner offset, inner length, reserved bits
/// set); None for anything else, which that function then classifies.
/// `V6` is the underlay's IP version (the caller's loop is made for one:
/// a loop that may call the other version's path keeps its state in
/// memory, not registers).
#[inline(always)]
pub(crate) fn classify_known<const V6: bool>(
    d: &[u8],
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
) -> Option<(VniIdx, u32, usize, usize, bool)> {
    cache.follow(st);
    let u = match (V6, st.our_ip) {
        (false, IpAddr::V4(ours)) => fast4(d, ours, csum, st, cache),
        (true, IpAddr::V6(ours)) => fast6(d, ours, csum, st, cache),
        _ => None,
    };
    match u? {
        Underlay::Tunnel {
            vni,
            remote: Some(r),
            inner_off,
            inner_len,
            reserved_set,
        } => Some((vni, r, inner_off, inner_len, reserved_set)),
        _ => None,
    }
}

/// The common case of the underlay's IP version ([`fast4`], [`fast6`]).
#[inline(always)]
fn fast(d: &[u8], csum: RxCsum, st: &State, cache: &mut DecapCache) -> Option<Underlay> {
    match st.our_ip {
        IpAddr::V4(ours) => fast4(d, ours, csum, st, cache),
        IpAddr::V6(ours) => fast6(d, ours, csum, st, cache),
    }
}

/// Offsets of the common case, from the `wire` views' fields: Ethernet,
/// IPv4 without options, UDP, and the tunnel header after it.
mod at {
    use crate::wire::{ethernet, ipv4, udp, ETH_LEN, IPV4_LEN};
    pub const TYPE: usize = ethernet::field::TYPE;
    const IP: usize = ETH_LEN;
    pub const VER_IHL: usize = IP + ipv4::field::VER_IHL;
    pub const TOTAL_LEN: usize = IP + ipv4::field::TOTAL_LEN;
    pub const FRAG: usize = IP + ipv4::field::FRAG;
    pub const PROTO: usize = IP + ipv4::field::PROTO;
    pub const SRC: usize = IP + ipv4::field::SRC;
    pub const DST: usize = IP + ipv4::field::DST;
    pub const UDP: usize = IP + IPV4_LEN;
    pub const DPORT: usize = UDP + udp::field::DPORT;
    pub const ULEN: usize = UDP + udp::field::LEN;
    pub const TUN: usize = UDP + udp::HEADER_LEN;
}

/// The prefix the fast path reads: up to the inner Ethernet header after
/// an 8-byte tunnel header.
const FAST_LEN: usize = at::TUN + 8 + ETH_LEN;

/// The common case in one pass over a fixed prefix (Ethernet, IPv4
/// without options, UDP, the tunnel header and the inner Ethernet
/// header): a tunnel packet to us that [`classify_steps`] would accept,
/// with the same result. None for anything else, which the step-by-step
/// classifier then accepts or names the drop of (VPP's vxlan4 input does
/// the same with its tunnel key compare). A property test holds the two
/// to the same answers.
#[inline(always)]
fn fast4(
    d: &[u8],
    ours: Ipv4Addr,
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
) -> Option<Underlay> {
    let h: &[u8; FAST_LEN] = d.first_chunk()?;
    let ip_len = be16(h, at::TOTAL_LEN) as usize;
    // Ethernet to our MAC, IPv4 with a 20-byte header, not a fragment, to
    // our address, room for a tunnel header and an inner Ethernet header.
    if h[..6] != st.our_mac
        || be16(h, at::TYPE) != ETHERTYPE_IPV4
        || h[at::VER_IHL] != 0x45
        || be16(h, at::FRAG) & 0x3fff != 0
        || !(FAST_LEN..=d.len()).contains(&(ip_len + ETH_LEN))
        || h[at::DST..at::DST + 4] != ours.octets()
    {
        return None;
    }
    if h[at::PROTO] != PROTO_UDP {
        return fast4_gre(h, csum, st, cache);
    }
    // UDP whose length is the IP payload's, to a tunnel's port.
    if be16(h, at::ULEN) as usize + IPV4_LEN != ip_len {
        return None;
    }
    let (tun, encap) = st.tunnel_on(be16(h, at::DPORT))?;
    // Each tail is built for its inner offset: reads at constant offsets.
    let (vni, reserved_set) = fast_tunnel_header(&h[at::TUN..], encap, st)?;
    fast4_inner::<{ at::TUN + VXLAN_LEN }>(h, csum, st, cache, tun, vni, reserved_set)
}

/// The fast paths' VXLAN or Geneve header at the start of `t`: its VNI,
/// and whether VXLAN's reserved bits are set. Both headers are as long,
/// so the inner frame follows at one offset. None for NVGRE (not on UDP)
/// and for what the fast header readers refuse.
#[inline(always)]
fn fast_tunnel_header(t: &[u8], encap: Encap, st: &State) -> Option<(u32, bool)> {
    const _: () = assert!(VXLAN_LEN == GENEVE_LEN);
    match encap {
        Encap::Vxlan => vxlan::fast_header(t.first_chunk()?, st.strict_reserved),
        Encap::Geneve => Some((geneve::fast_header(t.first_chunk()?)?, false)),
        Encap::Nvgre => None,
    }
}

/// [`fast4`] for GRE, which sits where UDP would: NVGRE's tunnel.
#[inline(never)]
fn fast4_gre(
    h: &[u8; FAST_LEN],
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
) -> Option<Underlay> {
    if h[at::PROTO] != PROTO_GRE {
        return None;
    }
    let tun = st.tunnels.gre()?;
    let vni = nvgre::fast_header(h[at::UDP..].first_chunk()?)?;
    fast4_inner::<{ at::UDP + NVGRE_LEN }>(h, csum, st, cache, tun, vni, false)
}

/// [`fast4`] from the tunnel header on: the inner frame at `INNER` of the
/// prefix `h` (the IP length checked against it), the IPv4 header's
/// checksum, the VNI of tunnel `tun`, the source.
#[inline(always)]
fn fast4_inner<const INNER: usize>(
    h: &[u8; FAST_LEN],
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
    tun: TunnelIdx,
    vni: u32,
    reserved_set: bool,
) -> Option<Underlay> {
    const { assert!(INNER + ETH_LEN <= FAST_LEN) };
    let inner = INNER;
    let ip_len = be16(h, at::TOTAL_LEN) as usize;
    let csum_ok = match csum {
        RxCsum::Good => true,
        RxCsum::Bad => false,
        RxCsum::Unknown => {
            // Five 32-bit words, folded: all ones when the checksum is right.
            // Native-order words: a ones' complement sum of byte-swapped
            // words is the byte-swapped sum (RFC 1071), and all ones is
            // its own swap.
            let w = |i: usize| u32::from_ne_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]]) as u64;
            let s =
                w(ETH_LEN) + w(ETH_LEN + 4) + w(ETH_LEN + 8) + w(ETH_LEN + 12) + w(ETH_LEN + 16);
            let s = (s & 0xffff_ffff) + (s >> 32);
            let s = (s & 0xffff) + (s >> 16);
            let s = (s & 0xffff) + (s >> 16);
            let s = (s & 0xffff) + (s >> 16);
            s == 0xffff
        }
    };
    if !csum_ok || !inner_fast(h, inner) {
        return None;
    }
    let (vni, vtun) = cache.vni_tunnel(st, vni)?;
    if vtun != tun {
        return None;
    }
    let s4 = u32::from_be_bytes([h[at::SRC], h[at::SRC + 1], h[at::SRC + 2], h[at::SRC + 3]]);
    let way = &mut cache.src4s[src4_way(s4)];
    let remote = if way.0 == s4 && s4 != 0 {
        way.1
    } else {
        let r = st
            .remote_index
            .get(&IpAddr::V4(Ipv4Addr::from(s4)))
            .copied();
        *way = (s4, r);
        r
    };
    if remote.is_none() && !st.accept_unknown_sources {
        return None;
    }
    Some(Underlay::Tunnel {
        vni,
        remote,
        inner_off: inner,
        inner_len: ip_len + ETH_LEN - inner,
        reserved_set,
    })
}

/// The inner Ethernet header at `inner` of `h`, as [`tunneled`] takes it:
/// not 802.1Q/802.1ad, from a unicast, non-zero source.
#[inline(always)]
fn inner_fast<const N: usize>(h: &[u8; N], inner: usize) -> bool {
    let iet = be16(h, inner + ethernet::field::TYPE);
    let src = inner + ethernet::field::SRC.start;
    iet != ETHERTYPE_VLAN && iet != ETHERTYPE_QINQ && h[src] & 1 == 0 && h[src..src + 6] != [0; 6]
}

/// Offsets of the IPv6 common case: Ethernet, IPv6 without extension
/// headers, UDP, the tunnel header after it.
mod at6 {
    use crate::wire::{ipv6, udp, ETH_LEN, IPV6_LEN};
    const IP: usize = ETH_LEN;
    pub const VER: usize = IP + ipv6::field::VER_TC_FL;
    pub const PLEN: usize = IP + ipv6::field::PAYLOAD_LEN;
    pub const NEXT: usize = IP + ipv6::field::NEXT;
    pub const SRC: usize = IP + ipv6::field::SRC;
    pub const DST: usize = IP + ipv6::field::DST;
    pub const UDP: usize = IP + IPV6_LEN;
    pub const DPORT: usize = UDP + udp::field::DPORT;
    pub const ULEN: usize = UDP + udp::field::LEN;
    pub const CSUM: usize = UDP + udp::field::CSUM;
    pub const TUN: usize = UDP + udp::HEADER_LEN;
}

/// [`FAST_LEN`] over IPv6.
const FAST6_LEN: usize = at6::TUN + VXLAN_LEN + ETH_LEN;

/// [`fast4`] over IPv6: VXLAN or Geneve (without options) in UDP straight
/// after the IPv6 header, to our address, with a right UDP checksum (or
/// zero, where accepted), from a known remote (or any, where accepted).
/// The checksum's one pass covers the pseudo-header's addresses, which
/// sit just before the UDP header. None for anything else, NVGRE
/// included, which [`classify_steps`] then takes; a property test holds
/// the two to the same answers.
#[inline(always)]
fn fast6(
    d: &[u8],
    ours: Ipv6Addr,
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
) -> Option<Underlay> {
    let h: &[u8; FAST6_LEN] = d.first_chunk()?;
    let plen = be16(h, at6::PLEN) as usize;
    // Ethernet to our MAC, IPv6 to our address (a link-local one is the
    // kernel's when it has an interface), UDP whose length is the
    // payload's, room for a tunnel header and an inner Ethernet header.
    if h[..6] != st.our_mac
        || be16(h, at::TYPE) != ETHERTYPE_IPV6
        || h[at6::VER] >> 4 != 6
        || h[at6::NEXT] != PROTO_UDP
        || !(FAST6_LEN..=d.len()).contains(&(plen + at6::UDP))
        || be16(h, at6::ULEN) as usize != plen
        || h[at6::DST..at6::DST + 16] != ours.octets()
        || st.kernel && ours.is_unicast_link_local()
    {
        return None;
    }
    let (tun, encap) = st.tunnel_on(be16(h, at6::DPORT))?;
    let (vni, reserved_set) = fast_tunnel_header(&h[at6::TUN..], encap, st)?;
    const INNER: usize = at6::TUN + VXLAN_LEN;
    if !inner_fast(h, INNER) {
        return None;
    }
    if be16(h, at6::CSUM) == 0 {
        if !st.udp6_zero_rx {
            return None;
        }
    } else {
        match csum {
            RxCsum::Good => {}
            RxCsum::Bad => return None,
            RxCsum::Unknown => {
                // Addresses, UDP header and payload in one pass; the
                // pseudo-header's length and next header added as words.
                let s = csum_add(
                    plen as u32 + PROTO_UDP as u32,
                    d.get(at6::SRC..at6::UDP + plen)?,
                );
                if csum_fold(s) != 0 {
                    return None;
                }
            }
        }
    }
    let (vni, vtun) = cache.vni_tunnel(st, vni)?;
    if vtun != tun {
        return None;
    }
    let src = IpAddr::V6(Ipv6Addr::from(*h[at6::SRC..].first_chunk::<16>()?));
    let remote = cache.remote(st, src);
    if remote.is_none() && !st.accept_unknown_sources {
        return None;
    }
    Some(Underlay::Tunnel {
        vni,
        remote,
        inner_off: INNER,
        inner_len: plen + at6::UDP - INNER,
        reserved_set,
    })
}

/// Every check in order, each failure a named drop.
#[inline(never)]
fn classify_steps(
    d: &[u8],
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
) -> Result<Underlay, DropReason> {
    let e = EthernetFrame::new_checked(d).ok_or(DropReason::UnderlayRunt)?;
    let to_us = e.dst() == st.our_mac;
    let et = e.ethertype();
    if et == ETHERTYPE_ARP {
        if !to_us && e.dst() != [0xff; 6] {
            return Err(DropReason::UnderlayNotOurMac);
        }
        let a = Arp::parse(e.payload()).ok_or(DropReason::ArpInvalid)?;
        // A gratuitous ARP (sender and target the same address) announces
        // a neighbour's MAC, e.g. a replaced router's: management applies
        // it to the next hops it knows.
        if IpAddr::V4(a.tpa) != st.our_ip && a.spa != a.tpa {
            return Err(DropReason::NotOurIp);
        }
        return Ok(Underlay::Arp);
    }
    if et == ETHERTYPE_IPV6 {
        if let IpAddr::V6(ours) = st.our_ip {
            return classify6(e.payload(), to_us, e.dst(), ours, csum, st, cache);
        }
    }
    // A multicast MAC may be a VNI's group's (RFC 7348 §4.2).
    let maybe_group = !to_us && e.dst()[0] & 1 == 1 && !st.groups.is_empty();
    if !to_us && !maybe_group {
        return Err(DropReason::UnderlayNotOurMac);
    }
    if et != ETHERTYPE_IPV4 {
        return Err(DropReason::UnderlayEthertype);
    }
    let ip = Ipv4Packet::new_checked(e.payload()).map_err(|e| match e {
        Ipv4Error::Length => DropReason::Ipv4Length,
        Ipv4Error::Version => DropReason::Ipv4Version,
        Ipv4Error::Ihl => DropReason::Ipv4Ihl,
    })?;
    // The verdict is the IPv4 header's only on an IPv4 underlay.
    let csum_ok = match (csum, st.our_ip.is_ipv4()) {
        (RxCsum::Good, true) => true,
        (RxCsum::Bad, true) => false,
        _ => ip.checksum_ok(),
    };
    if !csum_ok {
        return Err(DropReason::Ipv4Checksum);
    }
    let dst = IpAddr::V4(ip.dst());
    let ours = dst == st.our_ip;
    let to_group = maybe_group && is_our_group(st, dst, e.dst());
    let all_systems =
        maybe_group && dst == IpAddr::V4(igmp::ALL_SYSTEMS) && Some(e.dst()) == group_mac(dst);
    if maybe_group && !to_group && !all_systems {
        return Err(DropReason::UnderlayNotOurMac);
    }
    if ip.is_fragment() {
        // VXLAN never comes fragmented; the kernel may reassemble its own.
        return if ours {
            to_kernel(st, DropReason::Ipv4Fragment)
        } else {
            Err(DropReason::Ipv4Fragment)
        };
    }
    if !ours && !to_group && !all_systems {
        return Err(DropReason::NotOurIp);
    }
    let src = IpAddr::V4(ip.src());
    let at = ETH_LEN + ip.header_len();
    match ip.protocol() {
        // Membership queries, for the groups' membership.
        igmp::PROTO_IGMP if to_group || all_systems => return Ok(Underlay::Membership),
        _ if all_systems => return Err(DropReason::UnderlayProto),
        PROTO_UDP => {}
        // To a group, only a tunnel is ours to take.
        PROTO_GRE if to_group => return gre(ip.payload(), src, at, st, cache),
        _ if to_group => return Err(DropReason::UnderlayProto),
        PROTO_GRE => return gre(ip.payload(), src, at, st, cache),
        // With an exception path the kernel answers pings.
        PROTO_ICMP if st.kernel => return Ok(Underlay::Kernel),
        PROTO_ICMP => {
            return match IcmpEcho::new_request(ip.payload()) {
                Some(_) => Ok(Underlay::Echo),
                None => Err(DropReason::IcmpUnsupported),
            };
        }
        _ => return to_kernel(st, DropReason::UnderlayProto),
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok_or(DropReason::UdpLength)?;
    let Some((tun, encap)) = st.tunnel_on(udp.dst_port()) else {
        return if to_group {
            Err(DropReason::UdpPort)
        } else {
            to_kernel(st, DropReason::UdpPort)
        };
    };
    tunneled(tun, encap, udp.payload(), src, at + UDP_LEN, st, cache)
}

/// `dst` is one of the VNIs' groups, sent to its mapped MAC `mac`.
#[inline(never)]
fn is_our_group(st: &State, dst: IpAddr, mac: [u8; 6]) -> bool {
    st.groups.binary_search(&dst).is_ok() && group_mac(dst) == Some(mac)
}

/// An IPv6 packet (`p`, after Ethernet) on an IPv6 underlay: VXLAN to our
/// address, or ICMPv6 for the management thread (neighbour discovery may
/// come to our solicited-node group or to all nodes, RFC 4861 §7.1).
#[inline(never)]
fn classify6(
    p: &[u8],
    to_us: bool,
    dst_mac: [u8; 6],
    ours: Ipv6Addr,
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
) -> Result<Underlay, DropReason> {
    let ip = Ipv6Packet::new_checked(p).map_err(|e| match e {
        Ipv6Error::Length => DropReason::Ipv6Length,
        Ipv6Error::Version => DropReason::Ipv6Version,
    })?;
    let dst = ip.dst();
    let group = dst == ipv6::solicited_node(ours) || dst == ipv6::ALL_NODES;
    let to_group = !to_us && is_our_group(st, IpAddr::V6(dst), dst_mac);
    if to_group {
        // A VNI's group (RFC 7348 §4.2): a tunnel, nothing else.
        let src = IpAddr::V6(ip.src());
        return match ip.next_header() {
            0 if igmp::is_mld(ip.payload()) => Ok(Underlay::Membership),
            PROTO_UDP => udp6(&ip, csum, st, cache),
            PROTO_GRE => gre(ip.payload(), src, ETH_LEN + IPV6_LEN, st, cache),
            _ => Err(DropReason::UnderlayProto),
        };
    }
    if !(to_us || group && dst_mac == ipv6::multicast_mac(dst)) {
        // Other IPv6 multicast (the kernel interface's own solicited-node
        // group, MLD, router advertisements) is the kernel's to filter.
        if st.kernel && dst_mac[..2] == [0x33, 0x33] {
            return Ok(Underlay::Kernel);
        }
        return Err(DropReason::UnderlayNotOurMac);
    }
    // The kernel interface has a link-local address of its own.
    let link_local = dst.is_unicast_link_local();
    if st.kernel && to_us && link_local {
        return Ok(Underlay::Kernel);
    }
    if dst != ours && !group {
        return Err(DropReason::NotOurIp);
    }
    let src = IpAddr::V6(ip.src());
    match ip.next_header() {
        PROTO_UDP if !group => {}
        PROTO_GRE if !group => return gre(ip.payload(), src, ETH_LEN + IPV6_LEN, st, cache),
        PROTO_ICMPV6 => return icmp6(&ip, dst == ours, st.kernel),
        // MLD to all nodes, with groups to keep.
        0 if group && !st.groups.is_empty() && igmp::is_mld(ip.payload()) => {
            return Ok(Underlay::Membership)
        }
        _ if group => return Err(DropReason::UnderlayProto),
        // Hop-by-hop, routing, fragment, destination options, AH, ESP,
        // mobility, HIP, shim6 and the experimental values: VXLAN behind
        // an extension header is not taken apart.
        0 | 43 | 44 | 50 | 51 | 60 | 135 | 139 | 140 | 253 | 254 => {
            return to_kernel(st, DropReason::Ipv6ExtHeader)
        }
        _ => return to_kernel(st, DropReason::UnderlayProto),
    }
    udp6(&ip, csum, st, cache)
}

/// UDP over IPv6 to this VTEP or one of its groups: a tunnel, its
/// checksum checked.
fn udp6(
    ip: &Ipv6Packet<&[u8]>,
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
) -> Result<Underlay, DropReason> {
    let src = IpAddr::V6(ip.src());
    let udp = UdpPacket::new_checked(ip.payload()).ok_or(DropReason::UdpLength)?;
    let Some((tun, encap)) = st.tunnel_on(udp.dst_port()) else {
        return to_kernel(st, DropReason::UdpPort);
    };
    // The UDP checksum is mandatory over IPv6 (RFC 8200 §8.1); tunnels
    // may accept zero (RFC 6935), which this VTEP does unless told not to.
    if udp.checksum() == 0 {
        if !st.udp6_zero_rx {
            return Err(DropReason::Udp6ZeroChecksum);
        }
    } else {
        let ok = match csum {
            RxCsum::Good => true,
            RxCsum::Bad => false,
            RxCsum::Unknown => {
                csum_fold(csum_add(
                    ip.pseudo_sum(ip.payload_len(), PROTO_UDP),
                    ip.payload(),
                )) == 0
            }
        };
        if !ok {
            return Err(DropReason::UdpChecksum);
        }
    }
    tunneled(
        tun,
        encap,
        udp.payload(),
        src,
        ETH_LEN + IPV6_LEN + UDP_LEN,
        st,
        cache,
    )
}

/// ICMPv6 to this VTEP: neighbour discovery (hop limit 255, RFC 4861
/// §7.1) or an echo request to its unicast address.
fn icmp6<T: AsRef<[u8]>>(
    ip: &Ipv6Packet<T>,
    unicast: bool,
    kernel: bool,
) -> Result<Underlay, DropReason> {
    let m = ip.payload();
    match m.first().copied() {
        Some(icmpv6::NEIGHBOR_SOLICIT | icmpv6::NEIGHBOR_ADVERT) => {
            if ip.hop_limit() != 255 || !icmpv6::checksum_ok(ip) || Nd::parse(m).is_none() {
                return Err(DropReason::NdInvalid);
            }
            Ok(Underlay::Icmp6)
        }
        Some(icmpv6::ECHO_REQUEST) if unicast && !kernel && m.len() >= 8 && m[1] == 0 => {
            if !icmpv6::checksum_ok(ip) {
                return Err(DropReason::IcmpUnsupported);
            }
            Ok(Underlay::Icmp6)
        }
        // Everything else to our address is the kernel's, if it has one.
        _ if unicast && kernel => Ok(Underlay::Kernel),
        _ => Err(DropReason::IcmpUnsupported),
    }
}

/// GRE to this VTEP: NVGRE's tunnel if a VNI uses it, else not ours.
#[inline(never)]
fn gre(
    p: &[u8],
    src: IpAddr,
    at: usize,
    st: &State,
    cache: &mut DecapCache,
) -> Result<Underlay, DropReason> {
    match st.tunnels.gre() {
        Some(tun) => tunneled(tun, Encap::Nvgre, p, src, at, st, cache),
        None => to_kernel(st, DropReason::UnderlayProto),
    }
}

/// The header of tunnel `tun` (of encapsulation `encap`) and the inner
/// frame in `v` (the UDP payload, or for NVGRE the IP payload, at offset
/// `at` of the packet) from `src`.
#[inline(always)]
fn tunneled(
    tun: TunnelIdx,
    encap: Encap,
    v: &[u8],
    src: IpAddr,
    at: usize,
    st: &State,
    cache: &mut DecapCache,
) -> Result<Underlay, DropReason> {
    let (vni, reserved_set, payload) = match encap {
        Encap::Vxlan => vxlan::parse(v, st.strict_reserved)?,
        Encap::Geneve => geneve::parse(v).map(|(vni, p)| (vni, false, p))?,
        Encap::Nvgre => nvgre::parse(v).map(|(vni, p)| (vni, false, p))?,
    };
    let (vni, vtun) = cache.vni_tunnel(st, vni).ok_or(DropReason::VniUnknown)?;
    if vtun != tun {
        return Err(DropReason::EncapMismatch);
    }
    let remote = cache.remote(st, src);
    if remote.is_none() && !st.accept_unknown_sources {
        return Err(DropReason::UnknownSource);
    }
    let inner = EthernetFrame::new_checked(payload).ok_or(DropReason::InnerRunt)?;
    let iet = inner.ethertype();
    if iet == ETHERTYPE_VLAN || iet == ETHERTYPE_QINQ {
        return Err(DropReason::InnerVlan);
    }
    if inner.src_is_invalid() {
        return Err(DropReason::InnerSrcInvalid);
    }
    Ok(Underlay::Tunnel {
        vni,
        remote,
        inner_off: at + (v.len() - payload.len()),
        inner_len: inner.as_bytes().len(),
        reserved_set,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datapath::buf::{PacketBuf, VecBuf};
    use crate::datapath::state::Template;
    use crate::datapath::tunnel::{encapsulate, Tunnel};
    use crate::testing::{sample_state, sample_state_tunnels, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC};
    use proptest::prelude::*;

    /// VXLAN from the sample state's remote to us carrying an inner frame
    /// of `inner_len` bytes, VNI `vni`.
    fn vxlan(inner_len: usize, vni: u32, df: bool) -> Vec<u8> {
        let mut inner = vec![0u8; inner_len];
        inner[..6].copy_from_slice(&[2, 0, 0, 0, 0, 9]);
        inner[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 8]);
        inner[12..14].copy_from_slice(&[0x08, 0x00]);
        let t = Template::new(
            OUR_MAC,
            PEER_MAC,
            PEER_IP,
            OUR_IP,
            Tunnel::vxlan(4789),
            64,
            df,
        );
        let mut b = VecBuf::new(&inner);
        encapsulate(&mut b, &t, vni, 9000).unwrap();
        b.data().to_vec()
    }

    /// [`vxlan`] from `src` instead of the sample remote.
    fn vxlan_from(src: Ipv4Addr) -> Vec<u8> {
        let t = Template::new(
            OUR_MAC,
            PEER_MAC,
            src,
            OUR_IP,
            Tunnel::vxlan(4789),
            64,
            false,
        );
        let mut b = VecBuf::new(&vxlan(60, 100, false)[50..]);
        encapsulate(&mut b, &t, 100, 9000).unwrap();
        b.data().to_vec()
    }

    /// The direct-mapped source cache, warm across packets from sources
    /// that share one way (a known remote, a second one, an unknown VTEP,
    /// 0.0.0.0), answers each packet as a cold cache does.
    #[test]
    fn a_warm_cache_answers_as_a_cold_one() {
        let other = Ipv4Addr::new(192, 0, 2, 66);
        let unknown = Ipv4Addr::new(192, 0, 2, 130);
        let srcs = [PEER_IP, other, unknown, Ipv4Addr::UNSPECIFIED];
        for s in &srcs[1..3] {
            assert_eq!(src4_way(u32::from(*s)), src4_way(u32::from(PEER_IP)));
        }
        let mut st = sample_state();
        st.remote_index.insert(IpAddr::V4(other), 1);
        for accept in [false, true] {
            st.accept_unknown_sources = accept;
            let mut warm = DecapCache::default();
            let mut remotes = Vec::new();
            for i in [0, 0, 1, 0, 2, 2, 1, 3, 0, 3, 1, 1, 2, 0] {
                let p = vxlan_from(srcs[i]);
                let cold = fast(&p, RxCsum::Unknown, &st, &mut DecapCache::default());
                let got = fast(&p, RxCsum::Unknown, &st, &mut warm);
                assert_eq!(got, cold, "source {} (accept {accept})", srcs[i]);
                if let Some(Underlay::Tunnel { remote, .. }) = got {
                    remotes.push(remote);
                }
            }
            // Both remotes were told apart; an unknown source only passes
            // when accepted, as no remote.
            assert!(remotes.contains(&Some(0)) && remotes.contains(&Some(1)));
            assert_eq!(remotes.contains(&None), accept);
        }
    }

    #[test]
    fn the_common_case_takes_the_fast_path() {
        let st = sample_state();
        for (len, df) in [(14, false), (60, true), (1500, false)] {
            let p = vxlan(len, 100, df);
            let fast = fast(&p, RxCsum::Unknown, &st, &mut DecapCache::default());
            assert!(fast.is_some(), "inner {len}");
            let slow = classify_steps(&p, RxCsum::Unknown, &st, &mut DecapCache::default());
            assert_eq!(fast.ok_or(DropReason::UnderlayRunt), slow);
        }
        // Geneve without options and NVGRE too; over IPv6, VXLAN and
        // Geneve (NVGRE takes the steps), with a checksum and with zero.
        for v6 in [false, true] {
            for (i, t) in TUNNELS.into_iter().enumerate() {
                let st = sample_state_tunnels(v6, &TUNNELS, [i as TunnelIdx, 0]);
                for zero in [false, true] {
                    let p = in_tunnel_over(v6, zero, t, 60, 100);
                    let fast = fast(&p, RxCsum::Unknown, &st, &mut DecapCache::default());
                    assert_eq!(fast.is_some(), !v6 || t.encap != Encap::Nvgre, "{t:?} {v6}");
                    let slow = classify_steps(&p, RxCsum::Unknown, &st, &mut DecapCache::default());
                    assert!(slow.is_ok(), "{t:?} {v6}");
                    if let Some(f) = fast {
                        assert_eq!(Ok(f), slow, "{t:?} {v6}");
                    }
                }
            }
        }
    }

    const TUNNELS: [Tunnel; 3] = [
        Tunnel::vxlan(4789),
        Tunnel::geneve(6081),
        Tunnel::nvgre(true),
    ];

    /// A frame of `len` bytes in VNI `vni` from the sample remote through
    /// `t`, over IPv6 if `v6`, with a zero UDP checksum if `zero`.
    fn in_tunnel_over(v6: bool, zero: bool, t: Tunnel, len: usize, vni: u32) -> Vec<u8> {
        let mut b = VecBuf::new(&vxlan(len, vni, false)[50..]);
        let mut tpl = crate::testing::peer_to_us_in(v6, t);
        tpl.zero_csum |= zero;
        encapsulate(&mut b, &tpl, vni, 9000).unwrap();
        b.data().to_vec()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// Whatever the fast path accepts, the step-by-step classifier
        /// accepts with the same answer, for mangled packets of every
        /// tunnel over either IP version, whichever tunnel each VNI is
        /// in, and every checksum verdict and policy.
        #[test]
        fn fast_path_agrees_with_the_steps(
            len in 14usize..120,
            vni in prop::sample::select(vec![100u32, 200, 300]),
            df in any::<bool>(),
            edits in prop::collection::vec((0usize..100, any::<u8>()), 0..4),
            cut in 0usize..4,
            pad in 0usize..8,
            csum in prop::sample::select(vec![RxCsum::Unknown, RxCsum::Good, RxCsum::Bad]),
            strict in any::<bool>(),
            accept in any::<bool>(),
            tunnel in 0usize..3,
            vni_tunnels in (0 as TunnelIdx..3, 0 as TunnelIdx..3),
            v6 in any::<bool>(),
            zero in any::<bool>(),
            zero_rx in any::<bool>(),
            kernel in any::<bool>(),
        ) {
            let mut st = sample_state_tunnels(v6, &TUNNELS, [vni_tunnels.0, vni_tunnels.1]);
            st.strict_reserved = strict;
            st.accept_unknown_sources = accept;
            st.udp6_zero_rx = zero_rx;
            st.kernel = kernel;
            let mut p = match tunnel {
                0 if !v6 => vxlan(len, vni, df),
                t => in_tunnel_over(v6, zero, TUNNELS[t], len, vni),
            };
            for (i, b) in edits {
                if i < p.len() {
                    p[i] = b;
                }
            }
            p.extend(std::iter::repeat_n(0, pad));
            p.truncate(p.len().saturating_sub(cut));
            if let Some(f) = fast(&p, csum, &st, &mut DecapCache::default()) {
                let s = classify_steps(&p, csum, &st, &mut DecapCache::default());
                prop_assert_eq!(Ok(f), s);
            }
        }
    }
}

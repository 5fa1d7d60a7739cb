//! Tunnels: the outer headers a frame travels in between VTEPs. Each
//! encapsulation ([`Encap`]) owns, in a file of its own, its part of the
//! outer-header template, the writers that patch a template per packet,
//! and the checks of its header on receipt; the forwarding stages reach
//! them only through this module ([`Template`], [`encapsulate_with`],
//! [`prepend4`], [`write_header`]), so that another encapsulation is a
//! variant and a match arm here, not a change to forwarding.
//!
//! The template of a remote is built once per tunnel (an encapsulation on
//! its UDP port, [`Tunnel`]) when the state is published: Ethernet and IP
//! here, the tunnel's own headers by its module. Per packet only lengths,
//! checksums, the source port, the flow label and the VNI are patched.

pub mod geneve;
pub mod nvgre;
mod outer;
pub mod udp;
pub mod vxlan;

pub use outer::{flow_label, source_port, Encap, Outer, Template, MAX_OUTER_LEN};

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::datapath::buf::PacketBuf;
use crate::datapath::drops::DropReason;
use crate::wire::{
    csum_add, EthernetFrame, Ipv4Packet, Ipv6Packet, ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETH_LEN,
    IPV4_LEN, IPV6_LEN,
};

/// A tunnel: an encapsulation on its UDP destination port (NVGRE: on IP
/// protocol 47, port 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tunnel {
    pub encap: Encap,
    pub port: u16,
    /// NVGRE: 8 bits of the flow hash in the FlowID.
    pub flow_id: bool,
}

impl Tunnel {
    pub const fn vxlan(port: u16) -> Tunnel {
        Tunnel {
            encap: Encap::Vxlan,
            port,
            flow_id: false,
        }
    }

    pub const fn geneve(port: u16) -> Tunnel {
        Tunnel {
            encap: Encap::Geneve,
            port,
            flow_id: false,
        }
    }

    pub const fn nvgre(flow_id: bool) -> Tunnel {
        Tunnel {
            encap: Encap::Nvgre,
            port: 0,
            flow_id,
        }
    }
}

/// The index of a tunnel in the published state (`State::tunnels`).
pub type TunnelIdx = u8;

/// The most tunnels one state holds (each remote keeps a template per
/// tunnel, inline).
pub const MAX_TUNNELS: usize = 4;
// `State::template` masks a tunnel index with MAX_TUNNELS - 1.
const _: () = assert!(MAX_TUNNELS.is_power_of_two());

/// The tunnels of a state, each once, by [`TunnelIdx`]. Inline, since
/// decap finds the tunnel of every packet by its UDP port or protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tunnels {
    /// A UDP port, or [`Tunnels::UNUSED`] (which no port equals, so a
    /// lookup needs no second test; NVGRE's slot holds it too).
    ports: [u32; MAX_TUNNELS],
    tunnels: [Tunnel; MAX_TUNNELS],
    len: usize,
    /// NVGRE's tunnel, if any.
    gre: Option<TunnelIdx>,
}

impl Tunnels {
    const UNUSED: u32 = u32::MAX;

    /// The tunnels of `list` in its order; None if there are more than
    /// [`MAX_TUNNELS`], one over UDP is on port 0, or two are on one port
    /// or both NVGRE.
    pub fn new(list: &[Tunnel]) -> Option<Tunnels> {
        if list.len() > MAX_TUNNELS {
            return None;
        }
        let mut t = Tunnels {
            ports: [Self::UNUSED; MAX_TUNNELS],
            tunnels: [Tunnel::vxlan(0); MAX_TUNNELS],
            len: list.len(),
            gre: None,
        };
        for (i, x) in list.iter().enumerate() {
            t.tunnels[i] = *x;
            if x.encap == Encap::Nvgre {
                if t.gre.replace(i as TunnelIdx).is_some() {
                    return None;
                }
            } else if x.port == 0 || t.ports.contains(&(x.port as u32)) {
                return None;
            } else {
                t.ports[i] = x.port as u32;
            }
        }
        Some(t)
    }

    /// The tunnel on UDP destination port `port`.
    #[inline(always)]
    pub fn on_port(&self, port: u16) -> Option<(TunnelIdx, Encap)> {
        let i = self.ports.iter().position(|&p| p == port as u32)?;
        Some((i as TunnelIdx, self.tunnels[i].encap))
    }

    /// NVGRE's tunnel (IP protocol 47), if any.
    #[inline(always)]
    pub fn gre(&self) -> Option<TunnelIdx> {
        self.gre
    }

    /// The tunnel of index `i`.
    pub fn get(&self, i: TunnelIdx) -> Option<Tunnel> {
        let i = i as usize;
        (i < self.len).then(|| self.tunnels[i])
    }

    pub fn iter(&self) -> impl Iterator<Item = Tunnel> + '_ {
        self.tunnels[..self.len].iter().copied()
    }
}

/// The outer header of the common case (IPv4 without options, VXLAN or
/// Geneve), whose headroom a worker prefetches before encapsulating.
pub const COMMON_OUTER_LEN: usize = udp::OUTER4_LEN;

impl Template {
    /// The IPv4 template of `tunnel`: TTL `ttl`, DF as given.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        dst_mac: [u8; 6],
        src_mac: [u8; 6],
        src: Ipv4Addr,
        dst: Ipv4Addr,
        tunnel: Tunnel,
        ttl: u8,
        df: bool,
    ) -> Template {
        let mut b = [0u8; MAX_OUTER_LEN];
        let (l2, rest) = b.split_at_mut(ETH_LEN);
        let (l3, l4) = rest.split_at_mut(IPV4_LEN);
        ethernet(l2, dst_mac, src_mac, ETHERTYPE_IPV4);
        let mut ip = Ipv4Packet::new_unchecked(l3);
        ip.init(ttl, tunnel.encap.ip_proto(), src, dst, df);
        let ip_sum = ip.partial_sum();
        let tail = match tunnel.encap {
            Encap::Vxlan => vxlan::init(l4, tunnel.port).0,
            Encap::Geneve => geneve::init(l4, tunnel.port).0,
            Encap::Nvgre => nvgre::init(l4),
        };
        Template {
            bytes: b,
            len: ETH_LEN + IPV4_LEN + tail,
            encap: tunnel.encap,
            ip_sum,
            v6: false,
            zero_csum: true,
            csum_offload: false,
            pseudo: 0,
            flow_id: tunnel.flow_id,
        }
    }

    /// The IPv6 template of `tunnel`: hop limit `hop`, flow label and
    /// lengths per packet, the UDP checksum computed per packet unless
    /// `zero_csum`.
    #[allow(clippy::too_many_arguments)]
    pub fn new6(
        dst_mac: [u8; 6],
        src_mac: [u8; 6],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        tunnel: Tunnel,
        hop: u8,
        zero_csum: bool,
    ) -> Template {
        let mut b = [0u8; MAX_OUTER_LEN];
        let (l2, rest) = b.split_at_mut(ETH_LEN);
        let (l3, l4) = rest.split_at_mut(IPV6_LEN);
        ethernet(l2, dst_mac, src_mac, ETHERTYPE_IPV6);
        let proto = tunnel.encap.ip_proto();
        let mut ip = Ipv6Packet::new_unchecked(l3);
        ip.init(hop, proto, src, dst);
        let pseudo = ip.pseudo_sum(0, proto);
        let (tail, fixed) = match tunnel.encap {
            Encap::Vxlan => vxlan::init(l4, tunnel.port),
            Encap::Geneve => geneve::init(l4, tunnel.port),
            // No UDP: nothing is summed.
            Encap::Nvgre => (nvgre::init(l4), 0),
        };
        Template {
            bytes: b,
            len: ETH_LEN + IPV6_LEN + tail,
            encap: tunnel.encap,
            ip_sum: csum_add(pseudo, &fixed.to_be_bytes()),
            v6: true,
            zero_csum: zero_csum || tunnel.encap == Encap::Nvgre,
            csum_offload: false,
            pseudo,
            flow_id: tunnel.flow_id,
        }
    }

    /// This template with the IPv6 UDP checksum left to the NIC if `on`
    /// (the port's `TX_UDP_CKSUM` offload); no change to a template that
    /// sends no checksum (IPv4, NVGRE, zero checksums).
    pub fn offloading_csum(mut self, on: bool) -> Template {
        self.csum_offload = on && self.v6 && !self.zero_csum;
        self
    }
}

fn ethernet(l2: &mut [u8], dst: [u8; 6], src: [u8; 6], ethertype: u16) {
    let mut e = EthernetFrame::new_unchecked(l2);
    e.set_dst(dst);
    e.set_src(src);
    e.set_ethertype(ethertype);
}

/// A worker's IPv4 identification counter. Workers start a quarter of the
/// space apart so that two of them sending to one remote do not repeat
/// each other's recent values.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpIds(pub(crate) u16);

impl IpIds {
    pub fn for_worker(w: usize) -> IpIds {
        IpIds((w as u16).wrapping_mul(0x4000))
    }

    #[inline(always)]
    pub fn take(&mut self) -> u16 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// What the UDP checksum of an outer header from `t` needs of the inner
/// frame `f`: its sum over IPv6 with checksums computed in software, else
/// nothing.
#[inline(always)]
pub fn inner_sum(t: &Template, f: &[u8]) -> u32 {
    if t.v6 && !t.zero_csum && !t.csum_offload {
        csum_add(0, f)
    } else {
        0
    }
}

/// Prepends `t` with the lengths, checksum, source port (from the frame's
/// flow hash) and VNI patched, identification 0. Fails (buffer unchanged)
/// if the outer IP packet would exceed `mtu`.
#[inline(always)]
pub fn encapsulate<B: PacketBuf>(
    b: &mut B,
    t: &Template,
    vni: u32,
    mtu: u16,
) -> Result<(), DropReason> {
    let o = Outer::new(vni, crate::datapath::flow::flow_hash(b.data()), 0);
    encapsulate_with(b, t, mtu, o)
}

/// [`encapsulate`] with the per-packet fields given (the copies of a
/// flooded frame share the original's flow hash). IPv4 keeps its own
/// straight path; IPv6 branches off once.
#[inline(always)]
pub fn encapsulate_with<B: PacketBuf>(
    b: &mut B,
    t: &Template,
    mtu: u16,
    o: Outer,
) -> Result<(), DropReason> {
    let inner = b.len();
    if t.ip_len(inner) > mtu as usize {
        return Err(DropReason::MtuExceeded);
    }
    if t.v6 {
        return encapsulate6(b, t, o);
    }
    prepend4(b, t, inner, o).map(|_| ())
}

/// The length of `encap`'s outer header over IPv4 without options: a
/// constant per encapsulation, so the fast path need not read it from
/// the template.
#[inline(always)]
pub fn outer4_len(encap: Encap) -> usize {
    match encap {
        Encap::Vxlan | Encap::Geneve => udp::OUTER4_LEN,
        Encap::Nvgre => nvgre::OUTER4_LEN,
    }
}

/// Prepends the IPv4 template `t` to a frame of `inner` bytes that fits
/// the MTU, patched for `o`; gives the outer header's length.
#[inline(always)]
pub fn prepend4<B: PacketBuf>(
    b: &mut B,
    t: &Template,
    inner: usize,
    o: Outer,
) -> Result<usize, DropReason> {
    match t.encap {
        Encap::Vxlan | Encap::Geneve => put(b, |h| udp::write4(h, t, inner, o)),
        Encap::Nvgre => put(b, |h| nvgre::write4(h, t, inner, o)),
    }
}

/// Prepends the `N` bytes of a fixed-size outer header to `b` and has
/// `write` fill them; gives `N`.
#[inline(always)]
fn put<B: PacketBuf, const N: usize>(
    b: &mut B,
    write: impl FnOnce(&mut [u8; N]),
) -> Result<usize, DropReason> {
    let h = b
        .prepend(N)
        .and_then(|h| h.first_chunk_mut())
        .ok_or(DropReason::NoHeadroom)?;
    write(h);
    Ok(N)
}

/// The length of `encap`'s outer header over IPv6.
#[inline(always)]
pub fn outer6_len(encap: Encap) -> usize {
    match encap {
        Encap::Vxlan | Encap::Geneve => udp::OUTER6_LEN,
        Encap::Nvgre => nvgre::OUTER6_LEN,
    }
}

/// [`prepend4`] over IPv6: the UDP checksum's sum over the inner frame
/// is taken here, just before the header is written.
#[inline(always)]
pub fn prepend6<B: PacketBuf>(
    b: &mut B,
    t: &Template,
    inner: usize,
    o: Outer,
) -> Result<usize, DropReason> {
    match t.encap {
        Encap::Vxlan | Encap::Geneve => {
            let isum = inner_sum(t, b.data());
            put(b, |h| udp::write6(h, t, inner, o, isum))
        }
        Encap::Nvgre => put(b, |h| nvgre::write6(h, t, inner, o)),
    }
}

/// [`encapsulate_with`] over IPv6, for a frame that fits the MTU.
#[inline(never)]
fn encapsulate6<B: PacketBuf>(b: &mut B, t: &Template, o: Outer) -> Result<(), DropReason> {
    let inner = b.len();
    prepend6(b, t, inner, o).map(|_| ())
}

/// Writes the outer header of `t` for an inner frame of `inner` bytes
/// into `h` (its first `t.len` bytes); `isum` is the inner frame's sum
/// ([`inner_sum`]). For headers kept apart from their frame.
#[inline(always)]
pub fn write_header(h: &mut [u8; MAX_OUTER_LEN], t: &Template, inner: usize, o: Outer, isum: u32) {
    match (t.v6, t.encap) {
        (false, Encap::Vxlan | Encap::Geneve) => {
            if let Some(h4) = h.first_chunk_mut() {
                udp::write4(h4, t, inner, o);
            }
        }
        (false, Encap::Nvgre) => {
            if let Some(h4) = h.first_chunk_mut() {
                nvgre::write4(h4, t, inner, o);
            }
        }
        (true, Encap::Vxlan | Encap::Geneve) => {
            if let Some(h6) = h.first_chunk_mut() {
                udp::write6(h6, t, inner, o, isum);
            }
        }
        (true, Encap::Nvgre) => {
            if let Some(h6) = h.first_chunk_mut() {
                nvgre::write6(h6, t, inner, o);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_finds_its_tunnel_and_no_other() {
        let t = Tunnels::new(&[Tunnel::vxlan(4789), Tunnel::vxlan(8472)]).unwrap();
        assert_eq!(t.on_port(4789), Some((0, Encap::Vxlan)));
        assert_eq!(t.on_port(8472), Some((1, Encap::Vxlan)));
        // Unused slots match no port, 0 and 65535 included.
        for p in [0, 1, 4790, u16::MAX] {
            assert_eq!(t.on_port(p), None, "{p}");
        }
        assert_eq!(t.get(1), Some(Tunnel::vxlan(8472)));
        assert_eq!(t.get(2), None);
        assert_eq!(t.iter().count(), 2);
        assert_eq!(Tunnels::new(&[Tunnel::vxlan(0)]), None);
        // One encapsulation per port, one NVGRE tunnel.
        assert_eq!(Tunnels::new(&[Tunnel::vxlan(7), Tunnel::geneve(7)]), None);
        assert_eq!(
            Tunnels::new(&[Tunnel::nvgre(false), Tunnel::nvgre(true)]),
            None
        );
        let g = Tunnels::new(&[Tunnel::geneve(6081), Tunnel::nvgre(false)]).unwrap();
        assert_eq!(g.gre(), Some(1));
        assert_eq!(g.on_port(0), None, "NVGRE has no port");
        assert_eq!(g.on_port(6081), Some((0, Encap::Geneve)));
        assert_eq!(t.gre(), None);
        assert_eq!(Tunnels::new(&[Tunnel::vxlan(1); MAX_TUNNELS + 1]), None);
    }
}

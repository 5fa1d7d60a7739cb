//! The read-only state workers forward with: VNIs, access ports, remote
//! VTEPs with their prebuilt outer headers, ARP-suppression bindings. The
//! management thread builds a new [`State`] on every change and publishes
//! it with `arc_swap`; workers load it once per burst.

use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;
use vtep_config::Vni;

use crate::datapath::fdb::VniIdx;
use crate::datapath::police::VniPolice;
pub use crate::datapath::tunnel::Template;
use crate::datapath::tunnel::{Encap, TunnelIdx, Tunnels, MAX_TUNNELS};

/// What a VNI is configured to do, as the workers read it.
#[derive(Debug, Clone)]
pub struct VniSettings {
    pub vni: Vni,
    /// Learn source MACs from access ports.
    pub learning: bool,
    /// Learn source MACs behind remote VTEPs (off under EVPN).
    pub learn_underlay: bool,
    pub arp_suppress: bool,
    /// Remote indexes of the head-end replication list (the VNI's
    /// group, if it has one, first).
    pub flood: Vec<u32>,
    /// The remote index of the VNI's multicast group, if it has one.
    pub group: Option<u32>,
    /// Access ports carrying this VNI, with the VID they tag it with.
    pub ports: Vec<(u16, Option<u16>)>,
    /// Bandwidth limits and storm control, if configured.
    pub police: Option<Arc<VniPolice>>,
    /// The tunnel its frames travel in (an index into `State::tunnels`).
    pub tunnel: TunnelIdx,
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
            group: _,
            ports: _,
            police,
            // Both fast paths reach the tunnel through its template, as
            // the general path does.
            tunnel: _,
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

/// A remote VTEP and the outer headers that reach it.
#[derive(Debug, Clone)]
pub struct RemoteState {
    pub ip: IpAddr,
    /// One per tunnel of the state (by [`TunnelIdx`]); None while the
    /// next hop's MAC is unresolved, and for tunnels beyond the state's.
    pub templates: [Option<Template>; MAX_TUNNELS],
}

impl RemoteState {
    /// A remote reached through the state's first tunnel only.
    pub fn new(ip: IpAddr, template: Option<Template>) -> RemoteState {
        let mut templates = [None; MAX_TUNNELS];
        templates[0] = template;
        RemoteState { ip, templates }
    }
}

/// Everything a worker needs, immutable once published.
#[derive(Debug, Clone)]
pub struct State {
    pub generation: u64,
    pub our_ip: IpAddr,
    pub our_mac: [u8; 6],
    /// The tunnels of the VNIs, each once.
    pub tunnels: Tunnels,
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
    pub arp: HashMap<(VniIdx, IpAddr), [u8; 6]>,
    /// Ports whose link is down, bit i for port i (0 the underlay, then
    /// the access ports): what is sent to them is dropped as `port_down`.
    pub ports_down: u64,
    /// The VNIs' multicast groups, sorted: VXLAN to one of them (at its
    /// mapped MAC) is received as if to `our_ip`.
    pub groups: Vec<IpAddr>,
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

    /// The outer header to remote `r` through tunnel `tun`; None while
    /// the remote's next hop is unresolved.
    #[inline(always)]
    pub fn template(&self, r: u32, tun: TunnelIdx) -> Option<&Template> {
        // A tunnel index is below MAX_TUNNELS by construction: the mask
        // spares the bounds check.
        self.remote(r)?.templates[tun as usize & (MAX_TUNNELS - 1)].as_ref()
    }

    /// The tunnel that UDP destination port `port` carries.
    #[inline(always)]
    pub fn tunnel_on(&self, port: u16) -> Option<(TunnelIdx, Encap)> {
        self.tunnels.on_port(port)
    }

    /// VNI `vni`'s index and tunnel, if this VTEP serves it.
    #[inline(always)]
    pub fn vni_tunnel(&self, vni: u32) -> Option<(VniIdx, TunnelIdx)> {
        let i = *self.vni_index.get(&vni)?;
        Some((i, self.vni(i)?.tunnel))
    }
}

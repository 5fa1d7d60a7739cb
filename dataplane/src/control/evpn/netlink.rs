//! The netlink side of the EVPN kernel mirror: what zebra writes into the
//! mirror's FDB becomes [`Update`]s for the management thread, and the
//! MACs vtepd holds locally become bridge FDB entries that zebra reads.
//!
//! [`translate`] and [`local_entry`] are pure (unit-tested on recorded
//! messages); [`spawn`] runs them on a thread of their own inside the EVPN
//! namespace, so that netlink never blocks the management thread.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use crossbeam::channel::{Receiver, Sender};
use hashbrown::HashMap;
use netlink_packet_core::{NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourFlags, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket};

use super::devices::{self, Spec};
pub use super::devices::{access_name, bridge_name, vxlan_name};
use crate::control::rtnl::{self, messages, os, Req, Rtnl};

/// Reads of the whole mirror while it keeps changing during them.
const DUMP_TRIES: u32 = 20;

/// VNIs built between two progress reports.
const BUILD_CHUNK: usize = 128;

/// The kernel's multicast group for neighbour (and bridge FDB) changes.
const RTNLGRP_NEIGH: u32 = 3;
const ENOBUFS: i32 = 105;

/// What a mirror device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Vxlan(u32),
    Access(u32),
    /// The bridge, also the VNI's SVI: MAC+IP bindings live there.
    Bridge(u32),
}

/// The role of a device, from its name.
pub fn role_of(name: &str) -> Option<Role> {
    let num = |s: &str| s.parse::<u32>().ok().filter(|n| (1..1 << 24).contains(n));
    if let Some(n) = name.strip_prefix("vxlan").and_then(num) {
        return Some(Role::Vxlan(n));
    }
    if let Some(n) = name.strip_prefix("br").and_then(num) {
        return Some(Role::Bridge(n));
    }
    name.strip_prefix("acc").and_then(num).map(Role::Access)
}

/// A change of the mirror's FDB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Update {
    /// A MAC behind a remote VTEP (an EVPN type-2 route).
    Mac {
        vni: u32,
        mac: [u8; 6],
        remote: IpAddr,
        sticky: bool,
    },
    /// The route is withdrawn.
    MacGone { vni: u32, mac: [u8; 6] },
    /// A remote VTEP in the VNI's flood list (an EVPN type-3 route).
    Flood { vni: u32, remote: IpAddr },
    /// Withdrawn; None when the kernel did not say which VTEP (the flood
    /// list is then read again).
    FloodGone { vni: u32, remote: Option<IpAddr> },
    /// An entry on the access access port: one of vtepd's own.
    Local { vni: u32, mac: [u8; 6] },
    /// A MAC+IP binding behind another VTEP (the IP of a type-2 route):
    /// zebra's extern-learned neighbour on the SVI.
    Neigh { vni: u32, ip: IpAddr, mac: [u8; 6] },
    /// Gone from the SVI (withdrawn, or one of vtepd's removed).
    NeighGone { vni: u32, ip: IpAddr },
    /// One of vtepd's own bindings on the SVI (zebra advertises it).
    LocalNeigh { vni: u32, ip: IpAddr, mac: [u8; 6] },
}

/// The mirror's whole FDB, read by a dump.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    pub updates: Vec<Update>,
}

fn dst(a: &NeighbourAttribute) -> Option<IpAddr> {
    match a {
        NeighbourAttribute::Destination(NeighbourAddress::Inet(ip)) => Some((*ip).into()),
        NeighbourAttribute::Destination(NeighbourAddress::Inet6(ip)) => Some((*ip).into()),
        // AF_BRIDGE entries carry NDA_DST as raw bytes.
        NeighbourAttribute::Destination(NeighbourAddress::Other(b)) => match b.len() {
            4 => Some(Ipv4Addr::from(<[u8; 4]>::try_from(&b[..]).ok()?).into()),
            16 => Some(Ipv6Addr::from(<[u8; 16]>::try_from(&b[..]).ok()?).into()),
            _ => None,
        },
        _ => None,
    }
}

/// Translates one bridge FDB message; None for what the mirror ignores
/// (other families, other devices, the bridge's own entries).
pub fn translate(msg: &RouteNetlinkMessage, role: impl Fn(u32) -> Option<Role>) -> Option<Update> {
    let (n, added) = match msg {
        RouteNetlinkMessage::NewNeighbour(n) => (n, true),
        RouteNetlinkMessage::DelNeighbour(n) => (n, false),
        _ => return None,
    };
    if matches!(n.header.family, AddressFamily::Inet | AddressFamily::Inet6) {
        return translate_neigh(n, added, role);
    }
    if n.header.family != AddressFamily::Bridge {
        return None;
    }
    let mac: [u8; 6] = n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(b) => b.as_slice().try_into().ok(),
        _ => None,
    })?;
    let remote = n.attributes.iter().find_map(dst);
    match role(n.header.ifindex)? {
        // Ours are extern-learned; the port's own address is permanent.
        Role::Access(vni) => (added && n.header.flags.contains(NeighbourFlags::ExtLearned))
            .then_some(Update::Local { vni, mac }),
        Role::Vxlan(vni) if mac == [0; 6] => match (added, remote) {
            (true, Some(remote)) => Some(Update::Flood { vni, remote }),
            (true, None) => None,
            (false, remote) => Some(Update::FloodGone { vni, remote }),
        },
        Role::Bridge(_) => None,
        Role::Vxlan(vni) => match (added, remote) {
            (true, Some(remote)) => Some(Update::Mac {
                vni,
                mac,
                remote,
                sticky: n.header.flags.contains(NeighbourFlags::Sticky),
            }),
            // The bridge's master entry pointing at the VXLAN port: the
            // VXLAN device's own entry says where.
            (true, None) => None,
            (false, _) => Some(Update::MacGone { vni, mac }),
        },
    }
}

/// Translates an IPv4 or IPv6 neighbour of a VNI's SVI: zebra's
/// extern-learned ones are other VTEPs' bindings, permanent ones without
/// that flag are vtepd's (see [`local_neigh`]); others (the kernel's own
/// resolution) are ignored.
fn translate_neigh(
    n: &NeighbourMessage,
    added: bool,
    role: impl Fn(u32) -> Option<Role>,
) -> Option<Update> {
    let Role::Bridge(vni) = role(n.header.ifindex)? else {
        return None;
    };
    let ip = n.attributes.iter().find_map(dst)?;
    if !added {
        return Some(Update::NeighGone { vni, ip });
    }
    let mac: [u8; 6] = n.attributes.iter().find_map(|a| match a {
        NeighbourAttribute::LinkLayerAddress(b) => b.as_slice().try_into().ok(),
        _ => None,
    })?;
    if n.header.flags.contains(NeighbourFlags::ExtLearned) {
        // zebra's: NUD_NOARP; anything no longer valid is as good as gone.
        let valid = n.header.state != NeighbourState::Failed
            && n.header.state != NeighbourState::Incomplete;
        return Some(if valid {
            Update::Neigh { vni, ip, mac }
        } else {
            Update::NeighGone { vni, ip }
        });
    }
    (n.header.state == NeighbourState::Permanent).then_some(Update::LocalNeigh { vni, ip, mac })
}

/// An IP neighbour on VNI `vni`'s SVI (interface `ifindex`) for a binding
/// vtepd holds on its access side: zebra advertises it with the MAC as a
/// MAC+IP route. Not extern-learned (zebra takes those for remote ones);
/// NUD_PERMANENT, which the kernel never ages nor collects (a
/// NUD_NOARP entry is collected once the table passes gc_thresh1).
pub fn local_neigh(ifindex: u32, ip: IpAddr, mac: Option<[u8; 6]>) -> NeighbourMessage {
    let mut n = NeighbourMessage::default();
    n.header.family = match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    n.header.ifindex = ifindex;
    n.header.state = NeighbourState::Permanent;
    n.attributes.push(NeighbourAttribute::Destination(match ip {
        IpAddr::V4(a) => NeighbourAddress::Inet(a),
        IpAddr::V6(a) => NeighbourAddress::Inet6(a),
    }));
    if let Some(m) = mac {
        n.attributes
            .push(NeighbourAttribute::LinkLayerAddress(m.to_vec()));
    }
    n
}

/// A bridge FDB entry for a MAC vtepd holds on its access side: extern-
/// learned on the access access port (never aged by the kernel), NUD_NOARP for
/// static MACs, NUD_REACHABLE for learned ones (never NUD_PERMANENT, which
/// zebra ignores).
pub fn local_entry(ifindex: u32, mac: [u8; 6], is_static: bool, add: bool) -> NeighbourMessage {
    let mut n = NeighbourMessage::default();
    n.header.family = AddressFamily::Bridge;
    n.header.ifindex = ifindex;
    n.header.flags = NeighbourFlags::Controller | NeighbourFlags::ExtLearned;
    n.header.state = if is_static {
        NeighbourState::Noarp
    } else {
        NeighbourState::Reachable
    };
    if !add {
        n.header.flags = NeighbourFlags::Controller;
    }
    n.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    n
}

/// Deletes a remote entry of a VXLAN device (ifindex): the bridge's
/// (`master`) entry of `mac`, or the device's own entry, all of it or
/// only the part for `dst`.
pub fn remote_delete(
    ifindex: u32,
    mac: [u8; 6],
    dst: Option<IpAddr>,
    master: bool,
) -> NeighbourMessage {
    let mut n = NeighbourMessage::default();
    n.header.family = AddressFamily::Bridge;
    n.header.ifindex = ifindex;
    n.header.flags = if master {
        NeighbourFlags::Controller
    } else {
        NeighbourFlags::Own
    };
    n.attributes
        .push(NeighbourAttribute::LinkLayerAddress(mac.to_vec()));
    if let Some(ip) = dst {
        n.attributes.push(NeighbourAttribute::Destination(match ip {
            IpAddr::V4(a) => NeighbourAddress::Inet(a),
            IpAddr::V6(a) => NeighbourAddress::Inet6(a),
        }));
    }
    n
}

/// The remote entries of the mirror's VXLAN devices, from a dump.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RemoteEntries {
    /// MACs with a device entry (`self`, with a VTEP).
    pub selfs: BTreeSet<(u32, [u8; 6])>,
    /// MACs with a bridge entry (`master`) on the VXLAN port.
    pub masters: BTreeSet<(u32, [u8; 6])>,
    /// Flood-list VTEPs (the all-zero MAC).
    pub vteps: BTreeSet<(u32, IpAddr)>,
}

impl RemoteEntries {
    pub fn of(dump: &[RouteNetlinkMessage], role: impl Fn(u32) -> Option<Role>) -> RemoteEntries {
        let mut e = RemoteEntries::default();
        for m in dump {
            let RouteNetlinkMessage::NewNeighbour(n) = m else {
                continue;
            };
            let Some(Role::Vxlan(vni)) = (n.header.family == AddressFamily::Bridge)
                .then(|| role(n.header.ifindex))
                .flatten()
            else {
                continue;
            };
            let Some(mac) = n.attributes.iter().find_map(|a| match a {
                NeighbourAttribute::LinkLayerAddress(b) => <[u8; 6]>::try_from(b.as_slice()).ok(),
                _ => None,
            }) else {
                continue;
            };
            let remote = n.attributes.iter().find_map(dst);
            // The kernel marks the bridge's entries with NDA_MASTER.
            let master = n
                .attributes
                .iter()
                .any(|a| matches!(a, NeighbourAttribute::Controller(_)));
            match (mac == [0; 6], remote) {
                (true, Some(ip)) => {
                    e.vteps.insert((vni, ip));
                }
                (true, None) => {}
                (false, _) if master => {
                    e.masters.insert((vni, mac));
                }
                (false, Some(_)) => {
                    e.selfs.insert((vni, mac));
                }
                (false, None) => {}
            }
        }
        e
    }

    /// Of the MACs whose bridge entry a sweep removed, those zebra did not
    /// install again: the device entry is still there, the bridge's is not.
    pub fn stale(&self, probed: &BTreeSet<(u32, [u8; 6])>) -> BTreeSet<(u32, [u8; 6])> {
        probed
            .iter()
            .filter(|k| self.selfs.contains(k) && !self.masters.contains(k))
            .copied()
            .collect()
    }
}

/// How often the namespace is searched for zebra.
const ZEBRA_SCAN: Duration = Duration::from_secs(1);
/// A probe lasts at least PROBE_MIN, until nothing has arrived for
/// PROBE_QUIET (zebra is still installing again), at most PROBE_MAX.
const PROBE_MIN: Duration = Duration::from_secs(2);
const PROBE_QUIET: Duration = Duration::from_secs(1);
const PROBE_MAX: Duration = Duration::from_secs(30);

/// Finding what a restarted zebra no longer holds. FRR 8.4's zebra does
/// not sweep the remote MACs and VTEPs it finds in the kernel at start:
/// a route withdrawn while it was away would stay in the mirror, and so in
/// vtepd, for good. But zebra installs again any remote MAC or VTEP of its
/// own that someone else deletes. So, `sweep_secs` after a new zebra
/// appears (time for bgpd to bring the routes back), the bridge entry of
/// every remote MAC and every flood-list VTEP is deleted; what zebra holds
/// comes back within milliseconds; after the probe, remote MACs still
/// without a bridge entry are deleted, and the mirror is read again. While
/// probing, the mirror's changes are not passed on, so vtepd's FDB never
/// sees the probe.
#[derive(Debug)]
enum Sweep {
    Idle,
    /// With the MACs a probe cut short (zebra restarted again during it)
    /// had already removed the bridge entry of: judged by the next probe.
    Due(Instant, BTreeSet<(u32, [u8; 6])>),
    Probing {
        probed: BTreeSet<(u32, [u8; 6])>,
        vteps: BTreeSet<(u32, IpAddr)>,
        since: Instant,
        /// When the last message arrived.
        quiet: Instant,
    },
}

impl Sweep {
    /// A new zebra: the sweep is due at `at`, and a probe it cuts short
    /// hands on the MACs whose bridge entries it had already removed.
    fn restart(self, at: Instant) -> Sweep {
        let earlier = match self {
            Sweep::Probing { probed, .. } => probed,
            Sweep::Due(_, earlier) => earlier,
            Sweep::Idle => BTreeSet::new(),
        };
        Sweep::Due(at, earlier)
    }
}

/// Follows the pid of the namespace's zebra: true from [`ZebraWatch::seen`]
/// when a zebra other than the last one seen runs, not for the one found
/// at vtepd's start.
#[derive(Debug, Default)]
pub struct ZebraWatch {
    last: Option<u32>,
    looked: bool,
}

impl ZebraWatch {
    pub fn seen(&mut self, pid: Option<u32>) -> bool {
        let new = self.looked && pid.is_some() && pid != self.last;
        self.looked = true;
        self.last = pid;
        new
    }
}

/// The pid of the zebra running in this thread's network namespace.
fn zebra_pid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let ns = |path: &str| std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()));
    let ours = ns("/proc/thread-self/ns/net")?;
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim_end() == "zebra" && ns(&format!("/proc/{pid}/ns/net")) == Some(ours))
            .then_some(pid)
    })
}

/// Requests from the management thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToMirror {
    /// vtepd holds `mac` on its access side.
    Local {
        vni: u32,
        mac: [u8; 6],
        is_static: bool,
    },
    /// It no longer does.
    LocalGone { vni: u32, mac: [u8; 6] },
    /// vtepd holds this binding of one of its local MACs.
    LocalNeigh { vni: u32, ip: IpAddr, mac: [u8; 6] },
    /// It no longer does.
    LocalNeighGone { vni: u32, ip: IpAddr },
    /// Read the whole mirror again (at start, after a VNI change).
    Resync,
    /// Build (or complete) the mirror of these VNIs.
    Build(Vec<Spec>),
    /// Remove the mirror of these VNIs.
    Remove(Vec<u32>),
}

/// Reports to the management thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromMirror {
    Update(Update),
    Snapshot(Snapshot),
    /// A netlink failure, for the log and the error counter.
    Error(String),
    /// A sweep after zebra restarted removed these remote MACs and VTEPs,
    /// which the new zebra did not install again.
    Swept {
        macs: usize,
        vteps: usize,
    },
    /// The mirror of `done` of the `total` VNIs of a build is there.
    Progress {
        done: usize,
        total: usize,
    },
}

/// The netlink thread's handles.
pub struct Link {
    pub tx: Sender<ToMirror>,
    pub rx: Receiver<FromMirror>,
}

/// Starts the netlink thread inside `netns`; it builds the mirror of
/// `build` (reporting progress), reads the mirror once (a [`Snapshot`])
/// and then reports every change. `sweep_secs`: see [`Sweep`]; 0 turns
/// it off.
pub fn spawn(netns: &str, sweep_secs: u16, build: Vec<Spec>) -> Result<Link, String> {
    let (to_tx, to_rx) = crossbeam::channel::unbounded();
    let (from_tx, from_rx) = crossbeam::channel::unbounded();
    let (ready_tx, ready_rx) = crossbeam::channel::bounded(1);
    let ns = netns.to_string();
    std::thread::Builder::new()
        .name("vtep-evpn".into())
        .spawn(move || match Mirror::open(&ns, sweep_secs) {
            Ok(mut m) => {
                let _ = ready_tx.send(Ok(()));
                m.run(to_rx, from_tx);
            }
            Err(e) => {
                let _ = ready_tx.send(Err(e));
            }
        })
        .map_err(|e| format!("cannot start the EVPN thread: {e}"))?;
    ready_rx
        .recv()
        .map_err(|_| "the EVPN thread stopped".to_string())??;
    for m in [ToMirror::Build(build), ToMirror::Resync] {
        to_tx
            .send(m)
            .map_err(|_| "the EVPN thread stopped".to_string())?;
    }
    Ok(Link {
        tx: to_tx,
        rx: from_rx,
    })
}

struct Mirror {
    /// Subscribed to RTNLGRP_NEIGH, non-blocking.
    events: Socket,
    /// Requests and dumps, blocking.
    rtnl: Rtnl,
    links: HashMap<u32, Role>,
    names: HashMap<Role, u32>,
    buf: Vec<u8>,
    zebra: ZebraWatch,
    sweep_after: Option<Duration>,
    sweep: Sweep,
}

impl Mirror {
    fn open(netns: &str, sweep_secs: u16) -> Result<Mirror, String> {
        rtnl::enter(netns)?;
        let mut events = Socket::new(NETLINK_ROUTE).map_err(|e| os("socket", e))?;
        events.bind_auto().map_err(|e| os("bind", e))?;
        events
            .set_rx_buf_sz(8 << 20)
            .map_err(|e| os("receive buffer", e))?;
        events
            .add_membership(RTNLGRP_NEIGH)
            .map_err(|e| os("subscribe", e))?;
        events
            .set_non_blocking(true)
            .map_err(|e| os("non-blocking", e))?;
        Ok(Mirror {
            events,
            rtnl: Rtnl::open()?,
            links: HashMap::new(),
            names: HashMap::new(),
            buf: Vec::with_capacity(1 << 16),
            zebra: ZebraWatch::default(),
            sweep_after: (sweep_secs > 0).then(|| Duration::from_secs(sweep_secs.into())),
            sweep: Sweep::Idle,
        })
    }

    /// Device `name`, if it exists.
    fn link_of(&mut self, name: &str) -> Result<Option<LinkMessage>, String> {
        self.rtnl.link(name)
    }

    /// Builds (or completes) the mirror of `specs`, [`BUILD_CHUNK`] VNIs
    /// at a time, reporting progress after each; errors are reported and
    /// the build goes on with the next VNIs.
    fn build(&mut self, specs: &[Spec], tx: &Sender<FromMirror>) -> Result<(), ()> {
        let total = specs.len();
        let mut done = 0;
        for chunk in specs.chunks(BUILD_CHUNK) {
            let mut errors = Vec::new();
            let mut links: HashMap<String, LinkMessage> = HashMap::new();
            let lookup = |m: &mut Mirror,
                          links: &mut HashMap<String, LinkMessage>,
                          errors: &mut Vec<String>| {
                for n in chunk.iter().flat_map(Spec::names) {
                    if links.contains_key(&n) {
                        continue;
                    }
                    match m.link_of(&n) {
                        Ok(Some(l)) => {
                            links.insert(n, l);
                        }
                        Ok(None) => {}
                        Err(e) => errors.push(e),
                    }
                }
            };
            lookup(self, &mut links, &mut errors);
            let creates: Vec<Req> = chunk
                .iter()
                .flat_map(|s| devices::create(s, |n| links.contains_key(n)))
                .collect();
            if !creates.is_empty() {
                errors.extend(self.rtnl.batch(creates));
                lookup(self, &mut links, &mut errors);
            }
            let mut setup = Vec::new();
            // A restart finds most VNIs as the last build left them.
            for s in chunk
                .iter()
                .filter(|s| !devices::ready(s, |n| links.get(n)))
            {
                match devices::configure(s, |n| links.get(n).map(|l| l.header.index)) {
                    Ok(v) => setup.extend(v),
                    Err(e) => errors.push(e),
                }
            }
            errors.extend(self.rtnl.batch(setup));
            for sp in chunk {
                errors.extend(devices::ipv6_on(&bridge_name(sp.vni)).err());
            }
            done += chunk.len();
            for e in errors {
                tx.send(FromMirror::Error(format!("building the mirror: {e}")))
                    .map_err(|_| ())?;
            }
            tx.send(FromMirror::Progress { done, total })
                .map_err(|_| ())?;
        }
        Ok(())
    }

    /// Removes the mirror of VNIs no longer configured (zebra withdraws
    /// their routes).
    fn remove(&mut self, vnis: &[u32], tx: &Sender<FromMirror>) -> Result<(), ()> {
        let mut reqs = Vec::new();
        for &v in vnis {
            let mut idx = HashMap::new();
            for n in [access_name(v), vxlan_name(v), bridge_name(v)] {
                match self.link_of(&n) {
                    Ok(Some(l)) => {
                        idx.insert(n, l.header.index);
                    }
                    Ok(None) => {}
                    Err(e) => tx.send(FromMirror::Error(e)).map_err(|_| ())?,
                }
            }
            reqs.extend(devices::remove(v, |n| idx.get(n).copied()));
        }
        for e in self.rtnl.batch(reqs) {
            tx.send(FromMirror::Error(format!("removing from the mirror: {e}")))
                .map_err(|_| ())?;
        }
        Ok(())
    }

    fn run(&mut self, rx: Receiver<ToMirror>, tx: Sender<FromMirror>) {
        let mut resync = false;
        let mut scanned = Instant::now() - ZEBRA_SCAN;
        loop {
            loop {
                match rx.try_recv() {
                    Ok(ToMirror::Resync) => resync = true,
                    Ok(ToMirror::Build(specs)) => {
                        if self.build(&specs, &tx).is_err() {
                            return;
                        }
                    }
                    Ok(ToMirror::Remove(vnis)) => {
                        if self.remove(&vnis, &tx).is_err() {
                            return;
                        }
                    }
                    Ok(cmd) => {
                        if let Err(e) = self.apply(&cmd) {
                            // A link may have been recreated: map again, retry once.
                            let again = self.read_links().and_then(|_| self.apply(&cmd));
                            if again.is_err() && tx.send(FromMirror::Error(e)).is_err() {
                                return;
                            }
                        }
                    }
                    Err(crossbeam::channel::TryRecvError::Empty) => break,
                    Err(crossbeam::channel::TryRecvError::Disconnected) => return,
                }
            }
            let probing = matches!(self.sweep, Sweep::Probing { .. });
            match self.read_events(&tx, probing) {
                Ok((overrun, seen)) => {
                    resync |= overrun;
                    if let (true, Sweep::Probing { quiet, .. }) = (seen, &mut self.sweep) {
                        *quiet = Instant::now();
                    }
                }
                Err(()) => return,
            }
            let now = Instant::now();
            // Only a sweep needs to know of zebra's restarts.
            if let Some(after) = self.sweep_after {
                if now.duration_since(scanned) >= ZEBRA_SCAN {
                    scanned = now;
                    self.watch_zebra(now, after);
                }
            }
            match self.sweep_step(now) {
                Ok(Some(done)) => {
                    resync = true;
                    if tx.send(done).is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    self.sweep = Sweep::Idle;
                    resync = true;
                    if tx.send(FromMirror::Error(e)).is_err() {
                        return;
                    }
                }
            }
            // While probing, the mirror lacks what is being probed: it is
            // read once the probe is over.
            if resync && !matches!(self.sweep, Sweep::Probing { .. }) {
                resync = false;
                let out = match self.consistent_dump() {
                    Ok((s, settled)) => {
                        // Still changing after every try: read again soon.
                        resync = !settled;
                        FromMirror::Snapshot(s)
                    }
                    Err(e) => FromMirror::Error(e),
                };
                if tx.send(out).is_err() {
                    return;
                }
            }
            let mut fds = [nix::poll::PollFd::new(
                self.events.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let _ = nix::poll::poll(&mut fds, nix::poll::PollTimeout::from(10u8));
        }
    }

    /// Looks for the zebra of this namespace; a new one schedules a sweep
    /// `after` from now.
    fn watch_zebra(&mut self, now: Instant, after: Duration) {
        let pid = zebra_pid();
        if self.zebra.seen(pid) {
            tracing::info!(
                pid = pid.unwrap_or(0),
                sweep_in_secs = after.as_secs(),
                "EVPN: a new zebra runs in the mirror's namespace"
            );
            let s = std::mem::replace(&mut self.sweep, Sweep::Idle);
            self.sweep = s.restart(now + after);
        }
    }

    /// Advances the sweep; the report when it has ended.
    fn sweep_step(&mut self, now: Instant) -> Result<Option<FromMirror>, String> {
        match &self.sweep {
            Sweep::Idle => Ok(None),
            Sweep::Due(at, _) if now < *at => Ok(None),
            Sweep::Due(_, earlier) => {
                let earlier = earlier.clone();
                self.read_links()?;
                let e = RemoteEntries::of(&self.dump_raw()?, |i| self.links.get(&i).copied());
                let probed: BTreeSet<(u32, [u8; 6])> = e
                    .selfs
                    .iter()
                    .filter(|k| e.masters.contains(k) || earlier.contains(k))
                    .copied()
                    .collect();
                for &(vni, mac) in &probed {
                    self.remove_remote(vni, mac, None, true)?;
                }
                for &(vni, ip) in &e.vteps {
                    self.remove_remote(vni, [0; 6], Some(ip), false)?;
                }
                let vteps = e.vteps;
                self.sweep = if probed.is_empty() && vteps.is_empty() {
                    Sweep::Idle
                } else {
                    Sweep::Probing {
                        probed,
                        vteps,
                        since: now,
                        quiet: now,
                    }
                };
                Ok(None)
            }
            Sweep::Probing { since, quiet, .. } => {
                let settled = now.duration_since(*since) >= PROBE_MIN
                    && now.duration_since(*quiet) >= PROBE_QUIET;
                if !settled && now.duration_since(*since) < PROBE_MAX {
                    return Ok(None);
                }
                let Sweep::Probing { probed, vteps, .. } =
                    std::mem::replace(&mut self.sweep, Sweep::Idle)
                else {
                    unreachable!()
                };
                self.read_links()?;
                let e = RemoteEntries::of(&self.dump_raw()?, |i| self.links.get(&i).copied());
                let stale = e.stale(&probed);
                for &(vni, mac) in &stale {
                    self.remove_remote(vni, mac, None, false)?;
                }
                let gone = vteps.difference(&e.vteps).count();
                tracing::info!(
                    macs = stale.len(),
                    vteps = gone,
                    "EVPN: swept what the new zebra did not install again"
                );
                Ok(Some(FromMirror::Swept {
                    macs: stale.len(),
                    vteps: gone,
                }))
            }
        }
    }

    /// Deletes a remote entry of VNI `vni`'s VXLAN device: the bridge's
    /// (`master`) entry of `mac`, or the device's own entry (all of it, or
    /// only `dst`'s part). Already gone is fine.
    fn remove_remote(
        &mut self,
        vni: u32,
        mac: [u8; 6],
        dst: Option<IpAddr>,
        master: bool,
    ) -> Result<(), String> {
        let Some(&ifindex) = self.names.get(&Role::Vxlan(vni)) else {
            return Ok(());
        };
        let n = remote_delete(ifindex, mac, dst, master);
        match self.rtnl.request(
            NLM_F_REQUEST | NLM_F_ACK,
            RouteNetlinkMessage::DelNeighbour(n),
        ) {
            Err(e) if !e.contains("No such file") => Err(format!(
                "removing {} of VNI {vni} from the mirror: {e}",
                vtep_config::MacAddr(mac)
            )),
            _ => Ok(()),
        }
    }

    /// Reports what arrived (unless `hold`: then it is only read, and the
    /// mirror read again later); Ok((overrun, seen)): overrun when the
    /// kernel dropped messages (the socket overflowed: read everything
    /// again), seen when anything arrived.
    fn read_events(&mut self, tx: &Sender<FromMirror>, hold: bool) -> Result<(bool, bool), ()> {
        let mut seen = false;
        loop {
            self.buf.clear();
            match self.events.recv(&mut self.buf, 0) {
                Ok(_) => seen = true,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok((false, seen)),
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => {
                    self.discard_queued();
                    return Ok((true, true));
                }
                Err(e) => {
                    return tx
                        .send(FromMirror::Error(os("receive", e)))
                        .map(|_| (false, seen))
                        .map_err(|_| ())
                }
            }
            if hold {
                continue;
            }
            let mut unknown_link = false;
            for m in messages(&self.buf) {
                if let RouteNetlinkMessage::NewNeighbour(n) | RouteNetlinkMessage::DelNeighbour(n) =
                    &m
                {
                    unknown_link |= n.header.family == AddressFamily::Bridge
                        && !self.links.contains_key(&n.header.ifindex);
                }
                if let Some(u) = translate(&m, |i| self.links.get(&i).copied()) {
                    tx.send(FromMirror::Update(u)).map_err(|_| ())?;
                }
            }
            if unknown_link {
                // A device made after the last map (a VNI added): map again,
                // and read everything so nothing of it is missed.
                return Ok((true, true));
            }
        }
    }

    /// Reads the whole mirror, again while it changed during the read, at
    /// most [`DUMP_TRIES`] times; the read, and whether nothing changed
    /// during it. A dump is not atomic: entries deleted while it runs
    /// shift the kernel's walk of the table, and it skips entries that
    /// did not change (so no message will bring them either). Nothing
    /// arriving on the event socket during a dump is what says it saw
    /// everything; what arrived is older than the next read, and dropped.
    fn consistent_dump(&mut self) -> Result<(Snapshot, bool), String> {
        let mut tries = 0;
        loop {
            tries += 1;
            self.read_links()?;
            let s = self.dump()?;
            let mut fds = [nix::poll::PollFd::new(
                self.events.as_fd(),
                nix::poll::PollFlags::POLLIN,
            )];
            let changed = nix::poll::poll(&mut fds, nix::poll::PollTimeout::ZERO).unwrap_or(1) > 0;
            if !changed {
                return Ok((s, true));
            }
            if tries == DUMP_TRIES {
                // What arrived is applied on top of this read.
                return Ok((s, false));
            }
            self.discard_queued();
        }
    }

    /// After an overflow: the kernel reports it before the messages still
    /// queued, which are older than the dump that follows. Applied after
    /// that dump they would bring back what it no longer holds, or take
    /// away what was added again: drop them. What changes from here on
    /// arrives after the dump's snapshot and is applied on top of it.
    fn discard_queued(&mut self) {
        loop {
            self.buf.clear();
            match self.events.recv(&mut self.buf, 0) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(ENOBUFS) => {}
                Err(_) => return,
            }
        }
    }

    /// Maps the mirror's devices by interface index.
    fn read_links(&mut self) -> Result<(), String> {
        let mut lm = LinkMessage::default();
        lm.header.interface_family = AddressFamily::Unspec;
        let all = self
            .rtnl
            .request(NLM_F_REQUEST | NLM_F_DUMP, RouteNetlinkMessage::GetLink(lm))?;
        self.links.clear();
        self.names.clear();
        for m in all {
            let RouteNetlinkMessage::NewLink(l) = m else {
                continue;
            };
            let role = l.attributes.iter().find_map(|a| match a {
                LinkAttribute::IfName(n) => role_of(n),
                _ => None,
            });
            if let Some(r) = role {
                self.links.insert(l.header.index, r);
                self.names.insert(r, l.header.index);
            }
        }
        Ok(())
    }

    /// Every bridge FDB entry of the namespace.
    fn dump_raw(&mut self) -> Result<Vec<RouteNetlinkMessage>, String> {
        let mut n = NeighbourMessage::default();
        n.header.family = AddressFamily::Bridge;
        self.rtnl.request(
            NLM_F_REQUEST | NLM_F_DUMP,
            RouteNetlinkMessage::GetNeighbour(n),
        )
    }

    fn dump(&mut self) -> Result<Snapshot, String> {
        let mut all = self.dump_raw()?;
        // The SVIs' IPv4 and IPv6 neighbours (an AF_UNSPEC dump has both).
        let mut n = NeighbourMessage::default();
        n.header.family = AddressFamily::Unspec;
        all.extend(self.rtnl.request(
            NLM_F_REQUEST | NLM_F_DUMP,
            RouteNetlinkMessage::GetNeighbour(n),
        )?);
        Ok(Snapshot {
            updates: all
                .iter()
                .filter_map(|m| translate(m, |i| self.links.get(&i).copied()))
                .collect(),
        })
    }

    /// Adds or removes one of vtepd's bindings on the SVI.
    fn apply_neigh(&mut self, vni: u32, ip: IpAddr, mac: Option<[u8; 6]>) -> Result<(), String> {
        let Some(&ifindex) = self.names.get(&Role::Bridge(vni)) else {
            return Err(format!(
                "the mirror has no {} for VNI {vni}",
                bridge_name(vni)
            ));
        };
        let n = local_neigh(ifindex, ip, mac);
        let r = match mac {
            Some(_) => self.rtnl.request(
                NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
                RouteNetlinkMessage::NewNeighbour(n),
            ),
            None => self
                .rtnl
                .request(NLM_F_REQUEST, RouteNetlinkMessage::DelNeighbour(n)),
        };
        match r {
            Err(e) if mac.is_some() || !e.contains("No such file") => Err(format!(
                "{} {ip} in VNI {vni}: {e}",
                if mac.is_some() { "adding" } else { "removing" }
            )),
            _ => Ok(()),
        }
    }

    fn apply(&mut self, cmd: &ToMirror) -> Result<(), String> {
        let (vni, mac, is_static, add) = match *cmd {
            ToMirror::Local {
                vni,
                mac,
                is_static,
            } => (vni, mac, is_static, true),
            ToMirror::LocalGone { vni, mac } => (vni, mac, false, false),
            ToMirror::LocalNeigh { vni, ip, mac } => return self.apply_neigh(vni, ip, Some(mac)),
            ToMirror::LocalNeighGone { vni, ip } => return self.apply_neigh(vni, ip, None),
            ToMirror::Resync | ToMirror::Build(_) | ToMirror::Remove(_) => return Ok(()),
        };
        let Some(&ifindex) = self.names.get(&Role::Access(vni)) else {
            return Err(format!(
                "the mirror has no {} for VNI {vni}",
                access_name(vni)
            ));
        };
        let n = local_entry(ifindex, mac, is_static, add);
        let r = if add {
            self.rtnl.request(
                NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE,
                RouteNetlinkMessage::NewNeighbour(n),
            )
        } else {
            self.rtnl.request(
                NLM_F_REQUEST | NLM_F_ACK,
                RouteNetlinkMessage::DelNeighbour(n),
            )
        };
        match r {
            Ok(_) => Ok(()),
            // Already gone (zebra or an operator removed it): nothing to do.
            Err(e) if !add && e.contains("No such file") => Ok(()),
            Err(e) => Err(format!(
                "{} {} in VNI {vni}: {e}",
                if add { "adding" } else { "removing" },
                vtep_config::MacAddr(mac)
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload};

    /// Messages zebra (FRR 8.4) and the kernel sent in the EVPN lab, as
    /// recorded on an RTNLGRP_NEIGH socket in the mirror's namespace:
    /// interface 3 is br100, 4 vxlan100, 6 acc100.
    const FLOOD_ADD: &str = "440000001c00000000000000000000000700000004000000c00002010a000200000000000000000008000100c00002021400030000000000000000000000000000000000";
    const FLOOD_DEL: &str = "440000001d00000000000000000000000700000004000000c00002010a000200000000000000000008000100c000020214000300000000000c0000000c00000000000000";
    const MAC_ADD: &str = "440000001c00000000000000000000000700000004000000020012010a000200020000000011000008000100c00002021400030000000000000000000000000000000000";
    const MAC_DEL: &str = "440000001d00000000000000000000000700000004000000020012010a000200020000000011000008000100c000020214000300000000000e0000000e00000000000000";
    /// The bridge's entry for the same MAC, pointing at the VXLAN port.
    const MAC_MASTER: &str = "4c0000001c00000000000000000000000700000004000000020010000a0002000200000000110000080009000300000008000f00000000001400030000000000000000000000000000000000";
    const MAC_MASTER_DEL: &str = "4c0000001d00000000000000000000000700000004000000020010000a0002000200000000110000080009000300000008000f000000000014000300000000000e0000000e00000000000000";
    /// vtepd's own entry on the access port, and the port's address.
    const LOCAL_ADD: &str = "4c0000001c00000000000000000000000700000006000000020010000a0002000200000000100000080009000300000008000f00000000001400030000000000000000000000000000000000";
    const LOCAL_DEL: &str = "4c0000001d00000000000000000000000700000006000000020010000a0002000200000000100000080009000300000008000f00000000001400030000000000620100006201000000000000";
    const PORT_ADDR: &str = "4c0000001c00000000000000000000000700000006000000800000000a0002000ebe48d79b4b0000080009000300000008000f00000000001400030000000000000000000000000000000000";

    fn roles(i: u32) -> Option<Role> {
        match i {
            3 => Some(Role::Bridge(100)),
            4 => Some(Role::Vxlan(100)),
            6 => Some(Role::Access(100)),
            _ => None,
        }
    }

    fn parse(hex: &str) -> RouteNetlinkMessage {
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let mut m = messages(&bytes);
        assert_eq!(m.len(), 1, "{hex}");
        m.remove(0)
    }

    fn one(hex: &str) -> Option<Update> {
        translate(&parse(hex), roles)
    }

    const T1: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
    const K1: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));

    #[test]
    fn zebra_routes_become_updates() {
        assert_eq!(
            one(FLOOD_ADD),
            Some(Update::Flood {
                vni: 100,
                remote: K1
            })
        );
        assert_eq!(
            one(FLOOD_DEL),
            Some(Update::FloodGone {
                vni: 100,
                remote: Some(K1)
            })
        );
        assert_eq!(
            one(MAC_ADD),
            Some(Update::Mac {
                vni: 100,
                mac: T1,
                remote: K1,
                sticky: false
            })
        );
        assert_eq!(one(MAC_DEL), Some(Update::MacGone { vni: 100, mac: T1 }));
        // The bridge's view of the same route adds nothing; its deletion
        // withdraws (deletes are not trusted to carry NDA_DST).
        assert_eq!(one(MAC_MASTER), None);
        assert_eq!(
            one(MAC_MASTER_DEL),
            Some(Update::MacGone { vni: 100, mac: T1 })
        );
    }

    #[test]
    fn a_sweep_finds_the_macs_zebra_did_not_install_again() {
        let dump: Vec<_> = [MAC_ADD, MAC_MASTER, FLOOD_ADD, LOCAL_ADD, PORT_ADDR]
            .iter()
            .map(|h| parse(h))
            .collect();
        let e = RemoteEntries::of(&dump, roles);
        let t1 = BTreeSet::from([(100, T1)]);
        assert_eq!(e.selfs, t1);
        assert_eq!(e.masters, t1);
        assert_eq!(e.vteps, BTreeSet::from([(100, K1)]));
        // Installed again: its bridge entry is back.
        assert!(e.stale(&t1).is_empty());
        // Not installed again: only the device's entry is left.
        let after = RemoteEntries::of(&dump[..1], roles);
        assert_eq!(after.stale(&t1), t1);
        // Not probed (it had no bridge entry to remove): never swept.
        assert!(after.stale(&BTreeSet::new()).is_empty());
    }

    #[test]
    fn sweep_deletes_say_which_entry() {
        let gone = |n: NeighbourMessage| translate(&RouteNetlinkMessage::DelNeighbour(n), roles);
        let master = remote_delete(4, T1, None, true);
        assert!(master.header.flags.contains(NeighbourFlags::Controller));
        assert_eq!(gone(master), Some(Update::MacGone { vni: 100, mac: T1 }));
        let own = remote_delete(4, T1, None, false);
        assert!(own.header.flags.contains(NeighbourFlags::Own));
        assert!(!own.attributes.iter().any(|a| dst(a).is_some()));
        assert_eq!(
            gone(remote_delete(4, [0; 6], Some(K1), false)),
            Some(Update::FloodGone {
                vni: 100,
                remote: Some(K1)
            })
        );
    }

    #[test]
    fn a_probe_cut_short_hands_on_what_it_touched() {
        let t = Instant::now();
        let probed = BTreeSet::from([(100, T1)]);
        let p = Sweep::Probing {
            probed: probed.clone(),
            vteps: BTreeSet::from([(100, K1)]),
            since: t,
            quiet: t,
        };
        let Sweep::Due(at, earlier) = p.restart(t + Duration::from_secs(30)).restart(t) else {
            panic!("a new zebra makes a sweep due");
        };
        assert_eq!((at, earlier), (t, probed));
        assert!(matches!(Sweep::Idle.restart(t), Sweep::Due(_, e) if e.is_empty()));
    }

    #[test]
    fn only_a_zebra_other_than_the_last_one_seen_is_new() {
        let mut w = ZebraWatch::default();
        assert!(!w.seen(Some(10)), "the one running at start");
        assert!(!w.seen(Some(10)));
        assert!(w.seen(Some(11)), "restarted between two looks");
        assert!(!w.seen(None), "gone");
        assert!(w.seen(Some(12)), "back");
        let mut w = ZebraWatch::default();
        assert!(!w.seen(None));
        assert!(w.seen(Some(5)), "none at start, one later");
    }

    #[test]
    fn own_entries_are_recognised_and_the_ports_address_is_not() {
        assert_eq!(
            one(LOCAL_ADD),
            Some(Update::Local {
                vni: 100,
                mac: [2, 0, 0, 0, 0, 0x10]
            })
        );
        assert_eq!(one(LOCAL_DEL), None);
        assert_eq!(one(PORT_ADDR), None);
    }

    #[test]
    fn other_devices_and_families_are_ignored() {
        let mut n = local_entry(3, T1, false, true);
        assert_eq!(
            translate(&RouteNetlinkMessage::NewNeighbour(n.clone()), roles),
            None,
            "the bridge itself"
        );
        n.header.ifindex = 4;
        n.header.family = AddressFamily::Inet;
        assert_eq!(
            translate(&RouteNetlinkMessage::NewNeighbour(n), roles),
            None,
            "an ARP entry"
        );
    }

    #[test]
    fn local_entries_are_extern_learned_and_never_permanent() {
        let learned = local_entry(6, T1, false, true);
        assert_eq!(learned.header.family, AddressFamily::Bridge);
        assert_eq!(learned.header.state, NeighbourState::Reachable);
        assert!(learned
            .header
            .flags
            .contains(NeighbourFlags::Controller | NeighbourFlags::ExtLearned));
        assert_eq!(
            local_entry(6, T1, true, true).header.state,
            NeighbourState::Noarp
        );
        // Emitted and parsed back, it reads as one of vtepd's own.
        let mut m = NetlinkMessage::new(
            NetlinkHeader::default(),
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewNeighbour(learned)),
        );
        m.finalize();
        let mut b = vec![0u8; m.buffer_len()];
        m.serialize(&mut b);
        let back = messages(&b);
        assert_eq!(
            translate(&back[0], roles),
            Some(Update::Local { vni: 100, mac: T1 })
        );
    }

    #[test]
    fn svi_neighbours_are_bindings_zebras_or_ours() {
        let a: IpAddr = "10.0.0.2".parse().unwrap();
        let b: IpAddr = "2001:db8::2".parse().unwrap();
        let round_trip = |m: RouteNetlinkMessage| {
            let mut msg =
                NetlinkMessage::new(NetlinkHeader::default(), NetlinkPayload::InnerMessage(m));
            msg.finalize();
            let mut buf = vec![0u8; msg.buffer_len()];
            msg.serialize(&mut buf);
            translate(&messages(&buf)[0], roles)
        };
        // Ours, as vtepd writes them.
        for ip in [a, b] {
            assert_eq!(
                round_trip(RouteNetlinkMessage::NewNeighbour(local_neigh(
                    3,
                    ip,
                    Some(T1)
                ))),
                Some(Update::LocalNeigh {
                    vni: 100,
                    ip,
                    mac: T1
                })
            );
        }
        // zebra's: extern-learned, NUD_NOARP.
        let mut z = local_neigh(3, b, Some(T1));
        z.header.flags = NeighbourFlags::ExtLearned;
        z.header.state = NeighbourState::Noarp;
        assert_eq!(
            round_trip(RouteNetlinkMessage::NewNeighbour(z.clone())),
            Some(Update::Neigh {
                vni: 100,
                ip: b,
                mac: T1
            })
        );
        assert_eq!(
            round_trip(RouteNetlinkMessage::DelNeighbour(z.clone())),
            Some(Update::NeighGone { vni: 100, ip: b })
        );
        // The kernel's own resolution, and other devices: not bindings.
        let mut k = local_neigh(3, a, Some(T1));
        k.header.state = NeighbourState::Reachable;
        assert_eq!(round_trip(RouteNetlinkMessage::NewNeighbour(k)), None);
        z.header.ifindex = 4;
        assert_eq!(round_trip(RouteNetlinkMessage::NewNeighbour(z)), None);
    }

    #[test]
    fn device_names() {
        assert_eq!(role_of(&vxlan_name(100)), Some(Role::Vxlan(100)));
        assert_eq!(
            role_of(&access_name(16_777_215)),
            Some(Role::Access(16_777_215))
        );
        assert!(access_name(16_777_215).len() <= 15 && vxlan_name(16_777_215).len() <= 15);
        assert_eq!(role_of(&bridge_name(100)), Some(Role::Bridge(100)));
        for n in ["acp100", "vxlan0", "vxlan16777216", "acc", "vxlanx"] {
            assert_eq!(role_of(n), None, "{n}");
        }
    }
}

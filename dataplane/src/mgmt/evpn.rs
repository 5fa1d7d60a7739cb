//! BGP EVPN through FRR (`[evpn]`): the kernel mirror of each VNI in the
//! EVPN namespace, and the management thread's side of it. zebra reads the
//! mirror (local MACs, VNIs) and writes into it (remote MACs, flood lists);
//! [`super::netlink`] carries both ways; this file turns them into FDB
//! entries of kind `evpn` and flood-list entries, and the FDB's local
//! changes into mirror requests. The table logic is pure and unit-tested.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::process::Command;

use vtep_config::{Config, Vni};

use super::netlink::{self, ToMirror, Update};
use super::tables::Tables;
use crate::fdb::Target;

/// Where a flood-list entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FloodSource {
    Config,
    Evpn,
}

impl FloodSource {
    pub fn name(self) -> &'static str {
        match self {
            FloodSource::Config => "config",
            FloodSource::Evpn => "evpn",
        }
    }
}

/// Flood lists learned from EVPN type-3 routes, per VNI.
pub type EvpnFlood = BTreeMap<Vni, BTreeSet<IpAddr>>;

impl Tables {
    /// A VNI's flood list with each entry's sources (config first).
    pub fn flood_list(&self, vni: Vni) -> Vec<(IpAddr, FloodSource)> {
        let mut v: Vec<(IpAddr, FloodSource)> = self
            .cfg
            .vnis
            .iter()
            .filter(|c| c.id == vni)
            .flat_map(|c| c.flood.iter().map(|ip| (*ip, FloodSource::Config)))
            .collect();
        if let Some(s) = self.evpn_flood.get(&vni) {
            v.extend(s.iter().map(|ip| (*ip, FloodSource::Evpn)));
        }
        v
    }

    /// A remote VTEP named by zebra, if it can be one: of the underlay's
    /// family, not this VTEP, reachable.
    fn evpn_remote(&mut self, ip: IpAddr) -> Option<u32> {
        let u = &self.cfg.underlay;
        if ip == u.address || ip.is_ipv6() != u.is_ipv6() || u.next_hop(ip).is_none() {
            tracing::warn!(%ip, "EVPN route to a VTEP this one cannot reach; ignored");
            return None;
        }
        let (r, new) = self.remotes.intern(ip)?;
        self.dirty |= new;
        Some(r)
    }

    /// Applies one change of the mirror; true if it changed anything.
    pub fn evpn_update(&mut self, u: &Update, now: u64) -> bool {
        match *u {
            Update::Mac {
                vni, mac, remote, ..
            } => {
                let Some(i) = Vni::new(vni).and_then(|v| self.vnis.get(v)) else {
                    return false;
                };
                let Some(r) = self.evpn_remote(remote) else {
                    return false;
                };
                match self.fdb.add_evpn(i, mac, Target::Remote(r), now) {
                    Ok(changed) => {
                        self.dirty |= changed;
                        changed
                    }
                    Err(_) => {
                        self.fdb.counters.table_full += 1;
                        false
                    }
                }
            }
            Update::MacGone { vni, mac } => {
                let Some(i) = Vni::new(vni).and_then(|v| self.vnis.get(v)) else {
                    return false;
                };
                let gone = self.fdb.remove_evpn(i, mac);
                self.dirty |= gone;
                gone
            }
            Update::Flood { vni, remote } => {
                let Some(v) = Vni::new(vni).filter(|v| self.vnis.get(*v).is_some()) else {
                    return false;
                };
                if self.evpn_remote(remote).is_none() {
                    return false;
                }
                let added = self.evpn_flood.entry(v).or_default().insert(remote);
                self.dirty |= added;
                added
            }
            Update::FloodGone { vni, remote } => {
                let Some(v) = Vni::new(vni) else {
                    return false;
                };
                let Some(s) = self.evpn_flood.get_mut(&v) else {
                    return false;
                };
                let gone = match remote {
                    Some(ip) => s.remove(&ip),
                    None => false,
                };
                self.dirty |= gone;
                gone
            }
            Update::Local { .. } => false,
        }
    }

    /// Makes the tables agree with a read of the whole mirror: EVPN
    /// entries and flood lists become what it holds; returns the requests
    /// that make the mirror hold exactly vtepd's local MACs.
    pub fn evpn_snapshot(&mut self, snap: &netlink::Snapshot, now: u64) -> Vec<ToMirror> {
        let mut macs = BTreeMap::new();
        let mut flood: EvpnFlood = BTreeMap::new();
        let mut in_mirror = BTreeSet::new();
        for u in &snap.updates {
            match *u {
                Update::Mac {
                    vni, mac, remote, ..
                } => {
                    macs.insert((vni, mac), remote);
                }
                Update::Flood { vni, remote } => {
                    if let Some(v) = Vni::new(vni) {
                        flood.entry(v).or_default().insert(remote);
                    }
                }
                Update::Local { vni, mac } => {
                    in_mirror.insert((vni, mac));
                }
                Update::MacGone { .. } | Update::FloodGone { .. } => {}
            }
        }
        // EVPN entries the mirror no longer has go.
        for r in self.fdb.rows(now) {
            if r.kind != crate::fdbmgr::Kind::Evpn {
                continue;
            }
            let Some(v) = self.vnis.vni_of(r.vni) else {
                continue;
            };
            if !macs.contains_key(&(v.get(), r.mac.0)) {
                self.fdb.remove_evpn(r.vni, r.mac.0);
                self.dirty = true;
            }
        }
        for ((vni, mac), remote) in macs {
            self.evpn_update(
                &Update::Mac {
                    vni,
                    mac,
                    remote,
                    sticky: false,
                },
                now,
            );
        }
        self.evpn_flood.clear();
        for (v, set) in flood {
            for remote in set {
                self.evpn_update(
                    &Update::Flood {
                        vni: v.get(),
                        remote,
                    },
                    now,
                );
            }
        }
        self.dirty = true;
        // The journal's earlier changes are covered by this full list.
        self.fdb.take_local_changes();
        let mut out = Vec::new();
        let held: BTreeSet<(u32, [u8; 6])> = self
            .fdb
            .locals()
            .into_iter()
            .filter_map(|(i, mac, is_static)| {
                let vni = self.vnis.vni_of(i)?.get();
                out.push(ToMirror::Local {
                    vni,
                    mac,
                    is_static,
                });
                Some((vni, mac))
            })
            .collect();
        for (vni, mac) in in_mirror {
            if !held.contains(&(vni, mac)) {
                out.push(ToMirror::LocalGone { vni, mac });
            }
        }
        out
    }

    /// The mirror requests for the FDB's local changes since last asked.
    pub fn mirror_requests(&mut self) -> Vec<ToMirror> {
        self.fdb
            .take_local_changes()
            .into_iter()
            .filter_map(|c| {
                let vni = self.vnis.vni_of(c.vni)?.get();
                Some(match c.local {
                    Some(is_static) => ToMirror::Local {
                        vni,
                        mac: c.mac,
                        is_static,
                    },
                    None => ToMirror::LocalGone { vni, mac: c.mac },
                })
            })
            .collect()
    }
}

/// The commands (for `ip` or `bridge`, each with `-n NETNS`) that build
/// VNI `vni`'s mirror: a bridge, a VXLAN device and an access port,
/// without addresses and without learning. `exists` skips the creation of
/// devices that are already there (a restart keeps the mirror and zebra's
/// view of it).
pub fn mirror_commands(cfg: &Config, vni: u32, exists: impl Fn(&str) -> bool) -> Vec<Vec<String>> {
    let (br, vx, acc) = (
        netlink::bridge_name(vni),
        netlink::vxlan_name(vni),
        netlink::access_name(vni),
    );
    let u = &cfg.underlay;
    let mut v: Vec<String> = Vec::new();
    if !exists(&br) {
        v.push(format!("ip link add {br} type bridge stp_state 0"));
    }
    v.push(format!("ip link set {br} addrgenmode none"));
    if !exists(&vx) {
        v.push(format!(
            "ip link add {vx} type vxlan id {vni} local {} dstport {} nolearning",
            u.address, u.udp_port
        ));
    }
    // The access side is one end of a veth pair (this kernel may have no
    // dummy driver); its peer stays outside the bridge, up so that the
    // port has carrier.
    let peer = netlink::access_peer_name(vni);
    if !exists(&acc) {
        v.push(format!("ip link add {acc} type veth peer name {peer}"));
    }
    v.push(format!("ip link set {peer} addrgenmode none"));
    v.push(format!("ip link set {peer} up"));
    for d in [&vx, &acc] {
        v.push(format!("ip link set {d} addrgenmode none master {br}"));
        v.push(format!("bridge link set dev {d} learning off"));
    }
    for d in [&vx, &acc, &br] {
        v.push(format!("ip link set {d} up"));
    }
    v.into_iter()
        .map(|c| c.split(' ').map(String::from).collect())
        .collect()
}

/// Runs `tool -n netns args...`; the error names the command and what the
/// tool said.
fn run(netns: &str, c: &[String]) -> Result<(), String> {
    let (tool, args) = c.split_first().ok_or("empty command")?;
    let out = Command::new(tool)
        .arg("-n")
        .arg(netns)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {tool}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "evpn.netns {netns:?}: `{tool} -n {netns} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn exists(netns: &str, dev: &str) -> bool {
    Command::new("ip")
        .args(["-n", netns, "link", "show", "dev", dev])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Builds (or completes) the mirror of every configured VNI.
pub fn build_mirror(cfg: &Config, netns: &str) -> Result<(), String> {
    for v in &cfg.vnis {
        for c in mirror_commands(cfg, v.id.get(), |d| exists(netns, d)) {
            run(netns, &c)?;
        }
    }
    Ok(())
}

/// Removes the mirror of a VNI no longer configured (its routes are
/// withdrawn by zebra).
pub fn remove_mirror(netns: &str, vni: u32) -> Result<(), String> {
    // Deleting one end of the veth pair deletes both.
    for d in [
        netlink::access_name(vni),
        netlink::vxlan_name(vni),
        netlink::bridge_name(vni),
    ] {
        if exists(netns, &d) {
            run(netns, &["ip", "link", "del", &d].map(String::from))?;
        }
    }
    Ok(())
}

//! BGP EVPN through FRR (`[evpn]`): the kernel mirror of each VNI in the
//! EVPN namespace, and the management thread's side of it. zebra reads the
//! mirror (local MACs, VNIs) and writes into it (remote MACs, flood lists);
//! [`netlink`] carries both ways; this file turns them into FDB
//! entries of kind `evpn` and flood-list entries, and the FDB's local
//! changes into mirror requests. The table logic is pure and unit-tested.

pub mod devices;
pub mod netlink;

use std::collections::{BTreeMap, BTreeSet};

use hashbrown::{HashMap, HashSet};
use std::net::IpAddr;

use vtep_config::{Config, Vni};

use super::tables::{BindSource, Binding, EvpnFlood, Tables};
use crate::datapath::fdb::{Target, VniIdx};
use netlink::{ToMirror, Update};

/// Where a flood-list entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FloodSource {
    /// The VNI's multicast group (`[[vni]] group`).
    Group,
    Config,
    Evpn,
}

impl FloodSource {
    pub fn name(self) -> &'static str {
        match self {
            FloodSource::Group => "group",
            FloodSource::Config => "config",
            FloodSource::Evpn => "evpn",
        }
    }
}

impl Tables {
    /// A VNI's flood list with each entry's sources (its group, then
    /// config, then EVPN).
    pub fn flood_list(&self, vni: Vni) -> Vec<(IpAddr, FloodSource)> {
        let mut v: Vec<(IpAddr, FloodSource)> = self
            .cfg
            .vnis
            .iter()
            .filter(|c| c.id == vni)
            .flat_map(|c| {
                let group = c.group.map(|g| (g, FloodSource::Group));
                group
                    .into_iter()
                    .chain(c.flood.iter().map(|ip| (*ip, FloodSource::Config)))
            })
            .collect();
        if let Some(s) = self.evpn_flood.get(&vni) {
            v.extend(s.iter().map(|ip| (*ip, FloodSource::Evpn)));
        }
        v
    }

    /// A VNI's flood list without repeats (a VTEP both configured and
    /// announced by BGP gets one copy).
    pub fn flood_remotes(&self, vni: Vni) -> Vec<IpAddr> {
        let mut seen = BTreeSet::new();
        self.flood_list(vni)
            .into_iter()
            .map(|(ip, _)| ip)
            .filter(|ip| seen.insert(*ip))
            .collect()
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
                vni,
                mac,
                remote,
                sticky,
            } => {
                let Some(i) = Vni::new(vni).and_then(|v| self.vnis.get(v)) else {
                    return false;
                };
                let Some(r) = self.evpn_remote(remote) else {
                    return false;
                };
                // Another VTEP has it now: the mirror must not say it is here.
                self.evpn_adopted.expire_now((vni, mac));
                if self.fdb.kind(i, mac) == Some(crate::control::fdbmgr::Kind::Learned) {
                    tracing::info!(vni, mac = %vtep_config::MacAddr(mac), %remote, "MAC moved away (EVPN)");
                }
                match self.fdb.add_evpn(i, mac, Target::Remote(r), sticky, now) {
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
            Update::Neigh { vni, ip, mac } => {
                let Some(i) = Vni::new(vni).and_then(|v| self.vnis.get(v)) else {
                    return false;
                };
                let b = Binding {
                    mac,
                    source: BindSource::Evpn,
                };
                let old = self.arp_bind.get(&(i, ip)).copied();
                if old.is_some_and(|o| o.source == BindSource::Config) {
                    return false;
                }
                let changed = self.arp_bind.insert((i, ip), b) != Some(b);
                // Another VTEP has the address now.
                self.neigh_check |= changed;
                self.dirty |= changed;
                changed
            }
            Update::NeighGone { vni, ip } => {
                let Some(i) = Vni::new(vni).and_then(|v| self.vnis.get(v)) else {
                    return false;
                };
                let evpn = self
                    .arp_bind
                    .get(&(i, ip))
                    .is_some_and(|b| b.source == BindSource::Evpn);
                if evpn {
                    self.arp_bind.remove(&(i, ip));
                    self.dirty = true;
                } else if self.mirror_neigh.remove(&(vni, ip)).is_some() {
                    // One of vtepd's, removed by someone else: put back.
                    self.neigh_check = true;
                }
                evpn
            }
            Update::Local { .. } | Update::LocalNeigh { .. } => false,
        }
    }

    /// The mirror requests that make the SVIs hold exactly vtepd's
    /// bindings of its local MACs (learned or static on an access port, or
    /// adopted from the previous process), when something they depend on
    /// changed. EVPN bindings of MACs that became local become vtepd's.
    pub fn neigh_requests(&mut self) -> Vec<ToMirror> {
        if !std::mem::take(&mut self.neigh_check) || self.cfg.evpn.is_none() {
            return Vec::new();
        }
        let mut local: HashSet<(VniIdx, [u8; 6])> = self
            .fdb
            .locals()
            .into_iter()
            .map(|(i, mac, _)| (i, mac))
            .collect();
        for &(vni, mac) in self.evpn_adopted.until.keys() {
            if let Some(i) = Vni::new(vni).and_then(|v| self.vnis.get(v)) {
                local.insert((i, mac));
            }
        }
        // An address another VTEP announced whose MAC is here now: the
        // host moved here, its addresses with it (traffic may never show
        // them again: the workers report only bindings they lack).
        for ((i, _), b) in self.arp_bind.iter_mut() {
            if b.source == BindSource::Evpn && local.contains(&(*i, b.mac)) {
                b.source = BindSource::Snooped;
            }
        }
        let want: HashMap<(u32, IpAddr), [u8; 6]> = self
            .arp_bind
            .iter()
            .filter(|(&(i, _), b)| b.source != BindSource::Evpn && local.contains(&(i, b.mac)))
            .filter_map(|(&(i, ip), b)| Some(((self.vnis.vni_of(i)?.get(), ip), b.mac)))
            .collect();
        let mut out: Vec<ToMirror> = self
            .mirror_neigh
            .keys()
            .filter(|k| !want.contains_key(*k))
            .map(|&(vni, ip)| ToMirror::LocalNeighGone { vni, ip })
            .collect();
        out.extend(
            want.iter()
                .filter(|(k, mac)| self.mirror_neigh.get(*k) != Some(*mac))
                .map(|(&(vni, ip), &mac)| ToMirror::LocalNeigh { vni, ip, mac }),
        );
        out.sort_by_key(|r| match r {
            ToMirror::LocalNeighGone { vni, ip } | ToMirror::LocalNeigh { vni, ip, .. } => {
                (*vni, *ip)
            }
            _ => (0, IpAddr::from([0u8; 4])),
        });
        self.mirror_neigh = want;
        out
    }

    /// Makes the tables agree with a read of the whole mirror: EVPN
    /// entries and flood lists become what it holds; returns the requests
    /// that make the mirror hold exactly vtepd's local MACs.
    pub fn evpn_snapshot(&mut self, snap: &netlink::Snapshot, now: u64) -> Vec<ToMirror> {
        let mut macs = BTreeMap::new();
        let mut flood: EvpnFlood = BTreeMap::new();
        let mut in_mirror = BTreeSet::new();
        let mut neighs = HashMap::new();
        let mut local_neighs = HashMap::new();
        for u in &snap.updates {
            match *u {
                Update::Mac {
                    vni,
                    mac,
                    remote,
                    sticky,
                } => {
                    macs.insert((vni, mac), (remote, sticky));
                }
                Update::Flood { vni, remote } => {
                    if let Some(v) = Vni::new(vni) {
                        flood.entry(v).or_default().insert(remote);
                    }
                }
                Update::Local { vni, mac } => {
                    in_mirror.insert((vni, mac));
                }
                Update::Neigh { vni, ip, mac } => {
                    neighs.insert((vni, ip), mac);
                }
                Update::LocalNeigh { vni, ip, mac } => {
                    local_neighs.insert((vni, ip), mac);
                }
                Update::MacGone { .. } | Update::FloodGone { .. } | Update::NeighGone { .. } => {}
            }
        }
        // EVPN bindings become the mirror's.
        self.arp_bind.retain(|_, b| b.source != BindSource::Evpn);
        for (&(vni, ip), &mac) in &neighs {
            self.evpn_update(&Update::Neigh { vni, ip, mac }, now);
        }
        if !self.evpn_adopted.synced {
            // The previous process's bindings: kept as snooped ones, so
            // that they stay advertised while their MACs do.
            for (&(vni, ip), &mac) in &local_neighs {
                if let Some(i) = Vni::new(vni).and_then(|v| self.vnis.get(v)) {
                    let source = BindSource::Snooped;
                    self.arp_bind
                        .entry((i, ip))
                        .or_insert(Binding { mac, source });
                }
            }
        }
        self.mirror_neigh = local_neighs;
        self.neigh_check = true;
        // EVPN entries the mirror no longer has go.
        for r in self.fdb.rows(now) {
            if r.kind != crate::control::fdbmgr::Kind::Evpn {
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
        for ((vni, mac), (remote, sticky)) in macs {
            self.evpn_update(
                &Update::Mac {
                    vni,
                    mac,
                    remote,
                    sticky,
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
        let first = !self.evpn_adopted.synced;
        self.evpn_adopted.synced = true;
        let adopted = &mut self.evpn_adopted;
        adopted
            .until
            .retain(|k, _| in_mirror.contains(k) && !held.contains(k));
        for (vni, mac) in in_mirror {
            if held.contains(&(vni, mac)) || adopted.until.contains_key(&(vni, mac)) {
                continue;
            }
            if first {
                let aging = self
                    .cfg
                    .vnis
                    .iter()
                    .find(|c| c.id.get() == vni)
                    .map_or(0, |c| u64::from(c.aging_secs) * 1000);
                adopted.until.insert((vni, mac), now + aging);
            } else {
                out.push(ToMirror::LocalGone { vni, mac });
            }
        }
        adopted.next = adopted.until.values().copied().min().unwrap_or(u64::MAX);
        out
    }

    /// Removals of adopted MACs whose time has come.
    pub fn adopted_expired(&mut self, now: u64) -> Vec<ToMirror> {
        let a = &mut self.evpn_adopted;
        if now < a.next {
            return Vec::new();
        }
        let mut out = Vec::new();
        a.until.retain(|&(vni, mac), until| {
            let keep = now < *until;
            if !keep {
                out.push(ToMirror::LocalGone { vni, mac });
            }
            keep
        });
        a.next = a.until.values().copied().min().unwrap_or(u64::MAX);
        self.neigh_check |= !out.is_empty();
        out
    }

    /// The mirror requests for the FDB's local changes since last asked.
    pub fn mirror_requests(&mut self) -> Vec<ToMirror> {
        let changes = self.fdb.take_local_changes();
        // Which bindings are advertised follows which MACs are local.
        self.neigh_check |= !changes.is_empty();
        changes
            .into_iter()
            .filter_map(|c| {
                let vni = self.vnis.vni_of(c.vni)?.get();
                // Learned again (or gone): no longer the old process's.
                self.evpn_adopted.until.remove(&(vni, c.mac));
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

/// What the mirror of each of `vnis` is made of.
pub fn specs(cfg: &Config, vnis: &[u32]) -> Vec<devices::Spec> {
    vnis.iter()
        .map(|&vni| devices::Spec {
            vni,
            local: cfg.underlay.address,
            port: cfg.underlay.udp_port,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::fdbmgr::Kind;
    use crate::datapath::worker::{Event, LearnAt};
    use crate::testing::config_text;
    use netlink::Snapshot;

    const K1: &str = "192.0.2.2";
    const K9: &str = "192.0.2.9";
    const X: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
    const Y: [u8; 6] = [2, 0, 0, 0, 0, 0x12];

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn evpn_config(extra: &str) -> Config {
        let text = config_text(extra)
            .replace(
                "\"--vdev=net_ring1\"]",
                "\"--vdev=net_ring1\", \"--vdev=net_tap0,iface=vtep0\"]",
            )
            .replace("[underlay]\n", "[underlay]\nkernel_port = \"net_tap0\"\n");
        Config::parse(&format!("{text}\n[evpn]\nnetns = \"cp\"\n")).unwrap()
    }

    fn tables() -> Tables {
        let mut t = Tables::new(evpn_config(""), [2, 0, 0, 0, 1, 1], 0).unwrap();
        t.mirror_requests();
        t
    }

    fn mac(vni: u32, m: [u8; 6], remote: &str) -> Update {
        Update::Mac {
            vni,
            mac: m,
            remote: ip(remote),
            sticky: false,
        }
    }

    fn kind_at(t: &Tables, m: [u8; 6]) -> Option<(Kind, Target)> {
        let i = t.vnis.get(Vni::new(100).unwrap())?;
        let row = t
            .fdb
            .rows(0)
            .into_iter()
            .find(|r| r.vni == i && r.mac.0 == m)?;
        Some((row.kind, row.target))
    }

    fn learn_local(t: &mut Tables, m: [u8; 6], now: u64) {
        let vni = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        t.event(
            Event::Learn {
                vni,
                mac: m,
                at: LearnAt::Local(0),
            },
            now,
        );
    }

    #[test]
    fn type2_routes_are_evpn_entries() {
        let mut t = tables();
        assert!(t.evpn_update(&mac(100, X, K1), 1));
        assert!(!t.evpn_update(&mac(100, X, K1), 2), "the same route again");
        let r = t.remotes.get(ip(K1)).unwrap();
        assert_eq!(kind_at(&t, X), Some((Kind::Evpn, Target::Remote(r))));
        // Known in the published State, and never aged.
        let st = super::super::publish::build(&t, 1);
        assert!(st.remote(r).is_some());
        t.fdb.age(10_000_000, &[]);
        assert!(kind_at(&t, X).is_some());
        // A VNI vtepd does not carry, or a VTEP it cannot be, is ignored.
        assert!(!t.evpn_update(&mac(300, Y, K1), 3));
        assert!(
            !t.evpn_update(&mac(100, Y, "192.0.2.1"), 3),
            "our own address"
        );
        assert!(
            !t.evpn_update(&mac(100, Y, "2001:db8::2"), 3),
            "the other family"
        );
        let e = t.fdb_del(100, "02:00:00:00:00:11").unwrap_err();
        assert!(e.contains("BGP EVPN"), "{e}");
        assert!(t.evpn_update(&Update::MacGone { vni: 100, mac: X }, 4));
        assert_eq!(kind_at(&t, X), None);
        assert!(t.mirror_requests().is_empty(), "nothing local changed");
    }

    #[test]
    fn macs_move_both_ways() {
        let mut t = tables();
        learn_local(&mut t, X, 1);
        assert_eq!(
            t.mirror_requests(),
            [ToMirror::Local {
                vni: 100,
                mac: X,
                is_static: false
            }],
            "a learned MAC is advertised at once"
        );
        // zebra says X is now behind k1: it moved away.
        assert!(t.evpn_update(&mac(100, X, K1), 2));
        assert!(matches!(
            kind_at(&t, X),
            Some((Kind::Evpn, Target::Remote(_)))
        ));
        assert_eq!(
            t.mirror_requests(),
            [ToMirror::LocalGone { vni: 100, mac: X }]
        );
        // Traffic from another VTEP does not move an EVPN entry...
        let vni = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        t.event(
            Event::Learn {
                vni,
                mac: X,
                at: LearnAt::Remote(ip(K9)),
            },
            3,
        );
        assert!(matches!(kind_at(&t, X), Some((Kind::Evpn, _))));
        // ...a local sighting does: it moved back here.
        learn_local(&mut t, X, 4);
        assert_eq!(kind_at(&t, X), Some((Kind::Learned, Target::Local(0))));
        assert_eq!(
            t.mirror_requests(),
            [ToMirror::Local {
                vni: 100,
                mac: X,
                is_static: false
            }]
        );
        // zebra's withdrawal of the old route leaves the local entry alone.
        assert!(!t.evpn_update(&Update::MacGone { vni: 100, mac: X }, 5));
        assert_eq!(kind_at(&t, X), Some((Kind::Learned, Target::Local(0))));
        // Aged out: withdrawn.
        t.fdb.age(10_000_000, &[]);
        assert_eq!(
            t.mirror_requests(),
            [ToMirror::LocalGone { vni: 100, mac: X }]
        );
    }

    #[test]
    fn sticky_macs_do_not_move_here() {
        let mut t = tables();
        let sticky = Update::Mac {
            vni: 100,
            mac: X,
            remote: ip(K1),
            sticky: true,
        };
        assert!(t.evpn_update(&sticky, 1));
        learn_local(&mut t, X, 2);
        assert!(matches!(
            kind_at(&t, X),
            Some((Kind::Evpn, Target::Remote(_)))
        ));
        assert!(t.mirror_requests().is_empty(), "never advertised from here");
        // The same route without the flag: it may move again.
        t.evpn_update(&mac(100, X, K1), 3);
        learn_local(&mut t, X, 4);
        assert_eq!(kind_at(&t, X), Some((Kind::Learned, Target::Local(0))));
    }

    #[test]
    fn static_entries_beat_evpn_and_static_local_macs_are_advertised_as_such() {
        let extra = "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:11\"\nremote = \"192.0.2.3\"\n[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:12\"\nport = \"net_ring1\"\n";
        let mut t = Tables::new(evpn_config(extra), [2, 0, 0, 0, 1, 1], 0).unwrap();
        assert_eq!(
            t.mirror_requests(),
            [ToMirror::Local {
                vni: 100,
                mac: Y,
                is_static: true
            }]
        );
        assert!(!t.evpn_update(&mac(100, X, K1), 1));
        assert!(matches!(kind_at(&t, X), Some((Kind::Static, _))));
    }

    #[test]
    fn type3_routes_join_the_flood_list() {
        let mut t = tables();
        let v100 = Vni::new(100).unwrap();
        assert!(t.evpn_update(
            &Update::Flood {
                vni: 100,
                remote: ip(K9)
            },
            1
        ));
        // K1 is in the config too: one copy, two sources.
        assert!(t.evpn_update(
            &Update::Flood {
                vni: 100,
                remote: ip(K1)
            },
            1
        ));
        assert_eq!(
            t.flood_list(v100),
            [
                (ip(K1), FloodSource::Config),
                (ip(K1), FloodSource::Evpn),
                (ip(K9), FloodSource::Evpn)
            ]
        );
        let st = super::super::publish::build(&t, 1);
        let vs = st.vni(t.vnis.get(v100).unwrap()).unwrap();
        assert_eq!(
            vs.flood,
            [
                t.remotes.get(ip(K1)).unwrap(),
                t.remotes.get(ip(K9)).unwrap()
            ]
        );
        assert!(
            vs.learning && !vs.learn_underlay,
            "EVPN says what is behind other VTEPs"
        );
        assert!(t.evpn_update(
            &Update::FloodGone {
                vni: 100,
                remote: Some(ip(K9))
            },
            2
        ));
        assert_eq!(t.flood_list(v100).len(), 2);
    }

    #[test]
    fn a_read_of_the_mirror_reconciles_both_ways() {
        let mut t = tables();
        // The read at start (see the next test); this one is a later read.
        assert!(t.evpn_snapshot(&Snapshot::default(), 1).is_empty());
        t.evpn_update(&mac(100, X, K1), 1);
        t.evpn_update(
            &Update::Flood {
                vni: 100,
                remote: ip(K9),
            },
            1,
        );
        let held = [2, 0, 0, 0, 0, 0x20];
        learn_local(&mut t, held, 1);
        let stale = [2, 0, 0, 0, 0, 0x21];
        let snap = Snapshot {
            updates: vec![
                mac(100, Y, K9),
                Update::Flood {
                    vni: 100,
                    remote: ip(K1),
                },
                Update::Local {
                    vni: 100,
                    mac: stale,
                },
            ],
        };
        let out = t.evpn_snapshot(&snap, 2);
        assert_eq!(kind_at(&t, X), None, "a route the mirror no longer has");
        assert!(matches!(kind_at(&t, Y), Some((Kind::Evpn, _))));
        let v100 = Vni::new(100).unwrap();
        assert_eq!(t.evpn_flood[&v100], BTreeSet::from([ip(K1)]));
        assert_eq!(
            out,
            [
                ToMirror::Local {
                    vni: 100,
                    mac: held,
                    is_static: false
                },
                ToMirror::LocalGone {
                    vni: 100,
                    mac: stale
                }
            ]
        );
        assert!(t.mirror_requests().is_empty());
    }

    #[test]
    fn the_previous_processs_local_macs_stay_until_relearned_or_aged() {
        let mut t = tables();
        let (relearned, silent, moved) = (
            [2, 0, 0, 0, 0, 0x30],
            [2, 0, 0, 0, 0, 0x31],
            [2, 0, 0, 0, 0, 0x32],
        );
        let local = |mac| Update::Local { vni: 100, mac };
        let snap = Snapshot {
            updates: vec![local(relearned), local(silent), local(moved)],
        };
        assert!(
            t.evpn_snapshot(&snap, 1000).is_empty(),
            "the read at start withdraws none of them"
        );
        learn_local(&mut t, relearned, 2000);
        assert_eq!(
            t.mirror_requests(),
            [ToMirror::Local {
                vni: 100,
                mac: relearned,
                is_static: false
            }]
        );
        assert!(t.adopted_expired(2000).is_empty());
        // Another VTEP announces one: it goes from the mirror at once.
        t.evpn_update(&mac(100, moved, K1), 3000);
        assert_eq!(
            t.adopted_expired(3000),
            [ToMirror::LocalGone {
                vni: 100,
                mac: moved
            }]
        );
        // A later read (an overflow) neither withdraws nor forgets the
        // silent one; what is no longer adopted goes as before.
        assert_eq!(
            t.evpn_snapshot(&snap, 4000),
            [
                ToMirror::Local {
                    vni: 100,
                    mac: relearned,
                    is_static: false
                },
                ToMirror::LocalGone {
                    vni: 100,
                    mac: moved
                }
            ]
        );
        let aging = u64::from(t.cfg.vnis[0].aging_secs) * 1000;
        assert!(t.adopted_expired(1000 + aging - 1).is_empty());
        assert_eq!(
            t.adopted_expired(1000 + aging),
            [ToMirror::LocalGone {
                vni: 100,
                mac: silent
            }]
        );
        assert!(t.adopted_expired(u64::MAX).is_empty());
    }

    fn snoop(t: &mut Tables, ip: &str, m: [u8; 6], now: u64) {
        let vni = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        t.event(
            Event::ArpSnoop {
                vni,
                ip: ip.parse().unwrap(),
                mac: m,
            },
            now,
        );
    }

    fn binding(t: &Tables, ip: &str) -> Option<Binding> {
        let vni = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        t.arp_bind.get(&(vni, ip.parse().unwrap())).copied()
    }

    #[test]
    fn bindings_of_local_macs_go_to_the_mirror_and_remote_ones_come_back() {
        let mut t = tables();
        let (a, b) = ("10.0.0.1", "2001:db8::1");
        // A binding of a MAC vtepd does not hold locally is not advertised.
        snoop(&mut t, a, X, 1);
        assert!(t.neigh_requests().is_empty());
        learn_local(&mut t, X, 2);
        snoop(&mut t, b, X, 2);
        let mut out = t.mirror_requests();
        out.extend(t.neigh_requests());
        assert_eq!(
            out,
            [
                ToMirror::Local {
                    vni: 100,
                    mac: X,
                    is_static: false
                },
                ToMirror::LocalNeigh {
                    vni: 100,
                    ip: ip(a),
                    mac: X
                },
                ToMirror::LocalNeigh {
                    vni: 100,
                    ip: ip(b),
                    mac: X
                },
            ],
            "the MAC, then its bindings"
        );
        assert!(t.neigh_requests().is_empty(), "nothing changed since");
        // Another VTEP announces the address behind it: the binding is
        // EVPN's, and vtepd's is withdrawn.
        assert!(t.evpn_update(
            &Update::Neigh {
                vni: 100,
                ip: ip(a),
                mac: Y
            },
            3
        ));
        assert_eq!(
            binding(&t, a).map(|x| (x.mac, x.source)),
            Some((Y, BindSource::Evpn))
        );
        assert_eq!(
            t.neigh_requests(),
            [ToMirror::LocalNeighGone {
                vni: 100,
                ip: ip(a)
            }]
        );
        // The MAC ages out here: its last binding is withdrawn too.
        t.fdb.age(10_000_000, &[]);
        t.mirror_requests();
        assert_eq!(
            t.neigh_requests(),
            [ToMirror::LocalNeighGone {
                vni: 100,
                ip: ip(b)
            }]
        );
        // X comes back here while 10.0.0.1 is still EVPN's: the address
        // comes with its MAC, and is advertised from here again.
        learn_local(&mut t, X, 10_000_001);
        t.mirror_requests();
        assert_eq!(
            t.neigh_requests(),
            [ToMirror::LocalNeigh {
                vni: 100,
                ip: ip(b),
                mac: X
            }]
        );
        t.evpn_update(
            &Update::Neigh {
                vni: 100,
                ip: ip(a),
                mac: X,
            },
            10_000_002,
        );
        assert_eq!(
            t.neigh_requests(),
            [ToMirror::LocalNeigh {
                vni: 100,
                ip: ip(a),
                mac: X
            }]
        );
        assert_eq!(binding(&t, a).map(|x| x.source), Some(BindSource::Snooped));
        t.fdb.age(30_000_000, &[]);
        t.mirror_requests();
        t.neigh_requests();
        t.evpn_update(
            &Update::Neigh {
                vni: 100,
                ip: ip(a),
                mac: Y,
            },
            30_000_001,
        );
        // A withdrawn route takes the EVPN binding away; a snooped one stays.
        assert!(t.evpn_update(
            &Update::NeighGone {
                vni: 100,
                ip: ip(a)
            },
            4
        ));
        assert_eq!(binding(&t, a), None);
        assert!(!t.evpn_update(
            &Update::NeighGone {
                vni: 100,
                ip: ip(b)
            },
            4
        ));
        assert!(binding(&t, b).is_some());
    }

    #[test]
    fn a_read_of_the_mirror_restores_bindings_and_replaces_evpn_ones() {
        let mut t = tables();
        t.evpn_update(
            &Update::Neigh {
                vni: 100,
                ip: ip("10.0.0.9"),
                mac: Y,
            },
            1,
        );
        // At start: the previous process's binding of an adopted MAC is
        // kept, and stays advertised; the EVPN one the mirror lost goes.
        let snap = Snapshot {
            updates: vec![
                Update::Local { vni: 100, mac: X },
                Update::LocalNeigh {
                    vni: 100,
                    ip: ip("10.0.0.1"),
                    mac: X,
                },
                Update::Neigh {
                    vni: 100,
                    ip: ip("10.0.0.2"),
                    mac: Y,
                },
            ],
        };
        assert!(t.evpn_snapshot(&snap, 1000).is_empty());
        assert_eq!(binding(&t, "10.0.0.9"), None);
        assert_eq!(
            binding(&t, "10.0.0.2").map(|b| b.source),
            Some(BindSource::Evpn)
        );
        assert_eq!(
            binding(&t, "10.0.0.1").map(|b| b.source),
            Some(BindSource::Snooped)
        );
        assert!(t.neigh_requests().is_empty(), "the mirror already holds it");
        // Its MAC's adoption runs out: withdrawn.
        let out = t.adopted_expired(u64::MAX);
        assert_eq!(out, [ToMirror::LocalGone { vni: 100, mac: X }]);
        assert_eq!(
            t.neigh_requests(),
            [ToMirror::LocalNeighGone {
                vni: 100,
                ip: ip("10.0.0.1")
            }]
        );
    }

    #[test]
    fn config_bindings_are_advertised_and_beat_traffic_and_routes() {
        let extra = "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:12\"\nport = \"net_ring1\"\nips = [\"10.0.0.7\"]\n";
        let mut t = Tables::new(evpn_config(extra), [2, 0, 0, 0, 1, 1], 0).unwrap();
        let mut out = t.mirror_requests();
        out.extend(t.neigh_requests());
        assert_eq!(
            out,
            [
                ToMirror::Local {
                    vni: 100,
                    mac: Y,
                    is_static: true
                },
                ToMirror::LocalNeigh {
                    vni: 100,
                    ip: ip("10.0.0.7"),
                    mac: Y
                }
            ]
        );
        let config = Some((Y, BindSource::Config));
        snoop(&mut t, "10.0.0.7", X, 1);
        assert_eq!(binding(&t, "10.0.0.7").map(|b| (b.mac, b.source)), config);
        assert!(!t.evpn_update(
            &Update::Neigh {
                vni: 100,
                ip: ip("10.0.0.7"),
                mac: X
            },
            2
        ));
        assert_eq!(binding(&t, "10.0.0.7").map(|b| (b.mac, b.source)), config);
        assert!(t.neigh_requests().is_empty());
        let rows = t.arp_show(Some(100)).unwrap();
        assert_eq!(
            (rows[0].ip.as_str(), rows[0].source.as_str()),
            ("10.0.0.7", "config")
        );
        // A reload without it: it goes, and is withdrawn.
        let c =
            evpn_config("[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:12\"\nport = \"net_ring1\"\n");
        t.apply(c, 3).unwrap();
        assert_eq!(binding(&t, "10.0.0.7"), None);
        assert_eq!(
            t.neigh_requests(),
            [ToMirror::LocalNeighGone {
                vni: 100,
                ip: ip("10.0.0.7")
            }]
        );
    }
}

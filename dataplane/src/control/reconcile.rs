//! Config reconciliation: which changes a reload may apply, and the stable
//! indexes VNIs and remote VTEPs get in the workers' tables (an index never
//! changes while its VNI or remote exists, so counters and FDB entries
//! keyed by it stay valid across reloads).

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use hashbrown::HashMap;
use vtep_config::{Config, MacAddr, Vni};

use crate::datapath::fdb::VniIdx;
use crate::datapath::stats::{MAX_REMOTES, MAX_VNIS};

/// VNI -> index into the workers' VNI tables and counters.
#[derive(Debug, Default, Clone)]
pub struct VniIndex {
    map: BTreeMap<Vni, VniIdx>,
}

impl VniIndex {
    pub fn get(&self, v: Vni) -> Option<VniIdx> {
        self.map.get(&v).copied()
    }

    /// The VNI at index `i`.
    pub fn vni_of(&self, i: VniIdx) -> Option<Vni> {
        self.map.iter().find(|(_, x)| **x == i).map(|(v, _)| *v)
    }

    /// The index of `v`, allocating the lowest free one for a new VNI.
    pub fn intern(&mut self, v: Vni) -> Result<VniIdx, String> {
        if let Some(i) = self.get(v) {
            return Ok(i);
        }
        let used: BTreeSet<VniIdx> = self.map.values().copied().collect();
        let i = (0..MAX_VNIS as VniIdx)
            .find(|i| !used.contains(i))
            .ok_or_else(|| format!("more than {MAX_VNIS} VNIs"))?;
        self.map.insert(v, i);
        Ok(i)
    }

    pub fn remove(&mut self, v: Vni) -> Option<VniIdx> {
        self.map.remove(&v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (Vni, VniIdx)> + '_ {
        self.map.iter().map(|(v, i)| (*v, *i))
    }

    /// One past the highest index in use.
    pub fn table_len(&self) -> usize {
        self.map
            .values()
            .map(|i| *i as usize + 1)
            .max()
            .unwrap_or(0)
    }
}

/// Remote VTEP address <-> index into the workers' remote tables.
#[derive(Debug, Default, Clone)]
pub struct RemoteTable {
    slots: Vec<Option<IpAddr>>,
    index: HashMap<IpAddr, u32>,
}

impl RemoteTable {
    pub fn get(&self, ip: IpAddr) -> Option<u32> {
        self.index.get(&ip).copied()
    }

    pub fn ip(&self, i: u32) -> Option<IpAddr> {
        self.slots.get(i as usize).copied().flatten()
    }

    /// The index of `ip`, taking a free one for a new remote; None when
    /// [`MAX_REMOTES`] are in use. The bool says whether it is new.
    pub fn intern(&mut self, ip: IpAddr) -> Option<(u32, bool)> {
        if let Some(i) = self.get(ip) {
            return Some((i, false));
        }
        let i = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < MAX_REMOTES => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return None,
        };
        self.slots[i] = Some(ip);
        self.index.insert(ip, i as u32);
        Some((i as u32, true))
    }

    /// How many of `ips` would need a new index.
    pub fn missing<'a>(&self, ips: impl Iterator<Item = &'a IpAddr>) -> usize {
        ips.filter(|ip| !self.index.contains_key(*ip))
            .collect::<BTreeSet<_>>()
            .len()
    }

    pub fn free(&self) -> usize {
        MAX_REMOTES - self.index.len()
    }

    /// (index, address) of every remote.
    pub fn iter(&self) -> impl Iterator<Item = (u32, IpAddr)> + '_ {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|ip| (i as u32, ip)))
    }

    pub fn index_map(&self) -> &HashMap<IpAddr, u32> {
        &self.index
    }

    pub fn slots(&self) -> &[Option<IpAddr>] {
        &self.slots
    }
}

/// The first part of `new` that differs from `old` and only a restart can
/// apply, as a sentence; None when a reload can apply all of it.
pub fn restart_needed(old: &Config, new: &Config) -> Option<String> {
    let restart = |what: &str| {
        Some(format!(
            "{what} changed, which a reload cannot apply: restart vtepd"
        ))
    };
    if old.eal_args != new.eal_args {
        return restart("[eal] args");
    }
    if old.dataplane != new.dataplane {
        return restart("[dataplane]");
    }
    if old.underlay != new.underlay {
        return restart("[underlay]");
    }
    if !old
        .access
        .iter()
        .map(|a| &a.port)
        .eq(new.access.iter().map(|a| &a.port))
    {
        return restart("the set of [[access]] ports");
    }
    // The port MTU and the mbuf size are set when the ports start. A
    // default MTU moves with the encapsulations of the port's VNIs, so say
    // which port and how to keep it.
    if let Some((o, n)) = old
        .access
        .iter()
        .zip(&new.access)
        .find(|(o, n)| o.mtu != n.mtu)
    {
        return Some(format!(
            "[[access]] port {:?}: its mtu would change from {} to {} (without `mtu`, \
             it follows the largest encapsulation of the port's VNIs), which a reload \
             cannot apply: set `mtu = {}` on the port to keep it, or restart vtepd",
            o.port, o.mtu, n.mtu, o.mtu
        ));
    }
    if old.control.socket != new.control.socket {
        return restart("control.socket");
    }
    if old.control.metrics != new.control.metrics {
        return restart("control.metrics");
    }
    if old.control.group != new.control.group {
        return restart("control.group");
    }
    if old.evpn != new.evpn {
        return restart("[evpn]");
    }
    None
}

/// Static `[[fdb]]` entries of `old` that `new` no longer has.
pub fn static_fdb_removed(old: &Config, new: &Config) -> Vec<(Vni, MacAddr)> {
    let keep: BTreeSet<(Vni, MacAddr)> = new.fdb.iter().map(|f| (f.vni, f.mac)).collect();
    old.fdb
        .iter()
        .map(|f| (f.vni, f.mac))
        .filter(|k| !keep.contains(k))
        .collect()
}

/// VNIs of `old` that `new` no longer has.
pub fn vnis_removed(old: &Config, new: &Config) -> Vec<Vni> {
    old.vnis
        .iter()
        .map(|v| v.id)
        .filter(|v| new.vni(*v).is_none())
        .collect()
}

/// Every remote VTEP address a config names (flood lists, neighbours,
/// static FDB entries).
pub fn remotes_named(cfg: &Config) -> Vec<IpAddr> {
    let mut v: Vec<IpAddr> = cfg
        .vnis
        .iter()
        .flat_map(|v| v.flood.iter().copied().chain(v.group))
        .chain(cfg.neighbors.iter().map(|n| n.ip))
        .chain(cfg.fdb.iter().filter_map(|f| f.remote()))
        .collect();
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::config_text;

    fn cfg(extra: &str) -> Config {
        Config::parse(&config_text(extra)).unwrap()
    }

    #[test]
    fn vni_indexes_are_stable_and_reused() {
        let mut x = VniIndex::default();
        let (a, b, c) = (
            Vni::new(100).unwrap(),
            Vni::new(200).unwrap(),
            Vni::new(300).unwrap(),
        );
        assert_eq!(x.intern(a), Ok(0));
        assert_eq!(x.intern(b), Ok(1));
        assert_eq!(x.intern(a), Ok(0), "same VNI, same index");
        assert_eq!(x.remove(a), Some(0));
        assert_eq!(x.intern(c), Ok(0), "the lowest free index is reused");
        assert_eq!(
            (x.get(b), x.vni_of(0), x.table_len()),
            (Some(1), Some(c), 2)
        );
    }

    #[test]
    fn remote_table_fills_up_and_says_so() {
        let mut r = RemoteTable::default();
        let ip = |i: u32| IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
        assert_eq!(r.intern(ip(1)), Some((0, true)));
        assert_eq!(r.intern(ip(1)), Some((0, false)));
        assert_eq!(r.missing([ip(1), ip(2), ip(2)].iter()), 1);
        for i in 2..=MAX_REMOTES as u32 {
            assert!(r.intern(ip(i)).is_some());
        }
        assert_eq!(r.free(), 0);
        assert_eq!(r.intern(ip(0xffff)), None);
        assert_eq!(r.ip(0), Some(ip(1)));
        assert_eq!(r.iter().count(), MAX_REMOTES);
    }

    #[test]
    fn reload_limits_name_what_changed() {
        let a = cfg("");
        assert_eq!(restart_needed(&a, &a), None);
        let mut b = a.clone();
        b.underlay.mtu = 9000;
        assert!(restart_needed(&a, &b).unwrap().starts_with("[underlay]"));
        let mut b = a.clone();
        b.access[0].mtu = 1400;
        let why = restart_needed(&a, &b).unwrap();
        assert!(
            why.contains(&format!(
                "{:?}: its mtu would change from 1450 to 1400",
                a.access[0].port
            )) && why.contains("set `mtu = 1450` on the port"),
            "{why}"
        );
        let mut b = a.clone();
        b.control.metrics = Some("127.0.0.1:9999".parse().unwrap());
        assert!(restart_needed(&a, &b)
            .unwrap()
            .starts_with("control.metrics"));
        let mut b = a.clone();
        b.vnis[0].learning = false;
        assert_eq!(restart_needed(&a, &b), None, "VNI settings reload");
    }

    #[test]
    fn removed_statics_and_vnis() {
        let a = cfg(
            "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:aa\"\nremote = \"192.0.2.2\"\n\
             [[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:bb\"\nremote = \"192.0.2.3\"\n",
        );
        let mut b = a.clone();
        b.fdb.remove(0);
        let gone = static_fdb_removed(&a, &b);
        assert_eq!(
            gone,
            vec![(Vni::new(100).unwrap(), "02:00:00:00:00:aa".parse().unwrap())]
        );
        assert!(vnis_removed(&a, &b).is_empty());
        assert_eq!(
            remotes_named(&a),
            vec![
                IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2)),
                IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 3))
            ]
        );
    }
}

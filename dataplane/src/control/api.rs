//! The control API's handlers over the tables: FDB show/add/del/flush, VNI
//! and neighbour views. Each checks its input and either changes nothing
//! and says why, or does all of it.

use std::net::IpAddr;

use vtep_api::{
    Added, ArpEntry, Deleted, FdbEntry, FloodEntry, Flushed, Location, NeighEntry, VniInfo, VniPort,
};
use vtep_config::{MacAddr, Vni};

use super::persist::{self};
use super::tables::{Binding, Tables};
use crate::control::fdbmgr::Kind;
use crate::datapath::fdb::{Target, VniIdx};
use crate::datapath::state::State;

impl Tables {
    /// The index of a configured VNI given by number.
    fn configured_vni(&self, n: u32) -> Result<(Vni, VniIdx), String> {
        let vni = Vni::new(n).ok_or_else(|| format!("{n} is not a VNI (1..{})", Vni::MAX))?;
        let i = self
            .vnis
            .get(vni)
            .ok_or_else(|| format!("VNI {vni} is not configured"))?;
        Ok((vni, i))
    }

    fn unicast_mac(s: &str) -> Result<MacAddr, String> {
        let m: MacAddr = s.parse()?;
        if m.is_multicast() || m.is_zero() {
            return Err(format!("{m} is not a unicast MAC"));
        }
        Ok(m)
    }

    /// Who made a static entry: `config` or `api`.
    fn is_config_entry(&self, vni: Vni, mac: MacAddr) -> bool {
        self.cfg.fdb.iter().any(|f| f.vni == vni && f.mac == mac)
    }

    pub fn fdb_show(&self, vni: Option<u32>, now: u64) -> Result<Vec<FdbEntry>, String> {
        let filter = vni.map(|n| self.configured_vni(n)).transpose()?;
        Ok(self
            .fdb
            .rows(now)
            .into_iter()
            .filter(|r| filter.is_none_or(|(_, i)| i == r.vni))
            .filter_map(|r| {
                let vni = self.vnis.vni_of(r.vni)?;
                let at = match r.target {
                    Target::Local(p) => {
                        Location::Port(self.cfg.access.get(p as usize)?.port.clone())
                    }
                    Target::Remote(x) => Location::Remote(self.remotes.ip(x)?.to_string()),
                };
                let (kind, source) = match r.kind {
                    Kind::Learned => ("learned", "learned"),
                    Kind::Evpn => ("evpn", "evpn"),
                    Kind::Static if self.is_config_entry(vni, r.mac) => ("static", "config"),
                    Kind::Static => ("static", "api"),
                };
                Some(FdbEntry {
                    vni: vni.get(),
                    mac: r.mac.to_string(),
                    kind: kind.into(),
                    source: source.into(),
                    age_secs: r.age_ms / 1000,
                    at,
                })
            })
            .collect())
    }

    /// Adds a static entry behind `remote`. The state file is written
    /// first: an entry that cannot be persisted is not added, so the answer
    /// always says what the FDB holds.
    pub fn fdb_add(
        &mut self,
        vni: u32,
        mac: &str,
        remote: &str,
        now: u64,
    ) -> Result<Added, String> {
        let (vni, _) = self.configured_vni(vni)?;
        let mac = Self::unicast_mac(mac)?;
        let ip: IpAddr = remote
            .parse()
            .map_err(|_| format!("{remote:?} is not an IP address"))?;
        self.check_api_entry(vni, mac, ip)?;
        let before = self.api_static.insert((vni, mac), ip);
        if let Err(e) = self.save() {
            self.put_back(vni, mac, before);
            return Err(format!("{mac} not added: {e}"));
        }
        if let Err(e) = self.add_api_entry(vni, mac, ip, now) {
            self.put_back(vni, mac, before);
            // The file named the entry: take it out again.
            let _ = self.save();
            return Err(e);
        }
        Ok(Added {
            added: mac.to_string(),
        })
    }

    /// Restores `api_static`'s entry for (vni, mac) to `before`.
    fn put_back(&mut self, vni: Vni, mac: MacAddr, before: Option<IpAddr>) {
        match before {
            Some(ip) => self.api_static.insert((vni, mac), ip),
            None => self.api_static.remove(&(vni, mac)),
        };
    }

    /// Adds an API entry (from a request or the state file).
    pub fn add_api_entry(
        &mut self,
        vni: Vni,
        mac: MacAddr,
        ip: IpAddr,
        now: u64,
    ) -> Result<(), String> {
        let i = self.check_api_entry(vni, mac, ip)?;
        let (r, new) = self.remotes.intern(ip).ok_or("too many remote VTEPs")?;
        self.fdb
            .add_static(i, mac.0, Target::Remote(r), now)
            .map_err(|_| "FDB is full".to_string())?;
        self.api_static.insert((vni, mac), ip);
        self.dirty |= new;
        Ok(())
    }

    /// Why an API entry for `mac` behind `ip` in `vni` cannot be; the
    /// VNI's index when it can (the FDB and remote table may still be full).
    fn check_api_entry(&self, vni: Vni, mac: MacAddr, ip: IpAddr) -> Result<VniIdx, String> {
        let (_, i) = self.configured_vni(vni.get())?;
        if self.is_config_entry(vni, mac) {
            return Err(format!(
                "{mac} in VNI {vni} is an [[fdb]] entry of the config file: change it there and reload"
            ));
        }
        let u = &self.cfg.underlay;
        if ip == u.address {
            return Err(format!("{ip} is this VTEP's own address"));
        }
        if ip.is_ipv6() != u.is_ipv6() {
            return Err(format!(
                "{ip} is not of the underlay's address family (the VTEP address is {})",
                u.address
            ));
        }
        let broadcast = matches!(ip, IpAddr::V4(a) if a.is_broadcast());
        let link_local = matches!(ip, IpAddr::V6(a) if a.is_unicast_link_local());
        if ip.is_unspecified() || ip.is_multicast() || broadcast || ip.is_loopback() || link_local {
            return Err(format!("{ip} cannot be a remote VTEP"));
        }
        if u.next_hop(ip).is_none() {
            return Err(format!(
                "{ip} is off-link and no underlay gateway is configured"
            ));
        }
        Ok(i)
    }

    pub fn fdb_del(&mut self, vni: u32, mac: &str) -> Result<Deleted, String> {
        let (vni, i) = self.configured_vni(vni)?;
        let mac: MacAddr = mac.parse()?;
        if self.is_config_entry(vni, mac) {
            return Err(format!(
                "{mac} in VNI {vni} is an [[fdb]] entry of the config file: remove it there and reload"
            ));
        }
        if self.fdb.kind(i, mac.0) == Some(Kind::Evpn) {
            return Err(format!(
                "{mac} in VNI {vni} comes from BGP EVPN: it goes when its route is withdrawn (or add a static entry over it)"
            ));
        }
        if !self.fdb.contains(i, mac.0) {
            return Err(format!("no entry for {mac} in VNI {vni}"));
        }
        // The state file first: an entry whose removal cannot be persisted
        // stays, as it would come back at the next start.
        if let Some(ip) = self.api_static.remove(&(vni, mac)) {
            if let Err(e) = self.save() {
                self.api_static.insert((vni, mac), ip);
                return Err(format!("{mac} not deleted: {e}"));
            }
        }
        self.fdb.remove(i, mac.0);
        Ok(Deleted {
            deleted: mac.to_string(),
        })
    }

    /// Removes learned entries, of one VNI and/or behind one remote.
    pub fn fdb_flush(&mut self, vni: Option<u32>, remote: Option<&str>) -> Result<Flushed, String> {
        let vni = vni
            .map(|n| self.configured_vni(n))
            .transpose()?
            .map(|(_, i)| i);
        let target = match remote {
            None => None,
            Some(s) => {
                let r = s
                    .parse::<IpAddr>()
                    .ok()
                    .and_then(|ip| self.remotes.get(ip))
                    .ok_or_else(|| format!("{s} is not a known remote VTEP"))?;
                Some(Target::Remote(r))
            }
        };
        Ok(Flushed {
            flushed: self.fdb.flush(vni, target, false) as u64,
        })
    }

    /// The ARP/ND suppression bindings of VNI `vni` (or all), by VNI and
    /// address.
    pub fn arp_show(&self, vni: Option<u32>) -> Result<Vec<ArpEntry>, String> {
        let only = match vni {
            Some(v) => Some(
                Vni::new(v)
                    .and_then(|x| self.vnis.get(x))
                    .ok_or_else(|| format!("VNI {v} is not configured"))?,
            ),
            None => None,
        };
        let mut rows: Vec<(u32, IpAddr, &Binding)> = self
            .arp_bind
            .iter()
            .filter(|((i, _), _)| only.is_none_or(|o| o == *i))
            .filter_map(|((i, ip), b)| Some((self.vnis.vni_of(*i)?.get(), *ip, b)))
            .collect();
        rows.sort_by_key(|(v, ip, _)| (*v, *ip));
        Ok(rows
            .into_iter()
            .map(|(vni, ip, b)| ArpEntry {
                vni,
                ip: ip.to_string(),
                mac: MacAddr(b.mac).to_string(),
                source: b.source.name().into(),
            })
            .collect())
    }

    pub fn vni_show(&self, st: &State) -> Vec<VniInfo> {
        self.cfg
            .vnis
            .iter()
            .filter_map(|v| {
                let i = self.vnis.get(v.id)?;
                let ports = st
                    .vni(i)
                    .map(|s| {
                        s.ports
                            .iter()
                            .filter_map(|(p, vid)| {
                                Some(VniPort {
                                    port: self.cfg.access.get(*p as usize)?.port.clone(),
                                    vlan: *vid,
                                })
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                Some(VniInfo {
                    id: v.id.get(),
                    encap: v.tunnel.encap.name().into(),
                    udp_port: v.tunnel.udp_port,
                    flood: self
                        .flood_remotes(v.id)
                        .iter()
                        .map(|ip| ip.to_string())
                        .collect(),
                    flood_sources: self
                        .flood_list(v.id)
                        .iter()
                        .map(|(ip, s)| FloodEntry {
                            remote: ip.to_string(),
                            source: s.name().into(),
                        })
                        .collect(),
                    group: v.group.map(|g| g.to_string()),
                    learning: v.learning,
                    arp_suppress: v.arp_suppress,
                    arp_bindings: self.arp_bind.keys().filter(|(x, _)| *x == i).count() as u64,
                    // Filled from the workers' counters by the caller.
                    arp_suppressed: 0,
                    nd_suppressed: 0,
                    mac_limit: v.mac_limit,
                    aging_secs: v.aging_secs,
                    learned_macs: self.fdb.learned_in(i) as u64,
                    ports,
                    rate_mbps: v.rate.map(|r| r.mbps),
                    burst_kb: v.rate.map(|r| r.burst_bytes / 1024),
                    flood_pps: v.flood_pps,
                })
            })
            .collect()
    }

    pub fn neigh_show(&self, now: u64) -> Vec<NeighEntry> {
        self.neigh.view(now)
    }

    /// Re-adds the entries of the state file; returns (restored, refused
    /// with why).
    pub fn restore(&mut self, file: &persist::StateFile, now: u64) -> (usize, Vec<String>) {
        let mut ok = 0;
        let mut refused = Vec::new();
        for e in &file.fdb {
            let r = Vni::new(e.vni)
                .ok_or_else(|| format!("{} is not a VNI", e.vni))
                .and_then(|v| Ok((v, e.mac.parse::<MacAddr>()?)))
                .and_then(|(v, m)| self.add_api_entry(v, m, e.remote, now));
            match r {
                Ok(()) => ok += 1,
                Err(why) => refused.push(format!("vni {} mac {}: {why}", e.vni, e.mac)),
            }
        }
        (ok, refused)
    }

    /// Writes the state file; a failure is counted and logged.
    pub(super) fn save(&mut self) -> Result<(), String> {
        let Some(p) = &self.cfg.control.state_file else {
            return Ok(());
        };
        let r = match &self.state_file_kept {
            Some(why) => Err(format!(
                "the state file {} is not written: at start {why}; move it away and restart vtepd",
                p.display()
            )),
            None => persist::save(p, &self.saved()),
        };
        if let Err(e) = &r {
            self.state_write_failures += 1;
            tracing::error!("{e}; the change was not made");
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::super::tables::tests::tables;
    use super::*;
    use crate::datapath::worker::{Event, LearnAt};

    const AA: &str = "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:aa\"\nremote = \"192.0.2.3\"\n";

    #[test]
    fn add_show_del_with_sources() {
        let mut t = tables(AA);
        t.fdb_add(100, "02:00:00:00:00:01", "192.0.2.2", 0).unwrap();
        let v = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        t.event(
            Event::Learn {
                vni: v,
                mac: [2, 0, 0, 0, 0, 2],
                at: LearnAt::Local(0),
            },
            0,
        );
        let rows = t.fdb_show(Some(100), 3000).unwrap();
        let src: Vec<(&str, &str)> = rows
            .iter()
            .map(|r| (r.mac.as_str(), r.source.as_str()))
            .collect();
        assert_eq!(
            src,
            [
                ("02:00:00:00:00:01", "api"),
                ("02:00:00:00:00:02", "learned"),
                ("02:00:00:00:00:aa", "config")
            ]
        );
        assert_eq!(rows[1].at, Location::Port("net_ring1".into()));
        assert_eq!(rows[0].age_secs, 3);
        assert!(t.fdb_show(Some(200), 0).unwrap().is_empty());
        t.fdb_del(100, "02:00:00:00:00:01").unwrap();
        assert!(t.api_static.is_empty());
        assert!(t
            .fdb_del(100, "02:00:00:00:00:01")
            .unwrap_err()
            .contains("no entry"));
    }

    #[test]
    fn config_entries_are_not_overridden_through_the_api() {
        let mut t = tables(AA);
        let e = t
            .fdb_add(100, "02:00:00:00:00:aa", "192.0.2.2", 0)
            .unwrap_err();
        assert!(e.contains("[[fdb]] entry of the config"), "{e}");
        let e = t.fdb_del(100, "02:00:00:00:00:aa").unwrap_err();
        assert!(e.contains("[[fdb]] entry of the config"), "{e}");
        let rows = t.fdb_show(None, 0).unwrap();
        assert_eq!(
            rows[0].at,
            Location::Remote("192.0.2.3".into()),
            "unchanged"
        );
    }

    #[test]
    fn bad_requests_change_nothing() {
        let mut t = tables("");
        let cases = [
            (
                999,
                "02:00:00:00:00:01",
                "192.0.2.2",
                "VNI 999 is not configured",
            ),
            (0, "02:00:00:00:00:01", "192.0.2.2", "0 is not a VNI"),
            (100, "ff:ff:ff:ff:ff:ff", "192.0.2.2", "not a unicast MAC"),
            (100, "nope", "192.0.2.2", "is not a MAC address"),
            (100, "02:00:00:00:00:01", "192.0.2.1", "own address"),
            (
                100,
                "02:00:00:00:00:01",
                "224.0.0.1",
                "cannot be a remote VTEP",
            ),
            (
                100,
                "02:00:00:00:00:01",
                "0.0.0.0",
                "cannot be a remote VTEP",
            ),
            (
                100,
                "02:00:00:00:00:01",
                "2001:db8::1",
                "not of the underlay's address family",
            ),
            (100, "02:00:00:00:00:01", "192.0.2", "not an IP address"),
        ];
        for (vni, mac, ip, why) in cases {
            let e = t.fdb_add(vni, mac, ip, 0).unwrap_err();
            assert!(e.contains(why), "{vni} {mac} {ip}: {e}");
        }
        assert!(t.fdb.is_empty() && t.api_static.is_empty());
        assert!(t
            .fdb_flush(None, Some("203.0.113.9"))
            .unwrap_err()
            .contains("not a known remote"));
    }

    #[test]
    fn entries_persist_and_restore() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s.json");
        let extra = format!("[control]\nstate_file = \"{}\"\n", state.display());
        let mut t = tables(&extra);
        t.fdb_add(100, "02:00:00:00:00:01", "192.0.2.2", 0).unwrap();
        t.fdb_add(200, "02:00:00:00:00:02", "198.51.100.9", 0)
            .unwrap();
        let file = persist::load(&state).unwrap().unwrap();
        assert_eq!(file.fdb.len(), 2);
        let mut fresh = tables(&extra);
        assert_eq!(fresh.restore(&file, 0), (2, vec![]));
        assert_eq!(
            fresh.fdb_show(None, 0).unwrap(),
            t.fdb_show(None, 0).unwrap()
        );
        // An entry whose VNI went away is refused with its reason.
        let mut gone = file.clone();
        gone.fdb[0].vni = 4242;
        let (n, refused) = tables(&extra).restore(&gone, 0);
        assert_eq!(n, 1);
        assert!(
            refused[0].contains("VNI 4242 is not configured"),
            "{refused:?}"
        );
        // A reload that removes VNI 200 takes its entry out of the file.
        let without_200 = crate::testing::config_text(&extra)
            .replace("vlans = { 10 = 200 }\n", "")
            .replace("[[vni]]\nid = 200\n", "");
        t.apply(vtep_config::Config::parse(&without_200).unwrap(), 0)
            .unwrap();
        let file = persist::load(&state).unwrap().unwrap();
        assert_eq!(
            file.fdb.iter().map(|e| e.vni).collect::<Vec<_>>(),
            [100],
            "{file:?}"
        );
    }

    #[test]
    fn flush_by_remote_keeps_statics() {
        let mut t = tables(AA);
        let v = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        for i in 0..3u8 {
            t.event(
                Event::Learn {
                    vni: v,
                    mac: [2, 0, 0, 0, 1, i],
                    at: LearnAt::Remote(std::net::Ipv4Addr::new(192, 0, 2, 3).into()),
                },
                0,
            );
        }
        assert_eq!(t.fdb_flush(None, Some("192.0.2.3")).unwrap().flushed, 3);
        assert_eq!(t.fdb.len(), 1, "the config entry stays");
    }
}

//! The management thread's tables: the running config, the FDB manager,
//! VNI and remote indexes, underlay neighbours, ARP-suppression bindings
//! and the entries added through the API. Pure (time passed in, no DPDK):
//! reconciliation and every control operation are unit-tested here.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

use hashbrown::HashMap;
use vtep_config::{Config, FdbAt, MacAddr, Vni};

use super::neigh::Neighbors;
use super::persist::{SavedEntry, StateFile};
use super::reconcile::{self, RemoteTable, VniIndex};
use crate::control::fdbmgr::{FdbManager, Learned, VniPolicy};
use crate::datapath::fdb::{Target, VniIdx};
use crate::datapath::police::VniPolice;
use crate::datapath::stats::MAX_VNIS;
use crate::datapath::worker::{Event, LearnAt};

/// Most ARP-suppression bindings kept (all VNIs together).
const MAX_ARP_BINDINGS: usize = 1 << 20;

/// An IP-to-MAC binding of a VNI and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Binding {
    pub mac: [u8; 6],
    pub source: BindSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindSource {
    /// Seen in ARP or neighbour discovery traffic.
    Snooped,
    /// An EVPN MAC+IP route.
    Evpn,
    /// `[[fdb]] ips`: beats the others, as static entries beat routes.
    Config,
}

impl BindSource {
    pub fn name(self) -> &'static str {
        match self {
            BindSource::Snooped => "snooped",
            BindSource::Evpn => "evpn",
            BindSource::Config => "config",
        }
    }
}

/// Flood lists learned from EVPN type-3 routes, per VNI.
pub type EvpnFlood = BTreeMap<Vni, BTreeSet<IpAddr>>;

/// Local MACs the mirror holds at start that this process does not: the
/// previous process learned them from traffic. They stay in the mirror,
/// so that the peers keep their routes across a restart, until learned
/// again, claimed by another VTEP, or their VNI's aging time passes (what
/// would have become of them without the restart).
#[derive(Debug, Default)]
pub struct Adopted {
    /// The mirror has been read once (later reads adopt nothing).
    pub synced: bool,
    /// (VNI, MAC) -> when it goes (ms).
    pub until: BTreeMap<(u32, [u8; 6]), u64>,
    /// The earliest of `until`.
    pub next: u64,
}

impl Adopted {
    pub fn expire_now(&mut self, key: (u32, [u8; 6])) {
        if let Some(t) = self.until.get_mut(&key) {
            *t = 0;
            self.next = 0;
        }
    }
}

pub struct Tables {
    pub cfg: Config,
    pub our_mac: [u8; 6],
    pub fdb: FdbManager,
    pub vnis: VniIndex,
    pub remotes: RemoteTable,
    pub neigh: Neighbors,
    /// ARP suppression bindings: (VNI index, IP) -> MAC and source.
    pub arp_bind: HashMap<(VniIdx, IpAddr), Binding>,
    /// Entries added with `fdb add`, persisted in `[control] state_file`.
    pub api_static: BTreeMap<(Vni, MacAddr), IpAddr>,
    /// Why the state file may not be written (it could not be read at
    /// start, nor moved aside); None when it may.
    pub state_file_kept: Option<String>,
    /// Writes of the state file that failed (the change was not made).
    pub state_write_failures: u64,
    /// Ports whose link is down ([`crate::datapath::state::State::ports_down`]).
    pub ports_down: u64,
    /// The underlay port computes IPv6 UDP checksums on transmit (its
    /// `TX_UDP_CKSUM` offload): templates leave them to it.
    pub udp6_csum_offload: bool,
    /// Bandwidth limits and storm control per VNI; a VNI keeps its
    /// limiters (and their state) across reloads that leave them alone.
    pub police: HashMap<Vni, Arc<VniPolice>>,
    /// Flood-list entries from EVPN type-3 routes (`[evpn]`).
    pub evpn_flood: EvpnFlood,
    /// The previous process's local MACs, kept in the mirror for a while.
    pub evpn_adopted: Adopted,
    /// vtepd's bindings the EVPN mirror holds (on the SVIs), and whether
    /// they may differ from what it should hold (see `neigh_requests`).
    pub mirror_neigh: HashMap<(u32, IpAddr), [u8; 6]>,
    pub neigh_check: bool,
    /// Set when the workers' State must be rebuilt.
    pub dirty: bool,
}

impl Tables {
    /// Tables for the first config.
    pub fn new(cfg: Config, our_mac: [u8; 6], now: u64) -> Result<Tables, String> {
        let mut t = Tables {
            fdb: FdbManager::new(cfg.dataplane.fdb_capacity),
            cfg: cfg.clone(),
            our_mac,
            vnis: VniIndex::default(),
            remotes: RemoteTable::default(),
            neigh: Neighbors::default(),
            arp_bind: HashMap::new(),
            api_static: BTreeMap::new(),
            state_file_kept: None,
            state_write_failures: 0,
            ports_down: 0,
            udp6_csum_offload: false,
            police: HashMap::new(),
            evpn_flood: Default::default(),
            evpn_adopted: Default::default(),
            mirror_neigh: HashMap::new(),
            neigh_check: false,
            dirty: true,
        };
        if cfg.evpn.is_some() {
            t.fdb.track_local();
        }
        t.reconcile(None, cfg, now)?;
        Ok(t)
    }

    /// Applies a reloaded config: only the differences change running
    /// state. Refused as a whole (nothing changed) when a restart is
    /// needed or the tables cannot hold it.
    pub fn apply(&mut self, cfg: Config, now: u64) -> Result<(), String> {
        if let Some(why) = reconcile::restart_needed(&self.cfg, &cfg) {
            return Err(why);
        }
        let old = self.cfg.clone();
        let api_before = self.api_static.clone();
        self.reconcile(Some(&old), cfg, now)?;
        // API entries of removed VNIs, or replaced by [[fdb]] entries, are
        // gone: the state file follows (a failure is logged and counted;
        // the reload stands).
        if self.api_static != api_before {
            let _ = self.save();
        }
        Ok(())
    }

    fn reconcile(&mut self, old: Option<&Config>, cfg: Config, now: u64) -> Result<(), String> {
        // Check capacity first, so that a refusal leaves everything as it was.
        let gone = old
            .map(|o| reconcile::vnis_removed(o, &cfg))
            .unwrap_or_default();
        let kept = self.vnis.iter().count() - gone.len();
        let added = cfg
            .vnis
            .iter()
            .filter(|v| self.vnis.get(v.id).is_none())
            .count();
        if kept + added > MAX_VNIS {
            return Err(format!("more than {MAX_VNIS} VNIs"));
        }
        let named = reconcile::remotes_named(&cfg);
        if self.remotes.missing(named.iter()) > self.remotes.free() {
            return Err("more remote VTEPs than the tables hold".into());
        }
        let new_statics = cfg
            .fdb
            .iter()
            .filter(|f| {
                !self
                    .vnis
                    .get(f.vni)
                    .is_some_and(|i| self.fdb.contains(i, f.mac.0))
            })
            .count();
        if new_statics > self.fdb.free() {
            return Err(format!(
                "the FDB has room for {} more entries, the config adds {new_statics} [[fdb]] entries",
                self.fdb.free()
            ));
        }
        for v in gone {
            if let Some(i) = self.vnis.remove(v) {
                self.fdb.flush(Some(i), None, true);
                self.fdb.remove_policy(i);
                self.arp_bind.retain(|(x, _), _| *x != i);
            }
            self.api_static.retain(|(x, _), _| *x != v);
            self.evpn_flood.remove(&v);
        }
        for v in &cfg.vnis {
            let i = self.vnis.intern(v.id)?;
            self.fdb.set_policy(
                i,
                VniPolicy {
                    learning: v.learning,
                    mac_limit: v.mac_limit,
                    aging_ms: v.aging_secs as u64 * 1000,
                },
            );
        }
        for ip in &named {
            self.remotes.intern(*ip);
        }
        self.neigh.set_static(&cfg.neighbors, now);
        self.neigh.confirm_ms = u64::from(cfg.underlay.neighbor_confirm_secs) * 1000;
        self.police
            .retain(|v, p| cfg.vnis.iter().any(|c| c.id == *v && p.matches(c)));
        for v in &cfg.vnis {
            if !self.police.contains_key(&v.id) {
                if let Some(p) = VniPolice::for_vni(v) {
                    self.police.insert(v.id, p);
                }
            }
        }
        if let Some(old) = old {
            for (v, mac) in reconcile::static_fdb_removed(old, &cfg) {
                if let Some(i) = self.vnis.get(v) {
                    self.fdb.remove(i, mac.0);
                }
            }
        }
        for f in &cfg.fdb {
            let target = match &f.at {
                FdbAt::Remote(ip) => {
                    let (r, _) = self.remotes.intern(*ip).ok_or("too many remote VTEPs")?;
                    Target::Remote(r)
                }
                FdbAt::Port(p) => {
                    let idx = cfg
                        .access
                        .iter()
                        .position(|a| &a.port == p)
                        .ok_or_else(|| format!("{p:?} is not an access port"))?;
                    Target::Local(idx as u16)
                }
            };
            let i = self.vnis.intern(f.vni)?;
            // A config entry replaces an API entry for the same MAC.
            self.api_static.remove(&(f.vni, f.mac));
            self.fdb
                .add_static(i, f.mac.0, target, now)
                .map_err(|_| format!("FDB full adding {} in VNI {}", f.mac, f.vni))?;
        }
        // The config's bindings replace the last config's.
        self.arp_bind.retain(|_, b| b.source != BindSource::Config);
        for f in &cfg.fdb {
            let i = self.vnis.intern(f.vni)?;
            for ip in &f.ips {
                let source = BindSource::Config;
                self.arp_bind.insert(
                    (i, *ip),
                    Binding {
                        mac: f.mac.0,
                        source,
                    },
                );
            }
        }
        self.neigh_check = true;
        self.cfg = cfg;
        self.dirty = true;
        Ok(())
    }

    /// A learn or ARP-snoop event from a worker.
    pub fn event(&mut self, ev: Event, now: u64) -> Option<(VniIdx, [u8; 6], Learned)> {
        match ev {
            Event::Learn { vni, mac, at } => {
                let target = match at {
                    LearnAt::Local(p) => Target::Local(p),
                    LearnAt::Remote(ip) => {
                        let (r, new) = self.remotes.intern(ip)?;
                        self.dirty |= new;
                        Target::Remote(r)
                    }
                };
                Some((vni, mac, self.fdb.learn(vni, mac, target, now)))
            }
            Event::ArpSnoop { vni, ip, mac } => {
                // What traffic shows is newer than what it repeats.
                let known = self.arp_bind.get(&(vni, ip)).copied();
                let fixed = known.is_some_and(|b| b.source == BindSource::Config);
                let known = known.map(|b| b.mac);
                if !fixed
                    && known != Some(mac)
                    && (known.is_some() || self.arp_bind.len() < MAX_ARP_BINDINGS)
                {
                    let source = BindSource::Snooped;
                    self.arp_bind.insert((vni, ip), Binding { mac, source });
                    self.dirty = true;
                    self.neigh_check = true;
                }
                None
            }
        }
    }

    /// Records an underlay ARP sender; only on-link unicast neighbours
    /// other than the VTEP itself are believed.
    pub fn learn_neighbor(&mut self, ip: IpAddr, mac: [u8; 6], now: u64) -> bool {
        let u = &self.cfg.underlay;
        if !u.on_link(ip) || ip == u.address || mac[0] & 1 == 1 || mac == [0; 6] {
            return false;
        }
        let changed = self.neigh.learn(ip, mac, now);
        self.dirty |= changed;
        changed
    }

    /// Next hops the VTEP needs: those of every remote, and the gateway.
    pub fn wanted_next_hops(&self) -> Vec<IpAddr> {
        let u = &self.cfg.underlay;
        let mut want: Vec<IpAddr> = self
            .remotes
            .iter()
            .filter_map(|(_, ip)| u.next_hop(ip))
            .chain(u.gateway)
            .collect();
        want.sort();
        want.dedup();
        want
    }

    /// The state file's contents.
    pub fn saved(&self) -> StateFile {
        StateFile {
            fdb: self
                .api_static
                .iter()
                .map(|((v, m), ip)| SavedEntry::new(*v, *m, *ip))
                .collect(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::testing::config_text;
    use std::net::Ipv4Addr;

    pub fn tables(extra: &str) -> Tables {
        Tables::new(
            Config::parse(&config_text(extra)).unwrap(),
            [2, 0, 0, 0, 1, 1],
            0,
        )
        .unwrap()
    }

    const STATIC_AA: &str =
        "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:aa\"\nremote = \"192.0.2.3\"\n";

    #[test]
    fn reload_keeps_unchanged_limits_and_replaces_changed_ones() {
        let with = |r100: &str, r200: &str| {
            config_text("")
                .replace("id = 100\n", &format!("id = 100\n{r100}"))
                .replace("id = 200\n", &format!("id = 200\n{r200}"))
        };
        let mut t = Tables::new(
            Config::parse(&with("rate_mbps = 10\n", "flood_pps = 50\n")).unwrap(),
            [2, 0, 0, 0, 1, 1],
            0,
        )
        .unwrap();
        let (v100, v200) = (Vni::new(100).unwrap(), Vni::new(200).unwrap());
        let a100 = t.police[&v100].clone();
        let a200 = t.police[&v200].clone();
        assert!(a100.encap.is_some() && a100.flood.is_none());
        assert!(a200.encap.is_none() && a200.flood.is_some());
        // VNI 100's rate changes; VNI 200's storm control stays.
        t.apply(
            Config::parse(&with("rate_mbps = 20\n", "flood_pps = 50\n")).unwrap(),
            1,
        )
        .unwrap();
        assert!(!Arc::ptr_eq(&a100, &t.police[&v100]));
        assert_eq!(t.police[&v100].rate.unwrap().mbps, 20);
        assert!(Arc::ptr_eq(&a200, &t.police[&v200]), "kept, with its state");
        // Removed: unlimited again, in the published state too.
        t.apply(Config::parse(&with("", "flood_pps = 50\n")).unwrap(), 2)
            .unwrap();
        assert!(!t.police.contains_key(&v100));
        let st = super::super::publish::build(&t, 3);
        let i100 = t.vnis.get(v100).unwrap();
        let i200 = t.vnis.get(v200).unwrap();
        assert!(st.vni(i100).unwrap().police.is_none());
        assert!(Arc::ptr_eq(
            st.vni(i200).unwrap().police.as_ref().unwrap(),
            &a200
        ));
    }

    #[test]
    fn reload_applies_only_differences() {
        let mut t = tables(STATIC_AA);
        let v100 = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        let learned = [2, 0, 0, 0, 0, 0x11];
        t.event(
            Event::Learn {
                vni: v100,
                mac: learned,
                at: LearnAt::Local(0),
            },
            5,
        );
        assert_eq!(t.fdb.len(), 2);
        // Drop the static entry and add VNI 300 (on a new VLAN).
        let mut text = config_text("[[vni]]\nid = 300\n");
        text = text.replace("vlans = { 10 = 200 }", "vlans = { 10 = 200, 30 = 300 }");
        t.apply(Config::parse(&text).unwrap(), 10).unwrap();
        assert_eq!(t.fdb.len(), 1, "static gone, learned entry kept");
        assert_eq!(
            t.vnis.get(Vni::new(100).unwrap()),
            Some(v100),
            "indexes stable"
        );
        assert!(t.vnis.get(Vni::new(300).unwrap()).is_some());
        // Remove VNI 100's neighbour VNI 200: its entries go with it.
        let v200 = t.vnis.get(Vni::new(200).unwrap()).unwrap();
        t.event(
            Event::Learn {
                vni: v200,
                mac: learned,
                at: LearnAt::Local(0),
            },
            11,
        );
        let text = config_text("")
            .replace("vlans = { 10 = 200 }\n", "")
            .replace("[[vni]]\nid = 200\n", "");
        t.apply(Config::parse(&text).unwrap(), 12).unwrap();
        assert_eq!(t.vnis.get(Vni::new(200).unwrap()), None);
        assert_eq!(t.fdb.len(), 1);
    }

    #[test]
    fn static_entries_on_an_access_port_point_at_it() {
        let mut t =
            tables("[[fdb]]\nvni = 200\nmac = \"02:00:00:00:00:bb\"\nport = \"net_ring1\"\n");
        let v = t.vnis.get(Vni::new(200).unwrap()).unwrap();
        let k = crate::datapath::fdb::key(v, [2, 0, 0, 0, 0, 0xbb]);
        let (_, e) = t.fdb.shared().load().lookup(k).expect("installed");
        assert_eq!(e.target, Target::Local(0));
        assert!(e.is_static);
        // Removed from the file, removed by the reload.
        let c = Config::parse(&config_text("")).unwrap();
        t.apply(c, 1).unwrap();
        assert!(t.fdb.shared().load().lookup(k).is_none());
    }

    #[test]
    fn refused_reload_changes_nothing() {
        let mut t = tables(STATIC_AA);
        let before = (t.cfg.clone(), t.fdb.len(), t.vnis.iter().count());
        let mut c = t.cfg.clone();
        c.underlay.mtu = 9000;
        c.fdb.clear();
        assert!(t.apply(c, 1).unwrap_err().contains("restart vtepd"));
        assert_eq!((t.cfg.clone(), t.fdb.len(), t.vnis.iter().count()), before);
    }

    #[test]
    fn a_reload_that_overfills_the_fdb_is_refused_whole() {
        let text =
            config_text("").replace("[underlay]", "[dataplane]\nfdb_capacity = 1024\n[underlay]");
        let mut t = Tables::new(Config::parse(&text).unwrap(), [2, 0, 0, 0, 1, 1], 0).unwrap();
        let v = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        for i in 0..1000u16 {
            let [a, b] = i.to_be_bytes();
            t.event(
                Event::Learn {
                    vni: v,
                    mac: [2, 0, 0, 1, a, b],
                    at: LearnAt::Local(0),
                },
                1,
            );
        }
        let mut more = text.clone();
        for i in 0..30u8 {
            more.push_str(&format!(
                "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:09:{i:02x}\"\nremote = \"192.0.2.2\"\n"
            ));
        }
        let before = (t.fdb.len(), t.cfg.clone());
        let e = t.apply(Config::parse(&more).unwrap(), 2).unwrap_err();
        assert!(e.contains("room for 24 more"), "{e}");
        assert_eq!((t.fdb.len(), t.cfg.clone()), before, "nothing applied");
    }

    #[test]
    fn learning_from_a_new_remote_interns_it() {
        let mut t = tables("");
        t.dirty = false;
        let v = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        let ip = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
        let (_, _, l) = t
            .event(
                Event::Learn {
                    vni: v,
                    mac: [2, 0, 0, 0, 0, 9],
                    at: LearnAt::Remote(ip),
                },
                1,
            )
            .unwrap();
        assert_eq!(l, Learned::New);
        assert!(
            t.remotes.get(ip).is_some() && t.dirty,
            "new remote published"
        );
        assert!(t
            .wanted_next_hops()
            .contains(&Ipv4Addr::new(192, 0, 2, 254).into()));
    }

    #[test]
    fn neighbours_only_from_on_link_unicast() {
        let mut t = tables("");
        let m = [2, 0, 0, 0, 0, 5];
        assert!(
            !t.learn_neighbor(Ipv4Addr::new(10, 0, 0, 1).into(), m, 0),
            "off-link"
        );
        assert!(
            !t.learn_neighbor(Ipv4Addr::new(192, 0, 2, 1).into(), m, 0),
            "our own address"
        );
        assert!(!t.learn_neighbor(Ipv4Addr::new(192, 0, 2, 9).into(), [1, 0, 0, 0, 0, 1], 0));
        assert!(t.learn_neighbor(Ipv4Addr::new(192, 0, 2, 9).into(), m, 0));
    }

    /// The IPv6 underlay: next hops by ND, templates once resolved, the
    /// same trust rules as ARP (on-link or link-local, unicast, not us).
    #[test]
    fn ipv6_next_hops_and_neighbours() {
        let text = config_text("")
            .replace("192.0.2.1/24", "2001:db8:1::1/64")
            .replace("192.0.2.254", "fe80::1")
            .replace("192.0.2.2", "2001:db8:1::2")
            + "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:aa\"\nremote = \"2001:db8:9::5\"\n";
        let mut t = Tables::new(Config::parse(&text).unwrap(), [2, 0, 0, 0, 1, 1], 0).unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            t.wanted_next_hops(),
            vec![ip("2001:db8:1::2"), ip("fe80::1")]
        );
        let d = t.neigh.due(&t.wanted_next_hops(), 0);
        assert_eq!(d.ask.len(), 2, "both asked at once");
        let m = [2, 0, 0, 0, 0, 5];
        assert!(!t.learn_neighbor(ip("2001:db8:7::1"), m, 0), "off-link");
        assert!(
            !t.learn_neighbor(ip("2001:db8:1::1"), m, 0),
            "our own address"
        );
        assert!(!t.learn_neighbor(ip("2001:db8:1::2"), [0x33, 0x33, 0, 0, 0, 1], 0));
        assert!(
            !t.learn_neighbor(Ipv4Addr::new(192, 0, 2, 2).into(), m, 0),
            "other family"
        );
        assert!(
            t.learn_neighbor(ip("fe80::1"), m, 1),
            "the link-local gateway"
        );
        let st = super::super::publish::build(&t, 1);
        let routed = t.remotes.get(ip("2001:db8:9::5")).unwrap();
        let tpl = *st.template(routed, 0).unwrap();
        assert!(tpl.v6 && tpl.len == crate::datapath::tunnel::vxlan::OUTER6_LEN);
        assert_eq!(&tpl.bytes[0..6], &m, "through the gateway's MAC");
        assert_eq!(&tpl.bytes[12..14], &[0x86, 0xdd]);
        let on_link = t.remotes.get(ip("2001:db8:1::2")).unwrap();
        assert!(st.template(on_link, 0).is_none(), "not resolved yet");
        assert!(t.learn_neighbor(ip("2001:db8:1::2"), [2, 0, 0, 0, 0, 6], 2));
        let st = super::super::publish::build(&t, 2);
        assert!(st.template(on_link, 0).is_some());
        // Probed when not confirmed, forgotten when the probes go
        // unanswered, like ARP entries.
        let c = t.neigh.confirm_ms;
        let gw = ip("fe80::1");
        let d = t.neigh.due(&[gw], 1 + c);
        assert_eq!((d.ask[0].ip, d.ask[0].to), (gw, Some(m)));
        let mut forgot = Vec::new();
        for i in 1..=super::super::neigh::PROBES as u64 {
            forgot = t.neigh.due(&[gw], 1 + c + i * 1000).forgot;
        }
        assert_eq!(forgot, [gw]);
    }
}

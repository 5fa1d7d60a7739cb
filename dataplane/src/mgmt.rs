//! The management thread: the only writer of forwarding state. It drains
//! learn events and punted packets from the workers, resolves underlay
//! neighbours with ARP, answers ARP and ICMP echo for the VTEP address, ages
//! the FDB, serves control requests and publishes new [`State`]s.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use crossbeam::queue::ArrayQueue;
use dpdk::{Mbuf, Mempool, Port};
use hashbrown::HashMap;
use serde_json::{json, Value};
use vtep_config::{Config, MacAddr, Vni};

use crate::drops::DropReason;
use crate::fdb::{HitMap, Target, VniIdx};
use crate::fdbmgr::{FdbManager, Learned, VniPolicy};
use crate::state::{AccessState, RemoteState, State, Template, VniState};
use crate::stats::{Tally, WorkerStats, MAX_REMOTES, MAX_VNIS};
use crate::wire::{self, arp, eth, ip, Arp, ETH_LEN};
use crate::worker::{Event, LearnAt};

/// Re-ask for a dynamic neighbour this often, and forget it after this long
/// without an answer.
const ARP_REFRESH_MS: u64 = 60_000;
const ARP_EXPIRE_MS: u64 = 180_000;
const ARP_RETRY_MS: u64 = 1_000;
/// Drop warnings are logged at most this often.
const DROP_REPORT_MS: u64 = 10_000;

#[derive(Debug, Clone, Copy)]
struct Neigh {
    mac: Option<[u8; 6]>,
    is_static: bool,
    updated: u64,
    asked: u64,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct MgmtCounters {
    pub arp_requests_sent: u64,
    pub arp_replies_sent: u64,
    pub echo_replies_sent: u64,
    pub neighbor_updates: u64,
    pub punts_handled: u64,
    pub mgmt_tx_failed: u64,
    pub reloads: u64,
    pub reloads_rejected: u64,
}

/// The worker-facing handles the management thread reads.
pub struct WorkerLink {
    pub lcore_cpu: usize,
    pub hits: Arc<HitMap>,
    pub events: Arc<ArrayQueue<Event>>,
    pub punts: Arc<ArrayQueue<Mbuf>>,
    pub stats: Arc<WorkerStats>,
}

pub struct Mgmt {
    pub cfg: Config,
    pub config_path: Option<std::path::PathBuf>,
    pub our_mac: [u8; 6],
    pub state: Arc<ArcSwap<State>>,
    pub fdb: FdbManager,
    pub workers: Vec<WorkerLink>,
    /// Frames the management thread sends on the underlay, handed to
    /// worker 0, which owns the TX queues (some PMDs have only one).
    pub inject: Arc<ArrayQueue<Mbuf>>,
    pub pool: Mempool,
    pub ports: Vec<Port>,
    pub counters: MgmtCounters,
    vni_idx: BTreeMap<Vni, VniIdx>,
    remotes: Vec<Option<Ipv4Addr>>,
    remote_idx: HashMap<Ipv4Addr, u32>,
    neigh: BTreeMap<Ipv4Addr, Neigh>,
    arp_bind: HashMap<(VniIdx, Ipv4Addr), [u8; 6]>,
    start: Instant,
    generation: u64,
    dirty: bool,
    last_age: u64,
    last_arp: u64,
    last_drop_report: u64,
    reported_drops: Vec<u64>,
    /// Entries added with `fdb add`, persisted in `[control] state_file`.
    api_static: BTreeMap<(Vni, MacAddr), Ipv4Addr>,
}

fn err(msg: impl Into<String>) -> Value {
    json!({"ok": false, "error": msg.into()})
}

fn ok(data: Value) -> Value {
    json!({"ok": true, "data": data})
}

impl Mgmt {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        cfg: Config,
        config_path: Option<std::path::PathBuf>,
        our_mac: [u8; 6],
        fdb: FdbManager,
        workers: Vec<WorkerLink>,
        inject: Arc<ArrayQueue<Mbuf>>,
        pool: Mempool,
        ports: Vec<Port>,
    ) -> Result<Mgmt, String> {
        let placeholder = State {
            generation: 0,
            our_ip: cfg.underlay.address,
            our_mac,
            udp_port: cfg.underlay.udp_port,
            mtu: cfg.underlay.mtu,
            accept_unknown_sources: false,
            strict_reserved: false,
            vnis: Vec::new(),
            vni_index: HashMap::new(),
            access: Vec::new(),
            remotes: Vec::new(),
            remote_index: HashMap::new(),
            arp: HashMap::new(),
        };
        let mut m = Mgmt {
            cfg: cfg.clone(),
            config_path,
            our_mac,
            state: Arc::new(ArcSwap::from_pointee(placeholder)),
            fdb,
            workers,
            inject,
            pool,
            ports,
            counters: MgmtCounters::default(),
            vni_idx: BTreeMap::new(),
            remotes: Vec::new(),
            remote_idx: HashMap::new(),
            neigh: BTreeMap::new(),
            arp_bind: HashMap::new(),
            start: Instant::now(),
            generation: 0,
            dirty: true,
            last_age: 0,
            last_arp: 0,
            last_drop_report: 0,
            reported_drops: vec![0; DropReason::COUNT],
            api_static: BTreeMap::new(),
        };
        m.apply(cfg)?;
        m.load_state();
        Ok(m)
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    fn remote_index(&mut self, ip: Ipv4Addr) -> Option<u32> {
        if let Some(i) = self.remote_idx.get(&ip) {
            return Some(*i);
        }
        let i = match self.remotes.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.remotes.len() < MAX_REMOTES => {
                self.remotes.push(None);
                self.remotes.len() - 1
            }
            None => return None,
        };
        self.remotes[i] = Some(ip);
        self.remote_idx.insert(ip, i as u32);
        self.dirty = true;
        Some(i as u32)
    }

    /// Applies a (validated) config: the initial one or a reload. Only
    /// differences change the running state; entries of VNIs that went away
    /// are flushed.
    pub fn apply(&mut self, cfg: Config) -> Result<(), String> {
        let old = &self.cfg;
        if self.generation > 0 {
            let fixed = old.eal_args == cfg.eal_args
                && old.dataplane == cfg.dataplane
                && old.underlay == cfg.underlay
                && old
                    .access
                    .iter()
                    .map(|a| &a.port)
                    .eq(cfg.access.iter().map(|a| &a.port))
                && old.control.socket == cfg.control.socket;
            if !fixed {
                return Err(
                    "[eal], [dataplane], [underlay], the set of access ports and control.socket \
                            cannot change on reload: restart vtepd"
                        .into(),
                );
            }
        }
        // VNI indexes stay stable across reloads.
        let now = self.now_ms();
        let gone: Vec<(Vni, VniIdx)> = self
            .vni_idx
            .iter()
            .filter(|(v, _)| cfg.vni(**v).is_none())
            .map(|(v, i)| (*v, *i))
            .collect();
        for (v, i) in gone {
            self.fdb.flush(Some(i), None, true);
            self.fdb.remove_policy(i);
            self.vni_idx.remove(&v);
            self.arp_bind.retain(|(x, _), _| *x != i);
        }
        for v in &cfg.vnis {
            if !self.vni_idx.contains_key(&v.id) {
                let used: std::collections::BTreeSet<VniIdx> =
                    self.vni_idx.values().copied().collect();
                let i = (0..MAX_VNIS as VniIdx)
                    .find(|i| !used.contains(i))
                    .ok_or_else(|| format!("more than {MAX_VNIS} VNIs"))?;
                self.vni_idx.insert(v.id, i);
            }
            let i = self.vni_idx[&v.id];
            self.fdb.set_policy(
                i,
                VniPolicy {
                    learning: v.learning,
                    mac_limit: v.mac_limit,
                    aging_ms: v.aging_secs as u64 * 1000,
                },
            );
        }
        for v in &cfg.vnis {
            for ip in &v.flood {
                self.remote_index(*ip).ok_or("too many remote VTEPs")?;
            }
        }
        for n in &cfg.neighbors {
            self.remote_index(n.ip).ok_or("too many remote VTEPs")?;
        }
        // Static neighbours: replace the old static set.
        self.neigh.retain(|_, n| !n.is_static);
        for n in &cfg.neighbors {
            self.neigh.insert(
                n.ip,
                Neigh {
                    mac: Some(n.mac.0),
                    is_static: true,
                    updated: now,
                    asked: now,
                },
            );
        }
        // Static FDB: remove the config entries that went away, add the rest.
        let old_static: Vec<(VniIdx, MacAddr)> = self
            .cfg
            .fdb
            .iter()
            .filter_map(|f| self.vni_idx.get(&f.vni).map(|i| (*i, f.mac)))
            .collect();
        let keep: std::collections::BTreeSet<(Vni, MacAddr)> =
            cfg.fdb.iter().map(|f| (f.vni, f.mac)).collect();
        if self.generation > 0 {
            for (i, mac) in old_static {
                let vni = self.vni_idx.iter().find(|(_, x)| **x == i).map(|(v, _)| *v);
                if vni.is_some_and(|v| !keep.contains(&(v, mac))) {
                    self.fdb.remove(i, mac.0);
                }
            }
        }
        for f in &cfg.fdb {
            let r = self.remote_index(f.remote).ok_or("too many remote VTEPs")?;
            let i = self.vni_idx[&f.vni];
            self.fdb
                .add_static(i, f.mac.0, Target::Remote(r), now)
                .map_err(|_| format!("FDB full adding {} in VNI {}", f.mac, f.vni))?;
        }
        self.cfg = cfg;
        self.dirty = true;
        self.publish();
        Ok(())
    }

    fn template_for(&self, ip: Ipv4Addr) -> Option<Template> {
        let u = &self.cfg.underlay;
        let nh = u.next_hop(ip)?;
        let mac = self.neigh.get(&nh)?.mac?;
        Some(Template::new(
            mac,
            self.our_mac,
            u.address,
            ip,
            u.udp_port,
            u.ttl,
            u.df,
        ))
    }

    /// Builds and publishes a new State.
    pub fn publish(&mut self) {
        let c = &self.cfg;
        let mut vnis: Vec<Option<VniState>> = vec![
            None;
            self.vni_idx
                .values()
                .map(|i| *i as usize + 1)
                .max()
                .unwrap_or(0)
        ];
        let mut vni_index = HashMap::new();
        for v in &c.vnis {
            let i = self.vni_idx[&v.id];
            vni_index.insert(v.id.get(), i);
            let mut ports = Vec::new();
            for (p, a) in c.access.iter().enumerate() {
                if a.vni == Some(v.id) {
                    ports.push((p as u16, None));
                }
                for (vid, x) in &a.vlans {
                    if *x == v.id {
                        ports.push((p as u16, Some(*vid)));
                    }
                }
            }
            vnis[i as usize] = Some(VniState {
                vni: v.id,
                learning: v.learning,
                arp_suppress: v.arp_suppress,
                flood: v
                    .flood
                    .iter()
                    .filter_map(|ip| self.remote_idx.get(ip).copied())
                    .collect(),
                ports,
            });
        }
        let access = c
            .access
            .iter()
            .map(|a| {
                let mut s = AccessState::new(&a.port);
                s.untagged = a.vni.map(|v| self.vni_idx[&v]);
                for (vid, v) in &a.vlans {
                    s.vlans[*vid as usize] = Some(self.vni_idx[v]);
                }
                s
            })
            .collect();
        let remotes = self
            .remotes
            .iter()
            .map(|r| {
                r.map(|ip| RemoteState {
                    ip,
                    template: self.template_for(ip),
                })
            })
            .collect();
        self.generation += 1;
        let st = State {
            generation: self.generation,
            our_ip: c.underlay.address,
            our_mac: self.our_mac,
            udp_port: c.underlay.udp_port,
            mtu: c.underlay.mtu,
            accept_unknown_sources: c.underlay.accept_unknown_sources,
            strict_reserved: c.underlay.strict_reserved,
            vnis,
            vni_index,
            access,
            remotes,
            remote_index: self.remote_idx.clone(),
            arp: self.arp_bind.clone(),
        };
        self.state.store(Arc::new(st));
        self.dirty = false;
    }

    /// One round of management work; returns true if it did anything.
    pub fn poll(&mut self) -> bool {
        let now = self.now_ms();
        let mut busy = false;
        for w in 0..self.workers.len() {
            for _ in 0..4096 {
                let Some(ev) = self.workers[w].events.pop() else {
                    break;
                };
                busy = true;
                self.event(ev, now);
            }
            for _ in 0..256 {
                let Some(m) = self.workers[w].punts.pop() else {
                    break;
                };
                busy = true;
                self.counters.punts_handled += 1;
                self.punted(m, now);
            }
        }
        if now >= self.last_age + 1000 {
            self.last_age = now;
            let hits: Vec<Arc<HitMap>> = self.workers.iter().map(|w| w.hits.clone()).collect();
            self.fdb.age(now, &hits);
        }
        if now >= self.last_arp + ARP_RETRY_MS || self.last_arp == 0 {
            self.last_arp = now.max(1);
            self.resolve(now);
        }
        if now >= self.last_drop_report + DROP_REPORT_MS {
            self.last_drop_report = now;
            self.report_drops();
        }
        if self.dirty {
            self.publish();
        }
        busy
    }

    /// One warning per period at most, naming the reasons that rose.
    fn report_drops(&mut self) {
        let (t, ..) = self.tally();
        let mut rose = Vec::new();
        for r in DropReason::ALL {
            let (now, was) = (t.drops[*r as usize], self.reported_drops[*r as usize]);
            if now > was {
                rose.push(format!("{}={}", r.name(), now - was));
            }
            self.reported_drops[*r as usize] = now;
        }
        if !rose.is_empty() {
            tracing::warn!(drops = %rose.join(" "), "packets dropped in the last {} s", DROP_REPORT_MS / 1000);
        }
    }

    /// Re-adds the API entries saved in the state file.
    fn load_state(&mut self) {
        let Some(path) = self.cfg.control.state_file.clone() else {
            return;
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read state file");
                return;
            }
        };
        let entries: Vec<Value> = match serde_json::from_str::<Value>(&text) {
            Ok(v) => v["fdb"].as_array().cloned().unwrap_or_default(),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "state file is not valid JSON; ignored");
                return;
            }
        };
        let mut restored = 0;
        for e in entries {
            let r = self.fdb_add(
                &json!({"vni": e["vni"], "mac": e["mac"], "remote": e["remote"], "persist": false}),
            );
            if r["ok"] == true {
                restored += 1;
            } else {
                tracing::warn!(entry = %e, error = %r["error"], "state file entry not restored");
            }
        }
        tracing::info!(path = %path.display(), restored, "FDB entries restored from the state file");
    }

    /// Writes the API entries to the state file atomically (temp + rename).
    fn save_state(&self) -> Result<(), String> {
        let Some(path) = &self.cfg.control.state_file else {
            return Ok(());
        };
        let fdb: Vec<Value> = self
            .api_static
            .iter()
            .map(|((v, m), ip)| json!({"vni": v.get(), "mac": m.to_string(), "remote": ip.to_string()}))
            .collect();
        let tmp = path.with_extension("tmp");
        let body = serde_json::to_string_pretty(&json!({"fdb": fdb})).unwrap_or_default();
        std::fs::write(&tmp, body)
            .and_then(|_| std::fs::rename(&tmp, path))
            .map_err(|e| format!("cannot write state file {}: {e}", path.display()))
    }

    fn event(&mut self, ev: Event, now: u64) {
        match ev {
            Event::Learn { vni, mac, at } => {
                let target = match at {
                    LearnAt::Local(p) => Target::Local(p),
                    LearnAt::Remote(ip) => match self.remote_index(ip) {
                        Some(r) => Target::Remote(r),
                        None => return,
                    },
                };
                if let Learned::Moved { from } = self.fdb.learn(vni, mac, target, now) {
                    tracing::info!(vni = vni, mac = %MacAddr(mac), ?from, to = ?target, "MAC moved");
                }
            }
            Event::ArpSnoop { vni, ip, mac } => {
                if self.arp_bind.get(&(vni, ip)) != Some(&mac) && self.arp_bind.len() < 1 << 20 {
                    self.arp_bind.insert((vni, ip), mac);
                    self.dirty = true;
                }
            }
        }
    }

    /// Sends ARP requests for next hops that are unresolved or due a refresh.
    fn resolve(&mut self, now: u64) {
        let mut want: Vec<Ipv4Addr> = self
            .remotes
            .iter()
            .flatten()
            .filter_map(|ip| self.cfg.underlay.next_hop(*ip))
            .collect();
        want.extend(self.cfg.underlay.gateway);
        want.sort();
        want.dedup();
        for nh in want {
            let n = self.neigh.entry(nh).or_insert(Neigh {
                mac: None,
                is_static: false,
                updated: 0,
                asked: 0,
            });
            if n.is_static {
                continue;
            }
            if n.mac.is_some() && now.saturating_sub(n.updated) > ARP_EXPIRE_MS {
                n.mac = None;
                self.dirty = true;
            }
            let due = match n.mac {
                None => now.saturating_sub(n.asked) >= ARP_RETRY_MS || n.asked == 0,
                Some(_) => {
                    now.saturating_sub(n.updated) >= ARP_REFRESH_MS
                        && now.saturating_sub(n.asked) >= ARP_RETRY_MS
                }
            };
            if due {
                n.asked = now.max(1);
                let u = &self.cfg.underlay;
                let f = wire::arp_frame(
                    [0xff; 6],
                    self.our_mac,
                    arp::REQUEST,
                    self.our_mac,
                    u.address,
                    [0; 6],
                    nh,
                );
                if self.send(&f) {
                    self.counters.arp_requests_sent += 1;
                }
            }
        }
    }

    /// Sends a gratuitous ARP for the VTEP address.
    pub fn gratuitous_arp(&mut self) {
        let a = self.cfg.underlay.address;
        let f = wire::arp_frame(
            [0xff; 6],
            self.our_mac,
            arp::REQUEST,
            self.our_mac,
            a,
            [0; 6],
            a,
        );
        if self.send(&f) {
            self.counters.arp_requests_sent += 1;
        }
    }

    fn send(&mut self, frame: &[u8]) -> bool {
        match self.pool.alloc_from(frame) {
            Ok(m) => self.send_mbuf(m),
            Err(_) => {
                self.counters.mgmt_tx_failed += 1;
                false
            }
        }
    }

    fn send_mbuf(&mut self, m: Mbuf) -> bool {
        let ok = self.inject.push(m).is_ok();
        if !ok {
            self.counters.mgmt_tx_failed += 1;
        }
        ok
    }

    fn punted(&mut self, mut m: Mbuf, now: u64) {
        let d = m.data();
        if d.len() < ETH_LEN {
            return;
        }
        match wire::be16(d, eth::TYPE) {
            wire::ETHERTYPE_ARP => {
                let Some(a) = Arp::parse(&d[ETH_LEN..]) else {
                    return;
                };
                self.learn_neighbor(a.spa, a.sha, now);
                if a.oper == arp::REQUEST && a.tpa == self.cfg.underlay.address {
                    let mac = self.our_mac;
                    wire::arp_reply_in_place(m.data_mut(), &a, mac);
                    if self.send_mbuf(m) {
                        self.counters.arp_replies_sent += 1;
                    }
                }
            }
            wire::ETHERTYPE_IPV4
                if echo_reply_in_place(&mut m, self.our_mac) && self.send_mbuf(m) =>
            {
                self.counters.echo_replies_sent += 1;
            }
            _ => {}
        }
    }

    fn learn_neighbor(&mut self, ip: Ipv4Addr, mac: [u8; 6], now: u64) {
        if !self.cfg.underlay.on_link(ip) || ip == self.cfg.underlay.address || mac[0] & 1 == 1 {
            return;
        }
        let n = self.neigh.entry(ip).or_insert(Neigh {
            mac: None,
            is_static: false,
            updated: now,
            asked: 0,
        });
        if n.is_static {
            return;
        }
        n.updated = now;
        if n.mac != Some(mac) {
            n.mac = Some(mac);
            self.counters.neighbor_updates += 1;
            self.dirty = true;
        }
    }

    /// Worker counters summed.
    pub fn tally(&self) -> (Tally, u64, u64, u64) {
        let mut t = Tally::default();
        let (mut ev, mut copies, mut res) = (0, 0, 0);
        for w in &self.workers {
            t.add(&w.stats.tally());
            ev += w
                .stats
                .learn_events_dropped
                .load(std::sync::atomic::Ordering::Relaxed);
            copies += w
                .stats
                .flood_copy_drops
                .load(std::sync::atomic::Ordering::Relaxed);
            res += w
                .stats
                .reserved_bits_seen
                .load(std::sync::atomic::Ordering::Relaxed);
        }
        (t, ev, copies, res)
    }

    fn vni_of(&self, i: VniIdx) -> Option<Vni> {
        self.vni_idx.iter().find(|(_, x)| **x == i).map(|(v, _)| *v)
    }

    fn target_json(&self, t: Target) -> (&'static str, Value) {
        match t {
            Target::Local(p) => (
                "port",
                json!(self.cfg.access.get(p as usize).map(|a| a.port.clone())),
            ),
            Target::Remote(r) => (
                "remote",
                json!(self
                    .remotes
                    .get(r as usize)
                    .copied()
                    .flatten()
                    .map(|ip| ip.to_string())),
            ),
        }
    }

    /// Answers one control request (JSON object with "cmd").
    pub fn request(&mut self, req: &Value) -> Value {
        let Some(cmd) = req.get("cmd").and_then(Value::as_str) else {
            return err("request has no \"cmd\" string");
        };
        match cmd {
            "status" => ok(self.status()),
            "stats" => ok(self.stats()),
            "fdb_show" => self.fdb_show(req),
            "fdb_add" => self.fdb_add(req),
            "fdb_del" => self.fdb_del(req),
            "fdb_flush" => self.fdb_flush(req),
            "vni_show" => ok(self.vni_show()),
            "neigh_show" => ok(self.neigh_show()),
            "reload" => self.reload(),
            other => err(format!("unknown command {other:?}")),
        }
    }

    pub fn reload(&mut self) -> Value {
        let Some(path) = self.config_path.clone() else {
            return err("no config file to reload");
        };
        match Config::load(&path)
            .map_err(|e| e.to_string())
            .and_then(|c| self.apply(c))
        {
            Ok(()) => {
                self.counters.reloads += 1;
                tracing::info!(path = %path.display(), "config reloaded");
                ok(json!({"reloaded": path.display().to_string(), "generation": self.generation}))
            }
            Err(e) => {
                self.counters.reloads_rejected += 1;
                tracing::warn!(error = %e, "reload rejected; running config kept");
                err(format!("reload rejected, running config kept: {e}"))
            }
        }
    }

    fn status(&self) -> Value {
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|p| {
                let l = p.link().ok();
                json!({
                    "name": p.name(),
                    "link_up": l.map(|l| l.up),
                    "speed_mbps": l.map(|l| l.speed_mbps),
                    "mac": p.mac().ok().map(|m| MacAddr(m).to_string()),
                })
            })
            .collect();
        let workers: Vec<Value> = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| json!({"index": i, "cpu": w.lcore_cpu}))
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "dpdk": dpdk::Eal::version(),
            "uptime_secs": self.start.elapsed().as_secs(),
            "vtep_address": self.cfg.underlay.address.to_string(),
            "vtep_mac": MacAddr(self.our_mac).to_string(),
            "udp_port": self.cfg.underlay.udp_port,
            "workers": workers,
            "ports": ports,
            "fdb_entries": self.fdb.len(),
            "state_generation": self.generation,
        })
    }

    fn stats(&self) -> Value {
        use std::sync::atomic::Ordering::Relaxed;
        let ports: Vec<Value> = self
            .ports
            .iter()
            .map(|p| {
                let s = p.stats().unwrap_or_default();
                json!({
                    "name": p.name(),
                    "rx_packets": s.rx_packets, "tx_packets": s.tx_packets,
                    "rx_bytes": s.rx_bytes, "tx_bytes": s.tx_bytes,
                    "rx_missed": s.rx_missed, "rx_nombuf": s.rx_nombuf,
                    "rx_errors": s.rx_errors, "tx_errors": s.tx_errors,
                })
            })
            .collect();
        let sum = |f: &dyn Fn(&WorkerStats) -> (u64, u64)| {
            self.workers
                .iter()
                .map(|w| f(&w.stats))
                .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
        };
        let vnis: Vec<Value> = self
            .vni_idx
            .iter()
            .map(|(v, i)| {
                let i = *i as usize;
                let e = sum(&|s| s.vnis[i].encap.get());
                let d = sum(&|s| s.vnis[i].decap.get());
                let f = sum(&|s| s.vnis[i].flood.get());
                json!({
                    "id": v.get(),
                    "encap_packets": e.0, "encap_bytes": e.1,
                    "decap_packets": d.0, "decap_bytes": d.1,
                    "flood_packets": f.0, "flood_bytes": f.1,
                    "learned_macs": self.fdb.learned_in(i as VniIdx),
                })
            })
            .collect();
        let remotes: Vec<Value> = self
            .remotes
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.map(|ip| (i, ip)))
            .map(|(i, ip)| {
                let tx = sum(&|s| s.remotes[i].tx.get());
                let rx = sum(&|s| s.remotes[i].rx.get());
                json!({"ip": ip.to_string(), "tx_packets": tx.0, "tx_bytes": tx.1, "rx_packets": rx.0, "rx_bytes": rx.1})
            })
            .collect();
        let (t, ev_dropped, copy_drops, reserved) = self.tally();
        let drops: serde_json::Map<String, Value> = DropReason::ALL
            .iter()
            .map(|r| (r.name().to_string(), json!(t.drops[*r as usize])))
            .collect();
        let hz = self.tsc_hz();
        let workers: Vec<Value> = self
            .workers
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let wt = w.stats.tally();
                let cycles = w.stats.busy_cycles.load(Relaxed);
                let bursts = w.stats.bursts.load(Relaxed);
                json!({
                    "index": i, "cpu": w.lcore_cpu,
                    "rx_packets": wt.rx,
                    "busy_cycles": cycles,
                    "bursts": bursts,
                    "cycles_per_packet": if wt.rx > 0 { cycles as f64 / wt.rx as f64 } else { 0.0 },
                    "avg_burst": if bursts > 0 { wt.rx as f64 / bursts as f64 } else { 0.0 },
                    "tsc_hz": hz,
                })
            })
            .collect();
        json!({
            "ports": ports,
            "vnis": vnis,
            "remotes": remotes,
            "drops": drops,
            "accounting": {
                "rx_packets": t.rx, "forwarded": t.forwarded, "dropped": t.dropped,
                "punted": t.punted, "flood_copies": t.flood_copies,
            },
            "flood_copy_drops": copy_drops,
            "learn_events_dropped": ev_dropped,
            "vxlan_reserved_bits_seen": reserved,
            "fdb": {
                "entries": self.fdb.len(),
                "learned": self.fdb.counters.learned,
                "moved": self.fdb.counters.moved,
                "aged": self.fdb.counters.aged,
                "damped": self.fdb.counters.damped,
                "mac_limit_drops": self.fdb.counters.mac_limit_drops,
                "table_full": self.fdb.counters.table_full,
            },
            "management": self.counters,
            "workers": workers,
            "mempool": {"size": self.pool.size(), "available": self.pool.available()},
        })
    }

    fn tsc_hz(&self) -> u64 {
        // The EAL handle is not kept here; DPDK's TSC rate is process-wide.
        dpdk::tsc_hz()
    }

    fn parse_vni(&self, req: &Value) -> Result<Option<VniIdx>, Value> {
        match req.get("vni") {
            None | Some(Value::Null) => Ok(None),
            Some(v) => {
                let n = v.as_u64().ok_or_else(|| err("vni must be a number"))?;
                let vni = u32::try_from(n)
                    .ok()
                    .and_then(Vni::new)
                    .ok_or_else(|| err(format!("{n} is not a VNI")))?;
                self.vni_idx
                    .get(&vni)
                    .copied()
                    .map(Some)
                    .ok_or_else(|| err(format!("VNI {vni} is not configured")))
            }
        }
    }

    fn parse_mac(req: &Value) -> Result<MacAddr, Value> {
        let s = req
            .get("mac")
            .and_then(Value::as_str)
            .ok_or_else(|| err("missing \"mac\""))?;
        let m: MacAddr = s.parse().map_err(|e: String| err(e))?;
        if m.is_multicast() || m.is_zero() {
            return Err(err(format!("{m} is not a unicast MAC")));
        }
        Ok(m)
    }

    fn fdb_show(&self, req: &Value) -> Value {
        let filter = match self.parse_vni(req) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let now = self.now_ms();
        let rows: Vec<Value> = self
            .fdb
            .rows(now)
            .into_iter()
            .filter(|r| filter.is_none_or(|v| v == r.vni))
            .map(|r| {
                let (k, v) = self.target_json(r.target);
                let mut o = json!({
                    "vni": self.vni_of(r.vni).map(|v| v.get()),
                    "mac": r.mac.to_string(),
                    "kind": if r.is_static { "static" } else { "learned" },
                    "age_secs": r.age_ms / 1000,
                });
                o[k] = v;
                o
            })
            .collect();
        ok(Value::Array(rows))
    }

    /// The required "vni" and unicast "mac" of an FDB entry request.
    fn parse_entry(&self, req: &Value) -> Result<(VniIdx, MacAddr), Value> {
        let vni = self.parse_vni(req)?.ok_or_else(|| err("missing \"vni\""))?;
        Ok((vni, Self::parse_mac(req)?))
    }

    fn fdb_add(&mut self, req: &Value) -> Value {
        let (vni, mac) = match self.parse_entry(req) {
            Ok(x) => x,
            Err(e) => return e,
        };
        let Some(ip) = req
            .get("remote")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<Ipv4Addr>().ok())
        else {
            return err("missing or bad \"remote\" IPv4 address");
        };
        if ip == self.cfg.underlay.address {
            return err(format!("{ip} is this VTEP's own address"));
        }
        if self.cfg.underlay.next_hop(ip).is_none() {
            return err(format!(
                "{ip} is off-link and no underlay gateway is configured"
            ));
        }
        let Some(r) = self.remote_index(ip) else {
            return err("too many remote VTEPs");
        };
        let now = self.now_ms();
        match self.fdb.add_static(vni, mac.0, Target::Remote(r), now) {
            Ok(()) => {
                self.publish();
                if let Some(v) = self.vni_of(vni) {
                    self.api_static.insert((v, mac), ip);
                }
                if req["persist"] != false {
                    if let Err(e) = self.save_state() {
                        return err(format!("added, but {e}"));
                    }
                }
                ok(json!({"added": mac.to_string()}))
            }
            Err(_) => err("FDB is full"),
        }
    }

    fn fdb_del(&mut self, req: &Value) -> Value {
        let (vni, mac) = match self.parse_entry(req) {
            Ok(x) => x,
            Err(e) => return e,
        };
        if self.fdb.remove(vni, mac.0) {
            if let Some(v) = self.vni_of(vni) {
                if self.api_static.remove(&(v, mac)).is_some() {
                    if let Err(e) = self.save_state() {
                        return err(format!("deleted, but {e}"));
                    }
                }
            }
            ok(json!({"deleted": mac.to_string()}))
        } else {
            err(format!("no entry for {mac} in that VNI"))
        }
    }

    fn fdb_flush(&mut self, req: &Value) -> Value {
        let vni = match self.parse_vni(req) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let target = match req.get("remote").and_then(Value::as_str) {
            None => None,
            Some(s) => match s
                .parse::<Ipv4Addr>()
                .ok()
                .and_then(|ip| self.remote_idx.get(&ip))
            {
                Some(r) => Some(Target::Remote(*r)),
                None => return err(format!("{s} is not a known remote VTEP")),
            },
        };
        let n = self.fdb.flush(vni, target, false);
        ok(json!({"flushed": n}))
    }

    fn vni_show(&self) -> Value {
        let st = self.state.load();
        Value::Array(
            self.cfg
                .vnis
                .iter()
                .map(|v| {
                    let i = self.vni_idx[&v.id];
                    let ports: Vec<Value> = st
                        .vni(i)
                        .map(|s| {
                            s.ports
                                .iter()
                                .map(|(p, vid)| json!({"port": self.cfg.access[*p as usize].port, "vlan": vid}))
                                .collect()
                        })
                        .unwrap_or_default();
                    json!({
                        "id": v.id.get(),
                        "flood": v.flood.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
                        "learning": v.learning,
                        "arp_suppress": v.arp_suppress,
                        "mac_limit": v.mac_limit,
                        "aging_secs": v.aging_secs,
                        "learned_macs": self.fdb.learned_in(i),
                        "ports": ports,
                    })
                })
                .collect(),
        )
    }

    fn neigh_show(&self) -> Value {
        let now = self.now_ms();
        Value::Array(
            self.neigh
                .iter()
                .map(|(ip, n)| {
                    json!({
                        "ip": ip.to_string(),
                        "mac": n.mac.map(|m| MacAddr(m).to_string()),
                        "state": if n.is_static { "static" } else if n.mac.is_some() { "reachable" } else { "incomplete" },
                        "age_secs": now.saturating_sub(n.updated) / 1000,
                    })
                })
                .collect(),
        )
    }
}

/// Turns an ICMP echo request (already checked by decap) into its reply.
fn echo_reply_in_place(m: &mut Mbuf, our_mac: [u8; 6]) -> bool {
    let d = m.data_mut();
    if d.len() < ETH_LEN + 20 {
        return false;
    }
    let ihl = (d[ETH_LEN] & 0x0f) as usize * 4;
    let total = wire::be16(d, ETH_LEN + ip::TOTAL_LEN) as usize;
    if d.len() < ETH_LEN + total || total < ihl + 8 {
        return false;
    }
    d.copy_within(eth::SRC, 0);
    d[eth::SRC].copy_from_slice(&our_mac);
    let l3 = &mut d[ETH_LEN..ETH_LEN + total];
    let (src, dst) = (wire::ipv4_at(l3, ip::SRC), wire::ipv4_at(l3, ip::DST));
    l3[ip::SRC..ip::SRC + 4].copy_from_slice(&dst.octets());
    l3[ip::DST..ip::DST + 4].copy_from_slice(&src.octets());
    l3[ip::TTL] = 64;
    wire::put16(l3, ip::CSUM, 0);
    let c = wire::checksum(&l3[..ihl]);
    wire::put16(l3, ip::CSUM, c);
    let icmp = &mut l3[ihl..];
    icmp[0] = 0;
    wire::put16(icmp, 2, 0);
    let c = wire::checksum(icmp);
    wire::put16(icmp, 2, c);
    let extra = m.len() - (ETH_LEN + total);
    m.trim(extra);
    true
}

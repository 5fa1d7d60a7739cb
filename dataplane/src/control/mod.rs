//! The management thread: the only writer of forwarding state. Each round
//! it drains learn events and punted frames from the workers, ages the
//! FDB, resolves underlay neighbours, answers control requests and
//! publishes a new [`State`] when something changed.
//!
//! The parts: [`tables`] (what it knows), [`fdbmgr`] (the FDB's writer),
//! [`reconcile`] (config changes and stable indexes), [`publish`] (the
//! workers' State), [`neigh`] (ARP and ND resolution), [`punt`] (frames to
//! and from the underlay), [`kernel`] (the exception path), [`persist`]
//! (the state file), [`api`] (control handlers), [`snapshot`] (counter
//! views), [`server`] (the control socket), [`metrics`] (Prometheus),
//! [`telemetry`] (DPDK telemetry) and [`evpn`] (the EVPN mirror). This
//! file ties them to DPDK: queues, mempool and ports.

pub mod api;
pub mod evpn;
pub mod fdbmgr;
pub mod kernel;
pub mod membership;
pub mod metrics;
pub mod neigh;
pub mod persist;
pub mod publish;
pub mod punt;
pub mod reconcile;
pub mod rtnl;
pub mod server;
pub mod snapshot;
pub mod tables;
pub mod telemetry;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use crossbeam::queue::ArrayQueue;
use dpdk::{Mbuf, Mempool, Port};
use vtep_api::{MgmtCounters, Reloaded, Request, Response};
use vtep_config::{Config, MacAddr};

use crate::control::fdbmgr::Learned;
use crate::datapath::drops::DropReason;
use crate::datapath::fdb::HitMap;
use crate::datapath::state::State;
use crate::datapath::stats::WorkerStats;
use crate::datapath::worker::Event;
use crate::wire::igmp;
use evpn::netlink;
use tables::Tables;

/// How often the FDB is aged and links are looked at.
const AGE_MS: u64 = 1_000;
/// How often port links are read: a link that goes down stops the
/// workers sending to it within this time.
const LINK_WATCH_MS: u64 = 100;
/// Drop warnings are logged at most this often.
const DROP_REPORT_MS: u64 = 10_000;

/// How far the EVPN mirror's build is: `base` VNIs were built before the
/// build under way, which has done `done`; `synced` once the mirror was
/// read after it.
#[derive(Debug, Default, Clone, Copy)]
struct MirrorProgress {
    base: usize,
    done: usize,
    synced: bool,
}

impl MirrorProgress {
    fn built(&self) -> usize {
        self.base + self.done
    }
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
    pub tables: Tables,
    pub config_path: Option<PathBuf>,
    pub state: Arc<ArcSwap<State>>,
    pub workers: Vec<WorkerLink>,
    /// Frames the management thread sends on the underlay, handed to
    /// worker 0, which owns the TX queues (some PMDs have only one).
    pub inject: Arc<ArrayQueue<Mbuf>>,
    pub pool: Mempool,
    pub ports: Vec<Port>,
    /// The exception path to the kernel, if `[underlay] kernel_port` is set.
    pub kernel: Option<kernel::KernelPath>,
    /// The EVPN kernel mirror's netlink thread, if `[evpn]` is set.
    evpn: Option<netlink::Link>,
    /// How far its build is.
    mirror: MirrorProgress,
    pub counters: MgmtCounters,
    start: Instant,
    generation: u64,
    last_age: u64,
    last_links: u64,
    last_arp: Option<u64>,
    last_drop_report: u64,
    reported_drops: Vec<u64>,
    links: Vec<Option<bool>>,
    /// Next hops under suspicion (probed, not yet answered): frames sent
    /// through them when the probe went out, and the MAC they had.
    suspects: HashMap<IpAddr, (u64, [u8; 6])>,
    /// The VNIs' multicast groups, as a host reports them.
    membership: membership::Membership,
}

impl Mgmt {
    /// Takes over `tables` (built for the first config), restores the
    /// state file's entries and publishes the first State.
    pub fn new(
        tables: Tables,
        config_path: Option<PathBuf>,
        workers: Vec<WorkerLink>,
        inject: Arc<ArrayQueue<Mbuf>>,
        pool: Mempool,
        ports: Vec<Port>,
    ) -> Mgmt {
        let first = publish::build(&tables, 0);
        let n_ports = ports.len();
        let mut m = Mgmt {
            tables,
            config_path,
            state: Arc::new(ArcSwap::from_pointee(first)),
            workers,
            inject,
            pool,
            ports,
            kernel: None,
            evpn: None,
            mirror: MirrorProgress::default(),
            counters: MgmtCounters::default(),
            start: Instant::now(),
            generation: 0,
            last_age: 0,
            last_links: 0,
            last_arp: None,
            last_drop_report: 0,
            reported_drops: vec![0; DropReason::COUNT],
            links: vec![None; n_ports],
            suspects: HashMap::new(),
            membership: membership::Membership::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos() as u64),
            ),
        };
        m.restore();
        m.publish();
        m
    }

    pub fn now_ms(&self) -> u64 {
        self.start.elapsed().as_millis() as u64
    }

    /// Builds and publishes a new State.
    pub fn publish(&mut self) {
        self.generation += 1;
        self.state
            .store(Arc::new(publish::build(&self.tables, self.generation)));
        self.tables.dirty = false;
    }

    fn restore(&mut self) {
        let Some(path) = self.tables.cfg.control.state_file.clone() else {
            return;
        };
        let unix_secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        // A damaged file does not keep the gateway down: it starts with
        // the config's entries, and the API entries are in the copy.
        match persist::open(&path, unix_secs) {
            persist::Found::Absent => {}
            persist::Found::Loaded(file) => {
                let now = self.now_ms();
                let (n, refused) = self.tables.restore(&file, now);
                for why in &refused {
                    tracing::warn!(path = %path.display(), "state file entry not restored: {why}");
                }
                tracing::info!(path = %path.display(), restored = n, "FDB entries restored from the state file");
            }
            persist::Found::SetAside { why, copy } => tracing::error!(
                copy = %copy.display(),
                "{why}: moved aside, no API entries restored (their last saved form is in the copy)"
            ),
            persist::Found::Kept { why } => {
                tracing::error!(
                    "{why}: no API entries restored, and `fdb add` and `fdb del` are refused \
                     until a restart finds the file readable"
                );
                self.tables.state_file_kept = Some(why);
            }
        }
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
                if let Some((vni, mac, Learned::Moved { from })) = self.tables.event(ev, now) {
                    tracing::info!(vni, mac = %MacAddr(mac), ?from, "MAC moved");
                }
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
        busy |= self.relay_from_kernel();
        busy |= self.evpn_round(now);
        busy |= self.send_memberships(now);
        if now >= self.last_age + AGE_MS {
            self.last_age = now;
            let hits: Vec<Arc<HitMap>> = self.workers.iter().map(|w| w.hits.clone()).collect();
            self.tables.fdb.age(now, &hits);
        }
        if now >= self.last_links + LINK_WATCH_MS {
            self.last_links = now;
            self.watch_links();
        }
        if self.last_arp.is_none_or(|t| now >= t + neigh::RETRY_MS) {
            self.last_arp = Some(now);
            self.resolve(now);
        }
        if now >= self.last_drop_report + DROP_REPORT_MS {
            self.last_drop_report = now;
            self.report_drops();
        }
        if self.tables.dirty {
            self.publish();
        }
        busy
    }

    /// Answers one control request.
    pub fn handle(&mut self, req: &Request) -> Result<Response, String> {
        let now = self.now_ms();
        let t = &mut self.tables;
        let r = match req {
            Request::Status => Response::Status(Box::new(self.status())),
            Request::Stats => Response::Stats(Box::new(self.stats())),
            Request::FdbShow { vni } => Response::Fdb(t.fdb_show(*vni, now)?),
            Request::FdbAdd { vni, mac, remote } => {
                Response::Added(t.fdb_add(*vni, mac, remote, now)?)
            }
            Request::FdbDel { vni, mac } => {
                let r = Response::Deleted(t.fdb_del(*vni, mac)?);
                // A static entry may have stood over an EVPN route: read the
                // mirror again so the route comes back.
                if let Some(link) = &self.evpn {
                    let _ = link.tx.send(netlink::ToMirror::Resync);
                }
                r
            }
            Request::FdbFlush { vni, remote } => {
                Response::Flushed(t.fdb_flush(*vni, remote.as_deref())?)
            }
            Request::VniShow => Response::Vnis(self.vni_show()),
            Request::NeighShow => Response::Neighbors(t.neigh_show(now)),
            Request::ArpShow { vni } => Response::Arp(t.arp_show(*vni)?),
            Request::Reload => Response::Reloaded(self.reload()?),
            Request::Xstats { port } => Response::Xstats(self.xstats(port.as_deref())?),
        };
        if self.tables.dirty {
            self.publish();
        }
        Ok(r)
    }

    /// Re-reads the config file and applies it, or keeps the running one.
    pub fn reload(&mut self) -> Result<Reloaded, String> {
        let path = self.config_path.clone().ok_or("no config file to reload")?;
        let now = self.now_ms();
        let before: Vec<u32> = self.tables.cfg.vnis.iter().map(|v| v.id.get()).collect();
        let r = Config::load(&path)
            .map_err(|e| format!("{}: {e}", path.display()))
            .and_then(|c| self.tables.apply(c, now));
        match r {
            Ok(()) => {
                self.counters.reloads += 1;
                self.join_groups();
                self.reload_mirror(&before);
                self.publish();
                tracing::info!(path = %path.display(), "config reloaded");
                Ok(Reloaded {
                    reloaded: path.display().to_string(),
                    generation: self.generation,
                })
            }
            Err(e) => {
                self.counters.reloads_rejected += 1;
                tracing::warn!(error = %e, "reload rejected; running config kept");
                Err(format!("reload rejected, running config kept: {e}"))
            }
        }
    }

    /// Starts the EVPN mirror's netlink thread, which builds the mirror
    /// (while vtepd serves), reads it once (reconciled on arrival) and
    /// then follows it.
    pub fn start_evpn(&mut self, e: &vtep_config::Evpn) -> Result<(), String> {
        let all: Vec<u32> = self.tables.cfg.vnis.iter().map(|v| v.id.get()).collect();
        let specs = evpn::specs(&self.tables.cfg, &all);
        self.mirror = MirrorProgress::default();
        self.evpn = Some(netlink::spawn(&e.netns, e.restart_sweep_secs, specs)?);
        Ok(())
    }

    /// After a reload: mirrors for added VNIs, none for removed ones, and a
    /// fresh read of the mirror.
    fn reload_mirror(&mut self, before: &[u32]) {
        let Some(link) = &self.evpn else {
            return;
        };
        let now: Vec<u32> = self.tables.cfg.vnis.iter().map(|v| v.id.get()).collect();
        let added: Vec<u32> = now
            .iter()
            .copied()
            .filter(|v| !before.contains(v))
            .collect();
        let removed: Vec<u32> = before
            .iter()
            .copied()
            .filter(|v| !now.contains(v))
            .collect();
        self.mirror = MirrorProgress {
            base: now.len() - added.len(),
            done: 0,
            synced: false,
        };
        let specs = evpn::specs(&self.tables.cfg, &added);
        for m in [
            netlink::ToMirror::Remove(removed),
            netlink::ToMirror::Build(specs),
            netlink::ToMirror::Resync,
        ] {
            let _ = link.tx.send(m);
        }
    }

    /// Applies what the mirror reported and sends it vtepd's local changes.
    fn evpn_round(&mut self, now: u64) -> bool {
        let Some(link) = &self.evpn else {
            return false;
        };
        let mut busy = false;
        let mut resync = false;
        let mut out = Vec::new();
        for _ in 0..4096 {
            let Ok(m) = link.rx.try_recv() else {
                break;
            };
            busy = true;
            match m {
                netlink::FromMirror::Update(u) => {
                    if matches!(u, netlink::Update::FloodGone { remote: None, .. }) {
                        resync = true;
                    }
                    if self.tables.evpn_update(&u, now) {
                        self.counters.evpn_updates_in += 1;
                    }
                }
                netlink::FromMirror::Progress { done, total } => {
                    self.mirror.done = done;
                    if done == total {
                        tracing::info!(vnis = self.mirror.built(), "EVPN: kernel mirror built");
                    }
                }
                netlink::FromMirror::Snapshot(s) => {
                    self.mirror.synced = true;
                    self.counters.evpn_resyncs += 1;
                    out.extend(self.tables.evpn_snapshot(&s, now));
                }
                netlink::FromMirror::Error(e) => {
                    self.counters.evpn_errors += 1;
                    tracing::warn!(error = %e, "EVPN mirror");
                }
                netlink::FromMirror::Swept { macs, vteps } => {
                    self.counters.evpn_swept += (macs + vteps) as u64;
                }
            }
        }
        out.extend(self.tables.mirror_requests());
        out.extend(self.tables.adopted_expired(now));
        out.extend(self.tables.neigh_requests());
        busy |= !out.is_empty();
        self.counters.evpn_updates_out += out.len() as u64;
        for r in out
            .into_iter()
            .chain(resync.then_some(netlink::ToMirror::Resync))
        {
            if link.tx.send(r).is_err() {
                self.counters.evpn_errors += 1;
                tracing::error!("the EVPN thread stopped");
                self.evpn = None;
                break;
            }
        }
        busy
    }

    /// Sends ARP requests or neighbour solicitations for next hops that
    /// are unresolved or due a refresh.
    fn resolve(&mut self, now: u64) {
        let want = self.tables.wanted_next_hops();
        let due = self.tables.neigh.due(&want, now);
        for nh in &due.suspected {
            if let Some(m) = self.tables.neigh.mac(*nh) {
                self.suspects.insert(*nh, (self.sent_via(*nh), m));
            }
        }
        for nh in &due.forgot {
            self.counters.neighbor_probes_failed += 1;
            tracing::warn!(
                next_hop = %nh,
                "next hop answered none of {} requests: its MAC is forgotten, and frames for it \
                 are dropped (neighbor_unresolved) until it answers",
                neigh::PROBES
            );
        }
        self.tables.dirty |= !due.forgot.is_empty();
        self.settle_suspects();
        let (mac, ip) = (self.tables.our_mac, self.tables.cfg.underlay.address);
        for a in due.ask {
            let Some(f) = punt::resolve_request(mac, ip, a.ip, a.to) else {
                continue;
            };
            if self.send(&f) {
                match a.ip {
                    IpAddr::V4(_) => self.counters.arp_requests_sent += 1,
                    IpAddr::V6(_) => self.counters.nd_solicitations_sent += 1,
                }
            } else {
                self.tables.neigh.unsent(a.ip);
            }
        }
    }

    /// Frames sent so far to remotes whose next hop is `nh`.
    fn sent_via(&self, nh: IpAddr) -> u64 {
        let u = &self.tables.cfg.underlay;
        self.tables
            .remotes
            .iter()
            .filter(|(_, ip)| u.next_hop(*ip) == Some(nh))
            .map(|(i, _)| self.sum(|s| &s.remotes[i as usize].tx).0)
            .sum()
    }

    /// Ends the watch on next hops no longer under suspicion: frames sent
    /// since their probe count as sent to a MAC that was gone when the
    /// next hop came back with another MAC or was forgotten.
    fn settle_suspects(&mut self) {
        let done: Vec<(IpAddr, (u64, [u8; 6]))> = self
            .suspects
            .iter()
            .filter(|(nh, _)| !self.tables.neigh.suspected(**nh))
            .map(|(nh, v)| (*nh, *v))
            .collect();
        for (nh, (base, old)) in done {
            self.suspects.remove(&nh);
            if self.tables.neigh.mac(nh) != Some(old) {
                let lost = self.sent_via(nh).saturating_sub(base);
                self.counters.neighbor_unconfirmed_tx += lost;
                if lost > 0 {
                    tracing::warn!(
                        next_hop = %nh,
                        frames = lost,
                        "frames were sent to the next hop's old MAC after it stopped answering"
                    );
                }
            }
        }
    }

    /// Announces the VTEP address: a gratuitous ARP, or an unsolicited
    /// neighbour advertisement to all nodes over IPv6.
    pub fn gratuitous_arp(&mut self) {
        let mac = self.tables.our_mac;
        match self.tables.cfg.underlay.address {
            IpAddr::V4(ip) => {
                if self.send(&punt::arp_request(mac, ip, ip)) {
                    self.counters.arp_requests_sent += 1;
                }
            }
            IpAddr::V6(ip) => {
                if self.send(&punt::unsolicited_advert(mac, ip)) {
                    self.counters.nd_advertisements_sent += 1;
                }
            }
        }
    }

    /// Joins the groups of the running config and leaves the others
    /// (reports go out from the next poll). Over IPv6 the VTEP address's
    /// solicited-node group is one of them, as a host reports it (RFC
    /// 3810 §6): a snooping switch then lets neighbour discovery through.
    pub fn join_groups(&mut self) {
        let c = &self.tables.cfg;
        let mut groups: Vec<IpAddr> = c.vnis.iter().filter_map(|v| v.group).collect();
        if let IpAddr::V6(a) = c.underlay.address {
            if !groups.is_empty() {
                groups.push(IpAddr::V6(crate::wire::ipv6::solicited_node(a)));
            }
        }
        let now = self.now_ms();
        self.membership.set(&groups, now);
    }

    /// Sends the membership reports due; true if any.
    fn send_memberships(&mut self, now: u64) -> bool {
        let due = self.membership.due(now);
        let u = &self.tables.cfg.underlay;
        let version = match u.address {
            IpAddr::V6(_) => igmp::Version::Mld2,
            IpAddr::V4(_) if u.igmp_version == 2 => igmp::Version::Igmp2,
            IpAddr::V4(_) => igmp::Version::Igmp3,
        };
        let (mac, src) = (self.tables.our_mac, u.address);
        let busy = !due.is_empty();
        for (r, groups) in due {
            for f in igmp::frames(version, r, &groups, mac, src) {
                if self.send(&f) {
                    match r {
                        igmp::Report::Leave => self.counters.mcast_leaves_sent += 1,
                        _ => self.counters.mcast_reports_sent += 1,
                    }
                }
            }
        }
        busy
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

    /// Sends what the kernel transmitted out of the underlay port.
    fn relay_from_kernel(&mut self) -> bool {
        let Some(k) = self.kernel.as_mut() else {
            return false;
        };
        let mut b: dpdk::Burst<32> = dpdk::Burst::new();
        if k.receive(&mut b) == 0 {
            return false;
        }
        for m in b.drain() {
            if self.send_mbuf(m) {
                self.counters.kernel_rx_frames += 1;
            }
        }
        true
    }

    /// Hands a frame to the kernel.
    fn hand_to_kernel(&mut self, m: Mbuf) {
        let Some(k) = self.kernel.as_mut() else {
            return;
        };
        if k.send(m) {
            self.counters.kernel_tx_frames += 1;
        } else {
            self.counters.kernel_tx_failed += 1;
        }
    }

    fn punted(&mut self, mut m: Mbuf, now: u64) {
        if let Some(q) = igmp::parse_query(m.data()) {
            self.counters.mcast_queries_seen += 1;
            self.membership.query(q, now);
            // The kernel interface answers for its own groups.
            return self.hand_to_kernel(m);
        }
        if self.kernel.is_some() {
            if kernel::kernel_only(m.data()) {
                return self.hand_to_kernel(m);
            }
            // ARP and ND: the kernel gets a copy, vtepd handles the frame.
            match self.pool.alloc_from(m.data()) {
                Ok(c) => self.hand_to_kernel(c),
                Err(_) => self.counters.kernel_tx_failed += 1,
            }
        }
        let (ip, mac) = (self.tables.cfg.underlay.address, self.tables.our_mac);
        let o = punt::handle(&mut m, ip, mac);
        if let Some((ip, mac)) = o
            .sender
            .filter(|(ip, _)| !o.announced || self.tables.neigh.mac(*ip).is_some())
        {
            let before = self.tables.neigh.mac(ip);
            if self.tables.learn_neighbor(ip, mac, now) {
                self.counters.neighbor_updates += 1;
                if let Some(old) = before {
                    tracing::info!(next_hop = %ip, from = %MacAddr(old), to = %MacAddr(mac), "next hop's MAC changed");
                }
                self.settle_suspects();
            }
        }
        if let Some(answer) = o.reply {
            let sent = match &o.frame {
                // A new answer: the punted frame is freed here.
                Some(f) => self.send(f),
                None => self.send_mbuf(m),
            };
            if sent {
                match answer {
                    punt::Answer::ArpReply => self.counters.arp_replies_sent += 1,
                    punt::Answer::EchoReply => self.counters.echo_replies_sent += 1,
                    punt::Answer::NeighborAdvert => self.counters.nd_advertisements_sent += 1,
                }
            }
        }
    }

    /// The link of port `i`: as its driver reports it, but for the ports
    /// on a kernel interface the carrier of that interface (net_af_packet
    /// always reports up; net_tap reports down once its interface is
    /// moved to another namespace). An interface this /sys does not show
    /// (moved away, or /sys mounted for another namespace) is unknown,
    /// never down: an unknown link does not stop the workers.
    pub(crate) fn link_up(&self, i: usize) -> Option<bool> {
        let p = self.ports.get(i)?;
        let name = p.name();
        if name.starts_with("net_af_packet") || name.starts_with("net_tap") {
            let iface = vtep_config::vdev_arg(&self.tables.cfg.eal_args, name, "iface")?;
            let dir = format!("/sys/class/net/{iface}");
            if !std::path::Path::new(&dir).exists() {
                return None;
            }
            // Reading `carrier` of an interface that is down fails: down.
            let carrier = std::fs::read_to_string(format!("{dir}/carrier"));
            return Some(carrier.is_ok_and(|c| c.trim() == "1"));
        }
        p.link().ok().map(|l| l.up)
    }

    /// Logs each port's link going up or down, once per change, and stops
    /// the workers sending to ports that are down.
    fn watch_links(&mut self) {
        // A tap moved into the EVPN namespace cannot be read from here.
        let moved = self
            .tables
            .cfg
            .evpn
            .as_ref()
            .and(self.tables.cfg.underlay.kernel_port.as_ref())
            .map(|k| k.device.clone());
        for (i, p) in self.ports.iter().enumerate() {
            if moved.as_deref() == Some(p.name()) {
                continue;
            }
            let up = self.link_up(i);
            if i == 0 && self.links[0] == Some(false) && up == Some(true) {
                // The underlay is back: check the next hops now.
                self.tables.neigh.reprobe();
                self.last_arp = None;
            }
            if up != self.links[i] {
                if self.links[i].is_some() || up == Some(false) {
                    match up {
                        Some(true) => tracing::info!(port = p.name(), "link up"),
                        _ => tracing::warn!(port = p.name(), "link down"),
                    }
                }
                self.links[i] = up;
            }
        }
        let down = self
            .links
            .iter()
            .take(64)
            .enumerate()
            .filter(|(_, l)| **l == Some(false))
            .fold(0u64, |m, (i, _)| m | 1 << i);
        if down != self.tables.ports_down {
            self.tables.ports_down = down;
            self.tables.dirty = true;
        }
    }

    /// One warning per period at most, naming the reasons that rose.
    fn report_drops(&mut self) {
        let t = self.tally();
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
}

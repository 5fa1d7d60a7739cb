//! Counter views: the workers' per-thread counters summed, with the ports'
//! own, into the typed [`Stats`] and [`Status`] of the control API.

use std::sync::atomic::Ordering::Relaxed;

use vtep_api::{
    Accounting, FdbStats, MempoolStats, PortStats, PortStatus, PortXstats, RemoteStats, Stats,
    Status, VniInfo, VniStats, WorkerInfo, WorkerStats,
};
use vtep_config::{MacAddr, Vni};

use super::Mgmt;
use crate::datapath::drops::DropReason;
use crate::datapath::stats::{PktBytes, Tally};

impl Mgmt {
    /// The workers' accounting summed.
    pub fn tally(&self) -> Tally {
        let mut t = Tally::default();
        for w in &self.workers {
            t.add(&w.stats.tally());
        }
        t
    }

    /// A counter summed over the workers.
    pub(super) fn sum(
        &self,
        f: impl Fn(&crate::datapath::stats::WorkerStats) -> &PktBytes,
    ) -> (u64, u64) {
        self.workers
            .iter()
            .map(|w| f(&w.stats).get())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1))
    }

    fn sum_atomic(&self, f: impl Fn(&crate::datapath::stats::WorkerStats) -> u64) -> u64 {
        self.workers.iter().map(|w| f(&w.stats)).sum()
    }

    /// Extended statistics of `port` (a DPDK device name) or of all.
    pub fn xstats(&self, port: Option<&str>) -> Result<Vec<PortXstats>, String> {
        if let Some(p) = port {
            if !self.ports.iter().any(|x| x.name() == p) {
                let names: Vec<&str> = self.ports.iter().map(|x| x.name()).collect();
                return Err(format!("no port {p:?}; the ports are {}", names.join(", ")));
            }
        }
        self.ports
            .iter()
            .filter(|x| port.is_none_or(|p| x.name() == p))
            .map(|x| {
                let xstats = x.xstats().map_err(|e| e.to_string())?;
                Ok(PortXstats {
                    name: x.name().to_string(),
                    xstats: xstats.into_iter().collect(),
                })
            })
            .collect()
    }

    /// `vni show`: the tables' view with the workers' suppression counts.
    pub fn vni_show(&self) -> Vec<VniInfo> {
        let mut v = self.tables.vni_show(&self.state.load());
        for info in &mut v {
            let Some(i) = Vni::new(info.id).and_then(|x| self.tables.vnis.get(x)) else {
                continue;
            };
            let i = i as usize;
            info.arp_suppressed = self.sum_atomic(|s| s.vnis[i].arp_suppressed.load(Relaxed));
            info.nd_suppressed = self.sum_atomic(|s| s.vnis[i].nd_suppressed.load(Relaxed));
        }
        v
    }

    pub fn status(&self) -> Status {
        let t = &self.tables;
        Status {
            version: env!("CARGO_PKG_VERSION").into(),
            dpdk: dpdk::Eal::version(),
            uptime_secs: self.start.elapsed().as_secs(),
            vtep_address: t.cfg.underlay.address.to_string(),
            vtep_mac: MacAddr(t.our_mac).to_string(),
            udp_port: t.cfg.underlay.udp_port,
            workers: self
                .workers
                .iter()
                .enumerate()
                .map(|(index, w)| WorkerInfo {
                    index,
                    cpu: w.lcore_cpu,
                })
                .collect(),
            ports: self
                .ports
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let l = p.link().ok();
                    PortStatus {
                        name: p.name().to_string(),
                        link_up: self.link_up(i),
                        speed_mbps: l.map(|l| l.speed_mbps),
                        mac: p.mac().ok().map(|m| MacAddr(m).to_string()),
                    }
                })
                .collect(),
            fdb_entries: t.fdb.len() as u64,
            state_generation: self.generation,
            evpn: t.cfg.evpn.as_ref().map(|e| vtep_api::EvpnStatus {
                netns: e.netns.clone(),
                vnis: t.cfg.vnis.len(),
                built: self.mirror.built(),
                synced: self.mirror.synced,
            }),
        }
    }

    pub fn stats(&self) -> Stats {
        let t = &self.tables;
        let ports = self
            .ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let s = p.stats().unwrap_or_default();
                PortStats {
                    name: p.name().to_string(),
                    link_up: self.link_up(i).unwrap_or(false),
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                    rx_missed: s.rx_missed,
                    rx_nombuf: s.rx_nombuf,
                    rx_errors: s.rx_errors,
                    tx_errors: s.tx_errors,
                }
            })
            .collect();
        let encaps: std::collections::HashMap<_, _> = t
            .cfg
            .vnis
            .iter()
            .map(|v| (v.id, v.tunnel.encap.name()))
            .collect();
        let vnis = t
            .vnis
            .iter()
            .map(|(v, i)| {
                let i = i as usize;
                let e = self.sum(|s| &s.vnis[i].encap);
                let d = self.sum(|s| &s.vnis[i].decap);
                let f = self.sum(|s| &s.vnis[i].flood);
                let g = self.sum(|s| &s.vnis[i].group);
                let pe = self.sum(|s| &s.vnis[i].policed_encap);
                let pd = self.sum(|s| &s.vnis[i].policed_decap);
                let arp = self.sum_atomic(|s| s.vnis[i].arp_suppressed.load(Relaxed));
                let nd = self.sum_atomic(|s| s.vnis[i].nd_suppressed.load(Relaxed));
                let storm = self.sum_atomic(|s| s.vnis[i].storm_dropped.load(Relaxed));
                VniStats {
                    id: v.get(),
                    encap: encaps.get(&v).copied().unwrap_or("vxlan").into(),
                    encap_packets: e.0,
                    encap_bytes: e.1,
                    decap_packets: d.0,
                    decap_bytes: d.1,
                    flood_packets: f.0,
                    flood_bytes: f.1,
                    group_packets: g.0,
                    group_bytes: g.1,
                    learned_macs: t.fdb.learned_in(i as u16) as u64,
                    policed_encap_packets: pe.0,
                    policed_encap_bytes: pe.1,
                    policed_decap_packets: pd.0,
                    policed_decap_bytes: pd.1,
                    storm_control_packets: storm,
                    arp_suppressed: arp,
                    nd_suppressed: nd,
                }
            })
            .collect();
        let remotes = t
            .remotes
            .iter()
            .map(|(i, ip)| {
                let i = i as usize;
                let tx = self.sum(|s| &s.remotes[i].tx);
                let rx = self.sum(|s| &s.remotes[i].rx);
                RemoteStats {
                    ip: ip.to_string(),
                    tx_packets: tx.0,
                    tx_bytes: tx.1,
                    rx_packets: rx.0,
                    rx_bytes: rx.1,
                }
            })
            .collect();
        let tally = self.tally();
        let hz = dpdk::tsc_hz();
        let workers = self
            .workers
            .iter()
            .enumerate()
            .map(|(index, w)| {
                let rx = w.stats.tally().rx;
                let cycles = w.stats.busy_cycles.load(Relaxed);
                let bursts = w.stats.bursts.load(Relaxed);
                WorkerStats {
                    index,
                    cpu: w.lcore_cpu,
                    rx_packets: rx,
                    busy_cycles: cycles,
                    bursts,
                    cycles_per_packet: if rx > 0 {
                        cycles as f64 / rx as f64
                    } else {
                        0.0
                    },
                    avg_burst: if bursts > 0 {
                        rx as f64 / bursts as f64
                    } else {
                        0.0
                    },
                    tsc_hz: hz,
                }
            })
            .collect();

        Stats {
            ports,
            vnis,
            remotes,
            drops: DropReason::ALL
                .iter()
                .map(|r| (r.name().to_string(), tally.drops[*r as usize]))
                .collect(),
            accounting: Accounting {
                rx_packets: tally.rx,
                forwarded: tally.forwarded,
                dropped: tally.dropped,
                punted: tally.punted,
                flood_copies: tally.flood_copies,
            },
            flood_copy_drops: self.sum_atomic(|s| s.flood_copy_drops.load(Relaxed)),
            learn_events_dropped: self.sum_atomic(|s| s.learn_events_dropped.load(Relaxed)),
            vxlan_reserved_bits_seen: self.sum_atomic(|s| s.reserved_bits_seen.load(Relaxed)),
            fdb: FdbStats {
                entries: t.fdb.len() as u64,
                counters: t.fdb.counters,
            },
            management: vtep_api::MgmtCounters {
                state_file_write_failures: t.state_write_failures,
                ..self.counters
            },
            workers,
            mempool: MempoolStats {
                size: self.pool.size() as u64,
                available: self.pool.available() as u64,
            },
        }
    }
}

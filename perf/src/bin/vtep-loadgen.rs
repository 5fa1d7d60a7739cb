//! vtep-loadgen: an RFC 2544-style load generator for vtepd over net_memif.
//!
//! It is the memif client of two vtepd ports: it sends 60-byte tenant
//! frames into the access port at a set rate, each carrying the TSC at
//! send time and a magic word in its UDP payload, and receives the VXLAN
//! packets vtepd sends out of the underlay port. A trial runs for a fixed
//! time at one rate, then drains; loss = frames offered - frames back (a
//! frame the memif ring refuses counts as lost: that is vtepd's RX queue
//! overflowing). A binary search over rates finds the highest rate with
//! zero loss (the no-drop rate, NDR) and reports latency percentiles there.
//!
//! Run by `vtep-perf --ndr`, which starts vtepd with the matching memif
//! server ports; prints one JSON object per trial and one for the result.
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;
use dpdk::{Burst, Eal, Mempool, Port, PortConfig, RxQueue, TxQueue};
use serde_json::json;
use vtep_lab::{bench_mac, tenant_udp, vxlan_from};

#[derive(Parser)]
#[command(about = "RFC 2544-style NDR search against vtepd over memif")]
struct Args {
    /// memif socket of vtepd's access port.
    #[arg(long)]
    access: PathBuf,
    /// memif socket of vtepd's underlay port.
    #[arg(long)]
    underlay: PathBuf,
    /// Destination MACs the frames go to (static FDB entries in vtepd).
    #[arg(long, default_value_t = 64)]
    macs: u32,
    /// Trial length, seconds.
    #[arg(long, default_value_t = 1.0)]
    trial_secs: f64,
    /// Stop when the search interval is below this share of the rate.
    #[arg(long, default_value_t = 0.02)]
    precision: f64,
    /// At most this many trials after the first.
    #[arg(long, default_value_t = 10)]
    max_trials: usize,
    /// Highest rate to try, Mpps (the first trial runs there, or as fast
    /// as the generator can when 0).
    #[arg(long, default_value_t = 0.0)]
    max_mpps: f64,
    /// After the search, move this many MACs from remote 192.0.2.10 to
    /// 192.0.2.11 (one move each, below vtepd's move damping) and report
    /// how long frames kept going to the old VTEP.
    #[arg(long, default_value_t = 0)]
    moves: u32,
    /// EAL arguments after `--` (lcore, memory, file prefix).
    #[arg(last = true)]
    eal: Vec<String>,
}

const BURST: usize = 32;
/// Payload offsets: tenant frame = 14 Ethernet + 20 IPv4 + 8 UDP.
const TENANT_PAYLOAD: usize = 42;
/// Outer Ethernet + IPv4 + UDP + VXLAN.
const VXLAN_OUTER: usize = 50;
const MAGIC: u32 = 0x7674_6c67; // "vtlg"
/// Latency histogram: 100 ns buckets up to 10 ms.
const BUCKET_NS: u64 = 100;
const BUCKETS: usize = 100_000;

struct Ports {
    pool: Mempool,
    acc_tx: TxQueue,
    acc_rx: RxQueue,
    ul_rx: RxQueue,
    ul_tx: TxQueue,
    templates: Vec<Vec<u8>>,
    hz: f64,
}

#[derive(Default)]
struct Trial {
    offered: u64,
    received: u64,
    secs: f64,
    hist: Vec<u64>,
    max_ns: u64,
}

impl Trial {
    fn percentile(&self, p: f64) -> u64 {
        let total: u64 = self.hist.iter().sum();
        if total == 0 {
            return 0;
        }
        let want = ((total as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (i, n) in self.hist.iter().enumerate() {
            seen += n;
            if seen >= want {
                return (i as u64 + 1) * BUCKET_NS;
            }
        }
        self.max_ns
    }
}

impl Ports {
    /// Offers `rate_pps` (0: as fast as possible) for `secs`, then drains.
    fn trial(&mut self, rate_pps: f64, secs: f64) -> Trial {
        let mut t = Trial {
            hist: vec![0; BUCKETS + 1],
            ..Default::default()
        };
        let hz = self.hz;
        let interval = if rate_pps > 0.0 {
            (BURST as f64 / rate_pps * hz) as u64
        } else {
            0
        };
        let mut burst = Burst::<BURST>::new();
        let mut rx = Burst::<BURST>::new();
        let start = dpdk::rdtsc();
        let end = start + (secs * hz) as u64;
        let mut next = start;
        let mut k = 0usize;
        loop {
            let now = dpdk::rdtsc();
            if now >= end {
                break;
            }
            if now >= next {
                for _ in 0..BURST {
                    let tpl = &self.templates[k % self.templates.len()];
                    k += 1;
                    let Ok(mut m) = self.pool.alloc_from(tpl) else {
                        break;
                    };
                    let d = m.data_mut();
                    d[TENANT_PAYLOAD..TENANT_PAYLOAD + 4].copy_from_slice(&MAGIC.to_be_bytes());
                    d[TENANT_PAYLOAD + 4..TENANT_PAYLOAD + 12].copy_from_slice(&now.to_le_bytes());
                    let _ = burst.push(m);
                }
                t.offered += burst.len() as u64;
                // Refused frames are lost frames (vtepd's RX ring is full).
                let _ = self.acc_tx.tx(&mut burst);
                next = if interval == 0 {
                    now
                } else {
                    // Keep the schedule; never more than one burst behind.
                    (next + interval).max(now.saturating_sub(interval))
                };
            }
            self.receive(&mut rx, &mut t);
        }
        t.secs = (dpdk::rdtsc() - start) as f64 / hz;
        let drain = Instant::now();
        while drain.elapsed() < Duration::from_millis(100) {
            self.receive(&mut rx, &mut t);
        }
        t
    }

    fn receive(&mut self, rx: &mut Burst<BURST>, t: &mut Trial) {
        // vtepd floods nothing back to the access side in this setup, but
        // keep its RX queue empty so a stray frame cannot stall it.
        if self.acc_rx.rx(rx) > 0 {
            rx.free_all();
        }
        let n = self.ul_rx.rx(rx);
        if n == 0 {
            return;
        }
        let now = dpdk::rdtsc();
        for m in rx.drain() {
            let d = m.data();
            let off = VXLAN_OUTER + TENANT_PAYLOAD;
            if d.len() < off + 12 || d[off..off + 4] != MAGIC.to_be_bytes() {
                continue; // ARP and other management frames
            }
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&d[off + 4..off + 12]);
            let sent = u64::from_le_bytes(ts);
            let ns = (now.saturating_sub(sent) as f64 * 1e9 / self.hz) as u64;
            t.received += 1;
            t.max_ns = t.max_ns.max(ns);
            t.hist[((ns / BUCKET_NS) as usize).min(BUCKETS)] += 1;
        }
    }
}

/// The two remote VTEPs of the move test, as vtepd's NDR config has them.
const REMOTE_A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 10);
const REMOTE_B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 11);
/// Offset of the outer IPv4 destination in a VXLAN packet.
const OUTER_DST: usize = 14 + 16;

impl Ports {
    /// Sends one frame; `stamp` (TSC, sequence) marks it as a probe.
    fn send_one(q: &mut TxQueue, pool: &Mempool, frame: &[u8], stamp: Option<(u64, u32)>) {
        let Ok(mut m) = pool.alloc_from(frame) else {
            return;
        };
        if let Some((ts, seq)) = stamp {
            let d = m.data_mut();
            d[TENANT_PAYLOAD..TENANT_PAYLOAD + 4].copy_from_slice(&MAGIC.to_be_bytes());
            d[TENANT_PAYLOAD + 4..TENANT_PAYLOAD + 12].copy_from_slice(&ts.to_le_bytes());
            d[TENANT_PAYLOAD + 12..TENANT_PAYLOAD + 16].copy_from_slice(&seq.to_le_bytes());
        }
        let mut b = Burst::<1>::new();
        let _ = b.push(m);
        let _ = q.tx(&mut b);
    }

    /// VXLAN from `remote` carrying a frame from `mac`: vtepd learns (or
    /// moves) `mac` behind `remote`.
    fn announce(&mut self, mac: [u8; 6], remote: Ipv4Addr) {
        let r = remote.octets()[3];
        let inner = tenant_udp(
            [2, 0xaa, 0, 0, 0, 0],
            mac,
            Ipv4Addr::new(10, 0, 1, 1),
            Ipv4Addr::new(10, 0, 0, 1),
            80,
            10_000,
            18,
        );
        let f = vxlan_from(
            [2, 0, 0, 0, 2, r],
            remote,
            [2, 0, 0, 0, 1, 1],
            Ipv4Addr::new(192, 0, 2, 1),
            100,
            &inner,
        );
        Self::send_one(&mut self.ul_tx, &self.pool, &f, None);
    }

    /// Sends numbered probes to `mac` every ~10 us until one comes back
    /// addressed to `to` and not to `other` (a probe that reached both was
    /// flooded: the MAC was unknown at that moment); returns its send TSC.
    fn probe_until(
        &mut self,
        mac: [u8; 6],
        to: Ipv4Addr,
        other: Ipv4Addr,
        limit: Duration,
    ) -> Option<u64> {
        let probe = tenant_udp(
            mac,
            [2, 0xaa, 0, 0, 0, 1],
            Ipv4Addr::new(10, 0, 0, 1),
            Ipv4Addr::new(10, 0, 1, 1),
            10_000,
            80,
            18,
        );
        let step = (self.hz * 10e-6) as u64;
        let settle = (self.hz * 1e-3) as u64;
        let end = Instant::now() + limit;
        let mut rx = Burst::<BURST>::new();
        let (mut next, mut seq) = (0u64, 0u32);
        let mut at_to: Vec<(u32, u64)> = Vec::new();
        let mut at_other = std::collections::HashSet::new();
        let mut decide_at = None;
        while Instant::now() < end {
            let now = dpdk::rdtsc();
            if now >= next {
                Self::send_one(&mut self.acc_tx, &self.pool, &probe, Some((now, seq)));
                seq += 1;
                next = now + step;
            }
            if self.acc_rx.rx(&mut rx) > 0 {
                rx.free_all();
            }
            self.ul_rx.rx(&mut rx);
            for m in rx.drain() {
                let d = m.data();
                let off = VXLAN_OUTER + TENANT_PAYLOAD;
                if d.len() < off + 16 || d[off..off + 4] != MAGIC.to_be_bytes() {
                    continue;
                }
                let mut ts = [0u8; 8];
                ts.copy_from_slice(&d[off + 4..off + 12]);
                let mut sq = [0u8; 4];
                sq.copy_from_slice(&d[off + 12..off + 16]);
                let (ts, sq) = (u64::from_le_bytes(ts), u32::from_le_bytes(sq));
                let dst = &d[OUTER_DST..OUTER_DST + 4];
                if dst == to.octets() {
                    at_to.push((sq, ts));
                    decide_at.get_or_insert(now + settle);
                } else if dst == other.octets() {
                    at_other.insert(sq);
                }
            }
            // Give a flooded probe's other copy time to show up.
            if decide_at.is_some_and(|t| dpdk::rdtsc() >= t) {
                if let Some(&(_, ts)) = at_to.iter().find(|(sq, _)| !at_other.contains(sq)) {
                    return Some(ts);
                }
                at_to.clear();
                decide_at = None;
            }
        }
        None
    }

    /// Per move: learn a fresh MAC behind A, probe until frames reach A,
    /// announce it from B, probe until frames reach B. Returns microseconds
    /// from the announcement to the send time of the first frame to B.
    fn move_latency(&mut self, moves: u32) -> Result<Vec<f64>, String> {
        let mut out = Vec::new();
        for i in 0..moves {
            let mac = bench_mac(0x80_0000 + i);
            self.announce(mac, REMOTE_A);
            self.probe_until(mac, REMOTE_A, REMOTE_B, Duration::from_secs(2))
                .ok_or_else(|| format!("MAC {i} was never learned behind remote A"))?;
            let t0 = dpdk::rdtsc();
            self.announce(mac, REMOTE_B);
            let first = self
                .probe_until(mac, REMOTE_B, REMOTE_A, Duration::from_secs(2))
                .ok_or_else(|| format!("MAC {i} never moved to remote B"))?;
            out.push(first.saturating_sub(t0) as f64 * 1e6 / self.hz);
        }
        Ok(out)
    }
}

fn report(kind: &str, rate_pps: f64, t: &Trial) -> serde_json::Value {
    json!({
        "kind": kind,
        "target_mpps": rate_pps / 1e6,
        "offered_mpps": t.offered as f64 / t.secs / 1e6,
        "offered": t.offered,
        "received": t.received,
        "lost": t.offered.saturating_sub(t.received),
        "latency_ns": {
            "p50": t.percentile(0.50),
            "p90": t.percentile(0.90),
            "p99": t.percentile(0.99),
            "p999": t.percentile(0.999),
            "max": t.max_ns,
        },
    })
}

fn moves(ports: &mut Ports, n: u32) -> Result<(), String> {
    if n == 0 {
        return Ok(());
    }
    let mut us = ports.move_latency(n)?;
    us.sort_by(|a, b| a.total_cmp(b));
    println!(
        "{}",
        json!({"kind": "move", "moves": n, "latency_us": {
            "min": us[0], "p50": us[us.len() / 2], "max": us[us.len() - 1]}})
    );
    Ok(())
}

fn wait_link(p: &Port) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if p.link().map(|l| l.up).unwrap_or(false) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(format!(
        "memif {} did not connect to vtepd in 10 s",
        p.name()
    ))
}

fn main() {
    let a = Args::parse();
    // Only a prefix of its own: the default one may be another program's.
    let prefix = a
        .eal
        .iter()
        .find_map(|x| x.strip_prefix("--file-prefix="))
        .map(str::to_string);
    let r = run(a);
    // DPDK leaves its runtime directory and hugepage files behind.
    if let Some(p) = prefix {
        vtep_testsupport::dpdk_files::remove_dpdk_files(&p);
    }
    if let Err(e) = r {
        eprintln!("vtep-loadgen: {e}");
        std::process::exit(1);
    }
}

fn run(a: Args) -> Result<(), String> {
    let mut eal_args = vec!["vtep-loadgen".to_string()];
    eal_args.extend(a.eal.iter().cloned());
    eal_args.push(format!(
        "--vdev=net_memif0,role=client,id=0,socket={}",
        a.access.display()
    ));
    eal_args.push(format!(
        "--vdev=net_memif1,role=client,id=0,socket={}",
        a.underlay.display()
    ));
    let eal = Eal::init(&eal_args).map_err(|e| e.to_string())?;
    let pool = Mempool::new(&eal, "loadgen", 16383, 256, 2176).map_err(|e| e.to_string())?;
    let mut acc = Port::by_name(&eal, "net_memif0").map_err(|e| e.to_string())?;
    let mut ul = Port::by_name(&eal, "net_memif1").map_err(|e| e.to_string())?;
    let qc = PortConfig::default();
    let (mut arx, mut atx) = acc.configure(&qc, &pool).map_err(|e| e.to_string())?;
    let (mut urx, mut utx) = ul.configure(&qc, &pool).map_err(|e| e.to_string())?;
    acc.start().map_err(|e| e.to_string())?;
    ul.start().map_err(|e| e.to_string())?;
    wait_link(&acc)?;
    wait_link(&ul)?;
    let templates = (0..a.macs.max(1) * 4)
        .map(|i| {
            tenant_udp(
                bench_mac(i % a.macs.max(1)),
                [2, 0xaa, 0, 0, 0, (i % 8) as u8],
                Ipv4Addr::new(10, 0, 0, 1),
                Ipv4Addr::new(10, 0, 1, (i % 250) as u8),
                10_000 + (i % 256) as u16,
                80,
                18,
            )
        })
        .collect();
    let mut ports = Ports {
        pool,
        acc_tx: atx.remove(0),
        acc_rx: arx.remove(0),
        ul_rx: urx.remove(0),
        ul_tx: utx.remove(0),
        templates,
        hz: eal.tsc_hz() as f64,
    };
    // Warm-up: vtepd learns the sources, caches fill.
    ports.trial(100_000.0, 0.2);

    // First trial at the top rate bounds the search.
    let top = a.max_mpps * 1e6;
    let first = ports.trial(top, a.trial_secs);
    let first_rate = if top > 0.0 {
        top
    } else {
        first.offered as f64 / first.secs
    };
    println!("{}", report("trial", first_rate, &first));
    if first.received >= first.offered {
        // Nothing lost at the most the generator could offer: that rate,
        // not the one asked for, is the lower bound found.
        let offered = first.offered as f64 / first.secs;
        println!(
            "{}",
            json!({"kind": "ndr", "ndr_mpps": offered / 1e6, "limited_by": "generator",
                   "at": report("trial", first_rate, &first)})
        );
        return moves(&mut ports, a.moves);
    }
    let (mut lo, mut hi) = (0.0f64, first_rate);
    let mut best: Option<(f64, Trial)> = None;
    for _ in 0..a.max_trials {
        if hi - lo <= hi * a.precision {
            break;
        }
        let mid = if best.is_none() && lo == 0.0 {
            // Start from what came back at the top rate: close to the NDR.
            (first.received as f64 / first.secs * 0.95).min(hi * 0.9)
        } else {
            (lo + hi) / 2.0
        };
        let t = ports.trial(mid, a.trial_secs);
        println!("{}", report("trial", mid, &t));
        if t.received >= t.offered {
            lo = mid;
            best = Some((mid, t));
        } else {
            hi = mid;
        }
    }
    // Nothing lossless yet: halve the rate until a trial is, so the result
    // is always a figure (on a shared core the generator and vtepd take
    // turns, and loss may persist far below vtepd's capacity).
    let mut low = hi;
    let mut last = None;
    for _ in 0..8 {
        if best.is_some() {
            break;
        }
        low /= 2.0;
        let t = ports.trial(low, a.trial_secs);
        println!("{}", report("trial", low, &t));
        if t.received >= t.offered {
            best = Some((low, t));
        } else {
            last = Some(t);
        }
    }
    let Some((rate, t)) = best else {
        let t = last.ok_or("no trial ran")?;
        let offered = t.offered as f64 / t.secs;
        // The generator could not even offer the rate it was asked for:
        // it, not vtepd, is the limit.
        let limited_by = if offered < 0.9 * low {
            format!(
                "generator (offered {:.3} of {:.3} Mpps asked)",
                offered / 1e6,
                low / 1e6
            )
        } else {
            format!("loss at every rate down to {:.3} Mpps", low / 1e6)
        };
        println!(
            "{}",
            json!({"kind": "ndr", "ndr_mpps": 0.0, "limited_by": limited_by,
                   "at": report("trial", low, &t)})
        );
        return moves(&mut ports, a.moves);
    };
    println!(
        "{}",
        json!({"kind": "ndr", "ndr_mpps": rate / 1e6, "limited_by": "vtepd",
               "at": report("trial", rate, &t)})
    );
    moves(&mut ports, a.moves)?;
    drop(ports);
    let _ = acc.stop();
    let _ = ul.stop();
    Ok(())
}

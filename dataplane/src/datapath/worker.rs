//! A poll-mode worker: one per configured lcore, running on an EAL worker
//! lcore (pinned by EAL; not a registered thread, see vtepd). It owns RX
//! queue `w` of every port and TX queue `w` of every port, and per burst:
//! receives, forwards every packet (the rules are in [`crate::datapath::forward`]),
//! collects output per port and sends it in bursts. No locks, allocations
//! or system calls in the loop; learn events and punted packets leave over
//! bounded queues whose overflow is counted, never waited on.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use crossbeam::queue::ArrayQueue;
use dpdk::{Burst, Mbuf, Mempool, RxQueue, TxQueue};

use crate::datapath::decap::DecapCache;
use crate::datapath::drops::DropReason;
use crate::datapath::fdb::{frame_keys, HitMap, SharedFdb};
use crate::datapath::forward::{
    access_burst, underlay_burst, Ctx, Io, Known, Packet, RxCsum, COPY_BURST,
};
pub use crate::datapath::forward::{Event, LearnAt};
use crate::datapath::police::{Clock, Credits};
use crate::datapath::ports::Udp6Csum;
use crate::datapath::state::State;
use crate::datapath::stats::{bump, Tally, WorkerStats};
use crate::datapath::tunnel::{IpIds, COMMON_OUTER_LEN};
use crate::wire::{EthernetFrame, Ipv4Packet, ETH_LEN, IPV4_LEN, IPV6_LEN, PROTO_UDP, UDP_LEN};

/// Largest RX burst.
pub const RX_BURST: usize = 256;
/// Size of an output buffer; a full one is sent at once.
const TX_BURST: usize = 64;

/// Everything a worker thread owns or shares.
pub struct Worker {
    /// 0-based; spreads the workers' IPv4 identification counters.
    pub index: usize,
    pub burst: usize,
    /// `[dataplane] idle_sleep_us`: 0 = poll without pause.
    pub idle_sleep_us: u32,
    pub underlay_rx: RxQueue,
    pub underlay_tx: TxQueue,
    pub access_rx: Vec<RxQueue>,
    pub access_tx: Vec<TxQueue>,
    pub pool: Mempool,
    pub state: Arc<ArcSwap<State>>,
    pub fdb: SharedFdb,
    pub hits: Arc<HitMap>,
    pub events: Arc<ArrayQueue<Event>>,
    pub punts: Arc<ArrayQueue<Mbuf>>,
    /// Frames from the management thread to send on the underlay.
    pub inject: Option<Arc<ArrayQueue<Mbuf>>>,
    pub stats: Arc<WorkerStats>,
    pub running: Arc<AtomicBool>,
    /// The underlay NIC fills the outer IPv4 checksum (see [`crate::datapath::ports`]).
    pub tx_ip_csum: bool,
    /// Who fills the outer UDP checksum over IPv6.
    pub tx_udp6_csum: Udp6Csum,
    /// Flood copies to remotes may share the payload.
    pub share_floods: bool,
}

/// Output buffer of one port: mbufs and whether each is a flood copy (for
/// the accounting when the queue refuses some).
struct Out {
    pkts: Burst<TX_BURST>,
    copy: [bool; TX_BURST],
    /// The port's link is down (`State::ports_down`, set each burst):
    /// nothing is sent, all is dropped as `port_down`.
    down: bool,
}

impl Out {
    fn new() -> Out {
        Out {
            pkts: Burst::new(),
            copy: [false; TX_BURST],
            down: false,
        }
    }
}

/// Empty polls in a row before a worker with `idle_sleep_us` sleeps.
const IDLE_POLLS: u32 = 64;

impl Worker {
    /// Runs until `running` turns false, then drains its output.
    pub fn run(mut self) {
        let mut rx: Burst<RX_BURST> = Burst::new();
        let mut tx = TxSide {
            out_ul: Out::new(),
            outs: (0..self.access_tx.len()).map(|_| Out::new()).collect(),
            q_ul: self.underlay_tx,
            qs: self.access_tx,
            tx_ip_csum: self.tx_ip_csum,
            tx_udp6_csum: self.tx_udp6_csum,
            share_floods: self.share_floods,
        };
        let burst = self.burst.min(RX_BURST);
        let n_access = self.access_rx.len();
        // Kept across bursts: its generation check notices a new State.
        let mut decap = DecapCache::default();
        let mut ip_ids = IpIds::for_worker(self.index);
        let mut credits = Credits::default();
        let clock = Clock::new(dpdk::tsc_hz());
        let mut idle: u32 = 0;
        let mut phases = Phases::default();
        // The published state and FDB table, as of this burst: a cache
        // compares one pointer per burst, where a load takes and returns
        // a slot with two atomic exchanges. A replaced table is freed once
        // every worker has moved on from it, at its next burst.
        let mut state = arc_swap::Cache::new(Arc::clone(&self.state));
        let mut fdb = arc_swap::Cache::new(Arc::clone(&self.fdb));
        while self.running.load(Ordering::Relaxed) {
            let t0 = dpdk::rdtsc();
            phases.start(t0);
            let mut cx = Ctx {
                st: state.load(),
                fdb: fdb.load(),
                hits: &self.hits,
                events: &self.events,
                stats: &self.stats,
                tally: Tally::default(),
                decap: &mut decap,
                ip_ids: &mut ip_ids,
                credits: &mut credits,
                now_ns: clock.ns(t0),
                seen: (0, 0),
            };
            tx.set_down(cx.st.ports_down);
            let mut io = Queues {
                pool: &self.pool,
                punts: &self.punts,
                stats: &self.stats,
                tx: &mut tx,
            };
            let mut got = 0;
            // Underlay.
            self.underlay_rx.rx_max(&mut rx, burst);
            got += rx.len();
            phases.mark(Phase::UnderlayRx);
            underlay_burst(&mut cx, &mut io, rx.drain());
            phases.mark(Phase::Underlay);
            // Access ports.
            for p in 0..n_access {
                self.access_rx[p].rx_max(&mut rx, burst);
                got += rx.len();
                phases.mark(Phase::AccessRx);
                prefetch_access(&cx, &rx, p);
                phases.mark(Phase::First);
                access_burst(&mut cx, &mut io, rx.drain(), p as u16);
                phases.mark(Phase::Forward);
            }
            io.flush_all(&mut cx.tally);
            // is_empty first: an empty pop ends with a full fence.
            if let Some(inj) = self.inject.as_ref().filter(|q| !q.is_empty()) {
                // Management frames are not received packets: outside the tally.
                let mut b: Burst<8> = Burst::new();
                while let Some(m) = (!b.is_full()).then(|| inj.pop()).flatten() {
                    let _ = b.push(m);
                }
                if !b.is_empty() {
                    tx.q_ul.tx(&mut b);
                }
            }
            if got > 0 {
                self.stats.publish(&cx.tally);
                let t1 = dpdk::rdtsc();
                phases.end(t1, got);
                bump(&self.stats.busy_cycles, t1.wrapping_sub(t0));
                bump(&self.stats.bursts, 1);
                idle = 0;
            } else if self.idle_sleep_us > 0 {
                // Empty for a while: give the core away (never while busy).
                idle = idle.saturating_add(1);
                if idle >= IDLE_POLLS {
                    std::thread::sleep(std::time::Duration::from_micros(self.idle_sleep_us as u64));
                }
            }
        }
        phases.log(self.index);
        let mut io = Queues {
            pool: &self.pool,
            punts: &self.punts,
            stats: &self.stats,
            tx: &mut tx,
        };
        io.flush_all(&mut Tally::default());
    }
}

/// The parts of a worker's loop, for [`Phases`].
#[derive(Clone, Copy)]
enum Phase {
    /// The underlay port's `rx_burst`.
    UnderlayRx,
    /// Decapsulation and the rest of [`underlay_burst`].
    Underlay,
    /// Access ports' `rx_burst` (the driver's work).
    AccessRx,
    /// The first pass over an access burst (prefetches).
    First,
    /// The second pass ([`access_burst`]).
    Forward,
}

/// TSC cycles per received packet in each part of the worker's loop, for
/// finding where the cycles go (the rest, from the last mark to the end
/// of the burst, is the TX flush and the burst's bookkeeping). Compiled
/// only with the `phase-cycles` feature: it reads the TSC five more times
/// per burst, three more per further access port. Logged when the worker stops.
#[derive(Default)]
struct Phases {
    #[cfg(feature = "phase-cycles")]
    at: u64,
    /// This burst's cycles per phase (Phase as index), and the tail.
    #[cfg(feature = "phase-cycles")]
    burst: [u64; 6],
    /// Sums over bursts that received packets.
    #[cfg(feature = "phase-cycles")]
    sums: [u64; 6],
    #[cfg(feature = "phase-cycles")]
    pkts: u64,
}

impl Phases {
    #[inline(always)]
    fn start(&mut self, _t0: u64) {
        #[cfg(feature = "phase-cycles")]
        {
            self.at = _t0;
            self.burst = [0; 6];
        }
    }

    #[inline(always)]
    fn mark(&mut self, _p: Phase) {
        #[cfg(feature = "phase-cycles")]
        {
            let t = dpdk::rdtsc();
            self.burst[_p as usize] += t.wrapping_sub(self.at);
            self.at = t;
        }
    }

    #[inline(always)]
    fn end(&mut self, _t1: u64, _got: usize) {
        #[cfg(feature = "phase-cycles")]
        {
            self.burst[5] += _t1.wrapping_sub(self.at);
            for (s, b) in self.sums.iter_mut().zip(self.burst) {
                *s += b;
            }
            self.pkts += _got as u64;
        }
    }

    fn log(&self, _worker: usize) {
        #[cfg(feature = "phase-cycles")]
        if self.pkts > 0 {
            let per = |i: usize| self.sums[i] as f64 / self.pkts as f64;
            tracing::info!(
                worker = _worker,
                packets = self.pkts,
                "cycles per packet: underlay rx {:.1}, decap {:.1}, access rx {:.1}, \
                 first pass {:.1}, forward {:.1}, tx and tail {:.1}",
                per(0),
                per(1),
                per(2),
                per(3),
                per(4),
                per(5)
            );
        }
    }
}

/// First pass over an access burst: prefetch the FDB slots its lookups
/// will touch (destination, and source when learning), using the VNI the
/// frame's tag (or the port's untagged VNI) maps to. When the burst may
/// take [`access_burst`]'s known-unicast path, the keys are those of the
/// untagged VNI without looking at the tag (a tagged frame's prefetch is
/// wasted, never wrong).
#[inline(always)]
fn prefetch_access(cx: &Ctx<'_>, rx: &Burst<RX_BURST>, port: usize) {
    if let Some(k) = Known::of(cx.st, port as u16) {
        let (vni, learning) = k.parts();
        for i in 0..rx.len() {
            let Some(m) = rx.get(i) else { break };
            if let Some(h) = m.data().first_chunk::<12>() {
                let (dk, sk) = frame_keys(vni, h);
                cx.fdb.prefetch(dk);
                if learning {
                    cx.fdb.prefetch_learned(sk, cx.hits);
                }
            }
        }
        return;
    }
    let Some(acc) = cx.st.access.get(port) else {
        return;
    };
    for i in 0..rx.len() {
        let Some(m) = rx.get(i) else { break };
        m.prefetch_headroom(COMMON_OUTER_LEN);
        let Some(e) = EthernetFrame::new_checked(m.data()) else {
            continue;
        };
        let vni = match e.vlan() {
            Some((vid, _)) => acc.vlans[vid as usize],
            None => acc.untagged,
        };
        if let (Some(v), Some(h)) = (vni, m.data().first_chunk::<12>()) {
            let (dk, sk) = frame_keys(v, h);
            cx.fdb.prefetch(dk);
            if cx.st.vni(v).is_some_and(|s| s.learning) {
                cx.fdb.prefetch_learned(sk, cx.hits);
            }
        }
    }
}

/// An encapsulated packet whose UDP checksum over IPv6 the NIC is to
/// compute: UDP straight after the IPv6 header, its checksum field holding
/// the pseudo-header's sum (a template that sends zero checksums leaves
/// it zero, and a sum of real addresses never folds to zero).
#[inline(always)]
fn udp6_to_offload(d: &[u8]) -> bool {
    const NEXT: usize = ETH_LEN + 6;
    const CSUM: usize = ETH_LEN + IPV6_LEN + 6;
    d.get(..CSUM + 2).is_some_and(|h| {
        h[12..14] == [0x86, 0xdd] && h[NEXT] == PROTO_UDP && h[CSUM..CSUM + 2] != [0, 0]
    })
}

/// Sends what is queued for a port; refused originals become drops and
/// refused copies are counted apart.
#[inline(always)]
fn flush(q: &mut TxQueue, o: &mut Out, t: &mut Tally, stats: &WorkerStats) {
    if o.pkts.is_empty() {
        return;
    }
    let total = o.pkts.len();
    let (mut sent, why) = if o.down {
        // Not handed to a port that cannot send it: the driver may hold
        // it and send it late, or drop it uncounted.
        (0, DropReason::PortDown)
    } else {
        (q.tx_partial(&mut o.pkts), DropReason::TxQueueFull)
    };
    if sent < total && !o.down {
        // One retry: a busy queue often drains between calls.
        sent += q.tx_partial(&mut o.pkts);
    }
    if sent < total {
        // tx_burst takes a prefix: the refused are the original sent..total.
        for i in sent..total {
            if o.copy[i] {
                t.flood_copies = t.flood_copies.saturating_sub(1);
                bump(&stats.flood_copy_drops, 1);
            } else {
                t.forwarded = t.forwarded.saturating_sub(1);
                t.drop(why);
            }
        }
        o.pkts.free_all();
    }
}

#[inline(always)]
fn enqueue(
    q: &mut TxQueue,
    o: &mut Out,
    m: Mbuf,
    is_copy: bool,
    t: &mut Tally,
    stats: &WorkerStats,
) {
    if o.pkts.is_full() {
        flush(q, o, t, stats);
    }
    let i = o.pkts.len();
    o.copy[i] = is_copy;
    let _ = o.pkts.push(m);
    if is_copy {
        t.flood_copies += 1;
    }
}

impl Packet for Mbuf {
    #[inline(always)]
    fn segments(&self) -> u16 {
        self.nb_segs()
    }
    #[inline(always)]
    fn rx_ip_csum(&self) -> RxCsum {
        Mbuf::rx_ip_csum(self)
    }
    #[inline(always)]
    fn rx_udp_csum(&self) -> RxCsum {
        Mbuf::rx_udp_csum(self)
    }
    #[inline(always)]
    fn rx_hash(&self) -> Option<u32> {
        self.rss_hash()
    }
}

impl TxSide {
    /// Marks the outputs of ports whose link is down (bit 0 the underlay,
    /// bit 1 + p access port p).
    #[inline(always)]
    fn set_down(&mut self, mask: u64) {
        self.out_ul.down = mask & 1 != 0;
        for (p, o) in self.outs.iter_mut().enumerate() {
            o.down = (mask >> (p + 1)) & 1 != 0;
        }
    }
}

/// The worker's TX queues and the output collected for each.
struct TxSide {
    q_ul: TxQueue,
    out_ul: Out,
    qs: Vec<TxQueue>,
    outs: Vec<Out>,
    tx_ip_csum: bool,
    tx_udp6_csum: Udp6Csum,
    share_floods: bool,
}

/// The worker's buffers and queues, for one burst.
struct Queues<'a> {
    pool: &'a Mempool,
    punts: &'a ArrayQueue<Mbuf>,
    stats: &'a WorkerStats,
    tx: &'a mut TxSide,
}

impl Queues<'_> {
    fn flush_all(&mut self, t: &mut Tally) {
        let tx = &mut *self.tx;
        flush(&mut tx.q_ul, &mut tx.out_ul, t, self.stats);
        for (q, o) in tx.qs.iter_mut().zip(tx.outs.iter_mut()) {
            flush(q, o, t, self.stats);
        }
    }
}

/// Flood copies made together, handed out one by one.
struct Copies(Burst<COPY_BURST>);

impl Iterator for Copies {
    type Item = Mbuf;
    #[inline(always)]
    fn next(&mut self) -> Option<Mbuf> {
        self.0.pop()
    }
}

impl Io for Queues<'_> {
    type Pkt = Mbuf;
    type Copies = Copies;

    #[inline(always)]
    fn copy(&mut self, src: &Mbuf) -> Option<Mbuf> {
        self.pool.alloc_from(src.data()).ok()
    }

    #[inline(always)]
    fn copies(&mut self, src: &Mbuf, n: usize) -> Option<Copies> {
        let mut empty: Burst<COPY_BURST> = Burst::new();
        self.pool.alloc_bulk(&mut empty, n).ok()?;
        let mut full: Burst<COPY_BURST> = Burst::new();
        for mut c in empty.drain() {
            // A fresh mbuf has room for any frame below SHARE_MIN; one
            // that does not fit is freed here and counted by the caller.
            if c.append_copy(src) {
                let _ = full.push(c);
            }
        }
        Some(Copies(full))
    }

    #[inline(always)]
    fn can_share(&self) -> bool {
        self.tx.share_floods
    }

    fn shared(&mut self, src: &Mbuf, header: &[u8]) -> Option<Mbuf> {
        let (Ok(mut h), Ok(c)) = (self.pool.alloc(), src.share(self.pool)) else {
            return None;
        };
        h.append(header.len())?.copy_from_slice(header);
        h.chain(c).ok()
    }

    #[inline(always)]
    fn send_access(&mut self, port: u16, m: Mbuf, is_copy: bool, t: &mut Tally) {
        let p = port as usize;
        enqueue(
            &mut self.tx.qs[p],
            &mut self.tx.outs[p],
            m,
            is_copy,
            t,
            self.stats,
        );
    }

    #[inline(always)]
    fn send_underlay(&mut self, mut p: Mbuf, is_copy: bool, t: &mut Tally) {
        let tx = &mut *self.tx;
        if tx.tx_ip_csum {
            // The NIC computes the checksum over a zero checksum field.
            Ipv4Packet::new_unchecked(&mut p.data_mut()[ETH_LEN..]).set_checksum(0);
            p.offload_ipv4_csum(ETH_LEN as u8, IPV4_LEN as u16);
        } else if tx.tx_udp6_csum.offloaded() && udp6_to_offload(p.data()) {
            if tx.tx_udp6_csum == Udp6Csum::Nic {
                p.offload_udp6_csum(ETH_LEN as u8, IPV6_LEN as u16);
            } else {
                // l2_len: the UDP header, an 8-byte tunnel header and the
                // inner Ethernet header (only inner offloads, which are
                // not asked, would read it).
                p.offload_outer_udp6_csum(
                    ETH_LEN as u8,
                    IPV6_LEN as u16,
                    (UDP_LEN + 8 + ETH_LEN) as u8,
                );
            }
        }
        enqueue(&mut tx.q_ul, &mut tx.out_ul, p, is_copy, t, self.stats);
    }

    #[inline(always)]
    fn punt(&mut self, p: Mbuf) -> Result<(), Mbuf> {
        self.punts.push(p)
    }
}

//! A poll-mode worker: one per configured lcore, running on an EAL worker
//! lcore (pinned by EAL; not a registered thread, see vtepd). It
//! owns RX queue `w` of every port and TX queue `w` of every port, and per
//! burst: receives, classifies and looks up every packet, collects output
//! per port and sends it in bursts. No locks, allocations or system calls in
//! the loop; learn events and punted packets leave over bounded queues
//! whose overflow is counted, never waited on.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use crossbeam::queue::ArrayQueue;
use dpdk::{Burst, Mbuf, Mempool, RxQueue, TxQueue};

use crate::decap::{classify_underlay_cached, DecapCache, Underlay};
use crate::drops::DropReason;
use crate::encap::{classify_access, encapsulate_with_port, flow_hash, push_vlan, source_port};
use crate::fdb::{key, FdbTable, HitMap, SharedFdb, Target, VniIdx};
use crate::state::State;
use crate::stats::{bump, Tally, WorkerStats};
use crate::wire::{self, arp, eth, Arp, ETH_LEN, OUTER_LEN};

/// Largest RX burst.
pub const RX_BURST: usize = 256;
/// Size of an output buffer; a full one is sent at once.
const TX_BURST: usize = 64;
/// Flood copies allocated per bulk call.
const COPY_BURST: usize = 32;

/// What a worker tells the management thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A source MAC seen somewhere the FDB does not say.
    Learn {
        vni: VniIdx,
        mac: [u8; 6],
        at: LearnAt,
    },
    /// An ARP sender binding seen in a VNI with ARP suppression.
    ArpSnoop {
        vni: VniIdx,
        ip: Ipv4Addr,
        mac: [u8; 6],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LearnAt {
    Local(u16),
    Remote(Ipv4Addr),
}

/// Everything a worker thread owns or shares.
pub struct Worker {
    pub burst: usize,
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
}

/// Output buffer of one port: mbufs and whether each is a flood copy (for
/// the accounting when the queue refuses some).
struct Out {
    pkts: Burst<TX_BURST>,
    copy: [bool; TX_BURST],
}

impl Out {
    fn new() -> Out {
        Out {
            pkts: Burst::new(),
            copy: [false; TX_BURST],
        }
    }
}

/// Per-burst working set, reused.
struct Ctx<'a> {
    st: &'a State,
    fdb: &'a FdbTable,
    hits: &'a HitMap,
    events: &'a ArrayQueue<Event>,
    stats: &'a WorkerStats,
    pool: &'a Mempool,
    tally: Tally,
    decap: DecapCache,
}

impl Worker {
    /// Runs until `running` turns false, then drains its output.
    pub fn run(mut self) {
        let mut rx: Burst<RX_BURST> = Burst::new();
        let mut out_ul = Out::new();
        let mut out_acc: Vec<Out> = (0..self.access_tx.len()).map(|_| Out::new()).collect();
        let burst = self.burst.min(RX_BURST);
        let n_access = self.access_rx.len();
        while self.running.load(Ordering::Relaxed) {
            let t0 = dpdk::rdtsc();
            let st_guard = self.state.load();
            let fdb_guard = self.fdb.load();
            let mut cx = Ctx {
                st: &st_guard,
                fdb: &fdb_guard,
                hits: &self.hits,
                events: &self.events,
                stats: &self.stats,
                pool: &self.pool,
                tally: Tally::default(),
                decap: DecapCache::default(),
            };
            let mut got = 0;
            // Underlay.
            self.underlay_rx.rx_max(&mut rx, burst);
            got += rx.len();
            for m in rx.drain() {
                cx.tally.rx += 1;
                underlay_packet(&mut cx, m, &self.punts, &mut out_acc, &mut self.access_tx);
            }
            // Access ports.
            for p in 0..n_access {
                self.access_rx[p].rx_max(&mut rx, burst);
                got += rx.len();
                prefetch_access(&cx, &rx, p);
                for m in rx.drain() {
                    cx.tally.rx += 1;
                    access_packet(
                        &mut cx,
                        m,
                        p as u16,
                        &mut out_ul,
                        &mut self.underlay_tx,
                        &mut out_acc,
                        &mut self.access_tx,
                    );
                }
            }
            flush(
                &mut self.underlay_tx,
                &mut out_ul,
                &mut cx.tally,
                &self.stats,
            );
            for (q, o) in self.access_tx.iter_mut().zip(out_acc.iter_mut()) {
                flush(q, o, &mut cx.tally, &self.stats);
            }
            if let Some(inj) = &self.inject {
                // Management frames are not received packets: outside the tally.
                let mut b: Burst<8> = Burst::new();
                while let Some(m) = (!b.is_full()).then(|| inj.pop()).flatten() {
                    let _ = b.push(m);
                }
                if !b.is_empty() {
                    self.underlay_tx.tx(&mut b);
                }
            }
            if got > 0 {
                self.stats.publish(&cx.tally);
                bump(&self.stats.busy_cycles, dpdk::rdtsc().wrapping_sub(t0));
                bump(&self.stats.bursts, 1);
            }
        }
        flush(
            &mut self.underlay_tx,
            &mut out_ul,
            &mut Tally::default(),
            &self.stats,
        );
        for (q, o) in self.access_tx.iter_mut().zip(out_acc.iter_mut()) {
            flush(q, o, &mut Tally::default(), &self.stats);
        }
    }
}

/// First pass over an access burst: prefetch the FDB slots its lookups
/// will touch (destination, and source when learning), using the VNI the
/// frame's tag (or the port's untagged VNI) maps to.
#[inline(always)]
fn prefetch_access(cx: &Ctx<'_>, rx: &Burst<RX_BURST>, port: usize) {
    let Some(acc) = cx.st.access.get(port) else {
        return;
    };
    for i in 0..rx.len() {
        let Some(m) = rx.get(i) else { break };
        m.prefetch_headroom(OUTER_LEN);
        let d = m.data();
        if d.len() < ETH_LEN + 4 {
            continue;
        }
        let vni = if wire::be16(d, eth::TYPE) == wire::ETHERTYPE_VLAN {
            acc.vlans[(wire::be16(d, ETH_LEN) & 0x0fff) as usize]
        } else {
            acc.untagged
        };
        if let Some(v) = vni {
            cx.fdb.prefetch(key(v, wire::mac_at(d, 0)));
            if cx.st.vni(v).is_some_and(|s| s.learning) {
                cx.fdb.prefetch(key(v, wire::mac_at(d, 6)));
            }
        }
    }
}

/// Sends what is queued for a port; refused originals become drops and
/// refused copies are counted apart.
#[inline(always)]
fn flush(q: &mut TxQueue, o: &mut Out, t: &mut Tally, stats: &WorkerStats) {
    if o.pkts.is_empty() {
        return;
    }
    let total = o.pkts.len();
    let mut sent = q.tx_partial(&mut o.pkts);
    if sent < total {
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
                t.drop(DropReason::TxQueueFull);
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

#[inline(always)]
fn learn(cx: &mut Ctx<'_>, vni: VniIdx, mac: [u8; 6], at: LearnAt) {
    let k = key(vni, mac);
    if let Some((slot, e)) = cx.fdb.lookup(k) {
        let same = match (e.target, at) {
            (Target::Local(p), LearnAt::Local(q)) => p == q,
            (Target::Remote(r), LearnAt::Remote(ip)) => cx.st.remote(r).map(|x| x.ip) == Some(ip),
            _ => false,
        };
        if same || e.is_static {
            cx.hits.mark(slot);
            return;
        }
    }
    if cx.events.push(Event::Learn { vni, mac, at }).is_err() {
        bump(&cx.stats.learn_events_dropped, 1);
    }
}

fn snoop_arp(cx: &mut Ctx<'_>, vni: VniIdx, frame: &[u8]) -> Option<Arp> {
    if frame.len() < ETH_LEN || wire::be16(frame, eth::TYPE) != wire::ETHERTYPE_ARP {
        return None;
    }
    let a = Arp::parse(&frame[ETH_LEN..])?;
    if !a.spa.is_unspecified()
        && cx.st.arp.get(&(vni, a.spa)) != Some(&a.sha)
        && cx
            .events
            .push(Event::ArpSnoop {
                vni,
                ip: a.spa,
                mac: a.sha,
            })
            .is_err()
    {
        bump(&cx.stats.learn_events_dropped, 1);
    }
    Some(a)
}

/// VID that access port `p` tags VNI `vni` with; None = untagged. Outer
/// None: the port does not carry the VNI.
#[inline(always)]
fn port_vid(st: &State, vni: VniIdx, p: u16) -> Option<Option<u16>> {
    st.vni(vni)?
        .ports
        .iter()
        .find(|(q, _)| *q == p)
        .map(|(_, v)| *v)
}

#[inline(always)]
fn to_access(
    cx: &mut Ctx<'_>,
    mut m: Mbuf,
    vni: VniIdx,
    p: u16,
    is_copy: bool,
    outs: &mut [Out],
    qs: &mut [TxQueue],
) {
    let Some(vid) = port_vid(cx.st, vni, p) else {
        if !is_copy {
            cx.tally.drop(DropReason::NoAccessPort);
        }
        return;
    };
    if let Some(v) = vid {
        if let Err(r) = push_vlan(&mut m, v) {
            if !is_copy {
                cx.tally.drop(r);
            }
            return;
        }
    }
    if !is_copy {
        cx.tally.forwarded += 1;
    }
    let (o, q) = (&mut outs[p as usize], &mut qs[p as usize]);
    enqueue(q, o, m, is_copy, &mut cx.tally, cx.stats);
}

fn underlay_packet(
    cx: &mut Ctx<'_>,
    mut m: Mbuf,
    punts: &ArrayQueue<Mbuf>,
    outs: &mut [Out],
    qs: &mut [TxQueue],
) {
    if m.nb_segs() != 1 {
        cx.tally.drop(DropReason::MultiSegment);
        return;
    }
    let (vni, src, remote, off, len, reserved) =
        match classify_underlay_cached(m.data(), cx.st, &mut cx.decap) {
            Err(r) => {
                cx.tally.drop(r);
                return;
            }
            Ok(Underlay::Arp | Underlay::Echo) => {
                match punts.push(m) {
                    Ok(()) => cx.tally.punted += 1,
                    Err(_) => cx.tally.drop(DropReason::PuntQueueFull),
                }
                return;
            }
            Ok(Underlay::Vxlan {
                vni,
                src,
                remote,
                inner_off,
                inner_len,
                reserved_set,
            }) => (vni, src, remote, inner_off, inner_len, reserved_set),
        };
    if reserved {
        bump(&cx.stats.reserved_bits_seen, 1);
    }
    let total = m.len();
    if let Some(r) = remote {
        if let Some(c) = cx.stats.remotes.get(r as usize) {
            c.rx.add(total);
        }
    }
    m.adj(off);
    m.trim(total - off - len);
    let Some(vs) = cx.st.vni(vni) else {
        cx.tally.drop(DropReason::VniUnknown);
        return;
    };
    let (learning, suppress) = (vs.learning, vs.arp_suppress);
    let d = m.data();
    let src_mac = wire::mac_at(d, 6);
    let dst = wire::mac_at(d, 0);
    if learning {
        learn(cx, vni, src_mac, LearnAt::Remote(src));
    }
    if suppress {
        snoop_arp(cx, vni, m.data());
    }
    if let Some(c) = cx.stats.vnis.get(vni as usize) {
        c.decap.add(len);
    }
    if dst[0] & 1 == 0 {
        if let Some((_, e)) = cx.fdb.lookup(key(vni, dst)) {
            return match e.target {
                Target::Local(p) => to_access(cx, m, vni, p, false, outs, qs),
                // Split horizon: never send underlay traffic back out.
                Target::Remote(_) => cx.tally.drop(DropReason::NoAccessPort),
            };
        }
    }
    flood_local(cx, m, vni, None, outs, qs);
}

/// Floods to the VNI's access ports except `except`; the original goes to
/// the last, copies to the others.
fn flood_local(
    cx: &mut Ctx<'_>,
    m: Mbuf,
    vni: VniIdx,
    except: Option<u16>,
    outs: &mut [Out],
    qs: &mut [TxQueue],
) {
    let st = cx.st;
    let Some(vs) = st.vni(vni) else {
        cx.tally.drop(DropReason::VniUnknown);
        return;
    };
    let targets = vs.ports.iter().filter(|(p, _)| Some(*p) != except);
    let n = targets.clone().count();
    if n == 0 {
        cx.tally.drop(DropReason::NoAccessPort);
        return;
    }
    let mut orig = Some(m);
    for (i, (p, _)) in targets.enumerate() {
        if i + 1 == n {
            if let Some(m) = orig.take() {
                to_access(cx, m, vni, *p, false, outs, qs);
            }
        } else if let Some(src) = orig.as_ref() {
            match cx.pool.alloc_from(src.data()) {
                Ok(c) => to_access(cx, c, vni, *p, true, outs, qs),
                Err(_) => bump(&cx.stats.flood_copy_drops, 1),
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn access_packet(
    cx: &mut Ctx<'_>,
    mut m: Mbuf,
    port: u16,
    out_ul: &mut Out,
    q_ul: &mut TxQueue,
    outs: &mut [Out],
    qs: &mut [TxQueue],
) {
    if m.nb_segs() != 1 {
        cx.tally.drop(DropReason::MultiSegment);
        return;
    }
    let st = cx.st;
    let vni = match classify_access(&mut m, &st.access[port as usize]) {
        Ok(v) => v,
        Err(r) => {
            cx.tally.drop(r);
            return;
        }
    };
    let Some(vs) = st.vni(vni) else {
        cx.tally.drop(DropReason::VniUnknown);
        return;
    };
    let d = m.data();
    let src_mac = wire::mac_at(d, 6);
    let dst = wire::mac_at(d, 0);
    if vs.learning {
        learn(cx, vni, src_mac, LearnAt::Local(port));
    }
    if vs.arp_suppress {
        if let Some(a) = snoop_arp(cx, vni, m.data()) {
            if a.oper == arp::REQUEST {
                if let Some(mac) = st.arp.get(&(vni, a.tpa)).copied() {
                    // Answer locally: the request never crosses the underlay.
                    wire::arp_reply_in_place(m.data_mut(), &a, mac);
                    return to_access(cx, m, vni, port, false, outs, qs);
                }
            }
        }
    }
    if dst[0] & 1 == 0 {
        if let Some((_, e)) = cx.fdb.lookup(key(vni, dst)) {
            match e.target {
                Target::Local(p) if p == port => cx.tally.drop(DropReason::AccessSamePort),
                Target::Local(p) => to_access(cx, m, vni, p, false, outs, qs),
                Target::Remote(r) => to_remote(cx, m, vni, r, None, out_ul, q_ul),
            }
            return;
        }
    }
    // BUM: one copy per remote in the flood list, one per other local port.
    let remotes = &vs.flood;
    let locals = vs.ports.iter().filter(|(p, _)| *p != port).count();
    if remotes.len() + locals == 0 {
        cx.tally.drop(DropReason::NoFloodTargets);
        return;
    }
    if let Some(c) = cx.stats.vnis.get(vni as usize) {
        c.flood.add(m.len());
    }
    if m.len() >= SHARE_MIN && !remotes.is_empty() {
        // Large frame: local ports get private copies (they may be tagged
        // in place), remotes get a header segment chained to a shared
        // clone of the original, which itself is never written again.
        for &(p, _) in vs.ports.iter().filter(|(p, _)| *p != port) {
            match cx.pool.alloc_from(m.data()) {
                Ok(c) => to_access(cx, c, vni, p, true, outs, qs),
                Err(_) => bump(&cx.stats.flood_copy_drops, 1),
            }
        }
        for &r in remotes.iter() {
            to_remote_shared(cx, &m, vni, r, out_ul, q_ul);
        }
        cx.tally.forwarded += 1;
        return;
    }
    // Small frame: deep copies, allocated a burst at a time, all with the
    // original's flow hash.
    let sport = source_port(flow_hash(m.data()));
    for chunk in remotes.chunks(COPY_BURST) {
        let mut copies: Burst<COPY_BURST> = Burst::new();
        if cx.pool.alloc_bulk(&mut copies, chunk.len()).is_err() {
            // Pool (nearly) empty: the chunk's copies are counted as lost.
            bump(&cx.stats.flood_copy_drops, chunk.len() as u64);
            continue;
        }
        for (&r, mut c) in chunk.iter().zip(copies.drain()) {
            match c.append(m.len()) {
                Some(room) => {
                    room.copy_from_slice(m.data());
                    to_remote(cx, c, vni, r, Some(sport), out_ul, q_ul);
                }
                None => bump(&cx.stats.flood_copy_drops, 1),
            }
        }
    }
    if locals > 0 {
        flood_local(cx, m, vni, Some(port), outs, qs);
    } else {
        // The original was copied to every remote; it counts as forwarded.
        cx.tally.forwarded += 1;
    }
}

/// Frames at least this long are flooded to remotes by sharing the payload
/// (a 50-byte header segment chained to an indirect clone) rather than by
/// copying it: below it, one copy costs less than two mbufs.
pub const SHARE_MIN: usize = 256;

/// Sends a flood copy of `m` to remote `r` as header segment + shared clone.
fn to_remote_shared(
    cx: &mut Ctx<'_>,
    m: &Mbuf,
    vni: VniIdx,
    r: u32,
    out: &mut Out,
    q: &mut TxQueue,
) {
    let st = cx.st;
    let (Some(t), Some(vs)) = (st.remote(r).and_then(|x| x.template.as_ref()), st.vni(vni)) else {
        bump(&cx.stats.flood_copy_drops, 1);
        return;
    };
    let inner = m.len();
    if crate::encap::outer_ip_len(inner) > st.mtu as usize {
        bump(&cx.stats.flood_copy_drops, 1);
        return;
    }
    let (Ok(mut h), Ok(c)) = (cx.pool.alloc(), m.share(cx.pool)) else {
        bump(&cx.stats.flood_copy_drops, 1);
        return;
    };
    let Some(room) = h.append(OUTER_LEN) else {
        bump(&cx.stats.flood_copy_drops, 1);
        return;
    };
    let sport = crate::encap::source_port(crate::encap::flow_hash(m.data()));
    crate::encap::write_outer(room, t, vs.vni.get(), inner, sport);
    let Ok(pkt) = h.chain(c) else {
        bump(&cx.stats.flood_copy_drops, 1);
        return;
    };
    if let Some(c) = cx.stats.vnis.get(vni as usize) {
        c.encap.add(inner);
    }
    if let Some(c) = cx.stats.remotes.get(r as usize) {
        c.tx.add(pkt.pkt_len());
    }
    enqueue(q, out, pkt, true, &mut cx.tally, cx.stats);
}

#[inline(always)]
/// Encapsulates `m` to remote `r`. `copy_port` is set for flood copies:
/// the UDP source port of the original's flow.
fn to_remote(
    cx: &mut Ctx<'_>,
    mut m: Mbuf,
    vni: VniIdx,
    r: u32,
    copy_port: Option<u16>,
    out: &mut Out,
    q: &mut TxQueue,
) {
    let is_copy = copy_port.is_some();
    let st = cx.st;
    let fail = |cx: &mut Ctx<'_>, reason| {
        if is_copy {
            bump(&cx.stats.flood_copy_drops, 1);
        } else {
            cx.tally.drop(reason);
        }
    };
    let Some(t) = st.remote(r).and_then(|x| x.template.as_ref()) else {
        return fail(cx, DropReason::NeighborUnresolved);
    };
    let Some(vs) = st.vni(vni) else {
        return fail(cx, DropReason::VniUnknown);
    };
    let inner = m.len();
    let sport = copy_port.unwrap_or_else(|| source_port(flow_hash(m.data())));
    if let Err(reason) = encapsulate_with_port(&mut m, t, vs.vni.get(), st.mtu, sport) {
        return fail(cx, reason);
    }
    if let Some(c) = cx.stats.vnis.get(vni as usize) {
        c.encap.add(inner);
    }
    if let Some(c) = cx.stats.remotes.get(r as usize) {
        c.tx.add(m.len());
    }
    if !is_copy {
        cx.tally.forwarded += 1;
    }
    enqueue(q, out, m, is_copy, &mut cx.tally, cx.stats);
}

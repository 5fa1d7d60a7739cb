//! The forwarding decisions of a worker, per packet: learning, ARP
//! snooping and suppression, known unicast, split horizon, head-end
//! replication to remotes and flooding to local ports, VLAN restore, and
//! the accounting of each outcome. Generic over [`Io`] (buffers, copies
//! and output queues), so every rule is unit-tested on plain byte buffers;
//! the worker runs the same code on mbufs and DPDK queues.
//!
//! Accounting: every received packet ends as exactly one of forwarded,
//! dropped (with a reason) or punted; flood copies are counted apart
//! (`flood_copies`, or `flood_copy_drops` when one cannot be made or sent).

use std::net::{IpAddr, Ipv6Addr};

use crossbeam::queue::ArrayQueue;
pub use dpdk::RxCsum;

use crate::datapath::buf::PacketBuf;
use crate::datapath::decap::{
    classify_known, classify_underlay_cached, outer_source, DecapCache, Underlay,
};
use crate::datapath::drops::DropReason;
use crate::datapath::encap::{classify_access, push_vlan};
use crate::datapath::fdb::{
    frame_keys, key_is_group, key_mac, key_parts, Entry, FdbTable, HitMap, Target, VniIdx,
};
use crate::datapath::flow::{flow_hash, flow_hash_macs};
use crate::datapath::police::{Credits, Dir};
use crate::datapath::state::{State, VniSettings};
use crate::datapath::stats::{bump, KeyedSum, PktBytes, Sum, Tally, WorkerStats};
use crate::datapath::tunnel::{
    encapsulate_with, inner_sum, outer4_len, outer6_len, prepend4, prepend6, write_header, IpIds,
    Outer, TunnelIdx, MAX_OUTER_LEN,
};
use crate::wire::arp::{self, Arp};
use crate::wire::icmpv6::{self, Nd};
use crate::wire::{ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_LEN};

/// Flood copies made per bulk call.
pub const COPY_BURST: usize = 32;

/// Frames at least this long are flooded to remotes by sharing the payload
/// (a header segment in front of a shared clone) rather than by copying
/// it: below it, one copy costs less than two buffers.
pub const SHARE_MIN: usize = 256;

/// What a worker tells the management thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A source MAC seen somewhere the FDB does not say.
    Learn {
        vni: VniIdx,
        mac: [u8; 6],
        at: LearnAt,
    },
    /// An IP-to-MAC binding (ARP sender, or neighbour discovery) seen in
    /// a VNI with ARP suppression.
    ArpSnoop {
        vni: VniIdx,
        ip: IpAddr,
        mac: [u8; 6],
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LearnAt {
    Local(u16),
    Remote(IpAddr),
}

/// Where a worker saw a source MAC: an access port or a sending VTEP
/// (known ones by index, so the hot path never compares addresses).
/// (VTEPs that are not known remotes take [`learn_unknown`].)
#[derive(Debug, Clone, Copy)]
enum Place {
    Local(u16),
    Known(u32),
}

impl Place {
    /// One word per place, distinct for distinct places.
    #[inline(always)]
    fn code(self) -> u64 {
        match self {
            Place::Local(p) => 1 << 32 | p as u64,
            Place::Known(r) => 1 << 33 | r as u64,
        }
    }

    /// The place as the management thread takes it.
    fn learn_at(self, st: &State) -> Option<LearnAt> {
        Some(match self {
            Place::Local(p) => LearnAt::Local(p),
            Place::Known(r) => LearnAt::Remote(st.remote(r)?.ip),
        })
    }
}

/// A packet buffer as forwarding sees it.
pub trait Packet: PacketBuf + Sized {
    /// Segments in the chain (only single-segment packets are handled).
    fn segments(&self) -> u16;
    /// The NIC's verdict on the outer IPv4 header checksum.
    fn rx_ip_csum(&self) -> RxCsum {
        RxCsum::Unknown
    }
    /// The NIC's verdict on the outermost UDP checksum.
    fn rx_udp_csum(&self) -> RxCsum {
        RxCsum::Unknown
    }
    /// The verdict the underlay's IP version checks: the IPv4 header's,
    /// or over IPv6 the UDP one.
    #[inline(always)]
    fn rx_outer_csum(&self, v6: bool) -> RxCsum {
        if v6 {
            self.rx_udp_csum()
        } else {
            self.rx_ip_csum()
        }
    }
    /// The NIC's RSS hash of the packet, if it gave one.
    fn rx_hash(&self) -> Option<u32> {
        None
    }
}

/// The flow hash of a tenant frame: the NIC's RSS hash when it computed
/// one (over the same addresses and ports), else [`flow_hash`].
#[inline(always)]
fn frame_hash<P: Packet>(m: &P) -> u32 {
    match m.rx_hash() {
        Some(h) => h,
        None => flow_hash(m.data()),
    }
}

/// Buffers and output queues: what a worker forwards with.
pub trait Io {
    type Pkt: Packet;
    /// The copies of a flood, made together.
    type Copies: Iterator<Item = Self::Pkt>;

    /// A private copy of `src`; None when no buffer is free.
    fn copy(&mut self, src: &Self::Pkt) -> Option<Self::Pkt>;
    /// `n` (at most [`COPY_BURST`]) private copies of `src` at once; None
    /// when the pool cannot give them all.
    fn copies(&mut self, src: &Self::Pkt, n: usize) -> Option<Self::Copies>;
    /// Whether flood copies may share the payload ([`Io::shared`]): the
    /// underlay port sends multi-segment packets.
    fn can_share(&self) -> bool;
    /// `header` in a new buffer, chained to `src` shared (not copied);
    /// `src` must never be written again.
    fn shared(&mut self, src: &Self::Pkt, header: &[u8]) -> Option<Self::Pkt>;
    /// Queues `p` on access port `port`; a copy is counted in
    /// `t.flood_copies`, and what the queue refuses is accounted by `t`.
    fn send_access(&mut self, port: u16, p: Self::Pkt, is_copy: bool, t: &mut Tally);
    /// Queues `p` on the underlay port.
    fn send_underlay(&mut self, p: Self::Pkt, is_copy: bool, t: &mut Tally);
    /// Hands `p` to the management thread; gives it back if its queue is full.
    fn punt(&mut self, p: Self::Pkt) -> Result<(), Self::Pkt>;
}

/// The state one burst is forwarded with.
pub struct Ctx<'a> {
    pub st: &'a State,
    pub fdb: &'a FdbTable,
    pub hits: &'a HitMap,
    pub events: &'a ArrayQueue<Event>,
    pub stats: &'a WorkerStats,
    pub tally: Tally,
    pub decap: &'a mut DecapCache,
    pub ip_ids: &'a mut IpIds,
    /// This worker's credits of the VNIs' limits.
    pub credits: &'a mut Credits,
    /// The burst's time, ns (for the limits).
    pub now_ns: u64,
    /// The last source this burst found where the FDB says, as (key,
    /// [`LearnAt::code`]); (0, 0) for none (no key is 0). A run of frames
    /// from one host looks it up once.
    pub seen: (u64, u64),
}

impl Ctx<'_> {
    #[inline(always)]
    fn lost_copy(&self, n: u64) {
        bump(&self.stats.flood_copy_drops, n);
    }

    /// A packet that cannot go on: a lost copy, or a drop for `r`.
    #[inline(always)]
    fn fail(&mut self, is_copy: bool, r: DropReason) {
        if is_copy {
            self.lost_copy(1);
        } else {
            self.tally.drop(r);
        }
    }
}

/// Whether a frame of `len` bytes of VNI `vni` passes the VNI's limit in
/// direction `dir` (Flood: storm control, one frame); counts what does not.
#[inline(always)]
fn admit(cx: &mut Ctx<'_>, vni: VniIdx, dir: Dir, len: usize) -> bool {
    let st = cx.st;
    let Some(p) = st.vni(vni).and_then(|v| v.police.as_ref()) else {
        return true;
    };
    let cost = if dir == Dir::Flood { 1 } else { len as u64 };
    if cx.credits.admit(vni as u32, p, dir, cx.now_ns, cost) {
        return true;
    }
    if let Some(c) = cx.stats.vnis.get(vni as usize) {
        match dir {
            Dir::Encap => c.policed_encap.add(len),
            Dir::Decap => c.policed_decap.add(len),
            Dir::Flood => bump(&c.storm_dropped, 1),
        }
    }
    cx.tally.drop(match dir {
        Dir::Flood => DropReason::StormControl,
        _ => DropReason::Policed,
    });
    false
}

#[inline(always)]
fn learn(cx: &mut Ctx<'_>, vni: VniIdx, k: u64, at: Place) {
    let code = at.code();
    if cx.seen == (k, code) {
        return;
    }
    if let Some((slot, e)) = cx.fdb.lookup(k) {
        let same = match (e.target, at) {
            (Target::Local(p), Place::Local(q)) => p == q,
            (Target::Remote(r), Place::Known(x)) => r == x,
            _ => false,
        };
        if same || e.is_static {
            cx.hits.mark(slot);
            cx.seen = (k, code);
            return;
        }
    }
    let mac = key_parts(k).1 .0;
    let Some(at) = at.learn_at(cx.st) else {
        return;
    };
    if cx.events.push(Event::Learn { vni, mac, at }).is_err() {
        bump(&cx.stats.learn_events_dropped, 1);
    }
}

/// A source MAC behind a VTEP that is no known remote (accepted with
/// `accept_unknown_sources`): no entry can already say so, so unless a
/// static entry holds the MAC the management thread hears of it (and
/// makes the VTEP a remote).
#[cold]
#[inline(never)]
fn learn_unknown(cx: &mut Ctx<'_>, vni: VniIdx, k: u64, ip: IpAddr) {
    if let Some((slot, e)) = cx.fdb.lookup(k) {
        if e.is_static {
            cx.hits.mark(slot);
            return;
        }
    }
    let mac = key_parts(k).1 .0;
    let at = LearnAt::Remote(ip);
    if cx.events.push(Event::Learn { vni, mac, at }).is_err() {
        bump(&cx.stats.learn_events_dropped, 1);
    }
}

/// An address resolution request vtepd may answer for the target.
enum Ask {
    Arp(Arp),
    /// A neighbour solicitation and its IPv6 source.
    Ns(Ipv6Addr, Nd),
}

/// Reports a binding the published State does not have yet.
fn note(cx: &mut Ctx<'_>, vni: VniIdx, ip: IpAddr, mac: [u8; 6]) {
    if cx.st.arp.get(&(vni, ip)) != Some(&mac)
        && cx.events.push(Event::ArpSnoop { vni, ip, mac }).is_err()
    {
        bump(&cx.stats.learn_events_dropped, 1);
    }
}

/// Snoops ARP and neighbour discovery in a VNI with ARP suppression: the
/// bindings they show (ARP senders, solicitations' sources,
/// advertisements' targets) are reported; requests are returned.
fn snoop(cx: &mut Ctx<'_>, vni: VniIdx, frame: &[u8]) -> Option<Ask> {
    if let Some(a) = Arp::from_frame(frame) {
        if !a.spa.is_unspecified() {
            note(cx, vni, IpAddr::V4(a.spa), a.sha);
        }
        return (a.oper == arp::REQUEST).then_some(Ask::Arp(a));
    }
    if frame.get(12..14) != Some(&ETHERTYPE_IPV6.to_be_bytes()[..]) {
        return None;
    }
    let (src, nd) = icmpv6::nd_in_frame(frame)?;
    if nd.kind == icmpv6::NEIGHBOR_ADVERT {
        if let Some(mac) = nd.lladdr {
            note(cx, vni, IpAddr::V6(nd.target), mac);
        }
        return None;
    }
    // A solicitation from the unspecified address is duplicate address
    // detection: neither a binding nor a question to answer.
    let mac = nd.lladdr.filter(|_| !src.is_unspecified())?;
    note(cx, vni, IpAddr::V6(src), mac);
    Some(Ask::Ns(src, nd))
}

/// Answers `ask` from the VNI's bindings in place, if they know its
/// target and the asker is not the target itself (an address conflict
/// probe, or a host announcing itself, is flooded as it is).
fn answer<P: PacketBuf>(cx: &mut Ctx<'_>, m: &mut P, vni: VniIdx, ask: &Ask) -> bool {
    let (target, asker) = match ask {
        Ask::Arp(a) => (IpAddr::V4(a.tpa), a.sha),
        Ask::Ns(_, nd) => (IpAddr::V6(nd.target), nd.lladdr.unwrap_or_default()),
    };
    let Some(mac) = cx.st.arp.get(&(vni, target)).copied() else {
        return false;
    };
    if mac == asker || matches!(ask, Ask::Arp(a) if a.spa == a.tpa) {
        return false;
    }
    let c = cx.stats.vnis.get(vni as usize);
    match ask {
        Ask::Arp(a) => {
            arp::reply_in_place(m.data_mut(), a, mac);
            if let Some(c) = c {
                bump(&c.arp_suppressed, 1);
            }
        }
        Ask::Ns(src, nd) => {
            if !icmpv6::advert_in_place(m.data_mut(), *src, nd, mac) {
                return false;
            }
            let extra = m.len() - icmpv6::ADVERT_FRAME_LEN;
            m.trim(extra);
            if let Some(c) = c {
                bump(&c.nd_suppressed, 1);
            }
        }
    }
    true
}

/// Delivers `m` to access port `p`, tagged as the port carries the VNI.
#[inline(always)]
fn to_access<I: Io>(
    cx: &mut Ctx<'_>,
    io: &mut I,
    mut m: I::Pkt,
    vni: VniIdx,
    p: u16,
    is_copy: bool,
) {
    let Some(vid) = cx.st.vni(vni).and_then(|v| v.vid_on(p)) else {
        return cx.fail(is_copy, DropReason::NoAccessPort);
    };
    if let Some(v) = vid {
        if let Err(r) = push_vlan(&mut m, v) {
            return cx.fail(is_copy, r);
        }
    }
    if !is_copy {
        cx.tally.forwarded += 1;
    }
    io.send_access(p, m, is_copy, &mut cx.tally);
}

/// A packet from the underlay: decapsulate, learn, deliver.
pub fn underlay_packet<I: Io>(cx: &mut Ctx<'_>, io: &mut I, mut m: I::Pkt) {
    cx.tally.rx += 1;
    if m.segments() != 1 {
        return cx.tally.drop(DropReason::MultiSegment);
    }
    let (vni, remote, off, len, reserved) = match classify_underlay_cached(
        m.data(),
        m.rx_outer_csum(cx.st.our_ip.is_ipv6()),
        cx.st,
        cx.decap,
    ) {
        Err(r) => return cx.tally.drop(r),
        Ok(
            Underlay::Arp
            | Underlay::Echo
            | Underlay::Icmp6
            | Underlay::Kernel
            | Underlay::Membership,
        ) => {
            return match io.punt(m) {
                Ok(()) => cx.tally.punted += 1,
                Err(_) => cx.tally.drop(DropReason::PuntQueueFull),
            };
        }
        Ok(Underlay::Tunnel {
            vni,
            remote,
            inner_off,
            inner_len,
            reserved_set,
        }) => (vni, remote, inner_off, inner_len, reserved_set),
    };
    if reserved {
        bump(&cx.stats.reserved_bits_seen, 1);
    }
    let total = m.len();
    if let Some(c) = remote.and_then(|r| cx.stats.remotes.get(r as usize)) {
        c.rx.add(total);
    }
    // The address of a VTEP that is no known remote, read before the
    // outer header goes.
    let stranger = match remote {
        Some(_) => None,
        None => match outer_source(m.data()) {
            Some(ip) => Some(ip),
            None => return cx.tally.drop(DropReason::UnknownSource),
        },
    };
    m.adj(off);
    m.trim(total - off - len);
    let Some(vs) = cx.st.vni(vni) else {
        return cx.tally.drop(DropReason::VniUnknown);
    };
    let (learning, suppress, policed) = (vs.learn_underlay, vs.arp_suppress, vs.police.is_some());
    if policed && !admit(cx, vni, Dir::Decap, len) {
        return;
    }
    // The classifier checked the inner frame's length.
    let Some(h) = m.data().first_chunk::<12>() else {
        return cx.tally.drop(DropReason::InnerRunt);
    };
    let (dk, sk) = frame_keys(vni, h);
    if learning {
        match (remote, stranger) {
            (Some(r), _) => learn(cx, vni, sk, Place::Known(r)),
            (None, Some(ip)) => learn_unknown(cx, vni, sk, ip),
            (None, None) => {}
        }
    }
    if suppress {
        snoop(cx, vni, m.data());
    }
    if let Some(c) = cx.stats.vnis.get(vni as usize) {
        c.decap.add(len);
    }
    if !key_is_group(dk) {
        if let Some((_, e)) = cx.fdb.lookup(dk) {
            return match e.target {
                Target::Local(p) => to_access(cx, io, m, vni, p, false),
                // Split horizon: never send underlay traffic back out.
                Target::Remote(_) => cx.tally.drop(DropReason::NoAccessPort),
            };
        }
    }
    flood_local(cx, io, m, vni, None);
}

/// Floods to the VNI's access ports except `except`; the original goes to
/// the last, copies to the others.
fn flood_local<I: Io>(cx: &mut Ctx<'_>, io: &mut I, m: I::Pkt, vni: VniIdx, except: Option<u16>) {
    let st = cx.st;
    let Some(vs) = st.vni(vni) else {
        return cx.tally.drop(DropReason::VniUnknown);
    };
    let mut targets = vs
        .ports
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| Some(*p) != except);
    let Some(mut next) = targets.next() else {
        return cx.tally.drop(DropReason::NoAccessPort);
    };
    for p in targets {
        match io.copy(&m) {
            Some(c) => to_access(cx, io, c, vni, next, true),
            None => cx.lost_copy(1),
        }
        next = p;
    }
    to_access(cx, io, m, vni, next, false);
}

/// A tenant frame from access port `port`: classify, learn, switch
/// locally, encapsulate to a remote, or flood.
pub fn access_packet<I: Io>(cx: &mut Ctx<'_>, io: &mut I, mut m: I::Pkt, port: u16) {
    cx.tally.rx += 1;
    if m.segments() != 1 {
        return cx.tally.drop(DropReason::MultiSegment);
    }
    let st = cx.st;
    let Some(acc) = st.access.get(port as usize) else {
        return cx.tally.drop(DropReason::NoAccessPort);
    };
    let vni = match classify_access(&mut m, acc) {
        Ok(v) => v,
        Err(r) => return cx.tally.drop(r),
    };
    let Some(vs) = st.vni(vni) else {
        return cx.tally.drop(DropReason::VniUnknown);
    };
    // classify_access checked the frame's length.
    let Some(h) = m.data().first_chunk::<12>() else {
        return cx.tally.drop(DropReason::AccessRunt);
    };
    let (dk, sk) = frame_keys(vni, h);
    let policed = vs.police.is_some();
    if vs.learning {
        learn(cx, vni, sk, Place::Local(port));
    }
    if vs.arp_suppress {
        if let Some(ask) = snoop(cx, vni, m.data()) {
            if answer(cx, &mut m, vni, &ask) {
                // Answered here: the request never crosses the underlay.
                return to_access(cx, io, m, vni, port, false);
            }
        }
    }
    if !key_is_group(dk) {
        if let Some((_, e)) = cx.fdb.lookup(dk) {
            match e.target {
                Target::Local(p) if p == port => cx.tally.drop(DropReason::AccessSamePort),
                Target::Local(p) => to_access(cx, io, m, vni, p, false),
                Target::Remote(r) => {
                    if !policed || admit(cx, vni, Dir::Encap, m.len()) {
                        to_remote(cx, io, m, vni, VniOut::of(vs), r)
                    }
                }
            }
            return;
        }
    }
    if policed && !(admit(cx, vni, Dir::Flood, 0) && admit(cx, vni, Dir::Encap, m.len())) {
        return;
    }
    flood(cx, io, m, vni, port);
}

/// BUM from access port `port`: one copy per remote of the flood list,
/// one per other local port of the VNI. All copies to remotes carry the
/// original's flow hash.
fn flood<I: Io>(cx: &mut Ctx<'_>, io: &mut I, m: I::Pkt, vni: VniIdx, port: u16) {
    let Some(vs) = cx.st.vni(vni) else {
        return cx.tally.drop(DropReason::VniUnknown);
    };
    let remotes = &vs.flood;
    let locals = vs.ports.iter().filter(|(p, _)| *p != port).count();
    if remotes.len() + locals == 0 {
        return cx.tally.drop(DropReason::NoFloodTargets);
    }
    if let Some(c) = cx.stats.vnis.get(vni as usize) {
        c.flood.add(m.len());
        if vs.group.is_some() {
            // Its copy to the group, if lost, is a flood_copy_drop.
            c.group.add(m.len());
        }
    }
    let hash = frame_hash(&m);
    let out = VniOut::of(vs);
    let mut enc = Sum::default();
    if let ([r], 0) = (remotes.as_slice(), locals) {
        // One way out (a VNI's group, or a single remote): the frame
        // itself goes, counted as the one copy it replaces.
        if send_remote(cx, io, m, out, *r, hash, true, &mut enc).is_err() {
            cx.lost_copy(1);
        }
        enc.flush(encap_counter(cx, vni));
        cx.tally.forwarded += 1;
        return;
    }
    if m.len() >= SHARE_MIN && !remotes.is_empty() && io.can_share() {
        // Large frame: local ports get private copies (they may be tagged
        // in place), remotes get a header chained to a shared clone of the
        // original, which itself is never written again.
        for &(p, _) in vs.ports.iter().filter(|(p, _)| *p != port) {
            match io.copy(&m) {
                Some(c) => to_access(cx, io, c, vni, p, true),
                None => cx.lost_copy(1),
            }
        }
        // The copies share the inner frame, so its checksum sum once.
        let isum = match remotes.first().and_then(|r| cx.st.template(*r, out.tun)) {
            Some(t) => inner_sum(t, m.data()),
            None => 0,
        };
        for &r in remotes.iter() {
            if share_remote(cx, io, &m, out, r, hash, isum, &mut enc).is_none() {
                cx.lost_copy(1);
            }
        }
        enc.flush(encap_counter(cx, vni));
        cx.tally.forwarded += 1;
        return;
    }
    // Small frame: deep copies, made a chunk at a time.
    for chunk in remotes.chunks(COPY_BURST) {
        let Some(copies) = io.copies(&m, chunk.len()) else {
            // Pool (nearly) empty: the chunk's copies are counted as lost.
            cx.lost_copy(chunk.len() as u64);
            continue;
        };
        let mut made = 0;
        for (&r, c) in chunk.iter().zip(copies) {
            if send_remote(cx, io, c, out, r, hash, true, &mut enc).is_err() {
                cx.lost_copy(1);
            }
            made += 1;
        }
        cx.lost_copy((chunk.len() - made) as u64);
    }
    enc.flush(encap_counter(cx, vni));
    if locals > 0 {
        flood_local(cx, io, m, vni, Some(port));
    } else {
        // The original was copied to every remote; it counts as forwarded.
        cx.tally.forwarded += 1;
    }
}

/// The counter of VNI `vni`'s encapsulated frames.
#[inline(always)]
fn encap_counter<'s>(cx: &Ctx<'s>, vni: VniIdx) -> Option<&'s PktBytes> {
    cx.stats.vnis.get(vni as usize).map(|c| &c.encap)
}

/// What an outer header needs of a VNI: its wire value and its tunnel.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VniOut {
    id: u32,
    tun: TunnelIdx,
}

impl VniOut {
    #[inline(always)]
    fn of(vs: &VniSettings) -> VniOut {
        VniOut {
            id: vs.vni.get(),
            tun: vs.tunnel,
        }
    }
}

/// Encapsulates `m`, a frame of the VNI `out` with flow hash `hash`, to
/// remote `r` and queues it on the underlay: the one way a frame leaves
/// for a remote, original or flood copy. `enc` sums the VNI's
/// encapsulated frames. On failure nothing is counted or sent.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn send_remote<I: Io>(
    cx: &mut Ctx<'_>,
    io: &mut I,
    mut m: I::Pkt,
    out: VniOut,
    r: u32,
    hash: u32,
    is_copy: bool,
    enc: &mut Sum,
) -> Result<(), DropReason> {
    let t = cx
        .st
        .template(r, out.tun)
        .ok_or(DropReason::NeighborUnresolved)?;
    let inner = m.len();
    encapsulate_with(
        &mut m,
        t,
        cx.st.mtu,
        Outer::new(out.id, hash, cx.ip_ids.take()),
    )?;
    enc.add(inner);
    let len = m.len();
    queue_remote(cx, io, m, r, len, is_copy);
    Ok(())
}

/// [`send_remote`] for a flood copy that shares the payload of `m`: the
/// outer header in a buffer of its own, chained to `m`. `isum` is the
/// inner frame's checksum sum ([`inner_sum`]). None: the copy is lost.
#[allow(clippy::too_many_arguments)]
fn share_remote<I: Io>(
    cx: &mut Ctx<'_>,
    io: &mut I,
    m: &I::Pkt,
    out: VniOut,
    r: u32,
    hash: u32,
    isum: u32,
    enc: &mut Sum,
) -> Option<()> {
    let st = cx.st;
    let t = st.template(r, out.tun)?;
    let inner = m.len();
    if t.ip_len(inner) > st.mtu as usize {
        return None;
    }
    let mut hdr = [0u8; MAX_OUTER_LEN];
    write_header(
        &mut hdr,
        t,
        inner,
        Outer::new(out.id, hash, cx.ip_ids.take()),
        isum,
    );
    let pkt = io.shared(m, &hdr[..t.len])?;
    enc.add(inner);
    queue_remote(cx, io, pkt, r, inner + t.len, true);
    Some(())
}

/// Queues `m`, encapsulated and `len` bytes long, on the underlay to
/// remote `r`, counted for the remote; an original counts as forwarded.
#[inline(always)]
fn queue_remote<I: Io>(cx: &mut Ctx<'_>, io: &mut I, m: I::Pkt, r: u32, len: usize, is_copy: bool) {
    if let Some(c) = cx.stats.remotes.get(r as usize) {
        c.tx.add(len);
    }
    if !is_copy {
        cx.tally.forwarded += 1;
    }
    io.send_underlay(m, is_copy, &mut cx.tally);
}

/// Encapsulates `m`, a frame of VNI `vni` (`out`), to remote `r`.
#[inline(always)]
fn to_remote<I: Io>(cx: &mut Ctx<'_>, io: &mut I, m: I::Pkt, vni: VniIdx, out: VniOut, r: u32) {
    let hash = frame_hash(&m);
    let mut enc = Sum::default();
    match send_remote(cx, io, m, out, r, hash, false, &mut enc) {
        Ok(()) => enc.flush(encap_counter(cx, vni)),
        Err(reason) => cx.tally.drop(reason),
    }
}

/// What [`encap_known`] needs of a burst's VNI, checked once per burst.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Known {
    vni: VniIdx,
    out: VniOut,
    learning: bool,
    port: u16,
    /// The underlay is IPv6 (every template is).
    v6: bool,
    /// The longest frame that fits the underlay MTU once encapsulated in
    /// the VNI's tunnel over the underlay's IP version.
    max_inner: usize,
}

impl Known {
    /// Access port `port`'s untagged VNI, if the encap fast path may
    /// serve it.
    pub(crate) fn of(st: &State, port: u16) -> Option<Known> {
        let vni = st.access.get(port as usize)?.untagged?;
        let vs = st.vni(vni)?;
        let out = VniOut::of(vs);
        let encap = st.tunnels.get(out.tun)?.encap;
        let v6 = st.our_ip.is_ipv6();
        let outer = if v6 {
            outer6_len(encap)
        } else {
            outer4_len(encap)
        };
        vs.fast().encap.then(|| Known {
            vni,
            out,
            learning: vs.learning,
            port,
            v6,
            max_inner: (st.mtu as usize + ETH_LEN).saturating_sub(outer),
        })
    }

    pub(crate) fn parts(&self) -> (VniIdx, bool) {
        (self.vni, self.learning)
    }
}

/// A burst from access port `port`. When the encap fast path may serve
/// the port's untagged VNI ([`FastPaths`](crate::datapath::state::FastPaths)), its frames of known unicast
/// to a remote take [`encap_known`], with the VNI's checks made once for
/// the burst and its counters summed; every other frame, and any frame
/// that path gives back, takes [`access_packet`]. Both give the same
/// output, counters and events (a test runs every kind of frame through
/// both).
pub fn access_burst<I: Io>(
    cx: &mut Ctx<'_>,
    io: &mut I,
    pkts: impl Iterator<Item = I::Pkt>,
    port: u16,
) {
    let known = Known::of(cx.st, port);
    let Some(k) = known else {
        for m in pkts {
            access_packet(cx, io, m, port);
        }
        return;
    };
    let mut enc = Sum::default();
    // One loop per learning setting and underlay IP version: without
    // learning, none of its code is in the loop (fewer registers taken,
    // fewer spills), and neither version tests the other's.
    match (k.learning, k.v6) {
        (true, false) => encap_loop::<_, true, false>(cx, io, pkts, k, &mut enc),
        (false, false) => encap_loop::<_, false, false>(cx, io, pkts, k, &mut enc),
        (true, true) => encap_loop::<_, true, true>(cx, io, pkts, k, &mut enc),
        (false, true) => encap_loop::<_, false, true>(cx, io, pkts, k, &mut enc),
    }
    enc.flush(encap_counter(cx, k.vni));
}

/// [`access_burst`]'s loop for VNI `k`, whose learning setting is `LEARN`
/// and underlay IPv6 is `V6`. A function of its own, called once per
/// burst: each loop gets its own registers.
#[inline(never)]
fn encap_loop<I: Io, const LEARN: bool, const V6: bool>(
    cx: &mut Ctx<'_>,
    io: &mut I,
    pkts: impl Iterator<Item = I::Pkt>,
    k: Known,
    enc: &mut Sum,
) {
    for m in pkts {
        if let Err(m) = encap_known::<_, LEARN, V6>(cx, io, m, k, enc) {
            access_packet(cx, io, m, k.port);
        }
    }
}

/// [`access_packet`]'s known unicast to a remote, for an untagged frame
/// of VNI `k`; gives back, untouched and before any side
/// effect, a frame that takes another way or fails. `enc` sums the VNI's
/// encapsulated packets and bytes. `LEARN` is `k`'s learning setting,
/// `V6` its underlay's IP version.
#[inline(always)]
pub(crate) fn encap_known<I: Io, const LEARN: bool, const V6: bool>(
    cx: &mut Ctx<'_>,
    io: &mut I,
    mut m: I::Pkt,
    k: Known,
    enc: &mut Sum,
) -> Result<(), I::Pkt> {
    if m.segments() != 1 {
        return Err(m);
    }
    let Some(h) = m.data().first_chunk::<14>() else {
        return Err(m);
    };
    let et = u16::from_be_bytes([h[12], h[13]]);
    let Some(h12) = h.first_chunk::<12>() else {
        return Err(m);
    };
    let (dk, sk) = frame_keys(k.vni, h12);
    // A tag, a group destination, or a source that is a group address or
    // zero: access_packet decides (the key's low 48 bits are the MAC).
    if et == ETHERTYPE_VLAN || et == ETHERTYPE_QINQ || key_is_group(dk | sk) || key_mac(sk) == 0 {
        return Err(m);
    }
    let st = cx.st;
    let Some(r) = cx.fdb.lookup_remote(dk) else {
        return Err(m);
    };
    let Some(t) = st.template(r, k.out.tun) else {
        return Err(m);
    };
    let inner = m.len();
    if t.v6 != V6 || inner > k.max_inner {
        return Err(m);
    }
    // From here on the frame is this path's.
    if LEARN {
        learn(cx, k.vni, sk, Place::Local(k.port));
    }
    let hash = match m.rx_hash() {
        Some(h) => h,
        // The MACs are the keys' low bits: not loaded again.
        None => flow_hash_macs(m.data(), key_mac(dk), key_mac(sk)),
    };
    let o = Outer::new(k.out.id, hash, cx.ip_ids.take());
    cx.tally.rx += 1;
    // send_remote's work, less the checks made above: a template of the
    // underlay's IP version and a frame that fits.
    let put = if V6 {
        prepend6(&mut m, t, inner, o)
    } else {
        prepend4(&mut m, t, inner, o)
    };
    let len = match put {
        Ok(len) => len,
        Err(reason) => {
            cx.tally.drop(reason);
            return Ok(());
        }
    };
    enc.add(inner);
    queue_remote(cx, io, m, r, inner + len, false);
    Ok(())
}

/// A burst from the underlay. VXLAN from a known remote to a MAC the FDB
/// has on an access port, in a VNI the decap fast path may serve
/// ([`FastPaths`](crate::datapath::state::FastPaths)), takes [`decap_known`], with the VNIs' decap counters summed
/// over runs of one VNI; everything else, and any packet that path gives
/// back, takes [`underlay_packet`]. Both give the same output, counters
/// and events (a test runs every kind of packet through both).
pub fn underlay_burst<I: Io>(cx: &mut Ctx<'_>, io: &mut I, pkts: impl Iterator<Item = I::Pkt>) {
    let v = cx.fdb.version();
    let mut run = Run {
        version: (v & 1 == 0).then_some(v),
        ..Run::default()
    };
    // One loop per underlay IP version, each testing only its own.
    if cx.st.our_ip.is_ipv6() {
        decap_loop::<_, true>(cx, io, pkts, &mut run);
    } else {
        decap_loop::<_, false>(cx, io, pkts, &mut run);
    }
    run.add(cx);
}

/// [`underlay_burst`]'s loop over an underlay of IPv6 if `V6`, else IPv4.
#[inline(always)]
fn decap_loop<I: Io, const V6: bool>(
    cx: &mut Ctx<'_>,
    io: &mut I,
    pkts: impl Iterator<Item = I::Pkt>,
    run: &mut Run,
) {
    for m in pkts {
        if let Err(m) = decap_known::<_, V6>(cx, io, m, run) {
            underlay_packet(cx, io, m);
        }
    }
}

/// What [`underlay_burst`] carries from packet to packet: the FDB version
/// the burst started with, and the decapsulated frames of the current
/// run of one VNI and of one remote, not yet counted.
#[derive(Default)]
pub(crate) struct Run {
    /// The FDB's version at the burst's start, if no write was under way
    /// (destinations looked up under it may be remembered).
    version: Option<u64>,
    /// Inner frames, per VNI.
    vni: KeyedSum<VniIdx>,
    /// Whole packets (outer headers included), per sending remote.
    remote: KeyedSum<u32>,
}

impl Run {
    #[inline(always)]
    fn add(&mut self, cx: &Ctx<'_>) {
        self.vni.flush(|v| decap_counter(cx, v));
        self.remote.flush(|r| remote_rx_counter(cx, r));
    }
}

#[inline(always)]
fn decap_counter<'s>(cx: &Ctx<'s>, vni: VniIdx) -> Option<&'s PktBytes> {
    cx.stats.vnis.get(vni as usize).map(|c| &c.decap)
}

#[inline(always)]
fn remote_rx_counter<'s>(cx: &Ctx<'s>, r: u32) -> Option<&'s PktBytes> {
    cx.stats.remotes.get(r as usize).map(|c| &c.rx)
}

/// [`underlay_packet`]'s known unicast from a known remote to an access
/// port; gives back, untouched and before any side effect, a packet that
/// takes another way. `run` sums the VNI's decapsulated packets and bytes.
#[inline(always)]
pub(crate) fn decap_known<I: Io, const V6: bool>(
    cx: &mut Ctx<'_>,
    io: &mut I,
    mut m: I::Pkt,
    run: &mut Run,
) -> Result<(), I::Pkt> {
    if m.segments() != 1 {
        return Err(m);
    }
    let st = cx.st;
    let Some((vni, r, off, len, reserved)) =
        classify_known::<V6>(m.data(), m.rx_outer_csum(V6), st, cx.decap)
    else {
        return Err(m);
    };
    let Some(vs) = st.vni(vni).filter(|v| v.fast().decap) else {
        return Err(m);
    };
    let Some(h) = m.data().get(off..).and_then(|d| d.first_chunk::<12>()) else {
        return Err(m);
    };
    let (dk, sk) = frame_keys(vni, h);
    if key_is_group(dk) {
        return Err(m);
    }
    // A destination remembered under the version this burst started with
    // is what a lookup at the start would give (a write since shows from
    // the next burst on).
    let p = match run.version.and_then(|v| cx.decap.local(dk, v)) {
        Some(p) => p,
        None => {
            let Some((
                _,
                Entry {
                    target: Target::Local(p),
                    ..
                },
            )) = cx.fdb.lookup(dk)
            else {
                return Err(m);
            };
            if let Some(v) = run.version {
                cx.decap.remember(dk, v, p);
            }
            p
        }
    };
    let Some(vid) = vs.vid_on(p) else {
        return Err(m);
    };
    // From here on the packet is this path's.
    cx.tally.rx += 1;
    if reserved {
        bump(&cx.stats.reserved_bits_seen, 1);
    }
    let total = m.len();
    run.remote.add(r, total, |r| remote_rx_counter(cx, r));
    m.adj(off);
    if total != off + len {
        m.trim(total - off - len);
    }
    if vs.learn_underlay {
        learn(cx, vni, sk, Place::Known(r));
    }
    run.vni.add(vni, len, |v| decap_counter(cx, v));
    if let Some(v) = vid {
        if let Err(reason) = push_vlan(&mut m, v) {
            cx.tally.drop(reason);
            return Ok(());
        }
    }
    cx.tally.forwarded += 1;
    io.send_access(p, m, false, &mut cx.tally);
    Ok(())
}

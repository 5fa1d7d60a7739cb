//! The forwarding rules on plain buffers: a state published by the
//! management tables from a real config, the lock-free FDB, and an [`Io`]
//! that records where each packet went.

use std::net::{IpAddr, Ipv4Addr};

use crossbeam::queue::ArrayQueue;
use vtep_config::{Config, Vni};

use crate::control::publish;
use crate::control::punt::arp_request;
use crate::control::tables::Tables;
use crate::datapath::buf::{PacketBuf, VecBuf};
use crate::datapath::decap::DecapCache;
use crate::datapath::drops::DropReason;
use crate::datapath::fdb::{HitMap, Target};
use crate::datapath::forward::{
    access_packet, underlay_packet, Ctx, Event, Io, LearnAt, Packet, RxCsum,
};
use crate::datapath::police::Credits;
use crate::datapath::state::{State, Template};
use crate::datapath::stats::{Tally, WorkerStats};
use crate::datapath::tunnel::vxlan::OUTER4_LEN;
use crate::datapath::tunnel::{IpIds, Tunnel};
use crate::wire::arp::{self, Arp};
use crate::wire::{EthernetFrame, Ipv4Packet, VxlanHeader, ETH_LEN};

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const PEER_MAC: [u8; 6] = [2, 0, 0, 0, 2, 2];
const PEER3: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 3);
const H1: [u8; 6] = [2, 0, 0, 0, 0, 1];
const H2: [u8; 6] = [2, 0, 0, 0, 0, 2];
const FAR: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];

/// Two access ports: net_ring1 (VNI 100 untagged, VNI 200 on VID 10) and
/// net_ring2 (VNI 100 untagged); VNI 100 floods to two remotes, VNI 200
/// to none; FAR is a static entry behind 192.0.2.2; ARP suppression on
/// VNI 100.
const CONFIG: &str = r#"[eal]
args = ["-l", "0-1", "--no-pci", "--vdev=net_ring0", "--vdev=net_ring1", "--vdev=net_ring2"]
[underlay]
port = "net_ring0"
address = "192.0.2.1/24"
mtu = 1500
[[access]]
port = "net_ring1"
vni = 100
vlans = { 10 = 200 }
[[access]]
port = "net_ring2"
vni = 100
[[vni]]
id = 100
flood = ["192.0.2.2", "192.0.2.3"]
arp_suppress = true
[[vni]]
id = 200
[[fdb]]
vni = 100
mac = "02:00:00:00:00:aa"
remote = "192.0.2.2"
"#;

/// A test packet: bytes with headroom, and a segment count.
#[derive(Debug, Clone)]
struct Pkt {
    buf: VecBuf,
    segs: u16,
    csum: RxCsum,
    hash: Option<u32>,
}

impl Pkt {
    fn new(b: &[u8]) -> Pkt {
        Pkt {
            buf: VecBuf::new(b),
            segs: 1,
            csum: RxCsum::Unknown,
            hash: None,
        }
    }
}

impl PacketBuf for Pkt {
    fn data(&self) -> &[u8] {
        self.buf.data()
    }
    fn data_mut(&mut self) -> &mut [u8] {
        self.buf.data_mut()
    }
    fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        self.buf.prepend(n)
    }
    fn adj(&mut self, n: usize) -> bool {
        self.buf.adj(n)
    }
    fn trim(&mut self, n: usize) -> bool {
        self.buf.trim(n)
    }
}

impl Packet for Pkt {
    fn segments(&self) -> u16 {
        self.segs
    }
    fn rx_ip_csum(&self) -> RxCsum {
        self.csum
    }
    /// One verdict per test packet: the outer checksum of its version.
    fn rx_udp_csum(&self) -> RxCsum {
        self.csum
    }
    fn rx_hash(&self) -> Option<u32> {
        self.hash
    }
}

/// Records every output; `buffers` limits the copies it can make.
#[derive(Default)]
struct Rec {
    access: [Vec<(Vec<u8>, bool)>; 2],
    underlay: Vec<(Vec<u8>, bool)>,
    punted: Vec<Vec<u8>>,
    punt_room: usize,
    buffers: usize,
    /// The underlay port cannot send multi-segment packets.
    no_share: bool,
    /// Flood copies made by sharing the payload.
    shares: usize,
}

impl Io for Rec {
    type Pkt = Pkt;
    type Copies = std::vec::IntoIter<Pkt>;

    fn copy(&mut self, src: &Pkt) -> Option<Pkt> {
        self.buffers = self.buffers.checked_sub(1)?;
        Some(Pkt::new(src.data()))
    }
    fn copies(&mut self, src: &Pkt, n: usize) -> Option<Self::Copies> {
        self.buffers = self.buffers.checked_sub(n)?;
        Some(vec![Pkt::new(src.data()); n].into_iter())
    }
    fn can_share(&self) -> bool {
        !self.no_share
    }
    fn shared(&mut self, src: &Pkt, header: &[u8]) -> Option<Pkt> {
        self.buffers = self.buffers.checked_sub(1)?;
        self.shares += 1;
        let mut b = header.to_vec();
        b.extend_from_slice(src.data());
        Some(Pkt::new(&b))
    }
    fn send_access(&mut self, port: u16, p: Pkt, is_copy: bool, t: &mut Tally) {
        t.flood_copies += u64::from(is_copy);
        self.access[port as usize].push((p.data().to_vec(), is_copy));
    }
    fn send_underlay(&mut self, p: Pkt, is_copy: bool, t: &mut Tally) {
        t.flood_copies += u64::from(is_copy);
        self.underlay.push((p.data().to_vec(), is_copy));
    }
    fn punt(&mut self, p: Pkt) -> Result<(), Pkt> {
        if self.punted.len() >= self.punt_room {
            return Err(p);
        }
        self.punted.push(p.data().to_vec());
        Ok(())
    }
}

/// A published state and FDB, as the management thread makes them.
struct World {
    tables: Tables,
    st: State,
    hits: HitMap,
    events: ArrayQueue<Event>,
    stats: WorkerStats,
    decap: DecapCache,
    ip_ids: IpIds,
    credits: Credits,
    /// The time the next packets are forwarded at, ns.
    now_ns: u64,
}

impl World {
    fn new() -> World {
        World::with(CONFIG)
    }

    fn with(cfg: &str) -> World {
        World::with_peers(cfg, [PEER.into(), PEER3.into()])
    }

    /// A world of `cfg` in which `peers` have resolved neighbours.
    fn with_peers(cfg: &str, peers: [IpAddr; 2]) -> World {
        let mut tables = Tables::new(Config::parse(cfg).unwrap(), OUR_MAC, 0).unwrap();
        for (i, ip) in peers.into_iter().enumerate() {
            assert!(tables.learn_neighbor(ip, [2, 0, 0, 0, 2, 2 + i as u8], 0));
        }
        let st = publish::build(&tables, 1);
        let hits = HitMap::new(tables.fdb.max_slots());
        World {
            tables,
            st,
            hits,
            events: ArrayQueue::new(16),
            stats: WorkerStats::default(),
            decap: DecapCache::default(),
            ip_ids: IpIds::default(),
            credits: Credits::default(),
            now_ns: 0,
        }
    }

    fn vni(&self, n: u32) -> u16 {
        self.tables.vnis.get(Vni::new(n).unwrap()).unwrap()
    }

    /// Installs a learned entry as the management thread would.
    fn learned(&mut self, vni: u32, mac: [u8; 6], at: Target) {
        let v = self.vni(vni);
        self.tables.fdb.learn(v, mac, at, 0);
    }

    /// Runs `f` with a context over this world; returns its tally.
    fn run(&mut self, io: &mut Rec, f: impl FnOnce(&mut Ctx<'_>, &mut Rec)) -> Tally {
        let fdb = self.tables.fdb.shared().load_full();
        let mut cx = Ctx {
            st: &self.st,
            fdb: &fdb,
            hits: &self.hits,
            events: &self.events,
            stats: &self.stats,
            tally: Tally::default(),
            decap: &mut self.decap,
            ip_ids: &mut self.ip_ids,
            credits: &mut self.credits,
            now_ns: self.now_ns,
            seen: (0, 0),
        };
        f(&mut cx, io);
        let t = cx.tally;
        assert_eq!(
            t.rx,
            t.forwarded + t.dropped + t.punted,
            "accounting: {t:?}"
        );
        t
    }

    fn access(&mut self, io: &mut Rec, port: u16, frame: &[u8]) -> Tally {
        self.run(io, |cx, io| access_packet(cx, io, Pkt::new(frame), port))
    }

    fn underlay(&mut self, io: &mut Rec, frame: &[u8]) -> Tally {
        self.run(io, |cx, io| underlay_packet(cx, io, Pkt::new(frame)))
    }

    /// `inner` as remote `src` sends it in VNI `vni`, to this VTEP, in
    /// that VNI's tunnel (VXLAN on 4789 for a VNI this VTEP lacks).
    fn tunneled(&self, src: impl Into<IpAddr>, vni: u32, inner: &[u8]) -> Vec<u8> {
        let tunnel = self
            .st
            .vni_tunnel(vni)
            .and_then(|(_, t)| self.st.tunnels.get(t))
            .unwrap_or(Tunnel::vxlan(4789));
        let t = match (src.into(), self.st.our_ip) {
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                Template::new6(OUR_MAC, PEER_MAC, s, d, tunnel, 64, false)
            }
            (IpAddr::V4(s), _) => Template::new(
                OUR_MAC,
                PEER_MAC,
                s,
                Ipv4Addr::new(192, 0, 2, 1),
                tunnel,
                64,
                false,
            ),
            (s, d) => panic!("{s} to {d}: one family"),
        };
        let mut b = VecBuf::new(inner);
        crate::datapath::tunnel::encapsulate(&mut b, &t, vni, 9000).unwrap();
        b.data().to_vec()
    }
}

/// The next event is a learn of `mac` in VNI index `vni` at `at`.
fn assert_learned(w: &World, vni: u16, mac: [u8; 6], at: LearnAt) {
    assert_eq!(w.events.pop(), Some(Event::Learn { vni, mac, at }));
}

fn rec() -> Rec {
    Rec {
        punt_room: 8,
        buffers: 64,
        ..Rec::default()
    }
}

/// An Ethernet frame from `src` to `dst` with `n` bytes of payload.
fn frame(dst: [u8; 6], src: [u8; 6], n: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14 + n];
    let mut e = EthernetFrame::new_unchecked(&mut f[..]);
    e.set_dst(dst);
    e.set_src(src);
    e.set_ethertype(0x0800);
    f
}

fn tagged(f: &[u8], vid: u16) -> Vec<u8> {
    let mut t = f[..12].to_vec();
    t.extend_from_slice(&[0x81, 0, (vid >> 8) as u8, vid as u8]);
    t.extend_from_slice(&f[12..]);
    t
}

fn vni_of(outer: &[u8]) -> u32 {
    VxlanHeader::new_checked(&outer[42..]).unwrap().vni()
}

fn dst_ip(outer: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(outer[30], outer[31], outer[32], outer[33])
}

#[test]
fn known_unicast_goes_to_its_remote_and_learns_the_source() {
    let mut w = World::new();
    let mut io = rec();
    let f = frame(FAR, H1, 46);
    let t = w.access(&mut io, 0, &f);
    assert_eq!((t.forwarded, t.flood_copies), (1, 0));
    let (out, copy) = &io.underlay[0];
    assert!(!copy);
    assert_eq!((vni_of(out), dst_ip(out)), (100, PEER));
    assert_eq!(&out[OUTER4_LEN..], &f[..]);
    let v = w.vni(100);
    assert_learned(&w, v, H1, LearnAt::Local(0));
    assert_eq!(w.stats.vnis[v as usize].encap.get(), (1, f.len() as u64));
}

#[test]
fn each_outer_packet_has_its_own_ipv4_identification() {
    let mut w = World::new();
    w.ip_ids = IpIds::for_worker(1);
    let mut io = rec();
    let f = frame(FAR, H1, 46);
    w.access(&mut io, 0, &f);
    w.access(&mut io, 0, &f);
    let ids: Vec<u16> = io
        .underlay
        .iter()
        .map(|(o, _)| {
            let ip = Ipv4Packet::new_checked(&o[14..]).unwrap();
            assert!(ip.checksum_ok(), "checksum covers the identification");
            u16::from_be_bytes([o[18], o[19]])
        })
        .collect();
    assert_eq!(ids, [0x4001, 0x4002], "worker 1 counts from 0x4000");
    let mut wrap = IpIds(u16::MAX);
    assert_eq!(wrap.take(), 0);
}

#[test]
fn broadcast_from_access_floods_remotes_and_other_ports_not_back() {
    let mut w = World::new();
    let mut io = rec();
    let f = frame([0xff; 6], H1, 46);
    let t = w.access(&mut io, 0, &f);
    // One original (to the other port), two copies to remotes.
    assert_eq!((t.forwarded, t.flood_copies), (1, 2), "{t:?}");
    let mut remotes: Vec<Ipv4Addr> = io.underlay.iter().map(|(o, _)| dst_ip(o)).collect();
    remotes.sort();
    assert_eq!(remotes, [PEER, PEER3]);
    let sports: Vec<&[u8]> = io.underlay.iter().map(|(o, _)| &o[34..36]).collect();
    assert_eq!(
        sports[0], sports[1],
        "copies share the original's flow hash"
    );
    assert!(
        io.access[0].is_empty(),
        "never back out of the ingress port"
    );
    assert_eq!(io.access[1], vec![(f, false)]);
}

#[test]
fn large_broadcast_shares_the_payload_with_one_flow_hash() {
    let mut w = World::new();
    let mut io = rec();
    let f = frame([0xff; 6], H1, 600);
    let t = w.access(&mut io, 1, &f);
    assert_eq!((t.forwarded, t.flood_copies), (1, 3), "{t:?}");
    assert_eq!(io.underlay.len(), 2);
    assert_eq!(io.underlay[0].0[34..36], io.underlay[1].0[34..36]);
    assert!(io
        .underlay
        .iter()
        .all(|(o, c)| *c && o[OUTER4_LEN..] == f[..]));
    assert_eq!(
        io.access[0],
        vec![(f, true)],
        "a private copy to the local port"
    );
}

#[test]
fn without_multi_segment_transmit_large_floods_are_private_copies() {
    let mut w = World::new();
    let mut io = Rec {
        no_share: true,
        ..rec()
    };
    let f = frame([0xff; 6], H1, 600);
    let t = w.access(&mut io, 1, &f);
    // Two private copies to remotes; the original goes to the local port.
    assert_eq!((t.forwarded, t.flood_copies), (1, 2), "{t:?}");
    assert_eq!(io.shares, 0);
    assert_eq!(io.access[0], vec![(f.clone(), false)]);
    assert!(io
        .underlay
        .iter()
        .all(|(o, c)| *c && o[OUTER4_LEN..] == f[..]));
    assert_eq!(io.underlay[0].0[34..36], io.underlay[1].0[34..36]);
}

#[test]
fn the_nics_rss_hash_is_the_flow_hash_of_the_source_port() {
    let mut w = World::new();
    let mut io = rec();
    let f = frame(FAR, H1, 46);
    let mut p = Pkt::new(&f);
    p.hash = Some(0x0bad_1234);
    let t = w.run(&mut io, |cx, io| access_packet(cx, io, p, 0));
    assert_eq!(t.forwarded, 1);
    let sport = u16::from_be_bytes([io.underlay[0].0[34], io.underlay[0].0[35]]);
    assert_eq!(sport, crate::datapath::tunnel::source_port(0x0bad_1234));
    // Without a hash from the NIC, the software hash of the frame.
    let mut io = rec();
    w.access(&mut io, 0, &f);
    let sport = u16::from_be_bytes([io.underlay[0].0[34], io.underlay[0].0[35]]);
    assert_eq!(
        sport,
        crate::datapath::tunnel::source_port(crate::datapath::flow::flow_hash(&f))
    );
}

#[test]
fn the_nics_checksum_verdict_replaces_the_software_check() {
    let mut w = World::new();
    let inner = frame(H1, FAR, 46);
    let good = w.tunneled(PEER, 100, &inner);
    let mut corrupt = good.clone();
    corrupt[24] ^= 0xff; // the outer IPv4 header checksum
    let with = |b: &[u8], csum| Pkt {
        csum,
        ..Pkt::new(b)
    };
    // Software: the corrupt header is dropped, the good one passes.
    let t = w.underlay(&mut rec(), &corrupt);
    assert_eq!(t.drops[DropReason::Ipv4Checksum as usize], 1, "{t:?}");
    // The NIC vouches for the header: no software check.
    let p = with(&corrupt, RxCsum::Good);
    let t = w.run(&mut rec(), |cx, io| underlay_packet(cx, io, p));
    assert_eq!(t.forwarded, 1, "{t:?}");
    // The NIC says bad: dropped, whatever the bytes say.
    let p = with(&good, RxCsum::Bad);
    let t = w.run(&mut rec(), |cx, io| underlay_packet(cx, io, p));
    assert_eq!(t.drops[DropReason::Ipv4Checksum as usize], 1, "{t:?}");
}

#[test]
fn flood_copies_that_cannot_be_made_are_counted() {
    let mut w = World::new();
    let mut io = Rec {
        buffers: 1,
        ..rec()
    };
    let t = w.access(&mut io, 0, &frame([0xff; 6], H1, 46));
    assert_eq!(t.forwarded, 1, "the original still goes out");
    assert!(io.underlay.is_empty());
    assert_eq!(
        w.stats
            .flood_copy_drops
            .load(std::sync::atomic::Ordering::Relaxed),
        2
    );
}

#[test]
fn underlay_unknown_destination_floods_to_local_ports_only() {
    let mut w = World::new();
    let mut io = rec();
    let inner = frame([0xff; 6], H2, 46);
    let t = w.underlay(&mut io, &w.tunneled(PEER, 100, &inner));
    assert_eq!((t.forwarded, t.flood_copies), (1, 1));
    assert_eq!(io.access[0], vec![(inner.clone(), true)]);
    assert_eq!(io.access[1], vec![(inner, false)]);
    assert!(
        io.underlay.is_empty(),
        "split horizon: nothing back to the underlay"
    );
    let v = w.vni(100);
    assert_learned(&w, v, H2, LearnAt::Remote(PEER.into()));
}

#[test]
fn split_horizon_drops_underlay_traffic_for_remote_macs() {
    let mut w = World::new();
    let mut io = rec();
    let t = w.underlay(&mut io, &w.tunneled(PEER, 100, &frame(FAR, H2, 46)));
    assert_eq!(t.drops[DropReason::NoAccessPort as usize], 1);
    assert!(io.underlay.is_empty() && io.access.iter().all(Vec::is_empty));
}

#[test]
fn decap_restores_the_vlan_of_the_port() {
    let mut w = World::new();
    w.learned(200, H1, Target::Local(0));
    let mut io = rec();
    let inner = frame(H1, H2, 46);
    let t = w.underlay(&mut io, &w.tunneled(PEER, 200, &inner));
    assert_eq!(t.forwarded, 1, "{t:?}");
    assert_eq!(io.access[0], vec![(tagged(&inner, 10), false)]);
    // From the access side, VID 10 classifies into VNI 200 (where FAR is
    // unknown and nothing else carries the VNI).
    while w.events.pop().is_some() {}
    let mut io = rec();
    let t = w.access(&mut io, 0, &tagged(&frame(FAR, [2, 0, 0, 0, 0, 7], 46), 10));
    assert_eq!(t.drops[DropReason::NoFloodTargets as usize], 1, "{t:?}");
    let v200 = w.vni(200);
    assert_learned(&w, v200, [2, 0, 0, 0, 0, 7], LearnAt::Local(0));
}

#[test]
fn local_switching_and_same_port() {
    let mut w = World::new();
    w.learned(100, H2, Target::Local(1));
    w.learned(100, H1, Target::Local(0));
    let mut io = rec();
    let f = frame(H2, H1, 46);
    assert_eq!(w.access(&mut io, 0, &f).forwarded, 1);
    assert_eq!(io.access[1], vec![(f, false)]);
    let t = w.access(&mut io, 0, &frame(H1, [2, 0, 0, 0, 0, 9], 46));
    assert_eq!(t.drops[DropReason::AccessSamePort as usize], 1);
}

#[test]
fn arp_suppression_answers_known_bindings_locally() {
    let mut w = World::new();
    let v = w.vni(100);
    let ip = Ipv4Addr::new(10, 0, 0, 2);
    w.st.arp.insert((v, ip.into()), H2);
    let mut io = rec();
    let req = arp_request(H1, Ipv4Addr::new(10, 0, 0, 1), ip);
    let t = w.access(&mut io, 0, &req);
    assert_eq!(t.forwarded, 1);
    assert!(
        io.underlay.is_empty() && io.access[1].is_empty(),
        "not flooded"
    );
    let (reply, _) = &io.access[0][0];
    let a = Arp::from_frame(reply).unwrap();
    assert_eq!(
        (a.oper, a.sha, a.spa, a.tpa),
        (arp::REPLY, H2, ip, Ipv4Addr::new(10, 0, 0, 1))
    );
    // The sender's binding was reported for the table.
    assert_learned(&w, v, H1, LearnAt::Local(0));
    assert!(matches!(
        w.events.pop(),
        Some(Event::ArpSnoop { mac: H1, .. })
    ));
    // Unknown binding: the request floods as usual.
    let mut io = rec();
    let t = w.access(
        &mut io,
        0,
        &arp_request(H1, Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 9)),
    );
    assert_eq!((t.forwarded, io.underlay.len()), (1, 2));
    // The target asking for itself (an address probe or announcement) is
    // not told about itself.
    for req in [
        arp_request(H2, ip, ip),
        arp_request(H2, Ipv4Addr::UNSPECIFIED, ip),
    ] {
        let mut io = rec();
        w.access(&mut io, 0, &req);
        assert_eq!(io.underlay.len(), 2, "flooded");
    }
    let c = &w.stats.vnis[v as usize];
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((load(&c.arp_suppressed), load(&c.nd_suppressed)), (1, 0));
}

#[test]
fn nd_suppression_answers_solicitations_with_the_targets_advertisement() {
    use crate::wire::icmpv6::{self, Nd};
    use crate::wire::ipv6;
    use std::net::Ipv6Addr;
    let mut w = World::new();
    let v = w.vni(100);
    let (h1, h2): (Ipv6Addr, Ipv6Addr) = (
        "2001:db8:5::1".parse().unwrap(),
        "2001:db8:5::2".parse().unwrap(),
    );
    w.st.arp.insert((v, h2.into()), H2);
    let ns = |src: Ipv6Addr, target: Ipv6Addr, ll: Option<[u8; 6]>| {
        let group = ipv6::solicited_node(target);
        let nd = Nd {
            kind: icmpv6::NEIGHBOR_SOLICIT,
            flags: 0,
            target,
            lladdr: ll,
        };
        icmpv6::frame(ipv6::multicast_mac(group), H1, src, group, 255, &nd.body())
    };
    let mut io = rec();
    let t = w.access(&mut io, 0, &ns(h1, h2, Some(H1)));
    assert_eq!(t.forwarded, 1);
    assert!(
        io.underlay.is_empty() && io.access[1].is_empty(),
        "not flooded"
    );
    let (na, _) = &io.access[0][0];
    assert_eq!(na.len(), icmpv6::ADVERT_FRAME_LEN);
    let (src, nd) = icmpv6::nd_in_frame(na).expect("a valid advertisement");
    assert_eq!(
        (src, nd.kind, nd.target, nd.lladdr),
        (h2, icmpv6::NEIGHBOR_ADVERT, h2, Some(H2))
    );
    assert_eq!(&na[..6], &H1, "to the asker");
    // The asker's binding was reported.
    assert!(std::iter::from_fn(|| w.events.pop()).any(|e| e
        == Event::ArpSnoop {
            vni: v,
            ip: h1.into(),
            mac: H1
        }));
    // Unknown target, or duplicate address detection: flooded.
    for f in [
        ns(h1, "2001:db8:5::9".parse().unwrap(), Some(H1)),
        ns(Ipv6Addr::UNSPECIFIED, h2, None),
    ] {
        let mut io = rec();
        w.access(&mut io, 0, &f);
        assert_eq!(io.underlay.len(), 2, "flooded");
    }
    // An advertisement shows its target's binding.
    let na = Nd {
        kind: icmpv6::NEIGHBOR_ADVERT,
        flags: icmpv6::FLAG_SOLICITED,
        target: h1,
        lladdr: Some(H1),
    };
    let f = icmpv6::frame(H2, H1, h1, h2, 255, &na.body());
    w.access(&mut rec(), 0, &f);
    assert!(std::iter::from_fn(|| w.events.pop())
        .any(|e| matches!(e, Event::ArpSnoop { ip, mac: H1, .. } if ip == IpAddr::from(h1))));
    let c = &w.stats.vnis[v as usize];
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!((load(&c.arp_suppressed), load(&c.nd_suppressed)), (0, 1));
}

#[test]
fn punts_and_their_queue() {
    let mut w = World::new();
    let mut io = Rec {
        punt_room: 1,
        ..rec()
    };
    let req = arp_request(PEER_MAC, PEER, Ipv4Addr::new(192, 0, 2, 1));
    assert_eq!(w.underlay(&mut io, &req).punted, 1);
    let t = w.underlay(&mut io, &req);
    assert_eq!(t.drops[DropReason::PuntQueueFull as usize], 1);
}

#[test]
fn every_other_drop_is_named() {
    let mut w = World::new();
    let mut io = rec();
    let expect = |t: Tally, r: DropReason| {
        assert_eq!((t.dropped, t.drops[r as usize]), (1, 1), "{r:?}: {t:?}");
    };
    let t = w.access(&mut io, 0, &frame(FAR, H1, 46)[..10]);
    expect(t, DropReason::AccessRunt);
    let t = w.access(&mut io, 0, &frame(FAR, [1, 0, 0, 0, 0, 1], 46));
    expect(t, DropReason::AccessSrcInvalid);
    let t = w.access(&mut io, 1, &tagged(&frame(FAR, H1, 46), 10));
    expect(t, DropReason::AccessVlanUnmapped);
    let t = w.access(&mut io, 0, &tagged(&tagged(&frame(FAR, H1, 46), 10), 20));
    expect(t, DropReason::AccessQinq);
    let t = w.access(&mut io, 0, &frame(FAR, H1, 1500));
    expect(t, DropReason::MtuExceeded);
    let t = w.access(&mut io, 0, &tagged(&frame([0xff; 6], H1, 46), 10));
    expect(t, DropReason::NoFloodTargets);
    let t = w.run(&mut io, |cx, io| {
        let mut p = Pkt::new(&frame(FAR, H1, 46));
        p.segs = 2;
        access_packet(cx, io, p, 0)
    });
    expect(t, DropReason::MultiSegment);
    let far = w.tunneled(Ipv4Addr::new(203, 0, 113, 9), 100, &frame(H1, H2, 46));
    let t = w.underlay(&mut io, &far);
    expect(t, DropReason::UnknownSource);
    let t = w.underlay(&mut io, &w.tunneled(PEER, 4242, &frame(H1, H2, 46)));
    expect(t, DropReason::VniUnknown);
    // A remote whose next hop is unresolved.
    let mut w = World::with(&CONFIG.replace("192.0.2.2\"\n", "192.0.2.77\"\n"));
    let mut io = rec();
    let t = w.access(&mut io, 0, &frame(FAR, H1, 46));
    expect(t, DropReason::NeighborUnresolved);
}

/// Each Geneve and NVGRE refusal, sent through the worker's path: counted
/// under its name, nothing delivered or punted. VNI 100 is Geneve, 200
/// NVGRE.
#[test]
fn every_geneve_and_nvgre_drop_is_counted_and_nothing_delivered() {
    let cfg = CONFIG
        .replace(
            "arp_suppress = true\n",
            "arp_suppress = true\nencap = \"geneve\"\n",
        )
        .replace(
            "[[vni]]\nid = 200\n",
            "[[vni]]\nid = 200\nencap = \"nvgre\"\n",
        );
    let mut w = World::with(&cfg);
    w.learned(100, H2, Target::Local(1));
    // VNI 200 is on VID 10 of port 0.
    w.learned(200, H2, Target::Local(0));
    let geneve = w.tunneled(PEER, 100, &frame(H2, FAR, 46));
    let nvgre = w.tunneled(PEER, 200, &frame(H2, FAR, 46));
    let set = |p: &[u8], at: usize, v: u8| {
        let mut q = p.to_vec();
        q[at] = v;
        q
    };
    let mut tagged_inner = frame(H2, FAR, 46);
    tagged_inner[12..14].copy_from_slice(&[0x81, 0]);
    // Geneve's header at 42, GRE's at 34 (past the IPv4 header: its
    // checksum stays right).
    let cases = [
        (set(&geneve, 42, 0x40), DropReason::GeneveBadVersion),
        (set(&geneve, 43, 0x40), DropReason::GeneveCriticalOption),
        (set(&geneve, 43, 0x80), DropReason::GeneveOam),
        (set(&geneve, 45, 0x59), DropReason::GeneveBadProtocol),
        (set(&geneve, 42, 0x3f), DropReason::GeneveTruncated),
        (set(&nvgre, 34, 0xa0), DropReason::NvgreFlags),
        (set(&nvgre, 34, 0x00), DropReason::NvgreFlags),
        (set(&nvgre, 35, 0x01), DropReason::NvgreVersion),
        (set(&nvgre, 36, 0x86), DropReason::NvgreProtocol),
        (w.tunneled(PEER, 200, &tagged_inner), DropReason::InnerVlan),
        // VNI 100 is Geneve: the same frame in GRE is another tunnel's.
        (set(&nvgre, 40, 100), DropReason::EncapMismatch),
    ];
    for (p, r) in cases {
        let mut io = rec();
        let t = w.underlay(&mut io, &p);
        assert_eq!((t.dropped, t.drops[r as usize]), (1, 1), "{r:?}: {t:?}");
        assert!(
            io.access.iter().all(|a| a.is_empty())
                && io.underlay.is_empty()
                && io.punted.is_empty(),
            "{r:?}: something left"
        );
    }
    // The packets they were made from are delivered.
    for p in [geneve, nvgre] {
        let mut io = rec();
        assert_eq!(w.underlay(&mut io, &p).forwarded, 1);
        assert_eq!(io.access.iter().map(Vec::len).sum::<usize>(), 1);
    }
}

/// VNI 100 limited to 1 Mbit/s (125 000 bytes/s, 16 000 bytes deep) and
/// 100 flooded frames a second; VNI 200 unlimited.
fn limited() -> World {
    let cfg = CONFIG.replace(
        "arp_suppress = true\n",
        "arp_suppress = true\nrate_mbps = 1\nburst_kb = 16\nflood_pps = 100\n",
    );
    let mut w = World::with(&cfg);
    w.learned(100, H2, Target::Local(1));
    w
}

#[test]
fn a_limited_vni_is_held_to_its_rate_in_each_direction() {
    let mut w = limited();
    let mut io = Rec {
        buffers: 100_000,
        ..rec()
    };
    let f = frame(FAR, H1, 986); // 1000 bytes
    let inner = frame(H2, FAR, 986);
    let v = w.vni(100) as usize;
    let (mut enc, mut dec) = (0, 0);
    // 1 s of 8 Mbit/s offered each way, 1 ms apart.
    for ms in 0..1000u64 {
        w.now_ns = ms * 1_000_000;
        enc += w.access(&mut io, 0, &f).forwarded;
        let o = w.tunneled(PEER, 100, &inner);
        dec += w.underlay(&mut io, &o).forwarded;
    }
    // The depth (16 KiB) plus a second at the rate, in 1000-byte frames.
    let want = (16 * 1024 + 125_000) / 1000;
    for (dir, got) in [("encap", enc), ("decap", dec)] {
        assert!(
            got.abs_diff(want) <= 3,
            "{dir}: {got} of 1000 passed, want {want}"
        );
    }
    let c = &w.stats.vnis[v];
    assert_eq!(c.policed_encap.get(), (1000 - enc, (1000 - enc) * 1000));
    assert_eq!(c.policed_decap.get(), (1000 - dec, (1000 - dec) * 1000));
    assert_eq!(c.encap.get().0, enc);
    assert_eq!(c.decap.get().0, dec);
}

#[test]
fn an_unlimited_vni_beside_a_limited_one_is_untouched() {
    let mut w = limited();
    let mut io = Rec {
        buffers: 100_000,
        ..rec()
    };
    // VNI 200 (VID 10 on port 0): known unicast to a remote, at one
    // instant, many times what VNI 100's bucket holds.
    w.learned(200, FAR, Target::Remote(0));
    let f = tagged(&frame(FAR, H1, 986), 10);
    for _ in 0..1000 {
        let t = w.access(&mut io, 0, &f);
        assert_eq!(t.forwarded, 1, "{t:?}");
    }
    let v = w.vni(200) as usize;
    assert_eq!(w.stats.vnis[v].policed_encap.get().0, 0);
}

#[test]
fn storm_control_drops_floods_over_the_limit_before_replication() {
    let mut w = limited();
    let mut io = Rec {
        buffers: 100_000,
        ..rec()
    };
    let bcast = frame([0xff; 6], H1, 46);
    let mut passed = 0;
    let mut storm = 0;
    // 1000 broadcasts in 100 ms: the 16-frame depth and 10 more pass.
    for i in 0..1000u64 {
        w.now_ns = i * 100_000;
        let t = w.access(&mut io, 0, &bcast);
        passed += t.forwarded;
        storm += t.drops[DropReason::StormControl as usize];
    }
    assert!((25..=27).contains(&passed), "{passed} passed");
    assert_eq!(passed + storm, 1000);
    // Each passed broadcast went to both remotes and the other port.
    let copies_out = io.underlay.len() as u64 + io.access[1].len() as u64;
    assert_eq!(copies_out, 3 * passed);
    let v = w.vni(100) as usize;
    assert_eq!(
        w.stats.vnis[v]
            .storm_dropped
            .load(std::sync::atomic::Ordering::Relaxed),
        storm
    );
    assert_eq!(w.stats.vnis[v].flood.get().0, passed);
}

#[test]
fn local_switching_and_arp_suppression_are_not_policed() {
    let mut w = limited();
    let mut io = Rec {
        buffers: 100_000,
        ..rec()
    };
    // Port 0 to H2 on port 1: never crosses the underlay.
    let f = frame(H2, H1, 986);
    for _ in 0..200 {
        assert_eq!(w.access(&mut io, 0, &f).forwarded, 1);
    }
    let v = w.vni(100) as usize;
    assert_eq!(w.stats.vnis[v].policed_encap.get().0, 0);
}

#[test]
fn a_run_from_one_host_is_looked_up_once_and_a_move_is_still_seen() {
    let mut w = World::new();
    let mut io = rec();
    w.learned(100, H1, Target::Local(0));
    let f = frame(FAR, H1, 46);
    // One burst: H1 where the FDB has it (port 0), then twice from port 1
    // (moved: an event each, the remembered source notwithstanding), then
    // port 0 again (where the FDB still has it: none).
    w.run(&mut io, |cx, io| {
        for port in [0, 0, 0, 1, 1, 0] {
            access_packet(cx, io, Pkt::new(&f), port);
        }
    });
    let v = w.vni(100);
    assert_learned(&w, v, H1, LearnAt::Local(1));
    assert_learned(&w, v, H1, LearnAt::Local(1));
    assert_eq!(w.events.pop(), None);
    // Its hit bit was set for aging.
    let marked: u32 = (0..w.hits.words())
        .map(|i| w.hits.take_word(i).count_ones())
        .sum();
    assert_eq!(marked, 1);
}

/// The fast paths ([`access_burst`]'s `encap_known`, [`underlay_burst`]'s
/// `decap_known`) against the general path ([`access_packet`],
/// [`underlay_packet`]), in worlds that set every per-VNI feature on VNI
/// 100 ([`Features`]): FAR2 behind an unresolved remote, FAR3 behind a
/// learned one (with learning), FAR6 behind a remote with an IPv6 header
/// on an IPv4 underlay; H2 static on port 0 (with static local entries).
mod known_unicast {
    use super::*;
    use crate::datapath::forward::{
        access_burst, decap_known, encap_known, underlay_burst, Known, Run,
    };
    use crate::datapath::state::State;

    const FAR2: [u8; 6] = [2, 0, 0, 0, 0, 0xbb];
    const FAR3: [u8; 6] = [2, 0, 0, 0, 0, 0xcc];
    const FAR6: [u8; 6] = [2, 0, 0, 0, 0, 0xdd];

    /// Every per-VNI setting a world can have, each on or off. A new
    /// per-VNI setting belongs here (and in [`config`]), so that both
    /// paths are held to one outcome with it.
    #[derive(Debug, Clone, Copy, Default)]
    pub(super) struct Features {
        learning: bool,
        suppress: bool,
        /// A rate limit that a few frames exhaust (see [`world`]).
        rate: bool,
        /// Storm control that lets one more flood pass.
        storm: bool,
        /// VNI 200 on VID 10 of port 0 (else of port 1).
        vlans: bool,
        /// An IPv6 underlay.
        v6: bool,
        /// Static entries on access ports.
        static_local: bool,
        /// VNI 100 in Geneve (else VXLAN).
        geneve: bool,
        /// VNI 200 in NVGRE (else VXLAN).
        nvgre: bool,
    }

    impl Features {
        const COUNT: u32 = 9;

        fn from_bits(b: u32) -> Features {
            let on = |i: u32| b & (1 << i) != 0;
            Features {
                learning: on(0),
                suppress: on(1),
                rate: on(2),
                storm: on(3),
                vlans: on(4),
                v6: on(5),
                static_local: on(6),
                geneve: on(7),
                nvgre: on(8),
            }
        }

        /// Every combination.
        fn all() -> impl Iterator<Item = Features> {
            (0..1 << Features::COUNT).map(Features::from_bits)
        }

        /// Learning as given, nothing else: the fast paths' own world.
        fn learning(learning: bool) -> Features {
            Features {
                learning,
                vlans: true,
                static_local: true,
                ..Features::default()
            }
        }

        /// Remote `n` of the underlay's family.
        fn peer(&self, n: u8) -> IpAddr {
            if self.v6 {
                IpAddr::V6(std::net::Ipv6Addr::new(
                    0x2001, 0xdb8, 0, 0, 0, 0, 0, n as u16,
                ))
            } else {
                IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
            }
        }
    }

    /// [`CONFIG`] with `f`'s settings: VNI 100 floods to .2 and .3, FAR
    /// behind .2, FAR2 behind the unresolved .4, FAR6 behind .5.
    fn config(f: Features) -> String {
        let Features {
            learning,
            suppress,
            rate,
            storm,
            vlans,
            v6,
            static_local,
            geneve,
            nvgre,
        } = f;
        let mut vni100 = format!("arp_suppress = {suppress}\nlearning = {learning}\n");
        if geneve {
            vni100.push_str("encap = \"geneve\"\n");
        }
        if rate {
            vni100.push_str("rate_mbps = 1\nburst_kb = 10\n");
        }
        if storm {
            vni100.push_str("flood_pps = 1\n");
        }
        let mut cfg = CONFIG.replace("arp_suppress = true\n", &vni100);
        if nvgre {
            cfg = cfg.replace(
                "[[vni]]\nid = 200\n",
                "[[vni]]\nid = 200\nencap = \"nvgre\"\n",
            );
        }
        if !vlans {
            cfg = cfg
                .replace("vni = 100\nvlans = { 10 = 200 }\n", "vni = 100\n")
                .replace(
                    "port = \"net_ring2\"\nvni = 100\n",
                    "port = \"net_ring2\"\nvni = 100\nvlans = { 10 = 200 }\n",
                );
        }
        cfg.push_str(
            "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:bb\"\nremote = \"192.0.2.4\"\n\
             [[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:dd\"\nremote = \"192.0.2.5\"\n",
        );
        if static_local {
            let port200 = if vlans { "net_ring1" } else { "net_ring2" };
            cfg.push_str(&format!(
                "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:02\"\nport = \"net_ring1\"\n\
                 [[fdb]]\nvni = 200\nmac = \"02:00:00:00:00:07\"\nport = \"{port200}\"\n",
            ));
        }
        if v6 {
            cfg = cfg
                .replace("192.0.2.1/24", "2001:db8::1/64")
                .replace("\"192.0.2.", "\"2001:db8::");
        }
        cfg
    }

    fn world(f: Features) -> World {
        let mut w = World::with_peers(&config(f), [f.peer(2), f.peer(3)]);
        let peer5 = f.peer(5);
        assert!(w.tables.learn_neighbor(peer5, [2, 0, 0, 0, 2, 5], 0));
        w.st = publish::build(&w.tables, 2);
        let r = |st: &State, ip: IpAddr| st.remote_index[&ip];
        let (r3, r5) = (r(&w.st, f.peer(3)), r(&w.st, peer5));
        if !f.v6 {
            let t6 = Template::new6(
                OUR_MAC,
                PEER_MAC,
                "2001:db8::1".parse().unwrap(),
                "2001:db8::5".parse().unwrap(),
                w.st.tunnels.get(0).unwrap(),
                64,
                false,
            );
            // VNI 100's tunnel is the first.
            w.st.remotes[r5 as usize].as_mut().unwrap().templates[0] = Some(t6);
        }
        // Bindings that ARP/ND suppression answers from, where it is on.
        let v100 = w.vni(100);
        w.st.arp.insert((v100, BOUND4.into()), H2);
        w.st.arp.insert((v100, BOUND6.into()), H2);
        // Learned entries, where learning is on.
        w.learned(100, FAR3, Target::Remote(r3));
        w.learned(100, H1, Target::Local(0));
        // The limits nearly spent, so that a burst meets them: one chunk
        // of each is left (640 bytes of the rate each way, one flood).
        if let Some(p) = &w.st.vni(w.vni(100)).unwrap().police {
            for l in [&p.encap, &p.decap, &p.flood].into_iter().flatten() {
                assert!(l.take(0, 15));
            }
        }
        w
    }

    /// An ARP reply from `src` (10.0.0.1) to `dst` (10.0.0.2): unicast,
    /// and snooped where ARP is suppressed.
    fn arp_reply(dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        Arp {
            oper: arp::REPLY,
            sha: src,
            spa: Ipv4Addr::new(10, 0, 0, 1),
            tha: dst,
            tpa: Ipv4Addr::new(10, 0, 0, 2),
        }
        .frame(dst, src)
    }

    /// Addresses bound to H2 in VNI 100.
    const BOUND4: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 9);
    const BOUND6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 9);

    /// A neighbour solicitation from H1 (2001:db8:5::1) for `target`.
    fn solicitation(target: std::net::Ipv6Addr) -> Vec<u8> {
        use crate::wire::icmpv6::{self, Nd};
        use crate::wire::ipv6;
        let group = ipv6::solicited_node(target);
        let nd = Nd {
            kind: icmpv6::NEIGHBOR_SOLICIT,
            flags: 0,
            target,
            lladdr: Some(H1),
        };
        let src = std::net::Ipv6Addr::new(0x2001, 0xdb8, 5, 0, 0, 0, 0, 1);
        icmpv6::frame(ipv6::multicast_mac(group), H1, src, group, 255, &nd.body())
    }

    /// A packet of `f` with `set` applied.
    fn with(f: Vec<u8>, set: impl Fn(&mut Pkt)) -> Pkt {
        let mut p = Pkt::new(&f);
        set(&mut p);
        p
    }

    /// Runs `path` on each of `pkts` alone: it must take exactly those
    /// named in `taken` (each received) and give back the others
    /// untouched, with nothing counted and no IPv4 identification used.
    fn takes_exactly(
        w: &mut World,
        io: &mut Rec,
        pkts: Vec<(&'static str, Pkt)>,
        taken: &[&str],
        mut path: impl FnMut(&mut Ctx<'_>, &mut Rec, Pkt) -> Option<Pkt>,
    ) {
        for (name, p) in pkts {
            let before = p.clone();
            let ids = w.ip_ids.0;
            let mut back = None;
            let t = w.run(io, |cx, io| back = path(cx, io, p));
            match back {
                None => {
                    assert!(taken.contains(&name), "{name}: taken");
                    assert_eq!(t.rx, 1, "{name}");
                }
                Some(p) => {
                    assert!(!taken.contains(&name), "{name}: given back");
                    assert_eq!(p.data(), before.data(), "{name}");
                    assert_eq!(t, Tally::default(), "{name}");
                    assert_eq!(w.ip_ids.0, ids, "{name}");
                }
            }
        }
    }

    /// Every kind of frame an access port can get, as (name, packet).
    fn frames() -> Vec<(&'static str, Pkt)> {
        let plain = |f: Vec<u8>| Pkt::new(&f);
        let h3 = [2, 0, 0, 0, 0, 3];
        let mut qinq = frame(FAR, H1, 46);
        qinq[12..14].copy_from_slice(&[0x88, 0xa8]);
        let big = frame(FAR, H1, 1500);
        // 28 bytes of headroom: too few for the outer header.
        let tight = {
            let f = frame(FAR, H1, 200);
            let mut b = VecBuf::new(&f[100..]);
            b.prepend(100).unwrap().copy_from_slice(&f[..100]);
            Pkt {
                buf: b,
                ..Pkt::new(&[])
            }
        };
        vec![
            ("known remote", plain(frame(FAR, H1, 46))),
            // 1464 bytes and 50 of VXLAN over IPv4: the 1500-byte MTU.
            ("the longest frame that fits", plain(frame(FAR, H1, 1450))),
            ("one byte over the MTU", plain(frame(FAR, H1, 1451))),
            // 1444 bytes and 70 of VXLAN over IPv6.
            (
                "the longest frame that fits IPv6",
                plain(frame(FAR, H1, 1430)),
            ),
            ("one byte over IPv6's MTU", plain(frame(FAR, H1, 1431))),
            ("known remote, new source", plain(frame(FAR, h3, 46))),
            (
                "known remote, NIC hash",
                with(frame(FAR, H1, 46), |p| p.hash = Some(0xabcd)),
            ),
            ("learned remote", plain(frame(FAR3, H2, 100))),
            ("known remote again", plain(frame(FAR, H1, 46))),
            ("ARP reply to a remote host", plain(arp_reply(FAR, H1))),
            (
                "ARP request for a bound address",
                plain(arp_request(H1, Ipv4Addr::new(10, 0, 0, 1), BOUND4)),
            ),
            (
                "solicitation for a bound address",
                plain(solicitation(BOUND6)),
            ),
            (
                "unknown destination",
                plain(frame([2, 0, 0, 0, 9, 9], H1, 46)),
            ),
            ("broadcast", plain(frame([0xff; 6], H1, 46))),
            ("multicast", plain(frame([1, 0, 0x5e, 0, 0, 1], H1, 46))),
            ("local, port 0", plain(frame(H2, h3, 46))),
            ("tagged VID 10", plain(tagged(&frame(FAR, H1, 46), 10))),
            ("priority tag", plain(tagged(&frame(FAR, H1, 46), 0))),
            ("unmapped VID", plain(tagged(&frame(FAR, H1, 46), 11))),
            ("QinQ", plain(qinq)),
            ("group source", plain(frame(FAR, [3, 0, 0, 0, 0, 1], 46))),
            ("zero source", plain(frame(FAR, [0; 6], 46))),
            ("over the MTU", plain(big)),
            ("unresolved remote", plain(frame(FAR2, H1, 46))),
            ("IPv6 remote", plain(frame(FAR6, H1, 46))),
            ("two segments", with(frame(FAR, H1, 46), |p| p.segs = 2)),
            ("runt", plain(frame(FAR, H1, 46)[..13].to_vec())),
            ("no headroom", tight),
        ]
    }

    /// A VNI's (packets, bytes) counts and its event counts.
    type VniCounts = ([(u64, u64); 5], [u64; 3]);

    /// Everything forwarding leaves behind.
    #[derive(Debug, PartialEq)]
    struct Outcome {
        tally: Tally,
        underlay: Vec<(Vec<u8>, bool)>,
        access: [Vec<(Vec<u8>, bool)>; 2],
        punted: Vec<Vec<u8>>,
        events: Vec<Event>,
        /// Encap, flood, decap, policed both ways; storm control, ARP
        /// and ND answered.
        vnis: Vec<VniCounts>,
        flood_copy_drops: u64,
        reserved_bits_seen: u64,
        remotes: Vec<[(u64, u64); 2]>,
        learn_events_dropped: u64,
        hits: Vec<u64>,
    }

    fn load(c: &std::sync::atomic::AtomicU64) -> u64 {
        c.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn outcome(w: &mut World, io: Rec, tally: Tally) -> Outcome {
        let n = w.st.remotes.len();
        Outcome {
            tally,
            underlay: io.underlay,
            access: io.access,
            punted: io.punted,
            events: std::iter::from_fn(|| w.events.pop()).collect(),
            vnis: [100, 200]
                .map(|v| {
                    let c = &w.stats.vnis[w.vni(v) as usize];
                    let counts = [
                        &c.encap,
                        &c.flood,
                        &c.decap,
                        &c.policed_encap,
                        &c.policed_decap,
                    ];
                    let answered = [&c.storm_dropped, &c.arp_suppressed, &c.nd_suppressed];
                    (counts.map(|x| x.get()), answered.map(load))
                })
                .to_vec(),
            remotes: w.stats.remotes[..n]
                .iter()
                .map(|c| [c.tx.get(), c.rx.get()])
                .collect(),
            flood_copy_drops: load(&w.stats.flood_copy_drops),
            reserved_bits_seen: load(&w.stats.reserved_bits_seen),
            learn_events_dropped: load(&w.stats.learn_events_dropped),
            hits: (0..w.hits.words()).map(|i| w.hits.take_word(i)).collect(),
        }
    }

    /// `frames` from `port` in one burst, by [`access_burst`] or one by
    /// one by [`access_packet`].
    fn forward(f: Features, port: u16, burst: bool) -> Outcome {
        let mut w = world(f);
        w.ip_ids = IpIds::for_worker(1);
        let mut io = Rec {
            buffers: 1000,
            ..rec()
        };
        let pkts = frames().into_iter().map(|(_, p)| p);
        let t = w.run(&mut io, |cx, io| {
            if burst {
                access_burst(cx, io, pkts, port);
            } else {
                for m in pkts {
                    access_packet(cx, io, m, port);
                }
            }
        });
        outcome(&mut w, io, t)
    }

    /// Every kind of packet the underlay port can get, as (name, packet).
    fn packets(w: &World) -> Vec<(&'static str, Pkt)> {
        let plain = |f: Vec<u8>| Pkt::new(&f);
        let h7 = [2, 0, 0, 0, 0, 7];
        let v6 = w.st.our_ip.is_ipv6();
        let f = Features {
            v6,
            ..Features::default()
        };
        let (peer, peer3) = (f.peer(2), f.peer(3));
        let stranger = f.peer(9);
        // The outer IPv4 checksum, or the UDP one; the UDP destination port.
        let (csum, port) = if v6 { (60, 57) } else { (24, 37) };
        let to_h2 = w.tunneled(peer, 100, &frame(H2, FAR, 46));
        let edit = |at: usize, b: u8| {
            let mut p = to_h2.clone();
            p[at] = b;
            p
        };
        // A reserved byte of the VXLAN header set; over IPv6 the UDP
        // checksum covering it is made right again.
        let reserved = if v6 {
            let mut p = edit(63, 1);
            p[60..62].fill(0);
            let ip = crate::wire::Ipv6Packet::new_checked(&p[14..]).unwrap();
            let c = crate::wire::csum_fold(crate::wire::csum_add(
                ip.pseudo_sum(ip.payload_len(), crate::wire::PROTO_UDP),
                ip.payload(),
            ));
            p[60..62].copy_from_slice(&c.to_be_bytes());
            p
        } else {
            edit(43, 1)
        };
        vec![
            ("to a local host", plain(to_h2.clone())),
            (
                "checksum vouched",
                with(to_h2.clone(), |p| p.csum = RxCsum::Good),
            ),
            (
                "from another remote",
                plain(w.tunneled(peer3, 100, &frame(H2, FAR, 100))),
            ),
            (
                "to a learned host",
                plain(w.tunneled(peer, 100, &frame(H1, FAR, 46))),
            ),
            (
                "tagged on its port",
                plain(w.tunneled(peer, 200, &frame(h7, FAR, 46))),
            ),
            ("reserved bits", plain(reserved)),
            ("to a local host again", plain(to_h2.clone())),
            (
                "from a stranger",
                plain(w.tunneled(stranger, 100, &frame(H2, FAR, 46))),
            ),
            (
                "broadcast",
                plain(w.tunneled(peer, 100, &frame([0xff; 6], FAR, 46))),
            ),
            (
                "unknown destination",
                plain(w.tunneled(peer, 100, &frame([2, 0, 0, 0, 9, 9], FAR, 46))),
            ),
            (
                "to a remote host",
                plain(w.tunneled(peer, 100, &frame(FAR3, FAR, 46))),
            ),
            (
                "unknown VNI",
                plain(w.tunneled(peer, 999, &frame(H2, FAR, 46))),
            ),
            ("bad checksum", plain(edit(csum, 0xee))),
            (
                "checksum refused",
                with(to_h2.clone(), |p| p.csum = RxCsum::Bad),
            ),
            ("other UDP port", plain(edit(port, 0xb6))),
            (
                "inner tag",
                plain(w.tunneled(peer, 100, &tagged(&frame(H2, FAR, 46), 10))),
            ),
            (
                "group inner source",
                plain(w.tunneled(peer, 100, &frame(H2, [3, 0, 0, 0, 0, 1], 46))),
            ),
            ("two segments", with(to_h2.clone(), |p| p.segs = 2)),
            ("runt", plain(to_h2[..40].to_vec())),
            (
                "ARP reply from a remote host",
                plain(w.tunneled(peer, 100, &arp_reply(H2, FAR))),
            ),
            (
                "ARP",
                plain(arp_request(PEER_MAC, PEER, Ipv4Addr::new(192, 0, 2, 1))),
            ),
        ]
    }

    /// `packets` from the underlay in one burst, by [`underlay_burst`] or
    /// one by one by [`underlay_packet`].
    fn decap(f: Features, burst: bool) -> Outcome {
        let mut w = world(f);
        let mut io = Rec {
            buffers: 1000,
            ..rec()
        };
        let pkts = packets(&w).into_iter().map(|(_, p)| p);
        let t = w.run(&mut io, |cx, io| {
            if burst {
                underlay_burst(cx, io, pkts);
            } else {
                for m in pkts {
                    underlay_packet(cx, io, m);
                }
            }
        });
        outcome(&mut w, io, t)
    }

    /// One of `kinds` with up to four bytes among its first 80 changed:
    /// mostly near misses of the paths' checks.
    fn mutated(kinds: Vec<(&'static str, Pkt)>, pick: usize, edits: &[(usize, u8)]) -> Pkt {
        let (_, p) = &kinds[pick % kinds.len()];
        let mut b = p.data().to_vec();
        for &(at, v) in edits {
            if let Some(x) = b.get_mut(at % 80) {
                *x = v;
            }
        }
        Pkt {
            buf: VecBuf::new(&b),
            ..p.clone()
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(300))]

        /// Bursts of edited frames and packets, in worlds of every
        /// combination of per-VNI features: both ways of forwarding leave
        /// the same outcome and the same counters.
        #[test]
        fn edited_traffic_takes_either_path_with_one_outcome(
            picks in proptest::collection::vec(
                (0usize..64, proptest::collection::vec((0usize..80, proptest::prelude::any::<u8>()), 0..4)),
                1..8,
            ),
            features in 0u32..1 << Features::COUNT,
            port in 0u16..2,
        ) {
            let f = Features::from_bits(features);
            let run = |burst: bool, access: bool| {
                let mut w = world(f);
                let pkts: Vec<Pkt> = picks
                    .iter()
                    .map(|(i, e)| mutated(if access { frames() } else { packets(&w) }, *i, e))
                    .collect();
                let mut io = Rec { buffers: 1000, ..rec() };
                let t = w.run(&mut io, |cx, io| match (access, burst) {
                    (true, true) => access_burst(cx, io, pkts.into_iter(), port),
                    (true, false) => pkts.into_iter().for_each(|m| access_packet(cx, io, m, port)),
                    (false, true) => underlay_burst(cx, io, pkts.into_iter()),
                    (false, false) => pkts.into_iter().for_each(|m| underlay_packet(cx, io, m)),
                });
                outcome(&mut w, io, t)
            };
            for access in [true, false] {
                proptest::prop_assert_eq!(run(true, access), run(false, access), "access {}, {:?}", access, f);
            }
        }
    }

    /// The decap path remembers local destinations across bursts; every
    /// FDB change between bursts (a move to another port, a move behind a
    /// remote, a removal) shows in the next burst.
    #[test]
    fn remembered_destinations_follow_every_fdb_change() {
        let mut w = world(Features::learning(true));
        let p = w.tunneled(PEER, 100, &frame(H1, [2, 0, 0, 0, 0, 0x77], 46));
        let mut io = rec();
        let burst = |w: &mut World, io: &mut Rec| {
            let t = w.run(io, |cx, io| {
                underlay_burst(cx, io, std::iter::once(Pkt::new(&p)))
            });
            let got = [io.access[0].len(), io.access[1].len()];
            io.access.iter_mut().for_each(Vec::clear);
            (got, t.forwarded)
        };
        // Looked up, then remembered.
        assert_eq!(burst(&mut w, &mut io), ([1, 0], 1));
        assert_eq!(burst(&mut w, &mut io), ([1, 0], 1));
        w.learned(100, H1, Target::Local(1));
        assert_eq!(burst(&mut w, &mut io), ([0, 1], 1), "moved to port 1");
        assert_eq!(burst(&mut w, &mut io), ([0, 1], 1));
        let r3 = w.st.remote_index[&std::net::IpAddr::V4(PEER3)];
        w.learned(100, H1, Target::Remote(r3));
        assert_eq!(burst(&mut w, &mut io).0, [0, 0], "moved behind a remote");
        let v = w.vni(100);
        assert!(w.tables.fdb.remove(v, H1));
        assert_eq!(burst(&mut w, &mut io), ([1, 1], 1), "unknown: flooded");
    }

    #[test]
    fn an_underlay_burst_forwards_counts_and_learns_as_packet_by_packet() {
        for f in Features::all() {
            let fast = decap(f, true);
            let slow = decap(f, false);
            assert_eq!(fast, slow, "{f:?}");
            assert_eq!(fast.tally.rx, 21);
            assert!(fast.access[0].len() >= 3, "{f:?}: {:?}", fast.tally);
        }
    }

    #[test]
    fn decap_takes_known_unicast_and_gives_back_the_rest_untouched() {
        for (learning, v6) in [(true, false), (false, false), (true, true), (false, true)] {
            let mut w = world(Features {
                v6,
                ..Features::learning(learning)
            });
            let mut taken = vec![
                "ARP reply from a remote host",
                "to a local host",
                "checksum vouched",
                "from another remote",
                "tagged on its port",
                "reserved bits",
                "to a local host again",
            ];
            if learning {
                taken.push("to a learned host");
            }
            let mut io = rec();
            let mut run = Run::default();
            let pkts = packets(&w);
            takes_exactly(&mut w, &mut io, pkts, &taken, |cx, io, p| {
                if v6 {
                    decap_known::<_, true>(cx, io, p, &mut run).err()
                } else {
                    decap_known::<_, false>(cx, io, p, &mut run).err()
                }
            });
            let n = 7 + usize::from(learning);
            assert_eq!(io.access[0].len(), n);
            // The tagged one left with its VID.
            assert!(io.access[0]
                .iter()
                .any(|(f, _)| f[12..16] == [0x81, 0, 0, 10]));
            assert_eq!(
                w.stats
                    .reserved_bits_seen
                    .load(std::sync::atomic::Ordering::Relaxed),
                1
            );
            // Decap counters wait for the run's end.
            assert_eq!(w.stats.vnis[w.vni(200) as usize].decap.get().0, 1);
            // The ARP reply's sender was not snooped (no suppression).
            // FAR is static in VNI 100 only, and VNI 200 learns.
            let peer = Features {
                v6,
                ..Features::default()
            }
            .peer(2);
            assert_learned(&w, w.vni(200), FAR, LearnAt::Remote(peer));
            assert_eq!(w.events.pop(), None);
        }
    }

    /// Over IPv6 the NIC's verdict is on the UDP checksum: `Good` skips
    /// the software check, `Bad` drops as `udp_bad_checksum`, on the
    /// known-unicast path and the general one alike.
    #[test]
    fn the_nics_udp_checksum_verdict_over_ipv6() {
        let f = Features {
            v6: true,
            ..Features::learning(false)
        };
        let mut w = world(f);
        let good = w.tunneled(f.peer(2), 100, &frame(H2, FAR, 46));
        let mut corrupt = good.clone();
        corrupt[60] ^= 0xff; // the outer UDP checksum
        let with = |b: &[u8], csum| Pkt {
            csum,
            ..Pkt::new(b)
        };
        let t = w.underlay(&mut rec(), &corrupt);
        assert_eq!(t.drops[DropReason::UdpChecksum as usize], 1, "{t:?}");
        for known in [false, true] {
            let go = |w: &mut World, p: Pkt| {
                let mut run = Run::default();
                w.run(&mut rec(), |cx, io| {
                    if known {
                        if let Err(p) = decap_known::<_, true>(cx, io, p, &mut run) {
                            underlay_packet(cx, io, p);
                        }
                    } else {
                        underlay_packet(cx, io, p);
                    }
                })
            };
            let t = go(&mut w, with(&corrupt, RxCsum::Good));
            assert_eq!(t.forwarded, 1, "known path {known}: {t:?}");
            let t = go(&mut w, with(&good, RxCsum::Bad));
            assert_eq!(
                t.drops[DropReason::UdpChecksum as usize],
                1,
                "known path {known}: {t:?}"
            );
        }
        // A zero checksum is the tunnel's choice (RFC 6935), whatever a
        // NIC that counts zero as wrong says of it.
        let mut zero = good.clone();
        zero[60..62].fill(0);
        let t = w.run(&mut rec(), |cx, io| {
            underlay_packet(cx, io, with(&zero, RxCsum::Bad))
        });
        assert_eq!(t.forwarded, 1, "{t:?}");
    }

    #[test]
    fn a_burst_forwards_counts_and_learns_as_frame_by_frame() {
        for f in Features::all() {
            for port in [0, 1] {
                let fast = forward(f, port, true);
                let slow = forward(f, port, false);
                assert_eq!(fast, slow, "{f:?}, port {port}");
                // The known remotes were reached (not a vacuous match).
                assert_eq!(fast.tally.rx, frames().len() as u64);
                assert!(fast.underlay.len() >= 3, "{f:?}: {:?}", fast.tally);
                // Suppression answered the ARP request and the solicitation.
                let want = u64::from(f.suppress);
                assert_eq!(fast.vnis[0].1[1..], [want, want], "{f:?}, port {port}");
            }
        }
    }

    /// The fast paths serve a VNI unless one of its settings asks for
    /// work they do not do: ARP suppression either way, a rate limit in
    /// that direction; storm control limits only floods.
    #[test]
    fn the_fast_paths_a_vni_may_take_follow_its_settings() {
        for f in Features::all() {
            let w = world(f);
            let fast = w.st.vni(w.vni(100)).unwrap().fast();
            let want = !f.suppress && !f.rate;
            assert_eq!((fast.encap, fast.decap), (want, want), "{f:?}");
            let vni200 = w.st.vni(w.vni(200)).unwrap().fast();
            assert!(vni200.encap && vni200.decap, "{f:?}");
        }
    }

    #[test]
    fn it_takes_known_unicast_and_gives_back_the_rest_untouched() {
        for (learning, v6) in [(true, false), (false, false), (true, true), (false, true)] {
            let f = Features {
                v6,
                ..Features::learning(learning)
            };
            let mut w = world(f);
            for off in [
                Features {
                    suppress: true,
                    ..f
                },
                Features { rate: true, ..f },
            ] {
                assert!(Known::of(&world(off).st, 0).is_none(), "{off:?}");
            }
            assert!(Known::of(&world(Features { storm: true, ..f }).st, 0).is_some());
            let k = Known::of(&w.st, 0).unwrap();
            let mut taken = vec![
                "ARP reply to a remote host",
                "known remote",
                "the longest frame that fits IPv6",
                "known remote, new source",
                "known remote, NIC hash",
                "known remote again",
                "no headroom",
            ];
            if v6 {
                // Remote 5 is one more IPv6 remote here, not the odd one.
                taken.push("IPv6 remote");
            } else {
                taken.extend(["the longest frame that fits", "one byte over IPv6's MTU"]);
            }
            if learning {
                taken.push("learned remote");
            }
            let mut io = rec();
            let mut enc = crate::datapath::stats::Sum::default();
            takes_exactly(&mut w, &mut io, frames(), &taken, |cx, io, p| {
                match (learning, v6) {
                    (true, false) => encap_known::<_, true, false>(cx, io, p, k, &mut enc),
                    (false, false) => encap_known::<_, false, false>(cx, io, p, k, &mut enc),
                    (true, true) => encap_known::<_, true, true>(cx, io, p, k, &mut enc),
                    (false, true) => encap_known::<_, false, true>(cx, io, p, k, &mut enc),
                }
                .err()
            });
            assert_eq!(enc.packets, taken.len() as u64 - 1, "v6 {v6}");
            // Forwarded: those with headroom; the last dropped for lack of it.
            assert_eq!(io.underlay.len(), taken.len() - 1, "v6 {v6}");
            if v6 {
                // Every packet sent left in IPv6 (ethertype 86dd).
                assert!(io.underlay.iter().all(|(p, _)| p[12..14] == [0x86, 0xdd]));
            }
            if learning {
                assert_learned(&w, w.vni(100), [2, 0, 0, 0, 0, 3], LearnAt::Local(0));
            }
            assert_eq!(w.events.pop(), None);
        }
    }
}

/// [`CONFIG`] with VNI 100 in group 239.1.1.100 (flood list kept) and VNI
/// 200 in group 239.1.1.200 alone; `mcast_ttl = 3`.
fn group_config() -> String {
    CONFIG
        .replace(
            "flood = [\"192.0.2.2\", \"192.0.2.3\"]\n",
            "flood = [\"192.0.2.2\"]\ngroup = \"239.1.1.100\"\n",
        )
        .replace(
            "[[vni]]\nid = 200\n",
            "[[vni]]\nid = 200\ngroup = \"239.129.1.200\"\n",
        )
        .replace("mtu = 1500\n", "mtu = 1500\nmcast_ttl = 3\n")
}

/// RFC 7348 §4.2: a BUM frame leaves once to the VNI's group, at its
/// mapped MAC and `mcast_ttl`, and once to each flood-list VTEP.
#[test]
fn bum_frames_leave_once_to_the_group_and_to_the_flood_list() {
    let mut w = World::with(&group_config());
    let mut io = rec();
    let f = frame([0xff; 6], H1, 46);
    let t = w.access(&mut io, 0, &f);
    assert_eq!((t.forwarded, t.flood_copies), (1, 2), "{t:?}");
    let mut outs: Vec<(Ipv4Addr, [u8; 6], u8)> = io
        .underlay
        .iter()
        .map(|(o, _)| (dst_ip(o), o[..6].try_into().unwrap(), o[22]))
        .collect();
    outs.sort();
    assert_eq!(
        outs,
        [
            (PEER, PEER_MAC, 64),
            (Ipv4Addr::new(239, 1, 1, 100), [1, 0, 0x5e, 1, 1, 100], 3),
        ]
    );
    // Counted once, as sent to the group.
    let v100 = w.vni(100) as usize;
    assert_eq!(w.stats.vnis[v100].group.get(), (1, f.len() as u64));
    assert_eq!(w.stats.vnis[v100].flood.get(), (1, f.len() as u64));
    // Every copy carries the frame, and the group's is well-formed.
    for (o, _) in &io.underlay {
        assert_eq!(&o[OUTER4_LEN..], &f[..]);
        assert!(Ipv4Packet::new_checked(&o[14..]).unwrap().checksum_ok());
    }
    // VNI 200 (tagged on port 0, VID 10): the group alone; 239.129.x maps
    // to the same MAC as 239.1.x (the low 23 bits).
    let mut io = rec();
    let t = w.access(&mut io, 0, &tagged(&frame([0xff; 6], H1, 46), 10));
    assert_eq!((t.forwarded, t.flood_copies), (1, 1), "{t:?}");
    assert_eq!(
        io.buffers, 64,
        "one way out: the frame itself went, no copy"
    );
    assert_eq!(dst_ip(&io.underlay[0].0), Ipv4Addr::new(239, 129, 1, 200));
    assert_eq!(io.underlay[0].0[..6], [1, 0, 0x5e, 1, 1, 200]);
}

/// VXLAN to a group of ours, at its MAC, is received and its source
/// learned as for unicast; any other multicast is not ours.
#[test]
fn vxlan_to_a_group_is_received_and_nothing_else_multicast() {
    let mut w = World::with(&group_config());
    let inner = frame([0xff; 6], FAR, 46);
    let to_group = |w: &World, ip: Ipv4Addr, mac: [u8; 6]| {
        let mut p = w.tunneled(PEER, 100, &inner);
        p[..6].copy_from_slice(&mac);
        p[30..34].copy_from_slice(&ip.octets());
        Ipv4Packet::new_checked(&mut p[14..])
            .unwrap()
            .fill_checksum();
        p
    };
    let g = Ipv4Addr::new(239, 1, 1, 100);
    let gmac = [1, 0, 0x5e, 1, 1, 100];
    let mut io = rec();
    let t = w.underlay(&mut io, &to_group(&w, g, gmac));
    assert_eq!(t.forwarded, 1, "{t:?}");
    assert_eq!(
        io.access[0].len() + io.access[1].len(),
        2,
        "flooded locally"
    );
    // The other VNI's group is ours too (one receive for all, as Linux).
    let t = w.underlay(
        &mut rec(),
        &to_group(&w, Ipv4Addr::new(239, 129, 1, 200), [1, 0, 0x5e, 1, 1, 200]),
    );
    assert_eq!(t.forwarded, 1, "{t:?}");
    // A group that is not ours, or ours at the wrong MAC.
    for (ip, mac) in [
        (Ipv4Addr::new(239, 1, 1, 101), [1, 0, 0x5e, 1, 1, 101]),
        (g, [1, 0, 0x5e, 1, 1, 101]),
    ] {
        let t = w.underlay(&mut rec(), &to_group(&w, ip, mac));
        assert_eq!(
            t.drops[DropReason::UnderlayNotOurMac as usize],
            1,
            "{ip}: {t:?}"
        );
    }
    // Not a tunnel: the group carries tunnels only.
    let mut p = to_group(&w, g, gmac);
    p[37] = 0x99; // UDP port 4761
    let t = w.underlay(&mut rec(), &p);
    assert_eq!(t.drops[DropReason::UdpPort as usize], 1, "{t:?}");
    // Without groups a multicast MAC is not ours at all.
    let mut plain = World::new();
    let t = plain.underlay(&mut rec(), &to_group(&plain, g, gmac));
    assert_eq!(t.drops[DropReason::UnderlayNotOurMac as usize], 1, "{t:?}");
}

/// IGMP queries (to all systems, or to a VNI's group) reach the
/// management thread when the VTEP has groups; without groups they are
/// not its business.
#[test]
fn membership_queries_are_punted_when_the_vtep_has_groups() {
    use crate::wire::igmp;
    // A general query as a bridge's querier sends it: IGMPv3 report
    // framing reused for the header, the message made a query.
    let query = |dst: Ipv4Addr| {
        let mut f = igmp::frames(
            igmp::Version::Igmp2,
            igmp::Report::Current,
            &[IpAddr::V4(dst)],
            PEER_MAC,
            IpAddr::V4(PEER),
        )
        .remove(0);
        let m = &mut f[ETH_LEN + 24..];
        m[0] = 0x11;
        m[1] = 100;
        if dst == igmp::ALL_SYSTEMS {
            m[4..8].fill(0);
        }
        m[2..4].fill(0);
        let c = crate::wire::checksum(m);
        m[2..4].copy_from_slice(&c.to_be_bytes());
        f
    };
    let mut w = World::with(&group_config());
    for dst in [igmp::ALL_SYSTEMS, Ipv4Addr::new(239, 1, 1, 100)] {
        let mut io = rec();
        let t = w.underlay(&mut io, &query(dst));
        assert_eq!(t.punted, 1, "{dst}: {t:?}");
        assert!(igmp::parse_query(&io.punted[0]).is_some());
    }
    // Not to a group of ours.
    let t = w.underlay(&mut rec(), &query(Ipv4Addr::new(239, 1, 1, 7)));
    assert_eq!(t.drops[DropReason::UnderlayNotOurMac as usize], 1, "{t:?}");
    // Other traffic to all systems is not taken.
    let mut ping = query(igmp::ALL_SYSTEMS);
    ping[ETH_LEN + 9] = 1;
    Ipv4Packet::new_checked(&mut ping[ETH_LEN..])
        .unwrap()
        .fill_checksum();
    let t = w.underlay(&mut rec(), &ping);
    assert_eq!(t.drops[DropReason::UnderlayProto as usize], 1, "{t:?}");
    // Without groups, as before.
    let mut plain = World::new();
    let t = plain.underlay(&mut rec(), &query(igmp::ALL_SYSTEMS));
    assert_eq!(t.drops[DropReason::UnderlayNotOurMac as usize], 1, "{t:?}");
}

/// Storm control counts a group VNI's BUM frame once, before it leaves
/// for the group and the flood list.
#[test]
fn storm_control_counts_a_group_vnis_frame_once() {
    let cfg = group_config().replace(
        "group = \"239.1.1.100\"\n",
        "group = \"239.1.1.100\"\nflood_pps = 100\n",
    );
    let mut w = World::with(&cfg);
    let mut io = Rec {
        buffers: 100_000,
        ..rec()
    };
    let bcast = frame([0xff; 6], H1, 46);
    let (mut passed, mut storm) = (0, 0);
    for i in 0..1000u64 {
        w.now_ns = i * 100_000;
        let t = w.access(&mut io, 0, &bcast);
        passed += t.forwarded;
        storm += t.drops[DropReason::StormControl as usize];
    }
    assert!((25..=27).contains(&passed), "{passed} passed");
    assert_eq!(passed + storm, 1000);
    // Each passed frame: once to the group, once to 192.0.2.2.
    let to_group = io
        .underlay
        .iter()
        .filter(|(o, _)| dst_ip(o) == Ipv4Addr::new(239, 1, 1, 100))
        .count() as u64;
    assert_eq!((to_group, io.underlay.len() as u64), (passed, 2 * passed));
    let v = w.vni(100) as usize;
    assert_eq!(w.stats.vnis[v].group.get().0, passed);
    assert_eq!(w.stats.vnis[v].flood.get().0, passed);
}

//! RFC 7348 §4.2 against the Linux kernel: VNI 100 in multicast group
//! 239.1.1.100. k1 (on the router's bridge) is a kernel VTEP with
//! `group 239.1.1.100 dev ...` and knows nothing of vtepd; k2 (behind the
//! router, which routes no multicast) is on vtepd's flood list. A
//! broadcast from t0 leaves vtepd once to the group and once to k2; k1's
//! broadcasts reach vtepd through the group; unicast then flows point to
//! point. The bridge does no IGMP snooping (vtepd sends no reports yet).
use std::net::Ipv4Addr;

use vtep_lab::{Lab, LabOptions};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 1, 1, 100);
const VTEPD: [u8; 4] = [192, 0, 2, 1];
const K1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
const K2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);

/// A VXLAN packet seen on vtepd's underlay link.
struct Seen {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    dst_mac: [u8; 6],
    ttl: u8,
    inner_dst: [u8; 6],
    inner_type: u16,
}

fn parse(f: &[u8]) -> Option<Seen> {
    // Ethernet 14, IPv4 20, UDP 8, VXLAN 8, then the inner frame.
    let ip = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
    (f.len() >= 64 && f[12..14] == [8, 0] && f[14] == 0x45).then(|| Seen {
        src: ip(26),
        dst: ip(30),
        dst_mac: f[..6].try_into().unwrap(),
        ttl: f[22],
        inner_dst: f[50..56].try_into().unwrap(),
        inner_type: u16::from_be_bytes([f[62], f[63]]),
    })
}

#[test]
fn bum_frames_go_through_the_group_to_a_kernel_vtep_and_back() {
    let lab = Lab::new(LabOptions {
        group: Some(GROUP.to_string()),
        ..LabOptions::default()
    });
    let v = &lab.ctl(&["vni", "show"]);
    let v100 = v
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == 100))
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(v100["group"], GROUP.to_string(), "{v100}");
    assert!(
        v100["flood_sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["remote"] == GROUP.to_string() && e["source"] == "group"),
        "{v100}"
    );
    let ul = lab.underlay_capture_iface();
    let cap = lab.capture("ul", &ul, "udp port 4789");
    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "t0 -> t1 (k1, through the group)\n{}",
        lab.log()
    );
    assert!(
        lab.ping("t0", "10.0.0.12", 20),
        "t0 -> t2 (k2, head-end)\n{}",
        lab.log()
    );
    // k1's own broadcast: t1 forgets t0 and asks again, to the group.
    lab.must_exec("t1", "ip neigh flush all");
    assert!(lab.ping("t1", "10.0.0.10", 10), "t1 -> t0\n{}", lab.log());
    let seen: Vec<Seen> = cap.frames().iter().filter_map(|f| parse(f)).collect();
    let bcast_out: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.src.octets() == VTEPD && s.inner_dst == [0xff; 6])
        .collect();
    let to_group = bcast_out.iter().filter(|s| s.dst == GROUP).count();
    let to_k2 = bcast_out.iter().filter(|s| s.dst == K2).count();
    // Each broadcast leaves once to the group and once to k2, never to
    // k1 by its own address.
    assert!(to_group >= 2, "ARP requests for t1 and t2: {to_group}");
    assert_eq!(to_group, to_k2, "one group copy per head-end copy");
    assert_eq!(bcast_out.len(), to_group + to_k2);
    for s in bcast_out.iter().filter(|s| s.dst == GROUP) {
        assert_eq!(s.dst_mac, [1, 0, 0x5e, 1, 1, 100]);
        assert_eq!(s.ttl, 1, "mcast_ttl's default keeps it on the link");
        assert_eq!(s.inner_type, 0x0806);
    }
    // k1 sent its broadcast to the group, and vtepd took it: t1's ARP
    // request was answered.
    assert!(
        seen.iter()
            .any(|s| s.src == K1 && s.dst == GROUP && s.inner_dst == [0xff; 6]),
        "k1 floods to the group"
    );
    // Unicast is point to point both ways once learned.
    let uni = |from: Ipv4Addr, to: Ipv4Addr| {
        seen.iter()
            .filter(|s| s.src == from && s.dst == to && s.inner_type == 0x0800)
            .count()
    };
    let vtepd = Ipv4Addr::from(VTEPD);
    assert!(
        uni(vtepd, K1) > 0 && uni(K1, vtepd) > 0,
        "unicast to and from k1"
    );
    assert_eq!(
        seen.iter()
            .filter(|s| s.dst == GROUP && s.inner_type == 0x0800)
            .count(),
        0,
        "no IPv4 tenant traffic to the group"
    );
    // k1 became a remote by learning (accept_unknown_sources).
    let st = lab.ctl(&["stats"]);
    assert_eq!(st["drops"]["unknown_source_vtep"], 0, "{}", st["drops"]);
}

//! RFC 7348 §4.2 against the Linux kernel: VNI 100 in a multicast group.
//! k1 and k3 (on the router's bridge) are kernel VTEPs with `group ...
//! dev ...` and know nothing of vtepd; k2 (behind the router, which
//! routes no multicast) is on vtepd's flood list. The bridge snoops IGMP and MLD
//! and is the link's querier (every 2 s, answers within 1 s): it forwards
//! the group only to ports that joined it and prunes a member that stops
//! answering within 5 s, so every packet vtepd receives through the group
//! proves its reports. A broadcast from t0 leaves vtepd once to the group
//! (reaching the tenants behind both k1 and k3) and once to k2; k1's
//! broadcasts reach vtepd through the group; unicast then flows point to
//! point, iperf3 both ways; a reload that removes the group sends a leave
//! and the bridge drops vtepd's port.
use std::net::IpAddr;
use std::time::Duration;

use vtep_lab::{iperf, wait_for, Lab, LabOptions};

/// A VXLAN packet seen on vtepd's underlay link.
#[derive(Debug)]
struct Seen {
    src: IpAddr,
    dst: IpAddr,
    dst_mac: [u8; 6],
    ttl: u8,
    inner_dst: [u8; 6],
    inner_type: u16,
    /// The target address of an inner ARP request.
    arp_target: Option<[u8; 4]>,
}

fn parse(f: &[u8]) -> Option<Seen> {
    let (src, dst, ttl, inner) = match f.get(12..14)? {
        // Ethernet 14, IPv4 20 or IPv6 40, UDP 8, VXLAN 8.
        [8, 0] if f[14] == 0x45 => {
            let a = |at: usize| IpAddr::from(<[u8; 4]>::try_from(&f[at..at + 4]).unwrap());
            (a(26), a(30), f[22], 50)
        }
        [0x86, 0xdd] => {
            let a = |at: usize| IpAddr::from(<[u8; 16]>::try_from(&f[at..at + 16]).unwrap());
            (a(22), a(38), f[21], 70)
        }
        _ => return None,
    };
    let h = f.get(inner..inner + 14)?;
    let arp = f
        .get(inner..inner + 42)
        .filter(|a| a[12..14] == [8, 6] && a[21] == 1);
    Some(Seen {
        arp_target: arp.map(|a| a[38..42].try_into().unwrap()),
        src,
        dst,
        dst_mac: f[..6].try_into().unwrap(),
        ttl,
        inner_dst: h[..6].try_into().unwrap(),
        inner_type: u16::from_be_bytes([h[12], h[13]]),
    })
}

/// The whole scenario over one underlay family.
fn group_scenario(ipv6: bool, group: &str, group_mac: [u8; 6], underlay_extra: &str) {
    let lab = Lab::new(LabOptions {
        group: Some(group.into()),
        ipv6,
        underlay_extra: underlay_extra.into(),
        ..LabOptions::default()
    });
    let g: IpAddr = group.parse().unwrap();
    let a = lab.addrs();
    let (vtepd, k1, k2): (IpAddr, IpAddr, IpAddr) = (
        a.vtep.parse().unwrap(),
        a.k1.parse().unwrap(),
        a.k2.parse().unwrap(),
    );
    let v = &lab.ctl(&["vni", "show"]);
    let v100 = v
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == 100))
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(v100["group"], group, "{v100}");
    assert!(
        v100["flood_sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["remote"] == group && e["source"] == "group"),
        "{v100}"
    );
    // vtepd's reports put its port on the group in the bridge.
    let port = lab.underlay_capture_iface();
    assert!(
        wait_for(10, || lab.mdb_ports(group).contains(&port)),
        "vtepd's port {port} joins {group}: {:?}\n{}",
        lab.mdb_ports(group),
        lab.log()
    );
    let k3_port = lab.ifname("k3u");
    assert!(
        wait_for(10, || lab.mdb_ports(group).contains(&k3_port)),
        "k3 joins too: {:?}",
        lab.mdb_ports(group)
    );
    let cap = lab.capture("ul", &port, "udp port 4789");
    let at_t5 = lab.capture("t5", &lab.ifname("t5h"), "arp");
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
    assert!(
        lab.ping("t0", "10.0.0.15", 20),
        "t0 -> t5 (k3, through the group)\n{}",
        lab.log()
    );
    // k1's own broadcast: t1 forgets t0 and asks again, to the group.
    lab.must_exec("t1", "ip neigh flush all");
    assert!(lab.ping("t1", "10.0.0.10", 10), "t1 -> t0\n{}", lab.log());
    // Past two query rounds and a membership interval: vtepd answered the
    // querier, or the bridge would have pruned its port.
    let igmp = (!ipv6).then(|| lab.capture("ul", &port, "igmp"));
    std::thread::sleep(Duration::from_secs(6));
    assert!(
        lab.mdb_ports(group).contains(&port),
        "vtepd's port stays a member while it answers queries: {:?}",
        lab.mdb_ports(group)
    );
    lab.must_exec("t1", "ip neigh flush all");
    assert!(lab.ping("t1", "10.0.0.10", 10), "t1 -> t0 after 6 s");
    let m = &lab.ctl(&["stats"])["management"];
    let n = |k: &str| m[k].as_u64().unwrap();
    assert!(n("mcast_queries_seen") >= 2, "{m}");
    assert!(
        n("mcast_reports_sent") >= 2 + n("mcast_queries_seen") / 2,
        "joins and answers: {m}"
    );
    assert_eq!(n("mcast_leaves_sent"), 0, "{m}");

    let seen: Vec<Seen> = cap.frames().iter().filter_map(|f| parse(f)).collect();
    // t0's ARP requests for t1 crossed vtepd's underlay port once each,
    // to the group, and reached t5 behind the other kernel VTEP too.
    let for_t1 = |s: &&Seen| s.src == vtepd && s.arp_target == Some([10, 0, 0, 11]);
    let t1_asks: Vec<&Seen> = seen.iter().filter(for_t1).collect();
    let t1_asks_group = t1_asks.iter().filter(|s| s.dst == g).count();
    assert!(t1_asks_group >= 1, "{t1_asks:?}");
    assert_eq!(
        t1_asks.len(),
        2 * t1_asks_group,
        "the group and k2, nothing else"
    );
    let heard_at_t5 = at_t5
        .frames()
        .iter()
        .filter(|f| f.len() >= 42 && f[21] == 1 && f[38..42] == [10, 0, 0, 11])
        .count();
    assert_eq!(
        heard_at_t5, t1_asks_group,
        "t5 (behind k3) got each request"
    );
    let bcast_out: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.src == vtepd && s.inner_dst == [0xff; 6])
        .collect();
    let to_group = bcast_out.iter().filter(|s| s.dst == g).count();
    let to_k2 = bcast_out.iter().filter(|s| s.dst == k2).count();
    // Each broadcast leaves once to the group and once to k2, never to
    // k1 by its own address.
    assert!(to_group >= 2, "ARP requests for t1 and t2: {to_group}");
    assert_eq!(to_group, to_k2, "one group copy per head-end copy");
    assert_eq!(bcast_out.len(), to_group + to_k2, "{bcast_out:?}");
    for s in bcast_out.iter().filter(|s| s.dst == g) {
        assert_eq!(s.dst_mac, group_mac);
        assert_eq!(s.ttl, 1, "mcast_ttl's default keeps it on the link");
        assert_eq!(s.inner_type, 0x0806);
    }
    // k1 sent its broadcasts to the group and vtepd took them: t1's ARP
    // requests were answered.
    assert!(
        seen.iter()
            .filter(|s| s.src == k1 && s.dst == g && s.inner_dst == [0xff; 6])
            .count()
            >= 2,
        "k1 floods to the group"
    );
    // Unicast is point to point both ways once learned.
    let uni = |from: IpAddr, to: IpAddr| {
        seen.iter()
            .filter(|s| s.src == from && s.dst == to && s.inner_type == 0x0800)
            .count()
    };
    assert!(
        uni(vtepd, k1) > 0 && uni(k1, vtepd) > 0,
        "unicast to and from k1"
    );
    // Tenant IPv4 reaches the group only as unknown unicast, before the
    // learned MAC is in an FDB (a frame or two per direction).
    let v4_to_group = seen
        .iter()
        .filter(|s| s.dst == g && s.inner_type == 0x0800)
        .count();
    assert!(
        v4_to_group <= 4 && v4_to_group < uni(vtepd, k1),
        "IPv4 to the group: {v4_to_group}"
    );
    let st = lab.ctl(&["stats"]);
    assert_eq!(st["drops"]["unknown_source_vtep"], 0, "{}", st["drops"]);
    // Per VNI: the BUM frames sent to the group, once each (ARP and any
    // other broadcast or multicast the tenants sent).
    let sent = st["vnis"][0]["group_packets"].as_u64().unwrap();
    assert!(
        sent >= to_group as u64,
        "{sent} < {to_group}: {}",
        st["vnis"]
    );

    // Unicast through learned remotes, both ways, at rate.
    let up = iperf(&lab, "t0", "t5", "10.0.0.15", 2, false);
    let down = iperf(&lab, "t0", "t5", "10.0.0.15", 2, true);
    assert!(up.bps > 1e6 && down.bps > 1e6, "{} {}", up.bps, down.bps);

    // A reload without the group: a leave, and the bridge drops the port
    // (after its last-member queries, 2 x 1 s).
    let cfg = std::fs::read_to_string(lab.config_path()).unwrap();
    lab.write_config(&cfg.replace(&format!("group = \"{group}\"\n"), ""));
    lab.ctl(&["reload"]);
    assert!(
        wait_for(10, || !lab.mdb_ports(group).contains(&port)),
        "vtepd's port leaves {group}: {:?}",
        lab.mdb_ports(group)
    );
    let m = &lab.ctl(&["stats"])["management"];
    assert!(m["mcast_leaves_sent"].as_u64().unwrap() >= 1, "{m}");
    // Over IPv4, the messages of the version asked for.
    if let Some(c) = igmp {
        let types: std::collections::BTreeSet<u8> = c
            .frames()
            .iter()
            .filter(|f| f.len() > 38 && f[12..14] == [8, 0] && f[23] == 2)
            .filter(|f| IpAddr::from(<[u8; 4]>::try_from(&f[26..30]).unwrap()) == vtepd)
            .map(|f| f[14 + (f[14] as usize & 15) * 4])
            .collect();
        let want = if underlay_extra.contains("igmp_version = 2") {
            [0x16, 0x17].into()
        } else {
            [0x22].into()
        };
        assert_eq!(types, want, "IGMP message types from vtepd");
    }
    assert!(
        lab.mdb_ports(group).contains(&lab.ifname("k1u")),
        "k1 stays: {:?}",
        lab.mdb_ports(group)
    );
}

#[test]
fn a_group_over_ipv4_with_igmp_snooping() {
    group_scenario(false, "239.1.1.100", [1, 0, 0x5e, 1, 1, 100], "");
}

/// IGMPv2: a report to each group, a Leave Group to all routers.
#[test]
fn a_group_over_ipv4_with_igmpv2() {
    group_scenario(
        false,
        "239.1.1.100",
        [1, 0, 0x5e, 1, 1, 100],
        "igmp_version = 2",
    );
}

#[test]
fn a_group_over_ipv6_with_mld_snooping() {
    group_scenario(true, "ff0e::1:100", [0x33, 0x33, 0, 1, 1, 0], "");
}

//! vtepd end to end on net_pcap ports: tenant frames and VXLAN packets go
//! in as pcap files, and the pcaps vtepd writes are checked: outer headers,
//! VNIs, replication, VLAN restore, learning, drops and the accounting.

use etherparse::{PacketBuilder, SlicedPacket};
use serde_json::Value;
use vtep_testsupport::eal::pcap_config;
use vtep_testsupport::{read_pcap, write_pcap, Daemon};

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
const R2_MAC: [u8; 6] = [2, 0, 0, 0, 2, 2];
const TENANT: [u8; 6] = [2, 0, 0, 0, 0, 1];
const STATIC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
const REMOTE_TENANT: [u8; 6] = [2, 0, 0, 0, 0, 0xbb];

fn tenant_frame(dst: [u8; 6], src: [u8; 6], vid: Option<u16>, payload: usize) -> Vec<u8> {
    let b =
        match vid {
            Some(v) => PacketBuilder::ethernet2(src, dst)
                .single_vlan(etherparse::VlanId::try_new(v).unwrap()),
            None => PacketBuilder::ethernet2(src, dst)
                .single_vlan(etherparse::VlanId::try_new(0).unwrap()),
        };
    let mut f = Vec::new();
    b.ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1000, 2000)
        .write(&mut f, &vec![7u8; payload])
        .unwrap();
    if vid.is_none() {
        // Drop the priority tag the builder needed: untagged frame.
        f.drain(12..16);
    }
    f
}

/// A VXLAN packet as remote `src_ip` would send it to us.
fn vxlan(src_ip: [u8; 4], vni: u32, flags: u8, inner: &[u8]) -> Vec<u8> {
    let mut payload = vec![flags, 0, 0, 0];
    payload.extend_from_slice(&(vni << 8).to_be_bytes());
    payload.extend_from_slice(inner);
    let mut f = Vec::new();
    PacketBuilder::ethernet2(R2_MAC, OUR_MAC)
        .ipv4(src_ip, [192, 0, 2, 1], 64)
        .udp(50000, 4789)
        .write(&mut f, &payload)
        .unwrap();
    // UDP checksum 0, as VTEPs send over IPv4.
    f[40] = 0;
    f[41] = 0;
    f
}

fn arp_request(spa: [u8; 4], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&R2_MAC);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&R2_MAC);
    f.extend_from_slice(&spa);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&tpa);
    f.resize(60, 0);
    f
}

fn echo_request() -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(R2_MAC, OUR_MAC)
        .ipv4([192, 0, 2, 2], [192, 0, 2, 1], 64)
        .icmpv4_echo_request(7, 1)
        .write(&mut f, b"vtep-ping")
        .unwrap();
    f
}

#[test]
fn pcap_end_to_end() {
    let dir = Daemon::dir_for("e2e");
    let p = |n: &str| dir.join(n);

    let access_in = vec![
        tenant_frame(STATIC_MAC, TENANT, None, 40), // unicast, static FDB -> 192.0.2.2
        tenant_frame([0xff; 6], TENANT, None, 40),  // broadcast -> 2 copies
        tenant_frame([0xff; 6], TENANT, Some(10), 40), // VID 10 -> VNI 200 -> 192.0.2.3
        tenant_frame([0xff; 6], TENANT, Some(11), 40), // unmapped VID
        vec![1, 2, 3, 4, 5, 6, 7, 8, 9, 10],        // runt
        tenant_frame(STATIC_MAC, TENANT, None, 1460), // too big for MTU 1500 once wrapped
        tenant_frame([0xff; 6], TENANT, None, 700), // large broadcast: shared payload
    ];
    let inner_100 = tenant_frame(TENANT, REMOTE_TENANT, None, 30);
    let inner_200 = tenant_frame([0xff; 6], REMOTE_TENANT, None, 30);
    let underlay_in = vec![
        vxlan([192, 0, 2, 2], 100, 0x08, &inner_100), // delivered untagged
        vxlan([192, 0, 2, 3], 200, 0x08, &inner_200), // delivered with VID 10
        vxlan([192, 0, 2, 2], 100, 0x00, &inner_100), // I flag clear
        vxlan([192, 0, 2, 9], 100, 0x08, &inner_100), // unknown source
        vxlan([192, 0, 2, 2], 300, 0x08, &inner_100), // unknown VNI
        arp_request([192, 0, 2, 2], [192, 0, 2, 1]),  // ARP for the VTEP address
        echo_request(),                               // ping of the VTEP address
    ];
    write_pcap(&p("ul_in.pcap"), &underlay_in).unwrap();
    write_pcap(&p("acc_in.pcap"), &access_in).unwrap();
    let cfg = pcap_config(
        &dir,
        r#"address = "192.0.2.1/24"
[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:02:02"
[[neighbor]]
ip = "192.0.2.3"
mac = "02:00:00:00:03:03"
[[access]]
port = "net_pcap1"
vni = 100
vlans = { 10 = 200 }
[[vni]]
id = 100
flood = ["192.0.2.2", "192.0.2.3"]
[[vni]]
id = 200
flood = ["192.0.2.3"]
[[fdb]]
vni = 100
mac = "02:00:00:00:00:aa"
remote = "192.0.2.2""#,
    );
    let vtepd = std::path::Path::new(env!("CARGO_BIN_EXE_vtepd"));
    let mut d = Daemon::start(vtepd, &dir, &Daemon::prefix_for("e2e"), &cfg);
    let total = (access_in.len() + underlay_in.len()) as u64;
    let stats = d.wait_rx(total, 20);
    let a = &stats["accounting"];
    let n = |v: &Value| v.as_u64().unwrap();
    assert_eq!(
        n(&a["rx_packets"]),
        n(&a["forwarded"]) + n(&a["dropped"]) + n(&a["punted"])
    );
    let drops = &stats["drops"];
    for (reason, count) in [
        ("access_vlan_unmapped", 1),
        ("access_runt", 1),
        ("mtu_exceeded", 1),
        ("vxlan_i_flag_clear", 1),
        ("unknown_source_vtep", 1),
        ("vni_unknown", 1),
    ] {
        assert_eq!(drops[reason].as_u64(), Some(count), "{reason}");
    }
    assert_eq!(n(&a["dropped"]), 6);
    assert_eq!(n(&a["forwarded"]), 6, "{stats:#}");
    assert_eq!(n(&a["punted"]), 2, "ARP and echo for the VTEP address");
    // Each remote of a flood gets a copy; the original is accounted as
    // forwarded once: 2 + 2 copies for VNI 100's broadcasts, 1 for VNI 200's.
    assert_eq!(n(&a["flood_copies"]), 5);
    d.wait_stats(5, "the echo reply sent", |s| {
        s["management"]["echo_replies_sent"] == 1
    });
    let neigh = d.ctl(&["neigh", "show"]);
    assert!(neigh
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["ip"] == "192.0.2.2" && n["state"] == "static"));

    let fdb = d.ctl(&["fdb", "show"]);
    let rows = fdb.as_array().unwrap();
    let find = |mac: &str| rows.iter().find(|r| r["mac"] == mac).cloned();
    let local = find("02:00:00:00:00:01").expect("tenant MAC learned");
    assert_eq!(local["kind"], "learned");
    assert_eq!(local["port"], "net_pcap1");
    let remote = find("02:00:00:00:00:bb").expect("remote MAC learned");
    assert_eq!(remote["remote"].as_str(), Some("192.0.2.2"));
    assert_eq!(find("02:00:00:00:00:aa").unwrap()["kind"], "static");

    // SIGTERM: workers stop, ports close and the pcap writers flush.
    assert!(d.stop(), "vtepd exits 0 on SIGTERM");
    // Structured logs: every line is JSON, DPDK's own too (target "dpdk"),
    // without colour codes; one per port and per worker at start, none per
    // packet.
    let log = std::fs::read_to_string(p("vtepd.log")).unwrap();
    assert!(!log.contains('\u{1b}'), "no ANSI codes in a log file");
    let all: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(
        all.iter().any(|v| v["target"] == "dpdk"
            && v["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("EAL:"))),
        "EAL lines go through the logger: {log}"
    );
    let ours: Vec<Value> = all.into_iter().filter(|v| v["target"] != "dpdk").collect();
    let msg = |m: &str| ours.iter().filter(|v| v["fields"]["message"] == m).count();
    assert_eq!(msg("port started"), 2, "{log}");
    assert_eq!(msg("worker started"), 1);
    assert!(ours.iter().all(|v| v["level"].is_string()));
    assert!(ours.len() < 20, "no per-packet log lines: {}", ours.len());

    let ul_all = read_pcap(&p("ul_out.pcap")).unwrap();
    let is_arp = |f: &Vec<u8>, oper: u8| f.len() >= 42 && f[12..14] == [8, 6] && f[21] == oper;
    let garp = ul_all
        .iter()
        .find(|f| is_arp(f, 1))
        .expect("gratuitous ARP at start");
    assert_eq!(
        garp[28..32],
        garp[38..42],
        "GARP: sender and target are the VTEP address"
    );
    let reply = ul_all.iter().find(|f| is_arp(f, 2)).expect("ARP reply");
    assert_eq!(&reply[0..6], &R2_MAC);
    assert_eq!(&reply[22..28], &OUR_MAC, "VTEP MAC answers for 192.0.2.1");
    assert_eq!(reply[28..32], [192, 0, 2, 1]);
    let echo = ul_all
        .iter()
        .find(|f| f.len() > 34 && f[12..14] == [8, 0] && f[23] == 1)
        .expect("echo reply");
    assert_eq!(echo[34], 0, "ICMP echo reply");
    assert_eq!(echo[26..30], [192, 0, 2, 1]);
    assert!(echo.ends_with(b"vtep-ping"));
    let eh = etherparse::Ipv4Header::from_slice(&echo[14..]).unwrap().0;
    assert_eq!(eh.header_checksum, eh.calc_header_checksum());
    assert_eq!(
        etherparse::checksum::Sum16BitWords::new()
            .add_slice(&echo[34..])
            .ones_complement(),
        0
    );

    let ul_out: Vec<Vec<u8>> = ul_all
        .into_iter()
        .filter(|f| f.len() > 42 && f[12..14] == [8, 0] && f[36..38] == 4789u16.to_be_bytes())
        .collect();
    assert_eq!(
        ul_out.len(),
        6,
        "1 unicast + 2 x 2 broadcast copies + 1 VNI 200 flood"
    );
    let mut by_dst = std::collections::BTreeMap::new();
    for f in &ul_out {
        let sp = SlicedPacket::from_ethernet(f).unwrap();
        let Some(etherparse::NetSlice::Ipv4(ip)) = sp.net else {
            panic!("not IPv4")
        };
        let h = ip.header().to_header();
        assert_eq!(h.header_checksum, h.calc_header_checksum());
        assert_eq!(h.source, [192, 0, 2, 1]);
        let Some(etherparse::TransportSlice::Udp(u)) = sp.transport else {
            panic!("not UDP")
        };
        assert!(u.source_port() >= 49152);
        assert_eq!(u.checksum(), 0);
        let vx = u.payload();
        assert_eq!(vx[0], 0x08);
        let vni = u32::from_be_bytes([0, vx[4], vx[5], vx[6]]);
        assert!(vx[8..20] != [0u8; 12], "inner frame present");
        assert_eq!(&f[6..12], &OUR_MAC);
        by_dst
            .entry((h.destination, vni))
            .and_modify(|c| *c += 1)
            .or_insert(1);
        assert_eq!(vx[8 + 12..8 + 14], [8, 0], "inner tag stripped");
    }
    assert_eq!(by_dst.get(&([192, 0, 2, 2], 100)), Some(&3));
    assert_eq!(by_dst.get(&([192, 0, 2, 3], 100)), Some(&2));
    let big = &access_in[6];
    let shared: Vec<_> = ul_out
        .iter()
        .filter(|f| f.len() == big.len() + 50)
        .collect();
    assert_eq!(shared.len(), 2, "the large broadcast reached both remotes");
    for f in shared {
        assert_eq!(
            &f[50..],
            &big[..],
            "shared payload intact behind the header segment"
        );
    }
    assert_eq!(by_dst.get(&([192, 0, 2, 3], 200)), Some(&1));

    let acc_out = read_pcap(&p("acc_out.pcap")).unwrap();
    assert_eq!(acc_out.len(), 2);
    assert!(
        acc_out.contains(&inner_100),
        "VNI 100 delivered untagged, byte-identical"
    );
    let mut tagged = inner_200[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0, 0, 10]);
    tagged.extend_from_slice(&inner_200[12..]);
    assert!(
        acc_out.contains(&tagged),
        "VNI 200 delivered with VID 10 restored"
    );
}

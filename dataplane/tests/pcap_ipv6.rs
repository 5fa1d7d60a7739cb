//! vtepd end to end over an IPv6 underlay on net_pcap ports: encapsulated
//! frames carry a valid IPv6 header, flow label and UDP checksum (checked
//! with etherparse), floods with a shared payload too; VXLAN over IPv6 is
//! taken apart, zero UDP checksums accepted, bad ones and extension
//! headers dropped by name; neighbour solicitations and ICMPv6 echo are
//! answered; an unsolicited advertisement goes out at start.

use std::net::Ipv6Addr;

use etherparse::{PacketBuilder, SlicedPacket};
use vtep_dataplane::control::punt;
use vtep_dataplane::wire::{icmpv6, Ipv6Packet};
use vtep_testsupport::eal::pcap_config;
use vtep_testsupport::{read_pcap, write_pcap, Daemon};

const OUR_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
const R2_MAC: [u8; 6] = [2, 0, 0, 0, 2, 2];
const TENANT: [u8; 6] = [2, 0, 0, 0, 0, 1];
const STATIC_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xaa];
const REMOTE_TENANT: [u8; 6] = [2, 0, 0, 0, 0, 0xbb];
const OURS: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const R2: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const R3: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3];
const R9: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9];

fn tenant_frame(dst: [u8; 6], src: [u8; 6], payload: usize) -> Vec<u8> {
    let mut f = Vec::new();
    PacketBuilder::ethernet2(src, dst)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(1000, 2000)
        .write(&mut f, &vec![7u8; payload])
        .unwrap();
    f
}

/// VXLAN over IPv6 from `src` to us, UDP checksum computed by etherparse.
fn vxlan6(src: [u8; 16], vni: u32, inner: &[u8]) -> Vec<u8> {
    let mut payload = vec![0x08, 0, 0, 0];
    payload.extend_from_slice(&(vni << 8).to_be_bytes());
    payload.extend_from_slice(inner);
    let mut f = Vec::new();
    PacketBuilder::ethernet2(R2_MAC, OUR_MAC)
        .ipv6(src, OURS, 64)
        .udp(50000, 4789)
        .write(&mut f, &payload)
        .unwrap();
    f
}

#[test]
fn pcap_ipv6_end_to_end() {
    let dir = Daemon::dir_for("e2e6");
    let p = |n: &str| dir.join(n);
    let big = tenant_frame([0xff; 6], TENANT, 700);
    let access_in = vec![
        tenant_frame(STATIC_MAC, TENANT, 40), // static FDB -> 2001:db8:1::2
        tenant_frame([0xff; 6], TENANT, 40),  // broadcast -> ::2 and ::3
        big.clone(),                          // large broadcast: shared payload
        // 1500 = 40 + 8 + 8 + 1444: a 1445-byte frame does not fit.
        tenant_frame(STATIC_MAC, TENANT, 1445 - 42),
    ];
    let inner = tenant_frame(TENANT, REMOTE_TENANT, 30);
    let good = vxlan6(R2, 100, &inner);
    let mut zero = good.clone();
    zero[60..62].copy_from_slice(&[0, 0]);
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 0x55;
    let mut frag = good.clone();
    frag[20] = 44; // next header: fragment
    let (ours6, r26) = (Ipv6Addr::from(OURS), Ipv6Addr::from(R2));
    let echo = [128u8, 0, 0, 0, 0, 7, 0, 1, b'v', b't', b'e', b'p'];
    let underlay_in = vec![
        good,
        zero,
        bad,
        frag,
        vxlan6(R9, 100, &inner), // unknown source
        punt::neighbor_solicit(R2_MAC, r26, ours6),
        icmpv6::frame(OUR_MAC, R2_MAC, r26, ours6, 64, &echo),
    ];
    write_pcap(&p("ul_in.pcap"), &underlay_in).unwrap();
    write_pcap(&p("acc_in.pcap"), &access_in).unwrap();
    let cfg = pcap_config(
        &dir,
        r#"address = "2001:db8:1::1/64"
[[neighbor]]
ip = "2001:db8:1::2"
mac = "02:00:00:00:02:02"
[[neighbor]]
ip = "2001:db8:1::3"
mac = "02:00:00:00:03:03"
[[access]]
port = "net_pcap1"
vni = 100
[[vni]]
id = 100
flood = ["2001:db8:1::2", "2001:db8:1::3"]
[[fdb]]
vni = 100
mac = "02:00:00:00:00:aa"
remote = "2001:db8:1::2""#,
    );
    let vtepd = std::path::Path::new(env!("CARGO_BIN_EXE_vtepd"));
    let mut d = Daemon::start(vtepd, &dir, &Daemon::prefix_for("e2e6"), &cfg);
    let stats = d.wait_rx((access_in.len() + underlay_in.len()) as u64, 20);
    let a = &stats["accounting"];
    let n = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(n("rx_packets"), n("forwarded") + n("dropped") + n("punted"));
    let drops = &stats["drops"];
    for (reason, count) in [
        ("mtu_exceeded", 1),
        ("udp_bad_checksum", 1),
        ("ipv6_extension_header", 1),
        ("unknown_source_vtep", 1),
    ] {
        assert_eq!(drops[reason].as_u64(), Some(count), "{reason}: {drops}");
    }
    assert_eq!(n("dropped"), 4, "{stats:#}");
    assert_eq!(n("punted"), 2, "the solicitation and the echo request");
    assert_eq!(n("forwarded"), 5, "3 from the access port, 2 delivered");
    assert_eq!(n("flood_copies"), 4);
    d.wait_stats(5, "the echo reply and two advertisements sent", |s| {
        let m = &s["management"];
        m["echo_replies_sent"] == 1 && m["nd_advertisements_sent"] == 2
    });
    let fdb = d.ctl(&["fdb", "show"]);
    assert!(
        fdb.as_array()
            .unwrap()
            .iter()
            .any(|r| r["mac"] == "02:00:00:00:00:bb" && r["remote"] == "2001:db8:1::2"),
        "learned behind an IPv6 remote: {fdb}"
    );
    assert!(d.stop());

    let ul_all = read_pcap(&p("ul_out.pcap")).unwrap();
    let icmp6 = |t: u8| {
        ul_all
            .iter()
            .filter(|f| f.len() >= 62 && f[12..14] == [0x86, 0xdd] && f[20] == 58 && f[54] == t)
            .cloned()
            .collect::<Vec<_>>()
    };
    let adverts = icmp6(icmpv6::NEIGHBOR_ADVERT);
    assert_eq!(adverts.len(), 2, "unsolicited at start, and the answer");
    for f in &adverts {
        let ip = Ipv6Packet::new_checked(&f[14..]).unwrap();
        assert!(icmpv6::checksum_ok(&ip));
        assert_eq!((ip.src(), ip.hop_limit()), (ours6, 255));
        let nd = icmpv6::Nd::parse(ip.payload()).unwrap();
        assert_eq!((nd.target, nd.lladdr), (ours6, Some(OUR_MAC)));
    }
    assert!(adverts
        .iter()
        .any(|f| f[..6] == [0x33, 0x33, 0, 0, 0, 1] && f[58] & icmpv6::FLAG_SOLICITED == 0));
    assert!(adverts
        .iter()
        .any(|f| f[..6] == R2_MAC && f[58] & icmpv6::FLAG_SOLICITED != 0));
    let replies = icmp6(icmpv6::ECHO_REPLY);
    assert_eq!(replies.len(), 1);
    let ip = Ipv6Packet::new_checked(&replies[0][14..]).unwrap();
    assert!(icmpv6::checksum_ok(&ip) && ip.dst() == r26 && ip.payload().ends_with(b"vtep"));

    let ul_out: Vec<&Vec<u8>> = ul_all
        .iter()
        .filter(|f| f.len() > 62 && f[12..14] == [0x86, 0xdd] && f[56..58] == 4789u16.to_be_bytes())
        .collect();
    assert_eq!(ul_out.len(), 5, "1 unicast + 2 x 2 broadcast copies");
    let mut to = std::collections::BTreeMap::new();
    for f in &ul_out {
        let sp = SlicedPacket::from_ethernet(f).unwrap();
        let Some(etherparse::NetSlice::Ipv6(ip)) = sp.net else {
            panic!("not IPv6")
        };
        let h = ip.header().to_header();
        assert_eq!((h.source, h.hop_limit), (OURS, 64));
        assert_ne!(h.flow_label.value(), 0, "flow label set");
        let Some(etherparse::TransportSlice::Udp(u)) = sp.transport else {
            panic!("not UDP")
        };
        assert!(u.source_port() >= 49152);
        let want = u.to_header().calc_checksum_ipv6(&h, u.payload()).unwrap();
        assert_eq!(u.checksum(), want, "UDP checksum over IPv6");
        assert_eq!(&u.payload()[..8], &[0x08, 0, 0, 0, 0, 0, 100, 0]);
        *to.entry(h.destination).or_insert(0) += 1;
    }
    assert_eq!((to.get(&R2), to.get(&R3)), (Some(&3), Some(&2)));
    let shared: Vec<_> = ul_out
        .iter()
        .filter(|f| f.len() == big.len() + 70)
        .collect();
    assert_eq!(shared.len(), 2);
    assert!(shared.iter().all(|f| f[70..] == big[..]));

    let acc_out = read_pcap(&p("acc_out.pcap")).unwrap();
    assert_eq!(acc_out, vec![inner.clone(), inner], "both delivered intact");
}

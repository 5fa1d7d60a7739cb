use super::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub(crate) const SAMPLE: &str = r#"
[eal]
args = ["-l", "0-1", "--no-pci", "--vdev=net_af_packet0,iface=ul0", "--vdev=net_af_packet1,iface=acc0"]

[dataplane]
workers = 1
burst = 32
mbufs = 16383

[underlay]
port = "net_af_packet0"
address = "192.0.2.1/24"
gateway = "192.0.2.254"
udp_port = 4789
mtu = 1500
ttl = 64
accept_unknown_sources = false

[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:02:02"

[[access]]
port = "net_af_packet1"
vni = 100
vlans = { 10 = 200 }

[[vni]]
id = 100
flood = ["192.0.2.2", "192.0.2.3"]
learning = true
arp_suppress = false
mac_limit = 65536
aging_secs = 300

[[vni]]
id = 200

[[fdb]]
vni = 100
mac = "02:00:00:00:00:aa"
remote = "192.0.2.2"

[control]
socket = "/run/vtep/vtep.sock"
metrics = "127.0.0.1:9477"
"#;

fn err(text: &str) -> String {
    Config::parse(text).unwrap_err().to_string()
}

#[test]
fn sample_parses() {
    let c = Config::parse(SAMPLE).unwrap();
    assert_eq!(c.underlay.address, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(c.underlay.prefix_len, 24);
    assert_eq!(
        c.underlay.gateway,
        Some(Ipv4Addr::new(192, 0, 2, 254).into())
    );
    assert_eq!(c.access[0].vlans[&10], Vni::new(200).unwrap());
    assert_eq!(c.vnis.len(), 2);
    assert!(c.vnis[1].learning, "learning defaults on");
    assert_eq!(c.vnis[1].aging_secs, 300);
    assert_eq!(c.fdb[0].mac.to_string(), "02:00:00:00:00:aa");
    assert_eq!(c.control.metrics.unwrap().port(), 9477);
    assert_eq!(c.port_names(), vec!["net_af_packet0", "net_af_packet1"]);
    assert!(c.underlay.on_link(Ipv4Addr::new(192, 0, 2, 77).into()));
    assert_eq!(
        c.underlay.next_hop(Ipv4Addr::new(198, 51, 100, 1).into()),
        c.underlay.gateway
    );
}

/// An absent `[dataplane]` or `[control]` takes the defaults of an empty
/// one (written once, on the keys).
#[test]
fn absent_sections_are_empty_ones() {
    let body = SAMPLE
        .replace("[dataplane]\nworkers = 1\nburst = 32\nmbufs = 16383\n", "")
        .replace(
            "[control]\nsocket = \"/run/vtep/vtep.sock\"\nmetrics = \"127.0.0.1:9477\"\n",
            "",
        );
    assert!(!body.contains("[dataplane]") && !body.contains("[control]"));
    let absent = Config::parse(&body).unwrap();
    let empty = Config::parse(&format!("{body}[dataplane]\n[control]\n")).unwrap();
    assert_eq!(absent, empty);
    assert_eq!(absent.dataplane.workers, 1);
    assert_eq!(absent.dataplane.fdb_capacity, 262_144);
    assert_eq!(
        absent.control.socket,
        std::path::PathBuf::from("/run/vtep/vtep.sock")
    );
}

#[test]
fn unknown_key_names_key_and_line() {
    let t = SAMPLE.replace("ttl = 64", "ttl = 64\nttll = 3");
    let e = err(&t);
    assert!(e.contains("ttll") && e.contains("line 17"), "{e}");
}

#[test]
fn vni_zero_and_too_large() {
    let e = err(&SAMPLE.replace("id = 200", "id = 0"));
    assert!(
        e.contains("vni.id") && e.contains("0 is not a VNI") && e.contains("line 37"),
        "{e}"
    );
    let e = err(&SAMPLE.replace("id = 200", "id = 16777216"));
    assert!(e.contains("16777216 is not a VNI"), "{e}");
}

#[test]
fn bad_mac_and_ip() {
    let e = err(&SAMPLE.replace("02:00:00:00:00:aa", "02:00:00:00:aa"));
    assert!(e.contains("fdb.mac") && e.contains("not a MAC"), "{e}");
    let e = err(&SAMPLE.replace("\"192.0.2.3\"", "\"192.0.2.300\""));
    assert!(e.contains("vni.flood") && e.contains("192.0.2.300"), "{e}");
    let e = err(&SAMPLE.replace("address = \"192.0.2.1/24\"", "address = \"192.0.2.1\""));
    assert!(e.contains("prefix length"), "{e}");
}

#[test]
fn port_without_device() {
    let e = err(&SAMPLE.replace("port = \"net_af_packet1\"", "port = \"net_tap7\""));
    assert!(
        e.contains("access.port") && e.contains("--vdev=net_tap7"),
        "{e}"
    );
}

#[test]
fn vni_without_access_port() {
    let e = err(&SAMPLE.replace("vlans = { 10 = 200 }", ""));
    assert!(e.contains("VNI 200 is used by no access port"), "{e}");
}

#[test]
fn duplicates_rejected() {
    let e = err(&SAMPLE.replace("[[vni]]\nid = 200", "[[vni]]\nid = 200\n[[vni]]\nid = 200"));
    assert!(e.contains("defined twice"), "{e}");
    let dup = SAMPLE.replace(
        "[control]",
        "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:AA\"\nremote = \"192.0.2.3\"\n[control]",
    );
    let e = err(&dup);
    assert!(e.contains("two entries"), "{e}");
    let e = err(&SAMPLE.replace("port = \"net_af_packet1\"", "port = \"net_af_packet0\""));
    assert!(e.contains("already used"), "{e}");
}

#[test]
fn unreachable_gateway_and_types() {
    let e = err(&SAMPLE.replace("192.0.2.254", "10.9.9.9"));
    assert!(
        e.contains("underlay.gateway") && e.contains("unreachable"),
        "{e}"
    );
    let e = err(&SAMPLE.replace("mtu = 1500", "mtu = \"big\""));
    assert!(e.contains("line 15") && e.contains("invalid type"), "{e}");
    let e = err(&SAMPLE.replace("mtu = 1500", "mtu = 100"));
    assert!(e.contains("underlay.mtu") && e.contains("576"), "{e}");
    let e = err("[eal\nargs=[]");
    assert!(e.contains("line 1"), "{e}");
}

#[test]
fn eal_device_names() {
    let d = eal_devices(&[
        "--vdev=net_pcap0,rx_pcap=a".into(),
        "--vdev".into(),
        "net_null1".into(),
        "-a".into(),
        "0000:01:00.0".into(),
        "-a0000:02:00.0".into(),
    ]);
    assert!(d.contains("net_pcap0") && d.contains("net_null1"));
    assert!(d.contains("0000:01:00.0") && d.contains("0000:02:00.0"));
}

#[test]
fn mac_and_vni_types() {
    assert_eq!(Vni::new(0), None);
    assert_eq!(Vni::new(1 << 24), None);
    assert_eq!(Vni::new(5).unwrap().get(), 5);
    let m: MacAddr = "02-00-00-00-00-0A".parse().unwrap();
    assert_eq!(m.to_string(), "02:00:00:00:00:0a");
    assert!(MacAddr::BROADCAST.is_multicast());
}

#[test]
fn shipped_gateway_example_is_valid() {
    // The image creates the vtep group; this host may not have it.
    let text =
        include_str!("../../docker/vtep.toml").replace("group = \"vtep\"", "group = \"root\"");
    let c = Config::parse(&text).unwrap();
    assert_eq!(c.dataplane.workers, 2);
    assert_eq!(c.port_names(), vec!["0000:03:00.0", "0000:03:00.1"]);
    assert_eq!(c.access[0].vlans.len(), 2);
    assert!(!c.eal_args.iter().any(|a| a == "--no-pci"));
}

#[test]
fn errors_name_the_line_of_the_key() {
    // mtu is on line 15 of SAMPLE, five lines below [underlay].
    let e = err(&SAMPLE.replace("mtu = 1500", "mtu = 99999"));
    assert!(e.contains("underlay.mtu at line 15"), "{e}");
    let e = err(&SAMPLE.replace("mac_limit = 65536", "mac_limit = -1"));
    assert!(e.contains("vni.mac_limit at line 33"), "{e}");
    // A syntax error on line 7 is reported at line 7.
    let e = err(&SAMPLE.replace("burst = 32", "burst = = 32"));
    assert!(e.contains("line 7"), "{e}");
    let e = err(&SAMPLE.replace("mbufs = 16383", "mbufs = \"x"));
    assert!(e.contains("line 8"), "{e}");
    for broken in ["burst =", "burst = 32 33", "[dataplane"] {
        let t = SAMPLE.replace("burst = 32", broken).replace(
            "[dataplane]",
            if broken == "[dataplane" {
                ""
            } else {
                "[dataplane]"
            },
        );
        let e = err(&t);
        let want = t.lines().position(|l| l.starts_with(broken)).unwrap() + 1;
        assert!(e.contains(&format!("line {want}:")), "{broken}: {e}");
    }
}

#[test]
fn workers_need_lcores_and_core_lists_are_checked() {
    let e = err(&SAMPLE.replace("workers = 1", "workers = 2"));
    assert!(
        e.contains("dataplane.workers at line 6") && e.contains("1 worker lcore"),
        "{e}"
    );
    assert!(Config::parse(
        &SAMPLE
            .replace("\"0-1\"", "\"0-2\"")
            .replace("workers = 1", "workers = 2")
    )
    .is_ok());
    for bad in ["\"0-\"", "\"x\"", "\"3-1\""] {
        let e = err(&SAMPLE.replace("\"0-1\"", bad));
        assert!(
            e.contains("eal.args") && e.contains("is not a core list"),
            "{bad}: {e}"
        );
    }
    let e = err(&SAMPLE.replace("\"-l\", \"0-1\"", "\"-c\", \"0x1\""));
    assert!(e.contains("0 worker lcore"), "{e}");
    assert_eq!(
        eal_lcores(&["-l".into(), "0-2,5".into()]),
        Ok(Some(vec![0, 1, 2, 5]))
    );
    assert_eq!(eal_lcores(&["-c0x6".into()]), Ok(Some(vec![1, 2])));
    assert_eq!(eal_lcores(&["--lcores=(0-1)@0".into()]), Ok(None));
}

#[test]
fn pci_port_with_no_pci_is_refused() {
    let t = SAMPLE.replace("port = \"net_af_packet1\"", "port = \"0000:3b:00.0\"");
    let e = err(&t);
    assert!(e.contains("access.port") && e.contains("--no-pci"), "{e}");
    let ok = t.replace("\"--no-pci\", ", "\"-a\", \"0000:3b:00.0\", ");
    assert!(Config::parse(&ok).is_ok(), "{:?}", Config::parse(&ok));
}

#[test]
fn peer_addresses_must_be_unicast_hosts() {
    for (ip, why) in [
        ("0.0.0.0", "unspecified"),
        ("224.0.0.5", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("192.0.2.255", "broadcast address of the on-link prefix"),
        ("192.0.2.0", "network address"),
        ("127.0.0.1", "loopback"),
        ("192.0.2.1", "own address"),
    ] {
        let flood = err(&SAMPLE.replace("\"192.0.2.3\"]", &format!("\"{ip}\"]")));
        assert!(
            flood.contains("vni.flood") && flood.contains(why),
            "{ip}: {flood}"
        );
        let fdb = err(&SAMPLE.replace("remote = \"192.0.2.2\"", &format!("remote = \"{ip}\"")));
        assert!(
            fdb.contains("fdb.remote") && fdb.contains(why),
            "{ip}: {fdb}"
        );
        let nb = err(&SAMPLE.replace("ip = \"192.0.2.2\"", &format!("ip = \"{ip}\"")));
        assert!(nb.contains("neighbor.ip"), "{ip}: {nb}");
    }
}

#[test]
fn underlay_identity_checks() {
    let e = err(&SAMPLE.replace("ttl = 64", "ttl = 64\nmac = \"01:00:5e:00:00:01\""));
    assert!(
        e.contains("underlay.mac at line 17") && e.contains("not a unicast MAC"),
        "{e}"
    );
    let e = err(&SAMPLE.replace("192.0.2.1/24", "192.0.2.0/24"));
    assert!(e.contains("network or broadcast address"), "{e}");
    assert!(Config::parse(
        &SAMPLE
            .replace("192.0.2.1/24", "192.0.2.0/31")
            .replace("gateway = \"192.0.2.254\"\n", "")
            .replace("\"192.0.2.3\"", "\"192.0.2.1\"")
    )
    .is_err());
}

#[test]
fn control_section_checks() {
    let e = err(&SAMPLE.replace("socket = \"/run/vtep/vtep.sock\"", "socket = \"\""));
    assert!(
        e.contains("control.socket") && e.contains("empty path"),
        "{e}"
    );
    let e = err(&SAMPLE.replace(
        "metrics = \"127.0.0.1:9477\"",
        "metrics = \"127.0.0.1:9477\"\ngroup = \"no-such-group-vtep\"",
    ));
    assert!(
        e.contains("control.group") && e.contains("does not exist"),
        "{e}"
    );
    assert!(
        Config::parse(&SAMPLE.replace("metrics = \"127.0.0.1:9477\"", "group = \"root\"")).is_ok()
    );
}

#[test]
fn mac_limit_fits_the_table() {
    let t = SAMPLE.replace("mbufs = 16383", "mbufs = 16383\nfdb_capacity = 4096");
    let e = err(&t);
    assert!(
        e.contains("vni.mac_limit") && e.contains("larger than dataplane.fdb_capacity"),
        "{e}"
    );
    let c = Config::parse(&t.replace("mac_limit = 65536\n", "")).unwrap();
    assert_eq!(
        c.vnis[0].mac_limit, 4096,
        "the default is capped by the table"
    );
}

#[test]
fn access_mtu_defaults_to_the_underlay_less_encapsulation() {
    let c = Config::parse(SAMPLE).unwrap();
    assert_eq!(c.access[0].mtu, 1450);
    let jumbo = SAMPLE.replace("mtu = 1500", "mtu = 9000");
    assert_eq!(Config::parse(&jumbo).unwrap().access[0].mtu, 8950);
    let set = jumbo.replace("vni = 100\nvlans", "vni = 100\nmtu = 1500\nvlans");
    assert_eq!(Config::parse(&set).unwrap().access[0].mtu, 1500);
}

#[test]
fn access_mtu_above_what_the_underlay_carries_is_refused() {
    let e = err(&SAMPLE.replace("vni = 100\nvlans", "vni = 100\nmtu = 1500\nvlans"));
    assert!(
        e.contains("access.mtu") && e.contains("leaves 1450") && e.contains("underlay.mtu 1500"),
        "{e}"
    );
    let e = err(&SAMPLE.replace("vni = 100\nvlans", "vni = 100\nmtu = 20\nvlans"));
    assert!(e.contains("access.mtu") && e.contains("68..=1450"), "{e}");
}

#[test]
fn static_fdb_entries_on_an_access_port() {
    let local =
        "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:bb\"\nport = \"net_af_packet1\"\n\n[control]";
    let c = Config::parse(&SAMPLE.replace("[control]", local)).unwrap();
    assert_eq!(c.fdb[1].at, FdbAt::Port("net_af_packet1".into()));
    assert_eq!(c.fdb[1].remote(), None);
    assert_eq!(c.fdb[0].remote(), Some(Ipv4Addr::new(192, 0, 2, 2).into()));
    let e = err(&SAMPLE.replace(
        "[control]",
        &local.replace("net_af_packet1\"", "net_af_packet0\""),
    ));
    assert!(
        e.contains("fdb.port") && e.contains("is not an [[access]] port"),
        "{e}"
    );
    let e = err(&SAMPLE.replace("[control]", &local.replace("vni = 100", "vni = 300")));
    assert!(e.contains("VNI 300 has no [[vni]] section"), "{e}");
    let both = local.replace("port =", "remote = \"192.0.2.2\"\nport =");
    let e = err(&SAMPLE.replace("[control]", &both));
    assert!(
        e.contains("set either remote") && e.contains("or port"),
        "{e}"
    );
}

#[test]
fn static_fdb_entries_bind_addresses_to_local_macs() {
    let local = "[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:bb\"\nport = \"net_af_packet1\"\nips = [\"10.0.0.5\", \"2001:db8::5\"]\n\n[control]";
    let c = Config::parse(&SAMPLE.replace("[control]", local)).unwrap();
    assert_eq!(
        c.fdb[1].ips,
        [
            "10.0.0.5".parse::<std::net::IpAddr>().unwrap(),
            "2001:db8::5".parse().unwrap()
        ]
    );
    assert!(c.fdb[0].ips.is_empty(), "none by default");
    for (bad, want) in [
        ("\"10.0.0\"", "\"10.0.0\" is not an IPv4 or IPv6 address"),
        ("\"224.0.0.1\"", "224.0.0.1 is not a host's address"),
        (
            "\"10.0.0.5\", \"10.0.0.5\"",
            "10.0.0.5 in VNI 100 is bound to a MAC twice",
        ),
    ] {
        let t = local.replace("\"10.0.0.5\", \"2001:db8::5\"", bad);
        let e = err(&SAMPLE.replace("[control]", &t));
        assert!(e.contains("fdb.ips") && e.contains(want), "{e}");
    }
    let remote = local.replace("port = \"net_af_packet1\"", "remote = \"192.0.2.2\"");
    let e = err(&SAMPLE.replace("[control]", &remote));
    assert!(
        e.contains("fdb.ips") && e.contains("not behind a remote VTEP"),
        "{e}"
    );
}

#[test]
fn rate_limits_and_storm_control() {
    let c = Config::parse(SAMPLE).unwrap();
    assert_eq!(
        (c.vnis[0].rate, c.vnis[0].flood_pps),
        (None, None),
        "unlimited by default"
    );
    let t = SAMPLE.replace(
        "aging_secs = 300\n",
        "aging_secs = 300\nrate_mbps = 100\nflood_pps = 500\n",
    );
    let c = Config::parse(&t).unwrap();
    assert_eq!(
        c.vnis[0].rate,
        Some(RateLimit {
            mbps: 100,
            burst_bytes: 125_000
        }),
        "default depth: 10 ms at the rate"
    );
    assert_eq!(c.vnis[0].rate.unwrap().bytes_per_sec(), 12_500_000);
    assert_eq!(c.vnis[0].flood_pps, Some(500));
    let slow = Config::parse(&t.replace("rate_mbps = 100", "rate_mbps = 1")).unwrap();
    assert_eq!(
        slow.vnis[0].rate.unwrap().burst_bytes,
        4 * 9216,
        "at least four jumbo frames"
    );
    let b = Config::parse(&t.replace("rate_mbps = 100", "rate_mbps = 100\nburst_kb = 64")).unwrap();
    assert_eq!(b.vnis[0].rate.unwrap().burst_bytes, 65536);
    for (from, to, want) in [
        ("rate_mbps = 100", "rate_mbps = 0", "vni.rate_mbps"),
        (
            "rate_mbps = 100",
            "burst_kb = 64",
            "burst_kb needs rate_mbps",
        ),
        (
            "rate_mbps = 100",
            "rate_mbps = 100\nburst_kb = 8",
            "less than one frame",
        ),
        ("flood_pps = 500", "flood_pps = 0", "vni.flood_pps"),
        ("flood_pps = 500", "flood_pps = -3", "out of range"),
    ] {
        let e = err(&t.replace(from, to));
        assert!(e.contains(want) && e.contains("line"), "{to}: {e}");
    }
}

/// SAMPLE with an IPv6 underlay: every underlay address in IPv6.
fn sample6() -> String {
    SAMPLE
        .replace("192.0.2.1/24", "2001:db8:1::1/64")
        .replace("192.0.2.254", "fe80::1")
        .replace("192.0.2.", "2001:db8:1::")
}

#[test]
fn ipv6_underlay_parses() {
    let c = Config::parse(&sample6()).unwrap();
    let u = &c.underlay;
    assert!(u.is_ipv6());
    assert_eq!(u.address, "2001:db8:1::1".parse::<IpAddr>().unwrap());
    assert_eq!(u.prefix_len, 64);
    assert_eq!(u.gateway, Some("fe80::1".parse().unwrap()));
    assert_eq!(u.encap_overhead(Encap::Vxlan), 70);
    assert_eq!(u.encap_overhead(Encap::Nvgre), 62);
    assert_eq!(
        c.access[0].mtu, 1430,
        "1500 less 70 bytes of VXLAN over IPv6"
    );
    assert_eq!(c.vnis[0].flood.len(), 2);
    assert_eq!(c.fdb[0].remote(), Some("2001:db8:1::2".parse().unwrap()));
    assert!(u.on_link("2001:db8:1::ffff:1".parse().unwrap()));
    assert!(
        u.on_link("fe80::2".parse().unwrap()),
        "link-local is on-link"
    );
    assert!(!u.on_link("2001:db8:2::1".parse().unwrap()));
    assert!(!u.on_link(Ipv4Addr::new(192, 0, 2, 2).into()));
    let far: IpAddr = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 1).into();
    assert_eq!(u.next_hop(far), u.gateway);
    assert!(!u.udp6_zero_checksum_tx && u.udp6_zero_checksum_rx);
    let c = Config::parse(&sample6().replace(
        "ttl = 64",
        "ttl = 64\nudp6_zero_checksum_tx = true\nudp6_zero_checksum_rx = false",
    ))
    .unwrap();
    assert!(c.underlay.udp6_zero_checksum_tx && !c.underlay.udp6_zero_checksum_rx);
    let c = Config::parse(
        &sample6()
            .replace("2001:db8:1::1/64", "2001:db8:1::1/120")
            .replace("fe80::1", "2001:db8:1::fe"),
    )
    .unwrap();
    assert_eq!(c.underlay.prefix_len, 120);
}

#[test]
fn ipv6_mistakes_are_refused_with_the_key() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "\"2001:db8:1::3\"]",
            "\"192.0.2.3\"]",
            &[
                "vni.flood",
                "IPv4 address but underlay.address 2001:db8:1::1 is IPv6",
                "one address family",
            ],
        ),
        (
            "2001:db8:1::1/64",
            "2001:db8:1::1/129",
            &["prefix length", "1..=128"],
        ),
        (
            "2001:db8:1::1/64",
            "fe80::5/64",
            &["underlay.address", "link-local"],
        ),
        (
            "2001:db8:1::1/64",
            "ff02::1/64",
            &["underlay.address", "cannot be a VTEP"],
        ),
        (
            "remote = \"2001:db8:1::2\"",
            "remote = \"fe80::2\"",
            &["fdb.remote", "link-local"],
        ),
        (
            "remote = \"2001:db8:1::2\"",
            "remote = \"2001:db8:1::1\"",
            &["fdb.remote", "own address"],
        ),
        (
            "\"2001:db8:1::2\", \"2001:db8:1::3\"",
            "\"ff02::1\"",
            &["vni.flood", "multicast"],
        ),
        (
            "gateway = \"fe80::1\"",
            "gateway = \"2001:db8:5::1\"",
            &["underlay.gateway", "unreachable"],
        ),
        (
            "ttl = 64",
            "ttl = 64\ndf = true",
            &["underlay.df", "IPv4 only"],
        ),
        (
            "ip = \"2001:db8:1::2\"",
            "ip = \"2001:db8:7::2\"",
            &["neighbor.ip", "not on the on-link prefix"],
        ),
    ];
    for (from, to, want) in cases {
        let t = sample6();
        assert!(t.contains(from), "{from}");
        let e = err(&t.replace(from, to));
        for w in *want {
            assert!(e.contains(w), "{from} -> {to}: {e}");
        }
        assert!(e.contains("line"), "{e}");
    }
    let e = err(&SAMPLE.replace("ttl = 64", "ttl = 64\nudp6_zero_checksum_rx = true"));
    assert!(
        e.contains("underlay.udp6_zero_checksum_rx") && e.contains("IPv6 underlay only"),
        "{e}"
    );
    let e = err(&SAMPLE.replace("remote = \"192.0.2.2\"", "remote = \"2001:db8::2\""));
    assert!(
        e.contains("fdb.remote")
            && e.contains("IPv6 address but underlay.address 192.0.2.1 is IPv4"),
        "{e}"
    );
    let e = err(&sample6().replace("vni = 100\nvlans", "vni = 100\nmtu = 1450\nvlans"));
    assert!(
        e.contains("access.mtu") && e.contains("less 70") && e.contains("leaves 1430"),
        "{e}"
    );
}

#[test]
fn kernel_port_names_a_tap_with_an_interface() {
    let with = |vdev: &str, key: &str| {
        SAMPLE
            .replace(
                "\"--vdev=net_af_packet1,iface=acc0\"]",
                &format!("\"--vdev=net_af_packet1,iface=acc0\", \"{vdev}\"]"),
            )
            .replace("ttl = 64", &format!("ttl = 64\n{key}"))
    };
    let c = Config::parse(&with(
        "--vdev=net_tap0,iface=vtep0",
        "kernel_port = \"net_tap0\"",
    ))
    .unwrap();
    let k = c.underlay.kernel_port.clone().unwrap();
    assert_eq!((k.device.as_str(), k.iface.as_str()), ("net_tap0", "vtep0"));
    assert_eq!(c.port_names(), vec!["net_af_packet0", "net_af_packet1"]);
    for (vdev, key, want) in [
        (
            "--vdev=net_tap0",
            "kernel_port = \"net_tap0\"",
            "iface=vtep0",
        ),
        (
            "--vdev=net_tap0,iface=vtep0",
            "kernel_port = \"net_tap1\"",
            "no DPDK device",
        ),
        (
            "--vdev=net_tap0,iface=vtep0",
            "kernel_port = \"net_af_packet1\"",
            "not a net_tap",
        ),
        (
            "--vdev=net_tap0,iface=averyverylongname",
            "kernel_port = \"net_tap0\"",
            "at most 15",
        ),
    ] {
        let e = err(&with(vdev, key));
        assert!(
            e.contains("underlay.kernel_port") && e.contains(want),
            "{key}: {e}"
        );
    }
    // An access port cannot also be the kernel port.
    let e = err(
        &with("--vdev=net_tap0,iface=vtep0", "kernel_port = \"net_tap0\"")
            .replace("port = \"net_af_packet1\"", "port = \"net_tap0\""),
    );
    assert!(
        e.contains("access.port") && e.contains("already used"),
        "{e}"
    );
}

#[test]
fn evpn_needs_a_namespace_and_the_exception_path() {
    let tap = |text: &str| {
        text.replace(
            "\"--vdev=net_af_packet1,iface=acc0\"]",
            "\"--vdev=net_af_packet1,iface=acc0\", \"--vdev=net_tap0,iface=vtep0\"]",
        )
        .replace("ttl = 64", "ttl = 64\nkernel_port = \"net_tap0\"")
    };
    let c = Config::parse(&format!("{}\n[evpn]\nnetns = \"vtep-cp\"\n", tap(SAMPLE))).unwrap();
    let e = c.evpn.unwrap();
    assert_eq!(e.netns, "vtep-cp");
    assert_eq!(e.restart_sweep_secs, 30);
    let sweep = |v: &str| {
        format!(
            "{}\n[evpn]\nnetns = \"cp\"\nrestart_sweep_secs = {v}\n",
            tap(SAMPLE)
        )
    };
    let c = Config::parse(&sweep("0")).unwrap();
    assert_eq!(c.evpn.unwrap().restart_sweep_secs, 0);
    let e = err(&sweep("3601"));
    assert!(
        e.contains("evpn.restart_sweep_secs") && e.contains("line "),
        "{e}"
    );
    assert!(Config::parse(&tap(SAMPLE)).unwrap().evpn.is_none());
    for (text, want) in [
        (
            format!("{SAMPLE}\n[evpn]\nnetns = \"vtep-cp\"\n"),
            "kernel_port",
        ),
        (
            format!("{}\n[evpn]\nnetns = \"a/b\"\n", tap(SAMPLE)),
            "not a network namespace",
        ),
        (
            format!("{}\n[evpn]\nnetns = \"\"\n", tap(SAMPLE)),
            "not a network namespace",
        ),
    ] {
        let e = err(&text);
        assert!(e.contains("evpn.netns") && e.contains(want), "{e}");
        assert!(e.contains("line "), "{e}");
    }
    let e = err(&format!(
        "{}\n[evpn]\nnetns = \"cp\"\nasn = 1\n",
        tap(SAMPLE)
    ));
    assert!(e.contains("asn"), "{e}");
}

#[test]
fn idle_sleep_is_off_by_default_and_bounded() {
    assert_eq!(Config::parse(SAMPLE).unwrap().dataplane.idle_sleep_us, 0);
    let with = |v: &str| SAMPLE.replace("burst = 32", &format!("burst = 32\nidle_sleep_us = {v}"));
    assert_eq!(
        Config::parse(&with("100")).unwrap().dataplane.idle_sleep_us,
        100
    );
    let e = err(&with("20000"));
    assert!(e.contains("dataplane.idle_sleep_us"), "{e}");
}

/// SAMPLE with VNI 200 given `settings` (TOML lines).
fn vni200(settings: &str) -> String {
    SAMPLE.replace(
        "[[vni]]\nid = 200\n",
        &format!("[[vni]]\nid = 200\n{settings}\n"),
    )
}

#[test]
fn each_vni_has_an_encapsulation_and_port() {
    let c = Config::parse(SAMPLE).unwrap();
    let vxlan = Tunnel {
        encap: Encap::Vxlan,
        udp_port: Some(4789),
    };
    assert!(c.vnis.iter().all(|v| v.tunnel == vxlan));
    assert_eq!(c.tunnels(), vec![vxlan]);
    assert_eq!(
        (c.underlay.geneve_port, c.underlay.nvgre_flow_id),
        (6081, false)
    );
    assert_eq!(c.underlay.neighbor_confirm_secs, 5);

    let c = Config::parse(&vni200("encap = \"geneve\"")).unwrap();
    let geneve = Tunnel {
        encap: Encap::Geneve,
        udp_port: Some(6081),
    };
    assert_eq!(c.tunnels(), vec![vxlan, geneve]);
    let c = Config::parse(&vni200("encap = \"geneve\"\nudp_port = 7000")).unwrap();
    assert_eq!(c.vnis[1].tunnel.udp_port, Some(7000));
    let c = Config::parse(
        &vni200("encap = \"geneve\"")
            .replace("udp_port = 4789", "udp_port = 4789\ngeneve_port = 6000"),
    )
    .unwrap();
    assert_eq!(c.vnis[1].tunnel.udp_port, Some(6000));
    // flannel's VXLAN port beside 4789.
    let c = Config::parse(&vni200("udp_port = 8472")).unwrap();
    assert_eq!(
        c.tunnels()[1],
        Tunnel {
            encap: Encap::Vxlan,
            udp_port: Some(8472)
        }
    );
    let c = Config::parse(&vni200("encap = \"nvgre\"").replace(
        "accept_unknown_sources = false",
        "accept_unknown_sources = false\nnvgre_flow_id = true",
    ))
    .unwrap();
    assert_eq!(
        c.vnis[1].tunnel,
        Tunnel {
            encap: Encap::Nvgre,
            udp_port: None
        }
    );
    assert!(c.underlay.nvgre_flow_id);
}

#[test]
fn bad_encapsulations_are_refused_with_the_line() {
    let e = err(&vni200("encap = \"stt\""));
    assert!(
        e.contains("vni.encap at line 38") && e.contains("\"geneve\""),
        "{e}"
    );
    let e = err(&vni200("encap = \"nvgre\"\nudp_port = 4789"));
    assert!(
        e.contains("vni.udp_port at line 39") && e.contains("IP protocol 47"),
        "{e}"
    );
    let e = err(&vni200("udp_port = 0"));
    assert!(e.contains("vni.udp_port"), "{e}");
    // One port, two encapsulations.
    let e = err(&vni200("encap = \"geneve\"\nudp_port = 4789"));
    assert!(e.contains("a UDP port carries one encapsulation"), "{e}");
    let e = err(&SAMPLE.replace("udp_port = 4789", "udp_port = 4789\ngeneve_port = 0"));
    assert!(e.contains("underlay.geneve_port"), "{e}");
}

#[test]
fn neighbor_confirmation_time() {
    let c = Config::parse(&SAMPLE.replace(
        "udp_port = 4789",
        "udp_port = 4789\nneighbor_confirm_secs = 30",
    ))
    .unwrap();
    assert_eq!(c.underlay.neighbor_confirm_secs, 30);
    for bad in ["0", "3601"] {
        let e = err(&SAMPLE.replace(
            "udp_port = 4789",
            &format!("udp_port = 4789\nneighbor_confirm_secs = {bad}"),
        ));
        assert!(
            e.contains("underlay.neighbor_confirm_secs") && e.contains("line"),
            "{e}"
        );
    }
}

#[test]
fn at_most_four_tunnels() {
    let mut text = SAMPLE.replace(
        "vlans = { 10 = 200 }",
        "vlans = { 10 = 200, 11 = 201, 12 = 202, 13 = 203 }",
    );
    for (id, port) in [(201, 5000), (202, 5001), (203, 5002)] {
        text.push_str(&format!("\n[[vni]]\nid = {id}\nudp_port = {port}\n"));
    }
    assert_eq!(Config::parse(&text).unwrap().tunnels().len(), 4);
    let text5 = text.replace("vlans = { 10 = 200,", "vlans = { 14 = 204, 10 = 200,")
        + "\n[[vni]]\nid = 204\nencap = \"nvgre\"\n";
    let e = err(&text5);
    assert!(e.contains("fifth tunnel (nvgre)"), "{e}");
}

#[test]
fn the_access_mtu_leaves_room_for_the_largest_encapsulation_of_the_port() {
    // NVGRE adds 42 bytes over IPv4, VXLAN and Geneve 50.
    let only_nvgre = SAMPLE
        .replace("vlans = { 10 = 200 }\n", "")
        .replace(
            "[[vni]]\nid = 100\n",
            "[[vni]]\nid = 100\nencap = \"nvgre\"\n",
        )
        .replace("[[vni]]\nid = 200\n", "");
    let c = Config::parse(&only_nvgre).unwrap();
    assert_eq!(c.access[0].mtu, 1458);
    let c = Config::parse(&vni200("encap = \"nvgre\"")).unwrap();
    assert_eq!(c.access[0].mtu, 1450, "VNI 100 is VXLAN on the same port");
    let e = err(&only_nvgre.replace(
        "port = \"net_af_packet1\"\nvni = 100\n",
        "port = \"net_af_packet1\"\nvni = 100\nmtu = 1459\n",
    ));
    assert!(
        e.contains("42 bytes of nvgre encapsulation leaves 1458"),
        "{e}"
    );
}

#[test]
fn evpn_vnis_are_vxlan_on_the_underlay_port() {
    let evpn = "[evpn]\nnetns = \"vtep\"\n";
    let base = SAMPLE
        .replace(
            "accept_unknown_sources = false",
            "accept_unknown_sources = false\nkernel_port = \"net_tap9\"",
        )
        .replace(
            "--vdev=net_af_packet1,iface=acc0\"",
            "--vdev=net_af_packet1,iface=acc0\", \"--vdev=net_tap9,iface=vtep0\"",
        );
    let with = |settings: &str| {
        format!(
            "{}\n{evpn}",
            base.replace(
                "[[vni]]\nid = 200\n",
                &format!("[[vni]]\nid = 200\n{settings}\n")
            )
        )
    };
    assert!(
        Config::parse(&with("")).is_ok(),
        "{:?}",
        Config::parse(&with(""))
    );
    let e = err(&with("encap = \"geneve\""));
    assert!(
        e.contains("vni.encap at line 39") && e.contains("FRR"),
        "{e}"
    );
    let e = err(&with("udp_port = 8472"));
    assert!(e.contains("vni.udp_port at line 39"), "{e}");
}

#[test]
fn a_vni_may_flood_to_a_multicast_group() {
    let c = Config::parse(&vni200("group = \"239.1.1.100\"")).unwrap();
    assert_eq!(c.vnis[1].group, Some("239.1.1.100".parse().unwrap()));
    assert_eq!(c.vnis[0].group, None);
    // A group has no next hop (no ARP for it, nothing sent via the
    // gateway): it is reached at its mapped MAC.
    assert_eq!(c.underlay.next_hop("239.1.1.100".parse().unwrap()), None);
    assert!(c.underlay.next_hop("192.0.2.2".parse().unwrap()).is_some());
    assert_eq!((c.underlay.mcast_ttl, c.underlay.igmp_version), (1, 3));
    let c = Config::parse(
        &vni200("group = \"239.1.1.100\"")
            .replace("ttl = 64", "ttl = 64\nmcast_ttl = 8\nigmp_version = 2"),
    )
    .unwrap();
    assert_eq!((c.underlay.mcast_ttl, c.underlay.igmp_version), (8, 2));
    // Two VNIs in one group, one tunnel: the kernel's layout.
    let two = vni200("group = \"239.1.1.100\"").replace(
        "flood = [\"192.0.2.2\", \"192.0.2.3\"]",
        "flood = [\"192.0.2.2\"]\ngroup = \"239.1.1.100\"",
    );
    let c = Config::parse(&two).unwrap();
    assert_eq!(c.vnis[0].group, c.vnis[1].group);
    // An IPv6 group over an IPv6 underlay.
    let c = Config::parse(&sample6().replace(
        "[[vni]]\nid = 200\n",
        "[[vni]]\nid = 200\ngroup = \"ff0e::1:100\"\n",
    ))
    .unwrap();
    assert_eq!(c.vnis[1].group, Some("ff0e::1:100".parse().unwrap()));
}

#[test]
fn bad_groups_are_refused_with_the_key_and_line() {
    for (g, why) in [
        ("192.0.2.9", "not a multicast address"),
        ("224.0.0.5", "224.0.0.0/24"),
        ("232.1.1.1", "source-specific"),
        ("ff0e::1", "IPv6 address but underlay.address"),
        ("bogus", "vni.group"),
    ] {
        let e = err(&vni200(&format!("group = \"{g}\"")));
        assert!(
            e.contains("vni.group at line 38") && e.contains(why),
            "{g}: {e}"
        );
    }
    let v6 = |g: &str| {
        err(&sample6().replace(
            "[[vni]]\nid = 200\n",
            &format!("[[vni]]\nid = 200\ngroup = \"{g}\"\n"),
        ))
    };
    for (g, why) in [
        ("ff01::5", "interface-local"),
        ("ff02::1", "well-known"),
        ("ff02::1:ff00:1", "well-known"),
        ("ff3e::8000:1", "source-specific"),
        ("239.1.1.1", "IPv4 address"),
    ] {
        let e = v6(g);
        assert!(e.contains("vni.group") && e.contains(why), "{g}: {e}");
    }
    let e = err(&sample6().replace("ttl = 64", "ttl = 64\nigmp_version = 2"));
    assert!(
        e.contains("underlay.igmp_version") && e.contains("MLDv2"),
        "{e}"
    );
    // One group, two tunnels: a receiver could not tell them apart.
    let e = err(
        &vni200("group = \"239.1.1.100\"\nencap = \"geneve\"").replace(
            "flood = [\"192.0.2.2\", \"192.0.2.3\"]",
            "group = \"239.1.1.100\"",
        ),
    );
    assert!(
        e.contains("vni.group") && e.contains("a group carries one tunnel"),
        "{e}"
    );
    for bad in ["mcast_ttl = 0", "igmp_version = 1", "mcast_ttl = 256"] {
        let e = err(&SAMPLE.replace("ttl = 64", &format!("ttl = 64\n{bad}")));
        let key = bad.split(' ').next().unwrap();
        assert!(e.contains(&format!("underlay.{key}")), "{bad}: {e}");
    }
}

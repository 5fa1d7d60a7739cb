//! Geneve and NVGRE against Open vSwitch 3.1 on its userspace datapath,
//! while VXLAN runs against Linux kernel VTEPs: one vtepd carries VNI 300
//! in Geneve and VNI 400 in NVGRE to OVS and VNI 100 in VXLAN to the
//! kernel at once, over an IPv4 and over an IPv6 underlay. Each wire
//! format is checked byte by byte in a capture on the underlay.
use std::net::IpAddr;

use vtep_lab::{iperf, Lab, LabOptions};

/// A captured frame's outer IP source, destination, protocol (next
/// header) and payload; None for what is neither IPv4 nor IPv6.
fn outer(f: &[u8]) -> Option<(IpAddr, IpAddr, u8, &[u8])> {
    match u16::from_be_bytes([f[12], f[13]]) {
        0x0800 => {
            let ihl = usize::from(f[14] & 0xf) * 4;
            let a = |o: usize| IpAddr::from(<[u8; 4]>::try_from(&f[o..o + 4]).unwrap());
            Some((a(26), a(30), f[23], &f[14 + ihl..]))
        }
        0x86dd => {
            let a = |o: usize| IpAddr::from(<[u8; 16]>::try_from(&f[o..o + 16]).unwrap());
            Some((a(22), a(38), f[20], &f[54..]))
        }
        _ => None,
    }
}

#[test]
fn geneve_and_nvgre_with_open_vswitch_beside_vxlan_with_the_kernel() {
    run(false);
}

#[test]
fn geneve_and_nvgre_with_open_vswitch_over_an_ipv6_underlay() {
    run(true);
}

fn run(ipv6: bool) {
    let lab = Lab::new(LabOptions {
        ovs: true,
        ipv6,
        ..LabOptions::default()
    });
    let log = || {
        format!(
            "{}\n--- ovs-vswitchd ---\n{}",
            lab.log(),
            lab.ovs.as_ref().map(|o| o.log()).unwrap_or_default()
        )
    };
    let cap = lab.capture(
        "ul",
        &lab.underlay_capture_iface(),
        if ipv6 {
            "udp port 6081 or ip6 proto 47 or udp port 4789"
        } else {
            "udp port 6081 or ip proto 47 or udp port 4789"
        },
    );
    assert!(
        lab.ping("t6", "10.0.0.18", 20),
        "Geneve: vtepd to OVS\n{}",
        log()
    );
    assert!(
        lab.ping("t9", "10.0.0.17", 20),
        "NVGRE: OVS to vtepd\n{}",
        log()
    );
    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "VXLAN: vtepd to the kernel\n{}",
        log()
    );
    // Segments stay apart: the Geneve tenant does not reach the NVGRE one.
    assert!(!lab.ping("t6", "10.0.0.19", 2));
    let mut geneve = 0;
    let mut nvgre = 0;
    let a = lab.addrs();
    let ours: IpAddr = a.vtep.parse().unwrap();
    let ovs: IpAddr = a.ovs.parse().unwrap();
    for f in cap.frames() {
        let Some((src, dst, proto, l4)) = outer(&f) else {
            continue;
        };
        if !((src == ours && dst == ovs) || (src == ovs && dst == ours)) {
            continue;
        }
        match proto {
            // UDP to 6081, then Geneve (RFC 8926 §3.4): version 0, the
            // option length OVS chose, protocol Ethernet, VNI 300.
            17 => {
                assert_eq!(u16::from_be_bytes([l4[2], l4[3]]), 6081);
                let g = &l4[8..];
                assert_eq!(g[0] >> 6, 0, "Geneve version");
                if src == ours {
                    assert_eq!(
                        &g[..8],
                        &[0, 0, 0x65, 0x58, 0, 1, 0x2c, 0],
                        "vtepd's Geneve header"
                    );
                    // Over IPv6 vtepd computes the UDP checksum (OVS
                    // verifies it: the pings show it right).
                    if ipv6 {
                        assert_ne!(&l4[6..8], &[0, 0], "UDP checksum over IPv6");
                    }
                }
                assert_eq!(&g[2..4], &[0x65, 0x58]);
                assert_eq!(&g[4..7], &[0, 1, 0x2c], "VNI 300");
                geneve += 1;
            }
            // GRE (RFC 7637 §3.2): K only, version 0, Ethernet, VSID 400.
            47 => {
                assert_eq!(
                    &l4[..4],
                    &[0x20, 0, 0x65, 0x58],
                    "GRE flags, version, protocol"
                );
                assert_eq!(&l4[4..7], &[0, 1, 0x90], "VSID 400");
                if src == ours {
                    assert_eq!(l4[7], 0, "FlowID 0 by default");
                }
                nvgre += 1;
            }
            p => panic!("IP protocol {p} between vtepd and OVS"),
        }
    }
    assert!(
        geneve >= 4 && nvgre >= 4,
        "geneve {geneve}, nvgre {nvgre} packets"
    );
    for (client, server, ip, what) in [
        ("t6", "t8", "10.0.0.18", "Geneve"),
        ("t7", "t9", "10.0.0.19", "NVGRE"),
    ] {
        for reverse in [false, true] {
            let r = iperf(&lab, client, server, ip, 2, reverse);
            assert!(
                r.bps > 1e6,
                "{what} iperf3 (reverse {reverse}): {} bit/s\n{}",
                r.bps,
                log()
            );
        }
    }
    let st = lab.ctl(&["stats"]);
    let vni = |id: u64| {
        st["vnis"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == id)
            .unwrap()
            .clone()
    };
    assert_eq!(vni(300)["encap"], "geneve");
    assert_eq!(vni(400)["encap"], "nvgre");
    assert_eq!(vni(100)["encap"], "vxlan");
    for id in [300, 400] {
        assert!(
            vni(id)["decap_packets"].as_u64().unwrap() > 100,
            "{}",
            vni(id)
        );
    }
    assert_eq!(st["drops"]["encap_mismatch"], 0, "{st}");
}

/// The GRE or Geneve packets between vtepd and OVS in a capture, as
/// (vtepd sent it, IP protocol, UDP destination port or 0, VNI).
fn tunnelled(lab: &Lab, frames: Vec<Vec<u8>>) -> Vec<(bool, u8, u16, u32)> {
    let a = lab.addrs();
    let ours: IpAddr = a.vtep.parse().unwrap();
    let ovs: IpAddr = a.ovs.parse().unwrap();
    let vni = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]);
    frames
        .iter()
        .filter_map(|f| {
            let (src, dst, proto, l4) = outer(f)?;
            if !((src == ours && dst == ovs) || (src == ovs && dst == ours)) {
                return None;
            }
            match proto {
                17 => Some((
                    src == ours,
                    17,
                    u16::from_be_bytes([l4[2], l4[3]]),
                    vni(&l4[12..]),
                )),
                47 => Some((src == ours, 47, 0, vni(&l4[4..]))),
                _ => None,
            }
        })
        .collect()
}

/// An operator moves VNI 300 from Geneve to NVGRE, then to Geneve on
/// another UDP port, by reloading vtepd and reconfiguring OVS's end: the
/// tenants reach each other after each step, vtepd's packets carry the
/// VNI's new encapsulation, and VNI 400 (NVGRE) is untouched throughout.
#[test]
fn reload_moves_a_vni_to_another_encapsulation_and_port() {
    let lab = Lab::new(LabOptions {
        ovs: true,
        ..LabOptions::default()
    });
    let ovs = lab.ovs.as_ref().unwrap();
    let log = || format!("{}\n--- ovs-vswitchd ---\n{}", lab.log(), ovs.log());
    let filter = "udp port 6081 or udp port 7081 or ip proto 47";
    assert!(
        lab.ping("t6", "10.0.0.18", 20),
        "Geneve at first\n{}",
        log()
    );
    let base = lab.config_text();
    let geneve = "id = 300\nencap = \"geneve\"\n";
    assert!(base.contains(geneve), "{base}");
    let encap_of_300 = || {
        let v = lab.ctl(&["vni", "show"]);
        let v = v
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["id"] == 300)
            .unwrap();
        (v["encap"].clone(), v["udp_port"].clone())
    };
    // NVGRE's header is 8 bytes shorter than Geneve's: without `mtu`, the
    // port's default MTU would grow, which only a restart applies. The
    // reload says so, with the way out, and changes nothing.
    let nvgre = base.replace(geneve, "id = 300\nencap = \"nvgre\"\n");
    lab.write_config(&nvgre);
    let (code, _, err) = lab.ctl_status(&["reload"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("its mtu would change from 1450 to 1458")
            && err.contains("set `mtu = 1450` on the port"),
        "{err}"
    );
    assert_eq!(encap_of_300().0, "geneve");
    let base = base.replace("vni = 300\n", "vni = 300\nmtu = 1450\n");
    for (vtepd, ovs_side, want) in [
        (
            "id = 300\nencap = \"nvgre\"\n",
            "type=gre options:key=76800",
            (47, 0),
        ),
        (
            "id = 300\nencap = \"geneve\"\nudp_port = 7081\n",
            "type=geneve options:key=300 options:dst_port=7081",
            (17, 7081),
        ),
    ] {
        lab.write_config(&base.replace(geneve, vtepd));
        let r = lab.ctl(&["reload"]);
        assert!(r["generation"].as_u64().is_some(), "{r}");
        ovs.vsctl(&format!("set interface gnv {ovs_side}"));
        let cap = lab.capture("ul", &lab.underlay_capture_iface(), filter);
        assert!(
            lab.ping("t6", "10.0.0.18", 20),
            "VNI 300 as {vtepd}\n{}",
            log()
        );
        assert!(lab.ping("t7", "10.0.0.19", 5), "VNI 400 untouched");
        let seen = tunnelled(&lab, cap.frames());
        let of_300: Vec<_> = seen.iter().filter(|p| p.3 == 300).collect();
        assert!(
            of_300.iter().any(|p| p.0) && of_300.iter().any(|p| !p.0),
            "VNI 300 both ways: {seen:?}"
        );
        // Once the ping went through, every packet of VNI 300 that vtepd
        // sends is in the new encapsulation.
        for p in of_300.iter().filter(|p| p.0) {
            assert_eq!((p.1, p.2), want, "{vtepd}: {seen:?}");
        }
        let (encap, port) = encap_of_300();
        assert_eq!(
            encap,
            if want.0 == 47 { "nvgre" } else { "geneve" },
            "vni show"
        );
        if want.1 != 0 {
            assert_eq!(port, want.1, "vni show");
        }
    }
    let st = lab.ctl(&["stats"]);
    assert_eq!(st["management"]["reloads"], 2, "{st}");
    assert_eq!(st["management"]["reloads_rejected"], 1, "{st}");
}

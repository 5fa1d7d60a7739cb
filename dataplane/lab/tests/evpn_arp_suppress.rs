//! ARP and ND suppression from EVPN MAC+IP routes, against Linux kernel
//! VTEPs driven by FRR 8.4 (`neigh_suppress on` on their VXLAN bridge
//! ports, an IPv4 and an IPv6 address on their SVI so that their kernels
//! learn local neighbours).
//!
//! Each side learns its own tenants' bindings (vtepd by snooping, the
//! kernels from traffic to their SVI) and advertises them as MAC+IP
//! routes; then every tenant's ARP and neighbour cache is flushed, and the
//! tenants reach each other both ways over IPv4 and IPv6 while the
//! underlay is captured at vtepd's port: no ARP request and no neighbour
//! solicitation crosses a tunnel. vtepd answers from the kernel VTEPs'
//! routes, the kernel VTEPs from vtepd's.
//!
//! Then a host moves: t1 (MAC and IPs unchanged) leaves k1 and appears
//! behind vtepd; its MAC+IP follows it to vtepd, and back.
use vtep_lab::{wait_for, Lab, LabOptions, T0_MAC, T1_MAC, T2_MAC};

const V6: &str = "2001:db8:100";
const CONFIGURED: &str = "02:00:00:00:00:30";

/// (ARP requests, neighbour solicitations from a specified source) inside
/// VXLAN frames of a capture of Ethernet frames.
fn resolutions_in_tunnels(frames: &[Vec<u8>]) -> (usize, usize) {
    let mut n = (0, 0);
    for f in frames {
        let Some(inner) = vxlan_payload(f) else {
            continue;
        };
        match inner.get(12..14) {
            Some([0x08, 0x06]) if inner.get(20..22) == Some(&[0, 1]) => n.0 += 1,
            Some([0x86, 0xdd]) => {
                let ip = &inner[14..];
                if ip.len() >= 41 && ip[6] == 58 && ip[40] == 135 && ip[8..24] != [0; 16] {
                    n.1 += 1;
                }
            }
            _ => {}
        }
    }
    n
}

/// The inner frame of an IPv4 VXLAN frame (UDP port 4789).
fn vxlan_payload(f: &[u8]) -> Option<&[u8]> {
    if f.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = f.get(14..)?;
    let ihl = usize::from(ip.first()? & 0x0f) * 4;
    if *ip.get(9)? != 17 {
        return None;
    }
    let udp = ip.get(ihl..)?;
    if udp.get(2..4)? != [0x12, 0xb5] {
        return None;
    }
    udp.get(16..)
}

/// vtepd's binding of `ip` in VNI 100: (MAC, source).
fn binding(lab: &Lab, ip: &str) -> Option<(String, String)> {
    let rows = lab.ctl(&["arp", "show", "--vni", "100"]);
    rows.as_array()?.iter().find_map(|r| {
        (r["ip"] == ip).then(|| {
            (
                r["mac"].as_str().unwrap_or("").to_string(),
                r["source"].as_str().unwrap_or("").to_string(),
            )
        })
    })
}

/// The kernel VTEP `k`'s neighbour entry for `ip` on its SVI.
fn kernel_neigh(lab: &Lab, k: &str, ip: &str) -> String {
    lab.exec(k, &format!("ip neigh show dev br100 to {ip}")).1
}

fn diag(lab: &Lab) -> String {
    let mut s = String::new();
    for r in ["cp", "k1", "k2"] {
        s += &format!(
            "--- {r} evpn arp-cache\n{}\n",
            lab.vtysh(r, "show evpn arp-cache vni all")
        );
    }
    for k in ["k1", "k2"] {
        s += &format!(
            "--- {k} neigh\n{}\n",
            lab.exec(k, "ip neigh show dev br100").1
        );
    }
    s += &format!(
        "--- cp neigh\n{}\n--- vtepd arp\n{}\n--- log\n{}",
        lab.exec("cp", "ip neigh show dev br100").1,
        lab.ctl(&["arp", "show"]),
        lab.log()
    );
    s
}

/// Turns IPv6 on for `iface` of `role` (the lab turns it off) and gives
/// it `addr`, without duplicate address detection.
fn ipv6(lab: &Lab, role: &str, iface: &str, addr: &str) {
    lab.must_exec(
        role,
        &format!("sysctl -qw net.ipv6.conf.{iface}.disable_ipv6=0"),
    );
    lab.must_exec(role, &format!("ip addr add {addr}/64 dev {iface} nodad"));
}

#[test]
fn arp_and_nd_answered_from_evpn_routes_on_both_sides() {
    // A host vtepd knows from its config alone: MAC on the access port,
    // and its addresses.
    let mut lab = Lab::new(LabOptions {
        evpn: true,
        arp_suppress: true,
        extra_config: format!(
            "[[fdb]]\nvni = 100\nmac = \"{CONFIGURED}\"\nport = \"net_af_packet1\"\nips = [\"10.0.0.30\", \"{V6}::30\"]\n"
        ),
        ..LabOptions::default()
    });
    assert!(
        wait_for(90, || lab.evpn_sessions("cp") == 2),
        "BGP sessions\n{}",
        diag(&lab)
    );
    // Kernel VTEPs: suppression on the VXLAN port, addresses on the SVI.
    for (k, n) in [("k1", 1), ("k2", 2)] {
        lab.must_exec(k, "bridge link set dev vx100 neigh_suppress on");
        lab.must_exec(k, &format!("ip addr add 10.0.0.20{n}/24 dev br100"));
        ipv6(&lab, k, "br100", &format!("{V6}::20{n}"));
    }
    let t1h = lab.ifname("t1h");
    let t2h = lab.ifname("t2h");
    ipv6(&lab, "t0", "tb", &format!("{V6}::10"));
    ipv6(&lab, "t1", &t1h, &format!("{V6}::11"));
    ipv6(&lab, "t2", &t2h, &format!("{V6}::12"));

    // Each side learns its tenants' bindings: the kernels from traffic to
    // their SVI, vtepd from t0's ARP and neighbour discovery.
    for (t, n) in [("t1", 1), ("t2", 2)] {
        assert!(lab.ping(t, &format!("10.0.0.20{n}"), 10), "{t} -> SVI");
        assert!(
            lab.exec(t, &format!("ping -6 -c 1 -W 2 {V6}::20{n}")).0,
            "{t} -> SVI (IPv6)\n{}",
            diag(&lab)
        );
    }
    assert!(lab.ping("t0", "10.0.0.11", 20), "t0 -> t1\n{}", diag(&lab));
    assert!(
        lab.exec("t0", &format!("ping -6 -c 1 -W 2 {V6}::11")).0,
        "t0 -> t1 (IPv6)\n{}",
        diag(&lab)
    );
    // MAC+IP routes in: vtepd holds the kernel VTEPs' tenants from EVPN.
    let evpn = |mac: &str| Some((mac.to_string(), "evpn".to_string()));
    assert!(
        wait_for(30, || {
            binding(&lab, "10.0.0.11") == evpn(T1_MAC)
                && binding(&lab, "10.0.0.12") == evpn(T2_MAC)
                && binding(&lab, &format!("{V6}::11")) == evpn(T1_MAC)
                && binding(&lab, &format!("{V6}::12")) == evpn(T2_MAC)
        }),
        "vtepd's bindings from MAC+IP routes\n{}",
        diag(&lab)
    );
    // MAC+IP routes out: the kernel VTEPs hold t0's (snooped) and the
    // configured host's, from vtepd.
    for k in ["k1", "k2"] {
        assert!(
            wait_for(30, || {
                [
                    kernel_neigh(&lab, k, "10.0.0.30"),
                    kernel_neigh(&lab, k, &format!("{V6}::30")),
                ]
                .iter()
                .all(|n| n.contains(CONFIGURED) && n.contains("extern_learn"))
            }),
            "{k} holds the configured binding from vtepd\n{}",
            diag(&lab)
        );
        assert!(
            wait_for(30, || {
                let (a, b) = (
                    kernel_neigh(&lab, k, "10.0.0.10"),
                    kernel_neigh(&lab, k, &format!("{V6}::10")),
                );
                [a, b]
                    .iter()
                    .all(|n| n.contains(T0_MAC) && n.contains("extern_learn"))
            }),
            "{k} holds t0's MAC+IP from vtepd\n{}",
            diag(&lab)
        );
    }

    // Every cache flushed; the tenants reach each other both ways.
    let before = lab.ctl(&["vni", "show"])[0].clone();
    let cap = lab.capture("ul", &lab.ifname("uu"), "udp port 4789");
    for t in ["t0", "t1", "t2"] {
        lab.must_exec(t, "ip neigh flush all");
        lab.must_exec(t, "ip -6 neigh flush all");
    }
    for (from, to) in [("t0", "11"), ("t0", "12"), ("t1", "10"), ("t2", "10")] {
        assert!(
            lab.ping(from, &format!("10.0.0.{to}"), 10),
            "{from} -> .{to}\n{}",
            diag(&lab)
        );
        assert!(
            lab.exec(from, &format!("ping -6 -c 1 -W 2 {V6}::{to}")).0,
            "{from} -> ::{to}\n{}",
            diag(&lab)
        );
    }
    let frames = cap.frames();
    assert!(
        frames.iter().filter(|f| vxlan_payload(f).is_some()).count() >= 16,
        "the pings crossed the underlay: {} frames",
        frames.len()
    );
    assert_eq!(
        resolutions_in_tunnels(&frames),
        (0, 0),
        "(ARP requests, neighbour solicitations) that crossed a tunnel\n{}",
        diag(&lab)
    );
    let after = lab.ctl(&["vni", "show"])[0].clone();
    let answered = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    assert!(
        answered(&after, "arp_suppressed") >= answered(&before, "arp_suppressed") + 2
            && answered(&after, "nd_suppressed") >= answered(&before, "nd_suppressed") + 2,
        "vtepd answered t0's requests for t1 and t2: {before} -> {after}"
    );

    // t1 moves behind vtepd, addresses unchanged: its MAC+IP follows.
    lab.must_exec("t1", &format!("ip link set {t1h} down"));
    lab.access_host("m1", T1_MAC, "10.0.0.11");
    ipv6(&lab, "m1", &lab.ifname("m1h"), &format!("{V6}::11"));
    assert!(
        lab.ping("m1", "10.0.0.12", 20),
        "moved t1 -> t2\n{}",
        diag(&lab)
    );
    assert!(
        lab.exec("m1", &format!("ping -6 -c 1 -W 2 {V6}::12")).0,
        "moved t1 -> t2 (IPv6)\n{}",
        diag(&lab)
    );
    let snooped = |mac: &str| Some((mac.to_string(), "snooped".to_string()));
    assert!(
        wait_for(30, || binding(&lab, "10.0.0.11") == snooped(T1_MAC)
            && binding(&lab, &format!("{V6}::11")) == snooped(T1_MAC)),
        "vtepd holds t1's bindings as its own after the move\n{}",
        diag(&lab)
    );
    assert!(
        wait_for(30, || {
            let n = kernel_neigh(&lab, "k2", "10.0.0.11");
            n.contains(T1_MAC)
                && n.contains("extern_learn")
                && lab
                    .exec("k2", "bridge fdb show dev vx100")
                    .1
                    .lines()
                    .any(|l| {
                        l.starts_with(T1_MAC) && l.contains(&format!("dst {}", vtep_lab::VTEP_IP))
                    })
        }),
        "k2 follows t1's MAC+IP to vtepd\n{}",
        diag(&lab)
    );
    // And back to k1. k1's kernel learns t1's address only from an ARP
    // request for its own SVI address that comes after zebra removed the
    // extern-learned entry vtepd's route had put there (the kernel does
    // not override it from traffic): t1 asks again until it does.
    lab.must_exec("m1", &format!("ip link set {} down", lab.ifname("m1h")));
    lab.must_exec("t1", &format!("ip link set {t1h} up"));
    assert!(
        wait_for(40, || {
            lab.exec("t1", "ip neigh flush all");
            lab.exec("t1", "ping -c 1 -W 1 10.0.0.201");
            binding(&lab, "10.0.0.11") == evpn(T1_MAC)
        }),
        "vtepd follows t1's MAC+IP back to k1\n{}",
        diag(&lab)
    );
}

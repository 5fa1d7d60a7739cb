//! BGP EVPN through FRR (`[evpn] netns`): vtepd with its FRR (namespace
//! "cp", reached through the exception path) and two Linux kernel VTEPs,
//! each with its own FRR, in one iBGP fabric with `advertise-all-vni`.
//! Type-3 routes make the flood lists both ways, type-2 routes carry the
//! tenant MACs both ways, a tenant moves from behind a kernel VTEP to
//! behind vtepd and traffic follows, and a vtepd killed (SIGKILL) and
//! started again rebuilds its state from the mirror and FRR.

use vtep_lab::{
    fdb_row, unix_now, wait_for, Lab, LabOptions, K1_IP, K2_IP, T0_MAC, T1_MAC, T2_MAC, VTEP_IP,
};

/// vtepd's FDB entry for `mac` in VNI 100: (kind, where).
fn fdb_entry(lab: &Lab, mac: &str) -> Option<(String, String)> {
    fdb_row(&lab.ctl(&["fdb", "show", "--vni", "100"]), mac)
}

fn diag(lab: &Lab) -> String {
    format!(
        "--- cp bgp\n{}\n--- cp macs\n{}\n--- k1 macs\n{}\n--- k2 fdb\n{}\n--- vtepd fdb\n{}\n--- vni\n{}\n--- log\n{}",
        lab.vtysh("cp", "show bgp l2vpn evpn summary"),
        lab.vtysh("cp", "show evpn mac vni all"),
        lab.vtysh("k1", "show evpn mac vni all"),
        lab.exec("k2", "bridge fdb show dev vx100").1,
        lab.ctl_text(&["fdb", "show"]),
        lab.ctl(&["vni", "show"]),
        lab.log()
    )
}

/// How often the FRR of `role` has established its session with vtepd's.
fn established(lab: &Lab, role: &str) -> u64 {
    let j: serde_json::Value =
        serde_json::from_str(&lab.vtysh(role, "show bgp neighbors json")).unwrap_or_default();
    j[VTEP_IP]["connectionsEstablished"]
        .as_u64()
        .unwrap_or_else(|| panic!("{role}'s session with vtepd: {j}"))
}

/// The kernel VTEP `k`'s FDB line for `mac` on its VXLAN device.
fn kernel_fdb(lab: &Lab, k: &str, mac: &str) -> String {
    let (_, out) = lab.exec(k, "bridge fdb show dev vx100");
    out.lines()
        .filter(|l| l.starts_with(mac))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn evpn_fabric_with_kernel_vteps() {
    let mut lab = Lab::new(LabOptions {
        evpn: true,
        ..LabOptions::default()
    });
    assert!(
        wait_for(90, || lab.evpn_sessions("cp") == 2),
        "vtepd's FRR peers with k1 and k2 through the exception path\n{}",
        diag(&lab)
    );

    // Type-3 in: the kernel VTEPs are vtepd's flood list, from EVPN.
    assert!(
        wait_for(30, || {
            let v = lab.ctl(&["vni", "show"]);
            let s = v[0]["flood_sources"].to_string();
            s.contains(K1_IP) && s.contains(K2_IP) && !s.contains("config")
        }),
        "flood list from type-3 routes\n{}",
        diag(&lab)
    );
    // Type-3 out: the kernel VTEPs flood to vtepd.
    for k in ["k1", "k2"] {
        assert!(
            wait_for(30, || kernel_fdb(&lab, k, "00:00:00:00:00:00")
                .contains(&format!("dst {VTEP_IP}"))),
            "{k} floods to vtepd\n{}",
            diag(&lab)
        );
    }

    // Tenants reach each other both ways.
    assert!(lab.ping("t0", "10.0.0.11", 20), "t0 -> t1\n{}", diag(&lab));
    assert!(lab.ping("t0", "10.0.0.12", 20), "t0 -> t2\n{}", diag(&lab));
    assert!(lab.ping("t1", "10.0.0.10", 10), "t1 -> t0\n{}", diag(&lab));

    // Type-2 out: t0, learned by vtepd, is behind vtepd in the kernel VTEPs.
    for k in ["k1", "k2"] {
        assert!(
            wait_for(20, || kernel_fdb(&lab, k, T0_MAC)
                .contains(&format!("dst {VTEP_IP}"))),
            "{k} has t0 behind vtepd\n{}",
            diag(&lab)
        );
    }
    assert!(
        lab.vtysh("cp", "show evpn mac vni all").contains(T0_MAC),
        "zebra has t0 as a local MAC\n{}",
        diag(&lab)
    );
    // Type-2 in: t1 and t2 are EVPN entries in vtepd.
    assert!(
        wait_for(20, || fdb_entry(&lab, T1_MAC)
            == Some(("evpn".into(), K1_IP.into()))
            && fdb_entry(&lab, T2_MAC) == Some(("evpn".into(), K2_IP.into()))),
        "t1 and t2 from type-2 routes\n{}",
        diag(&lab)
    );
    assert_eq!(fdb_entry(&lab, T0_MAC).map(|e| e.0), Some("learned".into()));

    // t1 migrates: it leaves k1 and appears behind vtepd's access port.
    lab.must_exec("t1", &format!("ip link set {} down", lab.ifname("t1h")));
    lab.access_host("m1", T1_MAC, "10.0.0.11");
    assert!(
        lab.ping("m1", "10.0.0.12", 20),
        "the moved host reaches t2\n{}",
        diag(&lab)
    );
    assert!(
        wait_for(20, || fdb_entry(&lab, T1_MAC)
            .is_some_and(|e| e.0 == "learned")),
        "vtepd holds t1 locally after the move\n{}",
        diag(&lab)
    );
    for k in ["k1", "k2"] {
        assert!(
            wait_for(30, || kernel_fdb(&lab, k, T1_MAC)
                .contains(&format!("dst {VTEP_IP}"))),
            "{k} follows t1 to vtepd\n{}",
            diag(&lab)
        );
    }
    assert!(
        lab.ping("t2", "10.0.0.11", 10),
        "traffic to t1 follows it\n{}",
        diag(&lab)
    );

    let st = lab.ctl(&["stats"]);
    let m = &st["management"];
    assert!(m["evpn_updates_in"].as_u64() >= Some(4), "{m}");
    assert!(m["evpn_updates_out"].as_u64() >= Some(2), "{m}");
    assert_eq!(m["evpn_errors"], 0, "{m}\n{}", lab.log());

    // Killed (SIGKILL: its mirror, tap and socket left as they were) and
    // started again: state comes back from the mirror and FRR.
    // Watch k2's entries for t0 (vtepd's type-2 route) and for flooding to
    // vtepd (its type-3 route) across the restart, and the BGP sessions.
    let sessions = |lab: &Lab| (established(lab, "k1"), established(lab, "k2"));
    let sessions_before = sessions(&lab);
    let watch = {
        let ns = lab.ns("k2");
        std::thread::spawn(move || {
            let until = std::time::Instant::now() + std::time::Duration::from_secs(4);
            let (mut samples, mut absent) = (0, [0, 0]);
            while std::time::Instant::now() < until {
                let (_, out) =
                    vtep_lab::sh(&format!("ip netns exec {ns} bridge fdb show dev vx100"));
                for (i, mac) in [T0_MAC, "00:00:00:00:00:00"].iter().enumerate() {
                    if !out
                        .lines()
                        .any(|l| l.starts_with(mac) && l.contains(VTEP_IP))
                    {
                        absent[i] += 1;
                    }
                }
                samples += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            (samples, absent)
        })
    };
    let started = lab.kill_and_restart_vtepd();
    assert!(
        wait_for(10, || fdb_entry(&lab, T2_MAC)
            == Some(("evpn".into(), K2_IP.into()))),
        "after a restart, t2 is read back from the mirror\n{}",
        diag(&lab)
    );
    let since = |t: f64| unix_now() - t;
    eprintln!(
        "EVPN after SIGKILL: t2's route back in the FDB {:.2} s after the new vtepd started",
        since(started)
    );
    assert!(
        lab.ping("t0", "10.0.0.12", 30),
        "t0 -> t2 after the restart\n{}",
        diag(&lab)
    );
    assert!(
        wait_for(60, || kernel_fdb(&lab, "k2", T0_MAC)
            .contains(&format!("dst {VTEP_IP}"))),
        "t0 still advertised after the restart\n{}",
        diag(&lab)
    );
    eprintln!(
        "EVPN after SIGKILL: t0's route at k2 as before, {:.2} s after the new vtepd started",
        since(started)
    );
    let (samples, [absent, flood_absent]) = watch.join().unwrap();
    eprintln!(
        "EVPN across SIGKILL: of k2's {samples} samples (every 20 ms), t0's route was absent \
         in {absent}, vtepd's flood route in {flood_absent}; BGP sessions established \
         (k1, k2) {sessions_before:?} before, {:?} after",
        sessions(&lab)
    );
    assert_eq!(
        (absent, flood_absent),
        (0, 0),
        "the peers keep vtepd's routes across its restart\n{}",
        diag(&lab)
    );
    assert_eq!(
        sessions(&lab),
        sessions_before,
        "the BGP sessions ride through the restart\n{}",
        diag(&lab)
    );
    // A reload that adds a VNI builds its mirror (zebra sees the VNI);
    // one that removes it takes the mirror away.
    let base = std::fs::read_to_string(lab.config_path()).unwrap();
    let with300 = base.replace(
        "[[access]]\nport = \"net_af_packet1\"\nvni = 100\n",
        "[[access]]\nport = \"net_af_packet1\"\nvni = 100\nvlans = { 30 = 300 }\n",
    ) + "\n[[vni]]\nid = 300\n";
    lab.write_config(&with300);
    assert!(lab.ctl(&["reload"])["generation"].as_u64().is_some());
    assert!(
        wait_for(20, || lab.vtysh("cp", "show evpn vni").contains("vxlan300")),
        "zebra sees VNI 300 after the reload\n{}",
        diag(&lab)
    );
    lab.write_config(&base);
    assert!(lab.ctl(&["reload"])["generation"].as_u64().is_some());
    assert!(
        wait_for(10, || !lab.exec("cp", "ip link show vxlan300").0),
        "VNI 300's mirror is gone\n{}",
        diag(&lab)
    );

    let st = lab.ctl(&["stats"]);
    let m = &st["management"];
    assert!(m["evpn_resyncs"].as_u64() >= Some(2), "{m}");
    assert_eq!(m["evpn_errors"], 0, "{m}\n{}", lab.log());
}

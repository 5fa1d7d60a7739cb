//! Two vtepd instances, each with its own FRR, in one EVPN fabric with two
//! Linux kernel VTEPs: they find each other by type-3 routes, learn each
//! other's tenants by type-2 routes, and their tenants talk.

use vtep_lab::{fdb_row, wait_for, Lab, LabOptions, T0_MAC, T5_MAC, VTEP2_IP, VTEP_IP};

#[test]
fn two_vtepds_in_one_fabric() {
    let lab = Lab::new(LabOptions {
        evpn: true,
        evpn_second: true,
        ..LabOptions::default()
    });
    let diag = || {
        format!(
            "--- cp\n{}\n--- cp2\n{}\n--- vtepd fdb\n{}\n--- vtepd2 fdb\n{}\n--- vtepd2 vni\n{}\n--- vtepd2 log\n{}",
            lab.vtysh("cp", "show bgp l2vpn evpn summary"),
            lab.vtysh("cp2", "show evpn mac vni all"),
            lab.ctl(&["fdb", "show"]),
            lab.ctl2(&["fdb", "show"]),
            lab.ctl2(&["vni", "show"]),
            std::fs::read_to_string(lab.dir.join("vtepd2.log")).unwrap_or_default()
        )
    };
    // Each vtepd floods to the other (and to k1, k2) from type-3 routes.
    assert!(
        wait_for(90, || {
            let a = lab.ctl(&["vni", "show"])[0]["flood"].to_string();
            let b = lab.ctl2(&["vni", "show"])[0]["flood"].to_string();
            a.contains(VTEP2_IP) && b.contains(VTEP_IP) && a.matches('.').count() >= 9
        }),
        "flood lists from type-3 routes\n{}",
        diag()
    );
    assert!(
        lab.ping("t0", "10.0.0.15", 20),
        "t0 -> t5 (vtepd to vtepd)\n{}",
        diag()
    );
    assert!(
        lab.ping("t5", "10.0.0.11", 20),
        "t5 -> t1 (vtepd2 to k1)\n{}",
        diag()
    );
    assert!(
        wait_for(20, || fdb_row(&lab.ctl(&["fdb", "show"]), T5_MAC)
            == Some(("evpn".into(), VTEP2_IP.into()))
            && fdb_row(&lab.ctl2(&["fdb", "show"]), T0_MAC)
                == Some(("evpn".into(), VTEP_IP.into()))),
        "each has the other's tenant from type-2 routes\n{}",
        diag()
    );
    for ctl in [lab.ctl(&["stats"]), lab.ctl2(&["stats"])] {
        assert_eq!(ctl["management"]["evpn_errors"], 0, "{}", ctl["management"]);
    }
}

//! Geneve and NVGRE against Open vSwitch 3.1 on its userspace datapath,
//! while VXLAN runs against Linux kernel VTEPs: one vtepd carries VNI 300
//! in Geneve and VNI 400 in NVGRE to OVS and VNI 100 in VXLAN to the
//! kernel at once. Each wire format is checked byte by byte in a capture
//! on the underlay.
use vtep_lab::{iperf, Lab, LabOptions, OVS_IP};

#[test]
fn geneve_and_nvgre_with_open_vswitch_beside_vxlan_with_the_kernel() {
    let lab = Lab::new(LabOptions {
        ovs: true,
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
        "udp port 6081 or ip proto 47 or udp port 4789",
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
    for f in cap.frames() {
        let (src, dst) = (&f[26..30], &f[30..34]);
        let ours = [192, 0, 2, 1];
        let ovs: Vec<u8> = OVS_IP.split('.').map(|x| x.parse().unwrap()).collect();
        if !((src == ours && dst == ovs) || (src == ovs && dst == ours)) {
            continue;
        }
        match f[23] {
            // UDP to 6081, then Geneve (RFC 8926 §3.4): version 0, the
            // option length OVS chose, protocol Ethernet, VNI 300.
            17 => {
                assert_eq!(u16::from_be_bytes([f[36], f[37]]), 6081);
                assert_eq!(f[42] >> 6, 0, "Geneve version");
                if src == ours {
                    assert_eq!(
                        &f[42..50],
                        &[0, 0, 0x65, 0x58, 0, 1, 0x2c, 0],
                        "vtepd's Geneve header"
                    );
                }
                assert_eq!(&f[44..46], &[0x65, 0x58]);
                assert_eq!(&f[46..49], &[0, 1, 0x2c], "VNI 300");
                geneve += 1;
            }
            // GRE (RFC 7637 §3.2): K only, version 0, Ethernet, VSID 400.
            47 => {
                assert_eq!(
                    &f[34..38],
                    &[0x20, 0, 0x65, 0x58],
                    "GRE flags, version, protocol"
                );
                assert_eq!(&f[38..41], &[0, 1, 0x90], "VSID 400");
                if src == ours {
                    assert_eq!(f[41], 0, "FlowID 0 by default");
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

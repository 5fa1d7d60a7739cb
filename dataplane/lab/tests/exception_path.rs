//! The exception path (`[underlay] kernel_port`): vtepd runs in a namespace
//! of its own with a net_tap whose kernel interface carries the VTEP
//! address. The kernel there is on the underlay through vtepd's port: it
//! answers pings (on-link and routed), resolves its neighbours by ARP
//! through the tap, and serves TCP on port 179 (BGP's) to a peer behind
//! the router, while VXLAN keeps flowing through the data plane. GRE and
//! Geneve to the VTEP address, which no VNI of this lab takes, reach the
//! kernel too, and its answers (ICMP unreachable) come back.
use vtep_lab::{tcp_exchange, Lab, LabOptions, K1_IP, VTEP_IP};
use vtep_testsupport::wait_for;

#[test]
fn the_kernel_reaches_the_underlay_through_vtepd() {
    let lab = Lab::new(LabOptions {
        kernel_port: true,
        ..LabOptions::default()
    });
    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "overlay t0 -> t1\n{}",
        lab.log()
    );
    assert!(lab.ping("t0", "10.0.0.12", 20), "overlay t0 -> t2");
    assert!(
        lab.ping("k1", VTEP_IP, 10),
        "k1 pings the VTEP address\n{}",
        lab.log()
    );
    assert!(
        lab.ping("k2", VTEP_IP, 10),
        "k2 pings it through the router"
    );

    // The kernel side: the interface is dressed as the VTEP, and the
    // kernel resolved its default gateway by ARP through the tap.
    let kt = lab.ifname("kt");
    let (_, a) = lab.exec("vn", &format!("ip -4 addr show dev {kt}"));
    assert!(a.contains(&format!("{VTEP_IP}/24")), "{a}");
    let (_, n) = lab.exec("vn", "ip neigh show 192.0.2.254");
    assert!(n.contains("lladdr"), "gateway resolved by the kernel: {n}");

    // TCP to port 179 from a peer behind the router, both ways.
    let out = tcp_exchange(&lab, "vn", "k2", VTEP_IP, 179);
    assert!(out.contains("OPEN"), "TCP across the exception path: {out}");

    // GRE (IP protocol 47) and Geneve (UDP 6081) to the VTEP address: no
    // VNI here is NVGRE or Geneve, so both are the kernel's, as any other
    // protocol is. This kernel has neither module: it answers protocol
    // and port unreachable.
    let kt_cap = lab.capture("vn", &kt, "ip proto 47 or udp port 6081");
    let k1_cap = lab.capture("k1", &lab.ifname("k1d"), "icmp");
    lab.must_exec(
        "k1",
        &format!(
            "python3 -c \"import socket\n\
             g=socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)\n\
             u=socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n\
             for i in range(3):\n  \
               g.sendto(bytes([0x20, 0, 0x65, 0x58, 0, 0, 100, 0]) + bytes(60), ('{VTEP_IP}', 0))\n  \
               u.sendto(bytes([0, 0, 0x65, 0x58, 0, 0, 100, 0]) + bytes(60), ('{VTEP_IP}', 6081))\""
        ),
    );
    let count = |proto: u8| {
        let to_kernel = kt_cap.so_far();
        to_kernel.iter().filter(|f| f[23] == proto).count()
    };
    assert!(
        wait_for(5, || count(47) == 3 && count(17) == 3),
        "GRE and Geneve reach the kernel: {} and {} of 3",
        count(47),
        count(17)
    );
    // ICMP destination unreachable: protocol (2) for GRE, port (3) for
    // UDP; the kernel rate-limits them, so at least one of each.
    assert!(
        wait_for(5, || {
            let back = k1_cap.so_far();
            [2u8, 3].iter().all(|code| {
                back.iter()
                    .any(|f| f[23] == 1 && f[34] == 3 && f[35] == *code)
            })
        }),
        "the kernel's unreachables come back through vtepd"
    );

    let st = lab.ctl(&["stats"]);
    let m = &st["management"];
    let n = |k: &str| m[k].as_u64().unwrap();
    assert_eq!(n("echo_replies_sent"), 0, "the kernel answers pings: {m}");
    assert!(
        n("kernel_tx_frames") >= 10 && n("kernel_rx_frames") >= 10,
        "{m}"
    );
    assert_eq!(n("kernel_tx_failed"), 0, "{m}");
    let a = &st["accounting"];
    let c = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(c("rx_packets"), c("forwarded") + c("dropped") + c("punted"));
    for r in [
        "underlay_protocol",
        "icmp_unsupported",
        "udp_not_vxlan_port",
    ] {
        assert_eq!(st["drops"][r], 0, "{r}: {}", st["drops"]);
    }
    assert!(
        st["ports"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "net_tap9"),
        "the tap is in the port statistics"
    );
    // vtepd still resolves its own next hops (ARP is shared).
    for ip in [K1_IP, "192.0.2.254"] {
        let n = lab.neighbor(ip);
        assert_eq!(n["state"], "reachable", "{ip}: {n}");
    }
}

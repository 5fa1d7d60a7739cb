//! The exception path over an IPv6 underlay: the kernel behind vtepd's
//! tap answers ping6 on-link and routed, resolves its gateway by neighbour
//! discovery through the tap (while vtepd resolves its own next hops), and
//! serves TCP on port 179 over IPv6; VXLAN over IPv6 keeps flowing.
use vtep_lab::{tcp_exchange, Lab, LabOptions, V6};

#[test]
fn the_kernel_reaches_an_ipv6_underlay_through_vtepd() {
    let lab = Lab::new(LabOptions {
        kernel_port: true,
        ipv6: true,
        ..LabOptions::default()
    });
    assert!(
        lab.ping("t0", "10.0.0.11", 20),
        "overlay t0 -> t1\n{}",
        lab.log()
    );
    assert!(lab.ping("t0", "10.0.0.12", 20), "overlay t0 -> t2");
    assert!(
        lab.ping("k1", V6.vtep, 10),
        "k1 pings6 the VTEP\n{}",
        lab.log()
    );
    assert!(
        lab.ping("k2", V6.vtep, 10),
        "k2 pings6 it through the router"
    );
    let (_, n) = lab.exec("vn", &format!("ip -6 neigh show {}", V6.gw));
    assert!(n.contains("lladdr"), "the kernel resolved its gateway: {n}");

    let out = tcp_exchange(&lab, "vn", "k2", V6.vtep, 179);
    assert!(out.contains("OPEN"), "TCP across the exception path: {out}");

    let st = lab.ctl(&["stats"]);
    let m = &st["management"];
    let n = |k: &str| m[k].as_u64().unwrap();
    assert_eq!(n("echo_replies_sent"), 0, "the kernel answers: {m}");
    assert!(
        n("kernel_tx_frames") >= 10 && n("kernel_rx_frames") >= 10,
        "{m}"
    );
    assert_eq!(n("kernel_tx_failed"), 0, "{m}");
    let a = &st["accounting"];
    let c = |k: &str| a[k].as_u64().unwrap();
    assert_eq!(c("rx_packets"), c("forwarded") + c("dropped") + c("punted"));
    let gw = lab.neighbor(V6.gw);
    assert_eq!(
        gw["state"], "reachable",
        "vtepd still resolves its gateway: {gw}"
    );
}

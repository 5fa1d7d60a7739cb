//! Builds the interop lab around vtepd (Linux kernel VXLAN peers, tenant
//! hosts and an underlay router in network namespaces). With `--demo` it
//! shows the overlay working; with `--keep` it stays until Ctrl-C.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use vtep_lab::{iperf, Lab, LabOptions, PortKind};

#[derive(Parser)]
#[command(about = "Run vtepd in a lab of namespaces with Linux kernel VXLAN peers")]
struct Args {
    /// Use net_tap ports instead of net_af_packet.
    #[arg(long)]
    tap: bool,
    /// Learn everything (no static FDB entries).
    #[arg(long)]
    learn: bool,
    /// An IPv6 underlay (VXLAN over IPv6; the tenants stay IPv4).
    #[arg(long)]
    ipv6: bool,
    /// BGP EVPN: vtepd and the kernel VTEPs each run FRR; MACs and flood
    /// lists come from BGP (no static entries, no flood list in the config).
    #[arg(long)]
    evpn: bool,
    /// Show the overlay working: pings, iperf3, FDB and stats.
    #[arg(long)]
    demo: bool,
    /// Keep the lab until Ctrl-C.
    #[arg(long)]
    keep: bool,
}

const TOPOLOGY: &str = r#"
  namespaces (all removed on exit)
                                                                   ┌─ k1: kernel VTEP 192.0.2.2 ── br ── t1 10.0.0.11
  t0 10.0.0.10 ── access ── vtepd (DPDK) ── underlay ── ul: router ┤    (same subnet as vtepd)
  (tenant)                  VTEP 192.0.2.1               192.0.2.254└─ k2: kernel VTEP 198.51.100.2 ── br ── t2 10.0.0.12
                                                                        (behind the gateway)
  VNI 100 joins t0, t1 and t2 into one Layer 2 segment over the routed underlay.
"#;

const TOPOLOGY6: &str = r#"
  namespaces (all removed on exit)
                                                                  ┌─ k1: kernel VTEP 2001:db8:1::2 ── br ── t1 10.0.0.11
  t0 10.0.0.10 ── access ── vtepd (DPDK) ── underlay ── ul: router ┤    (same link as vtepd)
  (tenant)                  VTEP 2001:db8:1::1        2001:db8:1::fe└─ k2: kernel VTEP 2001:db8:2::2 ── br ── t2 10.0.0.12
                                                                        (behind the gateway, found by neighbour discovery)
  VNI 100 joins t0, t1 and t2 into one Layer 2 segment over a routed IPv6 underlay.
"#;

const TOPOLOGY_EVPN: &str = r#"
  namespaces (all removed on exit)
                                                                   ┌─ k1: kernel VTEP 192.0.2.2 + FRR ── br ── t1 10.0.0.11
  t0 10.0.0.10 ── access ── vtepd (DPDK) ── underlay ── ul: router ┤
  (tenant)                  VTEP 192.0.2.1               192.0.2.254└─ k2: kernel VTEP 198.51.100.2 + FRR ── br ── t2 10.0.0.12
                            │ exception path (net_tap) and kernel mirror of VNI 100
                            cp: FRR (zebra + bgpd), iBGP AS 65000 to k1 and k2, advertise-all-vni
  vtepd's flood list and remote MACs come from BGP EVPN (type-3 and type-2 routes);
  the MACs it learns are advertised to the kernel VTEPs the same way.
"#;

fn step(s: &str) {
    println!("\n\x1b[1m== {s}\x1b[0m");
}

fn main() {
    let a = Args::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).expect("signal handler");
    }
    println!(
        "{}",
        match (a.ipv6, a.evpn) {
            (true, _) => TOPOLOGY6,
            (false, true) => TOPOLOGY_EVPN,
            _ => TOPOLOGY,
        }
    );
    if a.ipv6 && a.evpn {
        eprintln!("--evpn runs over an IPv4 underlay (FRR 8.4 has no IPv6 VTEPs)");
        std::process::exit(2);
    }
    let lab = Lab::new(LabOptions {
        kind: if a.tap {
            PortKind::Tap
        } else {
            PortKind::AfPacket
        },
        static_fdb: !a.learn,
        ipv6: a.ipv6,
        evpn: a.evpn,
        ..LabOptions::default()
    });
    println!(
        "vtepd runs with {} ports; namespaces vtl{}*; control socket {}",
        if a.tap { "net_tap" } else { "net_af_packet" },
        lab.id,
        lab.socket().display()
    );
    let mut failed = false;
    if a.demo && a.evpn {
        step("BGP EVPN sessions of vtepd's FRR (vtysh -N <cp namespace>)");
        let t = std::time::Instant::now();
        while lab.evpn_sessions("cp") < 2 && t.elapsed().as_secs() < 60 {
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        print!("{}", lab.vtysh("cp", "show bgp l2vpn evpn summary"));
        failed |= lab.evpn_sessions("cp") < 2;
        step("vtepctl vni show: the flood list, from type-3 routes");
        while !lab.ctl_text(&["vni", "show"]).contains("198.51.100.2") && t.elapsed().as_secs() < 60
        {
            std::thread::sleep(std::time::Duration::from_millis(250));
        }
        print!("{}", lab.ctl_text(&["vni", "show"]));
    }
    if a.demo {
        for (from, to, what) in [
            ("t0", "10.0.0.11", "t0 -> t1 (kernel VTEP k1, on-link)"),
            (
                "t0",
                "10.0.0.12",
                "t0 -> t2 (kernel VTEP k2, through the gateway)",
            ),
            ("t2", "10.0.0.10", "t2 -> t0"),
        ] {
            step(&format!("ping {what}"));
            if lab.ping(from, to, 15) {
                print!("{}", lab.exec(from, &format!("ping -c 3 -i 0.2 {to}")).1);
            } else {
                println!("no answer");
                failed = true;
            }
        }
        for reverse in [false, true] {
            step(&format!(
                "iperf3 TCP, 3 s, {}",
                if reverse { "t1 -> t0" } else { "t0 -> t1" }
            ));
            let r = iperf(&lab, "t0", "t1", "10.0.0.11", 3, reverse);
            println!("{:.0} Mbit/s, {} retransmits", r.bps / 1e6, r.retransmits);
            failed |= r.bps <= 0.0;
        }
        if a.ipv6 {
            let vtep = lab.addrs().vtep;
            step(&format!(
                "ping6 the VTEP address {vtep} from k2 (through the router)"
            ));
            if lab.ping("k2", vtep, 10) {
                print!("{}", lab.exec("k2", &format!("ping -c 2 -i 0.2 {vtep}")).1);
            } else {
                println!("no answer");
                failed = true;
            }
        }
        step("vtepctl fdb show");
        print!("{}", lab.ctl_text(&["fdb", "show"]));
        if a.evpn {
            step("vtysh show evpn mac vni all (vtepd's FRR: local = learned by vtepd)");
            print!("{}", lab.vtysh("cp", "show evpn mac vni all"));
            step("bridge fdb show dev vx100 on k1 (the kernel VTEP got vtepd's MACs)");
            print!("{}", lab.exec("k1", "bridge fdb show dev vx100").1);
        }
        step("vtepctl neigh show");
        print!("{}", lab.ctl_text(&["neigh", "show"]));
        step("vtepctl stats");
        print!("{}", lab.ctl_text(&["stats"]));
    }
    if a.keep {
        println!(
            "\nlab kept; try: ip netns exec {} ping 10.0.0.11",
            lab.ns("t0")
        );
        println!(
            "vtepctl --socket {} stats      (Ctrl-C removes the lab)",
            lab.socket().display()
        );
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
    println!("\nremoving the lab");
    drop(lab);
    if failed {
        std::process::exit(1);
    }
}

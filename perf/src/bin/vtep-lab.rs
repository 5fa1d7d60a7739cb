//! Builds the interop lab around vtepd (Linux kernel VXLAN peers, tenant
//! hosts and an underlay router in network namespaces). With `--demo` it
//! shows the overlay working; with `--keep` it stays until Ctrl-C.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use vtep_perf::lab::{iperf, Lab, LabOptions, PortKind};

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

fn step(s: &str) {
    println!("\n\x1b[1m== {s}\x1b[0m");
}

fn main() {
    let a = Args::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).expect("signal handler");
    }
    println!("{}", if a.ipv6 { TOPOLOGY6 } else { TOPOLOGY });
    let lab = Lab::new(LabOptions {
        kind: if a.tap {
            PortKind::Tap
        } else {
            PortKind::AfPacket
        },
        static_fdb: !a.learn,
        ipv6: a.ipv6,
        ..LabOptions::default()
    });
    println!(
        "vtepd runs with {} ports; namespaces vtl{}*; control socket {}",
        if a.tap { "net_tap" } else { "net_af_packet" },
        lab.id,
        lab.socket().display()
    );
    let mut failed = false;
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

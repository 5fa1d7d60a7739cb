//! Builds the interop lab around vtepd (kernel VXLAN peers in namespaces),
//! and keeps it until Ctrl-C: for poking at by hand.
#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use vtep_perf::lab::{Lab, LabOptions, PortKind};

#[derive(Parser)]
#[command(about = "Run vtepd in a lab of namespaces with Linux kernel VXLAN peers")]
struct Args {
    /// Use net_tap ports instead of net_af_packet.
    #[arg(long)]
    tap: bool,
    /// Learn everything (no static FDB entries).
    #[arg(long)]
    learn: bool,
}

fn main() {
    let a = Args::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).expect("signal handler");
    }
    let lab = Lab::new(LabOptions {
        kind: if a.tap {
            PortKind::Tap
        } else {
            PortKind::AfPacket
        },
        static_fdb: !a.learn,
        ..LabOptions::default()
    });
    println!(
        "lab {} ready; namespaces vtl{}*; control socket {}",
        lab.id,
        lab.id,
        lab.socket().display()
    );
    println!("try: ip netns exec {} ping 10.0.0.11", lab.ns("t0"));
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    println!("removing the lab");
}

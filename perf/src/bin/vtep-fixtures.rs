//! Writes the demo's pcap fixtures: tenant frames for the access port and
//! VXLAN packets from two remote VTEPs for the underlay port.
#![forbid(unsafe_code)]

use std::net::Ipv4Addr;
use std::path::PathBuf;

use clap::Parser;
use vtep_lab::{tenant_udp, vxlan_from};
use vtep_testsupport::write_pcap;

#[derive(Parser)]
#[command(about = "Write deterministic pcap fixtures for the vtepd demo")]
struct Args {
    /// Output directory.
    #[arg(long)]
    dir: PathBuf,
    /// Frames per flow.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Also write fuzzing seeds (corpus cases, configs) under DIR/seeds.
    #[arg(long)]
    fuzz_seeds: bool,
}

fn main() -> std::io::Result<()> {
    let a = Args::parse();
    std::fs::create_dir_all(&a.dir)?;
    let vm1 = [2, 0, 0, 0, 0, 1];
    let vm_static = [2, 0, 0, 0, 0, 0xaa];
    let vm_remote = [2, 0, 0, 0, 0, 0xbb];
    let (t1, t2) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let mut access = vec![tenant_udp(
        [0xff; 6],
        vm1,
        t1,
        Ipv4Addr::BROADCAST,
        68,
        67,
        100,
    )];
    for i in 0..a.count {
        access.push(tenant_udp(
            vm_static,
            vm1,
            t1,
            t2,
            10_000 + (i % 16) as u16,
            80,
            64,
        ));
        access.push(tenant_udp(
            vm_remote,
            vm1,
            t1,
            t2,
            20_000 + (i % 16) as u16,
            443,
            64,
        ));
    }
    let vtep = Ipv4Addr::new(192, 0, 2, 1);
    let vtep_mac = [2, 0, 0, 0, 1, 1];
    let mut underlay = Vec::new();
    for i in 0..a.count {
        let inner = tenant_udp(vm1, vm_remote, t2, t1, 443, 20_000 + (i % 16) as u16, 64);
        underlay.push(vxlan_from(
            [2, 0, 0, 0, 3, 3],
            Ipv4Addr::new(192, 0, 2, 3),
            vtep_mac,
            vtep,
            100,
            &inner,
        ));
    }
    write_pcap(&a.dir.join("access.pcap"), &access)?;
    write_pcap(&a.dir.join("underlay.pcap"), &underlay)?;
    if a.fuzz_seeds {
        write_seeds(&a.dir.join("seeds"))?;
    }
    println!(
        "wrote {} tenant frames and {} VXLAN packets to {}",
        access.len(),
        underlay.len(),
        a.dir.display()
    );
    Ok(())
}

/// Seeds for the fuzz targets: every corpus case, valid frames, configs.
fn write_seeds(dir: &std::path::Path) -> std::io::Result<()> {
    use vtep_lab::corpus::{
        access_cases, good_vxlan, inner, underlay_cases, CORPUS_CONFIG, REMOTE_TENANT, TENANT,
    };
    for t in ["decap", "encap", "config"] {
        std::fs::create_dir_all(dir.join(t))?;
    }
    let mut ul: Vec<Vec<u8>> = underlay_cases().into_iter().map(|c| c.frame).collect();
    ul.push(good_vxlan(100, 1));
    ul.extend(ipv6_seeds());
    ul.extend(tunnel_seeds());
    for (i, f) in ul.iter().enumerate() {
        std::fs::write(dir.join("decap").join(format!("case{i:03}")), f)?;
    }
    let mut acc: Vec<Vec<u8>> = access_cases().into_iter().map(|c| c.frame).collect();
    acc.push(inner(REMOTE_TENANT, TENANT, 1));
    for (i, f) in acc.iter().enumerate() {
        std::fs::write(dir.join("encap").join(format!("case{i:03}")), f)?;
    }
    let cfg = format!(
        "[eal]\nargs = [\"-l\", \"0-1\", \"--no-pci\", \"--vdev=net_pcap0,rx_pcap=a\", \"--vdev=net_pcap1,rx_pcap=b\"]\n{CORPUS_CONFIG}\n[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:bb\"\nremote = \"192.0.2.2\"\n"
    );
    std::fs::write(dir.join("config").join("full"), &cfg)?;
    std::fs::write(
        dir.join("config").join("broken"),
        cfg.replace("id = 200", "id = 0"),
    )?;
    Ok(())
}

/// Geneve and NVGRE from the sample remote over IPv4 and IPv6, in the
/// decap target's VNIs (its mixed states carry VNI 100 in Geneve and 200
/// in NVGRE).
fn tunnel_seeds() -> Vec<Vec<u8>> {
    use vtep_dataplane::datapath::buf::{PacketBuf, VecBuf};
    use vtep_dataplane::datapath::tunnel::{encapsulate, Tunnel};
    use vtep_dataplane::testing::peer_to_us_in;
    let mut out = Vec::new();
    for v6 in [false, true] {
        for (t, vni) in [(Tunnel::geneve(6081), 100), (Tunnel::nvgre(false), 200)] {
            let mut b = VecBuf::new(&vtep_lab::corpus::inner(
                [2, 0, 0, 0, 0, 1],
                [2, 0, 0, 0, 0, 2],
                1,
            ));
            encapsulate(&mut b, &peer_to_us_in(v6, t), vni, 9000).expect("fits");
            out.push(b.data().to_vec());
        }
    }
    out
}

/// IPv6 underlay frames for the decap target (its second state is the
/// IPv6 sample VTEP 2001:db8:1::1): VXLAN from the remote, a neighbour
/// solicitation for the VTEP, an echo request to it.
fn ipv6_seeds() -> Vec<Vec<u8>> {
    use vtep_dataplane::control::punt;
    use vtep_dataplane::datapath::buf::{PacketBuf, VecBuf};
    use vtep_dataplane::datapath::state::Template;
    use vtep_dataplane::testing::{OUR_IP6, OUR_MAC, PEER_IP6, PEER_MAC};
    use vtep_dataplane::wire::icmpv6;
    let t = Template::new6(
        OUR_MAC,
        PEER_MAC,
        PEER_IP6,
        OUR_IP6,
        vtep_dataplane::datapath::tunnel::Tunnel::vxlan(4789),
        64,
        false,
    );
    let mut b = VecBuf::new(&vtep_lab::corpus::inner(
        [2, 0, 0, 0, 0, 1],
        [2, 0, 0, 0, 0, 2],
        1,
    ));
    vtep_dataplane::datapath::tunnel::encapsulate(&mut b, &t, 100, 9000).expect("fits");
    let echo = [128u8, 0, 0, 0, 0, 1, 0, 1, b'x'];
    vec![
        b.data().to_vec(),
        punt::neighbor_solicit(PEER_MAC, PEER_IP6, OUR_IP6),
        icmpv6::frame(OUR_MAC, PEER_MAC, PEER_IP6, OUR_IP6, 64, &echo),
    ]
}

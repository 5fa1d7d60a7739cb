//! dpdk-dumpcap captures from a running vtepd's ports (the pdump framework
//! is initialised at start, workers run on EAL lcores so multi-process
//! stays enabled). dumpcap is a secondary process and needs hugepages; it
//! has no --no-pci option, so it runs in a mount namespace where the PCI
//! device directory is empty: it cannot see, let alone touch, the NIC.

use std::process::{Command, Stdio};
use std::time::Duration;

fn hugepages_free() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("HugePages_Free:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[test]
fn dumpcap_captures_vtepd_ports() {
    if hugepages_free() < 256 {
        eprintln!("SKIP: dpdk-dumpcap needs hugepages (run scripts/setup.sh); none free here");
        return;
    }
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("vtep-pdump-{pid}"));
    std::fs::create_dir_all(&dir).unwrap();
    let prefix = format!("vtep-pdump-{pid}");
    // Tenant traffic replayed forever: broadcast and unicast to a static MAC.
    let frames = vec![
        vtep_perf_frame([0xff; 6]),
        vtep_perf_frame([2, 0, 0, 0, 0, 0xaa]),
    ];
    vtep_testsupport::write_pcap(&dir.join("acc.pcap"), &frames).unwrap();
    let cfg = format!(
        r#"[eal]
args = ["-l", "0-1", "--no-pci", "-m", "256", "--file-prefix={prefix}",
        "--vdev=net_pcap0,tx_pcap={d}/ul_out.pcap",
        "--vdev=net_pcap1,rx_pcap={d}/acc.pcap,infinite_rx=1"]
[dataplane]
mbufs = 4095
[underlay]
port = "net_pcap0"
address = "192.0.2.1/24"
[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:02:02"
[[access]]
port = "net_pcap1"
vni = 100
[[vni]]
id = 100
flood = ["192.0.2.2"]
[[fdb]]
vni = 100
mac = "02:00:00:00:00:aa"
remote = "192.0.2.2"
[control]
socket = "{d}/vtep.sock"
"#,
        d = dir.display()
    );
    std::fs::write(dir.join("vtep.toml"), cfg).unwrap();
    let mut vtepd = Command::new(env!("CARGO_BIN_EXE_vtepd"))
        .arg("--config")
        .arg(dir.join("vtep.toml"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !dir.join("vtep.sock").exists() {
        assert!(std::time::Instant::now() < deadline, "vtepd did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = dir.join("cap.pcapng");
    let cap = Command::new("unshare")
        .args(["-m", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs none /sys/bus/pci/devices && timeout 20 dpdk-dumpcap --file-prefix={prefix} -i net_pcap0 -c 20 -q -w {}",
            out.display()
        ))
        .output()
        .unwrap();
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(vtepd.id().to_string())
        .status();
    let st = vtepd.wait().unwrap();
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    assert!(
        cap.status.success(),
        "dumpcap: {}",
        String::from_utf8_lossy(&cap.stderr)
    );
    assert!(st.success());
    // tcpdump reads the pcapng dumpcap writes (with its statistics blocks).
    let td = Command::new("tcpdump")
        .arg("-nr")
        .arg(&out)
        .arg("udp port 4789")
        .output()
        .unwrap();
    let vxlan = String::from_utf8_lossy(&td.stdout)
        .lines()
        .filter(|l| l.contains("VXLAN"))
        .count();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(vxlan >= 20, "captured {vxlan} VXLAN packets");
}

fn vtep_perf_frame(dst: [u8; 6]) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(&[2, 0, 0, 0, 0, 1, 0x08, 0x00]);
    f.extend_from_slice(&[
        0x45, 0, 0, 46, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.resize(60, 0);
    f
}

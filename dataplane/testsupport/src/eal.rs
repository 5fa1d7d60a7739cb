//! Configs for vtepd on net_pcap ports: what the end-to-end tests without
//! a lab run it with.

use std::path::Path;

/// vtepd's config for pcap files in `dir`: net_pcap ports reading
/// ul_in.pcap and acc_in.pcap and writing ul_out.pcap and acc_out.pcap,
/// one worker, `--no-huge`, the underlay on net_pcap0 with MAC
/// 02:00:00:00:01:01, then `rest` (the keys from `[underlay] address`
/// on), then the control socket DIR/vtep.sock. The EAL file prefix is the
/// directory's name (as [`crate::Daemon::dir_for`] makes it).
pub fn pcap_config(dir: &Path, rest: &str) -> String {
    let p = |n: &str| dir.join(n).display().to_string();
    format!(
        r#"
[eal]
args = ["-l", "0-1", "--no-pci", "--no-huge", "-m", "512", "--no-shconf",
        "--file-prefix={prefix}",
        "--vdev=net_pcap0,rx_pcap={ul_in},tx_pcap={ul_out}",
        "--vdev=net_pcap1,rx_pcap={acc_in},tx_pcap={acc_out}"]
[dataplane]
workers = 1
mbufs = 8191
[underlay]
port = "net_pcap0"
mac = "02:00:00:00:01:01"
{rest}
[control]
socket = "{sock}"
"#,
        prefix = dir.file_name().unwrap_or_default().to_string_lossy(),
        ul_in = p("ul_in.pcap"),
        ul_out = p("ul_out.pcap"),
        acc_in = p("acc_in.pcap"),
        acc_out = p("acc_out.pcap"),
        sock = p("vtep.sock"),
    )
}

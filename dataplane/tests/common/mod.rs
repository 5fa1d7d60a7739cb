//! Helpers of the net_pcap end-to-end tests: pcap files in and out, the
//! daemon (killed and its files removed on drop), vtepctl.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};
use serde_json::Value;

pub struct Daemon {
    pub child: Child,
    pub dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(format!(
            "/var/run/dpdk/{}",
            self.dir.file_name().unwrap().to_string_lossy()
        ));
    }
}

pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut w = PcapWriter::new(File::create(path).unwrap()).unwrap();
    for f in frames {
        w.write_packet(&PcapPacket::new(Duration::ZERO, f.len() as u32, f))
            .unwrap();
    }
}

pub fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    let mut r = PcapReader::new(File::open(path).unwrap()).unwrap();
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        v.push(p.unwrap().data.into_owned());
    }
    v
}

pub fn ctl(sock: &Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(
        std::path::Path::new(env!("CARGO_BIN_EXE_vtepd")).with_file_name("vtepctl"),
    )
    .arg("--socket")
    .arg(sock)
    .arg("--json")
    .args(args)
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "vtepctl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Writes `cfg` to DIR/vtep.toml, checks it with `--check`, and starts
/// vtepd on it with JSON logs in DIR/vtepd.log.
pub fn start(dir: &Path, cfg: &str) -> Daemon {
    let conf = dir.join("vtep.toml");
    std::fs::write(&conf, cfg).unwrap();
    let check = Command::new(env!("CARGO_BIN_EXE_vtepd"))
        .args(["--check", "--config"])
        .arg(&conf)
        .status()
        .unwrap();
    assert!(check.success());
    Daemon {
        child: Command::new(env!("CARGO_BIN_EXE_vtepd"))
            .arg("--config")
            .arg(&conf)
            .args(["--log-format", "json"])
            .stderr(File::create(dir.join("vtepd.log")).unwrap())
            .spawn()
            .unwrap(),
        dir: dir.to_path_buf(),
    }
}

/// The stats once vtepd has received `total` packets (20 s at most).
pub fn wait_rx(sock: &Path, total: u64) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if sock.exists() {
            let s = ctl(sock, &["stats"]);
            if s["accounting"]["rx_packets"].as_u64() == Some(total) {
                return s;
            }
        }
        assert!(
            Instant::now() < deadline,
            "vtepd did not process all packets"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Writes the input pcaps into `dir` and returns vtepd's config for them:
/// net_pcap ports reading ul_in.pcap and acc_in.pcap and writing
/// ul_out.pcap and acc_out.pcap, one worker, the underlay on net_pcap0
/// with MAC 02:00:00:00:01:01, then `rest` (the keys from `[underlay]
/// address` on), then the control socket DIR/vtep.sock. The EAL file
/// prefix is the directory's name.
pub fn pcap_config(
    dir: &Path,
    underlay_in: &[Vec<u8>],
    access_in: &[Vec<u8>],
    rest: &str,
) -> String {
    let p = |n: &str| dir.join(n).display().to_string();
    write_pcap(&dir.join("ul_in.pcap"), underlay_in);
    write_pcap(&dir.join("acc_in.pcap"), access_in);
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
        prefix = dir.file_name().unwrap().to_string_lossy(),
        ul_in = p("ul_in.pcap"),
        ul_out = p("ul_out.pcap"),
        acc_in = p("acc_in.pcap"),
        acc_out = p("acc_out.pcap"),
        sock = p("vtep.sock"),
    )
}

//! Helpers for the EAL integration tests. EAL initialises once per process,
//! so each test file holds one test (nextest also runs each in its own
//! process). Every namespace and link a test makes is removed by a guard,
//! also when the test fails.
#![allow(dead_code)]

use std::process::Command;

use dpdk::Eal;

/// EAL for a functional test: no PCI, no hugepages, no shared config, a
/// file prefix unique to this process, plus the given vdevs.
pub fn eal(vdevs: &[String]) -> Eal {
    let mut args: Vec<String> = [
        "-l",
        "0",
        "--no-pci",
        "--no-huge",
        "--no-shconf",
        "-m",
        "256",
        "--log-level=lib.eal:error",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("--file-prefix=vtep-test-{}", std::process::id()));
    args.extend(vdevs.iter().map(|v| format!("--vdev={v}")));
    let eal = Eal::init(&args).expect("EAL init");
    // Nothing needs the runtime directory after init (no secondary
    // processes): remove it now so no run, even a failing one, leaves it.
    vtep_testsupport::dpdk_files::remove_dpdk_files(&format!("vtep-test-{}", std::process::id()));
    eal
}

pub use vtep_testsupport::must as sh;

/// A network namespace, deleted (with everything in it) on drop.
pub struct Netns(pub String);

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let name = format!("vt{tag}{}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).status();
        sh(&format!("ip netns add {name}"));
        sh(&format!("ip -n {name} link set lo up"));
        Netns(name)
    }

    pub fn exec(&self, cmd: &str) -> String {
        sh(&format!("ip netns exec {} {cmd}", self.0))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// A link in the test's own namespace, deleted on drop (a veth takes its peer).
pub struct LinkGuard(pub String);

impl Drop for LinkGuard {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.0])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Python one-liners that send a frame on, or capture one frame from, an
/// interface with an AF_PACKET socket.
pub fn send_raw_cmd(iface: &str, frame: &[u8]) -> String {
    format!(
        "python3 -c \"import socket; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); \
         s.bind(('{iface}', 0)); s.send(bytes.fromhex('{}'))\"",
        hex(frame)
    )
}

/// Captures frames on `iface` whose EtherType is `ethertype` until one
/// arrives or `secs` pass; prints it in hex.
pub fn recv_raw_cmd(iface: &str, ethertype: u16, secs: u32) -> String {
    format!(
        "python3 -c \"
import socket, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons({ethertype}))
s.bind(('{iface}', 0))
s.settimeout({secs})
end = time.time() + {secs}
while time.time() < end:
    d, a = s.recvfrom(65535)
    if a[2] != socket.PACKET_OUTGOING:
        print(d.hex()); break
\""
    )
}

pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A test frame: broadcast-free unicast with a local-experimental EtherType
/// (0x88b5) so no stack in the namespace reacts to it.
pub fn test_frame(dst: [u8; 6], src: [u8; 6], seq: u8, len: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(len);
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    while f.len() < len {
        f.push(seq.wrapping_add(f.len() as u8));
    }
    f
}

/// Starts a capture on `iface` in `ns`, sends `frame` a few times on `tx`,
/// and returns what the capture printed (the frame in hex, or nothing).
pub fn send_and_capture(
    ns: &Netns,
    iface: &str,
    pool: &dpdk::Mempool,
    tx: &mut dpdk::TxQueue,
    frame: &[u8],
) -> String {
    let cap = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.0,
            "sh",
            "-c",
            &recv_raw_cmd(iface, 0x88b5, 5),
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn capture");
    std::thread::sleep(std::time::Duration::from_millis(500));
    for _ in 0..5 {
        let mut out = dpdk::Burst::<1>::new();
        out.push(pool.alloc_from(frame).expect("mbuf"))
            .expect("room");
        tx.tx(&mut out);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let got = cap.wait_with_output().expect("capture ran");
    String::from_utf8_lossy(&got.stdout).trim().to_string()
}

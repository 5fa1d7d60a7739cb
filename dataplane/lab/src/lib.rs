//! The functional lab: network namespaces around a running `vtepd`, for
//! the interop, robustness and soak tests (`tests/`), the benchmarks and
//! the demo (`vtep-lab`): Linux kernel VXLAN peers (the reference VTEP) with
//! bridges and tenant hosts behind them, an underlay router, and tenant
//! hosts on `vtepd`'s access ports.
//!
//! ```text
//!  t0 10.0.0.10 ─acc0─┐                     ┌─ k1 192.0.2.2 ── vx100 ─ br ─ t1 10.0.0.11
//!                    vtepd 192.0.2.1 ─ ul(br, 192.0.2.254)            └ vx200 ─ br2 ─ t3 10.0.0.13
//!  t4 (802.1Q) ─acc1─┘                      └─ 198.51.100.1 ── k2 198.51.100.2 ── vx100 ─ br ─ t2 10.0.0.12
//! ```
//!
//! With `ipv6`, the underlay is IPv6 only (the tenants stay IPv4): vtepd
//! 2001:db8:1::1/64, router 2001:db8:1::fe, k1 2001:db8:1::2 on-link and
//! k2 2001:db8:2::2 behind the router (2001:db8:2::1); the kernel VTEPs
//! keep Linux's default checksum settings over IPv6 (send computed UDP
//! checksums, refuse zero ones).
//!
//! `vtepd` runs in the test's own namespace and binds net_af_packet to veth
//! ends there (no addresses), or creates net_tap devices that the lab moves
//! into place. Every name carries the process id; [`Lab::drop`] deletes
//! everything, and [`Lab::new`] first removes what a killed earlier run of
//! the same id left. Offloads are turned off on every interface so
//! af_packet never sees partial checksums or GSO frames.

#![forbid(unsafe_code)]

pub mod corpus;
pub mod flows;
pub mod frames;
pub mod ovs;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub use frames::{bench_mac, tenant_udp, vxlan_from};

/// Remote MACs written into vtepd's EVPN mirror (VNI 100) as zebra
/// writes them, as `bridge -batch` lines.
pub mod evpn_batch {
    /// The i-th test MAC.
    pub fn mac(i: u32) -> String {
        format!(
            "02:aa:00:{:02x}:{:02x}:{:02x}",
            i >> 16,
            (i >> 8) & 0xff,
            i & 0xff
        )
    }

    /// MAC i behind VTEP `at`: the VXLAN device's entry and the bridge's.
    pub fn announce(i: u32, at: &str) -> [String; 2] {
        let m = mac(i);
        [
            format!("fdb replace {m} dev vxlan100 dst {at} self extern_learn"),
            format!("fdb replace {m} dev vxlan100 master extern_learn"),
        ]
    }

    /// Its withdrawal.
    pub fn withdraw_at(i: u32, at: &str) -> [String; 2] {
        let m = mac(i);
        [
            format!("fdb del {m} dev vxlan100 dst {at} self"),
            format!("fdb del {m} dev vxlan100 master"),
        ]
    }
}
use std::time::{Duration, Instant};
pub use vtep_testsupport::{must, sh, wait_for, Daemon, Reaper};

/// A running tcpdump ([`Lab::capture`]).
pub struct Capture {
    child: Option<Child>,
    file: PathBuf,
}

impl Capture {
    /// The frames captured so far, tcpdump still running (it writes each
    /// packet as it comes): for waiting until something was seen.
    pub fn so_far(&self) -> Vec<Vec<u8>> {
        vtep_testsupport::read_pcap_so_far(&self.file)
    }

    /// Stops tcpdump (SIGINT: it writes out what it holds) and gives the
    /// frames it captured.
    pub fn frames(mut self) -> Vec<Vec<u8>> {
        if let Some(mut c) = self.child.take() {
            let _ = sh(&format!("kill -INT {}", c.id()));
            let _ = c.wait();
        }
        vtep_testsupport::read_pcap(&self.file)
            .unwrap_or_else(|e| panic!("{}: {e}", self.file.display()))
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A ping running in the background ([`Lab::timed_ping`]).
pub struct TimedPing(Child);

impl TimedPing {
    /// Waits for the ping to end; the UNIX times (seconds) of its replies.
    pub fn replies(self) -> Vec<f64> {
        let out = self.0.wait_with_output().expect("ping output");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.contains("bytes from"))
            .filter_map(|l| l.strip_prefix('[')?.split(']').next()?.parse().ok())
            .collect()
    }

    /// Stops the ping now (SIGINT, as ^C) and returns its replies.
    pub fn stop(self) -> Vec<f64> {
        let _ = sh(&format!("kill -INT {}", self.0.id()));
        self.replies()
    }
}

/// An iperf3 UDP stream running in the background ([`Lab::udp_stream`]).
pub struct UdpStream(Child);

impl UdpStream {
    /// Waits for the stream to end: (datagrams sent, datagrams lost).
    pub fn result(self) -> (u64, u64) {
        let out = self.0.wait_with_output().expect("iperf3 output");
        let j: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("iperf3: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        let sum = &j["end"]["sum"];
        let n = |k: &str| sum[k].as_u64().unwrap_or_else(|| panic!("iperf3 {k}: {j}"));
        (n("packets"), n("lost_packets"))
    }
}

/// The longest time between two successive replies.
pub fn longest_gap(times: &[f64]) -> f64 {
    times.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max)
}

/// How `vtepd` attaches to the lab.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortKind {
    AfPacket,
    Tap,
    /// net_pcap on the same veths as af_packet (libpcap on the kernel
    /// interface): the vdev here whose driver takes jumbo frames.
    Pcap,
}

/// What the lab sets up.
#[derive(Debug, Clone)]
pub struct LabOptions {
    pub kind: PortKind,
    /// Static FDB entries for t1 and t2; otherwise everything is learned.
    pub static_fdb: bool,
    /// VNI 200 with a tenant behind k1 and a tagged access port (VID 20).
    pub vni200: bool,
    /// With `vni200`: VNI 200 on this UDP port instead of 4789, and k1's
    /// device for it set up as flannel's VXLAN backend sets up a node's
    /// (`nolearning`, the FDB written by the agent: here an entry for the
    /// trunk tenant and the all-zero entry, both to vtepd).
    pub vni200_port: Option<u16>,
    pub arp_suppress: bool,
    /// Extra keys for the `[[vni]] id = 100` section (e.g. "aging_secs = 3").
    pub vni100_extra: String,
    /// Extra text appended to the vtepd config (after `[control]`);
    /// `{dir}` stands for the lab's directory.
    pub extra_config: String,
    /// Underlay MTU of every link and of vtepd; tenants get 50 less.
    pub mtu: u16,
    /// vtepd workers; with 2, lcore 2 shares CPU 0 with the main lcore
    /// (this machine has two), and every port has two queue pairs.
    pub workers: usize,
    /// An IPv6 underlay (see the module doc).
    pub ipv6: bool,
    /// Extra keys for vtepd's `[underlay]` section.
    pub underlay_extra: String,
    /// vtepd's gateway instead of the router's address on its link.
    pub gateway: Option<String>,
    /// Extra options for the kernel VTEPs' `ip link add ... type vxlan`.
    pub kernel_vxlan_extra: String,
    /// The exception path: vtepd runs in a namespace of its own ("vn",
    /// af_packet ports only) with `[underlay] kernel_port` on a net_tap
    /// whose interface (`vl<pid>kt`) carries the VTEP address there.
    pub kernel_port: bool,
    /// BGP EVPN (implies `kernel_port`): vtepd's `[evpn] netns` is the
    /// namespace "cp", where its FRR runs; k1 and k2 are EVPN VTEPs too
    /// (`nolearning`, no static remote), each with its own FRR; the three
    /// speakers form a full iBGP mesh (AS 65000) with `advertise-all-vni`.
    /// vtepd's config has no flood list and no static FDB entries.
    pub evpn: bool,
    /// Extra keys for vtepd's `[evpn]` section.
    pub evpn_extra: String,
    /// An Open vSwitch peer (userspace datapath, namespace "ov", VTEP
    /// [`Addrs::ovs`] on the router's bridge, over either underlay)
    /// carrying VNI 300 in Geneve and VNI 400 in NVGRE (GRE key
    /// 400 << 8), each on a bridge of its own with one tenant (t8
    /// 10.0.0.18 and t9 10.0.0.19); vtepd carries them on access ports of
    /// their own (t6 10.0.0.16 and t7 10.0.0.17). af_packet ports.
    pub ovs: bool,
    /// With `evpn`: a second vtepd (VTEP 192.0.2.3, namespace "vn2", its
    /// FRR in "cp2", tenant t5 10.0.0.15 on its access port) in the same
    /// fabric; every FRR peers with it too.
    pub evpn_second: bool,
    /// `[dataplane] mbufs` (default 16383).
    pub mbufs: u32,
    /// A multicast group for VNI 100 (RFC 7348 §4.2): k1 and k3
    /// ([`Addrs::k3`], tenant t5 10.0.0.15), on the router's bridge, join
    /// it (`group ... dev`) instead of naming vtepd; vtepd
    /// has `group` and floods head-end to k2 alone (behind the router,
    /// which routes no multicast), with `accept_unknown_sources` (k1 is
    /// no configured remote). The bridge snoops IGMP and MLD and is the
    /// link's querier.
    pub group: Option<String>,
}

/// The second vtepd's VTEP address and tenant (see `evpn_second`).
pub const VTEP2_IP: &str = "192.0.2.3";
pub const T5_MAC: &str = "02:00:00:00:00:15";

impl Default for LabOptions {
    fn default() -> Self {
        LabOptions {
            kind: PortKind::AfPacket,
            static_fdb: true,
            vni200: false,
            vni200_port: None,
            arp_suppress: false,
            vni100_extra: String::new(),
            extra_config: String::new(),
            mtu: 1500,
            workers: 1,
            ipv6: false,
            underlay_extra: String::new(),
            gateway: None,
            kernel_vxlan_extra: String::new(),
            kernel_port: false,
            evpn: false,
            evpn_extra: String::new(),
            evpn_second: false,
            mbufs: 16383,
            group: None,
            ovs: false,
        }
    }
}

pub const T6_MAC: &str = "02:00:00:00:00:16";
pub const T7_MAC: &str = "02:00:00:00:00:17";
pub const T8_MAC: &str = "02:00:00:00:00:18";
pub const T9_MAC: &str = "02:00:00:00:00:19";

pub const T0_MAC: &str = "02:00:00:00:00:10";
pub const T1_MAC: &str = "02:00:00:00:00:11";
pub const T2_MAC: &str = "02:00:00:00:00:12";
pub const T3_MAC: &str = "02:00:00:00:00:13";
pub const T4_MAC: &str = "02:00:00:00:00:14";
pub const VTEP_IP: &str = "192.0.2.1";
pub const K1_IP: &str = "192.0.2.2";
pub const K2_IP: &str = "198.51.100.2";

/// The underlay's addresses in one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addrs {
    pub vtep: &'static str,
    pub k1: &'static str,
    pub k2: &'static str,
    /// The router on vtepd's and k1's link (vtepd's gateway).
    pub gw: &'static str,
    /// The router on k2's link.
    pub k2_gw: &'static str,
    /// The Open vSwitch peer ([`LabOptions::ovs`]), on vtepd's link.
    pub ovs: &'static str,
    /// The second kernel VTEP of a group ([`LabOptions::group`]), on
    /// vtepd's link.
    pub k3: &'static str,
    pub plen: u8,
    /// Bytes VXLAN adds to a tenant IP packet.
    pub overhead: u16,
}

pub const V4: Addrs = Addrs {
    vtep: VTEP_IP,
    k1: K1_IP,
    k2: K2_IP,
    gw: "192.0.2.254",
    k2_gw: "198.51.100.1",
    ovs: "192.0.2.4",
    k3: "192.0.2.5",
    plen: 24,
    overhead: 50,
};

pub const V6: Addrs = Addrs {
    vtep: "2001:db8:1::1",
    k1: "2001:db8:1::2",
    k2: "2001:db8:2::2",
    gw: "2001:db8:1::fe",
    k2_gw: "2001:db8:2::1",
    ovs: "2001:db8:1::4",
    k3: "2001:db8:1::5",
    plen: 64,
    overhead: 70,
};

/// Turns off offloads (af_packet would see partial checksums and GSO
/// frames) and IPv6 (its multicast chatter would blur flood counts) on an
/// interface; `pre` runs the commands in its namespace.
fn quiet(pre: &str, name: &str) {
    let _ = sh(&format!(
        "{pre}ethtool -K {name} tx off rx off tso off gso off gro off >/dev/null 2>&1"
    ));
    // Keep 802.1Q tags in the frames rather than in packet metadata.
    let _ = sh(&format!(
        "{pre}sysctl -qw net.ipv6.conf.{name}.disable_ipv6=1"
    ));
}

/// (kind, where) of `mac` in a `vtepctl --json fdb show` listing; where is
/// the remote VTEP or the access port.
pub fn fdb_row(fdb: &serde_json::Value, mac: &str) -> Option<(String, String)> {
    fdb.as_array()?.iter().find_map(|e| {
        (e["mac"] == mac).then(|| {
            let at = e["remote"].as_str().or(e["port"].as_str()).unwrap_or("");
            (e["kind"].as_str().unwrap_or("").to_string(), at.to_string())
        })
    })
}

/// The current UNIX time in seconds (ping timestamps are in it).
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64()
}

/// (MAC, VTEP) of every entry of kind `evpn` in `vtepctl fdb show` rows.
pub fn evpn_entries(fdb: &serde_json::Value) -> BTreeSet<(String, String)> {
    fdb.as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["kind"] == "evpn")
        .filter_map(|e| Some((e["mac"].as_str()?.into(), e["remote"].as_str()?.into())))
        .collect()
}

/// (MAC, VTEP) of every remote MAC in `bridge fdb show dev VXLAN` output
/// (flood entries left out).
pub fn bridge_remote_macs(out: &str) -> BTreeSet<(String, String)> {
    out.lines()
        .filter(|l| !l.starts_with("00:00:00:00:00:00"))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let at = f.iter().position(|w| *w == "dst")?;
            Some((f[0].to_string(), f.get(at + 1)?.to_string()))
        })
        .collect()
}

/// The `vtepd` binary: $VTEPD, else the workspace's release build.
pub fn vtepd_path() -> PathBuf {
    if let Ok(p) = std::env::var("VTEPD") {
        return p.into();
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/vtepd");
    assert!(
        p.exists(),
        "{} missing: run `cargo build --release --bins` first",
        p.display()
    );
    p
}

/// The vtepctl beside vtepd (a `VTEPD=` build's own), else the one of
/// this workspace's release build.
pub fn vtepctl_path() -> PathBuf {
    let beside = vtepd_path().with_file_name("vtepctl");
    if beside.exists() {
        return beside;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/release/vtepctl")
}

pub struct Lab {
    pub id: String,
    pub opts: LabOptions,
    pub dir: PathBuf,
    pub vtepd: Option<Child>,
    /// The second vtepd of an EVPN lab.
    vtepd2: Option<Child>,
    namespaces: Vec<String>,
    links: Vec<String>,
    /// Namespaces whose FRR daemons the lab started.
    frr: Vec<String>,
    /// The Open vSwitch peer.
    pub ovs: Option<ovs::Ovs>,
}

impl Lab {
    /// The underlay addresses of this lab.
    pub fn addrs(&self) -> &'static Addrs {
        if self.opts.ipv6 {
            &V6
        } else {
            &V4
        }
    }

    /// Gives underlay interface `iface` of `role` address `ip` (IPv6: on,
    /// without duplicate address detection, so it is usable at once).
    fn underlay_addr(&self, role: &str, iface: &str, ip: &str, plen: u8) {
        if self.opts.ipv6 {
            self.must_exec(
                role,
                &format!("sysctl -qw net.ipv6.conf.{iface}.disable_ipv6=0"),
            );
            self.must_exec(role, &format!("ip addr add {ip}/{plen} dev {iface} nodad"));
        } else {
            self.must_exec(role, &format!("ip addr add {ip}/{plen} dev {iface}"));
        }
    }

    /// Namespace name for a role (t0, t1, k1, ul, ...).
    pub fn ns(&self, role: &str) -> String {
        format!("vtl{}{role}", self.id)
    }

    /// Interface name for a role, short enough for IFNAMSIZ.
    pub fn ifname(&self, role: &str) -> String {
        format!("vl{}{role}", self.id)
    }

    /// Runs `cmd` inside the namespace of `role`.
    pub fn exec(&self, role: &str, cmd: &str) -> (bool, String) {
        sh(&format!("ip netns exec {} {cmd}", self.ns(role)))
    }

    /// Starts `cmd` inside the namespace of `role` without waiting for it
    /// (its output piped).
    pub fn spawn_exec(&self, role: &str, cmd: &str) -> Child {
        Command::new("sh")
            .arg("-c")
            .arg(format!("ip netns exec {} {cmd}", self.ns(role)))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sh")
    }

    pub fn must_exec(&self, role: &str, cmd: &str) -> String {
        must(&format!("ip netns exec {} {cmd}", self.ns(role)))
    }

    /// Builds the lab and starts vtepd in it.
    pub fn new(mut opts: LabOptions) -> Lab {
        opts.kernel_port |= opts.evpn;
        if opts.evpn {
            opts.static_fdb = false;
        }
        let id = std::process::id().to_string();
        let mut lab = Lab {
            dir: std::env::temp_dir().join(format!("vtep-lab-{id}")),
            id,
            opts,
            vtepd: None,
            vtepd2: None,
            namespaces: Vec::new(),
            links: Vec::new(),
            frr: Vec::new(),
            ovs: None,
        };
        assert!(
            !lab.opts.ovs || lab.opts.kind == PortKind::AfPacket,
            "the OVS peer is built for af_packet ports"
        );
        lab.remove_leftovers();
        std::fs::create_dir_all(&lab.dir).expect("lab dir");
        lab.build_peers();
        if lab.opts.kind != PortKind::Tap {
            lab.build_af_packet_ports();
        }
        if lab.opts.evpn {
            lab.add_ns("cp");
        }
        lab.start_vtepd();
        if lab.opts.kind == PortKind::Tap {
            lab.wire_taps();
        }
        if lab.opts.ovs {
            lab.pin_vtepd_in_ovs();
        }
        if lab.opts.evpn {
            let a = lab.addrs();
            let mut speakers = vec![("cp", a.vtep), ("k1", a.k1), ("k2", a.k2)];
            if lab.opts.evpn_second {
                lab.start_second_vtepd();
                speakers.push(("cp2", VTEP2_IP));
            }
            for (role, me) in &speakers {
                let peers: Vec<&str> = speakers
                    .iter()
                    .map(|(_, ip)| *ip)
                    .filter(|ip| ip != me)
                    .collect();
                lab.start_frr(role, me, &peers);
            }
        }
        lab
    }

    /// The second vtepd of an EVPN lab: its own namespaces, underlay port
    /// on the router's bridge, tenant t5, exception path and mirror.
    fn start_second_vtepd(&mut self) {
        for r in ["vn2", "cp2", "t5"] {
            self.add_ns(r);
        }
        self.veth(("ud2", Some("vn2")), ("uu2", Some("ul")));
        self.must_exec(
            "ul",
            &format!("ip link set {} master br0", self.ifname("uu2")),
        );
        self.veth(("a2", Some("vn2")), ("a2h", Some("t5")));
        self.tenant("t5", &self.ifname("a2h"), T5_MAC, "10.0.0.15");
        let text = format!(
            r#"[eal]
args = ["--lcores", "0@1,1@0", "--no-pci", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix=vtep-lab-{id}-2", "--vdev=net_af_packet0,iface={ud}", "--vdev=net_af_packet1,iface={a2}", "--vdev=net_tap9,iface={kt}"]

[dataplane]
mbufs = 16383
idle_sleep_us = 100

[underlay]
port = "net_af_packet0"
address = "{VTEP2_IP}/24"
gateway = "192.0.2.254"
mtu = {mtu}
kernel_port = "net_tap9"

[[access]]
port = "net_af_packet1"
vni = 100

[[vni]]
id = 100

[evpn]
netns = "{cp2}"

[control]
socket = "{sock}"
"#,
            id = self.id,
            ud = self.ifname("ud2"),
            a2 = self.ifname("a2"),
            kt = self.ifname("kt2"),
            mtu = self.opts.mtu,
            cp2 = self.ns("cp2"),
            sock = self.socket2().display(),
        );
        let cfg = self.dir.join("vtep2.toml");
        std::fs::write(&cfg, text).expect("write config");
        let log = std::fs::File::create(self.dir.join("vtepd2.log")).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns("vn2")])
            .arg(vtepd_path())
            .arg("--config")
            .arg(&cfg)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start vtepd");
        self.vtepd2 = Some(child);
        let log = self.dir.join("vtepd2.log");
        wait_socket(&self.socket2(), self.vtepd2.as_mut(), &log);
    }

    /// The second vtepd's control socket.
    pub fn socket2(&self) -> PathBuf {
        self.dir.join("vtep2.sock")
    }

    /// Starts zebra and bgpd in the namespace of `role` (their sockets
    /// under /var/run/frr/<namespace>/), speaking EVPN to `peers`.
    fn start_frr(&mut self, role: &str, router_id: &str, peers: &[&str]) {
        let ns = self.ns(role);
        let run = format!("/var/run/frr/{ns}");
        must(&format!("mkdir -p {run} && chown frr:frr {run}"));
        let mut bgp = format!(
            "frr defaults datacenter\nhostname {role}\nlog file {dir}/frr-{role}.log\n!\nrouter bgp 65000\n bgp router-id {router_id}\n no bgp default ipv4-unicast\n",
            dir = self.dir.display()
        );
        for p in peers {
            bgp.push_str(&format!(" neighbor {p} remote-as 65000\n"));
        }
        bgp.push_str(" address-family l2vpn evpn\n");
        for p in peers {
            bgp.push_str(&format!("  neighbor {p} activate\n"));
        }
        bgp.push_str("  advertise-all-vni\n exit-address-family\n");
        let conf = |d: &str| self.dir.join(format!("{d}-{role}.conf"));
        // Peers behind the router are reached by the default route, which
        // zebra's next-hop tracking ignores unless told.
        std::fs::write(
            conf("zebra"),
            format!("hostname {role}\nip nht resolve-via-default\n"),
        )
        .expect("zebra conf");
        std::fs::write(conf("bgpd"), bgp).expect("bgpd conf");
        must(&format!("chown -R frr:frr {}", self.dir.display()));
        for d in ["zebra", "bgpd"] {
            self.start_frr_daemon(role, d);
        }
        self.frr.push(ns);
    }

    /// Starts FRR's `daemon` (zebra or bgpd) of `role` with the config
    /// written by `start_frr`. zebra gets the netlink receive buffer
    /// Debian's daemons file gives it (`-s 90000000`).
    pub fn start_frr_daemon(&self, role: &str, daemon: &str) {
        let ns = self.ns(role);
        let conf = self.dir.join(format!("{daemon}-{role}.conf"));
        let extra = if daemon == "zebra" { "-s 90000000" } else { "" };
        must(&format!(
            "ip netns exec {ns} /usr/lib/frr/{daemon} -d -N {ns} -f {} -i /var/run/frr/{ns}/{daemon}.pid -A 127.0.0.1 {extra}",
            conf.display()
        ));
    }

    /// An EVPN lab whose mirror holds only what the test writes into it:
    /// zebra and bgpd of vtepd's namespace are killed.
    pub fn evpn_mirror_only() -> Lab {
        let lab = Lab::new(LabOptions {
            evpn: true,
            ..LabOptions::default()
        });
        lab.kill_frr_daemon("cp", "zebra");
        lab.kill_frr_daemon("cp", "bgpd");
        lab
    }

    /// Kills FRR's `daemon` of `role` (SIGKILL: it cleans nothing up) and
    /// waits until it is gone.
    pub fn kill_frr_daemon(&self, role: &str, daemon: &str) {
        let pidfile = format!("/var/run/frr/{}/{daemon}.pid", self.ns(role));
        let pid = std::fs::read_to_string(&pidfile)
            .unwrap_or_else(|e| panic!("{pidfile}: {e}"))
            .trim()
            .to_string();
        must(&format!("kill -KILL {pid}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() {
            assert!(Instant::now() < deadline, "{daemon} {pid} did not die");
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_file(&pidfile);
    }

    /// EVPN labs: a host `role` behind vtepd's access port (on t0's
    /// bridge), e.g. a VM that migrated there.
    pub fn access_host(&mut self, role: &str, mac: &str, ip: &str) {
        self.add_ns(role);
        let (h, b) = (format!("{role}h"), format!("{role}b"));
        self.veth((&h, Some(role)), (&b, Some("t0")));
        self.must_exec("t0", &format!("ip link set {} master tb", self.ifname(&b)));
        self.tenant(role, &self.ifname(&h), mac, ip);
    }

    /// Established EVPN sessions of the FRR of `role`: summary lines whose
    /// State/PfxRcd column is a prefix count.
    pub fn evpn_sessions(&self, role: &str) -> usize {
        self.vtysh(role, "show bgp l2vpn evpn summary")
            .lines()
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 9 && f[1] == "4" && f[9].parse::<u32>().is_ok()
            })
            .count()
    }

    /// Runs `vtysh -c cmd` against the FRR of `role`.
    pub fn vtysh(&self, role: &str, cmd: &str) -> String {
        // stderr: vtysh complains that there is no vtysh.conf.
        sh(&format!(
            "vtysh -N {} -c '{cmd}' 2>/dev/null",
            self.ns(role)
        ))
        .1
    }

    /// Removes namespaces and links of this id, and of labs whose process
    /// is gone (a killed run), so a new run always starts clean.
    fn remove_leftovers(&self) {
        let stale = |name: &str, prefix: &str| -> bool {
            let Some(rest) = name.strip_prefix(prefix) else {
                return false;
            };
            let pid: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
            !pid.is_empty() && (pid == self.id || !Path::new(&format!("/proc/{pid}")).exists())
        };
        let (_, list) = sh("ip netns list");
        if let Ok(dirs) = std::fs::read_dir("/var/run/frr") {
            for d in dirs.flatten() {
                let name = d.file_name().to_string_lossy().into_owned();
                if stale(&name, "vtl") {
                    stop_frr(&name);
                }
            }
        }
        for line in list.lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            if stale(name, "vtl") {
                let _ = sh(&format!("ip netns del {name}"));
            }
        }
        let (_, links) = sh("ip -o link show");
        for l in links.lines() {
            if let Some(name) = l
                .split(':')
                .nth(1)
                .map(|s| s.trim().split('@').next().unwrap_or(""))
            {
                if stale(name, "vl") {
                    let _ = sh(&format!("ip link del {name}"));
                }
            }
        }
    }

    fn add_ns(&mut self, role: &str) {
        let n = self.ns(role);
        must(&format!("ip netns add {n}"));
        self.namespaces.push(n.clone());
        must(&format!("ip -n {n} link set lo up"));
        let _ = sh(&format!(
            "ip netns exec {n} sysctl -qw net.ipv6.conf.all.disable_ipv6=1"
        ));
        let _ = sh(&format!(
            "ip netns exec {n} sysctl -qw net.ipv6.conf.default.disable_ipv6=1"
        ));
    }

    /// A veth pair between two namespaces (None = the test's own).
    fn veth(&mut self, a: (&str, Option<&str>), b: (&str, Option<&str>)) {
        let (an, bn) = (self.ifname(a.0), self.ifname(b.0));
        must(&format!(
            "ip link add name {an} mtu {m} type veth peer name {bn} mtu {m}",
            m = self.opts.mtu
        ));
        self.links.push(an.clone());
        for (name, ns) in [(&an, a.1), (&bn, b.1)] {
            if let Some(ns) = ns {
                must(&format!("ip link set {name} netns {}", self.ns(ns)));
            }
            let pre = ns
                .map(|n| format!("ip netns exec {} ", self.ns(n)))
                .unwrap_or_default();
            quiet(&pre, name);
            must(&format!("{pre}ip link set {name} up"));
        }
    }

    /// A tenant host: namespace `role` with `iface` addressed in the overlay.
    fn tenant(&self, role: &str, iface: &str, mac: &str, ip: &str) {
        let mtu = self.opts.mtu - self.addrs().overhead;
        self.must_exec(
            role,
            &format!("ip link set {iface} address {mac} mtu {mtu}"),
        );
        self.must_exec(role, &format!("ip addr add {ip}/24 dev {iface}"));
    }

    /// A kernel VTEP: vxlan device for `vni` bridged with a veth to a tenant.
    fn kernel_vtep(&mut self, k: &str, local: &str, vni: u32, tenant: &str, mac: &str, ip: &str) {
        let vx = format!("vx{vni}");
        let br = format!("br{vni}");
        let a = self.addrs();
        // Under EVPN, zebra fills the FDB (flood list included).
        let agent = (vni == 200).then_some(self.opts.vni200_port).flatten();
        let group = self
            .opts
            .group
            .clone()
            .filter(|_| (k == "k1" || k == "k3") && vni == 100);
        let remote = if self.opts.evpn || agent.is_some() {
            "nolearning".to_string()
        } else if let Some(g) = group {
            format!("group {g} dev {}", self.ifname(&format!("{k}d")))
        } else {
            format!("remote {}", a.vtep)
        };
        self.must_exec(
            k,
            &format!(
                "ip link add name {vx} mtu {} type vxlan id {vni} local {local} {remote} dstport {} {}",
                self.opts.mtu - a.overhead,
                agent.unwrap_or(4789),
                self.opts.kernel_vxlan_extra
            ),
        );
        if agent.is_some() {
            for mac in [T4_MAC, "00:00:00:00:00:00"] {
                self.must_exec(
                    k,
                    &format!("bridge fdb append {mac} dev {vx} dst {}", a.vtep),
                );
            }
        }
        let kn = k.trim_start_matches('k');
        self.must_exec(
            k,
            &format!(
                "ip link add name {br} address 02:00:00:0{kn}:fe:{:02x} type bridge",
                vni & 0xff
            ),
        );
        self.must_exec(k, &format!("ip link set {vx} master {br}"));
        quiet(&format!("ip netns exec {} ", self.ns(k)), &vx);
        quiet(&format!("ip netns exec {} ", self.ns(k)), &br);
        self.must_exec(k, &format!("ip link set {vx} up"));
        self.must_exec(k, &format!("ip link set {br} up"));
        let (kp, tp) = (format!("{tenant}k"), format!("{tenant}h"));
        self.veth((&kp, Some(k)), (&tp, Some(tenant)));
        self.must_exec(k, &format!("ip link set {} master {br}", self.ifname(&kp)));
        self.tenant(tenant, &self.ifname(&tp), mac, ip);
    }

    fn build_peers(&mut self) {
        for r in ["ul", "k1", "k2", "t0", "t1", "t2"] {
            self.add_ns(r);
        }
        if self.opts.vni200 {
            self.add_ns("t3");
            self.add_ns("t4");
        }
        // Underlay router: a bridge for 192.0.2.0/24, a routed leg to k2.
        // A fixed bridge MAC: by default it takes the lowest port MAC.
        self.must_exec(
            "ul",
            "ip link add name br0 address 02:00:00:00:fe:fe type bridge",
        );
        quiet(&format!("ip netns exec {} ", self.ns("ul")), "br0");
        let a = self.addrs();
        self.underlay_addr("ul", "br0", a.gw, a.plen);
        if self.opts.group.is_some() {
            // The bridge forwards a group only to the ports that joined
            // it: vtepd's reports are what bring the group to it. The
            // bridge is the link's querier, asking every 2 s for answers
            // within 1 s, so a member that does not answer is pruned
            // after 5 s (2 x 2 s + 1 s).
            self.must_exec(
                "ul",
                "ip link set br0 type bridge mcast_snooping 1 mcast_querier 1 \
                 mcast_query_interval 200 mcast_query_response_interval 100 \
                 mcast_startup_query_interval 100",
            );
        } else if self.opts.ipv6 {
            // Without a group vtepd sends no MLD reports, for its
            // solicited-node group either: the bridge must not prune
            // multicast to its port.
            self.must_exec("ul", "ip link set br0 type bridge mcast_snooping 0");
        }
        if self.opts.ipv6 {
            self.must_exec("ul", "sysctl -qw net.ipv6.conf.all.forwarding=1");
        }
        self.must_exec("ul", "ip link set br0 up");
        self.must_exec("ul", "sysctl -qw net.ipv4.ip_forward=1");
        self.veth(("k1u", Some("ul")), ("k1d", Some("k1")));
        self.must_exec(
            "ul",
            &format!("ip link set {} master br0", self.ifname("k1u")),
        );
        self.underlay_addr("k1", &self.ifname("k1d"), a.k1, a.plen);
        self.veth(("k2u", Some("ul")), ("k2d", Some("k2")));
        self.underlay_addr("ul", &self.ifname("k2u"), a.k2_gw, a.plen);
        self.underlay_addr("k2", &self.ifname("k2d"), a.k2, a.plen);
        self.must_exec("k2", &format!("ip route add default via {}", a.k2_gw));
        self.kernel_vtep("k1", a.k1, 100, "t1", T1_MAC, "10.0.0.11");
        self.kernel_vtep("k2", a.k2, 100, "t2", T2_MAC, "10.0.0.12");
        if self.opts.vni200 {
            self.kernel_vtep("k1", a.k1, 200, "t3", T3_MAC, "10.0.0.13");
        }
        if self.opts.group.is_some() {
            for r in ["k3", "t5"] {
                self.add_ns(r);
            }
            self.veth(("k3u", Some("ul")), ("k3d", Some("k3")));
            self.must_exec(
                "ul",
                &format!("ip link set {} master br0", self.ifname("k3u")),
            );
            self.underlay_addr("k3", &self.ifname("k3d"), a.k3, a.plen);
            self.kernel_vtep("k3", a.k3, 100, "t5", T5_MAC, "10.0.0.15");
        }
        if self.opts.ovs {
            self.build_ovs();
        }
    }

    /// The Open vSwitch peer (see [`LabOptions::ovs`]).
    fn build_ovs(&mut self) {
        for r in ["ov", "t6", "t7", "t8", "t9"] {
            self.add_ns(r);
        }
        self.veth(("ovu", Some("ul")), ("ovd", Some("ov")));
        self.must_exec(
            "ul",
            &format!("ip link set {} master br0", self.ifname("ovu")),
        );
        let ovd = self.ifname("ovd");
        // OVS answers ARP for its VTEP address on br-phy; the kernel must
        // not answer it on the veth with the veth's MAC.
        self.must_exec("ov", &format!("ip link set {ovd} arp off up"));
        quiet(&format!("ip netns exec {} ", self.ns("ov")), &ovd);
        let o = ovs::Ovs::start(&self.ns("ov"), &self.dir.join("ovs"));
        o.bridge("br-phy");
        o.vsctl(&format!("add-port br-phy {ovd}"));
        let a = self.addrs();
        self.underlay_addr("ov", "br-phy", a.ovs, a.plen);
        self.must_exec("ov", "ip link set br-phy up");
        let vtep = a.vtep;
        for (br, tun, opts, t, mac, ip) in [
            (
                "br-g",
                "gnv",
                "type=geneve options:key=300",
                "t8",
                T8_MAC,
                "10.0.0.18",
            ),
            (
                "br-n",
                "gre",
                "type=gre options:key=102400",
                "t9",
                T9_MAC,
                "10.0.0.19",
            ),
        ] {
            o.bridge(br);
            o.vsctl(&format!(
                "add-port {br} {tun} -- set interface {tun} {opts} options:remote_ip={vtep}"
            ));
            let (op, tp) = (format!("{t}o"), format!("{t}h"));
            self.veth((&op, Some("ov")), (&tp, Some(t)));
            let opn = self.ifname(&op);
            quiet(&format!("ip netns exec {} ", self.ns("ov")), &opn);
            self.must_exec("ov", &format!("ip link set {opn} up"));
            o.vsctl(&format!("add-port {br} {opn}"));
            let tpn = self.ifname(&tp);
            quiet(&format!("ip netns exec {} ", self.ns(t)), &tpn);
            self.tenant(t, &tpn, mac, ip);
            self.must_exec(t, &format!("ip link set {tpn} up"));
        }
        self.ovs = Some(o);
    }

    /// Tells OVS vtepd's MAC (it would learn it from vtepd's ARP too).
    fn pin_vtepd_in_ovs(&self) {
        let st = self.ctl(&["status"]);
        let mac = st["vtep_mac"].as_str().unwrap_or_default().to_string();
        if let Some(o) = &self.ovs {
            o.appctl(&format!("tnl/neigh/set br-phy {} {mac}", self.addrs().vtep));
        }
    }

    /// The namespace vtepd runs in: None for the test's own.
    fn vtepd_ns(&self) -> Option<&'static str> {
        self.opts.kernel_port.then_some("vn")
    }

    fn build_af_packet_ports(&mut self) {
        let here = self.vtepd_ns();
        if let Some(n) = here {
            self.add_ns(n);
        }
        // vtepd's underlay: one end where it runs (bound by af_packet), one
        // in the router's bridge.
        self.veth(("ud", here), ("uu", Some("ul")));
        self.must_exec(
            "ul",
            &format!("ip link set {} master br0", self.ifname("uu")),
        );
        self.veth(("a0", here), ("a0h", Some("t0")));
        if self.opts.evpn {
            // t0 on a bridge, so that more hosts can join vtepd's access
            // port (see `access_host`).
            let a0h = self.ifname("a0h");
            self.must_exec("t0", "ip link add tb type bridge");
            quiet(&format!("ip netns exec {} ", self.ns("t0")), "tb");
            self.must_exec("t0", &format!("ip link set {a0h} master tb"));
            self.tenant("t0", "tb", T0_MAC, "10.0.0.10");
            self.must_exec("t0", "ip link set tb up");
        } else {
            self.tenant("t0", &self.ifname("a0h"), T0_MAC, "10.0.0.10");
        }
        if self.opts.ovs {
            for (a, t, mac, ip) in [
                ("g2", "t6", T6_MAC, "10.0.0.16"),
                ("n2", "t7", T7_MAC, "10.0.0.17"),
            ] {
                let h = format!("{a}h");
                self.veth((a, here), (&h, Some(t)));
                self.tenant(t, &self.ifname(&h), mac, ip);
            }
        }
        if self.opts.vni200 {
            self.veth(("a1", here), ("a1h", Some("t4")));
            self.must_exec(
                "t4",
                &format!("ip link set {} address {T4_MAC}", self.ifname("a1h")),
            );
        }
    }

    /// Moves the taps vtepd created into place.
    fn wire_taps(&mut self) {
        let ud = self.ifname("ud");
        must(&format!("ip link set {ud} netns {}", self.ns("ul")));
        // The kernel side of a tap starts with the DPDK port's MAC; a bridge
        // treats a port's own MAC as local and would swallow vtepd's frames.
        self.must_exec("ul", &format!("ip link set {ud} address 02:00:00:00:fe:01"));
        self.must_exec("ul", &format!("ip link set {ud} master br0"));
        quiet(&format!("ip netns exec {} ", self.ns("ul")), &ud);
        self.must_exec("ul", &format!("ip link set {ud} up"));
        let a0 = self.ifname("a0");
        must(&format!("ip link set {a0} netns {}", self.ns("t0")));
        quiet(&format!("ip netns exec {} ", self.ns("t0")), &a0);
        self.tenant("t0", &a0, T0_MAC, "10.0.0.10");
        self.must_exec("t0", &format!("ip link set {a0} up"));
        if self.opts.vni200 {
            let a1 = self.ifname("a1");
            must(&format!("ip link set {a1} netns {}", self.ns("t4")));
            quiet(&format!("ip netns exec {} ", self.ns("t4")), &a1);
            self.must_exec("t4", &format!("ip link set {a1} address {T4_MAC} up"));
        }
    }

    /// The access interface of tenant t0 (inside its namespace).
    pub fn t0_iface(&self) -> String {
        match self.opts.kind {
            PortKind::AfPacket | PortKind::Pcap => self.ifname("a0h"),
            PortKind::Tap => self.ifname("a0"),
        }
    }

    /// The trunk interface in t4 (tagged frames, VID 20 = VNI 200).
    pub fn t4_iface(&self) -> String {
        match self.opts.kind {
            PortKind::AfPacket | PortKind::Pcap => self.ifname("a1h"),
            PortKind::Tap => self.ifname("a1"),
        }
    }

    /// tcpdump in namespace `role` on `iface` for packets matching
    /// `filter`, started: this returns once tcpdump says it listens.
    pub fn capture(&self, role: &str, iface: &str, filter: &str) -> Capture {
        use std::io::BufRead;
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let file = self.dir.join(format!("capture-{n}-{role}-{iface}.pcap"));
        let mut child = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(role),
                "tcpdump",
                // Each packet as it comes: nothing waits in the kernel's
                // buffer when the capture is stopped.
                "--immediate-mode",
                "-i",
                iface,
                "-U",
                "-w",
            ])
            .arg(&file)
            .args(filter.split_whitespace())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tcpdump");
        let err = child.stderr.take().expect("tcpdump's stderr");
        let mut lines = std::io::BufReader::new(err).lines();
        let mut said = String::new();
        for l in lines.by_ref() {
            let Ok(l) = l else { break };
            said.push_str(&l);
            said.push('\n');
            if l.contains("listening on") {
                break;
            }
        }
        assert!(
            said.contains("listening on"),
            "tcpdump did not start:\n{said}"
        );
        // Keep reading what it says, so that it never blocks on a full pipe.
        std::thread::spawn(move || {
            lines
                .map_while(Result::ok)
                .for_each(|l| eprintln!("tcpdump: {l}"))
        });
        Capture {
            child: Some(child),
            file,
        }
    }

    /// The router-side interface facing vtepd's underlay port.
    pub fn underlay_capture_iface(&self) -> String {
        match self.opts.kind {
            PortKind::AfPacket | PortKind::Pcap => self.ifname("uu"),
            PortKind::Tap => self.ifname("ud"),
        }
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("vtep.sock")
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("vtep.toml")
    }

    pub fn config_text(&self) -> String {
        let dev = |n: u32, role: &str| match self.opts.kind {
            PortKind::AfPacket => {
                format!(
                    "\"--vdev=net_af_packet{n},iface={},qpairs={}\"",
                    self.ifname(role),
                    self.opts.workers
                )
            }
            PortKind::Tap => format!("\"--vdev=net_tap{n},iface={}\"", self.ifname(role)),
            PortKind::Pcap => format!(
                "\"--vdev=net_pcap{n},rx_iface_in={i},tx_iface={i}\"",
                i = self.ifname(role)
            ),
        };
        let name = |n: u32| match self.opts.kind {
            PortKind::AfPacket => format!("net_af_packet{n}"),
            PortKind::Tap => format!("net_tap{n}"),
            PortKind::Pcap => format!("net_pcap{n}"),
        };
        let a = self.addrs();
        let mut devs = vec![dev(0, "ud"), dev(1, "a0")];
        if self.opts.vni200 {
            devs.push(dev(2, "a1"));
        }
        if self.opts.ovs {
            devs.push(dev(3, "g2"));
            devs.push(dev(4, "n2"));
        }
        let mut ul_extra = self.opts.underlay_extra.clone();
        if self.opts.kernel_port {
            devs.push(format!("\"--vdev=net_tap9,iface={}\"", self.ifname("kt")));
            ul_extra.push_str("\nkernel_port = \"net_tap9\"");
        }
        let flood = if self.opts.evpn {
            String::new()
        } else if self.opts.group.is_some() {
            ul_extra.push_str("\naccept_unknown_sources = true");
            format!("\"{}\"", a.k2)
        } else {
            format!("\"{}\", \"{}\"", a.k1, a.k2)
        };
        let mut c = format!(
            r#"[eal]
args = [{lcores}, "--no-pci", "--no-huge", "-m", "512", "--no-shconf", "--file-prefix=vtep-lab-{id}", {devs}]

[dataplane]
workers = {workers}
mbufs = {mbufs}
{idle}
[underlay]
port = "{ul}"
address = "{vtep}/{plen}"
gateway = "{gw}"
mtu = {mtu}
{ul_extra}

[[access]]
port = "{a0}"
vni = 100

[[vni]]
id = 100
flood = [{flood}]
{group}arp_suppress = {sup}
{v100}
"#,
            id = self.id,
            lcores = match self.opts.workers {
                1 => "\"-l\", \"0-1\"",
                _ => "\"--lcores\", \"0@0,1@1,2@0\"",
            },
            workers = self.opts.workers,
            mbufs = self.opts.mbufs,
            group = match &self.opts.group {
                Some(g) => format!("group = \"{g}\"\n"),
                None => String::new(),
            },
            // EVPN labs share two cores with FRR (and a second vtepd).
            idle = if self.opts.evpn {
                "idle_sleep_us = 100\n"
            } else {
                ""
            },
            mtu = self.opts.mtu,
            devs = devs.join(", "),
            ul = name(0),
            a0 = name(1),
            sup = self.opts.arp_suppress,
            v100 = self.opts.vni100_extra,
            vtep = a.vtep,
            plen = a.plen,
            gw = self.opts.gateway.as_deref().unwrap_or(a.gw),
            ul_extra = ul_extra,
        );
        if self.opts.vni200 {
            c.push_str(&format!(
                "\n[[access]]\nport = \"{}\"\nvlans = {{ 20 = 200 }}\n\n[[vni]]\nid = 200\nflood = [\"{}\"]\n{}",
                name(2),
                a.k1,
                self.opts
                    .vni200_port
                    .map(|p| format!("udp_port = {p}\n"))
                    .unwrap_or_default()
            ));
        }
        if self.opts.ovs {
            for (n, vni, encap) in [(3, 300, "geneve"), (4, 400, "nvgre")] {
                c.push_str(&format!(
                    "\n[[access]]\nport = \"{}\"\nvni = {vni}\n\n[[vni]]\nid = {vni}\nencap = \"{encap}\"\nflood = [\"{}\"]\n",
                    name(n),
                    a.ovs
                ));
            }
        }
        if self.opts.static_fdb {
            c.push_str(&format!(
                "\n[[fdb]]\nvni = 100\nmac = \"{T1_MAC}\"\nremote = \"{}\"\n\n[[fdb]]\nvni = 100\nmac = \"{T2_MAC}\"\nremote = \"{}\"\n",
                a.k1, a.k2
            ));
        }
        if self.opts.evpn {
            c.push_str(&format!(
                "\n[evpn]\nnetns = \"{}\"\n{}\n",
                self.ns("cp"),
                self.opts.evpn_extra
            ));
        }
        c.push_str(&format!(
            "\n[control]\nsocket = \"{}\"\n",
            self.socket().display()
        ));
        c.push_str(
            &self
                .opts
                .extra_config
                .replace("{dir}", &self.dir.display().to_string()),
        );
        c
    }

    fn start_vtepd(&mut self) {
        if !self.config_path().exists() {
            std::fs::write(self.config_path(), self.config_text()).expect("write config");
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("vtepd.log"))
            .expect("log file");
        let mut cmd = match self.vtepd_ns() {
            Some(n) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", &self.ns(n)]).arg(vtepd_path());
                c
            }
            None => Command::new(vtepd_path()),
        };
        let child = cmd
            .arg("--config")
            .arg(self.config_path())
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start vtepd");
        self.vtepd = Some(child);
        wait_socket(
            &self.socket(),
            self.vtepd.as_mut(),
            &self.dir.join("vtepd.log"),
        );
        if self.opts.kind == PortKind::Tap {
            for role in ["ud", "a0"] {
                let n = self.ifname(role);
                let deadline = Instant::now() + Duration::from_secs(10);
                while !sh(&format!("ip link show {n}")).0 {
                    assert!(Instant::now() < deadline, "tap {n} did not appear");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }

    /// Kills vtepd (SIGKILL: nothing of it runs after this, nothing is
    /// cleaned up) and starts it again at once, as a supervisor would;
    /// returns when the new one answers on its socket, with the UNIX time
    /// (seconds) at which it was started.
    pub fn kill_and_restart_vtepd(&mut self) -> f64 {
        if let Some(mut c) = self.vtepd.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let started = unix_now();
        self.start_vtepd();
        started
    }

    /// Stops vtepd (SIGTERM) and starts it again with the same config.
    pub fn restart_vtepd(&mut self) -> Option<i32> {
        let code = self.stop_vtepd();
        let _ = std::fs::remove_file(self.socket());
        self.start_vtepd();
        code
    }

    /// Rewrites the config file (for reload tests).
    /// The ports of the router's bridge that receive `group`, from
    /// `bridge mdb show`.
    pub fn mdb_ports(&self, group: &str) -> Vec<String> {
        let out = self.must_exec("ul", "bridge mdb show dev br0");
        out.lines()
            .filter(|l| l.split_whitespace().any(|w| w == group))
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                w.find(|x| *x == "port")?;
                w.next().map(str::to_string)
            })
            .collect()
    }

    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).expect("write config");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("vtepd.log")).unwrap_or_default()
    }

    /// `vtepctl --json ARGS` parsed.
    pub fn ctl(&self, args: &[&str]) -> serde_json::Value {
        self.ctl_at(&self.socket(), args)
    }

    /// `vtepctl --json` against the second vtepd of an EVPN lab.
    pub fn ctl2(&self, args: &[&str]) -> serde_json::Value {
        self.ctl_at(&self.socket2(), args)
    }

    fn ctl_at(&self, socket: &Path, args: &[&str]) -> serde_json::Value {
        let out = Command::new(vtepctl_path())
            .arg("--socket")
            .arg(socket)
            .arg("--json")
            .args(args)
            .output()
            .expect("vtepctl");
        assert!(
            out.status.success(),
            "vtepctl {args:?} ({}): {}\n--- vtepd ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        serde_json::from_slice(&out.stdout).expect("vtepctl JSON")
    }

    /// Sum of drop counters, leaving out the reasons caused by underlay
    /// chatter unrelated to test flows (frames for other hosts on the
    /// router's bridge).
    pub fn drops_but_noise(&self) -> u64 {
        const NOISE: [&str; 2] = ["underlay_not_our_mac", "underlay_not_our_ip"];
        let st = self.ctl(&["stats"]);
        st["drops"]
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(k, _)| !NOISE.contains(&k.as_str()))
                    .map(|(_, v)| v.as_u64().unwrap_or(0))
                    .sum()
            })
            .unwrap_or(0)
    }

    /// `vtepctl ARGS` (text output): exit code, stdout, stderr.
    pub fn ctl_status(&self, args: &[&str]) -> (i32, String, String) {
        let o = Command::new(vtepctl_path())
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("vtepctl");
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into(),
            String::from_utf8_lossy(&o.stderr).into(),
        )
    }

    /// `vtepctl ARGS` as text.
    pub fn ctl_text(&self, args: &[&str]) -> String {
        let out = Command::new(vtepctl_path())
            .arg("--socket")
            .arg(self.socket())
            .args(args)
            .output()
            .expect("vtepctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts pinging `ip` from `role` every `interval` seconds for
    /// `secs` seconds, each reply timestamped.
    pub fn timed_ping(&self, role: &str, ip: &str, interval: &str, secs: u32) -> TimedPing {
        TimedPing(
            Command::new("ip")
                .args(["netns", "exec", &self.ns(role), "ping", "-D", "-n"])
                .args(["-i", interval, "-W", "1", "-w", &secs.to_string(), ip])
                .stdout(Stdio::piped())
                .spawn()
                .expect("ping"),
        )
    }

    /// Starts an iperf3 UDP stream from `role` to the iperf3 server at `ip`
    /// ([`iperf_server`]): `rate` (e.g. "20M") in datagrams of `len` bytes
    /// for `secs` seconds.
    pub fn udp_stream(&self, role: &str, ip: &str, rate: &str, len: u32, secs: u64) -> UdpStream {
        UdpStream(
            Command::new("ip")
                .args(["netns", "exec", &self.ns(role), "iperf3", "-c", ip, "-u"])
                .args([
                    "-b",
                    rate,
                    "-l",
                    &len.to_string(),
                    "-t",
                    &secs.to_string(),
                    "-J",
                ])
                .stdout(Stdio::piped())
                .spawn()
                .expect("iperf3"),
        )
    }

    /// The `neigh show` row of underlay neighbour `ip` (Null if none).
    pub fn neighbor(&self, ip: &str) -> serde_json::Value {
        self.ctl(&["neigh", "show"])
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["ip"] == ip).cloned())
            .unwrap_or_default()
    }

    /// Pings `ip` from `role` until it answers (or `secs` pass).
    pub fn ping(&self, role: &str, ip: &str, secs: u64) -> bool {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while Instant::now() < deadline {
            if self.exec(role, &format!("ping -c 1 -W 1 {ip}")).0 {
                return true;
            }
        }
        false
    }

    /// Sends SIGTERM to vtepd and waits; returns its exit status code.
    pub fn stop_vtepd(&mut self) -> Option<i32> {
        let mut c = self.vtepd.take()?;
        let _ = sh(&format!("kill -TERM {}", c.id()));
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st.code();
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// Waits up to 20 s for a starting vtepd's control socket; panics with its
/// log if it exits or does not get there.
/// Waits until vtepd answers on its control socket (a stale socket left
/// by a killed vtepd refuses connections until the new one replaces it).
fn wait_socket(socket: &Path, child: Option<&mut Child>, log: &Path) {
    let log = || std::fs::read_to_string(log).unwrap_or_default();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut child = child;
    while std::os::unix::net::UnixStream::connect(socket).is_err() {
        if let Some(Ok(Some(st))) = child.as_mut().map(|c| c.try_wait()) {
            panic!("vtepd exited with {st}:\n{}", log());
        }
        assert!(Instant::now() < deadline, "vtepd did not start:\n{}", log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Stops the FRR daemons of a namespace (by their pid files).
fn stop_frr(ns: &str) {
    let run = format!("/var/run/frr/{ns}");
    let _ = sh(&format!(
        "for p in {run}/*.pid; do [ -f $p ] && kill $(cat $p); done; sleep 0.2; for p in {run}/*.pid; do [ -f $p ] && kill -9 $(cat $p) 2>/dev/null; done; rm -rf {run}"
    ));
}

impl Drop for Lab {
    fn drop(&mut self) {
        drop(self.ovs.take());
        for mut c in [self.vtepd.take(), self.vtepd2.take()]
            .into_iter()
            .flatten()
        {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in &self.frr {
            stop_frr(ns);
        }
        for n in self.namespaces.iter().rev() {
            let _ = sh(&format!("ip netns del {n}"));
        }
        for l in &self.links {
            let _ = sh(&format!("ip link del {l} 2>/dev/null"));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/vtep-lab-{}", self.id));
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/vtep-lab-{}-2", self.id));
    }
}

/// A child process killed (and reaped) when dropped, so a failing test
/// never leaves a spinning vtepd behind.
/// Sends raw Ethernet frames from `iface` in namespace `role`.
pub fn send_frames(lab: &Lab, role: &str, iface: &str, frames: &[Vec<u8>]) -> bool {
    let path = lab.dir.join(format!("frames-{role}.hex"));
    let text: String = frames
        .iter()
        .map(|f| f.iter().map(|b| format!("{b:02x}")).collect::<String>() + "\n")
        .collect();
    if std::fs::write(&path, text).is_err() {
        return false;
    }
    lab.exec(
        role,
        &format!(
            "python3 -c \"import socket; s=socket.socket(socket.AF_PACKET, socket.SOCK_RAW); s.bind(('{iface}', 0)); \
             [s.send(bytes.fromhex(l.strip())) for l in open('{}') if l.strip()]\"",
            path.display()
        ),
    )
    .0
}

/// Resident memory of a process, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// What one iperf3 run measured.
#[derive(Debug, Clone, Copy)]
pub struct IperfResult {
    pub bps: f64,
    pub min_interval_bps: f64,
    pub retransmits: u64,
}

/// Runs iperf3 for `secs` from `client` to a one-shot server started in
/// `server` (address `ip`) with `extra` client options; its JSON report.
fn iperf_json(
    lab: &Lab,
    client: &str,
    server: &str,
    ip: &str,
    secs: u32,
    extra: &str,
) -> serde_json::Value {
    let srv = iperf_server(lab, server);
    let out = lab.must_exec(client, &format!("iperf3 -c {ip} -t {secs} -i 1 -J {extra}"));
    drop(srv);
    // Any warning iperf3 prints on stderr follows the JSON.
    serde_json::Deserializer::from_str(&out)
        .into_iter::<serde_json::Value>()
        .next()
        .and_then(Result::ok)
        .unwrap_or_else(|| panic!("iperf3 JSON:\n{out}"))
}

/// Runs an iperf3 TCP test of `secs` from `client` to the server started
/// in `server` (address `ip`); `reverse` makes the server send.
pub fn iperf(
    lab: &Lab,
    client: &str,
    server: &str,
    ip: &str,
    secs: u32,
    reverse: bool,
) -> IperfResult {
    let v = iperf_json(
        lab,
        client,
        server,
        ip,
        secs,
        if reverse { "-R" } else { "" },
    );
    let bps = v["end"]["sum_received"]["bits_per_second"]
        .as_f64()
        .unwrap_or(0.0);
    let min_interval_bps = v["intervals"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["sum"]["bits_per_second"].as_f64())
                .fold(f64::INFINITY, f64::min)
        })
        .unwrap_or(0.0);
    IperfResult {
        bps,
        min_interval_bps,
        retransmits: v["end"]["sum_sent"]["retransmits"].as_u64().unwrap_or(0),
    }
}

/// What an iperf3 UDP run delivered: datagrams sent and received, and
/// the receiver's rate of UDP payload, bit/s.
#[derive(Debug, Clone, Copy)]
pub struct UdpResult {
    pub sent: u64,
    pub received: u64,
    pub received_bps: f64,
}

/// Runs iperf3 over UDP: `len`-byte datagrams offered at `bps` for `secs`
/// from `client` to `server` (address `ip`); `reverse` makes the server send.
#[allow(clippy::too_many_arguments)]
pub fn iperf_udp(
    lab: &Lab,
    client: &str,
    server: &str,
    ip: &str,
    secs: u32,
    reverse: bool,
    bps: u64,
    len: usize,
) -> UdpResult {
    let r = if reverse { "-R" } else { "" };
    let v = iperf_json(
        lab,
        client,
        server,
        ip,
        secs,
        &format!("-u -b {bps} -l {len} {r}"),
    );
    let sum = &v["end"]["sum"];
    let sent = sum["packets"].as_u64().unwrap_or(0);
    let lost = sum["lost_packets"].as_u64().unwrap_or(0);
    let secs = sum["seconds"].as_f64().unwrap_or(secs as f64);
    let received = sent.saturating_sub(lost);
    UdpResult {
        sent,
        received,
        received_bps: (received * len as u64 * 8) as f64 / secs,
    }
}

/// Sends an 802.1Q-tagged ARP request (VID `vid`) for `target` from the
/// interface `iface` in namespace `role`, and waits for the answer. Returns
/// the VID the answer carried and the MAC it gave. The tag is read from the
/// frame or, where the kernel moved it to packet metadata, from the
/// socket's auxiliary data (this kernel may have no 802.1Q module at all).
pub fn tagged_arp(
    lab: &Lab,
    role: &str,
    iface: &str,
    vid: u16,
    mac: &str,
    ip: &str,
    target: &str,
) -> Option<(u16, String)> {
    let script = format!(
        r#"
import socket, struct, time
ETH_P_ALL = 3
SOL_PACKET, PACKET_AUXDATA = 263, 8
mac = bytes.fromhex('{mac}'.replace(':', ''))
spa, tpa = socket.inet_aton('{ip}'), socket.inet_aton('{target}')
arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, mac, spa, b'\0' * 6, tpa)
frame = b'\xff' * 6 + mac + struct.pack('!HH', 0x8100, {vid}) + struct.pack('!H', 0x0806) + arp
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
s.bind(('{iface}', 0))
s.settimeout(1)
end = time.time() + 5
while time.time() < end:
    s.send(frame)
    t = time.time() + 1
    while time.time() < t:
        try:
            d, anc, _, addr = s.recvmsg(65535, 1024)
        except socket.timeout:
            break
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        vid, et, off = None, struct.unpack('!H', d[12:14])[0], 14
        if et == 0x8100:
            vid, et, off = struct.unpack('!H', d[14:16])[0] & 0xfff, struct.unpack('!H', d[16:18])[0], 18
        for lvl, typ, data in anc:
            if lvl == SOL_PACKET and typ == PACKET_AUXDATA and len(data) >= 20:
                st, _, _, _, _, tci = struct.unpack('IIIHHH', data[:18])
                if st & (1 << 4):
                    vid = tci & 0xfff
        if et == 0x0806 and struct.unpack('!H', d[off+6:off+8])[0] == 2 and d[off+14:off+18] == tpa:
            print(vid, d[off+8:off+14].hex(':'))
            raise SystemExit(0)
raise SystemExit(1)
"#
    );
    let path = lab.dir.join(format!("tagged-arp-{vid}.py"));
    std::fs::write(&path, script).ok()?;
    let (ok, out) = lab.exec(role, &format!("python3 {}", path.display()));
    if !ok {
        return None;
    }
    let mut it = out.split_whitespace();
    let v = it.next()?.parse().ok()?;
    Some((v, it.next()?.to_string()))
}

/// The workspace's release vtepd (or $VTEPD) outside the lab (pcap and
/// null ports), on `config` in [`Daemon::dir_for`]`(tag)`, whose EAL file
/// prefix must be [`Daemon::prefix_for`]`(tag)`.
pub fn daemon(tag: &str, config: &str) -> Daemon {
    Daemon::start(
        &vtepd_path(),
        &Daemon::dir_for(tag),
        &Daemon::prefix_for(tag),
        config,
    )
}

/// Starts a one-shot iperf3 server in namespace `role`; returns once it
/// listens.
pub fn iperf_server(lab: &Lab, role: &str) -> Reaper {
    let c = Command::new("ip")
        .args(["netns", "exec", &lab.ns(role), "iperf3", "-s", "-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("iperf3 server");
    let srv = Reaper(c);
    let listening = format!("ip netns exec {} ss -Hltn 'sport = :5201'", lab.ns(role));
    assert!(
        wait_for(10, || sh(&listening).1.contains("5201")),
        "iperf3 server in {role} did not listen"
    );
    srv
}

/// A TCP exchange with a one-shot server in `server` bound to `ip:port`
/// (IPv4 or IPv6): the client in `client` connects (retrying for 5 s),
/// sends "open" and returns what came back ("OPEN" when it worked), or the
/// client's output on failure.
pub fn tcp_exchange(lab: &Lab, server: &str, client: &str, ip: &str, port: u16) -> String {
    let fam = if ip.contains(':') {
        "AF_INET6"
    } else {
        "AF_INET"
    };
    let srv = format!(
        "exec python3 -c \"import socket\ns=socket.socket(socket.{fam})\ns.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\ns.bind(('{ip}', {port}))\ns.listen(1)\nc,_=s.accept()\nc.sendall(c.recv(64).upper())\nc.close()\""
    );
    let mut s = Reaper(
        Command::new("ip")
            .args(["netns", "exec", &lab.ns(server), "sh", "-c", &srv])
            .spawn()
            .expect("TCP server"),
    );
    let cli = format!(
        "python3 -c \"import socket,time\nfor i in range(50):\n  try:\n    s=socket.create_connection(('{ip}',{port}),2); break\n  except OSError: time.sleep(0.1)\ns.sendall(b'open')\nprint(s.recv(64).decode())\""
    );
    let (_, out) = lab.exec(client, &format!("sh -c '{}'", cli.replace('\'', "'\\''")));
    s.stop();
    out
}

//! The vtepd configuration: TOML schema, validation with errors that name the
//! key and line, and the EAL argument list. See DESIGN.md for the keys.
#![forbid(unsafe_code)]

mod raw;
mod types;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

pub use types::{MacAddr, Vni};

/// A configuration error: what is wrong, where, and what is allowed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("cannot read {path}: {msg}")]
    Io { path: String, msg: String },
    #[error("{0}")]
    Parse(String),
    #[error("{key}{at}: {msg}", at = line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Invalid {
        key: String,
        line: Option<usize>,
        msg: String,
    },
}

/// A validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub eal_args: Vec<String>,
    pub dataplane: Dataplane,
    pub underlay: Underlay,
    pub neighbors: Vec<Neighbor>,
    pub access: Vec<Access>,
    pub vnis: Vec<VniConfig>,
    pub fdb: Vec<StaticFdb>,
    pub control: Control,
    /// `[evpn]`: BGP EVPN through FRR and a kernel mirror of each VNI.
    pub evpn: Option<Evpn>,
}

/// `[evpn]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evpn {
    /// An existing network namespace: the exception interface and the
    /// kernel mirror go there, and FRR runs there.
    pub netns: String,
    /// Seconds after a new zebra appears in `netns` before the remote MACs
    /// and VTEPs it has not installed again are removed; 0: never.
    pub restart_sweep_secs: u16,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Dataplane {
    pub workers: usize,
    /// FDB entries the table is sized for (all VNIs together).
    pub fdb_capacity: usize,
    /// Learn events each worker can queue for the management thread.
    pub learn_queue: usize,
    /// Microseconds a worker sleeps when its queues have been empty for a
    /// while; 0 (default) polls without pause. For hosts whose cores are
    /// shared (VMs, labs), like Open vSwitch's `pmd-sleep-max`.
    pub idle_sleep_us: u32,
    pub burst: usize,
    pub mbufs: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Underlay {
    pub port: String,
    /// MAC to set on the underlay port; None keeps the device's own.
    pub mac: Option<MacAddr>,
    /// The VTEP address: IPv4 or IPv6, and every other underlay address
    /// (gateway, neighbours, remote VTEPs) is of the same family.
    pub address: IpAddr,
    pub prefix_len: u8,
    pub gateway: Option<IpAddr>,
    /// VXLAN's UDP port, unless a VNI says another.
    pub udp_port: u16,
    /// Geneve's UDP port, unless a VNI says another.
    pub geneve_port: u16,
    /// NVGRE: put 8 bits of the inner flow hash in the FlowID (else 0).
    pub nvgre_flow_id: bool,
    /// A dynamic next hop not heard from (ARP or ND from it) for this long
    /// is probed; one that answers none of the probes is forgotten.
    pub neighbor_confirm_secs: u16,
    pub mtu: u16,
    /// IPv4 TTL or IPv6 hop limit of outer packets.
    pub ttl: u8,
    /// The TTL or hop limit of outer packets to a VNI's multicast group
    /// (1: the group on the VTEPs' own link).
    pub mcast_ttl: u8,
    /// IGMP version of the membership reports for the VNIs' groups (2 or
    /// 3; an IPv6 underlay speaks MLDv2).
    pub igmp_version: u8,

    pub df: bool,
    pub accept_unknown_sources: bool,
    pub strict_reserved: bool,
    /// IPv6 only: send VXLAN with a zero UDP checksum (RFC 6935/6936)
    /// instead of computing it; only for peers that accept zero.
    pub udp6_zero_checksum_tx: bool,
    /// IPv6 only: accept VXLAN whose UDP checksum is zero.
    pub udp6_zero_checksum_rx: bool,
    /// The exception path: a net_tap device whose kernel interface gets
    /// the VTEP's MAC, address and default route, and receives the
    /// underlay traffic to the VTEP that is not VXLAN.
    pub kernel_port: Option<KernelPort>,
}

/// `[underlay] kernel_port`: the DPDK device and its kernel interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelPort {
    pub device: String,
    /// The tap's interface name (`iface=` of its `--vdev`).
    pub iface: String,
}

impl Underlay {
    pub fn is_ipv6(&self) -> bool {
        self.address.is_ipv6()
    }

    /// Bytes `encap` adds to a tenant IP packet on this underlay, as its
    /// MTU counts them: the inner Ethernet header, the tunnel's headers
    /// and the outer IP header.
    pub fn encap_overhead(&self, encap: Encap) -> u16 {
        let ip = if self.is_ipv6() { 40 } else { 20 };
        14 + encap.header_len() + ip
    }

    /// True when `ip` is inside this VTEP's on-link prefix (for IPv6 also
    /// a link-local address: routers are often known by theirs).
    pub fn on_link(&self, ip: IpAddr) -> bool {
        match (self.address, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let m = prefix_mask(self.prefix_len, 32) as u32;
                u32::from(a) & m == u32::from(b) & m
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let m = prefix_mask(self.prefix_len, 128);
                b.is_unicast_link_local() || u128::from(a) & m == u128::from(b) & m
            }
            _ => false,
        }
    }

    /// The next hop towards `ip`: itself when on-link, else the gateway;
    /// none for a multicast group, which is sent to at its mapped MAC.
    pub fn next_hop(&self, ip: IpAddr) -> Option<IpAddr> {
        if ip.is_multicast() {
            None
        } else if self.on_link(ip) {
            Some(ip)
        } else {
            self.gateway
        }
    }
}

/// The top `plen` of `bits` bits set.
pub fn prefix_mask(plen: u8, bits: u32) -> u128 {
    let all = if bits == 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    };
    match plen as u32 {
        0 => 0,
        p if p >= bits => all,
        p => all & !(all >> p),
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Neighbor {
    pub ip: IpAddr,
    pub mac: MacAddr,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Access {
    pub port: String,
    /// VNI of untagged frames; None drops them.
    pub vni: Option<Vni>,
    /// 802.1Q VID -> VNI.
    pub vlans: BTreeMap<u16, Vni>,
    /// Port MTU: the largest tenant IP packet; at most the underlay MTU
    /// less the largest [`Underlay::encap_overhead`] of the port's VNIs,
    /// which is the default.
    pub mtu: u16,
}

/// `[[vni]] encap`: how a VNI's frames travel on the underlay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Encap {
    /// RFC 7348, over UDP.
    Vxlan,
    /// RFC 8926, over UDP; sent without options.
    Geneve,
    /// RFC 7637: GRE (IP protocol 47) with the VNI as VSID in its key.
    Nvgre,
}

impl Encap {
    pub const ALL: [Encap; 3] = [Encap::Vxlan, Encap::Geneve, Encap::Nvgre];

    /// As the config and vtepctl spell it.
    pub fn name(self) -> &'static str {
        match self {
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
            Encap::Nvgre => "nvgre",
        }
    }

    /// Bytes between the outer IP header and the inner frame: UDP and
    /// VXLAN or Geneve (without options) 16, GRE with a key 8.
    pub fn header_len(self) -> u16 {
        match self {
            Encap::Vxlan | Encap::Geneve => 16,
            Encap::Nvgre => 8,
        }
    }

    pub fn over_udp(self) -> bool {
        self != Encap::Nvgre
    }
}

impl std::fmt::Display for Encap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A tunnel: an encapsulation and, over UDP, its destination port. The
/// VNIs of one tunnel share it; a packet's tunnel is found by its UDP
/// port or IP protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tunnel {
    pub encap: Encap,
    /// None for NVGRE.
    pub udp_port: Option<u16>,
}

impl std::fmt::Display for Tunnel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.udp_port {
            Some(p) => write!(f, "{} on UDP {p}", self.encap),
            None => write!(f, "{}", self.encap),
        }
    }
}

/// The most tunnels one config may use (distinct encapsulations and UDP
/// ports over its VNIs).
pub const MAX_TUNNELS: usize = 4;

#[derive(Debug, Clone, PartialEq)]
pub struct VniConfig {
    pub id: Vni,
    /// `encap` and `udp_port`.
    pub tunnel: Tunnel,
    pub flood: Vec<IpAddr>,
    /// The multicast group BUM frames go to (RFC 7348 §4.2), besides the
    /// flood list.
    pub group: Option<IpAddr>,
    pub learning: bool,
    pub arp_suppress: bool,
    pub mac_limit: u32,
    pub aging_secs: u32,
    /// `rate_mbps` / `burst_kb`: the VNI's tenant traffic in each direction.
    pub rate: Option<RateLimit>,
    /// `flood_pps`: BUM frames from access ports per second (storm control).
    pub flood_pps: Option<u32>,
}

/// A VNI's bandwidth limit, applied to each direction separately and
/// counted on tenant frame bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub mbps: u32,
    /// Bucket depth.
    pub burst_bytes: u32,
}

impl RateLimit {
    /// The smallest depth: one frame of the largest size a tenant can send
    /// (9216-byte jumbo frames).
    pub const MIN_BURST: u32 = 9216;

    /// The default depth: 10 ms at the rate, at least four jumbo frames.
    pub fn default_burst(mbps: u32) -> u32 {
        // mbps * 1e6 / 8 bytes per second, for 10 ms.
        (mbps as u64 * 1250).clamp(4 * Self::MIN_BURST as u64, u32::MAX as u64) as u32
    }

    pub fn bytes_per_sec(&self) -> u64 {
        self.mbps as u64 * 125_000
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct StaticFdb {
    pub vni: Vni,
    pub mac: MacAddr,
    pub at: FdbAt,
    /// IPv4 and IPv6 addresses bound to the MAC (`ips`, port entries
    /// only): ARP/ND suppression bindings, advertised as MAC+IP routes
    /// with `[evpn]`.
    pub ips: Vec<IpAddr>,
}

/// Where a static FDB entry points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdbAt {
    /// Behind a remote VTEP.
    Remote(IpAddr),
    /// On this VTEP's access port (its device name).
    Port(String),
}

impl StaticFdb {
    /// The remote VTEP of the entry, if it names one.
    pub fn remote(&self) -> Option<IpAddr> {
        match self.at {
            FdbAt::Remote(ip) => Some(ip),
            FdbAt::Port(_) => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub socket: PathBuf,
    pub metrics: Option<SocketAddr>,
    pub group: Option<String>,
    pub state_file: Option<PathBuf>,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.display().to_string(),
            msg: e.to_string(),
        })?;
        Config::parse(&text)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        raw::parse(text)
    }

    /// Device names that the EAL arguments create (`--vdev NAME,...`) or
    /// allow (`-a`/`--allow ADDR`).
    pub fn eal_devices(&self) -> BTreeSet<String> {
        eal_devices(&self.eal_args)
    }

    /// The EAL `--file-prefix`, if the arguments set one.
    pub fn file_prefix(&self) -> Option<String> {
        let mut it = self.eal_args.iter();
        while let Some(a) = it.next() {
            if let Some(v) = a.strip_prefix("--file-prefix=") {
                return Some(v.to_string());
            }
            if a == "--file-prefix" {
                return it.next().cloned();
            }
        }
        None
    }

    /// All port names, underlay first.
    pub fn port_names(&self) -> Vec<&str> {
        std::iter::once(self.underlay.port.as_str())
            .chain(self.access.iter().map(|a| a.port.as_str()))
            .collect()
    }

    pub fn vni(&self, id: Vni) -> Option<&VniConfig> {
        self.vnis.iter().find(|v| v.id == id)
    }

    /// The tunnels the VNIs use, each once, in the order of the first VNI
    /// of each (at most [`MAX_TUNNELS`]: the parser refuses more).
    pub fn tunnels(&self) -> Vec<Tunnel> {
        let mut t: Vec<Tunnel> = Vec::new();
        for v in &self.vnis {
            if !t.contains(&v.tunnel) {
                t.push(v.tunnel);
            }
        }
        t
    }
}

/// True if `flag` is one of the EAL arguments.
pub(crate) fn eal_has_flag(args: &[String], flag: &str) -> bool {
    args.iter().any(|a| a == flag)
}

/// The lcores `-l LIST` or `-c MASK` enable, checked for syntax; Ok(None)
/// when neither is given or `--lcores` (whose mapping syntax EAL checks)
/// is used instead.
pub fn eal_lcores(args: &[String]) -> Result<Option<Vec<usize>>, String> {
    let mut it = args.iter();
    let mut found = None;
    while let Some(a) = it.next() {
        let (flag, val) = if let Some(v) = a.strip_prefix("-l").filter(|v| !v.is_empty()) {
            ("-l", Some(v.to_string()))
        } else if let Some(v) = a.strip_prefix("-c").filter(|v| !v.is_empty()) {
            ("-c", Some(v.to_string()))
        } else if a == "-l" || a == "-c" {
            (a.as_str(), it.next().cloned())
        } else if a == "--lcores" || a.starts_with("--lcores=") {
            return Ok(None);
        } else {
            continue;
        };
        let val = val.ok_or_else(|| format!("{flag} needs a value"))?;
        found = Some(if flag == "-l" {
            parse_cpu_list(&val).map_err(|_| {
                format!("-l {val:?} is not a core list (write it like 0-3 or 1,2,4)")
            })?
        } else {
            parse_core_mask(&val)?
        });
    }
    Ok(found)
}

/// Parses a CPU list as in `-l 0-3,6` or /sys/devices/system/cpu/online.
pub fn parse_cpu_list(list: &str) -> Result<Vec<usize>, String> {
    let list = list.trim();
    let bad = || format!("{list:?} is not a CPU list");
    let mut cores = Vec::new();
    for part in list.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a, b),
            None => (part, part),
        };
        let (a, b): (usize, usize) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b >= 1024 {
            return Err(bad());
        }
        cores.extend(a..=b);
    }
    cores.sort_unstable();
    cores.dedup();
    Ok(cores)
}

fn parse_core_mask(mask: &str) -> Result<Vec<usize>, String> {
    let hex = mask.trim_start_matches("0x").trim_start_matches("0X");
    let v = u128::from_str_radix(hex, 16)
        .map_err(|_| format!("-c {mask:?} is not a hexadecimal core mask"))?;
    Ok((0..128).filter(|i| v & (1 << i) != 0).collect())
}

/// The value of `key=` in the `--vdev` argument that creates `dev`.
pub fn vdev_arg(args: &[String], dev: &str, key: &str) -> Option<String> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v = match a.strip_prefix("--vdev=") {
            Some(v) => v.to_string(),
            None if a == "--vdev" => it.next()?.clone(),
            None => continue,
        };
        let mut parts = v.split(',');
        if parts.next() != Some(dev) {
            continue;
        }
        return parts.find_map(|p| p.strip_prefix(&format!("{key}=")).map(str::to_string));
    }
    None
}

pub(crate) fn eal_devices(args: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        let val = if let Some(v) = a
            .strip_prefix("--vdev=")
            .or_else(|| a.strip_prefix("--allow="))
        {
            Some(v.to_string())
        } else if a == "--vdev" || a == "-a" || a == "--allow" {
            it.next().cloned()
        } else {
            a.strip_prefix("-a")
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        if let Some(v) = val {
            out.insert(v.split(',').next().unwrap_or("").to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests;

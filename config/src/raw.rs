//! The TOML schema as written (serde), and its validation into [`Config`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use crate::{
    Access, Config, ConfigError, Control, Dataplane, Encap, FdbAt, MacAddr, Neighbor, RateLimit,
    StaticFdb, Underlay, Vni, VniConfig,
};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    eal: Spanned<RawEal>,
    #[serde(default)]
    dataplane: Option<Spanned<RawDataplane>>,
    underlay: Spanned<RawUnderlay>,
    #[serde(default)]
    neighbor: Vec<Spanned<RawNeighbor>>,
    #[serde(default)]
    access: Vec<Spanned<RawAccess>>,
    #[serde(default)]
    vni: Vec<Spanned<RawVni>>,
    #[serde(default)]
    fdb: Vec<Spanned<RawFdb>>,
    #[serde(default)]
    control: Option<Spanned<RawControl>>,
    #[serde(default)]
    evpn: Option<Spanned<RawEvpn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEvpn {
    netns: String,
    #[serde(default = "d_restart_sweep")]
    restart_sweep_secs: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEal {
    args: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataplane {
    #[serde(default = "d_workers")]
    workers: i64,
    #[serde(default = "d_burst")]
    burst: i64,
    #[serde(default = "d_mbufs")]
    mbufs: i64,
    #[serde(default = "d_fdb_capacity")]
    fdb_capacity: i64,
    #[serde(default = "d_learn_queue")]
    learn_queue: i64,
    #[serde(default)]
    idle_sleep_us: i64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUnderlay {
    port: String,
    mac: Option<String>,
    address: String,
    gateway: Option<String>,
    #[serde(default = "d_udp")]
    udp_port: i64,
    #[serde(default = "d_geneve")]
    geneve_port: i64,
    #[serde(default)]
    nvgre_flow_id: bool,
    #[serde(default = "d_neighbor_confirm")]
    neighbor_confirm_secs: i64,
    #[serde(default = "d_mtu")]
    mtu: i64,
    #[serde(default = "d_ttl")]
    ttl: i64,
    #[serde(default)]
    df: bool,
    #[serde(default)]
    accept_unknown_sources: bool,
    #[serde(default)]
    strict_reserved: bool,
    udp6_zero_checksum_tx: Option<bool>,
    udp6_zero_checksum_rx: Option<bool>,
    kernel_port: Option<String>,
    #[serde(default = "d_mcast_ttl")]
    mcast_ttl: i64,
    igmp_version: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNeighbor {
    ip: String,
    mac: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccess {
    port: String,
    vni: Option<i64>,
    mtu: Option<i64>,
    #[serde(default)]
    vlans: BTreeMap<String, i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVni {
    id: i64,
    #[serde(default = "d_encap")]
    encap: String,
    udp_port: Option<i64>,
    #[serde(default)]
    flood: Vec<String>,
    group: Option<String>,
    #[serde(default = "d_true")]
    learning: bool,
    #[serde(default)]
    arp_suppress: bool,
    mac_limit: Option<i64>,
    #[serde(default = "d_aging")]
    aging_secs: i64,
    rate_mbps: Option<i64>,
    burst_kb: Option<i64>,
    flood_pps: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFdb {
    vni: i64,
    mac: String,
    remote: Option<String>,
    port: Option<String>,
    #[serde(default)]
    ips: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawControl {
    #[serde(default = "d_socket")]
    socket: String,
    metrics: Option<String>,
    group: Option<String>,
    state_file: Option<String>,
}

fn d_workers() -> i64 {
    1
}
fn d_burst() -> i64 {
    32
}
fn d_mbufs() -> i64 {
    16383
}
fn d_fdb_capacity() -> i64 {
    262_144
}
fn d_learn_queue() -> i64 {
    65_536
}
fn d_udp() -> i64 {
    4789
}
fn d_geneve() -> i64 {
    6081
}
fn d_neighbor_confirm() -> i64 {
    5
}
fn d_restart_sweep() -> i64 {
    30
}
fn d_encap() -> String {
    "vxlan".into()
}
fn d_mtu() -> i64 {
    1500
}
fn d_mcast_ttl() -> i64 {
    1
}

fn d_ttl() -> i64 {
    64
}
fn d_true() -> bool {
    true
}
fn d_mac_limit() -> i64 {
    65536
}
fn d_aging() -> i64 {
    300
}
fn d_socket() -> String {
    "/run/vtep/vtep.sock".into()
}

/// Largest burst a worker handles; its arrays are sized for it.
pub const MAX_BURST: i64 = 256;

struct Ctx<'a> {
    text: &'a str,
    eal_args: Vec<String>,
}

impl Ctx<'_> {
    /// The line of `key` inside the table at `span`: the line where its
    /// last component is assigned, else the table's first line.
    fn line(&self, span: std::ops::Range<usize>, key: &str) -> usize {
        let start = span.start.min(self.text.len());
        let end = span.end.clamp(start, self.text.len());
        let line_of = |at: usize| self.text[..at].matches('\n').count() + 1;
        let name = key.split([' ', '.']).nth(1).unwrap_or(key);
        let mut at = start;
        for l in self.text[start..end].split_inclusive('\n') {
            let t = l.trim_start();
            if t.strip_prefix(name)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
            {
                return line_of(at);
            }
            at += l.len();
        }
        line_of(start)
    }

    fn err<T>(
        &self,
        key: &str,
        span: std::ops::Range<usize>,
        msg: impl Into<String>,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::Invalid {
            key: key.into(),
            line: Some(self.line(span, key)),
            msg: msg.into(),
        })
    }

    fn range(
        &self,
        key: &str,
        span: std::ops::Range<usize>,
        v: i64,
        lo: i64,
        hi: i64,
    ) -> Result<i64, ConfigError> {
        if v < lo || v > hi {
            return self.err(key, span, format!("{v} is out of range {lo}..={hi}"));
        }
        Ok(v)
    }

    fn vni(&self, key: &str, span: std::ops::Range<usize>, v: i64) -> Result<Vni, ConfigError> {
        match u32::try_from(v).ok().and_then(Vni::new) {
            Some(x) => Ok(x),
            None => self.err(
                key,
                span,
                format!("{v} is not a VNI (must be 1..{})", Vni::MAX),
            ),
        }
    }

    fn ip(&self, key: &str, span: std::ops::Range<usize>, s: &str) -> Result<IpAddr, ConfigError> {
        s.parse().or_else(|_| {
            self.err(
                key,
                span,
                format!(
                    "{s:?} is not an IP address (IPv4 like 192.0.2.2 or IPv6 like 2001:db8::2)"
                ),
            )
        })
    }

    /// An underlay address of the VTEP's own family.
    fn peer_ip(
        &self,
        key: &str,
        span: std::ops::Range<usize>,
        s: &str,
        u: &Underlay,
    ) -> Result<IpAddr, ConfigError> {
        let ip = self.ip(key, span.clone(), s)?;
        if ip.is_ipv6() != u.is_ipv6() {
            let fam = |v6: bool| if v6 { "IPv6" } else { "IPv4" };
            return self.err(
                key,
                span,
                format!(
                    "{ip} is an {} address but underlay.address {} is {}: one address family per VTEP",
                    fam(ip.is_ipv6()),
                    u.address,
                    fam(u.is_ipv6())
                ),
            );
        }
        Ok(ip)
    }

    fn mac(
        &self,
        key: &str,
        span: std::ops::Range<usize>,
        s: &str,
    ) -> Result<MacAddr, ConfigError> {
        s.parse().or_else(|e: String| self.err(key, span, e))
    }
}

pub(crate) fn parse(text: &str) -> Result<Config, ConfigError> {
    let raw: RawConfig =
        toml::from_str(text).map_err(|e| ConfigError::Parse(format_toml_error(text, &e)))?;
    let eal_span = raw.eal.span();
    let eal_args = raw.eal.into_inner().args;
    let c = Ctx {
        text,
        eal_args: eal_args.clone(),
    };
    if eal_args.is_empty() {
        return c.err(
            "eal.args",
            eal_span,
            "empty: give at least the lcores and --no-pci or devices",
        );
    }
    let devices = crate::eal_devices(&eal_args);

    let dp_span = raw.dataplane.as_ref().map(|d| d.span());
    let dataplane = dataplane(&c, raw.dataplane)?;

    match crate::eal_lcores(&eal_args) {
        Err(e) => return c.err("eal.args", eal_span, e),
        Ok(Some(cores)) if cores.is_empty() => {
            return c.err("eal.args", eal_span, "the core list enables no lcore")
        }
        Ok(Some(cores)) if cores.len() - 1 < dataplane.workers => {
            let span = dp_span.clone().unwrap_or(eal_span);
            return c.err(
                "dataplane.workers",
                span,
                format!(
                    "{} workers, but [eal].args enable {} worker lcore(s) besides the main one ({:?}): list more cores with -l",
                    dataplane.workers,
                    cores.len() - 1,
                    cores
                ),
            );
        }
        Ok(_) => {}
    }

    let underlay = underlay(&c, raw.underlay, &devices)?;
    let neighbors = neighbors(&c, raw.neighbor, &underlay)?;
    let (vnis, vni_lines) = vnis(&c, raw.vni, &underlay, &dataplane)?;
    let access = access(&c, raw.access, &devices, &underlay, &vnis, &vni_lines)?;
    let fdb = fdb(&c, raw.fdb, &underlay, &vni_lines, &access)?;
    let control = control(&c, raw.control)?;

    let evpn = match raw.evpn {
        None => None,
        Some(e) => Some(evpn(
            &c,
            e.span(),
            &underlay,
            &vnis,
            &vni_lines,
            e.into_inner(),
        )?),
    };

    Ok(Config {
        eal_args,
        dataplane,
        underlay,
        neighbors,
        access,
        vnis,
        fdb,
        control,
        evpn,
    })
}

/// `[underlay]`.
fn underlay(
    c: &Ctx,
    raw: Spanned<RawUnderlay>,
    devices: &BTreeSet<String>,
) -> Result<Underlay, ConfigError> {
    let us = raw.span();
    let u = raw.into_inner();
    let (addr, plen) = match u.address.split_once('/') {
        Some((a, p)) => {
            let a = c.ip("underlay.address", us.clone(), a)?;
            let most = if a.is_ipv6() { 128 } else { 32 };
            let p: i64 = p.parse().or_else(|_| {
                c.err(
                    "underlay.address",
                    us.clone(),
                    format!("{:?}: prefix length is not a number", u.address),
                )
            })?;
            (
                a,
                c.range("underlay.address prefix length", us.clone(), p, 1, most)? as u8,
            )
        }
        None => {
            return c.err(
                "underlay.address",
                us,
                format!(
                    "{:?} needs a prefix length, e.g. 192.0.2.1/24 or 2001:db8:1::1/64",
                    u.address
                ),
            )
        }
    };
    let mut underlay = Underlay {
        port: u.port.clone(),
        mac: match &u.mac {
            Some(m) => Some(c.mac("underlay.mac", us.clone(), m)?),
            None => None,
        },
        address: addr,
        prefix_len: plen,
        gateway: None,
        udp_port: c.range("underlay.udp_port", us.clone(), u.udp_port, 1, 65535)? as u16,
        geneve_port: c.range("underlay.geneve_port", us.clone(), u.geneve_port, 1, 65535)? as u16,
        nvgre_flow_id: u.nvgre_flow_id,
        neighbor_confirm_secs: c.range(
            "underlay.neighbor_confirm_secs",
            us.clone(),
            u.neighbor_confirm_secs,
            1,
            3600,
        )? as u16,
        mtu: c.range("underlay.mtu", us.clone(), u.mtu, 576, 9216)? as u16,
        ttl: c.range("underlay.ttl", us.clone(), u.ttl, 1, 255)? as u8,
        mcast_ttl: c.range("underlay.mcast_ttl", us.clone(), u.mcast_ttl, 1, 255)? as u8,
        igmp_version: match u.igmp_version {
            None => 3,
            Some(n @ (2 | 3)) => n as u8,
            Some(n) => {
                return c.err(
                    "underlay.igmp_version",
                    us,
                    format!("{n}: IGMP version 2 or 3"),
                )
            }
        },
        df: u.df,
        accept_unknown_sources: u.accept_unknown_sources,
        strict_reserved: u.strict_reserved,
        udp6_zero_checksum_tx: u.udp6_zero_checksum_tx.unwrap_or(false),
        udp6_zero_checksum_rx: u.udp6_zero_checksum_rx.unwrap_or(true),
        kernel_port: None,
    };
    let v6 = addr.is_ipv6();
    if addr.is_unspecified()
        || addr.is_multicast()
        || addr.is_loopback()
        || matches!(addr, IpAddr::V4(a) if a.is_broadcast())
    {
        return c.err(
            "underlay.address",
            us,
            format!("{addr} cannot be a VTEP address"),
        );
    }
    if is_link_local(addr) {
        return c.err(
            "underlay.address",
            us,
            format!("{addr} is link-local: a VTEP address must be routable"),
        );
    }
    if v6 && u.igmp_version.is_some() {
        return c.err(
            "underlay.igmp_version",
            us,
            "applies to an IPv4 underlay only (over IPv6 group membership is MLDv2)",
        );
    }
    if !v6 {
        for (key, set) in [
            ("underlay.udp6_zero_checksum_tx", u.udp6_zero_checksum_tx),
            ("underlay.udp6_zero_checksum_rx", u.udp6_zero_checksum_rx),
        ] {
            if set.is_some() {
                return c.err(
                    key,
                    us,
                    "applies to an IPv6 underlay only (VXLAN over IPv4 sends a zero UDP checksum and accepts any)",
                );
            }
        }
    }
    if v6 && u.df {
        return c.err(
            "underlay.df",
            us,
            "IPv4 only: IPv6 routers never fragment, so an IPv6 underlay has no DF bit",
        );
    }
    if !v6
        && plen < 31
        && (addr == subnet_network(&underlay) || addr == subnet_broadcast(&underlay))
    {
        return c.err(
            "underlay.address",
            us,
            format!(
                "{addr} is the network or broadcast address of {addr}/{plen}, not a host address"
            ),
        );
    }
    if let Some(m) = underlay.mac {
        if m.is_multicast() || m.is_zero() {
            return c.err("underlay.mac", us, format!("{m} is not a unicast MAC"));
        }
    }
    if let Some(g) = &u.gateway {
        let g = c.peer_ip("underlay.gateway", us.clone(), g, &underlay)?;
        check_peer(c, &underlay, "underlay.gateway", us.clone(), g)?;
        if !underlay.on_link(g) || g == addr {
            return c.err(
                "underlay.gateway",
                us,
                format!("{g} is unreachable: not on the on-link prefix {addr}/{plen} or equal to the VTEP address"),
            );
        }
        underlay.gateway = Some(g);
    }
    check_device(c, devices, "underlay.port", us.clone(), &underlay.port)?;
    if let Some(k) = &u.kernel_port {
        underlay.kernel_port = Some(kernel_port(c, devices, us.clone(), &underlay, k)?);
    }
    Ok(underlay)
}

/// `[[neighbor]]`: static underlay neighbours.
fn neighbors(
    c: &Ctx,
    raw: Vec<Spanned<RawNeighbor>>,
    underlay: &Underlay,
) -> Result<Vec<Neighbor>, ConfigError> {
    let mut neighbors = Vec::new();
    let mut seen_nb = HashSet::new();
    for n in raw {
        let s = n.span();
        let n = n.into_inner();
        let ip = c.peer_ip("neighbor.ip", s.clone(), &n.ip, underlay)?;
        let mac = c.mac("neighbor.mac", s.clone(), &n.mac)?;
        if mac.is_multicast() || mac.is_zero() {
            return c.err("neighbor.mac", s, format!("{mac} is not a unicast MAC"));
        }
        check_peer(c, underlay, "neighbor.ip", s.clone(), ip)?;
        if !underlay.on_link(ip) {
            return c.err(
                "neighbor.ip",
                s,
                format!(
                    "{ip} is not on the on-link prefix {}/{}",
                    underlay.address, underlay.prefix_len
                ),
            );
        }
        if !seen_nb.insert(ip) {
            return c.err("neighbor.ip", s, format!("{ip} is listed twice"));
        }
        neighbors.push(Neighbor { ip, mac });
    }
    Ok(neighbors)
}

/// The span of each VNI's `[[vni]]` section.
type VniSpans = BTreeMap<Vni, std::ops::Range<usize>>;

/// `[[vni]]`, with the span of each VNI's section.
fn vnis(
    c: &Ctx,
    raw: Vec<Spanned<RawVni>>,
    underlay: &Underlay,
    dataplane: &Dataplane,
) -> Result<(Vec<VniConfig>, VniSpans), ConfigError> {
    let mut vnis: Vec<VniConfig> = Vec::new();
    let mut vni_lines = BTreeMap::new();
    // The tunnels so far, and the encapsulation (and first VNI) of each port.
    let mut tunnels = BTreeSet::new();
    let mut port_encap: BTreeMap<u16, (Encap, Vni)> = BTreeMap::new();
    for v in raw {
        let s = v.span();
        let v = v.into_inner();
        let id = c.vni("vni.id", s.clone(), v.id)?;
        if vni_lines.insert(id, s.clone()).is_some() {
            return c.err("vni.id", s, format!("VNI {id} is defined twice"));
        }
        let tunnel = tunnel(c, s.clone(), &v, underlay)?;
        if let Some(&(encap, o)) = tunnel.udp_port.and_then(|p| port_encap.get(&p)) {
            if encap != tunnel.encap {
                return c.err(
                    "vni.udp_port",
                    s,
                    format!(
                        "VNI {id} is {tunnel} but VNI {o} is {encap} on that port: a UDP port carries one encapsulation"
                    ),
                );
            }
        }
        if tunnels.insert(tunnel) && tunnels.len() > crate::MAX_TUNNELS {
            return c.err(
                "vni.encap",
                s,
                format!(
                    "VNI {id} would make a fifth tunnel ({tunnel}): at most {} encapsulation and UDP port pairs",
                    crate::MAX_TUNNELS
                ),
            );
        }
        if let Some(p) = tunnel.udp_port {
            port_encap.entry(p).or_insert((tunnel.encap, id));
        }
        let mut flood = Vec::new();
        for f in &v.flood {
            let ip = c.peer_ip("vni.flood", s.clone(), f, underlay)?;
            check_peer(c, underlay, "vni.flood", s.clone(), ip)?;
            check_routable(c, "vni.flood", s.clone(), ip)?;
            if !flood.contains(&ip) {
                flood.push(ip);
            }
            if !underlay.on_link(ip) && underlay.gateway.is_none() {
                return c.err(
                    "vni.flood",
                    s,
                    format!("{ip} is off-link and no underlay.gateway is set"),
                );
            }
        }
        let group = match &v.group {
            None => None,
            Some(g) => {
                let ip = c.peer_ip("vni.group", s.clone(), g, underlay)?;
                check_group(c, "vni.group", s.clone(), ip)?;
                if let Some(o) = vnis
                    .iter()
                    .find(|o| o.group == Some(ip) && o.tunnel != tunnel)
                {
                    return c.err(
                        "vni.group",
                        s,
                        format!(
                            "VNI {id} is {tunnel} but VNI {} in group {ip} is {}: a group carries one tunnel",
                            o.id, o.tunnel
                        ),
                    );
                }
                Some(ip)
            }
        };
        vnis.push(VniConfig {
            id,
            tunnel,
            flood,
            group,
            learning: v.learning,
            arp_suppress: v.arp_suppress,
            mac_limit: match v.mac_limit {
                // The default never exceeds the table.
                None => d_mac_limit().min(dataplane.fdb_capacity as i64) as u32,
                Some(n) if n > dataplane.fdb_capacity as i64 && n <= 1 << 24 => {
                    return c.err(
                        "vni.mac_limit",
                        s,
                        format!(
                            "{n} is larger than dataplane.fdb_capacity ({}): the VNI could never reach it",
                            dataplane.fdb_capacity
                        ),
                    )
                }
                Some(n) => c.range("vni.mac_limit", s.clone(), n, 0, 1 << 24)? as u32,
            },
            aging_secs: c.range("vni.aging_secs", s.clone(), v.aging_secs, 1, 86400 * 7)? as u32,
            rate: match (v.rate_mbps, v.burst_kb) {
                (None, None) => None,
                (None, Some(_)) => {
                    return c.err("vni.burst_kb", s, "burst_kb needs rate_mbps (the rate it is a burst of)")
                }
                (Some(r), b) => {
                    let mbps = c.range("vni.rate_mbps", s.clone(), r, 1, 400_000)? as u32;
                    let burst_bytes = match b {
                        None => RateLimit::default_burst(mbps),
                        Some(kb) => {
                            let kb = c.range("vni.burst_kb", s.clone(), kb, 1, 1 << 20)?;
                            if kb * 1024 < RateLimit::MIN_BURST as i64 {
                                return c.err(
                                    "vni.burst_kb",
                                    s,
                                    format!(
                                        "{kb} KiB holds less than one frame of the largest size ({} bytes): nothing that size could pass",
                                        RateLimit::MIN_BURST
                                    ),
                                );
                            }
                            kb as u32 * 1024
                        }
                    };
                    Some(RateLimit { mbps, burst_bytes })
                }
            },
            flood_pps: match v.flood_pps {
                None => None,
                Some(n) => Some(c.range("vni.flood_pps", s, n, 1, 100_000_000)? as u32),
            },
        });
    }
    Ok((vnis, vni_lines))
}

/// `[[vni]] encap` and `udp_port`.
fn tunnel(
    c: &Ctx,
    s: std::ops::Range<usize>,
    v: &RawVni,
    u: &Underlay,
) -> Result<crate::Tunnel, ConfigError> {
    let Some(encap) = Encap::ALL.into_iter().find(|e| e.name() == v.encap) else {
        return c.err(
            "vni.encap",
            s,
            format!(
                "{:?}: the encapsulations are \"vxlan\", \"geneve\" and \"nvgre\"",
                v.encap
            ),
        );
    };
    let udp_port = match (encap, v.udp_port) {
        (Encap::Nvgre, Some(_)) => {
            return c.err(
                "vni.udp_port",
                s,
                "NVGRE is IP protocol 47, not UDP: remove udp_port",
            )
        }
        (Encap::Nvgre, None) => None,
        (_, Some(p)) => Some(c.range("vni.udp_port", s, p, 1, 65535)? as u16),
        (Encap::Vxlan, None) => Some(u.udp_port),
        (Encap::Geneve, None) => Some(u.geneve_port),
    };
    Ok(crate::Tunnel { encap, udp_port })
}

/// `[[access]]`: every VNI must be carried by one of them.
fn access(
    c: &Ctx,
    raw: Vec<Spanned<RawAccess>>,
    devices: &BTreeSet<String>,
    underlay: &Underlay,
    vnis: &[VniConfig],
    vni_lines: &VniSpans,
) -> Result<Vec<Access>, ConfigError> {
    let mut access = Vec::new();
    let mut used_vnis = BTreeSet::new();
    let mut ports = BTreeSet::from([underlay.port.clone()]);
    if let Some(k) = &underlay.kernel_port {
        ports.insert(k.device.clone());
    }
    for a in raw {
        let s = a.span();
        let a = a.into_inner();
        check_device(c, devices, "access.port", s.clone(), &a.port)?;
        if !ports.insert(a.port.clone()) {
            return c.err(
                "access.port",
                s,
                format!(
                    "{:?} is already used by the underlay or another access port",
                    a.port
                ),
            );
        }
        let vni = match a.vni {
            Some(v) => Some(c.vni("access.vni", s.clone(), v)?),
            None => None,
        };
        let mut vlans = BTreeMap::new();
        for (k, v) in &a.vlans {
            let vid: i64 = k
                .parse()
                .or_else(|_| c.err("access.vlans", s.clone(), format!("{k:?} is not a VLAN id")))?;
            let vid = c.range("access.vlans VLAN id", s.clone(), vid, 1, 4094)? as u16;
            let vn = c.vni("access.vlans", s.clone(), *v)?;
            if Some(vn) == vni || vlans.values().any(|x| *x == vn) {
                return c.err(
                    "access.vlans",
                    s,
                    format!(
                        "VNI {vn} is mapped twice on port {:?}; each VNI has one VLAN per port",
                        a.port
                    ),
                );
            }
            vlans.insert(vid, vn);
        }
        if vni.is_none() && vlans.is_empty() {
            return c.err(
                "access",
                s,
                format!("port {:?} maps no VNI: set vni or vlans", a.port),
            );
        }
        for v in vni.iter().chain(vlans.values()) {
            if !vni_lines.contains_key(v) {
                return c.err(
                    "access",
                    s,
                    format!("VNI {v} of port {:?} has no [[vni]] section", a.port),
                );
            }
            used_vnis.insert(*v);
        }
        // A tenant frame of the access MTU plus its VNI's encapsulation
        // must fit the underlay MTU: the largest overhead of the port's.
        let (overhead, encap) = vni
            .iter()
            .chain(vlans.values())
            .filter_map(|v| vnis.iter().find(|x| x.id == *v))
            .map(|x| (underlay.encap_overhead(x.tunnel.encap), x.tunnel.encap))
            .max()
            .unwrap_or((underlay.encap_overhead(Encap::Vxlan), Encap::Vxlan));
        let most = underlay.mtu as i64 - overhead as i64;
        let mtu = match a.mtu {
            None => most as u16,
            Some(m) if m > most && m <= 9216 => {
                return c.err(
                    "access.mtu",
                    s,
                    format!(
                        "{m} does not fit the underlay: underlay.mtu {} less {overhead} bytes of \
                         {encap} encapsulation leaves {most}; raise underlay.mtu or lower this",
                        underlay.mtu
                    ),
                )
            }
            Some(m) => c.range("access.mtu", s.clone(), m, 68, most)? as u16,
        };
        access.push(Access {
            port: a.port,
            vni,
            vlans,
            mtu,
        });
    }
    for (v, s) in vni_lines {
        if !used_vnis.contains(v) {
            return c.err(
                "vni.id",
                s.clone(),
                format!("VNI {v} is used by no access port"),
            );
        }
    }
    if access.is_empty() {
        return Err(ConfigError::Invalid {
            key: "access".into(),
            line: None,
            msg: "no [[access]] port: a VTEP needs at least one".into(),
        });
    }
    Ok(access)
}

/// `[[fdb]]`: static entries.
fn fdb(
    c: &Ctx,
    raw: Vec<Spanned<RawFdb>>,
    underlay: &Underlay,
    vni_lines: &VniSpans,
    access: &[Access],
) -> Result<Vec<StaticFdb>, ConfigError> {
    let mut fdb = Vec::new();
    let mut seen = HashSet::new();
    let mut bound = HashSet::new();
    for f in raw {
        let s = f.span();
        let f = f.into_inner();
        let vni = c.vni("fdb.vni", s.clone(), f.vni)?;
        if !vni_lines.contains_key(&vni) {
            return c.err("fdb.vni", s, format!("VNI {vni} has no [[vni]] section"));
        }
        let mac = c.mac("fdb.mac", s.clone(), &f.mac)?;
        if mac.is_multicast() || mac.is_zero() {
            return c.err("fdb.mac", s, format!("{mac} is not a unicast MAC"));
        }
        let at = match (&f.remote, &f.port) {
            (Some(r), None) => {
                let remote = c.peer_ip("fdb.remote", s.clone(), r, underlay)?;
                check_peer(c, underlay, "fdb.remote", s.clone(), remote)?;
                check_routable(c, "fdb.remote", s.clone(), remote)?;
                if !underlay.on_link(remote) && underlay.gateway.is_none() {
                    return c.err(
                        "fdb.remote",
                        s,
                        format!("{remote} is off-link and no underlay.gateway is set"),
                    );
                }
                FdbAt::Remote(remote)
            }
            (None, Some(p)) => {
                let Some(a) = access.iter().find(|a| &a.port == p) else {
                    return c.err(
                        "fdb.port",
                        s,
                        format!("{p:?} is not an [[access]] port"),
                    );
                };
                if a.vni != Some(vni) && !a.vlans.values().any(|v| *v == vni) {
                    return c.err(
                        "fdb.port",
                        s,
                        format!("access port {p:?} does not carry VNI {vni}"),
                    );
                }
                FdbAt::Port(p.clone())
            }
            _ => {
                return c.err(
                    "fdb",
                    s,
                    format!(
                        "{mac} in VNI {vni}: set either remote (a VTEP address) or port (an access port)"
                    ),
                )
            }
        };
        if !seen.insert((vni, mac)) {
            return c.err("fdb.mac", s, format!("{mac} in VNI {vni} has two entries"));
        }
        if !f.ips.is_empty() && matches!(at, FdbAt::Remote(_)) {
            return c.err(
                "fdb.ips",
                s,
                format!("{mac} in VNI {vni}: ips bind addresses to a MAC on an access port (port), not behind a remote VTEP"),
            );
        }
        let mut ips = Vec::new();
        for text in &f.ips {
            let ip: IpAddr = match text.parse() {
                Ok(ip) => ip,
                Err(_) => {
                    return c.err(
                        "fdb.ips",
                        s,
                        format!("{text:?} is not an IPv4 or IPv6 address"),
                    )
                }
            };
            if ip.is_unspecified() || ip.is_multicast() {
                return c.err("fdb.ips", s, format!("{ip} is not a host's address"));
            }
            if !bound.insert((vni, ip)) {
                return c.err(
                    "fdb.ips",
                    s,
                    format!("{ip} in VNI {vni} is bound to a MAC twice"),
                );
            }
            ips.push(ip);
        }
        fdb.push(StaticFdb { vni, mac, at, ips });
    }
    Ok(fdb)
}

/// `[dataplane]`; an absent section is an empty one (every key has its
/// default).
fn dataplane(c: &Ctx, raw: Option<Spanned<RawDataplane>>) -> Result<Dataplane, ConfigError> {
    let (s, d) = section(raw);
    Ok(Dataplane {
        workers: c.range("dataplane.workers", s.clone(), d.workers, 1, 64)? as usize,
        fdb_capacity: c.range(
            "dataplane.fdb_capacity",
            s.clone(),
            d.fdb_capacity,
            1024,
            1 << 24,
        )? as usize,
        learn_queue: c.range(
            "dataplane.learn_queue",
            s.clone(),
            d.learn_queue,
            16,
            1 << 22,
        )? as usize,
        idle_sleep_us: c.range(
            "dataplane.idle_sleep_us",
            s.clone(),
            d.idle_sleep_us,
            0,
            10_000,
        )? as u32,
        burst: c.range("dataplane.burst", s.clone(), d.burst, 1, MAX_BURST)? as usize,
        mbufs: c.range("dataplane.mbufs", s, d.mbufs, 1023, 1 << 26)? as u32,
    })
}

/// A section as written, with its span; an absent one as if written
/// empty, so that its defaults are those of its keys (0..0: no line).
fn section<T: serde::de::DeserializeOwned>(raw: Option<Spanned<T>>) -> (std::ops::Range<usize>, T) {
    match raw {
        Some(r) => (r.span(), r.into_inner()),
        None => (
            0..0,
            toml::from_str("").expect("every key of the section has a default"),
        ),
    }
}

/// `[control]`; an absent section is an empty one.
fn control(c: &Ctx, raw: Option<Spanned<RawControl>>) -> Result<Control, ConfigError> {
    let (s, ctl) = section(raw);
    let metrics = match ctl.metrics {
        Some(m) => Some(m.parse::<SocketAddr>().or_else(|_| {
            c.err(
                "control.metrics",
                s.clone(),
                format!("{m:?} is not ADDR:PORT"),
            )
        })?),
        None => None,
    };
    if ctl.socket.trim().is_empty() {
        return c.err(
            "control.socket",
            s,
            "empty path: name the control socket, e.g. /run/vtep/vtep.sock",
        );
    }
    if let Some(g) = &ctl.group {
        if !matches!(nix::unistd::Group::from_name(g), Ok(Some(_))) {
            return c.err(
                "control.group",
                s,
                format!("group {g:?} does not exist on this host"),
            );
        }
    }
    if ctl
        .state_file
        .as_deref()
        .is_some_and(|p| p.trim().is_empty())
    {
        return c.err("control.state_file", s, "empty path");
    }
    Ok(Control {
        socket: PathBuf::from(ctl.socket),
        metrics,
        group: ctl.group,
        state_file: ctl.state_file.map(PathBuf::from),
    })
}

/// `[evpn]`: the namespace of the exception interface and the kernel
/// mirror, where FRR runs.
fn evpn(
    c: &Ctx<'_>,
    span: std::ops::Range<usize>,
    u: &Underlay,
    vnis: &[VniConfig],
    vni_lines: &VniSpans,
    e: RawEvpn,
) -> Result<crate::Evpn, ConfigError> {
    let key = "evpn.netns";
    let n = e.netns.as_str();
    if n.is_empty() || n.len() > 64 || n.contains('/') || n == "." || n == ".." {
        return c.err(
            key,
            span,
            format!("{n:?} is not a network namespace name (as in `ip netns add NAME`)"),
        );
    }
    if u.kernel_port.is_none() {
        return c.err(
            key,
            span,
            "EVPN needs [underlay] kernel_port: bgpd reaches its peers through the exception path",
        );
    }
    if u.is_ipv6() {
        return c.err(
            key,
            span,
            "EVPN over an IPv6 underlay is not supported yet (FRR before 10.6 has no IPv6 VTEPs)",
        );
    }
    // FRR's kernel mirror is VXLAN devices on one port.
    let vxlan = crate::Tunnel {
        encap: Encap::Vxlan,
        udp_port: Some(u.udp_port),
    };
    if let Some(v) = vnis.iter().find(|v| v.tunnel != vxlan) {
        let key = if v.tunnel.encap == Encap::Vxlan {
            "vni.udp_port"
        } else {
            "vni.encap"
        };
        return c.err(
            key,
            vni_lines[&v.id].clone(),
            format!(
                "VNI {} is {}: with [evpn] every VNI is VXLAN on underlay.udp_port ({}), \
                 since FRR's EVPN works through kernel VXLAN devices",
                v.id, v.tunnel, u.udp_port
            ),
        );
    }
    let sweep = c.range(
        "evpn.restart_sweep_secs",
        span,
        e.restart_sweep_secs,
        0,
        3600,
    )?;
    Ok(crate::Evpn {
        netns: n.to_string(),
        restart_sweep_secs: sweep as u16,
    })
}

/// A remote VTEP or neighbour address must be a unicast host other than
/// this VTEP, and not the on-link network or broadcast address.
/// A VNI's multicast group: a multicast address VTEPs can join, not one
/// of the link's own control groups (224.0.0.0/24, which IGMP does not
/// manage; IPv6 interface-local scope and ff02::/80), nor a
/// source-specific one.
fn check_group(
    c: &Ctx<'_>,
    key: &str,
    span: std::ops::Range<usize>,
    ip: IpAddr,
) -> Result<(), ConfigError> {
    let bad = match ip {
        _ if !ip.is_multicast() => Some("is not a multicast address (224.0.0.0/4 or ff00::/8)"),
        IpAddr::V4(a) if a.octets()[..3] == [224, 0, 0] => {
            Some("is in 224.0.0.0/24, the link's control groups, which IGMP does not manage")
        }
        IpAddr::V4(a) if a.octets()[0] == 232 => {
            Some("is a source-specific group (232.0.0.0/8): VTEPs send to it from many sources")
        }
        IpAddr::V6(a) if a.segments()[0] & 0x000f < 2 => {
            Some("has interface-local or reserved scope: a group must reach other hosts")
        }
        IpAddr::V6(a) if a.segments()[0] & 0x000f == 2 && a.segments()[1..5] == [0; 4] => Some(
            "is a link's well-known group (ff02::/80: all-nodes, routers, MLD, solicited-node)",
        ),
        IpAddr::V6(a) if a.segments()[0] & 0xfff0 == 0xff30 && a.segments()[1..6] == [0; 5] => {
            Some("is a source-specific group (ff3x::/96): VTEPs send to it from many sources")
        }
        _ => None,
    };
    match bad {
        Some(why) => c.err(key, span, format!("{ip} {why}")),
        None => Ok(()),
    }
}

fn check_peer(
    c: &Ctx<'_>,
    u: &Underlay,
    key: &str,
    span: std::ops::Range<usize>,
    ip: IpAddr,
) -> Result<(), ConfigError> {
    let v4_subnet = |a: IpAddr| ip.is_ipv4() && u.on_link(ip) && u.prefix_len < 31 && ip == a;
    let bad = if ip.is_unspecified() {
        Some("is the unspecified address")
    } else if ip.is_multicast() {
        Some("is a multicast address")
    } else if matches!(ip, IpAddr::V4(a) if a.is_broadcast()) {
        Some("is the broadcast address")
    } else if ip.is_loopback() {
        Some("is a loopback address")
    } else if ip == u.address {
        Some("is this VTEP's own address")
    } else if v4_subnet(subnet_broadcast(u)) {
        Some("is the broadcast address of the on-link prefix")
    } else if v4_subnet(subnet_network(u)) {
        Some("is the network address of the on-link prefix")
    } else {
        None
    };
    match bad {
        Some(why) => c.err(key, span, format!("{ip} {why}: not a remote VTEP")),
        None => Ok(()),
    }
}

/// `[underlay] kernel_port`: a net_tap device of the EAL arguments, not
/// the underlay, with a kernel interface name.
fn kernel_port(
    c: &Ctx<'_>,
    devices: &BTreeSet<String>,
    span: std::ops::Range<usize>,
    u: &Underlay,
    dev: &str,
) -> Result<crate::KernelPort, ConfigError> {
    let key = "underlay.kernel_port";
    check_device(c, devices, key, span.clone(), dev)?;
    if !dev.starts_with("net_tap") {
        return c.err(
            key,
            span,
            format!("{dev:?} is not a net_tap device: the kernel's side of the exception path is a tap interface"),
        );
    }
    if dev == u.port {
        return c.err(key, span, format!("{dev:?} is the underlay port itself"));
    }
    let iface = crate::vdev_arg(&c.eal_args, dev, "iface");
    match iface {
        Some(i) if !i.is_empty() && i.len() < 16 => Ok(crate::KernelPort {
            device: dev.to_string(),
            iface: i,
        }),
        _ => c.err(
            key,
            span,
            format!("name the kernel interface of {dev:?} in its --vdev, e.g. --vdev={dev},iface=vtep0 (at most 15 characters)"),
        ),
    }
}

/// An IPv6 remote VTEP must be reachable through routers: not link-local.
fn check_routable(
    c: &Ctx<'_>,
    key: &str,
    span: std::ops::Range<usize>,
    ip: IpAddr,
) -> Result<(), ConfigError> {
    if ip.is_ipv6() && is_link_local(ip) {
        return c.err(
            key,
            span,
            format!("{ip} is link-local: a remote VTEP needs a routable address"),
        );
    }
    Ok(())
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.is_link_local(),
        IpAddr::V6(a) => a.is_unicast_link_local(),
    }
}

/// IPv4 only (IPv6 has neither address): the on-link network address.
fn subnet_network(u: &Underlay) -> IpAddr {
    match u.address {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(
            u32::from(a) & crate::prefix_mask(u.prefix_len, 32) as u32,
        )),
        v6 => v6,
    }
}

/// IPv4 only: the on-link broadcast address.
fn subnet_broadcast(u: &Underlay) -> IpAddr {
    match u.address {
        IpAddr::V4(a) => IpAddr::V4(Ipv4Addr::from(
            u32::from(a) | !(crate::prefix_mask(u.prefix_len, 32) as u32),
        )),
        v6 => v6,
    }
}

/// True for a PCI address such as 0000:3b:00.0 or 3b:00.0.
fn looks_like_pci(name: &str) -> bool {
    let parts: Vec<&str> = name.split(':').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    let dev_fn = |s: &str| {
        s.split_once('.').is_some_and(|(d, f)| {
            hex(d, 2) && f.len() == 1 && f.chars().all(|c| ('0'..='7').contains(&c))
        })
    };
    match parts.as_slice() {
        [dom, bus, df] => hex(dom, 4) && hex(bus, 2) && dev_fn(df),
        [bus, df] => hex(bus, 2) && dev_fn(df),
        _ => false,
    }
}

fn check_device(
    c: &Ctx<'_>,
    devices: &BTreeSet<String>,
    key: &str,
    span: std::ops::Range<usize>,
    name: &str,
) -> Result<(), ConfigError> {
    // Virtual devices must be created by a --vdev; PCI devices may be probed
    // without an allow list, so only vdev-looking names are checked here.
    if name.starts_with("net_") && !devices.contains(name) {
        return c.err(
            key,
            span,
            format!("no DPDK device {name:?}: add --vdev={name},... to [eal].args"),
        );
    }
    if name.is_empty() {
        return c.err(key, span, "empty port name");
    }
    if looks_like_pci(name)
        && crate::eal_has_flag(&c.eal_args, "--no-pci")
        && !devices.contains(name)
    {
        return c.err(
            key,
            span,
            format!("{name:?} is a PCI device, but [eal].args have --no-pci: remove --no-pci and allow it with -a {name}"),
        );
    }
    Ok(())
}

fn format_toml_error(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message();
    match e.span() {
        Some(s) => {
            let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: {msg}")
        }
        None => msg.to_string(),
    }
}

//! Port setup from a device's capabilities: queues, MTU, RSS and offloads,
//! decided here as plain data (unit-tested for NICs and virtual devices),
//! applied by vtepd through [`dpdk::Port::configure`].

use dpdk::{offload, DevInfo, PortConfig};
use vtep_config::Config;

/// Headroom in front of every mbuf's data (`RTE_PKTMBUF_HEADROOM`): room
/// for the 50-byte outer header.
pub const HEADROOM: u16 = 128;

/// An Ethernet header with one 802.1Q tag (access frames may carry one).
const L2_TAGGED: u16 = 18;

/// What a port is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Underlay,
    Access,
}

/// What vtepd needs of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Want {
    pub role: Role,
    /// One receive and one transmit queue per worker.
    pub queues: u16,
    pub mtu: u16,
    /// The config key the MTU comes from, for errors.
    pub mtu_key: &'static str,
    /// The underlay runs IPv6: no IPv4 checksum offloads; the UDP
    /// checksum on transmit in the NIC where offered, else in software.
    pub ipv6: bool,
}

/// How a port is set up, and what the workers may rely on.
#[derive(Debug, Clone)]
pub struct Plan {
    pub cfg: PortConfig,
    /// The NIC fills the outer IPv4 header checksum on transmit.
    pub tx_ip_csum: bool,
    /// Who fills the outer UDP checksum over IPv6 on transmit.
    pub tx_udp6_csum: Udp6Csum,
    /// The NIC checks the outer UDP checksum over IPv6 on receive (its
    /// verdict in the packet's flags; software checks what it leaves).
    pub rx_udp6_csum: bool,
    /// Flood copies to remotes may share the payload (header + clone, a
    /// two-segment packet); otherwise each copy is a private buffer.
    pub share_floods: bool,
    /// What was asked and granted, one line each, for the log.
    pub notes: Vec<String>,
}

/// Who fills the outer UDP checksum over IPv6 on transmit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Udp6Csum {
    /// The worker, in the pass that writes the header.
    #[default]
    Software,
    /// The NIC, told of an IPv6 packet with UDP (`TX_UDP_CKSUM`): it sees
    /// the outer header alone, no tunnel.
    Nic,
    /// The NIC, told of a tunnel packet's outer UDP checksum
    /// (`TX_OUTER_UDP_CKSUM`): for a NIC that offers only that.
    NicOuter,
}

impl Udp6Csum {
    /// The NIC computes it: templates leave the pseudo-header's sum.
    pub fn offloaded(self) -> bool {
        self != Udp6Csum::Software
    }
}

/// RSS hash types asked for: one flow (addresses, protocol, ports) always
/// lands on one queue, hence one worker, hence stays in order.
pub const RSS_WANTED: u64 = offload::RSS_IP | offload::RSS_UDP | offload::RSS_TCP;

/// Data room of the mbufs: headroom plus the largest frame any port may
/// receive, in whole KiB (some NICs size receive buffers in 1 KiB steps),
/// and never below DPDK's default 2048. Frames then arrive in one segment:
/// at `mtu = 9000` that is 9344 bytes per mbuf (4.3 times the default),
/// paid in memory only; the packet path reads no more bytes than before.
pub fn mbuf_data_room(cfg: &Config) -> u16 {
    let underlay = cfg.underlay.mtu + L2_TAGGED;
    let access = cfg
        .access
        .iter()
        .map(|a| a.mtu + L2_TAGGED)
        .max()
        .unwrap_or(0);
    let frame = underlay.max(access).max(2048);
    HEADROOM + frame.div_ceil(1024) * 1024
}

/// The MTU each port of `cfg` gets, with the key it comes from.
pub fn port_mtu(cfg: &Config, port: &str) -> (u16, &'static str) {
    match cfg.access.iter().find(|a| a.port == port) {
        Some(a) => (a.mtu, "access.mtu"),
        None => (cfg.underlay.mtu, "underlay.mtu"),
    }
}

const RX_NAMES: &[(u64, &str)] = &[
    (offload::RX_IPV4_CKSUM, "ipv4_cksum"),
    (offload::RX_UDP_CKSUM, "udp_cksum"),
    (offload::RX_OUTER_UDP_CKSUM, "outer_udp_cksum"),
    (offload::RX_RSS_HASH, "rss_hash"),
    (offload::RX_SCATTER, "scatter"),
];
const TX_NAMES: &[(u64, &str)] = &[
    (offload::TX_IPV4_CKSUM, "ipv4_cksum"),
    (offload::TX_UDP_CKSUM, "udp_cksum"),
    (offload::TX_OUTER_UDP_CKSUM, "outer_udp_cksum"),
    (offload::TX_MULTI_SEGS, "multi_segs"),
    (offload::TX_MBUF_FAST_FREE, "mbuf_fast_free"),
];

/// The names of the bits of `mask` that vtep uses, space-separated.
fn names(mask: u64, table: &[(u64, &str)]) -> String {
    let v: Vec<&str> = table
        .iter()
        .filter(|(b, _)| mask & b != 0)
        .map(|(_, n)| *n)
        .collect();
    v.join(" ")
}

/// Decides the set-up of port `name` from what the device offers.
///
/// - Queues: one per worker; a device with fewer is an error.
/// - MTU: set through ethdev; a device that cannot take it is an error
///   naming its maximum. (DPDK 22.11's net_tap and net_af_packet stop at
///   1504 and 1500: their drivers drop longer frames on transmit.)
/// - RSS on IP/UDP/TCP with more than one queue, as far as the device
///   offers it, and the NIC's hash delivered with each packet (used as the
///   flow hash of the outer source port).
/// - Underlay: receive and transmit IPv4 checksum offload where offered
///   (the software path stays for devices without); over IPv6, transmit
///   UDP checksum offload where offered (the outer UDP header is the one
///   the NIC sees: no tunnel flags), else outer UDP checksum offload
///   (tunnel lengths given) where that alone is offered; on receive, the
///   UDP and outer UDP checksum offloads where offered (which flags say
///   what: `dpdk::udp_verdict`); multi-segment transmit for shared flood
///   copies where offered.
/// - `MBUF_FAST_FREE` (all mbufs direct, one pool, reference count 1):
///   access ports always qualify; the underlay only when flood copies are
///   not shared, since a shared copy is an indirect mbuf.
pub fn plan(name: &str, info: &DevInfo, want: &Want) -> Result<Plan, String> {
    let dev = format!("port {name} ({})", info.driver);
    if want.queues > info.max_rx_queues || want.queues > info.max_tx_queues {
        return Err(format!(
            "{dev} has {} receive and {} transmit queue(s); dataplane.workers = {} needs one of each per worker",
            info.max_rx_queues, info.max_tx_queues, want.queues
        ));
    }
    let mut cfg = PortConfig {
        rx_queues: want.queues,
        tx_queues: want.queues,
        ..PortConfig::default()
    };
    let mut notes = Vec::new();
    if want.mtu < info.min_mtu {
        return Err(format!(
            "{dev}: {} = {} is below the device's minimum MTU {}",
            want.mtu_key, want.mtu, info.min_mtu
        ));
    }
    if want.mtu > info.max_mtu {
        return Err(format!(
            "{dev}: {} = {} is above the device's maximum MTU {}",
            want.mtu_key, want.mtu, info.max_mtu
        ));
    }
    cfg.mtu = Some(want.mtu);
    if want.queues > 1 {
        let granted = RSS_WANTED & info.rss_hf;
        if granted != 0 {
            cfg.rss_hf = granted;
            if info.rx_offloads & offload::RX_RSS_HASH != 0 {
                cfg.rx_offloads |= offload::RX_RSS_HASH;
            }
            notes.push(format!(
                "RSS over {} queues: asked hash types {RSS_WANTED:#x}, device offers {granted:#x}",
                want.queues
            ));
        } else {
            notes.push(format!(
                "no RSS on this device: its driver spreads packets over the {} queues \
                 (net_tap: the kernel's flow hash; net_af_packet: its fanout hash)",
                want.queues
            ));
        }
    }
    let has_tx = |b: u64| info.tx_offloads & b != 0;
    let has_rx = |b: u64| info.rx_offloads & b != 0;
    let (mut tx_ip_csum, mut share_floods) = (false, true);
    let (mut tx_udp6_csum, mut rx_udp6_csum) = (Udp6Csum::Software, false);
    if want.role == Role::Underlay {
        if info.rx_offloads & offload::RX_IPV4_CKSUM != 0 && !want.ipv6 {
            cfg.rx_offloads |= offload::RX_IPV4_CKSUM;
        }
        if has_tx(offload::TX_IPV4_CKSUM) && !want.ipv6 {
            cfg.tx_offloads |= offload::TX_IPV4_CKSUM;
            tx_ip_csum = true;
        }
        if want.ipv6 {
            if has_tx(offload::TX_UDP_CKSUM) {
                cfg.tx_offloads |= offload::TX_UDP_CKSUM;
                tx_udp6_csum = Udp6Csum::Nic;
            } else if has_tx(offload::TX_OUTER_UDP_CKSUM) {
                cfg.tx_offloads |= offload::TX_OUTER_UDP_CKSUM;
                tx_udp6_csum = Udp6Csum::NicOuter;
            }
            for b in [offload::RX_UDP_CKSUM, offload::RX_OUTER_UDP_CKSUM] {
                if has_rx(b) {
                    cfg.rx_offloads |= b;
                    rx_udp6_csum = true;
                }
            }
        }
        share_floods = has_tx(offload::TX_MULTI_SEGS);
        if share_floods {
            cfg.tx_offloads |= offload::TX_MULTI_SEGS;
        }
        share_floods |= cfg!(feature = "bench-shared-floods");
    }
    if has_tx(offload::TX_MBUF_FAST_FREE) && !(want.role == Role::Underlay && share_floods) {
        cfg.tx_offloads |= offload::TX_MBUF_FAST_FREE;
    }
    notes.push(format!(
        "offloads: rx [{}] of [{}] offered, tx [{}] of [{}] offered; \
         {}, flood copies {}",
        names(cfg.rx_offloads, RX_NAMES),
        names(info.rx_offloads, RX_NAMES),
        names(cfg.tx_offloads, TX_NAMES),
        names(info.tx_offloads, TX_NAMES),
        match (want.ipv6, tx_ip_csum, tx_udp6_csum, rx_udp6_csum) {
            (true, _, Udp6Csum::Nic, true) =>
                "UDP checksum over IPv6 in the NIC on transmit and receive",
            (true, _, Udp6Csum::NicOuter, true) =>
                "UDP checksum over IPv6 in the NIC on transmit (as a tunnel's outer one) and receive",
            (true, _, Udp6Csum::Nic, false) =>
                "UDP checksum over IPv6 on transmit in the NIC, checked in software",
            (true, _, Udp6Csum::NicOuter, false) =>
                "UDP checksum over IPv6 on transmit in the NIC (as a tunnel's outer one), checked in software",
            (true, _, Udp6Csum::Software, true) =>
                "UDP checksum over IPv6 written in software, checked in the NIC",
            (true, _, Udp6Csum::Software, false) => "UDP checksum over IPv6 in software",
            (false, true, _, _) => "IPv4 checksum on transmit in the NIC",
            (false, false, _, _) => "IPv4 checksum on transmit in software",
        },
        if share_floods && cfg!(feature = "bench-shared-floods") {
            "share the payload (forced: a benchmark build)"
        } else if share_floods {
            "share the payload"
        } else {
            "are private copies"
        },
    ));
    Ok(Plan {
        cfg,
        tx_ip_csum,
        tx_udp6_csum,
        rx_udp6_csum,
        share_floods,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Capabilities as an Intel E810 (net_ice) reports them, rounded.
    fn nic() -> DevInfo {
        DevInfo {
            driver: "net_ice".into(),
            max_rx_queues: 256,
            max_tx_queues: 256,
            min_mtu: 68,
            max_mtu: 9702,
            rx_offloads: offload::RX_IPV4_CKSUM | offload::RX_RSS_HASH | offload::RX_SCATTER,
            tx_offloads: offload::TX_IPV4_CKSUM
                | offload::TX_UDP_CKSUM
                | offload::TX_MULTI_SEGS
                | offload::TX_MBUF_FAST_FREE,
            rss_hf: RSS_WANTED | (1 << 30),
        }
    }

    /// net_af_packet of DPDK 22.11: one queue pair, no checksum offloads,
    /// 1518-byte frames.
    fn vdev() -> DevInfo {
        DevInfo {
            driver: "net_af_packet".into(),
            max_rx_queues: 1,
            max_tx_queues: 1,
            min_mtu: 46,
            max_mtu: 1500,
            rx_offloads: 0,
            tx_offloads: offload::TX_MULTI_SEGS,
            rss_hf: 0,
        }
    }

    fn want(role: Role, queues: u16, mtu: u16) -> Want {
        Want {
            role,
            queues,
            mtu,
            mtu_key: if role == Role::Underlay {
                "underlay.mtu"
            } else {
                "access.mtu"
            },
            ipv6: false,
        }
    }

    #[test]
    fn an_ipv6_underlay_takes_no_ipv4_checksum_offload() {
        let w = Want {
            ipv6: true,
            ..want(Role::Underlay, 4, 9000)
        };
        let p = plan("0000:3b:00.0", &nic(), &w).unwrap();
        assert!(!p.tx_ip_csum && p.share_floods);
        assert_eq!(
            p.cfg.rx_offloads & offload::RX_IPV4_CKSUM,
            0,
            "no IPv4 header to check"
        );
        assert_eq!(p.cfg.tx_offloads & offload::TX_IPV4_CKSUM, 0);
        // The UDP checksum goes to the NIC that offers it, and only over
        // IPv6 (over IPv4 vtep sends zero, as RFC 7348 allows).
        assert_eq!(p.tx_udp6_csum, Udp6Csum::Nic);
        assert_ne!(p.cfg.tx_offloads & offload::TX_UDP_CKSUM, 0);
        assert_eq!(p.cfg.tx_offloads & offload::TX_OUTER_UDP_CKSUM, 0);
        assert!(
            p.notes.iter().any(|n| n
                .contains("UDP checksum over IPv6 on transmit in the NIC, checked in software")),
            "{:?}",
            p.notes
        );
        let v4 = plan("0000:3b:00.0", &nic(), &want(Role::Underlay, 4, 9000)).unwrap();
        assert_eq!(v4.tx_udp6_csum, Udp6Csum::Software);
        assert_eq!(v4.cfg.tx_offloads & offload::TX_UDP_CKSUM, 0);
        // A device without it: software, said so.
        let p = plan("net_af_packet0", &vdev(), &w_vdev()).unwrap();
        assert_eq!(p.tx_udp6_csum, Udp6Csum::Software);
        assert!(!p.rx_udp6_csum);
        assert_eq!(p.cfg.tx_offloads & offload::TX_UDP_CKSUM, 0);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("UDP checksum over IPv6 in software")),
            "{:?}",
            p.notes
        );
        // Never on an access port.
        let a = plan(
            "0000:3b:00.1",
            &nic(),
            &Want {
                ipv6: true,
                ..want(Role::Access, 1, 9000)
            },
        )
        .unwrap();
        assert_eq!(a.tx_udp6_csum, Udp6Csum::Software);
        assert_eq!(a.cfg.tx_offloads & offload::TX_UDP_CKSUM, 0);
    }

    /// A NIC that checks UDP checksums on receive, with or without
    /// tunnel awareness, and one that fills only a tunnel's outer UDP
    /// checksum on transmit: each offload taken over IPv6 alone.
    #[test]
    fn udp_checksum_offloads_over_ipv6_from_either_kind_of_nic() {
        let w6 = Want {
            ipv6: true,
            ..want(Role::Underlay, 4, 9000)
        };
        let both = DevInfo {
            rx_offloads: nic().rx_offloads | offload::RX_UDP_CKSUM | offload::RX_OUTER_UDP_CKSUM,
            tx_offloads: nic().tx_offloads | offload::TX_OUTER_UDP_CKSUM,
            ..nic()
        };
        let p = plan("0000:3b:00.0", &both, &w6).unwrap();
        // Plain UDP offload preferred: the NIC need not parse the tunnel.
        assert_eq!(p.tx_udp6_csum, Udp6Csum::Nic);
        assert_eq!(p.cfg.tx_offloads & offload::TX_OUTER_UDP_CKSUM, 0);
        assert!(p.rx_udp6_csum);
        let rx = offload::RX_UDP_CKSUM | offload::RX_OUTER_UDP_CKSUM;
        assert_eq!(p.cfg.rx_offloads & rx, rx);
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains("in the NIC on transmit and receive")),
            "{:?}",
            p.notes
        );
        let outer_only = DevInfo {
            rx_offloads: nic().rx_offloads | offload::RX_OUTER_UDP_CKSUM,
            tx_offloads: (nic().tx_offloads & !offload::TX_UDP_CKSUM) | offload::TX_OUTER_UDP_CKSUM,
            ..nic()
        };
        let p = plan("0000:3b:00.0", &outer_only, &w6).unwrap();
        assert_eq!(p.tx_udp6_csum, Udp6Csum::NicOuter);
        assert_eq!(p.cfg.tx_offloads & offload::TX_UDP_CKSUM, 0);
        assert_ne!(p.cfg.tx_offloads & offload::TX_OUTER_UDP_CKSUM, 0);
        assert_eq!(p.cfg.rx_offloads & rx, offload::RX_OUTER_UDP_CKSUM);
        assert!(p.rx_udp6_csum && p.tx_udp6_csum.offloaded());
        // Over IPv4 neither is asked: the outer UDP checksum is zero.
        let p = plan("0000:3b:00.0", &both, &want(Role::Underlay, 4, 9000)).unwrap();
        assert_eq!(p.tx_udp6_csum, Udp6Csum::Software);
        assert!(!p.rx_udp6_csum);
        assert_eq!(p.cfg.rx_offloads & rx, 0);
        assert_eq!(
            p.cfg.tx_offloads & (offload::TX_UDP_CKSUM | offload::TX_OUTER_UDP_CKSUM),
            0
        );
        // Nor on an access port.
        let a = plan(
            "0000:3b:00.1",
            &both,
            &Want {
                role: Role::Access,
                ..w6
            },
        )
        .unwrap();
        assert_eq!(a.cfg.rx_offloads & rx, 0);
        assert_eq!(a.tx_udp6_csum, Udp6Csum::Software);
    }

    fn w_vdev() -> Want {
        Want {
            ipv6: true,
            ..want(Role::Underlay, 1, 1500)
        }
    }

    #[test]
    fn a_nic_underlay_gets_rss_checksums_and_shared_floods() {
        let p = plan("0000:3b:00.0", &nic(), &want(Role::Underlay, 4, 9000)).unwrap();
        assert_eq!(p.cfg.mtu, Some(9000));
        assert_eq!((p.cfg.rx_queues, p.cfg.tx_queues), (4, 4));
        assert_eq!(p.cfg.rss_hf, RSS_WANTED, "only the types asked for");
        assert_ne!(p.cfg.rx_offloads & offload::RX_RSS_HASH, 0);
        assert_ne!(p.cfg.rx_offloads & offload::RX_IPV4_CKSUM, 0);
        assert!(p.tx_ip_csum && p.share_floods);
        assert_ne!(p.cfg.tx_offloads & offload::TX_MULTI_SEGS, 0);
        // Shared flood copies are indirect mbufs: no fast free here.
        assert_eq!(p.cfg.tx_offloads & offload::TX_MBUF_FAST_FREE, 0);
        assert!(
            p.notes.iter().any(|n| n.starts_with(
                "offloads: rx [ipv4_cksum rss_hash] of [ipv4_cksum rss_hash scatter] offered, \
                 tx [ipv4_cksum multi_segs] of"
            )),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn a_nic_access_port_frees_fast_and_leaves_checksums_alone() {
        let p = plan("0000:3b:00.1", &nic(), &want(Role::Access, 1, 8950)).unwrap();
        assert_ne!(p.cfg.tx_offloads & offload::TX_MBUF_FAST_FREE, 0);
        assert_eq!(p.cfg.tx_offloads & offload::TX_IPV4_CKSUM, 0);
        assert_eq!(p.cfg.rx_offloads, 0, "one queue: no RSS, no checksum");
        assert_eq!(p.cfg.rss_hf, 0);
    }

    #[test]
    fn a_vdev_takes_the_software_paths() {
        let p = plan("net_af_packet0", &vdev(), &want(Role::Underlay, 1, 1500)).unwrap();
        assert!(!p.tx_ip_csum);
        assert!(p.share_floods, "af_packet sends chains");
        assert_eq!(p.cfg.rx_offloads, 0);
        assert_eq!(p.cfg.tx_offloads, offload::TX_MULTI_SEGS);
        let mut no_segs = vdev();
        no_segs.tx_offloads = 0;
        let p = plan("net_ring0", &no_segs, &want(Role::Underlay, 1, 1500)).unwrap();
        assert!(
            !p.share_floods,
            "without multi-segment transmit, floods copy"
        );
    }

    #[test]
    fn too_few_queues_or_too_big_an_mtu_is_an_error_naming_the_port() {
        let e = plan("net_af_packet0", &vdev(), &want(Role::Underlay, 2, 1500)).unwrap_err();
        assert!(
            e.contains("net_af_packet0") && e.contains("dataplane.workers = 2"),
            "{e}"
        );
        let e = plan("net_af_packet1", &vdev(), &want(Role::Access, 1, 8950)).unwrap_err();
        assert!(
            e.contains("net_af_packet1") && e.contains("access.mtu = 8950") && e.contains("1500"),
            "{e}"
        );
        let e = plan("0000:3b:00.0", &nic(), &want(Role::Underlay, 1, 40)).unwrap_err();
        assert!(e.contains("minimum MTU 68"), "{e}");
    }

    #[test]
    fn queues_without_rss_are_left_to_the_driver() {
        let tap = DevInfo {
            driver: "net_tap".into(),
            max_rx_queues: 16,
            max_tx_queues: 16,
            max_mtu: 1504,
            ..vdev()
        };
        let p = plan("net_tap0", &tap, &want(Role::Underlay, 2, 1500)).unwrap();
        assert_eq!((p.cfg.rx_queues, p.cfg.rss_hf), (2, 0));
        assert!(
            p.notes.iter().any(|n| n.contains("no RSS")),
            "{:?}",
            p.notes
        );
        assert!(plan("net_tap0", &tap, &want(Role::Underlay, 2, 9000)).is_err());
    }

    #[test]
    fn mbufs_hold_the_largest_frame_in_one_segment() {
        let c = Config::parse(&crate::testing::config_text("")).unwrap();
        assert_eq!(mbuf_data_room(&c), 2176, "DPDK's default at MTU 1500");
        let text = crate::testing::config_text("").replace(
            "port = \"net_ring0\"\n",
            "port = \"net_ring0\"\nmtu = 9000\n",
        );
        let j = Config::parse(&text).unwrap();
        assert_eq!(port_mtu(&j, "net_ring1"), (8950, "access.mtu"));
        assert_eq!(port_mtu(&j, "net_ring0"), (9000, "underlay.mtu"));
        assert_eq!(mbuf_data_room(&j), 128 + 9216);
        assert!(mbuf_data_room(&j) as u32 >= 128 + 9000 + 14);
    }
}

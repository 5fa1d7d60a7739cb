//! Group membership as a host speaks it: IGMPv2 (RFC 2236), IGMPv3 (RFC
//! 3376) and MLDv2 (RFC 3810) reports and leaves for the VNIs' groups,
//! and the queries that ask for them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{
    csum_add, csum_fold, group_mac, ipv6, EthernetFrame, Ipv4Packet, Ipv6Packet, ETHERTYPE_IPV4,
    ETHERTYPE_IPV6, ETH_LEN, PROTO_ICMPV6,
};

pub const PROTO_IGMP: u8 = 2;
/// All systems on the link: where general IGMP queries go.
pub const ALL_SYSTEMS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 1);
/// All routers: where IGMPv2 leaves go.
const ALL_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 2);
/// All IGMPv3-capable routers: where IGMPv3 reports go.
const IGMPV3_ROUTERS: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 22);
/// All MLDv2-capable routers: where MLDv2 reports go.
const MLDV2_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x16);

const IGMP_QUERY: u8 = 0x11;
const IGMPV2_REPORT: u8 = 0x16;
const IGMPV2_LEAVE: u8 = 0x17;
const IGMPV3_REPORT: u8 = 0x22;
const MLD_QUERY: u8 = 130;
const MLDV2_REPORT: u8 = 143;

/// Group record types (RFC 3376 §4.2.12, RFC 3810 §5.2.12).
const MODE_IS_EXCLUDE: u8 = 2;
const CHANGE_TO_INCLUDE: u8 = 3;
const CHANGE_TO_EXCLUDE: u8 = 4;

/// The IPv4 Router Alert option (RFC 2113), which IGMP carries.
const ROUTER_ALERT4: [u8; 4] = [0x94, 0x04, 0, 0];

/// The protocol the reports speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Igmp2,
    Igmp3,
    Mld2,
}

/// What a report says of its groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Report {
    /// The groups joined now, in answer to a query or as a refresh.
    Current,
    /// Just joined (a state change).
    Join,
    /// Just left (a state change; IGMPv2: Leave Group).
    Leave,
}

/// A query: for one group, or general (`group` None); answers are due
/// within `max_resp_ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    pub group: Option<IpAddr>,
    pub max_resp_ms: u64,
}

/// The link-local address a host with `mac` uses for MLD (RFC 3810 §5:
/// reports come from a link-local source): modified EUI-64, RFC 4291.
pub fn link_local(mac: [u8; 6]) -> Ipv6Addr {
    Ipv6Addr::from([
        0xfe,
        0x80,
        0,
        0,
        0,
        0,
        0,
        0,
        mac[0] ^ 2,
        mac[1],
        mac[2],
        0xff,
        0xfe,
        mac[3],
        mac[4],
        mac[5],
    ])
}

/// The frames that report `r` for `groups` from a host with `mac` and
/// address `src` (IPv4; an IPv6 host reports from [`link_local`]): one
/// for IGMPv3 and MLDv2 (a record per group), one per group in IGMPv2.
/// Groups of the other family are left out.
pub fn frames(v: Version, r: Report, groups: &[IpAddr], mac: [u8; 6], src: IpAddr) -> Vec<Vec<u8>> {
    let v4: Vec<Ipv4Addr> = groups
        .iter()
        .filter_map(|g| match g {
            IpAddr::V4(a) => Some(*a),
            IpAddr::V6(_) => None,
        })
        .collect();
    let v6: Vec<Ipv6Addr> = groups
        .iter()
        .filter_map(|g| match g {
            IpAddr::V6(a) => Some(*a),
            IpAddr::V4(_) => None,
        })
        .collect();
    let src4 = match src {
        IpAddr::V4(a) => a,
        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
    };
    match v {
        Version::Igmp2 => v4
            .iter()
            .map(|g| {
                let (kind, dst) = match r {
                    Report::Leave => (IGMPV2_LEAVE, ALL_ROUTERS),
                    _ => (IGMPV2_REPORT, *g),
                };
                let mut m = [kind, 0, 0, 0, 0, 0, 0, 0];
                m[4..].copy_from_slice(&g.octets());
                igmp_frame(mac, src4, dst, &mut m)
            })
            .collect(),
        Version::Igmp3 if v4.is_empty() => Vec::new(),
        Version::Igmp3 => {
            let mut m = vec![IGMPV3_REPORT, 0, 0, 0, 0, 0];
            m.extend_from_slice(&(v4.len() as u16).to_be_bytes());
            for g in &v4 {
                m.extend_from_slice(&[record_type(r), 0, 0, 0]);
                m.extend_from_slice(&g.octets());
            }
            vec![igmp_frame(mac, src4, IGMPV3_ROUTERS, &mut m)]
        }
        Version::Mld2 if v6.is_empty() => Vec::new(),
        Version::Mld2 => {
            let mut m = vec![MLDV2_REPORT, 0, 0, 0, 0, 0];
            m.extend_from_slice(&(v6.len() as u16).to_be_bytes());
            for g in &v6 {
                m.extend_from_slice(&[record_type(r), 0, 0, 0]);
                m.extend_from_slice(&g.octets());
            }
            vec![mld_frame(mac, &m)]
        }
    }
}

fn record_type(r: Report) -> u8 {
    match r {
        Report::Current => MODE_IS_EXCLUDE,
        Report::Join => CHANGE_TO_EXCLUDE,
        Report::Leave => CHANGE_TO_INCLUDE,
    }
}

/// IGMP message `m` (checksum filled here) in IPv4 with Router Alert,
/// TTL 1 and the Internet Control precedence, as hosts send it.
fn igmp_frame(mac: [u8; 6], src: Ipv4Addr, dst: Ipv4Addr, m: &mut [u8]) -> Vec<u8> {
    let c = csum_fold(csum_add(0, m));
    m[2..4].copy_from_slice(&c.to_be_bytes());
    let ip_len = 24 + m.len();
    let mut f = vec![0u8; ETH_LEN + ip_len];
    let mut e = EthernetFrame::new_unchecked(&mut f[..]);
    e.set_dst(group_mac(IpAddr::V4(dst)).unwrap_or([0xff; 6]));
    e.set_src(mac);
    e.set_ethertype(ETHERTYPE_IPV4);
    let mut ip = Ipv4Packet::new_unchecked(&mut f[ETH_LEN..]);
    ip.init(1, PROTO_IGMP, src, dst, false);
    ip.set_total_len(ip_len as u16);
    let h = &mut f[ETH_LEN..];
    h[0] = 0x46;
    h[1] = 0xc0;
    h[20..24].copy_from_slice(&ROUTER_ALERT4);
    h[24..].copy_from_slice(m);
    let c = csum_fold(csum_add(0, &h[..24]));
    h[10..12].copy_from_slice(&c.to_be_bytes());
    f
}

/// MLD message `m` (checksum filled here) from [`link_local`] to all
/// MLDv2 routers, behind a Hop-by-Hop Router Alert (RFC 2711), hop
/// limit 1.
fn mld_frame(mac: [u8; 6], m: &[u8]) -> Vec<u8> {
    let src = link_local(mac);
    // Next header ICMPv6, length 0; Router Alert (MLD); PadN of 2.
    let hbh = [PROTO_ICMPV6, 0, 5, 2, 0, 0, 1, 0];
    let plen = hbh.len() + m.len();
    let mut f = vec![0u8; ETH_LEN + ipv6::HEADER_LEN + plen];
    let mut e = EthernetFrame::new_unchecked(&mut f[..]);
    e.set_dst(ipv6::multicast_mac(MLDV2_ROUTERS));
    e.set_src(mac);
    e.set_ethertype(ETHERTYPE_IPV6);
    let mut ip = Ipv6Packet::new_unchecked(&mut f[ETH_LEN..]);
    ip.init(1, 0, src, MLDV2_ROUTERS);
    ip.set_payload_len(plen as u16);
    let sum = ip.pseudo_sum(m.len(), PROTO_ICMPV6);
    let at = ETH_LEN + ipv6::HEADER_LEN;
    f[at..at + hbh.len()].copy_from_slice(&hbh);
    let msg = &mut f[at + hbh.len()..];
    msg.copy_from_slice(m);
    let c = csum_fold(csum_add(sum, msg));
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    f
}

/// An IPv6 payload that is MLD (any message) behind a Hop-by-Hop header.
pub fn is_mld(p: &[u8]) -> bool {
    let at = (p.get(1).copied().unwrap_or(0) as usize + 1) * 8;
    p.first() == Some(&PROTO_ICMPV6) && matches!(p.get(at), Some(130..=132 | 143))
}

/// The query in `frame`, if it is a well-formed IGMP or MLD query.
pub fn parse_query(frame: &[u8]) -> Option<Query> {
    let e = EthernetFrame::new_checked(frame)?;
    match e.ethertype() {
        ETHERTYPE_IPV4 => {
            let ip = Ipv4Packet::new_checked(e.payload()).ok()?;
            let m = ip.payload();
            if ip.protocol() != PROTO_IGMP || m.len() < 8 || m[0] != IGMP_QUERY {
                return None;
            }
            if csum_fold(csum_add(0, m)) != 0 {
                return None;
            }
            let code = m[1];
            let max_resp_ms = match m.len() {
                // IGMPv1 (no maximum: 10 s) and IGMPv2 (tenths).
                8 if code == 0 => 10_000,
                8 => code as u64 * 100,
                9..=11 => return None,
                // IGMPv3: tenths, a float above 127 (RFC 3376 §4.1.1).
                _ => float_code(code as u64, 4, 3) * 100,
            };
            let g = Ipv4Addr::new(m[4], m[5], m[6], m[7]);
            Some(Query {
                group: (!g.is_unspecified()).then_some(IpAddr::V4(g)),
                max_resp_ms,
            })
        }
        ETHERTYPE_IPV6 => {
            let ip = Ipv6Packet::new_checked(e.payload()).ok()?;
            // MLD rides behind a Hop-by-Hop header (Router Alert).
            let p = ip.payload();
            let (next, at) = match ip.next_header() {
                0 => (*p.first()?, (*p.get(1)? as usize + 1) * 8),
                n => (n, 0),
            };
            let m = p.get(at..)?;
            if next != PROTO_ICMPV6 || m.len() < 24 || m[0] != MLD_QUERY {
                return None;
            }
            if csum_fold(csum_add(ip.pseudo_sum(m.len(), PROTO_ICMPV6), m)) != 0 {
                return None;
            }
            let code = u16::from_be_bytes([m[4], m[5]]) as u64;
            let max_resp_ms = match m.len() {
                // MLDv1: milliseconds; MLDv2: a float above 32767.
                24 => code,
                25..=27 => return None,
                _ => float_code(code, 12, 3),
            };
            let g = Ipv6Addr::from(<[u8; 16]>::try_from(&m[8..24]).ok()?);
            Some(Query {
                group: (!g.is_unspecified()).then_some(IpAddr::V6(g)),
                max_resp_ms,
            })
        }
        _ => None,
    }
}

/// A maximum response code: the value itself below 2^(`mant` + `exp`),
/// else 1, `exp` bits of exponent and `mant` of mantissa, as
/// (mant | 1 << mant) << (exp + 3).
fn float_code(code: u64, mant: u32, exp: u32) -> u64 {
    let bits = mant + exp;
    if code < 1 << bits {
        return code;
    }
    let e = (code >> mant) & ((1 << exp) - 1);
    let m = code & ((1 << mant) - 1);
    (m | 1 << mant) << (e + 3)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }

    /// An IGMP query as a Linux bridge's querier sends it (`m` without
    /// its checksum).
    fn igmp_query(mut m: Vec<u8>, dst: Ipv4Addr) -> Vec<u8> {
        igmp_frame(
            [2, 0, 0, 0, 0, 9],
            "192.0.2.254".parse().unwrap(),
            dst,
            &mut m,
        )
    }

    #[test]
    fn igmpv3_reports_carry_a_record_per_group_to_the_v3_routers() {
        let groups = [v4("239.1.1.100"), v4("239.1.1.200")];
        let src = v4("192.0.2.1");
        let f = frames(Version::Igmp3, Report::Join, &groups, MAC, src);
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(f[..6], [1, 0, 0x5e, 0, 0, 22]);
        let ip = Ipv4Packet::new_checked(&f[ETH_LEN..]).unwrap();
        assert!(ip.checksum_ok());
        assert_eq!((ip.ttl(), ip.protocol(), ip.header_len()), (1, 2, 24));
        assert_eq!(ip.dst(), IGMPV3_ROUTERS);
        let m = ip.payload();
        assert_eq!(csum_fold(csum_add(0, m)), 0, "IGMP checksum");
        assert_eq!((m[0], u16::from_be_bytes([m[6], m[7]])), (0x22, 2));
        assert_eq!(m[8..16], [CHANGE_TO_EXCLUDE, 0, 0, 0, 239, 1, 1, 100]);
        assert_eq!(m[16..24], [CHANGE_TO_EXCLUDE, 0, 0, 0, 239, 1, 1, 200]);
        let leave = frames(Version::Igmp3, Report::Leave, &groups[..1], MAC, src);
        assert_eq!(leave[0][ETH_LEN + 24 + 8], CHANGE_TO_INCLUDE);
        let cur = frames(Version::Igmp3, Report::Current, &groups[..1], MAC, src);
        assert_eq!(cur[0][ETH_LEN + 24 + 8], MODE_IS_EXCLUDE);
        assert!(frames(Version::Igmp3, Report::Join, &[], MAC, src).is_empty());
    }

    #[test]
    fn igmpv2_reports_go_to_each_group_and_leaves_to_all_routers() {
        let groups = [v4("239.1.1.100"), v4("239.1.1.200")];
        let src = v4("192.0.2.1");
        let f = frames(Version::Igmp2, Report::Join, &groups, MAC, src);
        assert_eq!(f.len(), 2);
        assert_eq!(f[0][..6], [1, 0, 0x5e, 1, 1, 100]);
        let ip = Ipv4Packet::new_checked(&f[0][ETH_LEN..]).unwrap();
        assert_eq!(ip.dst(), Ipv4Addr::new(239, 1, 1, 100));
        assert_eq!(ip.payload(), {
            let mut m = [0x16, 0, 0, 0, 239, 1, 1, 100];
            let c = csum_fold(csum_add(0, &m));
            m[2..4].copy_from_slice(&c.to_be_bytes());
            m
        });
        let l = frames(Version::Igmp2, Report::Leave, &groups[1..], MAC, src);
        let ip = Ipv4Packet::new_checked(&l[0][ETH_LEN..]).unwrap();
        assert_eq!((ip.dst(), ip.payload()[0]), (ALL_ROUTERS, 0x17));
    }

    #[test]
    fn mldv2_reports_come_from_the_link_local_address_behind_router_alert() {
        let g: IpAddr = "ff0e::1:100".parse().unwrap();
        let f = frames(
            Version::Mld2,
            Report::Join,
            &[g],
            MAC,
            "2001:db8::1".parse().unwrap(),
        );
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(f[..6], [0x33, 0x33, 0, 0, 0, 0x16]);
        let ip = Ipv6Packet::new_checked(&f[ETH_LEN..]).unwrap();
        assert_eq!(ip.src(), "fe80::ff:fe00:101".parse::<Ipv6Addr>().unwrap());
        assert_eq!((ip.hop_limit(), ip.next_header()), (1, 0));
        let p = ip.payload();
        assert_eq!(p[..8], [58, 0, 5, 2, 0, 0, 1, 0]);
        let m = &p[8..];
        assert_eq!(csum_fold(csum_add(ip.pseudo_sum(m.len(), 58), m)), 0);
        assert_eq!((m[0], u16::from_be_bytes([m[6], m[7]])), (143, 1));
        assert_eq!(m[8], CHANGE_TO_EXCLUDE);
        assert_eq!(
            m[12..28],
            "ff0e::1:100".parse::<Ipv6Addr>().unwrap().octets()
        );
    }

    #[test]
    fn queries_of_every_version_parse_with_their_delays() {
        // IGMPv2 general, 10 s in tenths.
        let q = parse_query(&igmp_query(vec![0x11, 100, 0, 0, 0, 0, 0, 0], ALL_SYSTEMS));
        assert_eq!(
            q,
            Some(Query {
                group: None,
                max_resp_ms: 10_000
            })
        );
        // IGMPv1: no maximum given, 10 s.
        let q = parse_query(&igmp_query(vec![0x11, 0, 0, 0, 0, 0, 0, 0], ALL_SYSTEMS));
        assert_eq!(q.unwrap().max_resp_ms, 10_000);
        // IGMPv3 group-specific, 1 s; and a float code: 0x8a = exp 0,
        // mant 10: (10 | 16) << 3 = 208 tenths.
        let g = Ipv4Addr::new(239, 1, 1, 100);
        let mut m = vec![0x11, 10, 0, 0, 239, 1, 1, 100, 2, 125, 0, 0];
        let q = parse_query(&igmp_query(m.clone(), g)).unwrap();
        assert_eq!(
            q,
            Query {
                group: Some(IpAddr::V4(g)),
                max_resp_ms: 1000
            }
        );
        m[1] = 0x8a;
        assert_eq!(
            parse_query(&igmp_query(m.clone(), g)).unwrap().max_resp_ms,
            20_800
        );
        // A bad checksum, a report, a short query: none.
        let mut bad = igmp_query(m.clone(), g);
        let n = bad.len();
        bad[n - 1] ^= 1;
        assert_eq!(parse_query(&bad), None);
        assert_eq!(
            parse_query(
                &frames(
                    Version::Igmp3,
                    Report::Join,
                    &[IpAddr::V4(g)],
                    MAC,
                    v4("192.0.2.1")
                )[0]
            ),
            None
        );
        assert_eq!(parse_query(&igmp_query(m[..10].to_vec(), g)), None);
    }

    #[test]
    fn mld_queries_parse_behind_the_hop_by_hop_header() {
        // An MLDv2 general query: code 10000 ms, then a float code.
        let mut m = vec![130, 0, 0, 0, 0x27, 0x10, 0, 0];
        m.extend_from_slice(&[0; 16]);
        m.extend_from_slice(&[2, 125, 0, 0]);
        let query = |m: &[u8]| {
            let mut f = mld_frame([2, 0, 0, 0, 0, 9], m);
            // To all nodes, as queries go (the checksum covers it).
            let at = ETH_LEN + 24;
            f[at..at + 16].copy_from_slice(&ipv6::ALL_NODES.octets());
            let ip = Ipv6Packet::new_checked(&f[ETH_LEN..]).unwrap();
            let sum = ip.pseudo_sum(m.len(), PROTO_ICMPV6);
            let msg = &mut f[ETH_LEN + 48..];
            msg[2..4].fill(0);
            let c = csum_fold(csum_add(sum, msg));
            msg[2..4].copy_from_slice(&c.to_be_bytes());
            f
        };
        assert_eq!(
            parse_query(&query(&m)),
            Some(Query {
                group: None,
                max_resp_ms: 10_000
            })
        );
        // 0x8001: exp 0, mant 1: (1 | 1 << 12) << 3.
        m[4..6].copy_from_slice(&[0x80, 0x01]);
        assert_eq!(parse_query(&query(&m)).unwrap().max_resp_ms, 4097 << 3);
        // MLDv1 group-specific, 1000 ms.
        let g: Ipv6Addr = "ff0e::1:100".parse().unwrap();
        let mut v1 = vec![130, 0, 0, 0, 0x03, 0xe8, 0, 0];
        v1.extend_from_slice(&g.octets());
        assert_eq!(
            parse_query(&query(&v1)),
            Some(Query {
                group: Some(IpAddr::V6(g)),
                max_resp_ms: 1000
            })
        );
    }
}

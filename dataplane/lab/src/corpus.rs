//! A deterministic corpus of malformed and hostile frames for both sides of
//! a VTEP, each with the outcome the data plane must give it. Built from
//! scratch (no captures), so every byte is explained here.
//!
//! The corpus assumes the VTEP of [`CORPUS_CONFIG`]: underlay 192.0.2.1 with
//! MAC 02:00:00:00:01:01, known remote 192.0.2.2 (static neighbour), VNI 100
//! untagged and VNI 200 on VID 10 of the access port, underlay MTU 1500.

use std::net::Ipv4Addr;

use vtep_dataplane::wire::{self, arp, Arp};

/// A whole ARP frame (Ethernet + ARP, padded to 60 bytes).
fn arp_frame(
    dst: [u8; 6],
    src: [u8; 6],
    oper: u16,
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) -> Vec<u8> {
    Arp {
        oper,
        sha,
        spa,
        tha,
        tpa,
    }
    .frame(dst, src)
}

use crate::{tenant_udp, vxlan_from};

pub const VTEP_MAC: [u8; 6] = [2, 0, 0, 0, 1, 1];
pub const REMOTE_MAC: [u8; 6] = [2, 0, 0, 0, 2, 2];
pub const VTEP_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const REMOTE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
pub const TENANT: [u8; 6] = [2, 0, 0, 0, 0, 1];
pub const REMOTE_TENANT: [u8; 6] = [2, 0, 0, 0, 0, 0xbb];

/// The `[underlay]`..`[[fdb]]` part of the config the corpus assumes.
pub const CORPUS_CONFIG: &str = r#"
[underlay]
port = "net_pcap0"
mac = "02:00:00:00:01:01"
address = "192.0.2.1/24"
[[neighbor]]
ip = "192.0.2.2"
mac = "02:00:00:00:02:02"
[[access]]
port = "net_pcap1"
vni = 100
vlans = { 10 = 200 }
[[vni]]
id = 100
flood = ["192.0.2.2"]
[[vni]]
id = 200
flood = ["192.0.2.2"]
"#;

/// Which port a case enters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Underlay,
    Access,
}

/// What the data plane must do with a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Dropped and counted under this reason.
    Drop(&'static str),
    /// Forwarded (one frame leaves on the other side).
    Forward,
    /// Handed to the management thread (ARP/ICMP for the VTEP).
    Punt,
    /// Refused by the port itself (counted as a port error, never seen by
    /// a worker), or dropped as multi-segment when the PMD chains it.
    TooBig,
}

#[derive(Debug, Clone)]
pub struct Case {
    pub name: String,
    pub side: Side,
    pub frame: Vec<u8>,
    pub expect: Expect,
}

fn case(name: &str, side: Side, frame: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        side,
        frame,
        expect,
    }
}

/// A valid inner frame tagged with `seq` in its payload, so each one can
/// be recognised where it leaves.
pub fn inner(dst: [u8; 6], src: [u8; 6], seq: u16) -> Vec<u8> {
    let mut f = tenant_udp(
        dst,
        src,
        Ipv4Addr::new(10, 0, 0, 2),
        Ipv4Addr::new(10, 0, 0, 1),
        7000,
        7000,
        30,
    );
    let n = f.len();
    f[n - 2..].copy_from_slice(&seq.to_be_bytes());
    f
}

/// A valid VXLAN packet from the known remote.
pub fn good_vxlan(vni: u32, seq: u16) -> Vec<u8> {
    vxlan_from(
        REMOTE_MAC,
        REMOTE_IP,
        VTEP_MAC,
        VTEP_IP,
        vni,
        &inner(TENANT, REMOTE_TENANT, seq),
    )
}

/// Recomputes the outer IPv4 header checksum (IHL honoured).
fn fix_ip(f: &mut [u8]) {
    let ihl = (f[14] & 0x0f) as usize * 4;
    if f.len() < 14 + ihl.max(20) {
        return;
    }
    f[24] = 0;
    f[25] = 0;
    let c = wire::checksum(&f[14..14 + ihl]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

fn edit(base: &[u8], e: impl Fn(&mut Vec<u8>), fix: bool) -> Vec<u8> {
    let mut f = base.to_vec();
    e(&mut f);
    if fix {
        fix_ip(&mut f);
    }
    f
}

/// Cuts the packet to `n` bytes and makes the IP and UDP lengths agree, so
/// only the inner truncation is wrong.
fn cut_consistent(base: &[u8], n: usize) -> Vec<u8> {
    let mut f = base[..n].to_vec();
    let ip_len = (n - 14) as u16;
    f[16..18].copy_from_slice(&ip_len.to_be_bytes());
    if n >= 42 {
        f[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    }
    fix_ip(&mut f);
    f
}

/// `base` with its source MAC (at `at`) broadcast, multicast and zero:
/// each dropped as `reason`.
fn bad_sources(name: &str, side: Side, base: &[u8], at: usize, reason: &'static str) -> Vec<Case> {
    type Set = fn(&mut [u8]);
    let bad: [(&str, Set); 3] = [
        ("broadcast", |m| m.copy_from_slice(&[0xff; 6])),
        ("multicast", |m| m[0] = 0x01),
        ("zero", |m| m.copy_from_slice(&[0; 6])),
    ];
    bad.into_iter()
        .map(|(what, set)| {
            let frame = edit(base, |f| set(&mut f[at..at + 6]), false);
            case(&format!("{name} {what}"), side, frame, Expect::Drop(reason))
        })
        .collect()
}

fn u16at(f: &mut [u8], at: usize, v: u16) {
    f[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Every underlay case.
pub fn underlay_cases() -> Vec<Case> {
    use Expect::*;
    use Side::Underlay as U;
    let g = good_vxlan(100, 0xfff0);
    let mut v = vec![
        case("zero-length frame", U, vec![], Drop("underlay_runt")),
        case(
            "ethernet truncated",
            U,
            g[..13].to_vec(),
            Drop("underlay_runt"),
        ),
        case("ipv4 missing", U, g[..14].to_vec(), Drop("ipv4_bad_length")),
        case(
            "ipv4 truncated",
            U,
            g[..30].to_vec(),
            Drop("ipv4_bad_length"),
        ),
        case(
            "ipv4 version 6",
            U,
            edit(&g, |f| f[14] = 0x65, true),
            Drop("ipv4_bad_version"),
        ),
        case(
            "ipv4 ihl < 5",
            U,
            edit(&g, |f| f[14] = 0x44, true),
            Drop("ipv4_bad_ihl"),
        ),
        case(
            "ipv4 ihl beyond packet",
            U,
            edit(
                &g,
                |f| {
                    f[14] = 0x4f;
                    f.truncate(60)
                },
                false,
            ),
            Drop("ipv4_bad_ihl"),
        ),
        case(
            "ipv4 total length > frame",
            U,
            edit(&g, |f| u16at(f, 16, 4000), true),
            Drop("ipv4_bad_length"),
        ),
        case(
            "ipv4 total length < header",
            U,
            edit(&g, |f| u16at(f, 16, 12), true),
            Drop("ipv4_bad_length"),
        ),
        case(
            "ipv4 bad checksum",
            U,
            edit(&g, |f| f[24] ^= 0x5a, false),
            Drop("ipv4_bad_checksum"),
        ),
        case(
            "ipv4 first fragment",
            U,
            edit(&g, |f| f[20] = 0x20, true),
            Drop("ipv4_fragment"),
        ),
        case(
            "ipv4 middle fragment",
            U,
            edit(
                &g,
                |f| {
                    f[20] = 0x20;
                    f[21] = 0x40
                },
                true,
            ),
            Drop("ipv4_fragment"),
        ),
        case(
            "ipv4 last fragment",
            U,
            edit(&g, |f| f[21] = 0x40, true),
            Drop("ipv4_fragment"),
        ),
        case(
            "outer destination not ours (ip)",
            U,
            edit(&g, |f| f[33] = 77, true),
            Drop("underlay_not_our_ip"),
        ),
        case(
            "outer destination not ours (mac)",
            U,
            edit(&g, |f| f[5] = 9, false),
            Drop("underlay_not_our_mac"),
        ),
        case(
            "outer broadcast mac, ipv4",
            U,
            edit(&g, |f| f[..6].copy_from_slice(&[0xff; 6]), false),
            Drop("underlay_not_our_mac"),
        ),
        case(
            "ipv6 ethertype",
            U,
            edit(&g, |f| u16at(f, 12, 0x86dd), false),
            Drop("underlay_ethertype"),
        ),
        case(
            "tcp to the vtep",
            U,
            edit(&g, |f| f[23] = 6, true),
            Drop("underlay_protocol"),
        ),
        case(
            "udp truncated",
            U,
            cut_consistent(&g, 38),
            Drop("udp_bad_length"),
        ),
        case(
            "udp length too large",
            U,
            edit(&g, |f| u16at(f, 38, 500), false),
            Drop("udp_bad_length"),
        ),
        case(
            "udp length too small",
            U,
            edit(&g, |f| u16at(f, 38, 20), false),
            Drop("udp_bad_length"),
        ),
        case(
            "udp other port",
            U,
            edit(&g, |f| u16at(f, 36, 4790), false),
            Drop("udp_not_vxlan_port"),
        ),
        case(
            "vxlan truncated",
            U,
            cut_consistent(&g, 46),
            Drop("vxlan_truncated"),
        ),
        case(
            "vxlan I flag clear",
            U,
            edit(&g, |f| f[42] = 0, false),
            Drop("vxlan_i_flag_clear"),
        ),
        case(
            "vxlan unknown vni",
            U,
            edit(&g, |f| f[48] = 0x2c, false),
            Drop("vni_unknown"),
        ),
        case(
            "vxlan vni 0",
            U,
            edit(&g, |f| f[46..49].copy_from_slice(&[0, 0, 0]), false),
            Drop("vni_unknown"),
        ),
        case(
            "outer source not a known vtep",
            U,
            edit(&g, |f| f[29] = 99, true),
            Drop("unknown_source_vtep"),
        ),
        case("inner runt", U, cut_consistent(&g, 60), Drop("inner_runt")),
        case(
            "inner 802.1Q",
            U,
            edit(&g, |f| u16at(f, 62, 0x8100), false),
            Drop("inner_vlan_tagged"),
        ),
        case(
            "inner QinQ",
            U,
            edit(&g, |f| u16at(f, 62, 0x88a8), false),
            Drop("inner_vlan_tagged"),
        ),
        case(
            "arp hardware length 8",
            U,
            edit(
                &arp_frame(
                    [0xff; 6],
                    REMOTE_MAC,
                    arp::REQUEST,
                    REMOTE_MAC,
                    REMOTE_IP,
                    [0; 6],
                    VTEP_IP,
                ),
                |f| f[18] = 8,
                false,
            ),
            Drop("arp_invalid"),
        ),
        case(
            "arp opcode 9",
            U,
            edit(
                &arp_frame(
                    [0xff; 6],
                    REMOTE_MAC,
                    arp::REQUEST,
                    REMOTE_MAC,
                    REMOTE_IP,
                    [0; 6],
                    VTEP_IP,
                ),
                |f| u16at(f, 20, 9),
                false,
            ),
            Drop("arp_invalid"),
        ),
        case(
            "arp truncated",
            U,
            arp_frame(
                [0xff; 6],
                REMOTE_MAC,
                arp::REQUEST,
                REMOTE_MAC,
                REMOTE_IP,
                [0; 6],
                VTEP_IP,
            )[..30]
                .to_vec(),
            Drop("arp_invalid"),
        ),
        case(
            "arp for another address",
            U,
            arp_frame(
                [0xff; 6],
                REMOTE_MAC,
                arp::REQUEST,
                REMOTE_MAC,
                REMOTE_IP,
                [0; 6],
                Ipv4Addr::new(192, 0, 2, 50),
            ),
            Drop("underlay_not_our_ip"),
        ),
        case(
            "arp request for the vtep",
            U,
            arp_frame(
                [0xff; 6],
                REMOTE_MAC,
                arp::REQUEST,
                REMOTE_MAC,
                REMOTE_IP,
                [0; 6],
                VTEP_IP,
            ),
            Punt,
        ),
        case(
            "jumbo beyond one mbuf",
            U,
            edit(&g, |f| f.resize(9000, 0), false),
            TooBig,
        ),
    ];
    // IPv4 options (4 NOPs) are skipped, not misread: forwarded.
    let mut o = g[..34].to_vec();
    o.extend_from_slice(&[1, 1, 1, 1]);
    o.extend_from_slice(&g[34..]);
    o[14] = 0x46;
    let tl = u16::from_be_bytes([o[16], o[17]]) + 4;
    u16at(&mut o, 16, tl);
    fix_ip(&mut o);
    v.push(case("ipv4 options", U, o, Forward));
    v.push(case(
        "vxlan reserved bits set",
        U,
        edit(
            &good_vxlan(100, 0xfff1),
            |f| {
                f[43] = 0xff;
                f[49] = 0xff
            },
            false,
        ),
        Forward,
    ));
    v.push(case(
        "ethernet padding after ip",
        U,
        edit(
            &good_vxlan(100, 0xfff2),
            |f| f.extend_from_slice(&[0; 8]),
            false,
        ),
        Forward,
    ));
    // An ARP with bad lengths inside a tenant VNI is tenant traffic: forwarded.
    let mut bad_arp = arp_frame(
        TENANT,
        REMOTE_TENANT,
        arp::REQUEST,
        REMOTE_TENANT,
        Ipv4Addr::new(10, 0, 0, 2),
        [0; 6],
        Ipv4Addr::new(10, 0, 0, 1),
    );
    bad_arp[18] = 9;
    v.extend(bad_sources("inner source", U, &g, 56, "inner_src_invalid"));
    v.push(case(
        "tenant arp with bad lengths",
        U,
        vxlan_from(REMOTE_MAC, REMOTE_IP, VTEP_MAC, VTEP_IP, 100, &bad_arp),
        Forward,
    ));
    v
}

/// Every access-side case.
pub fn access_cases() -> Vec<Case> {
    use Expect::*;
    use Side::Access as A;
    let good = inner(REMOTE_TENANT, TENANT, 0xffe0);
    let tag = |f: &[u8], tpid: u16, vid: u16| {
        let mut t = f[..12].to_vec();
        t.extend_from_slice(&tpid.to_be_bytes());
        t.extend_from_slice(&vid.to_be_bytes());
        t.extend_from_slice(&f[12..]);
        t
    };
    let mut v = vec![
        case("zero-length frame", A, vec![], Drop("access_runt")),
        case(
            "ethernet truncated",
            A,
            good[..13].to_vec(),
            Drop("access_runt"),
        ),
        case(
            "vlan tag truncated",
            A,
            tag(&good, 0x8100, 10)[..16].to_vec(),
            Drop("access_runt"),
        ),
        case("QinQ 88a8", A, tag(&good, 0x88a8, 10), Drop("access_qinq")),
        case(
            "double 8100",
            A,
            tag(&tag(&good, 0x8100, 10), 0x8100, 10),
            Drop("access_qinq"),
        ),
        case(
            "vid not mapped (other tenant's segment)",
            A,
            tag(&good, 0x8100, 11),
            Drop("access_vlan_unmapped"),
        ),
        case(
            "jumbo beyond the underlay mtu",
            A,
            inner_sized(1480),
            Drop("mtu_exceeded"),
        ),
        case(
            "jumbo beyond one mbuf",
            A,
            edit(&good, |f| f.resize(9000, 0), false),
            TooBig,
        ),
        case(
            "priority tag (vid 0) is untagged",
            A,
            tag(&good, 0x8100, 0),
            Forward,
        ),
        case("vid 10 maps to vni 200", A, tag(&good, 0x8100, 10), Forward),
        case(
            "tenant arp with bad opcode",
            A,
            edit(
                &arp_frame(
                    [0xff; 6],
                    TENANT,
                    arp::REQUEST,
                    TENANT,
                    Ipv4Addr::new(10, 0, 0, 1),
                    [0; 6],
                    Ipv4Addr::new(10, 0, 0, 2),
                ),
                |f| u16at(f, 20, 7),
                false,
            ),
            Forward,
        ),
    ];
    v.extend(bad_sources("source", A, &good, 6, "access_src_invalid"));
    v
}

fn inner_sized(payload: usize) -> Vec<u8> {
    tenant_udp(
        REMOTE_TENANT,
        TENANT,
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(10, 0, 0, 2),
        1,
        2,
        payload,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpus_is_deterministic_and_named() {
        let a = underlay_cases();
        let b = underlay_cases();
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| x.frame == y.frame));
        let mut names: Vec<_> = a
            .iter()
            .chain(access_cases().iter())
            .map(|c| (c.side == Side::Access, c.name.clone()))
            .collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "case names are unique per side");
    }
}

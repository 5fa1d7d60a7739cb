//! Byte-level tests of encap and decap on plain buffers, checked against
//! frames built and parsed independently with etherparse.

use std::net::Ipv4Addr;

use etherparse::{Ipv4Header, PacketBuilder, SlicedPacket};

use crate::datapath::buf::{PacketBuf, VecBuf};
use crate::datapath::decap::{classify_underlay, Underlay};
use crate::datapath::drops::DropReason;
use crate::datapath::encap::{classify_access, push_vlan};
use crate::datapath::flow::flow_hash;
use crate::datapath::state::{State, Template};
use crate::datapath::tunnel::vxlan::OUTER4_LEN;
use crate::datapath::tunnel::{encapsulate, source_port, Tunnel};

use crate::testing::{OUR_IP, OUR_MAC, PEER_IP, PEER_MAC};

pub(crate) fn state() -> State {
    crate::testing::sample_state()
}

/// The sample state's template towards its remote.
fn template() -> Template {
    *state()
        .template(0, 0)
        .expect("the sample remote is resolved")
}

/// An inner tenant frame: Ethernet/IPv4/UDP with `payload` bytes.
fn inner(sport: u16, payload: usize) -> Vec<u8> {
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 0xa], [2, 0, 0, 0, 0, 0xb])
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
        .udp(sport, 80);
    let mut v = Vec::new();
    b.write(&mut v, &vec![0x5a; payload]).unwrap();
    v
}

fn encapped(frame: &[u8], vni: u32) -> Vec<u8> {
    let mut b = VecBuf::new(frame);
    encapsulate(&mut b, &template(), vni, 1500).unwrap();
    b.data().to_vec()
}

#[test]
fn encap_matches_rfc7348_layout() {
    let f = inner(1234, 100);
    let out = encapped(&f, 100);
    assert_eq!(out.len(), f.len() + 50);
    let p = SlicedPacket::from_ethernet(&out).unwrap();
    let eth = match p.link.unwrap() {
        etherparse::LinkSlice::Ethernet2(e) => e,
        _ => panic!("not ethernet"),
    };
    assert_eq!(eth.destination(), PEER_MAC);
    assert_eq!(eth.source(), OUR_MAC);
    let ip = match p.net.unwrap() {
        etherparse::NetSlice::Ipv4(i) => i.header().to_header(),
        _ => panic!("not ipv4"),
    };
    assert_eq!(
        ip.header_checksum,
        ip.calc_header_checksum(),
        "IPv4 checksum correct"
    );
    assert_eq!(
        (ip.source, ip.destination),
        (OUR_IP.octets(), PEER_IP.octets())
    );
    assert_eq!(ip.time_to_live, 64);
    assert!(ip.dont_fragment);
    assert_eq!(ip.total_len as usize, out.len() - 14);
    let udp = match p.transport.unwrap() {
        etherparse::TransportSlice::Udp(u) => u,
        _ => panic!("not udp"),
    };
    assert_eq!(udp.destination_port(), 4789);
    assert!(udp.source_port() >= 49152);
    assert_eq!(udp.checksum(), 0, "UDP checksum 0 over IPv4");
    assert_eq!(udp.length() as usize, out.len() - 34);
    let vx = udp.payload();
    assert_eq!(
        vx[..8],
        [0x08, 0, 0, 0, 0, 0, 100, 0],
        "I flag, reserved zero, VNI 100"
    );
    assert_eq!(&vx[8..], &f[..]);

    let big = encapped(&f, 0xabcdef);
    assert_eq!(big[46..50], [0xab, 0xcd, 0xef, 0]);
    let hdr = Ipv4Header::from_slice(&big[14..]).unwrap().0;
    assert_eq!(hdr.header_checksum, hdr.calc_header_checksum());
}

#[test]
fn source_ports_spread_over_flows() {
    let ports: std::collections::HashSet<u16> = (0..256)
        .map(|i| source_port(flow_hash(&inner(1000 + i, 10))))
        .collect();
    assert!(ports.iter().all(|p| *p >= 49152));
    assert!(
        ports.len() > 230,
        "256 flows gave only {} ports",
        ports.len()
    );
    assert_eq!(
        flow_hash(&inner(7, 10)),
        flow_hash(&inner(7, 99)),
        "same flow, same port"
    );
}

/// An IPv6/UDP tenant frame between fixed MACs, from port `sport`.
fn inner6(sport: u16, host: u8) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 40 + 8 + 10];
    f[..12].copy_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&0x86ddu16.to_be_bytes());
    f[14] = 0x60;
    f[14 + 6] = 17;
    f[14 + 8..14 + 24].copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    f[14 + 24..14 + 40]
        .copy_from_slice(&[0x20, 1, 0xd, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, host]);
    f[54..56].copy_from_slice(&sport.to_be_bytes());
    f[56..58].copy_from_slice(&5001u16.to_be_bytes());
    f
}

#[test]
fn non_ip_flows_spread_by_macs_and_ethertype() {
    let frame = |i: u32, et: u16| {
        let mut f = vec![0u8; 60];
        f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[6..12].copy_from_slice(&[2, 0, 0, (i >> 16) as u8, (i >> 8) as u8, i as u8]);
        f[12..14].copy_from_slice(&et.to_be_bytes());
        f
    };
    let by_src: std::collections::HashSet<u16> = (0..256)
        .map(|i| source_port(flow_hash(&frame(i * 257, 0x88b5))))
        .collect();
    assert!(by_src.len() > 230, "256 MACs gave {} values", by_src.len());
    assert_ne!(
        flow_hash(&frame(1, 0x88b5)),
        flow_hash(&frame(1, 0x88b6)),
        "the EtherType counts"
    );
}

#[test]
fn ipv6_tenant_flows_spread_by_addresses_and_ports() {
    let by_port: std::collections::HashSet<u16> = (0..256)
        .map(|i| source_port(flow_hash(&inner6(1000 + i, 2))))
        .collect();
    assert!(
        by_port.len() > 230,
        "256 ports gave {} values",
        by_port.len()
    );
    let by_host: std::collections::HashSet<u16> = (0..=255)
        .map(|h| source_port(flow_hash(&inner6(1000, h))))
        .collect();
    assert!(
        by_host.len() > 230,
        "256 hosts gave {} values",
        by_host.len()
    );
    let mut other_payload = inner6(1000, 2);
    other_payload[70] = 0xff;
    assert_eq!(flow_hash(&inner6(1000, 2)), flow_hash(&other_payload));
}

#[test]
fn mtu_is_never_exceeded() {
    // 1464-byte inner frame + 36 = 1500: fits; one byte more does not.
    let fits = inner(1, 1464 - 42);
    let mut b = VecBuf::new(&fits);
    assert!(encapsulate(&mut b, &template(), 100, 1500).is_ok());
    let over = inner(1, 1465 - 42);
    let mut b = VecBuf::new(&over);
    assert_eq!(
        encapsulate(&mut b, &template(), 100, 1500),
        Err(DropReason::MtuExceeded)
    );
    assert_eq!(b.data(), &over[..], "unchanged on failure");
}

#[test]
fn access_classification_and_vlan_strip() {
    let st = state();
    let f = inner(5, 20);
    let mut b = VecBuf::new(&f);
    assert_eq!(classify_access(&mut b, &st.access[0]), Ok(0));
    assert_eq!(b.data(), &f[..]);

    let mut tagged = f[..12].to_vec();
    tagged.extend_from_slice(&[0x81, 0x00, 0x20, 0x0a]); // PCP 1, VID 10
    tagged.extend_from_slice(&f[12..]);
    let mut b = VecBuf::new(&tagged);
    assert_eq!(classify_access(&mut b, &st.access[0]), Ok(1));
    assert_eq!(b.data(), &f[..], "tag stripped");
    push_vlan(&mut b, 10).unwrap();
    assert_eq!(
        &b.data()[..16],
        &[&f[..12], &[0x81, 0x00, 0x00, 0x0a][..]].concat()[..]
    );

    let mut unmapped = tagged.clone();
    unmapped[15] = 11;
    assert_eq!(
        classify_access(&mut VecBuf::new(&unmapped), &st.access[0]),
        Err(DropReason::AccessVlanUnmapped)
    );
    let mut qinq = tagged.clone();
    qinq[16..18].copy_from_slice(&[0x81, 0x00]);
    assert_eq!(
        classify_access(&mut VecBuf::new(&qinq), &st.access[0]),
        Err(DropReason::AccessQinq)
    );
    let mut sa = f.clone();
    sa[12..14].copy_from_slice(&[0x88, 0xa8]);
    assert_eq!(
        classify_access(&mut VecBuf::new(&sa), &st.access[0]),
        Err(DropReason::AccessQinq)
    );
    let mut mc = f.clone();
    mc[6] = 1;
    assert_eq!(
        classify_access(&mut VecBuf::new(&mc), &st.access[0]),
        Err(DropReason::AccessSrcInvalid)
    );
    assert_eq!(
        classify_access(&mut VecBuf::new(&f[..13]), &st.access[0]),
        Err(DropReason::AccessRunt)
    );
    let mut none = st.access[0].clone();
    none.untagged = None;
    assert_eq!(
        classify_access(&mut VecBuf::new(&f), &none),
        Err(DropReason::AccessNoVni)
    );
}

/// A VXLAN packet from the peer to us, as the peer would build it.
fn from_peer(vni: u32, f: &[u8]) -> Vec<u8> {
    let t = crate::testing::peer_to_us();
    let mut b = VecBuf::new(f);
    encapsulate(&mut b, &t, vni, 9000).unwrap();
    b.data().to_vec()
}

fn fix_csum(p: &mut [u8]) {
    let ihl = (p[14] & 0xf) as usize * 4;
    p[24] = 0;
    p[25] = 0;
    let c = crate::wire::checksum(&p[14..14 + ihl]);
    p[24..26].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn decap_accepts_valid_vxlan() {
    let st = state();
    let f = inner(9, 30);
    let p = from_peer(100, &f);
    match classify_underlay(&p, &st).unwrap() {
        Underlay::Tunnel {
            vni,
            remote,
            inner_off,
            inner_len,
            reserved_set,
        } => {
            assert_eq!((vni, remote), (0, Some(0)));
            assert_eq!(&p[inner_off..inner_off + inner_len], &f[..]);
            assert!(!reserved_set);
        }
        other => panic!("{other:?}"),
    }
    // Ethernet padding after the IP packet is not part of the inner frame.
    let mut padded = p.clone();
    padded.extend_from_slice(&[0; 6]);
    match classify_underlay(&padded, &st).unwrap() {
        Underlay::Tunnel { inner_len, .. } => assert_eq!(inner_len, f.len()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn decap_honours_ipv4_options() {
    let st = state();
    let f = inner(9, 30);
    let p = from_peer(100, &f);
    // Insert 4 bytes of options (NOP x4) after the 20-byte IPv4 header.
    let mut o = p[..34].to_vec();
    o.extend_from_slice(&[1, 1, 1, 1]);
    o.extend_from_slice(&p[34..]);
    o[14] = 0x46;
    let tl = u16::from_be_bytes([o[16], o[17]]) + 4;
    o[16..18].copy_from_slice(&tl.to_be_bytes());
    fix_csum(&mut o);
    match classify_underlay(&o, &st).unwrap() {
        Underlay::Tunnel {
            inner_off,
            inner_len,
            ..
        } => {
            assert_eq!(inner_off, 54);
            assert_eq!(&o[inner_off..inner_off + inner_len], &f[..]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn decap_drop_rules() {
    let mut st = state();
    let f = inner(9, 30);
    let p = from_peer(100, &f);
    let check = |st: &State, pkt: &[u8], want: DropReason| {
        assert_eq!(classify_underlay(pkt, st), Err(want), "{}", want.name());
    };
    let m = |edit: &dyn Fn(&mut Vec<u8>), csum: bool| {
        let mut q = p.clone();
        edit(&mut q);
        if csum {
            fix_csum(&mut q);
        }
        q
    };
    check(&st, &p[..13], DropReason::UnderlayRunt);
    check(&st, &m(&|q| q[0] = 4, false), DropReason::UnderlayNotOurMac);
    check(
        &st,
        &m(&|q| q[..6].copy_from_slice(&[0xff; 6]), false),
        DropReason::UnderlayNotOurMac,
    );
    check(
        &st,
        &m(&|q| q[12..14].copy_from_slice(&[0x86, 0xdd]), false),
        DropReason::UnderlayEthertype,
    );
    check(&st, &p[..30], DropReason::Ipv4Length);
    check(&st, &m(&|q| q[14] = 0x65, true), DropReason::Ipv4Version);
    check(&st, &m(&|q| q[14] = 0x44, true), DropReason::Ipv4Ihl);
    check(
        &st,
        &m(
            &|q| {
                q[14] = 0x4f;
                q.truncate(60)
            },
            false,
        ),
        DropReason::Ipv4Ihl,
    );
    check(
        &st,
        &m(&|q| q[16..18].copy_from_slice(&2000u16.to_be_bytes()), true),
        DropReason::Ipv4Length,
    );
    check(
        &st,
        &m(&|q| q[16..18].copy_from_slice(&10u16.to_be_bytes()), true),
        DropReason::Ipv4Length,
    );
    check(&st, &m(&|q| q[24] ^= 0xff, false), DropReason::Ipv4Checksum);
    check(&st, &m(&|q| q[20] = 0x20, true), DropReason::Ipv4Fragment); // first (MF)
    check(&st, &m(&|q| q[21] = 0x10, true), DropReason::Ipv4Fragment); // last (offset)
    check(
        &st,
        &m(
            &|q| {
                q[20] = 0x20;
                q[21] = 0x10
            },
            true,
        ),
        DropReason::Ipv4Fragment,
    ); // middle
    check(&st, &m(&|q| q[33] = 9, true), DropReason::NotOurIp);
    check(&st, &m(&|q| q[23] = 6, true), DropReason::UnderlayProto);
    check(
        &st,
        &m(&|q| q[38..40].copy_from_slice(&9u16.to_be_bytes()), false),
        DropReason::UdpLength,
    );
    check(
        &st,
        &m(
            &|q| q[36..38].copy_from_slice(&4790u16.to_be_bytes()),
            false,
        ),
        DropReason::UdpPort,
    );
    check(&st, &m(&|q| q[42] = 0, false), DropReason::VxlanFlagI);
    check(&st, &m(&|q| q[48] = 101, false), DropReason::VniUnknown);
    check(
        &st,
        &m(&|q| q[46..49].copy_from_slice(&[0, 0, 0]), false),
        DropReason::VniUnknown,
    );
    check(&st, &m(&|q| q[29] = 77, true), DropReason::UnknownSource);
    check(&st, &m(&|q| q[56] = 1, false), DropReason::InnerSrcInvalid);
    check(
        &st,
        &m(&|q| q[62..64].copy_from_slice(&[0x81, 0]), false),
        DropReason::InnerVlan,
    );
    check(
        &st,
        &m(&|q| q[62..64].copy_from_slice(&[0x88, 0xa8]), false),
        DropReason::InnerVlan,
    );

    // VXLAN truncated and inner runt: shorten UDP and IP lengths to match.
    let cut = |n: usize| {
        let mut q = p[..n].to_vec();
        let ip_len = (n - 14) as u16;
        q[16..18].copy_from_slice(&ip_len.to_be_bytes());
        q[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
        fix_csum(&mut q);
        q
    };
    check(&st, &cut(46), DropReason::VxlanTruncated);
    check(&st, &cut(60), DropReason::InnerRunt);

    // Reserved bits: ignored (and reported) by default, dropped when strict.
    let r = m(
        &|q| {
            q[43] = 1;
            q[49] = 1
        },
        false,
    );
    assert!(matches!(
        classify_underlay(&r, &st),
        Ok(Underlay::Tunnel {
            reserved_set: true,
            ..
        })
    ));
    st.strict_reserved = true;
    check(&st, &r, DropReason::VxlanReserved);
    st.strict_reserved = false;

    // Unknown sources are accepted when configured to.
    st.accept_unknown_sources = true;
    let q = m(&|q| q[29] = 77, true);
    assert!(matches!(
        classify_underlay(&q, &st),
        Ok(Underlay::Tunnel { remote: None, .. })
    ));
    assert_eq!(
        crate::datapath::decap::outer_source(&q),
        Some(std::net::Ipv4Addr::new(192, 0, 2, 77).into())
    );
}

#[test]
fn decap_sees_arp_and_echo() {
    use crate::control::punt::arp_request;
    let st = state();
    let req = arp_request(PEER_MAC, PEER_IP, OUR_IP);
    assert_eq!(classify_underlay(&req, &st), Ok(Underlay::Arp));
    let other = arp_request(PEER_MAC, PEER_IP, Ipv4Addr::new(192, 0, 2, 9));
    assert_eq!(classify_underlay(&other, &st), Err(DropReason::NotOurIp));
    let gratuitous = arp_request(PEER_MAC, PEER_IP, PEER_IP);
    assert_eq!(classify_underlay(&gratuitous, &st), Ok(Underlay::Arp));
    let mut bad = req.clone();
    bad[14 + 5] = 16; // protocol length
    assert_eq!(classify_underlay(&bad, &st), Err(DropReason::ArpInvalid));

    let mut echo = Vec::new();
    PacketBuilder::ethernet2(PEER_MAC, OUR_MAC)
        .ipv4(PEER_IP.octets(), OUR_IP.octets(), 64)
        .icmpv4_echo_request(1, 1)
        .write(&mut echo, b"ping")
        .unwrap();
    assert_eq!(classify_underlay(&echo, &st), Ok(Underlay::Echo));
    echo[34] = 13; // timestamp request
    assert_eq!(
        classify_underlay(&echo, &st),
        Err(DropReason::IcmpUnsupported)
    );
}

#[test]
fn outer_len_constant() {
    assert_eq!(OUTER4_LEN, 50);
}

mod roundtrip {
    use super::*;
    use proptest::prelude::*;

    fn arb_frame() -> impl Strategy<Value = Vec<u8>> {
        // A valid tenant frame: unicast source, any destination, any
        // EtherType but 802.1Q/QinQ, 0..=1400 payload bytes.
        (
            any::<[u8; 6]>(),
            any::<[u8; 6]>(),
            any::<u16>().prop_filter("untagged", |t| *t != 0x8100 && *t != 0x88a8),
            proptest::collection::vec(any::<u8>(), 0..=1400),
        )
            .prop_map(|(dst, mut src, et, payload)| {
                src[0] &= 0xfe;
                src[5] |= 1;
                let mut f = dst.to_vec();
                f.extend_from_slice(&src);
                f.extend_from_slice(&et.to_be_bytes());
                f.extend_from_slice(&payload);
                f
            })
    }

    proptest! {
        /// Encap at one VTEP then decap at the other gives back the frame.
        #[test]
        fn encap_then_decap_is_identity(frame in arb_frame(), vni in 1u32..(1 << 24), a in any::<u32>(), b in any::<u32>()) {
            let (src, dst) = (Ipv4Addr::from(a | 1), Ipv4Addr::from(b | 2));
            prop_assume!(src != dst);
            let mut st = state();
            st.our_ip = dst.into();
            st.vni_index.insert(vni, 0);
            st.remote_index.insert(src.into(), 0);
            let t = Template::new(OUR_MAC, PEER_MAC, src, dst, Tunnel::vxlan(4789), 64, false);
            let mut b = VecBuf::new(&frame);
            encapsulate(&mut b, &t, vni, 9000).unwrap();
            let out = b.data().to_vec();
            match classify_underlay(&out, &st) {
                Ok(Underlay::Tunnel { vni: v, remote: s, inner_off, inner_len, reserved_set, .. }) => {
                    prop_assert_eq!(v, 0);
                    prop_assert_eq!(s, Some(0));
                    prop_assert_eq!(crate::datapath::decap::outer_source(&out), Some(src.into()));
                    prop_assert!(!reserved_set);
                    prop_assert_eq!(&out[inner_off..inner_off + inner_len], &frame[..]);
                }
                other => prop_assert!(false, "{:?}", other),
            }
        }

        /// Decap never panics on arbitrary bytes.
        #[test]
        fn decap_total_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let _ = classify_underlay(&bytes, &state());
        }
    }
}

/// VXLAN over IPv6: what encap writes is what etherparse (and the kernel)
/// expect, and decap takes it back; each way it can be wrong is named.
mod ipv6 {
    use super::*;
    use crate::control::punt;
    use crate::datapath::decap::{classify_underlay, Underlay};
    use crate::datapath::drops::DropReason;
    use crate::datapath::tunnel::vxlan::OUTER6_LEN;
    use crate::testing::{sample_state6, OUR_IP6, PEER_IP6};
    use crate::wire::icmpv6;
    use crate::wire::Ipv6Packet;

    /// An inner frame encapsulated by the peer towards us.
    fn from_peer(inner_len: usize, vni: u32, zero_csum: bool) -> Vec<u8> {
        let mut f = super::inner(40000, inner_len.saturating_sub(42));
        f.truncate(inner_len.max(14));
        let t = Template::new6(
            OUR_MAC,
            PEER_MAC,
            PEER_IP6,
            OUR_IP6,
            Tunnel::vxlan(4789),
            64,
            zero_csum,
        );
        let mut b = VecBuf::new(&f);
        encapsulate(&mut b, &t, vni, 9000).unwrap();
        b.data().to_vec()
    }

    #[test]
    fn encap_writes_a_valid_ipv6_udp_vxlan_header() {
        let st = sample_state6();
        let t = *st.template(0, 0).unwrap();
        for payload in [0usize, 1, 17, 1400] {
            let f = super::inner(40000 + payload as u16, payload);
            let mut b = VecBuf::new(&f);
            encapsulate(&mut b, &t, 0xabcdef, 9000).unwrap();
            let p = SlicedPacket::from_ethernet(b.data()).unwrap();
            let etherparse::NetSlice::Ipv6(ip) = p.net.unwrap() else {
                panic!("not IPv6")
            };
            let h = ip.header();
            assert_eq!(h.source_addr(), OUR_IP6);
            assert_eq!(h.destination_addr(), PEER_IP6);
            assert_eq!(h.hop_limit(), 64);
            assert_eq!(h.payload_length() as usize, f.len() + 16);
            assert_eq!(
                h.flow_label().value(),
                crate::datapath::tunnel::flow_label(flow_hash(&f))
            );
            let etherparse::TransportSlice::Udp(u) = p.transport.unwrap() else {
                panic!("not UDP")
            };
            assert_eq!(u.destination_port(), 4789);
            assert_eq!(u.source_port(), source_port(flow_hash(&f)));
            let want = u
                .to_header()
                .calc_checksum_ipv6(&h.to_header(), u.payload())
                .unwrap();
            assert_eq!(u.checksum(), want, "payload {payload}");
            assert_ne!(u.checksum(), 0);
            assert_eq!(&u.payload()[..8], &[0x08, 0, 0, 0, 0xab, 0xcd, 0xef, 0]);
            assert_eq!(&b.data()[OUTER6_LEN..], &f[..]);
        }
        // With zero checksums asked for, zero it is.
        let z = Template::new6(
            PEER_MAC,
            OUR_MAC,
            OUR_IP6,
            PEER_IP6,
            Tunnel::vxlan(4789),
            64,
            true,
        );
        let mut b = VecBuf::new(&super::inner(1, 10));
        encapsulate(&mut b, &z, 100, 9000).unwrap();
        assert_eq!(&b.data()[60..62], &[0, 0]);
    }

    #[test]
    fn the_mtu_counts_the_ipv6_header() {
        let st = sample_state6();
        let t = *st.template(0, 0).unwrap();
        // 1500 = 40 + 8 + 8 + inner 1444.
        let mut b = VecBuf::new(&vec![2u8; 1444]);
        assert!(encapsulate(&mut b, &t, 100, 1500).is_ok());
        let mut b = VecBuf::new(&vec![2u8; 1445]);
        assert_eq!(
            encapsulate(&mut b, &t, 100, 1500),
            Err(DropReason::MtuExceeded)
        );
    }

    #[test]
    fn decap_takes_back_what_the_peer_sent() {
        let st = sample_state6();
        for (len, zero) in [(60, false), (1500, false), (14, false), (60, true)] {
            let p = from_peer(len, 200, zero);
            match classify_underlay(&p, &st).unwrap() {
                Underlay::Tunnel {
                    vni,
                    remote,
                    inner_off,
                    inner_len,
                    ..
                } => {
                    assert_eq!((vni, remote), (1, Some(0)));
                    assert_eq!(
                        crate::datapath::decap::outer_source(&p),
                        Some(PEER_IP6.into())
                    );
                    assert_eq!((inner_off, inner_len), (OUTER6_LEN, p.len() - OUTER6_LEN));
                }
                u => panic!("{u:?}"),
            }
        }
    }

    #[test]
    fn decap_names_what_is_wrong() {
        let mut st = sample_state6();
        let good = from_peer(60, 100, false);
        let with = |i: usize, v: u8| {
            let mut p = good.clone();
            p[i] = v;
            p
        };
        let cases: Vec<(Vec<u8>, DropReason)> = vec![
            // A flipped payload byte breaks the UDP checksum.
            (with(90, good[90] ^ 1), DropReason::UdpChecksum),
            (with(14, 0x50), DropReason::Ipv6Version),
            (with(18, 0x7f), DropReason::Ipv6Length),
            (with(20, 0), DropReason::Ipv6ExtHeader),
            (with(20, 44), DropReason::Ipv6ExtHeader),
            (with(20, 6), DropReason::UnderlayProto),
            (with(53, 0x99), DropReason::NotOurIp),
            (with(0, 0x04), DropReason::UnderlayNotOurMac),
            (with(57, 0x99), DropReason::UdpPort),
        ];
        for (p, want) in cases {
            assert_eq!(classify_underlay(&p, &st), Err(want), "{want:?}");
        }
        let stranger = Template::new6(
            OUR_MAC,
            PEER_MAC,
            "2001:db8:1::99".parse().unwrap(),
            OUR_IP6,
            Tunnel::vxlan(4789),
            64,
            false,
        );
        let mut b = VecBuf::new(&super::inner(1, 10));
        encapsulate(&mut b, &stranger, 100, 9000).unwrap();
        assert_eq!(
            classify_underlay(b.data(), &st),
            Err(DropReason::UnknownSource)
        );
        let zero = from_peer(60, 100, true);
        assert!(
            classify_underlay(&zero, &st).is_ok(),
            "zero accepted by default"
        );
        st.udp6_zero_rx = false;
        assert_eq!(
            classify_underlay(&zero, &st),
            Err(DropReason::Udp6ZeroChecksum)
        );
        // IPv4 VXLAN to an IPv6 VTEP is not for it.
        let v4 = crate::testing::peer_to_us();
        let mut b = VecBuf::new(&super::inner(1, 10));
        encapsulate(&mut b, &v4, 100, 9000).unwrap();
        assert_eq!(classify_underlay(b.data(), &st), Err(DropReason::NotOurIp));
    }

    #[test]
    fn neighbour_discovery_is_answered_and_teaches() {
        let st = sample_state6();
        // The peer asks for our address, to our solicited-node group.
        let ns = punt::neighbor_solicit(PEER_MAC, PEER_IP6, OUR_IP6);
        assert_eq!(classify_underlay(&ns, &st), Ok(Underlay::Icmp6));
        let mut b = VecBuf::new(&ns);
        let o = punt::handle(&mut b, OUR_IP6.into(), OUR_MAC);
        assert_eq!(o.sender, Some((PEER_IP6.into(), PEER_MAC)));
        assert_eq!(o.reply, Some(punt::Answer::NeighborAdvert));
        let na = o.frame.unwrap();
        assert_eq!(&na[..12], &[PEER_MAC, OUR_MAC].concat()[..]);
        let ip = Ipv6Packet::new_checked(&na[14..]).unwrap();
        assert_eq!(
            (ip.src(), ip.dst(), ip.hop_limit()),
            (OUR_IP6, PEER_IP6, 255)
        );
        assert!(icmpv6::checksum_ok(&ip));
        let nd = icmpv6::Nd::parse(ip.payload()).unwrap();
        assert_eq!(nd.target, OUR_IP6);
        assert_eq!(nd.lladdr, Some(OUR_MAC));
        assert_eq!(nd.flags, icmpv6::FLAG_SOLICITED | icmpv6::FLAG_OVERRIDE);
        // Its answer, seen by the peer as a VTEP of the same code, teaches us.
        let mut peer = sample_state6();
        peer.our_ip = PEER_IP6.into();
        peer.our_mac = PEER_MAC;
        assert_eq!(classify_underlay(&na, &peer), Ok(Underlay::Icmp6));
        let mut b = VecBuf::new(&na);
        let o = punt::handle(&mut b, PEER_IP6.into(), PEER_MAC);
        assert_eq!((o.sender, o.reply), (Some((OUR_IP6.into(), OUR_MAC)), None));
        // Neighbour discovery must come with hop limit 255 (RFC 4861 §7.1).
        let mut routed = ns.clone();
        routed[21] = 254;
        assert_eq!(classify_underlay(&routed, &st), Err(DropReason::NdInvalid));
        // A solicitation for someone else's group is not for us.
        let other = punt::neighbor_solicit(PEER_MAC, PEER_IP6, "2001:db8:1::77".parse().unwrap());
        assert_eq!(
            classify_underlay(&other, &st),
            Err(DropReason::UnderlayNotOurMac)
        );
        // The unsolicited advertisement at start goes to all nodes.
        let u = punt::unsolicited_advert(OUR_MAC, OUR_IP6);
        assert_eq!(&u[..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(classify_underlay(&u, &peer), Ok(Underlay::Icmp6));
    }

    #[test]
    fn ping6_is_answered() {
        let st = sample_state6();
        let echo = [128u8, 0, 0, 0, 0, 7, 0, 1, b'p', b'i', b'n', b'g'];
        let mut f = icmpv6::frame(OUR_MAC, PEER_MAC, PEER_IP6, OUR_IP6, 64, &echo);
        f.extend_from_slice(&[0; 4]); // padding
        assert_eq!(classify_underlay(&f, &st), Ok(Underlay::Icmp6));
        let mut b = VecBuf::new(&f);
        let o = punt::handle(&mut b, OUR_IP6.into(), OUR_MAC);
        assert_eq!(o.reply, Some(punt::Answer::EchoReply));
        assert!(o.frame.is_none(), "answered in place");
        let d = b.data();
        assert_eq!(d.len(), f.len() - 4, "padding trimmed");
        assert_eq!(&d[..12], &[PEER_MAC, OUR_MAC].concat()[..]);
        let ip = Ipv6Packet::new_checked(&d[14..]).unwrap();
        assert_eq!((ip.src(), ip.dst()), (OUR_IP6, PEER_IP6));
        assert!(icmpv6::checksum_ok(&ip));
        assert_eq!(ip.payload()[0], 129);
        assert_eq!(&ip.payload()[4..], &echo[4..]);
    }
}

/// With an exception path (`kernel_port`), what is addressed to the VTEP
/// but is not VXLAN goes to the kernel instead of a drop; ARP and ND stay
/// the management thread's (which copies them to the kernel); VXLAN and
/// frames for others are unchanged.
type Verdict = Result<Underlay, DropReason>;

#[test]
fn frames_for_the_vtep_go_to_the_kernel_when_it_has_one() {
    use crate::control::punt;
    use crate::testing::{sample_state6, OUR_IP6, PEER_IP6};
    use crate::wire::icmpv6;
    let mut st = state();
    let v4 = |proto: u8, dport: u16, dst: [u8; 4]| {
        let mut f = Vec::new();
        let b = PacketBuilder::ethernet2(PEER_MAC, OUR_MAC).ipv4(PEER_IP.octets(), dst, 64);
        match proto {
            17 => b.udp(40000, dport).write(&mut f, b"bfd").unwrap(),
            6 => b.tcp(40000, dport, 1, 1000).write(&mut f, b"bgp").unwrap(),
            _ => b.icmpv4_echo_request(1, 1).write(&mut f, b"ping").unwrap(),
        }
        f
    };
    let ours = OUR_IP.octets();
    let cases: Vec<(Vec<u8>, Verdict, Verdict)> = vec![
        (
            v4(6, 179, ours),
            Err(DropReason::UnderlayProto),
            Ok(Underlay::Kernel),
        ),
        (
            v4(17, 3784, ours),
            Err(DropReason::UdpPort),
            Ok(Underlay::Kernel),
        ),
        (v4(1, 0, ours), Ok(Underlay::Echo), Ok(Underlay::Kernel)),
        (
            v4(6, 179, [192, 0, 2, 9]),
            Err(DropReason::NotOurIp),
            Err(DropReason::NotOurIp),
        ),
        (
            punt::arp_request(PEER_MAC, PEER_IP, OUR_IP),
            Ok(Underlay::Arp),
            Ok(Underlay::Arp),
        ),
    ];
    for (f, without, with) in &cases {
        st.kernel = false;
        assert_eq!(&classify_underlay(f, &st), without);
        st.kernel = true;
        assert_eq!(&classify_underlay(f, &st), with);
    }
    let p = from_peer(100, &inner(9, 30));
    assert!(matches!(
        classify_underlay(&p, &st),
        Ok(Underlay::Tunnel { .. })
    ));

    let mut st6 = sample_state6();
    let v6 = |dst_mac: [u8; 6], dst: std::net::Ipv6Addr, next: u8| {
        let mut f = Vec::new();
        let b =
            PacketBuilder::ethernet2(PEER_MAC, dst_mac).ipv6(PEER_IP6.octets(), dst.octets(), 64);
        match next {
            6 => b.tcp(40000, 179, 1, 1000).write(&mut f, b"bgp").unwrap(),
            _ => b.udp(40000, 3784).write(&mut f, b"bfd").unwrap(),
        }
        f
    };
    let echo = [128u8, 0, 0, 0, 0, 1, 0, 1];
    let link_local: std::net::Ipv6Addr = "fe80::ff:fe00:101".parse().unwrap();
    let mld = [0x33, 0x33, 0, 0, 0, 0x16];
    let cases6: Vec<(Vec<u8>, Verdict, Verdict)> = vec![
        (
            v6(OUR_MAC, OUR_IP6, 6),
            Err(DropReason::UnderlayProto),
            Ok(Underlay::Kernel),
        ),
        (
            v6(OUR_MAC, OUR_IP6, 17),
            Err(DropReason::UdpPort),
            Ok(Underlay::Kernel),
        ),
        (
            icmpv6::frame(OUR_MAC, PEER_MAC, PEER_IP6, OUR_IP6, 64, &echo),
            Ok(Underlay::Icmp6),
            Ok(Underlay::Kernel),
        ),
        (
            punt::neighbor_solicit(PEER_MAC, PEER_IP6, OUR_IP6),
            Ok(Underlay::Icmp6),
            Ok(Underlay::Icmp6),
        ),
        (
            v6(OUR_MAC, link_local, 6),
            Err(DropReason::NotOurIp),
            Ok(Underlay::Kernel),
        ),
        (
            v6(mld, "ff02::16".parse().unwrap(), 17),
            Err(DropReason::UnderlayNotOurMac),
            Ok(Underlay::Kernel),
        ),
    ];
    for (f, without, with) in &cases6 {
        st6.kernel = false;
        assert_eq!(&classify_underlay(f, &st6), without, "{:02x?}", &f[..16]);
        st6.kernel = true;
        assert_eq!(&classify_underlay(f, &st6), with, "{:02x?}", &f[..16]);
    }
}

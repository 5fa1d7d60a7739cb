//! Every encapsulation on the wire and back, over IPv4 and IPv6: the
//! outer headers byte by byte as RFC 7348, RFC 8926 and RFC 7637 lay
//! them out, what decap makes of them, and each of their named drops.

use crate::datapath::buf::{PacketBuf, VecBuf};
use crate::datapath::decap::{classify_underlay, Underlay};
use crate::datapath::drops::DropReason;
use crate::datapath::state::State;
use crate::datapath::tunnel::{encapsulate, encapsulate_with, Outer, Tunnel};
use crate::testing::{peer_to_us_in, sample_state_tunnels};
use crate::wire::{checksum, csum_add, csum_fold, Ipv4Packet, Ipv6Packet};

const VXLAN: Tunnel = Tunnel::vxlan(4789);
const GENEVE: Tunnel = Tunnel::geneve(6081);
const NVGRE: Tunnel = Tunnel::nvgre(false);

/// A tenant frame of `n` bytes between two unicast MACs.
fn frame(n: usize) -> Vec<u8> {
    let mut f = vec![0u8; n];
    f[..6].copy_from_slice(&[2, 0, 0, 0, 0, 0xa]);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0xb]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    for (i, b) in f[14..].iter_mut().enumerate() {
        *b = i as u8;
    }
    f
}

/// `f` as the sample remote sends it in VNI `vni` through `tunnel`.
fn from_peer(v6: bool, tunnel: Tunnel, vni: u32, f: &[u8]) -> Vec<u8> {
    let mut b = VecBuf::new(f);
    encapsulate(&mut b, &peer_to_us_in(v6, tunnel), vni, 1500).expect("fits");
    b.data().to_vec()
}

fn state(v6: bool, tunnel: Tunnel) -> State {
    sample_state_tunnels(v6, &[tunnel], [0, 0])
}

/// The outer IP header's length (no options are sent).
fn ip_len(v6: bool) -> usize {
    if v6 {
        40
    } else {
        20
    }
}

/// The bytes after the outer IP header, as each RFC lays them out.
fn tunnel_bytes(tunnel: Tunnel, vni: u32, sport: u16, udp_len: usize) -> Vec<u8> {
    let v = vni.to_be_bytes();
    let udp = |dport: u16| {
        let mut u = sport.to_be_bytes().to_vec();
        u.extend_from_slice(&dport.to_be_bytes());
        u.extend_from_slice(&(udp_len as u16).to_be_bytes());
        // The checksum: zero here, a test fills in what it expects.
        u.extend_from_slice(&[0, 0]);
        u
    };
    match tunnel {
        // RFC 7348 §5: I flag, reserved, VNI, reserved.
        VXLAN => [udp(4789), vec![0x08, 0, 0, 0, v[1], v[2], v[3], 0]].concat(),
        // RFC 8926 §3.4: version 0, no options, no flags, Ethernet.
        GENEVE => [udp(6081), vec![0, 0, 0x65, 0x58, v[1], v[2], v[3], 0]].concat(),
        // RFC 7637 §3.2: K, version 0, Ethernet, VSID and FlowID 0.
        _ => vec![0x20, 0, 0x65, 0x58, v[1], v[2], v[3], 0],
    }
}

#[test]
fn each_encapsulation_is_written_as_its_rfc_says_and_read_back() {
    for v6 in [false, true] {
        for tunnel in [VXLAN, GENEVE, NVGRE] {
            let what = format!("{:?} v6 {v6}", tunnel.encap);
            let f = frame(100);
            let p = from_peer(v6, tunnel, 100, &f);
            let ip = 14 + ip_len(v6);
            let udp = tunnel.encap != crate::datapath::tunnel::Encap::Nvgre;
            let outer = ip + if udp { 16 } else { 8 };
            assert_eq!(p.len(), outer + f.len(), "{what}");
            assert_eq!(&p[outer..], &f[..], "{what}");
            // The IP header's protocol and lengths.
            let proto = if udp { 17 } else { 47 };
            if v6 {
                let h = Ipv6Packet::new_checked(&p[14..]).unwrap();
                assert_eq!(h.next_header(), proto, "{what}");
                assert_eq!(h.payload_len(), p.len() - ip, "{what}");
            } else {
                let h = Ipv4Packet::new_checked(&p[14..]).unwrap();
                assert_eq!(h.protocol(), proto, "{what}");
                assert!(h.checksum_ok(), "{what}");
            }
            let sport = u16::from_be_bytes([p[ip], p[ip + 1]]);
            let mut want = tunnel_bytes(tunnel, 100, sport, p.len() - ip);
            if udp {
                assert!(sport >= 49152, "{what}: source port {sport}");
                // Over IPv6 the UDP checksum is computed, over IPv4 zero.
                let c = u16::from_be_bytes([p[ip + 6], p[ip + 7]]);
                if v6 {
                    let h = Ipv6Packet::new_checked(&p[14..]).unwrap();
                    let sum = csum_add(h.pseudo_sum(h.payload_len(), 17), h.payload());
                    assert_eq!(csum_fold(sum), 0, "{what}: UDP checksum");
                    want.splice(6..8, c.to_be_bytes());
                } else {
                    assert_eq!(c, 0, "{what}");
                }
            }
            assert_eq!(&p[ip..outer], &want[..], "{what}");
            // Decap finds the VNI, the remote and the inner frame.
            assert_eq!(
                classify_underlay(&p, &state(v6, tunnel)),
                Ok(Underlay::Tunnel {
                    vni: 0,
                    remote: Some(0),
                    inner_off: outer,
                    inner_len: f.len(),
                    reserved_set: false,
                }),
                "{what}"
            );
        }
    }
}

#[test]
fn nvgre_puts_the_flow_hash_in_the_flow_id_only_when_asked() {
    for v6 in [false, true] {
        let key = |t: Tunnel| {
            let mut b = VecBuf::new(&frame(64));
            let o = Outer::new(0x12_3456, 0xabcd_ef5a, 1);
            encapsulate_with(&mut b, &peer_to_us_in(v6, t), 1500, o).unwrap();
            let at = 14 + ip_len(v6) + 4;
            b.data()[at..at + 4].to_vec()
        };
        assert_eq!(key(NVGRE), [0x12, 0x34, 0x56, 0], "v6 {v6}");
        assert_eq!(
            key(Tunnel::nvgre(true)),
            [0x12, 0x34, 0x56, 0x5a],
            "v6 {v6}"
        );
        // The FlowID does not choose the VNI on receipt.
        let mut p = from_peer(v6, NVGRE, 100, &frame(64));
        p[14 + ip_len(v6) + 7] = 0x77;
        assert!(matches!(
            classify_underlay(&p, &state(v6, NVGRE)),
            Ok(Underlay::Tunnel { vni: 0, .. })
        ));
    }
}

/// `p` (from [`from_peer`] over IPv4 in a UDP tunnel) with `opts` after
/// the Geneve header, lengths and checksum made right again.
fn with_geneve_options(p: &[u8], opts: &[u8]) -> Vec<u8> {
    let at = 14 + 20 + 8 + 8;
    let mut q = [&p[..at], opts, &p[at..]].concat();
    q[42] = (q[42] & 0xc0) | (opts.len() / 4) as u8;
    let ip_len = (q.len() - 14) as u16;
    q[16..18].copy_from_slice(&ip_len.to_be_bytes());
    q[38..40].copy_from_slice(&(ip_len - 20).to_be_bytes());
    q[24..26].copy_from_slice(&[0, 0]);
    let c = checksum(&q[14..34]);
    q[24..26].copy_from_slice(&c.to_be_bytes());
    q
}

#[test]
fn geneve_options_are_skipped_by_their_length() {
    let f = frame(80);
    let p = from_peer(false, GENEVE, 100, &f);
    // Two options (not critical) of one and zero data words.
    let opts = [0x01, 0x02, 0x03, 1, 9, 9, 9, 9, 0x01, 0x04, 0x05, 0];
    let q = with_geneve_options(&p, &opts);
    assert_eq!(
        classify_underlay(&q, &state(false, GENEVE)),
        Ok(Underlay::Tunnel {
            vni: 0,
            remote: Some(0),
            inner_off: 50 + opts.len(),
            inner_len: f.len(),
            reserved_set: false,
        })
    );
}

#[test]
fn each_geneve_and_nvgre_refusal_is_a_named_drop() {
    let g = from_peer(false, GENEVE, 100, &frame(80));
    let st = state(false, GENEVE);
    let set = |p: &[u8], at: usize, v: u8| {
        let mut q = p.to_vec();
        q[at] = v;
        q
    };
    // The Geneve header starts at 42.
    for (q, drop) in [
        (set(&g, 42, 0x40), DropReason::GeneveBadVersion),
        (set(&g, 43, 0x40), DropReason::GeneveCriticalOption),
        (set(&g, 43, 0x80), DropReason::GeneveOam),
        (set(&g, 44, 0x08), DropReason::GeneveBadProtocol),
        // Options announced past the packet.
        (set(&g, 42, 63), DropReason::GeneveTruncated),
    ] {
        assert_eq!(classify_underlay(&q, &st), Err(drop));
    }
    // An option marked critical comes with the C bit set.
    let crit = with_geneve_options(&g, &[0x01, 0x02, 0x83, 0]);
    assert_eq!(
        classify_underlay(&set(&crit, 43, 0x40), &st),
        Err(DropReason::GeneveCriticalOption)
    );

    // The GRE header starts at 34 (checksum fixed: these bytes are past
    // the IPv4 header).
    let n = from_peer(false, NVGRE, 100, &frame(80));
    let st = state(false, NVGRE);
    for (q, drop) in [
        (set(&n, 34, 0xa0), DropReason::NvgreFlags),
        (set(&n, 34, 0x60), DropReason::NvgreFlags),
        (set(&n, 34, 0x30), DropReason::NvgreFlags),
        (set(&n, 34, 0x00), DropReason::NvgreFlags),
        (set(&n, 35, 0x01), DropReason::NvgreVersion),
        (set(&n, 36, 0x08), DropReason::NvgreProtocol),
    ] {
        assert_eq!(classify_underlay(&q, &st), Err(drop));
    }
    // An inner 802.1Q tag (RFC 7637 §3.2).
    let mut tagged = frame(80);
    tagged[12..14].copy_from_slice(&[0x81, 0]);
    assert_eq!(
        classify_underlay(&from_peer(false, NVGRE, 100, &tagged), &st),
        Err(DropReason::InnerVlan)
    );
}

#[test]
fn a_packet_of_another_tunnel_than_its_vni_s_is_an_encap_mismatch() {
    // VNI 100 is VXLAN on 4789, 200 Geneve; 8472 carries VXLAN too.
    let tunnels = [VXLAN, GENEVE, Tunnel::vxlan(8472), NVGRE];
    for v6 in [false, true] {
        let st = sample_state_tunnels(v6, &tunnels, [0, 1]);
        let f = frame(80);
        for (t, vni, ok) in [
            (VXLAN, 100, true),
            (GENEVE, 200, true),
            (GENEVE, 100, false),
            (VXLAN, 200, false),
            (Tunnel::vxlan(8472), 100, false),
            (NVGRE, 100, false),
        ] {
            let r = classify_underlay(&from_peer(v6, t, vni, &f), &st);
            if ok {
                assert!(
                    matches!(r, Ok(Underlay::Tunnel { .. })),
                    "{t:?} {vni}: {r:?}"
                );
            } else {
                assert_eq!(r, Err(DropReason::EncapMismatch), "{t:?} {vni} v6 {v6}");
            }
        }
    }
}

#[test]
fn tunnels_no_vni_uses_are_not_taken() {
    // Only VXLAN: Geneve's port and GRE are not tunnels here.
    let st = state(false, VXLAN);
    let f = frame(80);
    assert_eq!(
        classify_underlay(&from_peer(false, GENEVE, 100, &f), &st),
        Err(DropReason::UdpPort)
    );
    assert_eq!(
        classify_underlay(&from_peer(false, NVGRE, 100, &f), &st),
        Err(DropReason::UnderlayProto)
    );
    // With an exception path, the kernel gets them.
    let mut k = st.clone();
    k.kernel = true;
    for t in [GENEVE, NVGRE] {
        assert_eq!(
            classify_underlay(&from_peer(false, t, 100, &f), &k),
            Ok(Underlay::Kernel)
        );
    }
}

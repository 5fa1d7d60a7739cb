//! Underlay side: check an arriving frame against RFC 7348 and this VTEP's
//! rules, in order — Ethernet, IPv4, UDP, VXLAN, source, inner frame — and
//! say what it is. Every failure is a named drop.

use std::net::Ipv4Addr;

use dpdk::RxCsum;

use crate::drops::DropReason;
use crate::fdb::VniIdx;
use crate::state::State;
use crate::wire::icmp::IcmpEcho;
use crate::wire::ipv4::Ipv4Error;
use crate::wire::{
    Arp, EthernetFrame, Ipv4Packet, UdpPacket, VxlanHeader, ETHERTYPE_ARP, ETHERTYPE_IPV4,
    ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_LEN, PROTO_ICMP, PROTO_UDP, UDP_LEN, VXLAN_LEN,
};

/// What an underlay frame is, once checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Underlay {
    /// VXLAN for us: the inner frame is `inner_off..inner_off + inner_len`.
    Vxlan {
        vni: VniIdx,
        src: Ipv4Addr,
        /// Index of the sending VTEP, if known.
        remote: Option<u32>,
        inner_off: usize,
        inner_len: usize,
        reserved_set: bool,
    },
    /// ARP for the VTEP address (request or reply): for the management thread.
    Arp,
    /// ICMP echo request to the VTEP address: for the management thread.
    Echo,
}

/// One-entry caches of the two per-packet table lookups of decap (VNI ->
/// index, source IP -> remote): consecutive packets mostly share both.
/// Valid for one published [`State`] (its generation is checked).
#[derive(Debug, Default, Clone, Copy)]
pub struct DecapCache {
    generation: u64,
    vni: Option<(u32, VniIdx)>,
    src: Option<(Ipv4Addr, Option<u32>)>,
}

/// Classifies an underlay frame.
#[inline(always)]
pub fn classify_underlay(d: &[u8], st: &State) -> Result<Underlay, DropReason> {
    classify_underlay_cached(d, RxCsum::Unknown, st, &mut DecapCache::default())
}

/// [`classify_underlay`] with lookups remembered across packets, and the
/// NIC's verdict on the IPv4 header checksum: `Good` skips the software
/// check, `Bad` drops as `ipv4_bad_checksum`.
#[inline(always)]
pub fn classify_underlay_cached(
    d: &[u8],
    csum: RxCsum,
    st: &State,
    cache: &mut DecapCache,
) -> Result<Underlay, DropReason> {
    if cache.generation != st.generation {
        *cache = DecapCache {
            generation: st.generation,
            ..DecapCache::default()
        };
    }
    let e = EthernetFrame::new_checked(d).ok_or(DropReason::UnderlayRunt)?;
    let to_us = e.dst() == st.our_mac;
    let et = e.ethertype();
    if et == ETHERTYPE_ARP {
        if !to_us && e.dst() != [0xff; 6] {
            return Err(DropReason::UnderlayNotOurMac);
        }
        let a = Arp::parse(e.payload()).ok_or(DropReason::ArpInvalid)?;
        if a.tpa != st.our_ip {
            return Err(DropReason::NotOurIp);
        }
        return Ok(Underlay::Arp);
    }
    if !to_us {
        return Err(DropReason::UnderlayNotOurMac);
    }
    if et != ETHERTYPE_IPV4 {
        return Err(DropReason::UnderlayEthertype);
    }
    let ip = Ipv4Packet::new_checked(e.payload()).map_err(|e| match e {
        Ipv4Error::Length => DropReason::Ipv4Length,
        Ipv4Error::Version => DropReason::Ipv4Version,
        Ipv4Error::Ihl => DropReason::Ipv4Ihl,
    })?;
    let csum_ok = match csum {
        RxCsum::Good => true,
        RxCsum::Bad => false,
        RxCsum::Unknown => ip.checksum_ok(),
    };
    if !csum_ok {
        return Err(DropReason::Ipv4Checksum);
    }
    if ip.is_fragment() {
        return Err(DropReason::Ipv4Fragment);
    }
    if ip.dst() != st.our_ip {
        return Err(DropReason::NotOurIp);
    }
    let src = ip.src();
    match ip.protocol() {
        PROTO_UDP => {}
        PROTO_ICMP => {
            return match IcmpEcho::new_request(ip.payload()) {
                Some(_) => Ok(Underlay::Echo),
                None => Err(DropReason::IcmpUnsupported),
            };
        }
        _ => return Err(DropReason::UnderlayProto),
    }
    let udp = UdpPacket::new_checked(ip.payload()).ok_or(DropReason::UdpLength)?;
    if udp.dst_port() != st.udp_port {
        return Err(DropReason::UdpPort);
    }
    let vx = VxlanHeader::new_checked(udp.payload()).ok_or(DropReason::VxlanTruncated)?;
    if !vx.i_flag() {
        return Err(DropReason::VxlanFlagI);
    }
    let reserved_set = vx.reserved_set();
    if reserved_set && st.strict_reserved {
        return Err(DropReason::VxlanReserved);
    }
    let vni = vx.vni();
    let vni = match cache.vni {
        Some((v, i)) if v == vni => i,
        _ => {
            let i = *st.vni_index.get(&vni).ok_or(DropReason::VniUnknown)?;
            cache.vni = Some((vni, i));
            i
        }
    };
    let remote = match cache.src {
        Some((ip, r)) if ip == src => r,
        _ => {
            let r = st.remote_index.get(&src).copied();
            cache.src = Some((src, r));
            r
        }
    };
    if remote.is_none() && !st.accept_unknown_sources {
        return Err(DropReason::UnknownSource);
    }
    let inner = EthernetFrame::new_checked(vx.payload()).ok_or(DropReason::InnerRunt)?;
    let iet = inner.ethertype();
    if iet == ETHERTYPE_VLAN || iet == ETHERTYPE_QINQ {
        return Err(DropReason::InnerVlan);
    }
    if inner.src_is_invalid() {
        return Err(DropReason::InnerSrcInvalid);
    }
    Ok(Underlay::Vxlan {
        vni,
        src,
        remote,
        inner_off: ETH_LEN + ip.header_len() + UDP_LEN + VXLAN_LEN,
        inner_len: inner.as_bytes().len(),
        reserved_set,
    })
}

//! Underlay side: check an arriving frame against RFC 7348 and this VTEP's
//! rules, in order — Ethernet, IPv4, UDP, VXLAN, source, inner frame — and
//! say what it is. Every failure is a named drop.

use std::net::Ipv4Addr;

use crate::drops::DropReason;
use crate::fdb::VniIdx;
use crate::state::State;
use crate::wire::{self, eth, ip, udp, Arp, ETH_LEN, IPV4_LEN, UDP_LEN, VXLAN_LEN};

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
    classify_underlay_cached(d, st, &mut DecapCache::default())
}

/// [`classify_underlay`] with lookups remembered across packets.
#[inline(always)]
pub fn classify_underlay_cached(
    d: &[u8],
    st: &State,
    cache: &mut DecapCache,
) -> Result<Underlay, DropReason> {
    if cache.generation != st.generation {
        *cache = DecapCache {
            generation: st.generation,
            ..DecapCache::default()
        };
    }
    if d.len() < ETH_LEN {
        return Err(DropReason::UnderlayRunt);
    }
    let to_us = d[eth::DST] == st.our_mac;
    let bcast = d[eth::DST] == [0xff; 6];
    let et = wire::be16(d, eth::TYPE);
    if et == wire::ETHERTYPE_ARP {
        if !to_us && !bcast {
            return Err(DropReason::UnderlayNotOurMac);
        }
        let a = Arp::parse(&d[ETH_LEN..]).ok_or(DropReason::ArpInvalid)?;
        if a.tpa != st.our_ip {
            return Err(DropReason::NotOurIp);
        }
        return Ok(Underlay::Arp);
    }
    if !to_us {
        return Err(DropReason::UnderlayNotOurMac);
    }
    if et != wire::ETHERTYPE_IPV4 {
        return Err(DropReason::UnderlayEthertype);
    }
    let l3 = &d[ETH_LEN..];
    if l3.len() < IPV4_LEN {
        return Err(DropReason::Ipv4Length);
    }
    if l3[ip::VER_IHL] >> 4 != 4 {
        return Err(DropReason::Ipv4Version);
    }
    let ihl = (l3[ip::VER_IHL] & 0x0f) as usize * 4;
    if ihl < IPV4_LEN || ihl > l3.len() {
        return Err(DropReason::Ipv4Ihl);
    }
    let total = wire::be16(l3, ip::TOTAL_LEN) as usize;
    if total < ihl || total > l3.len() {
        return Err(DropReason::Ipv4Length);
    }
    if wire::checksum(&l3[..ihl]) != 0 {
        return Err(DropReason::Ipv4Checksum);
    }
    if wire::be16(l3, ip::FRAG) & ip::MF_OFFSET_MASK != 0 {
        return Err(DropReason::Ipv4Fragment);
    }
    if wire::ipv4_at(l3, ip::DST) != st.our_ip {
        return Err(DropReason::NotOurIp);
    }
    let src = wire::ipv4_at(l3, ip::SRC);
    match l3[ip::PROTO] {
        wire::PROTO_UDP => {}
        wire::PROTO_ICMP => {
            // Echo request (type 8, code 0) with at least its 8-byte header.
            return if total >= ihl + 8 && l3[ihl] == 8 && l3[ihl + 1] == 0 {
                Ok(Underlay::Echo)
            } else {
                Err(DropReason::IcmpUnsupported)
            };
        }
        _ => return Err(DropReason::UnderlayProto),
    }
    let l4 = &l3[ihl..total];
    if l4.len() < UDP_LEN || wire::be16(l4, udp::LEN) as usize != l4.len() {
        return Err(DropReason::UdpLength);
    }
    if wire::be16(l4, udp::DPORT) != st.udp_port {
        return Err(DropReason::UdpPort);
    }
    let vx = &l4[UDP_LEN..];
    if vx.len() < VXLAN_LEN {
        return Err(DropReason::VxlanTruncated);
    }
    if vx[0] & wire::VXLAN_FLAG_I == 0 {
        return Err(DropReason::VxlanFlagI);
    }
    let reserved_set = vx[0] & !wire::VXLAN_FLAG_I != 0 || vx[1..4] != [0; 3] || vx[7] != 0;
    if reserved_set && st.strict_reserved {
        return Err(DropReason::VxlanReserved);
    }
    let vni = u32::from_be_bytes([0, vx[4], vx[5], vx[6]]);
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
    let inner = &vx[VXLAN_LEN..];
    if inner.len() < ETH_LEN {
        return Err(DropReason::InnerRunt);
    }
    let iet = wire::be16(inner, eth::TYPE);
    if iet == wire::ETHERTYPE_VLAN || iet == wire::ETHERTYPE_QINQ {
        return Err(DropReason::InnerVlan);
    }
    if inner[6] & 1 == 1 || inner[eth::SRC] == [0; 6] {
        return Err(DropReason::InnerSrcInvalid);
    }
    Ok(Underlay::Vxlan {
        vni,
        src,
        remote,
        inner_off: ETH_LEN + ihl + UDP_LEN + VXLAN_LEN,
        inner_len: inner.len(),
        reserved_set,
    })
}

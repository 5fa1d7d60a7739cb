//! Access side: classify a tenant frame to its VNI (stripping an 802.1Q
//! tag), and wrap it in the outer header of a remote VTEP.

use crate::buf::PacketBuf;
use crate::drops::DropReason;
use crate::fdb::VniIdx;
use crate::state::{AccessState, Template};
use crate::wire::{self, eth, ip, udp, ETH_LEN, IPV4_LEN, OUTER_LEN, UDP_LEN, VLAN_LEN};

/// Maps a frame from access port `port` to its VNI; strips a VLAN tag.
#[inline(always)]
pub fn classify_access<B: PacketBuf>(b: &mut B, port: &AccessState) -> Result<VniIdx, DropReason> {
    let d = b.data();
    if d.len() < ETH_LEN {
        return Err(DropReason::AccessRunt);
    }
    if d[6] & 1 == 1 || d[eth::SRC] == [0; 6] {
        return Err(DropReason::AccessSrcInvalid);
    }
    match wire::be16(d, eth::TYPE) {
        wire::ETHERTYPE_VLAN => {
            if d.len() < ETH_LEN + VLAN_LEN {
                return Err(DropReason::AccessRunt);
            }
            let inner = wire::be16(d, ETH_LEN + 2);
            if inner == wire::ETHERTYPE_VLAN || inner == wire::ETHERTYPE_QINQ {
                return Err(DropReason::AccessQinq);
            }
            let vid = wire::be16(d, ETH_LEN) & 0x0fff;
            // VID 0 is a priority tag: the frame belongs to the untagged VNI.
            let vni = if vid == 0 {
                port.untagged.ok_or(DropReason::AccessNoVni)?
            } else {
                port.vlans[vid as usize].ok_or(DropReason::AccessVlanUnmapped)?
            };
            strip_vlan(b);
            Ok(vni)
        }
        wire::ETHERTYPE_QINQ => Err(DropReason::AccessQinq),
        _ => port.untagged.ok_or(DropReason::AccessNoVni),
    }
}

/// Removes the 802.1Q tag after the MAC addresses.
#[inline(always)]
fn strip_vlan<B: PacketBuf>(b: &mut B) {
    b.data_mut().copy_within(0..12, VLAN_LEN);
    b.adj(VLAN_LEN);
}

/// Inserts an 802.1Q tag with `vid` after the MAC addresses.
#[inline(always)]
pub fn push_vlan<B: PacketBuf>(b: &mut B, vid: u16) -> Result<(), DropReason> {
    if b.len() < ETH_LEN {
        return Err(DropReason::InnerRunt);
    }
    b.prepend(VLAN_LEN).ok_or(DropReason::NoHeadroom)?;
    let d = b.data_mut();
    d.copy_within(VLAN_LEN..VLAN_LEN + 12, 0);
    wire::put16(d, 12, wire::ETHERTYPE_VLAN);
    wire::put16(d, 14, vid & 0x0fff);
    Ok(())
}

/// A hash of the inner flow: MACs and EtherType, plus IPv4 addresses,
/// protocol and TCP/UDP ports when present (RFC 7348 §5: source port).
#[inline(always)]
pub fn flow_hash(f: &[u8]) -> u32 {
    #[inline(always)]
    fn mix(h: u64, v: u64) -> u64 {
        (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
    }
    if f.len() < ETH_LEN {
        return 0;
    }
    let w = |a: usize| {
        u64::from_be_bytes([0, 0, f[a], f[a + 1], f[a + 2], f[a + 3], f[a + 4], f[a + 5]])
    };
    let mut h = mix(
        mix(0x51_7cc1_b727_220a, w(0)),
        w(6) ^ ((wire::be16(f, 12) as u64) << 48),
    );
    if wire::be16(f, 12) == wire::ETHERTYPE_IPV4 && f.len() >= ETH_LEN + IPV4_LEN {
        let l3 = &f[ETH_LEN..];
        let addrs = u64::from_be_bytes([
            l3[12], l3[13], l3[14], l3[15], l3[16], l3[17], l3[18], l3[19],
        ]);
        h = mix(h, addrs ^ l3[ip::PROTO] as u64);
        let ihl = (l3[0] & 0x0f) as usize * 4;
        let unfragmented = wire::be16(l3, ip::FRAG) & ip::MF_OFFSET_MASK == 0;
        if matches!(l3[ip::PROTO], 6 | 17) && unfragmented && ihl >= IPV4_LEN && l3.len() >= ihl + 4
        {
            h = mix(
                h,
                u32::from_be_bytes([l3[ihl], l3[ihl + 1], l3[ihl + 2], l3[ihl + 3]]) as u64,
            );
        }
    }
    (h ^ (h >> 32)) as u32
}

/// UDP source port for a flow hash: always in 49152..=65535.
#[inline(always)]
pub fn source_port(hash: u32) -> u16 {
    0xc000 | (hash as u16 & 0x3fff)
}

/// Outer IPv4 total length for an inner frame of `inner_len` bytes.
#[inline(always)]
pub fn outer_ip_len(inner_len: usize) -> usize {
    inner_len + OUTER_LEN - ETH_LEN
}

/// Prepends `t` with the lengths, checksum, source port and VNI patched.
/// Fails (buffer unchanged) if the outer IP packet would exceed `mtu`.
#[inline(always)]
pub fn encapsulate<B: PacketBuf>(
    b: &mut B,
    t: &Template,
    vni: u32,
    mtu: u16,
) -> Result<(), DropReason> {
    let sport = source_port(flow_hash(b.data()));
    encapsulate_with_port(b, t, vni, mtu, sport)
}

/// [`encapsulate`] with the UDP source port already known (the copies of a
/// flooded frame share the original's flow hash).
#[inline(always)]
pub fn encapsulate_with_port<B: PacketBuf>(
    b: &mut B,
    t: &Template,
    vni: u32,
    mtu: u16,
    sport: u16,
) -> Result<(), DropReason> {
    let inner = b.len();
    if outer_ip_len(inner) > mtu as usize {
        return Err(DropReason::MtuExceeded);
    }
    let h = b.prepend(OUTER_LEN).ok_or(DropReason::NoHeadroom)?;
    write_outer(h, t, vni, inner, sport);
    Ok(())
}

/// Writes the outer header for an inner frame of `inner_len` bytes into
/// `h` (OUTER_LEN bytes): the template, then lengths, checksum (from the
/// template's precomputed sum), source port and VNI.
#[inline(always)]
pub fn write_outer(h: &mut [u8], t: &Template, vni: u32, inner_len: usize, sport: u16) {
    let ip_len = outer_ip_len(inner_len);
    h.copy_from_slice(&t.bytes);
    let l3 = ETH_LEN;
    wire::put16(h, l3 + ip::TOTAL_LEN, ip_len as u16);
    wire::put16(h, l3 + ip::CSUM, wire::csum_fold(t.ip_sum + ip_len as u32));
    let l4 = l3 + IPV4_LEN;
    wire::put16(h, l4 + udp::SPORT, sport);
    wire::put16(h, l4 + udp::LEN, (ip_len - IPV4_LEN) as u16);
    let v = vni.to_be_bytes();
    h[l4 + UDP_LEN + 4..l4 + UDP_LEN + 7].copy_from_slice(&v[1..4]);
}

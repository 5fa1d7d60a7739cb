//! Access side: classify a tenant frame to its VNI (stripping an 802.1Q
//! tag), and wrap it in the outer header of a remote VTEP.

use crate::buf::PacketBuf;
use crate::drops::DropReason;
use crate::fdb::VniIdx;
use crate::state::{AccessState, Template};
use crate::wire::ethernet::{close_tag, open_tag};
use crate::wire::udp::ports_word;
use crate::wire::{
    csum_add, csum_fold, EthernetFrame, Ipv4Packet, Ipv6Packet, UdpPacket, VxlanHeader,
    ETHERTYPE_IPV4, ETHERTYPE_IPV6, ETHERTYPE_QINQ, ETHERTYPE_VLAN, ETH_LEN, IPV4_LEN, IPV6_LEN,
    OUTER_LEN, PROTO_TCP, PROTO_UDP, UDP_LEN, VLAN_LEN, VXLAN_LEN,
};

/// Maps a frame from access port `port` to its VNI; strips a VLAN tag.
#[inline(always)]
pub fn classify_access<B: PacketBuf>(b: &mut B, port: &AccessState) -> Result<VniIdx, DropReason> {
    let e = EthernetFrame::new_checked(b.data()).ok_or(DropReason::AccessRunt)?;
    if e.src_is_invalid() {
        return Err(DropReason::AccessSrcInvalid);
    }
    match e.ethertype() {
        ETHERTYPE_VLAN => {
            let (vid, inner) = e.vlan().ok_or(DropReason::AccessRunt)?;
            if inner == ETHERTYPE_VLAN || inner == ETHERTYPE_QINQ {
                return Err(DropReason::AccessQinq);
            }
            // VID 0 is a priority tag: the frame belongs to the untagged VNI.
            let vni = if vid == 0 {
                port.untagged.ok_or(DropReason::AccessNoVni)?
            } else {
                port.vlans[vid as usize].ok_or(DropReason::AccessVlanUnmapped)?
            };
            close_tag(b.data_mut());
            b.adj(VLAN_LEN);
            Ok(vni)
        }
        ETHERTYPE_QINQ => Err(DropReason::AccessQinq),
        _ => port.untagged.ok_or(DropReason::AccessNoVni),
    }
}

/// Inserts an 802.1Q tag with `vid` after the MAC addresses.
#[inline(always)]
pub fn push_vlan<B: PacketBuf>(b: &mut B, vid: u16) -> Result<(), DropReason> {
    if b.len() < ETH_LEN {
        return Err(DropReason::InnerRunt);
    }
    b.prepend(VLAN_LEN).ok_or(DropReason::NoHeadroom)?;
    open_tag(b.data_mut(), vid);
    Ok(())
}

/// A hash of the inner flow: MACs and EtherType, plus the IPv4 or IPv6
/// addresses, protocol and TCP/UDP ports when present (RFC 7348 §5:
/// source port). IPv6 extension headers end the walk at the addresses.
#[inline(always)]
pub fn flow_hash(f: &[u8]) -> u32 {
    match f.first_chunk::<12>() {
        Some(h) => {
            let (dst, src) = crate::wire::ethernet::mac_words(h);
            flow_hash_macs(f, dst, src)
        }
        None => flow_hash_steps(f),
    }
}

/// [`flow_hash`] of frame `f` whose MACs, as [`mac_words`] gives them,
/// are `dst` and `src`.
///
/// [`mac_words`]: crate::wire::ethernet::mac_words
#[inline(always)]
pub fn flow_hash_macs(f: &[u8], dst: u64, src: u64) -> u32 {
    // The common case, untagged IPv4 TCP or UDP with a 20-byte header and
    // not a fragment, from fixed places in the first 38 bytes; the same
    // value as the walk below (a property test holds them together).
    if let Some(h) = f.first_chunk::<38>() {
        let w = |a: usize| crate::wire::ethernet::word_at(h, a);
        // Bytes 12..20 and 20..28 as little-endian words (the swaps cancel
        // the loads' own): type, version and header length in the first's
        // low three bytes; fragment field and protocol in the second's
        // bytes 0-1 and 3.
        let (a, b) = (w(12).swap_bytes(), w(20).swap_bytes());
        let proto = (b >> 24) as u8;
        if a & 0xff_ffff == 0x45_0008
            && b & 0xff3f == 0
            && (proto == PROTO_TCP || proto == PROTO_UDP)
        {
            let mut x = dst ^ (src ^ ((ETHERTYPE_IPV4 as u64) << 48)).rotate_left(23);
            x ^= (w(26) ^ proto as u64).rotate_left(41);
            let ports = u32::from_be_bytes([h[34], h[35], h[36], h[37]]);
            x ^= (ports as u64).rotate_left(13);
            return finish_hash(x);
        }
    }
    flow_hash_steps(f)
}

/// One multiply spreads every input bit over the high half, which is kept.
#[inline(always)]
fn finish_hash(h: u64) -> u32 {
    let h = (h ^ (h >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 32) as u32
}

/// [`flow_hash`] for any frame, field by field.
#[inline(never)]
fn flow_hash_steps(f: &[u8]) -> u32 {
    let Some(e) = EthernetFrame::new_checked(f) else {
        return 0;
    };
    let et = e.ethertype();
    let (dst, src) = e.addr_words();
    // The fields are folded into one word at distinct rotations, then one
    // multiply spreads every input bit over the high half, which is what
    // is kept. (Was: a multiply-rotate per field, four or five chained.)
    let mut h = dst ^ (src ^ ((et as u64) << 48)).rotate_left(23);
    let p = e.payload();
    let l4 = if et == ETHERTYPE_IPV4 && p.len() >= IPV4_LEN {
        // Read the fixed fields only: a truncated tenant packet still hashes.
        let ip = Ipv4Packet::new_unchecked(p);
        h ^= (ip.addr_word() ^ ip.protocol() as u64).rotate_left(41);
        let ihl = ip.header_len();
        (matches!(ip.protocol(), PROTO_TCP | PROTO_UDP) && !ip.is_fragment() && ihl >= IPV4_LEN)
            .then(|| p.get(ihl..))
            .flatten()
    } else if et == ETHERTYPE_IPV6 && p.len() >= IPV6_LEN {
        let w = |o: usize| {
            u64::from_be_bytes([
                p[o],
                p[o + 1],
                p[o + 2],
                p[o + 3],
                p[o + 4],
                p[o + 5],
                p[o + 6],
                p[o + 7],
            ])
        };
        let next = p[6];
        h ^= (w(8) ^ w(16).rotate_left(17)).rotate_left(41)
            ^ (w(24) ^ w(32).rotate_left(17) ^ next as u64).rotate_left(7);
        matches!(next, PROTO_TCP | PROTO_UDP).then(|| &p[IPV6_LEN..])
    } else {
        None
    };
    if let Some(ports) = l4.and_then(ports_word) {
        h ^= (ports as u64).rotate_left(13);
    }
    finish_hash(h)
}

/// UDP source port for a flow hash: always in 49152..=65535.
#[inline(always)]
pub fn source_port(hash: u32) -> u16 {
    0xc000 | (hash as u16 & 0x3fff)
}

/// The IPv6 flow label for a flow hash (RFC 6438): its top 20 bits,
/// never 0 (which would mean "no label").
#[inline(always)]
pub fn flow_label(hash: u32) -> u32 {
    (hash >> 12).max(1)
}

/// Outer IPv4 total length for an inner frame of `inner_len` bytes.
#[inline(always)]
pub fn outer_ip_len(inner_len: usize) -> usize {
    inner_len + OUTER_LEN - ETH_LEN
}

/// The per-packet fields of an outer header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outer {
    pub vni: u32,
    /// UDP source port (the inner flow's entropy).
    pub sport: u16,
    /// IPv4 identification: RFC 6864 wants it unique per source,
    /// destination and protocol while fragments may exist (DF clear);
    /// each worker counts its own (see [`IpIds`]).
    pub ip_id: u16,
    /// The inner flow's hash: the IPv6 flow label is taken from it.
    pub hash: u32,
}

impl Outer {
    /// The fields for a frame of flow hash `hash` in `vni`.
    #[inline(always)]
    pub fn new(vni: u32, hash: u32, ip_id: u16) -> Outer {
        Outer {
            vni,
            sport: source_port(hash),
            ip_id,
            hash,
        }
    }
}

/// What the UDP checksum of an outer header from `t` needs of the inner
/// frame `f`: its sum over IPv6 with checksums on, else nothing.
#[inline(always)]
pub fn inner_sum(t: &Template, f: &[u8]) -> u32 {
    if t.v6 && !t.zero_csum {
        csum_add(0, f)
    } else {
        0
    }
}

/// A worker's IPv4 identification counter. Workers start a quarter of the
/// space apart so that two of them sending to one remote do not repeat
/// each other's recent values.
#[derive(Debug, Clone, Copy, Default)]
pub struct IpIds(pub(crate) u16);

impl IpIds {
    pub fn for_worker(w: usize) -> IpIds {
        IpIds((w as u16).wrapping_mul(0x4000))
    }

    #[inline(always)]
    pub fn take(&mut self) -> u16 {
        self.0 = self.0.wrapping_add(1);
        self.0
    }
}

/// Prepends `t` with the lengths, checksum, source port (from the frame's
/// flow hash) and VNI patched, identification 0. Fails (buffer unchanged)
/// if the outer IP packet would exceed `mtu`.
#[inline(always)]
pub fn encapsulate<B: PacketBuf>(
    b: &mut B,
    t: &Template,
    vni: u32,
    mtu: u16,
) -> Result<(), DropReason> {
    let o = Outer::new(vni, flow_hash(b.data()), 0);
    encapsulate_with(b, t, mtu, o)
}

/// [`encapsulate`] with the per-packet fields given (the copies of a
/// flooded frame share the original's flow hash). IPv4 keeps its own
/// straight path with constant lengths; IPv6 branches off once.
#[inline(always)]
pub fn encapsulate_with<B: PacketBuf>(
    b: &mut B,
    t: &Template,
    mtu: u16,
    o: Outer,
) -> Result<(), DropReason> {
    if t.v6 {
        return encapsulate6(b, t, mtu, o);
    }
    let inner = b.len();
    if outer_ip_len(inner) > mtu as usize {
        return Err(DropReason::MtuExceeded);
    }
    let h = b
        .prepend(OUTER_LEN)
        .and_then(|h| h.first_chunk_mut::<OUTER_LEN>())
        .ok_or(DropReason::NoHeadroom)?;
    write_outer(h, t, inner, o);
    Ok(())
}

/// [`encapsulate_with`] over IPv6.
#[inline(never)]
fn encapsulate6<B: PacketBuf>(
    b: &mut B,
    t: &Template,
    mtu: u16,
    o: Outer,
) -> Result<(), DropReason> {
    let inner = b.len();
    if t.ip_len(inner) > mtu as usize {
        return Err(DropReason::MtuExceeded);
    }
    let isum = inner_sum(t, b.data());
    let h = b.prepend(t.len).ok_or(DropReason::NoHeadroom)?;
    write_outer6(h, t, inner, o, isum);
    Ok(())
}

/// Writes the outer IPv4 header for an inner frame of `inner_len` bytes
/// into `h`: the template, then lengths, identification, checksum (from
/// the template's precomputed sum), source port and VNI. Fixed offsets
/// into a fixed-size header, fields that sit together stored together:
/// no bounds checks and six stores after the copy (this runs once per
/// encapsulated packet). ([`write_outer6`] for IPv6 templates.)
#[inline(always)]
pub fn write_outer(h: &mut [u8; OUTER_LEN], t: &Template, inner_len: usize, o: Outer) {
    const IP: usize = ETH_LEN;
    const UDP: usize = ETH_LEN + IPV4_LEN;
    const VX: usize = UDP + UDP_LEN;
    let ip_len = outer_ip_len(inner_len) as u16;
    let csum = crate::wire::csum_fold(t.ip_sum + ip_len as u32 + o.ip_id as u32);
    if let Some(b) = t.bytes.first_chunk::<OUTER_LEN>() {
        *h = *b;
    }
    // Total length and identification are adjacent (bytes 2..6 of IPv4).
    let len_id = (ip_len as u32) << 16 | o.ip_id as u32;
    h[IP + 2..IP + 6].copy_from_slice(&len_id.to_be_bytes());
    h[IP + 10..IP + 12].copy_from_slice(&csum.to_be_bytes());
    h[UDP..UDP + 2].copy_from_slice(&o.sport.to_be_bytes());
    h[UDP + 4..UDP + 6].copy_from_slice(&(ip_len - IPV4_LEN as u16).to_be_bytes());
    // VNI (24 bits) and the reserved byte after it (zero).
    h[VX + 4..VX + 8].copy_from_slice(&(o.vni << 8).to_be_bytes());
}

/// [`write_outer`] over IPv6 (`h` is OUTER6_LEN bytes): payload and UDP
/// lengths, flow label, source port, VNI, and the UDP checksum
/// (mandatory over IPv6, RFC 8200 §8.1) from the template's constant sum,
/// the per-packet words and the inner frame's sum `isum` ([`inner_sum`]);
/// zero if the template says so (RFC 6935).
#[inline(always)]
pub fn write_outer6(h: &mut [u8], t: &Template, inner_len: usize, o: Outer, isum: u32) {
    let udp_len = inner_len + UDP_LEN + VXLAN_LEN;
    h.copy_from_slice(&t.bytes);
    let (_, rest) = h.split_at_mut(ETH_LEN);
    let (l3, rest) = rest.split_at_mut(IPV6_LEN);
    let (l4, vx) = rest.split_at_mut(UDP_LEN);
    let mut ip = Ipv6Packet::new_unchecked(l3);
    ip.set_payload_len(udp_len as u16);
    ip.set_flow_label(flow_label(o.hash));
    VxlanHeader::new_unchecked(vx).set_vni(o.vni);
    let mut udp = UdpPacket::new_unchecked(l4);
    udp.set_src_port(o.sport);
    udp.set_len(udp_len as u16);
    if !t.zero_csum {
        // Length twice (pseudo-header and UDP header), the source port,
        // the VNI's two words, the inner frame.
        let s = t.ip_sum
            + 2 * udp_len as u32
            + o.sport as u32
            + (o.vni >> 8)
            + ((o.vni & 0xff) << 8)
            + isum;
        // A computed 0 is sent as all ones (RFC 768).
        let c = csum_fold(s);
        udp.set_checksum(if c == 0 { 0xffff } else { c });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]
        /// The fixed-place hash of common frames is the walk's value, for
        /// IPv4 TCP/UDP frames with any fields and lengths, mangled or not.
        #[test]
        fn fast_flow_hash_is_the_walk(
            mut f in prop::collection::vec(any::<u8>(), 0..80),
            proto in prop::sample::select(vec![PROTO_TCP, PROTO_UDP, 1u8]),
            frag in prop::sample::select(vec![0u16, 0x4000, 0x2000, 0x0001]),
            ipv4 in any::<bool>(),
            ihl5 in any::<bool>(),
        ) {
            if f.len() >= 24 && ipv4 {
                f[12] = 0x08;
                f[13] = 0x00;
                if ihl5 {
                    f[14] = 0x45;
                }
                f[20..22].copy_from_slice(&frag.to_be_bytes());
                f[23] = proto;
            }
            prop_assert_eq!(flow_hash(&f), flow_hash_steps(&f));
        }
    }
}

//! The inner flow's hash: the entropy of the outer header (UDP source
//! port, IPv6 flow label), so that the underlay spreads a VTEP pair's
//! flows over its paths and keeps each flow on one.

use crate::wire::udp::ports_word;
use crate::wire::{
    EthernetFrame, Ipv4Packet, ETHERTYPE_IPV4, ETHERTYPE_IPV6, IPV4_LEN, IPV6_LEN, PROTO_TCP,
    PROTO_UDP,
};

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

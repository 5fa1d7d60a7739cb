//! NVGRE (RFC 7637) as a tunnel: GRE straight on IP (protocol 47, no
//! UDP) with only the K bit, version 0, protocol Ethernet and the key
//! VSID << 8 | FlowID. The FlowID is 0, or with `flow_id` 8 bits of the
//! inner flow hash for fabrics that hash on it. On receipt the FlowID is
//! ignored when finding the VSID; C, R or S set, K clear, another version
//! or another protocol is a named drop.

use crate::datapath::drops::DropReason;
use crate::wire::gre::{self, GreHeader, FLAG_K, PROTO_ETHERNET};
use crate::wire::{Ipv6Packet, ETH_LEN, IPV4_LEN, IPV6_LEN, NVGRE_LEN};

use super::outer::{flow_label, Outer, Template};

const IP4: usize = ETH_LEN;
/// The GRE header after IPv4 without options.
const GRE4: usize = IP4 + IPV4_LEN;
/// Outer Ethernet + IPv4 + GRE with a key.
pub const OUTER4_LEN: usize = GRE4 + NVGRE_LEN;
/// Outer Ethernet + IPv6 + GRE with a key.
pub const OUTER6_LEN: usize = ETH_LEN + IPV6_LEN + NVGRE_LEN;
const _: () = assert!(OUTER6_LEN <= super::outer::MAX_OUTER_LEN);

/// Writes the GRE header (key 0) at the start of `l4`; returns its length.
pub(super) fn init(l4: &mut [u8]) -> usize {
    GreHeader::new_unchecked(&mut l4[..NVGRE_LEN]).init_nvgre(0, 0);
    NVGRE_LEN
}

/// The key of a packet of `o` from template `t`.
#[inline(always)]
fn key(t: &Template, o: Outer) -> [u8; 4] {
    let flow = if t.flow_id { o.hash as u8 } else { 0 };
    (o.vni << 8 | flow as u32).to_be_bytes()
}

/// Writes the outer IPv4 header for an inner frame of `inner_len` bytes
/// into `h`: the template with IP length, identification and checksum
/// ([`Template::write_ip4`]), then the key.
#[inline(always)]
pub fn write4(h: &mut [u8; OUTER4_LEN], t: &Template, inner_len: usize, o: Outer) {
    const KEY: usize = GRE4 + gre::field::KEY;
    t.write_ip4(h, inner_len, o.ip_id);
    h[KEY..KEY + 4].copy_from_slice(&key(t, o));
}

/// [`write4`] over IPv6: payload length, flow label and key. GRE has
/// no checksum here (C clear).
#[inline(always)]
pub fn write6(h: &mut [u8; OUTER6_LEN], t: &Template, inner_len: usize, o: Outer) {
    const IP6: usize = ETH_LEN;
    const KEY: usize = IP6 + IPV6_LEN + gre::field::KEY;
    if let Some(b) = t.bytes.first_chunk::<OUTER6_LEN>() {
        *h = *b;
    }
    let mut ip = Ipv6Packet::new_unchecked(&mut h[IP6..IP6 + IPV6_LEN]);
    ip.set_payload_len((inner_len + NVGRE_LEN) as u16);
    ip.set_flow_label(flow_label(o.hash));
    h[KEY..KEY + 4].copy_from_slice(&key(t, o));
}

/// The GRE header `h` as the fast path takes it: exactly K, version 0,
/// Ethernet; its VSID. None for anything else (the step-by-step
/// [`parse`] then names the drop).
#[inline(always)]
pub fn fast_header(h: &[u8; NVGRE_LEN]) -> Option<u32> {
    use gre::field::{FLAGS, KEY, PROTOCOL, VER};
    if h[FLAGS] != FLAG_K
        || h[VER] != 0
        || u16::from_be_bytes([h[PROTOCOL], h[PROTOCOL + 1]]) != PROTO_ETHERNET
    {
        return None;
    }
    Some(u32::from_be_bytes([0, h[KEY], h[KEY + 1], h[KEY + 2]]))
}

/// The NVGRE header at the start of IP payload `g`, every check a named
/// drop: (VSID, the inner frame).
#[inline(always)]
pub fn parse(g: &[u8]) -> Result<(u32, &[u8]), DropReason> {
    let h = GreHeader::new_checked(g).ok_or(DropReason::NvgreTruncated)?;
    if h.flags() & (gre::FLAG_C | gre::FLAG_R | gre::FLAG_S | FLAG_K) != FLAG_K {
        return Err(DropReason::NvgreFlags);
    }
    if h.version() != 0 {
        return Err(DropReason::NvgreVersion);
    }
    if h.protocol() != PROTO_ETHERNET {
        return Err(DropReason::NvgreProtocol);
    }
    let vsid = h.vsid().ok_or(DropReason::NvgreTruncated)?;
    Ok((vsid, &g[NVGRE_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_check_names_its_drop_and_the_fast_check_agrees() {
        let ok = [0x20u8, 0, 0x65, 0x58, 0x12, 0x34, 0x56, 0x9a, 0xee];
        // The FlowID is not part of the VSID.
        assert_eq!(parse(&ok), Ok((0x12_3456, &ok[8..])));
        assert_eq!(fast_header(ok.first_chunk().unwrap()), Some(0x12_3456));
        let cases: [(usize, u8, DropReason); 7] = [
            (0, 0x20 | gre::FLAG_C, DropReason::NvgreFlags),
            (0, 0x20 | gre::FLAG_R, DropReason::NvgreFlags),
            (0, 0x20 | gre::FLAG_S, DropReason::NvgreFlags),
            (0, 0, DropReason::NvgreFlags),
            (1, 1, DropReason::NvgreVersion),
            (2, 0x08, DropReason::NvgreProtocol),
            (3, 0x59, DropReason::NvgreProtocol),
        ];
        for (at, v, drop) in cases {
            let mut h = ok;
            h[at] = v;
            assert_eq!(parse(&h), Err(drop), "byte {at} = {v:#x}");
            assert_eq!(fast_header(h.first_chunk().unwrap()), None, "byte {at}");
        }
        assert_eq!(parse(&ok[..7]), Err(DropReason::NvgreTruncated));
        assert_eq!(parse(&ok[..3]), Err(DropReason::NvgreTruncated));
    }

    #[test]
    fn the_template_header_is_k_only_ethernet() {
        let mut g = [0xffu8; NVGRE_LEN];
        assert_eq!(init(&mut g), NVGRE_LEN);
        assert_eq!(g, [0x20, 0, 0x65, 0x58, 0, 0, 0, 0]);
    }
}

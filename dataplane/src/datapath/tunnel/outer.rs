//! The shapes of an outer header: which encapsulation, the template built
//! once per remote and tunnel, and the fields patched per packet. Data
//! only: the tunnel modules write them, [`super`] builds them.

use crate::wire::{csum_fold, ipv4, ETH_LEN, IPV4_LEN, IPV6_LEN, UDP_LEN, VXLAN_LEN};

/// The largest outer header of any tunnel: VXLAN over IPv6 (each tunnel
/// module asserts that its own fit).
pub const MAX_OUTER_LEN: usize = ETH_LEN + IPV6_LEN + UDP_LEN + VXLAN_LEN;

/// An encapsulation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encap {
    /// RFC 7348, over UDP.
    Vxlan,
    /// RFC 8926, over UDP; sent without options.
    Geneve,
    /// RFC 7637: GRE with a key, straight on IP.
    Nvgre,
}

impl Encap {
    /// The name used in config, stats and logs.
    pub fn name(self) -> &'static str {
        match self {
            Encap::Vxlan => "vxlan",
            Encap::Geneve => "geneve",
            Encap::Nvgre => "nvgre",
        }
    }

    /// The outer IP protocol.
    pub(super) fn ip_proto(self) -> u8 {
        match self {
            Encap::Vxlan | Encap::Geneve => crate::wire::PROTO_UDP,
            Encap::Nvgre => crate::wire::PROTO_GRE,
        }
    }
}

/// The outer headers (Ethernet, IPv4 or IPv6, the tunnel's) towards one
/// remote through one tunnel, built once; per packet only lengths,
/// checksums, source port, flow label and VNI are patched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Template {
    /// The header: the first [`Template::len`] bytes.
    pub bytes: [u8; MAX_OUTER_LEN],
    pub len: usize,
    pub encap: Encap,
    /// IPv4: ones'-complement sum of the IPv4 header with length and
    /// checksum 0. IPv6: sum of the UDP checksum's constant words (the
    /// pseudo-header's addresses and next header, the tunnel's constant
    /// header words).
    pub ip_sum: u32,
    pub v6: bool,
    /// IPv6: send a zero UDP checksum (RFC 6935) instead of computing it.
    pub zero_csum: bool,
    /// IPv6: the NIC computes the UDP checksum; the header carries the
    /// pseudo-header's sum ([`Template::pseudo`]) and the inner frame is
    /// not summed.
    pub csum_offload: bool,
    /// IPv6: the sum of the pseudo-header's addresses and next header.
    pub pseudo: u32,
    /// NVGRE: 8 bits of the flow hash in the key's FlowID.
    pub flow_id: bool,
}

impl Template {
    /// Copies this IPv4 template (`N` bytes: Ethernet, IPv4 without
    /// options, the tunnel's headers) into `h` and writes the IP total
    /// length, identification and checksum for an inner frame of `inner`
    /// bytes; gives the IP packet's length. Each tunnel's writer then
    /// patches its own fields. Fixed offsets into a fixed-size header:
    /// no bounds checks (this runs once per encapsulated packet).
    #[inline(always)]
    pub(super) fn write_ip4<const N: usize>(
        &self,
        h: &mut [u8; N],
        inner: usize,
        ip_id: u16,
    ) -> u16 {
        const LEN_ID: usize = ETH_LEN + ipv4::field::TOTAL_LEN;
        const CSUM: usize = ETH_LEN + ipv4::field::CSUM;
        // Total length and identification are adjacent.
        const _: () = assert!(ipv4::field::IDENT == ipv4::field::TOTAL_LEN + 2);
        const { assert!(N >= ETH_LEN + IPV4_LEN && N <= MAX_OUTER_LEN) };
        let ip_len = (inner + N - ETH_LEN) as u16;
        let csum = csum_fold(self.ip_sum + ip_len as u32 + ip_id as u32);
        if let Some(b) = self.bytes.first_chunk::<N>() {
            *h = *b;
        }
        let len_id = (ip_len as u32) << 16 | ip_id as u32;
        h[LEN_ID..LEN_ID + 4].copy_from_slice(&len_id.to_be_bytes());
        h[CSUM..CSUM + 2].copy_from_slice(&csum.to_be_bytes());
        ip_len
    }

    /// The outer IP packet's length for an inner frame of `inner` bytes.
    #[inline(always)]
    pub fn ip_len(&self, inner: usize) -> usize {
        inner + self.len - ETH_LEN
    }
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

/// UDP source port for a flow hash: always in 49152..=65535 (RFC 7348
/// §5).
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

//! Every way a packet can die, in one place, each with its counter name
//! and what it means (the drop table of `docs/counters.md`).

macro_rules! drop_reasons {
    ($($v:ident => $name:literal, $help:literal,)*) => {
        /// A named drop reason; `as usize` indexes the counters.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum DropReason { $($v,)* }

        impl DropReason {
            pub const ALL: &'static [DropReason] = &[$(DropReason::$v,)*];
            pub const COUNT: usize = Self::ALL.len();

            pub const fn name(self) -> &'static str {
                match self { $(DropReason::$v => $name,)* }
            }

            /// What a packet dropped for this reason was.
            pub const fn help(self) -> &'static str {
                match self { $(DropReason::$v => $help,)* }
            }
        }
    };
}

drop_reasons! {
    AccessRunt => "access_runt", "a frame from an access port shorter than an Ethernet header",
    AccessSrcInvalid => "access_src_invalid", "a frame from an access port with a multicast or zero source MAC",
    AccessNoVni => "access_untagged_no_vni", "an untagged frame on an access port whose untagged traffic maps to no VNI",
    AccessVlanUnmapped => "access_vlan_unmapped", "a tagged frame whose VLAN maps to no VNI on its port",
    AccessQinq => "access_qinq", "a frame with two VLAN tags (QinQ) from an access port",
    AccessSamePort => "access_same_port", "a frame whose destination MAC lives on the port it came from",
    MultiSegment => "multi_segment", "a received packet in several mbufs",
    MtuExceeded => "mtu_exceeded", "a packet that would exceed the underlay or access MTU once sent",
    NoHeadroom => "no_headroom", "no room before the frame for the headers to add",
    NeighborUnresolved => "neighbor_unresolved", "the underlay next hop's MAC is not known yet",
    NoFloodTargets => "no_flood_targets", "a broadcast or unknown frame of a VNI with no other port and no flood list",
    UnderlayRunt => "underlay_runt", "an underlay packet shorter than its headers",
    UnderlayNotOurMac => "underlay_not_our_mac", "an underlay frame to another unicast MAC",
    UnderlayEthertype => "underlay_ethertype", "an underlay frame of an EtherType the underlay does not use",
    Ipv4Version => "ipv4_bad_version", "an IPv4 header whose version is not 4",
    Ipv4Ihl => "ipv4_bad_ihl", "an IPv4 header length below 20 bytes or past the packet",
    Ipv4Length => "ipv4_bad_length", "an IPv4 total length that disagrees with the packet",
    Ipv4Checksum => "ipv4_bad_checksum", "an IPv4 header checksum that is wrong",
    Ipv4Fragment => "ipv4_fragment", "an IPv4 fragment (VXLAN is not reassembled)",
    Ipv6Version => "ipv6_bad_version", "an IPv6 header whose version is not 6",
    Ipv6Length => "ipv6_bad_length", "an IPv6 payload length that disagrees with the packet",
    Ipv6ExtHeader => "ipv6_extension_header", "an IPv6 packet with extension headers",
    NotOurIp => "underlay_not_our_ip", "an underlay packet to another IP address",
    UnderlayProto => "underlay_protocol", "an IP protocol the VTEP does not serve (without kernel_port)",
    UdpLength => "udp_bad_length", "a UDP length that disagrees with the packet",
    UdpPort => "udp_not_vxlan_port", "UDP to the VTEP on a port no tunnel of a VNI listens on (without kernel_port)",
    UdpChecksum => "udp_bad_checksum", "a non-zero UDP checksum that is wrong",
    Udp6ZeroChecksum => "udp6_zero_checksum", "a zero UDP checksum over IPv6 where zero is not allowed",
    VxlanTruncated => "vxlan_truncated", "a VXLAN header cut short",
    VxlanFlagI => "vxlan_i_flag_clear", "a VXLAN header without the I flag",
    VxlanReserved => "vxlan_reserved_bits", "a VXLAN header with reserved bits set, where they are refused",
    GeneveTruncated => "geneve_truncated", "a Geneve header, or the options it announces, cut short",
    GeneveBadVersion => "geneve_bad_version", "a Geneve header of a version other than 0",
    GeneveCriticalOption => "geneve_critical_option", "a Geneve packet with a critical option (C bit), which this VTEP does not process",
    GeneveOam => "geneve_oam", "a Geneve control message (O bit)",
    GeneveBadProtocol => "geneve_bad_protocol", "a Geneve packet carrying another protocol than Ethernet",
    NvgreTruncated => "nvgre_truncated", "a GRE header cut short",
    NvgreFlags => "nvgre_bad_flags", "a GRE header with C, R or S set, or without a key (K)",
    NvgreVersion => "nvgre_bad_version", "a GRE header of a version other than 0",
    NvgreProtocol => "nvgre_bad_protocol", "a GRE packet carrying another protocol than Ethernet",
    EncapMismatch => "encap_mismatch", "a packet of one tunnel for a VNI configured with another (encapsulation or UDP port)",
    VniUnknown => "vni_unknown", "a VNI this VTEP does not serve",
    UnknownSource => "unknown_source_vtep", "a source VTEP that is neither configured nor accepted",
    InnerRunt => "inner_runt", "an inner frame shorter than an Ethernet header",
    InnerVlan => "inner_vlan_tagged", "an inner frame with a VLAN tag",
    InnerSrcInvalid => "inner_src_invalid", "an inner frame with a multicast or zero source MAC",
    ArpInvalid => "arp_invalid", "an underlay ARP packet that does not parse",
    IcmpUnsupported => "icmp_unsupported", "ICMP to the VTEP other than an echo request",
    NdInvalid => "nd_invalid", "an IPv6 neighbour solicitation or advertisement that fails its checks",
    PuntQueueFull => "punt_queue_full", "a packet for the management thread whose queue was full",
    TxQueueFull => "tx_queue_full", "a packet the port's transmit queue did not take",
    PortDown => "port_down", "a packet for a port whose link is down",
    NoAccessPort => "no_access_port", "a frame for a local port that does not carry its VNI",
    Policed => "policed", "a frame over its VNI's rate_mbps",
    StormControl => "storm_control", "a broadcast, multicast or unknown frame over its VNI's flood_pps",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_snake_case() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|d| d.name()).collect();
        assert!(names.iter().all(|n| n
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c.is_ascii_digit())));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
        assert_eq!(
            DropReason::ALL[DropReason::TxQueueFull as usize],
            DropReason::TxQueueFull
        );
    }

    /// `docs/counters.md` lists every reason with what it means.
    #[test]
    fn the_drop_reference_is_the_list() {
        let mut t = String::from("| reason | what was dropped |\n| --- | --- |\n");
        for r in DropReason::ALL {
            t.push_str(&format!("| `{}` | {} |\n", r.name(), r.help()));
        }
        let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/counters.md");
        vtep_testsupport::doc_table(&doc, "| reason |", &t);
    }
}

//! Every way a packet can die, in one place, each with its counter name.

macro_rules! drop_reasons {
    ($($v:ident => $name:literal,)*) => {
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
        }
    };
}

drop_reasons! {
    AccessRunt => "access_runt",
    AccessSrcInvalid => "access_src_invalid",
    AccessNoVni => "access_untagged_no_vni",
    AccessVlanUnmapped => "access_vlan_unmapped",
    AccessQinq => "access_qinq",
    AccessSamePort => "access_same_port",
    MultiSegment => "multi_segment",
    MtuExceeded => "mtu_exceeded",
    NoHeadroom => "no_headroom",
    NeighborUnresolved => "neighbor_unresolved",
    NoFloodTargets => "no_flood_targets",
    UnderlayRunt => "underlay_runt",
    UnderlayNotOurMac => "underlay_not_our_mac",
    UnderlayEthertype => "underlay_ethertype",
    Ipv4Version => "ipv4_bad_version",
    Ipv4Ihl => "ipv4_bad_ihl",
    Ipv4Length => "ipv4_bad_length",
    Ipv4Checksum => "ipv4_bad_checksum",
    Ipv4Fragment => "ipv4_fragment",
    Ipv6Version => "ipv6_bad_version",
    Ipv6Length => "ipv6_bad_length",
    Ipv6ExtHeader => "ipv6_extension_header",
    NotOurIp => "underlay_not_our_ip",
    UnderlayProto => "underlay_protocol",
    UdpLength => "udp_bad_length",
    UdpPort => "udp_not_vxlan_port",
    UdpChecksum => "udp_bad_checksum",
    Udp6ZeroChecksum => "udp6_zero_checksum",
    VxlanTruncated => "vxlan_truncated",
    VxlanFlagI => "vxlan_i_flag_clear",
    VxlanReserved => "vxlan_reserved_bits",
    VniUnknown => "vni_unknown",
    UnknownSource => "unknown_source_vtep",
    InnerRunt => "inner_runt",
    InnerVlan => "inner_vlan_tagged",
    InnerSrcInvalid => "inner_src_invalid",
    ArpInvalid => "arp_invalid",
    IcmpUnsupported => "icmp_unsupported",
    NdInvalid => "nd_invalid",
    PuntQueueFull => "punt_queue_full",
    TxQueueFull => "tx_queue_full",
    NoAccessPort => "no_access_port",
    Policed => "policed",
    StormControl => "storm_control",
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
}

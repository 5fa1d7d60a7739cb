//! The mirror's devices for a VNI as rtnetlink requests: a bridge (also
//! the VNI's SVI, where zebra reads and writes MAC+IP bindings), a VXLAN
//! device and an access port standing for vtepd's access side, without
//! addresses, without learning, the bridge without multicast snooping.
//! Pure: [`super::netlink`] sends them.
//!
//! The access port is an `ifb` device: one device, always with carrier,
//! where a veth pair would be two (this kernel may have no dummy driver).
//! A port of an earlier mirror (a veth) is kept as it is.

use std::net::IpAddr;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST};
use netlink_packet_route::link::{
    AfSpecInet6, AfSpecUnspec, BridgeStpState, In6AddrGenMode, InfoBridge, InfoBridgePort,
    InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVxlan, LinkAttribute, LinkFlags, LinkInfo,
    LinkMessage,
};
use netlink_packet_route::RouteNetlinkMessage;

use crate::control::rtnl::{Req, EEXIST, ENODEV};

/// The mirror's device names for a VNI: bridge, VXLAN device, and the
/// access port port standing for vtepd's access side.
pub fn bridge_name(vni: u32) -> String {
    format!("br{vni}")
}
pub fn vxlan_name(vni: u32) -> String {
    format!("vxlan{vni}")
}
pub fn access_name(vni: u32) -> String {
    format!("acc{vni}")
}

/// What a VNI's mirror is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    pub vni: u32,
    /// The VTEP's address and UDP port.
    pub local: IpAddr,
    pub port: u16,
}

impl Spec {
    /// The three device names: bridge, VXLAN device, access port.
    pub fn names(&self) -> [String; 3] {
        [
            bridge_name(self.vni),
            vxlan_name(self.vni),
            access_name(self.vni),
        ]
    }
}

fn link(index: u32, attrs: Vec<LinkAttribute>) -> LinkMessage {
    let mut l = LinkMessage::default();
    l.header.index = index;
    l.attributes = attrs;
    l
}

fn req(what: String, flags: u16, l: LinkMessage, done_if: Option<i32>) -> Req {
    Req {
        what,
        flags: NLM_F_REQUEST | flags,
        msg: RouteNetlinkMessage::NewLink(l),
        done_if,
    }
}

/// Creates the devices of `s` that `exists` says are missing.
pub fn create(s: &Spec, exists: impl Fn(&str) -> bool) -> Vec<Req> {
    let [br, vx, acc] = s.names();
    let vxlan = vec![
        InfoVxlan::Id(s.vni),
        match s.local {
            IpAddr::V4(a) => InfoVxlan::Local(a),
            IpAddr::V6(a) => InfoVxlan::Local6(a),
        },
        InfoVxlan::Port(s.port),
        InfoVxlan::Learning(false),
    ];
    let bridge = vec![
        InfoBridge::StpState(BridgeStpState::Disabled),
        InfoBridge::MulticastSnooping(false),
    ];
    [
        (br, InfoKind::Bridge, Some(InfoData::Bridge(bridge))),
        (vx, InfoKind::Vxlan, Some(InfoData::Vxlan(vxlan))),
        (acc, InfoKind::Ifb, None),
    ]
    .into_iter()
    .filter(|(name, ..)| !exists(name))
    .map(|(name, kind, data)| {
        let mut info = vec![LinkInfo::Kind(kind)];
        info.extend(data.map(LinkInfo::Data));
        let l = link(
            0,
            vec![
                LinkAttribute::IfName(name.clone()),
                LinkAttribute::LinkInfo(info),
            ],
        );
        req(
            format!("creating {name}"),
            NLM_F_CREATE | NLM_F_EXCL,
            l,
            Some(EEXIST),
        )
    })
    .collect()
}

/// Sets the devices of `s` up, the VXLAN device and the access port as
/// ports of the bridge without learning; `index` maps names to interface
/// indexes. In kernel order: master and address mode, port flags (which
/// need the master), then up, the bridge last.
pub fn configure(s: &Spec, index: impl Fn(&str) -> Option<u32>) -> Result<Vec<Req>, String> {
    let names = s.names();
    let mut idx = [0u32; 3];
    for (i, n) in names.iter().enumerate() {
        idx[i] = index(n).ok_or_else(|| format!("the mirror has no {n} after creating it"))?;
    }
    let no_addr = || {
        LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(vec![AfSpecInet6::AddrGenMode(
            In6AddrGenMode::None,
        )])])
    };
    let mut v = vec![req(
        format!("turning IPv6 addresses off on {}", names[0]),
        0,
        link(idx[0], vec![no_addr()]),
        None,
    )];
    for i in 1..3 {
        v.push(req(
            format!("making {} a port of {}", names[i], names[0]),
            0,
            link(idx[i], vec![LinkAttribute::Controller(idx[0]), no_addr()]),
            None,
        ));
        let port = vec![
            LinkInfo::PortKind(InfoPortKind::Bridge),
            LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::Learning(
                false,
            )])),
        ];
        v.push(req(
            format!("turning learning off on {}", names[i]),
            0,
            link(idx[i], vec![LinkAttribute::LinkInfo(port)]),
            None,
        ));
    }
    for i in [1, 2, 0] {
        let mut l = link(idx[i], Vec::new());
        l.header.flags = LinkFlags::Up;
        l.header.change_mask = LinkFlags::Up;
        v.push(req(format!("setting {} up", names[i]), 0, l, None));
    }
    Ok(v)
}

/// True if the devices of `s`, as the kernel describes them (`get`), are
/// what [`configure`] makes them: up, without IPv6 addresses, the ports
/// enslaved to the bridge without learning.
pub fn ready<'a>(s: &Spec, get: impl Fn(&str) -> Option<&'a LinkMessage>) -> bool {
    let names = s.names();
    let Some(br) = get(&names[0]) else {
        return false;
    };
    let set_up = |l: &LinkMessage| {
        l.header.flags.contains(LinkFlags::Up)
            && l.attributes.iter().any(|a| match a {
                LinkAttribute::AfSpecUnspec(v) => v.iter().any(|x| {
                    matches!(x, AfSpecUnspec::Inet6(i)
                        if i.contains(&AfSpecInet6::AddrGenMode(In6AddrGenMode::None)))
                }),
                _ => false,
            })
    };
    let port = |l: &LinkMessage| {
        set_up(l)
            && l.attributes
                .contains(&LinkAttribute::Controller(br.header.index))
            && l.attributes.iter().any(|a| match a {
                LinkAttribute::LinkInfo(v) => v.iter().any(|x| {
                    matches!(x, LinkInfo::PortData(InfoPortData::BridgePort(p))
                        if p.contains(&InfoBridgePort::Learning(false)))
                }),
                _ => false,
            })
    };
    set_up(br) && names[1..].iter().all(|n| get(n).is_some_and(port))
}

/// Turns IPv6 on for device `name` of the calling thread's namespace (a
/// namespace may have it off by default): the SVI holds IPv6 bindings,
/// which the kernel refuses on a device without IPv6. Without addresses
/// (addrgenmode none) the device stays silent.
pub fn ipv6_on(name: &str) -> Result<(), String> {
    let path = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    match std::fs::read_to_string(&path) {
        Ok(v) if v.trim() == "0" => Ok(()),
        _ => std::fs::write(&path, "0")
            .map_err(|e| format!("turning IPv6 on for {name}: {path}: {e}")),
    }
}

/// Deletes the devices of VNI `vni` that `index` finds (an access port
/// that is a veth takes its peer with it).
pub fn remove(vni: u32, index: impl Fn(&str) -> Option<u32>) -> Vec<Req> {
    [access_name(vni), vxlan_name(vni), bridge_name(vni)]
        .into_iter()
        .filter_map(|n| {
            let i = index(&n)?;
            Some(Req {
                what: format!("deleting {n}"),
                flags: NLM_F_REQUEST,
                msg: RouteNetlinkMessage::DelLink(link(i, Vec::new())),
                done_if: Some(ENODEV),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_route::link::InfoKind;

    fn spec() -> Spec {
        Spec {
            vni: 100,
            local: "192.0.2.1".parse().unwrap(),
            port: 4789,
        }
    }

    fn kind(r: &Req) -> Option<InfoKind> {
        let RouteNetlinkMessage::NewLink(l) = &r.msg else {
            return None;
        };
        l.attributes.iter().find_map(|a| match a {
            LinkAttribute::LinkInfo(i) => i.iter().find_map(|x| match x {
                LinkInfo::Kind(k) => Some(k.clone()),
                _ => None,
            }),
            _ => None,
        })
    }

    #[test]
    fn only_missing_devices_are_created() {
        let all = create(&spec(), |_| false);
        let kinds: Vec<_> = all.iter().filter_map(kind).collect();
        assert_eq!(kinds, [InfoKind::Bridge, InfoKind::Vxlan, InfoKind::Ifb]);
        assert!(all.iter().all(|r| r.flags & NLM_F_EXCL != 0));
        let RouteNetlinkMessage::NewLink(vx) = &all[1].msg else {
            panic!()
        };
        let LinkAttribute::LinkInfo(info) = &vx.attributes[1] else {
            panic!()
        };
        let LinkInfo::Data(InfoData::Vxlan(d)) = &info[1] else {
            panic!()
        };
        for want in [
            InfoVxlan::Id(100),
            InfoVxlan::Local("192.0.2.1".parse().unwrap()),
            InfoVxlan::Port(4789),
            InfoVxlan::Learning(false),
        ] {
            assert!(d.contains(&want), "{want:?} in {d:?}");
        }
        let some = create(&spec(), |n| n == "br100");
        assert_eq!(some.len(), 2, "a restart keeps the devices it finds");
        assert!(create(&spec(), |_| true).is_empty());
    }

    #[test]
    fn ports_are_enslaved_before_their_flags_and_the_bridge_comes_up_last() {
        let idx = |n: &str| match n {
            "br100" => Some(3),
            "vxlan100" => Some(4),
            "acc100" => Some(5),
            _ => None,
        };
        let v = configure(&spec(), idx).unwrap();
        let what: Vec<&str> = v.iter().map(|r| r.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "turning IPv6 addresses off on br100",
                "making vxlan100 a port of br100",
                "turning learning off on vxlan100",
                "making acc100 a port of br100",
                "turning learning off on acc100",
                "setting vxlan100 up",
                "setting acc100 up",
                "setting br100 up",
            ]
        );
        let RouteNetlinkMessage::NewLink(l) = &v[1].msg else {
            panic!()
        };
        assert_eq!(l.header.index, 4);
        assert!(l.attributes.contains(&LinkAttribute::Controller(3)));
        let e = configure(&spec(), |n| idx(n).filter(|_| n != "acc100")).unwrap_err();
        assert!(e.contains("acc100"), "{e}");
        assert_eq!(remove(100, idx).len(), 3);
        assert!(remove(100, |_| None).is_empty());
    }

    #[test]
    fn devices_set_up_by_an_earlier_build_are_left_alone() {
        let up = |index: u32, master: Option<u32>, learning: bool| {
            let mut l = link(
                index,
                vec![LinkAttribute::AfSpecUnspec(vec![AfSpecUnspec::Inet6(
                    vec![AfSpecInet6::AddrGenMode(In6AddrGenMode::None)],
                )])],
            );
            l.header.flags = LinkFlags::Up;
            if let Some(m) = master {
                l.attributes.push(LinkAttribute::Controller(m));
                l.attributes
                    .push(LinkAttribute::LinkInfo(vec![LinkInfo::PortData(
                        InfoPortData::BridgePort(vec![InfoBridgePort::Learning(learning)]),
                    )]));
            }
            l
        };
        let mut links = std::collections::HashMap::from([
            ("br100".to_string(), up(3, None, false)),
            ("vxlan100".to_string(), up(4, Some(3), false)),
            ("acc100".to_string(), up(5, Some(3), false)),
        ]);
        assert!(ready(&spec(), |n| links.get(n)));
        links.insert("acc100".into(), up(5, Some(3), true));
        assert!(!ready(&spec(), |n| links.get(n)), "learning on");
        links.insert("acc100".into(), up(5, Some(9), false));
        assert!(!ready(&spec(), |n| links.get(n)), "another master");
        links.insert("acc100".into(), up(5, Some(3), false));
        links.get_mut("br100").unwrap().header.flags = LinkFlags::empty();
        assert!(!ready(&spec(), |n| links.get(n)), "down");
        links.remove("br100");
        assert!(!ready(&spec(), |n| links.get(n)), "missing");
    }
}

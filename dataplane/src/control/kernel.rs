//! The exception path (`[underlay] kernel_port`): a net_tap device whose
//! kernel interface carries the VTEP's MAC, address and default route, so
//! that the kernel (bgpd, sshd, BFD, ping) is on the underlay through the
//! data plane's port. The workers punt what is addressed to the VTEP but
//! is not VXLAN; the management thread hands it to the tap, and sends what
//! the kernel transmits out of the underlay port. ARP and neighbour
//! discovery go to both: vtepd keeps resolving its own next hops.

use std::fs::File;
use std::net::IpAddr;
use std::os::fd::AsRawFd;

use netlink_packet_core::{NLM_F_CREATE, NLM_F_DUMP, NLM_F_REPLACE, NLM_F_REQUEST};
use netlink_packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use dpdk::{Burst, Mbuf, Port, RxQueue, TxQueue};
use vtep_config::{KernelPort, MacAddr, Underlay};

use crate::control::rtnl::{self, Req, Rtnl};
use crate::wire::icmpv6;
use crate::wire::{EthernetFrame, Ipv6Packet, ETHERTYPE_ARP, ETHERTYPE_IPV6, PROTO_ICMPV6};

/// The tap port and its one queue pair, driven by the management thread.
pub struct KernelPath {
    pub port: Port,
    pub rx: RxQueue,
    pub tx: TxQueue,
}

impl KernelPath {
    /// Hands `m` to the kernel; false if the tap's queue refused it (freed).
    pub fn send(&mut self, m: Mbuf) -> bool {
        let mut b: Burst<1> = Burst::new();
        if b.push(m).is_err() {
            return false;
        }
        self.tx.tx(&mut b).0 == 1
    }

    /// Up to a burst of what the kernel transmitted.
    pub fn receive(&mut self, into: &mut Burst<32>) -> usize {
        self.rx.rx(into)
    }
}

/// True for a punted frame that only the kernel answers; false for ARP and
/// IPv6 neighbour discovery, which vtepd handles too.
pub fn kernel_only(frame: &[u8]) -> bool {
    let Some(e) = EthernetFrame::new_checked(frame) else {
        return true;
    };
    match e.ethertype() {
        ETHERTYPE_ARP => false,
        ETHERTYPE_IPV6 => !matches!(
            Ipv6Packet::new_checked(e.payload()),
            Ok(ip) if ip.next_header() == PROTO_ICMPV6
                && matches!(
                    ip.payload().first(),
                    Some(&icmpv6::NEIGHBOR_SOLICIT | &icmpv6::NEIGHBOR_ADVERT)
                )
        ),
        _ => true,
    }
}

/// The rtnetlink requests that give interface `index` (named `k.iface`)
/// the VTEP's MAC, MTU, address (IPv6: without duplicate address
/// detection, the data plane already owns it) and default route, in
/// place of its global addresses `stale` (from a dump: a restart finds
/// the last run's).
pub fn setup_requests(
    u: &Underlay,
    k: &KernelPort,
    mac: [u8; 6],
    index: u32,
    stale: &[AddressMessage],
) -> Vec<Req> {
    let i = &k.iface;
    let link = |what: String, attrs: Vec<LinkAttribute>, up: Option<bool>| {
        let mut l = LinkMessage::default();
        l.header.index = index;
        l.attributes = attrs;
        if let Some(up) = up {
            l.header.change_mask = LinkFlags::Up;
            l.header.flags = if up {
                LinkFlags::Up
            } else {
                LinkFlags::empty()
            };
        }
        Req {
            what,
            flags: NLM_F_REQUEST,
            msg: RouteNetlinkMessage::NewLink(l),
            done_if: None,
        }
    };
    let mut v = vec![
        link(format!("setting {i} down"), Vec::new(), Some(false)),
        link(
            format!("setting {i}'s MAC to {} and MTU to {}", MacAddr(mac), u.mtu),
            vec![
                LinkAttribute::Address(mac.to_vec()),
                LinkAttribute::Mtu(u32::from(u.mtu)),
            ],
            None,
        ),
    ];
    for a in stale {
        v.push(Req {
            what: format!("removing an old address of {i}"),
            flags: NLM_F_REQUEST,
            msg: RouteNetlinkMessage::DelAddress(a.clone()),
            done_if: Some(rtnl::EADDRNOTAVAIL),
        });
    }
    let mut a = AddressMessage::default();
    a.header.family = family(u.address);
    a.header.prefix_len = u.prefix_len;
    a.header.index = index;
    a.attributes = vec![
        AddressAttribute::Local(u.address),
        AddressAttribute::Address(u.address),
    ];
    if u.is_ipv6() {
        a.header.flags = AddressHeaderFlags::Nodad;
        a.attributes
            .push(AddressAttribute::Flags(AddressFlags::Nodad));
    }
    v.push(Req {
        what: format!("adding {}/{} to {i}", u.address, u.prefix_len),
        flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
        msg: RouteNetlinkMessage::NewAddress(a),
        done_if: None,
    });
    v.push(link(format!("setting {i} up"), Vec::new(), Some(true)));
    if let Some(gw) = u.gateway {
        let mut r = RouteMessage::default();
        r.header.address_family = family(gw);
        r.header.table = RouteHeader::RT_TABLE_MAIN;
        r.header.protocol = RouteProtocol::Boot;
        r.header.scope = RouteScope::Universe;
        r.header.kind = RouteType::Unicast;
        r.attributes = vec![
            RouteAttribute::Gateway(match gw {
                IpAddr::V4(g) => RouteAddress::Inet(g),
                IpAddr::V6(g) => RouteAddress::Inet6(g),
            }),
            RouteAttribute::Oif(index),
        ];
        v.push(Req {
            what: format!("routing the default route via {gw} on {i}"),
            flags: NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE,
            msg: RouteNetlinkMessage::NewRoute(r),
            done_if: None,
        });
    }
    v
}

fn family(ip: IpAddr) -> AddressFamily {
    match ip {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    }
}

/// The global addresses of interface `index`, from a dump of all.
fn global_addresses(all: Vec<RouteNetlinkMessage>, index: u32) -> Vec<AddressMessage> {
    all.into_iter()
        .filter_map(|m| match m {
            RouteNetlinkMessage::NewAddress(a)
                if a.header.index == index && a.header.scope == AddressScope::Universe =>
            {
                Some(a)
            }
            _ => None,
        })
        .collect()
}

/// Gives the tap's kernel interface the VTEP's MAC, address and route
/// over rtnetlink (see [`setup_requests`]); the first failure is the
/// error, saying what was refused. Over IPv6 the interface gets IPv6 on
/// (a namespace may have it off by default) and no duplicate address
/// detection first.
///
/// With `netns` (`[evpn] netns`) the interface first moves into that
/// namespace, where FRR runs, and is set up there.
pub fn setup(
    u: &Underlay,
    k: &KernelPort,
    mac: [u8; 6],
    netns: Option<&str>,
) -> Result<(), String> {
    let err = |e: String| format!("kernel_port {} (interface {}): {e}", k.device, k.iface);
    if u.is_ipv6() {
        for (key, v) in [("disable_ipv6", "0"), ("accept_dad", "0")] {
            let path = format!("/proc/sys/net/ipv6/conf/{}/{key}", k.iface);
            std::fs::write(&path, v).map_err(|e| err(format!("cannot write {path}: {e}")))?;
        }
    }
    let mut rtnl = Rtnl::open().map_err(err)?;
    let index = |rtnl: &mut Rtnl| -> Result<u32, String> {
        rtnl.link(&k.iface)
            .map_err(err)?
            .map(|l| l.header.index)
            .ok_or_else(|| err("no such interface".into()))
    };
    if let Some(ns) = netns {
        let path = format!("/var/run/netns/{ns}");
        let f = File::open(&path).map_err(|e| err(format!("cannot open {path}: {e}")))?;
        let mut l = LinkMessage::default();
        l.header.index = index(&mut rtnl)?;
        l.attributes.push(LinkAttribute::NetNsFd(f.as_raw_fd()));
        rtnl.request(NLM_F_REQUEST, RouteNetlinkMessage::NewLink(l))
            .map_err(|e| err(format!("moving it into namespace {ns}: {e}")))?;
        rtnl = Rtnl::open_in(ns).map_err(err)?;
    }
    let i = index(&mut rtnl)?;
    let all = rtnl
        .request(
            NLM_F_REQUEST | NLM_F_DUMP,
            RouteNetlinkMessage::GetAddress(AddressMessage::default()),
        )
        .map_err(err)?;
    let reqs = setup_requests(u, k, mac, i, &global_addresses(all, i));
    match rtnl.batch(reqs).into_iter().next() {
        Some(e) => Err(err(e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::punt;
    use crate::testing::{OUR_IP, OUR_IP6, OUR_MAC, PEER_IP, PEER_IP6, PEER_MAC};

    #[test]
    fn arp_and_nd_are_shared_the_rest_is_the_kernels() {
        assert!(!kernel_only(&punt::arp_request(PEER_MAC, PEER_IP, OUR_IP)));
        assert!(!kernel_only(&punt::neighbor_solicit(
            PEER_MAC, PEER_IP6, OUR_IP6
        )));
        let echo6 = [128u8, 0, 0, 0, 0, 1, 0, 1];
        let f = icmpv6::frame(OUR_MAC, PEER_MAC, PEER_IP6, OUR_IP6, 64, &echo6);
        assert!(kernel_only(&f));
        let mut tcp = vec![0u8; 54];
        tcp[12..14].copy_from_slice(&[8, 0]);
        assert!(kernel_only(&tcp));
        assert!(kernel_only(&[1, 2, 3]));
    }

    #[test]
    fn the_interface_gets_mac_address_and_route() {
        let text = crate::testing::config_text("")
            .replace(
                "\"--vdev=net_ring1\"]",
                "\"--vdev=net_ring1\", \"--vdev=net_tap0,iface=vtep0\"]",
            )
            .replace("[underlay]\n", "[underlay]\nkernel_port = \"net_tap0\"\n");
        let c = vtep_config::Config::parse(&text).unwrap();
        let k = c.underlay.kernel_port.clone().unwrap();
        let mut old = AddressMessage::default();
        old.header.index = 7;
        let what = |u: &Underlay| -> Vec<String> {
            setup_requests(u, &k, OUR_MAC, 7, std::slice::from_ref(&old))
                .into_iter()
                .map(|r| r.what)
                .collect()
        };
        assert_eq!(
            what(&c.underlay),
            [
                "setting vtep0 down",
                "setting vtep0's MAC to 02:00:00:00:01:01 and MTU to 1500",
                "removing an old address of vtep0",
                "adding 192.0.2.1/24 to vtep0",
                "setting vtep0 up",
                "routing the default route via 192.0.2.254 on vtep0",
            ]
        );
        let c6 = vtep_config::Config::parse(
            &text
                .replace("192.0.2.1/24", "2001:db8:1::1/64")
                .replace("192.0.2.254", "fe80::1")
                .replace("192.0.2.2", "2001:db8:1::2"),
        )
        .unwrap();
        let reqs = setup_requests(&c6.underlay, &k, OUR_MAC, 7, &[]);
        let add = reqs
            .iter()
            .find_map(|r| match &r.msg {
                RouteNetlinkMessage::NewAddress(a) => Some(a.clone()),
                _ => None,
            })
            .unwrap();
        assert_eq!(
            (add.header.family, add.header.prefix_len, add.header.index),
            (AddressFamily::Inet6, 64, 7)
        );
        assert!(
            add.attributes
                .contains(&AddressAttribute::Flags(AddressFlags::Nodad)),
            "no DAD"
        );
        let RouteNetlinkMessage::NewRoute(r) = &reqs.last().unwrap().msg else {
            panic!("the default route comes last")
        };
        assert!(r
            .attributes
            .contains(&RouteAttribute::Gateway(RouteAddress::Inet6(
                "fe80::1".parse().unwrap()
            ))));
        assert!(r.attributes.contains(&RouteAttribute::Oif(7)));
    }
}

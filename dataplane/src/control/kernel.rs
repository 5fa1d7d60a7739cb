//! The exception path (`[underlay] kernel_port`): a net_tap device whose
//! kernel interface carries the VTEP's MAC, address and default route, so
//! that the kernel (bgpd, sshd, BFD, ping) is on the underlay through the
//! data plane's port. The workers punt what is addressed to the VTEP but
//! is not VXLAN; the management thread hands it to the tap, and sends what
//! the kernel transmits out of the underlay port. ARP and neighbour
//! discovery go to both: vtepd keeps resolving its own next hops.

use std::net::IpAddr;
use std::process::Command;

use dpdk::{Burst, Mbuf, Port, RxQueue, TxQueue};
use vtep_config::{KernelPort, MacAddr, Underlay};

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

/// The `ip` commands that give the tap interface the VTEP's MAC, MTU,
/// address (IPv6: without duplicate address detection, the data plane
/// already owns it) and default route.
pub fn setup_commands(u: &Underlay, k: &KernelPort, mac: [u8; 6]) -> Vec<Vec<String>> {
    let i = k.iface.as_str();
    let mut v: Vec<Vec<String>> = vec![
        vec!["link", "set", "dev", i, "down"],
        vec![
            "link",
            "set",
            "dev",
            i,
            "address",
            &MacAddr(mac).to_string(),
        ],
        vec!["link", "set", "dev", i, "mtu", &u.mtu.to_string()],
        vec!["address", "flush", "dev", i, "scope", "global"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(String::from).collect())
    .collect();
    let addr = format!("{}/{}", u.address, u.prefix_len);
    let mut add: Vec<String> = ["address", "add", &addr, "dev", i]
        .into_iter()
        .map(String::from)
        .collect();
    if u.is_ipv6() {
        add.push("nodad".into());
    }
    v.push(add);
    v.push(["link", "set", "dev", i, "up"].map(String::from).to_vec());
    if let Some(gw) = u.gateway {
        let fam = if matches!(gw, IpAddr::V6(_)) {
            "-6"
        } else {
            "-4"
        };
        v.push(
            [
                fam,
                "route",
                "replace",
                "default",
                "via",
                &gw.to_string(),
                "dev",
                i,
            ]
            .map(String::from)
            .to_vec(),
        );
    }
    v
}

/// With a namespace: the interface moves there first, and every command
/// runs there (`ip -n NETNS ...`).
pub fn in_netns(mut cmds: Vec<Vec<String>>, iface: &str, netns: Option<&str>) -> Vec<Vec<String>> {
    if let Some(ns) = netns {
        for c in cmds.iter_mut() {
            c.splice(0..0, ["-n".to_string(), ns.to_string()]);
        }
        let mv = ["link", "set", "dev", iface, "netns", ns].map(String::from);
        cmds.insert(0, mv.to_vec());
    }
    cmds
}

/// Runs [`setup_commands`] with iproute2's `ip`; the first failure is the
/// error, with the command and what `ip` said. Over IPv6 the interface
/// gets IPv6 on (a namespace may have it off by default) and no duplicate
/// address detection first.
///
/// With `netns` (`[evpn] netns`) the interface first moves into that
/// namespace, where FRR runs, and is set up there.
pub fn setup(
    u: &Underlay,
    k: &KernelPort,
    mac: [u8; 6],
    netns: Option<&str>,
) -> Result<(), String> {
    let cmds = in_netns(setup_commands(u, k, mac), &k.iface, netns);
    if u.is_ipv6() {
        for (key, v) in [("disable_ipv6", "0"), ("accept_dad", "0")] {
            let path = format!("/proc/sys/net/ipv6/conf/{}/{key}", k.iface);
            std::fs::write(&path, v).map_err(|e| {
                format!(
                    "kernel_port {} (interface {}): cannot write {path}: {e}",
                    k.device, k.iface
                )
            })?;
        }
    }
    for c in cmds {
        let out = Command::new("ip")
            .args(&c)
            .output()
            .map_err(|e| format!("cannot run ip: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "kernel_port {} (interface {}): `ip {}` failed: {}",
                k.device,
                k.iface,
                c.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
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
        let cmds: Vec<String> = setup_commands(&c.underlay, &k, OUR_MAC)
            .iter()
            .map(|c| c.join(" "))
            .collect();
        assert_eq!(
            cmds,
            [
                "link set dev vtep0 down",
                "link set dev vtep0 address 02:00:00:00:01:01",
                "link set dev vtep0 mtu 1500",
                "address flush dev vtep0 scope global",
                "address add 192.0.2.1/24 dev vtep0",
                "link set dev vtep0 up",
                "-4 route replace default via 192.0.2.254 dev vtep0",
            ]
        );
        let moved = in_netns(
            setup_commands(&c.underlay, &k, OUR_MAC),
            "vtep0",
            Some("cp"),
        );
        assert_eq!(moved[0].join(" "), "link set dev vtep0 netns cp");
        assert_eq!(moved[1].join(" "), "-n cp link set dev vtep0 down");
        assert_eq!(moved.len(), cmds.len() + 1);
        let c6 = vtep_config::Config::parse(
            &text
                .replace("192.0.2.1/24", "2001:db8:1::1/64")
                .replace("192.0.2.254", "fe80::1")
                .replace("192.0.2.2", "2001:db8:1::2"),
        )
        .unwrap();
        let cmds = setup_commands(&c6.underlay, &k, OUR_MAC);
        assert!(cmds.contains(
            &[
                "address",
                "add",
                "2001:db8:1::1/64",
                "dev",
                "vtep0",
                "nodad"
            ]
            .map(String::from)
            .to_vec()
        ));
        assert_eq!(
            cmds.last().unwrap().join(" "),
            "-6 route replace default via fe80::1 dev vtep0"
        );
    }
}

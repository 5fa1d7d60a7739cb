//! Publication: the read-only [`State`] the workers forward with, built
//! from the tables. A remote gets its outer-header template once its next
//! hop's MAC is known; until then the workers drop towards it, counted as
//! `neighbor_unresolved`.

use std::net::IpAddr;

use hashbrown::HashMap;
use vtep_config::Underlay;

use super::tables::Tables;
use crate::datapath::state::{AccessState, RemoteState, State, Template, VniSettings, VniState};
use crate::datapath::tunnel::{Tunnel, TunnelIdx, Tunnels, MAX_TUNNELS};
use crate::wire::group_mac;

/// The State for `generation`.
pub fn build(t: &Tables, generation: u64) -> State {
    let c = &t.cfg;
    let u = &c.underlay;
    let cfg_tunnels = c.tunnels();
    let tunnels: Vec<Tunnel> = cfg_tunnels.iter().map(|t| tunnel(u, *t)).collect();
    let mut vnis: Vec<Option<VniState>> = vec![None; t.vnis.table_len()];
    let mut vni_index = HashMap::new();
    for v in &c.vnis {
        let Some(i) = t.vnis.get(v.id) else { continue };
        vni_index.insert(v.id.get(), i);
        let mut ports = Vec::new();
        for (p, a) in c.access.iter().enumerate() {
            if a.vni == Some(v.id) {
                ports.push((p as u16, None));
            }
            for (vid, x) in &a.vlans {
                if *x == v.id {
                    ports.push((p as u16, Some(*vid)));
                }
            }
        }
        vnis[i as usize] = Some(VniState::new(VniSettings {
            vni: v.id,
            learning: v.learning,
            // In a VNI driven by EVPN, BGP says what is behind other VTEPs.
            learn_underlay: v.learning && c.evpn.is_none(),
            arp_suppress: v.arp_suppress,
            flood: t
                .flood_remotes(v.id)
                .iter()
                .filter_map(|ip| t.remotes.get(*ip))
                .collect(),
            group: v.group.and_then(|g| t.remotes.get(g)),
            ports,
            police: t.police.get(&v.id).cloned(),
            // Every VNI's tunnel is among the config's.
            tunnel: cfg_tunnels.iter().position(|x| *x == v.tunnel).unwrap_or(0) as TunnelIdx,
        }));
    }
    let access = c
        .access
        .iter()
        .map(|a| {
            let mut s = AccessState::new(&a.port);
            s.untagged = a.vni.and_then(|v| t.vnis.get(v));
            for (vid, v) in &a.vlans {
                s.vlans[*vid as usize] = t.vnis.get(*v);
            }
            s
        })
        .collect();
    let remotes = t
        .remotes
        .slots()
        .iter()
        .map(|r| {
            r.map(|ip| {
                // A group (RFC 7348 §4.2) needs no next hop: its MAC is
                // mapped from the address, its TTL is `mcast_ttl`.
                let (mac, ttl) = match group_mac(ip) {
                    Some(m) => (Some(m), u.mcast_ttl),
                    None => (u.next_hop(ip).and_then(|nh| t.neigh.mac(nh)), u.ttl),
                };
                let mut templates = [None; MAX_TUNNELS];
                for (slot, tun) in templates.iter_mut().zip(&tunnels) {
                    *slot = mac.and_then(|mac| {
                        template(u, t.udp6_csum_offload, *tun, t.our_mac, mac, ip, ttl)
                    });
                }
                RemoteState { ip, templates }
            })
        })
        .collect();
    State {
        generation,
        our_ip: u.address,
        our_mac: t.our_mac,
        tunnels: Tunnels::new(&tunnels)
            .expect("the config holds at most MAX_TUNNELS tunnels, one encapsulation per port"),
        mtu: u.mtu,
        accept_unknown_sources: u.accept_unknown_sources,
        strict_reserved: u.strict_reserved,
        vnis,
        vni_index,
        access,
        remotes,
        remote_index: t.remotes.index_map().clone(),
        udp6_zero_rx: u.udp6_zero_checksum_rx,
        kernel: u.kernel_port.is_some(),
        arp: t.arp_bind.iter().map(|(k, b)| (*k, b.mac)).collect(),
        ports_down: t.ports_down,
        groups: {
            let mut g: Vec<IpAddr> = c.vnis.iter().filter_map(|v| v.group).collect();
            g.sort();
            g.dedup();
            g
        },
    }
}

/// The data path's tunnel for the config's `t`.
fn tunnel(u: &Underlay, t: vtep_config::Tunnel) -> Tunnel {
    match (t.encap, t.udp_port) {
        (vtep_config::Encap::Vxlan, p) => Tunnel::vxlan(p.unwrap_or(u.udp_port)),
        (vtep_config::Encap::Geneve, p) => Tunnel::geneve(p.unwrap_or(u.geneve_port)),
        (vtep_config::Encap::Nvgre, _) => Tunnel::nvgre(u.nvgre_flow_id),
    }
}

/// The outer header of `tunnel` towards remote `ip` through next-hop MAC
/// `mac`, with `ttl`; None for an address of the other family (the
/// config refuses those). `csum_offload`: the NIC computes IPv6 UDP
/// checksums.
fn template(
    u: &Underlay,
    csum_offload: bool,
    tunnel: Tunnel,
    our_mac: [u8; 6],
    mac: [u8; 6],
    ip: IpAddr,
    ttl: u8,
) -> Option<Template> {
    match (u.address, ip) {
        (IpAddr::V4(src), IpAddr::V4(dst)) => {
            Some(Template::new(mac, our_mac, src, dst, tunnel, ttl, u.df))
        }
        (IpAddr::V6(src), IpAddr::V6(dst)) => Some(
            Template::new6(mac, our_mac, src, dst, tunnel, ttl, u.udp6_zero_checksum_tx)
                .offloading_csum(csum_offload),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::tables::tests::tables;
    use super::*;
    use crate::datapath::tunnel::Encap;
    use vtep_config::Vni;

    #[test]
    fn vnis_ports_and_flood_lists() {
        let t = tables("");
        let st = build(&t, 7);
        assert_eq!(st.generation, 7);
        let i100 = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        let i200 = t.vnis.get(Vni::new(200).unwrap()).unwrap();
        assert_eq!(st.vni_index[&100], i100);
        assert_eq!(st.vni(i100).unwrap().ports, vec![(0, None)]);
        assert_eq!(st.vni(i200).unwrap().ports, vec![(0, Some(10))]);
        assert_eq!(st.access[0].untagged, Some(i100));
        assert_eq!(st.access[0].vlans[10], Some(i200));
        let peer = t.remotes.get(Ipv4Addr::new(192, 0, 2, 2).into()).unwrap();
        assert_eq!(st.vni(i100).unwrap().flood, vec![peer]);
        assert!(st.vni(i200).unwrap().flood.is_empty());
    }

    #[test]
    fn templates_wait_for_the_next_hop() {
        let mut t =
            tables("[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:aa\"\nremote = \"198.51.100.2\"\n");
        let on_link = t.remotes.get(Ipv4Addr::new(192, 0, 2, 2).into()).unwrap();
        let routed = t
            .remotes
            .get(Ipv4Addr::new(198, 51, 100, 2).into())
            .unwrap();
        let st = build(&t, 1);
        assert!(st.template(on_link, 0).is_none());
        assert!(st.template(routed, 0).is_none());
        let gw_mac = [2, 0, 0, 0, 0, 0xfe];
        assert!(t.learn_neighbor(Ipv4Addr::new(192, 0, 2, 254).into(), gw_mac, 1));
        let st = build(&t, 2);
        assert!(st.template(on_link, 0).is_none(), "on-link: its own MAC");
        let tpl = *st.template(routed, 0).unwrap();
        assert_eq!(&tpl.bytes[0..6], &gw_mac, "off-link: through the gateway");
        assert_eq!(
            &tpl.bytes[30..34],
            &[198, 51, 100, 2],
            "outer destination is the remote"
        );
    }

    #[test]
    fn each_vni_travels_in_its_tunnel() {
        let mut t = tables("encap = \"geneve\"\n");
        let peer_ip = Ipv4Addr::new(192, 0, 2, 2);
        assert!(t.learn_neighbor(peer_ip.into(), [2, 0, 0, 0, 2, 2], 1));
        let st = build(&t, 1);
        assert_eq!(
            st.tunnels.iter().collect::<Vec<_>>(),
            vec![Tunnel::vxlan(4789), Tunnel::geneve(6081)]
        );
        let i100 = t.vnis.get(Vni::new(100).unwrap()).unwrap();
        let i200 = t.vnis.get(Vni::new(200).unwrap()).unwrap();
        assert_eq!(
            (st.vni(i100).unwrap().tunnel, st.vni(i200).unwrap().tunnel),
            (0, 1)
        );
        let peer = t.remotes.get(peer_ip.into()).unwrap();
        for (tun, encap, port) in [(0, Encap::Vxlan, 4789u16), (1, Encap::Geneve, 6081)] {
            let tpl = st.template(peer, tun).unwrap();
            assert_eq!(tpl.encap, encap);
            assert_eq!(
                tpl.bytes[36..38],
                port.to_be_bytes(),
                "UDP destination port"
            );
        }
        let t = tables("encap = \"nvgre\"\n");
        let st = build(&t, 1);
        assert_eq!(st.tunnels.gre(), Some(1));
    }
}

//! Rates between two [`Stats`] snapshots: what `vtepctl stats --watch`
//! shows and prints with `--json`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::views::Stats;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rates {
    pub interval_secs: f64,
    pub forwarded_pps: f64,
    pub dropped_pps: f64,
    pub ports: Vec<PortRates>,
    pub vnis: Vec<VniRates>,
    pub remotes: Vec<RemoteRates>,
    /// Drop reasons that rose in the interval, packets per second.
    pub drops: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortRates {
    pub name: String,
    pub rx_pps: f64,
    pub tx_pps: f64,
    pub rx_bps: f64,
    pub tx_bps: f64,
    pub rx_missed_ps: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VniRates {
    pub id: u32,
    pub encap_pps: f64,
    pub decap_pps: f64,
    pub flood_pps: f64,
    pub encap_bps: f64,
    pub decap_bps: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteRates {
    pub ip: String,
    pub tx_pps: f64,
    pub rx_pps: f64,
    pub tx_bps: f64,
    pub rx_bps: f64,
}

/// Counter increase per second; a counter that went backwards (a restart
/// in between) counts as no increase.
fn per_sec(old: u64, new: u64, secs: f64) -> f64 {
    new.saturating_sub(old) as f64 / secs
}

/// Rates from `old` to `new`, taken `secs` apart. Rows are those of `new`;
/// a row absent from `old` counts from zero.
pub fn rates(old: &Stats, new: &Stats, secs: f64) -> Rates {
    let r = |o: u64, n: u64| per_sec(o, n, secs);
    let ports = new
        .ports
        .iter()
        .map(|n| {
            let o = old
                .ports
                .iter()
                .find(|o| o.name == n.name)
                .cloned()
                .unwrap_or_default();
            PortRates {
                name: n.name.clone(),
                rx_pps: r(o.rx_packets, n.rx_packets),
                tx_pps: r(o.tx_packets, n.tx_packets),
                rx_bps: 8.0 * r(o.rx_bytes, n.rx_bytes),
                tx_bps: 8.0 * r(o.tx_bytes, n.tx_bytes),
                rx_missed_ps: r(o.rx_missed, n.rx_missed),
            }
        })
        .collect();
    let vnis = new
        .vnis
        .iter()
        .map(|n| {
            let o = old
                .vnis
                .iter()
                .find(|o| o.id == n.id)
                .cloned()
                .unwrap_or_default();
            VniRates {
                id: n.id,
                encap_pps: r(o.encap_packets, n.encap_packets),
                decap_pps: r(o.decap_packets, n.decap_packets),
                flood_pps: r(o.flood_packets, n.flood_packets),
                encap_bps: 8.0 * r(o.encap_bytes, n.encap_bytes),
                decap_bps: 8.0 * r(o.decap_bytes, n.decap_bytes),
            }
        })
        .collect();
    let remotes = new
        .remotes
        .iter()
        .map(|n| {
            let o = old
                .remotes
                .iter()
                .find(|o| o.ip == n.ip)
                .cloned()
                .unwrap_or_default();
            RemoteRates {
                ip: n.ip.clone(),
                tx_pps: r(o.tx_packets, n.tx_packets),
                rx_pps: r(o.rx_packets, n.rx_packets),
                tx_bps: 8.0 * r(o.tx_bytes, n.tx_bytes),
                rx_bps: 8.0 * r(o.rx_bytes, n.rx_bytes),
            }
        })
        .collect();
    let drops = new
        .drops
        .iter()
        .map(|(k, n)| (k.clone(), r(old.drops.get(k).copied().unwrap_or(0), *n)))
        .filter(|(_, v)| *v > 0.0)
        .collect();
    Rates {
        interval_secs: secs,
        forwarded_pps: r(old.accounting.forwarded, new.accounting.forwarded),
        dropped_pps: r(old.accounting.dropped, new.accounting.dropped),
        ports,
        vnis,
        remotes,
        drops,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::{PortStats, RemoteStats};

    #[test]
    fn rates_per_row_remote_and_reason() {
        let mut a = Stats::default();
        a.ports.push(PortStats {
            name: "p".into(),
            rx_packets: 10,
            rx_bytes: 1000,
            ..PortStats::default()
        });
        a.drops.insert("mtu_exceeded".into(), 5);
        a.drops.insert("udp_not_vxlan_port".into(), 1);
        let mut b = a.clone();
        b.ports[0].rx_packets = 30;
        b.ports[0].rx_bytes = 3000;
        b.remotes.push(RemoteStats {
            ip: "192.0.2.2".into(),
            tx_packets: 8,
            ..RemoteStats::default()
        });
        b.drops.insert("mtu_exceeded".into(), 9);
        b.accounting.forwarded = 40;
        let r = rates(&a, &b, 2.0);
        assert_eq!(r.ports[0].rx_pps, 10.0);
        assert_eq!(r.ports[0].rx_bps, 8000.0);
        assert_eq!(r.remotes[0].tx_pps, 4.0, "a new remote counts from zero");
        assert_eq!(r.drops.len(), 1, "only reasons that rose: {:?}", r.drops);
        assert_eq!(r.drops["mtu_exceeded"], 2.0);
        assert_eq!(r.forwarded_pps, 20.0);
        // A restart between snapshots: no negative rates.
        assert_eq!(rates(&b, &a, 1.0).ports[0].rx_pps, 0.0);
    }
}

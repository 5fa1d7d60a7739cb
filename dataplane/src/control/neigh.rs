//! Underlay neighbour resolution (ARP): which next hops to ask for and
//! when, what answers teach, when an entry expires. Pure: time is passed in
//! (milliseconds) and the frames to send are returned, not sent.

use std::collections::BTreeMap;
use std::net::IpAddr;

use vtep_api::NeighEntry;
use vtep_config::{MacAddr, Neighbor};

/// Re-ask for a dynamic neighbour this often, and forget it after this long
/// without an answer; ask an unresolved one again after RETRY.
pub const REFRESH_MS: u64 = 60_000;
pub const EXPIRE_MS: u64 = 180_000;
pub const RETRY_MS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Neigh {
    mac: Option<[u8; 6]>,
    is_static: bool,
    updated: u64,
    asked: Option<u64>,
}

/// The neighbour table of the underlay.
#[derive(Debug, Default, Clone)]
pub struct Neighbors {
    table: BTreeMap<IpAddr, Neigh>,
}

impl Neighbors {
    /// Replaces the static entries with `statics` (config); dynamic ones stay.
    pub fn set_static(&mut self, statics: &[Neighbor], now: u64) {
        self.table.retain(|_, n| !n.is_static);
        for s in statics {
            self.table.insert(
                s.ip,
                Neigh {
                    mac: Some(s.mac.0),
                    is_static: true,
                    updated: now,
                    asked: None,
                },
            );
        }
    }

    pub fn mac(&self, ip: IpAddr) -> Option<[u8; 6]> {
        self.table.get(&ip).and_then(|n| n.mac)
    }

    /// Records what an ARP packet from `ip` says; true if a MAC changed
    /// (the caller republishes the templates). Static entries win.
    pub fn learn(&mut self, ip: IpAddr, mac: [u8; 6], now: u64) -> bool {
        let n = self.table.entry(ip).or_insert(Neigh {
            mac: None,
            is_static: false,
            updated: now,
            asked: None,
        });
        if n.is_static {
            return false;
        }
        n.updated = now;
        if n.mac == Some(mac) {
            return false;
        }
        n.mac = Some(mac);
        true
    }

    /// For the next hops in `wanted`: expires stale entries and returns
    /// (next hops to send a request for now, whether a MAC was forgotten).
    pub fn due(&mut self, wanted: &[IpAddr], now: u64) -> (Vec<IpAddr>, bool) {
        let mut ask = Vec::new();
        let mut forgot = false;
        for nh in wanted {
            let n = self.table.entry(*nh).or_insert(Neigh {
                mac: None,
                is_static: false,
                updated: now,
                asked: None,
            });
            if n.is_static {
                continue;
            }
            if n.mac.is_some() && now.saturating_sub(n.updated) > EXPIRE_MS {
                n.mac = None;
                forgot = true;
            }
            let since_asked = n.asked.map_or(u64::MAX, |a| now.saturating_sub(a));
            let due = match n.mac {
                None => since_asked >= RETRY_MS,
                Some(_) => now.saturating_sub(n.updated) >= REFRESH_MS && since_asked >= RETRY_MS,
            };
            if due {
                n.asked = Some(now);
                ask.push(*nh);
            }
        }
        (ask, forgot)
    }

    /// The `neigh show` rows.
    pub fn view(&self, now: u64) -> Vec<NeighEntry> {
        self.table
            .iter()
            .map(|(ip, n)| NeighEntry {
                ip: ip.to_string(),
                mac: n.mac.map(|m| MacAddr(m).to_string()),
                state: if n.is_static {
                    "static"
                } else if n.mac.is_some() {
                    "reachable"
                } else {
                    "incomplete"
                }
                .into(),
                age_secs: now.saturating_sub(n.updated) / 1000,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GW: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 254));
    const M1: [u8; 6] = [2, 0, 0, 0, 0, 1];
    const M2: [u8; 6] = [2, 0, 0, 0, 0, 2];

    #[test]
    fn asks_retries_refreshes_and_expires() {
        let mut n = Neighbors::default();
        assert_eq!(n.due(&[GW], 0), (vec![GW], false), "unknown: ask at once");
        assert!(
            n.due(&[GW], 500).0.is_empty(),
            "not again before the retry time"
        );
        assert_eq!(n.due(&[GW], 1000).0, vec![GW], "retry");
        assert!(n.learn(GW, M1, 1100));
        assert_eq!(n.mac(GW), Some(M1));
        assert!(!n.learn(GW, M1, 1200), "same MAC: no change");
        assert!(n.due(&[GW], 1200 + REFRESH_MS - 1).0.is_empty());
        assert_eq!(n.due(&[GW], 1200 + REFRESH_MS).0, vec![GW], "refresh");
        assert_eq!(n.mac(GW), Some(M1), "still usable while refreshing");
        let (ask, forgot) = n.due(&[GW], 1200 + EXPIRE_MS + 1);
        assert!(forgot && ask == vec![GW], "expired and asked again");
        assert_eq!(n.mac(GW), None);
        assert!(n.learn(GW, M2, 1200 + EXPIRE_MS + 2));
        assert_eq!(n.view(1200 + EXPIRE_MS + 2)[0].state, "reachable");
    }

    #[test]
    fn static_entries_win_and_are_never_asked() {
        let mut n = Neighbors::default();
        n.set_static(
            &[Neighbor {
                ip: GW,
                mac: MacAddr(M1),
            }],
            0,
        );
        assert!(!n.learn(GW, M2, 10), "ARP cannot override a static entry");
        assert_eq!(n.mac(GW), Some(M1));
        assert_eq!(n.due(&[GW], EXPIRE_MS * 2), (vec![], false));
        assert_eq!(n.view(0)[0].state, "static");
        n.set_static(&[], 20);
        assert_eq!(n.mac(GW), None, "a removed static entry is gone");
    }
}

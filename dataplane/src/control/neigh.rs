//! Underlay neighbour resolution (ARP): which next hops to ask for and
//! when, what answers teach, when an entry expires. Pure: time is passed in
//! (milliseconds) and the frames to send are returned, not sent.

use std::collections::BTreeMap;
use std::net::IpAddr;

use vtep_api::NeighEntry;
use vtep_config::{MacAddr, Neighbor};

/// Ask an unresolved next hop, or one under suspicion, again after this
/// long; forget a suspected one's MAC after PROBES unanswered requests.
pub const RETRY_MS: u64 = 1_000;
pub const PROBES: u32 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Neigh {
    mac: Option<[u8; 6]>,
    is_static: bool,
    /// When ARP or ND from it last confirmed it.
    updated: u64,
    asked: Option<u64>,
    /// Requests sent since it was last confirmed, while it has a MAC: the
    /// first goes to that MAC (a probe), the others to everyone.
    probes: u32,
    /// Probe at the next round, confirmed or not ([`Neighbors::reprobe`]).
    reprobe: bool,
}

impl Neigh {
    fn new(now: u64) -> Neigh {
        Neigh {
            mac: None,
            is_static: false,
            updated: now,
            asked: None,
            probes: 0,
            reprobe: false,
        }
    }
}

/// A request [`Neighbors::due`] wants sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ask {
    pub ip: IpAddr,
    /// Unicast to the MAC it had (a probe), or None: to everyone.
    pub to: Option<[u8; 6]>,
}

/// What [`Neighbors::due`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Due {
    pub ask: Vec<Ask>,
    /// Next hops that answered none of their probes: their MAC is gone.
    pub forgot: Vec<IpAddr>,
    /// Next hops whose first probe goes out now: no longer confirmed.
    pub suspected: Vec<IpAddr>,
}

/// The neighbour table of the underlay. A dynamic next hop is kept the way
/// a host keeps one: confirmed by any ARP or ND from it; not confirmed
/// for `confirm_ms`, it is probed at its MAC, then asked for by broadcast,
/// and after PROBES requests without an answer its MAC is forgotten (the
/// frames for it are then dropped and counted, not sent to a MAC nobody
/// has). A gratuitous ARP or any other ARP from it applies at once.
#[derive(Debug, Clone)]
pub struct Neighbors {
    table: BTreeMap<IpAddr, Neigh>,
    pub confirm_ms: u64,
}

impl Default for Neighbors {
    fn default() -> Self {
        Neighbors {
            table: BTreeMap::new(),
            confirm_ms: 5_000,
        }
    }
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
                    ..Neigh::new(now)
                },
            );
        }
    }

    pub fn mac(&self, ip: IpAddr) -> Option<[u8; 6]> {
        self.table.get(&ip).and_then(|n| n.mac)
    }

    /// Has every dynamic next hop probed at the next round, however
    /// recently confirmed: the link came back, and what is behind it may
    /// have changed while it was down.
    pub fn reprobe(&mut self) {
        for n in self.table.values_mut().filter(|n| !n.is_static) {
            n.reprobe = true;
        }
    }

    /// True while `ip` has a MAC that its probes have not confirmed.
    pub fn suspected(&self, ip: IpAddr) -> bool {
        self.table
            .get(&ip)
            .is_some_and(|n| n.mac.is_some() && n.probes > 0)
    }

    /// Records what an ARP or ND packet from `ip` says: it confirms the
    /// neighbour. True if a MAC changed (the caller republishes the
    /// templates). Static entries win.
    pub fn learn(&mut self, ip: IpAddr, mac: [u8; 6], now: u64) -> bool {
        let n = self.table.entry(ip).or_insert(Neigh::new(now));
        if n.is_static {
            return false;
        }
        n.updated = now;
        n.probes = 0;
        n.reprobe = false;
        if n.mac == Some(mac) {
            return false;
        }
        n.mac = Some(mac);
        true
    }

    /// For the next hops in `wanted`: the requests to send now, and the
    /// next hops forgotten or newly suspected.
    pub fn due(&mut self, wanted: &[IpAddr], now: u64) -> Due {
        let mut d = Due::default();
        for nh in wanted {
            let n = self.table.entry(*nh).or_insert(Neigh::new(now));
            if n.is_static {
                continue;
            }
            let since_asked = n.asked.map_or(u64::MAX, |a| now.saturating_sub(a));
            if since_asked < RETRY_MS {
                continue;
            }
            let to = match n.mac {
                None => None,
                Some(_) if !n.reprobe && now.saturating_sub(n.updated) < self.confirm_ms => {
                    continue
                }
                Some(_) if n.probes >= PROBES => {
                    n.mac = None;
                    n.probes = 0;
                    d.forgot.push(*nh);
                    None
                }
                Some(m) => {
                    n.reprobe = false;
                    n.probes += 1;
                    if n.probes == 1 {
                        d.suspected.push(*nh);
                        Some(m)
                    } else {
                        None
                    }
                }
            };
            n.asked = Some(now);
            d.ask.push(Ask { ip: *nh, to });
        }
        d
    }

    /// A request [`Neighbors::due`] asked for could not be sent (no mbuf:
    /// a pool drained by a storm): it is asked again at the retry time and
    /// does not count as unanswered, or a next hop that was never asked
    /// could be forgotten.
    pub fn unsent(&mut self, ip: IpAddr) {
        if let Some(n) = self.table.get_mut(&ip) {
            if n.mac.is_some() {
                n.probes = n.probes.saturating_sub(1);
            }
        }
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
                } else if n.mac.is_some() && n.probes > 0 {
                    "probe"
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

    fn asks(d: &Due) -> Vec<(IpAddr, Option<[u8; 6]>)> {
        d.ask.iter().map(|a| (a.ip, a.to)).collect()
    }

    #[test]
    fn asks_retries_probes_and_forgets() {
        let mut n = Neighbors::default();
        let c = n.confirm_ms;
        assert_eq!(asks(&n.due(&[GW], 0)), [(GW, None)], "unknown: ask at once");
        assert!(
            n.due(&[GW], 500).ask.is_empty(),
            "not again before the retry time"
        );
        assert_eq!(asks(&n.due(&[GW], 1000)), [(GW, None)], "retry");
        assert!(n.learn(GW, M1, 1100));
        assert_eq!(n.mac(GW), Some(M1));
        assert!(!n.learn(GW, M1, 1200), "same MAC: no change");
        assert!(n.due(&[GW], 1200 + c - 1).ask.is_empty(), "confirmed");
        // Not confirmed for confirm_ms: a probe to its MAC, still used.
        let d = n.due(&[GW], 1200 + c);
        assert_eq!(asks(&d), [(GW, Some(M1))], "probe");
        assert_eq!(d.suspected, [GW]);
        assert!(n.suspected(GW));
        assert_eq!(n.mac(GW), Some(M1), "still usable while probed");
        assert_eq!(n.view(1200 + c)[0].state, "probe");
        // An answer confirms it.
        assert!(!n.learn(GW, M1, 1300 + c));
        assert!(!n.suspected(GW));
        assert!(n.due(&[GW], 1300 + c + 500).ask.is_empty());
        // Unanswered: the probe, then broadcasts, then forgotten.
        let t = 1300 + 2 * c;
        assert_eq!(asks(&n.due(&[GW], t)), [(GW, Some(M1))]);
        assert_eq!(asks(&n.due(&[GW], t + RETRY_MS)), [(GW, None)]);
        assert_eq!(asks(&n.due(&[GW], t + 2 * RETRY_MS)), [(GW, None)]);
        assert_eq!(n.mac(GW), Some(M1));
        let d = n.due(&[GW], t + 3 * RETRY_MS);
        assert_eq!((asks(&d), d.forgot), (vec![(GW, None)], vec![GW]));
        assert_eq!(n.mac(GW), None);
        assert_eq!(n.view(t + 3 * RETRY_MS)[0].state, "incomplete");
        // Another router answers: its MAC at once.
        assert!(n.learn(GW, M2, t + 3 * RETRY_MS + 10));
        assert_eq!(n.mac(GW), Some(M2));
        assert_eq!(n.view(t + 3 * RETRY_MS + 10)[0].state, "reachable");
    }

    #[test]
    fn requests_that_could_not_be_sent_do_not_count() {
        let mut n = Neighbors::default();
        n.learn(GW, M1, 0);
        let t = n.confirm_ms;
        for i in 0..10 {
            let d = n.due(&[GW], t + i * RETRY_MS);
            assert_eq!(asks(&d), [(GW, Some(M1))], "the probe, again: {i}");
            assert!(d.forgot.is_empty());
            n.unsent(GW);
            assert!(!n.suspected(GW));
        }
        assert_eq!(n.mac(GW), Some(M1));
    }

    #[test]
    fn a_link_that_comes_back_has_its_next_hops_probed() {
        let mut n = Neighbors::default();
        n.learn(GW, M1, 0);
        assert!(n.due(&[GW], 2000).ask.is_empty(), "confirmed");
        n.reprobe();
        assert_eq!(asks(&n.due(&[GW], 2000)), [(GW, Some(M1))]);
        // Answered: back to the usual rhythm.
        n.learn(GW, M1, 2001);
        assert!(n.due(&[GW], 3001).ask.is_empty());
    }

    #[test]
    fn a_new_mac_while_probed_applies_at_once() {
        let mut n = Neighbors::default();
        n.learn(GW, M1, 0);
        let d = n.due(&[GW], n.confirm_ms);
        assert_eq!(asks(&d), [(GW, Some(M1))]);
        // The replaced router answers the broadcast, or sends a
        // gratuitous ARP: the MAC changes and it is confirmed.
        assert!(n.learn(GW, M2, n.confirm_ms + 5));
        assert!(!n.suspected(GW));
        assert_eq!(n.mac(GW), Some(M2));
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
        assert_eq!(n.due(&[GW], 1_000_000), Due::default());
        assert_eq!(n.view(0)[0].state, "static");
        n.set_static(&[], 20);
        assert_eq!(n.mac(GW), None, "a removed static entry is gone");
    }
}

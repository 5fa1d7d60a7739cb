//! Membership of the VNIs' multicast groups (RFC 7348 §4.2), as a host
//! keeps it (RFC 3376 §5, RFC 3810 §6): unsolicited reports when a group
//! is joined or left (sent [`ROBUSTNESS`] times, [`UNSOLICITED_MS`]
//! apart), answers to queries after a random delay within the query's
//! maximum, and a refresh every [`REFRESH_MS`] for links without a
//! querier. Pure: the caller gives the time and sends what [`Membership::due`]
//! returns.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::wire::igmp::{Query, Report};

/// Unsolicited reports are sent this many times (RFC 3376 §8.1).
pub const ROBUSTNESS: u32 = 2;
/// Between the repeats of an unsolicited report (RFC 3376 §8.11,
/// RFC 3810 §9.11).
pub const UNSOLICITED_MS: u64 = 1000;
/// Every joined group is reported again this often (the default query
/// interval, RFC 3376 §8.2), querier or not.
pub const REFRESH_MS: u64 = 125_000;

/// A report to send now: its kind and groups.
pub type Due = (Report, Vec<IpAddr>);

#[derive(Debug)]
pub struct Membership {
    joined: Vec<IpAddr>,
    /// State-change reports still to repeat: when, what, which groups.
    changes: Vec<(u64, Report, Vec<IpAddr>, u32)>,
    /// The answer to a general query, when due.
    general: Option<u64>,
    /// Answers to group-specific queries, when due.
    specific: BTreeMap<IpAddr, u64>,
    next_refresh: u64,
    rng: fastrand::Rng,
}

impl Membership {
    pub fn new(seed: u64) -> Membership {
        Membership {
            joined: Vec::new(),
            changes: Vec::new(),
            general: None,
            specific: BTreeMap::new(),
            next_refresh: 0,
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// The groups joined now.
    pub fn joined(&self) -> &[IpAddr] {
        &self.joined
    }

    /// Makes `groups` the joined set at `now`: joins and leaves are
    /// reported at once and repeated.
    pub fn set(&mut self, groups: &[IpAddr], now: u64) {
        let mut want = groups.to_vec();
        want.sort();
        want.dedup();
        let joins: Vec<IpAddr> = want
            .iter()
            .filter(|g| !self.joined.contains(g))
            .copied()
            .collect();
        let leaves: Vec<IpAddr> = self
            .joined
            .iter()
            .filter(|g| !want.contains(g))
            .copied()
            .collect();
        // A pending repeat of the opposite change is void.
        for (_, r, gs, _) in &mut self.changes {
            let undone = match r {
                Report::Join => &leaves,
                _ => &joins,
            };
            gs.retain(|g| !undone.contains(g));
        }
        self.changes.retain(|(_, _, gs, _)| !gs.is_empty());
        for g in &leaves {
            self.specific.remove(g);
        }
        for (r, gs) in [(Report::Leave, leaves), (Report::Join, joins)] {
            if !gs.is_empty() {
                self.changes.push((now, r, gs, ROBUSTNESS));
            }
        }
        if self.joined.is_empty() && !want.is_empty() {
            self.next_refresh = now + REFRESH_MS;
        }
        self.joined = want;
    }

    /// A query heard at `now`: its answer is scheduled at a random time
    /// within its maximum, unless one is due sooner (RFC 3376 §5.2).
    pub fn query(&mut self, q: Query, now: u64) {
        let at = now + self.rng.u64(0..=q.max_resp_ms);
        match q.group {
            None => {
                if self.general.is_none_or(|t| t > at) {
                    self.general = Some(at);
                }
            }
            Some(g) if self.joined.contains(&g) => {
                if self.general.is_some_and(|t| t <= at) {
                    return;
                }
                let e = self.specific.entry(g).or_insert(at);
                *e = (*e).min(at);
            }
            Some(_) => {}
        }
    }

    /// The reports due at `now`, removed from the schedule.
    pub fn due(&mut self, now: u64) -> Vec<Due> {
        let mut out = Vec::new();
        for (at, r, gs, left) in &mut self.changes {
            if *at <= now {
                out.push((*r, gs.clone()));
                *left -= 1;
                *at = now + UNSOLICITED_MS;
            }
        }
        self.changes.retain(|c| c.3 > 0);
        let refresh = !self.joined.is_empty() && self.next_refresh <= now;
        if self.general.is_some_and(|t| t <= now) || refresh {
            self.general = None;
            self.specific.clear();
            self.next_refresh = now + REFRESH_MS;
            if !self.joined.is_empty() {
                out.push((Report::Current, self.joined.clone()));
            }
        }
        let ready: Vec<IpAddr> = self
            .specific
            .iter()
            .filter(|(_, t)| **t <= now)
            .map(|(g, _)| *g)
            .collect();
        for g in &ready {
            self.specific.remove(g);
        }
        if !ready.is_empty() {
            out.push((Report::Current, ready));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn joins_and_leaves_are_reported_twice_a_second_apart() {
        let mut m = Membership::new(1);
        m.set(&[g("239.1.1.100"), g("239.1.1.200")], 0);
        let both = vec![g("239.1.1.100"), g("239.1.1.200")];
        assert_eq!(m.due(0), vec![(Report::Join, both.clone())]);
        assert_eq!(m.due(999), vec![]);
        assert_eq!(m.due(1000), vec![(Report::Join, both)]);
        assert_eq!(m.due(5000), vec![]);
        // A reload drops one group: a leave, twice.
        m.set(&[g("239.1.1.200")], 6000);
        assert_eq!(m.due(6000), vec![(Report::Leave, vec![g("239.1.1.100")])]);
        assert_eq!(m.due(7000), vec![(Report::Leave, vec![g("239.1.1.100")])]);
        assert_eq!(m.due(9000), vec![]);
        assert_eq!(m.joined(), &[g("239.1.1.200")]);
        // The same set again changes nothing.
        m.set(&[g("239.1.1.200")], 9000);
        assert_eq!(m.due(20_000), vec![]);
    }

    #[test]
    fn a_group_left_before_its_join_was_repeated_is_not_joined_again() {
        let mut m = Membership::new(1);
        m.set(&[g("239.1.1.100")], 0);
        assert_eq!(m.due(0).len(), 1);
        m.set(&[], 500);
        assert_eq!(m.due(500), vec![(Report::Leave, vec![g("239.1.1.100")])]);
        assert_eq!(m.due(1000), vec![], "the join's repeat is void");
        assert_eq!(m.due(1500), vec![(Report::Leave, vec![g("239.1.1.100")])]);
    }

    #[test]
    fn queries_are_answered_within_their_maximum_and_once() {
        let (a, b) = (g("239.1.1.100"), g("239.1.1.200"));
        for seed in 0..50 {
            let mut m = Membership::new(seed);
            m.set(&[a, b], 0);
            m.due(0);
            m.due(1000);
            m.query(
                Query {
                    group: None,
                    max_resp_ms: 10_000,
                },
                2000,
            );
            // A second general query keeps the earlier answer, and a
            // group-specific one due after it adds nothing (RFC 3376
            // §5.2, rule 1).
            m.query(
                Query {
                    group: None,
                    max_resp_ms: 10_000,
                },
                2500,
            );
            m.query(
                Query {
                    group: Some(a),
                    max_resp_ms: 1_000_000,
                },
                12_000,
            );
            let mut when = None;
            for t in (2000..=13_000).step_by(100) {
                let d = m.due(t);
                if !d.is_empty() {
                    assert!(when.is_none(), "answered twice");
                    assert_eq!(d[0], (Report::Current, vec![a, b]));
                    when = Some(t);
                }
            }
            assert!(when.is_some(), "seed {seed}: unanswered");
            // A query for a group not joined: nothing.
            m.query(
                Query {
                    group: Some(g("239.9.9.9")),
                    max_resp_ms: 100,
                },
                20_000,
            );
            assert_eq!(m.due(20_100), vec![]);
            // Group-specific alone: that group.
            m.query(
                Query {
                    group: Some(b),
                    max_resp_ms: 1000,
                },
                30_000,
            );
            let d: Vec<Due> = (30_000..=31_000)
                .step_by(50)
                .flat_map(|t| m.due(t))
                .collect();
            assert_eq!(d, vec![(Report::Current, vec![b])]);
        }
        // The delays spread over the interval.
        let at: Vec<u64> = (0..20)
            .map(|seed| {
                let mut m = Membership::new(seed);
                m.set(&[a], 0);
                m.due(0);
                m.due(1000);
                m.query(
                    Query {
                        group: None,
                        max_resp_ms: 10_000,
                    },
                    2000,
                );
                (2000..=12_000)
                    .step_by(10)
                    .find(|t| !m.due(*t).is_empty())
                    .unwrap()
            })
            .collect();
        assert!(
            at.iter().max().unwrap() - at.iter().min().unwrap() > 2000,
            "{at:?}"
        );
    }

    #[test]
    fn joined_groups_are_refreshed_without_a_querier() {
        let mut m = Membership::new(1);
        assert_eq!(
            m.due(REFRESH_MS * 3),
            vec![],
            "nothing joined, nothing sent"
        );
        m.set(&[g("ff0e::1:100")], 0);
        m.due(0);
        m.due(1000);
        assert_eq!(m.due(REFRESH_MS - 1), vec![]);
        assert_eq!(
            m.due(REFRESH_MS),
            vec![(Report::Current, vec![g("ff0e::1:100")])]
        );
        assert_eq!(m.due(REFRESH_MS + 1), vec![]);
        assert_eq!(m.due(2 * REFRESH_MS).len(), 1);
    }
}

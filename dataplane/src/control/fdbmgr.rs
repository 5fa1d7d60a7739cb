//! The management side of the FDB: learning, moves with damping, per-VNI
//! MAC limits, aging and flushes, over the lock-free table in `fdb`. Pure
//! logic: time is passed in (milliseconds), so every rule is unit-tested
//! without clocks.

use std::sync::Arc;

use hashbrown::HashMap;

use crate::datapath::fdb::{key, key_parts, Entry, FdbWriter, HitMap, Target, VniIdx};

/// A MAC that moves this many times within [`DAMP_WINDOW_MS`] is damped.
pub const DAMP_MOVES: u32 = 5;
pub const DAMP_WINDOW_MS: u64 = 10_000;
/// How long a damped MAC stays where it is, whatever the traffic says.
pub const DAMP_HOLD_MS: u64 = 30_000;

/// Per-VNI learning policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VniPolicy {
    pub learning: bool,
    pub mac_limit: u32,
    pub aging_ms: u64,
}

/// Who made an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// From traffic: aged, moved by traffic.
    Learned,
    /// From the config or the API: never aged or moved.
    Static,
    /// From BGP EVPN (through the kernel mirror): never aged; traffic from
    /// other VTEPs does not move it, a local sighting does (the MAC moved
    /// here).
    Evpn,
}

/// A change of where a MAC is held locally, for the EVPN mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalChange {
    pub vni: VniIdx,
    pub mac: [u8; 6],
    /// Some(is_static) while held on an access port, None once not.
    pub local: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
struct Meta {
    /// The entry's slot, for its hit bit; stale after a table rebuild until
    /// the next aging round re-reads it.
    slot: usize,
    kind: Kind,
    target: Target,
    last_seen: u64,
    window_start: u64,
    window_moves: u32,
    damped_until: u64,
    /// An EVPN route with the sticky (static) flag: never moved by
    /// traffic, not even from an access port (RFC 7432, section 15.2).
    sticky: bool,
}

/// What a learn event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Learned {
    New,
    Moved {
        from: Target,
    },
    Refreshed,
    StaticKept,
    Damped,
    /// An EVPN entry kept against a sighting behind another VTEP.
    EvpnKept,
    LimitReached,
    TableFull,
    Disabled,
}

impl Meta {
    fn new(slot: usize, kind: Kind, target: Target, now: u64) -> Meta {
        Meta {
            slot,
            kind,
            target,
            last_seen: now,
            window_start: now,
            window_moves: 0,
            damped_until: 0,
            sticky: false,
        }
    }
}

pub use vtep_api::FdbCounters;

/// A row of `fdb show`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub vni: VniIdx,
    pub mac: vtep_config::MacAddr,
    pub target: Target,
    pub kind: Kind,
    pub age_ms: u64,
}

pub struct FdbManager {
    w: FdbWriter,
    meta: HashMap<u64, Meta>,
    learned_per_vni: HashMap<VniIdx, u32>,
    policies: HashMap<VniIdx, VniPolicy>,
    /// Rebuilds up to the last aging round: `Meta::slot` is stale after
    /// another one.
    seen_rebuilds: u64,
    /// Local changes since the last [`FdbManager::take_local_changes`],
    /// recorded once [`FdbManager::track_local`] is called.
    journal: Option<Vec<LocalChange>>,
    pub counters: FdbCounters,
}

impl FdbManager {
    pub fn new(capacity: usize) -> FdbManager {
        FdbManager {
            w: FdbWriter::new(capacity),
            meta: HashMap::new(),
            learned_per_vni: HashMap::new(),
            policies: HashMap::new(),
            seen_rebuilds: 0,
            journal: None,
            counters: FdbCounters::default(),
        }
    }

    /// Records, from now on, every change of the MACs held on access ports.
    pub fn track_local(&mut self) {
        self.journal.get_or_insert_with(Vec::new);
    }

    pub fn take_local_changes(&mut self) -> Vec<LocalChange> {
        self.journal
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    fn note(
        &mut self,
        vni: VniIdx,
        mac: [u8; 6],
        was: Option<Target>,
        now: Option<(Target, Kind)>,
    ) {
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        let local = match now {
            Some((Target::Local(_), k)) => Some(k == Kind::Static),
            _ => None,
        };
        if local.is_some() || matches!(was, Some(Target::Local(_))) {
            j.push(LocalChange { vni, mac, local });
        }
    }

    /// Every MAC held on an access port: (VNI, MAC, is_static).
    pub fn locals(&self) -> Vec<(VniIdx, [u8; 6], bool)> {
        self.meta
            .iter()
            .filter(|(_, m)| matches!(m.target, Target::Local(_)))
            .map(|(k, m)| {
                let (v, mac) = key_parts(*k);
                (v, mac.0, m.kind == Kind::Static)
            })
            .collect()
    }

    /// The kind of an entry.
    pub fn kind(&self, vni: VniIdx, mac: [u8; 6]) -> Option<Kind> {
        self.meta.get(&key(vni, mac)).map(|m| m.kind)
    }

    /// Adds or replaces an EVPN entry; true if that changed the table (a
    /// static entry for the MAC is kept, false). A learned entry is
    /// replaced: the MAC moved.
    pub fn add_evpn(
        &mut self,
        vni: VniIdx,
        mac: [u8; 6],
        target: Target,
        sticky: bool,
        now: u64,
    ) -> Result<bool, crate::datapath::fdb::Full> {
        let k = key(vni, mac);
        let old = self.meta.get(&k).copied();
        match old {
            Some(m) if m.kind == Kind::Static => return Ok(false),
            Some(m) if m.kind == Kind::Evpn && m.target == target => {
                if let Some(m) = self.meta.get_mut(&k) {
                    m.sticky = sticky;
                }
                return Ok(false);
            }
            _ => {}
        }
        let slot = self.w.insert(
            k,
            Entry {
                target,
                is_static: false,
            },
        )?;
        self.meta.insert(
            k,
            Meta {
                sticky,
                ..Meta::new(slot, Kind::Evpn, target, now)
            },
        );
        if let Some(m) = old {
            if m.kind == Kind::Learned {
                self.dec_learned(vni);
                self.counters.moved += 1;
            }
        }
        self.note(vni, mac, old.map(|m| m.target), Some((target, Kind::Evpn)));
        Ok(true)
    }

    /// Removes an EVPN entry; other kinds stay. True if it went.
    pub fn remove_evpn(&mut self, vni: VniIdx, mac: [u8; 6]) -> bool {
        self.kind(vni, mac) == Some(Kind::Evpn) && self.remove(vni, mac)
    }

    pub fn shared(&self) -> crate::datapath::fdb::SharedFdb {
        self.w.shared()
    }

    /// Slots of the table workers use now.
    pub fn slots(&self) -> usize {
        self.w.shared().load().slots()
    }

    /// Slots of the largest table (the table grows with its entries): size
    /// hit maps with it.
    pub fn max_slots(&self) -> usize {
        self.w.max_slots()
    }

    pub fn len(&self) -> usize {
        self.meta.len()
    }

    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Entries that can still be added.
    pub fn free(&self) -> usize {
        self.w.free()
    }

    pub fn contains(&self, vni: VniIdx, mac: [u8; 6]) -> bool {
        self.meta.contains_key(&key(vni, mac))
    }

    pub fn learned_in(&self, vni: VniIdx) -> u32 {
        self.learned_per_vni.get(&vni).copied().unwrap_or(0)
    }

    pub fn set_policy(&mut self, vni: VniIdx, p: VniPolicy) {
        self.policies.insert(vni, p);
    }

    pub fn remove_policy(&mut self, vni: VniIdx) {
        self.policies.remove(&vni);
    }

    /// Handles a source MAC seen at `target`.
    pub fn learn(&mut self, vni: VniIdx, mac: [u8; 6], target: Target, now: u64) -> Learned {
        let Some(pol) = self.policies.get(&vni).copied() else {
            return Learned::Disabled;
        };
        if !pol.learning {
            return Learned::Disabled;
        }
        let k = key(vni, mac);
        if let Some(m) = self.meta.get(&k) {
            if m.kind == Kind::Evpn {
                if m.sticky || !matches!(target, Target::Local(_)) {
                    return Learned::EvpnKept;
                }
                if self.learned_in(vni) >= pol.mac_limit {
                    self.counters.mac_limit_drops += 1;
                    return Learned::LimitReached;
                }
                // Seen here: the MAC moved to this VTEP.
                let from = m.target;
                let e = Entry {
                    target,
                    is_static: false,
                };
                let slot = self.w.insert(k, e).expect("existing key keeps its slot");
                self.meta
                    .insert(k, Meta::new(slot, Kind::Learned, target, now));
                *self.learned_per_vni.entry(vni).or_default() += 1;
                self.counters.moved += 1;
                self.note(vni, mac, Some(from), Some((target, Kind::Learned)));
                return Learned::Moved { from };
            }
        }
        if let Some(m) = self.meta.get_mut(&k) {
            if m.kind == Kind::Static {
                return Learned::StaticKept;
            }
            if m.target == target {
                m.last_seen = now;
                return Learned::Refreshed;
            }
            if now < m.damped_until {
                return Learned::Damped;
            }
            if now.saturating_sub(m.window_start) > DAMP_WINDOW_MS {
                m.window_start = now;
                m.window_moves = 0;
            }
            m.window_moves += 1;
            if m.window_moves > DAMP_MOVES {
                m.damped_until = now + DAMP_HOLD_MS;
                m.window_moves = 0;
                self.counters.damped += 1;
                return Learned::Damped;
            }
            let from = m.target;
            m.target = target;
            m.last_seen = now;
            let e = Entry {
                target,
                is_static: false,
            };
            // Replacing a live key never needs room: it keeps its slot.
            let slot = self.w.insert(k, e).expect("existing key keeps its slot");
            m.slot = slot;
            self.counters.moved += 1;
            self.note(vni, mac, Some(from), Some((target, Kind::Learned)));
            return Learned::Moved { from };
        }
        if self.learned_in(vni) >= pol.mac_limit {
            self.counters.mac_limit_drops += 1;
            return Learned::LimitReached;
        }
        match self.w.insert(
            k,
            Entry {
                target,
                is_static: false,
            },
        ) {
            Ok(slot) => {
                self.meta
                    .insert(k, Meta::new(slot, Kind::Learned, target, now));
                *self.learned_per_vni.entry(vni).or_default() += 1;
                self.counters.learned += 1;
                self.note(vni, mac, None, Some((target, Kind::Learned)));
                Learned::New
            }
            Err(_) => {
                self.counters.table_full += 1;
                Learned::TableFull
            }
        }
    }

    /// Adds or replaces a static entry (config or API). A learned entry for
    /// the same key is replaced.
    pub fn add_static(
        &mut self,
        vni: VniIdx,
        mac: [u8; 6],
        target: Target,
        now: u64,
    ) -> Result<(), crate::datapath::fdb::Full> {
        let k = key(vni, mac);
        let slot = self.w.insert(
            k,
            Entry {
                target,
                is_static: true,
            },
        )?;
        let old = self
            .meta
            .insert(k, Meta::new(slot, Kind::Static, target, now));
        if old.is_some_and(|o| o.kind == Kind::Learned) {
            self.dec_learned(vni);
        }
        self.note(
            vni,
            mac,
            old.map(|o| o.target),
            Some((target, Kind::Static)),
        );
        Ok(())
    }

    /// Removes one entry, static or learned.
    pub fn remove(&mut self, vni: VniIdx, mac: [u8; 6]) -> bool {
        let k = key(vni, mac);
        match self.meta.remove(&k) {
            Some(m) => {
                if m.kind == Kind::Learned {
                    self.dec_learned(vni);
                }
                self.w.remove(k);
                self.note(vni, mac, Some(m.target), None);
                true
            }
            None => false,
        }
    }

    fn dec_learned(&mut self, vni: VniIdx) {
        if let Some(n) = self.learned_per_vni.get_mut(&vni) {
            *n = n.saturating_sub(1);
        }
    }

    /// Removes entries matching the filters; `include_static` also removes
    /// static and EVPN ones. Returns how many went.
    pub fn flush(
        &mut self,
        vni: Option<VniIdx>,
        target: Option<Target>,
        include_static: bool,
    ) -> usize {
        let doomed: Vec<u64> = self
            .meta
            .iter()
            .filter(|(k, m)| {
                (include_static || m.kind == Kind::Learned)
                    && vni.is_none_or(|v| key_parts(**k).0 == v)
                    && target.is_none_or(|t| m.target == t)
            })
            .map(|(k, _)| *k)
            .collect();
        for k in &doomed {
            let (v, mac) = key_parts(*k);
            self.remove(v, mac.0);
        }
        doomed.len()
    }

    /// Ages learned entries: a slot marked in any worker's hit map counts as
    /// seen now; entries idle longer than their VNI's aging time go.
    ///
    /// After a rebuild the bits are about the old slots: that round counts
    /// every learned entry as seen.
    pub fn age(&mut self, now: u64, hits: &[Arc<HitMap>]) -> usize {
        let words = hits.first().map(|h| h.words()).unwrap_or(0);
        let mut merged = vec![0u64; words];
        for h in hits {
            for (i, w) in merged.iter_mut().enumerate() {
                *w |= h.take_word(i);
            }
        }
        if self.w.rebuilds() != self.seen_rebuilds {
            self.resync(now);
            return 0;
        }
        let mut doomed = Vec::new();
        for (k, m) in self.meta.iter_mut() {
            if m.kind != Kind::Learned {
                continue;
            }
            if merged
                .get(m.slot / 64)
                .is_some_and(|w| w & (1 << (m.slot % 64)) != 0)
            {
                m.last_seen = now;
                continue;
            }
            let vni = key_parts(*k).0;
            let aging = self.policies.get(&vni).map(|p| p.aging_ms).unwrap_or(0);
            if now.saturating_sub(m.last_seen) > aging {
                doomed.push(*k);
            }
        }
        for k in &doomed {
            let (v, mac) = key_parts(*k);
            self.remove(v, mac.0);
        }
        self.counters.aged += doomed.len() as u64;
        doomed.len()
    }

    /// After table rebuilds slots moved: re-reads them (once per aging
    /// round, not per rebuild: a table growing under a learning storm is
    /// rebuilt many times). The hit bits are void, so every learned entry
    /// counts as seen now (aging errs towards keeping).
    fn resync(&mut self, now: u64) {
        self.seen_rebuilds = self.w.rebuilds();
        for (slot, k, _) in self.w.entries() {
            if let Some(m) = self.meta.get_mut(&k) {
                m.slot = slot;
                if m.kind == Kind::Learned {
                    m.last_seen = now;
                }
            }
        }
    }

    pub fn rows(&self, now: u64) -> Vec<Row> {
        let mut v: Vec<Row> = self
            .meta
            .iter()
            .map(|(k, m)| {
                let (vni, mac) = key_parts(*k);
                Row {
                    vni,
                    mac,
                    target: m.target,
                    kind: m.kind,
                    age_ms: now.saturating_sub(m.last_seen),
                }
            })
            .collect();
        v.sort_by_key(|r| (r.vni, r.mac));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POL: VniPolicy = VniPolicy {
        learning: true,
        mac_limit: 3,
        aging_ms: 1000,
    };

    fn mgr() -> FdbManager {
        let mut m = FdbManager::new(1000);
        m.set_policy(0, POL);
        m.set_policy(1, POL);
        m
    }

    fn mac(i: u8) -> [u8; 6] {
        [2, 0, 0, 0, 0, i]
    }

    fn lookup(m: &FdbManager, v: VniIdx, i: u8) -> Option<Target> {
        m.shared()
            .load()
            .lookup(key(v, mac(i)))
            .map(|(_, e)| e.target)
    }

    #[test]
    fn learn_refresh_and_move() {
        let mut m = mgr();
        assert_eq!(m.learn(0, mac(1), Target::Remote(1), 0), Learned::New);
        assert_eq!(m.learn(0, mac(1), Target::Remote(1), 5), Learned::Refreshed);
        assert_eq!(
            m.learn(0, mac(1), Target::Remote(2), 6),
            Learned::Moved {
                from: Target::Remote(1)
            }
        );
        assert_eq!(
            lookup(&m, 0, 1),
            Some(Target::Remote(2)),
            "readers see the move at once"
        );
        assert_eq!(m.counters.moved, 1);
        assert_eq!(lookup(&m, 1, 1), None, "other VNI untouched");
    }

    #[test]
    fn static_entries_are_never_moved_or_aged() {
        let mut m = mgr();
        m.add_static(0, mac(1), Target::Remote(7), 0).unwrap();
        assert_eq!(m.learn(0, mac(1), Target::Local(0), 1), Learned::StaticKept);
        assert_eq!(m.age(1_000_000, &[]), 0);
        assert_eq!(lookup(&m, 0, 1), Some(Target::Remote(7)));
    }

    #[test]
    fn mac_limit_per_vni() {
        let mut m = mgr();
        for i in 0..3 {
            assert_eq!(m.learn(0, mac(i), Target::Local(0), 0), Learned::New);
        }
        assert_eq!(
            m.learn(0, mac(9), Target::Local(0), 0),
            Learned::LimitReached
        );
        assert_eq!(m.counters.mac_limit_drops, 1);
        assert_eq!(
            m.learn(1, mac(9), Target::Local(0), 0),
            Learned::New,
            "other VNI has room"
        );
        m.add_static(0, mac(20), Target::Remote(1), 0).unwrap();
        assert_eq!(m.learned_in(0), 3, "static entries do not count");
        assert!(m.remove(0, mac(0)));
        assert_eq!(m.learn(0, mac(9), Target::Local(0), 0), Learned::New);
    }

    #[test]
    fn aging_uses_hit_bits() {
        let mut m = mgr();
        let hits = vec![Arc::new(HitMap::new(m.max_slots()))];
        m.learn(0, mac(1), Target::Local(0), 0);
        m.learn(0, mac(2), Target::Local(0), 0);
        let (slot, _) = m.shared().load().lookup(key(0, mac(1))).unwrap();
        hits[0].mark(slot);
        assert_eq!(m.age(900, &hits), 0);
        assert_eq!(m.age(1500, &hits), 1, "mac 2 idle past 1000 ms");
        assert!(lookup(&m, 0, 1).is_some() && lookup(&m, 0, 2).is_none());
        assert_eq!(m.age(2000, &hits), 1, "mac 1 seen at 900, idle since");
        assert_eq!(m.counters.aged, 2);
        assert_eq!(m.learned_in(0), 0);
    }

    #[test]
    fn aging_after_the_table_grew() {
        let mut m = FdbManager::new(100_000);
        m.set_policy(
            0,
            VniPolicy {
                mac_limit: 100_000,
                ..POL
            },
        );
        let wide = |i: u32| {
            let b = i.to_be_bytes();
            [2, 0, b[0], b[1], b[2], b[3]]
        };
        let hits = vec![Arc::new(HitMap::new(m.max_slots()))];
        let before = m.slots();
        for i in 0..5000 {
            assert_eq!(m.learn(0, wide(i), Target::Remote(1), 0), Learned::New);
        }
        assert!(m.slots() > before, "grew: {before} -> {}", m.slots());
        // Marks made under the old slots mean nothing now: the first round
        // after the growth counts every entry as seen.
        assert_eq!(m.age(1500, &hits), 0);
        // From then on the hits at the new slots keep entries.
        for i in 0..10 {
            let (slot, _) = m.shared().load().lookup(key(0, wide(i))).unwrap();
            hits[0].mark(slot);
        }
        assert_eq!(m.age(2000, &hits), 0, "aging is 1000 ms");
        assert_eq!(m.age(2600, &hits), 4990, "idle since 1500");
        for i in 0..5000 {
            assert_eq!(
                m.contains(0, wide(i)) && m.shared().load().lookup(key(0, wide(i))).is_some(),
                i < 10,
                "mac {i}"
            );
        }
        assert_eq!(m.len(), 10);
    }

    #[test]
    fn flapping_mac_is_damped() {
        let mut m = mgr();
        m.learn(0, mac(1), Target::Remote(1), 0);
        let mut now = 1;
        let mut outcomes = Vec::new();
        for i in 0..8 {
            let t = Target::Remote(if i % 2 == 0 { 2 } else { 1 });
            outcomes.push(m.learn(0, mac(1), t, now));
            now += 10;
        }
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| matches!(o, Learned::Moved { .. }))
                .count(),
            5
        );
        // Held where it was: traffic from there refreshes, from elsewhere is damped.
        assert_eq!(
            outcomes[5..],
            [Learned::Damped, Learned::Refreshed, Learned::Damped]
        );
        assert_eq!(m.counters.damped, 1);
        let held = lookup(&m, 0, 1);
        assert!(matches!(
            m.learn(0, mac(1), Target::Remote(9), now + DAMP_HOLD_MS + 1),
            Learned::Moved { .. }
        ));
        assert_ne!(lookup(&m, 0, 1), held, "moves resume after the hold");
    }

    #[test]
    fn flush_by_vni_and_remote() {
        let mut m = mgr();
        m.learn(0, mac(1), Target::Remote(1), 0);
        m.learn(0, mac(2), Target::Remote(2), 0);
        m.learn(1, mac(3), Target::Remote(1), 0);
        m.add_static(1, mac(4), Target::Remote(1), 0).unwrap();
        assert_eq!(m.flush(None, Some(Target::Remote(1)), false), 2);
        assert_eq!(m.len(), 2);
        assert_eq!(m.flush(Some(1), None, true), 1);
        assert_eq!(m.rows(0).len(), 1);
        assert_eq!(m.rows(0)[0].mac.0, mac(2));
    }

    #[test]
    fn learning_disabled_vni() {
        let mut m = mgr();
        m.set_policy(
            2,
            VniPolicy {
                learning: false,
                ..POL
            },
        );
        assert_eq!(m.learn(2, mac(1), Target::Local(0), 0), Learned::Disabled);
        assert_eq!(
            m.learn(3, mac(1), Target::Local(0), 0),
            Learned::Disabled,
            "unconfigured VNI"
        );
    }
}

//! The forwarding database: (VNI, MAC) -> local access port or remote VTEP.
//!
//! Design (single writer, many lock-free readers):
//! - [`FdbTable`] is an open-addressing hash table (linear probing) of
//!   16-byte slots, each two `AtomicU64`s: the key (one more than the VNI
//!   index in the top 16 bits, MAC in the low 48; 0 = never used) and the
//!   value (kind, static flag, target; 0 = deleted).
//! - Size: a table is sized to its entries, not to the configured capacity:
//!   it starts at [`MIN_SLOTS`], is rebuilt twice as large when an insert
//!   would fill more than half its slots, and a compaction sizes it to its
//!   entries again, never beyond the slots the capacity needs. A lookup
//!   in a small population then stays in a small range of memory.
//! - Publication: the management thread is the only writer, and a slot's
//!   key, once written, never changes for the life of the table: a new key
//!   takes an empty slot (value stored first, then the key with Release),
//!   and every later change of that key (a move, a delete, a re-add) is one
//!   store of its value. A reader loads the key (Acquire) and, if it is the
//!   one sought, the value: the value it sees is the first one or a later
//!   one, each a whole entry. No reader waits or retries, and readers never
//!   write: a lookup touches no shared cache line for writing.
//! - Reclamation: slots are never freed while readers run; a deleted entry
//!   becomes a tombstone (value 0) that probes skip and only the same key
//!   reuses. When tombstones pile up the writer builds a fresh table and
//!   publishes it with `arc_swap`; workers take the current table at the
//!   start of each burst (through an `arc_swap::Cache`), and an old table
//!   is freed when the last worker holding it moves on (reference
//!   counting).
//! - A move (VM migration) is one value store: the next lookup after it sees
//!   the new location.
//! - Aging needs to know which entries carried traffic without readers
//!   writing shared lines: each worker owns a [`HitMap`] (one bit per slot,
//!   set only when clear, in memory only that worker writes); the management
//!   thread reads and clears them when it ages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;
use vtep_config::MacAddr;

/// Dense index of a configured VNI (see `mgmt::reconcile::VniIndex`).
pub type VniIdx = u16;

/// Where a MAC lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    /// Access port index.
    Local(u16),
    /// Remote VTEP index (into the published remote table).
    Remote(u32),
}

/// A looked-up entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub target: Target,
    pub is_static: bool,
}

const KIND_LOCAL: u64 = 1 << 56;
const KIND_REMOTE: u64 = 2 << 56;
const KIND_MASK: u64 = 0xff << 56;
const STATIC: u64 = 1 << 55;

#[inline(always)]
pub fn key(vni: VniIdx, mac: [u8; 6]) -> u64 {
    ((vni as u64 + 1) << 48)
        | u64::from_be_bytes([0, 0, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]])
}

/// The FDB keys of a frame's destination and source MACs in VNI `vni`,
/// from its first 12 bytes.
#[inline(always)]
pub fn frame_keys(vni: VniIdx, h: &[u8; 12]) -> (u64, u64) {
    let tag = (vni as u64 + 1) << 48;
    let (dst, src) = crate::wire::ethernet::mac_words(h);
    (tag | dst, tag | src)
}

/// Whether the MAC of key `k` is a group (multicast or broadcast) address.
#[inline(always)]
pub fn key_is_group(k: u64) -> bool {
    k & (1 << 40) != 0
}

/// The MAC of key `k`, as [`crate::wire::ethernet::mac_words`] gives it
/// (the key's low 48 bits).
#[inline(always)]
pub fn key_mac(k: u64) -> u64 {
    k & 0xffff_ffff_ffff
}

pub fn key_parts(k: u64) -> (VniIdx, MacAddr) {
    let b = k.to_be_bytes();
    (
        ((k >> 48) - 1) as VniIdx,
        MacAddr([b[2], b[3], b[4], b[5], b[6], b[7]]),
    )
}

fn encode(e: Entry) -> u64 {
    let s = if e.is_static { STATIC } else { 0 };
    match e.target {
        Target::Local(p) => KIND_LOCAL | s | p as u64,
        Target::Remote(r) => KIND_REMOTE | s | r as u64,
    }
}

#[inline(always)]
fn decode(v: u64) -> Option<Entry> {
    let is_static = v & STATIC != 0;
    match v & KIND_MASK {
        KIND_LOCAL => Some(Entry {
            target: Target::Local(v as u16),
            is_static,
        }),
        KIND_REMOTE => Some(Entry {
            target: Target::Remote(v as u32),
            is_static,
        }),
        _ => None,
    }
}

#[inline(always)]
fn hash(k: u64) -> u64 {
    // Fibonacci hashing of a mixed key: MAC bytes vary most in the low bits.
    (k ^ (k >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// Words per slot: key and value (16 bytes, never straddling a cache line).
const SLOT_WORDS: usize = 2;

/// The table. Readers use [`FdbTable::lookup`]; writes go through
/// [`FdbWriter`], of which there is one.
pub struct FdbTable {
    /// SLOT_WORDS words per slot, on transparent huge pages (lookups are
    /// random: on 4 KiB pages each one paid a TLB miss).
    words: dpdk::HugeAtomics,
    mask: usize,
    shift: u32,
    /// Odd while a slot is being written, and two more after each write;
    /// shared by the tables of one writer. A reader that saw the same even
    /// value twice knows no entry changed in between (see
    /// [`FdbTable::version`]).
    version: Arc<AtomicU64>,
}

/// Slots of a table with no entries.
pub const MIN_SLOTS: usize = 1024;

/// Slots for `entries` entries at a load of at most a half.
fn slots_for(entries: usize) -> usize {
    (entries.max(16) * 2).next_power_of_two()
}

/// The insert could not find room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("FDB table is full")]
pub struct Full;

impl FdbTable {
    fn new(slots: usize, version: Arc<AtomicU64>) -> FdbTable {
        debug_assert!(slots.is_power_of_two());
        FdbTable {
            words: dpdk::HugeAtomics::zeroed(slots * SLOT_WORDS),
            mask: slots - 1,
            shift: 64 - slots.trailing_zeros(),
            version,
        }
    }

    /// The writer's version: odd while it writes a slot, a new even value
    /// after each write. Entries a reader looked up after seeing even
    /// version `v` are still current as long as the version reads `v`
    /// (the writer raises it before a write and again after).
    #[inline(always)]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    pub fn slots(&self) -> usize {
        self.mask + 1
    }

    /// The (key, value) words of slot `i`.
    #[inline(always)]
    fn slot(&self, i: usize) -> (&AtomicU64, &AtomicU64) {
        let w = &self.words[i * SLOT_WORDS..i * SLOT_WORDS + 2];
        (&w[0], &w[1])
    }

    /// Slot `i` as its only writer sees it.
    fn own(&self, i: usize) -> (u64, u64) {
        let (key, val) = self.slot(i);
        (key.load(Ordering::Relaxed), val.load(Ordering::Relaxed))
    }

    /// Gives slot `i` key `k` (empty, or already `k`'s) and value `v`, with
    /// the version odd meanwhile.
    fn write(&self, i: usize, k: u64, v: u64) {
        // Single writer: plain stores, no locked instructions.
        let ver = self.version.load(Ordering::Relaxed);
        self.version.store(ver | 1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        let (key, val) = self.slot(i);
        if key.load(Ordering::Relaxed) == k {
            val.store(v, Ordering::Release);
        } else {
            debug_assert_eq!(key.load(Ordering::Relaxed), 0, "a slot's key never changes");
            // The value first: a reader that sees the key sees it.
            val.store(v, Ordering::Relaxed);
            key.store(k, Ordering::Release);
        }
        self.version.store((ver | 1) + 1, Ordering::Release);
    }

    #[inline(always)]
    fn home(&self, k: u64) -> usize {
        (hash(k) >> self.shift) as usize & self.mask
    }

    /// Prefetches the home slot of `k`, so the lookups of a burst overlap
    /// their cache and TLB misses instead of paying them one by one.
    #[inline(always)]
    pub fn prefetch(&self, k: u64) {
        self.prefetch_slot(self.home(k));
    }

    /// [`FdbTable::prefetch`], and the word of `hits` that a hit on the
    /// home slot marks (learning marks every source it finds).
    #[inline(always)]
    pub fn prefetch_learned(&self, k: u64, hits: &HitMap) {
        let i = self.home(k);
        self.prefetch_slot(i);
        hits.prefetch(i);
    }

    #[inline(always)]
    fn prefetch_slot(&self, i: usize) {
        dpdk::prefetch(&self.words[i * SLOT_WORDS]);
    }

    /// Finds `k`; returns the slot index and entry.
    #[inline(always)]
    pub fn lookup(&self, k: u64) -> Option<(usize, Entry)> {
        self.find(k).and_then(|(i, v)| decode(v).map(|e| (i, e)))
    }

    /// The remote VTEP `k` is behind, if the FDB has it behind one: all
    /// the known-unicast encap path needs, without building an [`Entry`].
    #[inline(always)]
    pub fn lookup_remote(&self, k: u64) -> Option<u32> {
        self.find(k)
            .and_then(|(_, v)| (v & KIND_MASK == KIND_REMOTE).then_some(v as u32))
    }

    /// The slot and raw value of `k`.
    #[inline(always)]
    fn find(&self, k: u64) -> Option<(usize, u64)> {
        let mut i = self.home(k);
        for _ in 0..self.slots() {
            let (key, val) = self.slot(i);
            let sk = key.load(Ordering::Acquire);
            if sk == k {
                return Some((i, val.load(Ordering::Relaxed)));
            }
            if sk == 0 {
                return None;
            }
            i = (i + 1) & self.mask;
        }
        None
    }
}

/// Per-worker hit bits, one per slot (see the module doc).
pub struct HitMap {
    words: Box<[AtomicU64]>,
}

impl HitMap {
    pub fn new(slots: usize) -> HitMap {
        HitMap {
            words: (0..slots.div_ceil(64)).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Marks slot `i` as used; writes only when the bit is clear.
    #[inline(always)]
    pub fn mark(&self, i: usize) {
        if let Some(w) = self.words.get(i / 64) {
            let bit = 1u64 << (i % 64);
            // Read first: the atomic OR (a locked instruction) runs once
            // per slot per aging round, and never undoes the ager's swap.
            if w.load(Ordering::Relaxed) & bit == 0 {
                w.fetch_or(bit, Ordering::Relaxed);
            }
        }
    }

    /// Prefetches the word holding slot `i`'s bit.
    #[inline(always)]
    pub fn prefetch(&self, i: usize) {
        if let Some(w) = self.words.get(i / 64) {
            dpdk::prefetch(w);
        }
    }

    /// Reads and clears the word holding slot `i`'s bit.
    pub fn take_word(&self, word: usize) -> u64 {
        self.words
            .get(word)
            .map(|w| w.swap(0, Ordering::Relaxed))
            .unwrap_or(0)
    }

    pub fn words(&self) -> usize {
        self.words.len()
    }
}

/// The published table, read by workers.
pub type SharedFdb = Arc<ArcSwap<FdbTable>>;

/// Where each writer's version starts: far apart, so a version a reader
/// remembers from one writer's tables is never one of the next writer's.
static WRITERS: AtomicU64 = AtomicU64::new(0);

/// The only writer of the FDB table. Not Clone.
pub struct FdbWriter {
    shared: SharedFdb,
    capacity: usize,
    /// Slots of the largest table: enough for `capacity` entries.
    max_slots: usize,
    live: usize,
    tombstones: usize,
    rebuilds: u64,
}

impl FdbWriter {
    /// A table for up to `capacity` entries.
    pub fn new(capacity: usize) -> FdbWriter {
        let max_slots = slots_for(capacity);
        FdbWriter {
            shared: Arc::new(ArcSwap::from_pointee(FdbTable::new(
                MIN_SLOTS.min(max_slots),
                Arc::new(AtomicU64::new(
                    WRITERS.fetch_add(1 << 40, Ordering::Relaxed),
                )),
            ))),
            capacity,
            max_slots,
            live: 0,
            tombstones: 0,
            rebuilds: 0,
        }
    }

    /// Slots of the largest table this writer builds: a slot index is
    /// always below it (hit maps are sized with it).
    pub fn max_slots(&self) -> usize {
        self.max_slots
    }

    /// Slots for `live` entries at a load of at most a quarter, so that
    /// the table has room before it grows again.
    fn fit(&self, live: usize) -> usize {
        (live * 4)
            .next_power_of_two()
            .max(MIN_SLOTS)
            .min(self.max_slots)
    }

    pub fn shared(&self) -> SharedFdb {
        self.shared.clone()
    }

    pub fn len(&self) -> usize {
        self.live
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Entries that can still be inserted.
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.live)
    }

    /// How many times the table was rebuilt (grown or compacted); slot
    /// indices and hit bits are reset each time.
    pub fn rebuilds(&self) -> u64 {
        self.rebuilds
    }

    pub fn lookup(&self, k: u64) -> Option<(usize, Entry)> {
        self.shared.load().lookup(k)
    }

    /// Inserts or replaces; returns the slot index.
    pub fn insert(&mut self, k: u64, e: Entry) -> Result<usize, Full> {
        let t = self.shared.load_full();
        let mut i = t.home(k);
        // A key has at most one slot: its own (live or a tombstone), or
        // else the first empty one of its probe sequence. Another key's
        // tombstone is never reused (a slot's key never changes).
        for _ in 0..t.slots() {
            let (sk, sv) = t.own(i);
            if sk == k {
                if sv == 0 {
                    if self.live >= self.capacity {
                        return Err(Full);
                    }
                    self.live += 1;
                    self.tombstones -= 1;
                }
                t.write(i, k, encode(e));
                return Ok(i);
            }
            if sk == 0 {
                break;
            }
            i = (i + 1) & t.mask;
        }
        if self.live >= self.capacity {
            return Err(Full);
        }
        if (self.live + self.tombstones + 1) * 2 > t.slots() {
            let slots = self.fit(self.live);
            if slots > t.slots() {
                self.rebuild_to(slots);
                return self.insert(k, e);
            }
        }
        t.write(i, k, encode(e));
        self.live += 1;
        Ok(i)
    }

    /// Removes `k`; returns whether it was present.
    pub fn remove(&mut self, k: u64) -> bool {
        let t = self.shared.load_full();
        let Some((i, _)) = t.lookup(k) else {
            return false;
        };
        t.write(i, k, 0);
        self.live -= 1;
        self.tombstones += 1;
        if self.tombstones > t.slots() / 4 {
            self.rebuild();
        }
        true
    }

    /// Copies the live entries into a fresh table sized to them and
    /// publishes it.
    pub fn rebuild(&mut self) {
        self.rebuild_to(self.fit(self.live));
    }

    fn rebuild_to(&mut self, slots: usize) {
        let old = self.shared.load_full();
        let new = FdbTable::new(slots, old.version.clone());
        let mut live = 0;
        for i in 0..old.slots() {
            let (k, v) = old.own(i);
            if k != 0 && v != 0 {
                let mut j = new.home(k);
                while new.own(j).0 != 0 {
                    j = (j + 1) & new.mask;
                }
                // No reader sees this table before it is published (with
                // a release store): plain stores, no seqlock.
                let (key, val) = new.slot(j);
                key.store(k, Ordering::Relaxed);
                val.store(v, Ordering::Relaxed);
                live += 1;
            }
        }
        self.live = live;
        self.tombstones = 0;
        self.rebuilds += 1;
        let version = new.version.clone();
        self.shared.store(Arc::new(new));
        // Slots moved: what a reader remembers under the old version goes.
        let v = version.load(Ordering::Relaxed);
        version.store(v + 2, Ordering::Release);
    }

    /// All live entries with their slots.
    pub fn entries(&self) -> Vec<(usize, u64, Entry)> {
        let t = self.shared.load();
        (0..t.slots())
            .filter_map(|i| {
                let (k, v) = t.own(i);
                decode(v).filter(|_| k != 0).map(|e| (i, k, e))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    fn mac(i: u32) -> [u8; 6] {
        let b = i.to_be_bytes();
        [2, 0, b[0], b[1], b[2], b[3]]
    }

    #[test]
    fn frame_keys_match_the_keys_of_its_macs() {
        let dst = [0x02, 0x11, 0x22, 0x33, 0x44, 0x55];
        let src = [0x0a, 0x66, 0x77, 0x88, 0x99, 0xaa];
        let mut h = [0u8; 12];
        h[..6].copy_from_slice(&dst);
        h[6..].copy_from_slice(&src);
        for vni in [0, 1, 4095] {
            assert_eq!(frame_keys(vni, &h), (key(vni, dst), key(vni, src)));
        }
        assert!(!key_is_group(key(7, dst)));
        assert!(key_is_group(key(7, [0xff; 6])));
        assert!(key_is_group(key(7, [0x01, 0, 0x5e, 0, 0, 1])));
        assert!(key_is_group(key(7, [0x33, 0x33, 0, 0, 0, 1])));
    }

    #[test]
    fn insert_lookup_move_remove() {
        let mut w = FdbWriter::new(100);
        let k = key(3, mac(7));
        assert_eq!(key_parts(k), (3, MacAddr(mac(7))));
        let e = Entry {
            target: Target::Remote(4),
            is_static: false,
        };
        let slot = w.insert(k, e).unwrap();
        let t = w.shared();
        assert_eq!(t.load().lookup(k), Some((slot, e)));
        assert_eq!(t.load().lookup(key(4, mac(7))), None, "same MAC, other VNI");
        let moved = Entry {
            target: Target::Local(1),
            is_static: true,
        };
        assert_eq!(w.insert(k, moved).unwrap(), slot, "a move keeps the slot");
        assert_eq!(t.load().lookup(k).unwrap().1, moved);
        assert!(w.remove(k));
        assert!(!w.remove(k));
        assert_eq!(t.load().lookup(k), None);
        assert_eq!(w.len(), 0);
    }

    #[test]
    fn capacity_is_enforced_at_the_configured_size() {
        // 3000 entries need 8192 slots; the table grows from 1024 to them.
        const N: u32 = 3000;
        let mut w = FdbWriter::new(N as usize);
        assert_eq!(w.max_slots(), 8192);
        let e = Entry {
            target: Target::Local(0),
            is_static: false,
        };
        for i in 0..N {
            w.insert(key(0, mac(i)), e).unwrap();
        }
        assert_eq!(w.shared().load().slots(), w.max_slots());
        assert_eq!(w.insert(key(0, mac(99_999)), e), Err(Full));
        // Churn at capacity: removed keys come back, others are refused or
        // take the room a removal left.
        for round in 0..50 {
            assert!(w.remove(key(0, mac(round % 20))));
            w.insert(key(0, mac(10_000 + round)), e).unwrap();
            w.insert(key(0, mac(round % 20)), e).unwrap_or_else(|_| {
                assert!(w.remove(key(0, mac(10_000 + round))));
                w.insert(key(0, mac(round % 20)), e).unwrap()
            });
        }
        assert_eq!(w.len(), N as usize);
        assert_eq!(w.shared().load().slots(), w.max_slots(), "never past it");
        for i in 0..N {
            assert!(w.lookup(key(0, mac(i))).is_some(), "entry {i}");
        }
    }

    #[test]
    fn a_slot_keeps_its_key_for_the_life_of_the_table() {
        let mut w = FdbWriter::new(4096);
        let e = |r| Entry {
            target: Target::Remote(r),
            is_static: false,
        };
        let first: Vec<usize> = (0..300)
            .map(|i| w.insert(key(2, mac(i)), e(i)).unwrap())
            .collect();
        let t = w.shared().load_full();
        let keys = |t: &FdbTable| (0..t.slots()).map(|i| t.own(i).0).collect::<Vec<_>>();
        let before = keys(&t);
        for i in 0..100 {
            assert!(w.remove(key(2, mac(i))));
        }
        // Other keys take empty slots, never a tombstone of another key.
        for i in 300..400 {
            let slot = w.insert(key(2, mac(i)), e(i)).unwrap();
            assert!(!first.contains(&slot), "key {i} took slot {slot}");
        }
        // A removed key comes back to its own slot, moves stay in place.
        assert_eq!(w.insert(key(2, mac(7)), e(1)).unwrap(), first[7]);
        assert_eq!(w.insert(key(2, mac(200)), e(9)).unwrap(), first[200]);
        assert!(Arc::ptr_eq(&t, &w.shared().load_full()), "no rebuild yet");
        let after = keys(&t);
        for (i, (a, b)) in before.iter().zip(&after).enumerate() {
            assert!(*a == 0 || a == b, "slot {i} changed key");
        }
        assert_eq!(t.lookup(key(2, mac(7))), Some((first[7], e(1))));
        assert_eq!(t.lookup(key(2, mac(8))), None);
    }

    #[test]
    fn hit_marks_survive_and_never_undo_a_clear() {
        let h = HitMap::new(128);
        h.mark(70);
        h.mark(70);
        assert_eq!(h.take_word(1), 1 << 6);
        assert_eq!(h.take_word(1), 0, "taken");
        h.mark(70);
        assert_eq!(h.take_word(1), 1 << 6, "marked again after the clear");
    }

    #[test]
    fn the_version_moves_with_every_write_and_writer() {
        let mut w = FdbWriter::new(64);
        let v0 = w.shared().load().version();
        assert_eq!(v0 % 2, 0);
        let mac = key(0, [2, 0, 0, 0, 0, 1]);
        let on = |p| Entry {
            target: Target::Local(p),
            is_static: false,
        };
        w.insert(mac, on(0)).unwrap();
        let v1 = w.shared().load().version();
        w.insert(mac, on(1)).unwrap();
        let v2 = w.shared().load().version();
        assert!(w.remove(mac));
        let v3 = w.shared().load().version();
        assert!(v0 < v1 && v1 < v2 && v2 < v3, "{v0} {v1} {v2} {v3}");
        assert!([v1, v2, v3].iter().all(|v| v % 2 == 0));
        w.rebuild();
        assert!(
            w.shared().load().version() >= v3,
            "a rebuilt table goes on counting"
        );
        // Another writer never repeats this one's versions.
        let other = FdbWriter::new(64).shared().load().version();
        assert!(other > v3 + (1 << 39), "{other} {v3}");
    }

    #[test]
    fn rebuild_keeps_entries() {
        let mut w = FdbWriter::new(1000);
        let e = Entry {
            target: Target::Remote(1),
            is_static: false,
        };
        for i in 0..1000 {
            w.insert(key(1, mac(i)), e).unwrap();
        }
        for i in 0..600 {
            w.remove(key(1, mac(i)));
        }
        assert!(w.rebuilds() >= 1);
        assert_eq!(w.len(), 400);
        assert_eq!(w.entries().len(), 400);
        for i in 600..1000 {
            assert!(w.lookup(key(1, mac(i))).is_some());
        }
    }

    #[test]
    fn the_table_grows_with_its_entries_and_shrinks_after_removals() {
        let mut w = FdbWriter::new(100_000);
        assert_eq!(w.max_slots(), 262_144);
        assert_eq!(w.shared().load().slots(), MIN_SLOTS);
        let e = |i: u32| Entry {
            target: Target::Remote(i),
            is_static: false,
        };
        let mut sizes = vec![MIN_SLOTS];
        for i in 0..20_000 {
            let slot = w.insert(key(1, mac(i)), e(i)).unwrap();
            let slots = w.shared().load().slots();
            assert!(slot < slots && slots <= w.max_slots());
            assert!(w.len() * 2 <= slots, "at most half full: {i}");
            if sizes.last() != Some(&slots) {
                sizes.push(slots);
            }
        }
        assert_eq!(sizes, [1024, 2048, 4096, 8192, 16384, 32768, 65536]);
        for i in 0..19_000 {
            assert!(w.remove(key(1, mac(i))));
        }
        let t = w.shared().load_full();
        // Compacted once, when a quarter of 65536 slots were tombstones:
        // 3615 entries were left, for which 16384 slots are a quarter full.
        assert_eq!((t.slots(), w.rebuilds()), (16384, 7));
        for i in 0..20_000 {
            let hit = t.lookup(key(1, mac(i))).map(|(_, e)| e);
            assert_eq!(hit, (i >= 19_000).then(|| e(i)), "entry {i}");
        }
    }

    #[test]
    fn hit_map_marks_and_takes() {
        let h = HitMap::new(200);
        h.mark(70);
        h.mark(70);
        assert_eq!(h.take_word(1), 1 << 6);
        assert_eq!(h.take_word(1), 0);
        h.mark(10_000); // out of range: ignored
    }

    /// Readers spin while the writer inserts, moves, deletes and rebuilds;
    /// every value a reader sees is one the writer wrote for that key.
    #[test]
    fn concurrent_readers_never_see_torn_entries() {
        const KEYS: u32 = 2000;
        let mut w = FdbWriter::new(4096);
        let shared = w.shared();
        let stop = Arc::new(AtomicBool::new(false));
        // Full passes over the keys, by all readers: the writer starts
        // after some and stops readers only after some more, however the
        // threads are scheduled.
        let passes = Arc::new(AtomicU64::new(0));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let (t, stop, passes) = (shared.clone(), stop.clone(), passes.clone());
                std::thread::spawn(move || {
                    let mut seen = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        let table = t.load();
                        for i in 0..KEYS {
                            if let Some((_, e)) = table.lookup(key((i % 7) as u16, mac(i))) {
                                // The writer only ever maps key i to targets
                                // derived from i.
                                match e.target {
                                    Target::Remote(r) => assert_eq!(r % KEYS, i),
                                    Target::Local(p) => assert_eq!(p as u32, i % 64),
                                }
                                seen += 1;
                            }
                        }
                        passes.fetch_add(1, Ordering::Relaxed);
                    }
                    seen
                })
            })
            .collect();
        // A reader that ended (its assertion failed) stops the wait: the
        // join below reports it.
        let wait_passes = |readers: &[std::thread::JoinHandle<u64>], n: u64| {
            let until = passes.load(Ordering::Relaxed) + n;
            while passes.load(Ordering::Relaxed) < until && !readers.iter().any(|r| r.is_finished())
            {
                std::thread::yield_now();
            }
        };
        wait_passes(&readers, 2);
        for round in 0..40u32 {
            for i in 0..KEYS {
                let target = if (i + round) % 2 == 0 {
                    Target::Remote(i + KEYS * (round % 3))
                } else {
                    Target::Local((i % 64) as u16)
                };
                w.insert(
                    key((i % 7) as u16, mac(i)),
                    Entry {
                        target,
                        is_static: false,
                    },
                )
                .unwrap();
            }
            for i in (round % 5..KEYS).step_by(5) {
                w.remove(key((i % 7) as u16, mac(i)));
            }
            if round % 10 == 9 {
                w.rebuild();
            }
        }
        // Entries are left in the table: passes from now on see them.
        wait_passes(&readers, 4);
        stop.store(true, Ordering::Relaxed);
        let seen: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
        assert!(seen > 0);
        assert!(w.rebuilds() > 0, "the test exercised table replacement");
    }
}

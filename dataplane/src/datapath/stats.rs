//! Per-worker counters. Each worker writes only its own [`WorkerStats`]
//! (plain load + store, no read-modify-write, on cache lines nobody else
//! writes); the management thread reads and sums them. The accounting
//! counters are published once per burst under a sequence number so that a
//! snapshot always satisfies rx == forwarded + dropped + punted.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::datapath::drops::DropReason;

/// Most VNIs and remote VTEPs one appliance tracks counters for.
pub const MAX_VNIS: usize = 4096;
pub const MAX_REMOTES: usize = 4096;

#[inline(always)]
pub fn bump(a: &AtomicU64, n: u64) {
    a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
}

#[derive(Default)]
pub struct PktBytes {
    pub packets: AtomicU64,
    pub bytes: AtomicU64,
}

impl PktBytes {
    #[inline(always)]
    pub fn add(&self, bytes: usize) {
        bump(&self.packets, 1);
        bump(&self.bytes, bytes as u64);
    }

    pub fn get(&self) -> (u64, u64) {
        (
            self.packets.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }
}

/// Packets and bytes on their way to one [`PktBytes`], summed in a
/// worker's registers over a burst, a flood or a run, and added once.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sum {
    pub packets: u64,
    pub bytes: u64,
}

impl Sum {
    #[inline(always)]
    pub fn add(&mut self, bytes: usize) {
        self.packets += 1;
        self.bytes += bytes as u64;
    }

    /// Adds what was summed to `c` (none: a counter that does not exist)
    /// and starts again.
    #[inline(always)]
    pub fn flush(&mut self, c: Option<&PktBytes>) {
        if self.packets != 0 {
            if let Some(c) = c {
                bump(&c.packets, self.packets);
                bump(&c.bytes, self.bytes);
            }
            *self = Sum::default();
        }
    }
}

/// A [`Sum`] for one key at a time (a VNI or a remote): a packet of
/// another key first adds what the run of the last one summed.
#[derive(Debug, Default, Clone, Copy)]
pub struct KeyedSum<K> {
    key: K,
    sum: Sum,
}

impl<K: Copy + PartialEq> KeyedSum<K> {
    /// Counts `bytes` for `key`; `counter` finds a key's counter.
    #[inline(always)]
    pub fn add<'s>(&mut self, key: K, bytes: usize, counter: impl Fn(K) -> Option<&'s PktBytes>) {
        if key != self.key {
            self.sum.flush(counter(self.key));
            self.key = key;
        }
        self.sum.add(bytes);
    }

    #[inline(always)]
    pub fn flush<'s>(&mut self, counter: impl Fn(K) -> Option<&'s PktBytes>) {
        self.sum.flush(counter(self.key));
    }
}

#[derive(Default)]
pub struct VniCounters {
    pub encap: PktBytes,
    pub decap: PktBytes,
    pub flood: PktBytes,
    /// BUM frames flooded to the VNI's multicast group.
    pub group: PktBytes,
    /// Dropped over the VNI's rate (`policed`), from access ports and
    /// from the underlay.
    pub policed_encap: PktBytes,
    pub policed_decap: PktBytes,
    /// BUM frames dropped by storm control.
    pub storm_dropped: AtomicU64,
    /// ARP requests and neighbour solicitations answered on the access
    /// port from the VNI's bindings (ARP suppression).
    pub arp_suppressed: AtomicU64,
    pub nd_suppressed: AtomicU64,
}

#[derive(Default)]
pub struct RemoteCounters {
    pub tx: PktBytes,
    pub rx: PktBytes,
}

/// The accounting of one burst, published at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tally {
    pub rx: u64,
    pub forwarded: u64,
    pub dropped: u64,
    pub punted: u64,
    pub flood_copies: u64,
    pub drops: [u64; DropReason::COUNT],
}

impl Default for Tally {
    fn default() -> Self {
        Tally {
            rx: 0,
            forwarded: 0,
            dropped: 0,
            punted: 0,
            flood_copies: 0,
            drops: [0; DropReason::COUNT],
        }
    }
}

impl Tally {
    #[inline(always)]
    pub fn drop(&mut self, r: DropReason) {
        self.dropped += 1;
        self.drops[r as usize] += 1;
    }

    pub fn add(&mut self, o: &Tally) {
        self.rx += o.rx;
        self.forwarded += o.forwarded;
        self.dropped += o.dropped;
        self.punted += o.punted;
        self.flood_copies += o.flood_copies;
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
    }
}

#[repr(align(64))]
pub struct WorkerStats {
    seq: AtomicU64,
    rx: AtomicU64,
    forwarded: AtomicU64,
    dropped: AtomicU64,
    punted: AtomicU64,
    flood_copies: AtomicU64,
    drops: [AtomicU64; DropReason::COUNT],
    pub flood_copy_drops: AtomicU64,
    pub reserved_bits_seen: AtomicU64,
    pub learn_events_dropped: AtomicU64,
    pub busy_cycles: AtomicU64,
    pub bursts: AtomicU64,
    pub vnis: Box<[VniCounters]>,
    pub remotes: Box<[RemoteCounters]>,
}

impl Default for WorkerStats {
    fn default() -> Self {
        WorkerStats {
            seq: AtomicU64::new(0),
            rx: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            punted: AtomicU64::new(0),
            flood_copies: AtomicU64::new(0),
            drops: std::array::from_fn(|_| AtomicU64::new(0)),
            flood_copy_drops: AtomicU64::new(0),
            reserved_bits_seen: AtomicU64::new(0),
            learn_events_dropped: AtomicU64::new(0),
            busy_cycles: AtomicU64::new(0),
            bursts: AtomicU64::new(0),
            vnis: (0..MAX_VNIS).map(|_| VniCounters::default()).collect(),
            remotes: (0..MAX_REMOTES)
                .map(|_| RemoteCounters::default())
                .collect(),
        }
    }
}

impl WorkerStats {
    /// Adds a burst's tally (worker only).
    #[inline]
    pub fn publish(&self, t: &Tally) {
        let s = self.seq.load(Ordering::Relaxed);
        self.seq.store(s + 1, Ordering::Relaxed);
        std::sync::atomic::fence(Ordering::Release);
        bump(&self.rx, t.rx);
        bump(&self.forwarded, t.forwarded);
        bump(&self.dropped, t.dropped);
        bump(&self.punted, t.punted);
        bump(&self.flood_copies, t.flood_copies);
        if t.dropped != 0 {
            for (i, n) in t.drops.iter().enumerate() {
                if *n != 0 {
                    bump(&self.drops[i], *n);
                }
            }
        }
        self.seq.store(s + 2, Ordering::Release);
    }

    /// A consistent copy of the accounting counters.
    pub fn tally(&self) -> Tally {
        loop {
            let s1 = self.seq.load(Ordering::Acquire);
            if s1 & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let t = Tally {
                rx: self.rx.load(Ordering::Relaxed),
                forwarded: self.forwarded.load(Ordering::Relaxed),
                dropped: self.dropped.load(Ordering::Relaxed),
                punted: self.punted.load(Ordering::Relaxed),
                flood_copies: self.flood_copies.load(Ordering::Relaxed),
                drops: std::array::from_fn(|i| self.drops[i].load(Ordering::Relaxed)),
            };
            std::sync::atomic::fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return t;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn snapshots_keep_the_identity_under_concurrent_publishing() {
        let s = Arc::new(WorkerStats::default());
        let stop = Arc::new(AtomicBool::new(false));
        let (s2, stop2) = (s.clone(), stop.clone());
        let w = std::thread::spawn(move || {
            let mut i = 0u64;
            while !stop2.load(Ordering::Relaxed) {
                let mut t = Tally {
                    rx: 3 + i % 5,
                    forwarded: 1 + i % 5,
                    punted: 1,
                    ..Tally::default()
                };
                t.drop(DropReason::MtuExceeded);
                s2.publish(&t);
                i += 1;
            }
        });
        for _ in 0..10_000 {
            let t = s.tally();
            assert_eq!(t.rx, t.forwarded + t.dropped + t.punted);
            assert_eq!(t.dropped, t.drops[DropReason::MtuExceeded as usize]);
        }
        stop.store(true, Ordering::Relaxed);
        w.join().unwrap();
    }
}

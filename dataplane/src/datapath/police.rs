//! Bandwidth per VNI (`rate_mbps`, `burst_kb`) and storm control
//! (`flood_pps`).
//!
//! Each limit is one shared [`Limiter`]: a GCRA clock (the virtual
//! scheduling form of a token bucket, ITU-T I.371) in one `AtomicU64`,
//! handing out credit in chunks of 1/16 of the bucket depth. Each worker
//! keeps its own [`Credit`] per limit and spends it packet by packet; only
//! when it runs out does it take more chunks from the shared clock, with
//! one compare-and-swap. So the aggregate of all workers is held to the
//! limit however RSS spreads a VNI's flows (a per-worker share of the rate
//! would cap a VNI whose traffic lands on one queue at rate / workers),
//! without a lock and without a shared write per packet. What a worker
//! holds unspent is at most one chunk per limit.
//!
//! Time is in nanoseconds, passed in (the worker converts its TSC reading
//! once per burst), so the arithmetic is tested with made-up clocks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use vtep_config::{RateLimit, VniConfig};

/// Chunks per bucket depth.
const CHUNKS: u64 = 16;

/// A token bucket of `per_sec` units (bytes or packets) per second and
/// `depth` units deep, shared by the workers.
#[derive(Debug)]
pub struct Limiter {
    /// Theoretical arrival time of the next chunk, ns.
    tat: AtomicU64,
    /// ns per chunk.
    interval: u64,
    /// How far `tat` may run ahead of now: the depth, in ns.
    tolerance: u64,
    /// Units per chunk.
    chunk: u64,
}

impl Limiter {
    pub fn new(per_sec: u64, depth: u64) -> Limiter {
        let per_sec = per_sec.max(1);
        let chunk = (depth / CHUNKS).max(1);
        let interval = ((chunk as u128 * 1_000_000_000 + per_sec as u128 / 2) / per_sec as u128)
            .clamp(1, u64::MAX as u128) as u64;
        Limiter {
            tat: AtomicU64::new(0),
            interval,
            tolerance: (depth / chunk).max(1) * interval,
            chunk,
        }
    }

    /// Units per chunk.
    pub fn chunk(&self) -> u64 {
        self.chunk
    }

    /// Takes `n` chunks at time `now` (ns): all of them, or none when the
    /// bucket does not hold them.
    pub fn take(&self, now: u64, n: u64) -> bool {
        let cost = n.saturating_mul(self.interval);
        let mut tat = self.tat.load(Ordering::Relaxed);
        loop {
            let next = tat.max(now).saturating_add(cost);
            if next - now > self.tolerance {
                return false;
            }
            match self
                .tat
                .compare_exchange_weak(tat, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(t) => tat = t,
            }
        }
    }
}

/// One worker's unspent credit of one limiter.
#[derive(Debug, Default, Clone, Copy)]
pub struct Credit(u64);

impl Credit {
    /// Whether a packet costing `cost` units passes `l` at `now`.
    #[inline(always)]
    pub fn admit(&mut self, l: &Limiter, now: u64, cost: u64) -> bool {
        if self.0 >= cost {
            self.0 -= cost;
            return true;
        }
        let n = (cost - self.0).div_ceil(l.chunk);
        if l.take(now, n) {
            self.0 = self.0 + n * l.chunk - cost;
            true
        } else {
            false
        }
    }
}

/// The limits of one VNI; shared by the workers through the published
/// State, and kept across republications while the config keeps them.
#[derive(Debug)]
pub struct VniPolice {
    /// Access to underlay, tenant frame bytes.
    pub encap: Option<Limiter>,
    /// Underlay to access, tenant frame bytes.
    pub decap: Option<Limiter>,
    /// BUM frames from access ports, packets.
    pub flood: Option<Limiter>,
    /// What they were built from (to keep them across reloads).
    pub rate: Option<RateLimit>,
    pub flood_pps: Option<u32>,
}

impl VniPolice {
    /// The limits `v` asks for; None if it asks for none.
    pub fn for_vni(v: &VniConfig) -> Option<Arc<VniPolice>> {
        if v.rate.is_none() && v.flood_pps.is_none() {
            return None;
        }
        let bytes = |r: &RateLimit| Limiter::new(r.bytes_per_sec(), r.burst_bytes as u64);
        Some(Arc::new(VniPolice {
            encap: v.rate.as_ref().map(bytes),
            decap: v.rate.as_ref().map(bytes),
            // 100 ms of flooding at the limit, at least 16 frames.
            flood: v
                .flood_pps
                .map(|p| Limiter::new(p as u64, (p as u64 / 10).max(16))),
            rate: v.rate,
            flood_pps: v.flood_pps,
        }))
    }

    /// Whether `v` asks for exactly these limits.
    pub fn matches(&self, v: &VniConfig) -> bool {
        self.rate == v.rate && self.flood_pps == v.flood_pps
    }
}

/// A worker's credits for every VNI, indexed by VNI index.
#[derive(Default)]
pub struct Credits {
    slots: Vec<Slot>,
}

#[derive(Default, Clone, Copy)]
struct Slot {
    /// The `VniPolice` these credits were drawn from (its address): a new
    /// one (limits changed) starts from nothing.
    owner: usize,
    encap: Credit,
    decap: Credit,
    flood: Credit,
}

/// TSC readings to nanoseconds: one multiply and a shift.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// ns per tick, Q40.
    mult: u128,
}

impl Clock {
    pub fn new(tsc_hz: u64) -> Clock {
        Clock {
            mult: (1_000_000_000u128 << 40) / tsc_hz.max(1) as u128,
        }
    }

    #[inline(always)]
    pub fn ns(&self, tsc: u64) -> u64 {
        ((tsc as u128 * self.mult) >> 40) as u64
    }
}

/// Which limit of a VNI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    Encap,
    Decap,
    Flood,
}

impl Credits {
    /// Whether a frame of `cost` units (bytes, or 1 for `Flood`) passes
    /// limit `dir` of `p`, the limits of VNI index `vni`.
    #[inline]
    pub fn admit(&mut self, vni: u32, p: &Arc<VniPolice>, dir: Dir, now: u64, cost: u64) -> bool {
        let l = match dir {
            Dir::Encap => &p.encap,
            Dir::Decap => &p.decap,
            Dir::Flood => &p.flood,
        };
        let Some(l) = l else { return true };
        let i = vni as usize;
        if i >= self.slots.len() {
            self.slots.resize(i + 1, Slot::default());
        }
        let s = &mut self.slots[i];
        let owner = Arc::as_ptr(p) as usize;
        if s.owner != owner {
            *s = Slot {
                owner,
                ..Slot::default()
            };
        }
        let c = match dir {
            Dir::Encap => &mut s.encap,
            Dir::Decap => &mut s.decap,
            Dir::Flood => &mut s.flood,
        };
        c.admit(l, now, cost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    /// Offers `size`-unit packets every `gap` ns for `dur` ns through
    /// `workers` credits taking turns; returns the units passed.
    fn offer(l: &Limiter, workers: usize, size: u64, gap: u64, dur: u64) -> u64 {
        let mut cs = vec![Credit::default(); workers];
        let (mut t, mut passed, mut i) = (0, 0, 0);
        while t < dur {
            if cs[i % workers].admit(l, t, size) {
                passed += size;
            }
            i += 1;
            t += gap;
        }
        passed
    }

    #[test]
    fn clock_converts_ticks_to_ns() {
        let c = Clock::new(2_500_000_000);
        // Truncated in Q40: at most a nanosecond short.
        assert!((999_999_999..=1_000_000_000).contains(&c.ns(2_500_000_000)));
        assert!((9..=10).contains(&c.ns(25)));
        // A year of uptime at 2.5 GHz: off by less than a millisecond.
        let year = 2_500_000_000u64 * 86400 * 365;
        assert!((c.ns(year) as i128 - 31_536_000_000_000_000i128).abs() < 1_000_000);
    }

    #[test]
    fn long_run_rate_is_the_limit() {
        // 10 Mbit/s = 1.25 MB/s, 12.5 KB deep; 1500-byte frames offered at
        // four times the rate for 2 s.
        let l = Limiter::new(1_250_000, 12_500);
        let passed = offer(&l, 1, 1500, 300_000, 2000 * MS);
        let want = 1_250_000 * 2 + 12_500;
        let err = (passed as f64 - want as f64).abs() / want as f64;
        assert!(err < 0.02, "passed {passed}, want about {want}");
    }

    #[test]
    fn below_the_limit_everything_passes() {
        let l = Limiter::new(1_250_000, 12_500);
        // Half the rate.
        let passed = offer(&l, 1, 1250, 2 * MS, 1000 * MS);
        assert_eq!(passed, 1250 * 500);
    }

    #[test]
    fn a_full_bucket_passes_one_depth_at_once_then_refills() {
        let l = Limiter::new(1000, 1600);
        let mut c = Credit::default();
        let mut n = 0;
        while c.admit(&l, 0, 100) {
            n += 1;
        }
        assert_eq!(n, 16, "the depth, at one instant");
        assert!(!c.admit(&l, 50 * MS, 100), "50 ms refill 50 units, not 100");
        assert!(c.admit(&l, 100 * MS, 100), "100 ms refill 100 units");
        // Idle for long: never more than the depth.
        let mut n = 0;
        while c.admit(&l, 100_000 * MS, 100) {
            n += 1;
        }
        assert_eq!(n, 16);
    }

    #[test]
    fn workers_share_one_limit_however_traffic_is_spread() {
        for workers in [1, 2, 4] {
            let l = Limiter::new(1_250_000, 12_500);
            let passed = offer(&l, workers, 1000, 100_000, 1000 * MS);
            let want = 1_250_000 + 12_500;
            let err = (passed as f64 - want as f64).abs() / want as f64;
            assert!(err < 0.03, "{workers} workers: {passed} vs {want}");
        }
    }

    #[test]
    fn a_frame_larger_than_a_chunk_takes_several() {
        // Chunk = 9216 * 4 / 16 = 2304 bytes; a 9000-byte frame takes 4.
        let l = Limiter::new(1_000_000, 4 * 9216);
        let mut c = Credit::default();
        assert_eq!(l.chunk(), 2304);
        assert!(c.admit(&l, 0, 9000));
        assert!(c.admit(&l, 0, 9000));
        assert!(c.admit(&l, 0, 9000));
        assert!(c.admit(&l, 0, 9000));
        assert!(!c.admit(&l, 0, 9000), "the depth is spent");
    }

    #[test]
    fn packets_per_second_for_storm_control() {
        let l = Limiter::new(1000, 100);
        // 10 kpps offered for 1 s: 1000 + the 100-packet depth pass.
        let passed = offer(&l, 1, 1, 100_000, 1000 * MS);
        assert!((1090..=1110).contains(&passed), "{passed}");
    }

    #[test]
    fn threads_taking_at_once_never_exceed_the_bucket() {
        let l = Arc::new(Limiter::new(1, 1600));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let l = l.clone();
                std::thread::spawn(move || {
                    let mut c = Credit::default();
                    (0..1000).filter(|_| c.admit(&l, 5, 100)).count()
                })
            })
            .collect();
        let total: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(total, 16, "one depth between them, at one instant");
    }

    #[test]
    fn credits_restart_when_the_limits_change() {
        let v = |rate| VniConfig {
            id: vtep_config::Vni::new(100).unwrap(),
            tunnel: vtep_config::Tunnel {
                encap: vtep_config::Encap::Vxlan,
                udp_port: Some(4789),
            },
            flood: vec![],
            group: None,
            learning: true,
            arp_suppress: false,
            mac_limit: 10,
            aging_secs: 300,
            rate,
            flood_pps: None,
        };
        assert!(VniPolice::for_vni(&v(None)).is_none());
        let r = RateLimit {
            mbps: 1,
            burst_bytes: 9216 * 4,
        };
        let a = VniPolice::for_vni(&v(Some(r))).unwrap();
        assert!(a.matches(&v(Some(r))) && !a.matches(&v(None)));
        let mut cs = Credits::default();
        assert!(
            cs.admit(3, &a, Dir::Encap, 0, 100),
            "a fresh bucket is full"
        );
        assert!(cs.admit(3, &a, Dir::Flood, 0, 1), "no flood limit set");
        let b = VniPolice::for_vni(&v(Some(r))).unwrap();
        // Drain b from another worker, then this worker switches to it: the
        // credit it drew from `a` is gone.
        let mut other = Credits::default();
        while other.admit(3, &b, Dir::Encap, 0, 100) {}
        assert!(!cs.admit(3, &b, Dir::Encap, 0, 100));
        assert!(cs.admit(3, &a, Dir::Decap, 0, 100), "directions apart");
    }
}

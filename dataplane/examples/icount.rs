//! A fixed amount of per-packet work, for counting instructions with
//! `valgrind --tool=callgrind` where the machine's clock is too noisy:
//! `icount encap|decap ROUNDS` classifies and encapsulates (or classifies
//! for decap) 256 60-byte frames ROUNDS times; `fwd-encap`, `fwd-decap`
//! (and `fwd-encap-limited`, `fwd-decap-limited`: the VNI has a rate limit
//! it never reaches; `fwd-encap-ipv6`, `fwd-decap-ipv6`: an IPv6 underlay; `fwd-encap-geneve`, `fwd-decap-nvgre` and the like:
//! the VNI is in that encapsulation) run the whole forwarding path of a worker
//! (`access_burst`, `underlay_burst`: FDB lookups, learning checks,
//! counters) on known unicast to and from 256 static remote MACs. Two runs
//! with different ROUNDS give the instructions per packet as the difference
//! over the packets between them, free of start-up cost.
use std::hint::black_box;

use crossbeam::queue::ArrayQueue;
use vtep_config::Config;
use vtep_dataplane::control::{publish, tables::Tables};
use vtep_dataplane::datapath::buf::{PacketBuf, VecBuf};
use vtep_dataplane::datapath::decap::{classify_underlay, DecapCache};
use vtep_dataplane::datapath::encap::classify_access;
use vtep_dataplane::datapath::fdb::HitMap;
use vtep_dataplane::datapath::forward::{access_burst, underlay_burst, Ctx};
use vtep_dataplane::datapath::police::Credits;
use vtep_dataplane::datapath::stats::{Tally, WorkerStats};
use vtep_dataplane::datapath::tunnel::{encapsulate, IpIds, Tunnel};
use vtep_dataplane::testing::{
    bench_frame as frame, config_text, peer_to_us, peer_to_us_in, sample_state, us_to_peer, SinkIo,
    OUR_MAC,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(1000);
    let st = sample_state();
    let out = us_to_peer();
    let frames: Vec<Vec<u8>> = (0..256).map(frame).collect();
    let mut bufs: Vec<VecBuf> = frames.iter().map(|f| VecBuf::new(f)).collect();
    let back = peer_to_us();
    let vxlan: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut b = VecBuf::new(f);
            encapsulate(&mut b, &back, 100, 1500).expect("fits");
            b.data().to_vec()
        })
        .collect();
    if let Some(dir) = what.strip_prefix("fwd-") {
        println!("{}", black_box(forward(dir, rounds)));
        return;
    }
    let mut n = 0u64;
    for _ in 0..rounds {
        match what.as_str() {
            "encap" => {
                for b in bufs.iter_mut() {
                    let v = classify_access(b, &st.access[0]).expect("valid frame");
                    encapsulate(b, &out, 100 + v as u32, 1500).expect("fits");
                    n += b.len() as u64;
                    // Back to the untagged frame, without allocating.
                    b.adj(50);
                }
            }
            "decap" => {
                for p in &vxlan {
                    n += classify_underlay(black_box(p), &st).is_ok() as u64;
                }
            }
            _ => {
                eprintln!(
                    "usage: icount encap|decap|fwd-encap|fwd-decap[-limited|-geneve|-nvgre|-ipv6] ROUNDS"
                );
                std::process::exit(64);
            }
        }
    }
    println!("{}", black_box(n));
}

/// The worker's forwarding path over a state the management code built:
/// 256 frames per round from 02:00:00:00:00:01 (static, on the access port)
/// to 256 MACs static behind 192.0.2.2 (encap), or the same frames
/// reversed in VXLAN from 192.0.2.2 (decap). The buffers are reused.
fn forward(dir: &str, rounds: usize) -> u64 {
    let (dir, variant) = dir.split_once('-').unwrap_or((dir, ""));
    // The VNI's encapsulation, how decap's frames arrive, and the bytes
    // it adds.
    let (encap, tunnel, overhead) = match variant {
        "geneve" => ("geneve", Tunnel::geneve(6081), 50),
        "nvgre" => ("nvgre", Tunnel::nvgre(false), 42),
        "" | "limited" => ("vxlan", Tunnel::vxlan(4789), 50),
        "ipv6" => ("vxlan", Tunnel::vxlan(4789), 70),
        v => {
            eprintln!("icount: no variant {v:?} (limited, geneve, nvgre, ipv6)");
            std::process::exit(64);
        }
    };
    let mac = |m: [u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let v6 = variant == "ipv6";
    let remote = if v6 { "2001:db8:1::2" } else { "192.0.2.2" };
    let mut extra = format!("[[neighbor]]\nip = \"{remote}\"\nmac = \"02:00:00:00:02:02\"\n");
    extra.push_str("[[fdb]]\nvni = 100\nmac = \"02:00:00:00:00:01\"\nport = \"net_ring1\"\n");
    // From 0x100 on, no destination is the source's own MAC.
    let frames: Vec<Vec<u8>> = (0x100..0x200).map(frame).collect();
    for f in &frames {
        let dst: [u8; 6] = f[0..6].try_into().expect("MAC");
        extra.push_str(&format!(
            "[[fdb]]\nvni = 100\nmac = \"{}\"\nremote = \"{remote}\"\n",
            mac(dst)
        ));
    }
    let mut text = config_text(&extra);
    if variant == "limited" {
        // Far above what a second of this loop sends: the policing path
        // runs and never drops.
        text = text.replace("id = 100\n", "id = 100\nrate_mbps = 400000\n");
    }
    text = text.replace("id = 100\n", &format!("id = 100\nencap = \"{encap}\"\n"));
    if v6 {
        // An IPv6 underlay with UDP checksums computed (the default).
        text = text
            .replace("192.0.2.1/24", "2001:db8:1::1/64")
            .replace("192.0.2.254", "2001:db8:1::fe")
            .replace("192.0.2.2", remote);
    }
    let t = Tables::new(Config::parse(&text).expect("config"), OUR_MAC, 0).expect("tables");
    let st = publish::build(&t, 1);
    let fdb = t.fdb.shared().load_full();
    let hits = HitMap::new(t.fdb.slots());
    let events = ArrayQueue::new(1024);
    let stats = WorkerStats::default();
    let mut decap = DecapCache::default();
    let mut ip_ids = IpIds::default();
    let mut credits = Credits::default();
    let back = peer_to_us_in(v6, tunnel);
    let mut bufs: Vec<VecBuf> = frames
        .iter()
        .map(|f| {
            if dir == "encap" {
                return VecBuf::new(f);
            }
            // Reversed: to the local host, from the remote one.
            let mut r = f.clone();
            r.copy_within(0..6, 6);
            r[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
            let mut b = VecBuf::new(&r);
            encapsulate(&mut b, &back, 100, 1500).expect("fits");
            VecBuf::new(b.data())
        })
        .collect();
    let mut io = SinkIo {
        sent: Vec::with_capacity(bufs.len()),
        ..SinkIo::default()
    };
    for _ in 0..rounds {
        let mut cx = Ctx {
            st: &st,
            fdb: &fdb,
            hits: &hits,
            events: &events,
            stats: &stats,
            tally: Tally::default(),
            decap: &mut decap,
            ip_ids: &mut ip_ids,
            credits: &mut credits,
            now_ns: 0,
            seen: (0, 0),
        };
        if dir == "encap" {
            access_burst(&mut cx, &mut io, bufs.drain(..), 0);
        } else {
            underlay_burst(&mut cx, &mut io, bufs.drain(..));
        }
        assert_eq!(cx.tally.forwarded, 256, "{:?}", cx.tally);
        // Back to what was received, without allocating.
        for mut b in io.sent.drain(..) {
            if dir == "encap" {
                b.adj(overhead);
            } else {
                let _ = b.prepend(overhead);
            }
            bufs.push(b);
        }
    }
    io.access + io.underlay
}

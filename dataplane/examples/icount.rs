//! A fixed amount of per-packet work, for counting instructions with
//! `valgrind --tool=callgrind` where the machine's clock is too noisy:
//! `icount encap|decap ROUNDS` classifies and encapsulates (or classifies
//! for decap) 256 60-byte frames ROUNDS times. Two runs with different
//! ROUNDS give the instructions per packet as the difference over the
//! packets between them, free of start-up cost.
use std::hint::black_box;

use vtep_dataplane::buf::{PacketBuf, VecBuf};
use vtep_dataplane::decap::classify_underlay;
use vtep_dataplane::encap::{classify_access, encapsulate};
use vtep_dataplane::state::Template;
use vtep_dataplane::testing::{
    bench_frame as frame, sample_state, OUR_IP, OUR_MAC, PEER_IP, PEER_MAC,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let rounds: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(1000);
    let st = sample_state();
    let out = Template::new(PEER_MAC, OUR_MAC, OUR_IP, PEER_IP, 4789, 64, false);
    let frames: Vec<Vec<u8>> = (0..256).map(frame).collect();
    let mut bufs: Vec<VecBuf> = frames.iter().map(|f| VecBuf::new(f)).collect();
    let back = Template::new(OUR_MAC, PEER_MAC, PEER_IP, OUR_IP, 4789, 64, false);
    let vxlan: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut b = VecBuf::new(f);
            encapsulate(&mut b, &back, 100, 1500).expect("fits");
            b.data().to_vec()
        })
        .collect();
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
                eprintln!("usage: icount encap|decap ROUNDS");
                std::process::exit(64);
            }
        }
    }
    println!("{}", black_box(n));
}

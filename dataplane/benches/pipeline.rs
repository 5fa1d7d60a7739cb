//! Micro-benchmarks of the per-packet work on plain buffers: encap, decap
//! and FDB lookups with 4K and 1M entries. Figures are for comparing
//! changes on one machine; the data-plane targets are measured by
//! `vtep-perf` as ratios to DPDK's own forwarding ceiling.
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use vtep_dataplane::datapath::buf::{PacketBuf, VecBuf};
use vtep_dataplane::datapath::decap::classify_underlay;
use vtep_dataplane::datapath::encap::classify_access;
use vtep_dataplane::datapath::fdb::{key, Entry, FdbWriter, Target};
use vtep_dataplane::datapath::flow::flow_hash;
use vtep_dataplane::datapath::tunnel::encapsulate;
use vtep_dataplane::testing::{bench_frame as frame, peer_to_us, sample_state, us_to_peer};

fn bench(c: &mut Criterion) {
    let st = sample_state();
    let t = us_to_peer();
    let frames: Vec<Vec<u8>> = (0..256).map(frame).collect();

    let mut g = c.benchmark_group("packet");
    g.throughput(Throughput::Elements(256));
    g.bench_function("encap_60B_x256", |b| {
        b.iter_batched_ref(
            || frames.iter().map(|f| VecBuf::new(f)).collect::<Vec<_>>(),
            |bufs| {
                for buf in bufs.iter_mut() {
                    let v = classify_access(buf, &st.access[0]).unwrap();
                    encapsulate(buf, &t, 100 + v as u32, 1500).unwrap();
                }
            },
            BatchSize::SmallInput,
        )
    });
    let peer = peer_to_us();
    let vx: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| {
            let mut b = VecBuf::new(f);
            encapsulate(&mut b, &peer, 100, 9000).unwrap();
            b.data().to_vec()
        })
        .collect();
    g.bench_function("decap_classify_x256", |b| {
        b.iter(|| {
            for p in &vx {
                black_box(classify_underlay(black_box(p), &st).unwrap());
            }
        })
    });
    g.bench_function("flow_hash_x256", |b| {
        b.iter(|| {
            for f in &frames {
                black_box(flow_hash(black_box(f)));
            }
        })
    });
    g.finish();

    for n in [4096u32, 1_000_000] {
        let mut w = FdbWriter::new(n as usize);
        for i in 0..n {
            let b = i.to_be_bytes();
            let e = Entry {
                target: Target::Remote(i % 16),
                is_static: true,
            };
            w.insert(key(0, [2, 0, b[0], b[1], b[2], b[3]]), e).unwrap();
        }
        let table = w.shared().load_full();
        let keys: Vec<u64> = (0..4096u32)
            .map(|i| {
                let j = i.wrapping_mul(2_654_435_761) % n;
                let b = j.to_be_bytes();
                key(0, [2, 0, b[0], b[1], b[2], b[3]])
            })
            .collect();
        let mut g = c.benchmark_group("fdb");
        g.throughput(Throughput::Elements(keys.len() as u64));
        g.bench_function(format!("lookup_{n}_entries"), |b| {
            b.iter(|| {
                for k in &keys {
                    black_box(table.lookup(*k).unwrap());
                }
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);

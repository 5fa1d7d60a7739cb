//! Bounded soak: steady UDP from t0 to t2 while MACs are learned and age
//! out, a MAC moves between the kernel VTEPs, and the config is reloaded.
//! At the end: no loss on the steady flow, only explained drops, the mbuf
//! pool full again, the FDB back to its steady size, memory flat.
//! VTEP_SOAK_SECS sets the length (default 40; run longer by hand).
use std::time::{Duration, Instant};

use vtep_lab::{rss_kib, send_frames, Lab, LabOptions, T1_MAC};

fn frame(src: [u8; 6]) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&src);
    f.extend_from_slice(&[0x88, 0xb5]);
    f.resize(60, 0x5a);
    f
}

#[test]
fn soak() {
    let secs: u64 = std::env::var("VTEP_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(40);
    let lab = Lab::new(LabOptions {
        vni100_extra: "aging_secs = 3".into(),
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.12", 20), "{}", lab.log());
    assert!(lab.ping("t0", "10.0.0.11", 20));
    let pid = lab.vtepd.as_ref().unwrap().id();
    let base = lab.config_text();
    let _srv = vtep_lab::iperf_server(&lab, "t2");
    let udp = lab.udp_stream("t0", "10.0.0.12", "10M", 1000, secs);
    std::thread::sleep(Duration::from_secs(2));
    let rss_start = rss_kib(pid);
    let drops_start = lab.drops_but_noise();
    let (t1, t2) = (lab.ifname("t1h"), lab.ifname("t2h"));
    let start = Instant::now();
    let mut round: u32 = 0;
    let mut reloads: u32 = 0;
    while start.elapsed() < Duration::from_secs(secs.saturating_sub(4)) {
        // 50 new MACs behind k1 (learned, then aged out 3 s later).
        let macs: Vec<Vec<u8>> = (0..50u32)
            .map(|i| frame([2, 0x55, (round >> 8) as u8, round as u8, 0, i as u8]))
            .collect();
        assert!(send_frames(&lab, "t1", &t1, &macs));
        // One MAC, kept fresh, moving between k1 and k2 every 3 s (slower
        // than the damping rate).
        let (role, ifc) = if (round / 3).is_multiple_of(2) {
            ("t1", &t1)
        } else {
            ("t2", &t2)
        };
        assert!(send_frames(
            &lab,
            role,
            ifc,
            &[frame([2, 0x77, 0, 0, 0, 1])]
        ));
        if round % 10 == 9 {
            let limit = if reloads.is_multiple_of(2) {
                "mac_limit = 60000"
            } else {
                "mac_limit = 65536"
            };
            lab.write_config(&base.replace("aging_secs = 3", &format!("aging_secs = 3\n{limit}")));
            assert!(lab.ctl(&["reload"])["generation"].is_u64());
            reloads += 1;
        }
        round += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
    let (total, lost) = udp.result();
    // The churn ages out (3 s after its last frame, at the next aging
    // round) and the pool refills: polled, since a busy machine delays
    // both.
    let settled = |st: &serde_json::Value| {
        st["fdb"]["entries"].as_u64().is_some_and(|n| n <= 10)
            && st["mempool"]["available"] == st["mempool"]["size"]
    };
    vtep_lab::wait_for(60, || settled(&lab.ctl(&["stats"])));
    let st = lab.ctl(&["stats"]);
    let rss_end = rss_kib(pid);
    eprintln!(
        "soak {secs}s: {total} datagrams, {lost} lost; {round} rounds, {reloads} reloads; fdb {} (learned {}, aged {}, moved {}); rss {rss_start} -> {rss_end} KiB",
        st["fdb"]["entries"], st["fdb"]["learned"], st["fdb"]["aged"], st["fdb"]["moved"]
    );
    assert!(total > 1000);
    assert_eq!(lost, 0, "no loss on the steady flow");
    assert_eq!(
        lab.drops_but_noise(),
        drops_start,
        "every drop explained: none but underlay noise"
    );
    assert_eq!(
        st["mempool"]["available"], st["mempool"]["size"],
        "mbuf pool back at its starting level"
    );
    assert!(st["fdb"]["learned"].as_u64().unwrap() >= 50 * (round as u64).min(5));
    assert!(
        st["fdb"]["aged"].as_u64().unwrap() >= 50 * (round as u64 - 3).min(5),
        "churn aged out"
    );
    assert!(
        st["fdb"]["moved"].as_u64().unwrap() >= (round as u64 / 3).saturating_sub(1),
        "moves happened"
    );
    assert!(st["fdb"]["moved"].as_u64().unwrap() >= 2);
    assert_eq!(st["fdb"]["damped"], 0, "slow moves are not damped");
    assert!(
        st["fdb"]["entries"].as_u64().unwrap() <= 10,
        "FDB back to its steady size: {}",
        st["fdb"]
    );
    let rows = lab.ctl(&["fdb", "show"]);
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["mac"] == T1_MAC && r["kind"] == "static"));
    assert!(
        rss_end <= rss_start + 16 * 1024,
        "memory not growing: {rss_start} -> {rss_end} KiB"
    );
}

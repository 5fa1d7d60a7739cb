//! 100,000 type-2 routes through the EVPN mirror: written into it as
//! zebra writes them (the VXLAN device's entry and the bridge's, 200,000
//! messages, one `bridge -batch`), then all withdrawn. Timed from the
//! batch's start until vtepd's FDB holds exactly the routes (then none),
//! beside the time the kernel itself took for the batch; and vtepd's
//! memory per route. zebra and bgpd of vtepd's namespace are killed
//! first, so that the mirror holds only what the test writes.
use std::time::{Duration, Instant};

use vtep_lab::evpn_batch::{announce, withdraw_at};
use vtep_lab::{Lab, K1_IP};

const ROUTES: u32 = 100_000;

/// vtepd's resident memory, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn evpn_entries(lab: &Lab) -> u64 {
    lab.ctl(&["fdb", "show", "--vni", "100"])
        .as_array()
        .map_or(0, |a| {
            a.iter().filter(|e| e["kind"] == "evpn").count() as u64
        })
}

/// Runs `lines` with `bridge -batch` in the mirror's namespace, and waits
/// until `done` holds of vtepd's FDB entry count; (kernel's seconds for the
/// batch, seconds until done), both from the batch's start.
fn run(lab: &Lab, lines: &[String], done: impl Fn(u64) -> bool) -> (f64, f64) {
    let path = lab.dir.join("routes.batch");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let t = Instant::now();
    let batch = lab.spawn_exec("cp", &format!("bridge -batch {}", path.display()));
    let out = batch.wait_with_output().unwrap();
    let kernel = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "bridge -batch: {out:?}");
    loop {
        let n = lab.ctl(&["status"])["fdb_entries"].as_u64().unwrap();
        if done(n) {
            return (kernel, t.elapsed().as_secs_f64());
        }
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "vtepd holds {n} FDB entries 60 s after the batch began\n{}",
            lab.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_hundred_thousand_routes_in_and_out() {
    let lab = Lab::evpn_mirror_only();
    let pid = lab.vtepd.as_ref().unwrap().id();
    let base = lab.ctl(&["status"])["fdb_entries"].as_u64().unwrap();
    let rss0 = rss_kib(pid);

    let lines: Vec<String> = (0..ROUTES).flat_map(|i| announce(i, K1_IP)).collect();
    let (k_in, v_in) = run(&lab, &lines, |n| n == base + u64::from(ROUTES));
    assert_eq!(evpn_entries(&lab), u64::from(ROUTES), "exactly the routes");
    let rss1 = rss_kib(pid);

    let lines: Vec<String> = (0..ROUTES).flat_map(|i| withdraw_at(i, K1_IP)).collect();
    let (k_out, v_out) = run(&lab, &lines, |n| n == base);
    assert_eq!(evpn_entries(&lab), 0, "none stale");
    let m = &lab.ctl(&["stats"])["management"];
    assert_eq!(m["evpn_errors"], 0, "{m}");
    eprintln!(
        "{ROUTES} routes through the mirror: in {v_in:.2} s ({:.0} routes/s; the kernel's batch \
         {k_in:.2} s, {:.0} routes/s), out {v_out:.2} s (kernel {k_out:.2} s); resyncs {}; \
         vtepd's memory {:.0} bytes per route ({rss0} -> {rss1} KiB)",
        f64::from(ROUTES) / v_in,
        f64::from(ROUTES) / k_in,
        m["evpn_resyncs"],
        (rss1.saturating_sub(rss0) * 1024) as f64 / f64::from(ROUTES),
    );
}

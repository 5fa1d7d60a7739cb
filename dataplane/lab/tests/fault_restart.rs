//! vtepd killed (SIGKILL) under traffic and started again at once, as a
//! supervisor would, with nothing cleaned up in between: the control
//! socket, DPDK's files and the state file are as the killed process left
//! them. Measured from a 100 Hz ping between tenants (t0 to t1): the time
//! from the new process's start to the first reply, and the whole outage.
//! Config and API entries come back exactly; learned ones are relearned.
use std::collections::BTreeSet;

use vtep_lab::{longest_gap, Lab, LabOptions, T0_MAC};

/// (mac, source, target) of every FDB row of VNI 100 but the learned ones.
fn entries(lab: &Lab, source: &str) -> BTreeSet<(String, String, String)> {
    lab.ctl(&["fdb", "show", "--vni", "100"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == source)
        .map(|r| {
            let target = if r["remote"].is_null() {
                r["port"].to_string()
            } else {
                r["remote"].to_string()
            };
            (r["mac"].to_string(), r["source"].to_string(), target)
        })
        .collect()
}

#[test]
fn killed_under_traffic_it_forwards_again_within_a_second_of_its_start() {
    let mut lab = Lab::new(LabOptions {
        extra_config: "state_file = \"{dir}/fdb-state.json\"\n".into(),
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    for (mac, remote) in [
        ("02:00:00:00:77:01", "192.0.2.2"),
        ("02:00:00:00:77:02", "198.51.100.2"),
    ] {
        lab.ctl(&[
            "fdb", "add", "--vni", "100", "--mac", mac, "--remote", remote,
        ]);
    }
    let config = entries(&lab, "config");
    let api = entries(&lab, "api");
    assert_eq!((config.len(), api.len()), (2, 2), "{config:?} {api:?}");
    let t0_learned = |lab: &Lab| {
        let learned = entries(lab, "learned");
        assert!(
            learned.iter().any(|(m, _, _)| m.contains(T0_MAC)),
            "t0 learned: {learned:?}"
        );
    };
    t0_learned(&lab);

    let ping = lab.timed_ping("t0", "10.0.0.11", "0.01", 6);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let started = lab.kill_and_restart_vtepd();
    let times = ping.replies();
    let first = times
        .iter()
        .find(|t| **t > started)
        .map(|t| t - started)
        .expect("replies after the restart");
    let gap = longest_gap(&times);
    eprintln!(
        "SIGKILL and restart under traffic: forwarding {:.0} ms after the new process started; \
         tenants cut off {:.0} ms in all",
        first * 1e3,
        gap * 1e3
    );
    // The goal is one second; the bound leaves room for a loaded machine.
    assert!(
        first < 2.0,
        "first reply {first:.2} s after start\n{}",
        lab.log()
    );

    assert_eq!(entries(&lab, "config"), config, "config entries back");
    assert_eq!(
        entries(&lab, "api"),
        api,
        "API entries back from the state file"
    );
    t0_learned(&lab);
    let st = lab.ctl(&["stats"]);
    assert_eq!(st["management"]["state_file_write_failures"], 0);
}

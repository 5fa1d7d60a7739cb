//! Reload without loss: under steady UDP traffic in VNI 100, reloads that
//! touch VNI 200 (vtepctl reload and SIGHUP) lose nothing, and an invalid
//! config is rejected with its reason while the running one stays.
use std::process::Command;
use std::time::Duration;

use vtep_lab::{Lab, LabOptions};

#[test]
fn reload_under_traffic_loses_nothing() {
    let lab = Lab::new(LabOptions {
        vni200: true,
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    let base = lab.config_text();
    let v200 = "[[vni]]\nid = 200\nflood = [\"192.0.2.2\"]\n";
    assert!(base.contains(v200));

    let _srv = vtep_lab::iperf_server(&lab, "t1");
    let drops_before = lab.drops_but_noise();
    let udp = lab.udp_stream("t0", "10.0.0.11", "20M", 1200, 6);
    std::thread::sleep(Duration::from_millis(1500));

    // 1: vtepctl reload: VNI 200 floods to both kernel VTEPs, lower limit.
    lab.write_config(&base.replace(
        v200,
        "[[vni]]\nid = 200\nflood = [\"192.0.2.2\", \"198.51.100.2\"]\nmac_limit = 500\n",
    ));
    let r = lab.ctl(&["reload"]);
    assert!(r["generation"].as_u64().is_some(), "{r}");
    let vnis = lab.ctl(&["vni", "show"]);
    let v = vnis
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == 200)
        .unwrap()
        .clone();
    assert_eq!(v["mac_limit"], 500);
    assert_eq!(v["flood"].as_array().unwrap().len(), 2);
    std::thread::sleep(Duration::from_millis(1000));

    // 2: SIGHUP: learning off in VNI 200.
    lab.write_config(&base.replace(
        v200,
        "[[vni]]\nid = 200\nflood = [\"192.0.2.2\"]\nlearning = false\n",
    ));
    let pid = lab.vtepd.as_ref().unwrap().id();
    assert!(Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while lab
        .ctl(&["vni", "show"])
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == 200)
        .unwrap()["learning"]
        != false
    {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP reload not applied"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));

    // 3: an invalid config is refused and changes nothing.
    lab.write_config(&base.replace("id = 200", "id = 0"));
    let o = Command::new(vtep_lab::vtepctl_path())
        .arg("--socket")
        .arg(lab.socket())
        .arg("reload")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("running config kept") && err.contains("vni.id"),
        "{err}"
    );
    assert!(lab
        .ctl(&["vni", "show"])
        .as_array()
        .unwrap()
        .iter()
        .any(|v| v["id"] == 200));

    let (total, lost) = udp.result();
    eprintln!("UDP across 3 reloads: {total} datagrams, {lost} lost");
    assert!(total > 5000, "traffic ran: {total}");
    assert_eq!(lost, 0, "a reload of unrelated VNIs loses nothing");
    assert_eq!(
        lab.drops_but_noise(),
        drops_before,
        "vtepd dropped nothing during the reloads"
    );
    let st = lab.ctl(&["stats"]);
    assert_eq!(st["management"]["reloads"], 2);
    assert_eq!(st["management"]["reloads_rejected"], 1);
    assert!(st["ports"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["rx_missed"] == 0));
}

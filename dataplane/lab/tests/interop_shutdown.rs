//! Scenario 8: SIGTERM while iperf3 runs; vtepd exits 0 and the lab goes
//! away without leftovers.
use std::process::{Command, Stdio};
use std::time::Duration;

use vtep_lab::{sh, Lab, LabOptions};

#[test]
fn sigterm_under_traffic() {
    let id;
    {
        let mut lab = Lab::new(LabOptions::default());
        id = lab.id.clone();
        assert!(lab.ping("t0", "10.0.0.11", 20));
        let _srv = vtep_lab::iperf_server(&lab, "t1");
        let mut cli = Command::new("ip")
            .args([
                "netns",
                "exec",
                &lab.ns("t0"),
                "iperf3",
                "-c",
                "10.0.0.11",
                "-t",
                "8",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_secs(2));
        let before = lab.ctl(&["stats"])["accounting"]["forwarded"]
            .as_u64()
            .unwrap();
        assert!(before > 1000, "traffic is flowing: {before}");
        assert_eq!(
            lab.stop_vtepd(),
            Some(0),
            "vtepd exits 0 on SIGTERM\n{}",
            lab.log()
        );
        assert!(lab.log().contains("ports closed"));
        let _ = cli.kill();
        let _ = cli.wait();
    }
    let (_, ns) = sh("ip netns list");
    assert!(
        !ns.contains(&format!("vtl{id}")),
        "namespaces removed: {ns}"
    );
    let (_, links) = sh("ip -o link show");
    assert!(!links.contains(&format!("vl{id}")), "links removed");
}

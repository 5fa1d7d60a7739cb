//! Scenario 7: ARP suppression. Once vtepd has snooped t1's binding, an ARP
//! request from t0 for t1's address is answered by vtepd and no copy of it
//! reaches the underlay.
use vtep_lab::{Lab, LabOptions};

#[test]
fn arp_answered_locally() {
    let lab = Lab::new(LabOptions {
        arp_suppress: true,
        ..LabOptions::default()
    });
    // t1 resolves t0 across the overlay: its ARP request carries its binding.
    assert!(lab.ping("t1", "10.0.0.10", 20), "{}", lab.log());
    let flood = |lab: &Lab| {
        lab.ctl(&["stats"])["vnis"][0]["flood_packets"]
            .as_u64()
            .unwrap()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    // The binding reaches workers when the management thread publishes it.
    loop {
        lab.must_exec("t0", "ip neigh flush all");
        let before = flood(&lab);
        let ok = lab.exec("t0", "ping -c 1 -W 1 10.0.0.11").0;
        if ok && flood(&lab) == before {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "t0's ARP request kept crossing the underlay"
        );
    }
    let (_, n) = lab.exec("t0", "ip neigh show 10.0.0.11");
    assert!(
        n.contains("02:00:00:00:00:11"),
        "answered with t1's MAC: {n}"
    );
}

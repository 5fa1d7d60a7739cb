//! A reload storm under traffic: 100 reloads a second for 10 s, each
//! changing VNI 200's flood list, while UDP flows in VNI 100. Nothing is
//! lost, and every stats snapshot taken during the storm keeps the
//! accounting identity (received = forwarded + dropped + punted).
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use vtep_lab::{Lab, LabOptions};

/// One request on a fresh connection, as a script would send it.
fn ask(lab: &Lab, req: &str) -> serde_json::Value {
    let mut s = UnixStream::connect(lab.socket()).unwrap();
    writeln!(s, "{req}").unwrap();
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).unwrap();
    serde_json::from_str(&line).unwrap()
}

#[test]
fn a_thousand_reloads_in_ten_seconds_lose_nothing() {
    let lab = Lab::new(LabOptions {
        vni200: true,
        ..LabOptions::default()
    });
    assert!(lab.ping("t0", "10.0.0.11", 20), "{}", lab.log());
    let base = lab.config_text();
    let v200 = "[[vni]]\nid = 200\nflood = [\"192.0.2.2\"]\n";
    assert!(base.contains(v200));
    let other = base.replace(
        v200,
        "[[vni]]\nid = 200\nflood = [\"192.0.2.2\", \"198.51.100.2\"]\n",
    );

    let _srv = vtep_lab::iperf_server(&lab, "t1");
    let drops_before = lab.drops_but_noise();
    let udp = lab.udp_stream("t0", "10.0.0.11", "20M", 1200, 12);
    std::thread::sleep(Duration::from_millis(1000));

    let start = Instant::now();
    let mut snapshots = 0;
    for i in 0..1000u32 {
        // Paced at 100 a second: request i goes at i * 10 ms.
        let due = Duration::from_millis(10 * u64::from(i));
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        lab.write_config(if i % 2 == 0 { &other } else { &base });
        let r = ask(&lab, r#"{"cmd":"reload"}"#);
        assert_eq!(r["ok"], true, "reload {i}: {r}\n{}", lab.log());
        if i % 20 == 0 {
            let st = ask(&lab, r#"{"cmd":"stats"}"#);
            let a = &st["data"]["accounting"];
            let n = |k: &str| a[k].as_u64().unwrap();
            assert_eq!(
                n("rx_packets"),
                n("forwarded") + n("dropped") + n("punted"),
                "reload {i}: {a}"
            );
            snapshots += 1;
        }
    }
    let took = start.elapsed().as_secs_f64();

    let (total, lost) = udp.result();
    eprintln!(
        "reload storm: 1000 reloads in {took:.1} s under {total} UDP datagrams: {lost} lost; \
         the accounting identity held in {snapshots} snapshots"
    );
    assert!(total > 10_000, "traffic ran: {total}");
    assert_eq!(lost, 0, "reloads of another VNI lose nothing");
    assert_eq!(lab.drops_but_noise(), drops_before);
    let st = lab.ctl(&["stats"]);
    assert_eq!(st["management"]["reloads"], 1000);
    assert_eq!(st["management"]["reloads_rejected"], 0);
}

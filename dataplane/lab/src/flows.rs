//! Per-flow order across workers: sequence-numbered UDP frames of many
//! flows from tenant t0 to the MAC of t1 (behind kernel VTEP k1), read off
//! t1's interface. With several workers, every worker must carry some and
//! every flow must arrive in the order it was sent.
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Lab, T0_MAC, T1_MAC};

pub const FLOWS: u32 = 64;
pub const PER_FLOW: u32 = 40;

/// Reads frames marked "SEQ" off IFACE until COUNT arrived or 5 s pass
/// without one; prints {flow: [seq, ...]} in arrival order as JSON.
const RECEIVER: &str = r#"
import json, socket, struct, sys, time
iface, count, ready = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((iface, 0))
s.settimeout(0.2)
open(ready, "w").write("ready")
got, n, last = {}, 0, time.time()
while n < count and time.time() - last < 5:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    i = f.find(b"SEQ")
    if i < 0:
        continue
    flow, seq = struct.unpack("!HI", f[i + 3:i + 9])
    got.setdefault(flow, []).append(seq)
    n += 1
    last = time.time()
print(json.dumps(got))
"#;

/// Sends FLOWS x PER_FLOW frames from IFACE, flows interleaved, paced.
const SENDER: &str = r#"
import socket, struct, sys, time
iface, src, dst, flows, per = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
mac = lambda m: bytes.fromhex(m.replace(":", ""))
def csum(b):
    t = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
k = 0
for seq in range(per):
    for flow in range(flows):
        payload = b"SEQ" + struct.pack("!HI", flow, seq) + bytes(21)
        udp = struct.pack("!HHHH", 20000 + flow, 9, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                         socket.inet_aton("10.0.0.10"), socket.inet_aton("10.0.0.99"))
        ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
        s.send(mac(dst) + mac(src) + b"\x08\x00" + ip + udp)
        k += 1
        if k % 32 == 0:
            time.sleep(0.002)
"#;

/// Frames dropped outside vtepd since `before`: by the kernel side of
/// t0's interface (a tap's queue) and by the device queues vtepd polls
/// (`rx_missed`: a full af_packet ring).
fn outside_drops(lab: &Lab, stats: &serde_json::Value) -> u64 {
    let f = format!("/sys/class/net/{}/statistics/tx_dropped", lab.t0_iface());
    let kernel: u64 = lab
        .exec("t0", &format!("cat {f}"))
        .1
        .trim()
        .parse()
        .unwrap_or(0);
    let missed: u64 = stats["ports"]
        .as_array()
        .map(|a| a.iter().map(|p| p["rx_missed"].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0);
    kernel + missed
}

/// Starts the receiver in t1 and waits until it listens. A start that
/// fails (`ip netns exec` can, while other namespaces come and go) is
/// retried twice; its error is reported if all fail.
fn start_receiver(lab: &Lab, ready: &std::path::Path, total: u32) -> std::process::Child {
    let mut errors = Vec::new();
    for _ in 0..3 {
        let mut rx = Command::new("ip")
            .args(["netns", "exec", &lab.ns("t1"), "python3", "-c", RECEIVER])
            .arg(lab.ifname("t1h"))
            .arg(total.to_string())
            .arg(ready)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("receiver");
        // Generous: on a loaded 2-CPU machine a Python start can take seconds.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if ready.exists() {
                return rx;
            }
            if let Ok(Some(st)) = rx.try_wait() {
                let out = rx.wait_with_output().expect("receiver output");
                errors.push(format!("{st}: {}", String::from_utf8_lossy(&out.stderr)));
                break;
            }
            assert!(Instant::now() < deadline, "receiver not ready after 60 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    panic!("the receiver did not start: {errors:?}");
}

/// Sends the flows and checks order, completeness (up to drops counted
/// outside vtepd) and that each of vtepd's workers carried traffic.
pub fn check_flow_order(lab: &Lab) {
    let before = lab.ctl(&["stats"]);
    let outside_before = outside_drops(lab, &before);
    let ready = lab.dir.join("receiver-ready");
    let total = FLOWS * PER_FLOW;
    let rx = start_receiver(lab, &ready, total);
    let (ok, out) = lab.exec(
        "t0",
        &format!(
            "python3 -c '{SENDER}' {} {T0_MAC} {T1_MAC} {FLOWS} {PER_FLOW}",
            lab.t0_iface()
        ),
    );
    assert!(ok, "sender: {out}");
    let out = rx.wait_with_output().expect("receiver output");
    let got: BTreeMap<String, Vec<u32>> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let after = lab.ctl(&["stats"]);
    let received: usize = got.values().map(Vec::len).sum();
    // On a starved CPU the kernel side of the tap may drop frames before
    // vtepd polls them (its queue holds 1000); those are counted there.
    // Every other frame must arrive.
    let kernel_dropped = (outside_drops(lab, &after) - outside_before) as usize;
    let tx_full = (after["drops"]["tx_queue_full"].as_u64().unwrap()
        - before["drops"]["tx_queue_full"].as_u64().unwrap()) as usize;
    assert!(
        received + kernel_dropped + tx_full >= total as usize && received * 2 > total as usize,
        "{received} of {total} frames arrived; {kernel_dropped} dropped outside vtepd (kernel queue, device ring), \
         {tx_full} refused by a full queue; drops {}",
        after["drops"]
    );
    eprintln!("{received} of {total} frames arrived ({kernel_dropped} dropped outside vtepd)");
    for (flow, seqs) in &got {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "flow {flow} reordered: {seqs:?}"
        );
    }
    let workers = after["workers"].as_array().expect("workers");
    assert_eq!(workers.len(), 2);
    for (i, w) in workers.iter().enumerate() {
        let n = w["rx_packets"].as_u64().unwrap()
            - before["workers"][i]["rx_packets"].as_u64().unwrap();
        assert!(n > 0, "worker {i} carried nothing: {after}");
        eprintln!("worker {i}: {n} packets");
    }
    // A tap's kernel side may refuse a write when the machine is busy
    // (counted as tx_queue_full); nothing else may be dropped.
    let drops = after["drops"].as_object().expect("drops");
    for (reason, n) in drops {
        let ok = [
            "tx_queue_full",
            "underlay_not_our_mac",
            "underlay_not_our_ip",
        ];
        assert!(ok.contains(&reason.as_str()) || n == 0, "{reason}: {n}");
    }
}

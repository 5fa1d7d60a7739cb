//! Prometheus text exposition of the daemon's counters at `/metrics`.
//! Names and labels follow Prometheus conventions: `vtep_` prefix, `_total`
//! on counters (added by the encoder), labels `port`, `vni`, `remote`,
//! `reason`, `worker`. Encoding is done by the prometheus-client crate; the
//! HTTP side is a few lines over std (one GET path, no keep-alive), which a
//! web framework would not make simpler.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::Sender;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde_json::{json, Value};

use crate::control::{ask, Request};

type Labels = Vec<(String, String)>;

fn counter_family(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Counter> {
    let f = Family::<Labels, Counter>::default();
    reg.register(name, help, f.clone());
    f
}

fn gauge_family(reg: &mut Registry, name: &str, help: &str) -> Family<Labels, Gauge> {
    let f = Family::<Labels, Gauge>::default();
    reg.register(name, help, f.clone());
    f
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn l(pairs: &[(&str, String)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Renders a `stats` reply (the `data` object) as Prometheus text.
pub fn render(st: &Value) -> String {
    let mut reg = Registry::default();
    let port_ctr = [
        ("rx_packets", "Packets received by the port"),
        ("tx_packets", "Packets sent by the port"),
        ("rx_bytes", "Bytes received by the port"),
        ("tx_bytes", "Bytes sent by the port"),
        (
            "rx_missed",
            "Packets the port dropped for lack of RX descriptors",
        ),
        ("rx_nombuf", "Packets the port dropped for lack of mbufs"),
        ("tx_errors", "Packets the port failed to send"),
    ];
    for (k, help) in port_ctr {
        let f = counter_family(&mut reg, &format!("vtep_port_{k}"), help);
        for p in st["ports"].as_array().into_iter().flatten() {
            f.get_or_create(&l(&[("port", p["name"].as_str().unwrap_or("").into())]))
                .inc_by(u(&p[k]));
        }
    }
    for (k, help) in [
        ("encap_packets", "Frames encapsulated into the VNI"),
        ("encap_bytes", "Bytes of frames encapsulated into the VNI"),
        ("decap_packets", "Frames decapsulated from the VNI"),
        ("decap_bytes", "Bytes of frames decapsulated from the VNI"),
        (
            "flood_packets",
            "Broadcast, multicast and unknown-unicast frames flooded",
        ),
        ("flood_bytes", "Bytes of flooded frames"),
    ] {
        let f = counter_family(&mut reg, &format!("vtep_vni_{k}"), help);
        for v in st["vnis"].as_array().into_iter().flatten() {
            f.get_or_create(&l(&[("vni", v["id"].to_string())]))
                .inc_by(u(&v[k]));
        }
    }
    let macs = gauge_family(
        &mut reg,
        "vtep_vni_learned_macs",
        "Learned MAC addresses in the VNI",
    );
    for v in st["vnis"].as_array().into_iter().flatten() {
        macs.get_or_create(&l(&[("vni", v["id"].to_string())]))
            .set(u(&v["learned_macs"]) as i64);
    }
    for (k, help) in [
        ("tx_packets", "Packets sent to the remote VTEP"),
        ("tx_bytes", "Bytes sent to the remote VTEP"),
        ("rx_packets", "Packets received from the remote VTEP"),
        ("rx_bytes", "Bytes received from the remote VTEP"),
    ] {
        let f = counter_family(&mut reg, &format!("vtep_remote_{k}"), help);
        for r in st["remotes"].as_array().into_iter().flatten() {
            f.get_or_create(&l(&[("remote", r["ip"].as_str().unwrap_or("").into())]))
                .inc_by(u(&r[k]));
        }
    }
    let drops = counter_family(&mut reg, "vtep_drops", "Packets dropped, by reason");
    for (k, v) in st["drops"].as_object().into_iter().flatten() {
        drops
            .get_or_create(&l(&[("reason", k.clone())]))
            .inc_by(u(v));
    }
    let a = &st["accounting"];
    for (k, help) in [
        ("rx_packets", "Packets received by the workers"),
        ("forwarded", "Packets forwarded"),
        ("dropped", "Packets dropped (sum of vtep_drops_total)"),
        ("punted", "Packets handed to the management thread"),
        ("flood_copies", "Copies made by head-end replication"),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(u(&a[k]));
        reg.register(format!("vtep_{k}"), help, c);
    }
    let fdb = &st["fdb"];
    let entries = Gauge::<i64>::default();
    entries.set(u(&fdb["entries"]) as i64);
    reg.register(
        "vtep_fdb_entries",
        "FDB entries, static and learned",
        entries,
    );
    for (k, help) in [
        ("learned", "MACs learned"),
        ("moved", "MAC moves (VM migration)"),
        ("aged", "Learned MACs aged out"),
        ("damped", "MAC moves suppressed by flap damping"),
        (
            "mac_limit_drops",
            "MACs not learned because the VNI reached mac_limit",
        ),
    ] {
        let c = Counter::<u64>::default();
        c.inc_by(u(&fdb[k]));
        reg.register(format!("vtep_fdb_{k}"), help, c);
    }
    let busy = counter_family(
        &mut reg,
        "vtep_worker_busy_cycles",
        "TSC cycles workers spent on bursts with packets",
    );
    let pkts = counter_family(
        &mut reg,
        "vtep_worker_rx_packets",
        "Packets received by the worker",
    );
    let bursts = counter_family(
        &mut reg,
        "vtep_worker_bursts",
        "Bursts with packets handled by the worker",
    );
    for w in st["workers"].as_array().into_iter().flatten() {
        let lab = l(&[("worker", w["index"].to_string())]);
        busy.get_or_create(&lab).inc_by(u(&w["busy_cycles"]));
        pkts.get_or_create(&lab).inc_by(u(&w["rx_packets"]));
        bursts.get_or_create(&lab).inc_by(u(&w["bursts"]));
    }
    let mut out = String::new();
    let _ = encode(&mut out, &reg);
    out
}

/// Serves `/metrics` on `addr` until `running` turns false.
pub fn start(
    addr: SocketAddr,
    tx: Sender<Request>,
    running: Arc<AtomicBool>,
) -> std::io::Result<()> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new()
        .name("vtep-metrics".into())
        .spawn(move || {
            while running.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => serve(s, &tx),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(100)),
                }
            }
        })?;
    Ok(())
}

fn serve(s: TcpStream, tx: &Sender<Request>) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s);
    let mut line = String::new();
    if r.read_line(&mut line).is_err() {
        return;
    }
    // Drain the headers.
    let mut h = String::new();
    while r.read_line(&mut h).map(|n| n > 2).unwrap_or(false) {
        h.clear();
    }
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let (status, ctype, body) =
        if line.starts_with("GET ") && (path == "/metrics" || path.starts_with("/metrics?")) {
            let reply = ask(tx, json!({"cmd": "stats"}));
            if reply["ok"] == true {
                (
                    "200 OK",
                    "text/plain; version=0.0.4; charset=utf-8",
                    render(&reply["data"]),
                )
            } else {
                (
                    "503 Service Unavailable",
                    "text/plain",
                    format!("{}\n", reply["error"]),
                )
            }
        } else {
            ("404 Not Found", "text/plain", "try /metrics\n".to_string())
        };
    let _ = write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

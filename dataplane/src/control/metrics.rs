//! Prometheus `/metrics`: the exposition of a [`Stats`] snapshot and the
//! HTTP server that serves it.
//!
//! The format is Prometheus text 0.0.4, written here: the family name in
//! `# HELP`/`# TYPE` is the sample name (counters end in `_total`), which is
//! what `promtool check metrics` and Prometheus' text parser expect. (The
//! prometheus-client crate writes OpenMetrics names, `_total` on samples
//! only, which that parser rejects; the format is a few lines.)
//!
//! The server is hyper on a current-thread tokio runtime of its own thread:
//! connections are served concurrently, each bounded in header size and
//! time, and their number is capped, so an idle or slow client cannot
//! delay a scrape or grow the daemon.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::Sender;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request as HttpRequest, Response as HttpResponse, StatusCode};
use vtep_api::{PortXstats, Request, Response, Stats};

use crate::control::server::{ask, Ask};

/// Content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Connections served at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 64;
/// Request head (line and headers) size limit.
const MAX_HEAD: usize = 16 * 1024;
/// The request head must arrive within this time.
const HEAD_TIMEOUT: Duration = Duration::from_secs(5);
/// A whole connection (request and answer) ends after this time.
const CONN_TIMEOUT: Duration = Duration::from_secs(10);

/// One metric family being written.
struct Family<'a> {
    out: &'a mut String,
    name: String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Family<'a> {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        Family {
            out,
            name: name.to_string(),
        }
    }

    fn sample(&mut self, labels: &[(&str, &str)], v: impl std::fmt::Display) -> &mut Self {
        self.out.push_str(&self.name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, val)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(val));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {v}");
        self
    }
}

/// Label value escaping of the text format.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Renders a stats snapshot and the ports' extended statistics (the
/// non-zero ones) as Prometheus text.
pub fn render(st: &Stats, xstats: &[PortXstats]) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let counter = |o: &mut String, name: &str, help: &str, v: u64| {
        Family::new(o, name, "counter", help).sample(&[], v);
    };
    let gauge = |o: &mut String, name: &str, help: &str, v: u64| {
        Family::new(o, name, "gauge", help).sample(&[], v);
    };

    let mut f = Family::new(
        &mut o,
        "vtep_port_up",
        "gauge",
        "1 when the port's link is up",
    );
    for p in &st.ports {
        f.sample(&[("port", &p.name)], u8::from(p.link_up));
    }
    type PortField = fn(&vtep_api::PortStats) -> u64;
    let port_counters: [(&str, &str, PortField); 8] = [
        ("rx_packets", "Packets received by the port", |p| {
            p.rx_packets
        }),
        ("tx_packets", "Packets sent by the port", |p| p.tx_packets),
        ("rx_bytes", "Bytes received by the port", |p| p.rx_bytes),
        ("tx_bytes", "Bytes sent by the port", |p| p.tx_bytes),
        (
            "rx_missed",
            "Packets the port dropped for lack of RX descriptors",
            |p| p.rx_missed,
        ),
        (
            "rx_nombuf",
            "Packets the port dropped for lack of mbufs",
            |p| p.rx_nombuf,
        ),
        ("rx_errors", "Erroneous packets the port received", |p| {
            p.rx_errors
        }),
        ("tx_errors", "Packets the port failed to send", |p| {
            p.tx_errors
        }),
    ];
    for (k, help, get) in port_counters {
        let mut f = Family::new(&mut o, &format!("vtep_port_{k}_total"), "counter", help);
        for p in &st.ports {
            f.sample(&[("port", &p.name)], get(p));
        }
    }
    type VniField = fn(&vtep_api::VniStats) -> u64;
    let vni_counters: [(&str, &str, VniField); 11] = [
        ("encap_packets", "Frames encapsulated into the VNI", |v| {
            v.encap_packets
        }),
        (
            "encap_bytes",
            "Bytes of frames encapsulated into the VNI",
            |v| v.encap_bytes,
        ),
        ("decap_packets", "Frames decapsulated from the VNI", |v| {
            v.decap_packets
        }),
        (
            "decap_bytes",
            "Bytes of frames decapsulated from the VNI",
            |v| v.decap_bytes,
        ),
        (
            "flood_packets",
            "Broadcast, multicast and unknown-unicast frames flooded",
            |v| v.flood_packets,
        ),
        ("flood_bytes", "Bytes of flooded frames", |v| v.flood_bytes),
        (
            "policed_encap_packets",
            "Frames from access ports dropped over the VNI's rate_mbps",
            |v| v.policed_encap_packets,
        ),
        (
            "policed_encap_bytes",
            "Bytes of frames from access ports dropped over the VNI's rate_mbps",
            |v| v.policed_encap_bytes,
        ),
        (
            "policed_decap_packets",
            "Frames from the underlay dropped over the VNI's rate_mbps",
            |v| v.policed_decap_packets,
        ),
        (
            "policed_decap_bytes",
            "Bytes of frames from the underlay dropped over the VNI's rate_mbps",
            |v| v.policed_decap_bytes,
        ),
        (
            "storm_control_packets",
            "Broadcast, multicast and unknown-unicast frames dropped over the VNI's flood_pps",
            |v| v.storm_control_packets,
        ),
    ];
    for (k, help, get) in vni_counters {
        let mut f = Family::new(&mut o, &format!("vtep_vni_{k}_total"), "counter", help);
        for v in &st.vnis {
            f.sample(&[("vni", &v.id.to_string())], get(v));
        }
    }
    let mut f = Family::new(
        &mut o,
        "vtep_vni_learned_macs",
        "gauge",
        "Learned MAC addresses in the VNI",
    );
    for v in &st.vnis {
        f.sample(&[("vni", &v.id.to_string())], v.learned_macs);
    }
    type RemoteField = fn(&vtep_api::RemoteStats) -> u64;
    let remote_counters: [(&str, &str, RemoteField); 4] = [
        ("tx_packets", "Packets sent to the remote VTEP", |r| {
            r.tx_packets
        }),
        ("tx_bytes", "Bytes sent to the remote VTEP", |r| r.tx_bytes),
        ("rx_packets", "Packets received from the remote VTEP", |r| {
            r.rx_packets
        }),
        ("rx_bytes", "Bytes received from the remote VTEP", |r| {
            r.rx_bytes
        }),
    ];
    for (k, help, get) in remote_counters {
        let mut f = Family::new(&mut o, &format!("vtep_remote_{k}_total"), "counter", help);
        for r in &st.remotes {
            f.sample(&[("remote", &r.ip)], get(r));
        }
    }
    let mut f = Family::new(
        &mut o,
        "vtep_drops_total",
        "counter",
        "Packets dropped, by reason",
    );
    for (reason, n) in &st.drops {
        f.sample(&[("reason", reason)], n);
    }
    let a = &st.accounting;
    counter(
        &mut o,
        "vtep_rx_packets_total",
        "Packets received by the workers",
        a.rx_packets,
    );
    counter(
        &mut o,
        "vtep_forwarded_total",
        "Packets forwarded",
        a.forwarded,
    );
    counter(
        &mut o,
        "vtep_dropped_total",
        "Packets dropped (sum of vtep_drops_total)",
        a.dropped,
    );
    counter(
        &mut o,
        "vtep_punted_total",
        "Packets handed to the management thread",
        a.punted,
    );
    counter(
        &mut o,
        "vtep_flood_copies_total",
        "Copies made by head-end replication",
        a.flood_copies,
    );
    counter(
        &mut o,
        "vtep_flood_copy_drops_total",
        "Flood copies that could not be made or sent",
        st.flood_copy_drops,
    );
    counter(
        &mut o,
        "vtep_learn_events_dropped_total",
        "Learn and ARP-snoop events refused by a full queue",
        st.learn_events_dropped,
    );
    counter(
        &mut o,
        "vtep_vxlan_reserved_set_total",
        "VXLAN packets received with reserved bits set",
        st.vxlan_reserved_bits_seen,
    );
    gauge(
        &mut o,
        "vtep_fdb_entries",
        "FDB entries, static and learned",
        st.fdb.entries,
    );
    let fdb = &st.fdb.counters;
    for (k, help, v) in [
        ("learned", "MACs learned", fdb.learned),
        ("moved", "MAC moves (VM migration)", fdb.moved),
        ("aged", "Learned MACs aged out", fdb.aged),
        ("damped", "MAC moves suppressed by flap damping", fdb.damped),
        (
            "mac_limit_drops",
            "MACs not learned because the VNI reached mac_limit",
            fdb.mac_limit_drops,
        ),
        (
            "table_full",
            "MACs not learned because the FDB table was full",
            fdb.table_full,
        ),
    ] {
        counter(&mut o, &format!("vtep_fdb_{k}_total"), help, v);
    }
    let m = &st.management;
    for (k, help, v) in [
        ("reloads", "Config reloads applied", m.reloads),
        (
            "reload_failures",
            "Config reloads refused (running config kept)",
            m.reloads_rejected,
        ),
        (
            "arp_requests_sent",
            "ARP requests the VTEP sent on the underlay",
            m.arp_requests_sent,
        ),
        (
            "arp_replies_sent",
            "ARP replies the VTEP sent for its address",
            m.arp_replies_sent,
        ),
        (
            "echo_replies_sent",
            "ICMP and ICMPv6 echo replies the VTEP sent",
            m.echo_replies_sent,
        ),
        (
            "nd_solicitations_sent",
            "IPv6 neighbour solicitations the VTEP sent on the underlay",
            m.nd_solicitations_sent,
        ),
        (
            "nd_advertisements_sent",
            "IPv6 neighbour advertisements the VTEP sent for its address",
            m.nd_advertisements_sent,
        ),
        (
            "neighbor_updates",
            "Underlay neighbour MAC changes",
            m.neighbor_updates,
        ),
        (
            "mgmt_tx_failed",
            "Management frames that could not be sent",
            m.mgmt_tx_failed,
        ),
        (
            "kernel_rx_frames",
            "Frames the kernel sent out of the underlay port (exception path)",
            m.kernel_rx_frames,
        ),
        (
            "kernel_tx_frames",
            "Frames handed to the kernel (exception path)",
            m.kernel_tx_frames,
        ),
        (
            "kernel_tx_failed",
            "Frames for the kernel its tap refused",
            m.kernel_tx_failed,
        ),
        (
            "evpn_updates_in",
            "Remote MAC and flood-list changes read from the EVPN kernel mirror",
            m.evpn_updates_in,
        ),
        (
            "evpn_updates_out",
            "Local MAC changes written to the EVPN kernel mirror",
            m.evpn_updates_out,
        ),
        (
            "evpn_resyncs",
            "Full reads of the EVPN kernel mirror",
            m.evpn_resyncs,
        ),
        (
            "evpn_errors",
            "Netlink failures of the EVPN kernel mirror",
            m.evpn_errors,
        ),
    ] {
        counter(&mut o, &format!("vtep_{k}_total"), help, v);
    }
    gauge(
        &mut o,
        "vtep_mempool_mbufs",
        "Mbufs in the packet pool",
        st.mempool.size,
    );
    gauge(
        &mut o,
        "vtep_mempool_in_use",
        "Mbufs of the packet pool in use",
        st.mempool.in_use(),
    );
    // Driver-defined names and kinds (counters and gauges mixed): untyped.
    let mut f = Family::new(
        &mut o,
        "vtep_port_xstat",
        "untyped",
        "Non-zero extended statistics of the port's device, by driver name",
    );
    for p in xstats {
        for (name, v) in p.xstats.iter().filter(|(_, v)| **v != 0) {
            f.sample(&[("port", &p.name), ("name", name)], v);
        }
    }
    type WorkerField = fn(&vtep_api::WorkerStats) -> u64;
    let worker_counters: [(&str, &str, WorkerField); 3] = [
        (
            "busy_cycles",
            "TSC cycles the worker spent on bursts with packets",
            |w| w.busy_cycles,
        ),
        ("rx_packets", "Packets received by the worker", |w| {
            w.rx_packets
        }),
        ("bursts", "Bursts with packets handled by the worker", |w| {
            w.bursts
        }),
    ];
    for (k, help, get) in worker_counters {
        let mut f = Family::new(&mut o, &format!("vtep_worker_{k}_total"), "counter", help);
        for w in &st.workers {
            f.sample(&[("worker", &w.index.to_string())], get(w));
        }
    }
    o
}

/// Serves `/metrics` on `addr` until `running` turns false. Binding happens
/// before this returns, so an address in use is reported at once.
pub fn start(addr: SocketAddr, tx: Sender<Ask>, running: Arc<AtomicBool>) -> std::io::Result<()> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    std::thread::Builder::new()
        .name("vtep-metrics".into())
        .spawn(move || rt.block_on(accept_loop(std_listener, tx, running)))?;
    Ok(())
}

async fn accept_loop(l: std::net::TcpListener, tx: Sender<Ask>, running: Arc<AtomicBool>) {
    let Ok(listener) = tokio::net::TcpListener::from_std(l) else {
        tracing::error!("metrics listener could not join the runtime");
        return;
    };
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    while running.load(Ordering::Relaxed) {
        tokio::select! {
            _ = tick.tick() => {}
            permit = slots.clone().acquire_owned() => {
                let Ok(permit) = permit else { return };
                tokio::select! {
                    _ = tick.tick() => drop(permit),
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            connection(stream, tx).await;
                            drop(permit);
                        });
                    }
                }
            }
        }
    }
}

async fn connection(stream: tokio::net::TcpStream, tx: Sender<Ask>) {
    let io = hyper_util::rt::TokioIo::new(stream);
    let service = hyper::service::service_fn(move |req| answer(req, tx.clone()));
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEAD_TIMEOUT)
        .max_buf_size(MAX_HEAD)
        .keep_alive(false)
        .serve_connection(io, service);
    let _ = tokio::time::timeout(CONN_TIMEOUT, conn).await;
}

async fn answer(
    req: HttpRequest<hyper::body::Incoming>,
    tx: Sender<Ask>,
) -> Result<HttpResponse<Full<Bytes>>, Infallible> {
    let reply = |status: StatusCode, ctype: &str, body: String| {
        let mut r = HttpResponse::new(Full::new(Bytes::from(body)));
        *r.status_mut() = status;
        if let Ok(v) = ctype.parse() {
            r.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
        }
        Ok(r)
    };
    if req.uri().path() != "/metrics" {
        return reply(StatusCode::NOT_FOUND, "text/plain", "try /metrics\n".into());
    }
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            "text/plain",
            "GET only\n".into(),
        );
    }
    // The management thread answers over a blocking channel.
    let got = tokio::task::spawn_blocking(move || {
        let st = ask(&tx, Request::Stats)?;
        let xs = match ask(&tx, Request::Xstats { port: None }) {
            Ok(Response::Xstats(xs)) => xs,
            _ => Vec::new(),
        };
        Ok::<_, String>((st, xs))
    })
    .await;
    match got {
        Ok(Ok((Response::Stats(st), xs))) => reply(StatusCode::OK, CONTENT_TYPE, render(&st, &xs)),
        Ok(Ok(_)) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            "unexpected answer\n".into(),
        ),
        Ok(Err(e)) => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            format!("{e}\n"),
        ),
        Err(e) => reply(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("{e}\n"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::time::Instant;
    use vtep_api::{PortStats, VniStats};

    fn sample() -> Stats {
        let mut s = Stats::default();
        s.ports.push(PortStats {
            name: "net_\"odd\"\\0".into(),
            link_up: true,
            rx_packets: 5,
            ..PortStats::default()
        });
        s.vnis.push(VniStats {
            id: 100,
            encap_packets: 7,
            ..VniStats::default()
        });
        s.drops.insert("mtu_exceeded".into(), 3);
        s.accounting.forwarded = 9;
        s
    }

    #[test]
    fn families_are_named_as_their_samples() {
        let xs = [PortXstats {
            name: "p0".into(),
            xstats: [
                ("rx_good_packets".to_string(), 3),
                ("rx_q0_errors".to_string(), 0),
            ]
            .into_iter()
            .collect(),
        }];
        let text = render(&sample(), &xs);
        assert!(text.contains("vtep_port_xstat{port=\"p0\",name=\"rx_good_packets\"} 3\n"));
        assert!(!text.contains("rx_q0_errors"), "zero xstats are left out");
        assert!(text.contains("# TYPE vtep_port_rx_packets_total counter\n"));
        assert!(
            text.contains("vtep_port_rx_packets_total{port=\"net_\\\"odd\\\"\\\\0\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("vtep_port_up{port="));
        assert!(text.contains("vtep_vni_encap_packets_total{vni=\"100\"} 7\n"));
        assert!(text.contains("vtep_drops_total{reason=\"mtu_exceeded\"} 3\n"));
        assert!(text.contains("# TYPE vtep_forwarded_total counter\nvtep_forwarded_total 9\n"));
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let name = l.split(['{', ' ']).next().unwrap();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "sample {name} has no family of its own name"
            );
        }
    }

    /// Answers every stats request with `sample()` until the channel closes.
    fn fake_mgmt() -> Sender<Ask> {
        let (tx, rx) = crate::control::server::channel();
        std::thread::spawn(move || {
            while let Ok((req, reply)) = rx.recv() {
                let answer = match req {
                    Request::Xstats { .. } => Response::Xstats(Vec::new()),
                    _ => Response::Stats(Box::new(sample())),
                };
                let _ = reply.send(Ok(answer));
            }
        });
        tx
    }

    fn get(addr: SocketAddr, path: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    }

    fn server() -> (SocketAddr, Arc<AtomicBool>) {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = probe.local_addr().unwrap();
        drop(probe);
        let running = Arc::new(AtomicBool::new(true));
        start(addr, fake_mgmt(), running.clone()).unwrap();
        (addr, running)
    }

    #[test]
    fn idle_clients_do_not_delay_a_scrape() {
        let (addr, running) = server();
        // Ten clients that connect and say nothing, one that never ends
        // its request line.
        let mut idle: Vec<TcpStream> = (0..10).map(|_| TcpStream::connect(addr).unwrap()).collect();
        let mut partial = TcpStream::connect(addr).unwrap();
        partial.write_all(b"GET /metrics HTTP/1.1\r\nX: ").unwrap();
        idle.push(partial);
        let t = Instant::now();
        let out = get(addr, "/metrics");
        assert!(out.starts_with("HTTP/1.1 200 OK"), "{out}");
        assert!(out.contains(CONTENT_TYPE));
        assert!(
            t.elapsed() < Duration::from_secs(2),
            "scrape took {:?}",
            t.elapsed()
        );
        assert!(get(addr, "/nope").starts_with("HTTP/1.1 404"));
        running.store(false, Ordering::Relaxed);
    }

    #[test]
    fn endless_header_is_cut_off() {
        let (addr, running) = server();
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"GET /metrics HTTP/1.1\r\nX: ").unwrap();
        // Far more than the head limit, without a newline: the server must
        // answer or close instead of buffering it.
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0;
        while sent < 8 * 1024 * 1024 {
            if s.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len();
        }
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        assert!(
            sent < 8 * 1024 * 1024
                || out.starts_with("HTTP/1.1 431")
                || out.starts_with("HTTP/1.1 400"),
            "server took {sent} bytes of header and answered {out:?}"
        );
        running.store(false, Ordering::Relaxed);
    }
}

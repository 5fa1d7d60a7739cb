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
use vtep_api::counters::{self, Scope};
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

/// One family per counter of `scope`, a sample per row labelled by `label`.
fn families<T>(o: &mut String, scope: &Scope<T>, rows: &[T], label: impl Fn(&T) -> String) {
    for c in scope.counters {
        let mut f = Family::new(o, c.metric, c.kind.name(), c.help);
        for r in rows {
            match scope.label {
                Some(l) => f.sample(&[(l, &label(r))], (c.get)(r)),
                None => f.sample(&[], (c.get)(r)),
            };
        }
    }
}

/// Renders a stats snapshot and the ports' extended statistics (the
/// non-zero ones) as Prometheus text: the families of the counter tables,
/// then the two labelled by data (drop reasons, driver xstat names).
pub fn render(st: &Stats, xstats: &[PortXstats]) -> String {
    let mut o = String::with_capacity(16 * 1024);
    families(&mut o, &counters::PORTS, &st.ports, |p| p.name.clone());
    families(&mut o, &counters::VNIS, &st.vnis, |v| v.id.to_string());
    families(&mut o, &counters::REMOTES, &st.remotes, |r| r.ip.clone());
    families(&mut o, &counters::WORKERS, &st.workers, |w| {
        w.index.to_string()
    });
    families(&mut o, &counters::DAEMON, std::slice::from_ref(st), |_| {
        String::new()
    });
    let d = counters::DROPS;
    let mut f = Family::new(&mut o, d.metric, d.kind, d.help);
    for (reason, n) in &st.drops {
        f.sample(&[("reason", reason)], n);
    }
    let x = counters::XSTATS;
    let mut f = Family::new(&mut o, x.metric, x.kind, x.help);
    for p in xstats {
        for (name, v) in p.xstats.iter().filter(|(_, v)| **v != 0) {
            f.sample(&[("port", &p.name), ("name", name)], v);
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

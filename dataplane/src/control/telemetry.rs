//! What vtepd shows through DPDK's own channels: `/vtep/stats` and
//! `/vtep/fdb` in the telemetry socket, and DPDK's log lines in the
//! daemon's log.

use crossbeam::channel::Sender;
use dpdk::telemetry::TelValue;
use tracing::{error, info, warn};
use vtep_api::{counters, Location, Request, Response};

use crate::control::server::{ask, Ask};

/// `/vtep/stats` and `/vtep/fdb` in DPDK's telemetry socket, answered by
/// the management thread like any control request.
pub fn register(tx: &Sender<Ask>) {
    let t = tx.clone();
    let stats = move || {
        let Ok(Response::Stats(d)) = ask(&t, Request::Stats) else {
            return Vec::new();
        };
        let mut out: Vec<(String, TelValue)> = counters::DAEMON
            .counters
            .iter()
            .filter_map(|c| Some((c.telemetry?.to_string(), TelValue::U64((c.get)(&d)))))
            .collect();
        for (k, v) in d.drops.iter().filter(|(_, v)| **v != 0) {
            out.push((format!("drop_{k}"), TelValue::U64(*v)));
        }
        // Per VNI, the counters with a telemetry key (non-zero only).
        for v in &d.vnis {
            for c in counters::VNIS.counters {
                match (c.telemetry, (c.get)(v)) {
                    (Some(k), n) if n != 0 => {
                        out.push((format!("vni{}_{k}", v.id), TelValue::U64(n)))
                    }
                    _ => {}
                }
            }
        }
        out
    };
    let t = tx.clone();
    let fdb = move || {
        let Ok(Response::Fdb(rows)) = ask(&t, Request::FdbShow { vni: None }) else {
            return Vec::new();
        };
        rows.into_iter()
            .map(|e| {
                let key = format!("{}_{}", e.vni, e.mac.replace(':', ""));
                let at = match e.at {
                    Location::Remote(ip) => format!("{} remote {ip}", e.kind),
                    Location::Port(p) => format!("{} port {p}", e.kind),
                };
                (key, TelValue::Str(at))
            })
            .collect()
    };
    let results = [
        (
            "/vtep/stats",
            dpdk::telemetry::register(
                "/vtep/stats",
                "VTEP accounting, FDB counters and non-zero drops",
                stats,
            ),
        ),
        (
            "/vtep/fdb",
            dpdk::telemetry::register(
                "/vtep/fdb",
                "VTEP FDB, VNI_MAC: kind and location (first 256)",
                fdb,
            ),
        ),
    ];
    for (cmd, r) in results {
        if let Err(e) = r {
            warn!(cmd, "telemetry command not registered: {e}");
        }
    }
}

/// DPDK's log lines, in the daemon's log format (RTE_LOG_* levels).
pub fn dpdk_log(level: u32, msg: &str) {
    match level {
        0..=3 => error!(target: "dpdk", "{msg}"),
        4 => warn!(target: "dpdk", "{msg}"),
        5..=7 => info!(target: "dpdk", "{msg}"),
        _ => tracing::debug!(target: "dpdk", "{msg}"),
    }
}

//! What vtepd shows through DPDK's own channels: `/vtep/stats` and
//! `/vtep/fdb` in the telemetry socket, and DPDK's log lines in the
//! daemon's log.

use crossbeam::channel::Sender;
use dpdk::telemetry::TelValue;
use tracing::{error, info, warn};
use vtep_api::{Location, Request, Response};

use crate::control::server::{ask, Ask};

/// `/vtep/stats` and `/vtep/fdb` in DPDK's telemetry socket, answered by
/// the management thread like any control request.
pub fn register(tx: &Sender<Ask>) {
    let t = tx.clone();
    let stats = move || {
        let Ok(Response::Stats(d)) = ask(&t, Request::Stats) else {
            return Vec::new();
        };
        let a = &d.accounting;
        let mut out: Vec<(String, TelValue)> = [
            ("rx_packets", a.rx_packets),
            ("forwarded", a.forwarded),
            ("dropped", a.dropped),
            ("punted", a.punted),
            ("flood_copies", a.flood_copies),
            ("flood_copy_drops", d.flood_copy_drops),
            ("learn_events_dropped", d.learn_events_dropped),
            ("fdb_entries", d.fdb.entries),
            ("fdb_learned", d.fdb.counters.learned),
            ("fdb_moved", d.fdb.counters.moved),
            ("fdb_aged", d.fdb.counters.aged),
            ("mempool_in_use", d.mempool.in_use()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), TelValue::U64(v)))
        .collect();
        for (k, v) in d.drops.iter().filter(|(_, v)| **v != 0) {
            out.push((format!("drop_{k}"), TelValue::U64(*v)));
        }
        // Per VNI, what its limits dropped (non-zero only).
        for v in &d.vnis {
            for (k, n) in [
                ("policed_encap", v.policed_encap_packets),
                ("policed_decap", v.policed_decap_packets),
                ("storm_control", v.storm_control_packets),
            ] {
                if n != 0 {
                    out.push((format!("vni{}_{k}", v.id), TelValue::U64(n)));
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

//! vtepctl: operate a running vtepd over its control socket.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::{json, Value};

/// println! that ends the program quietly when stdout is gone (e.g. piped
/// into `head`) instead of panicking on EPIPE.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if writeln!(std::io::stdout(), $($t)*).is_err() {
            std::process::exit(0);
        }
    }};
}

#[derive(Parser)]
#[command(name = "vtepctl", version, about = "Control a running vtepd")]
struct Args {
    /// Control socket of the daemon.
    #[arg(long, default_value = "/run/vtep/vtep.sock")]
    socket: PathBuf,
    /// Print JSON for programs instead of text.
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Version, uptime, workers and ports.
    Status,
    /// Counters: ports, VNIs, remotes, drops, accounting.
    Stats {
        /// Every N seconds, show rates (pps, bit/s) instead of totals.
        #[arg(long, value_name = "N")]
        watch: Option<u64>,
        /// With --watch: stop after this many intervals.
        #[arg(long, requires = "watch")]
        count: Option<u64>,
    },
    /// The forwarding database.
    Fdb {
        #[command(subcommand)]
        op: FdbOp,
    },
    /// Configured VNIs.
    Vni {
        #[command(subcommand)]
        op: ShowOp,
    },
    /// Underlay neighbours (ARP).
    Neigh {
        #[command(subcommand)]
        op: ShowOp,
    },
    /// Re-read the config file and apply the differences.
    Reload,
}

#[derive(Subcommand)]
enum ShowOp {
    Show,
}

#[derive(Subcommand)]
enum FdbOp {
    Show {
        #[arg(long)]
        vni: Option<u32>,
    },
    Add {
        #[arg(long)]
        vni: u32,
        #[arg(long)]
        mac: String,
        #[arg(long)]
        remote: String,
    },
    Del {
        #[arg(long)]
        vni: u32,
        #[arg(long)]
        mac: String,
    },
    Flush {
        #[arg(long)]
        vni: Option<u32>,
        #[arg(long)]
        remote: Option<String>,
    },
}

fn main() -> ExitCode {
    let a = Args::parse();
    let req = match &a.cmd {
        Cmd::Status => json!({"cmd": "status"}),
        Cmd::Stats {
            watch: Some(n),
            count,
        } => return watch(&a, (*n).max(1), *count),
        Cmd::Stats { .. } => json!({"cmd": "stats"}),
        Cmd::Fdb {
            op: FdbOp::Show { vni },
        } => json!({"cmd": "fdb_show", "vni": vni}),
        Cmd::Fdb {
            op: FdbOp::Add { vni, mac, remote },
        } => {
            json!({"cmd": "fdb_add", "vni": vni, "mac": mac, "remote": remote})
        }
        Cmd::Fdb {
            op: FdbOp::Del { vni, mac },
        } => json!({"cmd": "fdb_del", "vni": vni, "mac": mac}),
        Cmd::Fdb {
            op: FdbOp::Flush { vni, remote },
        } => json!({"cmd": "fdb_flush", "vni": vni, "remote": remote}),
        Cmd::Vni { .. } => json!({"cmd": "vni_show"}),
        Cmd::Neigh { .. } => json!({"cmd": "neigh_show"}),
        Cmd::Reload => json!({"cmd": "reload"}),
    };
    let reply = match vtep_dataplane::control::call(&a.socket, &req) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vtepctl: {e}");
            return ExitCode::from(2);
        }
    };
    if reply.get("ok") != Some(&Value::Bool(true)) {
        let e = reply
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("request refused");
        eprintln!("vtepctl: {e}");
        return ExitCode::from(1);
    }
    let data = reply.get("data").cloned().unwrap_or(Value::Null);
    if a.json {
        out!(
            "{}",
            serde_json::to_string_pretty(&data).unwrap_or_default()
        );
    } else {
        print_text(&a.cmd, &data);
    }
    ExitCode::SUCCESS
}

fn fetch(a: &Args) -> Result<Value, String> {
    let r = vtep_dataplane::control::call(&a.socket, &json!({"cmd": "stats"}))?;
    if r["ok"] != true {
        return Err(r["error"].as_str().unwrap_or("request refused").to_string());
    }
    Ok(r["data"].clone())
}

/// Rates between two stats snapshots taken `secs` apart.
fn rates(old: &Value, new: &Value, secs: f64) -> Value {
    let d = |o: &Value, n: &Value, k: &str| {
        n[k].as_u64()
            .unwrap_or(0)
            .saturating_sub(o[k].as_u64().unwrap_or(0)) as f64
            / secs
    };
    let by = |list: &str, id: &str, keys: &[(&str, &str, f64)]| -> Vec<Value> {
        new[list]
            .as_array()
            .into_iter()
            .flatten()
            .map(|n| {
                let o = old[list]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x[id] == n[id]))
                    .cloned()
                    .unwrap_or(Value::Null);
                let mut v = json!({ id: n[id] });
                for (out, key, mult) in keys {
                    v[*out] = json!(d(&o, n, key) * mult);
                }
                v
            })
            .collect()
    };
    json!({
        "interval_secs": secs,
        "ports": by("ports", "name", &[("rx_pps", "rx_packets", 1.0), ("tx_pps", "tx_packets", 1.0),
            ("rx_bps", "rx_bytes", 8.0), ("tx_bps", "tx_bytes", 8.0), ("rx_missed_ps", "rx_missed", 1.0)]),
        "vnis": by("vnis", "id", &[("encap_pps", "encap_packets", 1.0), ("decap_pps", "decap_packets", 1.0),
            ("flood_pps", "flood_packets", 1.0), ("encap_bps", "encap_bytes", 8.0), ("decap_bps", "decap_bytes", 8.0)]),
        "forwarded_pps": d(&old["accounting"], &new["accounting"], "forwarded"),
        "dropped_pps": d(&old["accounting"], &new["accounting"], "dropped"),
    })
}

fn watch(a: &Args, secs: u64, count: Option<u64>) -> ExitCode {
    let mut old = match fetch(a) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("vtepctl: {e}");
            return ExitCode::from(2);
        }
    };
    let mut n = 0;
    while count.is_none_or(|c| n < c) {
        std::thread::sleep(std::time::Duration::from_secs(secs));
        let new = match fetch(a) {
            Ok(v) => v,
            Err(e) => {
                eprintln!("vtepctl: {e}");
                return ExitCode::from(2);
            }
        };
        let r = rates(&old, &new, secs as f64);
        if a.json {
            out!("{r}");
        } else {
            out!(
                "-- every {secs}s: forwarded {:.0} pps, dropped {:.0} pps",
                r["forwarded_pps"].as_f64().unwrap_or(0.0),
                r["dropped_pps"].as_f64().unwrap_or(0.0)
            );
            for p in r["ports"].as_array().into_iter().flatten() {
                let f = |k: &str| p[k].as_f64().unwrap_or(0.0);
                out!(
                    "port {:<24} rx {:>10.0} pps {:>10.2} Mb/s   tx {:>10.0} pps {:>10.2} Mb/s",
                    s(&p["name"]),
                    f("rx_pps"),
                    f("rx_bps") / 1e6,
                    f("tx_pps"),
                    f("tx_bps") / 1e6
                );
            }
            for v in r["vnis"].as_array().into_iter().flatten() {
                let f = |k: &str| v[k].as_f64().unwrap_or(0.0);
                out!(
                    "vni  {:<24} encap {:>8.0} pps   decap {:>8.0} pps   flood {:>6.0} pps",
                    s(&v["id"]),
                    f("encap_pps"),
                    f("decap_pps"),
                    f("flood_pps")
                );
            }
        }
        old = new;
        n += 1;
    }
    ExitCode::SUCCESS
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn print_text(cmd: &Cmd, d: &Value) {
    match cmd {
        Cmd::Status => {
            out!(
                "vtepd {}  ({})  up {}s",
                s(&d["version"]),
                s(&d["dpdk"]),
                s(&d["uptime_secs"])
            );
            out!(
                "VTEP {} mac {} udp/{}",
                s(&d["vtep_address"]),
                s(&d["vtep_mac"]),
                s(&d["udp_port"])
            );
            for w in d["workers"].as_array().into_iter().flatten() {
                out!("worker {} on cpu {}", s(&w["index"]), s(&w["cpu"]));
            }
            for p in d["ports"].as_array().into_iter().flatten() {
                let up = if p["link_up"] == Value::Bool(true) {
                    "up"
                } else {
                    "down"
                };
                out!(
                    "port {:<24} {:<4} {} Mb/s  {}",
                    s(&p["name"]),
                    up,
                    s(&p["speed_mbps"]),
                    s(&p["mac"])
                );
            }
            out!("fdb entries {}", s(&d["fdb_entries"]));
        }
        Cmd::Stats { .. } => {
            let a = &d["accounting"];
            out!(
                "accounting: rx {} = forwarded {} + dropped {} + punted {}   (flood copies {})",
                s(&a["rx_packets"]),
                s(&a["forwarded"]),
                s(&a["dropped"]),
                s(&a["punted"]),
                s(&a["flood_copies"])
            );
            out!(
                "{:<24} {:>12} {:>12} {:>10} {:>10} {:>10}",
                "port",
                "rx",
                "tx",
                "missed",
                "nombuf",
                "tx_err"
            );
            for p in d["ports"].as_array().into_iter().flatten() {
                out!(
                    "{:<24} {:>12} {:>12} {:>10} {:>10} {:>10}",
                    s(&p["name"]),
                    s(&p["rx_packets"]),
                    s(&p["tx_packets"]),
                    s(&p["rx_missed"]),
                    s(&p["rx_nombuf"]),
                    s(&p["tx_errors"])
                );
            }
            out!(
                "{:<10} {:>12} {:>12} {:>12} {:>8}",
                "vni",
                "encap",
                "decap",
                "flood",
                "macs"
            );
            for v in d["vnis"].as_array().into_iter().flatten() {
                out!(
                    "{:<10} {:>12} {:>12} {:>12} {:>8}",
                    s(&v["id"]),
                    s(&v["encap_packets"]),
                    s(&v["decap_packets"]),
                    s(&v["flood_packets"]),
                    s(&v["learned_macs"])
                );
            }
            out!("{:<16} {:>12} {:>12}", "remote", "tx", "rx");
            for r in d["remotes"].as_array().into_iter().flatten() {
                out!(
                    "{:<16} {:>12} {:>12}",
                    s(&r["ip"]),
                    s(&r["tx_packets"]),
                    s(&r["rx_packets"])
                );
            }
            out!("drops:");
            for (k, v) in d["drops"].as_object().into_iter().flatten() {
                if v.as_u64() != Some(0) {
                    out!("  {k:<28} {v}");
                }
            }
            for w in d["workers"].as_array().into_iter().flatten() {
                out!(
                    "worker {} cpu {}: {} packets, {:.1} cycles/packet, avg burst {:.1}",
                    s(&w["index"]),
                    s(&w["cpu"]),
                    s(&w["rx_packets"]),
                    w["cycles_per_packet"].as_f64().unwrap_or(0.0),
                    w["avg_burst"].as_f64().unwrap_or(0.0)
                );
            }
        }
        Cmd::Fdb {
            op: FdbOp::Show { .. },
        } => {
            out!(
                "{:<10} {:<18} {:<8} {:<24} {:>6}",
                "vni",
                "mac",
                "kind",
                "where",
                "age"
            );
            for e in d.as_array().into_iter().flatten() {
                let at = if e.get("remote").is_some() {
                    format!("remote {}", s(&e["remote"]))
                } else {
                    format!("port {}", s(&e["port"]))
                };
                out!(
                    "{:<10} {:<18} {:<8} {:<24} {:>5}s",
                    s(&e["vni"]),
                    s(&e["mac"]),
                    s(&e["kind"]),
                    at,
                    s(&e["age_secs"])
                );
            }
        }
        Cmd::Vni { .. } => {
            for v in d.as_array().into_iter().flatten() {
                out!(
                    "vni {}: learning {} arp_suppress {} macs {}/{} flood [{}]",
                    s(&v["id"]),
                    s(&v["learning"]),
                    s(&v["arp_suppress"]),
                    s(&v["learned_macs"]),
                    s(&v["mac_limit"]),
                    v["flood"]
                        .as_array()
                        .map(|a| a.iter().map(s).collect::<Vec<_>>().join(", "))
                        .unwrap_or_default()
                );
            }
        }
        Cmd::Neigh { .. } => {
            for n in d.as_array().into_iter().flatten() {
                out!(
                    "{:<16} {:<18} {}",
                    s(&n["ip"]),
                    s(&n["mac"]),
                    s(&n["state"])
                );
            }
        }
        Cmd::Fdb {
            op: FdbOp::Add { .. },
        } => out!("added {}", s(&d["added"])),
        Cmd::Fdb {
            op: FdbOp::Del { .. },
        } => out!("deleted {}", s(&d["deleted"])),
        Cmd::Fdb {
            op: FdbOp::Flush { .. },
        } => out!("flushed {} learned entries", s(&d["flushed"])),
        Cmd::Reload => out!(
            "reloaded {} (state generation {})",
            s(&d["reloaded"]),
            s(&d["generation"])
        ),
    }
}

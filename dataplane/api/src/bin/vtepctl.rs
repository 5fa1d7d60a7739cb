//! vtepctl: operate a running vtepd over its control socket.
//!
//! Exit codes: 0 done, 1 refused by vtepd, 2 vtepd not reachable (or its
//! answer not understood), 64 bad command line.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde::Serialize;
use vtep_api::client::{call, CallError};
use vtep_api::counters;
use vtep_api::rates::{rates, Rates};
use vtep_api::{
    Added, ArpEntry, Deleted, FdbEntry, Flushed, Location, NeighEntry, PortXstats, Reloaded,
    Request, Stats, Status, VniInfo,
};

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

const EXIT_REFUSED: u8 = 1;
const EXIT_UNREACHABLE: u8 = 2;
/// sysexits.h EX_USAGE: the command line itself is wrong.
const EXIT_USAGE: u8 = 64;

#[derive(Parser)]
#[command(
    name = "vtepctl",
    version,
    about = "Control a running vtepd",
    after_help = "Exit codes: 0 done, 1 refused by vtepd, 2 vtepd not reachable, 64 bad command line."
)]
struct Args {
    /// Control socket of the daemon ([control] socket in its config).
    #[arg(long, default_value = "/run/vtep/vtep.sock")]
    socket: PathBuf,
    /// Print JSON for programs instead of text (errors too: {"error": ...}).
    #[arg(long)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Version, uptime, VTEP address, workers and port links.
    Status,
    /// Counters: ports, VNIs, remote VTEPs, drops by reason, accounting.
    Stats {
        /// Every N seconds, show rates (pps, bit/s) per port, VNI, remote
        /// and drop reason instead of totals, until Ctrl-C.
        #[arg(long, value_name = "N")]
        watch: Option<u64>,
        /// With --watch: stop after this many intervals.
        #[arg(long, requires = "watch")]
        count: Option<u64>,
        /// The devices' extended statistics instead (non-zero ones in text;
        /// all with --json), of PORT or of every port.
        #[arg(long, value_name = "PORT", num_args = 0..=1, conflicts_with = "watch")]
        xstats: Option<Option<String>>,
    },
    /// The forwarding database: (VNI, MAC) -> remote VTEP or local port.
    Fdb {
        #[command(subcommand)]
        op: FdbOp,
    },
    /// Configured VNIs, their flood lists, ports and learning settings.
    Vni {
        #[command(subcommand)]
        op: ShowOp,
    },
    /// Underlay neighbours (ARP): next hops and their MACs.
    Neigh {
        #[command(subcommand)]
        op: ShowOp,
    },
    /// ARP/ND suppression bindings: (VNI, IP) -> MAC, snooped, from EVPN or config.
    Arp {
        #[command(subcommand)]
        op: ArpOp,
    },
    /// Re-read the config file and apply the differences (as SIGHUP does).
    Reload,
}

#[derive(Subcommand)]
enum ShowOp {
    /// List them, one line each (all fields with --json).
    Show,
}

#[derive(Subcommand)]
enum ArpOp {
    /// List bindings, one line each, with their source (snooped/evpn/config).
    Show {
        /// Only this VNI.
        #[arg(long)]
        vni: Option<u32>,
    },
}

#[derive(Subcommand)]
enum FdbOp {
    /// List entries, with kind (static/learned), source (config/api/learned) and age.
    Show {
        /// Only this VNI.
        #[arg(long)]
        vni: Option<u32>,
    },
    /// Add a static entry behind a remote VTEP (kept in [control] state_file).
    Add {
        /// VNI of the entry (must be configured).
        #[arg(long)]
        vni: u32,
        /// Unicast MAC, e.g. 02:00:00:00:00:01.
        #[arg(long)]
        mac: String,
        /// IPv4 address of the remote VTEP.
        #[arg(long)]
        remote: String,
    },
    /// Delete an entry added with `fdb add` or learned.
    Del {
        /// VNI of the entry.
        #[arg(long)]
        vni: u32,
        /// MAC of the entry.
        #[arg(long)]
        mac: String,
    },
    /// Remove learned entries (all, of one VNI, or behind one remote).
    Flush {
        /// Only this VNI.
        #[arg(long)]
        vni: Option<u32>,
        /// Only entries behind this remote VTEP.
        #[arg(long)]
        remote: Option<String>,
    },
}

/// A failure of the command, with its exit code.
struct Failure {
    code: u8,
    msg: String,
}

impl From<CallError> for Failure {
    fn from(e: CallError) -> Failure {
        let code = match e {
            CallError::Refused(_) => EXIT_REFUSED,
            CallError::Unreachable(_) | CallError::Protocol(_) => EXIT_UNREACHABLE,
        };
        Failure {
            code,
            msg: e.to_string(),
        }
    }
}

fn main() -> ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    let a = match Args::try_parse() {
        Ok(a) => a,
        Err(e) if !e.use_stderr() => {
            // --help and --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            fail(
                json,
                &Failure {
                    code: EXIT_USAGE,
                    msg: e.render().to_string().trim_end().to_string(),
                },
            );
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(&a) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            fail(a.json, &f);
            ExitCode::from(f.code)
        }
    }
}

fn fail(json: bool, f: &Failure) {
    if json {
        let kind = match f.code {
            EXIT_REFUSED => "refused",
            EXIT_UNREACHABLE => "unreachable",
            _ => "usage",
        };
        out!("{}", serde_json::json!({"error": f.msg, "kind": kind}));
    } else if f.code == EXIT_USAGE {
        eprintln!("{}", f.msg);
    } else {
        eprintln!("vtepctl: {}", f.msg);
    }
}

fn print_json<T: Serialize>(v: &T) {
    out!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

fn run(a: &Args) -> Result<(), Failure> {
    let s = &a.socket;
    match &a.cmd {
        Cmd::Status => show(a, &call::<Status>(s, &Request::Status)?, status_text),
        Cmd::Stats {
            xstats: Some(port), ..
        } => show(
            a,
            &call::<Vec<PortXstats>>(s, &Request::Xstats { port: port.clone() })?,
            xstats_text,
        ),
        Cmd::Stats {
            watch: Some(n),
            count,
            ..
        } => watch(a, (*n).max(1), *count),
        Cmd::Stats { .. } => show(a, &call::<Stats>(s, &Request::Stats)?, stats_text),
        Cmd::Fdb {
            op: FdbOp::Show { vni },
        } => show(
            a,
            &call::<Vec<FdbEntry>>(s, &Request::FdbShow { vni: *vni })?,
            fdb_text,
        ),
        Cmd::Fdb {
            op: FdbOp::Add { vni, mac, remote },
        } => {
            let req = Request::FdbAdd {
                vni: *vni,
                mac: mac.clone(),
                remote: remote.clone(),
            };
            show(a, &call::<Added>(s, &req)?, |d| out!("added {}", d.added))
        }
        Cmd::Fdb {
            op: FdbOp::Del { vni, mac },
        } => {
            let req = Request::FdbDel {
                vni: *vni,
                mac: mac.clone(),
            };
            show(a, &call::<Deleted>(s, &req)?, |d| {
                out!("deleted {}", d.deleted)
            })
        }
        Cmd::Fdb {
            op: FdbOp::Flush { vni, remote },
        } => {
            let req = Request::FdbFlush {
                vni: *vni,
                remote: remote.clone(),
            };
            show(a, &call::<Flushed>(s, &req)?, |d| {
                out!("flushed {} learned entries", d.flushed)
            })
        }
        Cmd::Vni { .. } => show(a, &call::<Vec<VniInfo>>(s, &Request::VniShow)?, vni_text),
        Cmd::Neigh { .. } => show(
            a,
            &call::<Vec<NeighEntry>>(s, &Request::NeighShow)?,
            neigh_text,
        ),
        Cmd::Arp {
            op: ArpOp::Show { vni },
        } => show(
            a,
            &call::<Vec<ArpEntry>>(s, &Request::ArpShow { vni: *vni })?,
            arp_text,
        ),
        Cmd::Reload => show(a, &call::<Reloaded>(s, &Request::Reload)?, |d| {
            out!(
                "reloaded {} (state generation {})",
                d.reloaded,
                d.generation
            )
        }),
    }
}

/// Prints `v` as JSON or, for people, with `text`.
fn show<T: Serialize>(a: &Args, v: &T, text: impl Fn(&T)) -> Result<(), Failure> {
    if a.json {
        print_json(v);
    } else {
        text(v);
    }
    Ok(())
}

fn watch(a: &Args, secs: u64, count: Option<u64>) -> Result<(), Failure> {
    let mut old: Stats = call(&a.socket, &Request::Stats)?;
    let mut n = 0;
    while count.is_none_or(|c| n < c) {
        std::thread::sleep(std::time::Duration::from_secs(secs));
        let new: Stats = call(&a.socket, &Request::Stats)?;
        let r = rates(&old, &new, secs as f64);
        if a.json {
            out!("{}", serde_json::to_string(&r).unwrap_or_default());
        } else {
            rates_text(&r);
        }
        old = new;
        n += 1;
    }
    Ok(())
}

fn rates_text(r: &Rates) {
    out!(
        "-- every {}s: forwarded {:.0} pps, dropped {:.0} pps",
        r.interval_secs,
        r.forwarded_pps,
        r.dropped_pps
    );
    for p in &r.ports {
        out!(
            "port {:<24} rx {:>10.0} pps {:>10.2} Mb/s   tx {:>10.0} pps {:>10.2} Mb/s",
            p.name,
            p.rx_pps,
            p.rx_bps / 1e6,
            p.tx_pps,
            p.tx_bps / 1e6
        );
    }
    for v in &r.vnis {
        out!(
            "vni  {:<24} encap {:>8.0} pps   decap {:>8.0} pps   flood {:>6.0} pps",
            v.id,
            v.encap_pps,
            v.decap_pps,
            v.flood_pps
        );
    }
    for x in &r.remotes {
        out!(
            "remote {:<22} tx {:>10.0} pps {:>10.2} Mb/s   rx {:>10.0} pps {:>10.2} Mb/s",
            x.ip,
            x.tx_pps,
            x.tx_bps / 1e6,
            x.rx_pps,
            x.rx_bps / 1e6
        );
    }
    for (reason, pps) in &r.drops {
        out!("drop {reason:<24} {pps:>10.0} pps");
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(|| "-".into(), T::to_string)
}

fn status_text(d: &Status) {
    out!("vtepd {}  ({})  up {}s", d.version, d.dpdk, d.uptime_secs);
    out!(
        "VTEP {} mac {} udp/{}",
        d.vtep_address,
        d.vtep_mac,
        d.udp_port
    );
    for w in &d.workers {
        out!("worker {} on cpu {}", w.index, w.cpu);
    }
    for p in &d.ports {
        let link = match p.link_up {
            Some(true) => "up",
            Some(false) => "down",
            None => "?",
        };
        out!(
            "port {:<24} {:<4} {} Mb/s  {}",
            p.name,
            link,
            opt(&p.speed_mbps),
            opt(&p.mac)
        );
    }
    out!("fdb entries {}", d.fdb_entries);
    if let Some(e) = &d.evpn {
        let state = match (e.built < e.vnis, e.synced) {
            (true, _) => "building",
            (false, false) => "built, reading routes",
            (false, true) => "complete",
        };
        out!(
            "evpn mirror in {}: {}/{} VNIs, {state}",
            e.netns,
            e.built,
            e.vnis
        );
    }
}

fn stats_text(d: &Stats) {
    let a = &d.accounting;
    out!(
        "accounting: rx {} = forwarded {} + dropped {} + punted {}   (flood copies {})",
        a.rx_packets,
        a.forwarded,
        a.dropped,
        a.punted,
        a.flood_copies
    );
    let ports: Vec<_> = d
        .ports
        .iter()
        .map(|p| {
            let link = if p.link_up { "up" } else { "down" };
            (format!("{:<24} {link:<4}", p.name), p)
        })
        .collect();
    table(
        &format!("{:<24} {:<4}", "port", "link"),
        &ports,
        &counters::PORTS,
    );
    let vnis: Vec<_> = d
        .vnis
        .iter()
        .map(|v| (format!("{:<10} {:<6}", v.id, v.encap), v))
        .collect();
    table(
        &format!("{:<10} {:<6}", "vni", "encap"),
        &vnis,
        &counters::VNIS,
    );
    // IPv4 addresses keep 16 columns; IPv6 ones widen them.
    let w = d
        .remotes
        .iter()
        .map(|r| r.ip.len() + 1)
        .fold(16, usize::max);
    let remotes: Vec<_> = d
        .remotes
        .iter()
        .map(|r| (format!("{:<w$}", r.ip), r))
        .collect();
    table(&format!("{:<w$}", "remote"), &remotes, &counters::REMOTES);
    out!("drops:");
    for (k, v) in d.drops.iter().filter(|(_, v)| **v != 0) {
        out!("  {k:<28} {v}");
    }
    if d.flood_copy_drops + d.learn_events_dropped > 0 {
        out!(
            "flood copies lost {}, learn events dropped {}",
            d.flood_copy_drops,
            d.learn_events_dropped
        );
    }
    out!("mbufs in use {} of {}", d.mempool.in_use(), d.mempool.size);
    for w in &d.workers {
        out!(
            "worker {} cpu {}: {} packets, {:.1} cycles/packet, avg burst {:.1}",
            w.index,
            w.cpu,
            w.rx_packets,
            w.cycles_per_packet,
            w.avg_burst
        );
    }
}

/// Rows under a header: each row's own first columns, then one column per
/// counter of `scope` that has one.
fn table<T>(head: &str, rows: &[(String, &T)], scope: &counters::Scope<T>) {
    let width = |h: &str| h.len().max(11) + 1;
    let mut line = head.to_string();
    for (h, _) in scope.columns() {
        line.push_str(&format!("{h:>w$}", w = width(h)));
    }
    out!("{line}");
    for (first, r) in rows {
        let mut line = first.clone();
        for (h, get) in scope.columns() {
            line.push_str(&format!("{:>w$}", get(r), w = width(h)));
        }
        out!("{line}");
    }
}

fn fdb_text(d: &Vec<FdbEntry>) {
    out!(
        "{:<10} {:<18} {:<8} {:<8} {:<24} {:>6}",
        "vni",
        "mac",
        "kind",
        "source",
        "where",
        "age"
    );
    for e in d {
        let at = match &e.at {
            Location::Remote(ip) => format!("remote {ip}"),
            Location::Port(p) => format!("port {p}"),
        };
        out!(
            "{:<10} {:<18} {:<8} {:<8} {:<24} {:>5}s",
            e.vni,
            e.mac,
            e.kind,
            e.source,
            at,
            e.age_secs
        );
    }
}

fn vni_text(d: &Vec<VniInfo>) {
    for v in d {
        let ports: Vec<String> = v
            .ports
            .iter()
            .map(|p| match p.vlan {
                Some(vid) => format!("{}.{vid}", p.port),
                None => p.port.clone(),
            })
            .collect();
        let limit = |x: Option<u32>, unit: &str| match x {
            Some(n) => format!("{n}{unit}"),
            None => "unlimited".into(),
        };
        // Entries from EVPN say so; configured ones stay bare.
        let flood: Vec<String> = v
            .flood
            .iter()
            .map(|ip| {
                let src: Vec<&str> = v
                    .flood_sources
                    .iter()
                    .filter(|f| &f.remote == ip)
                    .map(|f| f.source.as_str())
                    .collect();
                if src.iter().all(|s| *s == "config") {
                    ip.clone()
                } else {
                    format!("{ip} ({})", src.join("+"))
                }
            })
            .collect();
        out!(
            "vni {}: {}{} learning {} arp_suppress {}{} macs {}/{} flood [{}] ports [{}] rate {}{} flood_pps {}",
            v.id,
            v.encap,
            v.udp_port.map(|p| format!("/{p}")).unwrap_or_default(),
            v.learning,
            v.arp_suppress,
            if v.arp_suppress {
                format!(
                    " (bindings {}, answered arp {} nd {})",
                    v.arp_bindings, v.arp_suppressed, v.nd_suppressed
                )
            } else {
                String::new()
            },
            v.learned_macs,
            v.mac_limit,
            flood.join(", "),
            ports.join(", "),
            limit(v.rate_mbps, " Mbit/s"),
            v.burst_kb.map(|b| format!(" (burst {b} KiB)")).unwrap_or_default(),
            limit(v.flood_pps, "")
        );
    }
}

fn xstats_text(d: &Vec<PortXstats>) {
    for p in d {
        out!("port {}", p.name);
        for (k, v) in p.xstats.iter().filter(|(_, v)| **v != 0) {
            out!("  {k:<40} {v}");
        }
    }
}

fn arp_text(d: &Vec<ArpEntry>) {
    let w = d.iter().map(|n| n.ip.len() + 1).fold(16, usize::max);
    out!("{:<10} {:<w$} {:<18} source", "vni", "ip", "mac");
    for n in d {
        out!("{:<10} {:<w$} {:<18} {}", n.vni, n.ip, n.mac, n.source);
    }
}

fn neigh_text(d: &Vec<NeighEntry>) {
    let w = d.iter().map(|n| n.ip.len() + 1).fold(16, usize::max);
    for n in d {
        out!("{:<w$} {:<18} {}", n.ip, opt(&n.mac), n.state);
    }
}

//! vtepd: the VXLAN tunnel end point daemon.
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use crossbeam::queue::ArrayQueue;
use dpdk::{Eal, Mempool, Port, PortConfig};
use tracing::{error, info, warn};
use vtep_config::Config;
use vtep_dataplane::control::kernel::{self, KernelPath};
use vtep_dataplane::control::tables::Tables;
use vtep_dataplane::control::{Mgmt, WorkerLink};
use vtep_dataplane::datapath::fdb::HitMap;
use vtep_dataplane::datapath::ports::{self, Role, Want};
use vtep_dataplane::datapath::stats::WorkerStats;
use vtep_dataplane::datapath::worker::Worker;

#[derive(Parser)]
#[command(name = "vtepd", version, about = "VXLAN tunnel end point on DPDK")]
struct Args {
    /// Configuration file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Validate the configuration and exit without starting DPDK.
    #[arg(long)]
    check: bool,
    /// Validate the configuration, check the host (hugepages, NIC drivers,
    /// lcores) from /proc and /sys, print what is missing, and exit: 0 when
    /// vtepd can start, 1 when it cannot.
    #[arg(long, conflicts_with = "check")]
    preflight: bool,
    /// Log format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vtepd: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("{}: configuration is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    if args.preflight {
        let findings = vtep_dataplane::daemon::preflight::check(&cfg, std::path::Path::new("/"));
        println!("{}: configuration is valid", args.config.display());
        for f in &findings {
            println!("{f}");
        }
        return if vtep_dataplane::daemon::preflight::passed(&findings) {
            println!("vtepd can start");
            ExitCode::SUCCESS
        } else {
            println!("vtepd cannot start: fix the MISSING lines above");
            ExitCode::from(1)
        };
    }
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => match tracing_subscriber::EnvFilter::try_new(&v) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("vtepd: RUST_LOG={v:?} is not a valid log filter: {e}");
                return ExitCode::from(2);
            }
        },
        _ => tracing_subscriber::EnvFilter::new("info"),
    };
    let sub = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        sub.json().init();
    } else {
        sub.init();
    }
    if let Err(e) = vtep_dataplane::daemon::preflight::evpn_netns(&cfg, std::path::Path::new("/")) {
        error!("{e}");
        eprintln!("vtepd: {e}");
        return ExitCode::from(1);
    }
    let prefix = cfg.file_prefix();
    let result = run(cfg, args.config);
    // DPDK leaves its runtime directory and hugepage files behind (for
    // secondary processes); at our exit nobody needs them.
    remove_dpdk_leftovers(prefix.as_deref().unwrap_or("rte"));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("vtepd: {e}");
            ExitCode::from(1)
        }
    }
}

/// Removes /var/run/dpdk/PREFIX and PREFIXmap_* in every hugetlbfs mount.
fn remove_dpdk_leftovers(prefix: &str) {
    if prefix.is_empty() || prefix.contains('/') {
        return;
    }
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    for dir in mounts.lines().filter_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 2 && f[2] == "hugetlbfs").then(|| f[1].to_string())
    }) {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with("map_"))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The `-l` cores must exist here: EAL would otherwise answer with its
/// usage text.
fn check_lcores_online(cfg: &Config) -> Result<(), String> {
    let Ok(Some(cores)) = vtep_config::eal_lcores(&cfg.eal_args) else {
        return Ok(());
    };
    let Ok(text) = std::fs::read_to_string("/sys/devices/system/cpu/online") else {
        return Ok(());
    };
    let online = vtep_config::parse_cpu_list(&text).unwrap_or_default();
    let absent: Vec<usize> = cores.into_iter().filter(|c| !online.contains(c)).collect();
    if absent.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "lcores {absent:?} from [eal].args are not online CPUs here (online: {})",
            text.trim()
        ))
    }
}

/// Takes queue `q` of port `p` out of the per-port queue lists.
fn take<T>(v: &mut [Vec<Option<T>>], p: usize, q: usize) -> T {
    v[p][q].take().expect("each queue is handed out once")
}

fn run(cfg: Config, path: PathBuf) -> Result<(), String> {
    // A control socket path or group that cannot work fails before any
    // port or worker starts; the socket itself appears once all are up.
    vtep_dataplane::control::server::check(&cfg.control.socket, cfg.control.group.as_deref())
        .map_err(|e| format!("control socket: {e}"))?;
    check_lcores_online(&cfg)?;
    if let Err(e) = dpdk::log::redirect(vtep_dataplane::control::telemetry::dpdk_log) {
        warn!("DPDK log stays on stderr: {e}");
    }
    let eal = Eal::init(&cfg.eal_args).map_err(|e| e.to_string())?;
    info!(version = %Eal::version(), "EAL initialised");
    if let Err(e) = eal.enable_pdump() {
        warn!("packet capture (pdump) unavailable: {e}");
    }
    let nw = cfg.dataplane.workers;
    let lcores = eal.worker_lcores();
    if lcores.len() < nw {
        return Err(format!(
            "dataplane.workers = {nw} but [eal].args give {} worker lcore(s) besides the main one; \
             list more cores with -l",
            lcores.len()
        ));
    }
    // Every port's set-up is decided (and refused with its reason) before
    // anything is allocated or configured.
    let mut planned = Vec::new();
    for name in cfg.port_names() {
        let p = Port::by_name(&eal, name).map_err(|e| e.to_string())?;
        let role = if name == cfg.underlay.port {
            Role::Underlay
        } else {
            Role::Access
        };
        let (mtu, mtu_key) = ports::port_mtu(&cfg, name);
        let info = p.info().map_err(|e| e.to_string())?;
        let plan = ports::plan(
            name,
            &info,
            &Want {
                role,
                queues: nw as u16,
                mtu,
                mtu_key,
                ipv6: cfg.underlay.is_ipv6(),
            },
        )?;
        for n in &plan.notes {
            info!(port = name, driver = %info.driver, "{n}");
        }
        planned.push((p, role, mtu, plan));
    }
    let data_room = ports::mbuf_data_room(&cfg);
    let pool = Mempool::new(&eal, "vtep_mbufs", cfg.dataplane.mbufs, 256, data_room)
        .map_err(|e| e.to_string())?;
    info!(
        mbufs = cfg.dataplane.mbufs,
        data_room, "mbuf pool created (data room holds the largest frame of any port's MTU)"
    );

    let mut ports = Vec::new();
    let mut rxq = Vec::new();
    let mut txq = Vec::new();
    let mut underlay_plan = None;
    for (mut p, role, mtu, plan) in planned {
        let name = p.name().to_string();
        let name = name.as_str();
        let (rx, tx) = p.configure(&plan.cfg, &pool).map_err(|e| e.to_string())?;
        if let Some(m) = plan.cfg.mtu {
            if !p.set_mtu(m).map_err(|e| e.to_string())? {
                info!(
                    port = name,
                    "the driver has no MTU setting; it passes frames of any size"
                );
            }
        }
        if role == Role::Underlay {
            if let Some(m) = cfg.underlay.mac {
                // Promiscuous mode makes the software MAC work where the
                // device cannot be told (net_pcap, for one).
                if let Err(e) = p.set_mac(m.0) {
                    warn!(
                        port = name,
                        "cannot set the device MAC ({e}); using {m} in software"
                    );
                }
            }
        }
        p.start().map_err(|e| e.to_string())?;
        let promiscuous = match p.set_promiscuous(true) {
            Ok(()) => true,
            Err(e) => {
                warn!(port = name, "promiscuous mode: {e}");
                false
            }
        };
        if role == Role::Underlay && !promiscuous {
            if let std::net::IpAddr::V6(a) = cfg.underlay.address {
                // Neighbour discovery reaches us at our solicited-node group
                // and at all nodes: a port that filters must let those in.
                use vtep_dataplane::wire::ipv6::{multicast_mac, solicited_node, ALL_NODES};
                let macs = [multicast_mac(solicited_node(a)), multicast_mac(ALL_NODES)];
                if let Err(e) = p.set_mc_addr_list(&macs) {
                    if let Err(e2) = p.set_allmulticast() {
                        warn!(
                            port = name,
                            "neither a multicast list ({e}) nor all-multicast ({e2}): \
                             neighbour solicitations for the VTEP address may not arrive"
                        );
                    }
                }
            }
        }
        let mac = p.mac().map_err(|e| e.to_string())?;
        info!(
            port = name,
            id = p.id(),
            mac = %vtep_config::MacAddr(mac),
            mtu,
            rx_queues = plan.cfg.rx_queues,
            tx_queues = plan.cfg.tx_queues,
            rss_hf = format_args!("{:#x}", p.rss_hf()),
            "port started"
        );
        if role == Role::Underlay {
            underlay_plan = Some(plan);
        }
        ports.push(p);
        rxq.push(rx.into_iter().map(Some).collect::<Vec<_>>());
        txq.push(tx.into_iter().map(Some).collect::<Vec<_>>());
    }
    let underlay_plan = underlay_plan.expect("the underlay is the first port");
    let our_mac = match cfg.underlay.mac {
        Some(m) => m.0,
        None => ports[0].mac().map_err(|e| e.to_string())?,
    };

    // The exception path: one queue pair for the management thread, and
    // the tap's kernel interface dressed as the VTEP.
    let kernel_path = match &cfg.underlay.kernel_port {
        None => None,
        Some(k) => {
            let mut p = Port::by_name(&eal, &k.device).map_err(|e| e.to_string())?;
            let pc = PortConfig {
                rx_queues: 1,
                tx_queues: 1,
                mtu: Some(cfg.underlay.mtu),
                ..PortConfig::default()
            };
            let (mut rx, mut tx) = p.configure(&pc, &pool).map_err(|e| e.to_string())?;
            p.start().map_err(|e| e.to_string())?;
            let netns = cfg.evpn.as_ref().map(|e| e.netns.as_str());
            kernel::setup(&cfg.underlay, k, our_mac, netns)?;
            info!(
                port = %k.device,
                iface = %k.iface,
                address = %cfg.underlay.address,
                "exception path: the kernel interface carries the VTEP address"
            );
            Some(KernelPath {
                port: p,
                rx: rx.remove(0),
                tx: tx.remove(0),
            })
        }
    };

    let tables = Tables::new(cfg.clone(), our_mac, 0)?;
    let slots = tables.fdb.max_slots();
    let shared_fdb = tables.fdb.shared();
    let running = Arc::new(AtomicBool::new(true));
    let mut links = Vec::new();
    let mut workers = Vec::new();
    for (w, lcore) in lcores.iter().enumerate().take(nw) {
        let link = WorkerLink {
            lcore_cpu: lcore.cpu,
            hits: Arc::new(HitMap::new(slots)),
            events: Arc::new(ArrayQueue::new(cfg.dataplane.learn_queue)),
            punts: Arc::new(ArrayQueue::new(256)),
            stats: Arc::new(WorkerStats::default()),
        };
        workers.push((
            *lcore,
            (
                take(&mut rxq, 0, w),
                take(&mut txq, 0, w),
                (1..ports.len())
                    .map(|p| take(&mut rxq, p, w))
                    .collect::<Vec<_>>(),
                (1..ports.len())
                    .map(|p| take(&mut txq, p, w))
                    .collect::<Vec<_>>(),
            ),
            link.hits.clone(),
            link.events.clone(),
            link.punts.clone(),
            link.stats.clone(),
        ));
        links.push(link);
    }
    let inject = Arc::new(ArrayQueue::new(1024));
    drop(txq);
    drop(rxq);
    // The tap shows in the port statistics too.
    let mut all_ports = ports.clone();
    all_ports.extend(kernel_path.as_ref().map(|k| k.port.clone()));
    let mut mgmt = Mgmt::new(
        tables,
        Some(path),
        links,
        inject.clone(),
        pool.clone(),
        all_ports,
    );
    mgmt.kernel = kernel_path;
    if let Some(e) = &cfg.evpn {
        mgmt.start_evpn(&e.netns)?;
        info!(netns = %e.netns, vnis = cfg.vnis.len(), "EVPN: kernel mirror built; FRR in that namespace carries it");
    }

    let mut handles = Vec::new();
    for (i, (lcore, (urx, utx, arx, atx), hits, events, punts, stats)) in
        workers.into_iter().enumerate()
    {
        let worker = Worker {
            index: i,
            burst: cfg.dataplane.burst,
            idle_sleep_us: cfg.dataplane.idle_sleep_us,
            underlay_rx: urx,
            underlay_tx: utx,
            access_rx: arx,
            access_tx: atx,
            pool: pool.clone(),
            state: mgmt.state.clone(),
            fdb: shared_fdb.clone(),
            hits,
            events,
            punts,
            inject: (i == 0).then(|| inject.clone()),
            stats,
            running: running.clone(),
            tx_ip_csum: underlay_plan.tx_ip_csum,
            share_floods: underlay_plan.share_floods,
        };
        // Workers run on the EAL's own worker lcores: pinned by EAL, with
        // mempool caches, and (unlike registered threads) keeping DPDK
        // multi-process alive for dpdk-dumpcap.
        let h = dpdk::launch(&eal, lcore.id, move || {
            info!(
                worker = i,
                cpu = lcore.cpu,
                lcore = lcore.id,
                "worker started"
            );
            worker.run();
        })
        .map_err(|e| format!("cannot start worker {i}: {e}"))?;
        handles.push(h);
    }

    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .map_err(|e| e.to_string())?;

    let (req_tx, requests) = vtep_dataplane::control::server::channel();
    // Joined at the end so the socket is gone before vtepd exits.
    let control_listener =
        vtep_dataplane::control::server::bind(&cfg.control.socket, cfg.control.group.as_deref())
            .map_err(|e| format!("control socket: {e}"))?;
    let control = vtep_dataplane::control::server::serve(
        control_listener,
        &cfg.control.socket,
        req_tx.clone(),
        running.clone(),
    )
    .map_err(|e| format!("control socket {}: {e}", cfg.control.socket.display()))?;
    if let Some(addr) = cfg.control.metrics {
        vtep_dataplane::control::metrics::start(addr, req_tx.clone(), running.clone())
            .map_err(|e| format!("metrics endpoint {addr}: {e}"))?;
        info!(%addr, "Prometheus metrics at http://{addr}/metrics");
    }
    info!(socket = %cfg.control.socket.display(), "control socket ready");
    vtep_dataplane::control::telemetry::register(&req_tx);
    mgmt.gratuitous_arp();

    let mut failure = None;
    while !stop.load(Ordering::Relaxed) {
        let busy = mgmt.poll();
        while let Ok((req, reply)) = requests.try_recv() {
            let _ = reply.send(mgmt.handle(&req));
        }
        if hup.swap(false, Ordering::Relaxed) && mgmt.reload().is_ok() {
            info!("SIGHUP: config reloaded");
        }
        if let Some(i) = handles.iter().position(|h| h.is_finished()) {
            failure = Some(format!("worker {i} stopped unexpectedly; shutting down"));
            break;
        }
        if !busy {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
    info!("stopping workers");
    running.store(false, Ordering::Relaxed);
    let _ = control.join();
    for (i, h) in handles.into_iter().enumerate() {
        if let Err(msg) = h.join() {
            failure.get_or_insert(format!("worker {i} panicked: {msg}"));
        }
    }
    let t = mgmt.tally();
    info!(
        rx = t.rx,
        forwarded = t.forwarded,
        dropped = t.dropped,
        punted = t.punted,
        "final accounting"
    );
    drop(mgmt);
    for p in &ports {
        let _ = p.stop();
    }
    drop(ports);
    info!("ports closed");
    match failure {
        Some(f) => Err(f),
        None => Ok(()),
    }
}

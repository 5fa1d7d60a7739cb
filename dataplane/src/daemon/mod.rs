//! vtepd's life: start in stages, serve until told to stop, stop in
//! order. Each stage takes what the previous ones made and fails with a
//! sentence that says what could not start and why; nothing of a later
//! stage runs before an earlier one has succeeded.
//!
//! 1. [`checks`]: what must hold before DPDK starts (the control socket's
//!    path and group, the `-l` cores online).
//! 2. [`start_eal`]: EAL, with the worker lcores it gives.
//! 3. [`start_ports`]: every port planned from its device's capabilities
//!    (and refused with its reason) before the pool is made and any port
//!    configured; then each is configured and started.
//! 4. [`start_kernel_path`]: the exception path's tap, if configured.
//! 5. [`start_planes`]: the management thread's tables, its links to the
//!    workers, the EVPN mirror, then the workers on their lcores.
//! 6. [`serve`]: signals, the control socket, metrics, telemetry; then the
//!    management loop until SIGINT or SIGTERM, or a worker stops.

pub mod preflight;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::queue::ArrayQueue;
use dpdk::{Eal, Launched, Lcore, Mempool, Port, PortConfig, RxQueue, TxQueue};
use tracing::{info, warn};
use vtep_config::Config;

use crate::control::kernel::{self, KernelPath};
use crate::control::tables::Tables;
use crate::control::{metrics, server, telemetry, Mgmt, WorkerLink};
use crate::datapath::fdb::HitMap;
use crate::datapath::ports::{self, Plan, Role, Want};
use crate::datapath::stats::WorkerStats;
use crate::datapath::worker::Worker;

/// Runs vtepd with `cfg`, read from `path` (for reloads), until SIGINT or
/// SIGTERM; removes DPDK's runtime files on the way out.
pub fn run(cfg: Config, path: PathBuf) -> Result<(), String> {
    let prefix = cfg.file_prefix();
    let result = start_and_serve(cfg, path);
    // DPDK leaves its runtime directory and hugepage files behind (for
    // secondary processes); at our exit nobody needs them.
    remove_dpdk_leftovers(prefix.as_deref().unwrap_or("rte"));
    result
}

fn start_and_serve(cfg: Config, path: PathBuf) -> Result<(), String> {
    checks(&cfg)?;
    let (eal, lcores) = start_eal(&cfg)?;
    let net = start_ports(&eal, &cfg)?;
    let kernel = start_kernel_path(&eal, &cfg, &net)?;
    let planes = start_planes(&eal, &cfg, path, &lcores, net, kernel)?;
    serve(&cfg, planes)
}

/// Stage 1: a control socket path or group that cannot work, or `-l`
/// cores that are not online, fail before any port or worker starts (the
/// socket itself appears once all are up).
fn checks(cfg: &Config) -> Result<(), String> {
    server::check(&cfg.control.socket, cfg.control.group.as_deref())
        .map_err(|e| format!("control socket: {e}"))?;
    check_lcores_online(cfg)
}

/// Stage 2: EAL, and the worker lcores it gives (at least one per
/// configured worker).
fn start_eal(cfg: &Config) -> Result<(Eal, Vec<Lcore>), String> {
    if let Err(e) = dpdk::log::redirect(telemetry::dpdk_log) {
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
    Ok((eal, lcores.into_iter().take(nw).collect()))
}

/// The started ports (the underlay first), their queues by port and
/// worker, the pool, and what the underlay's device offers.
struct Net {
    ports: Vec<Port>,
    rxq: Vec<Vec<Option<RxQueue>>>,
    txq: Vec<Vec<Option<TxQueue>>>,
    pool: Mempool,
    underlay_plan: Plan,
    our_mac: [u8; 6],
}

/// A port planned from its device's capabilities, before anything is
/// configured: the device, its role, its MTU and the plan.
type Planned = (Port, Role, u16, Plan);

/// Stage 3: plans every port, makes the pool, configures and starts the
/// ports.
fn start_ports(eal: &Eal, cfg: &Config) -> Result<Net, String> {
    let planned = plan_ports(eal, cfg)?;
    let data_room = ports::mbuf_data_room(cfg);
    let pool = Mempool::new(eal, "vtep_mbufs", cfg.dataplane.mbufs, 256, data_room)
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
        let (rx, tx) = start_port(cfg, &pool, &mut p, role, mtu, &plan)?;
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
    Ok(Net {
        ports,
        rxq,
        txq,
        pool,
        underlay_plan,
        our_mac,
    })
}

/// Every port's set-up, decided (and refused with its reason) before
/// anything is allocated or configured.
fn plan_ports(eal: &Eal, cfg: &Config) -> Result<Vec<Planned>, String> {
    let nw = cfg.dataplane.workers;
    let mut planned = Vec::new();
    for name in cfg.port_names() {
        let p = Port::by_name(eal, name).map_err(|e| e.to_string())?;
        let role = if name == cfg.underlay.port {
            Role::Underlay
        } else {
            Role::Access
        };
        let (mtu, mtu_key) = ports::port_mtu(cfg, name);
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
    Ok(planned)
}

/// Configures and starts port `p` as `plan` says; gives its queues.
fn start_port(
    cfg: &Config,
    pool: &Mempool,
    p: &mut Port,
    role: Role,
    mtu: u16,
    plan: &Plan,
) -> Result<(Vec<RxQueue>, Vec<TxQueue>), String> {
    let name = p.name().to_string();
    let name = name.as_str();
    let (rx, tx) = p.configure(&plan.cfg, pool).map_err(|e| e.to_string())?;
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
        // A port that filters must let in what reaches the VTEP at a
        // multicast MAC: the VNIs' groups (RFC 7348 §4.2; all-multicast,
        // since a reload may add one), and over IPv6 neighbour discovery
        // at our solicited-node group and all nodes.
        let mut macs: Vec<[u8; 6]> = cfg
            .vnis
            .iter()
            .filter_map(|v| v.group.and_then(crate::wire::group_mac))
            .collect();
        if let std::net::IpAddr::V6(a) = cfg.underlay.address {
            use crate::wire::ipv6::{multicast_mac, solicited_node, ALL_NODES};
            macs.extend([multicast_mac(solicited_node(a)), multicast_mac(ALL_NODES)]);
        }
        if !macs.is_empty() {
            if let Err(e) = p.set_allmulticast() {
                if let Err(e2) = p.set_mc_addr_list(&macs) {
                    warn!(
                        port = name,
                        "neither all-multicast ({e}) nor a multicast list ({e2}): \
                         neighbour solicitations and group traffic may not arrive"
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
    Ok((rx, tx))
}

/// Stage 4: the exception path: one queue pair for the management thread,
/// and the tap's kernel interface dressed as the VTEP.
fn start_kernel_path(eal: &Eal, cfg: &Config, net: &Net) -> Result<Option<KernelPath>, String> {
    let Some(k) = &cfg.underlay.kernel_port else {
        return Ok(None);
    };
    let mut p = Port::by_name(eal, &k.device).map_err(|e| e.to_string())?;
    let pc = PortConfig {
        rx_queues: 1,
        tx_queues: 1,
        mtu: Some(cfg.underlay.mtu),
        ..PortConfig::default()
    };
    let (mut rx, mut tx) = p.configure(&pc, &net.pool).map_err(|e| e.to_string())?;
    p.start().map_err(|e| e.to_string())?;
    let netns = cfg.evpn.as_ref().map(|e| e.netns.as_str());
    kernel::setup(&cfg.underlay, k, net.our_mac, netns)?;
    info!(
        port = %k.device,
        iface = %k.iface,
        address = %cfg.underlay.address,
        "exception path: the kernel interface carries the VTEP address"
    );
    Ok(Some(KernelPath {
        port: p,
        rx: rx.remove(0),
        tx: tx.remove(0),
    }))
}

/// The running planes: the management thread's state, the workers, and
/// what stops them.
struct Planes {
    mgmt: Mgmt,
    workers: Vec<Launched>,
    ports: Vec<Port>,
    running: Arc<AtomicBool>,
}

/// Stage 5: the management thread's tables and its links to the workers,
/// the EVPN mirror, then the workers on their lcores.
fn start_planes(
    eal: &Eal,
    cfg: &Config,
    path: PathBuf,
    lcores: &[Lcore],
    mut net: Net,
    kernel: Option<KernelPath>,
) -> Result<Planes, String> {
    let mut tables = Tables::new(cfg.clone(), net.our_mac, 0)?;
    tables.udp6_csum_offload = net.underlay_plan.tx_udp6_csum.offloaded();
    let slots = tables.fdb.max_slots();
    let shared_fdb = tables.fdb.shared();
    let running = Arc::new(AtomicBool::new(true));
    let inject = Arc::new(ArrayQueue::new(1024));
    let links: Vec<WorkerLink> = lcores
        .iter()
        .map(|lcore| WorkerLink {
            lcore_cpu: lcore.cpu,
            hits: Arc::new(HitMap::new(slots)),
            events: Arc::new(ArrayQueue::new(cfg.dataplane.learn_queue)),
            punts: Arc::new(ArrayQueue::new(256)),
            stats: Arc::new(WorkerStats::default()),
        })
        .collect();
    // Each worker's queues: queue w of every port, the underlay's first.
    let n_ports = net.ports.len();
    let queues: Vec<_> = (0..links.len())
        .map(|w| {
            (
                take(&mut net.rxq, 0, w),
                take(&mut net.txq, 0, w),
                (1..n_ports).map(|p| take(&mut net.rxq, p, w)).collect(),
                (1..n_ports).map(|p| take(&mut net.txq, p, w)).collect(),
            )
        })
        .collect();
    let workers: Vec<_> = links
        .iter()
        .map(|l| {
            (
                l.hits.clone(),
                l.events.clone(),
                l.punts.clone(),
                l.stats.clone(),
            )
        })
        .collect();
    // The tap shows in the port statistics too.
    let mut all_ports = net.ports.clone();
    all_ports.extend(kernel.as_ref().map(|k| k.port.clone()));
    let mut mgmt = Mgmt::new(
        tables,
        Some(path),
        links,
        inject.clone(),
        net.pool.clone(),
        all_ports,
    );
    mgmt.kernel = kernel;
    if let Some(e) = &cfg.evpn {
        mgmt.start_evpn(e)?;
        info!(netns = %e.netns, vnis = cfg.vnis.len(), "EVPN: building the kernel mirror; FRR in that namespace carries it");
    }
    let mut handles = Vec::new();
    let parts = queues.into_iter().zip(workers).zip(lcores).enumerate();
    for (i, (((urx, utx, arx, atx), (hits, events, punts, stats)), &lcore)) in parts {
        let worker = Worker {
            index: i,
            burst: cfg.dataplane.burst,
            idle_sleep_us: cfg.dataplane.idle_sleep_us,
            underlay_rx: urx,
            underlay_tx: utx,
            access_rx: arx,
            access_tx: atx,
            pool: net.pool.clone(),
            state: mgmt.state.clone(),
            fdb: shared_fdb.clone(),
            hits,
            events,
            punts,
            inject: (i == 0).then(|| inject.clone()),
            stats,
            running: running.clone(),
            tx_ip_csum: net.underlay_plan.tx_ip_csum,
            tx_udp6_csum: net.underlay_plan.tx_udp6_csum,
            share_floods: net.underlay_plan.share_floods,
        };
        // Workers run on the EAL's own worker lcores: pinned by EAL, with
        // mempool caches, and (unlike registered threads) keeping DPDK
        // multi-process alive for dpdk-dumpcap.
        let h = dpdk::launch(eal, lcore.id, move || {
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
    Ok(Planes {
        mgmt,
        workers: handles,
        ports: net.ports,
        running,
    })
}

/// Stage 6: signals, the control socket, metrics and telemetry; then the
/// management loop until SIGINT or SIGTERM (or a worker stops), and the
/// stop: workers, the control socket, the ports.
fn serve(cfg: &Config, planes: Planes) -> Result<(), String> {
    let Planes {
        mut mgmt,
        workers,
        ports,
        running,
    } = planes;
    let stop = Arc::new(AtomicBool::new(false));
    let hup = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, stop.clone()).map_err(|e| e.to_string())?;
    }
    signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())
        .map_err(|e| e.to_string())?;

    let (req_tx, requests) = server::channel();
    // Joined at the end so the socket is gone before vtepd exits.
    let listener = server::bind(&cfg.control.socket, cfg.control.group.as_deref())
        .map_err(|e| format!("control socket: {e}"))?;
    let control = server::serve(
        listener,
        &cfg.control.socket,
        req_tx.clone(),
        running.clone(),
    )
    .map_err(|e| format!("control socket {}: {e}", cfg.control.socket.display()))?;
    if let Some(addr) = cfg.control.metrics {
        metrics::start(addr, req_tx.clone(), running.clone())
            .map_err(|e| format!("metrics endpoint {addr}: {e}"))?;
        info!(%addr, "Prometheus metrics at http://{addr}/metrics");
    }
    info!(socket = %cfg.control.socket.display(), "control socket ready");
    telemetry::register(&req_tx);
    mgmt.gratuitous_arp();
    mgmt.join_groups();

    let mut failure = None;
    while !stop.load(Ordering::Relaxed) {
        let busy = mgmt.poll();
        while let Ok((req, reply)) = requests.try_recv() {
            let _ = reply.send(mgmt.handle(&req));
        }
        if hup.swap(false, Ordering::Relaxed) && mgmt.reload().is_ok() {
            info!("SIGHUP: config reloaded");
        }
        if let Some(i) = workers.iter().position(|h| h.is_finished()) {
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
    for (i, h) in workers.into_iter().enumerate() {
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

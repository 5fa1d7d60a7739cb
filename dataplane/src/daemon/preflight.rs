//! Host checks before DPDK starts (`vtepd --preflight`): hugepages, NIC
//! bindings, lcores. They read /proc and /sys only (never probe devices) and
//! say in plain words what is missing and how to fix it. The container
//! entrypoint and the systemd unit run them before `vtepd` proper.
//!
//! Every path is taken under a root directory so tests can fake a host.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use vtep_config::Config;

/// Bytes one mbuf takes in the pool besides its data room: the 128-byte
/// mbuf header and the mempool object header/trailer.
const MBUF_OVERHEAD: u64 = 128 + 64;
/// Hugepage memory the EAL and ethdev take besides the mbuf pool
/// (memzones, descriptor rings, per-lcore caches), with a margin.
const EAL_OVERHEAD: u64 = 64 << 20;

/// Drivers a PCI NIC may be bound to for DPDK. mlx4/mlx5 are bifurcated:
/// DPDK runs on top of the kernel driver.
const DPDK_DRIVERS: &[&str] = &["vfio-pci", "uio_pci_generic", "igb_uio"];
const BIFURCATED_DRIVERS: &[&str] = &["mlx4_core", "mlx5_core"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Level {
    Ok,
    /// Works, but not as a gateway should run.
    Note,
    /// vtepd would fail to start.
    Missing,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub level: Level,
    pub text: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tag = match self.level {
            Level::Ok => "ok",
            Level::Note => "note",
            Level::Missing => "MISSING",
        };
        write!(f, "{tag:>7}: {}", self.text)
    }
}

/// Runs every check against the host under `root` ("/" on a real host).
pub fn check(cfg: &Config, root: &Path) -> Vec<Finding> {
    let mut out = Vec::new();
    hugepages(cfg, root, &mut out);
    pci_devices(cfg, root, &mut out);
    lcores(cfg, root, &mut out);
    if let Some(e) = &cfg.evpn {
        match evpn_netns(cfg, root) {
            Ok(()) => ok(&mut out, format!("EVPN namespace {:?} exists", e.netns)),
            Err(why) => missing(&mut out, why),
        }
    }
    out
}

/// `[evpn] netns` must name an existing namespace (vtepd moves the
/// exception interface there and builds the kernel mirror in it; the
/// operator creates it, and runs FRR in it).
pub fn evpn_netns(cfg: &Config, root: &Path) -> Result<(), String> {
    let Some(e) = &cfg.evpn else {
        return Ok(());
    };
    let p = root.join("var/run/netns").join(&e.netns);
    if p.exists() {
        Ok(())
    } else {
        Err(format!(
            "evpn.netns {:?}: no such network namespace ({} is missing): create it with `ip netns add {}` and start FRR in it",
            e.netns,
            p.display(),
            e.netns
        ))
    }
}

/// True when no finding stops vtepd from starting.
pub fn passed(findings: &[Finding]) -> bool {
    findings.iter().all(|f| f.level != Level::Missing)
}

fn ok(out: &mut Vec<Finding>, text: String) {
    out.push(Finding {
        level: Level::Ok,
        text,
    });
}
fn note(out: &mut Vec<Finding>, text: String) {
    out.push(Finding {
        level: Level::Note,
        text,
    });
}
fn missing(out: &mut Vec<Finding>, text: String) {
    out.push(Finding {
        level: Level::Missing,
        text,
    });
}

/// The value of an EAL option given as `--opt=V`, `--opt V` or `-o V`.
fn eal_opt<'a>(args: &'a [String], names: &[&str]) -> Option<&'a str> {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        for n in names {
            if a == n {
                return it.next().map(String::as_str);
            }
            if let Some(v) = a.strip_prefix(n).and_then(|r| r.strip_prefix('=')) {
                return Some(v);
            }
        }
    }
    None
}

fn read(root: &Path, p: &str) -> Option<String> {
    std::fs::read_to_string(under(root, p)).ok()
}

fn under(root: &Path, p: &str) -> PathBuf {
    root.join(p.trim_start_matches('/'))
}

/// Estimated hugepage memory the configuration needs.
pub fn hugepage_need(cfg: &Config) -> u64 {
    let per_mbuf = u64::from(crate::datapath::ports::mbuf_data_room(cfg)) + MBUF_OVERHEAD;
    u64::from(cfg.dataplane.mbufs) * per_mbuf + EAL_OVERHEAD
}

fn hugepages(cfg: &Config, root: &Path, out: &mut Vec<Finding>) {
    let args = &cfg.eal_args;
    if args.iter().any(|a| a == "--no-huge") {
        note(
            out,
            "EAL runs with --no-huge: fine for tests, about half the speed of hugepages".into(),
        );
        return;
    }
    let mounts = read(root, "/proc/mounts").unwrap_or_default();
    let huge_mounts: Vec<&str> = mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() > 2 && f[2] == "hugetlbfs").then_some(f[1])
        })
        .collect();
    match eal_opt(args, &["--huge-dir"]) {
        Some(dir) if !huge_mounts.contains(&dir) => missing(
            out,
            format!(
                "--huge-dir {dir} is not a hugetlbfs mount: `mkdir -p {dir} && mount -t hugetlbfs nodev {dir}`"
            ),
        ),
        Some(dir) => ok(out, format!("hugetlbfs mounted at {dir}")),
        None if huge_mounts.is_empty() => missing(
            out,
            "no hugetlbfs mount: `mount -t hugetlbfs nodev /dev/hugepages` \
             (in a container: -v /dev/hugepages:/dev/hugepages)"
                .into(),
        ),
        None => ok(
            out,
            format!("hugetlbfs mounted at {}", huge_mounts.join(", ")),
        ),
    }

    let need = hugepage_need(cfg);
    let mut free = 0u64;
    let mut sizes = Vec::new();
    let base = under(root, "/sys/kernel/mm/hugepages");
    if let Ok(dirs) = std::fs::read_dir(&base) {
        for d in dirs.flatten() {
            let name = d.file_name().to_string_lossy().into_owned();
            let Some(kb) = name
                .strip_prefix("hugepages-")
                .and_then(|s| s.strip_suffix("kB"))
                .and_then(|s| s.parse::<u64>().ok())
            else {
                continue;
            };
            let count = |f: &str| {
                std::fs::read_to_string(d.path().join(f))
                    .ok()
                    .and_then(|s| s.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            let (nr, fr) = (count("nr_hugepages"), count("free_hugepages"));
            if nr > 0 {
                sizes.push(format!("{nr} x {} ({fr} free)", human(kb << 10)));
            }
            free += fr * (kb << 10);
        }
    }
    let mib = |b: u64| b >> 20;
    if free >= need {
        ok(
            out,
            format!(
                "hugepages: {}; {} MiB free, this config needs about {} MiB",
                sizes.join(", "),
                mib(free),
                mib(need)
            ),
        );
    } else {
        let pages = need.div_ceil(2 << 20);
        missing(
            out,
            format!(
                "hugepages: {} MiB free, this config needs about {} MiB \
                 ({} mbufs); reserve them: `dpdk-hugepages.py --reserve {}M` \
                 or `echo {pages} > /proc/sys/vm/nr_hugepages`, or boot with \
                 `hugepagesz=2M hugepages={pages}`",
                mib(free),
                mib(need),
                cfg.dataplane.mbufs,
                mib(need).next_power_of_two().max(256),
            ),
        );
    }
}

/// A PCI address as DPDK names it (DDDD:BB:DD.F), if `s` is one; the
/// short form BB:DD.F gets domain 0000.
fn pci_address(s: &str) -> Option<String> {
    let full = if s.len() == 7 {
        format!("0000:{s}")
    } else {
        s.to_string()
    };
    let b = full.as_bytes();
    let shape = full.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && b.iter()
            .enumerate()
            .all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit());
    shape.then(|| full.to_ascii_lowercase())
}

fn link_name(p: &Path) -> Option<String> {
    std::fs::read_link(p)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}

fn pci_devices(cfg: &Config, root: &Path, out: &mut Vec<Finding>) {
    let mut vfio = false;
    for dev in cfg.eal_devices() {
        let Some(addr) = pci_address(&dev) else {
            continue;
        };
        let sys = under(root, "/sys/bus/pci/devices").join(&addr);
        if !sys.exists() {
            missing(
                out,
                format!(
                    "PCI device {addr} (from [eal].args) does not exist here; \
                     `dpdk-devbind.py --status-dev net` lists the NICs"
                ),
            );
            continue;
        }
        match link_name(&sys.join("driver")) {
            Some(d) if DPDK_DRIVERS.contains(&d.as_str()) => {
                if d == "vfio-pci" {
                    vfio = true;
                    match link_name(&sys.join("iommu_group")) {
                        Some(g) if under(root, "/dev/vfio").join(&g).exists() => {
                            ok(out, format!("{addr} is bound to vfio-pci (/dev/vfio/{g})"))
                        }
                        Some(g) => missing(
                            out,
                            format!(
                                "{addr} is bound to vfio-pci but /dev/vfio/{g} is not visible \
                                 (in a container: --device /dev/vfio/{g})"
                            ),
                        ),
                        None => missing(
                            out,
                            format!(
                                "{addr} is bound to vfio-pci but has no IOMMU group: enable the \
                                 IOMMU (intel_iommu=on iommu=pt) or load vfio with \
                                 enable_unsafe_noiommu_mode=1"
                            ),
                        ),
                    }
                } else {
                    ok(out, format!("{addr} is bound to {d}"));
                }
            }
            Some(d) if BIFURCATED_DRIVERS.contains(&d.as_str()) => ok(
                out,
                format!("{addr} uses {d} (DPDK runs beside the kernel driver)"),
            ),
            Some(d) => missing(
                out,
                format!(
                    "{addr} is bound to the kernel driver {d}, not to a DPDK driver; \
                     take its interface down and `dpdk-devbind.py --bind=vfio-pci {addr}`"
                ),
            ),
            None => missing(
                out,
                format!(
                    "{addr} is bound to no driver; `modprobe vfio-pci && \
                     dpdk-devbind.py --bind=vfio-pci {addr}`"
                ),
            ),
        }
    }
    if vfio && !under(root, "/dev/vfio/vfio").exists() {
        missing(
            out,
            "/dev/vfio/vfio is missing: `modprobe vfio-pci` (in a container: \
             --device /dev/vfio/vfio)"
                .into(),
        );
    }
}

/// A CPU list (`-l 0-3,6`, /sys/devices/system/cpu/online) as a set.
fn cpu_list(s: &str) -> Option<BTreeSet<u32>> {
    if s.trim().is_empty() {
        return Some(BTreeSet::new());
    }
    let v = vtep_config::parse_cpu_list(s).ok()?;
    Some(v.into_iter().map(|c| c as u32).collect())
}

fn lcores(cfg: &Config, root: &Path, out: &mut Vec<Finding>) {
    // `--lcores` with @ or () mappings is left to the EAL to check.
    let Some(list) = eal_opt(&cfg.eal_args, &["-l", "--lcores"]).and_then(cpu_list) else {
        return;
    };
    // Enough lcores for the workers is a config rule (vtep_config).
    let Some(online) = read(root, "/sys/devices/system/cpu/online").and_then(|s| cpu_list(&s))
    else {
        return;
    };
    let absent: Vec<u32> = list.difference(&online).copied().collect();
    if !absent.is_empty() {
        missing(
            out,
            format!(
                "lcores {absent:?} from [eal].args are not online CPUs here (online: {})",
                read(root, "/sys/devices/system/cpu/online")
                    .unwrap_or_default()
                    .trim()
            ),
        );
        return;
    }
    // Workers are every lcore but the first (the main lcore).
    let workers: BTreeSet<u32> = list.iter().skip(1).copied().collect();
    let isolated = read(root, "/sys/devices/system/cpu/isolated")
        .and_then(|s| cpu_list(&s))
        .unwrap_or_default();
    let shared: Vec<u32> = workers.difference(&isolated).copied().collect();
    if shared.is_empty() {
        ok(out, format!("worker CPUs {workers:?} are isolated"));
    } else {
        note(
            out,
            format!(
                "worker CPUs {shared:?} are not isolated (isolcpus=); other tasks \
                 may run there and cost packets"
            ),
        );
    }
}

fn human(bytes: u64) -> String {
    if bytes >= 1 << 30 {
        format!("{} GiB", bytes >> 30)
    } else {
        format!("{} MiB", bytes >> 20)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[dataplane]
workers = 1
mbufs = 16383

[underlay]
port = "0000:03:00.0"
address = "192.0.2.1/24"

[[access]]
port = "0000:03:00.1"
vni = 100

[[vni]]
id = 100

[control]
socket = "/run/vtep/vtep.sock"
"#;

    fn cfg(eal: &str) -> Config {
        Config::parse(&format!("[eal]\nargs = [{eal}]\n{BASE}")).unwrap()
    }

    struct Host(tempfile::TempDir);

    impl Host {
        fn new() -> Host {
            Host(tempfile::tempdir().unwrap())
        }
        fn file(&self, p: &str, text: &str) -> &Self {
            let p = under(self.0.path(), p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
            self
        }
        fn link(&self, p: &str, target: &str) -> &Self {
            let p = under(self.0.path(), p);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(target, p).unwrap();
            self
        }
        fn hugepages(&self, nr: u64, free: u64) -> &Self {
            self.file(
                "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
                &nr.to_string(),
            )
            .file(
                "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
                &free.to_string(),
            )
        }
        fn nic(&self, addr: &str, driver: &str, group: &str) -> &Self {
            let d = format!("/sys/bus/pci/devices/{addr}");
            self.file(&format!("{d}/vendor"), "0x8086");
            if !driver.is_empty() {
                self.link(&format!("{d}/driver"), &format!("../../drivers/{driver}"));
            }
            if !group.is_empty() {
                self.link(
                    &format!("{d}/iommu_group"),
                    &format!("../../kernel/iommu_groups/{group}"),
                );
            }
            self
        }
        fn run(&self, c: &Config) -> Vec<Finding> {
            check(c, self.0.path())
        }
    }

    const MOUNTS: &str =
        "proc /proc proc rw 0 0\nnodev /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n";
    const PCI_EAL: &str = r#""-l", "0-1", "-a", "0000:03:00.0", "-a", "0000:03:00.1""#;

    fn gateway() -> Host {
        let h = Host::new();
        h.file("/proc/mounts", MOUNTS)
            .hugepages(1024, 1024)
            .file("/sys/devices/system/cpu/online", "0-3\n")
            .file("/sys/devices/system/cpu/isolated", "1-3\n")
            .nic("0000:03:00.0", "vfio-pci", "12")
            .nic("0000:03:00.1", "vfio-pci", "13")
            .file("/dev/vfio/vfio", "")
            .file("/dev/vfio/12", "")
            .file("/dev/vfio/13", "");
        h
    }

    fn missing_texts(f: &[Finding]) -> Vec<&str> {
        f.iter()
            .filter(|f| f.level == Level::Missing)
            .map(|f| f.text.as_str())
            .collect()
    }

    #[test]
    fn a_ready_gateway_passes() {
        let f = gateway().run(&cfg(PCI_EAL));
        assert!(passed(&f), "{f:#?}");
        assert!(f.iter().any(|f| f.text.contains("hugepages: 1024 x 2 MiB")));
        assert!(f
            .iter()
            .any(|f| f.text.contains("0000:03:00.0 is bound to vfio-pci")));
        assert!(f
            .iter()
            .any(|f| f.text.contains("worker CPUs {1} are isolated")));
    }

    #[test]
    fn no_hugetlbfs_mount_is_reported() {
        let h = gateway();
        h.file("/proc/mounts", "proc /proc proc rw 0 0\n");
        let f = h.run(&cfg(PCI_EAL));
        assert_eq!(missing_texts(&f).len(), 1, "{f:#?}");
        assert!(missing_texts(&f)[0].contains("no hugetlbfs mount"));
    }

    #[test]
    fn too_few_free_hugepages_names_the_fix() {
        let h = gateway();
        h.hugepages(16, 16);
        let m = missing_texts(&h.run(&cfg(PCI_EAL))).join("\n");
        assert!(m.contains("32 MiB free"), "{m}");
        assert!(m.contains("dpdk-hugepages.py --reserve"), "{m}");
        assert!(m.contains("16383 mbufs"), "{m}");
    }

    #[test]
    fn huge_dir_must_be_a_hugetlbfs_mount() {
        let f = gateway().run(&cfg(&format!("{PCI_EAL}, \"--huge-dir=/mnt/huge\"")));
        assert!(missing_texts(&f)[0].contains("--huge-dir /mnt/huge is not a hugetlbfs mount"));
    }

    #[test]
    fn no_huge_skips_hugepage_checks() {
        let text = format!(
            "[eal]\nargs = [\"-l\", \"0-1\", \"--no-huge\", \"--no-pci\", \"--vdev=net_pcap0,rx_pcap=a\", \"--vdev=net_pcap1,rx_pcap=b\"]\n{}",
            BASE.replace("0000:03:00.0", "net_pcap0")
                .replace("0000:03:00.1", "net_pcap1")
        );
        let c = Config::parse(&text).unwrap();
        // An empty host: no mounts, no hugepages, no sysfs.
        let f = Host::new().run(&c);
        assert!(passed(&f), "{f:#?}");
        assert!(f[0].level == Level::Note && f[0].text.contains("--no-huge"));
    }

    #[test]
    fn kernel_bound_and_unbound_nics_are_reported() {
        let h = gateway();
        std::fs::remove_file(h.0.path().join("sys/bus/pci/devices/0000:03:00.0/driver")).unwrap();
        h.link(
            "/sys/bus/pci/devices/0000:03:00.0/driver",
            "../../drivers/ixgbe",
        );
        std::fs::remove_file(h.0.path().join("sys/bus/pci/devices/0000:03:00.1/driver")).unwrap();
        let m = missing_texts(&h.run(&cfg(PCI_EAL))).join("\n");
        assert!(
            m.contains("0000:03:00.0 is bound to the kernel driver ixgbe"),
            "{m}"
        );
        assert!(m.contains("--bind=vfio-pci 0000:03:00.0"), "{m}");
        assert!(m.contains("0000:03:00.1 is bound to no driver"), "{m}");
    }

    #[test]
    fn vfio_device_nodes_must_be_visible() {
        let h = gateway();
        std::fs::remove_file(h.0.path().join("dev/vfio/13")).unwrap();
        std::fs::remove_file(h.0.path().join("dev/vfio/vfio")).unwrap();
        let m = missing_texts(&h.run(&cfg(PCI_EAL))).join("\n");
        assert!(m.contains("/dev/vfio/13 is not visible"), "{m}");
        assert!(m.contains("/dev/vfio/vfio is missing"), "{m}");
    }

    #[test]
    fn absent_pci_device_is_reported() {
        let f = gateway().run(&cfg(
            r#""-l", "0-1", "-a", "0000:03:00.0", "-a", "0000:03:00.1", "-a", "0000:81:00.0""#,
        ));
        let m = missing_texts(&f).join("\n");
        assert!(m.contains("PCI device 0000:81:00.0"), "{m}");
    }

    #[test]
    fn lcores_must_cover_workers_and_be_online() {
        let too_few = format!(
            "[eal]\nargs = [\"-l\", \"0\", \"-a\", \"0000:03:00.0\", \"-a\", \"0000:03:00.1\"]\n{BASE}"
        );
        let e = Config::parse(&too_few).unwrap_err().to_string();
        assert!(e.contains("0 worker lcore(s)"), "{e}");
        let m = missing_texts(&gateway().run(&cfg(
            r#""-l", "0,7", "-a", "0000:03:00.0", "-a", "0000:03:00.1""#,
        )))
        .join("\n");
        assert!(m.contains("lcores [7]"), "{m}");
    }

    #[test]
    fn shared_worker_cpus_are_a_note() {
        let h = gateway();
        h.file("/sys/devices/system/cpu/isolated", "\n");
        let f = h.run(&cfg(PCI_EAL));
        assert!(passed(&f));
        assert!(f
            .iter()
            .any(|f| f.level == Level::Note && f.text.contains("[1] are not isolated")));
    }

    #[test]
    fn cpu_lists_and_pci_addresses_parse() {
        assert_eq!(cpu_list("0-2,5\n"), Some([0, 1, 2, 5].into()));
        assert_eq!(cpu_list("3-1"), None);
        assert_eq!(pci_address("03:00.0").as_deref(), Some("0000:03:00.0"));
        assert_eq!(pci_address("0000:AF:00.1").as_deref(), Some("0000:af:00.1"));
        assert_eq!(pci_address("net_pcap0"), None);
    }
}

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::mbuf::Burst;
use crate::{Eal, Mempool};

/// An ethdev port, found by device name. Cheap to clone; stopped and closed
/// when the last handle (ports and queues) drops.
#[derive(Clone)]
pub struct Port {
    inner: Arc<Inner>,
}

struct Inner {
    id: u16,
    name: String,
    _eal: Eal,
    pool: Cell<Option<Mempool>>,
}

// SAFETY: the Cell is only written by `configure`, which takes &mut Port and
// requires no queue handles to exist (checked with Arc::get_mut).
unsafe impl Sync for Inner {}
// SAFETY: port ids are process-global; ethdev control calls are thread-safe
// when not concurrent with each other, which the single owner guarantees.
unsafe impl Send for Inner {}

impl Drop for Inner {
    fn drop(&mut self) {
        // SAFETY: no queue handle is left; stop then close releases the
        // driver's mbufs back to the pool (flushing pcap/tap output).
        unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id);
            dpdk_sys::rte_eth_dev_close(self.id);
        }
        // The pool drops after the port released its mbufs.
        drop(self.pool.take());
    }
}

/// Offload and RSS bits (`RTE_ETH_RX_OFFLOAD_*`, `RTE_ETH_TX_OFFLOAD_*`,
/// `RTE_ETH_RSS_*`) as plain u64 masks.
pub mod offload {
    use dpdk_sys as sys;
    pub const RX_IPV4_CKSUM: u64 = sys::VTEP_RX_OFFLOAD_IPV4_CKSUM as u64;
    pub const RX_UDP_CKSUM: u64 = sys::VTEP_RX_OFFLOAD_UDP_CKSUM as u64;
    pub const RX_OUTER_UDP_CKSUM: u64 = sys::VTEP_RX_OFFLOAD_OUTER_UDP_CKSUM as u64;
    pub const RX_SCATTER: u64 = sys::VTEP_RX_OFFLOAD_SCATTER as u64;
    pub const RX_RSS_HASH: u64 = sys::VTEP_RX_OFFLOAD_RSS_HASH as u64;
    pub const TX_IPV4_CKSUM: u64 = sys::VTEP_TX_OFFLOAD_IPV4_CKSUM as u64;
    pub const TX_UDP_CKSUM: u64 = sys::VTEP_TX_OFFLOAD_UDP_CKSUM as u64;
    pub const TX_OUTER_UDP_CKSUM: u64 = sys::VTEP_TX_OFFLOAD_OUTER_UDP_CKSUM as u64;
    pub const TX_MULTI_SEGS: u64 = sys::VTEP_TX_OFFLOAD_MULTI_SEGS as u64;
    pub const TX_MBUF_FAST_FREE: u64 = sys::VTEP_TX_OFFLOAD_MBUF_FAST_FREE as u64;
    pub const RSS_IP: u64 = sys::VTEP_RSS_IP as u64;
    pub const RSS_UDP: u64 = sys::VTEP_RSS_UDP as u64;
    pub const RSS_TCP: u64 = sys::VTEP_RSS_TCP as u64;
}

/// Queue layout, MTU, offloads and RSS of a port.
#[derive(Debug, Clone, Copy)]
pub struct PortConfig {
    pub rx_queues: u16,
    pub tx_queues: u16,
    pub rx_desc: u16,
    pub tx_desc: u16,
    /// MTU given to `rte_eth_dev_configure`; None keeps the device's.
    pub mtu: Option<u16>,
    /// `RTE_ETH_RX_OFFLOAD_*` bits (see [`offload`]).
    pub rx_offloads: u64,
    /// `RTE_ETH_TX_OFFLOAD_*` bits.
    pub tx_offloads: u64,
    /// `RTE_ETH_RSS_*` hash types; non-zero turns RSS on.
    pub rss_hf: u64,
}

impl Default for PortConfig {
    fn default() -> Self {
        PortConfig {
            rx_queues: 1,
            tx_queues: 1,
            rx_desc: 1024,
            tx_desc: 1024,
            mtu: None,
            rx_offloads: 0,
            tx_offloads: 0,
            rss_hf: 0,
        }
    }
}

/// What a device says it can do (`rte_eth_dev_info`), as plain data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DevInfo {
    /// Driver name, e.g. "net_tap", "net_ice".
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    pub min_mtu: u16,
    /// The largest MTU ethdev accepts: the driver's `max_mtu`, bounded by
    /// its largest frame (`max_rx_pktlen`) less the L2 overhead.
    pub max_mtu: u16,
    pub rx_offloads: u64,
    pub tx_offloads: u64,
    /// RSS hash types the device offers (`flow_type_rss_offloads`).
    pub rss_hf: u64,
}

impl DevInfo {
    /// ethdev's own bound (`eth_dev_validate_mtu` in DPDK 22.11).
    fn effective_max_mtu(max_mtu: u16, max_rx_pktlen: u32) -> u16 {
        let overhead = if max_mtu != u16::MAX && max_rx_pktlen > max_mtu as u32 {
            max_rx_pktlen - max_mtu as u32
        } else {
            18 // Ethernet header and CRC
        };
        (max_rx_pktlen.saturating_sub(overhead)).min(max_mtu as u32) as u16
    }
}

/// Link state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    pub speed_mbps: u32,
}

/// Basic ethdev counters (`rte_eth_stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_nombuf: u64,
}

fn check(port: &str, op: &'static str, rc: i32) -> Result<()> {
    if rc < 0 {
        return Err(Error::Port {
            port: port.into(),
            op,
            code: rc,
            msg: crate::error::strerror(rc),
        });
    }
    Ok(())
}

impl Port {
    /// Finds a probed port by its device name (vdev name or PCI address).
    pub fn by_name(eal: &Eal, name: &str) -> Result<Port> {
        let cname = CString::new(name).map_err(|_| Error::NoSuchPort(name.into()))?;
        let mut id: u16 = 0;
        // SAFETY: valid C string and out pointer.
        let rc = unsafe { dpdk_sys::rte_eth_dev_get_port_by_name(cname.as_ptr(), &mut id) };
        if rc != 0 {
            return Err(Error::NoSuchPort(name.into()));
        }
        Ok(Port {
            inner: Arc::new(Inner {
                id,
                name: name.into(),
                _eal: eal.clone(),
                pool: Cell::new(None),
            }),
        })
    }

    /// Names of all probed ports.
    pub fn names(_eal: &Eal) -> Vec<String> {
        let mut v = Vec::new();
        for id in 0..dpdk_sys::RTE_MAX_ETHPORTS as u16 {
            let mut buf = [0 as std::os::raw::c_char; 64];
            // SAFETY: buf has room for RTE_ETH_NAME_MAX_LEN (64) bytes.
            if unsafe { dpdk_sys::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) } == 0 {
                // SAFETY: the call wrote a NUL-terminated name.
                v.push(
                    unsafe { CStr::from_ptr(buf.as_ptr()) }
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
        v
    }

    pub fn id(&self) -> u16 {
        self.inner.id
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Configures the queues (all fed from `pool`) and returns their handles.
    /// The port must be stopped and no queue handles may exist.
    pub fn configure(
        &mut self,
        cfg: &PortConfig,
        pool: &Mempool,
    ) -> Result<(Vec<RxQueue>, Vec<TxQueue>)> {
        let name = self.inner.name.clone();
        let inner = Arc::get_mut(&mut self.inner).ok_or_else(|| Error::Port {
            port: name.clone(),
            op: "configure",
            code: -16,
            msg: "queue handles of the port are still alive".into(),
        })?;
        let id = inner.id;
        let mut conf = dpdk_sys::rte_eth_conf::default();
        if let Some(mtu) = cfg.mtu {
            conf.rxmode.mtu = mtu as u32;
        }
        conf.rxmode.offloads = cfg.rx_offloads;
        conf.txmode.offloads = cfg.tx_offloads;
        if cfg.rss_hf != 0 {
            conf.rxmode.mq_mode = dpdk_sys::RTE_ETH_MQ_RX_RSS;
            conf.rx_adv_conf.rss_conf.rss_hf = cfg.rss_hf;
        }
        // SAFETY: conf is fully initialised (zero = no feature); valid pointer.
        check(&name, "rte_eth_dev_configure", unsafe {
            dpdk_sys::rte_eth_dev_configure(id, cfg.rx_queues, cfg.tx_queues, &conf)
        })?;
        // SAFETY: valid port id.
        let socket = unsafe { dpdk_sys::rte_eth_dev_socket_id(id) }.max(0) as u32;
        for q in 0..cfg.rx_queues {
            // SAFETY: configured port; null rxconf means driver defaults.
            check(&name, "rte_eth_rx_queue_setup", unsafe {
                dpdk_sys::rte_eth_rx_queue_setup(
                    id,
                    q,
                    cfg.rx_desc,
                    socket,
                    std::ptr::null(),
                    pool.as_ptr(),
                )
            })?;
        }
        for q in 0..cfg.tx_queues {
            // SAFETY: configured port; null txconf means driver defaults.
            check(&name, "rte_eth_tx_queue_setup", unsafe {
                dpdk_sys::rte_eth_tx_queue_setup(id, q, cfg.tx_desc, socket, std::ptr::null())
            })?;
        }
        inner.pool.set(Some(pool.clone()));
        let rx = (0..cfg.rx_queues)
            .map(|q| RxQueue {
                port: self.clone(),
                queue: q,
                _not_sync: PhantomData,
            })
            .collect();
        let tx = (0..cfg.tx_queues)
            .map(|q| TxQueue {
                port: self.clone(),
                queue: q,
                _not_sync: PhantomData,
            })
            .collect();
        Ok((rx, tx))
    }

    /// The device's capabilities.
    pub fn info(&self) -> Result<DevInfo> {
        let mut d = dpdk_sys::rte_eth_dev_info::default();
        // SAFETY: valid port id and out pointer.
        check(self.name(), "rte_eth_dev_info_get", unsafe {
            dpdk_sys::rte_eth_dev_info_get(self.id(), &mut d)
        })?;
        let driver = if d.driver_name.is_null() {
            String::new()
        } else {
            // SAFETY: the driver name is a static NUL-terminated string.
            unsafe { CStr::from_ptr(d.driver_name) }
                .to_string_lossy()
                .into_owned()
        };
        Ok(DevInfo {
            driver,
            max_rx_queues: d.max_rx_queues,
            max_tx_queues: d.max_tx_queues,
            min_mtu: d.min_mtu,
            max_mtu: DevInfo::effective_max_mtu(d.max_mtu, d.max_rx_pktlen),
            rx_offloads: d.rx_offload_capa,
            tx_offloads: d.tx_offload_capa,
            rss_hf: d.flow_type_rss_offloads,
        })
    }

    /// The RSS hash types in force (after configure); 0 without RSS.
    pub fn rss_hf(&self) -> u64 {
        let mut c = dpdk_sys::rte_eth_rss_conf::default();
        // SAFETY: a null key pointer asks for the hash types only.
        let rc = unsafe { dpdk_sys::rte_eth_dev_rss_hash_conf_get(self.id(), &mut c) };
        if rc < 0 {
            0
        } else {
            c.rss_hf
        }
    }

    /// Sets the MTU (`rte_eth_dev_set_mtu`); drivers of kernel-backed
    /// devices apply it to their kernel interface. Ok(false): the driver
    /// has no MTU control (net_pcap, net_null) and takes frames as they come.
    pub fn set_mtu(&self, mtu: u16) -> Result<bool> {
        // SAFETY: valid port id.
        let rc = unsafe { dpdk_sys::rte_eth_dev_set_mtu(self.id(), mtu) };
        if rc == -libc::ENOTSUP {
            return Ok(false);
        }
        check(self.name(), "rte_eth_dev_set_mtu", rc).map(|()| true)
    }

    pub fn start(&self) -> Result<()> {
        // SAFETY: valid port id.
        check(self.name(), "rte_eth_dev_start", unsafe {
            dpdk_sys::rte_eth_dev_start(self.id())
        })
    }

    pub fn stop(&self) -> Result<()> {
        // SAFETY: valid port id.
        check(self.name(), "rte_eth_dev_stop", unsafe {
            dpdk_sys::rte_eth_dev_stop(self.id())
        })
    }

    pub fn mac(&self) -> Result<[u8; 6]> {
        let mut a = dpdk_sys::rte_ether_addr::default();
        // SAFETY: valid out pointer.
        check(self.name(), "rte_eth_macaddr_get", unsafe {
            dpdk_sys::rte_eth_macaddr_get(self.id(), &mut a)
        })?;
        Ok(a.addr_bytes)
    }

    /// Sets the port's MAC address.
    pub fn set_mac(&self, mac: [u8; 6]) -> Result<()> {
        let mut a = dpdk_sys::rte_ether_addr { addr_bytes: mac };
        // SAFETY: valid port id and address.
        check(self.name(), "rte_eth_dev_default_mac_addr_set", unsafe {
            dpdk_sys::rte_eth_dev_default_mac_addr_set(self.id(), &mut a)
        })
    }

    /// Receives frames to these multicast MACs (replacing the list); an
    /// error when the device keeps no list (then see
    /// [`Port::set_allmulticast`]).
    pub fn set_mc_addr_list(&self, macs: &[[u8; 6]]) -> Result<()> {
        let mut list: Vec<dpdk_sys::rte_ether_addr> = macs
            .iter()
            .map(|m| dpdk_sys::rte_ether_addr { addr_bytes: *m })
            .collect();
        // SAFETY: valid port id; the list outlives the call, which copies it.
        check(self.name(), "rte_eth_dev_set_mc_addr_list", unsafe {
            dpdk_sys::rte_eth_dev_set_mc_addr_list(self.id(), list.as_mut_ptr(), list.len() as u32)
        })
    }

    /// Receives every multicast frame.
    pub fn set_allmulticast(&self) -> Result<()> {
        // SAFETY: valid port id.
        check(self.name(), "rte_eth_allmulticast_enable", unsafe {
            dpdk_sys::rte_eth_allmulticast_enable(self.id())
        })
    }

    pub fn link(&self) -> Result<Link> {
        let (mut speed, mut up) = (0u32, 0i32);
        // SAFETY: valid out pointers.
        check(self.name(), "rte_eth_link_get_nowait", unsafe {
            dpdk_sys::vtep_eth_link(self.id(), &mut speed, &mut up)
        })?;
        Ok(Link {
            up: up != 0,
            speed_mbps: speed,
        })
    }

    pub fn set_promiscuous(&self, on: bool) -> Result<()> {
        // SAFETY: valid port id.
        let rc = unsafe {
            if on {
                dpdk_sys::rte_eth_promiscuous_enable(self.id())
            } else {
                dpdk_sys::rte_eth_promiscuous_disable(self.id())
            }
        };
        check(self.name(), "promiscuous mode", rc)
    }

    pub fn stats(&self) -> Result<PortStats> {
        let mut s = dpdk_sys::rte_eth_stats::default();
        // SAFETY: valid out pointer.
        check(self.name(), "rte_eth_stats_get", unsafe {
            dpdk_sys::rte_eth_stats_get(self.id(), &mut s)
        })?;
        Ok(PortStats {
            rx_packets: s.ipackets,
            tx_packets: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
        })
    }

    /// Extended statistics, by name.
    pub fn xstats(&self) -> Result<Vec<(String, u64)>> {
        let id = self.id();
        // SAFETY: a null array asks for the count.
        let n = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, std::ptr::null_mut(), 0) };
        check(self.name(), "rte_eth_xstats_get_names", n)?;
        let n = n as usize;
        let mut names = vec![dpdk_sys::rte_eth_xstat_name::default(); n];
        let mut vals = vec![dpdk_sys::rte_eth_xstat::default(); n];
        // SAFETY: both arrays hold n entries.
        let got = unsafe { dpdk_sys::rte_eth_xstats_get_names(id, names.as_mut_ptr(), n as u32) };
        check(self.name(), "rte_eth_xstats_get_names", got)?;
        // SAFETY: as above.
        let got2 = unsafe { dpdk_sys::rte_eth_xstats_get(id, vals.as_mut_ptr(), n as u32) };
        check(self.name(), "rte_eth_xstats_get", got2)?;
        let m = (got as usize).min(got2 as usize).min(n);
        Ok((0..m)
            .map(|i| {
                // SAFETY: the names are NUL-terminated within their arrays.
                let name = unsafe { CStr::from_ptr(names[i].name.as_ptr()) };
                (name.to_string_lossy().into_owned(), vals[i].value)
            })
            .collect())
    }
}

/// A receive queue. Send (moves to its worker), not Sync (one poller).
pub struct RxQueue {
    port: Port,
    queue: u16,
    _not_sync: PhantomData<Cell<()>>,
}

impl RxQueue {
    pub fn port(&self) -> &Port {
        &self.port
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives into the spare room of `burst`; returns how many arrived.
    #[inline(always)]
    pub fn rx<const N: usize>(&mut self, burst: &mut Burst<N>) -> usize {
        self.rx_max(burst, N)
    }

    /// Receives at most `max` packets into the spare room of `burst`.
    #[inline(always)]
    pub fn rx_max<const N: usize>(&mut self, burst: &mut Burst<N>, max: usize) -> usize {
        let len = burst.len();
        let room = (N - len).min(max).min(u16::MAX as usize) as u16;
        // SAFETY: the spare tail of the burst has room for `room` pointers;
        // the driver writes owned, direct mbufs there.
        let n = unsafe {
            dpdk_sys::vtep_eth_rx_burst(self.port.id(), self.queue, burst.spare_ptr(), room)
        } as usize;
        // SAFETY: n new mbufs were written after len.
        unsafe { burst.set_len(len + n) };
        n
    }
}

/// A transmit queue. Send, not Sync.
pub struct TxQueue {
    port: Port,
    queue: u16,
    _not_sync: PhantomData<Cell<()>>,
}

impl TxQueue {
    pub fn port(&self) -> &Port {
        &self.port
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Offers the whole burst once; returns how many the queue took. The
    /// rest stay in `burst`, moved to the front, for the caller to retry.
    #[inline(always)]
    pub fn tx_partial<const N: usize>(&mut self, burst: &mut Burst<N>) -> usize {
        let len = burst.len() as u16;
        if len == 0 {
            return 0;
        }
        // SAFETY: the first len slots hold owned mbufs; the driver takes
        // ownership of the first `sent`.
        let sent = unsafe {
            dpdk_sys::vtep_eth_tx_burst(self.port.id(), self.queue, burst.as_mut_ptr(), len)
        } as usize;
        burst.consume_front(sent);
        sent
    }

    /// Sends the burst; what the queue does not take is freed. Returns
    /// (sent, dropped); the burst is empty afterwards.
    #[inline(always)]
    pub fn tx<const N: usize>(&mut self, burst: &mut Burst<N>) -> (usize, usize) {
        let sent = self.tx_partial(burst);
        let dropped = burst.len();
        burst.free_all();
        (sent, dropped)
    }
}

//! What each command answers: typed snapshots whose JSON keys are the
//! contract of DESIGN.md (`vtepctl --json`). The daemon fills them; vtepctl,
//! the Prometheus exposition and DPDK telemetry read them field by field.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `status`: what runs, where, and the ports' links.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub version: String,
    pub dpdk: String,
    pub uptime_secs: u64,
    pub vtep_address: String,
    pub vtep_mac: String,
    pub udp_port: u16,
    pub workers: Vec<WorkerInfo>,
    pub ports: Vec<PortStatus>,
    pub fdb_entries: u64,
    pub state_generation: u64,
    /// With `[evpn]`: how far the kernel mirror is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evpn: Option<EvpnStatus>,
}

/// `status.evpn`: the EVPN kernel mirror. vtepd answers before the
/// mirror is complete; `built` counts up to `vnis`, and `synced` says
/// that vtepd has read the complete mirror once (its routes are in the
/// FDB).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvpnStatus {
    pub netns: String,
    pub vnis: usize,
    pub built: usize,
    pub synced: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerInfo {
    pub index: usize,
    pub cpu: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortStatus {
    pub name: String,
    pub link_up: Option<bool>,
    pub speed_mbps: Option<u32>,
    pub mac: Option<String>,
}

/// `stats`: every counter of the daemon in one consistent snapshot.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Stats {
    pub ports: Vec<PortStats>,
    pub vnis: Vec<VniStats>,
    pub remotes: Vec<RemoteStats>,
    /// Reason -> packets, one entry for every reason (zeros included).
    pub drops: BTreeMap<String, u64>,
    pub accounting: Accounting,
    /// Flood copies that could not be made or sent (not packets received).
    pub flood_copy_drops: u64,
    /// Learn and ARP-snoop events a full queue refused.
    pub learn_events_dropped: u64,
    pub vxlan_reserved_bits_seen: u64,
    pub fdb: FdbStats,
    pub management: MgmtCounters,
    pub workers: Vec<WorkerStats>,
    pub mempool: MempoolStats,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PortStats {
    pub name: String,
    pub link_up: bool,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_missed: u64,
    pub rx_nombuf: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct VniStats {
    pub id: u32,
    /// `vxlan`, `geneve` or `nvgre`.
    #[serde(default = "vxlan")]
    pub encap: String,
    pub encap_packets: u64,
    pub encap_bytes: u64,
    pub decap_packets: u64,
    pub decap_bytes: u64,
    pub flood_packets: u64,
    pub flood_bytes: u64,
    /// BUM frames flooded to the VNI's multicast group (`[[vni]] group`).
    #[serde(default)]
    pub group_packets: u64,
    #[serde(default)]
    pub group_bytes: u64,
    pub learned_macs: u64,
    /// Over the VNI's rate (`rate_mbps`), access to underlay.
    #[serde(default)]
    pub policed_encap_packets: u64,
    #[serde(default)]
    pub policed_encap_bytes: u64,
    /// Over the VNI's rate, underlay to access.
    #[serde(default)]
    pub policed_decap_packets: u64,
    #[serde(default)]
    pub policed_decap_bytes: u64,
    /// BUM frames from access ports over `flood_pps`.
    #[serde(default)]
    pub storm_control_packets: u64,
    /// ARP requests and neighbour solicitations answered on the access
    /// port (`arp_suppress`).
    #[serde(default)]
    pub arp_suppressed: u64,
    #[serde(default)]
    pub nd_suppressed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RemoteStats {
    pub ip: String,
    pub tx_packets: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub rx_bytes: u64,
}

/// `rx_packets == forwarded + dropped + punted` in every snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Accounting {
    pub rx_packets: u64,
    pub forwarded: u64,
    pub dropped: u64,
    pub punted: u64,
    pub flood_copies: u64,
}

/// `stats.fdb`: the table's size and what learning did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FdbStats {
    pub entries: u64,
    #[serde(flatten)]
    pub counters: FdbCounters,
}

/// What learning, aging and limits did (kept by the FDB manager).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FdbCounters {
    pub learned: u64,
    pub moved: u64,
    pub aged: u64,
    pub damped: u64,
    pub mac_limit_drops: u64,
    pub table_full: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MgmtCounters {
    pub arp_requests_sent: u64,
    pub arp_replies_sent: u64,
    pub echo_replies_sent: u64,
    /// IPv6 underlay: neighbour solicitations sent (resolution).
    #[serde(default)]
    pub nd_solicitations_sent: u64,
    /// IPv6 underlay: neighbour advertisements sent (answers and the
    /// unsolicited one at start).
    #[serde(default)]
    pub nd_advertisements_sent: u64,
    pub neighbor_updates: u64,
    /// The exception path: frames the kernel sent out of the underlay
    /// port, frames handed to the kernel, and those its tap refused.
    #[serde(default)]
    pub kernel_rx_frames: u64,
    #[serde(default)]
    pub kernel_tx_frames: u64,
    #[serde(default)]
    pub kernel_tx_failed: u64,
    /// BGP EVPN: changes read from the kernel mirror (remote MACs, flood
    /// lists), local MAC changes written to it, full re-reads of it, and
    /// netlink failures.
    #[serde(default)]
    pub evpn_updates_in: u64,
    #[serde(default)]
    pub evpn_updates_out: u64,
    #[serde(default)]
    pub evpn_resyncs: u64,
    #[serde(default)]
    pub evpn_errors: u64,
    /// Remote MACs and flood-list VTEPs removed from the mirror because a
    /// restarted zebra did not install them again.
    #[serde(default)]
    pub evpn_swept: u64,
    /// IGMP or MLD membership reports sent for the VNIs' groups (joins,
    /// refreshes and answers to queries).
    #[serde(default)]
    pub mcast_reports_sent: u64,
    /// IGMP or MLD leaves sent for groups a reload removed.
    #[serde(default)]
    pub mcast_leaves_sent: u64,
    /// IGMP or MLD queries heard on the underlay.
    #[serde(default)]
    pub mcast_queries_seen: u64,
    pub punts_handled: u64,
    pub mgmt_tx_failed: u64,
    pub reloads: u64,
    pub reloads_rejected: u64,
    /// Writes of `[control] state_file` that failed; the API change that
    /// needed each was not made.
    #[serde(default)]
    pub state_file_write_failures: u64,
    /// Underlay next hops that answered none of their probes (their MAC
    /// was forgotten), and frames sent to a next hop's old MAC between
    /// its probe and its coming back with another MAC or being forgotten.
    #[serde(default)]
    pub neighbor_probes_failed: u64,
    #[serde(default)]
    pub neighbor_unconfirmed_tx: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct WorkerStats {
    pub index: usize,
    pub cpu: usize,
    pub rx_packets: u64,
    pub busy_cycles: u64,
    pub bursts: u64,
    /// Busy TSC cycles per received packet.
    pub cycles_per_packet: f64,
    pub avg_burst: f64,
    pub tsc_hz: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MempoolStats {
    pub size: u64,
    pub available: u64,
}

impl MempoolStats {
    pub fn in_use(&self) -> u64 {
        self.size.saturating_sub(self.available)
    }
}

/// Where an FDB entry sends frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// Behind this remote VTEP.
    Remote(String),
    /// On this local access port.
    Port(String),
}

/// One `fdb_show` row: `{"vni", "mac", "kind", "source", "age_secs",
/// "remote" | "port"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdbEntry {
    pub vni: u32,
    pub mac: String,
    /// `static`, `learned` (or `evpn`).
    pub kind: String,
    /// Who made it: `config` ([[fdb]]), `api` (fdb add), `learned`.
    pub source: String,
    pub age_secs: u64,
    #[serde(flatten)]
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VniInfo {
    pub id: u32,
    /// `vxlan`, `geneve` or `nvgre`.
    #[serde(default = "vxlan")]
    pub encap: String,
    /// The tunnel's UDP destination port (none for NVGRE).
    #[serde(default)]
    pub udp_port: Option<u16>,
    /// The head-end replication list (config and EVPN together).
    pub flood: Vec<String>,
    /// The same list, each entry with where it came from.
    #[serde(default)]
    pub flood_sources: Vec<FloodEntry>,
    /// The multicast group BUM frames go to (also first in `flood`,
    /// source `group`).
    #[serde(default)]
    pub group: Option<String>,
    pub learning: bool,
    pub arp_suppress: bool,
    /// ARP/ND suppression: bindings held, and requests answered locally.
    #[serde(default)]
    pub arp_bindings: u64,
    #[serde(default)]
    pub arp_suppressed: u64,
    #[serde(default)]
    pub nd_suppressed: u64,
    pub mac_limit: u32,
    pub aging_secs: u32,
    pub learned_macs: u64,
    pub ports: Vec<VniPort>,
    /// Bandwidth limit in each direction; None = unlimited.
    #[serde(default)]
    pub rate_mbps: Option<u32>,
    #[serde(default)]
    pub burst_kb: Option<u32>,
    /// Storm control: BUM frames per second from access ports.
    #[serde(default)]
    pub flood_pps: Option<u32>,
}

/// The encapsulation of a VNI from a vtepd that did not say.
fn vxlan() -> String {
    "vxlan".into()
}

/// One flood-list entry: `{"remote", "source"}`, source `config` or `evpn`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloodEntry {
    pub remote: String,
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VniPort {
    pub port: String,
    pub vlan: Option<u16>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeighEntry {
    pub ip: String,
    pub mac: Option<String>,
    /// `static`, `reachable` or `incomplete`.
    pub state: String,
    pub age_secs: u64,
}

/// One ARP/ND suppression binding of a VNI: `source` is `snooped` (seen
/// in ARP or neighbour discovery), `evpn` (a MAC+IP route) or `config`
/// (`[[fdb]] ips`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArpEntry {
    pub vni: u32,
    pub ip: String,
    pub mac: String,
    pub source: String,
}

/// One port's extended statistics, as its driver names them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortXstats {
    pub name: String,
    pub xstats: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    pub added: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deleted {
    pub deleted: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flushed {
    pub flushed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reloaded {
    pub reloaded: String,
    pub generation: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdb_rows_name_remote_or_port() {
        let e = FdbEntry {
            vni: 100,
            mac: "02:00:00:00:00:01".into(),
            kind: "static".into(),
            source: "config".into(),
            age_secs: 0,
            at: Location::Remote("192.0.2.2".into()),
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["remote"], "192.0.2.2");
        assert!(v.get("port").is_none());
        assert_eq!(serde_json::from_value::<FdbEntry>(v).unwrap(), e);
        let p = FdbEntry {
            at: Location::Port("net_tap1".into()),
            ..e
        };
        assert_eq!(serde_json::to_value(&p).unwrap()["port"], "net_tap1");
    }
}

//! Every counter of the [`Stats`] snapshot, declared once: its key in the
//! JSON, its Prometheus family, its help text, its type, its `vtepctl
//! stats` column and its DPDK telemetry key. The exposition, the telemetry
//! command, vtepctl's tables and `docs/counters.md` are written from these
//! tables; a test holds them to the snapshot's JSON keys, so a counter
//! added to a view without a row here fails it.

use crate::views::{PortStats, RemoteStats, Stats, VniStats, WorkerStats};

/// The Prometheus type of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only rises (until a restart); the family name ends in `_total`.
    Counter,
    /// Goes up and down.
    Gauge,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        }
    }
}

/// One counter of rows of type `T` (a port, a VNI, ... or the whole
/// [`Stats`] for the daemon's own counters).
pub struct Counter<T> {
    /// The key in `vtepctl --json stats`: a field of the row, or a dotted
    /// path for the daemon's counters. None: derived from other keys.
    pub key: Option<&'static str>,
    /// The Prometheus family.
    pub metric: &'static str,
    pub help: &'static str,
    pub kind: Kind,
    /// The column header in `vtepctl stats`, if it has a column.
    pub column: Option<&'static str>,
    /// The key in DPDK telemetry's `/vtep/stats` (per VNI: `vni{ID}_` and
    /// this, when non-zero).
    pub telemetry: Option<&'static str>,
    pub get: fn(&T) -> u64,
}

/// A table of counters of one scope, with the label that tells its rows
/// apart in Prometheus (none for the daemon's own).
pub struct Scope<T: 'static> {
    /// What the rows are, as `docs/counters.md` heads them.
    pub name: &'static str,
    /// Where the rows stand in the JSON (`ports`, `vnis`, ...; empty for
    /// the daemon's own counters).
    pub rows: &'static str,
    pub label: Option<&'static str>,
    pub counters: &'static [Counter<T>],
}

/// A row of a counter table, written out shorter.
macro_rules! row {
    ($kind:ident $key:expr, $metric:literal, $col:expr, $tel:expr, $help:literal, $get:expr) => {
        Counter {
            key: $key,
            metric: $metric,
            help: $help,
            kind: Kind::$kind,
            column: $col,
            telemetry: $tel,
            get: $get,
        }
    };
}

pub const PORTS: Scope<PortStats> = Scope {
    name: "port",
    rows: "ports",
    label: Some("port"),
    counters: &[
        row!(Gauge Some("link_up"), "vtep_port_up", None, None,
            "1 when the port's link is up", |p| u64::from(p.link_up)),
        row!(Counter Some("rx_packets"), "vtep_port_rx_packets_total", Some("rx"), None,
            "Packets received by the port", |p| p.rx_packets),
        row!(Counter Some("tx_packets"), "vtep_port_tx_packets_total", Some("tx"), None,
            "Packets sent by the port", |p| p.tx_packets),
        row!(Counter Some("rx_bytes"), "vtep_port_rx_bytes_total", None, None,
            "Bytes received by the port", |p| p.rx_bytes),
        row!(Counter Some("tx_bytes"), "vtep_port_tx_bytes_total", None, None,
            "Bytes sent by the port", |p| p.tx_bytes),
        row!(Counter Some("rx_missed"), "vtep_port_rx_missed_total", Some("missed"), None,
            "Packets the port dropped for lack of RX descriptors", |p| p.rx_missed),
        row!(Counter Some("rx_nombuf"), "vtep_port_rx_nombuf_total", Some("nombuf"), None,
            "Packets the port dropped for lack of mbufs", |p| p.rx_nombuf),
        row!(Counter Some("rx_errors"), "vtep_port_rx_errors_total", Some("rx_err"), None,
            "Erroneous packets the port received", |p| p.rx_errors),
        row!(Counter Some("tx_errors"), "vtep_port_tx_errors_total", Some("tx_err"), None,
            "Packets the port failed to send", |p| p.tx_errors),
    ],
};

pub const VNIS: Scope<VniStats> = Scope {
    name: "VNI",
    rows: "vnis",
    label: Some("vni"),
    counters: &[
        row!(Counter Some("encap_packets"), "vtep_vni_encap_packets_total", Some("encap"), None,
            "Frames encapsulated into the VNI", |v| v.encap_packets),
        row!(Counter Some("encap_bytes"), "vtep_vni_encap_bytes_total", None, None,
            "Bytes of frames encapsulated into the VNI", |v| v.encap_bytes),
        row!(Counter Some("decap_packets"), "vtep_vni_decap_packets_total", Some("decap"), None,
            "Frames decapsulated from the VNI", |v| v.decap_packets),
        row!(Counter Some("decap_bytes"), "vtep_vni_decap_bytes_total", None, None,
            "Bytes of frames decapsulated from the VNI", |v| v.decap_bytes),
        row!(Counter Some("flood_packets"), "vtep_vni_flood_packets_total", Some("flood"), None,
            "Broadcast, multicast and unknown-unicast frames flooded", |v| v.flood_packets),
        row!(Counter Some("flood_bytes"), "vtep_vni_flood_bytes_total", None, None,
            "Bytes of flooded frames", |v| v.flood_bytes),
        row!(Counter Some("group_packets"), "vtep_vni_group_packets_total", Some("group"), None,
            "Flooded frames sent to the VNI's multicast group, once each", |v| v.group_packets),
        row!(Counter Some("group_bytes"), "vtep_vni_group_bytes_total", None, None,
            "Bytes of flooded frames sent to the VNI's multicast group", |v| v.group_bytes),
        row!(Gauge Some("learned_macs"), "vtep_vni_learned_macs", Some("macs"), None,
            "Learned MAC addresses in the VNI", |v| v.learned_macs),
        row!(Counter Some("policed_encap_packets"), "vtep_vni_policed_encap_packets_total",
            Some("policed_enc"), Some("policed_encap"),
            "Frames from access ports dropped over the VNI's rate_mbps",
            |v| v.policed_encap_packets),
        row!(Counter Some("policed_encap_bytes"), "vtep_vni_policed_encap_bytes_total", None, None,
            "Bytes of frames from access ports dropped over the VNI's rate_mbps",
            |v| v.policed_encap_bytes),
        row!(Counter Some("policed_decap_packets"), "vtep_vni_policed_decap_packets_total",
            Some("policed_dec"), Some("policed_decap"),
            "Frames from the underlay dropped over the VNI's rate_mbps",
            |v| v.policed_decap_packets),
        row!(Counter Some("policed_decap_bytes"), "vtep_vni_policed_decap_bytes_total", None, None,
            "Bytes of frames from the underlay dropped over the VNI's rate_mbps",
            |v| v.policed_decap_bytes),
        row!(Counter Some("storm_control_packets"), "vtep_vni_storm_control_packets_total",
            Some("storm"), Some("storm_control"),
            "Broadcast, multicast and unknown-unicast frames dropped over the VNI's flood_pps",
            |v| v.storm_control_packets),
        row!(Counter Some("arp_suppressed"), "vtep_vni_arp_suppressed_total", None, None,
            "ARP requests from access ports answered from the VNI's bindings (arp_suppress)",
            |v| v.arp_suppressed),
        row!(Counter Some("nd_suppressed"), "vtep_vni_nd_suppressed_total", None, None,
            "Neighbour solicitations from access ports answered from the VNI's bindings (arp_suppress)",
            |v| v.nd_suppressed),
    ],
};

pub const REMOTES: Scope<RemoteStats> = Scope {
    name: "remote VTEP",
    rows: "remotes",
    label: Some("remote"),
    counters: &[
        row!(Counter Some("tx_packets"), "vtep_remote_tx_packets_total", Some("tx"), None,
            "Packets sent to the remote VTEP", |r| r.tx_packets),
        row!(Counter Some("tx_bytes"), "vtep_remote_tx_bytes_total", None, None,
            "Bytes sent to the remote VTEP", |r| r.tx_bytes),
        row!(Counter Some("rx_packets"), "vtep_remote_rx_packets_total", Some("rx"), None,
            "Packets received from the remote VTEP", |r| r.rx_packets),
        row!(Counter Some("rx_bytes"), "vtep_remote_rx_bytes_total", None, None,
            "Bytes received from the remote VTEP", |r| r.rx_bytes),
    ],
};

pub const WORKERS: Scope<WorkerStats> = Scope {
    name: "worker",
    rows: "workers",
    label: Some("worker"),
    counters: &[
        row!(Counter Some("busy_cycles"), "vtep_worker_busy_cycles_total", None, None,
            "TSC cycles the worker spent on bursts with packets", |w| w.busy_cycles),
        row!(Counter Some("rx_packets"), "vtep_worker_rx_packets_total", None, None,
            "Packets received by the worker", |w| w.rx_packets),
        row!(Counter Some("bursts"), "vtep_worker_bursts_total", None, None,
            "Bursts with packets handled by the worker", |w| w.bursts),
    ],
};

/// The daemon's own counters (one value each).
pub const DAEMON: Scope<Stats> = Scope {
    name: "daemon",
    rows: "",
    label: None,
    counters: &[
        row!(Counter Some("accounting.rx_packets"), "vtep_rx_packets_total", None, Some("rx_packets"),
            "Packets received by the workers", |s| s.accounting.rx_packets),
        row!(Counter Some("accounting.forwarded"), "vtep_forwarded_total", None, Some("forwarded"),
            "Packets forwarded", |s| s.accounting.forwarded),
        row!(Counter Some("accounting.dropped"), "vtep_dropped_total", None, Some("dropped"),
            "Packets dropped (sum of vtep_drops_total)", |s| s.accounting.dropped),
        row!(Counter Some("accounting.punted"), "vtep_punted_total", None, Some("punted"),
            "Packets handed to the management thread", |s| s.accounting.punted),
        row!(Counter Some("accounting.flood_copies"), "vtep_flood_copies_total", None,
            Some("flood_copies"),
            "Copies made by head-end replication", |s| s.accounting.flood_copies),
        row!(Counter Some("flood_copy_drops"), "vtep_flood_copy_drops_total", None,
            Some("flood_copy_drops"),
            "Flood copies that could not be made or sent", |s| s.flood_copy_drops),
        row!(Counter Some("learn_events_dropped"), "vtep_learn_events_dropped_total", None,
            Some("learn_events_dropped"),
            "Learn and ARP-snoop events refused by a full queue", |s| s.learn_events_dropped),
        row!(Counter Some("vxlan_reserved_bits_seen"), "vtep_vxlan_reserved_set_total", None, None,
            "VXLAN packets received with reserved bits set", |s| s.vxlan_reserved_bits_seen),
        row!(Gauge Some("fdb.entries"), "vtep_fdb_entries", None, Some("fdb_entries"),
            "FDB entries, static and learned", |s| s.fdb.entries),
        row!(Counter Some("fdb.learned"), "vtep_fdb_learned_total", None, Some("fdb_learned"),
            "MACs learned", |s| s.fdb.counters.learned),
        row!(Counter Some("fdb.moved"), "vtep_fdb_moved_total", None, Some("fdb_moved"),
            "MAC moves (VM migration)", |s| s.fdb.counters.moved),
        row!(Counter Some("fdb.aged"), "vtep_fdb_aged_total", None, Some("fdb_aged"),
            "Learned MACs aged out", |s| s.fdb.counters.aged),
        row!(Counter Some("fdb.damped"), "vtep_fdb_damped_total", None, None,
            "MAC moves suppressed by flap damping", |s| s.fdb.counters.damped),
        row!(Counter Some("fdb.mac_limit_drops"), "vtep_fdb_mac_limit_drops_total", None, None,
            "MACs not learned because the VNI reached mac_limit",
            |s| s.fdb.counters.mac_limit_drops),
        row!(Counter Some("fdb.table_full"), "vtep_fdb_table_full_total", None, None,
            "MACs not learned because the FDB table was full", |s| s.fdb.counters.table_full),
        row!(Counter Some("management.reloads"), "vtep_reloads_total", None, None,
            "Config reloads applied", |s| s.management.reloads),
        row!(Counter Some("management.reloads_rejected"), "vtep_reload_failures_total", None, None,
            "Config reloads refused (running config kept)", |s| s.management.reloads_rejected),
        row!(Counter Some("management.state_file_write_failures"),
            "vtep_state_file_write_failures_total", None, None,
            "Writes of the state file that failed (the API change was not made)",
            |s| s.management.state_file_write_failures),
        row!(Counter Some("management.neighbor_probes_failed"),
            "vtep_neighbor_probes_failed_total", None, None,
            "Underlay next hops that answered none of their probes (MAC forgotten)",
            |s| s.management.neighbor_probes_failed),
        row!(Counter Some("management.neighbor_unconfirmed_tx"),
            "vtep_neighbor_unconfirmed_tx_total", None, None,
            "Frames sent to a next hop's old MAC after it stopped answering probes",
            |s| s.management.neighbor_unconfirmed_tx),
        row!(Counter Some("management.arp_requests_sent"), "vtep_arp_requests_sent_total", None,
            None, "ARP requests the VTEP sent on the underlay",
            |s| s.management.arp_requests_sent),
        row!(Counter Some("management.arp_replies_sent"), "vtep_arp_replies_sent_total", None,
            None, "ARP replies the VTEP sent for its address", |s| s.management.arp_replies_sent),
        row!(Counter Some("management.echo_replies_sent"), "vtep_echo_replies_sent_total", None,
            None, "ICMP and ICMPv6 echo replies the VTEP sent",
            |s| s.management.echo_replies_sent),
        row!(Counter Some("management.nd_solicitations_sent"), "vtep_nd_solicitations_sent_total",
            None, None, "IPv6 neighbour solicitations the VTEP sent on the underlay",
            |s| s.management.nd_solicitations_sent),
        row!(Counter Some("management.nd_advertisements_sent"),
            "vtep_nd_advertisements_sent_total", None, None,
            "IPv6 neighbour advertisements the VTEP sent for its address",
            |s| s.management.nd_advertisements_sent),
        row!(Counter Some("management.neighbor_updates"), "vtep_neighbor_updates_total", None,
            None, "Underlay neighbour MAC changes", |s| s.management.neighbor_updates),
        row!(Counter Some("management.punts_handled"), "vtep_punts_handled_total", None, None,
            "Punted packets the management thread handled", |s| s.management.punts_handled),
        row!(Counter Some("management.mgmt_tx_failed"), "vtep_mgmt_tx_failed_total", None, None,
            "Management frames that could not be sent", |s| s.management.mgmt_tx_failed),
        row!(Counter Some("management.kernel_rx_frames"), "vtep_kernel_rx_frames_total", None,
            None, "Frames the kernel sent out of the underlay port (exception path)",
            |s| s.management.kernel_rx_frames),
        row!(Counter Some("management.kernel_tx_frames"), "vtep_kernel_tx_frames_total", None,
            None, "Frames handed to the kernel (exception path)",
            |s| s.management.kernel_tx_frames),
        row!(Counter Some("management.kernel_tx_failed"), "vtep_kernel_tx_failed_total", None,
            None, "Frames for the kernel its tap refused", |s| s.management.kernel_tx_failed),
        row!(Counter Some("management.evpn_updates_in"), "vtep_evpn_updates_in_total", None,
            None, "Remote MAC and flood-list changes read from the EVPN kernel mirror",
            |s| s.management.evpn_updates_in),
        row!(Counter Some("management.evpn_updates_out"), "vtep_evpn_updates_out_total", None,
            None, "Local MAC changes written to the EVPN kernel mirror",
            |s| s.management.evpn_updates_out),
        row!(Counter Some("management.evpn_resyncs"), "vtep_evpn_resyncs_total", None, None,
            "Full reads of the EVPN kernel mirror", |s| s.management.evpn_resyncs),
        row!(Counter Some("management.evpn_errors"), "vtep_evpn_errors_total", None, None,
            "Netlink failures of the EVPN kernel mirror", |s| s.management.evpn_errors),
        row!(Counter Some("management.evpn_swept"), "vtep_evpn_swept_total", None, None,
            "Remote MACs and VTEPs removed from the EVPN mirror because a restarted zebra did not install them again", |s| s.management.evpn_swept),
        row!(Counter Some("management.mcast_reports_sent"), "vtep_mcast_reports_sent_total", None,
            None, "IGMP or MLD membership reports sent for the VNIs' multicast groups",
            |s| s.management.mcast_reports_sent),
        row!(Counter Some("management.mcast_leaves_sent"), "vtep_mcast_leaves_sent_total", None,
            None, "IGMP or MLD leaves sent for multicast groups a reload removed",
            |s| s.management.mcast_leaves_sent),
        row!(Counter Some("management.mcast_queries_seen"), "vtep_mcast_queries_seen_total", None,
            None, "IGMP or MLD queries heard on the underlay (with a VNI group configured)",
            |s| s.management.mcast_queries_seen),
        row!(Gauge Some("mempool.size"), "vtep_mempool_mbufs", None, None,
            "Mbufs in the packet pool", |s| s.mempool.size),
        row!(Gauge None, "vtep_mempool_in_use", None, Some("mempool_in_use"),
            "Mbufs of the packet pool in use", |s| s.mempool.in_use()),
    ],
};

/// A family whose samples are labelled by a name that is data (a drop
/// reason, a driver's statistic), not by a row of the snapshot.
pub struct Labelled {
    pub metric: &'static str,
    /// `counter`, or `untyped` where the values are of mixed kinds.
    pub kind: &'static str,
    pub help: &'static str,
}

/// `stats.drops`, by `reason`.
pub const DROPS: Labelled = Labelled {
    metric: "vtep_drops_total",
    kind: "counter",
    help: "Packets dropped, by reason",
};

/// The non-zero extended statistics of `vtepctl stats --xstats`, by `port`
/// and the driver's `name`; drivers mix counters and gauges.
pub const XSTATS: Labelled = Labelled {
    metric: "vtep_port_xstat",
    kind: "untyped",
    help: "Non-zero extended statistics of the port's device, by driver name",
};

impl<T> Scope<T> {
    /// The counters that have a `vtepctl stats` column, in table order.
    pub fn columns(&self) -> impl Iterator<Item = (&'static str, fn(&T) -> u64)> + '_ {
        self.counters
            .iter()
            .filter_map(|c| c.column.map(|h| (h, c.get)))
    }

    /// The table's rows in `docs/counters.md`: family, type, JSON key,
    /// vtepctl column, telemetry key, help.
    pub fn doc_rows(&self, out: &mut String) {
        use std::fmt::Write as _;
        let code = |s: Option<&str>| s.map(|s| format!("`{s}`")).unwrap_or_default();
        for c in self.counters {
            let key = c.key.map(|k| match self.rows {
                "" => k.to_string(),
                rows => format!("{rows}[].{k}"),
            });
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} | {} |",
                c.metric,
                c.kind.name(),
                code(key.as_deref()),
                code(c.column),
                code(c.telemetry),
                c.help
            );
        }
    }
}

/// `docs/counters.md`'s table, as the tables above write it.
pub fn doc_table() -> String {
    let mut o = String::from(
        "| family | type | `stats` key | vtepctl column | telemetry | help |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    PORTS.doc_rows(&mut o);
    VNIS.doc_rows(&mut o);
    REMOTES.doc_rows(&mut o);
    WORKERS.doc_rows(&mut o);
    DAEMON.doc_rows(&mut o);
    for l in [DROPS, XSTATS] {
        o.push_str(&format!(
            "| `{}` | {} |  |  |  | {} |\n",
            l.metric, l.kind, l.help
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::*;
    use serde_json::Value;

    /// A snapshot in which every number is different, so that a getter
    /// reading the wrong field is seen.
    fn numbered() -> Stats {
        let mut v = serde_json::to_value(Stats {
            ports: vec![PortStats::default()],
            vnis: vec![VniStats::default()],
            remotes: vec![RemoteStats::default()],
            workers: vec![WorkerStats::default()],
            ..Stats::default()
        })
        .unwrap();
        fn number(v: &mut Value, n: &mut u64) {
            match v {
                Value::Number(x) if x.is_u64() => {
                    *n += 1;
                    *v = Value::from(*n);
                }
                Value::Bool(_) => *v = Value::Bool(true),
                Value::Array(a) => a.iter_mut().for_each(|x| number(x, n)),
                Value::Object(o) => o.values_mut().for_each(|x| number(x, n)),
                _ => {}
            }
        }
        number(&mut v, &mut 1000);
        serde_json::from_value(v).unwrap()
    }

    /// The numeric keys under `v`, dotted.
    fn keys(v: &Value, at: &str, out: &mut Vec<String>) {
        if let Value::Object(o) = v {
            for (k, x) in o {
                let path = if at.is_empty() {
                    k.clone()
                } else {
                    format!("{at}.{k}")
                };
                match x {
                    Value::Object(_) => keys(x, &path, out),
                    Value::Number(_) | Value::Bool(_) => out.push(path),
                    _ => {}
                }
            }
        }
    }

    fn at<'v>(v: &'v Value, path: &str) -> &'v Value {
        path.split('.').fold(v, |v, k| &v[k])
    }

    /// Keys that are labels or derived figures, not counters.
    const NOT_COUNTERS: &[&str] = &[
        "ports[].name",
        "vnis[].id",
        "remotes[].ip",
        "workers[].index",
        "workers[].cpu",
        "workers[].cycles_per_packet",
        "workers[].avg_burst",
        "workers[].tsc_hz",
        // Shown as vtep_mempool_in_use.
        "mempool.available",
    ];

    fn check<T>(s: &Scope<T>, rows: &[T], json: &Value, seen: &mut Vec<String>) {
        let row = |i: usize| match s.rows {
            "" => json,
            r => &json[r][i],
        };
        for c in s.counters {
            for (i, r) in rows.iter().enumerate() {
                if let Some(k) = c.key {
                    assert_eq!(
                        at(row(i), k)
                            .as_u64()
                            .or(at(row(i), k).as_bool().map(u64::from)),
                        Some((c.get)(r)),
                        "{} reads another field than {k}",
                        c.metric
                    );
                }
            }
            if let Some(k) = c.key {
                seen.push(match s.rows {
                    "" => k.to_string(),
                    r => format!("{r}[].{k}"),
                });
            }
        }
    }

    #[test]
    fn every_snapshot_counter_has_one_row_that_reads_it() {
        let st = numbered();
        let json = serde_json::to_value(&st).unwrap();
        let mut seen = Vec::new();
        check(&PORTS, &st.ports, &json, &mut seen);
        check(&VNIS, &st.vnis, &json, &mut seen);
        check(&REMOTES, &st.remotes, &json, &mut seen);
        check(&WORKERS, &st.workers, &json, &mut seen);
        check(&DAEMON, std::slice::from_ref(&st), &json, &mut seen);
        let mut all = Vec::new();
        keys(&json, "", &mut all);
        for rows in ["ports", "vnis", "remotes", "workers"] {
            keys(&json[rows][0], &format!("{rows}[]"), &mut all);
        }
        for k in &all {
            assert!(
                seen.contains(k) || NOT_COUNTERS.contains(&k.as_str()),
                "stats key {k} has no row in the counter tables"
            );
        }
        let mut metrics: Vec<&str> = PORTS.counters.iter().map(|c| c.metric).collect();
        metrics.extend(VNIS.counters.iter().map(|c| c.metric));
        metrics.extend(REMOTES.counters.iter().map(|c| c.metric));
        metrics.extend(WORKERS.counters.iter().map(|c| c.metric));
        metrics.extend(DAEMON.counters.iter().map(|c| c.metric));
        let n = metrics.len();
        metrics.sort_unstable();
        metrics.dedup();
        assert_eq!(metrics.len(), n, "a family is declared twice");
    }

    #[test]
    fn counters_end_in_total_and_gauges_do_not() {
        let kinds = PORTS
            .counters
            .iter()
            .map(|c| (c.metric, c.kind))
            .chain(VNIS.counters.iter().map(|c| (c.metric, c.kind)))
            .chain(REMOTES.counters.iter().map(|c| (c.metric, c.kind)))
            .chain(WORKERS.counters.iter().map(|c| (c.metric, c.kind)))
            .chain(DAEMON.counters.iter().map(|c| (c.metric, c.kind)));
        for (m, k) in kinds {
            assert!(m.starts_with("vtep_"), "{m}");
            assert_eq!(m.ends_with("_total"), k == Kind::Counter, "{m}");
        }
    }

    /// `docs/counters.md` holds the table as the code writes it.
    #[test]
    fn the_counter_reference_is_the_table() {
        let doc = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/counters.md");
        vtep_testsupport::doc_table(&doc, "| family |", &doc_table());
    }
}

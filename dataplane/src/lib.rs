//! The vtep data plane, by plane:
//! - [`wire`]: packet formats as views over bytes (pure, no DPDK);
//! - [`datapath`]: what the workers run: tunnels, FDB, the published
//!   state, classification, forwarding rules, policing, counters, ports
//!   and the worker loop;
//! - [`control`]: the management thread and what it serves: tables,
//!   publication, neighbours, punted packets, the state file, the control
//!   socket, metrics, telemetry and the EVPN mirror;
//! - [`daemon`]: vtepd's life: start-up in stages, serving, stopping,
//!   and the host checks of `--preflight`;
//! - [`testing`]: fixtures for tests, fuzz targets and benchmarks.
//!
//! No `unsafe` here: DPDK is reached through the `dpdk` crate.
#![forbid(unsafe_code)]

pub mod control;
pub mod daemon;
pub mod datapath;
pub mod testing;
pub mod wire;

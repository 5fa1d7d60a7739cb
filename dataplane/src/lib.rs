//! The vtep data plane: packet formats, FDB, encap/decap pipeline, workers
//! and the management thread. No `unsafe` here: DPDK is reached through the
//! `dpdk` crate.
#![forbid(unsafe_code)]

pub mod buf;
pub mod decap;
pub mod drops;
pub mod encap;
pub mod fdb;
pub mod forward;
pub mod state;
pub mod tunnel;
pub mod wire;

pub mod control;
pub mod fdbmgr;
#[cfg(test)]
mod forward_tests;
pub mod metrics;
pub mod mgmt;
#[cfg(test)]
mod pipeline_tests;
pub mod police;
pub mod ports;
pub mod preflight;
pub mod stats;
pub mod telemetry;
pub mod testing;
pub mod worker;

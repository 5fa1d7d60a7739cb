//! The vtep data plane: packet formats, FDB, encap/decap pipeline, workers
//! and the management thread. No `unsafe` here: DPDK is reached through the
//! `dpdk` crate.
#![forbid(unsafe_code)]

pub mod buf;
pub mod drops;
pub mod fdb;
pub mod wire;

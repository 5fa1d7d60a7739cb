//! The data path: what a worker runs per burst, and the state it reads.
//! Packet logic is written against [`buf::PacketBuf`] and
//! [`forward::Io`], so every rule is tested on plain byte buffers; the
//! worker runs the same code on mbufs and DPDK queues.

pub mod buf;
pub mod decap;
pub mod drops;
pub mod encap;
pub mod fdb;
pub mod flow;
pub mod forward;
pub mod police;
pub mod ports;
pub mod state;
pub mod stats;
pub mod tunnel;
pub mod worker;

#[cfg(test)]
mod forward_tests;
#[cfg(test)]
mod pipeline_tests;
#[cfg(test)]
mod tunnel_tests;

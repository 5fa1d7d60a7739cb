//! Benchmarks of vtepd against DPDK's own forwarding ceiling: the NDR
//! search ([`ndr`]) that `vtep-perf` and its test run. The traffic comes
//! from `vtep-lab`'s frames.
#![forbid(unsafe_code)]

pub mod ndr;

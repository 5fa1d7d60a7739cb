//! What `vtepd` runs before the data and control planes start.

pub mod preflight;

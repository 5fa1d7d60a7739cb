//! Underlay classification must be total: any bytes give a verdict, and an
//! accepted VXLAN packet's inner frame lies inside the buffer.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vtep_dataplane::decap::{classify_underlay, Underlay};
use vtep_dataplane::state::State;

fuzz_target!(|data: &[u8]| {
    static ST: OnceLock<State> = OnceLock::new();
    let st = ST.get_or_init(|| {
        let mut s = vtep_dataplane::testing::sample_state();
        s.accept_unknown_sources = true;
        s
    });
    if let Ok(Underlay::Vxlan { inner_off, inner_len, .. }) = classify_underlay(data, st) {
        assert!(inner_off + inner_len <= data.len());
        assert!(inner_len >= 14);
    }
});

//! Underlay classification must be total: any bytes give a verdict, over
//! IPv4 and IPv6 underlays, with VXLAN alone and with VXLAN, Geneve and
//! NVGRE together; an accepted packet's inner frame lies inside the
//! buffer; what is punted is handled without a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vtep_dataplane::control::punt;
use vtep_dataplane::datapath::buf::{PacketBuf, VecBuf};
use vtep_dataplane::datapath::decap::{classify_underlay, Underlay};
use vtep_dataplane::datapath::state::State;

fuzz_target!(|data: &[u8]| {
    static ST: OnceLock<[State; 4]> = OnceLock::new();
    let states = ST.get_or_init(|| {
        use vtep_dataplane::datapath::tunnel::Tunnel;
        use vtep_dataplane::testing::{sample_state, sample_state6, sample_state_tunnels};
        let all = [Tunnel::vxlan(4789), Tunnel::geneve(6081), Tunnel::nvgre(true)];
        // VNI 100 in Geneve, 200 in NVGRE.
        let mut st = [
            sample_state(),
            sample_state6(),
            sample_state_tunnels(false, &all, [1, 2]),
            sample_state_tunnels(true, &all, [1, 2]),
        ];
        for s in &mut st {
            s.accept_unknown_sources = true;
        }
        st
    });
    for st in states {
        match classify_underlay(data, st) {
            Ok(Underlay::Tunnel {
                inner_off,
                inner_len,
                ..
            }) => {
                assert!(inner_off + inner_len <= data.len());
                assert!(inner_len >= 14);
            }
            Ok(_) => {
                let mut b = VecBuf::new(data);
                let o = punt::handle(&mut b, st.our_ip, st.our_mac);
                assert!(b.len() <= data.len(), "an in-place answer never grows");
                if let Some(f) = o.frame {
                    assert!(f.len() >= 14 + 40 + 24);
                }
            }
            Err(_) => {}
        }
    }
});

//! Access classification, VLAN handling and encapsulation on any bytes:
//! no panic, and an encapsulated frame decapsulates back to itself, over
//! IPv4 and over IPv6 (whose UDP checksum decap verifies).
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use vtep_dataplane::datapath::buf::{PacketBuf, VecBuf};
use vtep_dataplane::datapath::decap::{classify_underlay, Underlay};
use vtep_dataplane::datapath::drops::DropReason;
use vtep_dataplane::datapath::encap::{classify_access, push_vlan};
use vtep_dataplane::datapath::state::{State, Template};
use vtep_dataplane::datapath::tunnel::{encapsulate, Tunnel};
use vtep_dataplane::testing::{OUR_IP6, OUR_MAC, PEER_IP6, PEER_MAC};

fuzz_target!(|data: &[u8]| {
    static ST: OnceLock<[(State, Template); 2]> = OnceLock::new();
    // The peer's view: it sends to us (192.0.2.1 or 2001:db8:1::1).
    let both = ST.get_or_init(|| {
        [
            (
                vtep_dataplane::testing::sample_state(),
                vtep_dataplane::testing::peer_to_us(),
            ),
            (
                vtep_dataplane::testing::sample_state6(),
                Template::new6(
                    OUR_MAC,
                    PEER_MAC,
                    PEER_IP6,
                    OUR_IP6,
                    Tunnel::vxlan(4789),
                    64,
                    false,
                ),
            ),
        ]
    });
    for (st, t) in both {
        let mut b = VecBuf::new(data);
        let Ok(vni) = classify_access(&mut b, &st.access[0]) else {
            return;
        };
        let frame = b.data().to_vec();
        let mut tagged = b.clone();
        let _ = push_vlan(&mut tagged, 10);
        let v = st.vni(vni).unwrap().vni.get();
        if encapsulate(&mut b, t, v, 1500).is_err() {
            continue;
        }
        match classify_underlay(b.data(), st) {
            Ok(Underlay::Tunnel {
                inner_off,
                inner_len,
                ..
            }) => {
                assert_eq!(&b.data()[inner_off..inner_off + inner_len], &frame[..]);
            }
            // What encap writes always has a right checksum.
            Err(DropReason::UdpChecksum) => panic!("bad UDP checksum written"),
            // Frames the decap side refuses by rule (inner tags, bad sources).
            Err(_) => {}
            Ok(other) => panic!("{other:?}"),
        }
    }
});

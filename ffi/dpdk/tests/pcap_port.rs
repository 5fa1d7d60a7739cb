//! net_pcap reads a pcap file the test writes and writes one the test reads.
mod common;

use dpdk::{Burst, Mempool, Port, PortConfig};
use vtep_testsupport::{read_pcap, write_pcap};

#[test]
fn pcap_in_and_out() {
    let dir = std::env::temp_dir().join(format!("vtep-pcap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (inp, outp) = (dir.join("in.pcap"), dir.join("out.pcap"));
    let frames: Vec<Vec<u8>> = (0..20u8)
        .map(|i| {
            common::test_frame(
                [2, 0, 0, 0, 0, 3],
                [2, 0, 0, 0, 0, 4],
                i,
                64 + 10 * i as usize,
            )
        })
        .collect();
    write_pcap(&inp, &frames).unwrap();
    {
        let eal = common::eal(&[format!(
            "net_pcap0,rx_pcap={},tx_pcap={}",
            inp.display(),
            outp.display()
        )]);
        let pool = Mempool::new(&eal, "pcap", 1023, 32, 2176).unwrap();
        let mut port = Port::by_name(&eal, "net_pcap0").unwrap();
        let (mut rx, mut tx) = port.configure(&PortConfig::default(), &pool).unwrap();
        port.start().unwrap();
        let mut b = Burst::<32>::new();
        let mut total = 0;
        for _ in 0..100 {
            total += rx[0].rx(&mut b);
            if total == frames.len() {
                break;
            }
        }
        assert_eq!(total, frames.len());
        assert_eq!(b.get(3).unwrap().data(), &frames[3][..]);
        assert_eq!(tx[0].tx(&mut b), (frames.len(), 0));
        // Dropping the port closes it, which flushes the pcap writer.
    }
    let got = read_pcap(&outp).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(got, frames);
}

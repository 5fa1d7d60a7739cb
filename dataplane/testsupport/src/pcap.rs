//! pcap files in and out (what net_pcap ports read and write).

use std::fs::File;
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapPacket, PcapReader, PcapWriter};

/// Writes `frames` to a pcap file at `path`.
pub fn write_pcap(path: &Path, frames: &[Vec<u8>]) -> std::io::Result<()> {
    let err = |e: pcap_file::PcapError| std::io::Error::other(e.to_string());
    let mut w = PcapWriter::new(File::create(path)?).map_err(err)?;
    for f in frames {
        w.write_packet(&PcapPacket::new(Duration::ZERO, f.len() as u32, f))
            .map_err(err)?;
    }
    Ok(())
}

/// The frames of the pcap file at `path`.
pub fn read_pcap(path: &Path) -> std::io::Result<Vec<Vec<u8>>> {
    let err = |e: pcap_file::PcapError| std::io::Error::other(e.to_string());
    let mut r = PcapReader::new(File::open(path)?).map_err(err)?;
    let mut v = Vec::new();
    while let Some(p) = r.next_packet() {
        v.push(p.map_err(err)?.data.into_owned());
    }
    Ok(v)
}

/// The whole records of a pcap file that is still being written (by
/// `tcpdump -U`): a record cut short by the writer ends the list, and
/// comes with the next read.
pub fn read_pcap_so_far(path: &Path) -> Vec<Vec<u8>> {
    let Ok(f) = File::open(path) else {
        return Vec::new();
    };
    let Ok(mut r) = PcapReader::new(f) else {
        return Vec::new();
    };
    let mut v = Vec::new();
    while let Some(Ok(p)) = r.next_packet() {
        v.push(p.data.into_owned());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_come_back_as_written() {
        let dir = std::env::temp_dir().join(format!("vtep-pcap-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.pcap");
        let frames = vec![vec![1u8; 60], vec![2u8; 1514]];
        write_pcap(&p, &frames).unwrap();
        assert_eq!(read_pcap(&p).unwrap(), frames);
        // Cut inside the second record: the first comes back alone.
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() - 100]).unwrap();
        assert_eq!(read_pcap_so_far(&p), frames[..1]);
        assert!(read_pcap_so_far(&dir.join("absent.pcap")).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

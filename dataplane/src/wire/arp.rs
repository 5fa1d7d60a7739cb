//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! ```text
//! | HTYPE=1 | PTYPE=0800 | HLEN=6 | PLEN=4 | OPER |
//! | SHA (6) | SPA (4) | THA (6) | TPA (4) |
//! ```

use std::net::Ipv4Addr;

use super::bytes::{be16, ipv4_at, mac_at, put16};
use super::ethernet::{EthernetFrame, ETHERTYPE_ARP, HEADER_LEN as ETH_LEN};

pub const LEN: usize = 28;
pub const REQUEST: u16 = 1;
pub const REPLY: u16 = 2;

mod field {
    use std::ops::Range;
    /// HTYPE, PTYPE, HLEN, PLEN for Ethernet/IPv4.
    pub const FIXED: Range<usize> = 0..6;
    pub const OPER: usize = 6;
    pub const SHA: usize = 8;
    pub const SPA: usize = 14;
    pub const THA: usize = 18;
    pub const TPA: usize = 24;
}

const ETH_IPV4: [u8; 6] = [0, 1, 8, 0, 6, 4];

/// An Ethernet/IPv4 ARP request or reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arp {
    pub oper: u16,
    pub sha: [u8; 6],
    pub spa: Ipv4Addr,
    pub tha: [u8; 6],
    pub tpa: Ipv4Addr,
}

impl Arp {
    /// Parses an ARP body; None unless it is Ethernet/IPv4 and a request or
    /// a reply.
    pub fn parse(b: &[u8]) -> Option<Arp> {
        if b.len() < LEN || b[field::FIXED] != ETH_IPV4 {
            return None;
        }
        let oper = be16(b, field::OPER);
        if oper != REQUEST && oper != REPLY {
            return None;
        }
        Some(Arp {
            oper,
            sha: mac_at(b, field::SHA),
            spa: ipv4_at(b, field::SPA),
            tha: mac_at(b, field::THA),
            tpa: ipv4_at(b, field::TPA),
        })
    }

    /// Parses the ARP body of an Ethernet frame.
    pub fn from_frame(f: &[u8]) -> Option<Arp> {
        let e = EthernetFrame::new_checked(f)?;
        (e.ethertype() == ETHERTYPE_ARP)
            .then(|| Arp::parse(e.payload()))
            .flatten()
    }

    /// Writes the 28-byte body.
    pub fn emit(&self, out: &mut [u8]) {
        out[field::FIXED].copy_from_slice(&ETH_IPV4);
        put16(out, field::OPER, self.oper);
        out[field::SHA..field::SHA + 6].copy_from_slice(&self.sha);
        out[field::SPA..field::SPA + 4].copy_from_slice(&self.spa.octets());
        out[field::THA..field::THA + 6].copy_from_slice(&self.tha);
        out[field::TPA..field::TPA + 4].copy_from_slice(&self.tpa.octets());
    }

    /// The reply `mac` gives to this request.
    pub fn reply(&self, mac: [u8; 6]) -> Arp {
        Arp {
            oper: REPLY,
            sha: mac,
            spa: self.tpa,
            tha: self.sha,
            tpa: self.spa,
        }
    }

    /// A whole frame carrying this ARP packet (padded to 60 bytes).
    pub fn frame(&self, dst: [u8; 6], src: [u8; 6]) -> Vec<u8> {
        let mut f = vec![0u8; 60];
        let mut e = EthernetFrame::new_checked(&mut f[..]).expect("60 bytes");
        e.set_dst(dst);
        e.set_src(src);
        e.set_ethertype(ETHERTYPE_ARP);
        self.emit(&mut f[ETH_LEN..]);
        f
    }
}

/// Turns an ARP request frame (Ethernet + ARP) in place into the reply
/// `mac` gives for the requested address.
pub fn reply_in_place(f: &mut [u8], req: &Arp, mac: [u8; 6]) {
    if let Some(mut e) = EthernetFrame::new_checked(&mut *f) {
        e.reverse(mac);
    }
    if f.len() >= ETH_LEN + LEN {
        req.reply(mac).emit(&mut f[ETH_LEN..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_reply() {
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let req = Arp {
            oper: REQUEST,
            sha: [2, 0, 0, 0, 0, 1],
            spa: a,
            tha: [0; 6],
            tpa: b,
        };
        let f = req.frame([0xff; 6], [2, 0, 0, 0, 0, 1]);
        assert_eq!(Arp::from_frame(&f), Some(req));
        let mut rep = f.clone();
        reply_in_place(&mut rep, &req, [2, 0, 0, 0, 0, 2]);
        let r = Arp::from_frame(&rep).unwrap();
        assert_eq!(r.oper, REPLY);
        assert_eq!(
            (r.spa, r.sha, r.tpa, r.tha),
            (b, [2, 0, 0, 0, 0, 2], a, [2, 0, 0, 0, 0, 1])
        );
        assert_eq!(&rep[0..6], &[2, 0, 0, 0, 0, 1]);
        let mut bad = f.clone();
        bad[ETH_LEN + 4] = 8; // hardware length
        assert!(Arp::from_frame(&bad).is_none());
        let mut bad = f;
        put16(&mut bad[ETH_LEN..], field::OPER, 9);
        assert!(Arp::from_frame(&bad).is_none());
        assert!(Arp::parse(&[0u8; 27]).is_none());
    }
}

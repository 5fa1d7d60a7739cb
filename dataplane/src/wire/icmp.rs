//! ICMP echo (RFC 792): the VTEP answers pings to its underlay address.
//!
//! ```text
//! |     Type      |     Code      |          Checksum             |
//! |           Identifier          |        Sequence Number        |
//! ```

use super::bytes::put16;
use super::checksum::checksum;

pub const HEADER_LEN: usize = 8;
pub const ECHO_REQUEST: u8 = 8;
pub const ECHO_REPLY: u8 = 0;

mod field {
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CSUM: usize = 2;
}

/// A view of an ICMP echo message.
#[derive(Debug, Clone, Copy)]
pub struct IcmpEcho<T> {
    buf: T,
}

impl<T: AsRef<[u8]>> IcmpEcho<T> {
    /// The view, if `buf` is an echo request with its whole header.
    #[inline(always)]
    pub fn new_request(buf: T) -> Option<Self> {
        let b = buf.as_ref();
        (b.len() >= HEADER_LEN && b[field::TYPE] == ECHO_REQUEST && b[field::CODE] == 0)
            .then_some(IcmpEcho { buf })
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> IcmpEcho<T> {
    /// Turns the request into its reply (same identifier, sequence and
    /// data) and fills the checksum.
    pub fn make_reply(&mut self) {
        let b = self.buf.as_mut();
        b[field::TYPE] = ECHO_REPLY;
        put16(b, field::CSUM, 0);
        let c = checksum(b);
        put16(b, field::CSUM, c);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_becomes_reply() {
        let mut b = [8, 0, 0, 0, 0, 7, 0, 1, b'h', b'i'];
        let c = checksum(&b);
        put16(&mut b, field::CSUM, c);
        IcmpEcho::new_request(&mut b[..]).unwrap().make_reply();
        assert_eq!(b[0], ECHO_REPLY);
        assert_eq!(checksum(&b), 0);
        assert!(
            IcmpEcho::new_request(&b[..]).is_none(),
            "a reply is not a request"
        );
        assert!(IcmpEcho::new_request(&[8u8, 0, 0][..]).is_none());
    }
}

//! A blocking rtnetlink request socket: one request and its answer, or a
//! batch of requests sent together and acknowledged one by one. Both the
//! EVPN mirror and the exception path's set-up speak to the kernel through
//! it, without `ip` or `bridge` processes.

use std::fs::File;
use std::os::fd::AsFd;

use netlink_packet_core::NLM_F_REQUEST;
use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_DUMP};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// Requests sent in one datagram; the kernel handles them in order and
/// queues an acknowledgement for each, far fewer than the socket holds.
const BATCH: usize = 64;

/// One request of a batch: what it does (for errors), its flags, the
/// message, and an error number that means it is already done.
#[derive(Debug, Clone)]
pub struct Req {
    pub what: String,
    pub flags: u16,
    pub msg: RouteNetlinkMessage,
    pub done_if: Option<i32>,
}

pub const EEXIST: i32 = 17;
pub const ENOENT: i32 = 2;
pub const ENODEV: i32 = 19;
pub const EADDRNOTAVAIL: i32 = 99;

pub struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

pub fn os(what: &str, e: std::io::Error) -> String {
    format!("netlink {what}: {e}")
}

/// Enters network namespace `netns` (this thread only); the error says
/// how to create it.
pub fn enter(netns: &str) -> Result<(), String> {
    let path = format!("/var/run/netns/{netns}");
    let f = File::open(&path).map_err(|e| {
        format!(
            "evpn.netns {netns:?}: cannot open {path}: {e} (create it with `ip netns add {netns}`)"
        )
    })?;
    nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("evpn.netns {netns:?}: cannot enter it: {e}"))
}

impl Rtnl {
    /// A socket in the calling thread's network namespace (a socket stays
    /// in the namespace it was made in).
    pub fn open() -> Result<Rtnl, String> {
        let mut sock = Socket::new(NETLINK_ROUTE).map_err(|e| os("socket", e))?;
        sock.bind_auto().map_err(|e| os("bind", e))?;
        sock.connect(&SocketAddr::new(0, 0))
            .map_err(|e| os("connect", e))?;
        // Dumps of thousands of links arrive in many datagrams; acks of a
        // batch are small.
        sock.set_rx_buf_sz(4 << 20)
            .map_err(|e| os("receive buffer", e))?;
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    /// A socket in namespace `netns`, made on a short-lived thread so
    /// that the caller's namespace does not change.
    pub fn open_in(netns: &str) -> Result<Rtnl, String> {
        let ns = netns.to_string();
        std::thread::scope(|s| {
            s.spawn(move || enter(&ns).and_then(|_| Rtnl::open()))
                .join()
                .map_err(|_| "netlink: the namespace thread panicked".to_string())?
        })
    }

    fn encode(&mut self, flags: u16, body: RouteNetlinkMessage, out: &mut Vec<u8>) -> u32 {
        self.seq = self.seq.wrapping_add(1);
        let mut h = NetlinkHeader::default();
        h.flags = flags;
        h.sequence_number = self.seq;
        let mut msg = NetlinkMessage::new(h, NetlinkPayload::InnerMessage(body));
        msg.finalize();
        let at = out.len();
        out.resize(at + msg.buffer_len(), 0);
        msg.serialize(&mut out[at..]);
        self.seq
    }

    /// Sends one request and reads its answer: every message of a dump,
    /// or what the kernel answers and its acknowledgement (always asked
    /// for, so that the answer has an end).
    pub fn request(
        &mut self,
        flags: u16,
        body: RouteNetlinkMessage,
    ) -> Result<Vec<RouteNetlinkMessage>, String> {
        let flags = if flags & NLM_F_DUMP == NLM_F_DUMP {
            flags
        } else {
            flags | NLM_F_ACK
        };
        let mut out = Vec::new();
        let seq = self.encode(flags, body, &mut out);
        self.sock.send(&out, 0).map_err(|e| os("send", e))?;
        let mut got = Vec::new();
        loop {
            self.buf.clear();
            self.sock
                .recv(&mut self.buf, 0)
                .map_err(|e| os("receive", e))?;
            for m in frames(&self.buf) {
                let m = m.map_err(|e| format!("netlink: undecodable answer: {e}"))?;
                if m.header.sequence_number != seq {
                    continue;
                }
                match m.payload {
                    NetlinkPayload::Done(_) => return Ok(got),
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(got),
                            Some(c) => Err(refused(-c.get())),
                        }
                    }
                    NetlinkPayload::InnerMessage(i) => got.push(i),
                    _ => {}
                }
            }
        }
    }

    /// Device `name` as the kernel describes it, if it exists.
    pub fn link(&mut self, name: &str) -> Result<Option<LinkMessage>, String> {
        let mut l = LinkMessage::default();
        l.attributes.push(LinkAttribute::IfName(name.to_string()));
        match self.request(NLM_F_REQUEST, RouteNetlinkMessage::GetLink(l)) {
            Ok(got) => Ok(got.into_iter().find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(l),
                _ => None,
            })),
            Err(e) if no_such_device(&e) => Ok(None),
            Err(e) => Err(format!("looking up {name}: {e}")),
        }
    }

    /// Sends `reqs` in order, [`BATCH`] to a datagram, each acknowledged;
    /// the errors, each naming its request (a request's `done_if` error
    /// is none). The kernel goes on after a failed request.
    pub fn batch(&mut self, reqs: Vec<Req>) -> Vec<String> {
        let mut errors = Vec::new();
        let mut it = reqs.into_iter().peekable();
        while it.peek().is_some() {
            let mut out = Vec::new();
            let mut pending: Vec<(u32, String, Option<i32>)> = Vec::with_capacity(BATCH);
            for r in it.by_ref().take(BATCH) {
                let seq = self.encode(r.flags | NLM_F_ACK, r.msg, &mut out);
                pending.push((seq, r.what, r.done_if));
            }
            if let Err(e) = self.sock.send(&out, 0) {
                errors.push(os("send", e));
                return errors;
            }
            let (first, last) = (pending[0].0, pending[pending.len() - 1].0);
            let mut left = pending.len();
            while left > 0 {
                self.buf.clear();
                if let Err(e) = self.sock.recv(&mut self.buf, 0) {
                    errors.push(os("receive", e));
                    return errors;
                }
                for m in frames(&self.buf).map_while(Result::ok) {
                    let seq = m.header.sequence_number;
                    if seq.wrapping_sub(first) > last.wrapping_sub(first) {
                        continue;
                    }
                    let NetlinkPayload::Error(e) = m.payload else {
                        continue;
                    };
                    left -= 1;
                    let Some(c) = e.code else { continue };
                    let (_, what, done_if) = &pending[seq.wrapping_sub(first) as usize];
                    if *done_if != Some(-c.get()) {
                        errors.push(format!("{what}: {}", refused(-c.get())));
                    }
                }
            }
        }
        errors
    }
}

/// True for an error that says the device does not exist.
pub fn no_such_device(e: &str) -> bool {
    let msg = |n| std::io::Error::from_raw_os_error(n).to_string();
    e.contains(&msg(ENODEV)) || e.contains(&msg(ENOENT))
}

fn refused(errno: i32) -> String {
    format!(
        "the kernel refused it: {}",
        std::io::Error::from_raw_os_error(errno)
    )
}

/// The netlink messages in a datagram, in order; an undecodable one is
/// the last item.
pub fn frames(
    buf: &[u8],
) -> impl Iterator<Item = Result<NetlinkMessage<RouteNetlinkMessage>, String>> + '_ {
    let mut off = 0;
    std::iter::from_fn(move || {
        if off >= buf.len() {
            return None;
        }
        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(&buf[off..]) {
            Ok(m) if m.header.length > 0 => {
                off += (m.header.length as usize + 3) & !3;
                Some(Ok(m))
            }
            Ok(_) => None,
            Err(e) => {
                off = buf.len();
                Some(Err(e.to_string()))
            }
        }
    })
}

/// The route messages in a datagram (up to an undecodable one).
pub fn messages(buf: &[u8]) -> Vec<RouteNetlinkMessage> {
    frames(buf)
        .map_while(Result::ok)
        .filter_map(|m| match m.payload {
            NetlinkPayload::InnerMessage(i) => Some(i),
            _ => None,
        })
        .collect()
}

//! The control socket: one JSON request per line, one JSON reply per line
//! (the types are in `vtep-api`). A thread accepts connections and passes
//! each request to the management thread (the only one that touches state)
//! over a bounded channel; the metrics endpoint and DPDK telemetry use the
//! same channel.

use std::io::{BufRead, BufReader, Read as _, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{bounded, Receiver, Sender};
use nix::poll::{poll, PollFd, PollFlags};
use vtep_api::{Reply, Request, Response};

/// A request and where its answer goes.
pub type Ask = (Request, Sender<Result<Response, String>>);

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;
/// Clients served at once; more are told to come back later.
const MAX_CLIENTS: usize = 32;
/// A client that sends nothing for this long is disconnected.
const CLIENT_IDLE: Duration = Duration::from_secs(10);
/// How often the idle accept thread looks whether vtepd is stopping, in
/// milliseconds; a client that connects is accepted at once.
const ACCEPT_WAKE: u16 = 100;

/// The channel every front end uses to ask the management thread.
pub fn channel() -> (Sender<Ask>, Receiver<Ask>) {
    bounded::<Ask>(64)
}

/// Asks the management thread and waits for its answer.
pub fn ask(tx: &Sender<Ask>, req: Request) -> Result<Response, String> {
    let (rtx, rrx) = bounded(1);
    if tx.send_timeout((req, rtx), Duration::from_secs(5)).is_err() {
        return Err("daemon busy: request not accepted".into());
    }
    rrx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| Err("daemon did not answer in time".into()))
}

/// Why the control socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    #[error("{0} is in use by a running vtepd")]
    InUse(String),
    #[error("{0} exists and is not a socket: refusing to replace it (fix [control] socket)")]
    NotASocket(String),
    #[error("{path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("group {0:?} does not exist (fix [control] group)")]
    NoGroup(String),
}

/// Checks that the socket can be bound at `path` for `group` without
/// binding it: vtepd does this before it starts any port, and binds once
/// the ports are up (the socket appearing means vtepd is ready). True if a
/// stale socket is there to be replaced.
pub fn check(path: &Path, group: Option<&str>) -> Result<bool, BindError> {
    let p = || path.display().to_string();
    let io = |err| BindError::Io { path: p(), err };
    if let Some(g) = group {
        if !matches!(nix::unistd::Group::from_name(g), Ok(Some(_))) {
            return Err(BindError::NoGroup(g.into()));
        }
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if !m.file_type().is_socket() => Err(BindError::NotASocket(p())),
        Ok(_) => match UnixStream::connect(path) {
            Ok(_) => Err(BindError::InUse(p())),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => Ok(true),
            Err(e) => Err(io(e)),
        },
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io(e)),
    }
}

/// Binds the socket, owner-only unless a group is given. Only a stale
/// socket that nobody answers is replaced; any other file at the path is an
/// error and is left alone.
pub fn bind(path: &Path, group: Option<&str>) -> Result<UnixListener, BindError> {
    let p = || path.display().to_string();
    let io = |err| BindError::Io { path: p(), err };
    if check(path, group)? {
        std::fs::remove_file(path).map_err(io)?;
    }
    let gid = match group {
        Some(g) => Some(
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| BindError::NoGroup(g.into()))?
                .gid,
        ),
        None => None,
    };
    let listener = UnixListener::bind(path).map_err(io)?;
    let mode = if gid.is_some() { 0o660 } else { 0o600 };
    let set = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(io)
        .and_then(|_| nix::unistd::chown(path, None, gid).map_err(|e| io(std::io::Error::from(e))));
    if let Err(e) = set {
        let _ = std::fs::remove_file(path);
        return Err(e);
    }
    Ok(listener)
}

/// Starts the accept thread on a bound socket; it removes the socket when
/// `running` turns false (join it before exiting).
pub fn serve(
    listener: UnixListener,
    path: &Path,
    tx: Sender<Ask>,
    running: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    listener.set_nonblocking(true)?;
    let path: PathBuf = path.into();
    let clients = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new()
        .name("vtep-control".into())
        .spawn(move || {
            while running.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((mut s, _)) => {
                        if clients.load(Ordering::Relaxed) >= MAX_CLIENTS {
                            let busy = Reply::error("too many control clients; try again");
                            let _ = writeln!(s, "{}", busy.to_line());
                            continue;
                        }
                        clients.fetch_add(1, Ordering::Relaxed);
                        let (tx, n) = (tx.clone(), clients.clone());
                        // One thread per client: a slow client blocks only itself.
                        let spawned = std::thread::Builder::new()
                            .name("vtep-client".into())
                            .spawn(move || {
                                client(s, &tx);
                                n.fetch_sub(1, Ordering::Relaxed);
                            });
                        if spawned.is_err() {
                            clients.fetch_sub(1, Ordering::Relaxed);
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        // Wait for the next client without a fixed delay:
                        // poll returns as one connects, and every
                        // ACCEPT_WAKE to see `running`.
                        let mut fds = [PollFd::new(listener.as_fd(), PollFlags::POLLIN)];
                        let _ = poll(&mut fds, ACCEPT_WAKE);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "control socket accept failed");
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            let _ = std::fs::remove_file(&path);
        })
}

fn client(s: UnixStream, tx: &Sender<Ask>) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(CLIENT_IDLE));
    let Ok(mut w) = s.try_clone() else { return };
    let mut r = BufReader::new(s).take(MAX_REQUEST as u64);
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if !line.ends_with('\n') && r.limit() == 0 {
            let _ = writeln!(
                w,
                "{}",
                Reply::error(format!("request longer than {MAX_REQUEST} bytes")).to_line()
            );
            return;
        }
        let reply = match Request::parse(&line) {
            Ok(req) => Reply::from_result(ask(tx, req)),
            Err(e) => Reply::error(e),
        };
        if writeln!(w, "{}", reply.to_line()).is_err() {
            return;
        }
        if r.limit() == 0 {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;
    use vtep_api::client::{call, CallError};
    use vtep_api::Flushed;

    fn answer_one(rx: Receiver<Ask>) -> std::thread::JoinHandle<()> {
        std::thread::spawn(move || {
            let (req, reply) = rx.recv().unwrap();
            assert_eq!(
                req,
                Request::FdbFlush {
                    vni: Some(5),
                    remote: None
                }
            );
            reply
                .send(Ok(Response::Flushed(Flushed { flushed: 5 })))
                .unwrap();
        })
    }

    #[test]
    fn socket_modes_groups_and_takeover() {
        let dir = tempfile::tempdir().unwrap();
        let running = Arc::new(AtomicBool::new(true));
        let (tx, rx) = channel();
        let owner = dir.path().join("a.sock");
        let l = bind(&owner, None).unwrap();
        serve(l, &owner, tx.clone(), running.clone()).unwrap();
        assert_eq!(std::fs::metadata(&owner).unwrap().mode() & 0o777, 0o600);
        let grp = dir.path().join("b.sock");
        drop(bind(&grp, Some("root")).unwrap());
        let m = std::fs::metadata(&grp).unwrap();
        assert_eq!((m.mode() & 0o777, m.gid()), (0o660, 0));
        assert!(matches!(
            bind(&dir.path().join("c.sock"), Some("no-such-group-vtep")),
            Err(BindError::NoGroup(_))
        ));
        assert!(
            !dir.path().join("c.sock").exists(),
            "nothing made for a bad group"
        );
        assert!(
            matches!(bind(&owner, None), Err(BindError::InUse(_))),
            "a live socket is kept"
        );
        // b.sock was bound and closed: stale, so it is replaced.
        drop(bind(&grp, None).unwrap());
        // A request reaches the management side and its answer comes back.
        let server = answer_one(rx);
        let n: Flushed = call(
            &owner,
            &Request::FdbFlush {
                vni: Some(5),
                remote: None,
            },
        )
        .unwrap();
        assert_eq!(n.flushed, 5);
        server.join().unwrap();
        running.store(false, Ordering::Relaxed);
    }

    #[test]
    fn a_regular_file_at_the_socket_path_is_never_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("vtep.toml");
        std::fs::write(&f, "precious").unwrap();
        let e = bind(&f, None).unwrap_err();
        assert!(matches!(e, BindError::NotASocket(_)), "{e}");
        assert!(e.to_string().contains("is not a socket"));
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "precious");
        std::fs::create_dir(dir.path().join("d")).unwrap();
        assert!(matches!(
            bind(&dir.path().join("d"), None),
            Err(BindError::NotASocket(_))
        ));
    }

    #[test]
    fn bad_and_oversized_requests_get_errors() {
        let dir = tempfile::tempdir().unwrap();
        let running = Arc::new(AtomicBool::new(true));
        let (tx, _rx) = channel();
        let p = dir.path().join("s.sock");
        serve(bind(&p, None).unwrap(), &p, tx, running.clone()).unwrap();
        let mut s = UnixStream::connect(&p).unwrap();
        writeln!(s, "{{\"cmd\":\"nope\"}}").unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let reply: Reply = serde_json::from_str(&line).unwrap();
        assert!(!reply.ok && reply.error.unwrap().contains("unknown variant"));
        s.write_all(&vec![b'x'; MAX_REQUEST + 10]).unwrap();
        line.clear();
        r.read_line(&mut line).unwrap();
        assert!(line.contains("request longer than"), "{line}");
        assert!(matches!(
            call::<Flushed>(&dir.path().join("none.sock"), &Request::Status),
            Err(CallError::Unreachable(_))
        ));
        running.store(false, Ordering::Relaxed);
    }
}

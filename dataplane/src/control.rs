//! The control socket: one JSON request per line, one JSON reply per line.
//! A thread accepts connections and passes each request to the management
//! thread (the only one that touches state) over a bounded channel.

use std::io::{BufRead, BufReader, Read as _, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam::channel::{bounded, Receiver, Sender};
use serde_json::{json, Value};

/// A request and where its reply goes.
pub type Request = (Value, Sender<Value>);

/// Longest request line accepted.
const MAX_REQUEST: usize = 64 * 1024;

/// The channel every front end (control socket, metrics, telemetry) uses
/// to ask the management thread.
pub fn channel() -> (Sender<Request>, Receiver<Request>) {
    bounded::<Request>(64)
}

/// Asks the management thread and waits for its answer.
pub fn ask(tx: &Sender<Request>, req: Value) -> Value {
    let (rtx, rrx) = bounded(1);
    if tx.send_timeout((req, rtx), Duration::from_secs(5)).is_err() {
        return json!({"ok": false, "error": "daemon busy: request not accepted"});
    }
    rrx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| json!({"ok": false, "error": "daemon did not answer in time"}))
}

/// Binds the socket (replacing a stale one), owner-only unless a group is
/// given, and starts the accept thread; it removes the socket when `running`
/// turns false (join it before exiting).
pub fn start(
    path: &Path,
    group: Option<&str>,
    tx: Sender<Request>,
    running: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("{} is in use by a running vtepd", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    let mode = if group.is_some() { 0o660 } else { 0o600 };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    if let Some(g) = group {
        let st = std::process::Command::new("chgrp")
            .arg(g)
            .arg(path)
            .status()?;
        if !st.success() {
            return Err(std::io::Error::other(format!(
                "chgrp {g} {} failed",
                path.display()
            )));
        }
    }
    listener.set_nonblocking(true)?;
    let path: PathBuf = path.into();
    std::thread::Builder::new()
        .name("vtep-control".into())
        .spawn(move || {
            while running.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let tx = tx.clone();
                        // One thread per client: a slow client blocks only itself.
                        let _ = std::thread::Builder::new()
                            .name("vtep-client".into())
                            .spawn(move || serve(s, tx));
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20));
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

fn serve(s: UnixStream, tx: Sender<Request>) {
    let _ = s.set_nonblocking(false);
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let Ok(w) = s.try_clone() else { return };
    let mut w = w;
    let mut r = BufReader::new(s).take(MAX_REQUEST as u64);
    let mut line = String::new();
    loop {
        line.clear();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let reply = match serde_json::from_str::<Value>(line.trim()) {
            Ok(req) if req.is_object() => ask(&tx, req),
            Ok(_) => json!({"ok": false, "error": "request must be a JSON object"}),
            Err(e) => json!({"ok": false, "error": format!("malformed request: {e}")}),
        };
        if writeln!(w, "{reply}").is_err() {
            return;
        }
        if r.limit() == 0 {
            return;
        }
    }
}

/// Client side: sends one request, returns the reply.
pub fn call(path: &Path, req: &Value) -> Result<Value, String> {
    let mut s = UnixStream::connect(path).map_err(|e| {
        format!(
            "cannot connect to {} ({e}): is vtepd running?",
            path.display()
        )
    })?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok();
    writeln!(s, "{req}").map_err(|e| format!("send failed: {e}"))?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .map_err(|e| format!("no reply: {e}"))?;
    serde_json::from_str(&line).map_err(|e| format!("bad reply: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn socket_modes_and_groups() {
        let dir = std::env::temp_dir().join(format!("vtep-ctl-{}", std::process::id()));
        let running = Arc::new(AtomicBool::new(true));
        let (tx, rx) = channel();
        let owner = dir.join("a.sock");
        start(&owner, None, tx.clone(), running.clone()).unwrap();
        assert_eq!(std::fs::metadata(&owner).unwrap().mode() & 0o777, 0o600);
        let grp = dir.join("b.sock");
        start(&grp, Some("root"), tx.clone(), running.clone()).unwrap();
        let m = std::fs::metadata(&grp).unwrap();
        assert_eq!((m.mode() & 0o777, m.gid()), (0o660, 0));
        assert!(start(
            &dir.join("c.sock"),
            Some("no-such-group-vtep"),
            tx.clone(),
            running.clone()
        )
        .is_err());
        assert!(
            start(&owner, None, tx, running.clone()).is_err(),
            "a live socket is not taken over"
        );
        // A request reaches the receiving side and its answer comes back.
        let server = std::thread::spawn(move || {
            let (req, reply): Request = rx.recv().unwrap();
            reply.send(json!({"ok": true, "data": req["cmd"]})).unwrap();
        });
        assert_eq!(
            call(&owner, &json!({"cmd": "ping"})).unwrap()["data"],
            "ping"
        );
        server.join().unwrap();
        running.store(false, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(100));
        let _ = std::fs::remove_dir_all(&dir);
    }
}

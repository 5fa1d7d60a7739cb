//! The client side of the control socket.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::{Reply, Request};

/// Why a request got no answer or was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    /// No daemon answered on the socket.
    #[error("{0}")]
    Unreachable(String),
    /// The daemon answered with an error.
    #[error("{0}")]
    Refused(String),
    /// The daemon's answer could not be understood.
    #[error("{0}")]
    Protocol(String),
}

/// Sends one request and returns the reply's `data` as `T`.
pub fn call<T: DeserializeOwned>(socket: &Path, req: &Request) -> Result<T, CallError> {
    let reply = exchange(socket, req)?;
    if !reply.ok {
        return Err(CallError::Refused(
            reply.error.unwrap_or_else(|| "request refused".into()),
        ));
    }
    serde_json::from_value(reply.data.unwrap_or(serde_json::Value::Null))
        .map_err(|e| CallError::Protocol(format!("unexpected answer to {}: {e}", req.name())))
}

/// Sends one request and returns the whole reply.
pub fn exchange(socket: &Path, req: &Request) -> Result<Reply, CallError> {
    let mut s = UnixStream::connect(socket).map_err(|e| {
        CallError::Unreachable(format!(
            "cannot connect to {} ({e}): is vtepd running?",
            socket.display()
        ))
    })?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok();
    let line = serde_json::to_string(req).map_err(|e| CallError::Protocol(e.to_string()))?;
    writeln!(s, "{line}")
        .map_err(|e| CallError::Unreachable(format!("send to {} failed: {e}", socket.display())))?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .map_err(|e| CallError::Unreachable(format!("no reply from vtepd: {e}")))?;
    if answer.is_empty() {
        return Err(CallError::Unreachable(
            "vtepd closed the connection without a reply".into(),
        ));
    }
    serde_json::from_str(&answer).map_err(|e| CallError::Protocol(format!("bad reply: {e}")))
}

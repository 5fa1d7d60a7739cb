//! DPDK's log lines handed to a Rust function instead of stderr, so that
//! they share the daemon's log format (text or JSON).

use std::os::raw::{c_char, c_void};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// Receives each DPDK log message: its level (1 emergency .. 8 debug, as
/// `RTE_LOG_*`) and its text without the trailing newline.
pub type LogSink = fn(level: u32, msg: &str);

static SINK: OnceLock<LogSink> = OnceLock::new();

unsafe extern "C" fn write_cookie(
    _cookie: *mut c_void,
    buf: *const c_char,
    size: usize,
) -> std::os::raw::c_long {
    if buf.is_null() {
        return 0;
    }
    // SAFETY: stdio hands us `size` readable bytes at `buf`.
    let bytes = unsafe { std::slice::from_raw_parts(buf as *const u8, size) };
    if let Some(sink) = SINK.get() {
        // SAFETY: called by rte_log on the logging thread, inside a message.
        let level = unsafe { dpdk_sys::rte_log_cur_msg_loglevel() }.max(0) as u32;
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            sink(level, line.trim_end());
        }
    }
    size as std::os::raw::c_long
}

/// Sends DPDK's log to `sink` from now on (call before `Eal::init` to
/// catch EAL's own lines). Once per process.
pub fn redirect(sink: LogSink) -> Result<()> {
    if SINK.set(sink).is_err() {
        return Err(Error::BadArgument(
            "the DPDK log is already redirected".into(),
        ));
    }
    // SAFETY: write_cookie is sound for any cookie; the FILE lives for the
    // rest of the process.
    let f = unsafe { dpdk_sys::vtep_log_stream(Some(write_cookie)) };
    if f.is_null() {
        return Err(Error::BadArgument("fopencookie failed".into()));
    }
    // SAFETY: f is a valid FILE opened for writing; DPDK flushes it after
    // each message, so each message reaches write_cookie whole.
    let rc = unsafe { dpdk_sys::rte_openlog_stream(f) };
    if rc != 0 {
        return Err(Error::BadArgument("rte_openlog_stream failed".into()));
    }
    Ok(())
}

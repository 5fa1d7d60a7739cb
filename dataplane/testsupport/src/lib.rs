//! What vtep's tests share, so that no test writes it again:
//! - [`daemon`]: a vtepd started on a config in a directory of its own,
//!   ready once its control socket answers, with `vtepctl` at hand, and
//!   killed with its files removed on drop;
//! - [`pcap`]: pcap files in and out;
//! - [`eal`]: configs for vtepd on net_pcap ports;
//! - [`sh`], [`must`], [`Reaper`]: commands and child processes;
//! - [`doc_table`]: a table in the docs held to the code that writes it;
//! - [`wait_for`], [`wait_some`]: readiness by polling for the condition,
//!   never by sleeping for it.
#![forbid(unsafe_code)]

pub mod daemon;
pub mod dpdk_files;
pub mod eal;
pub mod pcap;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

pub use daemon::Daemon;
pub use pcap::{read_pcap, read_pcap_so_far, write_pcap};

/// Runs `sh -c cmd`; returns (success, stdout + stderr).
pub fn sh(cmd: &str) -> (bool, String) {
    match Command::new("sh").arg("-c").arg(cmd).output() {
        Ok(o) => {
            let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
            s.push_str(&String::from_utf8_lossy(&o.stderr));
            (o.status.success(), s)
        }
        Err(e) => (false, e.to_string()),
    }
}

/// Runs `cmd` and panics with its output if it fails.
pub fn must(cmd: &str) -> String {
    let (ok, out) = sh(cmd);
    assert!(ok, "command failed: {cmd}\n{out}");
    out
}

/// Polls `f` every 50 ms until it holds (true) or `secs` pass (false).
pub fn wait_for(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    wait_until(secs, || f().then_some(())).is_some()
}

/// Polls `f` every 50 ms until it gives a value, which it returns; panics
/// naming `what` after `secs`.
pub fn wait_some<T>(what: &str, secs: u64, f: impl FnMut() -> Option<T>) -> T {
    wait_until(secs, f).unwrap_or_else(|| panic!("{what}: not within {secs} s"))
}

fn wait_until<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process, killed and reaped on drop.
pub struct Reaper(pub Child);

impl Reaper {
    /// SIGTERM, then wait; true if it exited 0.
    pub fn stop(&mut self) -> bool {
        let _ = sh(&format!("kill -TERM {}", self.0.id()));
        self.0.wait().map(|s| s.success()).unwrap_or(false)
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Holds a generated table in a document: the table that starts at the
/// line beginning with `head` and runs to the next blank line must be
/// `table`. With `VTEP_BLESS` set in the environment it rewrites the
/// document instead.
pub fn doc_table(path: &std::path::Path, head: &str, table: &str) {
    let doc = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let at = doc
        .find(&format!("\n{head}"))
        .unwrap_or_else(|| panic!("{} has no table headed {head:?}", path.display()))
        + 1;
    let end = doc[at..].find("\n\n").map_or(doc.len(), |e| at + e + 1);
    let want = format!("{}{table}{}", &doc[..at], &doc[end..]);
    if std::env::var_os("VTEP_BLESS").is_some() {
        std::fs::write(path, &want).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        return;
    }
    assert!(
        doc == want,
        "{} differs from the code's table headed {head:?}; \
         run the test with VTEP_BLESS=1 to rewrite it",
        path.display()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_end_when_the_condition_holds_or_time_runs_out() {
        let mut n = 0;
        assert!(wait_for(5, || {
            n += 1;
            n == 3
        }));
        assert_eq!(n, 3);
        assert!(!wait_for(0, || false));
        assert_eq!(wait_some("a value", 5, || Some(7)), 7);
    }

    #[test]
    fn sh_reports_status_and_output() {
        assert_eq!(sh("echo hi"), (true, "hi\n".into()));
        assert!(!sh("exit 3").0);
    }
}

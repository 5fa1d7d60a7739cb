//! A vtepd under test: started on a config in a directory of its own,
//! ready once its control socket answers, killed on drop with its
//! directory and DPDK runtime directory removed.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::{wait_for, Reaper};

pub struct Daemon {
    pub dir: PathBuf,
    /// The EAL `--file-prefix` of its config: /var/run/dpdk/PREFIX goes
    /// on drop.
    prefix: String,
    vtepctl: PathBuf,
    child: Option<Reaper>,
}

impl Daemon {
    /// The directory for `tag` in this process, created (what is already
    /// in it stays: a test writes its pcap files there first).
    pub fn dir_for(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(Daemon::prefix_for(tag));
        std::fs::create_dir_all(&d).expect("daemon dir");
        d
    }

    /// The EAL file prefix a config for `tag` should use (the name of
    /// [`Daemon::dir_for`]).
    pub fn prefix_for(tag: &str) -> String {
        format!("vtep-{tag}-{}", std::process::id())
    }

    /// Writes `config` to DIR/vtep.toml, has `vtepd --check` accept it,
    /// starts `vtepd` on it (JSON logs in DIR/vtepd.log) and waits until
    /// its control socket, which the config must put at DIR/vtep.sock,
    /// answers. `prefix` is the config's EAL file prefix. The `vtepctl`
    /// used is the one beside `vtepd`.
    pub fn start(vtepd: &Path, dir: &Path, prefix: &str, config: &str) -> Daemon {
        let conf = dir.join("vtep.toml");
        std::fs::write(&conf, config).expect("write config");
        let check = Command::new(vtepd)
            .args(["--check", "--config"])
            .arg(&conf)
            .output()
            .expect("vtepd --check");
        assert!(
            check.status.success(),
            "vtepd --check refused the config: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(vtepd)
            .arg("--config")
            .arg(&conf)
            .args(["--log-format", "json"])
            .stderr(std::fs::File::create(dir.join("vtepd.log")).expect("log"))
            .spawn()
            .expect("start vtepd");
        let mut d = Daemon {
            dir: dir.to_path_buf(),
            prefix: prefix.to_string(),
            vtepctl: vtepd.with_file_name("vtepctl"),
            child: Some(Reaper(child)),
        };
        let up = wait_for(30, || {
            let exited = d
                .child
                .as_mut()
                .is_some_and(|c| !matches!(c.0.try_wait(), Ok(None)));
            exited || d.answers()
        });
        assert!(up && d.answers(), "vtepd did not start:\n{}", d.log());
        d
    }

    /// Whether the control socket answers `status` (not with an error).
    pub fn answers(&self) -> bool {
        let v = self.ctl(&["status"]);
        v.is_object() && v.get("error").is_none()
    }

    pub fn socket(&self) -> PathBuf {
        self.dir.join("vtep.sock")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("vtepd.log")).unwrap_or_default()
    }

    /// `vtepctl --json ARGS`: its answer (an object with `error` when
    /// vtepd refused or could not be reached), or Null if vtepctl gave
    /// no JSON.
    pub fn ctl(&self, args: &[&str]) -> Value {
        Command::new(&self.vtepctl)
            .arg("--socket")
            .arg(self.socket())
            .arg("--json")
            .args(args)
            .output()
            .ok()
            .and_then(|o| serde_json::from_slice(&o.stdout).ok())
            .unwrap_or(Value::Null)
    }

    /// The stats once vtepd has received `total` packets; panics with the
    /// log after `secs`.
    pub fn wait_rx(&self, total: u64, secs: u64) -> Value {
        self.wait_stats(secs, &format!("{total} packets received"), |s| {
            s["accounting"]["rx_packets"].as_u64() == Some(total)
        })
    }

    /// The stats once workers and ports have seen `n` frames (received,
    /// or refused by the port).
    pub fn wait_frames(&self, n: u64, secs: u64) -> Value {
        self.wait_stats(secs, &format!("{n} frames seen"), |s| {
            let rx = s["accounting"]["rx_packets"].as_u64().unwrap_or(0);
            let port_err: u64 = s["ports"]
                .as_array()
                .map(|a| a.iter().map(|p| p["rx_errors"].as_u64().unwrap_or(0)).sum())
                .unwrap_or(0);
            rx + port_err == n
        })
    }

    /// The stats once `done` holds of them; panics naming `what`, with the
    /// last stats and the log, after `secs`.
    pub fn wait_stats(&self, secs: u64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut last = Value::Null;
        let ok = wait_for(secs, || {
            last = self.ctl(&["stats"]);
            done(&last)
        });
        assert!(
            ok,
            "vtepd: not {what} within {secs} s: {last}\n{}",
            self.log()
        );
        last
    }

    /// SIGTERM and wait; true if vtepd exited 0.
    pub fn stop(&mut self) -> bool {
        self.child.take().map(|mut c| c.stop()).unwrap_or(false)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        drop(self.child.take());
        let _ = std::fs::remove_dir_all(&self.dir);
        crate::dpdk_files::remove_dpdk_files(&self.prefix);
    }
}

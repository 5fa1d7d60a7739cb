//! An Open vSwitch of its own in a network namespace, on its userspace
//! datapath (`datapath_type=netdev`): a Geneve and GRE peer that needs no
//! kernel module. Its database, sockets, pid and log files live in one
//! directory; dropping it stops both daemons.

use std::path::{Path, PathBuf};

use vtep_testsupport::{must, sh, wait_for};

pub struct Ovs {
    ns: String,
    dir: PathBuf,
}

impl Ovs {
    /// Starts ovsdb-server and ovs-vswitchd in namespace `ns`, with their
    /// files in `dir` (created); returns once ovs-vswitchd answers.
    pub fn start(ns: &str, dir: &Path) -> Ovs {
        std::fs::create_dir_all(dir).expect("the OVS directory");
        let o = Ovs {
            ns: ns.to_string(),
            dir: dir.to_path_buf(),
        };
        let d = dir.display();
        must(&format!(
            "ovsdb-tool create {d}/conf.db /usr/share/openvswitch/vswitch.ovsschema"
        ));
        o.run(&format!(
            "ovsdb-server {d}/conf.db --remote=punix:{d}/db.sock --pidfile={d}/ovsdb-server.pid \
             --unixctl={d}/ovsdb-server.ctl --log-file={d}/ovsdb-server.log --detach --no-chdir"
        ));
        o.vsctl("--no-wait init");
        o.run(&format!(
            "ovs-vswitchd unix:{d}/db.sock --pidfile={d}/ovs-vswitchd.pid \
             --unixctl={d}/ovs-vswitchd.ctl --log-file={d}/ovs-vswitchd.log --detach --no-chdir"
        ));
        assert!(
            wait_for(20, || sh(
                &o.cmd(&format!("ovs-appctl -t {d}/ovs-vswitchd.ctl version"))
            )
            .0),
            "ovs-vswitchd did not answer:\n{}",
            o.log()
        );
        o
    }

    /// `cmd` in the namespace, with OVS's directories set to ours.
    fn cmd(&self, cmd: &str) -> String {
        let d = self.dir.display();
        format!(
            "ip netns exec {} env OVS_RUNDIR={d} OVS_DBDIR={d} OVS_LOGDIR={d} {cmd}",
            self.ns
        )
    }

    fn run(&self, cmd: &str) -> String {
        must(&self.cmd(cmd))
    }

    /// `ovs-vsctl ARGS` against this instance's database.
    pub fn vsctl(&self, args: &str) -> String {
        self.run(&format!(
            "ovs-vsctl --db=unix:{}/db.sock --timeout=20 {args}",
            self.dir.display()
        ))
    }

    /// `ovs-appctl ARGS` to this instance's ovs-vswitchd.
    pub fn appctl(&self, args: &str) -> String {
        self.run(&format!(
            "ovs-appctl -t {}/ovs-vswitchd.ctl {args}",
            self.dir.display()
        ))
    }

    /// A bridge on the userspace datapath.
    pub fn bridge(&self, name: &str) {
        self.vsctl(&format!(
            "add-br {name} -- set bridge {name} datapath_type=netdev"
        ));
    }

    /// ovs-vswitchd's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("ovs-vswitchd.log")).unwrap_or_default()
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        for daemon in ["ovs-vswitchd", "ovsdb-server"] {
            let pid = self.dir.join(format!("{daemon}.pid"));
            if let Ok(p) = std::fs::read_to_string(&pid) {
                let _ = sh(&format!("kill {} 2>/dev/null", p.trim()));
            }
        }
        // ovs-vswitchd removes its datapath's taps as it exits.
        let ctl = self.dir.join("ovs-vswitchd.ctl");
        wait_for(10, || !ctl.exists());
    }
}

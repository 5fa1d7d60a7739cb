//! The state file (`[control] state_file`) on a small tmpfs, damaged and
//! full, as an operator's disk can be:
//! - full: `fdb add` and `fdb del` are refused with the reason, the FDB
//!   keeps what it had (the answer says what the data plane does), the
//!   file keeps its last good form, and the failure is counted;
//! - damaged at start (truncated JSON): vtepd starts, logs it, and moves
//!   the file aside, so the next add does not destroy it;
//! - damaged on a read-only file system, where it cannot be moved aside:
//!   vtepd starts and refuses every change that would overwrite it.
use std::path::{Path, PathBuf};

use vtep_lab::{must, sh, Lab, LabOptions};

/// A tmpfs of `kib` KiB at `path`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(path: &Path, kib: u32) -> Tmpfs {
        std::fs::create_dir_all(path).unwrap();
        must(&format!(
            "mount -t tmpfs -o size={kib}k vtep-lab-state {}",
            path.display()
        ));
        Tmpfs(path.to_path_buf())
    }

    fn remount(&self, opt: &str) {
        must(&format!("mount -o remount,{opt} {}", self.0.display()));
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = sh(&format!("umount -l {}", self.0.display()));
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const A: &str = "02:00:00:00:77:0a";
const B: &str = "02:00:00:00:77:0b";
const C: &str = "02:00:00:00:77:0c";

fn add(lab: &Lab, mac: &str) -> (i32, String) {
    let (code, _, err) = lab.ctl_status(&[
        "fdb",
        "add",
        "--vni",
        "100",
        "--mac",
        mac,
        "--remote",
        "192.0.2.2",
    ]);
    (code, err)
}

/// The API entries of VNI 100.
fn api_macs(lab: &Lab) -> Vec<String> {
    let rows = lab.ctl(&["fdb", "show", "--vni", "100"]);
    let mut v: Vec<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["source"] == "api")
        .map(|r| r["mac"].as_str().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn write_failures(lab: &Lab) -> u64 {
    lab.ctl(&["stats"])["management"]["state_file_write_failures"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_full_or_damaged_state_file_loses_nothing_and_never_lies() {
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("vtep-state-{id}"));
    let mut lab = Lab::new(LabOptions {
        extra_config: format!("state_file = \"{}/fdb.json\"\n", dir.display()),
        ..LabOptions::default()
    });
    let fs = Tmpfs::mount(&dir, 64);
    let file = dir.join("fdb.json");

    // Full.
    assert_eq!(add(&lab, A).0, 0);
    let good = std::fs::read(&file).unwrap();
    let _ = sh(&format!(
        "dd if=/dev/zero of={}/fill bs=4k 2>/dev/null",
        dir.display()
    ));
    let (code, err) = add(&lab, B);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("{B} not added")) && err.contains("No space left"),
        "{err}"
    );
    let (code, _, err) = lab.ctl_status(&["fdb", "del", "--vni", "100", "--mac", A]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&format!("{A} not deleted")), "{err}");
    assert_eq!(api_macs(&lab), [A], "the FDB holds what the answers said");
    assert_eq!(std::fs::read(&file).unwrap(), good, "the file is intact");
    assert_eq!(write_failures(&lab), 2);
    assert!(lab.log().contains("the change was not made"), "logged");
    std::fs::remove_file(dir.join("fill")).unwrap();
    assert_eq!(add(&lab, B).0, 0, "room again");
    assert_eq!(api_macs(&lab), [A, B]);

    // Damaged on a read-only file system: cannot be moved aside.
    let half = &std::fs::read(&file).unwrap()[..20];
    std::fs::write(&file, half).unwrap();
    fs.remount("ro");
    lab.restart_vtepd();
    assert!(lab.ping("t0", "10.0.0.11", 20), "forwarding without it");
    assert!(api_macs(&lab).is_empty());
    let (code, err) = add(&lab, C);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("could not be moved aside") && err.contains("not written"),
        "{err}"
    );
    assert!(api_macs(&lab).is_empty());
    assert_eq!(std::fs::read(&file).unwrap(), half, "kept as it was");

    // Damaged, and the file system writable: moved aside at start.
    fs.remount("rw");
    lab.restart_vtepd();
    let copies: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().contains("fdb.json.damaged-"))
        .collect();
    assert_eq!(copies.len(), 1, "{copies:?}\n{}", lab.log());
    assert_eq!(std::fs::read(&copies[0]).unwrap(), half);
    assert!(lab.log().contains("moved aside"), "logged");
    assert_eq!(add(&lab, C).0, 0);
    assert_eq!(api_macs(&lab), [C]);
    assert_eq!(
        std::fs::read(&copies[0]).unwrap(),
        half,
        "the copy outlives the next write"
    );
    lab.restart_vtepd();
    assert_eq!(api_macs(&lab), [C], "restored from the new file");
}

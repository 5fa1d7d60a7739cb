//! The state file (`[control] state_file`): FDB entries added through the
//! API, so that they survive a restart. Written to a temporary file in the
//! same directory, fsync'd, then renamed over the old one: a crash leaves
//! either the old or the new file, never half of one.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use vtep_config::{MacAddr, Vni};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StateFile {
    pub fdb: Vec<SavedEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedEntry {
    pub vni: u32,
    pub mac: String,
    pub remote: IpAddr,
}

impl SavedEntry {
    pub fn new(vni: Vni, mac: MacAddr, remote: IpAddr) -> SavedEntry {
        SavedEntry {
            vni: vni.get(),
            mac: mac.to_string(),
            remote,
        }
    }
}

/// Reads the state file; Ok(None) when there is none yet.
pub fn load(path: &Path) -> Result<Option<StateFile>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read state file {}: {e}", path.display())),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("state file {} is not valid: {e}", path.display()))
}

/// Replaces the state file atomically.
pub fn save(path: &Path, state: &StateFile) -> Result<(), String> {
    let fail = |e: std::io::Error| format!("cannot write state file {}: {e}", path.display());
    let body = serde_json::to_string_pretty(state).map_err(|e| e.to_string())?;
    let tmp = temp_path(path);
    let mut f = std::fs::File::create(&tmp).map_err(fail)?;
    let written = f
        .write_all(body.as_bytes())
        .and_then(|_| f.sync_all())
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    // The rename is durable once the directory is.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_absent_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert_eq!(load(&p), Ok(None));
        let s = StateFile {
            fdb: vec![SavedEntry::new(
                Vni::new(100).unwrap(),
                "02:00:00:00:00:01".parse().unwrap(),
                IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2)),
            )],
        };
        save(&p, &s).unwrap();
        assert_eq!(load(&p), Ok(Some(s.clone())));
        assert!(
            !dir.path().join("state.json.tmp").exists(),
            "no temporary file left"
        );
        // The earlier format (remote as a string) is the same JSON.
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"remote\": \"192.0.2.2\""), "{text}");
    }

    #[test]
    fn bad_files_are_errors_not_silence() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(&p, "{not json").unwrap();
        assert!(load(&p).unwrap_err().contains("is not valid"));
        let missing_dir = dir.path().join("no/such/dir/state.json");
        assert!(save(&missing_dir, &StateFile::default())
            .unwrap_err()
            .contains("cannot write state file"));
    }
}

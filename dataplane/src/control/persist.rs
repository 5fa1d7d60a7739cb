//! The state file (`[control] state_file`): FDB entries added through the
//! API, so that they survive a restart. Written to a temporary file in the
//! same directory, fsync'd, then renamed over the old one: a crash leaves
//! either the old or the new file, never half of one. A file that cannot
//! be read at start is moved aside, never overwritten (see [`open`]).

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

/// What start found at the state file's path.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// No file yet.
    Absent,
    Loaded(StateFile),
    /// Unreadable or not valid: renamed to `copy`, so that the next write
    /// cannot destroy what it held. vtepd starts without its entries.
    SetAside {
        why: String,
        copy: PathBuf,
    },
    /// Unreadable or not valid, and it could not be moved aside: nothing
    /// may write the state file until a restart finds it readable.
    Kept {
        why: String,
    },
}

/// Reads the state file at start; a damaged one is moved aside to
/// `NAME.damaged-UNIXSECS` (`-N` appended if that exists).
pub fn open(path: &Path, unix_secs: u64) -> Found {
    let why = match load(path) {
        Ok(None) => return Found::Absent,
        Ok(Some(f)) => return Found::Loaded(f),
        Err(why) => why,
    };
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".damaged-{unix_secs}"));
    let mut copy = path.with_file_name(&name);
    let mut n = 1;
    while copy.exists() {
        let mut again = name.clone();
        again.push(format!("-{n}"));
        copy = path.with_file_name(again);
        n += 1;
    }
    match std::fs::rename(path, &copy) {
        Ok(()) => Found::SetAside { why, copy },
        Err(e) => Found::Kept {
            why: format!("{why}; it could not be moved aside ({e})"),
        },
    }
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
    fn a_damaged_file_is_moved_aside_never_lost() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert_eq!(open(&p, 7), Found::Absent);
        save(&p, &StateFile::default()).unwrap();
        assert_eq!(open(&p, 7), Found::Loaded(StateFile::default()));
        // Truncated JSON, twice in the same second: two copies, both kept.
        for (bytes, copy) in [
            (&b"{\"fdb\": [{\"vni\": 1"[..], "state.json.damaged-7"),
            (&b"\xff\xfe"[..], "state.json.damaged-7-1"),
        ] {
            std::fs::write(&p, bytes).unwrap();
            match open(&p, 7) {
                Found::SetAside { why, copy: c } => {
                    assert_eq!(c, dir.path().join(copy));
                    assert_eq!(std::fs::read(&c).unwrap(), bytes, "{why}");
                    assert!(!p.exists());
                }
                other => panic!("{other:?}"),
            }
        }
        // Unreadable (a directory where the file should be), the first
        // copy's name taken.
        let ro = dir.path().join("dirs");
        std::fs::create_dir_all(ro.join("state.json")).unwrap();
        std::fs::create_dir_all(ro.join("state.json.damaged-7")).unwrap();
        std::fs::write(ro.join("state.json.damaged-7").join("x"), "").unwrap();
        match open(&ro.join("state.json"), 7) {
            Found::SetAside { copy, .. } => {
                assert_eq!(copy, ro.join("state.json.damaged-7-1"));
            }
            other => panic!("{other:?}"),
        }
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

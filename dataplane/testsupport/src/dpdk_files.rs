//! The DPDK files a process leaves for its `--file-prefix`.

/// Removes what DPDK leaves for a file prefix (runtime dir, hugepage files).
pub fn remove_dpdk_files(prefix: &str) {
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    if let Ok(rd) = std::fs::read_dir("/dev/hugepages") {
        for e in rd.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with(&format!("{prefix}map_"))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The DPDK files of these prefixes, removed when dropped: declared
/// before the processes that make them, so that every way out of a run,
/// errors included, leaves none behind.
pub struct DpdkFiles(pub Vec<String>);

impl Drop for DpdkFiles {
    fn drop(&mut self) {
        for p in &self.0 {
            remove_dpdk_files(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dropped_dpdk_files_are_gone() {
        let prefix = format!("vtep-files-test-{}", std::process::id());
        let dir = std::path::PathBuf::from(format!("/var/run/dpdk/{prefix}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config"), b"x").unwrap();
        let other = format!("{prefix}-kept");
        std::fs::create_dir_all(format!("/var/run/dpdk/{other}")).unwrap();
        drop(DpdkFiles(vec![prefix]));
        assert!(!dir.exists());
        let kept = std::path::PathBuf::from(format!("/var/run/dpdk/{other}"));
        assert!(kept.exists(), "only the named prefixes go");
        std::fs::remove_dir_all(kept).unwrap();
    }
}

//! Impossible EAL arguments: vtepd says what failed and exits non-zero.
use std::process::Command;

#[test]
fn impossible_eal_args_fail_cleanly() {
    let dir = std::env::temp_dir().join(format!("vtep-badeal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = |args: &str| {
        format!(
            "[eal]\nargs = [{args}, \"--file-prefix=vtep-badeal-{pid}\"]\n[underlay]\nport = \"net_null0\"\naddress = \"192.0.2.1/24\"\n\
             [[access]]\nport = \"net_null1\"\nvni = 100\n[[vni]]\nid = 100\n[control]\nsocket = \"{}/s\"\n",
            dir.display(),
            pid = std::process::id()
        )
    };
    for (name, args, want) in [
        (
            "unknown option",
            r#""-l", "0-1", "--no-pci", "--no-huge", "--no-shconf", "--vdev=net_null0", "--vdev=net_null1", "--bogus-option""#,
            "EAL initialisation failed",
        ),
        (
            "core that does not exist",
            r#""-l", "0,77", "--no-pci", "--no-huge", "--no-shconf", "--vdev=net_null0", "--vdev=net_null1""#,
            "lcores [77] from [eal].args are not online CPUs",
        ),
    ] {
        let p = dir.join("c.toml");
        std::fs::write(&p, cfg(args)).unwrap();
        assert!(Command::new(env!("CARGO_BIN_EXE_vtepd"))
            .arg("--check")
            .arg("--config")
            .arg(&p)
            .status()
            .unwrap()
            .success());
        let o = Command::new(env!("CARGO_BIN_EXE_vtepd"))
            .arg("--config")
            .arg(&p)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{name}: {err}");
        assert!(err.contains(want), "{name}: {err}");
    }
    // Caught by --check, with one sentence instead of EAL's usage text.
    for (name, args, want) in [
        (
            "no worker lcore",
            r#""-l", "0", "--no-pci", "--no-huge", "--no-shconf", "-m", "256", "--vdev=net_null0", "--vdev=net_null1""#,
            "0 worker lcore(s) besides the main one",
        ),
        (
            "bad core list",
            r#""-l", "0-x", "--no-pci", "--no-huge", "--vdev=net_null0", "--vdev=net_null1""#,
            "is not a core list",
        ),
    ] {
        let p = dir.join("c.toml");
        std::fs::write(&p, cfg(args)).unwrap();
        for check in [true, false] {
            let mut c = Command::new(env!("CARGO_BIN_EXE_vtepd"));
            if check {
                c.arg("--check");
            }
            let o = c.arg("--config").arg(&p).output().unwrap();
            let err = String::from_utf8_lossy(&o.stderr);
            assert_eq!(o.status.code(), Some(2), "{name}: {err}");
            assert!(
                err.contains(want) && err.lines().count() == 1,
                "{name}: {err}"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/vtep-badeal-{}", std::process::id()));
}

//! Generates the DPDK bindings at build time against the libdpdk that
//! pkg-config finds, and compiles the C shim for DPDK's static inline
//! functions. Nothing version-specific is committed.

use std::path::PathBuf;

const PACKAGES: &str = "apt-get install libdpdk-dev dpdk-dev pkg-config clang libclang-dev";

fn fail(what: &str) -> ! {
    eprintln!("dpdk-sys: {what}; on Debian 12 install it with: {PACKAGES}");
    std::process::exit(1);
}

fn main() {
    println!("cargo:rerun-if-changed=csrc/wrapper.h");
    println!("cargo:rerun-if-changed=csrc/shim.c");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");

    let dpdk = match pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
    {
        Ok(lib) => lib,
        Err(e) => fail(&format!(
            "libdpdk >= 22.11 not found by pkg-config ({})",
            e.to_string().lines().next().unwrap_or("")
        )),
    };

    // The cflags carry `-include rte_config.h` and the -march DPDK was built
    // with; both the shim and bindgen must see the same definitions.
    let cflags = pkg_config::get_variable("libdpdk", "cflags").ok();
    let mut clang_args: Vec<String> = Vec::new();
    for p in &dpdk.include_paths {
        clang_args.push(format!("-I{}", p.display()));
    }
    let raw = std::process::Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .or(cflags)
        .unwrap_or_default();
    let mut it = raw.split_whitespace();
    while let Some(a) = it.next() {
        if a == "-include" {
            if let Some(f) = it.next() {
                clang_args.push("-include".into());
                clang_args.push(f.into());
            }
        } else if a.starts_with("-march") || a.starts_with("-m") || a.starts_with("-D") {
            clang_args.push(a.into());
        }
    }

    let mut build = cc::Build::new();
    build.file("csrc/shim.c").include("csrc").opt_level(3);
    for p in &dpdk.include_paths {
        build.include(p);
    }
    for a in clang_args.iter().filter(|a| !a.starts_with("-I")) {
        build.flag(a);
    }
    build.warnings(false).compile("vtep_dpdk_shim");

    let generated = std::panic::catch_unwind(|| {
        bindgen::Builder::default()
            .header("csrc/wrapper.h")
            .clang_args(&clang_args)
            // Only the API families the project uses: the full set drags in
            // rte_flow item types that bindgen cannot lay out.
            .allowlist_function(
                "rte_eal_.*|rte_eth_.*|rte_pktmbuf_.*|rte_mempool_.*|rte_lcore_.*|\
                 rte_thread_.*|rte_socket_.*|rte_version|rte_strerror|rte_get_.*|\
                 rte_pdump_.*|rte_tel_.*|rte_telemetry_.*|rte_mbuf_.*|vtep_.*|\
                 rte_openlog_stream|rte_log_cur_msg_loglevel",
            )
            .allowlist_type("vtep_.*|rte_eth_.*|rte_mbuf|rte_mempool|telemetry_cb|rte_tel_data")
            .opaque_type("rte_flow.*|rte_l2tpv2_.*|rte_gtp_.*")
            .allowlist_var("RTE_.*|VTEP_.*")
            .derive_default(true)
            .layout_tests(false)
            .generate_comments(false)
            .prepend_enum_name(false)
            .generate()
    });
    let bindings = match generated {
        Ok(Ok(b)) => b,
        Ok(Err(e)) => fail(&format!("bindgen could not parse the DPDK headers ({e})")),
        Err(_) => fail("libclang, which bindgen needs, could not be loaded"),
    };
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .unwrap_or_else(|e| fail(&format!("cannot write bindings ({e})")));
}

//! vtepd: the VXLAN tunnel end point daemon. Parses its arguments, sets up
//! logging and runs [`vtep_dataplane::daemon::run`].
#![forbid(unsafe_code)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing::error;
use vtep_config::Config;

#[derive(Parser)]
#[command(name = "vtepd", version, about = "VXLAN tunnel end point on DPDK")]
struct Args {
    /// Configuration file (TOML).
    #[arg(long)]
    config: PathBuf,
    /// Validate the configuration and exit without starting DPDK.
    #[arg(long)]
    check: bool,
    /// Validate the configuration, check the host (hugepages, NIC drivers,
    /// lcores) from /proc and /sys, print what is missing, and exit: 0 when
    /// vtepd can start, 1 when it cannot.
    #[arg(long, conflicts_with = "check")]
    preflight: bool,
    /// Log format.
    #[arg(long, value_parser = ["text", "json"], default_value = "text")]
    log_format: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let cfg = match Config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("vtepd: {}: {e}", args.config.display());
            return ExitCode::from(2);
        }
    };
    if args.check {
        println!("{}: configuration is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    if args.preflight {
        let findings = vtep_dataplane::daemon::preflight::check(&cfg, std::path::Path::new("/"));
        println!("{}: configuration is valid", args.config.display());
        for f in &findings {
            println!("{f}");
        }
        return if vtep_dataplane::daemon::preflight::passed(&findings) {
            println!("vtepd can start");
            ExitCode::SUCCESS
        } else {
            println!("vtepd cannot start: fix the MISSING lines above");
            ExitCode::from(1)
        };
    }
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => match tracing_subscriber::EnvFilter::try_new(&v) {
            Ok(f) => f,
            Err(e) => {
                eprintln!("vtepd: RUST_LOG={v:?} is not a valid log filter: {e}");
                return ExitCode::from(2);
            }
        },
        _ => tracing_subscriber::EnvFilter::new("info"),
    };
    let sub = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if args.log_format == "json" {
        sub.json().init();
    } else {
        sub.init();
    }
    if let Err(e) = vtep_dataplane::daemon::preflight::evpn_netns(&cfg, std::path::Path::new("/")) {
        error!("{e}");
        eprintln!("vtepd: {e}");
        return ExitCode::from(1);
    }
    match vtep_dataplane::daemon::run(cfg, args.config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            error!("{e}");
            eprintln!("vtepd: {e}");
            ExitCode::from(1)
        }
    }
}

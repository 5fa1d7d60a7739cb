#!/usr/bin/env bash
# The demo: builds vtepd and runs it between a tenant host and two Linux
# kernel VXLAN peers, all in network namespaces: pings and iperf3 across the
# overlay, then the FDB and the stats. Removes everything on exit; pass
# --keep to leave the lab up until Ctrl-C, --tap for net_tap ports, --ipv6
# for an IPv6 underlay, --learn for no static FDB entries, --evpn for BGP
# EVPN through FRR (vtepd and both kernel VTEPs run zebra and bgpd).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --bins -q
exec ./target/release/vtep-lab --demo "$@"

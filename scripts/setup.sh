#!/usr/bin/env bash
# Installs what building and testing vtep needs on Debian 12 (as root), and
# reserves hugepages where the machine allows. Safe to run again.
set -euo pipefail

PKGS=(dpdk dpdk-dev libdpdk-dev pkg-config clang libclang-dev build-essential
      iproute2 ethtool python3 tcpdump iperf3 iputils-ping libpcap-dev
      prometheus
      # the BGP EVPN lab (dataplane/lab/tests/evpn.rs): zebra and bgpd per namespace
      frr
      # the Geneve and NVGRE peer (dataplane/lab/tests/interop_ovs.rs):
      # Open vSwitch on its userspace datapath, no kernel module
      openvswitch-switch
      # pktgen-dpdk's build (perf/pktgen/build.sh) for the pktgen script tests
      meson ninja-build liblua5.3-dev libnuma-dev)

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found; install Rust (rustup) first" >&2
    exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
    echo "setup: installing cargo-nextest"
    cargo install --locked cargo-nextest >/dev/null
fi

# Hugepages are for benchmarks and the demo; tests run with --no-huge.
want=${VTEP_HUGEPAGES:-512}
have=$(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0)
if [ "$have" -lt "$want" ]; then
    echo "$want" > /proc/sys/vm/nr_hugepages 2>/dev/null || true
fi
if ! mountpoint -q /dev/hugepages 2>/dev/null; then
    mkdir -p /dev/hugepages && mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null || true
fi
echo "setup: ok (hugepages: $(cat /proc/sys/vm/nr_hugepages 2>/dev/null || echo 0) x 2 MiB)"

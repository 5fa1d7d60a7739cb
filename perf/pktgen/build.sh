#!/usr/bin/env bash
# Builds pktgen-dpdk 23.06.1 (the unmodified BSD-3-Clause source in vendor/,
# the last release that builds against DPDK 22.11) with Lua on, and prints
# the binary's path. An existing build is reused.
# usage: perf/pktgen/build.sh [BUILD_DIR]   (default: target/pktgen in the repo)
# Needs root for apt-get when build dependencies are missing; ~1-2 min on 2 cores.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../target/pktgen}
bin=$out/build/app/pktgen
if [ -x "$bin" ]; then echo "$(cd "$(dirname "$bin")" && pwd)/pktgen"; exit 0; fi
need=()
for p in meson ninja-build liblua5.3-dev libnuma-dev libpcap-dev pkg-config libdpdk-dev bsdutils; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
rm -rf "$out"; mkdir -p "$out"
tar -xzf "$here/vendor/pktgen-dpdk-23.06.1.tar.gz" -C "$out"
src=$out/pktgen-dpdk-23.06.1
# lib/lua's lua_config.c includes rte_version.h, but 23.06.1 does not list
# DPDK among that library's dependencies: with DPDK's headers outside
# /usr/include (Debian: /usr/include/dpdk) it does not compile.
sed -i 's/dependencies: \[common, utils, vec, lua_dep\]/dependencies: [common, utils, vec, lua_dep, dpdk]/' \
  "$src/lib/lua/meson.build"
# Lua is off by default (enable_lua=false in meson_options.txt); `-f script.lua` needs it.
(cd "$src" && meson setup "$out/build" -Denable_lua=true >"$out/meson.log" 2>&1) \
  || { echo "pktgen: meson failed, see $out/meson.log" >&2; exit 1; }
ninja -C "$out/build" >"$out/ninja.log" 2>&1 || { echo "pktgen: build failed, see $out/ninja.log" >&2; exit 1; }
echo "$(cd "$(dirname "$bin")" && pwd)/pktgen"

#!/usr/bin/env bash
# Runs the whole test suite: unit tests, EAL tests on virtual devices
# (--no-pci --no-huge, one EAL per process under nextest) and the end-to-end
# tests. Needs root for namespaces, veth and tap devices.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release --bins
# pktgen-dpdk for perf/tests/pktgen_scripts.rs (built once into target/pktgen).
PKTGEN=$(bash perf/pktgen/build.sh)
export PKTGEN
cargo nextest run --workspace --no-fail-fast "$@"
# Every benchmark scenario runs and reports a figure (vtep-perf fails when
# one cannot; no speed is asserted). Needs hugepages; VTEP_PERF_QUICK=0
# skips it.
if [ "${VTEP_PERF_QUICK:-1}" != 0 ]; then
    ./target/release/vtep-perf --quick --dir "${TMPDIR:-/tmp}/vtep-perf-ci"
fi
# Bounded fuzzing (60 s per target; VTEP_FUZZ_SECS=0 skips it).
if [ "${VTEP_FUZZ_SECS:-60}" -gt 0 ]; then
    bash scripts/fuzz.sh "${VTEP_FUZZ_SECS:-60}"
fi

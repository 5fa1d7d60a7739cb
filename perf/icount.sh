#!/usr/bin/env bash
# Instructions per packet of the forwarding path on plain buffers, free of
# start-up cost: callgrind over `examples/icount SCENARIO` at 100 and 1100
# rounds of 256 frames, the difference over the 256,000 packets between.
# Usage: perf/icount.sh [SCENARIO...] (default fwd-encap fwd-decap).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "icount: needs valgrind" >&2; exit 1; }
cargo build -q --release --example icount
bin=${CARGO_TARGET_DIR:-target}/release/examples/icount
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
count() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$bin" "$1" "$2" 2>&1 \
        | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
for s in "${@:-fwd-encap fwd-decap}"; do
    for t in $s; do
        a=$(count "$t" 100)
        b=$(count "$t" 1100)
        awk -v t="$t" -v a="$a" -v b="$b" 'BEGIN { printf "%s %.1f\n", t, (b - a) / 256000 }'
    done
done
